//! Address and port sets as filters, NAT rules and proxies match them.

use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

use super::{HostId, NetworkId};

/// One term of an address match, as the scenario wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum AddrTerm {
    Any,
    Network(NetworkId),
    Host(HostId),
    Prefix(IpNet),
}

/// A prefix, less the more specific prefixes that belong to someone else
/// (a catch-all network such as the internet does not own 10.0.1.0/24 when
/// `dmz` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrPart {
    pub prefix: IpNet,
    pub minus: Arc<Vec<IpNet>>,
}

impl AddrPart {
    pub fn whole(prefix: IpNet) -> Self {
        AddrPart {
            prefix,
            minus: Arc::new(Vec::new()),
        }
    }
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.prefix.contains(&addr) && !self.minus.iter().any(|m| m.contains(&addr))
    }
}

/// A set of addresses: the union of its parts, or everything when it has no
/// terms; `negated` flips the answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddrSet {
    pub terms: Vec<AddrTerm>,
    pub parts: Vec<AddrPart>,
    pub negated: bool,
    /// The set as the scenario spelt it (`dmz,app`, `not 10.0.0.0/8`).
    pub text: String,
}

impl AddrSet {
    pub fn any() -> Self {
        AddrSet::default()
    }
    pub fn is_any(&self) -> bool {
        !self.negated && (self.terms.is_empty() || self.terms.contains(&AddrTerm::Any))
    }
    /// Every address of one family (`0.0.0.0/0` or `::/0`, as a rule flattened from
    /// a rule set says "any source" of its family).
    pub fn is_whole_family(&self) -> bool {
        !self.negated
            && self.parts.len() == 1
            && self.parts[0].prefix.prefix_len() == 0
            && self.parts[0].minus.is_empty()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        if self.is_any() {
            return true;
        }
        let inside = self.parts.iter().any(|p| p.contains(addr));
        inside != self.negated
    }
}

/// Inclusive port ranges, sorted and merged; empty means any port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PortSet(pub Vec<(u16, u16)>);

impl PortSet {
    pub fn any() -> Self {
        PortSet(Vec::new())
    }
    pub fn single(port: u16) -> Self {
        PortSet(vec![(port, port)])
    }
    pub fn from_ranges(mut ranges: Vec<(u16, u16)>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        if merged == [(0, u16::MAX)] {
            merged.clear();
        }
        PortSet(merged)
    }
    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }
    pub fn contains(&self, port: u16) -> bool {
        self.is_any() || self.0.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_sets_merge_and_match() {
        let p = PortSet::from_ranges(vec![(80, 80), (81, 90), (443, 443), (85, 86)]);
        assert_eq!(p.0, vec![(80, 90), (443, 443)]);
        assert!(p.contains(85) && p.contains(443) && !p.contains(91));
        assert!(PortSet::from_ranges(vec![(0, 65535)]).is_any());
        assert_eq!(p.text(), "80-90,443");
    }

    #[test]
    fn catch_all_parts_exclude_specific_networks() {
        let part = AddrPart {
            prefix: "0.0.0.0/0".parse().unwrap(),
            minus: Arc::new(vec!["10.0.0.0/8".parse().unwrap()]),
        };
        assert!(part.contains("203.0.113.9".parse().unwrap()));
        assert!(!part.contains("10.1.2.3".parse().unwrap()));
    }
}
