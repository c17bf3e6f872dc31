//! The policy's connection handler: one connection's side of the
//! incarnation exchange (announce ours on a stream of our own, read the
//! remote's from the stream it opens), beside the wrapped behaviour's
//! handler in a [`Deferred`]. Named here for the types they make; an
//! application never builds them.

use std::{
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

/// The connection handler of the incarnation exchange. Its state is boxed:
/// libp2p-swarm's connection task reserves room for its handler about three
/// times, so a byte inline costs each connection three and a byte here one.
pub struct Handler(Box<State>);

/// What [`Handler`] keeps of its connection's exchange.
struct State {
    local: Incarnation,
    timeout: Duration,
    announce: Announce,
    receiving: Option<BoxFuture<'static, Result<Incarnation, ExchangeError>>>,
    attempts: u8,
    received: bool,
    /// The remote refused the exchange's stream, and the behaviour is not
    /// told yet. At most once a connection (one stream is opened), so a
    /// flag: a queue would keep its room for the connection's life.
    unsupported: bool,
}

impl Handler {
    pub(crate) fn new(local: Incarnation, timeout: Duration) -> Self {
        Self(Box::new(State {
            local,
            timeout,
            announce: Announce::ToOpen,
            receiving: None,
            attempts: 0,
            received: false,
            unsupported: false,
        }))
    }

    /// Starts where the transport's handshake left the exchange: nothing
    /// more to announce, and the remote's message read or refused once.
    pub(crate) fn after_handshake(mut self, flags: Flags) -> Self {
        let this = &mut *self.0;
        if flags.announced {
            this.announce = Announce::Done;
        }
        this.received = flags.received;
        this.attempts = flags.attempts;
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
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ()).with_timeout(self.0.timeout)
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
        let this = &mut *self.0;
        if std::mem::take(&mut this.unsupported) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(
                Exchange::Unsupported,
            ));
        }
        match &mut this.announce {
            Announce::ToOpen => {
                this.announce = Announce::Opening;
                return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
                        .with_timeout(this.timeout),
                });
            }
            Announce::Sending(sending) => {
                if let Poll::Ready(result) = sending.poll_unpin(cx) {
                    if let Err(e) = result {
                        // The remote learns nothing from this connection; it
                        // will not judge it, which is the safe side.
                        tracing::debug!("announcing our incarnation failed: {e}");
                    }
                    this.announce = Announce::Done;
                }
            }
            Announce::Opening | Announce::Done => {}
        }
        if let Some(receiving) = &mut this.receiving {
            if let Poll::Ready(result) = receiving.poll_unpin(cx) {
                this.receiving = None;
                let event = match result {
                    Ok(incarnation) => {
                        this.received = true;
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
        let this = &mut *self.0;
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => {
                // One message per connection; any stream past that, or beside
                // one being read, is dropped unread.
                if this.received
                    || this.receiving.is_some()
                    || this.attempts >= MAX_INBOUND_ATTEMPTS
                {
                    tracing::debug!("dropping a surplus incarnation stream");
                    return;
                }
                this.attempts += 1;
                this.receiving = Some(protocol::receive(stream, this.timeout).boxed());
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                ..
            }) => {
                this.announce =
                    Announce::Sending(protocol::send(stream, this.local, this.timeout).boxed());
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => {
                this.announce = Announce::Done;
                match error {
                    StreamUpgradeError::NegotiationFailed => {
                        this.unsupported = true;
                    }
                    other => tracing::debug!("opening the incarnation stream failed: {other}"),
                }
            }
            _ => {}
        }
    }
}
