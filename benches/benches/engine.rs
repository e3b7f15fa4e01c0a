//! Criterion benchmarks of the event engine.
fn main() {}
