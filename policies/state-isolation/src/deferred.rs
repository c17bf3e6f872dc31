//! The wrapped behaviour's handler on a connection the wrapped behaviour may
//! not know of yet.
//!
//! A peer's additional connection is held from the wrapped behaviour until
//! its incarnation is known: the wrapped behaviour's handler for it is made
//! only then, and reaches the connection as [`DeferredIn::Activate`]. Until
//! then the remote's inbound streams for the wrapped behaviour's protocols are
//! accepted and parked, and handed to that handler, through its own upgrade,
//! once it is there.

use std::{
    collections::VecDeque,
    convert::Infallible,
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use either::Either;
use futures::{
    future::{self, BoxFuture},
    stream::FuturesUnordered,
    FutureExt, StreamExt,
};
use libp2p_core::upgrade::{InboundUpgrade, UpgradeInfo};
use libp2p_swarm::{
    handler::{
        ConnectionEvent, FullyNegotiatedInbound, InboundUpgradeSend, ListenUpgradeError,
        SendWrapper, UpgradeInfoSend,
    },
    ConnectionHandler, ConnectionHandlerEvent, Stream, StreamProtocol, SubstreamProtocol,
};

/// Inbound streams parked on a held connection. A correct peer opens one or
/// two per protocol at connection start; past this the remote is flooding.
const MAX_PARKED: usize = 32;

/// A message of the behaviour to a [`Deferred`] handler.
pub enum DeferredIn<H: ConnectionHandler> {
    /// The wrapped behaviour's handler for this connection, made now that the
    /// wrapped behaviour has been told of the connection. Boxed: a handler
    /// can be kilobytes, and this enum is the size of every message the
    /// behaviour sends to its handlers.
    Activate(Box<H>),
    /// A message of the wrapped behaviour to its handler.
    Event(H::FromBehaviour),
}

impl<H: ConnectionHandler> fmt::Debug for DeferredIn<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Activate(_) => f.write_str("Activate"),
            Self::Event(event) => f.debug_tuple("Event").field(event).finish(),
        }
    }
}

/// Accepts an inbound stream for one of the names it was given and hands it
/// over as it is, with the name it was negotiated for.
#[derive(Clone, Debug)]
pub struct Parking {
    names: Arc<[StreamProtocol]>,
}

impl UpgradeInfo for Parking {
    type Info = StreamProtocol;
    type InfoIter = Names;

    fn protocol_info(&self) -> Names {
        Names {
            names: self.names.clone(),
            next: 0,
        }
    }
}

/// The names [`Parking`] offers, as an iterator that owns them (the swarm
/// keeps it beyond the upgrade's life).
#[derive(Debug)]
pub struct Names {
    names: Arc<[StreamProtocol]>,
    next: usize,
}

impl Iterator for Names {
    type Item = StreamProtocol;

    fn next(&mut self) -> Option<StreamProtocol> {
        let name = self.names.get(self.next)?.clone();
        self.next += 1;
        Some(name)
    }
}

impl InboundUpgrade<Stream> for Parking {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = future::Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, name: StreamProtocol) -> Self::Future {
        future::ready(Ok((stream, name)))
    }
}

type Inbound<H> = <H as ConnectionHandler>::InboundProtocol;
type Upgraded<H> = (
    Result<<Inbound<H> as InboundUpgradeSend>::Output, <Inbound<H> as InboundUpgradeSend>::Error>,
    <H as ConnectionHandler>::InboundOpenInfo,
);

/// What the connection's task holds inline is what a held connection needs
/// boxed and an active one's handler: the task keeps room for its handler
/// about three times over, and most connections are never held.
enum State<H> {
    Held(Box<Held>),
    Active(H),
}

struct Held {
    parked: VecDeque<(Stream, StreamProtocol)>,
    /// The protocols offered while held: those the wrapped behaviour's
    /// handlers offered last.
    names: Arc<[StreamProtocol]>,
}

/// The wrapped behaviour's handler, or, while the connection is held, a
/// stand-in that parks the remote's streams for it.
pub struct Deferred<H: ConnectionHandler> {
    state: State<H>,
    /// Parked streams going through the wrapped handler's own upgrade; made
    /// at the first (an empty set allocates, and most connections park
    /// nothing).
    upgrading: Option<Box<FuturesUnordered<BoxFuture<'static, Upgraded<H>>>>>,
}

impl<H: ConnectionHandler> Deferred<H> {
    pub(crate) fn active(inner: H) -> Self {
        Self {
            state: State::Active(inner),
            upgrading: None,
        }
    }

    pub(crate) fn held(names: Arc<[StreamProtocol]>) -> Self {
        Self {
            state: State::Held(Box::new(Held {
                parked: VecDeque::new(),
                names,
            })),
            upgrading: None,
        }
    }

    /// Runs a parked stream through the active handler's upgrade, as the
    /// swarm would have; a stream for a protocol it no longer offers is
    /// dropped, which the remote sees as a reset.
    fn upgrade(&mut self, stream: Stream, name: &StreamProtocol) {
        let State::Active(inner) = &self.state else {
            return;
        };
        let (upgrade, info) = inner.listen_protocol().into_upgrade();
        let Some(chosen) = upgrade
            .protocol_info()
            .find(|p| p.as_ref() == name.as_ref())
        else {
            tracing::debug!(%name, "dropping a parked stream: the protocol is no longer offered");
            return;
        };
        (self.upgrading.get_or_insert_with(Box::default)).push(
            upgrade
                .upgrade_inbound(stream, chosen)
                .map(move |result| (result, info))
                .boxed(),
        );
    }
}

