//! The `NetworkBehaviour`: swarm events into the [`Monitor`], its actions out
//! as `ToSwarm`, one timer for its deadlines.

use std::{
    task::{Context, Poll, Waker},
    time::Instant,
};

use deadline_timer::DeadlineTimer;
use libp2p_core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use crate::{
    handler::{Handler, Outcome, Probe},
    monitor::{Action, ConnectionStats, Monitor},
    prober::Scheduled,
    Config, ConfigError, ConnectionFailure, Event, Transport,
};

/// Closes connections that can no longer carry a stream. See the [crate docs](crate).
pub struct Behaviour {
    config: Config,
    monitor: Monitor,
    scheduled: Scheduled,
    timer: DeadlineTimer,
    waker: Option<Waker>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::Metrics>,
}

impl Behaviour {
    /// A behaviour with `config`, if it is valid.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            monitor: Monitor::new(config.clone(), rand::random()),
            config,
            scheduled: Scheduled::default(),
            timer: DeadlineTimer::new(),
            waker: None,
            #[cfg(feature = "metrics")]
            metrics: None,
        })
    }

    /// Registers the policy's metrics in `registry`, under `conn_prune`.
    #[cfg(feature = "metrics")]
    pub fn with_metrics(mut self, registry: &mut prometheus_client::registry::Registry) -> Self {
        self.metrics = Some(crate::metrics::Metrics::new(registry));
        self
    }

    /// Probes `connection` as soon as the minimum probe gap allows: call it
    /// when a request on the connection timed out, say. Returns `false` if
    /// the connection is not known.
    pub fn suspect(&mut self, connection: ConnectionId) -> bool {
        let known = self.monitor.suspect(connection);
        self.wake();
        known
    }

    /// What the policy knows of `connection`, while it is established.
    pub fn stats(&self, connection: ConnectionId) -> Option<ConnectionStats> {
        self.monitor.stats(connection)
    }

    /// How many connections are monitored: every established one, until it closes.
    pub fn monitored_connections(&self) -> usize {
        self.monitor.len()
    }

    /// How often connections of `transport` are probed now, if on a
    /// schedule: the configured interval, or longer while more connections
    /// are probed than the node-wide rate allows at that interval
    /// ([`Config::with_max_scheduled_probe_rate`]); `None` also while that
    /// reaches the transport's own idle timeout
    /// ([`Config::with_transport_idle_timeout`]).
    pub fn probe_interval(&self, transport: Transport) -> Option<std::time::Duration> {
        self.config
            .probe_interval_at(transport, self.scheduled.get())
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn translate(&self, action: Action) -> ToSwarm<Event, Probe> {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.on_action(&action);
        }
        match action {
            // Only on-demand probes: the swarm finds the connection by a
            // search of every peer's, so scheduled probes never come this way.
            Action::Probe {
                peer,
                connection,
                trigger,
            } => ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(connection),
                event: Probe { trigger },
            },
            Action::Close { peer, connection } => ToSwarm::CloseConnection {
                peer_id: peer,
                connection: CloseConnection::One(connection),
            },
            Action::Report(event) => ToSwarm::GenerateEvent(event),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // The address the core classifies too (`ConnectedPoint::get_remote_address`).
        let seed = self.monitor.handler_seed();
        Ok(Handler::new(
            &self.config,
            Transport::of(remote_addr),
            &self.scheduled,
            seed,
        ))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        addr: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let seed = self.monitor.handler_seed();
        Ok(Handler::new(
            &self.config,
            Transport::of(addr),
            &self.scheduled,
            seed,
        ))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // Connections are counted when established, not in the `handle_*`
        // hooks: a sibling behaviour may still deny one there.
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                let transport = Transport::of(e.endpoint.get_remote_address());
                self.monitor
                    .on_established(e.peer_id, e.connection_id, transport, Instant::now());
                self.wake();
            }
            FromSwarm::ConnectionClosed(e) => {
                let error = e.cause.map(ConnectionFailure::from);
                self.monitor
                    .on_closed(e.connection_id, error, Instant::now());
                self.wake();
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        connection: ConnectionId,
        Outcome {
            trigger,
            outcome,
            sent,
        }: THandlerOutEvent<Self>,
    ) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            let before = self.monitor.stats(connection).map_or(0, |s| s.probes_sent);
            metrics.on_outcome(&outcome, u64::from(sent).saturating_sub(before));
        }
        self.monitor
            .on_probe_outcome(connection, trigger, outcome, sent, Instant::now());
        self.wake();
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        loop {
            if let Some(action) = self.monitor.poll_action() {
                return Poll::Ready(self.translate(action));
            }
            match self.timer.poll(self.monitor.poll_timeout(), cx) {
                Poll::Ready(now) => self.monitor.handle_timeout(now),
                Poll::Pending => break,
            }
        }
        // Polled on every swarm poll: clone the waker only when it changed.
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}
