//! Every transport policy for rust-libp2p in one dependency.
//!
//! Re-exports the policy crates ([`conn_prune`], [`stream_quota`],
//! [`state_isolation`], [`rebootstrap`]) and composes them around an application's behaviour in one
//! [`Policies`] bundle, each switchable through [`Config`], with presets for
//! common deployments ([`Config::browser_facing_webrtc`],
//! [`Config::quic_dht_server`]). A policy taken alone is its own crate; this
//! one is for taking them all.
//!
//! # Example
//!
//! ```
//! use libp2p::{
//!     identity::Keypair,
//!     kad::{self, store::MemoryStore},
//!     ping, quic,
//!     swarm::NetworkBehaviour,
//! };
//! use transport_policies::{stream_quota::Quota, Config, Policies};
//!
//! #[derive(NetworkBehaviour)]
//! struct App {
//!     ping: ping::Behaviour,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = Keypair::generate_ed25519();
//! let peer = key.public().to_peer_id();
//! let bootstrap = vec!["/ip4/192.0.2.1/udp/4001/quic-v1/p2p/12D3KooWHR9RhG2ZF9d5P3Rz4bXwzG9kDMD1bTz6wQY2s1T5ydnh".parse()?];
//!
//! // A QUIC DHT server: every policy on. stream-quota's ledger is built
//! // first, because it also wraps the transport.
//! let quota = Quota::new(Default::default())?;
//! let transport = quota.transport(quic::tokio::Transport::new(quic::Config::new(&key)));
//! let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
//! kad.set_mode(Some(kad::Mode::Server));
//! let policies = Policies::new(
//!     App { ping: ping::Behaviour::default() },
//!     Some(kad),
//!     Config::quic_dht_server(bootstrap).with_stream_quota(Some(quota)),
//! )?;
//! // Then `Swarm::new(transport, policies, peer, swarm_config)`.
//!
//! // A browser-facing WebRTC node, without the DHT.
//! let browser_facing = Policies::new(
//!     App { ping: ping::Behaviour::default() },
//!     None,
//!     Config::browser_facing_webrtc(),
//! )?;
//! # let _ = (policies, browser_facing, transport);
//! # Ok(())
//! # }
//! ```
//!
//! A `Policies<App>` is a `NetworkBehaviour`: hand it to `Swarm::new`, or make
//! it a field of your own derived behaviour. Its events are [`Event`]s; the
//! application's come as `state_isolation::Event::Behaviour(ProtectedEvent::App(_))`.

mod bundle;
mod config;
mod isolation;

pub use bundle::{Event, Policies, Protected, ProtectedEvent};
pub use config::{Config, ConfigError};
pub use isolation::Isolation;

pub use conn_prune;
pub use rebootstrap;
pub use state_isolation;
pub use stream_quota;
