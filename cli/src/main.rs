//! The `mesosim` command-line interface.
fn main() {}
