//! The `reach` table: the answer as a person reads it in a terminal. JSON and
//! CSV hold every journey; the table folds them three ways so that a large
//! scenario reads in blocks rather than as one line per source and socket:
//!
//! 1. **Both families on one line.** A source's IPv4 and IPv6 paths through
//!    the same rules to the same ports share a line (`to 10.0.0.10 fd00::10`).
//! 2. **Sources by network.** More than three hosts of one network on a line
//!    are counted, not named (`all 10 hosts on seg-4`, `all of seg-4` with
//!    its stand-in sender), and networks whose every source is on the line are
//!    listed together. A socket with more than [`FOLD_RULES_PAST`] lines
//!    also puts together lines that differ only in a rule number
//!    (`dist-1-fw rules 1039…1065 (14)`): each source network has its own
//!    rule, the line says which rules there are.
//! 3. **Alike sockets in one block.** Sockets of hosts on the same network,
//!    with the same protocol, port and application, whose lines read the same
//!    when each host's own address is written `own v4`, share a block.
//!
//! Every fold is exact: a line names (or counts) only sources that take those
//! rules to those ports, and a block holds only sockets whose lines are equal.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::model::*;

use super::fasthash::{FastMap, FastSet};
use super::name_list;
use super::reach::{
    interval_prefixes, path_via, source_name, summarise_with, Journey, Reach, ReachQuery,
};
use super::space::*;
use super::symbolic::Source;

/// Each network's own addresses, as the engine has them.
type Owned = std::collections::HashMap<NetworkId, Vec<(Fam, u128, u128)>>;

/// A socket with more lines than this puts lines that differ only in rule
/// numbers together.
pub const FOLD_RULES_PAST: usize = 8;

/// A path's rules, each with its number apart (see [`path_via`]).
type Via = Vec<(String, Option<u32>)>;

/// A socket's protocol, port and application: what alike sockets share.
type Kind<'a> = (Proto, u16, Option<&'a str>);

/// One family's destination on a line: `None` is the socket's own address(es)
/// in that family, otherwise the prefixes.
type Dst = (Fam, Option<String>);

/// A source on a line: a network's stand-in carries the prefixes it sends
/// from when it does not connect from all of its addresses.
type Who = (Source, Option<String>);

/// One line of a socket: sources that reach it through the same rules (or, folded,
/// the same rules but for their numbers) on the same ports and destinations.
struct Line {
    dsts: Vec<Dst>,
    ports: String,
    /// Each step's label and the rule numbers taken there (empty: no number).
    via: Vec<(String, BTreeSet<u32>)>,
    who: Vec<Who>,
}

/// What the table needs to know about hosts and networks.
struct Ctx<'a> {
    scn: &'a Scenario,
    /// Each host's network: that of its first interface.
    home: Vec<Option<NetworkId>>,
    /// Per network, the hosts whose network it is, in host order.
    homed: Vec<Vec<HostId>>,
}

impl<'a> Ctx<'a> {
    fn new(scn: &'a Scenario) -> Self {
        let mut homed = vec![Vec::new(); scn.networks.len()];
        let home: Vec<Option<NetworkId>> = scn
            .hosts
            .iter()
            .map(|h| h.interfaces.first().map(|i| i.network))
            .collect();
        for (h, n) in home.iter().enumerate() {
            if let Some(n) = n {
                homed[n.0 as usize].push(HostId(h as u32));
            }
        }
        Ctx { scn, home, homed }
    }

    /// The hosts whose network `n` is, in host order.
    fn homed(&self, n: NetworkId) -> &[HostId] {
        &self.homed[n.0 as usize]
    }

    fn home(&self, h: HostId) -> Option<NetworkId> {
        self.home[h.0 as usize]
    }
}

/// Whether the lines are written for one socket (its addresses spelt out)
/// or for a block of alike sockets (`own v4`).
#[derive(Clone, Copy, PartialEq)]
enum Form {
    One,
    Block,
}

/// Which table to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The sockets when at most [`AUTO_SOCKETS_UP_TO`] are reached, else the networks.
    #[default]
    Auto,
    /// A block per socket, or per alike sockets of one network.
    Sockets,
    /// A row per service on a network: which networks reach it, wholly or partly.
    Networks,
}

/// [`View::Auto`] writes the socket table up to this many sockets.
pub const AUTO_SOCKETS_UP_TO: usize = 100;

/// The table of `r`, a reach asked with `q` (whose `from` the network
/// view's shares are of).
pub fn render(scn: &Scenario, r: &Reach, q: &ReachQuery, view: View) -> String {
    // Whether at most `AUTO_SOCKETS_UP_TO` sockets are reached: counted
    // only until one more (a set of every socket reached was a tenth of a
    // second at 8,000 hosts, to learn that there are more than a hundred).
    let few_sockets = || {
        let mut seen: FastSet<(HostId, usize)> = FastSet::default();
        r.journeys.iter().flat_map(|j| j.targets.iter()).all(|t| {
            seen.insert((t.host, t.socket));
            seen.len() <= AUTO_SOCKETS_UP_TO
        })
    };
    // The socket table has a block per socket: it reads the journeys one
    // socket at a time. The network table counts pairs by class.
    match view {
        View::Sockets => sockets_table(scn, &r.to_per_target(scn)),
        View::Auto if few_sockets() => sockets_table(scn, &r.to_per_target(scn)),
        View::Networks | View::Auto => networks_table(scn, r, q),
    }
}

