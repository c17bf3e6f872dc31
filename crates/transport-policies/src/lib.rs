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
//! A QUIC DHT server with every policy on: stream-quota's ledger wraps the
//! transport first (building the bundle without that is
//! [`ConfigError::StreamQuotaNotInTransport`]), state-isolation's handshake
//! wraps that (so a restarted peer's new connection reaches the application
//! with its old run already gone), then the bundle goes around the
//! application.
//!
//! ```
//! use libp2p::{
//!     identity::Keypair,
//!     kad::{self, store::MemoryStore},
//!     ping, quic,
//!     swarm::{NetworkBehaviour, SwarmEvent},
//! };
//! use transport_policies::{
//!     state_isolation::Handshake, stream_quota::Quota, Config, Event, Policies,
//! };
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
//! let quota = Quota::new(Default::default())?;
//! let handshake = Handshake::new();
//! let quic = quic::tokio::Transport::new(quic::Config::new(&key));
//! let transport = handshake.transport(quota.transport(quic));
//! let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
//! kad.set_mode(Some(kad::Mode::Server));
//! let policies = Policies::with_kad(
//!     App { ping: ping::Behaviour::default() },
//!     kad,
//!     Config::quic_dht_server(bootstrap)
//!         .with_stream_quota(Some(quota))
//!         .with_handshake(Some(handshake)),
//! )?;
//! // Then `Swarm::new(transport, policies, peer, swarm_config)`, and:
//! fn on_event(event: SwarmEvent<Event<AppEvent>>) {
//!     match event {
//!         SwarmEvent::Behaviour(Event::App(AppEvent::Ping(_))) => {}
//!         SwarmEvent::Behaviour(Event::Prune(pruned)) => println!("{pruned:?}"),
//!         _ => {}
//!     }
//! }
//!
//! // A browser-facing WebRTC node, without the DHT.
//! let browser_facing = Policies::new(
//!     App { ping: ping::Behaviour::default() },
//!     Config::browser_facing_webrtc(),
//! )?;
//! # let _ = (policies, browser_facing, transport, on_event);
//! # Ok(())
//! # }
//! ```
//!
//! A `Policies<App>` is a `NetworkBehaviour`: hand it to `Swarm::new`, or make
//! it a field of your own derived behaviour. Its events are [`Event`]s: the
//! application's come as `Event::App(e)`, each policy's as its own variant.

mod bundle;
mod config;
mod event;
mod isolation;

pub use bundle::{Policies, Protected, ProtectedEvent};
pub use config::{Config, ConfigError};
pub use event::Event;
pub use isolation::Isolation;

pub use conn_prune;
pub use rebootstrap;
pub use state_isolation;
pub use stream_quota;
