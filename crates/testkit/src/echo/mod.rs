//! A request on one chosen connection: the testkit's way to ask "can this
//! connection still carry a stream?".
//!
//! [`Behaviour::send`] opens an echo stream on a given connection, or on any of
//! the peer's connections the way `NotifyHandler::Any` picks, and reports an
//! [`Event`] with the round-trip time or why it failed. Stream opens use the
//! swarm's default stream timeout (10 s), so a dead connection fails the way it
//! fails for any rust-libp2p protocol. Every node serves echo.

mod handler;
mod protocol;
mod steady;

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    task::{Context, Poll, Waker},
    time::Duration,
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    swarm::{
        ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
        NotifyHandler, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

pub use protocol::{MAX_PAYLOAD, PROTOCOL};
pub use steady::{Served, Steady};

use handler::{Handler, Outcome, Request};

/// Identifies one request of [`Behaviour::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

/// Which of a peer's connections carries a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This connection.
    Connection(ConnectionId),
    /// Whichever connection `NotifyHandler::Any` picks, stale ones included.
    Any,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoError {
    /// The stream did not open within the swarm's stream timeout.
    OpenTimeout,
    /// The remote does not speak the echo protocol.
    Unsupported,
    /// The stream opened but the exchange did not finish in time.
    Timeout,
    /// The stream failed.
    Io(String),
    /// The connection closed before the request completed.
    ConnectionClosed,
    /// There was no such connection to the peer when the request was made.
    NotConnected,
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OpenTimeout => f.write_str("stream open timed out"),
            Self::Unsupported => f.write_str("echo protocol not supported by the remote"),
            Self::Timeout => f.write_str("echo exchange timed out"),
            Self::Io(e) => write!(f, "stream failed: {e}"),
            Self::ConnectionClosed => f.write_str("connection closed during the request"),
            Self::NotConnected => f.write_str("no such connection"),
        }
    }
}

impl std::error::Error for EchoError {}

/// The outcome of one request.
#[derive(Debug, Clone)]
pub struct Event {
    /// The request.
    pub id: RequestId,
    /// The peer asked.
    pub peer: PeerId,
    /// The connection that carried it, if it reached one.
    pub connection: Option<ConnectionId>,
    /// The time from stream request to echoed reply, or why it failed.
    pub result: Result<Duration, EchoError>,
}

#[derive(Debug)]
struct InFlight {
    peer: PeerId,
    connection: Option<ConnectionId>,
}

/// The echo behaviour. See the [module docs](self).
pub struct Behaviour {
    exchange_timeout: Duration,
    next_id: u64,
    connections: HashMap<ConnectionId, PeerId>,
    in_flight: HashMap<RequestId, InFlight>,
    actions: VecDeque<ToSwarm<Event, Request>>,
    waker: Option<Waker>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

impl Behaviour {
    /// A behaviour whose exchanges, once a stream is open, time out after `exchange_timeout`.
    pub fn new(exchange_timeout: Duration) -> Self {
        Self {
            exchange_timeout,
            next_id: 0,
            connections: HashMap::new(),
            in_flight: HashMap::new(),
            actions: VecDeque::new(),
            waker: None,
        }
    }

    /// Sends an echo request to `peer` on `target`; its [`Event`] carries the returned id.
    pub fn send(&mut self, peer: PeerId, target: Target) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;

        let handler = match target {
            Target::Connection(c) if self.connections.get(&c) == Some(&peer) => {
                NotifyHandler::One(c)
            }
            Target::Any if self.connections.values().any(|p| *p == peer) => NotifyHandler::Any,
            _ => {
                self.push(ToSwarm::GenerateEvent(Event {
                    id,
                    peer,
                    connection: None,
                    result: Err(EchoError::NotConnected),
                }));
                return id;
            }
        };
        self.in_flight.insert(
            id,
            InFlight {
                peer,
                connection: None,
            },
        );
        self.push(ToSwarm::NotifyHandler {
            peer_id: peer,
            handler,
            event: Request {
                id,
                payload: id.0.to_be_bytes().to_vec(),
            },
        });
        id
    }

    fn push(&mut self, action: ToSwarm<Event, Request>) {
        self.actions.push_back(action);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn on_connection_closed(
        &mut self,
        ConnectionClosed {
            peer_id,
            connection_id,
            remaining_established,
            ..
        }: ConnectionClosed,
    ) {
        self.connections.remove(&connection_id);
        let failed: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, r)| {
                r.connection == Some(connection_id)
                    || (r.connection.is_none() && r.peer == peer_id && remaining_established == 0)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            let request = self.in_flight.remove(&id).expect("just listed");
            self.push(ToSwarm::GenerateEvent(Event {
                id,
                peer: request.peer,
                connection: request.connection,
                result: Err(EchoError::ConnectionClosed),
            }));
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
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(self.exchange_timeout))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(self.exchange_timeout))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.connections.insert(e.connection_id, e.peer_id);
            }
            FromSwarm::ConnectionClosed(e) => self.on_connection_closed(e),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        outcome: THandlerOutEvent<Self>,
    ) {
        match outcome {
            Outcome::Started(id) => {
                if let Some(request) = self.in_flight.get_mut(&id) {
                    request.connection = Some(connection);
                }
            }
            Outcome::Done(id, result) => {
                if self.in_flight.remove(&id).is_some() {
                    self.push(ToSwarm::GenerateEvent(Event {
                        id,
                        peer,
                        connection: Some(connection),
                        result,
                    }));
                }
            }
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        match self.actions.pop_front() {
            Some(action) => Poll::Ready(action),
            None => {
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
