//! One connection's probes: its own schedule (a prober, `prober.rs`), pings on a kept
//! probe stream, a new stream when there is none, and the remote's probes
//! served within a budget. It reports each probe's end to the behaviour,
//! which judges; only on-demand probes come from the behaviour.

use std::{
    collections::VecDeque,
    convert::Infallible,
    future::Future,
    io, iter,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use deadline_timer::DeadlineTimer;
use either::Either;
use futures::{
    future::{self, BoxFuture},
    stream::FuturesUnordered,
    FutureExt, StreamExt,
};
use futures_timer::Delay;
use libp2p_core::upgrade::{DeniedUpgrade, OutboundUpgrade, ReadyUpgrade, UpgradeInfo};
use libp2p_swarm::{
    handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound},
    ConnectionHandler, ConnectionHandlerEvent, Stream, StreamProtocol, StreamUpgradeError,
    SubstreamProtocol,
};

use crate::{
    budget::TokenBucket,
    event::Trigger,
    monitor::ProbeOutcome,
    prober::{ProbeId, Prober, Scheduled, Step},
    protocol::{self, PROTOCOL},
    Config, Transport,
};

/// Inbound probe streams served at once; a prober keeps one, two allow for its replacement.
const MAX_SERVED: usize = 2;
/// Probe streams being closed at once; past that a stream is dropped instead.
const MAX_CLOSING: usize = 8;

/// A probe the behaviour asks for (a suspicion, a newer duplicate, a retry).
#[derive(Debug)]
pub struct Probe {
    pub(crate) trigger: Trigger,
}

/// What became of a probe.
#[derive(Debug)]
pub struct Outcome {
    pub(crate) trigger: Trigger,
    pub(crate) outcome: ProbeOutcome,
    /// Probes this handler started in all.
    pub(crate) sent: u32,
}

/// A probe waiting for a new stream, with the time it was requested.
#[derive(Debug)]
pub struct Opening {
    probe: ProbeId,
    trigger: Trigger,
    requested: Instant,
}

/// The outbound probe upgrade: [`PROTOCOL`], noting when the muxer granted
/// the stream. libp2p-swarm asks an outbound upgrade for its protocols when,
/// and only when, the muxer has handed it a stream to negotiate on: until
/// then the probe was never sent.
#[derive(Debug, Clone)]
pub struct ProbeUpgrade {
    granted: Arc<AtomicBool>,
}

impl UpgradeInfo for ProbeUpgrade {
    type Info = StreamProtocol;
    type InfoIter = iter::Once<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.granted.store(true, Ordering::Relaxed);
        iter::once(PROTOCOL)
    }
}

impl OutboundUpgrade<Stream> for ProbeUpgrade {
    type Output = Stream;
    type Error = Infallible;
    type Future = future::Ready<Result<Stream, Infallible>>;

    fn upgrade_outbound(self, stream: Stream, _: Self::Info) -> Self::Future {
        future::ready(Ok(stream))
    }
}

type Ping = BoxFuture<'static, (ProbeId, Trigger, Instant, Option<io::Result<Stream>>)>;

/// A set of futures that allocates nothing until its first push: most
/// connections never serve a probe, nor close a kept stream, nor (to peers
/// without the policy) ping one, and an empty `FuturesUnordered` already
/// holds two allocations.
struct Lazy<F>(Option<FuturesUnordered<F>>);

impl<F> Default for Lazy<F> {
    fn default() -> Self {
        Self(None)
    }
}

impl<F: Future + Unpin> Lazy<F> {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, FuturesUnordered::len)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, future: F) {
        self.0
            .get_or_insert_with(FuturesUnordered::new)
            .push(future);
    }

    fn poll_next_unpin(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        match &mut self.0 {
            Some(set) => set.poll_next_unpin(cx),
            None => Poll::Ready(None),
        }
    }
}

/// The connection handler of [`crate::Behaviour`].
///
/// Its state is boxed: libp2p-swarm 0.48's connection task reserves room for
/// its handler about three times (measured: 3.1 bytes of task per byte of
/// handler), so a byte inline costs each connection three and a byte here one.
pub struct Handler(Box<State>);

impl Handler {
    pub(crate) fn new(
        config: &Config,
        transport: Transport,
        scheduled: &Scheduled,
        seed: u64,
    ) -> Self {
        Self(Box::new(State::new(config, transport, scheduled, seed)))
    }
}

