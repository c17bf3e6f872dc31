//! A map from a peer to its entry that keeps the peer's id once.
//!
//! A `HashMap<PeerId, V>` holds an 80-byte id in each of its slots, and a
//! map has up to about twice as many slots as entries: at thousands of
//! connected peers that is most of what the registry costs. Here the entries
//! sit in a list with their ids, and the hash index holds only their places
//! in it, checked against the id in the list.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use libp2p_identity::PeerId;

pub(super) struct Peers<V> {
    /// Entries by place; `None` is a free place.
    entries: Vec<Option<(PeerId, V)>>,
    free: Vec<usize>,
    /// Each entry's place, found by the hash of its id.
    index: HashTable<usize>,
    /// Keyed per node: peers choose their ids.
    hasher: RandomState,
}

impl<V> Default for Peers<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }
}

impl<V> Peers<V> {
    fn place(&self, peer: &PeerId) -> Option<usize> {
        let entries = &self.entries;
        let hash = self.hasher.hash_one(peer);
        (self.index)
            .find(hash, |&at| holds(entries, at, peer))
            .copied()
    }

    pub(super) fn get(&self, peer: &PeerId) -> Option<&V> {
        let at = self.place(peer)?;
        self.entries[at].as_ref().map(|(_, v)| v)
    }

    pub(super) fn get_mut(&mut self, peer: &PeerId) -> Option<&mut V> {
        let at = self.place(peer)?;
        self.entries[at].as_mut().map(|(_, v)| v)
    }

    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        self.place(peer).is_some()
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The peer's entry, made with `V::default()` if it has none.
    pub(super) fn entry(&mut self, peer: PeerId) -> &mut V
    where
        V: Default,
    {
        let at = match self.place(&peer) {
            Some(at) => at,
            None => {
                let entry = Some((peer, V::default()));
                let at = match self.free.pop() {
                    Some(at) => {
                        self.entries[at] = entry;
                        at
                    }
                    None => {
                        self.entries.push(entry);
                        self.entries.len() - 1
                    }
                };
                let (entries, hasher) = (&self.entries, &self.hasher);
                let hash = hasher.hash_one(peer);
                // Every place in the index holds its entry (freed as it goes).
                (self.index).insert_unique(hash, at, |&at| {
                    entries[at]
                        .as_ref()
                        .map_or(0, |(id, _)| hasher.hash_one(id))
                });
                at
            }
        };
        let (_, v) = self.entries[at].as_mut().expect("placed above");
        v
    }

    pub(super) fn remove(&mut self, peer: &PeerId) -> Option<V> {
        let entries = &self.entries;
        let hash = self.hasher.hash_one(peer);
        let found = (self.index).find_entry(hash, |&at| holds(entries, at, peer));
        let (at, _) = found.ok()?.remove();
        self.free.push(at);
        self.entries[at].take().map(|(_, v)| v)
    }
}

fn holds<V>(entries: &[Option<(PeerId, V)>], at: usize, peer: &PeerId) -> bool {
    entries
        .get(at)
        .and_then(Option::as_ref)
        .is_some_and(|(id, _)| id == peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_peer_and_reuses_freed_places() {
        let mut peers = Peers::<u32>::default();
        let ids: Vec<PeerId> = (0..100).map(|_| PeerId::random()).collect();
        for (n, id) in ids.iter().enumerate() {
            *peers.entry(*id) = n as u32;
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(peers.get(id), Some(&(n as u32)));
        }
        for id in &ids[..50] {
            assert!(peers.remove(id).is_some());
            assert!(!peers.contains(id));
        }
        assert_eq!(peers.remove(&ids[0]), None);
        for id in &ids[..50] {
            *peers.entry(*id) += 1;
        }
        assert_eq!(peers.entries.len(), 100, "freed places are reused");
        assert_eq!(peers.get(&ids[0]), Some(&1));
        assert_eq!(peers.get(&ids[99]), Some(&99));
        for id in &ids {
            peers.remove(id);
        }
        assert!(peers.is_empty());
    }
}
