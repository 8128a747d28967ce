//! Filter: first match in an ordered rule list, then the default policy.
//! A stateful filter lets packets of a connection it already allowed through
//! before any rule is read, as `ct state established,related accept` does.

use crate::model::{Action, ConnState, Filter, MatchInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// The implicit first rule of a stateful filter.
    Established,
    /// Rule number `i` (0-based) in the filter.
    Rule(usize),
    /// No rule matched.
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterDecision {
    pub action: Action,
    pub by: Decider,
}

pub fn evaluate(filter: &Filter, p: &MatchInput) -> FilterDecision {
    if filter.stateful && matches!(p.state, ConnState::Established | ConnState::Related) {
        return FilterDecision {
            action: Action::Allow,
            by: Decider::Established,
        };
    }
    for (i, rule) in filter.rules.iter().enumerate() {
        if rule.matches.matches(p) {
            return FilterDecision {
                action: rule.action,
                by: Decider::Rule(i),
            };
        }
    }
    FilterDecision {
        action: filter.default,
        by: Decider::Default,
    }
}

/// A filter's rules indexed by the addresses they match, for tracing many
/// packets through one scenario (`diff` traces an example per change): the
/// rules whose source and whose destination can hold a packet's addresses
/// are found with two binary searches and a bitwise and, then read in order
/// with [`crate::model::Match::matches`] as [`evaluate`] reads every rule.
/// The first that matches is the one `evaluate` finds, since a rule left
/// out cannot hold the packet's source or destination.
pub struct FilterIndex<'s> {
    scn: &'s crate::model::Scenario,
    filters: Vec<std::sync::OnceLock<Option<Classifier>>>,
    /// Filters with fewer rules are read rule by rule.
    min_rules: usize,
}

/// Filters with fewer rules are read rule by rule (by default).
const INDEX_MIN_RULES: usize = 32;
/// An index larger than this many words per dimension is not built.
const INDEX_MAX_WORDS: usize = 1 << 23;

/// One dimension (source or destination) of one family: where its
/// elementary intervals start, and per interval the rules that hold it.
struct Dim {
    starts: Vec<u128>,
    bits: Vec<u64>,
}

