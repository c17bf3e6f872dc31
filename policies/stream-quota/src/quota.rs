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
/// [`crate::Behaviour::new`].
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

    /// Wraps one connection's muxer; for use inside `Transport::map`, which
    /// hands over the `ConnectedPoint` it needs.
    pub fn wrap<M>(&self, peer: PeerId, muxer: M, endpoint: &ConnectedPoint) -> Muxer<M> {
        Muxer::new(muxer, peer, endpoint.clone(), self.shared.clone())
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
