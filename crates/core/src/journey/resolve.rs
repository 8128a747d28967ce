//! Resolve: a name becomes addresses in the view the asker gets (split horizon).

use std::net::IpAddr;

use crate::model::{DnsRecord, DnsView, RecordData};

/// The longest CNAME chain followed before giving up, as resolvers do.
const MAX_CHAIN: usize = 8;

#[derive(Debug, Clone)]
pub enum Resolution<'s> {
    /// The records followed (CNAMEs first, then the address records) and the addresses found.
    Found {
        chain: Vec<&'s DnsRecord>,
        addrs: Vec<IpAddr>,
    },
    /// The name (or a CNAME target) has no record in the view.
    NxDomain {
        name: String,
        chain: Vec<&'s DnsRecord>,
    },
    /// The name exists but has no address of the wanted family.
    NoData {
        name: String,
        chain: Vec<&'s DnsRecord>,
    },
    /// CNAMEs go round in a circle or run too long.
    Loop { chain: Vec<&'s DnsRecord> },
}

/// Looks `name` up in `view`, following CNAMEs. `v6` asks for AAAA records.
pub fn resolve<'s>(view: &'s DnsView, name: &str, v6: bool) -> Resolution<'s> {
    let mut chain = Vec::new();
    let mut current = name.trim_end_matches('.').to_ascii_lowercase();
    for _ in 0..=MAX_CHAIN {
        let records: Vec<&DnsRecord> = view.records.iter().filter(|r| r.name == current).collect();
        if records.is_empty() {
            return Resolution::NxDomain {
                name: current,
                chain,
            };
        }
        if let Some(c) = records
            .iter()
            .find(|r| matches!(r.data, RecordData::Cname { .. }))
        {
            chain.push(*c);
            let RecordData::Cname { target } = &c.data else {
                unreachable!()
            };
            current = target.clone();
            continue;
        }
        let wanted: Vec<&DnsRecord> = records
            .into_iter()
            .filter(|r| match r.data {
                RecordData::A { .. } => !v6,
                RecordData::Aaaa { .. } => v6,
                RecordData::Cname { .. } => false,
            })
            .collect();
        if wanted.is_empty() {
            return Resolution::NoData {
                name: current,
                chain,
            };
        }
        let addrs = wanted
            .iter()
            .filter_map(|r| match r.data {
                RecordData::A { address } | RecordData::Aaaa { address } => Some(address),
                RecordData::Cname { .. } => None,
            })
            .collect();
        chain.extend(wanted);
        return Resolution::Found { chain, addrs };
    }
    Resolution::Loop { chain }
}
