//! The `dxos` app as a library (the binary is `main.rs`): the command line (`cli/`) and the
//! desktop app (`ui/`), side by side above the client (`dxos-client`), which is their one way
//! into a profile; invitations' QR codes and the camera that reads them; and what living on a
//! desktop takes (`desktop/`: the menu entry, links, crash reports, the log). Benchmarks and
//! tests drive the same code the binary runs.

pub mod camera;
pub mod cli;
pub mod desktop;
pub mod qr;
pub mod ui;
