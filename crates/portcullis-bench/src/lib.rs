//! In-process criterion benchmarks of the whole portcullis stack (`benches/stack.rs`):
//! `cargo bench -p portcullis-bench`. The library itself is empty; see `BENCHMARKS.md`.
#![forbid(unsafe_code)]
