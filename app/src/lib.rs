//! The `dxos` app as a library (the binary is `main.rs`): the Client over a profile, the owner
//! of a profile and its socket, the command line, invitations and QR codes, and the desktop
//! app's plugins and surfaces. Benchmarks and tests drive the same code the binary runs.

pub mod camera;
pub mod cli;
pub mod client;
pub mod invite;
pub mod net;
pub mod owner;
pub mod profile;
pub mod qr;
pub mod request;
pub mod ui;
