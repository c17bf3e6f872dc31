//! The incarnation message's codec, the handshake's reader of a stream's
//! first bytes, and the registry against a model, for the fuzz targets in
//! `fuzz/`. Not part of the API: it exists only with
//! the `fuzzing` feature.

use crate::{protocol, ExchangeError, Incarnation};

/// Decodes what a remote wrote on an incarnation stream, to the id.
pub fn decode(bytes: &[u8]) -> Result<u128, ExchangeError> {
    protocol::decode(bytes).map(Incarnation::as_u128)
}

/// The message announcing `id`; `None` for zero, which no incarnation has.
pub fn encode(id: u128) -> Option<Vec<u8>> {
    Incarnation::from_u128(id).map(|incarnation| protocol::encode(incarnation).to_vec())
}

/// Reads the protocol a stream's first bytes propose, as the handshake
/// does before the swarm's negotiation sees them; panics if the reader
/// names bytes it was not given or beyond its limit, changes its decision
/// when more bytes come, or is still undecided past its limit (1,047
/// bytes).
pub fn check_proposal(bytes: &[u8]) {
    use crate::handshake::peek::{proposal, Peeked, MAX_PEEK};

    let full = proposal(bytes);
    if let Peeked::Proposal(name) = full {
        let range = bytes.as_ptr_range();
        assert!(range.contains(&name.as_ptr()) || name.is_empty());
        assert!(name.len() < MAX_PEEK);
    }
    if bytes.len() >= MAX_PEEK {
        assert_ne!(full, Peeked::Incomplete, "undecided past the limit");
    }
    for cut in 0..=bytes.len() {
        let early = proposal(&bytes[..cut]);
        if early != Peeked::Incomplete {
            assert_eq!(early, full, "decided at {cut} bytes, then changed");
            break;
        }
    }
}

/// Runs the registry through the scenario `data` describes, against a
/// model of peers and their runs; panics if an invariant breaks.
///
/// The bytes are operations on up to four peers: a peer restarts (a new
/// run, a new incarnation); a run connects; a connection announces its
/// run's incarnation (only the newest run of its peer can, being the one
/// alive, or an older run the registry already saw replaced: two live runs
/// sharing one key); a connection refuses the exchange; a connection closes.
/// After each operation:
///
/// - no connection of a peer's newest run is stale;
/// - every connection that announced an older run than one the registry
///   saw is stale, and the peer's current incarnation is its newest run's
///   once that run announced;
/// - the registry's count of stale connections is its records'.
pub fn check_registry(data: &[u8]) {
    use std::time::{Duration, Instant};

    use libp2p_identity::PeerId;
    use libp2p_swarm::ConnectionId;

    use crate::registry::{Registry, Status};

    struct Model {
        peer: usize,
        run: usize,
        announced: bool,
        open: bool,
    }

    let t0 = Instant::now();
    let max_retired = 1 + usize::from(data.first().copied().unwrap_or(0) % 4);
    let mut registry = Registry::new(max_retired);
    let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
    // Each peer's runs' incarnations; the last is the run alive.
    let mut runs: Vec<Vec<Incarnation>> = (0..4).map(|_| vec![Incarnation::random()]).collect();
    // The runs of each peer the registry was told of, in the order each
    // became current; the registry forgets them with the peer's last connection.
    let mut history: Vec<Vec<usize>> = vec![Vec::new(); 4];
    let mut connections: Vec<Model> = Vec::new();

    for (step, pair) in data.get(1..).unwrap_or(&[]).chunks(2).enumerate() {
        let (op, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let now = t0 + Duration::from_millis(step as u64);
        match op % 5 {
            0 => runs[usize::from(arg) % 4].push(Incarnation::random()),
            1 => {
                let peer = usize::from(arg) % 4;
                let id = ConnectionId::new_unchecked(connections.len());
                registry.on_established(peers[peer], id, now);
                connections.push(Model {
                    peer,
                    run: runs[peer].len() - 1,
                    announced: false,
                    open: true,
                });
            }
            2 | 3 if !connections.is_empty() => {
                let index = usize::from(arg) % connections.len();
                let c = &mut connections[index];
                let newest = runs[c.peer].len() - 1;
                // A dead run announces nothing; one the registry saw
                // replaced (and still remembers) may: it shares the key with
                // a live one.
                let seen = &history[c.peer];
                let retired =
                    &seen[seen.len().saturating_sub(max_retired + 1)..seen.len().saturating_sub(1)];
                let alive = c.run == newest || retired.contains(&c.run);
                if !c.open || c.announced || !alive {
                    continue;
                }
                let id = ConnectionId::new_unchecked(index);
                if op % 5 == 3 {
                    registry.on_unsupported(id);
                    continue;
                }
                c.announced = true;
                registry.on_incarnation(id, runs[c.peer][c.run], now);
                if history[c.peer].last().is_none_or(|s| *s < c.run) {
                    history[c.peer].push(c.run);
                }
            }
            4 if !connections.is_empty() => {
                let index = usize::from(arg) % connections.len();
                connections[index].open = false;
                registry.on_closed(ConnectionId::new_unchecked(index));
                let peer = connections[index].peer;
                if !connections.iter().any(|c| c.open && c.peer == peer) {
                    history[peer].clear();
                }
            }
            _ => {}
        }

        let mut stale = 0;
        for (index, c) in connections.iter().enumerate() {
            let Some(info) = registry.info(ConnectionId::new_unchecked(index)) else {
                assert!(!c.open, "connection {index} open and unknown");
                continue;
            };
            assert!(c.open, "connection {index} closed and still known");
            let newest = runs[c.peer].len() - 1;
            if info.status == Status::Stale {
                stale += 1;
                assert!(
                    c.run < newest,
                    "step {step}: connection {index} of peer {}'s newest run is stale",
                    c.peer
                );
            }
            if c.announced && history[c.peer].last().is_some_and(|s| c.run < *s) {
                assert_eq!(
                    info.status,
                    Status::Stale,
                    "step {step}: connection {index} of a replaced run is not stale"
                );
            }
        }
        for (peer, seen) in history.iter().enumerate() {
            if let Some(run) = seen.last() {
                assert_eq!(
                    registry.incarnation_of(&peers[peer]).map(|(i, _)| i),
                    Some(runs[peer][*run]),
                    "step {step}: peer {peer}'s current incarnation"
                );
            }
        }
        assert_eq!(registry.stale_count(), stale, "step {step}");
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::SmallRng, RngExt, SeedableRng};

    #[test]
    fn the_registry_holds_to_the_model_on_random_scenarios() {
        let mut rng = SmallRng::seed_from_u64(13);
        for _ in 0..2000 {
            let len = rng.random_range(0..120);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            super::check_registry(&data);
        }
    }
}
