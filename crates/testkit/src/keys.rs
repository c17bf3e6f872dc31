//! Identities that survive a restart.

use libp2p::identity::Keypair;

/// The ed25519 identity derived from `seed`: the same seed gives the same peer
/// id in every process, so a restarted child node keeps its identity.
pub fn keypair_from_seed(seed: u64) -> Keypair {
    let mut secret = [0u8; 32];
    for chunk in secret.chunks_exact_mut(8) {
        chunk.copy_from_slice(&seed.to_be_bytes());
    }
    Keypair::ed25519_from_bytes(secret).expect("32 bytes make an ed25519 secret")
}