/// What [`Handler`] keeps of its connection.
struct State {
    prober: Prober,
    timer: DeadlineTimer,
    inbound_streams: TokenBucket,
    to_open: VecDeque<(ProbeId, Trigger)>,
    /// The new stream of the probe waiting for its deadline, and whether the
    /// muxer granted it yet.
    granted: Option<(ProbeId, Arc<AtomicBool>)>,
    /// The kept probe stream, when no ping is on it. Boxed: most
    /// connections keep none (a peer without the policy answers with a
    /// refusal), and a stream is a quarter of this state.
    idle: Option<Box<Stream>>,
    pinging: Lazy<Ping>,
    outcomes: VecDeque<Outcome>,
    serving: Lazy<BoxFuture<'static, ()>>,
    closing: Lazy<BoxFuture<'static, ()>>,
}

impl State {
    /// How long a probe's stream may take to answer at all: past its
    /// deadline, so that a late answer still arrives and proves the remote alive.
    fn io_timeout(&self) -> Duration {
        self.prober.max_timeout() * 2
    }

    fn new(config: &Config, transport: Transport, scheduled: &Scheduled, seed: u64) -> Self {
        let (rate, burst) = (config.inbound_probes_per_second, config.inbound_probe_burst);
        let now = Instant::now();
        Self {
            prober: Prober::new(config, transport, scheduled, seed, now),
            timer: DeadlineTimer::new(),
            inbound_streams: TokenBucket::new(rate, burst, now),
            to_open: VecDeque::new(),
            granted: None,
            idle: None,
            pinging: Lazy::default(),
            outcomes: VecDeque::new(),
            serving: Lazy::default(),
            closing: Lazy::default(),
        }
    }

    /// Keeps `stream` for the next probe, or closes it if one is kept already.
    fn keep(&mut self, mut stream: Stream) {
        stream.ignore_for_keep_alive();
        match self.idle {
            None => self.idle = Some(Box::new(stream)),
            Some(_) if self.closing.len() < MAX_CLOSING => {
                self.closing.push(protocol::close(stream).boxed());
            }
            Some(_) => {}
        }
    }

    fn serve(&mut self, mut stream: Stream) {
        stream.ignore_for_keep_alive();
        let mut pings = self.inbound_streams.refilled(Instant::now());
        self.serving.push(
            protocol::serve(stream, move || pings.try_take(Instant::now()))
                .map(|_| ())
                .boxed(),
        );
    }

    fn report(&mut self, trigger: Trigger, outcome: ProbeOutcome) {
        self.outcomes.push_back(Outcome {
            trigger,
            outcome,
            sent: self.prober.started(),
        });
    }

    fn answered(&mut self, probe: ProbeId, trigger: Trigger, rtt: Option<Duration>) {
        let rtt = self.prober.on_answer(probe, rtt, Instant::now());
        if self.granted.as_ref().is_some_and(|(p, _)| *p == probe) {
            self.granted = None;
        }
        self.report(trigger, ProbeOutcome::Answered { rtt });
    }

    fn failed(&mut self, probe: ProbeId, trigger: Trigger, error: String) {
        self.prober.on_failed(probe, Instant::now());
        if self.granted.as_ref().is_some_and(|(p, _)| *p == probe) {
            self.granted = None;
        }
        self.report(trigger, ProbeOutcome::Failed(error));
    }

    fn start(&mut self, probe: ProbeId, trigger: Trigger) {
        let Some(stream) = self.idle.take().map(|stream| *stream) else {
            self.to_open.push_back((probe, trigger));
            self.report(trigger, ProbeOutcome::Opening);
            return;
        };
        let started = Instant::now();
        let timeout = Delay::new(self.io_timeout());
        self.pinging.push(
            future::select(protocol::ping(stream).boxed(), timeout)
                .map(move |done| match done {
                    future::Either::Left((result, _)) => (probe, trigger, started, Some(result)),
                    future::Either::Right(_) => (probe, trigger, started, None),
                })
                .boxed(),
        );
    }

