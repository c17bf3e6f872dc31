//! Closes rust-libp2p connections whose close was never signalled.
//!
//! Native WebRTC-direct in rust-libp2p never reports a dead remote: a
//! connection whose peer crashed or whose path went silent stays established,
//! and every stream opened on it waits 10 s and fails. QUIC notices a silent
//! path only at its idle timeout, and keeps a restarted peer's old connection
//! just as long. This policy finds such connections and closes them:
//!
//! - it **probes** each connection on a stream of its own
//!   ([`PROTOCOL`]), on a jittered schedule per [`Transport`] (WebRTC by
//!   default), at once when a newer connection to the same peer appears, and
//!   when the application calls [`Behaviour::suspect`]. A probe the remote
//!   negotiates, or answers with "protocol not supported", proves it alive, so
//!   peers without the policy are probed as well;
//! - a probe waits for a timeout that follows the connection's measured RTT
//!   within bounds; after `max_strikes` unanswered probes in a row (each retried
//!   at once) the connection is closed with [`Event::Pruned`];
//! - only the peer's silence counts: a probe this node could not send (a
//!   stream refused by a local limit, a stream the muxer never granted) or
//!   could not read in time (its own timers ran late) is no miss, and while
//!   this node is overloaded it stops judging ([`Event::Overloaded`]): when
//!   its timers run late, or when many connections miss at once while some
//!   of them answer late (a socket read late);
//! - it never keeps a connection alive (its streams are ignored for
//!   keep-alive), serves the remote's probes within a per-connection budget,
//!   and forgets a connection when it closes;
//! - its cost is linear in connections and bounded node-wide: each
//!   connection's handler keeps its own probe schedule, nothing walks every
//!   connection, and scheduled probes stay within a node-wide rate
//!   ([`Config::with_max_scheduled_probe_rate`], 100 a second by default):
//!   past that many connections per interval, each is probed less often.
//!
//! A dead connection is pruned within [`Config::detection_bound`] (or
//! [`Config::detection_bound_at`] on a node with more connections than its
//! probe rate covers) while this node runs on time (an overloaded node judges later, never wrongly); on a fast
//! path, typically half an interval plus `max_strikes` minimum timeouts (about
//! 5 s with the defaults). The decisions live in a pure core, tested with time
//! passed in.
//!
//! # Example
//!
//! ```
//! use libp2p::{identify, identity::Keypair, ping, swarm::NetworkBehaviour};
//!
//! #[derive(NetworkBehaviour)]
//! struct MyBehaviour {
//!     ping: ping::Behaviour,
//!     identify: identify::Behaviour,
//!     prune: conn_prune::Behaviour,
//! }
//!
//! # fn main() -> Result<(), conn_prune::ConfigError> {
//! let key = Keypair::generate_ed25519();
//! let behaviour = MyBehaviour {
//!     ping: ping::Behaviour::default(),
//!     identify: identify::Behaviour::new(identify::Config::new(
//!         "/my-app/1.0.0".into(),
//!         key.public(),
//!     )),
//!     // Defaults probe WebRTC connections every 5 s; probe QUIC too:
//!     prune: conn_prune::Behaviour::new(conn_prune::Config::default().with_probe_interval(
//!         conn_prune::Transport::Quic,
//!         Some(std::time::Duration::from_secs(5)),
//!     ))?,
//! };
//! # let _ = behaviour;
//! # Ok(())
//! # }
//! ```
//!
//! The swarm then reports `conn_prune::Event`s; call
//! `swarm.behaviour_mut().prune.suspect(connection_id)` when one of your
//! requests on a connection timed out.

mod behaviour;
mod budget;
mod config;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
#[cfg(feature = "metrics")]
mod metrics;
mod monitor;
mod prober;
mod protocol;
mod rtt;

pub use behaviour::Behaviour;
pub use config::{Config, ConfigError, Transport, DEFAULT_MAX_SCHEDULED_PROBE_RATE};
pub use event::{ConnectionFailure, Event, Evidence, Overload, Reason, Trigger};
pub use monitor::ConnectionStats;
pub use protocol::PROTOCOL;
