//! A UDP fault proxy between a dialer and a listening node.
//!
//! The dialer dials the proxy's address instead of the node's (see
//! [`UdpProxy::proxied`]); the proxy relays each of the dialer's UDP flows
//! through a socket of its own to the node and the replies back, applying the
//! faults set for each [`Direction`]. Faults change while traffic flows, so a
//! path can be cut and restored under a live QUIC or WebRTC-direct connection:
//! a blackholed path is how a close goes unsignalled.

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use libp2p::Multiaddr;
use rand::RngExt;
use tokio::{net::UdpSocket, task::JoinSet};

/// Dialer flows relayed at once; packets from further source addresses are dropped.
const MAX_FLOWS: usize = 64;
/// Delayed packets held at once; past that a packet is dropped, as a full queue would.
const MAX_DELAYED: usize = 4096;
/// Larger than any UDP payload on loopback.
const MAX_DATAGRAM: usize = 65_536;

/// A direction of the relayed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the dialer to the proxied node.
    ToListener,
    /// From the proxied node back to the dialer.
    ToDialer,
}

impl Direction {
    /// Both directions.
    pub const BOTH: [Direction; 2] = [Self::ToListener, Self::ToDialer];

    fn index(self) -> usize {
        match self {
            Self::ToListener => 0,
            Self::ToDialer => 1,
        }
    }
}

/// The faults applied to one direction. The default forwards everything at once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Drop every packet.
    pub blackhole: bool,
    /// The probability, from 0 to 1, that a packet is dropped.
    pub loss: f64,
    /// Added to every packet's delivery.
    pub delay: Duration,
    /// A random extra delay from zero to this, drawn per packet (packets may reorder).
    pub jitter: Duration,
}

impl Faults {
    /// Drops every packet.
    pub fn blackhole() -> Self {
        Self {
            blackhole: true,
            ..Self::default()
        }
    }

    /// Drops each packet with probability `loss`.
    pub fn loss(loss: f64) -> Self {
        Self {
            loss,
            ..Self::default()
        }
    }

    /// Delays every packet by `delay` plus up to `jitter`.
    pub fn delay(delay: Duration, jitter: Duration) -> Self {
        Self {
            delay,
            jitter,
            ..Self::default()
        }
    }

    /// `None` if the packet is dropped, else how long to hold it.
    fn verdict(&self) -> Option<Duration> {
        if self.blackhole {
            return None;
        }
        let mut rng = rand::rng();
        if self.loss > 0.0 && rng.random_bool(self.loss.clamp(0.0, 1.0)) {
            return None;
        }
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            rng.random_range(Duration::ZERO..=self.jitter)
        };
        Some(self.delay + jitter)
    }
}

/// Packets counted in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketCounts {
    /// Packets delivered.
    pub forwarded: u64,
    /// Packets dropped by a fault (or by the proxy's own bounds).
    pub dropped: u64,
    /// UDP payload bytes delivered.
    pub forwarded_bytes: u64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    dropped: AtomicU64,
    forwarded_bytes: AtomicU64,
}

#[derive(Default)]
struct Shared {
    faults: Mutex<[Faults; 2]>,
    counters: [Counters; 2],
    delayed: AtomicUsize,
}

impl Shared {
    fn faults(&self, direction: Direction) -> Faults {
        self.faults.lock().expect("never poisoned")[direction.index()]
    }

    fn count_dropped(&self, direction: Direction) {
        self.counters[direction.index()]
            .dropped
            .fetch_add(1, Ordering::Relaxed);
    }

    fn count_forwarded(&self, direction: Direction, len: usize) {
        let counters = &self.counters[direction.index()];
        counters.forwarded.fetch_add(1, Ordering::Relaxed);
        counters
            .forwarded_bytes
            .fetch_add(len as u64, Ordering::Relaxed);
    }

    /// Sends `packet` on `socket` (to `to`, or to its connected peer) under the
    /// direction's faults; a delayed packet is sent from a task of `tasks`.
    async fn relay(
        self: &Arc<Self>,
        direction: Direction,
        socket: &Arc<UdpSocket>,
        to: Option<SocketAddr>,
        packet: &[u8],
        tasks: &mut JoinSet<()>,
    ) {
        let Some(delay) = self.faults(direction).verdict() else {
            self.count_dropped(direction);
            return;
        };
        if delay.is_zero() {
            send(socket, to, packet).await;
            self.count_forwarded(direction, packet.len());
            return;
        }
        if self.delayed.fetch_add(1, Ordering::Relaxed) >= MAX_DELAYED {
            self.delayed.fetch_sub(1, Ordering::Relaxed);
            self.count_dropped(direction);
            return;
        }
        let (shared, socket, packet) = (Arc::clone(self), Arc::clone(socket), packet.to_vec());
        tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            send(&socket, to, &packet).await;
            shared.delayed.fetch_sub(1, Ordering::Relaxed);
            shared.count_forwarded(direction, packet.len());
        });
    }
}

