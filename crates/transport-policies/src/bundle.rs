//! The policies composed around an application's behaviour.

use libp2p_kad::{self as kad, store::MemoryStore};
use libp2p_swarm::{behaviour::toggle::Toggle, NetworkBehaviour};

use crate::{Config, ConfigError, Isolation};

pub use protected::{Protected, ProtectedEvent};

// The derive's event enum (one variant per field: `App`, `Prune`,
// `Quota`, `Rebootstrap`) has no docs of its own to give.
#[allow(missing_docs)]
mod protected {
    use libp2p_swarm::{behaviour::toggle::Toggle, NetworkBehaviour};

    /// The application's behaviour and the policies that sit beside it, all
    /// behind state-isolation (see [`Policies`](crate::Policies)).
    #[derive(NetworkBehaviour)]
    #[behaviour(prelude = "libp2p_swarm::derive_prelude")]
    pub struct Protected<B: NetworkBehaviour> {
        /// The application's behaviour.
        pub app: B,
        /// conn-prune, when on.
        pub prune: Toggle<conn_prune::Behaviour>,
        /// stream-quota, when on (its muxer layer is in the transport).
        pub quota: Toggle<stream_quota::Behaviour>,
        /// rebootstrap around Kademlia, when on.
        pub rebootstrap: Toggle<rebootstrap::Behaviour>,
    }
}

/// Every policy around the application's behaviour `B`, ready for a swarm.
///
/// state-isolation is the outer layer, so neither the application nor
/// Kademlia nor conn-prune ever sees a connection of a peer's replaced run:
/// they are told it closed the moment it is judged stale, and their
/// `NotifyHandler::Any` lands on the peer's live connection.
pub type Policies<B> = Isolation<Protected<B>>;

/// An event of a [`Policies`] bundle.
pub type Event<B> = state_isolation::Event<ProtectedEvent<B>>;

impl<B: NetworkBehaviour> Policies<B> {
    /// The policies `config` switches on, around `app`. `kad` is the Kademlia
    /// behaviour rebootstrap wraps; it is needed when rebootstrap is on, and
    /// ignored otherwise.
    pub fn new(
        app: B,
        kad: Option<kad::Behaviour<MemoryStore>>,
        config: Config,
    ) -> Result<Self, ConfigError> {
        let prune = config
            .prune
            .map(conn_prune::Behaviour::new)
            .transpose()
            .map_err(ConfigError::Prune)?;
        let rebootstrap = match config.rebootstrap {
            Some(rebootstrap) => {
                let kad = kad.ok_or(ConfigError::RebootstrapWithoutKad)?;
                Some(
                    rebootstrap::Behaviour::new(kad, rebootstrap)
                        .map_err(ConfigError::Rebootstrap)?,
                )
            }
            None => None,
        };
        let protected = Protected {
            app,
            prune: Toggle::from(prune),
            quota: Toggle::from(config.quota.as_ref().map(stream_quota::Behaviour::new)),
            rebootstrap: Toggle::from(rebootstrap),
        };
        Ok(match config.isolation {
            Some(isolation) => Isolation::On(
                state_isolation::Behaviour::wrap(protected, isolation)
                    .map_err(ConfigError::Isolation)?,
            ),
            None => Isolation::Off(protected),
        })
    }

    /// The application's behaviour.
    pub fn app(&self) -> &B {
        &self.inner().app
    }

    /// The application's behaviour, to act on it.
    pub fn app_mut(&mut self) -> &mut B {
        &mut self.inner_mut().app
    }

    /// conn-prune, when on.
    pub fn prune(&self) -> Option<&conn_prune::Behaviour> {
        self.inner().prune.as_ref()
    }

    /// conn-prune, when on, to act on it (`suspect`).
    pub fn prune_mut(&mut self) -> Option<&mut conn_prune::Behaviour> {
        self.inner_mut().prune.as_mut()
    }

    /// stream-quota, when on (its ledger through `snapshot()` / `quota()`).
    pub fn quota(&self) -> Option<&stream_quota::Behaviour> {
        self.inner().quota.as_ref()
    }

    /// rebootstrap, when on (its Kademlia through `kad()` / `kad_mut()`).
    pub fn rebootstrap(&self) -> Option<&rebootstrap::Behaviour> {
        self.inner().rebootstrap.as_ref()
    }

    /// rebootstrap, when on, to act on it.
    pub fn rebootstrap_mut(&mut self) -> Option<&mut rebootstrap::Behaviour> {
        self.inner_mut().rebootstrap.as_mut()
    }
}
