//! Deliver: the socket lookup on the destination host.

use std::net::IpAddr;

use crate::model::{Host, Proto, Socket};

#[derive(Debug, Clone)]
pub enum SocketLookup<'h> {
    Found(&'h Socket),
    /// Something listens on the port, but not on this address (for example 127.0.0.1 only).
    WrongAddress(&'h Socket),
    Nothing,
}

pub fn find_socket(host: &Host, proto: Proto, dst: IpAddr, port: u16) -> SocketLookup<'_> {
    // A socket bound to the exact address wins over a wildcard, as in Linux.
    let candidates: Vec<&Socket> = host
        .sockets
        .iter()
        .filter(|s| s.proto == proto && s.port == port)
        .collect();
    if let Some(s) = candidates
        .iter()
        .find(|s| !s.bind.is_unspecified() && s.accepts(dst))
    {
        return SocketLookup::Found(s);
    }
    if let Some(s) = candidates.iter().find(|s| s.accepts(dst)) {
        return SocketLookup::Found(s);
    }
    match candidates.first() {
        Some(s) => SocketLookup::WrongAddress(s),
        None => SocketLookup::Nothing,
    }
}
