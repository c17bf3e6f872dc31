//! Building a swarm on a real transport and listening on loopback.

use std::{fmt, sync::Arc, time::Duration};

use futures::StreamExt;
use libp2p::{
    core::{muxing::StreamMuxerBox, transport::Boxed},
    identity::Keypair,
    multiaddr::Protocol,
    quic,
    swarm::{self, NetworkBehaviour, SwarmEvent},
    Multiaddr, PeerId, Swarm, Transport as _,
};

use crate::{TransportKind, WaitError};

/// How long a node waits for its listener to come up.
const LISTEN_DEADLINE: Duration = Duration::from_secs(10);

/// How to build one node's swarm.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The transport it listens and dials on.
    pub transport: TransportKind,
    /// Its identity.
    pub keypair: Keypair,
    /// The port it listens on, `0` for a free one.
    pub port: u16,
    /// The swarm's idle connection timeout.
    pub idle_connection_timeout: Duration,
    /// How many streams the remote may open on one QUIC connection
    /// (libp2p-quic's `max_concurrent_stream_limit`, 256 by default).
    pub quic_max_concurrent_streams: Option<u32>,
    /// Applied to the built transport: where a muxer wrapper goes.
    pub transport_layer: Option<TransportLayer>,
}

/// A function that wraps a node's transport, for [`NodeConfig::with_transport_layer`].
#[derive(Clone)]
pub struct TransportLayer(
    Arc<dyn Fn(Boxed<(PeerId, StreamMuxerBox)>) -> Boxed<(PeerId, StreamMuxerBox)> + Send + Sync>,
);

impl fmt::Debug for TransportLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportLayer")
    }
}

impl NodeConfig {
    /// A node with a fresh identity on a free port.
    ///
    /// The idle connection timeout is one hour rather than the swarm's 10 s:
    /// a real application keeps its connections busy (gossip, DHT, its own
    /// protocols), and a short idle timer would close a dead connection as
    /// idle and hide what the transport does.
    pub fn new(transport: TransportKind) -> Self {
        Self {
            transport,
            keypair: Keypair::generate_ed25519(),
            port: 0,
            idle_connection_timeout: Duration::from_secs(3600),
            quic_max_concurrent_streams: None,
            transport_layer: None,
        }
    }

    /// Lets the remote open at most `limit` concurrent streams on each QUIC
    /// connection: a low limit starves a peer that opens more.
    pub fn with_quic_max_concurrent_streams(mut self, limit: u32) -> Self {
        self.quic_max_concurrent_streams = Some(limit);
        self
    }

    /// Wraps the node's transport with `layer`, for example a muxer wrapper
    /// (`stream_quota::Quota::transport`).
    pub fn with_transport_layer(
        mut self,
        layer: impl Fn(Boxed<(PeerId, StreamMuxerBox)>) -> Boxed<(PeerId, StreamMuxerBox)>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.transport_layer = Some(TransportLayer(Arc::new(layer)));
        self
    }

    /// The node's transport, with its options and layer applied.
    pub fn build_transport(&self) -> Boxed<(PeerId, StreamMuxerBox)> {
        let transport = match (self.transport, self.quic_max_concurrent_streams) {
            (crate::TransportKind::Quic, Some(limit)) => {
                let mut config = quic::Config::new(&self.keypair);
                config.max_concurrent_stream_limit = limit;
                quic::tokio::Transport::new(config)
                    .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
                    .boxed()
            }
            (kind, _) => kind.build(&self.keypair),
        };
        match &self.transport_layer {
            Some(layer) => (layer.0)(transport),
            None => transport,
        }
    }

    /// Uses `keypair` as the node's identity.
    pub fn with_keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = keypair;
        self
    }

    /// Listens on `port`.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the swarm's idle connection timeout.
    pub fn with_idle_connection_timeout(mut self, timeout: Duration) -> Self {
        self.idle_connection_timeout = timeout;
        self
    }

    /// Builds the swarm, with the behaviour made from the node's keypair. It does not listen yet.
    pub fn build<B: NetworkBehaviour>(&self, behaviour: impl FnOnce(&Keypair) -> B) -> Swarm<B> {
        crate::install_crypto_provider();
        Swarm::new(
            self.build_transport(),
            behaviour(&self.keypair),
            self.keypair.public().to_peer_id(),
            swarm::Config::with_tokio_executor()
                .with_idle_connection_timeout(self.idle_connection_timeout),
        )
    }
}

/// Starts `swarm` listening on 127.0.0.1 and returns its full dialable address
/// (with `/certhash` for WebRTC-direct and `/p2p/<peer id>`), also added as the
/// swarm's external address.
pub async fn listen<B: NetworkBehaviour>(
    swarm: &mut Swarm<B>,
    transport: TransportKind,
    port: u16,
) -> Result<Multiaddr, ListenError> {
    let listener = swarm
        .listen_on(transport.listen_addr(port))
        .map_err(|e| ListenError::Refused(e.to_string()))?;
    let wait = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } if listener_id == listener => return Ok(address),
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } if listener_id == listener => {
                    return Err(ListenError::Refused(format!("{reason:?}")))
                }
                SwarmEvent::ListenerError { listener_id, error } if listener_id == listener => {
                    return Err(ListenError::Refused(error.to_string()))
                }
                _ => {}
            }
        }
    };
    let address = tokio::time::timeout(LISTEN_DEADLINE, wait)
        .await
        .map_err(|_| {
            ListenError::Timeout(WaitError::new(LISTEN_DEADLINE, "NewListenAddr", Vec::new()))
        })??;
    swarm.add_external_address(address.clone());
    Ok(address.with(Protocol::P2p(*swarm.local_peer_id())))
}

/// Why a node could not listen.
#[derive(Debug)]
pub enum ListenError {
    /// The transport refused the address (port in use, say).
    Refused(String),
    /// No listen address was reported in time.
    Timeout(WaitError),
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(e) => write!(f, "listening refused: {e}"),
            Self::Timeout(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ListenError {}
