//! The handle shared by the transport layer and the behaviour.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::Waker,
    time::Instant,
};

use libp2p_core::{
    muxing::{StreamMuxer, StreamMuxerBox},
    transport::Boxed,
    ConnectedPoint, Transport,
};
use libp2p_identity::PeerId;

use crate::{ledger::Ledger, Config, ConfigError, Muxer, Snapshot};

/// The stream ledger of one node, shared by its transport layer (which
/// wraps every connection's muxer) and its [`crate::Behaviour`] (which
/// reads it). Cheap to clone.
///
/// Build it first, wrap the transport with [`Quota::transport`] (or each
/// muxer with [`Quota::wrap`] in your own `Transport::map`), then give it to
/// [`crate::Behaviour::new`]. Without the transport layer nothing is counted
/// or limited: [`Quota::is_layered`] says whether it is in place.
#[derive(Debug, Clone)]
pub struct Quota {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    ledger: Mutex<Ledger>,
    /// The behaviour's task: woken for a refusal to report or an earlier
    /// deadline. Kept after a wake (unlike an `AtomicWaker`), so that the
    /// behaviour registers only when its waker changes.
    waker: Mutex<Option<Waker>>,
    /// Set with each such wake, so the behaviour locks the ledger only then.
    signalled: AtomicBool,
    /// [`Quota::transport`] or [`Quota::wrap`] was called.
    layered: AtomicBool,
}

impl Shared {
    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    /// Runs `f` on the ledger and wakes the behaviour if `f` gave it work.
    pub(crate) fn with_ledger<R>(&self, f: impl FnOnce(&mut Ledger) -> R) -> R {
        let mut ledger = self.ledger();
        let result = f(&mut ledger);
        let wake = ledger.take_wake();
        drop(ledger);
        if wake {
            self.signalled.store(true, Ordering::Release);
            let waker = lock(&self.waker);
            if let Some(waker) = &*waker {
                waker.wake_by_ref();
            }
        }
        result
    }

    /// Whether the ledger has work for the behaviour since the last call.
    pub(crate) fn take_signal(&self) -> bool {
        self.signalled.swap(false, Ordering::Acquire)
    }

    pub(crate) fn register(&self, waker: &Waker) {
        *lock(&self.waker) = Some(waker.clone());
    }
}

