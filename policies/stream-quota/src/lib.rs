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
//! - **Limits** per [`Scope`] and [`Direction`] ([`Config`]): by default per
//!   connection and per protocol on each connection (the scopes are
//!   go-libp2p's resource manager's, plus js-libp2p's protocol per
//!   connection), so no number of connections reaches them; the scopes
//!   connections share (a peer's, the node's) only when set. The rule is one function, in
//!   `admission.rs`. An inbound stream over a limit is dropped
//!   unanswered (the remote sees its negotiation fail; on QUIC as a refused
//!   protocol, since QUIC's drop ends a stream cleanly); an outbound one fails
//!   for its opener with [`LimitExceeded`]; both are reported as
//!   [`Event::Refused`], which names the limit.
//! - **Starvation**: an outbound open the muxer keeps waiting (QUIC: the peer
//!   hands back no stream credit) is reported after the threshold as
//!   [`Event::Starved`], long before the swarm's 10 s stream timeout. With
//!   recycling on, a fresh connection to the peer is dialed and the starved one
//!   is closed once it is up ([`Event::Recycled`]; a failed dial is
//!   [`Event::RecycleFailed`], with a [`RecycleError`]).
//! - **Leaks**: a stream open longer than the leak threshold is reported
//!   once, with its protocol and age ([`Event::Leaked`]).
//!
//! # The transport layer comes first
//!
//! Every stream is counted and limited in the muxer layer, so the swarm's
//! transport must be wrapped with [`Quota::transport`] (or its muxers with
//! [`Quota::wrap`]) before the swarm is built. Without it nothing is counted
//! or limited, and the [`Behaviour`] can only log a warning at the first
//! connection; [`Quota::is_layered`] says beforehand whether the layer is
//! in place, for code that builds the swarm to refuse one without it.
//!
//! # Cost
//!
//! Linear in connections: no event walks every connection or peer (only
//! [`Quota::snapshot`] does, when asked). A stream costs O(1), a new
//! connection one lookup, and the starvation and leak checks are deadlines
//! in an ordered set, O(log n) each; a poll of the behaviour with nothing
//! due touches none of it.
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
//! // ping keeps one stream each way per connection: allow two on each,
//! // whatever the number of connections.
//! let quota = Quota::new(
//!     Config::default()
//!         .with_protocol_limit_per_connection(ping::PROTOCOL_NAME, Limit::new(2, 2)),
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

mod admission;
mod behaviour;
mod config;
mod error;
mod event;
mod ledger;
mod limit;
#[cfg(feature = "metrics")]
mod metrics;
mod muxer;
mod negotiation;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod quota;
mod snapshot;
mod stream;

pub use behaviour::Behaviour;
pub use config::{Config, ConfigError};
pub use error::{CapturedError, RecycleError};
pub use event::Event;
pub use limit::{Direction, Limit, LimitExceeded, Scope};
pub use muxer::Muxer;
pub use quota::{Layer, Quota};
pub use snapshot::{ConnectionStats, DirectionStats, ScopeStats, Snapshot};
pub use stream::Substream;
