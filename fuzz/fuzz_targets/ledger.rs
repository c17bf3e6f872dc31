//! stream-quota's ledger against a model that lists the open streams: every
//! scope's count equals the model's, none exceeds its limit, and every
//! refusal names a scope that is full, over any sequence of connections,
//! opens, negotiations and closes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stream_quota::fuzzing::check_ledger;

fuzz_target!(|data: &[u8]| check_ledger(data));
