//! The `NetworkBehaviour`: ties the ledger's muxers to the swarm's
//! connections, reports refusals, starvation and leaks, and recycles starved
//! connections.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    convert::Infallible,
    task::{Context, Poll, Waker},
    time::Instant,
};

use deadline_timer::DeadlineTimer;
use libp2p_core::{transport::PortUse, ConnectedPoint, Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_swarm::{
    dial_opts::{DialOpts, PeerCondition},
    dummy, CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use crate::{ledger::Decision, ledger::Refusal, Event, Quota, RecycleError, Snapshot};

/// Reports what the [`Quota`]'s ledger decided and recycles starved
/// connections. See the [crate docs](crate).
#[derive(Debug)]
pub struct Behaviour {
    quota: Quota,
    recycle: bool,
    /// The ledger's next deadline, as last read.
    deadline: Option<Instant>,
    timer: DeadlineTimer,
    /// Recycling dials in flight: the dial's connection, the starved one.
    recycling: HashMap<ConnectionId, (PeerId, ConnectionId)>,
    /// The peers of `recycling`: one dial per peer at a time.
    recycling_peers: HashSet<PeerId>,
    actions: VecDeque<ToSwarm<Event, Infallible>>,
    warned_unwrapped: bool,
    /// The waker last registered with the ledger.
    waker: Option<Waker>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::Metrics>,
}

impl Behaviour {
    /// The behaviour reading `quota`.
    ///
    /// The swarm's transport must be wrapped with [`Quota::transport`] (or
    /// its muxers with [`Quota::wrap`]) first: the layer counts and limits
    /// the streams, this behaviour only reports. Without it nothing is
    /// counted or limited, and all this says is one warning in the log at
    /// the first connection; [`Quota::is_layered`] tells beforehand.
    pub fn new(quota: &Quota) -> Self {
        Self {
            recycle: quota.config().recycle_starved,
            quota: quota.clone(),
            deadline: None,
            timer: DeadlineTimer::new(),
            recycling: HashMap::new(),
            recycling_peers: HashSet::new(),
            actions: VecDeque::new(),
            warned_unwrapped: false,
            waker: None,
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// Registers the policy's metrics in `registry`, under `stream_quota`:
    /// the ledger's node and per-protocol counts, read at each scrape, and
    /// the events reported.
    #[cfg(feature = "metrics")]
    pub fn with_metrics(mut self, registry: &mut prometheus_client::registry::Registry) -> Self {
        self.metrics = Some(crate::metrics::Metrics::new(registry, &self.quota));
        self
    }

    /// Every scope's counts now.
    pub fn snapshot(&self) -> Snapshot {
        self.quota.snapshot()
    }

    /// The ledger it reads.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    fn report(&mut self, event: Event) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.on_event(&event);
        }
        self.actions.push_back(ToSwarm::GenerateEvent(event));
    }

    fn on_refusal(&mut self, refusal: Refusal) {
        self.report(Event::Refused {
            peer: refusal.peer,
            connection: refusal.connection,
            error: refusal.error,
        });
    }

    fn on_decision(&mut self, decision: Decision) {
        match decision {
            Decision::Starved {
                peer,
                connection,
                endpoint,
                blocked_for,
            } => {
                self.report(Event::Starved {
                    peer,
                    connection,
                    blocked_for,
                });
                if self.recycle && self.recycling_peers.insert(peer) {
                    let dial = recycle_dial(peer, &endpoint);
                    self.recycling
                        .insert(dial.connection_id(), (peer, connection));
                    self.actions.push_back(ToSwarm::Dial { opts: dial });
                }
            }
            Decision::Leaked {
                peer,
                connection,
                protocol,
                direction,
                age,
            } => self.report(Event::Leaked {
                peer,
                connection,
                protocol,
                direction,
                age,
            }),
        }
    }
}

/// A fresh connection to `peer`: to the address the starved connection
/// dialed, if it dialed, and the addresses other behaviours know.
fn recycle_dial(peer: PeerId, starved: &ConnectedPoint) -> DialOpts {
    let opts = DialOpts::peer_id(peer).condition(PeerCondition::Always);
    match starved {
        ConnectedPoint::Dialer { address, .. } => opts
            .addresses(vec![address.clone()])
            .extend_addresses_through_behaviour()
            .build(),
        ConnectedPoint::Listener { .. } => opts.build(),
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                let shared = self.quota.shared();
                let claimed =
                    shared.with_ledger(|l| l.claim(e.peer_id, e.endpoint, e.connection_id));
                if !claimed && !self.warned_unwrapped {
                    self.warned_unwrapped = true;
                    tracing::warn!(
                        peer = %e.peer_id,
                        layered = self.quota.is_layered(),
                        "stream-quota: this connection's muxer is not wrapped, so its \
                         streams are neither counted nor limited; build the transport \
                         with Quota::transport"
                    );
                }
                if let Some((peer, starved)) = self.recycling.remove(&e.connection_id) {
                    self.recycling_peers.remove(&peer);
                    self.actions.push_back(ToSwarm::CloseConnection {
                        peer_id: peer,
                        connection: CloseConnection::One(starved),
                    });
                    self.report(Event::Recycled {
                        peer,
                        starved,
                        replacement: e.connection_id,
                    });
                }
            }
            FromSwarm::DialFailure(e) => {
                if let Some((peer, starved)) = self.recycling.remove(&e.connection_id) {
                    self.recycling_peers.remove(&peer);
                    self.report(Event::RecycleFailed {
                        peer,
                        starved,
                        dial: e.connection_id,
                        error: RecycleError::from(e.error),
                    });
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p_core::util::unreachable(event)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        loop {
            if let Some(action) = self.actions.pop_front() {
                return Poll::Ready(action.map_in(|never| match never {}));
            }
            let shared = self.quota.shared();
            // Registered before the signal is read, so no wake is lost
            // between; polled on every swarm poll, so only when it changed.
            if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                shared.register(cx.waker());
                self.waker = Some(cx.waker().clone());
            }
            if shared.take_signal() {
                let refusals: Vec<_> = shared.with_ledger(|l| {
                    self.deadline = l.next_deadline();
                    l.take_refusals().collect()
                });
                for refusal in refusals {
                    self.on_refusal(refusal);
                }
                if !self.actions.is_empty() {
                    continue;
                }
            }
            match self.timer.poll(self.deadline, cx) {
                Poll::Ready(now) => {
                    let decisions = self.quota.shared().with_ledger(|l| {
                        let decisions = l.decide(now);
                        self.deadline = l.next_deadline();
                        decisions
                    });
                    for decision in decisions {
                        self.on_decision(decision);
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{task::Context, time::Duration};

    use futures::task::noop_waker_ref;
    use libp2p_swarm::behaviour::ConnectionEstablished;

    use super::*;
    use crate::{Config, Direction};

    fn dialer(port: u16) -> ConnectedPoint {
        ConnectedPoint::Dialer {
            address: format!("/ip4/127.0.0.1/udp/{port}/quic-v1")
                .parse()
                .unwrap(),
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        }
    }

    #[test]
    fn a_poll_with_nothing_due_looks_at_no_connection_at_any_scale() {
        for n in [1_000u16, 10_000, 20_000] {
            let leak = Some(Duration::from_secs(3600));
            let quota = Quota::new(Config::default().with_leak_threshold(leak)).unwrap();
            let mut behaviour = Behaviour::new(&quota);
            let shared = quota.shared().clone();
            let now = Instant::now();
            for i in 0..n {
                let (peer, endpoint) = (PeerId::random(), dialer(i));
                shared.with_ledger(|l| {
                    let muxer = l.add_connection(peer, endpoint.clone());
                    l.open_stream(muxer, Direction::Inbound, now).unwrap();
                    l.outbound_blocked(muxer, now);
                });
                behaviour.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                    peer_id: peer,
                    connection_id: ConnectionId::new_unchecked(usize::from(i)),
                    endpoint: &endpoint,
                    failed_addresses: &[],
                    other_established: 0,
                }));
            }
            assert_eq!(shared.ledger().scanned, u64::from(n), "one entry a claim");
            let mut cx = Context::from_waker(noop_waker_ref());
            for _ in 0..10_000 {
                assert!(behaviour.poll(&mut cx).is_pending());
            }
            assert_eq!(
                shared.ledger().scanned,
                u64::from(n),
                "polls with nothing due look at nothing, at {n} connections"
            );
        }
    }
}
