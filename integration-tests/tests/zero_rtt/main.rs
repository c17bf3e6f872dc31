//! quinn 0.11 (the QUIC stack under libp2p-quic 0.14) keeps the streams of a
//! rejected 0-RTT attempt away from the connection that continues after the
//! rejection.
//!
//! quic-go before v0.48.0 did not (quic-go issue 4706): when the server
//! rejected 0-RTT, `CancelRead`/`CancelWrite` on a stream opened in 0-RTT reset
//! the stream with the same ID on the connection returned by `NextConnection`.
//! Stream IDs restart from 0 after a rejection, so the stale handle and the
//! new stream share an ID, and an ID-keyed lookup lands on the wrong stream.
//!
//! The test drives quinn directly, not through libp2p, whose QUIC transport
//! never attempts 0-RTT (libp2p-tls leaves early data off and libp2p-quic never
//! calls `into_0rtt`), on real UDP sockets on 127.0.0.1: a resumed connection
//! attempts 0-RTT, the server refuses early data, the client resets and stops
//! the 0-RTT stream's handles, and a new stream that took the same ID must
//! carry its message and its echo untouched.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::{channel::mpsc, StreamExt};
use quinn::{
    crypto::rustls::{QuicClientConfig, QuicServerConfig},
    ClientConfig, Connection, Endpoint, ServerConfig, StoppedError, StreamId, VarInt,
};
use rustls::{
    client::{ClientSessionMemoryCache, ClientSessionStore, Resumption},
    crypto::ring,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName},
    server::{ServerSessionMemoryCache, StoresServerSessions},
    NamedGroup, RootCertStore,
};

/// Deadline for every single network step on loopback.
const STEP: Duration = Duration::from_secs(10);
/// The name the certificate is issued for and the client dials.
const SERVER_NAME: &str = "localhost";
/// Written in 0-RTT on the stream that the rejection discards.
const EARLY: &[u8] = b"0-RTT data of the rejected attempt";
/// Written on the new stream that reuses the rejected stream's ID.
const MESSAGE: &[u8] = b"message of the stream opened after the rejection";
/// Error code for the resets and stops on the stale handles, recognisable in a
/// packet capture.
const STALE_CODE: u32 = 0x4706;

