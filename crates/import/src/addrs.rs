//! Address sets as sorted, disjoint intervals per family: what a selector, an
//! ipBlock or a security group rule stands for, with the exact union,
//! intersection and difference the importers need before writing prefixes.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use pathproof_core::analysis::space::interval_and;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addrs {
    pub v4: Vec<(u128, u128)>,
    pub v6: Vec<(u128, u128)>,
}

const V4_MAX: u128 = u32::MAX as u128;

fn norm(mut v: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    v.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn minus(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    for &(lo, hi) in a {
        let mut cur = lo;
        let mut done = false;
        for &(blo, bhi) in b {
            if bhi < cur || blo > hi {
                continue;
            }
            if blo > cur {
                out.push((cur, blo - 1));
            }
            if bhi >= hi {
                done = true;
                break;
            }
            cur = bhi + 1;
        }
        if !done {
            out.push((cur, hi));
        }
    }
    out
}

/// The largest prefixes that exactly cover `lo..=hi` in a space of `bits` bits.
fn cover(mut lo: u128, hi: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        let mut len = bits;
        while len > 0 {
            let size_bits = bits - (len - 1);
            let mask = if size_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << size_bits) - 1
            };
            if lo & mask != 0 || lo.checked_add(mask).is_none_or(|end| end > hi) {
                break;
            }
            len -= 1;
        }
        out.push((lo, len as u8));
        let size_bits = bits - len;
        let last = if size_bits >= 128 {
            u128::MAX
        } else {
            lo + ((1u128 << size_bits) - 1)
        };
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

impl Addrs {
    pub fn all() -> Self {
        Addrs {
            v4: vec![(0, V4_MAX)],
            v6: vec![(0, u128::MAX)],
        }
    }
    pub fn net(n: IpNet) -> Self {
        match n.trunc() {
            IpNet::V4(n) => Addrs {
                v4: vec![(
                    u32::from(n.network()) as u128,
                    u32::from(n.broadcast()) as u128,
                )],
                v6: Vec::new(),
            },
            IpNet::V6(n) => Addrs {
                v4: Vec::new(),
                v6: vec![(u128::from(n.network()), u128::from(n.broadcast()))],
            },
        }
    }
    pub fn ips(addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for a in addrs {
            match a {
                IpAddr::V4(a) => v4.push((u32::from(a) as u128, u32::from(a) as u128)),
                IpAddr::V6(a) => v6.push((u128::from(a), u128::from(a))),
            }
        }
        Addrs {
            v4: norm(v4),
            v6: norm(v6),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
    pub fn is_all(&self) -> bool {
        self.v4 == [(0, V4_MAX)] && self.v6 == [(0, u128::MAX)]
    }
    pub fn union(&self, o: &Addrs) -> Addrs {
        Addrs {
            v4: norm(self.v4.iter().chain(&o.v4).copied().collect()),
            v6: norm(self.v6.iter().chain(&o.v6).copied().collect()),
        }
    }
    pub fn intersect(&self, o: &Addrs) -> Addrs {
        Addrs {
            v4: interval_and(&self.v4, &o.v4),
            v6: interval_and(&self.v6, &o.v6),
        }
    }
    pub fn minus(&self, o: &Addrs) -> Addrs {
        Addrs {
            v4: minus(&self.v4, &o.v4),
            v6: minus(&self.v6, &o.v6),
        }
    }
    pub fn contains(&self, a: IpAddr) -> bool {
        let (v, x) = match a {
            IpAddr::V4(a) => (&self.v4, u32::from(a) as u128),
            IpAddr::V6(a) => (&self.v6, u128::from(a)),
        };
        v.iter().any(|&(lo, hi)| lo <= x && x <= hi)
    }
    /// The intervals, each with its family, as (first, last) addresses.
    pub fn ranges(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        let v4 = self.v4.iter().map(|&(lo, hi)| {
            (
                IpAddr::V4(Ipv4Addr::from(lo as u32)),
                IpAddr::V4(Ipv4Addr::from(hi as u32)),
            )
        });
        let v6 = self.v6.iter().map(|&(lo, hi)| {
            (
                IpAddr::V6(Ipv6Addr::from(lo)),
                IpAddr::V6(Ipv6Addr::from(hi)),
            )
        });
        v4.chain(v6)
    }
    /// The fewest prefixes that cover the set exactly.
    pub fn prefixes(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.v4 {
            for (a, len) in cover(lo, hi, 32) {
                out.push(IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(a as u32), len).expect("prefix length fits"),
                ));
            }
        }
        for &(lo, hi) in &self.v6 {
            for (a, len) in cover(lo, hi, 128) {
                out.push(IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(a), len).expect("prefix length fits"),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Addrs {
        Addrs::net(s.parse().unwrap())
    }

    #[test]
    fn except_and_prefixes() {
        let a = n("10.0.0.0/24")
            .minus(&n("10.0.0.128/25"))
            .minus(&n("10.0.0.5/32"));
        let p: Vec<String> = a.prefixes().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            p,
            [
                "10.0.0.0/30",
                "10.0.0.4/32",
                "10.0.0.6/31",
                "10.0.0.8/29",
                "10.0.0.16/28",
                "10.0.0.32/27",
                "10.0.0.64/26"
            ]
        );
        assert!(Addrs::all().is_all());
        assert_eq!(
            Addrs::all()
                .prefixes()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
            ["0.0.0.0/0", "::/0"]
        );
        assert_eq!(
            n("10.0.0.0/8").intersect(&n("10.1.0.0/16")),
            n("10.1.0.0/16")
        );
        assert!(n("10.0.0.0/8").intersect(&n("11.0.0.0/8")).is_empty());
        assert_eq!(
            n("10.0.0.0/25").union(&n("10.0.0.128/25")),
            n("10.0.0.0/24")
        );
    }
}
