//! Cross-crate and black-box tests for DXOS live in `tests/`. The library holds the bodies of
//! the fuzz targets ([`fuzz`]): `fuzz/` runs them under libFuzzer, and `cargo test` replays
//! the corpus kept in `fuzz/corpus/` through them.

pub mod fuzz;
