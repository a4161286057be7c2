//! Replication of spaces between two devices over one connection.

pub mod proto;
