//! Benchmarks behind `ideogram4-tui bench`: the DiT's guided step against sgemm
//! ([`dit`]) and the full-size model's memory with random weights ([`memory`]).
//!
//! They build models from [`crate::synthetic`] weights and drive [`crate::pipeline`]; nothing
//! in the inference path depends on them.

pub mod dit;
pub mod memory;
