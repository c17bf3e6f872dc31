//! The incarnation exchange in the transport, for a peer that is already
//! connected: the swarm reports such a connection only once its incarnation
//! is known, so no moment exists in which a restarted peer's new connection
//! looks, to the wrapped behaviour, like a second connection of its old run.

mod exchange;
mod muxer;
pub(crate) mod peek;

use std::{
    any::Any,
    collections::HashMap,
    fmt,
    hash::{BuildHasher, RandomState},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use futures::{AsyncRead, AsyncWrite};
use libp2p_core::{
    muxing::{StreamMuxer, StreamMuxerBox},
    transport::Boxed,
    Multiaddr, Transport,
};
use libp2p_identity::PeerId;

pub(crate) use exchange::{Flags, Learnt, Outcome};

use crate::Incarnation;

/// How long a connection's exchange may delay it by default.
const DEFAULT_BOUND: Duration = Duration::from_secs(2);

/// An outcome no connection claimed this long after it was recorded (the
/// swarm or another behaviour refused the connection) is forgotten.
const UNCLAIMED_FOR: Duration = Duration::from_secs(30);

/// The incarnation exchange run in the transport, before the swarm reports
/// a connection, for peers this node is already connected to.
///
/// Without it, a restarted peer's new connection reaches the swarm before
/// its incarnation does (about one round trip later), and until then the
/// wrapped behaviour still counts the old run as connected: a gossipsub
/// publish in that moment goes to the dead connection. With it, the swarm's
/// `ConnectionEstablished` comes after the exchange, and the policy has
/// already shown the wrapped behaviour the old run closed and the new one
/// connected. A peer's first connection is not delayed at all.
///
/// The same `Handshake` wraps the swarm's transport ([`Handshake::transport`])
/// and goes to the policy ([`crate::Config::with_handshake`]); its
/// incarnation is then the node's. Without it the policy holds the
/// connection from the wrapped behaviour instead, which the swarm's other
/// behaviours and the application do not see.
///
/// ```
/// use libp2p::{core::muxing::StreamMuxerBox, identity::Keypair, quic, Transport};
/// use state_isolation::{Config, Handshake};
///
/// let key = Keypair::generate_ed25519();
/// let handshake = Handshake::new();
/// let transport = handshake.transport(quic::tokio::Transport::new(quic::Config::new(&key)));
/// let config = Config::default().with_handshake(handshake);
/// // `state_isolation::Behaviour::wrap(app, config)`, then
/// // `Swarm::new(transport, behaviour, peer, swarm_config)`.
/// # let _ = (transport, config);
/// ```
#[derive(Clone)]
pub struct Handshake {
    shared: Arc<Shared>,
}

struct Shared {
    local: Incarnation,
    bound: Duration,
    /// A transport was wrapped: only then does the policy keep `connected`.
    layered: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Established connections per peer, as the swarm reported them, by a
    /// keyed hash of the peer's id: a map keyed by the 80-byte id would
    /// cost every connected peer five times as much. Two peers whose ids
    /// hash alike (a chance in 2^64 a pair; the key is this node's secret)
    /// share a count: a first connection of one of them is then exchanged
    /// before the swarm sees it, a delay within the bound, never a wrong
    /// judgement.
    connected: HashMap<u64, u32>,
    /// The key of `connected`'s hash.
    hasher: RandomState,
    /// Exchanges done, until the policy claims them for their connection.
    outcomes: HashMap<(PeerId, Multiaddr), (Instant, Outcome)>,
}

impl Handshake {
    /// A handshake with a new random incarnation for this node, and a bound
    /// of 2 s.
    pub fn new() -> Self {
        Self::with(Incarnation::random(), DEFAULT_BOUND)
    }

    /// At most how long a connection is delayed by its exchange (default
    /// 2 s); past it, the connection goes to the swarm as it is and the
    /// policy holds it from the wrapped behaviour instead. Zero turns the
    /// handshake off. It makes a new handshake with the same incarnation:
    /// set it before the handle is cloned into the transport and the config.
    pub fn with_bound(self, bound: Duration) -> Self {
        Self::with(self.shared.local, bound)
    }

    fn with(local: Incarnation, bound: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                local,
                bound,
                layered: AtomicBool::new(false),
                state: Mutex::default(),
            }),
        }
    }

    /// The incarnation this handshake announces, the node's.
    pub fn local_incarnation(&self) -> Incarnation {
        self.shared.local
    }

    /// Wraps `transport`: a connection to a peer already connected is
    /// handed on once the exchange is done (or the bound passed).
    pub fn transport<T, M>(&self, transport: T) -> Boxed<(PeerId, StreamMuxerBox)>
    where
        T: Transport<Output = (PeerId, M)> + Send + Unpin + 'static,
        T::Dial: Send + 'static,
        T::ListenerUpgrade: Send + 'static,
        T::Error: Send + Sync + 'static,
        M: StreamMuxer + Send + Unpin + 'static,
        M::Substream: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        M::Error: Send + Sync + 'static,
    {
        self.shared.layered.store(true, Ordering::Relaxed);
        let shared = self.shared.clone();
        transport
            .and_then(move |(peer, muxer), endpoint| async move {
                if shared.bound.is_zero() || !shared.is_connected(&peer) {
                    return Ok::<_, M::Error>((peer, boxed(muxer)));
                }
                let (muxer, outcome) = exchange::run(muxer, shared.local, shared.bound).await?;
                tracing::debug!(%peer, ?outcome, "handshake with a connected peer");
                shared.record(peer, endpoint.get_remote_address().clone(), outcome);
                Ok((peer, StreamMuxerBox::new(muxer)))
            })
            .boxed()
    }

    pub(crate) fn on_established(&self, peer: PeerId) {
        if self.shared.layered.load(Ordering::Relaxed) {
            let mut state = self.shared.lock();
            let key = state.hasher.hash_one(peer);
            *state.connected.entry(key).or_default() += 1;
        }
    }

    pub(crate) fn on_closed(&self, peer: &PeerId) {
        if !self.shared.layered.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.shared.lock();
        let key = state.hasher.hash_one(peer);
        if let Some(count) = state.connected.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                state.connected.remove(&key);
            }
        }
    }

    /// The exchange done for the peer's connection from or to `remote`.
    pub(crate) fn take(&self, peer: PeerId, remote: &Multiaddr) -> Option<Outcome> {
        if !self.shared.layered.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.shared.lock();
        if state.outcomes.is_empty() {
            return None;
        }
        state
            .outcomes
            .remove(&(peer, remote.clone()))
            .map(|(_, outcome)| outcome)
    }
}

