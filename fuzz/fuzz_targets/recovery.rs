//! rebootstrap's recovery core, every bootstrap peer dead, against its dial
//! bound: dials in any window within `Config::max_dials_within`, whatever
//! health checks, failures and listen-address flaps come
//! (`rebootstrap::fuzzing::check`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rebootstrap::fuzzing::check(data));
