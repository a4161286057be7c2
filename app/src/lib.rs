//! The `dxos` app as a library (the binary is `main.rs`): the command line (`cli/`) and the
//! desktop app (`ui/`), side by side above the client (`dxos-client`), which is their one way
//! into a profile; and invitations' QR codes and the camera that reads them. Benchmarks and
//! tests drive the same code the binary runs.

pub mod camera;
pub mod cli;
pub mod qr;
pub mod ui;
