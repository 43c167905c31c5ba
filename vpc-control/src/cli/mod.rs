//! The command line's side: a client of the daemon's Unix socket, the
//! declarative lab file driven through the API, tables for people.
pub mod client;
pub mod lab;
pub mod monitor;
pub mod table;
