//! One connection's probes: opens those the behaviour asks for, reports how
//! they went, and serves the remote's within a budget.

use std::{
    collections::VecDeque,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use either::Either;
use futures::{future::BoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
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

/// Probe streams being closed at once; past that a stream is dropped instead.
const MAX_CLOSING: usize = 32;

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

/// A probe waiting for its stream, with the time it was requested.
#[derive(Debug)]
pub struct Opening {
    probe: ProbeId,
    requested: Instant,
}

/// The connection handler of [`crate::Behaviour`].
pub struct Handler {
    inbound_budget: TokenBucket,
    to_open: VecDeque<Probe>,
    outcomes: VecDeque<Outcome>,
    closing: FuturesUnordered<BoxFuture<'static, ()>>,
}

impl Handler {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            inbound_budget: TokenBucket::new(
                config.inbound_probes_per_second,
                config.inbound_probe_burst,
                Instant::now(),
            ),
            to_open: VecDeque::new(),
            outcomes: VecDeque::new(),
            closing: FuturesUnordered::new(),
        }
    }

    fn close(&mut self, mut stream: Stream) {
        stream.ignore_for_keep_alive();
        if self.closing.len() < MAX_CLOSING {
            self.closing.push(protocol::close(stream).boxed());
        }
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
        let upgrade = if self.inbound_budget.has_token(Instant::now()) {
            Either::Left(ReadyUpgrade::new(PROTOCOL))
        } else {
            Either::Right(DeniedUpgrade)
        };
        SubstreamProtocol::new(upgrade, ())
    }

    fn on_behaviour_event(&mut self, probe: Probe) {
        self.to_open.push_back(probe);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Opening, Outcome>> {
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
        while let Poll::Ready(Some(())) = self.closing.poll_next_unpin(cx) {}
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
                    futures::future::Either::Left(stream) => stream,
                    futures::future::Either::Right(never) => match never {},
                };
                if self.inbound_budget.try_take(Instant::now()) {
                    self.close(stream);
                } else {
                    tracing::debug!("dropping an inbound probe over the budget");
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
                self.close(stream);
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
