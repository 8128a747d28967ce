//! Proxy: an application hop that accepts a request and re-originates it from
//! its own address, if the destination is allowed.

use std::net::IpAddr;

use crate::model::{Proxy, ProxyAllow, ProxyMode};

#[derive(Debug, Clone)]
pub enum ProxyDecision<'p> {
    /// Allowed by this entry of the allow list.
    Allowed(&'p ProxyAllow),
    /// A reverse proxy always sends to its upstream.
    Upstream,
    /// No entry allows this destination.
    Denied,
}

pub fn decide(proxy: &Proxy, dst: IpAddr, port: u16) -> ProxyDecision<'_> {
    match &proxy.mode {
        ProxyMode::Reverse { .. } => ProxyDecision::Upstream,
        ProxyMode::Forward { allow } => allow
            .iter()
            .find(|a| a.dst.contains(dst) && a.ports.contains(port))
            .map(ProxyDecision::Allowed)
            .unwrap_or(ProxyDecision::Denied),
    }
}
