//! The real-transport test harness of the transport-policies workspace.
//!
//! Everything runs real transports on 127.0.0.1, never a mock:
//!
//! - [`NodeConfig`] and [`listen`] build a swarm on QUIC, WebRTC-direct or TCP
//!   and hand back its full dialable address (`/certhash`, `/p2p`);
//!   [`Node`] drives one on its own task and waits for its events with a deadline;
//! - [`UdpProxy`] sits between two nodes and blackholes, drops, delays or cuts
//!   and restores either direction while they run; [`UdpPortCut`] cuts a node
//!   off from everyone (iptables, root);
//! - [`ChildNode`] runs a node in a child process, to SIGKILL it (a crash) and
//!   restart it with the same key on the same port;
//! - [`Network`] starts N nodes in process, [`ChildNetwork`] N Kademlia nodes
//!   in child processes, for the DHT scenarios;
//! - [`abuse`] floods a node with connections, streams or garbage, from
//!   below any swarm;
//! - [`echo`] asks one chosen connection "can you still carry a stream?".
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::{echo, Node, NodeConfig, PlainBehaviour, TransportKind, UdpProxy};
//!
//! # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new).await?;
//! let mut dialer = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new).await?;
//!
//! let proxy = UdpProxy::start(testkit::socket_addr(listener.addr()).unwrap()).await?;
//! let connection = dialer
//!     .connect(listener.peer_id(), proxy.proxied(listener.addr()), Duration::from_secs(10))
//!     .await?;
//!
//! proxy.cut(); // the remote goes silent: nothing tells the dialer
//! let peer = listener.peer_id();
//! dialer
//!     .with(move |swarm| swarm.behaviour_mut().echo.send(peer, echo::Target::Connection(connection)))
//!     .await;
//! # Ok(())
//! # }
//! ```

pub mod abuse;
pub mod child;
pub mod clients;
pub mod echo;
pub mod gossip;

mod behaviour;
mod binary;
mod firewall;
mod keys;
mod network;
mod node;
mod proxy;
mod swarm;
mod transport;

pub use behaviour::{PlainBehaviour, PlainEvent};
pub use child::{ChildNode, ChildSpec};
pub use firewall::UdpPortCut;
pub use gossip::{GossipBehaviour, GossipEvent};
pub use keys::keypair_from_seed;
pub use network::{ChildNetwork, Network};
pub use node::{ConnectError, Node, Unexpected, WaitError};
pub use proxy::{Direction, Faults, PacketCounts, UdpProxy};
pub use swarm::{listen, ListenError, NodeConfig, TransportLayer};
pub use transport::{socket_addr, with_socket_addr, TransportKind};

/// Installs rustls' ring crypto provider for the process.
///
/// The libp2p dependency tree enables two rustls backends, and the first TLS
/// or DTLS handshake panics unless one is chosen. Building a swarm through
/// [`NodeConfig`] calls this; call it yourself for swarms built otherwise.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Logs to stderr, filtered by `RUST_LOG` (warnings by default). Safe to call more than once.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
