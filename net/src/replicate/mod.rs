//! Replication of spaces between two devices over one connection.

pub mod compress;
pub mod driver;
pub mod framing;
pub mod proto;
