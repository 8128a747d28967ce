//! Symbolic evaluation: what a rule set decides on a hook for every packet at once,
//! as a first-match list of boxes, so that a model with only first-match lists of
//! box-shaped rules (a scenario's filters and NAT rules) gets the rule set's exact
//! semantics without a second evaluator.
//!
//! A packet is a point of a [`Domain`]: one address family, a protocol among a few,
//! source and destination addresses and ports, the device it came in on and the one
//! it goes out by (each among a few names), and its conntrack state. A [`PBox`] is a
//! product of one set per dimension. [`Ruleset::flatten_filter`] walks the base chains
//! a packet of a hook traverses, in the order [`Ruleset::evaluate`] runs them, and
//! turns every rule into boxes: a condition is a set on one dimension (its negation is
//! the complement on that dimension), a rule the intersection of its conditions, a
//! verdict map one case per element (its catch-all after them). Jumps enter the
//! target with the rule's boxes as context; what returns falls through to the caller's
//! next rules, which needs nothing in a first-match list; what a `return`, a `goto`
//! or a map's `continue` takes out of the rest of a chain is subtracted from the later
//! entries of that chain only. Base chains compose as netfilter runs them: an accept
//! lets the packet on to the next base chain, so an accepting entry is replaced by the
//! next chain's list restricted to it.
//!
//! Every entry names what decided it exactly as [`Ruleset::evaluate`] would
//! ([`DecidedBy`]): the flattened list and the evaluator agree packet by packet (a
//! property test and the lab's differentials hold them to it). What cannot be made
//! exact is refused with the line of the construct ([`FlatError`]): base chains of
//! equal priority in different tables that could decide a packet differently (the
//! order is not in the dump), tables and hooks the model does not evaluate, drops
//! in nat chains, translations in filter chains, and a list that grows past a bound.

use std::net::IpAddr;

use crate::model::{
    Action, Cond, CtState, DecidedBy, Family, Hook, Item, KeySel, KeyVal, MapElem, NatAction,
    PortSel, RejectWith, Rule, Ruleset, Verdict,
};
use crate::packet::has_ports;

/// Sorted, disjoint, inclusive intervals.
pub type Intervals = Vec<(u128, u128)>;

/// Index of the source address in [`PBox::num`].
pub const SRC: usize = 0;
/// Index of the destination address in [`PBox::num`].
pub const DST: usize = 1;
/// Index of the source port in [`PBox::num`].
pub const SPORT: usize = 2;
/// Index of the destination port in [`PBox::num`].
pub const DPORT: usize = 3;
/// Index of the protocol in [`PBox::bits`] (bit `i`: `Domain::protos[i]`).
pub const PROTO: usize = 0;
/// Index of the input device in [`PBox::bits`] (bit `i`: `Domain::in_devs[i]`).
pub const IN: usize = 1;
/// Index of the output device in [`PBox::bits`] (bit `i`: `Domain::out_devs[i]`).
pub const OUT: usize = 2;
/// Index of the conntrack state in [`PBox::bits`] ([`CtState`] bits: new 1,
/// established 2, related 4, invalid 8, untracked 16).
pub const STATE: usize = 3;

/// The packets a flattening is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The packets' family.
    pub family: Family,
    /// The protocol numbers packets may have (at most 64).
    pub protos: Vec<u8>,
    /// The names of the devices a packet may come in on (at most 64). `""` stands for
    /// none (a locally sent packet), and is also the name every match sees at a hook
    /// without an input device (output).
    pub in_devs: Vec<String>,
    /// The names of the devices a packet may go out by; `""` for none.
    pub out_devs: Vec<String>,
    /// The conntrack states packets may be in.
    pub states: Vec<CtState>,
}

/// A set of packets: the product of one set per dimension. For a protocol without
/// ports the port sets do not apply (a box whose port sets are not whole only holds
/// protocols with ports).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PBox {
    /// Source and destination address (as numbers of the domain's family), source
    /// and destination port: [`SRC`], [`DST`], [`SPORT`], [`DPORT`].
    pub num: [Intervals; 4],
    /// Protocol, input device, output device, conntrack state: [`PROTO`], [`IN`],
    /// [`OUT`], [`STATE`].
    pub bits: [u64; 4],
}

/// What a flattened entry does with its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The packet passes (a filter), or is not translated (a nat hook).
    Accept,
    /// Dropped.
    Drop,
    /// Rejected with this answer.
    Reject(RejectWith),
    /// Translated (a nat hook).
    Nat(NatAction),
}

/// One entry of a flattened list: the packets of `region` not taken by an earlier
/// entry get `outcome`, decided by `decided_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatEntry {
    /// A union of boxes.
    pub region: Vec<PBox>,
    pub outcome: Outcome,
    pub decided_by: DecidedBy,
}

/// A construct that cannot be flattened exactly, at a line of the rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatError {
    /// 1-based line of the construct.
    pub line: usize,
    /// What it is and why it is refused.
    pub message: String,
}