fn sockets_table(scn: &Scenario, r: &Reach) -> String {
    let engine_owned = super::reach::owned_by_source(scn);
    let ctx = Ctx::new(scn);

    // The journeys of each socket, in the answer's order.
    let mut order: Vec<(HostId, usize)> = Vec::new();
    let mut of_socket: FastMap<(HostId, usize), Vec<&Journey>> = FastMap::default();
    for j in &r.journeys {
        of_socket
            .entry((j.host(), j.socket()))
            .or_insert_with(|| {
                order.push((j.host(), j.socket()));
                Vec::new()
            })
            .push(j);
    }
    order.sort_unstable();
    // Each socket's lines, then the blocks of alike sockets in the order of
    // their first socket.
    let socket_lines: Vec<Vec<Line>> = order
        .iter()
        .map(|t| lines_of(&ctx, &engine_owned, *t, &of_socket[t]))
        .collect();
    let mut blocks: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    let mut block_of: FastMap<(Option<NetworkId>, Kind, Vec<String>), usize> = FastMap::default();
    for (i, (t, lines)) in order.iter().zip(&socket_lines).enumerate() {
        let s = &scn.host(t.0).sockets[t.1];
        let text: Vec<String> = lines
            .iter()
            .map(|l| line_text(&ctx, *t, l, Form::Block))
            .collect();
        let key = (ctx.home(t.0), (s.proto, s.port, s.app.as_deref()), text);
        match block_of.get(&key) {
            Some(&b) => blocks[b].1.push(i),
            None => {
                block_of.insert(key.clone(), blocks.len());
                blocks.push((key.2, vec![i]));
            }
        }
    }

    let mut out = summary_line(scn, r, order.len());
    if blocks.len() < order.len() {
        let _ = writeln!(
            out,
            "{} blocks: sockets alike on hosts of one network share one, \
             `own v4`/`own v6` being each host's own address",
            blocks.len()
        );
    }
    for (text, members) in &blocks {
        if let [i] = members[..] {
            let t = order[i];
            let _ = writeln!(out, "\n{}", socket_label(scn, t));
            for l in &socket_lines[i] {
                let _ = writeln!(out, "{}", line_text(&ctx, t, l, Form::One));
            }
        } else {
            let _ = writeln!(out, "\n{}", block_label(&ctx, &order, members));
            for l in text {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    out
}

fn socket_label(scn: &Scenario, (h, i): (HostId, usize)) -> String {
    let host = scn.host(h);
    let s = &host.sockets[i];
    format!("{} {}", host.name, socket_kind(s))
}

fn socket_kind(s: &Socket) -> String {
    let app = s
        .app
        .as_deref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    format!("{}/{}{app}", s.proto, s.port)
}

/// `a, b, … z (10 hosts on seg-0) tcp/443 (https)`.
fn block_label(ctx: &Ctx, order: &[(HostId, usize)], members: &[usize]) -> String {
    let scn = ctx.scn;
    let first = order[members[0]];
    let mut names: Vec<&str> = members
        .iter()
        .map(|&i| scn.host(order[i].0).name.as_str())
        .collect();
    // Two sockets of one kind on one host (bound to different addresses).
    let sockets = names.len();
    names.dedup();
    let count = if sockets == names.len() {
        format!("{} hosts", names.len())
    } else {
        format!("{sockets} sockets on {} hosts", names.len())
    };
    let on = ctx
        .home(first.0)
        .map(|n| format!(" on {}", scn.network(n).name))
        .unwrap_or_default();
    format!(
        "{} ({count}{on}) {}",
        name_list(names.iter().copied()),
        socket_kind(&scn.host(first.0).sockets[first.1])
    )
}

/// The socket's addresses in a family (those of its host that it accepts).
fn own_addresses(scn: &Scenario, (h, i): (HostId, usize), fam: Fam) -> Vec<(u128, u128)> {
    let s = &scn.host(h).sockets[i];
    normalise(
        scn.host(h)
            .interfaces
            .iter()
            .flat_map(|i| i.addrs.iter())
            .filter(|a| Fam::of(**a) == fam && s.accepts(**a))
            .map(|a| (addr_u128(*a), addr_u128(*a)))
            .collect(),
    )
}

/// A space's destinations in one family (none when it has no packet of it):
/// `None` for exactly the socket's own addresses `own`, otherwise the prefixes.
fn family_dst(space: &Space, fam: Fam, own: &[(u128, u128)]) -> Option<Dst> {
    let d = super::reach::fam_ranges(space, fam, |c| c.dst);
    if d.is_empty() {
        None
    } else if d == own {
        Some((fam, None))
    } else {
        Some((fam, Some(prefix_text(fam, &d))))
    }
}

/// Intervals as prefixes, space-separated.
fn prefix_text(fam: Fam, intervals: &[(u128, u128)]) -> String {
    let v: Vec<String> = intervals
        .iter()
        .flat_map(|&(lo, hi)| interval_prefixes(fam, lo, hi))
        .collect();
    v.join(" ")
}

/// A socket's lines: its journeys' paths, each source's families put
/// together, then sources with equal destinations, ports and rules.
fn lines_of(
    ctx: &Ctx,
    engine_owned: &Owned,
    t: (HostId, usize),
    journeys: &[&Journey],
) -> Vec<Line> {
    let scn = ctx.scn;
    let own: [Vec<(u128, u128)>; 2] = [
        own_addresses(scn, t, Fam::V4),
        own_addresses(scn, t, Fam::V6),
    ];
    // (rules with their numbers, ports), interned.
    let mut rests: Vec<(Via, String)> = Vec::new();
    let mut rest_id: FastMap<(Via, String), usize> = FastMap::default();
    // Per (source, rest): the destinations, in order of first appearance.
    let mut rows: Vec<(Who, usize, BTreeSet<Dst>)> = Vec::new();
    let mut row_of: FastMap<(Who, usize), usize> = FastMap::default();
    for j in journeys {
        for (path, space) in &j.paths {
            let mut fams: Vec<Fam> = space.0.iter().map(|c| c.fam).collect();
            fams.sort_unstable();
            fams.dedup();
            let full = match j.source {
                Source::Network(n) => super::reach::full_source_space(
                    engine_owned.get(&n).map(Vec::as_slice).unwrap_or(&[]),
                    &super::reach::rp_exempt(ctx.scn, n),
                    space,
                    &fams,
                ),
                Source::Host(_) => true,
            };
            let sum = summarise_with(space, !full);
            let partial = (!full).then(|| {
                let n = sum.sources.len();
                let shown: Vec<&str> = sum.sources.iter().take(2).map(String::as_str).collect();
                format!(
                    "from {}{}",
                    shown.join(" "),
                    if n > 2 {
                        format!(" (+{} prefixes)", n - 2)
                    } else {
                        String::new()
                    }
                )
            });
            let dsts: Vec<Dst> = fams
                .iter()
                .filter_map(|&fam| family_dst(space, fam, &own[(fam == Fam::V6) as usize]))
                .collect();
            let rest = (path_via(scn, path), sum.ports.join(","));
            let r = match rest_id.get(&rest) {
                Some(&r) => r,
                None => {
                    rest_id.insert(rest.clone(), rests.len());
                    rests.push(rest);
                    rests.len() - 1
                }
            };
            let members: &[Source] = match j.source {
                Source::Network(_) => std::slice::from_ref(&j.source),
                Source::Host(_) => &j.members,
            };
            for &m in members {
                let key = ((m, partial.clone()), r);
                let i = *row_of.entry(key.clone()).or_insert_with(|| {
                    rows.push((key.0, r, BTreeSet::new()));
                    rows.len() - 1
                });
                rows[i].2.extend(dsts.iter().cloned());
            }
        }
    }

    // Sources with the same destinations, ports and rules.
    let mut lines: Vec<(Vec<Dst>, usize, Vec<Who>)> = Vec::new();
    let mut line_of: FastMap<(Vec<Dst>, usize), usize> = FastMap::default();
    for (who, r, dsts) in rows {
        let key = (dsts.into_iter().collect::<Vec<_>>(), r);
        match line_of.get(&key) {
            Some(&i) => lines[i].2.push(who),
            None => {
                line_of.insert(key.clone(), lines.len());
                lines.push((key.0, key.1, vec![who]));
            }
        }
    }
    let one = |(dsts, r, who): (Vec<Dst>, usize, Vec<Who>)| Line {
        dsts,
        ports: rests[r].1.clone(),
        via: rests[r]
            .0
            .iter()
            .map(|(label, n)| (label.clone(), n.iter().copied().collect()))
            .collect(),
        who,
    };
    if lines.len() <= FOLD_RULES_PAST {
        return lines.into_iter().map(one).collect();
    }
    // Too many: lines that differ only in rule numbers share one.
    let mut folded: Vec<Line> = Vec::new();
    let mut seen: Vec<FastSet<Who>> = Vec::new();
    let mut fold_of: FastMap<(Vec<Dst>, String, Vec<String>), usize> = FastMap::default();
    for line in lines.into_iter().map(one) {
        let key = (
            line.dsts.clone(),
            line.ports.clone(),
            line.via
                .iter()
                .map(|(l, n)| format!("{l}{}", if n.is_empty() { "" } else { "#" }))
                .collect::<Vec<_>>(),
        );
        match fold_of.get(&key) {
            Some(&i) => {
                let f = &mut folded[i];
                for (a, b) in f.via.iter_mut().zip(line.via) {
                    a.1.extend(b.1);
                }
                // A source whose paths differ only in a number is on it once.
                for w in line.who {
                    if seen[i].insert(w.clone()) {
                        f.who.push(w);
                    }
                }
            }
            None => {
                fold_of.insert(key, folded.len());
                seen.push(line.who.iter().cloned().collect());
                folded.push(line);
            }
        }
    }
    folded
}

/// `  WHO                          to DST port PORTS  [RULES]`.
fn line_text(ctx: &Ctx, t: (HostId, usize), l: &Line, form: Form) -> String {
    let t_dst = match form {
        Form::Block if l.dsts.len() == 2 && l.dsts.iter().all(|d| d.1.is_none()) => {
            "own v4+v6".to_string()
        }
        _ => l
            .dsts
            .iter()
            .map(|(fam, d)| match (d, form) {
                (Some(text), _) => text.clone(),
                (None, Form::Block) => {
                    format!("own {}", if *fam == Fam::V4 { "v4" } else { "v6" })
                }
                (None, Form::One) => prefix_text(*fam, &own_addresses(ctx.scn, t, *fam)),
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    let via: Vec<String> = l
        .via
        .iter()
        .map(|(label, n)| match n.len() {
            0 => label.clone(),
            1 => format!("{label} rule {}", n.first().expect("one")),
            2..=3 => format!(
                "{label} rules {}",
                n.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
            k => format!(
                "{label} rules {}…{} ({k})",
                n.first().expect("some"),
                n.last().expect("some")
            ),
        })
        .collect();
    let via = super::reach::rules_text(&via);
    format!(
        "  {:<28} to {t_dst} port {}  [{via}]",
        who_text(ctx, t.0, &l.who),
        l.ports
    )
}

/// A piece of a line's sources, as the table folds them.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Every host of these networks (but the socket's own host) and their
    /// stand-ins: `all of a, b, c`.
    All(Vec<NetworkId>),
    /// Every host of these networks, not their stand-ins: `every host on a, b`.
    AllHosts(Vec<NetworkId>),
    /// Some hosts of a network, named up to three, counted beyond
    /// (`of` is how many the network has, the socket's own host aside).
    Hosts {
        net: Option<NetworkId>,
        hosts: Vec<HostId>,
        of: usize,
    },
    /// A network's stand-in sending from all its addresses: `anyone on N`.
    Standin(NetworkId),
    /// A network's stand-in sending from some of them: `N from PREFIXES`.
    Partial(NetworkId, String),
}

/// The sources of a line, folded by network (see the module's comment), in
/// the order their networks first appear.
fn who_parts(ctx: &Ctx, host: HostId, who: &[Who]) -> Vec<Part> {
    // Per network, in order of first appearance: its hosts, whether its
    // stand-in is there in full, and partial stand-ins.
    type Net = (Option<NetworkId>, Vec<HostId>, bool, Vec<String>);
    let mut nets: Vec<Net> = Vec::new();
    let mut net_of: FastMap<Option<NetworkId>, usize> = FastMap::default();
    let mut parts: Vec<Part> = Vec::new();
    for (s, part) in who {
        if *s == Source::Host(host) {
            // A host reaching its own socket (back through a NAT): named on
            // its own, never counted among the others of its network.
            parts.push(Part::Hosts {
                net: None,
                hosts: vec![host],
                of: 1,
            });
            continue;
        }
        let n = match s {
            Source::Host(h) => ctx.home(*h),
            Source::Network(n) => Some(*n),
        };
        let i = *net_of.entry(n).or_insert_with(|| {
            nets.push((n, Vec::new(), false, Vec::new()));
            nets.len() - 1
        });
        match (s, part) {
            (Source::Host(h), _) => nets[i].1.push(*h),
            (Source::Network(_), None) => nets[i].2 = true,
            (Source::Network(_), Some(p)) => nets[i].3.push(p.clone()),
        }
    }
    // Where the first network given in full goes, and the networks.
    let mut all: Option<(usize, Vec<NetworkId>)> = None;
    let mut all_hosts: Option<(usize, Vec<NetworkId>)> = None;
    for (n, hosts, standin, partial) in nets {
        let Some(n) = n else {
            parts.push(Part::Hosts {
                net: None,
                of: hosts.len(),
                hosts,
            });
            continue;
        };
        let of = ctx.homed(n).len() - usize::from(ctx.home(host) == Some(n));
        if hosts.len() > 3 && hosts.len() == of {
            let slot = if standin { &mut all } else { &mut all_hosts };
            match slot {
                Some((_, v)) => v.push(n),
                None => {
                    *slot = Some((parts.len(), vec![n]));
                    // A place holder, replaced below.
                    parts.push(Part::Standin(n));
                }
            }
        } else {
            if !hosts.is_empty() {
                parts.push(Part::Hosts {
                    net: Some(n),
                    hosts,
                    of,
                });
            }
            if standin {
                parts.push(Part::Standin(n));
            }
        }
        parts.extend(partial.into_iter().map(|p| Part::Partial(n, p)));
    }
    if let Some((i, v)) = all {
        parts[i] = Part::All(v);
    }
    if let Some((i, v)) = all_hosts {
        parts[i] = Part::AllHosts(v);
    }
    parts
}

/// A line's sources as they read.
fn who_text(ctx: &Ctx, host: HostId, who: &[Who]) -> String {
    let scn = ctx.scn;
    let own = ctx.home(host);
    let net = |n: NetworkId| scn.network(n).name.as_str();
    let host_names = |hs: &[HostId]| -> Vec<String> {
        hs.iter()
            .map(|h| source_name(scn, Source::Host(*h)))
            .collect()
    };
    let nets_text = |v: &[NetworkId]| -> String {
        let names: Vec<&str> = v.iter().map(|n| net(*n)).collect();
        name_list(names.iter().copied())
    };
    let mut out: Vec<String> = Vec::new();
    for part in who_parts(ctx, host, who) {
        out.push(match part {
            Part::All(v) if v == [own.unwrap_or(NetworkId(u32::MAX))] => {
                format!("all others on {}", net(v[0]))
            }
            Part::AllHosts(v) if v == [own.unwrap_or(NetworkId(u32::MAX))] => {
                format!("every other host on {}", net(v[0]))
            }
            Part::All(v) => {
                // The socket's own network, where it is one of several, is
                // named as the others are: its host is never its own source.
                format!("all of {}", nets_text(&v))
            }
            Part::AllHosts(v) => format!("every host on {}", nets_text(&v)),
            Part::Hosts {
                net: None, hosts, ..
            } => {
                let names = host_names(&hosts);
                name_list(names.iter().map(String::as_str))
            }
            Part::Hosts {
                net: Some(n),
                hosts,
                of,
            } => {
                let k = hosts.len();
                if k <= 3 {
                    host_names(&hosts).join(", ")
                } else {
                    let set: BTreeSet<HostId> = hosts.iter().copied().collect();
                    let missing: Vec<HostId> = ctx
                        .homed(n)
                        .iter()
                        .copied()
                        .filter(|h| *h != host && !set.contains(h))
                        .collect();
                    if missing.len() <= 3 {
                        format!(
                            "{k} hosts on {} (all but {})",
                            net(n),
                            host_names(&missing).join(", ")
                        )
                    } else {
                        format!(
                            "{k} of {of} hosts on {} ({}, …)",
                            net(n),
                            host_names(&hosts[..3]).join(", ")
                        )
                    }
                }
            }
            Part::Standin(n) => format!("anyone on {}", net(n)),
            Part::Partial(n, p) => format!("{} {p}", net(n)),
        });
    }
    out.join(", ")
}

/// `reach in NAME: P journeys from S sources to K sockets`.
fn summary_line(scn: &Scenario, r: &Reach, sockets: usize) -> String {
    // A source counts when it reaches some socket: a class's members do,
    // but a member of a class whose only target is its own socket. Marked
    // in a table of every host and network (a sort of every class's members
    // took a fifth of a second at 8,000 hosts).
    let hosts = scn.hosts.len();
    let mut counted = vec![false; hosts + scn.networks.len()];
    let mut sources = 0usize;
    for j in &r.journeys {
        for &m in j.members.iter() {
            if j.targets.len() == 1 && Source::Host(j.targets[0].host) == m {
                continue;
            }
            let i = match m {
                Source::Host(h) => h.index(),
                Source::Network(n) => hosts + n.0 as usize,
            };
            sources += usize::from(!std::mem::replace(&mut counted[i], true));
        }
    }
    let pairs: usize = r.pairs();
    let v = scn
        .variant
        .as_deref()
        .map(|v| format!(", variant {v}"))
        .unwrap_or_default();
    format!(
        "reach in {}{v}: {} journeys from {} sources to {} sockets\n",
        scn.name, pairs, sources, sockets
    )
}

/// How a source network reaches a row's sockets, over its (source, socket) pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stat {
    /// Pairs that connect.
    pairs: usize,
    /// Pairs whose source connects from all its addresses (a host always does).
    whole: usize,
    /// The families every connecting pair uses, and those some pair uses.
    fams_every: u8,
    fams_some: u8,
}

impl Stat {
    /// The pairs of `other` counted in too.
    fn add(&mut self, other: Stat) {
        if other.pairs == 0 {
            return;
        }
        if self.pairs == 0 {
            *self = other;
            return;
        }
        self.pairs += other.pairs;
        self.whole += other.whole;
        self.fams_every &= other.fams_every;
        self.fams_some |= other.fams_some;
    }
}

fn fam_bit(f: Fam) -> u8 {
    match f {
        Fam::V4 => 1,
        Fam::V6 => 2,
    }
}

/// A row of the network table: the sockets of one kind on one network.
struct Row {
    net: Option<NetworkId>,
    sockets: Vec<(HostId, usize)>,
    hosts: Vec<HostId>,
    /// Per source network.
    stats: Vec<Stat>,
}

/// The network table: a row per (network, protocol, port, application) of
/// the sockets reached, saying which source networks reach every such socket
/// from every one of their sources, which reach some, and (when most do)
/// which reach none. Rows that read the same, their own network written
/// `own network`, are put together.
fn networks_table(scn: &Scenario, r: &Reach, q: &ReachQuery) -> String {
    let from = q.from.as_deref();
    let engine_owned = super::reach::owned_by_source(scn);
    let ctx = Ctx::new(scn);
    let asked = Asked::new(&ctx, &engine_owned, from);
    let rows = network_rows(&ctx, &engine_owned, r);
    let sockets: usize = rows.iter().map(|row| row.sockets.len()).sum();

    // Each row's lines, then rows that read the same together.
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    let mut group_of: FastMap<(Kind, Vec<String>), usize> = FastMap::default();
    for (i, row) in rows.iter().enumerate() {
        let lines = row_lines(&ctx, &asked, row);
        let s = &scn.host(row.sockets[0].0).sockets[row.sockets[0].1];
        let key = ((s.proto, s.port, s.app.as_deref()), lines);
        match group_of.get(&key) {
            Some(&g) => groups[g].1.push(i),
            None => {
                group_of.insert(key.clone(), groups.len());
                groups.push((key.1, vec![i]));
            }
        }
    }

    let services = Services::new(&ctx, q);

    let mut out = summary_line(scn, r, sockets);
    let _ = writeln!(
        out,
        "By network: a row per service on a network and the networks that reach it: all of a \
         network's sources every socket,\nsome (the share of its (source, socket) pairs that \
         connect) or none. `--view sockets` shows each socket, `--to NETWORK` one network's."
    );
    for (lines, members) in &groups {
        let first = &rows[members[0]];
        let kind = socket_kind(&scn.host(first.sockets[0].0).sockets[first.sockets[0].1]);
        let hosts: usize = members.iter().map(|&i| rows[i].hosts.len()).sum();
        // Hosts of those networks (of those asked about with `--to`) with
        // such a socket that nothing reaches.
        let unreached = members
            .iter()
            .map(|&i| services.unreached(&rows[i]))
            .sum::<usize>();
        let unreached = if unreached == 0 {
            String::new()
        } else {
            format!("; {unreached} more with it, reached by none")
        };
        let names: Vec<&str> = members
            .iter()
            .map(|&i| {
                rows[i]
                    .net
                    .map(|n| scn.network(n).name.as_str())
                    .unwrap_or("no network")
            })
            .collect();
        let plural = |n: usize, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        if let [_] = members[..] {
            let _ = writeln!(
                out,
                "\n{kind} on {} ({}{unreached})",
                names[0],
                plural(hosts, "host")
            );
        } else {
            let _ = writeln!(
                out,
                "\n{kind} on {} ({} networks, {}{unreached})",
                name_list(names.iter().copied()),
                names.len(),
                plural(hosts, "host")
            );
        }
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

/// A service: a socket's protocol, port and application.
type Service<'s> = (Proto, u16, &'s Option<String>);

/// Per (home network, service): the hosts asked about (`--to`) with such a
/// socket, in host order, for the counts of those a row's sources reach
/// none of (a scan of every host per row took a second at 8,000 hosts).
struct Services<'s> {
    ctx: &'s Ctx<'s>,
    hosts: FastMap<(Option<NetworkId>, Service<'s>), Vec<HostId>>,
}

impl<'s> Services<'s> {
    fn new(ctx: &'s Ctx<'s>, q: &ReachQuery) -> Self {
        let mut hosts: FastMap<(Option<NetworkId>, Service), Vec<HostId>> = FastMap::default();
        for (i, host) in ctx.scn.hosts.iter().enumerate() {
            let h = HostId(i as u32);
            if !q.to.as_ref().is_none_or(|t| t.contains(&h)) {
                continue;
            }
            let mut seen: Vec<Service> = Vec::new();
            for x in &host.sockets {
                let k = (x.proto, x.port, &x.app);
                if !seen.contains(&k) {
                    seen.push(k);
                    hosts.entry((ctx.home(h), k)).or_default().push(h);
                }
            }
        }
        Services { ctx, hosts }
    }

    /// The hosts on a row's network, asked about, with a socket of the
    /// row's service, that are not among the row's hosts (reached by none).
    fn unreached(&self, row: &Row) -> usize {
        let (h, k) = row.sockets[0];
        let s = &self.ctx.scn.host(h).sockets[k];
        let reached: FastSet<HostId> = row.hosts.iter().copied().collect();
        self.hosts
            .get(&(row.net, (s.proto, s.port, &s.app)))
            .map_or(0, |hs| hs.iter().filter(|h| !reached.contains(h)).count())
    }
}

/// The sources a reach was asked about (all, or `--from`'s), counted per
/// network: the pairs a row's classes are shares of.
struct Asked {
    /// Per network: its hosts asked about, and its stand-in if it has one
    /// (addresses no host has) and was asked about.
    per_net: Vec<usize>,
    host: Vec<bool>,
    /// Whether every source was (no `--from`).
    everyone: bool,
}

impl Asked {
    fn new(ctx: &Ctx, engine_owned: &Owned, from: Option<&[Source]>) -> Self {
        let scn = ctx.scn;
        let wanted = |s: Source| from.is_none_or(|f| f.contains(&s));
        let host: Vec<bool> = (0..scn.hosts.len() as u32)
            .map(|h| wanted(Source::Host(HostId(h))))
            .collect();
        let mut per_net = vec![0usize; scn.networks.len()];
        for (h, asked) in host.iter().enumerate() {
            if let (true, Some(n)) = (*asked, ctx.home(HostId(h as u32))) {
                per_net[n.0 as usize] += 1;
            }
        }
        for (n, count) in per_net.iter_mut().enumerate() {
            let id = NetworkId(n as u32);
            if wanted(Source::Network(id)) && engine_owned.get(&id).is_some_and(|o| !o.is_empty()) {
                *count += 1;
            }
        }
        Asked {
            per_net,
            host,
            everyone: from.is_none(),
        }
    }

    /// The (source, socket) pairs a row could have from network `n`.
    fn possible(&self, row: &Row, n: usize) -> usize {
        let mut p = row.sockets.len() * self.per_net[n];
        if row.net.map(|o| o.0 as usize) == Some(n) {
            // A host is never its own source.
            p -= row
                .sockets
                .iter()
                .filter(|t| self.host[t.0 .0 as usize])
                .count();
        }
        p
    }
}

/// The rows of the network table, with each source network's pairs counted.
fn network_rows(ctx: &Ctx, engine_owned: &Owned, r: &Reach) -> Vec<Row> {
    // As many parts as there are cores, of at least 1,024 classes each.
    let parts = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(r.journeys.len().div_ceil(1024).max(1));
    network_rows_in(ctx, engine_owned, r, parts)
}

/// [`network_rows`], the classes counted in `parts` parts at once.
fn network_rows_in(ctx: &Ctx, engine_owned: &Owned, r: &Reach, parts: usize) -> Vec<Row> {
    let scn = ctx.scn;
    let nets = scn.networks.len();
    // Every socket of the scenario has a place in one flat table (host by
    // host): the sockets reached, in (host, socket) order, are those marked.
    let mut first: Vec<usize> = Vec::with_capacity(scn.hosts.len() + 1);
    first.push(0);
    for h in &scn.hosts {
        first.push(first.last().copied().unwrap_or(0) + h.sockets.len());
    }
    let place = |host: HostId, socket: usize| first[host.0 as usize] + socket;
    let mut reached = vec![false; first.last().copied().unwrap_or(0)];
    for j in &r.journeys {
        for t in j.targets.iter() {
            reached[place(t.host, t.socket)] = true;
        }
    }
    let sockets: Vec<(HostId, usize)> = (0..scn.hosts.len())
        .flat_map(|h| (0..scn.hosts[h].sockets.len()).map(move |k| (HostId(h as u32), k)))
        .filter(|&(h, k)| reached[place(h, k)])
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    let mut row_of: FastMap<(Option<NetworkId>, Kind), usize> = FastMap::default();
    let mut socket_row: Vec<usize> = vec![usize::MAX; reached.len()];
    for &t in &sockets {
        let s = &scn.host(t.0).sockets[t.1];
        let key = (ctx.home(t.0), (s.proto, s.port, s.app.as_deref()));
        let i = *row_of.entry(key).or_insert_with(|| {
            rows.push(Row {
                net: key.0,
                sockets: Vec::new(),
                hosts: Vec::new(),
                stats: vec![Stat::default(); nets],
            });
            rows.len() - 1
        });
        rows[i].sockets.push(t);
        if rows[i].hosts.last() != Some(&t.0) {
            rows[i].hosts.push(t.0);
        }
        socket_row[place(t.0, t.1)] = i;
    }
    // The classes counted in parts at once: the first into the rows, the
    // others each into a table of its own, then added to the rows (a count,
    // a sum, an and and an or per row and network: the parts' order does not
    // matter). At 8,000 hosts this was a second of one core after the walk.
    let chunk = r.journeys.len().div_ceil(parts.max(1)).max(1);
    let mut chunks = r.journeys.chunks(chunk);
    let first = chunks.next().unwrap_or(&[]);
    let (row_count, socket_row, place) = (rows.len(), &socket_row, &place);
    let counted: Vec<Vec<Stat>> = std::thread::scope(|sc| {
        let others: Vec<_> = chunks
            .map(|part| {
                sc.spawn(move || {
                    let mut table = Flat(vec![Stat::default(); row_count * nets], nets);
                    count_pairs(ctx, engine_owned, part, socket_row, place, &mut table);
                    table.0
                })
            })
            .collect();
        count_pairs(ctx, engine_owned, first, socket_row, place, &mut rows);
        others
            .into_iter()
            .map(|w| w.join().expect("counting a reach's pairs panicked"))
            .collect()
    });
    for table in counted {
        for (row, part) in rows.iter_mut().zip(table.chunks(nets.max(1))) {
            for (a, b) in row.stats.iter_mut().zip(part) {
                a.add(*b);
            }
        }
    }
    rows
}

/// Stats by (row, source network).
trait Stats {
    fn at(&mut self, row: usize, net: usize) -> &mut Stat;
}

impl Stats for Vec<Row> {
    fn at(&mut self, row: usize, net: usize) -> &mut Stat {
        &mut self[row].stats[net]
    }
}

/// A table of its own: row by row, each row's networks in order.
struct Flat(Vec<Stat>, usize);

impl Stats for Flat {
    fn at(&mut self, row: usize, net: usize) -> &mut Stat {
        &mut self.0[row * self.1 + net]
    }
}

/// Counts the (source, socket) pairs of `journeys` into `stats`: per class,
/// its members counted by network (members of one class reach every target
/// alike: the same families, from all their addresses or not), then each
/// target's row takes those counts, less the target's own host (a host's
/// journeys to its own sockets are not the others').
fn count_pairs(
    ctx: &Ctx,
    engine_owned: &Owned,
    journeys: &[Journey],
    socket_row: &[usize],
    place: &dyn Fn(HostId, usize) -> usize,
    stats: &mut dyn Stats,
) {
    let nets = ctx.scn.networks.len();
    // A network's ranges, for its stand-in's journeys, worked out once.
    let mut full: Vec<Option<super::reach::FullSources>> = (0..nets).map(|_| None).collect();
    // Per network, a journey's members on it; and the networks counted.
    let mut members_on = vec![0usize; nets];
    let mut by_net: Vec<NetworkId> = Vec::new();
    for j in journeys {
        let mut fams = 0u8;
        for c in j.cubes() {
            fams |= fam_bit(c.fam);
            if fams == fam_bit(Fam::V4) | fam_bit(Fam::V6) {
                break;
            }
        }
        let whole = match j.source {
            Source::Network(n) => {
                let fam_list: Vec<Fam> = [Fam::V4, Fam::V6]
                    .into_iter()
                    .filter(|f| fams & fam_bit(*f) != 0)
                    .collect();
                full[n.0 as usize]
                    .get_or_insert_with(|| {
                        super::reach::FullSources::new(
                            engine_owned.get(&n).map(Vec::as_slice).unwrap_or(&[]),
                            &super::reach::rp_exempt(ctx.scn, n),
                        )
                    })
                    .holds(&j.space(), &fam_list)
            }
            Source::Host(_) => true,
        };
        let net_of = |m: Source| match m {
            Source::Host(h) => ctx.home(h),
            Source::Network(n) => Some(n),
        };
        // The members counted by network (each network's stats are its
        // own: the order the networks are taken in does not matter).
        by_net.clear();
        for &m in j.members.iter() {
            if let Some(n) = net_of(m) {
                if members_on[n.0 as usize] == 0 {
                    by_net.push(n);
                }
                members_on[n.0 as usize] += 1;
            }
        }
        for t in j.targets.iter() {
            let row = socket_row[place(t.host, t.socket)];
            let me = Source::Host(t.host);
            let own_net = j.members.binary_search(&me).ok().and_then(|_| net_of(me));
            for &net in &by_net {
                let count = members_on[net.0 as usize] - usize::from(own_net == Some(net));
                if count == 0 {
                    continue;
                }
                let st = stats.at(row, net.0 as usize);
                if st.pairs == 0 {
                    st.fams_every = fams;
                }
                st.pairs += count;
                st.whole += if whole { count } else { 0 };
                st.fams_every &= fams;
                st.fams_some |= fams;
            }
        }
        for n in &by_net {
            members_on[n.0 as usize] = 0;
        }
    }
}

/// How a source network reaches a row's sockets.
#[derive(Debug, Clone, PartialEq)]
enum Class {
    /// Every source of the network connects to every socket from all its
    /// addresses, in every family the row is reached in.
    All,
    /// As `All`, but only in this family (1 IPv4, 2 IPv6).
    Only(u8),
    /// Some of its (source, socket) pairs connect, this share in per cent.
    Some(usize),
    /// Every pair connects, but a stand-in from only part of its addresses.
    PartOfAddresses,
    /// Every pair connects from all its addresses, but no one family serves
    /// every pair.
    MixedFamilies,
    None,
}

/// Each source network's class for a row, its own network first, then the
/// others in the scenario's order; networks with no sources are left out.
fn row_classes(asked: &Asked, row: &Row) -> Vec<(usize, Class)> {
    let fams_row = row.stats.iter().fold(0u8, |a, s| a | s.fams_some);
    let own = row.net.map(|n| n.0 as usize);
    let order = own
        .into_iter()
        .chain((0..row.stats.len()).filter(|n| Some(*n) != own));
    let mut out = Vec::new();
    for n in order {
        let st = &row.stats[n];
        let possible = asked.possible(row, n);
        if possible == 0 {
            continue;
        }
        out.push((
            n,
            if st.pairs == 0 {
                Class::None
            } else if st.pairs == possible && st.whole == st.pairs {
                if st.fams_every == fams_row {
                    Class::All
                } else if st.fams_every != 0 {
                    Class::Only(st.fams_every)
                } else {
                    Class::MixedFamilies
                }
            } else if st.pairs == possible {
                Class::PartOfAddresses
            } else {
                Class::Some((st.pairs * 100 / possible).clamp(1, 99))
            },
        ));
    }
    out
}

/// A row's lines: who reaches all of its sockets, who some, who none.
fn row_lines(ctx: &Ctx, asked: &Asked, row: &Row) -> Vec<String> {
    let scn = ctx.scn;
    let name = |n: usize| -> String {
        if Some(NetworkId(n as u32)) == row.net {
            "own network".into()
        } else {
            scn.network(NetworkId(n as u32)).name.clone()
        }
    };
    let classes = row_classes(asked, row);
    let of = |want: &dyn Fn(&Class) -> bool| -> Vec<usize> {
        classes
            .iter()
            .filter(|(_, c)| want(c))
            .map(|(n, _)| *n)
            .collect()
    };
    let all = of(&|c| *c == Class::All);
    let none = of(&|c| *c == Class::None);
    let list = |v: Vec<String>| -> String {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        name_list(refs.iter().copied())
    };
    let names = |v: &[usize]| list(v.iter().map(|&n| name(n)).collect());
    let mut lines = Vec::new();
    // With `--from`, every claim is about the sources asked about.
    let (all_of, some_of, none_of) = if asked.everyone {
        ("all sources of", "some sources of", "none of")
    } else {
        (
            "all asked sources of",
            "some asked sources of",
            "none of the asked sources of",
        )
    };
    // The larger of "all" and "none" is the one not listed.
    let all_but = !all.is_empty() && all.len() >= none.len();
    if all_but {
        let but = if classes.iter().all(|(_, c)| *c == Class::All) {
            ""
        } else {
            " but those below"
        };
        lines.push(format!("  {all_of} every network{but}"));
    } else if !all.is_empty() {
        lines.push(format!("  {all_of} {}", names(&all)));
    }
    for (bit, label, other) in [(1u8, "IPv4", "IPv6"), (2u8, "IPv6", "IPv4")] {
        let v = of(&|c| *c == Class::Only(bit));
        if !v.is_empty() {
            lines.push(format!(
                "  {all_of} {} over {label} ({other} not for every pair)",
                names(&v)
            ));
        }
    }
    let some: Vec<String> = classes
        .iter()
        .filter_map(|(n, c)| match c {
            Class::Some(p) => Some(format!("{} ({p} %)", name(*n))),
            Class::PartOfAddresses => Some(format!(
                "{} (every pair, the stand-in from part of its addresses)",
                name(*n)
            )),
            Class::MixedFamilies => {
                Some(format!("{} (every pair, but not in one family)", name(*n)))
            }
            _ => None,
        })
        .collect();
    if !some.is_empty() {
        lines.push(format!("  {some_of} {}", list(some)));
    }
    if all_but && !none.is_empty() {
        lines.push(format!("  {none_of} {}", names(&none)));
    }
    lines
}

#[cfg(test)]
mod tests {
    //! The table's folds against a plain enumeration of the journeys: every
    //! (source, socket, family, rules) the answer holds is on a line that
    //! says so, and no line says more.

    use super::*;
    use crate::analysis::reach::{owned_by_source, reach, summarise, ReachQuery};
    use crate::synth::{large, SynthParams};
    use crate::{examples, load};
    use std::collections::{BTreeMap, HashMap};

    /// Every built-in scenario and variant, and generated ones with the
    /// exceptions a large network has (hosts that differ, partial stand-ins).
    fn scenarios() -> Vec<Scenario> {
        let mut v = Vec::new();
        for ex in examples::ALL {
            let base = load(&ex.file(), ex.text, None).expect("built-in");
            for var in
                std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone())))
            {
                v.push(load(&ex.file(), ex.text, var.as_deref()).expect("built-in"));
            }
        }
        for (seed, hosts) in [(1, 120), (2, 90), (3, 160), (7, 60)] {
            let text = large(&SynthParams::sized(seed, hosts));
            v.push(load("synth.yaml", &text, None).expect("generated"));
        }
        v
    }

    fn sockets(r: &Reach) -> BTreeMap<(HostId, usize), Vec<&Journey>> {
        let mut m: BTreeMap<(HostId, usize), Vec<&Journey>> = BTreeMap::new();
        for j in &r.journeys {
            m.entry((j.host(), j.socket())).or_default().push(j);
        }
        m
    }

    /// Whether a line's rules (numbers folded into sets) take in a path's.
    fn via_takes(line: &[(String, BTreeSet<u32>)], path: &[(String, Option<u32>)]) -> bool {
        line.len() == path.len()
            && line.iter().zip(path).all(|((l, set), (p, n))| {
                l == p
                    && match n {
                        Some(n) => set.contains(n),
                        None => set.is_empty(),
                    }
            })
    }

    /// The sources a line's parts stand for, with whether a stand-in sends
    /// from only some of its addresses.
    fn expand(ctx: &Ctx, host: HostId, parts: &[Part]) -> Vec<(Source, bool)> {
        let homed = |n: NetworkId| {
            (0..ctx.scn.hosts.len() as u32)
                .map(HostId)
                .filter(move |h| ctx.home(*h) == Some(n) && *h != host)
        };
        let mut v = Vec::new();
        for p in parts {
            match p {
                Part::All(ns) => {
                    for &n in ns {
                        v.extend(homed(n).map(|h| (Source::Host(h), false)));
                        v.push((Source::Network(n), false));
                    }
                }
                Part::AllHosts(ns) => {
                    for &n in ns {
                        v.extend(homed(n).map(|h| (Source::Host(h), false)));
                    }
                }
                Part::Hosts { net, hosts, of } => {
                    if let Some(n) = net {
                        assert_eq!(*of, homed(*n).count());
                        assert!(
                            hosts.len() <= *of,
                            "{hosts:?} of {of} on {n:?} for {host:?}"
                        );
                    }
                    v.extend(hosts.iter().map(|h| (Source::Host(*h), false)));
                }
                Part::Standin(n) => v.push((Source::Network(*n), false)),
                Part::Partial(n, _) => v.push((Source::Network(*n), true)),
            }
        }
        v.sort();
        v
    }

    #[test]
    fn socket_lines_say_exactly_what_the_journeys_do() {
        let mut folded = 0;
        let mut counted = 0;
        for scn in scenarios() {
            let r = reach(&scn, &ReachQuery::default()).to_per_target(&scn);
            let ctx = Ctx::new(&scn);
            let owned = owned_by_source(&scn);
            for (t, js) in sockets(&r) {
                let lines = lines_of(&ctx, &owned, t, &js);
                // One record per (source, path, family).
                let own = [
                    own_addresses(&scn, t, Fam::V4),
                    own_addresses(&scn, t, Fam::V6),
                ];
                let mut records = Vec::new();
                for j in &js {
                    for (path, space) in &j.paths {
                        let via = path_via(&scn, path);
                        let ports = summarise(space).ports.join(",");
                        for fam in [Fam::V4, Fam::V6] {
                            let Some(dst) = family_dst(space, fam, &own[(fam == Fam::V6) as usize])
                            else {
                                continue;
                            };
                            let members: Vec<Source> = match j.source {
                                Source::Network(_) => vec![j.source],
                                Source::Host(_) => j.members.to_vec(),
                            };
                            for m in members {
                                records.push((m, dst.clone(), ports.clone(), via.clone()));
                            }
                        }
                    }
                }
                let on_line = |l: &Line, (m, dst, ports, via): &(Source, Dst, String, Vec<_>)| {
                    l.who.iter().any(|w| w.0 == *m)
                        && l.dsts.contains(dst)
                        && l.ports == *ports
                        && via_takes(&l.via, via)
                };
                for rec in &records {
                    assert!(
                        lines.iter().any(|l| on_line(l, rec)),
                        "{}: {rec:?} on no line of {t:?}",
                        scn.name
                    );
                }
                for l in &lines {
                    for w in &l.who {
                        for d in &l.dsts {
                            assert!(
                                records.iter().any(|(m, dst, ports, via)| *m == w.0
                                    && dst == d
                                    && *ports == l.ports
                                    && via_takes(&l.via, via)),
                                "{}: a line of {t:?} says {w:?} reaches {d:?}",
                                scn.name
                            );
                        }
                    }
                    if l.via.iter().any(|(_, n)| n.len() > 1) {
                        // Only past FOLD_RULES_PAST lines, which no built-in
                        // scenario's socket has.
                        assert!(scn.name.starts_with("synth-"), "{}: {t:?}", scn.name);
                        folded += 1;
                    }
                    // The folded sources stand for exactly the line's.
                    let mut want: Vec<(Source, bool)> =
                        l.who.iter().map(|w| (w.0, w.1.is_some())).collect();
                    want.sort();
                    let parts = who_parts(&ctx, t.0, &l.who);
                    counted += parts
                        .iter()
                        .filter(|p| matches!(p, Part::All(_) | Part::AllHosts(_)))
                        .count();
                    assert_eq!(expand(&ctx, t.0, &parts), want, "{}: {t:?}", scn.name);
                }
            }
        }
        // The generated scenarios exercise both folds.
        assert!(folded > 0 && counted > 0, "{folded} {counted}");
    }

    #[test]
    fn network_rows_match_a_count_of_pairs() {
        let mut seen = [0usize; 4];
        for scn in scenarios() {
            // Every source, and one network with its hosts (`--from NET`).
            let net = NetworkId((scn.networks.len() / 2) as u32);
            let mut one: Vec<Source> = vec![Source::Network(net)];
            one.extend(
                (0..scn.hosts.len() as u32)
                    .map(HostId)
                    .filter(|h| scn.host(*h).interfaces.iter().any(|i| i.network == net))
                    .map(Source::Host),
            );
            for from in [None, Some(one)] {
                let q = ReachQuery {
                    from: from.clone(),
                    to: None,
                };
                network_rows_agree(&scn, &q, &mut seen);
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }

    /// A row's hosts reached by none are those of a scan of every host.
    #[test]
    fn unreached_hosts_are_a_scan_of_every_host() {
        let mut counted = 0;
        for scn in scenarios() {
            let ctx = Ctx::new(&scn);
            let owned = owned_by_source(&scn);
            // Every source, then one host (which leaves hosts reached by
            // none); every host, then every other host (`--to`).
            let half: Vec<HostId> = (0..scn.hosts.len() as u32).step_by(2).map(HostId).collect();
            let one = vec![Source::Host(HostId((scn.hosts.len() / 3) as u32))];
            for (from, to) in [None, Some(one)]
                .into_iter()
                .flat_map(|f| [(f.clone(), None), (f, Some(half.clone()))])
            {
                let q = ReachQuery { from, to };
                let rows = network_rows(&ctx, &owned, &reach(&scn, &q));
                let services = Services::new(&ctx, &q);
                for row in &rows {
                    let s0 = &scn.host(row.sockets[0].0).sockets[row.sockets[0].1];
                    let scan = (0..scn.hosts.len() as u32)
                        .map(HostId)
                        .filter(|h| {
                            ctx.home(*h) == row.net
                                && !row.hosts.contains(h)
                                && q.to.as_ref().is_none_or(|t| t.contains(h))
                                && scn.host(*h).sockets.iter().any(|x| {
                                    (x.proto, x.port, &x.app) == (s0.proto, s0.port, &s0.app)
                                })
                        })
                        .count();
                    assert_eq!(services.unreached(row), scan, "{}", scn.name);
                    counted += scan;
                }
            }
        }
        assert!(counted > 0, "some rows have hosts reached by none");
    }

    fn network_rows_agree(scn: &Scenario, q: &ReachQuery, seen: &mut [usize; 4]) {
        // The rows from the compact answer; the pairs they are counted
        // against from the same answer told one socket at a time.
        let compact = reach(scn, q);
        let r = compact.to_per_target(scn);
        let ctx = Ctx::new(scn);
        let owned = owned_by_source(scn);
        let asked = Asked::new(&ctx, &owned, q.from.as_deref());
        let is_asked = |s: &Source| q.from.as_ref().is_none_or(|f| f.contains(s));
        // Every connected (source, socket) pair: whether its source sends
        // from all its addresses, and its families.
        let mut pairs: HashMap<(Source, (HostId, usize)), (bool, u8)> = HashMap::new();
        for j in &r.journeys {
            let space = j.space();
            let mut fams: Vec<Fam> = space.0.iter().map(|c| c.fam).collect();
            fams.sort();
            fams.dedup();
            let bits = fams.iter().fold(0, |a, f| a | fam_bit(*f));
            for m in j.members.iter() {
                assert!(is_asked(m));
                let whole = match m {
                    Source::Host(_) => true,
                    Source::Network(n) => super::super::reach::full_source_space(
                        &owned[n],
                        &super::super::reach::rp_exempt(scn, *n),
                        &space,
                        &fams,
                    ),
                };
                assert!(pairs
                    .insert((*m, (j.host(), j.socket())), (whole, bits))
                    .is_none());
            }
        }
        let rows = network_rows(&ctx, &owned, &compact);
        // Counted in parts on threads of their own and added up, the same
        // counts whatever the parts.
        let stats =
            |rows: &[Row]| -> Vec<Vec<Stat>> { rows.iter().map(|r| r.stats.clone()).collect() };
        for parts in [1, 2, 3, 7] {
            let other = network_rows_in(&ctx, &owned, &compact, parts);
            assert_eq!(stats(&other), stats(&rows), "{} in {parts} parts", scn.name);
        }
        for row in rows {
            let classes = row_classes(&asked, &row);
            let row_fams = pairs
                .iter()
                .filter(|((s, t), _)| row.sockets.contains(t) && *s != Source::Host(t.0))
                .fold(0, |a, (_, (_, f))| a | f);
            let mut want = Vec::new();
            let own = row.net.map(|n| n.0 as usize);
            let order = own
                .into_iter()
                .chain((0..scn.networks.len()).filter(|n| Some(*n) != own));
            for n in order {
                let net = NetworkId(n as u32);
                let mut sources: Vec<Source> = (0..scn.hosts.len() as u32)
                    .map(HostId)
                    .filter(|h| ctx.home(*h) == Some(net))
                    .map(Source::Host)
                    .collect();
                if owned.get(&net).is_some_and(|o| !o.is_empty()) {
                    sources.push(Source::Network(net));
                }
                sources.retain(|s| is_asked(s));
                let (mut possible, mut got, mut whole, mut every) = (0, 0, 0, 3u8);
                for t in &row.sockets {
                    for s in &sources {
                        if *s == Source::Host(t.0) {
                            continue;
                        }
                        possible += 1;
                        if let Some((w, f)) = pairs.get(&(*s, *t)) {
                            got += 1;
                            whole += usize::from(*w);
                            every &= f;
                        }
                    }
                }
                if possible == 0 {
                    continue;
                }
                let class = if got == 0 {
                    Class::None
                } else if got == possible && whole == got && every == row_fams {
                    Class::All
                } else if got == possible && whole == got && every != 0 {
                    Class::Only(every)
                } else if got == possible && whole == got {
                    Class::MixedFamilies
                } else if got == possible {
                    Class::PartOfAddresses
                } else {
                    Class::Some((got * 100 / possible).clamp(1, 99))
                };
                seen[match class {
                    Class::All => 0,
                    Class::Only(_) => 1,
                    Class::Some(_) | Class::PartOfAddresses | Class::MixedFamilies => 2,
                    Class::None => 3,
                }] += 1;
                want.push((n, class));
            }
            assert_eq!(classes, want, "{}: row {:?}", scn.name, row.sockets);
        }
    }
}
