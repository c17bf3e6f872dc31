//! One connection's side of the echo protocol.

use std::{
    collections::VecDeque,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::{future::BoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
use libp2p::{
    core::upgrade::ReadyUpgrade,
    swarm::{
        handler::{
            ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
        },
        ConnectionHandler, ConnectionHandlerEvent, StreamProtocol, StreamUpgradeError,
        SubstreamProtocol,
    },
};

use super::{
    protocol::{self, PROTOCOL},
    EchoError, RequestId,
};

/// Inbound echo streams served at once on one connection; more are dropped.
const MAX_INBOUND_STREAMS: usize = 16;

/// A request handed to the handler by the behaviour.
#[derive(Debug)]
pub struct Request {
    pub(crate) id: RequestId,
    pub(crate) payload: Vec<u8>,
}

/// What the handler reports.
#[derive(Debug)]
pub enum Outcome {
    /// The request reached this connection (it may have been sent to any of the peer's).
    Started(RequestId),
    /// The request completed, with the time from `Started`.
    Done(RequestId, Result<Duration, EchoError>),
}

/// A request waiting for its stream.
#[derive(Debug)]
pub struct Opening {
    id: RequestId,
    payload: Vec<u8>,
    started: Instant,
}

pub struct Handler {
    exchange_timeout: Duration,
    to_open: VecDeque<Opening>,
    events: VecDeque<Outcome>,
    outbound: FuturesUnordered<BoxFuture<'static, Outcome>>,
    inbound: FuturesUnordered<BoxFuture<'static, ()>>,
}

impl Handler {
    pub(crate) fn new(exchange_timeout: Duration) -> Self {
        Self {
            exchange_timeout,
            to_open: VecDeque::new(),
            events: VecDeque::new(),
            outbound: FuturesUnordered::new(),
            inbound: FuturesUnordered::new(),
        }
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Request;
    type ToBehaviour = Outcome;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Opening;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn on_behaviour_event(&mut self, Request { id, payload }: Request) {
        self.events.push_back(Outcome::Started(id));
        self.to_open.push_back(Opening {
            id,
            payload,
            started: Instant::now(),
        });
    }

    fn connection_keep_alive(&self) -> bool {
        !self.to_open.is_empty() || !self.outbound.is_empty()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Opening, Outcome>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        if let Some(opening) = self.to_open.pop_front() {
            // The swarm's default stream timeout (10 s) applies, as for any protocol.
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), opening),
            });
        }
        while let Poll::Ready(Some(())) = self.inbound.poll_next_unpin(cx) {}
        if let Poll::Ready(Some(outcome)) = self.outbound.poll_next_unpin(cx) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(outcome));
        }
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), Opening>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => {
                if self.inbound.len() >= MAX_INBOUND_STREAMS {
                    tracing::debug!("dropping an inbound echo stream over the limit");
                    return;
                }
                self.inbound.push(
                    tokio::time::timeout(protocol::SERVE_TIMEOUT, protocol::serve(stream))
                        .map(|_| ())
                        .boxed(),
                );
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info:
                    Opening {
                        id,
                        payload,
                        started,
                    },
            }) => {
                let exchange =
                    tokio::time::timeout(self.exchange_timeout, protocol::send(stream, payload));
                self.outbound.push(
                    async move {
                        let result = match exchange.await {
                            Ok(Ok(())) => Ok(started.elapsed()),
                            Ok(Err(e)) => Err(EchoError::Io(e.to_string())),
                            Err(_) => Err(EchoError::Timeout),
                        };
                        Outcome::Done(id, result)
                    }
                    .boxed(),
                );
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info, error }) => {
                let error = match error {
                    StreamUpgradeError::Timeout => EchoError::OpenTimeout,
                    StreamUpgradeError::NegotiationFailed => EchoError::Unsupported,
                    StreamUpgradeError::Io(e) => EchoError::Io(e.to_string()),
                    StreamUpgradeError::Apply(never) => match never {},
                };
                self.events.push_back(Outcome::Done(info.id, Err(error)));
            }
            _ => {}
        }
    }
}
