//! The real lab: compiles a pathproof scenario to Linux network namespaces,
//! veth pairs, bridges, addresses, routes, sysctls and nftables, runs real
//! services in it, probes every journey for real and sets the kernel's answer
//! beside the model's. See docs/lab.md.

pub mod dns;
pub mod filterdiff;
pub mod ktrace;
pub mod nftdiff;

pub mod lab;
pub mod martian;
pub mod names;
pub mod netns;
pub mod nft;
pub mod plan;
pub mod probe;
pub mod report;
pub mod services;
pub mod tls;

pub use lab::{down, up, LabSpec, SupervisorCmd};