async fn send(socket: &UdpSocket, to: Option<SocketAddr>, packet: &[u8]) {
    // UDP is lossy anyway; a failed send is a lost packet, as on a real path.
    let _ = match to {
        Some(to) => socket.send_to(packet, to).await,
        None => socket.send(packet).await,
    };
}

/// A running UDP fault proxy. Dropping it stops the relay: the path goes
/// silent, as if cut for good.
pub struct UdpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    _relay: JoinSet<()>,
}

impl UdpProxy {
    /// Starts a proxy on 127.0.0.1 in front of the node listening on `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = socket.local_addr()?;
        let shared = Arc::new(Shared::default());
        let mut relay = JoinSet::new();
        relay.spawn(run_relay(socket, upstream, Arc::clone(&shared)));
        Ok(Self {
            addr,
            upstream,
            shared,
            _relay: relay,
        })
    }

    /// The address dialers send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxied node's address.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The node's multiaddr pointed at the proxy: IP and port swapped, `/certhash` and `/p2p` kept.
    pub fn proxied(&self, node_addr: &Multiaddr) -> Multiaddr {
        crate::with_socket_addr(node_addr, self.addr)
    }

    /// Applies `faults` to `direction` from the next packet on.
    pub fn set_faults(&self, direction: Direction, faults: Faults) {
        self.shared.faults.lock().expect("never poisoned")[direction.index()] = faults;
    }

    /// The faults now applied to `direction`.
    pub fn faults(&self, direction: Direction) -> Faults {
        self.shared.faults(direction)
    }

    /// Drops every packet in `direction`.
    pub fn blackhole(&self, direction: Direction) {
        self.set_faults(direction, Faults::blackhole());
    }

    /// Drops every packet both ways.
    pub fn cut(&self) {
        for direction in Direction::BOTH {
            self.blackhole(direction);
        }
    }

    /// Clears every fault both ways.
    pub fn restore(&self) {
        for direction in Direction::BOTH {
            self.set_faults(direction, Faults::default());
        }
    }

    /// The packets counted in `direction` so far.
    pub fn counts(&self, direction: Direction) -> PacketCounts {
        let counters = &self.shared.counters[direction.index()];
        PacketCounts {
            forwarded: counters.forwarded.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            forwarded_bytes: counters.forwarded_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Relays the dialers' packets to `upstream`, each dialer through its own
/// socket, and spawns the return path of each.
async fn run_relay(socket: Arc<UdpSocket>, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0; MAX_DATAGRAM];
    loop {
        // An error is ICMP "port unreachable" surfacing on Linux; the path stays up.
        let Ok((len, dialer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let flow = match flows.get(&dialer) {
            Some(flow) => Arc::clone(flow),
            None if flows.len() < MAX_FLOWS => match open_flow(upstream).await {
                Ok(flow) => {
                    tasks.spawn(return_path(
                        Arc::clone(&flow),
                        Arc::clone(&socket),
                        dialer,
                        Arc::clone(&shared),
                    ));
                    flows.insert(dialer, Arc::clone(&flow));
                    flow
                }
                Err(e) => {
                    tracing::warn!(%dialer, "proxy could not open a flow: {e}");
                    shared.count_dropped(Direction::ToListener);
                    continue;
                }
            },
            None => {
                shared.count_dropped(Direction::ToListener);
                continue;
            }
        };
        shared
            .relay(Direction::ToListener, &flow, None, &buf[..len], &mut tasks)
            .await;
        // Reap finished delayed sends so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
}

async fn open_flow(upstream: SocketAddr) -> io::Result<Arc<UdpSocket>> {
    let flow = UdpSocket::bind("127.0.0.1:0").await?;
    flow.connect(upstream).await?;
    Ok(Arc::new(flow))
}

async fn return_path(
    flow: Arc<UdpSocket>,
    socket: Arc<UdpSocket>,
    dialer: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut tasks = JoinSet::new();
    let mut buf = vec![0; MAX_DATAGRAM];
    loop {
        let Ok(len) = flow.recv(&mut buf).await else {
            continue;
        };
        shared
            .relay(
                Direction::ToDialer,
                &socket,
                Some(dialer),
                &buf[..len],
                &mut tasks,
            )
            .await;
        while tasks.try_join_next().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(5);
    /// Long enough for a loopback datagram that is not coming to have come.
    const SILENCE: Duration = Duration::from_millis(300);

    /// An upstream that echoes every datagram, and a dialer socket.
    async fn setup() -> (UdpProxy, UdpSocket) {
        let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0; MAX_DATAGRAM];
            while let Ok((len, from)) = upstream.recv_from(&mut buf).await {
                let _ = upstream.send_to(&buf[..len], from).await;
            }
        });
        let proxy = UdpProxy::start(upstream_addr).await.unwrap();
        let dialer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        dialer.connect(proxy.addr()).await.unwrap();
        (proxy, dialer)
    }

    async fn round_trip(dialer: &UdpSocket, payload: &[u8], within: Duration) -> Option<Vec<u8>> {
        dialer.send(payload).await.unwrap();
        let mut buf = vec![0; MAX_DATAGRAM];
        let len = tokio::time::timeout(within, dialer.recv(&mut buf))
            .await
            .ok()?
            .unwrap();
        Some(buf[..len].to_vec())
    }

    async fn wait_until(mut done: impl FnMut() -> bool) {
        tokio::time::timeout(DEADLINE, async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("condition not met within the deadline");
    }

    #[tokio::test]
    async fn relays_both_ways_and_counts() {
        let (proxy, dialer) = setup().await;
        for i in 0..10u8 {
            assert_eq!(
                round_trip(&dialer, &[i; 100], DEADLINE).await,
                Some(vec![i; 100])
            );
        }
        let counted = PacketCounts {
            forwarded: 10,
            dropped: 0,
            forwarded_bytes: 1000,
        };
        assert_eq!(proxy.counts(Direction::ToListener), counted);
        assert_eq!(proxy.counts(Direction::ToDialer), counted);
    }

    #[tokio::test]
    async fn blackhole_each_direction_then_restore() {
        let (proxy, dialer) = setup().await;
        assert!(round_trip(&dialer, b"up", DEADLINE).await.is_some());

        proxy.blackhole(Direction::ToDialer);
        assert_eq!(
            round_trip(&dialer, b"lost on the way back", SILENCE).await,
            None
        );
        // The request got through; only its reply was dropped.
        assert_eq!(proxy.counts(Direction::ToListener).forwarded, 2);
        wait_until(|| proxy.counts(Direction::ToDialer).dropped == 1).await;

        proxy.restore();
        proxy.blackhole(Direction::ToListener);
        assert_eq!(
            round_trip(&dialer, b"lost on the way out", SILENCE).await,
            None
        );
        assert_eq!(proxy.counts(Direction::ToListener).dropped, 1);
        assert_eq!(proxy.counts(Direction::ToListener).forwarded, 2);

        proxy.restore();
        assert_eq!(
            round_trip(&dialer, b"back", DEADLINE).await,
            Some(b"back".to_vec())
        );
    }

    #[tokio::test]
    async fn cut_silences_both_ways_until_restored() {
        let (proxy, dialer) = setup().await;
        proxy.cut();
        assert_eq!(proxy.faults(Direction::ToDialer), Faults::blackhole());
        assert_eq!(round_trip(&dialer, b"x", SILENCE).await, None);
        proxy.restore();
        assert_eq!(
            round_trip(&dialer, b"y", DEADLINE).await,
            Some(b"y".to_vec())
        );
    }

    #[tokio::test]
    async fn loss_drops_about_the_given_share() {
        let (proxy, dialer) = setup().await;
        proxy.set_faults(Direction::ToListener, Faults::loss(0.5));
        const SENT: u64 = 1000;
        // In batches, so that no packet is lost in a socket buffer before the proxy counts it.
        for batch in 0..SENT / 50 {
            for i in 0..50u64 {
                dialer.send(&i.to_be_bytes()).await.unwrap();
            }
            wait_until(|| {
                let c = proxy.counts(Direction::ToListener);
                c.forwarded + c.dropped == (batch + 1) * 50
            })
            .await;
        }
        let dropped = proxy.counts(Direction::ToListener).dropped;
        // Binomial(1000, 0.5): standard deviation 16, so this band is over 9 of them wide.
        assert!(
            (350..=650).contains(&dropped),
            "dropped {dropped} of {SENT}"
        );
    }

    #[tokio::test]
    async fn delay_and_jitter_hold_packets_within_bounds() {
        let (proxy, dialer) = setup().await;
        let delay = Duration::from_millis(80);
        let jitter = Duration::from_millis(40);
        proxy.set_faults(Direction::ToDialer, Faults::delay(delay, jitter));
        for _ in 0..5 {
            let sent = Instant::now();
            assert!(round_trip(&dialer, b"slow", DEADLINE).await.is_some());
            let rtt = sent.elapsed();
            assert!(rtt >= delay, "round trip {rtt:?} shorter than the delay");
            assert!(
                rtt < delay + jitter + Duration::from_millis(500),
                "round trip {rtt:?}"
            );
        }
        assert_eq!(proxy.counts(Direction::ToDialer).forwarded, 5);
    }

    #[test]
    fn verdicts_follow_the_faults() {
        assert_eq!(Faults::default().verdict(), Some(Duration::ZERO));
        assert_eq!(Faults::blackhole().verdict(), None);
        assert_eq!(Faults::loss(1.0).verdict(), None);
        assert_eq!(Faults::loss(0.0).verdict(), Some(Duration::ZERO));
        let d = Duration::from_millis(10);
        assert_eq!(Faults::delay(d, Duration::ZERO).verdict(), Some(d));
        for _ in 0..100 {
            let held = Faults::delay(d, d).verdict().unwrap();
            assert!(held >= d && held <= 2 * d);
        }
    }
}
