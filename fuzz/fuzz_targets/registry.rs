//! state-isolation's registry against a model of peers and their runs: no
//! connection of a peer's newest run is ever stale, every connection of a
//! replaced run is, and the stale count agrees with the records
//! (`state_isolation::fuzzing::check_registry`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| state_isolation::fuzzing::check_registry(data));