impl<H: ConnectionHandler> ConnectionHandler for Deferred<H> {
    type FromBehaviour = DeferredIn<H>;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = Either<SendWrapper<H::InboundProtocol>, Parking>;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = Option<H::InboundOpenInfo>;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        match &self.state {
            State::Active(inner) => inner
                .listen_protocol()
                .map_upgrade(|u| Either::Left(SendWrapper(u)))
                .map_info(Some),
            State::Held(held) => SubstreamProtocol::new(
                Either::Right(Parking {
                    names: held.names.clone(),
                }),
                None,
            ),
        }
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match (event, &mut self.state) {
            (DeferredIn::Activate(inner), State::Held(held)) => {
                let parked = std::mem::take(&mut held.parked);
                self.state = State::Active(*inner);
                for (stream, name) in parked {
                    self.upgrade(stream, &name);
                }
            }
            (DeferredIn::Activate(_), State::Active(_)) => {
                tracing::debug!("a second handler for an active connection; dropped");
            }
            (DeferredIn::Event(event), State::Active(inner)) => inner.on_behaviour_event(event),
            // The behaviour routes nothing of the wrapped behaviour to a held connection.
            (DeferredIn::Event(_), State::Held(_)) => {}
        }
    }

    fn connection_keep_alive(&self) -> bool {
        match &self.state {
            State::Active(inner) => inner.connection_keep_alive(),
            // The wrapped behaviour has not had its say on this connection yet.
            State::Held(_) => true,
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<H::OutboundProtocol, H::OutboundOpenInfo, H::ToBehaviour>>
    {
        let State::Active(inner) = &mut self.state else {
            return Poll::Pending;
        };
        while let Some(upgrading) = self.upgrading.as_mut().filter(|u| !u.is_empty()) {
            let Poll::Ready(Some((result, info))) = upgrading.poll_next_unpin(cx) else {
                break;
            };
            inner.on_connection_event(match result {
                Ok(protocol) => ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                    protocol,
                    info,
                }),
                Err(error) => {
                    ConnectionEvent::ListenUpgradeError(ListenUpgradeError { info, error })
                }
            });
        }
        inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        match &mut self.state {
            State::Active(inner) => inner.poll_close(cx),
            State::Held(_) => Poll::Ready(None),
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: future::Either::Right((stream, name)),
                ..
            }) => match &mut self.state {
                State::Held(held) if held.parked.len() < MAX_PARKED => {
                    held.parked.push_back((stream, name));
                }
                State::Held(_) => {
                    tracing::debug!(%name, "dropping a stream over the parking bound")
                }
                // Negotiated while held, done after: it goes the parked way.
                State::Active(_) => self.upgrade(stream, &name),
            },
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: future::Either::Left(protocol),
                info: Some(info),
            }) => {
                if let State::Active(inner) = &mut self.state {
                    inner.on_connection_event(ConnectionEvent::FullyNegotiatedInbound(
                        FullyNegotiatedInbound { protocol, info },
                    ));
                }
            }
            ConnectionEvent::ListenUpgradeError(ListenUpgradeError {
                error: Either::Left(error),
                info: Some(info),
            }) => {
                if let State::Active(inner) = &mut self.state {
                    inner.on_connection_event(ConnectionEvent::ListenUpgradeError(
                        ListenUpgradeError { info, error },
                    ));
                }
            }
            ConnectionEvent::FullyNegotiatedInbound(_) | ConnectionEvent::ListenUpgradeError(_) => {
            }
            other => {
                if let State::Active(inner) = &mut self.state {
                    if let Some(event) = outbound_or_change::<H>(other) {
                        inner.on_connection_event(event);
                    }
                }
            }
        }
    }
}

/// The events that pass to the wrapped handler unchanged but for their type.
fn outbound_or_change<'a, H: ConnectionHandler>(
    event: ConnectionEvent<
        'a,
        Either<SendWrapper<H::InboundProtocol>, Parking>,
        H::OutboundProtocol,
        Option<H::InboundOpenInfo>,
        H::OutboundOpenInfo,
    >,
) -> Option<
    ConnectionEvent<
        'a,
        H::InboundProtocol,
        H::OutboundProtocol,
        H::InboundOpenInfo,
        H::OutboundOpenInfo,
    >,
> {
    Some(match event {
        ConnectionEvent::FullyNegotiatedOutbound(e) => ConnectionEvent::FullyNegotiatedOutbound(e),
        ConnectionEvent::DialUpgradeError(e) => ConnectionEvent::DialUpgradeError(e),
        ConnectionEvent::AddressChange(e) => ConnectionEvent::AddressChange(e),
        ConnectionEvent::LocalProtocolsChange(e) => ConnectionEvent::LocalProtocolsChange(e),
        ConnectionEvent::RemoteProtocolsChange(e) => ConnectionEvent::RemoteProtocolsChange(e),
        _ => return None,
    })
}
