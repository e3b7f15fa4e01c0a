//! Streaming readers for public cluster traces. See README.md in this crate.