#[tokio::test]
async fn streams_of_a_rejected_0rtt_attempt_do_not_touch_their_successor() {
    let started = Instant::now();
    let tls = Tls::generate();

    // Both server configs share one session store: the rejecting server must
    // still resume the first connection's ticket, so that it is the early
    // data, not the resumption, that is refused.
    let server_sessions = Arc::new(CountingServerSessions::new());
    let accepting = tls.server(server_sessions.clone(), u32::MAX);
    // rustls refuses early data on a resumed session when its
    // `max_early_data_size` is 0 (rustls server/tls13.rs
    // `decide_if_early_data_allowed`), and quinn then takes the QUIC path
    // of RFC 9001 §4.6.2: the handshake continues at 1-RTT.
    let mut rejecting = accepting.clone();
    rejecting.crypto = Arc::new(
        QuicServerConfig::try_from(tls.server_tls(server_sessions.clone(), 0))
            .expect("TLS 1.3 with AES-128-GCM"),
    );
    let server = Endpoint::server(accepting, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("server endpoint on 127.0.0.1");
    let server_addr = server.local_addr().expect("server address");

    // One client config for both connections: it holds the session cache the
    // resumption ticket lands in.
    let (client_sessions, mut tickets) = NotifyingClientSessions::new();
    let client_config = tls.client(Arc::new(client_sessions));
    let client = Endpoint::client(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("client endpoint on 127.0.0.1");

    // Connection 1: a full handshake, kept open until the ticket has arrived.
    {
        let connecting = client
            .connect_with(client_config.clone(), server_addr, SERVER_NAME)
            .expect("connection 1 starts");
        let (client_conn, server_conn) = tokio::join!(
            async {
                tokio::time::timeout(STEP, connecting)
                    .await
                    .expect("connection 1: client handshake in time")
                    .expect("connection 1: client handshake")
            },
            accept_connection(&server, "connection 1"),
        );
        tokio::time::timeout(STEP, tickets.next())
            .await
            .expect("connection 1: a resumption ticket arrives in time")
            .expect("the ticket channel is open");
        client_conn.close(VarInt::from_u32(0), b"ticket stored");
        drop(server_conn);
    }
    assert_eq!(
        server_sessions.resumed(),
        0,
        "connection 1 must be a full handshake"
    );

    server.set_server_config(Some(rejecting));

    // Connection 2: resumed, attempts 0-RTT, which the server refuses.
    let connecting = client
        .connect_with(client_config, server_addr, SERVER_NAME)
        .expect("connection 2 starts");
    let Ok((conn, zero_rtt_accepted)) = connecting.into_0rtt() else {
        panic!("connection 2 must be able to attempt 0-RTT: the client holds no usable ticket");
    };

    let (client_saw, server_saw) =
        tokio::join!(client_side(&conn, zero_rtt_accepted), server_side(&server));

    // The other preconditions are asserted in `client_side` as they are
    // learned; the server takes the ticket before the client learns anything.
    assert!(
        server_sessions.resumed() >= 1,
        "connection 2 was not a resumption"
    );

    // The new stream is intact end to end.
    let stale = &client_saw.stale_handle_results;
    assert_eq!(
        server_saw.stream_id, client_saw.new_id,
        "the server's first stream is not the new one (stale handles: {stale})"
    );
    assert!(
        !server_saw.stream_is_0rtt,
        "the server accepted the stream as 0-RTT data"
    );
    assert_eq!(
        server_saw.read,
        Ok(text(MESSAGE)),
        "the server must read exactly the new stream's message, not the 0-RTT data ({:?}) nor a reset (stale handles: {stale})",
        text(EARLY),
    );
    assert_eq!(
        server_saw.echo_stopped,
        Ok(None),
        "the client stopped the server's echo (STOP_SENDING leaked; stale handles: {stale})"
    );
    assert_eq!(
        client_saw.echo,
        Ok(text(MESSAGE)),
        "the client must read the whole echo (stale handles: {stale})"
    );
    assert_eq!(
        client_saw.message_stopped,
        Ok(None),
        "the server stopped the new stream (stale handles: {stale})"
    );
    assert_eq!(
        client_saw.finish,
        Ok(()),
        "the new stream was closed under the client (stale handles: {stale})"
    );
    assert!(
        conn.close_reason().is_none(),
        "connection 2 closed: {:?}",
        conn.close_reason()
    );

    // Keeps the server's connection open until the client has read its echo.
    drop(server_saw.connection);
    conn.close(VarInt::from_u32(0), b"done");
    eprintln!(
        "zero_rtt: stale handles: {stale}; took {:?}",
        started.elapsed()
    );
}

/// What the client side of connection 2 observed.
struct ClientSaw {
    /// The new stream's ID, the same as the stale one's.
    new_id: StreamId,
    /// What quinn returned for every operation on the stale handles.
    stale_handle_results: String,
    finish: Result<(), String>,
    echo: Result<String, String>,
    message_stopped: Result<Option<VarInt>, String>,
}

/// Client side of connection 2, from the 0-RTT write to the echo. Asserts
/// the preconditions without which the test would pass vacuously.
async fn client_side(conn: &Connection, zero_rtt_accepted: quinn::ZeroRttAccepted) -> ClientSaw {
    let (mut stale_send, mut stale_recv) = tokio::time::timeout(STEP, conn.open_bi())
        .await
        .expect("0-RTT stream opens in time")
        .expect("0-RTT stream opens");
    let stale_id = stale_send.id();
    assert!(
        stale_recv.is_0rtt(),
        "the stale stream was not opened in 0-RTT"
    );
    // A write is refused on a 0-RTT handle once the rejection is known, so its
    // success proves the data went into the 0-RTT attempt. The test runtime is
    // single-threaded and nothing since `into_0rtt` has yielded to the
    // connection's driver, so the write always precedes the first flight.
    tokio::time::timeout(STEP, stale_send.write_all(EARLY))
        .await
        .expect("0-RTT write in time")
        .expect("0-RTT write before the handshake outcome");

    // `ZeroRttAccepted` also yields false when the connection fails, hence the
    // check that the connection is alive.
    let zero_rtt_accepted = tokio::time::timeout(STEP, zero_rtt_accepted)
        .await
        .expect("handshake outcome in time");
    assert!(
        conn.close_reason().is_none(),
        "connection 2 failed during the handshake: {:?}",
        conn.close_reason()
    );
    assert!(!zero_rtt_accepted, "0-RTT was not rejected");
    // Only the stale stream's 0-RTT data can account for STREAM frames sent
    // before the new stream exists.
    assert!(
        conn.stats().frame_tx.stream > 0,
        "no STREAM frame went out in 0-RTT, so nothing was there to reject"
    );

    // The calls quic-go 4706 was triggered by. quinn tags handles opened
    // during the handshake as 0-RTT and, once 0-RTT is known to be rejected,
    // turns `reset`/`stop` on them into no-ops returning `Ok(())` (quinn
    // send_stream.rs `reset`, recv_stream.rs `stop`: `is_0rtt &&
    // check_0rtt().is_err()`); a `ClosedStream` error would be as harmless.
    // Either way the outcome is recorded for the failure messages.
    let code = VarInt::from_u32(STALE_CODE);
    let mut results = vec![
        format!("reset before: {:?}", stale_send.reset(code)),
        format!("stop before: {:?}", stale_recv.stop(code)),
    ];

    let (mut send, mut recv) = tokio::time::timeout(STEP, conn.open_bi())
        .await
        .expect("new stream opens in time")
        .expect("new stream opens");
    let new_id = send.id();
    assert_eq!(
        (new_id, stale_id.index()),
        (stale_id, 0),
        "the new stream must reuse the rejected stream's ID (0) for the test to mean anything"
    );
    tokio::time::timeout(STEP, send.write_all(MESSAGE))
        .await
        .expect("message written in time")
        .expect("message written");

    // Again while a live stream holds the same ID: this is when a lookup by
    // ID alone would hit the new stream. Dropping a handle finishes (send) or
    // stops (receive) its stream, the same hazard.
    results.push(format!("reset after: {:?}", stale_send.reset(code)));
    results.push(format!("stop after: {:?}", stale_recv.stop(code)));
    drop((stale_send, stale_recv));

    let finish = send.finish().map_err(|e| e.to_string());
    let echo = match tokio::time::timeout(STEP, recv.read_to_end(MESSAGE.len() * 2)).await {
        Ok(read) => read.map(|echo| text(&echo)).map_err(|e| e.to_string()),
        Err(_) => Err(format!("no echo within {STEP:?}")),
    };
    let message_stopped = stopped_in_time(&mut send).await;

    ClientSaw {
        new_id,
        stale_handle_results: results.join(", "),
        finish,
        echo,
        message_stopped,
    }
}

/// What the server side of connection 2 observed.
struct ServerSaw {
    /// Kept so that the connection outlives the client's read of the echo.
    connection: Connection,
    stream_id: StreamId,
    stream_is_0rtt: bool,
    read: Result<String, String>,
    echo_stopped: Result<Option<VarInt>, String>,
}

/// Server side of connection 2: echoes the first stream back.
async fn server_side(server: &Endpoint) -> ServerSaw {
    let connection = accept_connection(server, "connection 2").await;
    let (mut send, mut recv) = tokio::time::timeout(STEP, connection.accept_bi())
        .await
        .expect("server: a stream arrives in time")
        .expect("server: a stream arrives");
    let stream_id = recv.id();
    let stream_is_0rtt = recv.is_0rtt();
    let read = match tokio::time::timeout(STEP, recv.read_to_end(MESSAGE.len() + EARLY.len())).await
    {
        Ok(read) => read
            .map(|message| text(&message))
            .map_err(|e| e.to_string()),
        Err(_) => Err(format!("stream not finished within {STEP:?}")),
    };
    // A leaked STOP_SENDING surfaces as a failed write or as `Some(code)`.
    let echo_stopped = match &read {
        Ok(message) => match tokio::time::timeout(STEP, send.write_all(message.as_bytes())).await {
            Ok(Ok(())) => match send.finish() {
                Ok(()) => stopped_in_time(&mut send).await,
                Err(e) => Err(format!("echo not finished: {e}")),
            },
            Ok(Err(e)) => Err(format!("echo not written: {e}")),
            Err(_) => Err(format!("echo not written within {STEP:?}")),
        },
        Err(e) => Err(format!("no echo sent: the read failed with {e}")),
    };
    ServerSaw {
        connection,
        stream_id,
        stream_is_0rtt,
        read,
        echo_stopped,
    }
}

/// Stream contents, readable in assertion messages.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Accepts the next incoming connection and completes its handshake.
async fn accept_connection(server: &Endpoint, what: &str) -> Connection {
    let incoming = tokio::time::timeout(STEP, server.accept())
        .await
        .unwrap_or_else(|_| panic!("{what}: server sees the connection in time"))
        .expect("server endpoint open");
    let connecting = incoming
        .accept()
        .unwrap_or_else(|e| panic!("{what}: server accepts: {e}"));
    tokio::time::timeout(STEP, connecting)
        .await
        .unwrap_or_else(|_| panic!("{what}: server handshake in time"))
        .unwrap_or_else(|e| panic!("{what}: server handshake: {e}"))
}

/// `Ok(None)` once the peer has acknowledged the whole stream, `Ok(Some(code))`
/// if it sent STOP_SENDING. A stream reset under its writer never resolves, so
/// the deadline is an outcome here, left to the assertions to report.
async fn stopped_in_time(send: &mut quinn::SendStream) -> Result<Option<VarInt>, String> {
    match tokio::time::timeout(STEP, send.stopped()).await {
        Ok(outcome) => outcome.map_err(|e: StoppedError| e.to_string()),
        Err(_) => Err(format!("neither acknowledged nor stopped within {STEP:?}")),
    }
}

/// A self-signed certificate for [`SERVER_NAME`] and the rustls configs around
/// it, all on rustls' ring provider.
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

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(ring::default_provider())
    }

    /// `max_early_data_size` is `u32::MAX` to accept 0-RTT or 0 to refuse it:
    /// QUIC allows no other value (RFC 9001 §4.6.1).
    fn server_tls(
        &self,
        sessions: Arc<CountingServerSessions>,
        max_early_data_size: u32,
    ) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder_with_provider(Self::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("ring supports TLS 1.3")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .expect("certificate and key match");
        // rustls grants early data only with stateful resumption, which the
        // default (disabled) ticketer plus this store give.
        config.session_storage = sessions;
        config.max_early_data_size = max_early_data_size;
        config
    }

    fn server(
        &self,
        sessions: Arc<CountingServerSessions>,
        max_early_data_size: u32,
    ) -> ServerConfig {
        ServerConfig::with_crypto(Arc::new(
            QuicServerConfig::try_from(self.server_tls(sessions, max_early_data_size))
                .expect("TLS 1.3 with AES-128-GCM"),
        ))
    }

    fn client(&self, sessions: Arc<NotifyingClientSessions>) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.cert.clone())
            .expect("the certificate is a valid trust anchor");
        let mut config = rustls::ClientConfig::builder_with_provider(Self::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("ring supports TLS 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.enable_early_data = true;
        config.resumption = Resumption::store(sessions);
        ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(config).expect("TLS 1.3 with AES-128-GCM"),
        ))
    }
}

