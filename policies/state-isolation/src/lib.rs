//! Nothing of a replaced rust-libp2p connection leaks into the one that
//! replaces it.
//!
//! A peer that crashes and restarts with the same key keeps its `PeerId`, and
//! its peers keep its old connection: over QUIC for the 10 s or more of the idle
//! timeout, over native WebRTC for ever. Meanwhile `NotifyHandler::Any` may
//! pick the dead connection, and a behaviour treats what comes off it as news
//! from the live one. This policy tells the runs of a peer apart:
//!
//! - each node draws a random [`Incarnation`] when it starts, and announces it
//!   on every new connection in one strictly decoded 17-byte message
//!   ([`PROTOCOL`]); a connection is then (peer, incarnation, [`Epoch`]);
//! - when a connection from a new incarnation of a peer is established, every
//!   connection of its older incarnations is closed at once, with
//!   [`Event::Replaced`]. Two connections of one incarnation (simultaneous
//!   dials, a second path) are not a restart, and a peer that does not speak
//!   the exchange is never judged on this ground;
//! - [`Behaviour`] wraps another behaviour (request-response, a derived
//!   struct of several, a sibling policy) and keeps it off stale connections:
//!   it sees them closed the moment they are judged stale, gets nothing from
//!   them, sees a restarted peer's new connection as the peer's first one
//!   (so gossipsub and identify greet the new run), and its
//!   `NotifyHandler::Any` lands on the peer's newest live connection (see
//!   [`Behaviour`] for the exact guarantees).
//!
//! The judgements are made by a pure core with time passed in. Memory is one
//! entry per open connection and per connected peer (with at most
//! [`Config::with_max_retired_incarnations`] replaced incarnations each).
//!
//! # Example
//!
//! Wrap the behaviours that should never see a replaced connection; the rest of
//! the swarm composes with the derive as usual.
//!
//! ```
//! use libp2p::{
//!     identity::Keypair,
//!     ping,
//!     swarm::{NetworkBehaviour, Swarm},
//! };
//!
//! #[derive(NetworkBehaviour)]
//! struct Protected {
//!     ping: ping::Behaviour,
//! }
//!
//! #[derive(NetworkBehaviour)]
//! struct MyBehaviour {
//!     isolated: state_isolation::Behaviour<Protected>,
//! }
//!
//! # fn main() -> Result<(), state_isolation::ConfigError> {
//! let behaviour = MyBehaviour {
//!     isolated: state_isolation::Behaviour::wrap(
//!         Protected { ping: ping::Behaviour::default() },
//!         state_isolation::Config::default(),
//!     )?,
//! };
//! # let _ = behaviour;
//! // Later, on `swarm.select_next_some()`:
//! fn on_event(swarm: &mut Swarm<MyBehaviour>, event: MyBehaviourEvent) {
//!     match event {
//!         MyBehaviourEvent::Isolated(state_isolation::Event::Replaced(r)) => {
//!             println!("{} restarted; closed {:?}", r.peer, r.closed);
//!         }
//!         MyBehaviourEvent::Isolated(state_isolation::Event::Behaviour(ProtectedEvent::Ping(_))) => {}
//!         MyBehaviourEvent::Isolated(_) => {}
//!     }
//!     let _ = swarm.behaviour().isolated.local_incarnation();
//! }
//! # let _ = on_event;
//! # Ok(())
//! # }
//! ```
//!
//! With a wrapped behaviour, put the policy's [`Handshake`] under the
//! swarm's transport too ([`Config::with_handshake`]): a restarted peer's new
//! connection then reaches the swarm with its incarnation known, and nothing
//! the application sends after the swarm reported it goes to the old run.
//!
//! To close restarted peers' connections without wrapping anything, use
//! `state_isolation::Behaviour::new(Config::default())` as a field of your behaviour.

mod behaviour;
mod config;
mod deferred;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
mod handshake;
mod incarnation;
mod protocol;
mod registry;

pub use behaviour::Behaviour;
pub use config::{Config, ConfigError};
pub use event::Event;
pub use handshake::Handshake;
pub use incarnation::{Epoch, Incarnation};
pub use protocol::{ExchangeError, PROTOCOL};
pub use registry::{ConnectionInfo, Replacement, Status};