    /// Reads the pings that ended. Polled on every pass of the connection's
    /// loop: an empty set (no probe in flight: the usual case) is skipped, as
    /// polling it would only register the waker to say `None`.
    fn poll_pings(&mut self, cx: &mut Context<'_>) {
        while !self.pinging.is_empty() {
            let Poll::Ready(Some((probe, trigger, started, result))) =
                self.pinging.poll_next_unpin(cx)
            else {
                break;
            };
            match result {
                Some(Ok(stream)) => {
                    self.keep(stream);
                    self.answered(probe, trigger, Some(started.elapsed()));
                }
                // The kept stream was reset or ended by the remote: it is
                // alive. The next probe opens a new stream.
                Some(Err(e)) if from_remote(&e) => self.answered(probe, trigger, None),
                // The kept stream broke on this side: the probe told nothing.
                Some(Err(e)) => self.failed(probe, trigger, e.to_string()),
                // No answer even long after the deadline, which judged it already.
                None => {}
            }
        }
    }

    /// A deadline passed without an answer.
    fn expired(&mut self, probe: ProbeId, trigger: Trigger, late_by: Duration) {
        let outcome = match self.granted.take() {
            // The swarm's outbound timeout runs from the request and covers
            // both the wait for the muxer and the negotiation; the grant tells
            // them apart. Never granted (stream credit, a queue of other
            // protocols' requests ahead of ours): this node never sent the
            // probe, so the remote had nothing to answer.
            Some((p, granted)) if p == probe && !granted.load(Ordering::Relaxed) => {
                ProbeOutcome::Failed("the muxer granted no stream before the deadline".into())
            }
            // Sent (a granted stream's negotiation, a ping on the kept stream)
            // and not answered: the peer's silence, unless this task ran late.
            _ => ProbeOutcome::Unanswered { late_by },
        };
        self.report(trigger, outcome);
    }
}

/// The queue's first item; an emptied queue gives its room back. A queue
/// here holds a probe's outcome or two, then nothing until the next
/// probe, seconds later: kept, that room would cost every connection.
fn pop_front_and_free<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let item = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    item
}

