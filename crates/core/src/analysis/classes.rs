//! What `audit` and `diff` share to work on the compact answer ([`Reach`]'s
//! classes) without expanding it to (source, socket) pairs: the sockets
//! grouped by the classes that reach them, one member's part of a class,
//! and names for a group of sources.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::*;

use super::reach::{at_source, source_name, Journey, Reach, Target};
use super::space::*;
use super::symbolic::{Engine, Source};

/// Sockets reached by the same classes: every socket of a row has the same
/// sources, but for itself (a host never reaches its own socket).
#[derive(Debug, Clone)]
pub struct Row {
    /// The classes (indices into [`Reach::journeys`]) that reach the row's
    /// sockets, ascending.
    pub journeys: Vec<usize>,
    /// Each socket, with its position among the targets of each of `journeys`.
    pub targets: Vec<(Target, Vec<usize>)>,
}

impl Row {
    /// Every source of the row's classes, sorted (the classes' members are
    /// disjoint: a pair is in one class).
    pub fn sources(&self, r: &Reach) -> Vec<Source> {
        let mut v: Vec<Source> = self
            .journeys
            .iter()
            .flat_map(|&ji| r.journeys[ji].members.iter().copied())
            .collect();
        v.sort_unstable();
        v
    }

    /// The class of the row that holds source `m`, and the position of the
    /// row's socket `t` (an index into `targets`) among its targets.
    pub fn class_of(&self, r: &Reach, m: Source, t: usize) -> Option<(usize, usize)> {
        self.journeys
            .iter()
            .position(|&ji| r.journeys[ji].members.binary_search(&m).is_ok())
            .map(|i| (self.journeys[i], self.targets[t].1[i]))
    }
}

/// The sockets of an answer grouped by the classes that reach them, in
/// socket order (of each row's first socket). Their size is the compact
/// answer's: every socket is listed once.
pub fn rows(r: &Reach) -> Vec<Row> {
    let mut by_target: BTreeMap<Target, Vec<(usize, usize)>> = BTreeMap::new();
    for (ji, j) in r.journeys.iter().enumerate() {
        for (k, t) in j.targets.iter().enumerate() {
            by_target.entry(*t).or_default().push((ji, k));
        }
    }
    let mut index: super::fasthash::FastMap<Vec<usize>, usize> = Default::default();
    let mut rows: Vec<Row> = Vec::new();
    for (t, mut v) in by_target {
        v.sort_unstable();
        let key: Vec<usize> = v.iter().map(|x| x.0).collect();
        let ks: Vec<usize> = v.iter().map(|x| x.1).collect();
        match index.get(&key) {
            Some(&i) => rows[i].targets.push((t, ks)),
            None => {
                index.insert(key.clone(), rows.len());
                rows.push(Row {
                    journeys: key,
                    targets: vec![(t, ks)],
                });
            }
        }
    }
    rows
}

/// A source's own addresses as whole boxes (every packet from them).
pub fn own_cubes(engine: &Engine, m: Source) -> Vec<Cube> {
    engine
        .own_addrs(engine.source_dev(m))
        .iter()
        .map(|&(fam, lo, hi)| Cube {
            src: (lo, hi),
            ..Cube::full(fam)
        })
        .collect()
}

/// The packets of `space` a member of a source class sends (from its own addresses).
pub fn member_space(engine: &Engine, m: Source, space: &Space) -> Space {
    space.split(&own_cubes(engine, m)).0
}

/// Per family (IPv4, IPv6), the own addresses of `members`, sorted and merged.
pub fn members_ranges(engine: &Engine, members: &[Source]) -> [Intervals; 2] {
    let mut v: [Intervals; 2] = Default::default();
    for &m in members {
        for &(fam, lo, hi) in engine.own_addrs(engine.source_dev(m)) {
            v[usize::from(fam == Fam::V6)].push((lo, hi));
        }
    }
    v.map(normalise)
}

/// The packets of `space` whose source is in `ranges` (per family, sorted
/// and merged): the part of a class's packets that some members send,
/// without splitting by each member.
pub fn restrict_sources(space: &Space, ranges: &[Intervals; 2]) -> Space {
    Space(restricted_pieces(space, ranges)).into_coalesced()
}

/// The boxes of [`restrict_sources`] before they are coalesced: each box
/// of `space` cut to each range it meets, in order.
pub fn restricted_pieces(space: &Space, ranges: &[Intervals; 2]) -> Vec<Cube> {
    let mut out = Vec::new();
    for c in &space.0 {
        let list = &ranges[usize::from(c.fam == Fam::V6)];
        let start = list.partition_point(|iv| iv.1 < c.src.0);
        for &(lo, hi) in &list[start..] {
            if lo > c.src.1 {
                break;
            }
            out.push(Cube {
                src: (lo.max(c.src.0), hi.min(c.src.1)),
                ..*c
            });
        }
    }
    out
}

/// Whether `space` has a packet from one of member `m`'s own addresses.
pub fn sends_any(engine: &Engine, m: Source, space: &Space) -> bool {
    let own = engine.own_addrs(engine.source_dev(m));
    space.0.iter().any(|c| {
        own.iter()
            .any(|&(fam, lo, hi)| fam == c.fam && lo <= c.src.1 && c.src.0 <= hi)
    })
}

/// The journey of one member of class `j` to its socket `targets[k]`: its
/// own packets, its steps at the source told at itself.
pub fn member_journey(
    scn: &Scenario,
    engine: &Engine,
    j: &Journey,
    m: Source,
    k: usize,
) -> Journey {
    let dev = engine.source_dev(m);
    let own = own_cubes(engine, m);
    let paths = j
        .paths_for(scn, k)
        .into_iter()
        .map(|(p, sp)| (at_source(&p, dev), sp.split(&own).0))
        .filter(|(_, sp)| !sp.is_empty())
        .collect();
    Journey {
        source: m,
        members: Arc::from([m]),
        targets: Arc::from([j.targets[k]]),
        paths,
    }
}

/// A group of sources in words: their names when they are few (as
/// [`super::name_list`]), else their number, what they are and the first
/// names: `5000 hosts of lan (h1, h10, h100, …)`.
pub fn sources_text(scn: &Scenario, sources: &[Source]) -> String {
    let names: Vec<String> = sources.iter().map(|&s| source_name(scn, s)).collect();
    names_text(scn, sources, names)
}

/// [`sources_text`] for names already made (sorted as they are to be shown).
pub fn names_text(scn: &Scenario, sources: &[Source], mut names: Vec<String>) -> String {
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted_names_text(scn, sources, &names)
}

/// [`names_text`] for names already sorted, each once.
pub fn sorted_names_text(scn: &Scenario, sources: &[Source], names: &[&str]) -> String {
    if names.len() <= 12 {
        return super::name_list(names.iter().copied());
    }
    let hosts: Vec<HostId> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Host(h) => Some(*h),
            Source::Network(_) => None,
        })
        .collect();
    let first = names[..3].join(", ");
    if hosts.len() == sources.len() {
        // A network every one of them is on, if any.
        let common = scn
            .host(hosts[0])
            .interfaces
            .iter()
            .map(|i| i.network)
            .find(|n| {
                hosts
                    .iter()
                    .all(|h| scn.host(*h).interfaces.iter().any(|i| i.network == *n))
            });
        if let Some(n) = common {
            return format!(
                "{} hosts of {} ({first}, …)",
                names.len(),
                scn.network(n).name
            );
        }
        return format!("{} hosts ({first}, …)", names.len());
    }
    format!("{} sources ({first}, …)", names.len())
}
