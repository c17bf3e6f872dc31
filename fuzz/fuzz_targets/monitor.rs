//! conn-prune's decision core and its probers against a model: peers that
//! answer are never pruned, dead ones are within the detection bound, and
//! the core's counts agree with its records (`conn_prune::fuzzing::check`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| conn_prune::fuzzing::check(data));