/// The server's session store, counting resumptions: in TLS 1.3 with
/// stateful tickets a resumption is a successful `take` of a ticket.
#[derive(Debug)]
struct CountingServerSessions {
    inner: Arc<ServerSessionMemoryCache>,
    resumed: AtomicUsize,
}

impl CountingServerSessions {
    fn new() -> Self {
        Self {
            inner: ServerSessionMemoryCache::new(16),
            resumed: AtomicUsize::new(0),
        }
    }

    fn resumed(&self) -> usize {
        self.resumed.load(Ordering::SeqCst)
    }
}

impl StoresServerSessions for CountingServerSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.inner.take(key);
        if value.is_some() {
            self.resumed.fetch_add(1, Ordering::SeqCst);
        }
        value
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

/// The client's session cache, announcing each TLS 1.3 ticket it receives so
/// that the test waits for the ticket instead of guessing when it arrived.
struct NotifyingClientSessions {
    inner: ClientSessionMemoryCache,
    tickets: mpsc::UnboundedSender<()>,
}

impl NotifyingClientSessions {
    fn new() -> (Self, mpsc::UnboundedReceiver<()>) {
        let (tickets, received) = mpsc::unbounded();
        let sessions = Self {
            inner: ClientSessionMemoryCache::new(16),
            tickets,
        };
        (sessions, received)
    }
}

impl fmt::Debug for NotifyingClientSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyingClientSessions")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ClientSessionStore for NotifyingClientSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(server_name, value);
        // The test may have stopped listening; a closed channel is fine.
        let _ = self.tickets.unbounded_send(());
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}
