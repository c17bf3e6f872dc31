//! state-isolation's incarnation message: any bytes decode to an id or a
//! typed error without a panic, and what decodes is exactly the message
//! that id encodes to.

#![no_main]

use libfuzzer_sys::fuzz_target;
use state_isolation::fuzzing::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = decode(data) {
        assert_eq!(encode(id).as_deref(), Some(data));
    }
    if let Some(id) = data
        .get(..16)
        .map(|b| u128::from_le_bytes(b.try_into().unwrap()))
    {
        if let Some(message) = encode(id) {
            assert_eq!(decode(&message).ok(), Some(id));
        }
    }
});