/// The most boxes a flattening may make before it is refused as too large.
const MAX_BOXES: u64 = 4_000_000;

fn iv_intersect(a: &Intervals, b: &Intervals) -> Intervals {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn iv_subtract(a: &Intervals, b: &Intervals) -> Intervals {
    let mut out = Vec::new();
    let mut j = 0;
    for &(lo, hi) in a {
        let mut lo = lo;
        let mut done = false;
        while j < b.len() && b[j].1 < lo {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].0 <= hi {
            if b[k].0 > lo {
                out.push((lo, b[k].0 - 1));
            }
            if b[k].1 >= hi {
                done = true;
                break;
            }
            lo = b[k].1 + 1;
            k += 1;
        }
        if !done {
            out.push((lo, hi));
        }
    }
    out
}

fn iv_normalise(mut v: Intervals) -> Intervals {
    v.sort_unstable();
    let mut out: Intervals = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn iv_union(a: &Intervals, b: &Intervals) -> Intervals {
    iv_normalise(a.iter().chain(b).copied().collect())
}

impl PBox {
    /// Whether the box holds no packet.
    pub fn is_empty(&self) -> bool {
        self.bits.contains(&0) || self.num.iter().any(Vec::is_empty)
    }

    /// The intersection, if not empty.
    pub fn intersect(&self, o: &PBox) -> Option<PBox> {
        let mut bits = [0u64; 4];
        for (k, b) in bits.iter_mut().enumerate() {
            *b = self.bits[k] & o.bits[k];
            if *b == 0 {
                return None;
            }
        }
        let mut num: [Intervals; 4] = Default::default();
        for (k, n) in num.iter_mut().enumerate() {
            *n = iv_intersect(&self.num[k], &o.num[k]);
            if n.is_empty() {
                return None;
            }
        }
        Some(PBox { num, bits })
    }

    fn meets(&self, o: &PBox) -> bool {
        (0..4).all(|k| self.bits[k] & o.bits[k] != 0)
            && (0..4).all(|k| !iv_intersect(&self.num[k], &o.num[k]).is_empty())
    }

    /// `self` less `o`, as disjoint boxes. The protocol is cut first, so that a piece
    /// whose ports are cut only holds protocols `o`'s ports apply to.
    pub fn subtract(&self, o: &PBox) -> Vec<PBox> {
        if !self.meets(o) {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        let mut cur = self.clone();
        // protocol, then addresses and ports, then devices and state
        let order: [(bool, usize); 8] = [
            (true, PROTO),
            (false, SRC),
            (false, DST),
            (false, SPORT),
            (false, DPORT),
            (true, IN),
            (true, OUT),
            (true, STATE),
        ];
        for (is_bits, k) in order {
            if is_bits {
                let rest = cur.bits[k] & !o.bits[k];
                if rest != 0 {
                    let mut p = cur.clone();
                    p.bits[k] = rest;
                    out.push(p);
                }
                cur.bits[k] &= o.bits[k];
            } else {
                let rest = iv_subtract(&cur.num[k], &o.num[k]);
                if !rest.is_empty() {
                    let mut p = cur.clone();
                    p.num[k] = rest;
                    out.push(p);
                }
                cur.num[k] = iv_intersect(&cur.num[k], &o.num[k]);
            }
        }
        out
    }

    /// Whether the box holds the packet (protocol index, addresses, ports, device
    /// indexes, state bit); ports are `None` for a protocol without them.
    #[allow(clippy::too_many_arguments)]
    pub fn contains(
        &self,
        proto: usize,
        src: u128,
        dst: u128,
        ports: Option<(u16, u16)>,
        in_dev: usize,
        out_dev: usize,
        state: u8,
    ) -> bool {
        let inside = |v: &Intervals, x: u128| v.iter().any(|&(lo, hi)| lo <= x && x <= hi);
        self.bits[PROTO] >> proto & 1 == 1
            && self.bits[IN] >> in_dev & 1 == 1
            && self.bits[OUT] >> out_dev & 1 == 1
            && self.bits[STATE] & u64::from(state) != 0
            && inside(&self.num[SRC], src)
            && inside(&self.num[DST], dst)
            && ports.is_none_or(|(s, d)| {
                inside(&self.num[SPORT], u128::from(s)) && inside(&self.num[DPORT], u128::from(d))
            })
    }
}

fn mask(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

impl Domain {
    fn addr_max(&self) -> u128 {
        match self.family {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    /// Every packet of the domain.
    pub fn full(&self) -> PBox {
        let states = self.states.iter().fold(0u64, |m, s| m | u64::from(s.bit()));
        PBox {
            num: [
                vec![(0, self.addr_max())],
                vec![(0, self.addr_max())],
                vec![(0, 65535)],
                vec![(0, 65535)],
            ],
            bits: [
                mask(self.protos.len()),
                mask(self.in_devs.len()),
                mask(self.out_devs.len()),
                states,
            ],
        }
    }

    /// The protocols (as bits) that carry ports.
    pub fn port_protos(&self) -> u64 {
        self.protos
            .iter()
            .enumerate()
            .filter(|(_, p)| has_ports(**p))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    fn proto_bits(&self, protos: &[u8]) -> u64 {
        self.protos
            .iter()
            .enumerate()
            .filter(|(_, p)| protos.contains(p))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    fn state_bits(&self, keep: impl Fn(u8) -> bool) -> u64 {
        self.states
            .iter()
            .filter(|s| keep(s.bit()))
            .fold(0, |m, s| m | u64::from(s.bit()))
    }
}

fn in_exists(hook: Hook) -> bool {
    // At postrouting a forwarded packet keeps its input device and a local one has
    // none: the domain's names say which (`""`).
    matches!(
        hook,
        Hook::Prerouting | Hook::Input | Hook::Forward | Hook::Postrouting
    )
}

fn out_exists(hook: Hook) -> bool {
    matches!(hook, Hook::Forward | Hook::Output | Hook::Postrouting)
}

/// What the flattening is for: a filter hook (verdicts) or a nat hook (translations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Filter,
    Nat,
}

/// One case of a rule: its packets and what it does with them (`None`: nothing, the
/// next rule runs).
struct Leaf {
    region: Vec<PBox>,
    action: Option<Action>,
    by: DecidedBy,
}

struct Flattener<'a> {
    rs: &'a Ruleset,
    dom: &'a Domain,
    mode: Mode,
    work: u64,
}

impl Ruleset {
    /// Tables and hooks this rule set holds that are read but not evaluated at all
    /// (mangle and raw tables with rules, netdev and bridge tables, ingress chains),
    /// as (line, what). A scenario refuses a rule set with any.
    pub fn unmodelled(&self) -> &[(usize, String)] {
        &self.unmodelled
    }

    /// The decision on every packet of `dom` sent through `traversal` (`Input`,
    /// `Forward` or `Output`, with the hooks [`Hook::traversal`] gives), as a
    /// first-match list that covers the whole domain. Each entry's decision is the
    /// one [`Ruleset::evaluate`] gives its packets (same verdict, same
    /// [`DecidedBy`]), with the reject's answer.
    pub fn flatten_filter(
        &self,
        traversal: Hook,
        dom: &Domain,
    ) -> Result<Vec<FlatEntry>, FlatError> {
        let mut f = Flattener {
            rs: self,
            dom,
            mode: Mode::Filter,
            work: 0,
        };
        let mut list = vec![FlatEntry {
            region: vec![dom.full()],
            outcome: Outcome::Accept,
            decided_by: DecidedBy::NoBaseChain,
        }];
        for &hook in traversal.traversal() {
            let bases = self.bases(hook, dom.family, false);
            let lists = bases
                .iter()
                .map(|&b| f.base_chain(b, hook))
                .collect::<Result<Vec<_>, _>>()?;
            f.check_ties(&bases, &lists, hook)?;
            for l in &lists {
                list = f.compose(list, l);
            }
        }
        Ok(list)
    }

    /// The translations of the nat base chains on `hook` (`Prerouting` and `Output`:
    /// destination NAT; `Postrouting` and `Input`: source NAT) for every packet of
    /// `dom` (whose states should be `New`: nat chains see only a connection's first
    /// packet), as a first-match list of the entries that translate (the packets of
    /// no entry are not translated). A `drop` or `reject` in a nat chain is refused.
    pub fn flatten_nat(&self, hook: Hook, dom: &Domain) -> Result<Vec<FlatEntry>, FlatError> {
        let mut f = Flattener {
            rs: self,
            dom,
            mode: Mode::Nat,
            work: 0,
        };
        let mut list = vec![FlatEntry {
            region: vec![dom.full()],
            outcome: Outcome::Accept,
            decided_by: DecidedBy::NoBaseChain,
        }];
        // Each nat chain runs until one sets up a translation; one that accepts
        // without lets the next run. Two of one priority in different tables that
        // translate one packet differently depend on an order the text does not fix.
        let bases = self.bases(hook, dom.family, true);
        let lists = bases
            .iter()
            .map(|&b| f.base_chain(b, hook))
            .collect::<Result<Vec<_>, _>>()?;
        f.check_ties(&bases, &lists, hook)?;
        for l in &lists {
            list = f.compose(list, l);
        }
        // The translating entries, each less the packets an earlier entry leaves as
        // they are (a list of translations has no "leave it" entry).
        let mut kept: Vec<PBox> = Vec::new();
        let mut out = Vec::new();
        for e in list {
            match e.outcome {
                Outcome::Nat(_) => {
                    let region = f.subtract(e.region, &kept, e.decided_by.line())?;
                    if !region.is_empty() {
                        out.push(FlatEntry { region, ..e });
                    }
                }
                _ => kept.extend(e.region),
            }
        }
        Ok(out)
    }

    /// The base chains on `hook` that see `family`, in the order they run.
    fn bases(&self, hook: Hook, family: Family, nat: bool) -> Vec<usize> {
        let mut bases: Vec<usize> = self
            .chains
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.base
                    .as_ref()
                    .is_some_and(|b| b.hook == hook && b.nat == nat)
                    && self.tables[c.table].family.sees(family)
            })
            .map(|(i, _)| i)
            .collect();
        bases.sort_by_key(|&i| {
            (
                self.chains[i].base.as_ref().map_or(0, |b| b.priority),
                std::cmp::Reverse(i),
            )
        });
        bases
    }
}

impl DecidedBy {
    /// The line that decided (the rule, the element's rule, the chain of a policy); 0
    /// when no base chain did.
    pub fn line(&self) -> usize {
        match self {
            DecidedBy::Rule { line, .. }
            | DecidedBy::MapElement { line, .. }
            | DecidedBy::Policy { line, .. } => *line,
            DecidedBy::NoBaseChain => 0,
        }
    }
}

impl Flattener<'_> {
    fn charge(&mut self, n: usize, line: usize) -> Result<(), FlatError> {
        self.work += n as u64;
        if self.work > MAX_BOXES {
            return Err(FlatError {
                line,
                message: format!(
                    "the rule set is too large to flatten exactly (more than {MAX_BOXES} boxes by this rule)"
                ),
            });
        }
        Ok(())
    }

    fn intersect(&mut self, a: &[PBox], b: &[PBox], line: usize) -> Result<Vec<PBox>, FlatError> {
        let mut out = Vec::new();
        for x in a {
            for y in b {
                if let Some(z) = x.intersect(y) {
                    out.push(z);
                }
            }
        }
        self.charge(out.len(), line)?;
        Ok(coalesce(out))
    }

    fn subtract(
        &mut self,
        region: Vec<PBox>,
        cut: &[PBox],
        line: usize,
    ) -> Result<Vec<PBox>, FlatError> {
        let mut region = region;
        for c in cut {
            if region.is_empty() {
                break;
            }
            if !region.iter().any(|b| b.meets(c)) {
                continue;
            }
            let mut next = Vec::with_capacity(region.len());
            for b in &region {
                next.extend(b.subtract(c));
            }
            self.charge(next.len(), line)?;
            region = if next.len() > 8 { coalesce(next) } else { next };
        }
        Ok(region)
    }

    /// The first-match list of a base chain run from its first rule, ending in its
    /// policy.
    fn base_chain(&mut self, base: usize, hook: Hook) -> Result<Vec<FlatEntry>, FlatError> {
        let full = vec![self.dom.full()];
        let mut out = Vec::new();
        self.chain(base, hook, &full, &[], false, base, &mut out)?;
        Ok(out)
    }

    fn policy(&self, base: usize) -> Result<(Outcome, DecidedBy), FlatError> {
        let c = &self.rs.chains[base];
        let v = c.base.as_ref().map_or(Verdict::Accept, |b| b.policy);
        let by = DecidedBy::Policy {
            table: self.rs.tables[c.table].name.clone(),
            chain: c.name.clone(),
            line: c.line,
        };
        let out = match v {
            Verdict::Accept => Outcome::Accept,
            Verdict::Drop if self.mode == Mode::Nat => {
                return Err(FlatError {
                    line: c.line,
                    message: format!(
                        "policy drop in nat chain {}: a nat chain translates and does not filter here (give the drop to a filter chain)",
                        c.name
                    ),
                })
            }
            Verdict::Drop => Outcome::Drop,
            Verdict::Reject => Outcome::Reject(RejectWith::default()),
        };
        Ok((out, by))
    }

    /// Emits the entries of chain `c` entered with the packets of `ctx`, less `excl`
    /// (packets an earlier `return` or `goto` took out of a caller). `has_caller`:
    /// a jump is on the stack, so a return goes back to it; otherwise a return (and
    /// the end of the chain) applies the policy of `base`.
    #[allow(clippy::too_many_arguments)]
    fn chain(
        &mut self,
        c: usize,
        hook: Hook,
        ctx: &[PBox],
        excl: &[PBox],
        has_caller: bool,
        base: usize,
        out: &mut Vec<FlatEntry>,
    ) -> Result<(), FlatError> {
        let rs = self.rs;
        let mut x: Vec<PBox> = excl.to_vec();
        for rule in &rs.chains[c].rules {
            let leaves = self.leaves(rule, hook)?;
            // Packets of an earlier case of this rule that went on past it (no
            // verdict, or back from a jump): later cases must not take them.
            let mut rx: Vec<PBox> = Vec::new();
            for leaf in leaves {
                let m = self.intersect(ctx, &leaf.region, rule.line)?;
                if m.is_empty() {
                    continue;
                }
                let cut: Vec<PBox> = x.iter().chain(&rx).cloned().collect();
                match leaf.action {
                    None => rx.extend(m),
                    Some(Action::Accept) => self.emit(m, &cut, Outcome::Accept, leaf.by, out)?,
                    Some(Action::Drop) => {
                        self.refuse_in_nat(rule, "drop")?;
                        self.emit(m, &cut, Outcome::Drop, leaf.by, out)?
                    }
                    Some(Action::Reject(w)) => {
                        self.refuse_in_nat(rule, "reject")?;
                        self.emit(m, &cut, Outcome::Reject(w), leaf.by, out)?
                    }
                    Some(Action::Nat(n)) => {
                        if self.mode == Mode::Filter {
                            return Err(FlatError {
                                line: rule.line,
                                message: format!(
                                    "a translation ({}) in a filter chain: the kernel allows it only in nat chains",
                                    rule.text
                                ),
                            });
                        }
                        self.emit(m, &cut, Outcome::Nat(n), leaf.by, out)?
                    }
                    Some(Action::Return) => {
                        if has_caller {
                            // Not the packets an earlier case of the rule let go on.
                            let gone = self.subtract(m, &rx, rule.line)?;
                            x.extend(gone);
                        } else {
                            let (o, by) = self.policy(base)?;
                            self.emit(m, &cut, o, by, out)?;
                        }
                    }
                    Some(Action::Jump(t)) => {
                        self.chain(t, hook, &m, &cut, true, base, out)?;
                        rx.extend(m);
                    }
                    Some(Action::Goto(t)) => {
                        self.chain(t, hook, &m, &cut, has_caller, base, out)?;
                        let gone = self.subtract(m, &rx, rule.line)?;
                        x.extend(gone);
                    }
                }
            }
        }
        if !has_caller {
            let (o, by) = self.policy(base)?;
            self.emit(ctx.to_vec(), &x, o, by, out)?;
        }
        Ok(())
    }

    fn refuse_in_nat(&self, rule: &Rule, what: &str) -> Result<(), FlatError> {
        if self.mode == Mode::Nat {
            return Err(FlatError {
                line: rule.line,
                message: format!(
                    "{what} in a nat chain: a nat chain translates and does not filter here (give the {what} to a filter chain)"
                ),
            });
        }
        Ok(())
    }

    fn emit(
        &mut self,
        m: Vec<PBox>,
        cut: &[PBox],
        outcome: Outcome,
        by: DecidedBy,
        out: &mut Vec<FlatEntry>,
    ) -> Result<(), FlatError> {
        let region = self.subtract(m, cut, by.line())?;
        if !region.is_empty() {
            out.push(FlatEntry {
                region,
                outcome,
                decided_by: by,
            });
        }
        Ok(())
    }

    /// Replaces every accepting entry of `list` by `next` restricted to its packets
    /// (an accept ends only its base chain). What decides an accept that passed
    /// several base chains is the last rule that accepted, else the last policy, as
    /// in [`Ruleset::evaluate`].
    fn compose(&mut self, list: Vec<FlatEntry>, next: &[FlatEntry]) -> Vec<FlatEntry> {
        let mut out = Vec::new();
        for e in list {
            if e.outcome != Outcome::Accept {
                out.push(e);
                continue;
            }
            for n in next {
                let mut region = Vec::new();
                for a in &e.region {
                    for b in &n.region {
                        if let Some(z) = a.intersect(b) {
                            region.push(z);
                        }
                    }
                }
                if region.is_empty() {
                    continue;
                }
                let by = if n.outcome == Outcome::Accept
                    && !matches!(
                        n.decided_by,
                        DecidedBy::Rule { .. } | DecidedBy::MapElement { .. }
                    )
                    && matches!(
                        e.decided_by,
                        DecidedBy::Rule { .. } | DecidedBy::MapElement { .. }
                    ) {
                    e.decided_by.clone()
                } else {
                    n.decided_by.clone()
                };
                out.push(FlatEntry {
                    region: coalesce(region),
                    outcome: n.outcome.clone(),
                    decided_by: by,
                });
            }
        }
        out
    }

    /// Base chains of one priority in different tables run in an order the text does
    /// not fix (see [`crate::TieNote`]): refused when two of them may end one packet
    /// differently (a drop and a reject, or rejects of two kinds).
    fn check_ties(
        &self,
        bases: &[usize],
        lists: &[Vec<FlatEntry>],
        hook: Hook,
    ) -> Result<(), FlatError> {
        let rs = self.rs;
        let prio = |c: usize| rs.chains[c].base.as_ref().map_or(0, |b| b.priority);
        for i in 0..bases.len() {
            for j in i + 1..bases.len() {
                let (a, b) = (bases[i], bases[j]);
                if prio(a) != prio(b) || rs.chains[a].table == rs.chains[b].table {
                    continue;
                }
                for x in lists[i].iter().filter(|e| e.outcome != Outcome::Accept) {
                    for y in lists[j].iter().filter(|e| e.outcome != Outcome::Accept) {
                        if x.outcome == y.outcome {
                            continue;
                        }
                        let meet = x.region.iter().any(|p| y.region.iter().any(|q| p.meets(q)));
                        if meet {
                            let (ca, cb) = (&rs.chains[a], &rs.chains[b]);
                            return Err(FlatError {
                                line: cb.line,
                                message: format!(
                                    "base chains {} (table {}, line {}) and {} (table {}, line {}) share hook {} priority {}, and the order the kernel runs them in is not fixed by the text: line {} and line {} may decide one packet differently (give them different priorities)",
                                    ca.name,
                                    rs.tables[ca.table].name,
                                    ca.line,
                                    cb.name,
                                    rs.tables[cb.table].name,
                                    cb.line,
                                    hook.name(),
                                    prio(a),
                                    x.decided_by.line(),
                                    y.decided_by.line()
                                ),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The cases of a rule at `hook`, in the order they are tried.
    fn leaves(&mut self, rule: &Rule, hook: Hook) -> Result<Vec<Leaf>, FlatError> {
        let mut out = Vec::new();
        self.walk(rule, 0, vec![self.dom.full()], hook, &mut out)?;
        Ok(out)
    }

    fn walk(
        &mut self,
        rule: &Rule,
        from: usize,
        mut region: Vec<PBox>,
        hook: Hook,
        out: &mut Vec<Leaf>,
    ) -> Result<(), FlatError> {
        let by = || DecidedBy::Rule {
            line: rule.line,
            text: rule.text.clone(),
        };
        for (j, item) in rule.items.iter().enumerate().skip(from) {
            match item {
                Item::Cond(c) => {
                    let r = self.cond_region(c, hook);
                    region = self.intersect(&region, &r, rule.line)?;
                    if region.is_empty() {
                        return Ok(());
                    }
                }
                Item::Log | Item::Counter => {}
                Item::Verdict(a) => {
                    out.push(Leaf {
                        region,
                        action: Some(a.clone()),
                        by: by(),
                    });
                    return Ok(());
                }
                Item::Vmap { map, keys } => {
                    let dep = self.key_dependency(keys);
                    region = self.intersect(&region, &[dep], rule.line)?;
                    if region.is_empty() {
                        return Ok(());
                    }
                    let Some(m) = self.rs.maps.get(*map) else {
                        return Ok(());
                    };
                    // Elements never overlap; the catch-all takes what no other does,
                    // so it comes last.
                    let mut elems: Vec<&MapElem> =
                        m.elems.iter().filter(|e| e.key.is_some()).collect();
                    elems.extend(m.elems.iter().filter(|e| e.key.is_none()));
                    for e in elems {
                        let r = match &e.key {
                            Some(k) => {
                                let b = self.elem_box(keys, k, hook);
                                self.intersect(&region, &[b], rule.line)?
                            }
                            None => region.clone(),
                        };
                        if r.is_empty() {
                            continue;
                        }
                        match &e.verdict {
                            Some(a) => out.push(Leaf {
                                region: r,
                                action: Some(a.clone()),
                                by: DecidedBy::MapElement {
                                    line: rule.line,
                                    text: rule.text.clone(),
                                    map: m.name.clone(),
                                    element_line: e.line,
                                    element: e.text.clone(),
                                },
                            }),
                            None => self.walk(rule, j + 1, r, hook, out)?,
                        }
                    }
                    return Ok(());
                }
            }
        }
        out.push(Leaf {
            region,
            action: None,
            by: by(),
        });
        Ok(())
    }

    fn iface_bits(&self, out: bool, hook: Hook, test: impl Fn(&str) -> bool) -> u64 {
        let names = if out {
            &self.dom.out_devs
        } else {
            &self.dom.in_devs
        };
        let exists = if out {
            out_exists(hook)
        } else {
            in_exists(hook)
        };
        names
            .iter()
            .enumerate()
            .filter(|(_, n)| test(if exists { n.as_str() } else { "" }))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    fn addr_intervals(&self, set: &[crate::model::AddrRange]) -> Intervals {
        iv_normalise(
            set.iter()
                .filter(|r| r.family == self.dom.family)
                .map(|r| (r.lo, r.hi))
                .collect(),
        )
    }

    /// The packets a condition holds for at `hook`.
    fn cond_region(&self, c: &Cond, hook: Hook) -> Vec<PBox> {
        let dom = self.dom;
        let full = dom.full();
        let with_bits = |k: usize, b: u64| {
            let mut x = full.clone();
            x.bits[k] &= b;
            x
        };
        let keep = |b: PBox| if b.is_empty() { vec![] } else { vec![b] };
        match c {
            Cond::Family(f) => keep(if *f == dom.family {
                full.clone()
            } else {
                with_bits(PROTO, 0)
            }),
            Cond::Addr {
                dst,
                neg,
                family,
                set,
            } => {
                if *family != dom.family {
                    return vec![];
                }
                let mut iv = self.addr_intervals(set);
                if *neg {
                    iv = iv_subtract(&vec![(0, dom.addr_max())], &iv);
                }
                let mut b = full.clone();
                b.num[if *dst { DST } else { SRC }] = iv;
                keep(b)
            }
            Cond::Proto { neg, protos } => {
                let bits = dom.proto_bits(protos);
                keep(with_bits(PROTO, if *neg { !bits } else { bits }))
            }
            Cond::Port {
                sel,
                neg,
                l4,
                ranges,
            } => {
                let mut protos = dom.port_protos();
                if let Some(p) = l4 {
                    protos &= dom.proto_bits(&[*p]);
                }
                let iv = iv_normalise(
                    ranges
                        .iter()
                        .map(|&(a, b)| (u128::from(a), u128::from(b)))
                        .collect(),
                );
                let comp = iv_subtract(&vec![(0, 65535)], &iv);
                let mut b = with_bits(PROTO, protos);
                match (sel, neg) {
                    (PortSel::Src, _) => {
                        b.num[SPORT] = if *neg { comp } else { iv };
                        keep(b)
                    }
                    (PortSel::Dst, _) => {
                        b.num[DPORT] = if *neg { comp } else { iv };
                        keep(b)
                    }
                    (PortSel::Either, true) => {
                        b.num[SPORT] = comp.clone();
                        b.num[DPORT] = comp;
                        keep(b)
                    }
                    (PortSel::Either, false) => {
                        let mut s = b.clone();
                        s.num[SPORT] = iv.clone();
                        let mut d = b;
                        d.num[DPORT] = iv;
                        let mut v = keep(s);
                        v.extend(keep(d));
                        v
                    }
                }
            }
            Cond::Iface { out, neg, pats } => {
                let bits =
                    self.iface_bits(*out, hook, |n| pats.iter().any(|p| p.matches(n)) != *neg);
                keep(with_bits(if *out { OUT } else { IN }, bits))
            }
            Cond::Ct { neg, mask } => keep(with_bits(
                STATE,
                dom.state_bits(|b| (mask & b != 0) != *neg),
            )),
            Cond::CtValues { neg, values } => keep(with_bits(
                STATE,
                dom.state_bits(|b| values.contains(&b) != *neg),
            )),
        }
    }

    /// What a verdict map's key needs of a packet before any element is looked at.
    fn key_dependency(&self, keys: &[KeySel]) -> PBox {
        let dom = self.dom;
        let mut b = dom.full();
        for k in keys {
            match *k {
                KeySel::Addr { family, .. } if family != dom.family => b.bits[PROTO] = 0,
                KeySel::Proto {
                    family: Some(family),
                } if family != dom.family => b.bits[PROTO] = 0,
                KeySel::Port { l4, .. } => {
                    b.bits[PROTO] &= dom.port_protos();
                    if let Some(p) = l4 {
                        b.bits[PROTO] &= dom.proto_bits(&[p]);
                    }
                }
                _ => {}
            }
        }
        b
    }

    /// The packets whose key is in one element.
    fn elem_box(&self, keys: &[KeySel], vals: &[KeyVal], hook: Hook) -> PBox {
        let dom = self.dom;
        let mut b = dom.full();
        for (k, v) in keys.iter().zip(vals) {
            match (*k, v) {
                (KeySel::Addr { dst, .. }, KeyVal::Addr(r)) => {
                    let k = if dst { DST } else { SRC };
                    b.num[k] = iv_intersect(&b.num[k], &self.addr_intervals(&[*r]));
                }
                (KeySel::Proto { .. }, KeyVal::Proto(p)) => b.bits[PROTO] &= dom.proto_bits(&[*p]),
                (KeySel::Port { dst, .. }, KeyVal::Port(lo, hi)) => {
                    let k = if dst { DPORT } else { SPORT };
                    b.num[k] = iv_intersect(&b.num[k], &vec![(u128::from(*lo), u128::from(*hi))]);
                }
                (KeySel::Iface { out }, KeyVal::Iface(pat)) => {
                    b.bits[if out { OUT } else { IN }] &=
                        self.iface_bits(out, hook, |n| pat.matches(n));
                }
                (KeySel::Ct, KeyVal::Ct(m)) => b.bits[STATE] &= dom.state_bits(|x| x == *m),
                (KeySel::NfProto, KeyVal::NfProto(f)) => {
                    if *f != dom.family {
                        b.bits[PROTO] = 0;
                    }
                }
                _ => b.bits[PROTO] = 0,
            }
        }
        b
    }
}

/// Merges boxes that differ in one dimension only (a pass until nothing merges), and
/// drops duplicates: the same packets, fewer boxes.
pub fn coalesce(mut v: Vec<PBox>) -> Vec<PBox> {
    if v.len() < 2 {
        return v;
    }
    v.sort_unstable_by(|a, b| a.bits.cmp(&b.bits).then_with(|| a.num.cmp(&b.num)));
    v.dedup();
    if v.len() > 4096 {
        return v;
    }
    loop {
        let mut merged = false;
        let mut i = 0;
        while i < v.len() {
            let mut j = i + 1;
            while j < v.len() {
                if let Some(m) = merge_pair(&v[i], &v[j]) {
                    v[i] = m;
                    v.swap_remove(j);
                    merged = true;
                } else {
                    j += 1;
                }
            }
            i += 1;
        }
        if !merged {
            return v;
        }
    }
}

fn merge_pair(a: &PBox, b: &PBox) -> Option<PBox> {
    let mut diff: Option<(bool, usize)> = None;
    for k in 0..4 {
        if a.bits[k] != b.bits[k] {
            if diff.is_some() {
                return None;
            }
            diff = Some((true, k));
        }
    }
    for k in 0..4 {
        if a.num[k] != b.num[k] {
            if diff.is_some() {
                return None;
            }
            diff = Some((false, k));
        }
    }
    let mut m = a.clone();
    match diff {
        None => {}
        Some((true, k)) => {
            // Merging protocols keeps the rule that cut ports hold only port protocols.
            m.bits[k] |= b.bits[k];
        }
        Some((false, k)) => m.num[k] = iv_union(&a.num[k], &b.num[k]),
    }
    Some(m)
}

/// The number of an address of `family`, as the boxes hold it.
pub fn addr_number(a: IpAddr) -> u128 {
    crate::model::addr_key(a).1
}

/// The entry of a flattened list that decides `packet` (the first whose region holds
/// it), or `None` when the packet is not in the domain (a protocol, device name or
/// state it does not have) or no entry holds it. The packet's devices are read as a
/// whole traversal has them: `in_iface` (`""` when absent) and `out_iface`.
pub fn decide<'a>(
    entries: &'a [FlatEntry],
    dom: &Domain,
    packet: &crate::Packet,
) -> Option<&'a FlatEntry> {
    let (fam, src) = crate::model::addr_key(packet.src);
    let (_, dst) = crate::model::addr_key(packet.dst);
    if fam != dom.family {
        return None;
    }
    let proto = dom.protos.iter().position(|p| *p == packet.protocol)?;
    let dev = |names: &[String], n: &Option<String>| {
        names.iter().position(|x| x == n.as_deref().unwrap_or(""))
    };
    let in_dev = dev(&dom.in_devs, &packet.in_iface)?;
    let out_dev = dev(&dom.out_devs, &packet.out_iface)?;
    if !dom.states.contains(&packet.state) {
        return None;
    }
    let ports = if has_ports(packet.protocol) {
        Some((packet.sport?, packet.dport?))
    } else {
        None
    };
    entries.iter().find(|e| {
        e.region
            .iter()
            .any(|b| b.contains(proto, src, dst, ports, in_dev, out_dev, packet.state.bit()))
    })
}

/// A base chain, as [`Ruleset::base_chains`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    pub table: String,
    /// The table's family: `ip`, `ip6` or `inet` (iptables-save: `ip` or `ip6`).
    pub family: String,
    pub chain: String,
    /// Line of the chain's declaration.
    pub line: usize,
    pub hook: Hook,
    pub priority: i32,
    /// A nat chain.
    pub nat: bool,
    /// Whether the chain, or a chain it jumps or goes to, matches the conntrack
    /// state (directly or as a verdict map's key).
    pub reads_state: bool,
}

impl Ruleset {
    /// The base chains of every table that is evaluated (dormant tables' chains are
    /// not base chains), in the order of the text.
    pub fn base_chains(&self) -> Vec<BaseChain> {
        self.chains
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let b = c.base.as_ref()?;
                Some(BaseChain {
                    table: self.tables[c.table].name.clone(),
                    family: match self.tables[c.table].family {
                        crate::TableFamily::Ip => "ip",
                        crate::TableFamily::Ip6 => "ip6",
                        crate::TableFamily::Inet => "inet",
                    }
                    .to_string(),
                    chain: c.name.clone(),
                    line: c.line,
                    hook: b.hook,
                    priority: b.priority,
                    nat: b.nat,
                    reads_state: self.reads_state(i),
                })
            })
            .collect()
    }

    /// Whether every table is IPv6 only (`ip6tables-save` text, or nft `ip6` tables).
    pub fn ipv6_only(&self) -> bool {
        !self.tables.is_empty()
            && self
                .tables
                .iter()
                .all(|t| t.family == crate::TableFamily::Ip6)
    }

    fn reads_state(&self, start: usize) -> bool {
        let mut seen = vec![false; self.chains.len()];
        let mut stack = vec![start];
        while let Some(c) = stack.pop() {
            if std::mem::replace(&mut seen[c], true) {
                continue;
            }
            for r in &self.chains[c].rules {
                for it in &r.items {
                    match it {
                        Item::Cond(Cond::Ct { .. } | Cond::CtValues { .. }) => return true,
                        Item::Vmap { map, keys } => {
                            if keys.contains(&KeySel::Ct) {
                                return true;
                            }
                            for e in self.maps.get(*map).map_or(&[][..], |m| &m.elems[..]) {
                                if let Some(Action::Jump(t) | Action::Goto(t)) = e.verdict {
                                    stack.push(t);
                                }
                            }
                        }
                        Item::Verdict(Action::Jump(t) | Action::Goto(t)) => stack.push(*t),
                        _ => {}
                    }
                }
            }
        }
        false
    }
}