/// Whether an I/O error on a probe stream came from the remote: it reset or
/// ended the stream, or wrote something other than the echo. Only a live
/// remote does that, so it is an answer. Anything else (a limit on this side
/// refusing the stream, as stream-quota's `LimitExceeded` does, a muxer
/// failing locally, the connection going down) says nothing of the remote: a
/// connection that fails is closed by the swarm and reported then.
fn from_remote(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData
    )
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Probe;
    type ToBehaviour = Outcome;
    type InboundProtocol = Either<ReadyUpgrade<StreamProtocol>, DeniedUpgrade>;
    type OutboundProtocol = ProbeUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Opening;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        let this = &*self.0;
        // Out of budget, the protocol is not offered: the remote is told "not supported".
        // The swarm asks on every pass of the connection's loop: the clock is
        // read only when the bucket is short of a token.
        let upgrade = if this.inbound_streams.has_token_by(Instant::now) {
            Either::Left(ReadyUpgrade::new(PROTOCOL))
        } else {
            Either::Right(DeniedUpgrade)
        };
        SubstreamProtocol::new(upgrade, ())
    }

    fn on_behaviour_event(&mut self, Probe { trigger }: Probe) {
        let this = &mut *self.0;
        // The swarm polls the handler after delivering this: the timer is
        // re-armed there for the request.
        this.prober.request(trigger, Instant::now());
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Opening, Outcome>> {
        let this = &mut *self.0;
        // Answers first, then deadlines: an answer read in this pass beats
        // its deadline. A ping started by the timer is polled at once (a
        // future new in the set is polled only by the next `poll_next`).
        loop {
            this.poll_pings(cx);
            let pings = this.pinging.len();
            while let Poll::Ready(now) = this.timer.poll(this.prober.poll_timeout(), cx) {
                while let Some(step) = this.prober.poll(now) {
                    match step {
                        Step::Start { probe, trigger } => this.start(probe, trigger),
                        Step::Expired {
                            probe,
                            trigger,
                            late_by,
                        } => this.expired(probe, trigger, late_by),
                    }
                }
            }
            if this.pinging.len() <= pings {
                break;
            }
        }
        if let Some(outcome) = pop_front_and_free(&mut this.outcomes) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(outcome));
        }
        if let Some((probe, trigger)) = pop_front_and_free(&mut this.to_open) {
            let granted = Arc::new(AtomicBool::new(false));
            this.granted = Some((probe, granted.clone()));
            let opening = Opening {
                probe,
                trigger,
                requested: Instant::now(),
            };
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ProbeUpgrade { granted }, opening)
                    .with_timeout(this.io_timeout()),
            });
        }
        while !this.serving.is_empty() && this.serving.poll_next_unpin(cx).is_ready() {}
        while !this.closing.is_empty() && this.closing.poll_next_unpin(cx).is_ready() {}
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), Opening>,
    ) {
        let this = &mut *self.0;
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol, ..
            }) => {
                let stream = match protocol {
                    future::Either::Left(stream) => stream,
                    future::Either::Right(never) => match never {},
                };
                if this.serving.len() < MAX_SERVED && this.inbound_streams.try_take(Instant::now())
                {
                    this.serve(stream);
                } else {
                    tracing::debug!("dropping an inbound probe stream over the budget");
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info:
                    Opening {
                        probe,
                        trigger,
                        requested,
                    },
            }) => {
                this.answered(probe, trigger, Some(requested.elapsed()));
                this.keep(stream);
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError {
                info:
                    Opening {
                        probe,
                        trigger,
                        requested,
                    },
                error,
            }) => match error {
                // The remote answered: it does not run this policy, and it is alive.
                StreamUpgradeError::NegotiationFailed => {
                    this.answered(probe, trigger, Some(requested.elapsed()));
                }
                // A reset or an end of the stream from the remote is an answer too.
                StreamUpgradeError::Io(e) if from_remote(&e) => {
                    this.answered(probe, trigger, None);
                }
                // Refused or failed on this side: no probe went out.
                StreamUpgradeError::Io(e) => this.failed(probe, trigger, e.to_string()),
                // Long past the probe's deadline, which judged it already
                // (sent or never granted).
                StreamUpgradeError::Timeout => {}
                StreamUpgradeError::Apply(never) => match never {},
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal by a limit on this side, as stream-quota words it (without
    /// depending on it: any error of its own kind is local).
    #[derive(Debug)]
    struct LimitExceeded;

    impl std::fmt::Display for LimitExceeded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outbound stream refused: the node limit of 2048 open outbound streams")
        }
    }

    impl std::error::Error for LimitExceeded {}

    #[test]
    fn only_errors_from_the_remote_are_answers() {
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::UnexpectedEof,
            io::ErrorKind::InvalidData,
        ] {
            assert!(from_remote(&io::Error::from(kind)), "{kind:?}");
        }
        for error in [
            io::Error::other(LimitExceeded),
            io::Error::from(io::ErrorKind::BrokenPipe),
            io::Error::from(io::ErrorKind::NotConnected),
            io::Error::from(io::ErrorKind::WriteZero),
        ] {
            assert!(!from_remote(&error), "{error:?}");
        }
    }

    #[test]
    fn the_swarm_asking_for_the_protocols_is_the_grant() {
        let granted = Arc::new(AtomicBool::new(false));
        let upgrade = ProbeUpgrade {
            granted: granted.clone(),
        };
        assert!(!granted.load(Ordering::Relaxed));
        assert_eq!(upgrade.protocol_info().collect::<Vec<_>>(), vec![PROTOCOL]);
        assert!(granted.load(Ordering::Relaxed));
    }

    fn expire(granted: Option<bool>) -> ProbeOutcome {
        let mut handler = State::new(
            &Config::default(),
            Transport::WebRtc,
            &Scheduled::default(),
            1,
        );
        let probe = ProbeId(0);
        handler.granted = granted.map(|g| (probe, Arc::new(AtomicBool::new(g))));
        handler.expired(probe, Trigger::Schedule, Duration::from_millis(3));
        let outcome = handler.outcomes.pop_front().expect("reported");
        assert!(handler.granted.is_none());
        outcome.outcome
    }

    #[test]
    fn a_deadline_is_a_silence_only_for_a_probe_that_was_sent() {
        let late_by = Duration::from_millis(3);
        // A new stream the muxer never granted: never sent.
        assert!(matches!(expire(Some(false)), ProbeOutcome::Failed(_)));
        // Granted, negotiation unanswered: the peer's silence.
        assert_eq!(expire(Some(true)), ProbeOutcome::Unanswered { late_by });
        // A ping on the kept stream: sent.
        assert_eq!(expire(None), ProbeOutcome::Unanswered { late_by });
    }
}
