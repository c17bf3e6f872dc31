//! One connection's probes: pings on a kept probe stream, a new stream when
//! there is none, and the remote's probes served within a budget.

use std::{
    collections::VecDeque,
    io,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use either::Either;
use futures::{
    future::{self, BoxFuture},
    stream::FuturesUnordered,
    FutureExt, StreamExt,
};
use futures_timer::Delay;
use libp2p_core::upgrade::{DeniedUpgrade, ReadyUpgrade};
use libp2p_swarm::{
    handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound},
    ConnectionHandler, ConnectionHandlerEvent, Stream, StreamProtocol, StreamUpgradeError,
    SubstreamProtocol,
};

use crate::{
    budget::TokenBucket,
    monitor::{ProbeId, ProbeOutcome},
    protocol::{self, PROTOCOL},
    Config,
};

/// Inbound probe streams served at once; a prober keeps one, two allow for its replacement.
const MAX_SERVED: usize = 2;
/// Probe streams being closed at once; past that a stream is dropped instead.
const MAX_CLOSING: usize = 8;

/// A probe the behaviour asks for.
#[derive(Debug)]
pub struct Probe {
    pub(crate) probe: ProbeId,
    pub(crate) timeout: Duration,
}

/// How a probe went.
#[derive(Debug)]
pub struct Outcome {
    pub(crate) probe: ProbeId,
    pub(crate) outcome: ProbeOutcome,
}

/// A probe waiting for a new stream, with the time it was requested.
#[derive(Debug)]
pub struct Opening {
    probe: ProbeId,
    requested: Instant,
}

type Ping = BoxFuture<'static, (ProbeId, Instant, Option<io::Result<Stream>>)>;

/// The connection handler of [`crate::Behaviour`].
pub struct Handler {
    inbound_rate: (u32, u32),
    inbound_streams: TokenBucket,
    to_open: VecDeque<Probe>,
    /// The kept probe stream, when no ping is on it.
    idle: Option<Stream>,
    pinging: FuturesUnordered<Ping>,
    outcomes: VecDeque<Outcome>,
    serving: FuturesUnordered<BoxFuture<'static, ()>>,
    closing: FuturesUnordered<BoxFuture<'static, ()>>,
}

impl Handler {
    pub(crate) fn new(config: &Config) -> Self {
        let (rate, burst) = (config.inbound_probes_per_second, config.inbound_probe_burst);
        Self {
            inbound_rate: (rate, burst),
            inbound_streams: TokenBucket::new(rate, burst, Instant::now()),
            to_open: VecDeque::new(),
            idle: None,
            pinging: FuturesUnordered::new(),
            outcomes: VecDeque::new(),
            serving: FuturesUnordered::new(),
            closing: FuturesUnordered::new(),
        }
    }

    /// Keeps `stream` for the next probe, or closes it if one is kept already.
    fn keep(&mut self, mut stream: Stream) {
        stream.ignore_for_keep_alive();
        match self.idle {
            None => self.idle = Some(stream),
            Some(_) if self.closing.len() < MAX_CLOSING => {
                self.closing.push(protocol::close(stream).boxed());
            }
            Some(_) => {}
        }
    }

    fn serve(&mut self, mut stream: Stream) {
        stream.ignore_for_keep_alive();
        let (rate, burst) = self.inbound_rate;
        let mut pings = TokenBucket::new(rate, burst, Instant::now());
        self.serving.push(
            protocol::serve(stream, move || pings.try_take(Instant::now()))
                .map(|_| ())
                .boxed(),
        );
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Probe;
    type ToBehaviour = Outcome;
    type InboundProtocol = Either<ReadyUpgrade<StreamProtocol>, DeniedUpgrade>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Opening;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        // Out of budget, the protocol is not offered: the remote is told "not supported".
        // The swarm asks on every pass of the connection's loop: the clock is
        // read only when the bucket is short of a token.
        let upgrade = if self.inbound_streams.has_token_by(Instant::now) {
            Either::Left(ReadyUpgrade::new(PROTOCOL))
        } else {
            Either::Right(DeniedUpgrade)
        };
        SubstreamProtocol::new(upgrade, ())
    }

    fn on_behaviour_event(&mut self, probe: Probe) {
        let Some(stream) = self.idle.take() else {
            self.to_open.push_back(probe);
            return;
        };
        let Probe { probe, timeout } = probe;
        let started = Instant::now();
        self.pinging.push(
            future::select(protocol::ping(stream).boxed(), Delay::new(timeout))
                .map(move |done| match done {
                    future::Either::Left((result, _)) => (probe, started, Some(result)),
                    future::Either::Right(_) => (probe, started, None),
                })
                .boxed(),
        );
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Opening, Outcome>> {
        // Polled on every pass of the connection's loop: an empty set (no
        // probe in flight, nothing closing: the usual case) is skipped, as
        // polling it would only register the waker to say `None`.
        while !self.pinging.is_empty() {
            let Poll::Ready(Some((probe, started, result))) = self.pinging.poll_next_unpin(cx)
            else {
                break;
            };
            let outcome = match result {
                Some(Ok(stream)) => {
                    self.keep(stream);
                    ProbeOutcome::Answered {
                        rtt: started.elapsed(),
                    }
                }
                Some(Err(e)) => ProbeOutcome::Failed(e.to_string()),
                None => ProbeOutcome::Unanswered,
            };
            self.outcomes.push_back(Outcome { probe, outcome });
        }
        if let Some(outcome) = self.outcomes.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(outcome));
        }
        if let Some(Probe { probe, timeout }) = self.to_open.pop_front() {
            let opening = Opening {
                probe,
                requested: Instant::now(),
            };
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), opening)
                    .with_timeout(timeout),
            });
        }
        while !self.serving.is_empty() && self.serving.poll_next_unpin(cx).is_ready() {}
        while !self.closing.is_empty() && self.closing.poll_next_unpin(cx).is_ready() {}
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), Opening>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol, ..
            }) => {
                let stream = match protocol {
                    future::Either::Left(stream) => stream,
                    future::Either::Right(never) => match never {},
                };
                if self.serving.len() < MAX_SERVED && self.inbound_streams.try_take(Instant::now())
                {
                    self.serve(stream);
                } else {
                    tracing::debug!("dropping an inbound probe stream over the budget");
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info: Opening { probe, requested },
            }) => {
                self.outcomes.push_back(Outcome {
                    probe,
                    outcome: ProbeOutcome::Answered {
                        rtt: requested.elapsed(),
                    },
                });
                self.keep(stream);
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError {
                info: Opening { probe, requested },
                error,
            }) => {
                let outcome = match error {
                    // The remote answered: it does not run this policy, and it is alive.
                    StreamUpgradeError::NegotiationFailed => ProbeOutcome::Answered {
                        rtt: requested.elapsed(),
                    },
                    StreamUpgradeError::Timeout => ProbeOutcome::Unanswered,
                    StreamUpgradeError::Io(e) => ProbeOutcome::Failed(e.to_string()),
                    StreamUpgradeError::Apply(never) => match never {},
                };
                self.outcomes.push_back(Outcome { probe, outcome });
            }
            _ => {}
        }
    }
}
