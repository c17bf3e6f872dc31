//! The behaviours an application runs beside the DHT: gossipsub on one topic
//! and a request-response echo, each with its default configuration, to show
//! what a peer's restart does to them.

use std::{io, time::Duration};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{
    gossipsub::{self, IdentTopic, MessageAuthenticity},
    identity::Keypair,
    request_response::{self, ProtocolSupport},
    swarm::NetworkBehaviour,
    StreamProtocol,
};

/// The topic every gossip node subscribes to.
pub const TOPIC: &str = "testkit-gossip";
/// The request-response echo protocol.
pub const ECHO_PROTOCOL: StreamProtocol = StreamProtocol::new("/testkit/rr-echo/1.0.0");
/// The largest request or response the echo codec reads.
const MAX_MESSAGE: usize = 64 * 1024;

/// Gossipsub subscribed to [`TOPIC`], and a request-response echo that
/// answers each request with its own bytes.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "GossipEvent")]
pub struct GossipBehaviour {
    /// libp2p-gossipsub, default configuration, signed messages.
    pub gossipsub: gossipsub::Behaviour,
    /// libp2p-request-response with [`EchoCodec`].
    pub echo: request_response::Behaviour<EchoCodec>,
}

impl GossipBehaviour {
    /// Both behaviours, gossipsub subscribed to [`TOPIC`].
    pub fn new(keypair: &Keypair) -> Self {
        Self::with_request_timeout(keypair, Duration::from_secs(10))
    }

    /// Both behaviours, a request given up after `timeout`.
    pub fn with_request_timeout(keypair: &Keypair, timeout: Duration) -> Self {
        let mut gossipsub = gossipsub::Behaviour::new(
            MessageAuthenticity::Signed(keypair.clone()),
            gossipsub::Config::default(),
        )
        .expect("the default gossipsub config is valid");
        gossipsub
            .subscribe(&topic())
            .expect("subscribing to a fresh topic");
        let echo = request_response::Behaviour::new(
            [(ECHO_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(timeout),
        );
        Self { gossipsub, echo }
    }

    /// Publishes `data` on [`TOPIC`].
    pub fn publish(
        &mut self,
        data: &[u8],
    ) -> Result<gossipsub::MessageId, gossipsub::PublishError> {
        self.gossipsub.publish(topic(), data.to_vec())
    }
}

/// [`TOPIC`] as gossipsub names it.
pub fn topic() -> IdentTopic {
    IdentTopic::new(TOPIC)
}

/// An event of [`GossipBehaviour`].
#[derive(Debug)]
pub enum GossipEvent {
    /// Gossipsub's.
    Gossipsub(Box<gossipsub::Event>),
    /// The echo's.
    Echo(Box<request_response::Event<Vec<u8>, Vec<u8>>>),
}

impl From<gossipsub::Event> for GossipEvent {
    fn from(event: gossipsub::Event) -> Self {
        Self::Gossipsub(Box::new(event))
    }
}

impl From<request_response::Event<Vec<u8>, Vec<u8>>> for GossipEvent {
    fn from(event: request_response::Event<Vec<u8>, Vec<u8>>) -> Self {
        Self::Echo(Box::new(event))
    }
}

/// Requests and responses as a 4-byte big-endian length and the bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too large",
        ));
    }
    let mut data = vec![0; len];
    io.read_exact(&mut data).await?;
    Ok(data)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: Vec<u8>) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .ok()
        .filter(|l| *l as usize <= MAX_MESSAGE)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&data).await?;
    io.flush().await
}

impl request_response::Codec for EchoCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, response).await
    }
}
