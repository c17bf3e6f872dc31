//! Brings a rust-libp2p node that lost its peers back into the Kademlia DHT.
//!
//! rust-libp2p's `kad` keeps no list of bootstrap peers and never re-dials
//! one; `bootstrap()` answers `NoKnownPeers` on an empty table, and the
//! periodic bootstrap runs every five minutes. A node whose peers all
//! restarted, or whose network went away for a while, stays alone. This
//! policy wraps the node's `kad::Behaviour` and, like go-libp2p-kad-dht's
//! `fixLowPeers`, acts when the node is degraded:
//!
//! - **triggers**: fewer connected peers, or fewer routing-table entries of
//!   connected peers, than the thresholds (checked every second); a Kademlia
//!   bootstrap that found no peers or failed; a bootstrap peer's last
//!   connection lost to a timeout or reset; a listen address after none (a
//!   recovery in progress then retries at once);
//! - **actions**: re-add the bootstrap addresses to Kademlia, dial a few of
//!   them, shuffled, run Kademlia's bootstrap (its self-lookup refills the
//!   table) once one is connected, and confirm: a lookup that peers answered,
//!   and live table entries again. Attempts repeat with jittered exponential
//!   backoff until then;
//! - **events**: [`Event::Degraded`], [`Event::Retrying`], [`Event::Rejoined`];
//!   Kademlia's own events pass through as [`Event::Kad`].
//!
//! Bootstrap peers come from [`Config::with_bootstrap_addresses`] or from a
//! [`BootstrapSource`] (DNS, a file, an endpoint: yours to implement). The
//! decisions live in a pure core, tested with time passed in; the behaviour
//! only translates.
//!
//! # Example
//!
//! ```
//! use libp2p::{identify, identity::Keypair, swarm::NetworkBehaviour};
//! use libp2p_kad::{self as kad, store::MemoryStore};
//!
//! #[derive(NetworkBehaviour)]
//! struct MyBehaviour {
//!     identify: identify::Behaviour,
//!     dht: rebootstrap::Behaviour<MemoryStore>,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = Keypair::generate_ed25519();
//! let peer_id = key.public().to_peer_id();
//! let kad = kad::Behaviour::new(peer_id, MemoryStore::new(peer_id));
//! let bootstrap = "/ip4/192.0.2.1/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
//! let behaviour = MyBehaviour {
//!     identify: identify::Behaviour::new(identify::Config::new("/my-app/1.0.0".into(), key.public())),
//!     dht: rebootstrap::Behaviour::new(
//!         kad,
//!         rebootstrap::Config::default().with_bootstrap_addresses([bootstrap.parse()?]),
//!     )?,
//! };
//! # let _ = behaviour;
//! # Ok(())
//! # }
//! ```
//!
//! Use `swarm.behaviour_mut().dht.kad_mut()` for Kademlia itself.

mod backoff;
mod behaviour;
mod config;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod memory;
mod recovery;
mod source;

pub use behaviour::Behaviour;
pub use config::{Config, ConfigError};
pub use event::{Degradation, Event};
pub use memory::{FileMemory, PeerMemory};
pub use recovery::RecoveryStats;
pub use source::{BootstrapSource, SourceError};
