//! The peers a node was connected to, kept across its restarts: dialed again
//! when it starts, so that every peer still holding a connection to its last
//! run hears from the new one at once (and, with state-isolation, closes the
//! old connection), whether or not it is a bootstrap peer.

use std::{
    collections::HashSet,
    io::{self, Read},
    path::PathBuf,
};

use async_trait::async_trait;
use libp2p_core::{multiaddr::Protocol, Multiaddr};
use libp2p_identity::PeerId;

use crate::{source::peer_of, SourceError};

/// The most a [`FileMemory`] reads: far more than any bound on remembered
/// peers needs, so a corrupt or hostile file costs no more than this.
const MAX_FILE: u64 = 64 * 1024;

/// Where the policy keeps the peers it was connected to.
///
/// It is asked once when the policy starts ([`PeerMemory::recall`]); every
/// address it gives that ends in `/p2p/<peer id>` is dialed once, at most
/// [`crate::Config::with_max_remembered_peers`] of them. While the node runs
/// the policy hands it the peers it is connected to, closest first, whenever
/// that list changes ([`PeerMemory::remember`], at most once per health
/// check interval).
#[async_trait]
pub trait PeerMemory: Send + Sync + 'static {
    /// The addresses remembered last time, each ending in `/p2p/<peer id>`.
    async fn recall(&self) -> Result<Vec<Multiaddr>, SourceError>;
    /// Remembers `peers` in place of what was remembered before.
    async fn remember(&self, peers: Vec<Multiaddr>) -> Result<(), SourceError>;
}

/// A [`PeerMemory`] in a file: one address a line, rewritten whole through a
/// temporary file beside it, so a crash mid-write leaves the last list.
/// A missing file is an empty memory; lines that do not parse are skipped.
#[derive(Debug, Clone)]
pub struct FileMemory {
    path: PathBuf,
}

impl FileMemory {
    /// A memory kept in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl PeerMemory for FileMemory {
    async fn recall(&self) -> Result<Vec<Multiaddr>, SourceError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut text = String::new();
        // Invalid UTF-8 (a corrupt file) is read as far as it is valid.
        let mut bytes = Vec::new();
        file.take(MAX_FILE).read_to_end(&mut bytes)?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        Ok(text
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect())
    }

    async fn remember(&self, peers: Vec<Multiaddr>) -> Result<(), SourceError> {
        let mut text = String::new();
        for addr in peers {
            text.push_str(&addr.to_string());
            text.push('\n');
        }
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.path)?;
        Ok(())
    }
}

/// The remembered peers to dial: one address per peer, the first given, at
/// most `max`. (The node's own id, in a file copied from elsewhere, costs
/// one dial the swarm refuses.)
pub(crate) fn to_dial(recalled: Vec<Multiaddr>, max: usize) -> Vec<(PeerId, Multiaddr)> {
    let mut seen = HashSet::new();
    recalled
        .into_iter()
        .filter_map(|addr| Some((peer_of(&addr)?, addr)))
        .filter(|(peer, _)| seen.insert(*peer))
        .take(max)
        .collect()
}

/// What to remember of the peers connected now, given closest first with
/// their known addresses: each peer's first address, ending in its
/// `/p2p`, at most `max`.
pub(crate) fn to_remember(
    connected: impl IntoIterator<Item = (PeerId, Option<Multiaddr>)>,
    max: usize,
) -> Vec<Multiaddr> {
    connected
        .into_iter()
        .filter_map(|(peer, addr)| {
            let addr = addr?;
            Some(match peer_of(&addr) {
                Some(_) => addr,
                None => addr.with(Protocol::P2p(peer)),
            })
        })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16, peer: PeerId) -> Multiaddr {
        format!("/ip4/127.0.0.1/udp/{port}/quic-v1/p2p/{peer}")
            .parse()
            .unwrap()
    }

    #[test]
    fn dials_each_remembered_peer_once_within_the_bound() {
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let no_peer: Multiaddr = "/ip4/127.0.0.1/udp/9/quic-v1".parse().unwrap();
        let recalled = vec![addr(1, a), no_peer, addr(2, a), addr(4, b), addr(5, c)];
        assert_eq!(
            to_dial(recalled.clone(), 8),
            vec![(a, addr(1, a)), (b, addr(4, b)), (c, addr(5, c))]
        );
        assert_eq!(to_dial(recalled, 2).len(), 2, "bounded");
    }

    #[test]
    fn remembers_each_connected_peer_with_its_id() {
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let bare: Multiaddr = "/ip4/127.0.0.1/udp/7/quic-v1".parse().unwrap();
        let remembered = to_remember(
            [(a, Some(addr(1, a))), (b, None), (c, Some(bare.clone()))],
            8,
        );
        assert_eq!(remembered, vec![addr(1, a), bare.with(Protocol::P2p(c))]);
        assert_eq!(
            to_remember([(a, Some(addr(1, a))), (c, Some(addr(2, c)))], 1).len(),
            1
        );
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rebootstrap-memory-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("peers")
    }

    #[test]
    fn a_file_memory_round_trips_and_survives_a_bad_file() {
        futures::executor::block_on(async {
            let path = scratch("round-trip");
            let memory = FileMemory::new(&path);
            let _ = std::fs::remove_file(&path);
            assert!(memory.recall().await.unwrap().is_empty(), "no file yet");

            let peers = vec![addr(1, PeerId::random()), addr(2, PeerId::random())];
            memory.remember(peers.clone()).await.unwrap();
            assert_eq!(memory.recall().await.unwrap(), peers);

            let mut corrupt = b"not an address\n\xff\xfe\n".to_vec();
            corrupt.extend_from_slice(format!("{}\n", peers[0]).as_bytes());
            corrupt.extend(std::iter::repeat_n(b'x', 200_000));
            std::fs::write(&path, corrupt).unwrap();
            assert_eq!(memory.recall().await.unwrap(), vec![peers[0].clone()]);
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
        });
    }
}
