//! The policy's connection handler: one connection's side of the
//! incarnation exchange (announce ours on a stream of our own, read the
//! remote's from the stream it opens), beside the wrapped behaviour's
//! handler in a [`Deferred`]. Named here for the types they make; an
//! application never builds them.

use std::{
    collections::VecDeque,
    convert::Infallible,
    task::{Context, Poll},
    time::Duration,
};

use futures::{future::BoxFuture, FutureExt};
use libp2p_core::upgrade::ReadyUpgrade;
use libp2p_swarm::{
    handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound},
    ConnectionHandler, ConnectionHandlerEvent, StreamProtocol, StreamUpgradeError,
    SubstreamProtocol,
};

pub use crate::deferred::{Deferred, DeferredIn, Names, Parking};
use crate::{
    handshake::Flags,
    protocol::{self, ExchangeError, PROTOCOL},
    Incarnation,
};

/// Inbound exchange streams read per connection: a correct peer needs one;
/// a few more let a peer retry after an error without letting it keep a
/// reader busy for ever.
const MAX_INBOUND_ATTEMPTS: u8 = 3;

/// What the handler tells the behaviour.
#[derive(Debug)]
pub enum Exchange {
    /// The remote announced its incarnation.
    Received(Incarnation),
    /// The remote's message was refused; the stream is dropped.
    Refused(ExchangeError),
    /// The remote does not speak the protocol.
    Unsupported,
}

enum Announce {
    ToOpen,
    Opening,
    Sending(BoxFuture<'static, Result<(), ExchangeError>>),
    Done,
}

/// The connection handler of the incarnation exchange.
pub struct Handler {
    local: Incarnation,
    timeout: Duration,
    announce: Announce,
    receiving: Option<BoxFuture<'static, Result<Incarnation, ExchangeError>>>,
    attempts: u8,
    received: bool,
    events: VecDeque<Exchange>,
}

impl Handler {
    pub(crate) fn new(local: Incarnation, timeout: Duration) -> Self {
        Self {
            local,
            timeout,
            announce: Announce::ToOpen,
            receiving: None,
            attempts: 0,
            received: false,
            events: VecDeque::new(),
        }
    }

    /// Starts where the transport's handshake left the exchange: nothing
    /// more to announce, and the remote's message read or refused once.
    pub(crate) fn after_handshake(mut self, flags: Flags) -> Self {
        if flags.announced {
            self.announce = Announce::Done;
        }
        self.received = flags.received;
        self.attempts = flags.attempts;
        self
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Exchange;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ()).with_timeout(self.timeout)
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn connection_keep_alive(&self) -> bool {
        // The exchange is never a reason to keep a connection open.
        false
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        match &mut self.announce {
            Announce::ToOpen => {
                self.announce = Announce::Opening;
                return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
                        .with_timeout(self.timeout),
                });
            }
            Announce::Sending(sending) => {
                if let Poll::Ready(result) = sending.poll_unpin(cx) {
                    if let Err(e) = result {
                        // The remote learns nothing from this connection; it
                        // will not judge it, which is the safe side.
                        tracing::debug!("announcing our incarnation failed: {e}");
                    }
                    self.announce = Announce::Done;
                }
            }
            Announce::Opening | Announce::Done => {}
        }
        if let Some(receiving) = &mut self.receiving {
            if let Poll::Ready(result) = receiving.poll_unpin(cx) {
                self.receiving = None;
                let event = match result {
                    Ok(incarnation) => {
                        self.received = true;
                        Exchange::Received(incarnation)
                    }
                    Err(e) => Exchange::Refused(e),
                };
                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
            }
        }
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => {
                // One message per connection; any stream past that, or beside
                // one being read, is dropped unread.
                if self.received
                    || self.receiving.is_some()
                    || self.attempts >= MAX_INBOUND_ATTEMPTS
                {
                    tracing::debug!("dropping a surplus incarnation stream");
                    return;
                }
                self.attempts += 1;
                self.receiving = Some(protocol::receive(stream, self.timeout).boxed());
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                ..
            }) => {
                self.announce =
                    Announce::Sending(protocol::send(stream, self.local, self.timeout).boxed());
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => {
                self.announce = Announce::Done;
                match error {
                    StreamUpgradeError::NegotiationFailed => {
                        self.events.push_back(Exchange::Unsupported);
                    }
                    other => tracing::debug!("opening the incarnation stream failed: {other}"),
                }
            }
            _ => {}
        }
    }
}
