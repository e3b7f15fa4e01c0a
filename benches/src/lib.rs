//! The benchmark suite behind `mesosim bench`. See README.md in this crate.
