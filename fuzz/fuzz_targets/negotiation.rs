//! stream-quota's multistream-select reader, either role, on any bytes in
//! any interleaving of the two sides: it never panics, never agrees on an
//! empty or oversized protocol, and settles the same whether the bytes come
//! in the chunks given or one at a time.
//!
//! Input: a role byte, then steps of [side-and-length byte][bytes]: the
//! low bit of that byte says written (1) or read (0), the rest the length.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stream_quota::fuzzing::{negotiate, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&role, mut rest)) = data.split_first() else {
        return;
    };
    let mut steps = Vec::new();
    while let Some((&head, tail)) = rest.split_first() {
        let len = usize::from(head >> 1).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        steps.push(Step {
            written: head & 1 == 1,
            bytes,
        });
        rest = tail;
    }
    let listener = role & 1 == 1;
    let chunked = negotiate(listener, &steps);
    let bytewise: Vec<Step<'_>> = steps
        .iter()
        .flat_map(|step| {
            step.bytes.chunks(1).map(move |bytes| Step {
                written: step.written,
                bytes,
            })
        })
        .collect();
    assert_eq!(chunked, negotiate(listener, &bytewise));
});
