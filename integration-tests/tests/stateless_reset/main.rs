//! Why a restarted libp2p QUIC node never tells its old peers that their
//! connections are gone, and the one-line change in libp2p-quic that would
//! (docs/quic-stateless-reset.md).
//!
//! libp2p-quic 0.14 derives quinn's stateless-reset key from the node's
//! identity, so a restarted node computes the same reset tokens as its last
//! run. But it leaves quinn's connection-id generator at its default, a
//! `HashedConnectionIdGenerator` with a random key per process, and
//! quinn-proto drops a short-header packet whose connection id fails the
//! generator's validation before it would answer it with a stateless reset
//! (`Endpoint::handle`, "dropping packet with invalid CID"). So the restarted
//! run drops the old peer's packets, and the old peer waits out its idle
//! timeout.
//!
//! The test drives quinn directly, as libp2p-quic configures it, on real UDP
//! sockets on 127.0.0.1. A server endpoint with a fixed reset key (as an
//! identity gives one) accepts a connection through the testkit's proxy; the
//! proxy cuts the path, the server's process state is dropped without a word
//! (its runtime shut down, as SIGKILL would), a new endpoint with the same
//! reset key binds the same port, the path comes back and the client writes.
//! With the default generator the client hears nothing; with one keyed like
//! the reset key (`HashedConnectionIdGenerator::from_key`) the new run
//! answers with a stateless reset and the client's connection ends at once.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use quinn::{
    crypto::rustls::{QuicClientConfig, QuicServerConfig},
    ClientConfig, ConnectionError, Endpoint, EndpointConfig, ServerConfig, TransportConfig,
};
use quinn_proto::HashedConnectionIdGenerator;
use rustls::{
    crypto::ring as ring_provider,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    RootCertStore,
};
use testkit::{Direction, UdpProxy};

const STEP: Duration = Duration::from_secs(10);
const SERVER_NAME: &str = "localhost";
/// The client's idle timeout, libp2p-quic's default.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the default arm is watched for a close that never comes: well
/// past a reset's round trip, well short of the idle timeout.
const QUIET: Duration = Duration::from_secs(2);
/// The secret both runs derive their reset key from, as libp2p-quic derives
/// it from the node's identity.
const IDENTITY_SECRET: [u8; 32] = [7; 32];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cids {
    /// quinn's default: a generator keyed at random for each process.
    Default,
    /// A generator keyed from the identity, the same across runs.
    FromIdentity,
}

struct Tls {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Tls {
    fn generate() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
            .expect("self-signed certificate");
        Self {
            cert: certified.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()),
        }
    }

    fn server(&self) -> ServerConfig {
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            ring_provider::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring supports TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(
            vec![self.cert.clone()],
            PrivateKeyDer::Pkcs8(self.key.clone_key()),
        )
        .expect("a valid certificate and key");
        ServerConfig::with_crypto(Arc::new(
            QuicServerConfig::try_from(tls).expect("TLS 1.3 with AES-128-GCM"),
        ))
    }

    fn client(&self) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.cert.clone())
            .expect("the certificate is a valid trust anchor");
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            ring_provider::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring supports TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut config = ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(tls).expect("TLS 1.3 with AES-128-GCM"),
        ));
        let mut transport = TransportConfig::default();
        transport.max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("a valid timeout")));
        config.transport_config(Arc::new(transport));
        config
    }
}

/// The endpoint config of one run, as libp2p-quic builds it from the
/// identity, with the connection-id generator `cids`.
fn endpoint_config(cids: Cids) -> EndpointConfig {
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &IDENTITY_SECRET);
    let mut config = EndpointConfig::new(Arc::new(reset_key));
    if cids == Cids::FromIdentity {
        let key = u64::from_le_bytes(IDENTITY_SECRET[..8].try_into().expect("8 bytes"));
        config.cid_generator(move || Box::new(HashedConnectionIdGenerator::from_key(key)));
    }
    config
}

