//! A map from a peer to its entry that keeps the peer's id once.
//!
//! A `HashMap<PeerId, V>` holds an 80-byte id in each of its slots, and a
//! map has up to about twice as many slots as entries: at thousands of
//! connected peers that is most of what the registry costs. Here the entries
//! sit in a list with their ids, and the hash index holds only their places
//! in it, checked against the id in the list. A connection names its peer
//! by place, so the id is not copied into it either.

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
    /// Where the peer's entry is.
    pub(super) fn place(&self, peer: &PeerId) -> Option<usize> {
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

    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        self.place(peer).is_some()
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The entry at `at`, with its peer's id.
    pub(super) fn at(&self, at: usize) -> Option<(&PeerId, &V)> {
        let (id, v) = self.entries.get(at)?.as_ref()?;
        Some((id, v))
    }

    pub(super) fn at_mut(&mut self, at: usize) -> Option<(&PeerId, &mut V)> {
        let (id, v) = self.entries.get_mut(at)?.as_mut()?;
        Some((id, v))
    }

    /// The place of the peer's entry, made with `V::default()` if it has
    /// none. A place stays the peer's until its entry is removed.
    pub(super) fn insert(&mut self, peer: PeerId) -> usize
    where
        V: Default,
    {
        match self.place(&peer) {
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
        }
    }

    pub(super) fn remove_at(&mut self, at: usize) -> Option<V> {
        let (peer, _) = self.entries.get(at)?.as_ref()?;
        let hash = self.hasher.hash_one(peer);
        if let Ok(found) = self.index.find_entry(hash, |&a| a == at) {
            found.remove();
        }
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
        let places: Vec<usize> = ids.iter().map(|id| peers.insert(*id)).collect();
        for (n, at) in places.iter().enumerate() {
            *peers.at_mut(*at).unwrap().1 = n as u32;
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(peers.get(id), Some(&(n as u32)));
            assert_eq!(peers.insert(*id), places[n], "a known peer keeps its place");
            assert_eq!(peers.at(places[n]), Some((id, &(n as u32))));
        }
        for (id, at) in ids.iter().zip(&places).take(50) {
            assert!(peers.remove_at(*at).is_some());
            assert!(!peers.contains(id));
            assert_eq!(peers.at(*at), None);
        }
        assert_eq!(peers.remove_at(places[0]), None);
        for id in &ids[..50] {
            let at = peers.insert(*id);
            *peers.at_mut(at).unwrap().1 += 1;
        }
        assert_eq!(peers.entries.len(), 100, "freed places are reused");
        assert_eq!(peers.get(&ids[0]), Some(&1));
        assert_eq!(peers.get(&ids[99]), Some(&99));
        for id in &ids {
            let at = peers.place(id).unwrap();
            peers.remove_at(at);
        }
        assert!(peers.is_empty());
    }
}
