//! Control plane of the VPC router.
//!
//! Layers, each usable alone: [`model`] (plain data) -> [`validate`] (the
//! cloud's rules, with its error codes) -> [`compile`] (pure: model -> map
//! entries) -> [`apply`] (namespaces and veths through [`netns`], maps and
//! XDP attachments through [`datapath`]). [`lab`] reads the declarative lab
//! file; [`stats`] reads and prints the counters.
pub mod api;
pub mod apply;
pub mod client;
pub mod compile;
pub mod daemon;
pub mod datapath;
pub mod direct;
pub mod ebpf_log;
pub mod lab;
pub mod metrics;
pub mod model;
pub mod netns;
pub mod policy;
pub mod service;
pub mod stats;
pub mod table;
pub mod store;
pub mod sweep;
#[cfg(test)]
mod test_fixtures;
pub mod topology;
pub mod validate;
