//! state-isolation's handshake reads the protocol a remote's stream
//! proposes from its first bytes, without answering: any bytes give a
//! decision that more bytes never change, within its limit, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use state_isolation::fuzzing::check_proposal;

fuzz_target!(|data: &[u8]| check_proposal(data));
