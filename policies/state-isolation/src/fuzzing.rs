//! The incarnation message's codec, for the fuzz targets in `fuzz/`. Not
//! part of the API: it exists only with the `fuzzing` feature.

use crate::{protocol, ExchangeError, Incarnation};

/// Decodes what a remote wrote on an incarnation stream, to the id.
pub fn decode(bytes: &[u8]) -> Result<u128, ExchangeError> {
    protocol::decode(bytes).map(Incarnation::as_u128)
}

/// The message announcing `id`; `None` for zero, which no incarnation has.
pub fn encode(id: u128) -> Option<Vec<u8>> {
    Incarnation::from_u128(id).map(|incarnation| protocol::encode(incarnation).to_vec())
}