impl Dim {
    fn new(sets: &[Vec<(u128, u128)>], words: usize) -> Option<Dim> {
        let mut starts: Vec<u128> = vec![0];
        for set in sets {
            for &(lo, hi) in set {
                starts.push(lo);
                if let Some(next) = hi.checked_add(1) {
                    starts.push(next);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        if starts.len().checked_mul(words)? > INDEX_MAX_WORDS {
            return None;
        }
        let mut bits = vec![0u64; starts.len() * words];
        for (r, set) in sets.iter().enumerate() {
            for &(lo, hi) in set {
                let a = starts.partition_point(|&s| s < lo);
                let b = starts.partition_point(|&s| s <= hi);
                for i in a..b {
                    bits[i * words + r / 64] |= 1 << (r % 64);
                }
            }
        }
        Some(Dim { starts, bits })
    }

    fn row(&self, x: u128, words: usize) -> &[u64] {
        let i = self.starts.partition_point(|&s| s <= x) - 1;
        &self.bits[i * words..(i + 1) * words]
    }
}

/// Per family (IPv4, IPv6): the source and destination dimensions, each
/// family built when a packet of it first meets the filter (the IPv4
/// traces of a large audit never build the IPv6 dimensions), `None` when
/// it would be too large.
struct Classifier {
    words: usize,
    fams: [std::sync::OnceLock<Option<(Dim, Dim)>>; 2],
}

impl Classifier {
    fn new(f: &Filter) -> Classifier {
        Classifier {
            words: f.rules.len().div_ceil(64),
            fams: Default::default(),
        }
    }

    fn dims(&self, f: &Filter, fam: crate::analysis::space::Fam) -> Option<&(Dim, Dim)> {
        use crate::analysis::space::{addrset_intervals, Fam};
        self.fams[usize::from(fam == Fam::V6)]
            .get_or_init(|| {
                let src: Vec<_> = f
                    .rules
                    .iter()
                    .map(|r| addrset_intervals(&r.matches.src, fam))
                    .collect();
                let dst: Vec<_> = f
                    .rules
                    .iter()
                    .map(|r| addrset_intervals(&r.matches.dst, fam))
                    .collect();
                Some((Dim::new(&src, self.words)?, Dim::new(&dst, self.words)?))
            })
            .as_ref()
    }

    /// The first rule of `f` that matches `p`, if any; `None` when `p`'s
    /// family is not indexed.
    fn first(&self, f: &Filter, p: &MatchInput) -> Option<Option<usize>> {
        use crate::analysis::space::{addr_u128, Fam};
        if Fam::of(p.dst) != Fam::of(p.src) {
            return Some(f.rules.iter().position(|r| r.matches.matches(p)));
        }
        let (src, dst) = self.dims(f, Fam::of(p.src))?;
        let s = src.row(addr_u128(p.src), self.words);
        let d = dst.row(addr_u128(p.dst), self.words);
        for (w, (a, b)) in s.iter().zip(d).enumerate() {
            let mut m = a & b;
            while m != 0 {
                let r = w * 64 + m.trailing_zeros() as usize;
                if f.rules[r].matches.matches(p) {
                    return Some(Some(r));
                }
                m &= m - 1;
            }
        }
        Some(None)
    }
}

impl<'s> FilterIndex<'s> {
    /// An index of `scn`'s filters, each built when a packet first meets it.
    pub fn new(scn: &'s crate::model::Scenario) -> Self {
        FilterIndex {
            scn,
            filters: scn.filters.iter().map(|_| Default::default()).collect(),
            min_rules: INDEX_MIN_RULES,
        }
    }

    /// An index of every filter with a rule (tests: short filters too).
    #[cfg(test)]
    fn every(scn: &'s crate::model::Scenario) -> Self {
        FilterIndex {
            min_rules: 1,
            ..FilterIndex::new(scn)
        }
    }

    /// Whether this is the index of `scn`.
    pub fn of(&self, scn: &crate::model::Scenario) -> bool {
        std::ptr::eq(self.scn, scn)
    }

    /// [`evaluate`] for the filter `fid` of the scenario.
    pub fn evaluate(&self, fid: crate::model::FilterId, p: &MatchInput) -> FilterDecision {
        let f = self.scn.filter(fid);
        let Some(slot) = self.filters.get(fid.index()) else {
            return evaluate(f, p);
        };
        let index =
            slot.get_or_init(|| (f.rules.len() >= self.min_rules).then(|| Classifier::new(f)));
        let Some(index) = index else {
            return evaluate(f, p);
        };
        if f.stateful && matches!(p.state, ConnState::Established | ConnState::Related) {
            return FilterDecision {
                action: Action::Allow,
                by: Decider::Established,
            };
        }
        let Some(first) = index.first(f, p) else {
            return evaluate(f, p);
        };
        match first {
            Some(i) => FilterDecision {
                action: f.rules[i].action,
                by: Decider::Rule(i),
            },
            None => FilterDecision {
                action: f.default,
                by: Decider::Default,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::space::{addr_u128, addrset_intervals, Fam};
    use crate::model::{FilterId, Proto, Scenario};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn addr(fam: Fam, x: u128) -> IpAddr {
        match fam {
            Fam::V4 => IpAddr::V4(Ipv4Addr::from(x as u32)),
            Fam::V6 => IpAddr::V6(Ipv6Addr::from(x)),
        }
    }

    /// Addresses at and beside every edge of `fid`'s rules' address sets,
    /// and the scenario's own addresses.
    fn edges(scn: &Scenario, f: &Filter, fam: Fam) -> Vec<u128> {
        let mut out = vec![0, fam.max()];
        for r in &f.rules {
            for set in [&r.matches.src, &r.matches.dst] {
                for (lo, hi) in addrset_intervals(set, fam) {
                    out.extend([
                        lo,
                        hi,
                        lo.saturating_sub(1),
                        hi.saturating_add(1).min(fam.max()),
                    ]);
                }
            }
        }
        for h in &scn.hosts {
            for i in &h.interfaces {
                out.extend(
                    i.addrs
                        .iter()
                        .filter(|a| Fam::of(**a) == fam)
                        .map(|a| addr_u128(*a)),
                );
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The index finds the rule reading every rule finds, for packets at
    /// every edge of the rules' address sets, on generated scenarios and
    /// their variants (with every filter indexed, short ones too).
    #[test]
    fn the_index_finds_the_first_rule_that_matches() {
        let mut texts: Vec<(String, Vec<&str>)> = (0..6)
            .map(|seed| (crate::synth::small(seed), vec!["break", "harden"]))
            .collect();
        texts.push((
            crate::synth::large(&crate::synth::SynthParams::sized(3, 60)),
            vec!["break"],
        ));
        let mut checked = 0usize;
        for (text, variants) in &texts {
            let mut scns = vec![crate::load("synth.yaml", text, None).expect("generated")];
            for v in variants {
                scns.push(crate::load("synth.yaml", text, Some(v)).expect("variant"));
            }
            for scn in &scns {
                let index = FilterIndex::every(scn);
                for (fi, f) in scn.filters.iter().enumerate() {
                    let fid = FilterId(fi as u32);
                    for fam in [Fam::V4, Fam::V6] {
                        let e = edges(scn, f, fam);
                        // Every edge as source with a few as destination, and the reverse.
                        let step = (e.len() / 24).max(1);
                        let few: Vec<u128> = e.iter().copied().step_by(step).collect();
                        let pairs = e
                            .iter()
                            .flat_map(|&a| few.iter().map(move |&b| (a, b)))
                            .chain(few.iter().flat_map(|&a| e.iter().map(move |&b| (a, b))));
                        for (s, d) in pairs {
                            for (proto, dport) in [
                                (Proto::Tcp, 22),
                                (Proto::Udp, 53),
                                (Proto::Tcp, 8080),
                                (Proto::Icmp, 0),
                            ] {
                                for state in [ConnState::New, ConnState::Established] {
                                    let p = MatchInput {
                                        proto,
                                        src: addr(fam, s),
                                        dst: addr(fam, d),
                                        sport: 49152,
                                        dport,
                                        in_iface: None,
                                        out_iface: None,
                                        state,
                                    };
                                    assert_eq!(
                                        index.evaluate(fid, &p),
                                        evaluate(f, &p),
                                        "filter {} packet {p:?}",
                                        f.name
                                    );
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked} packets checked");
    }
}
