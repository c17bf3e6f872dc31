//! Exact stream accounting, stream limits, and a cure for stream-credit
//! starvation, for rust-libp2p.
//!
//! A behaviour only ever sees its own streams, so the counting happens one
//! layer down: [`Quota::transport`] wraps every connection's stream muxer,
//! and each stream, whichever behaviour opened it or the remote did, passes
//! through a [`Muxer`] that counts it in the [`Quota`]'s ledger and reads its
//! protocol off the multistream-select bytes. The [`Behaviour`] ties the
//! ledger's connections to the swarm's [`ConnectionId`](libp2p_swarm::ConnectionId)s
//! and reports what happened.
//!
//! - **Accounting**: open and cumulative inbound and outbound streams,
//!   refusals and the oldest open stream's age, per connection, peer,
//!   protocol, protocol per peer and for the node: [`Quota::snapshot`].
//! - **Limits** per [`Scope`] and [`Direction`] ([`Config`]; defaults after
//!   go-libp2p's resource manager). An inbound stream over a limit is dropped
//!   unanswered (the remote sees its negotiation fail; on QUIC as a refused
//!   protocol, since QUIC's drop ends a stream cleanly); an outbound one fails
//!   for its opener with [`LimitExceeded`]; both are reported as
//!   [`Event::Refused`], which names the limit.
//! - **Starvation**: an outbound open the muxer keeps waiting (QUIC: the peer
//!   hands back no stream credit) is reported after the threshold as
//!   [`Event::Starved`], long before the swarm's 10 s stream timeout. With
//!   recycling on, a fresh connection to the peer is dialed and the starved one
//!   is closed once it is up ([`Event::Recycled`]).
//! - **Leaks**: a stream open longer than the leak threshold is reported
//!   once, with its protocol and age ([`Event::Leaked`]).
//!
//! # Example
//!
//! ```
//! use libp2p::{identity::Keypair, ping, quic, swarm::NetworkBehaviour, Swarm};
//! use stream_quota::{Config, Limit, Quota};
//!
//! #[derive(NetworkBehaviour)]
//! struct MyBehaviour {
//!     ping: ping::Behaviour,
//!     quota: stream_quota::Behaviour,
//! }
//!
//! # fn main() -> Result<(), stream_quota::ConfigError> {
//! let key = Keypair::generate_ed25519();
//! let quota = Quota::new(
//!     Config::default().with_protocol_limit(ping::PROTOCOL_NAME, Limit::new(4, 4)),
//! )?;
//! let swarm = Swarm::new(
//!     // The one call that puts every stream in the ledger.
//!     quota.transport(quic::tokio::Transport::new(quic::Config::new(&key))),
//!     MyBehaviour {
//!         ping: ping::Behaviour::default(),
//!         quota: stream_quota::Behaviour::new(&quota),
//!     },
//!     key.public().to_peer_id(),
//!     libp2p::swarm::Config::with_tokio_executor(),
//! );
//! println!("{} streams open", quota.snapshot().node.open());
//! # let _ = swarm;
//! # Ok(())
//! # }
//! ```
//!
//! # How muxers are tied to connections
//!
//! The transport creates a muxer before the swarm names the connection, so
//! each muxer is recorded with its peer and `ConnectedPoint` (the dialed
//! address, or the local and send-back addresses). On
//! `FromSwarm::ConnectionEstablished`, which carries the same peer and
//! `ConnectedPoint`, the behaviour ties the oldest untied muxer with both to
//! the connection. The only ambiguity: two connections to one peer with the
//! same `ConnectedPoint` established at the same moment may be tied the
//! wrong way round; their counts are exact, only swapped.

mod behaviour;
mod config;
mod event;
mod ledger;
mod limit;
#[cfg(feature = "metrics")]
mod metrics;
mod muxer;
mod negotiation;
mod quota;
mod snapshot;
mod stream;

pub use behaviour::Behaviour;
pub use config::{Config, ConfigError};
pub use event::Event;
pub use limit::{Direction, Limit, LimitExceeded, Scope};
pub use muxer::Muxer;
pub use quota::Quota;
pub use snapshot::{ConnectionStats, DirectionStats, ScopeStats, Snapshot};
pub use stream::Substream;