/// A server run on its own runtime, so that it can vanish as a killed
/// process does: its tasks dropped unpolled, nothing sent.
struct ServerRun {
    runtime: Option<tokio::runtime::Runtime>,
    endpoint: Endpoint,
    _connections: tokio::sync::mpsc::UnboundedReceiver<quinn::Connection>,
}

/// Ends the run without a packet: its runtime's tasks, the endpoint's driver
/// among them, are dropped unpolled, as a killed process's would be.
impl Drop for ServerRun {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ServerRun {
    fn start(tls: &Tls, cids: Cids, addr: SocketAddr) -> std::io::Result<Self> {
        // Bound first: a runtime dropped in the caller's async context (the
        // rebinding loop's failed attempts) would panic.
        let socket = std::net::UdpSocket::bind(addr)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let server = tls.server();
        let (tx, connections) = tokio::sync::mpsc::unbounded_channel();
        let endpoint = {
            let _entered = runtime.enter();
            Endpoint::new(
                endpoint_config(cids),
                Some(server),
                socket,
                Arc::new(quinn::TokioRuntime),
            )
        };
        let endpoint = match endpoint {
            Ok(endpoint) => endpoint,
            Err(e) => {
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let accepting = endpoint.clone();
        runtime.spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                if let Ok(connection) = incoming.await {
                    let _ = tx.send(connection);
                }
            }
        });
        Ok(Self {
            runtime: Some(runtime),
            endpoint,
            _connections: connections,
        })
    }

    fn addr(&self) -> SocketAddr {
        self.endpoint.local_addr().expect("a bound endpoint")
    }
}

/// How long after the path returned the old connection ended, and how;
/// `None` if it was still open after [`QUIET`].
async fn restart(cids: Cids) -> Option<(Duration, ConnectionError)> {
    let _ = ring_provider::default_provider().install_default();
    let tls = Tls::generate();
    let first = ServerRun::start(&tls, cids, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("first run binds");
    let server_addr = first.addr();
    let proxy = UdpProxy::start(server_addr).await.expect("proxy");

    let client = Endpoint::client(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("client");
    let connection = tokio::time::timeout(
        STEP,
        client
            .connect_with(tls.client(), proxy.addr(), SERVER_NAME)
            .expect("connect starts"),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");

    // The crash: nothing of the first run reaches the client.
    proxy.cut();
    drop(first);
    let retry_until = Instant::now() + STEP;
    let second = loop {
        match ServerRun::start(&tls, cids, server_addr) {
            Ok(run) => break run,
            // The first run's socket closes as its runtime winds down.
            Err(_) if Instant::now() < retry_until => tokio::task::yield_now().await,
            Err(e) => panic!("the second run could not bind {server_addr}: {e}"),
        }
    };
    proxy.restore();
    let restored = Instant::now();

    // The client has something to say: its packets reach the new run.
    let mut stream = connection
        .open_uni()
        .await
        .expect("a stream on the old connection");
    let _ = stream.write_all(b"are you there").await;
    let ended = tokio::time::timeout(QUIET, connection.closed()).await.ok();
    assert!(
        proxy.counts(Direction::ToListener).forwarded > 0,
        "the client's packets reached the new run"
    );
    drop(second);
    ended.map(|error| (restored.elapsed(), error))
}

#[tokio::test]
async fn with_quinns_default_connection_ids_a_restarted_endpoint_drops_the_old_peers_packets() {
    testkit::init_tracing();
    let ended = restart(Cids::Default).await;
    println!("default connection ids: the old connection after {QUIET:?}: {ended:?}");
    assert!(
        ended.is_none(),
        "the old connection ended without a stateless reset: {ended:?}"
    );
}

#[tokio::test]
async fn with_identity_keyed_connection_ids_the_old_peer_is_reset_at_once() {
    testkit::init_tracing();
    let ended = restart(Cids::FromIdentity).await;
    println!("identity-keyed connection ids: the old connection ended {ended:?}");
    let (after, error) = ended.expect("the restarted run resets the old connection");
    assert!(
        matches!(error, ConnectionError::Reset),
        "ended by a stateless reset: {error:?}"
    );
    assert!(after < QUIET, "{after:?}");
}
