//! Cross-crate and black-box tests for DXOS live in `tests/`.
