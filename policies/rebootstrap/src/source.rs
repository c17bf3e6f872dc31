//! Where bootstrap peers come from.

use async_trait::async_trait;
use libp2p_core::{multiaddr::Protocol, Multiaddr};
use libp2p_identity::PeerId;

/// The error a [`BootstrapSource`] returns.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// A list of bootstrap peers that comes from elsewhere: DNS, a file, an HTTP
/// endpoint. The policy asks it when it starts and at the start of every
/// recovery, and uses the last list it got while the source fails.
///
/// ```
/// use async_trait::async_trait;
/// use libp2p_core::Multiaddr;
/// use rebootstrap::{BootstrapSource, SourceError};
///
/// struct FromFile(std::path::PathBuf);
///
/// #[async_trait]
/// impl BootstrapSource for FromFile {
///     async fn bootstrap_addresses(&self) -> Result<Vec<Multiaddr>, SourceError> {
///         let text = std::fs::read_to_string(&self.0)?;
///         Ok(text.lines().filter_map(|line| line.parse().ok()).collect())
///     }
/// }
/// ```
#[async_trait]
pub trait BootstrapSource: Send + Sync + 'static {
    /// The bootstrap peers' addresses, each ending in `/p2p/<peer id>`;
    /// addresses without one are ignored.
    async fn bootstrap_addresses(&self) -> Result<Vec<Multiaddr>, SourceError>;
}

/// The peer id an address ends with.
pub(crate) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last()? {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    }
}