/// A panic elsewhere while holding a lock leaves counts that are still
/// counts, and a waker that still wakes: carry on rather than spread it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Quota {
    /// A ledger enforcing `config`.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            shared: Arc::new(Shared {
                ledger: Mutex::new(Ledger::new(config)),
                waker: Mutex::new(None),
                signalled: AtomicBool::new(false),
                layered: AtomicBool::new(false),
            }),
        })
    }

    /// Every scope's counts now.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.ledger().snapshot(Instant::now())
    }

    /// The configuration it enforces.
    pub fn config(&self) -> Config {
        self.shared.ledger().config().clone()
    }

    /// Whether the transport layer is in place: `true` once
    /// [`Quota::transport`] or [`Quota::wrap`] was called on this quota or a
    /// clone of it. Without it no stream is counted or limited, and the
    /// behaviour only logs a warning at the first connection; a crate
    /// that builds the swarm (such as the `libp2p-transport-policies`
    /// facade) checks this to refuse a swarm built without it.
    pub fn is_layered(&self) -> bool {
        self.shared.layered.load(Ordering::Acquire)
    }

    /// The muxer layer for a `Transport::map` of your own (what
    /// [`Quota::transport`] does for you). Taking it marks the quota layered
    /// at once, before any connection: build the transport with it, then
    /// the behaviours.
    ///
    /// ```
    /// # use libp2p::{core::{muxing::StreamMuxerBox, Transport as _}, identity::Keypair, quic};
    /// let key = Keypair::generate_ed25519();
    /// let quota = stream_quota::Quota::new(stream_quota::Config::default()).unwrap();
    /// let layer = quota.layer();
    /// let transport = quic::tokio::Transport::new(quic::Config::new(&key))
    ///     .map(move |(peer, muxer), endpoint| {
    ///         (peer, StreamMuxerBox::new(layer.wrap(peer, muxer, &endpoint)))
    ///     });
    /// assert!(quota.is_layered());
    /// # let _ = transport;
    /// ```
    pub fn layer(&self) -> Layer {
        self.mark_layered();
        Layer {
            quota: self.clone(),
        }
    }

    /// Wraps one connection's muxer; for use inside `Transport::map`, which
    /// hands over the `ConnectedPoint` it needs. The quota counts as layered
    /// only from the first call; [`Quota::layer`] marks it at once.
    pub fn wrap<M>(&self, peer: PeerId, muxer: M, endpoint: &ConnectedPoint) -> Muxer<M> {
        self.mark_layered();
        Muxer::new(muxer, peer, endpoint.clone(), self.shared.clone())
    }

    fn mark_layered(&self) {
        self.shared.layered.store(true, Ordering::Release);
    }

    /// Wraps the muxer of every connection `transport` makes: the one call
    /// that puts the accounting under all behaviours.
    ///
    /// ```
    /// # use libp2p::{core::{muxing::StreamMuxerBox, Transport as _}, identity::Keypair, quic};
    /// let key = Keypair::generate_ed25519();
    /// let quota = stream_quota::Quota::new(stream_quota::Config::default()).unwrap();
    /// let transport = quota.transport(quic::tokio::Transport::new(quic::Config::new(&key)));
    /// ```
    pub fn transport<T, M>(&self, transport: T) -> Boxed<(PeerId, StreamMuxerBox)>
    where
        T: Transport<Output = (PeerId, M)> + Send + Unpin + 'static,
        T::Dial: Send + 'static,
        T::ListenerUpgrade: Send + 'static,
        T::Error: Send + Sync + 'static,
        M: StreamMuxer + Send + Unpin + 'static,
        M::Substream: Send + Unpin + 'static,
        M::Error: Send + Sync + 'static,
    {
        self.mark_layered();
        let quota = self.clone();
        transport
            .map(move |(peer, muxer), endpoint| {
                (
                    peer,
                    StreamMuxerBox::new(quota.wrap(peer, muxer, &endpoint)),
                )
            })
            .boxed()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// The muxer layer of a [`Quota`], from [`Quota::layer`].
#[derive(Clone)]
pub struct Layer {
    quota: Quota,
}

impl Layer {
    /// Wraps one connection's muxer, as [`Quota::wrap`].
    pub fn wrap<M>(&self, peer: PeerId, muxer: M, endpoint: &ConnectedPoint) -> Muxer<M> {
        self.quota.wrap(peer, muxer, endpoint)
    }
}

#[cfg(test)]
mod tests {
    use libp2p_core::{
        muxing::StreamMuxerBox,
        transport::{dummy::DummyTransport, PortUse},
        Endpoint,
    };

    use super::*;

    #[test]
    fn a_quota_is_layered_once_it_or_a_clone_wraps_a_transport_or_a_muxer() {
        let quota = Quota::new(Config::default()).unwrap();
        let behaviours = quota.clone();
        assert!(!quota.is_layered() && !behaviours.is_layered());
        let _transport =
            (quota.clone()).transport(DummyTransport::<(PeerId, StreamMuxerBox)>::new());
        assert!(quota.is_layered() && behaviours.is_layered());

        let other = Quota::new(Config::default()).unwrap();
        let endpoint = ConnectedPoint::Dialer {
            address: "/ip4/127.0.0.1/udp/1/quic-v1".parse().unwrap(),
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        };
        let muxer = other.wrap(PeerId::random(), (), &endpoint);
        assert!(other.is_layered());
        drop(muxer);
        assert!(other.is_layered(), "once layered, always");
    }
}
