//! The benchmark suite behind `mesosim bench`. See README.md in this crate.
pub mod allocator;
pub mod engine;
pub mod gate;
pub mod network;
pub mod replay;
pub mod timing;
pub mod traces;
pub mod usage;