#[cfg(test)]
impl Handshake {
    /// As if this handshake wrapped a transport and had just run `outcome`
    /// on a connection of `peer` from `remote`.
    pub(crate) fn ran(&self, peer: PeerId, remote: Multiaddr, outcome: Outcome) {
        self.shared.layered.store(true, Ordering::Relaxed);
        self.shared.record(peer, remote, outcome);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every step; a panic elsewhere does
        // not make it unusable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_connected(&self, peer: &PeerId) -> bool {
        let state = self.lock();
        state.connected.contains_key(&state.hasher.hash_one(peer))
    }

    fn record(&self, peer: PeerId, remote: Multiaddr, outcome: Outcome) {
        let now = Instant::now();
        let mut state = self.lock();
        state
            .outcomes
            .retain(|_, (at, _)| now.duration_since(*at) < UNCLAIMED_FOR);
        state.outcomes.insert((peer, remote), (now, outcome));
    }
}

/// The muxer boxed, or as it is if it is boxed already: the transport below
/// is usually a boxed one, and every stream call would pay for a second box.
fn boxed<M>(muxer: M) -> StreamMuxerBox
where
    M: StreamMuxer + Send + Unpin + 'static,
    M::Substream: Send + Unpin + 'static,
    M::Error: Send + Sync + 'static,
{
    let mut slot = Some(muxer);
    if let Some(boxed) = (&mut slot as &mut dyn Any).downcast_mut::<Option<StreamMuxerBox>>() {
        return boxed.take().expect("filled above");
    }
    StreamMuxerBox::new(slot.expect("not taken"))
}

impl Default for Handshake {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("local", &self.shared.local)
            .field("bound", &self.shared.bound)
            .finish_non_exhaustive()
    }
}

/// Two handshakes are equal when they are the same one.
impl PartialEq for Handshake {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Handshake {}
