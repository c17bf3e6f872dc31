//! Placeholder: streams and bytes per second, wrapped against plain.
fn main() {}
