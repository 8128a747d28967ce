//! The all-journeys engine: pushes *sets* of packets through the same stages
//! the tracer applies to one packet — route by longest prefix, DNAT, the
//! reverse-path check, filters by first match, SNAT, neighbours, sockets — and
//! then the replies back, with conntrack and NAT undone where the request set
//! them up.
//!
//! A flow keeps its packets in the coordinates the client sent them in, plus a
//! `View` saying where each header field currently comes from: the original
//! field, or a constant a NAT wrote. A rule is pulled back through the view
//! onto the original coordinates, so rewrites and the reply's swap of source
//! and destination never lose exactness.

use std::collections::HashMap;

use crate::evidence::Stage;
use crate::journey::route::MartianAt;
use crate::model::*;

use super::budget::{outcome_bytes, Budget};
use super::space::*;

/// Linux's default ephemeral port range (`net.ipv4.ip_local_port_range`).
pub const EPHEMERAL: (u16, u16) = (32768, 60999);

/// Where a header field's current value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Orig(Dim),
    Value(u128),
}

/// The current header, field by field, in terms of the original packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct View {
    pub src: Field,
    pub dst: Field,
    pub sport: Field,
    pub dport: Field,
}

impl View {
    pub fn identity() -> View {
        View {
            src: Field::Orig(Dim::Src),
            dst: Field::Orig(Dim::Dst),
            sport: Field::Orig(Dim::Sport),
            dport: Field::Orig(Dim::Dport),
        }
    }

    fn field(&self, d: Dim) -> Field {
        match d {
            Dim::Src => self.src,
            Dim::Dst => self.dst,
            Dim::Sport => self.sport,
            Dim::Dport => self.dport,
        }
    }

    /// The reply's view: source and destination swapped.
    pub fn swapped(&self) -> View {
        View {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        }
    }

    /// A condition on current fields, as a condition on original fields
    /// (`None` when a constant field fails it).
    pub fn pull_back(&self, cond: &Cube) -> Option<Cube> {
        let mut out = Cube::full(cond.fam);
        out.proto = cond.proto;
        for d in [Dim::Src, Dim::Dst, Dim::Sport, Dim::Dport] {
            let (lo, hi) = cond.addr(d);
            match self.field(d) {
                Field::Value(v) => {
                    if v < lo || v > hi {
                        return None;
                    }
                }
                Field::Orig(o) => {
                    let (clo, chi) = out.addr(o);
                    let (nlo, nhi) = (clo.max(lo), chi.min(hi));
                    if nlo > nhi {
                        return None;
                    }
                    out.set(o, (nlo, nhi));
                }
            }
        }
        Some(out)
    }

    /// The current range of a field over one original cube.
    pub fn current(&self, c: &Cube, d: Dim) -> (u128, u128) {
        match self.field(d) {
            Field::Value(v) => (v, v),
            Field::Orig(o) => c.addr(o),
        }
    }
}

/// One decision on a journey, compact enough to compare paths (indices are
/// `u32`: a reach of thousands of hosts keeps millions of steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Route(u32),
    Dnat(u32),
    Snat(u32),
    ReversePath,
    /// `None` is the default policy; `Some(ESTABLISHED)` the implicit established rule.
    Filter {
        filter: FilterId,
        rule: Option<u32>,
    },
    Socket(u32),
    UndoSnat,
    UndoDnat,
}

/// The rule index of the implicit "established connections pass" rule of a stateful filter.
pub const ESTABLISHED: u32 = u32::MAX;

/// A [`StepKind`] and where it was taken, packed in twelve bytes: a reach
/// of thousands of hosts keeps millions of steps, and they are hashed and
/// compared to find the paths that journeys share.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathStep {
    /// The device (host index, or a network's stand-in after the hosts).
    dev: u32,
    /// Bit 0: taken by the reply; bit 1: taken at the journey's own source;
    /// bits 2-4: the kind; bit 5: a filter step names a rule (not the
    /// default policy); bits 6-31: the filter.
    tag: u32,
    /// The kind's index (route, NAT rule, filter rule, socket), else 0.
    val: u32,
}

const _: () = assert!(std::mem::size_of::<PathStep>() == 12);

const KIND_SHIFT: u32 = 2;
const HAS_RULE: u32 = 1 << 5;
const FILTER_SHIFT: u32 = 6;

impl PathStep {
    /// `home`: taken at the journey's own source (as it leaves, or as the
    /// reply comes home). A walk for a class of sources tells these steps as
    /// taken at its first member; `reach` retells them for each member.
    pub fn new(dev: u32, reply: bool, home: bool, kind: StepKind) -> PathStep {
        let (k, val, extra) = match kind {
            StepKind::Route(i) => (0, i, 0),
            StepKind::Dnat(i) => (1, i, 0),
            StepKind::Snat(i) => (2, i, 0),
            StepKind::ReversePath => (3, 0, 0),
            StepKind::Filter { filter, rule } => {
                debug_assert!(filter.0 < 1 << (32 - FILTER_SHIFT));
                (
                    4,
                    rule.unwrap_or(0),
                    // Filters are counted in the scenario's memory: far fewer than 2^26.
                    (filter.0 << FILTER_SHIFT) | if rule.is_some() { HAS_RULE } else { 0 },
                )
            }
            StepKind::Socket(i) => (5, i, 0),
            StepKind::UndoSnat => (6, 0, 0),
            StepKind::UndoDnat => (7, 0, 0),
        };
        PathStep {
            dev,
            tag: reply as u32 | (home as u32) << 1 | k << KIND_SHIFT | extra,
            val,
        }
    }

    pub fn device(&self) -> usize {
        self.dev as usize
    }

    /// The same step taken at another device.
    pub fn at(self, dev: usize) -> PathStep {
        PathStep {
            dev: dev as u32,
            ..self
        }
    }

    pub fn reply(&self) -> bool {
        self.tag & 1 != 0
    }

    /// Taken at the journey's own source (see [`PathStep::new`]).
    pub fn home(&self) -> bool {
        self.tag & 2 != 0
    }

    pub fn kind(&self) -> StepKind {
        let v = self.val;
        match (self.tag >> KIND_SHIFT) & 7 {
            0 => StepKind::Route(v),
            1 => StepKind::Dnat(v),
            2 => StepKind::Snat(v),
            3 => StepKind::ReversePath,
            4 => StepKind::Filter {
                filter: FilterId(self.tag >> FILTER_SHIFT),
                rule: (self.tag & HAS_RULE != 0).then_some(v),
            },
            5 => StepKind::Socket(v),
            6 => StepKind::UndoSnat,
            _ => StepKind::UndoDnat,
        }
    }
}

impl std::hash::Hash for PathStep {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.dev as u64 | (self.tag as u64) << 32);
        h.write_u32(self.val);
    }
}

impl std::fmt::Debug for PathStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathStep")
            .field("dev", &self.dev)
            .field("reply", &self.reply())
            .field("home", &self.home())
            .field("kind", &self.kind())
            .finish()
    }
}

impl PathStep {
    pub fn stage(&self) -> Stage {
        match self.kind() {
            StepKind::Route(_) => Stage::Route,
            StepKind::Dnat(_) => Stage::Dnat,
            StepKind::Snat(_) => Stage::Snat,
            StepKind::ReversePath => Stage::ReversePath,
            StepKind::Filter { .. } => Stage::Filter,
            StepKind::Socket(_) => Stage::Socket,
            StepKind::UndoSnat | StepKind::UndoDnat => Stage::Conntrack,
        }
    }
}

/// Why part of a set stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stop {
    NoRoute,
    Blackhole,
    NoNeighbour,
    NotRouter,
    TtlExceeded,
    ReversePath,
    /// A source no sender can have (Linux's martian check: `route::MARTIANS`).
    Martian,
    Filtered(Action),
    NoSocket,
    /// Addressed to the sender itself: not a journey across the network.
    Local,
    /// Left the scenario: arrived on a catch-all network at an address no
    /// host has (only walks that look for egress follow packets there).
    Egress,
    /// The reply reached the client but not as the reply it expects.
    ReplyMismatch,
}

/// A set of packets that ended somewhere, with the decisions on its way.
///
/// A walk for a class of several hosts may include each member's packets to
/// its own addresses (when every member routes them straight to itself):
/// they end at that member and are not journeys across the network; a
/// caller drops them with [`Engine::drop_self_pairs`].
#[derive(Debug, Clone)]
pub struct Outcome {
    pub space: Space,
    pub path: Vec<PathStep>,
    pub end: End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Accepted by this socket, and the reply made it back.
    Reached { dev: usize, socket: usize },
    /// Stopped on the request (`reply: false`) or on the reply.
    Stopped { dev: usize, stop: Stop, reply: bool },
}

/// How a group of alike hosts took a request: the request's view when it
/// arrived and, per member, its sockets that took packets with the packets
/// each accepts (current coordinates), by member.
struct Delivery {
    group: u32,
    view: View,
    sockets: Vec<(usize, usize, Vec<Cube>)>,
}

/// Where a walk leaves its outcomes.
struct Sink {
    outcomes: Vec<Outcome>,
    keep_stopped: bool,
    /// Follow requests to addresses no host has on catch-all networks.
    egress: bool,
    scratch: Scratch,
    /// The walk's budget for its outcomes, how many are counted, and the
    /// bytes of those not yet added to the budget (added by the MiB, and at
    /// the end of the walk).
    budget: Option<Budget>,
    counted: usize,
    pending: u64,
    /// The bytes added to the budget so far.
    charged: u64,
    /// Requests arriving at a router from the class's origin are held here
    /// instead of walked on (see [`Engine::walk_classes`]).
    holding: bool,
    /// Held: requests that passed this many routers (see [`Engine::walk_classes`]).
    hold_level: usize,
    held: Vec<Flow>,
}

impl Sink {
    /// A sink for one walk, with the buffers and budget of `cache`.
    fn new(keep_stopped: bool, egress: bool, cache: &mut WalkCache) -> Sink {
        Sink {
            outcomes: Vec::new(),
            keep_stopped,
            egress,
            scratch: std::mem::take(&mut cache.0),
            budget: cache.1.take(),
            counted: 0,
            pending: 0,
            charged: 0,
            holding: false,
            hold_level: 0,
            held: Vec::new(),
        }
    }

    /// The walk's outcomes, its budget settled; buffers and budget back to `cache`.
    fn finish(mut self, cache: &mut WalkCache) -> Vec<Outcome> {
        self.settle();
        cache.0 = self.scratch;
        cache.1 = self.budget;
        self.outcomes
    }

    /// Counts the outcomes kept since the last look; true when the walk's
    /// budget is exceeded or cancelled (then it stops, its answer partial).
    fn over(&mut self) -> bool {
        let Some(b) = &self.budget else {
            return false;
        };
        let new = self.outcomes.get(self.counted..).unwrap_or_default();
        self.pending += new.iter().map(outcome_bytes).sum::<u64>();
        self.counted = self.outcomes.len();
        if self.pending >= 1 << 20 {
            self.charged += self.pending;
            return b.charge(std::mem::take(&mut self.pending)).is_err();
        }
        b.check().is_err()
    }

    /// Adds the rest to the budget (the walk is over): what its outcomes
    /// hold now, which may be more than when each was counted (a lone
    /// stand-in's outcomes are given to its alike ranges at the end).
    fn settle(&mut self) {
        self.over();
        if let Some(b) = &self.budget {
            let total: u64 = self.outcomes.iter().map(outcome_bytes).sum();
            let _ = b.charge(total.saturating_sub(self.charged));
            self.charged = total.max(self.charged);
            self.pending = 0;
        }
    }

    /// True (and the budget exceeded) when a flow of `boxes` boxes, or
    /// pieces about to be cut, are too large for the budget as a whole: a
    /// device copies a flow a few times as it takes it in. (Not counted:
    /// flows come and go, and what stays becomes outcomes, counted then.)
    fn too_large(&mut self, boxes: impl FnOnce() -> usize) -> bool {
        let Some(b) = self.budget.as_ref().filter(|b| b.limit() < u64::MAX) else {
            return false;
        };
        let bytes = 4 * (boxes() * std::mem::size_of::<Cube>()) as u64;
        bytes > b.limit() && b.charge(b.limit().saturating_add(1)).is_err()
    }
}

/// What walks on one thread keep from one class to the next: buffers, which
/// rules of a filter may apply to a range of sources, and which may match a
/// span of destinations (the same for every class of one engine).
/// And the budget of the next walk, if it has one (see [`WalkCache::set_budget`]).
#[derive(Default)]
pub struct WalkCache(Scratch, Option<Budget>);

impl WalkCache {
    /// The next walks count their outcomes against `budget` and stop early,
    /// with part of their answer, once it is exceeded (or cancelled): check
    /// the budget before using the answer.
    pub fn set_budget(&mut self, budget: Option<Budget>) {
        self.1 = budget;
    }
}

/// Buffers the walk reuses instead of allocating per box.
#[derive(Default)]
struct Scratch {
    cands: Vec<u32>,
    work: Vec<(Cube, usize)>,
    decided: Vec<(u32, Cube)>,
    hit: Vec<Cube>,
    miss: Vec<Cube>,
    split: SplitScratch,
    /// Per filter, state, family and source range: the rules that apply in
    /// that state and whose source hull meets those sources (a superset of
    /// the rules that match some of them; interfaces are checked rule by rule).
    live: super::fasthash::FastMap<LiveKey, std::rc::Rc<Vec<u64>>>,
    /// Per filter, family and span of a destination index's elementary
    /// intervals: the rules that may match there.
    spans: super::fasthash::FastMap<SpanKey, Box<[u64]>>,
}

type SpanKey = ((u32, u8), u32, u32);

/// The span bitmaps of a walk's cache, and the filter and family asking.
type SpanCache<'c> = (
    &'c mut super::fasthash::FastMap<SpanKey, Box<[u64]>>,
    (u32, u8),
);

type LiveKey = (u32, ConnState, usize, u128, u128);

/// An interval of addresses (or of any field), both ends included.
type Range = (u128, u128);

/// A device: a host of the scenario, or a sender standing for a network.
pub struct Device {
    pub host: Host,
    /// For a network's stand-in sender: the addresses it sends from.
    pub owned: Vec<(Fam, u128, u128)>,
    /// Route table cut into disjoint destination intervals: (fam, lo, hi, route index).
    atoms: Vec<(Fam, u128, u128, usize)>,
}

/// Who a journey starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Host(HostId),
    /// Anyone on the network without an address of a host of the scenario.
    Network(NetworkId),
}

/// A path as a shared list, newest step first: children share their
/// parent's steps, so splitting a flow never copies its history.
#[derive(Clone, Default)]
struct Steps(Option<std::rc::Rc<(PathStep, Steps)>>);

impl Steps {
    fn push(&mut self, s: PathStep) {
        let prev = std::mem::take(self);
        self.0 = Some(std::rc::Rc::new((s, prev)));
    }

    fn pop(&mut self) {
        if let Some(node) = self.0.take() {
            *self = node.1.clone();
        }
    }

    fn iter(&self) -> impl Iterator<Item = &PathStep> {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let (s, next) = cur?;
            cur = next.0.as_deref();
            Some(s)
        })
    }

    /// These steps, then `after` (oldest first).
    fn followed_by(&self, after: &[PathStep]) -> Steps {
        let mut path = self.clone();
        for s in after {
            path.push(*s);
        }
        path
    }

    /// Oldest step first.
    fn to_vec(&self) -> Vec<PathStep> {
        let mut v: Vec<PathStep> = self.iter().copied().collect();
        v.reverse();
        v
    }
}

struct Flow {
    space: Space,
    view: View,
    dev: usize,
    in_iface: Option<usize>,
    ttl: u8,
    path: Steps,
    reply: bool,
    /// Request: the devices passed. Reply: copied from its request.
    visited: std::rc::Rc<Vec<usize>>,
    /// The devices the journey starts from (a class of hosts configured alike).
    class: std::rc::Rc<Class>,
    /// NAT done on the request: (device, field before the rewrite) for SNAT and DNAT.
    snat_log: Vec<(usize, Field)>,
    dnat_log: Vec<(usize, Field, Field)>,
    /// The flow is at a group of alike hosts, `dev` standing for them all
    /// (from the link that reached them until the reply leaves).
    group: Option<u32>,
    /// For a group: which member's socket took which packets.
    delivery: Option<std::rc::Rc<Delivery>>,
    /// Several classes' requests walked as one from the router they all
    /// reached first (see [`Engine::walk_classes`]): each class's part of
    /// the flow is told apart by its source addresses.
    merged: Option<std::rc::Rc<Merged>>,
}

/// The classes whose requests travel together in one flow: each one's
/// source addresses (original coordinates: a class's packets keep their
/// original source whatever NAT does), and what its flow was when it
/// arrived at the router where they joined.
struct Merged {
    /// (family, first, last source address, part), sorted; parts' addresses
    /// are disjoint. In a tagged join, one entry per range of a class's
    /// sources, naming one of the class's parts (several parts of one
    /// class may send from the same addresses).
    table: Vec<(Fam, u128, u128, usize)>,
    parts: Vec<MergedPart>,
    /// A tagged join (see [`Engine::join_tagged`]): each part's own
    /// sources, per family; the flow's boxes are tagged with their parts.
    sources: Option<Vec<PerFam<Intervals>>>,
}

/// At most this many parts in a tagged join: one bit of [`Cube::tag`] each.
const TAG_PARTS: usize = 32;
// More parts than the tag has bits would give two parts one bit (`1 << k`
// wraps in a release build): their packets would be told to both.
const _: () = assert!(TAG_PARTS <= Cube::TAG_BITS);

struct MergedPart {
    /// Which of the walked classes (the caller's numbering).
    class_no: usize,
    class: std::rc::Rc<Class>,
    /// The steps up to the router where the flows joined.
    path: Steps,
    /// The device the class's journeys start from.
    origin: usize,
    /// The networks the class's members are on: a reply going onto one of
    /// them leaves the merged flow (it is coming home, class by class).
    nets: Vec<NetworkId>,
}

impl MergedPart {
    /// The part as a part of a later join: its steps, then `after` (those
    /// of the flow it was in since it joined).
    fn followed_by(&self, after: &[PathStep]) -> MergedPart {
        MergedPart {
            class_no: self.class_no,
            class: self.class.clone(),
            path: self.path.followed_by(after),
            origin: self.origin,
            nets: self.nets.clone(),
        }
    }
}

/// The devices a walk starts from, and their own addresses together.
struct Class {
    devs: Vec<usize>,
    /// Every member's own addresses, per family (IPv4, IPv6), sorted and merged.
    own: PerFam<Intervals>,
    /// Each member's packets to its own addresses travel with the class
    /// instead of being cut away at the origin: every member routes its own
    /// addresses straight to itself, so those packets can only land at the
    /// member itself, where [`Engine::walk`]'s caller drops them (see
    /// `Outcome`). Cutting the diagonal at the origin costs a box per
    /// member, carried through the whole walk: a flat network of N alike
    /// hosts made N^2 boxes.
    self_pairs: bool,
    /// Some members' addresses are alike (see [`Engine::host_reps`]): the
    /// walk sends one address per group of alike addresses and gives its
    /// outcomes to the others.
    grouped: bool,
    /// Per table of who answers on a link (by its place in memory: the
    /// tables live as long as the engine), the members' addresses there and
    /// the interface they have on it (see [`Class::on_link`]).
    on_link: std::cell::RefCell<Vec<(usize, Option<MembersOnLink>)>>,
}

/// The interface members have on a link, and their addresses there per family.
type MembersOnLink = (usize, PerFam<Intervals>);

impl Class {
    /// The addresses of the members that answer on a link (`table`: who
    /// answers for each address there), per family, and the interface the
    /// members have on it; `None` when no member answers there, or members
    /// answer on different interfaces.
    fn on_link(&self, table: &[OnLink]) -> Option<MembersOnLink> {
        let key = table.as_ptr() as usize;
        if let Some((_, v)) = self.on_link.borrow().iter().find(|(k, _)| *k == key) {
            return v.clone();
        }
        let members: super::fasthash::FastSet<usize> = self.devs.iter().copied().collect();
        let mut iface = None;
        let mut lists: PerFam<Intervals> = Default::default();
        let mut alike = true;
        for &(fam, lo, hi, (d, ii)) in table {
            if members.contains(&d) {
                alike &= *iface.get_or_insert(ii) == ii;
                lists[usize::from(fam == Fam::V6)].push((lo, hi));
            }
        }
        let v = iface.filter(|_| alike).map(|ii| (ii, lists.map(normalise)));
        self.on_link.borrow_mut().push((key, v.clone()));
        v
    }
}

impl std::ops::Deref for Class {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.devs
    }
}

/// `items.iter().map(f).collect()`, on every core (in contiguous chunks, so
/// the order is the items' order).
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    par_map_with(items, |_: &mut (), item| f(item))
}

/// [`par_map`] with a state per worker (a [`WalkCache`]) that `f` keeps
/// from one item to the next.
pub(crate) fn par_map_with<T: Sync, S: Default, R: Send>(
    items: &[T],
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads < 2 || items.len() < 64 {
        let mut state = S::default();
        return items.iter().map(|item| f(&mut state, item)).collect();
    }
    // Each worker takes the next item (items differ in cost: a filter of
    // thousands of rules beside filters of ten), then the results go back
    // in item order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let f = &f;
    let mut parts: Vec<(usize, R)> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    let mut state = S::default();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(&mut state, item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("an engine worker panicked"))
            .collect()
    });
    parts.sort_by_key(|p| p.0);
    parts.into_iter().map(|p| p.1).collect()
}

/// A match as one product per family (`None`: nothing of that family).
fn match_products(m: &Match) -> [Option<Product>; 2] {
    match_products_with(m, &mut AddrMemo::default())
}

/// Address sets already turned into intervals (both families), keyed by
/// their parts' identity; a hit is checked for equality, so a key that
/// collides only costs the work it would have cost anyway. The rules of a
/// filter name a few sets over and over (a network, the internet).
#[derive(Default)]
struct AddrMemo<'a>(super::fasthash::FastMap<u64, Vec<(&'a AddrSet, PerFam<SharedIntervals>)>>);

impl<'a> AddrMemo<'a> {
    fn intervals(&mut self, set: &'a AddrSet, fam: Fam) -> SharedIntervals {
        let k = usize::from(fam == Fam::V6);
        if set.is_any() {
            return addrset_intervals(set, fam).into();
        }
        use std::hash::{Hash, Hasher};
        let mut h = super::fasthash::FastHasher::default();
        set.negated.hash(&mut h);
        for p in &set.parts {
            p.prefix.hash(&mut h);
            (std::sync::Arc::as_ptr(&p.minus) as usize).hash(&mut h);
        }
        let bucket = self.0.entry(h.finish()).or_default();
        if let Some((_, iv)) = bucket
            .iter()
            .find(|(s, _)| s.negated == set.negated && s.parts == set.parts)
        {
            return iv[k].clone();
        }
        let iv: PerFam<SharedIntervals> = [
            addrset_intervals(set, Fam::V4).into(),
            addrset_intervals(set, Fam::V6).into(),
        ];
        let out = iv[k].clone();
        bucket.push((set, iv));
        out
    }
}

fn match_products_with<'a>(m: &'a Match, memo: &mut AddrMemo<'a>) -> [Option<Product>; 2] {
    let proto = match m.proto {
        Some(p) => proto_bit(p),
        None if !m.sport.is_any() || !m.dport.is_any() => PORT_PROTOS,
        None => ANY_PROTO,
    };
    let ports = |p: &PortSet| {
        normalise(
            port_intervals(p)
                .into_iter()
                .map(|(lo, hi)| (lo as u128, hi as u128))
                .collect(),
        )
    };
    [Fam::V4, Fam::V6].map(|fam| {
        Product::new(
            fam,
            proto,
            [
                memo.intervals(&m.src, fam),
                memo.intervals(&m.dst, fam),
                ports(&m.sport).into(),
                ports(&m.dport).into(),
            ],
        )
    })
}

fn match_cubes(m: &Match) -> Vec<Cube> {
    match_products(m)
        .iter()
        .flatten()
        .flat_map(Product::cubes)
        .collect()
}

fn route_atoms(host: &Host) -> Vec<(Fam, u128, u128, usize)> {
    let mut out = Vec::new();
    for fam in [Fam::V4, Fam::V6] {
        let mut covered: Vec<(u128, u128)> = Vec::new();
        for (i, r) in host.routes.iter().enumerate() {
            if Fam::of(r.dest.addr()) != fam {
                continue;
            }
            let mut mine = vec![prefix_interval(&r.dest)];
            let except = normalise(
                r.except
                    .iter()
                    .filter(|p| Fam::of(p.addr()) == fam)
                    .map(prefix_interval)
                    .collect(),
            );
            mine = interval_minus(&mine, &except);
            let free = interval_minus(&mine, &covered);
            for (lo, hi) in free {
                out.push((fam, lo, hi, i));
            }
            covered = normalise(covered.into_iter().chain(mine).collect());
        }
    }
    out.sort_unstable();
    out
}

/// Compiled per-scenario data the walk needs.
pub struct Engine<'s> {
    pub scn: &'s Scenario,
    pub devices: Vec<Device>,
    /// Per filter and rule, the match as one product per family.
    filter_rules: Vec<Vec<[Option<Product>; 2]>>,
    filter_index: Vec<[DstIndex; 2]>,
    /// Per filter and family, per rule: the bounds of its match that are
    /// quick to test, densely, for the walk's prefilters (`Product::meets`
    /// decides, unless the match is one box).
    hulls: Vec<[Vec<Hull>; 2]>,
    /// Per filter and family, per rule: its address bounds.
    bounds: Vec<[Vec<Bounds>; 2]>,
    /// Per filter and connection state: the rules that apply in that state.
    state_rules: Vec<[Vec<u64>; 4]>,
    nat_cubes: super::fasthash::FastMap<(usize, usize), Vec<Cube>>,
    /// Every device's own addresses (a stand-in's whole range).
    own: Vec<Vec<(Fam, u128, u128)>>,
    /// The packets that could reach some socket: socket endpoints and DNAT
    /// match spaces, disjoint.
    targets: Vec<Cube>,
    /// The match spaces of every DNAT rule (any source).
    dnat_spaces: Vec<Cube>,
    /// Per network and family, who answers for each address on the link:
    /// the hosts (`on_link`), and for replies also the network's stand-in
    /// sender (`on_link_reply`); sorted, disjoint.
    on_link: super::fasthash::FastMap<(NetworkId, Fam), Vec<OnLink>>,
    on_link_reply: super::fasthash::FastMap<(NetworkId, Fam), Vec<OnLink>>,
    /// Groups of hosts configured alike (see `source_classes`), as receivers:
    /// `group_of[dev]` is `u32::MAX` for a device alone.
    groups: Vec<Vec<usize>>,
    group_of: Vec<u32>,
    /// Per group: its members' addresses, sorted, with the member.
    group_iv: Vec<Vec<(Fam, u128, u128, usize)>>,
    /// Per group: its members' addresses together, per family.
    group_own: Vec<PerFam<Intervals>>,
    /// Per device: its own addresses per family (IPv4, IPv6), sorted.
    own_lists: Vec<PerFam<Intervals>>,
    /// Per device and interface: the sources the reverse-path check lets in
    /// there, per family (empty when the device does not check).
    rp_pass: Vec<Vec<PerFam<Intervals>>>,
    /// Per device: every address of its own goes straight to itself (a
    /// connected route on the interface that holds it), so its packets to
    /// itself can only land at itself (see [`Class`]'s `self_pairs`).
    self_direct: Vec<bool>,
    /// Per place of the martian check (`MartianAt` as an index), the sources
    /// that pass it.
    martian_ok: [PerFam<Intervals>; 3],
    /// Per network stand-in and family: its address ranges that nothing in
    /// the scenario tells apart, grouped (see [`Engine::alike_ranges`]).
    range_groups: Vec<PerFam<Vec<Intervals>>>,
    /// The addresses of the hosts in classes of hosts configured alike whose
    /// addresses are scattered (more than a few ranges: pods of one app
    /// across a cluster), with their host, sorted; an address two hosts
    /// share is left out.
    host_addrs: PerFam<Vec<(u128, usize)>>,
    /// Of those, the addresses that nothing in the scenario tells apart from
    /// another: each to the first address of its group of alike addresses
    /// (see [`Engine::alike_groups`]). A walk of a class sends one address
    /// per group (see [`Engine::originate`]).
    host_reps: PerFam<super::fasthash::FastMap<u128, u128>>,
    /// Classes behind the same routers are walked together (see
    /// [`Engine::walk_units`]); off for the reference walks of tests.
    joint: bool,
    /// Whether the requests held at the last router of a joint walk join
    /// as one tagged flow (off in the reference of
    /// [`Engine::without_tagged_joins`]).
    tagged: bool,
    /// Whether a class that holds a network's stand-in and hosts sends one
    /// range per group of the stand-in's alike ranges (off in the reference
    /// of [`Engine::without_alike_hosts`]).
    mixed_groups: bool,
}

/// The bounds of a rule's match in one family that are quick to test (from
/// its product's bounding box), and its interfaces, for a rejection without
/// reading the rule; protocols 0: nothing of that family. Small, so that the
/// table of a large filter stays in the cache; the address bounds are apart.
#[derive(Clone, Copy, Default)]
struct Hull {
    proto: u8,
    /// The product is its bounding box (one interval per field): a box that
    /// meets the hull and the address bounds meets the rule.
    exact: bool,
    sport: (u16, u16),
    dport: (u16, u16),
    /// The interfaces' networks, `ANY_IFACE` for any.
    in_iface: u32,
    out_iface: u32,
}

/// A rule's interface condition that any interface meets.
const ANY_IFACE: u32 = u32::MAX;

/// An interface's network as a rule's hull keeps it (none: `ANY_IFACE`,
/// which no rule condition on an interface equals).
fn iface_key(n: Option<NetworkId>) -> u32 {
    n.map_or(ANY_IFACE, |n| n.0)
}

/// The address bounds of a rule's match in one family (its bounding box).
#[derive(Clone, Copy, Default)]
struct Bounds {
    src: (u128, u128),
    dst: (u128, u128),
}

/// Rules of one filter indexed by the destination ranges they match.
#[derive(Default)]
struct DstIndex {
    /// The number of rules of the filter.
    rules: usize,
    starts: Vec<u128>,
    lists: Vec<Vec<u32>>,
    any: Vec<u32>,
}

impl DstIndex {
    fn build(fam: Fam, rules: &[[Option<Product>; 2]]) -> DstIndex {
        let mut idx = DstIndex {
            rules: rules.len(),
            ..DstIndex::default()
        };
        let mut ranges: Vec<(u32, SharedIntervals)> = Vec::new();
        let mut bounds: Vec<u128> = vec![0];
        for (i, products) in rules.iter().enumerate() {
            let Some(p) = &products[usize::from(fam == Fam::V6)] else {
                continue;
            };
            let mine = p.dims[1].clone();
            if mine.iter().any(|&(lo, hi)| lo == 0 && hi == fam.max()) {
                idx.any.push(i as u32);
                continue;
            }
            for &(lo, hi) in mine.iter() {
                bounds.push(lo);
                if hi < fam.max() {
                    bounds.push(hi + 1);
                }
            }
            ranges.push((i as u32, mine));
        }
        bounds.sort_unstable();
        bounds.dedup();
        idx.lists = vec![Vec::new(); bounds.len()];
        for (i, mine) in ranges {
            for &(lo, hi) in mine.iter() {
                let a = bounds.partition_point(|&b| b <= lo) - 1;
                let b = bounds.partition_point(|&b| b <= hi) - 1;
                for list in &mut idx.lists[a..=b] {
                    list.push(i);
                }
            }
        }
        idx.starts = bounds;
        idx
    }

    /// The rules that may match a destination in `lo..=hi` and are set in
    /// `live`, in rule order, written into `v` (a buffer the caller reuses).
    fn candidates(&self, lo: u128, hi: u128, live: &[u64], v: &mut Vec<u32>, spans: SpanCache) {
        let is_live = |r: u32| live[r as usize / 64] & (1 << (r % 64)) != 0;
        v.clear();
        if self.starts.is_empty() {
            v.extend(self.any.iter().copied().filter(|&r| is_live(r)));
            return;
        }
        let a = self.starts.partition_point(|&b| b <= lo).saturating_sub(1);
        let b = self.starts.partition_point(|&b| b <= hi).saturating_sub(1);
        if a == b {
            // One elementary interval: merge two sorted lists.
            let (x, y) = (&self.any, &self.lists[a]);
            let (mut i, mut j) = (0, 0);
            while i < x.len() && j < y.len() {
                let r = if x[i] < y[j] {
                    i += 1;
                    x[i - 1]
                } else {
                    j += 1;
                    y[j - 1]
                };
                if is_live(r) {
                    v.push(r);
                }
            }
            v.extend(
                x[i..]
                    .iter()
                    .chain(&y[j..])
                    .copied()
                    .filter(|&r| is_live(r)),
            );
            return;
        }
        // Several intervals: the rules marked in a bitmap (kept: flows meet
        // the same spans again and again), read in order.
        let (cache, filter) = spans;
        let bits = cache
            .entry((filter, a as u32, b as u32))
            .or_insert_with(|| {
                let mut bits = vec![0u64; self.rules.div_ceil(64)];
                for &r in self.any.iter().chain(self.lists[a..=b].iter().flatten()) {
                    bits[r as usize / 64] |= 1 << (r % 64);
                }
                bits.into_boxed_slice()
            });
        for (w, word) in bits.iter().enumerate() {
            let mut x = word & live[w];
            while x != 0 {
                v.push((w * 64) as u32 + x.trailing_zeros());
                x &= x - 1;
            }
        }
    }
}

/// An engine without its scenario ([`Engine::park`]), to keep beside it:
/// an engine borrows its scenario, and a server keeps both.
pub struct Parked(Engine<'static>);

impl Parked {
    /// The engine again, over `scn`: the scenario it was built for (or one
    /// equal to it). Another scenario gives wrong answers.
    pub fn unpark(self, scn: &Scenario) -> Engine<'_> {
        debug_assert_eq!(self.0.devices.len(), scn.hosts.len() + scn.networks.len());
        debug_assert_eq!(self.0.filter_rules.len(), scn.filters.len());
        self.0.rebind(scn)
    }
}

/// The scenario a parked engine points at: none (it is never read).
static NO_SCENARIO: std::sync::LazyLock<Scenario> = std::sync::LazyLock::new(|| Scenario {
    name: String::new(),
    about: String::new(),
    file: String::new(),
    networks: Vec::new(),
    hosts: Vec::new(),
    filters: Vec::new(),
    dns: Vec::new(),
    expectations: Vec::new(),
    traffic: None,
    variants: Vec::new(),
    variant: None,
    addresses: HashMap::new(),
    names: Default::default(),
});

/// Boxes that hold a rule's match (the coordinates of the packets at the
/// filter): its match exactly when that is a few boxes, else the box around
/// it, per family it matches in. ("From the internet", the whole space but
/// the internal networks, is two boxes per family, not the whole space.)
pub fn rule_boxes(rule: &Rule) -> Vec<Cube> {
    const EXACT: usize = 64;
    match_products(&rule.matches)
        .into_iter()
        .flatten()
        .flat_map(|p| {
            let n = p
                .dims
                .iter()
                .map(|d| d.len())
                .try_fold(1usize, |a, l| a.checked_mul(l))
                .unwrap_or(usize::MAX);
            if n <= EXACT {
                p.cubes()
            } else {
                vec![p.bbox]
            }
        })
        .collect()
}

/// What the walk keeps of one filter: its rules compiled, indexed and
/// bounded (see the fields of [`Engine`] of the same names).
struct FilterTables {
    rules: Vec<[Option<Product>; 2]>,
    hulls: [Vec<Hull>; 2],
    bounds: [Vec<Bounds>; 2],
    state_rules: [Vec<u64>; 4],
    index: [DstIndex; 2],
}

impl FilterTables {
    fn build(filter: &Filter) -> FilterTables {
        let mut memo = AddrMemo::default();
        let rules: Vec<[Option<Product>; 2]> = filter
            .rules
            .iter()
            .map(|r| match_products_with(&r.matches, &mut memo))
            .collect();
        FilterTables::with_rules(filter, rules)
    }

    /// The tables of `filter` whose rules were `old` (compiled as `products`)
    /// before some of them changed: the rules the same at the start and at
    /// the end keep their compiled matches, only those between are compiled.
    fn rebuild(
        filter: &Filter,
        old: &[Rule],
        mut products: Vec<[Option<Product>; 2]>,
    ) -> FilterTables {
        let (head, tail) = same_ends(old, &filter.rules);
        let mut memo = AddrMemo::default();
        let fresh: Vec<[Option<Product>; 2]> = filter.rules[head..filter.rules.len() - tail]
            .iter()
            .map(|r| match_products_with(&r.matches, &mut memo))
            .collect();
        products.splice(head..old.len() - tail, fresh);
        FilterTables::with_rules(filter, products)
    }

    /// The tables of `filter` from its rules' compiled matches.
    fn with_rules(filter: &Filter, rules: Vec<[Option<Product>; 2]>) -> FilterTables {
        debug_assert_eq!(rules.len(), filter.rules.len());
        let hulls = [0, 1].map(|k| {
            rules
                .iter()
                .zip(&filter.rules)
                .map(|(r, rule)| match &r[k] {
                    Some(p) => Hull {
                        proto: p.proto,
                        exact: p.dims.iter().all(|d| d.len() == 1),
                        sport: p.bbox.sport,
                        dport: p.bbox.dport,
                        in_iface: iface_key(rule.matches.in_iface),
                        out_iface: iface_key(rule.matches.out_iface),
                    },
                    None => Hull::default(),
                })
                .collect()
        });
        let bounds = [0, 1].map(|k| {
            rules
                .iter()
                .map(|r| match &r[k] {
                    Some(p) => Bounds {
                        src: p.bbox.src,
                        dst: p.bbox.dst,
                    },
                    None => Bounds::default(),
                })
                .collect()
        });
        let state_rules = [
            ConnState::New,
            ConnState::Established,
            ConnState::Related,
            ConnState::Invalid,
        ]
        .map(|state| {
            let mut bits = vec![0u64; filter.rules.len().div_ceil(64)];
            for (ri, r) in filter.rules.iter().enumerate() {
                if r.matches.state.is_none_or(|st| st.holds(state)) {
                    bits[ri / 64] |= 1 << (ri % 64);
                }
            }
            bits
        });
        let index = [
            DstIndex::build(Fam::V4, &rules),
            DstIndex::build(Fam::V6, &rules),
        ];
        FilterTables {
            rules,
            hulls,
            bounds,
            state_rules,
            index,
        }
    }
}

impl<'s> Engine<'s> {
    pub fn new(scn: &'s Scenario) -> Self {
        // Hosts with the same routes (every pod of a cluster) have the same
        // atoms: cut once. (A route's exceptions are compared by identity
        // unless there are none: equal lists apart are cut apart.)
        type RouteKey = Vec<(ipnet::IpNet, usize)>;
        let mut atoms_of: super::fasthash::FastMap<RouteKey, Vec<(Fam, u128, u128, usize)>> =
            Default::default();
        let mut devices: Vec<Device> = scn
            .hosts
            .iter()
            .map(|h| {
                let key: RouteKey = h
                    .routes
                    .iter()
                    .map(|r| {
                        let except = if r.except.is_empty() {
                            0
                        } else {
                            std::sync::Arc::as_ptr(&r.except) as usize
                        };
                        (r.dest, except)
                    })
                    .collect();
                Device {
                    atoms: atoms_of
                        .entry(key)
                        .or_insert_with(|| route_atoms(h))
                        .clone(),
                    host: h.clone(),
                    owned: Vec::new(),
                }
            })
            .collect();
        for (ni, owned) in stand_ins_owned(scn).into_iter().enumerate() {
            let id = NetworkId(ni as u32);
            let mut addrs: Vec<std::net::IpAddr> = Vec::new();
            for fam in [Fam::V4, Fam::V6] {
                if let Some(&(f, lo, _)) = owned.iter().find(|(f, _, _)| *f == fam) {
                    addrs.push(u128_addr(f, lo));
                }
            }
            let stand_in = crate::journey::stand_in(scn, id, &addrs);
            devices.push(Device {
                atoms: route_atoms(&stand_in),
                host: stand_in,
                owned,
            });
        }
        let tables = par_map(&scn.filters, FilterTables::build);
        let mut filter_rules = Vec::with_capacity(tables.len());
        let mut hulls = Vec::with_capacity(tables.len());
        let mut bounds = Vec::with_capacity(tables.len());
        let mut state_rules = Vec::with_capacity(tables.len());
        let mut filter_index = Vec::with_capacity(tables.len());
        for t in tables {
            filter_rules.push(t.rules);
            hulls.push(t.hulls);
            bounds.push(t.bounds);
            state_rules.push(t.state_rules);
            filter_index.push(t.index);
        }
        let mut nat_cubes = super::fasthash::FastMap::default();
        let mut targets = Vec::new();
        let mut dnat_spaces = Vec::new();
        for (hi, h) in scn.hosts.iter().enumerate() {
            for (ni, n) in h.nat.iter().enumerate() {
                let cubes = match_cubes(&n.matches);
                if matches!(n.kind, NatKind::Dnat { .. }) {
                    dnat_spaces.extend(cubes.iter().map(|c| Cube {
                        src: (0, c.fam.max()),
                        sport: (0, u16::MAX),
                        ..*c
                    }));
                }
                nat_cubes.insert((hi, ni), cubes);
            }
            for s in &h.sockets {
                for a in h.interfaces.iter().flat_map(|i| i.addrs.iter()) {
                    if s.accepts(*a) {
                        let fam = Fam::of(*a);
                        let x = addr_u128(*a);
                        targets.push(Cube {
                            fam,
                            src: (0, fam.max()),
                            dst: (x, x),
                            proto: proto_bit(s.proto),
                            sport: (0, u16::MAX),
                            dport: (s.port, s.port),
                            tag: 0,
                        });
                    }
                }
            }
        }
        let targets = disjoint_targets(targets, &dnat_spaces);
        let own: Vec<Vec<(Fam, u128, u128)>> = devices
            .iter()
            .map(|d| {
                if !d.owned.is_empty() {
                    return d.owned.clone();
                }
                let mut v: Vec<(Fam, u128, u128)> = d
                    .host
                    .interfaces
                    .iter()
                    .flat_map(|i| i.addrs.iter())
                    .map(|a| (Fam::of(*a), addr_u128(*a), addr_u128(*a)))
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let mut members: HashMap<(NetworkId, Fam), Vec<Member>> = HashMap::new();
        for (di, d) in devices.iter().enumerate().take(scn.hosts.len()) {
            for (ii, iface) in d.host.interfaces.iter().enumerate() {
                for a in &iface.addrs {
                    let (fam, x) = (Fam::of(*a), addr_u128(*a));
                    members
                        .entry((iface.network, fam))
                        .or_default()
                        .push((x, di, ii));
                }
            }
        }
        for v in members.values_mut() {
            v.sort_unstable();
        }
        let mut on_link = super::fasthash::FastMap::default();
        let mut on_link_reply = super::fasthash::FastMap::default();
        for (ni, _) in scn.networks.iter().enumerate() {
            let net = NetworkId(ni as u32);
            let stand_in = scn.hosts.len() + ni;
            for fam in [Fam::V4, Fam::V6] {
                let hosts: Vec<OnLink> = members
                    .get(&(net, fam))
                    .map(|v| v.iter().map(|&(x, di, ii)| (fam, x, x, (di, ii))).collect())
                    .unwrap_or_default();
                let mut all = hosts.clone();
                all.extend(
                    devices[stand_in]
                        .owned
                        .iter()
                        .filter(|(f2, _, _)| *f2 == fam)
                        .map(|&(f2, lo, hi)| (f2, lo, hi, (stand_in, 0))),
                );
                all.sort_unstable();
                on_link.insert((net, fam), hosts);
                on_link_reply.insert((net, fam), all);
            }
        }
        let own_lists: Vec<PerFam<Intervals>> = own
            .iter()
            .map(|v| {
                [Fam::V4, Fam::V6].map(|fam| {
                    normalise(
                        v.iter()
                            .filter(|(f, _, _)| *f == fam)
                            .map(|&(_, lo, hi)| (lo, hi))
                            .collect(),
                    )
                })
            })
            .collect();
        let self_direct: Vec<bool> = devices
            .iter()
            .map(|d| {
                d.owned.is_empty()
                    && d.host.interfaces.iter().all(|i| {
                        i.addrs.iter().all(|&a| {
                            crate::journey::route::lookup(&d.host, a).is_some_and(|r| {
                                matches!(r.action, RouteAction::Direct { iface }
                                    if d.host.interfaces.get(iface).is_some_and(|x| x.addrs.contains(&a)))
                            })
                        })
                    })
            })
            .collect();
        let rp_pass = devices
            .iter()
            .map(|d| {
                if d.host.rp_filter == RpFilter::Off {
                    return Vec::new();
                }
                // Sources whose route back is not unicast fail everywhere.
                let not_unicast: Vec<(Fam, u128)> =
                    crate::journey::route::not_unicast_back(&d.host)
                        .into_iter()
                        .map(|(a, _)| (Fam::of(a), addr_u128(a)))
                        .collect();
                (0..d.host.interfaces.len())
                    .map(|in_iface| {
                        let mut ok: PerFam<Intervals> = Default::default();
                        for &(fam, lo, hi, ri) in &d.atoms {
                            let pass = match (&d.host.routes[ri].action, d.host.rp_filter) {
                                (RouteAction::Blackhole, _) => false,
                                (_, RpFilter::Loose) => true,
                                (
                                    RouteAction::Direct { iface } | RouteAction::Via { iface, .. },
                                    _,
                                ) => *iface == in_iface,
                            };
                            if pass {
                                ok[usize::from(fam == Fam::V6)].push((lo, hi));
                            }
                        }
                        let mut ok = ok.map(normalise);
                        for &(fam, x) in &not_unicast {
                            let iv = &mut ok[usize::from(fam == Fam::V6)];
                            *iv = iv
                                .iter()
                                .flat_map(|&(lo, hi)| {
                                    if x < lo || x > hi {
                                        vec![(lo, hi)]
                                    } else {
                                        let mut parts = Vec::new();
                                        if x > lo {
                                            parts.push((lo, x - 1));
                                        }
                                        if x < hi {
                                            parts.push((x + 1, hi));
                                        }
                                        parts
                                    }
                                })
                                .collect();
                        }
                        ok
                    })
                    .collect()
            })
            .collect();
        let mut e = Engine {
            scn,
            devices,
            filter_rules,
            filter_index,
            hulls,
            bounds,
            state_rules,
            nat_cubes,
            own,
            targets,
            dnat_spaces,
            on_link,
            on_link_reply,
            groups: Vec::new(),
            group_of: Vec::new(),
            group_iv: Vec::new(),
            group_own: Vec::new(),
            own_lists,
            rp_pass,
            self_direct,
            martian_ok: [
                MartianAt::Receipt,
                MartianAt::Routing,
                MartianAt::Forwarding,
            ]
            .map(martian_ok),
            range_groups: Vec::new(),
            host_addrs: Default::default(),
            host_reps: Default::default(),
            joint: true,
            tagged: true,
            mixed_groups: true,
        };
        let devs: Vec<usize> = (0..e.devices.len()).collect();
        e.range_groups = par_map(&devs, |&d| {
            [Fam::V4, Fam::V6].map(|fam| e.alike_ranges(d, fam))
        });
        let hosts: Vec<Source> = (0..scn.hosts.len())
            .map(|i| Source::Host(HostId(i as u32)))
            .collect();
        e.group_of = vec![u32::MAX; e.devices.len()];
        for class in e.source_classes(&hosts) {
            if class.len() < 2 {
                continue;
            }
            let g = e.groups.len() as u32;
            let devs: Vec<usize> = class.iter().map(|&m| e.source_dev(m)).collect();
            for &d in &devs {
                e.group_of[d] = g;
            }
            let mut iv: Vec<(Fam, u128, u128, usize)> = devs
                .iter()
                .flat_map(|&d| e.own[d].iter().map(move |&(f, lo, hi)| (f, lo, hi, d)))
                .collect();
            iv.sort_unstable();
            e.group_iv.push(iv);
            e.group_own.push(e.union_own(&devs));
            e.groups.push(devs);
        }
        e.host_addrs = e.scattered_addrs();
        e.host_reps = [0, 1].map(|k| e.host_reps_of(k));
        e
    }

    /// This engine without its groups of alike host addresses: its walks
    /// send every member's address, and a stand-in's every range when it is
    /// in a class with hosts (the reference that walks sending one address
    /// per group are tested against).
    #[doc(hidden)]
    pub fn without_alike_hosts(mut self) -> Self {
        self.host_reps = Default::default();
        self.mixed_groups = false;
        self
    }

    /// This engine walking every class alone (the reference that walks of
    /// classes together, [`Engine::walk_classes`], are tested against).
    #[doc(hidden)]
    pub fn without_joint_walks(mut self) -> Self {
        self.joint = false;
        self
    }

    /// The engine whose joint walks join the requests held at their last
    /// router layer by layer, by adjacent sources only, as before tagged
    /// joins (the reference they are tested against).
    pub fn without_tagged_joins(mut self) -> Self {
        self.tagged = false;
        self
    }

    /// The addresses of the members of groups of hosts configured alike
    /// whose addresses make more than a few ranges, with their member,
    /// sorted (see `host_addrs`).
    fn scattered_addrs(&self) -> PerFam<Vec<(u128, usize)>> {
        let mut owners: PerFam<super::fasthash::FastMap<u128, u32>> = Default::default();
        for h in &self.scn.hosts {
            for a in h.interfaces.iter().flat_map(|i| i.addrs.iter()) {
                *owners[usize::from(a.is_ipv6())]
                    .entry(addr_u128(*a))
                    .or_default() += 1;
            }
        }
        let mut out: PerFam<Vec<(u128, usize)>> = Default::default();
        for (g, devs) in self.groups.iter().enumerate() {
            for (k, list) in out.iter_mut().enumerate() {
                if self.group_own[g][k].len() <= 4 {
                    continue;
                }
                for &d in devs {
                    let fam = if k == 1 { Fam::V6 } else { Fam::V4 };
                    for a in self.devices[d]
                        .host
                        .interfaces
                        .iter()
                        .flat_map(|i| i.addrs.iter())
                        .filter(|a| Fam::of(**a) == fam)
                    {
                        let x = addr_u128(*a);
                        if owners[k].get(&x) == Some(&1) {
                            list.push((x, d));
                        }
                    }
                }
            }
        }
        for list in &mut out {
            list.sort_unstable();
            list.dedup();
        }
        out
    }

    /// `host_reps` for one family (0: IPv4, 1: IPv6), from `host_addrs`.
    fn host_reps_of(&self, k: usize) -> super::fasthash::FastMap<u128, u128> {
        let owned: Vec<(u128, u128)> = self.host_addrs[k].iter().map(|&(a, _)| (a, a)).collect();
        let mut reps = super::fasthash::FastMap::default();
        if owned.len() < 2 {
            return reps;
        }
        let fam = if k == 1 { Fam::V6 } else { Fam::V4 };
        let hosts = self.scn.hosts.len();
        for g in self.alike_groups(&owned, fam, |d| d < hosts) {
            if g.len() > 1 {
                for &(a, _) in &g {
                    reps.insert(a, g[0].0);
                }
            }
        }
        reps
    }

    /// The same tables for another scenario (see [`Engine::with_filters_changed`]
    /// and [`Parked`]).
    fn rebind<'n>(self, scn: &'n Scenario) -> Engine<'n> {
        Engine {
            scn,
            devices: self.devices,
            filter_rules: self.filter_rules,
            filter_index: self.filter_index,
            hulls: self.hulls,
            bounds: self.bounds,
            state_rules: self.state_rules,
            nat_cubes: self.nat_cubes,
            own: self.own,
            targets: self.targets,
            dnat_spaces: self.dnat_spaces,
            on_link: self.on_link,
            on_link_reply: self.on_link_reply,
            groups: self.groups,
            group_of: self.group_of,
            group_iv: self.group_iv,
            group_own: self.group_own,
            own_lists: self.own_lists,
            rp_pass: self.rp_pass,
            self_direct: self.self_direct,
            martian_ok: self.martian_ok,
            range_groups: self.range_groups,
            host_addrs: self.host_addrs,
            host_reps: self.host_reps,
            joint: self.joint,
            tagged: self.tagged,
            mixed_groups: self.mixed_groups,
        }
    }

    /// Puts the engine aside without its scenario, to keep it beside the
    /// scenario it was built for (see [`Parked::unpark`]).
    pub fn park(self) -> Parked {
        Parked(self.rebind(&NO_SCENARIO))
    }

    /// The engine of `new`, a scenario that differs from this engine's only
    /// in the rules (policies, statefulness) of the filters `changed`: their
    /// tables are compiled again, every other table is kept. Also the
    /// network stand-ins whose groups of alike ranges changed (a rule's
    /// addresses may tell ranges apart): walks that sent them may differ.
    /// The result is the engine `Engine::new(new)` builds (the invariant the
    /// incremental re-check rests on; see ARCHITECTURE.md).
    pub fn with_filters_changed<'n>(
        self,
        new: &'n Scenario,
        changed: &[FilterId],
    ) -> (Engine<'n>, Vec<usize>) {
        assert_eq!(self.scn.filters.len(), new.filters.len());
        assert_eq!(self.scn.hosts.len(), new.hosts.len());
        assert_eq!(self.scn.networks.len(), new.networks.len());
        let old_scn = self.scn;
        let mut e = self.rebind(new);
        // The address lists of the rules that changed (before and after;
        // rules that only moved keep their lists): only they can regroup a
        // stand-in's ranges.
        let mut lists: PerFam<Vec<Intervals>> = [Vec::new(), Vec::new()];
        let mut note = |r: &[Option<Product>; 2]| {
            for k in 0..2 {
                if let Some(p) = &r[k] {
                    lists[k].push(p.dims[0].to_vec());
                    lists[k].push(p.dims[1].to_vec());
                }
            }
        };
        // Filters are compiled again one by one (a change is usually one
        // filter), keeping the compiled matches of the rules that stayed.
        let mut tables = Vec::with_capacity(changed.len());
        for &f in changed {
            let old = std::mem::take(&mut e.filter_rules[f.index()]);
            let (a, b) = (&old_scn.filter(f).rules, &new.filter(f).rules);
            let (head, tail) = same_ends(a, b);
            old[head..a.len() - tail].iter().for_each(&mut note);
            let t = FilterTables::rebuild(new.filter(f), a, old);
            t.rules[head..b.len() - tail].iter().for_each(&mut note);
            tables.push(t);
        }
        for (&f, t) in changed.iter().zip(tables) {
            let i = f.index();
            e.filter_rules[i] = t.rules;
            e.hulls[i] = t.hulls;
            e.bounds[i] = t.bounds;
            e.state_rules[i] = t.state_rules;
            e.filter_index[i] = t.index;
        }
        let mut moved = Vec::new();
        if !changed.is_empty() {
            // Only a stand-in with more than a few ranges has groups.
            // A list that meets none of a stand-in's ranges, or holds
            // every one of them whole, marks them all alike: its coming or
            // going cannot regroup them (see `alike_ranges`).
            let devs: Vec<usize> = (0..e.devices.len())
                .filter(|&d| {
                    !e.devices[d].owned.is_empty() && e.own_lists[d].iter().any(|v| v.len() > 4)
                })
                .filter(|&d| {
                    (0..2).any(|k| lists[k].iter().any(|l| !marks_alike(&e.own_lists[d][k], l)))
                })
                .collect();
            let again = par_map(&devs, |&d| {
                [Fam::V4, Fam::V6].map(|fam| e.alike_ranges(d, fam))
            });
            for (d, g) in devs.into_iter().zip(again) {
                if e.range_groups[d] != g {
                    e.range_groups[d] = g;
                    moved.push(d);
                }
            }
            // The hosts whose addresses joined or left a group of alike
            // addresses: walks of their classes may differ.
            for (k, lists) in lists.iter().enumerate() {
                let owned: Vec<(u128, u128)> =
                    e.host_addrs[k].iter().map(|&(a, _)| (a, a)).collect();
                if owned.len() < 2 || lists.iter().all(|l| marks_alike(&owned, l)) {
                    continue;
                }
                let reps = e.host_reps_of(k);
                for &(a, d) in &e.host_addrs[k] {
                    if reps.get(&a) != e.host_reps[k].get(&a) {
                        moved.push(d);
                    }
                }
                e.host_reps[k] = reps;
            }
            moved.sort_unstable();
            moved.dedup();
        }
        (e, moved)
    }

    /// Sources that start their journeys alike, grouped: hosts (not routers,
    /// not proxies) on the same networks with the same families, filters,
    /// routes, NAT, reverse-path setting and DNS view. A class travels as one
    /// flow whose packets carry each member's own source address, so a rule
    /// that tells members apart splits the flow exactly; `reach` then splits
    /// each journey into the members it really holds. Networks' stand-in
    /// senders are classes of their own.
    pub fn source_classes(&self, sources: &[Source]) -> Vec<Vec<Source>> {
        let mut groups: std::collections::BTreeMap<String, Vec<Source>> =
            std::collections::BTreeMap::new();
        let mut singles: Vec<Vec<Source>> = Vec::new();
        let mut stand_ins: Vec<(Source, String)> = Vec::new();
        for &s in sources {
            let host = &self.devices[self.source_dev(s)].host;
            if let Source::Network(_) = s {
                stand_ins.push((s, Self::signature(host)));
                continue;
            }
            if host.router || host.proxy.is_some() {
                singles.push(vec![s]);
                continue;
            }
            groups.entry(Self::signature(host)).or_default().push(s);
        }
        // A network's stand-in sender configured like a class of hosts on
        // that network (no filter, the same routes) travels with them: its
        // packets carry its own range of source addresses.
        for (s, sig) in stand_ins {
            match groups.get_mut(&sig) {
                Some(g) => g.push(s),
                None => singles.push(vec![s]),
            }
        }
        let mut out: Vec<Vec<Source>> = groups.into_values().collect();
        out.extend(singles);
        out.sort();
        out
    }

    /// What makes a sender start its journeys the way it does.
    fn signature(host: &Host) -> String {
        let mut sig = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|",
            host.rp_filter, host.input, host.output, host.forward, host.dns
        );
        for i in &host.interfaces {
            let fams: Vec<bool> = i.addrs.iter().map(|a| a.is_ipv6()).collect();
            sig.push_str(&format!("n{}:{:?},", i.network.0, fams));
        }
        for r in &host.routes {
            sig.push_str(&r.text);
            sig.push(';');
        }
        for n in &host.nat {
            sig.push_str(&n.text);
            sig.push(';');
        }
        sig
    }

    /// The targets that could reach a socket of one of `hosts`: the parts
    /// addressed to them, and every part a DNAT rule could rewrite. Walks
    /// from these find the same journeys to those hosts as walks from all.
    pub fn targets_of(&self, hosts: &[HostId]) -> Vec<Cube> {
        let mut keep: Vec<Cube> = self.dnat_spaces.clone();
        for h in hosts {
            for &(fam, lo, hi) in &self.own[h.index()] {
                keep.push(Cube {
                    dst: (lo, hi),
                    ..Cube::full(fam)
                });
            }
        }
        Space(self.targets.clone()).split(&keep).0 .0
    }

    /// A device's own addresses (a stand-in's whole range), sorted.
    pub fn own_addrs(&self, dev: usize) -> &[(Fam, u128, u128)] {
        &self.own[dev]
    }

    pub fn source_dev(&self, s: Source) -> usize {
        match s {
            Source::Host(h) => h.index(),
            Source::Network(n) => self.scn.hosts.len() + n.index(),
        }
    }

    pub fn dev_name(&self, d: usize) -> &str {
        &self.devices[d].host.name
    }

    /// Every journey from one source: where each part of its traffic that
    /// could reach a socket ends.
    pub fn from_source(&self, s: Source) -> Vec<Outcome> {
        self.from_sources(&[s])
    }

    /// The same for a class of sources that no rule or setting tells apart:
    /// hosts with identical configuration on the same networks, whose
    /// addresses every rule treats alike. Their packets travel together.
    pub fn from_sources(&self, class: &[Source]) -> Vec<Outcome> {
        self.from_sources_with(class, true)
    }

    /// `from_sources`, leaving out the parts that stopped unless `keep_stopped`
    /// (they are most of the outcomes, and `reach` alone does not need them).
    pub fn from_sources_with(&self, class: &[Source], keep_stopped: bool) -> Vec<Outcome> {
        self.from_sources_to(class, keep_stopped, None)
    }

    /// `from_sources_with`, pushing only `targets` (when given; see
    /// [`Engine::targets_of`]) instead of every packet that could reach a socket.
    pub fn from_sources_to(
        &self,
        class: &[Source],
        keep_stopped: bool,
        targets: Option<&[Cube]>,
    ) -> Vec<Outcome> {
        let mut out = self
            .walk(
                class,
                keep_stopped,
                targets,
                false,
                &mut WalkCache::default(),
                false,
            )
            .0;
        self.drop_self_pairs(class, &mut out);
        out
    }

    /// `from_sources_to` for one class after another on one thread, sharing
    /// what the walks learn about the filters in `cache` (use a cache with
    /// one engine only). The outcomes may hold members' packets to their
    /// own addresses ([`Outcome`]): drop them with
    /// [`Engine::drop_self_pairs`], or leave them to a caller that skips
    /// every (member, its own socket) pair.
    pub fn from_sources_cached(
        &self,
        class: &[Source],
        keep_stopped: bool,
        targets: Option<&[Cube]>,
        cache: &mut WalkCache,
    ) -> Vec<Outcome> {
        self.walk(class, keep_stopped, targets, false, cache, false)
            .0
    }

    /// Drops the members' packets to their own addresses from a class's
    /// outcomes: what reaches a member's own socket from that member, and
    /// what stopped anywhere on its way from a member to itself.
    pub fn drop_self_pairs(&self, class: &[Source], outcomes: &mut Vec<Outcome>) {
        if class.len() < 2 {
            return;
        }
        let hosts: Vec<usize> = class.iter().map(|&s| self.source_dev(s)).collect();
        // Every member's own ranges, sorted by start: (fam, lo, hi, member).
        let mut own: Vec<(Fam, u128, u128, usize)> = hosts
            .iter()
            .flat_map(|&d| self.own[d].iter().map(move |&(f, lo, hi)| (f, lo, hi, d)))
            .collect();
        own.sort_unstable();
        for o in outcomes.iter_mut() {
            match o.end {
                End::Reached { dev, .. } if hosts.contains(&dev) => {
                    let mine: Vec<Cube> = self.own[dev]
                        .iter()
                        .map(|&(fam, lo, hi)| Cube {
                            src: (lo, hi),
                            ..Cube::full(fam)
                        })
                        .collect();
                    o.space = std::mem::take(&mut o.space).split(&mine).1;
                }
                End::Reached { .. } => {}
                End::Stopped { .. } => {
                    // The diagonal: a member's own source and destination.
                    let mut diagonal = Vec::new();
                    for c in &o.space.0 {
                        let start = own.partition_point(|e| (e.0, e.2) < (c.fam, c.src.0));
                        for e in &own[start..] {
                            if e.0 != c.fam || e.1 > c.src.1 {
                                break;
                            }
                            let m = e.3;
                            for &(f, lo, hi) in &self.own[m] {
                                if f == c.fam && lo <= c.dst.1 && c.dst.0 <= hi {
                                    let mut d = Cube::full(f);
                                    d.src = (e.1, e.2);
                                    d.dst = (lo, hi);
                                    diagonal.push(d);
                                }
                            }
                        }
                    }
                    if !diagonal.is_empty() {
                        diagonal.sort_unstable();
                        diagonal.dedup();
                        o.space = std::mem::take(&mut o.space).split(&diagonal).1;
                    }
                }
            }
        }
        outcomes.retain(|o| !o.space.is_empty());
    }

    /// Where a class's traffic to the open address space of catch-all
    /// networks (the internet: addresses no host of the scenario has), on
    /// every TCP and UDP port, gets to: the parts that get there, each
    /// ending with `Stop::Egress` (only the request is followed; a stateful
    /// filter on the way lets its replies back). The parts stopped on the
    /// way are not kept (a class cut by thousands of rules on its way out
    /// stops thousands of times).
    pub fn egress_from(&self, class: &[Source], cache: &mut WalkCache) -> Vec<Outcome> {
        let mut targets = Vec::new();
        for (ni, n) in self.scn.networks.iter().enumerate() {
            if !n.catch_all {
                continue;
            }
            for &(fam, lo, hi) in &self.devices[self.scn.hosts.len() + ni].owned {
                targets.push(Cube {
                    dst: (lo, hi),
                    proto: TCP | UDP,
                    ..Cube::full(fam)
                });
            }
        }
        let mut out = self.walk(class, true, Some(&targets), true, cache, false).0;
        self.drop_self_pairs(class, &mut out);
        out
    }

    /// A class's walk: its outcomes and, with `hold`, its requests held
    /// where they arrive at a router straight from the origin instead of
    /// walked on, where the class may be walked that way (see
    /// [`Engine::walk_classes`]).
    fn walk(
        &self,
        class: &[Source],
        keep_stopped: bool,
        targets: Option<&[Cube]>,
        egress: bool,
        cache: &mut WalkCache,
        hold: bool,
    ) -> (Vec<Outcome>, Vec<Flow>) {
        let Some(&first) = class.first() else {
            return (Vec::new(), Vec::new());
        };
        let dev = self.source_dev(first);
        let devs: Vec<usize> = class.iter().map(|s| self.source_dev(*s)).collect();
        // A stand-in's own range is addresses no host has: its packets there
        // reach no socket whatever happens to them.
        let self_pairs = devs.len() > 1
            && devs
                .iter()
                .all(|&d| self.self_direct[d] || !self.devices[d].owned.is_empty());
        let grouped = devs.len() > 1
            && devs.iter().any(|&d| {
                self.own_lists[d]
                    .iter()
                    .zip(&self.host_reps)
                    .any(|(own, reps)| own.iter().any(|&(a, _)| reps.contains_key(&a)))
                    || (self.mixed_groups
                        && self.range_groups[d]
                            .iter()
                            .any(|g| g.iter().any(|g| g.len() > 1)))
            });
        if grouped {
            for &d in &devs {
                super::consulted::note_range_groups(d);
            }
        }
        let class_info = std::rc::Rc::new(Class {
            own: self.union_own(&devs),
            devs,
            self_pairs,
            grouped,
            on_link: Default::default(),
        });
        let mut out = Sink::new(keep_stopped, egress, cache);
        let host = &self.devices[dev].host;
        let may_hold =
            hold && !keep_stopped && !egress && !grouped && !host.router && host.proxy.is_none();
        for fam in [Fam::V4, Fam::V6] {
            // A lone stand-in sends one range per group of alike ranges.
            let groups = match first {
                Source::Network(_) if class.len() == 1 && !egress => {
                    super::consulted::note_range_groups(dev);
                    self.range_groups[dev][usize::from(fam == Fam::V6)].as_slice()
                }
                _ => &[],
            };
            // (A lone stand-in's outcomes are given to its alike ranges
            // below: its walk is not held.)
            out.holding = may_hold && groups.is_empty();
            let src_ranges: Vec<(u128, u128)> = match first {
                _ if !groups.is_empty() => groups.iter().map(|g| g[0]).collect(),
                Source::Host(_) => {
                    if self.devices[dev].host.first_addr(fam == Fam::V6).is_none() {
                        continue;
                    }
                    // Chosen per route at the origin.
                    vec![(0, fam.max())]
                }
                Source::Network(_) => self.devices[dev]
                    .owned
                    .iter()
                    .filter(|(f, _, _)| *f == fam)
                    .map(|&(_, lo, hi)| (lo, hi))
                    .collect(),
            };
            let mut cubes = Vec::new();
            for t in targets
                .unwrap_or(&self.targets)
                .iter()
                .filter(|t| t.fam == fam)
            {
                for &(lo, hi) in &src_ranges {
                    let mut c = *t;
                    c.src = (lo, hi);
                    c.sport = EPHEMERAL;
                    cubes.push(c);
                }
            }
            if cubes.is_empty() {
                continue;
            }
            let flow = Flow {
                space: Space(cubes),
                view: View::identity(),
                dev,
                in_iface: None,
                ttl: crate::journey::INITIAL_TTL,
                path: Steps::default(),
                reply: false,
                visited: std::rc::Rc::new(vec![dev]),
                class: class_info.clone(),
                snat_log: Vec::new(),
                dnat_log: Vec::new(),
                group: None,
                delivery: None,
                merged: None,
            };
            let before = out.outcomes.len();
            self.originate(flow, &mut out);
            if !groups.is_empty() && !Self::give_to_alike(&mut out.outcomes[before..], groups) {
                // A range was split after all: walk this family range by range.
                out.outcomes.truncate(before);
                let cubes: Vec<Cube> = targets
                    .unwrap_or(&self.targets)
                    .iter()
                    .filter(|t| t.fam == fam)
                    .flat_map(|t| {
                        groups.iter().flatten().map(move |&src| Cube {
                            src,
                            sport: EPHEMERAL,
                            ..*t
                        })
                    })
                    .collect();
                let flow = Flow {
                    space: Space(cubes),
                    view: View::identity(),
                    dev,
                    in_iface: None,
                    ttl: crate::journey::INITIAL_TTL,
                    path: Steps::default(),
                    reply: false,
                    visited: std::rc::Rc::new(vec![dev]),
                    class: class_info.clone(),
                    snat_log: Vec::new(),
                    dnat_log: Vec::new(),
                    group: None,
                    delivery: None,
                    merged: None,
                };
                self.originate(flow, &mut out);
            }
        }
        let held = std::mem::take(&mut out.held);
        (out.finish(cache), held)
    }

    /// The classes (by number) in units to walk together with
    /// [`Engine::walk_classes`]: hosts (not routers or proxies) and
    /// stand-ins whose routes go through the same routers, in units small
    /// enough to keep every core busy; every other class alone. In class
    /// order, each unit's classes in order.
    pub fn walk_units(&self, classes: &[Vec<Source>]) -> Vec<Vec<usize>> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        if !self.joint {
            return (0..classes.len()).map(|i| vec![i]).collect();
        }
        let cap = classes.len().div_ceil(4 * threads).max(2);
        let mut units: Vec<Vec<usize>> = Vec::new();
        let mut open: std::collections::BTreeMap<Vec<usize>, usize> = Default::default();
        for (i, class) in classes.iter().enumerate() {
            let key = self.gateways(class);
            if key.is_empty() {
                units.push(vec![i]);
                continue;
            }
            match open.get(&key) {
                Some(&u) if units[u].len() < cap => units[u].push(i),
                _ => {
                    open.insert(key, units.len());
                    units.push(vec![i]);
                }
            }
        }
        // Largest first (by their sources; a stable sort, so the same
        // order every time): workers take units in this order, so that the
        // small ones fill in while the last large ones are walked and the
        // workers end together (the generated 2,000's ten units of twenty
        // classes ended on one core for a tenth of the walk). Callers put
        // the answers back in class order.
        units
            .sort_by_key(|u| std::cmp::Reverse(u.iter().map(|&i| classes[i].len()).sum::<usize>()));
        units
    }

    /// The routers a class's routes go through (none for a router, a proxy
    /// or a lone stand-in walked from one range per group of alike ranges).
    fn gateways(&self, class: &[Source]) -> Vec<usize> {
        let Some(&first) = class.first() else {
            return Vec::new();
        };
        let dev = self.source_dev(first);
        let host = &self.devices[dev].host;
        if host.router || host.proxy.is_some() {
            return Vec::new();
        }
        if let (Source::Network(_), 1) = (first, class.len()) {
            if self.range_groups[dev].iter().any(|g| !g.is_empty()) {
                return Vec::new();
            }
        }
        let mut gws = Vec::new();
        for r in &host.routes {
            let RouteAction::Via { gateway, iface } = r.action else {
                continue;
            };
            let Some(net) = host.interfaces.get(iface).map(|i| i.network) else {
                continue;
            };
            let gw = addr_u128(gateway);
            let table = self
                .on_link
                .get(&(net, Fam::of(gateway)))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let at = table.partition_point(|&(_, _, hi, _)| hi < gw);
            if let Some(&(_, lo, _, (d, _))) = table.get(at) {
                if lo <= gw && self.devices[d].host.router {
                    gws.push(d);
                }
            }
        }
        gws.sort_unstable();
        gws.dedup();
        gws
    }

    /// The outcomes of several classes' walks (`from_sources_cached` of
    /// each, without stopped parts), walked together where they can be:
    /// each class's requests are walked from its origin to the first router
    /// they reach; the requests that arrived at the same router the same
    /// way (interface, routers passed, view, hops left, NAT) go on from
    /// there as one flow whose path is told apart by source address, and
    /// leave it (class by class) when their replies come home; those that
    /// cannot join there are held again at the next router
    /// (`MERGE_LEVELS`). Classes behind one router then share the walk of
    /// everything past it. Classes whose source addresses overlap are
    /// walked apart.
    pub fn walk_classes(
        &self,
        classes: &[&[Source]],
        targets: Option<&[Cube]>,
        cache: &mut WalkCache,
    ) -> Vec<Vec<Outcome>> {
        let hold = classes.len() > 1;
        let mut results: Vec<Vec<Outcome>> = Vec::with_capacity(classes.len());
        let mut pending: Vec<(usize, Flow)> = Vec::new();
        for (i, class) in classes.iter().enumerate() {
            let (outcomes, held) = self.walk(class, false, targets, false, cache, hold);
            results.push(outcomes);
            pending.extend(held.into_iter().map(|f| (i, f)));
        }
        // Flows that cannot join at the first router they reach (each came
        // in by its own interface, say) may at the next.
        for level in 1..=MERGE_LEVELS {
            // The flows grouped by how they arrived: the same router, by the
            // same interface, past the same routers, alike.
            type Key<'k> = (
                usize,
                Option<usize>,
                u8,
                View,
                &'k [usize],
                &'k [(usize, Field)],
            );
            let mut groups: Vec<Vec<usize>> = Vec::new();
            // At the last router, every flow that arrived alike joins one
            // tagged flow (up to `TAG_PARTS` parts each): see `join_tagged`.
            // A recording then notes a part's packets with the sources its
            // box was widened over: more than its own, never less.
            let tagged = self.tagged && level == MERGE_LEVELS;
            fn key_of(f: &Flow) -> Key<'_> {
                (
                    f.dev,
                    f.in_iface,
                    f.ttl,
                    f.view,
                    &f.visited[1..],
                    &f.snat_log,
                )
            }
            if tagged {
                type TagKey<'k> = (Key<'k>, &'k [(usize, Field, Field)]);
                let mut open: std::collections::HashMap<TagKey, (usize, usize)> =
                    Default::default();
                for (n, (_, f)) in pending.iter().enumerate() {
                    let key: TagKey = (key_of(f), &f.dnat_log);
                    let parts = f.merged.as_ref().map_or(1, |m| m.parts.len());
                    match open.get_mut(&key) {
                        Some((g, count)) if *count + parts <= TAG_PARTS => {
                            groups[*g].push(n);
                            *count += parts;
                        }
                        _ => {
                            open.insert(key, (groups.len(), parts));
                            groups.push(vec![n]);
                        }
                    }
                }
            } else {
                // Within a group, one flow per class in each layer (their
                // sources must not overlap): each class's first flow of a
                // family, its second, … (classes alike arrive alike: their
                // n-th flows hold the same packets but for the sources).
                type Layer = (Fam, usize);
                let mut at: std::collections::HashMap<(Key, Layer), usize> = Default::default();
                let mut seen: std::collections::HashMap<(Key, usize, Fam), usize> =
                    Default::default();
                for (n, (i, f)) in pending.iter().enumerate() {
                    let key = key_of(f);
                    let fam = f.space.0.first().map_or(Fam::V4, |c| c.fam);
                    let rank = seen.entry((key, *i, fam)).or_default();
                    let layer: Layer = (fam, *rank);
                    *rank += 1;
                    let g = *at.entry((key, layer)).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(n);
                }
            }
            let mut slots: Vec<Option<(usize, Flow)>> = pending.into_iter().map(Some).collect();
            let mut next = Vec::new();
            for g in groups {
                let group: Vec<(usize, Flow)> = g
                    .iter()
                    .map(|&n| slots[n].take().expect("each flow in one group"))
                    .collect();
                let same_dnat = group.iter().all(|(_, f)| f.dnat_log == group[0].1.dnat_log);
                // (A class's flows of both families, alone, wait for
                // other classes' at the next router.)
                let classes_in = group.iter().filter(|(i, _)| *i != group[0].0).count();
                let merged = if tagged {
                    if group.len() > 1 && same_dnat {
                        self.join_tagged(&group)
                    } else {
                        None
                    }
                } else if classes_in > 0 && same_dnat {
                    self.merge_flows(&group)
                } else {
                    None
                };
                if merged.is_some() {
                    JOINED_WALKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let flows = match merged {
                    Some(m) => vec![(group[0].0, m)],
                    None => group,
                };
                for (i, f) in flows {
                    self.walk_on(f, i, level, cache, &mut results, &mut next);
                }
            }
            pending = next;
        }
        results
    }

    /// Walks a flow held at `level` routers on (holding it again at the
    /// next, if there is one) and gives its outcomes to their classes:
    /// class `i`'s, or, for a joined flow, each class its own packets'.
    fn walk_on(
        &self,
        f: Flow,
        i: usize,
        level: usize,
        cache: &mut WalkCache,
        results: &mut [Vec<Outcome>],
        next: &mut Vec<(usize, Flow)>,
    ) {
        let owners = f.merged.clone();
        let mut out = Sink::new(false, false, cache);
        out.holding = level < MERGE_LEVELS;
        out.hold_level = level;
        self.receive(f, &mut out);
        let held = std::mem::take(&mut out.held);
        next.extend(held.into_iter().map(|f| {
            let rep = f.merged.as_ref().map_or(i, |m| m.parts[0].class_no);
            (rep, f)
        }));
        let outcomes = out.finish(cache);
        let Some(m) = owners else {
            results[i].extend(outcomes);
            return;
        };
        for o in outcomes {
            let (end, path) = (o.end, o.path);
            // Outcomes come from the flow's parts, told apart (untagged);
            // a tagged box would be cut by its parts' sources.
            for (k, cubes) in Self::part_pieces(&m, o.space) {
                results[m.parts[k].class_no].push(Outcome {
                    space: Space(cubes),
                    path: path.clone(),
                    end,
                });
            }
        }
    }

    /// One flow for the requests of several classes that arrived at one
    /// router the same way (flows joined before give their classes' parts);
    /// `None` when their source addresses overlap.
    fn merge_flows(&self, group: &[(usize, Flow)]) -> Option<Flow> {
        let mut table: Vec<(Fam, u128, u128, usize)> = Vec::new();
        let mut parts: Vec<MergedPart> = Vec::new();
        for (i, f) in group {
            let srcs: Vec<(Fam, u128, u128)> = [Fam::V4, Fam::V6]
                .into_iter()
                .flat_map(|fam| {
                    normalise(
                        f.space
                            .0
                            .iter()
                            .filter(|c| c.fam == fam)
                            .map(|c| c.src)
                            .collect(),
                    )
                    .into_iter()
                    .map(move |(lo, hi)| (fam, lo, hi))
                })
                .collect();
            let Some(m) = &f.merged else {
                for &(fam, lo, hi) in &srcs {
                    table.push((fam, lo, hi, parts.len()));
                }
                parts.push(self.own_part(*i, f));
                continue;
            };
            // A joined flow: its classes' parts, with the steps since they joined.
            let after = f.path.to_vec();
            let mut index: Vec<Option<usize>> = vec![None; m.parts.len()];
            for &(fam, lo, hi) in &srcs {
                let from = m
                    .table
                    .partition_point(|&(f2, _, h, _)| (f2, h) < (fam, lo));
                for &(f2, a, b, k) in &m.table[from..] {
                    if f2 != fam || a > hi {
                        break;
                    }
                    let at = *index[k].get_or_insert_with(|| {
                        parts.push(m.parts[k].followed_by(&after));
                        parts.len() - 1
                    });
                    table.push((fam, a.max(lo), b.min(hi), at));
                }
            }
        }
        table.sort_unstable();
        if table
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && w[1].1 <= w[0].2)
        {
            return None;
        }
        // Boxes of the classes' adjacent addresses become one: what the
        // walk past here shares.
        let space = Space(
            group
                .iter()
                .flat_map(|(_, f)| f.space.0.iter().copied())
                .collect(),
        )
        .merged_along_sources();
        Some(self.joined_flow(
            &group[0].1,
            space,
            Merged {
                table,
                parts,
                sources: None,
            },
        ))
    }

    /// The flow of a join at `first`'s router: `space` and the parts of
    /// `merged`. Its class has no members (they are never where the flow is
    /// until a reply leaves it for home) and their addresses together (the
    /// filters' rules are looked up for those sources); no device is its
    /// origin, and the routers passed are the same for every part.
    fn joined_flow(&self, first: &Flow, space: Space, merged: Merged) -> Flow {
        let devs: Vec<usize> = merged
            .parts
            .iter()
            .flat_map(|p| p.class.devs.iter().copied())
            .collect();
        let class = Class {
            own: self.union_own(&devs),
            devs: Vec::new(),
            self_pairs: false,
            grouped: false,
            on_link: Default::default(),
        };
        let mut visited = vec![usize::MAX];
        visited.extend_from_slice(&first.visited[1..]);
        Flow {
            space,
            view: first.view,
            dev: first.dev,
            in_iface: first.in_iface,
            ttl: first.ttl,
            path: Steps::default(),
            reply: false,
            visited: std::rc::Rc::new(visited),
            class: std::rc::Rc::new(class),
            snat_log: first.snat_log.clone(),
            dnat_log: first.dnat_log.clone(),
            group: None,
            delivery: None,
            merged: Some(std::rc::Rc::new(merged)),
        }
    }

    /// Class `class_no`'s flow `f`, not joined before, as a part of a join.
    fn own_part(&self, class_no: usize, f: &Flow) -> MergedPart {
        MergedPart {
            class_no,
            class: f.class.clone(),
            path: f.path.clone(),
            origin: f.visited[0],
            nets: self.class_nets(&f.class),
        }
    }

    /// One flow for every request held at the last router of a joint walk
    /// that arrived there alike (at most [`TAG_PARTS`] parts): each flow,
    /// or each part of a flow joined before, is a part, and its boxes are
    /// tagged with it. A tagged box's source range is widened over the
    /// addresses its part does not send from, so that the boxes of parts
    /// that differ only by their sources (every class's requests to the
    /// same targets, allowed by the same rules) become one box of several
    /// parts. Parts of one class may send from the same addresses (each is
    /// a share of the class's packets decided apart on the way); parts of
    /// different classes may not (`None`, as for any join that cannot be).
    fn join_tagged(&self, group: &[(usize, Flow)]) -> Option<Flow> {
        let mut parts: Vec<MergedPart> = Vec::new();
        let mut boxes: Vec<Vec<Cube>> = Vec::new();
        for (i, f) in group {
            let Some(m) = &f.merged else {
                parts.push(self.own_part(*i, f));
                boxes.push(f.space.0.clone());
                continue;
            };
            if m.sources.is_some() {
                return None;
            }
            // A flow joined before: each of its parts a part here, with
            // the steps since that join.
            let after = f.path.to_vec();
            let first = parts.len();
            let mut index: Vec<Option<usize>> = vec![None; m.parts.len()];
            let pieces = Self::cut_by_field(&View::identity(), f.space.clone(), Dim::Src, &m.table);
            for (k, cubes) in pieces {
                let Some(k) = k else { continue };
                let at = *index[k].get_or_insert_with(|| {
                    parts.push(m.parts[k].followed_by(&after));
                    boxes.push(Vec::new());
                    parts.len() - 1
                });
                debug_assert!(at >= first);
                boxes[at].extend(cubes);
            }
        }
        if parts.len() > TAG_PARTS || parts.len() < 2 {
            return None;
        }
        // Each part's sources; the classes' sources, which must not overlap.
        let sources: Vec<PerFam<Intervals>> = boxes
            .iter()
            .map(|b| {
                [Fam::V4, Fam::V6].map(|fam| {
                    normalise(b.iter().filter(|c| c.fam == fam).map(|c| c.src).collect())
                })
            })
            .collect();
        let mut by_class: std::collections::BTreeMap<usize, (usize, PerFam<Intervals>)> =
            Default::default();
        for (k, (p, own)) in parts.iter().zip(&sources).enumerate() {
            let e = by_class
                .entry(p.class_no)
                .or_insert_with(|| (k, Default::default()));
            for (mine, theirs) in e.1.iter_mut().zip(own) {
                mine.extend_from_slice(theirs);
            }
        }
        let mut table: Vec<(Fam, u128, u128, usize)> = Vec::new();
        for (_, (k, own)) in by_class {
            for (f, fam) in [Fam::V4, Fam::V6].into_iter().enumerate() {
                for (lo, hi) in normalise(own[f].clone()) {
                    table.push((fam, lo, hi, k));
                }
            }
        }
        table.sort_unstable();
        if table
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && w[1].1 <= w[0].2)
        {
            return None;
        }
        let mut space = Vec::with_capacity(boxes.iter().map(Vec::len).sum());
        for (k, cubes) in boxes.into_iter().enumerate() {
            for c in cubes {
                let own = &sources[k][usize::from(c.fam == Fam::V6)];
                space.push(Cube {
                    src: widen(c.src, own, c.fam.max()),
                    tag: 1 << k,
                    ..c
                });
            }
        }
        TAGGED_JOINS[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TAGGED_JOINS[1].fetch_add(parts.len() as u64, std::sync::atomic::Ordering::Relaxed);
        // Parts' boxes equal but for their sources become one: every other
        // field was coalesced in the parts' own walks.
        Some(self.joined_flow(
            &group[0].1,
            Space(space).merged_tags(),
            Merged {
                table,
                parts,
                sources: Some(sources),
            },
        ))
    }

    /// A joined flow's space cut into its parts' packets (original
    /// coordinates, untagged): by source address, or, for a tagged join,
    /// each tagged part's sources within each box. In part order.
    fn part_pieces(m: &Merged, space: Space) -> Vec<(usize, Vec<Cube>)> {
        let Some(sources) = &m.sources else {
            return Self::cut_by_field(&View::identity(), space, Dim::Src, &m.table)
                .into_iter()
                .filter_map(|(k, cubes)| Some((k?, cubes)))
                .collect();
        };
        let mut per: Vec<Vec<Cube>> = vec![Vec::new(); m.parts.len()];
        // Boxes told apart already (a part's outcomes): by source, as the
        // table names one part of each class (outcomes go to classes).
        let (told, tagged): (Vec<Cube>, Vec<Cube>) = space.0.into_iter().partition(|c| c.tag == 0);
        if !told.is_empty() {
            for (k, cubes) in Self::cut_by_field(&View::identity(), Space(told), Dim::Src, &m.table)
            {
                if let Some(k) = k {
                    per[k].extend(cubes);
                }
            }
        }
        for c in tagged {
            for (k, mine) in parts_sources_in(&c, sources) {
                per[k].extend(mine.map(|src| Cube { src, tag: 0, ..c }));
            }
        }
        per.into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// The networks a class's members are on.
    fn class_nets(&self, class: &Class) -> Vec<NetworkId> {
        let mut nets: Vec<NetworkId> = class
            .devs
            .iter()
            .flat_map(|&d| self.devices[d].host.interfaces.iter().map(|x| x.network))
            .collect();
        nets.sort_unstable();
        nets.dedup();
        nets
    }

    /// A joined flow's parts, one flow per class: its packets from that
    /// class's sources, its path and the devices it passed after the
    /// class's own.
    fn unmerged(&self, mut f: Flow) -> Vec<Flow> {
        let Some(m) = f.merged.take() else {
            return vec![f];
        };
        let after = f.path.to_vec();
        let space = std::mem::take(&mut f.space);
        let mut res = Vec::new();
        for (k, cubes) in Self::part_pieces(&m, space) {
            let part = &m.parts[k];
            let mut p = self.child(&f, Space(cubes), None);
            p.path = part.path.followed_by(&after);
            let mut visited = vec![part.origin];
            visited.extend_from_slice(&f.visited[1..]);
            p.visited = std::rc::Rc::new(visited);
            p.class = part.class.clone();
            res.push(p);
        }
        res
    }

    /// Gives every outcome of a group's first range to the group's other
    /// ranges too; false when some box holds only part of the first range
    /// of a group of several (then they were not alike after all). Ranges
    /// alone in their group may be split like any other.
    fn give_to_alike(outcomes: &mut [Outcome], groups: &[Intervals]) -> bool {
        let firsts: Vec<((u128, u128), usize)> = {
            let mut v: Vec<_> = groups
                .iter()
                .enumerate()
                .filter(|(_, r)| r.len() > 1)
                .map(|(g, r)| (r[0], g))
                .collect();
            v.sort_unstable();
            v
        };
        let group_of = |c: &Cube| -> Result<Option<usize>, ()> {
            let i = firsts.partition_point(|(r, _)| r.1 < c.src.0);
            match firsts.get(i) {
                Some(&(r, g)) if r.0 <= c.src.1 => {
                    if r == c.src {
                        Ok(Some(g))
                    } else {
                        Err(())
                    }
                }
                _ => Ok(None),
            }
        };
        if outcomes
            .iter()
            .any(|o| o.space.0.iter().any(|c| group_of(c).is_err()))
        {
            return false;
        }
        for o in outcomes.iter_mut() {
            let mut cubes = Vec::with_capacity(o.space.0.len());
            for c in &o.space.0 {
                match group_of(c) {
                    Ok(Some(g)) => cubes.extend(groups[g].iter().map(|&src| Cube { src, ..*c })),
                    _ => cubes.push(*c),
                }
            }
            o.space = Space(cubes);
        }
        true
    }

    fn stopped(&self, flow: &Flow, space: Space, stop: Stop, out: &mut Sink) {
        // A walk out to the open address space keeps only what got there.
        let kept = out.keep_stopped && (!out.egress || stop == Stop::Egress);
        if kept && !space.is_empty() {
            if flow.merged.is_some() {
                for p in self.unmerged(self.child(flow, space, None)) {
                    let part = p.space.clone();
                    self.stopped(&p, part, stop, out);
                }
                return;
            }
            out.outcomes.push(Outcome {
                space,
                path: flow.path.to_vec(),
                end: End::Stopped {
                    dev: flow.dev,
                    stop,
                    reply: flow.reply,
                },
            });
        }
    }

    fn child(&self, f: &Flow, space: Space, step: Option<PathStep>) -> Flow {
        let mut path = f.path.clone();
        if let Some(step) = step {
            path.push(step);
        }
        Flow {
            space,
            view: f.view,
            dev: f.dev,
            in_iface: f.in_iface,
            ttl: f.ttl,
            path,
            reply: f.reply,
            visited: f.visited.clone(),
            class: f.class.clone(),
            snat_log: f.snat_log.clone(),
            dnat_log: f.dnat_log.clone(),
            group: f.group,
            delivery: f.delivery.clone(),
            merged: f.merged.clone(),
        }
    }

    fn step(&self, f: &Flow, kind: StepKind) -> PathStep {
        // A reply coming home to a class member is told as coming home to
        // the class (its first member), so that members' paths compare equal.
        let home = f.reply && f.in_iface.is_some() && f.class.len() > 1 && f.class.contains(&f.dev);
        let leaving = !f.reply && f.in_iface.is_none() && f.class.first() == Some(&f.dev);
        PathStep::new(
            if home { f.class[0] } else { f.dev } as u32,
            f.reply,
            home || leaving,
            kind,
        )
    }

    /// Splits `space` (original coordinates) by a condition on the fields as
    /// `view` has them now.
    fn split_by(view: &View, space: &Space, conds: &[Cube]) -> (Space, Space) {
        let pulled: Vec<Cube> = conds.iter().filter_map(|c| view.pull_back(c)).collect();
        if pulled.is_empty() {
            return (Space::default(), space.clone());
        }
        space.split(&pulled)
    }

    fn fams(space: &Space) -> Vec<Fam> {
        let mut v: Vec<Fam> = space.0.iter().map(|c| c.fam).collect();
        v.sort();
        v.dedup();
        v
    }

    /// A stand-in's address ranges of one family, grouped so that no rule,
    /// translation, route, link, address or socket of the scenario tells the
    /// ranges of a group apart (each lies wholly inside or wholly outside
    /// every one of them, the same way): a walk sends one range per group
    /// and gives its outcomes to the others. A catch-all network minus a
    /// few hundred IPv6 segments is hundreds of ranges but only a few groups.
    /// Empty for a device with few ranges (they are walked as they are).
    fn alike_ranges(&self, dev: usize, fam: Fam) -> Vec<Intervals> {
        let owned = &self.own_lists[dev][usize::from(fam == Fam::V6)];
        if self.devices[dev].owned.is_empty() || owned.len() <= 4 {
            return Vec::new();
        }
        let groups = self.alike_groups(owned, fam, |d| d == dev);
        if groups.len() == owned.len() {
            return Vec::new();
        }
        groups
    }

    /// Sorted, disjoint ranges grouped so that nothing in the scenario tells
    /// the ranges of a group apart (see [`Engine::alike_ranges`]); the own
    /// addresses of the devices `mine` says are the ranges' own do not count
    /// (a packet to one of them lands at its owner). A range that some
    /// condition holds only in part is alone in its group. Groups come in
    /// the order of their first ranges.
    fn alike_groups(
        &self,
        owned: &[(u128, u128)],
        fam: Fam,
        mine: impl Fn(usize) -> bool,
    ) -> Vec<Intervals> {
        // Per range: the conditions it meets, in order, and whether wholly.
        let mut marks: Vec<Vec<(u32, bool)>> = vec![Vec::new(); owned.len()];
        let mut tag = 0u32;
        // A list marks the same ranges, as wholly or not, each time it comes:
        // ranges alike for its first mark are alike for the others, so it is
        // marked once ("any" and the common prefixes come thousands of times).
        let mut seen: super::fasthash::FastSet<Vec<(u128, u128)>> = Default::default();
        let mut mark = |list: &[(u128, u128)], marks: &mut Vec<Vec<(u32, bool)>>| {
            if seen.contains(list) {
                return;
            }
            seen.insert(list.to_vec());
            tag += 1;
            for &(a, b) in list {
                let start = owned.partition_point(|o| o.1 < a);
                for (i, o) in owned.iter().enumerate().skip(start) {
                    if o.0 > b {
                        break;
                    }
                    let whole = a <= o.0 && o.1 <= b;
                    match marks[i].last_mut() {
                        Some(last) if last.0 == tag => last.1 = false,
                        _ => marks[i].push((tag, whole)),
                    }
                }
            }
        };
        let k = usize::from(fam == Fam::V6);
        // The martian sources: a device drops them whatever its rules say.
        for at in [
            MartianAt::Receipt,
            MartianAt::Routing,
            MartianAt::Forwarding,
        ] {
            let bad: Intervals = crate::journey::route::MARTIANS
                .iter()
                .filter(|m| m.0 == at && m.1 == (fam == Fam::V6))
                .map(|m| (m.2, m.3))
                .collect();
            if !bad.is_empty() {
                mark(&normalise(bad), &mut marks);
            }
        }
        for rules in &self.filter_rules {
            for r in rules {
                if let Some(p) = &r[k] {
                    mark(&p.dims[0], &mut marks);
                    mark(&p.dims[1], &mut marks);
                }
            }
        }
        for h in &self.scn.hosts {
            for n in &h.nat {
                if let Some(p) = &match_products(&n.matches)[k] {
                    mark(&p.dims[0], &mut marks);
                    mark(&p.dims[1], &mut marks);
                }
                let to = match n.kind {
                    NatKind::Dnat { to, .. } | NatKind::Snat { to } => Some(to),
                    NatKind::Masquerade => None,
                };
                if let Some(to) = to.filter(|a| Fam::of(*a) == fam) {
                    mark(&[(addr_u128(to), addr_u128(to))], &mut marks);
                }
            }
            for sock in &h.sockets {
                if !sock.bind.is_unspecified() && Fam::of(sock.bind) == fam {
                    let b = addr_u128(sock.bind);
                    mark(&[(b, b)], &mut marks);
                }
            }
        }
        for (d, device) in self.devices.iter().enumerate() {
            let mut by_route: std::collections::BTreeMap<usize, Vec<(u128, u128)>> =
                std::collections::BTreeMap::new();
            for &(f, lo, hi, ri) in &device.atoms {
                if f == fam {
                    by_route.entry(ri).or_default().push((lo, hi));
                }
            }
            for list in by_route.values() {
                mark(&normalise(list.clone()), &mut marks);
            }
            if device.host.rp_filter != RpFilter::Off {
                // The sources its reverse-path check drops whatever the routes say.
                let pts: Vec<(u128, u128)> = crate::journey::route::not_unicast_back(&device.host)
                    .into_iter()
                    .filter(|(a, _)| Fam::of(*a) == fam)
                    .map(|(a, _)| (addr_u128(a), addr_u128(a)))
                    .collect();
                if !pts.is_empty() {
                    mark(&normalise(pts), &mut marks);
                }
            }
            if !mine(d) {
                mark(&self.own_lists[d][k], &mut marks);
            }
        }
        let mut groups: Vec<Vec<(u128, u128)>> = Vec::new();
        let mut index: super::fasthash::FastMap<&[(u32, bool)], usize> = Default::default();
        for (i, m) in marks.iter().enumerate() {
            if m.iter().any(|&(_, whole)| !whole) {
                groups.push(vec![owned[i]]);
                continue;
            }
            match index.get(m.as_slice()) {
                Some(&g) => groups[g].push(owned[i]),
                None => {
                    index.insert(m.as_slice(), groups.len());
                    groups.push(vec![owned[i]]);
                }
            }
        }
        groups
    }

    /// The source addresses a device sends from on one interface: its
    /// address of the family there, or a stand-in's whole range.
    fn sending_ranges(&self, dev: usize, iface: usize, fam: Fam) -> Vec<(u128, u128)> {
        let d = &self.devices[dev];
        if !d.owned.is_empty() {
            return self.own_lists[dev][usize::from(fam == Fam::V6)].clone();
        }
        d.host
            .interfaces
            .get(iface)
            .and_then(|i| i.addrs.iter().copied().find(|a| Fam::of(*a) == fam))
            .map(|a| vec![(addr_u128(a), addr_u128(a))])
            .unwrap_or_default()
    }

    /// The own addresses of several devices together, per family.
    fn union_own(&self, devs: &[usize]) -> PerFam<Intervals> {
        [0, 1].map(|k| {
            normalise(
                devs.iter()
                    .flat_map(|&d| self.own_lists[d][k].iter().copied())
                    .collect(),
            )
        })
    }

    /// [`Engine::split_field`] of a flow that may be a tagged join
    /// (`merged`): its tagged boxes are cut part by part where the field is
    /// their original source (see [`tag_cells`]).
    fn split_field_of(
        view: &View,
        merged: Option<&Merged>,
        space: Space,
        dim: Dim,
        lists: &PerFam<Intervals>,
    ) -> (Space, Space) {
        let Some(sources) = tagged_sources(view, merged, dim) else {
            return Self::split_field(view, space, dim, lists);
        };
        let (whole, rest) = tag_cells(space, sources, |fam, a, b| {
            list_cell(&lists[usize::from(fam == Fam::V6)], a, b)
        });
        let (mut inside, mut outside) = Self::split_field(view, rest, dim, lists);
        for (k, c) in whole {
            if k {
                inside.0.push(c);
            } else {
                outside.0.push(c);
            }
        }
        (inside, outside)
    }

    /// [`Engine::cut_by_field`] of a flow that may be a tagged join (see
    /// [`Engine::split_field_of`]).
    fn cut_by_field_of<K: Copy + Ord>(
        view: &View,
        merged: Option<&Merged>,
        space: Space,
        dim: Dim,
        fam_intervals: &[(Fam, u128, u128, K)],
    ) -> Vec<(Option<K>, Vec<Cube>)> {
        let Some(sources) = tagged_sources(view, merged, dim) else {
            return Self::cut_by_field(view, space, dim, fam_intervals);
        };
        let (whole, rest) = tag_cells(space, sources, |fam, a, b| {
            let i = fam_intervals.partition_point(|&(f, _, h, _)| (f, h) < (fam, a));
            match fam_intervals.get(i) {
                Some(&(f, lo, hi, k)) if f == fam && lo <= a && b <= hi => Some(Some(k)),
                Some(&(f, lo, _, _)) if f != fam || lo > b => Some(None),
                None => Some(None),
                _ => None,
            }
        });
        let mut res = if rest.is_empty() {
            Vec::new()
        } else {
            Self::cut_by_field(view, rest, dim, fam_intervals)
        };
        for (k, c) in whole {
            match res.iter_mut().find(|(x, _)| *x == k) {
                Some((_, v)) => v.push(c),
                None => res.push((k, vec![c])),
            }
        }
        res
    }

    /// Splits `space` (original coordinates) by whether one current field
    /// lies in a list of intervals (per family: IPv4, IPv6).
    fn split_field(
        view: &View,
        space: Space,
        dim: Dim,
        lists: &PerFam<Intervals>,
    ) -> (Space, Space) {
        // Most flows lie wholly on one side: keep their boxes as they are.
        if let Some((fam, lo, hi)) = current_span(view, &space, dim) {
            let list = &lists[usize::from(fam == Fam::V6)];
            let i = list.partition_point(|iv| iv.1 < lo);
            if i == list.len() || list[i].0 > hi {
                return (Space::default(), space);
            }
            if list[i].0 <= lo && hi <= list[i].1 {
                return (space, Space::default());
            }
        }
        let (mut inside, mut outside) = (
            Vec::with_capacity(space.0.len()),
            Vec::with_capacity(space.0.len()),
        );
        for c in &space.0 {
            let list = &lists[usize::from(c.fam == Fam::V6)];
            match view.field(dim) {
                Field::Value(v) => {
                    if list_holds(list, v) {
                        inside.push(*c)
                    } else {
                        outside.push(*c)
                    }
                }
                Field::Orig(o) => {
                    let (lo, hi) = c.addr(o);
                    let mut cur = lo;
                    let mut to_end = false;
                    let start = list.partition_point(|iv| iv.1 < lo);
                    for &(a, b) in &list[start..] {
                        if a > hi {
                            break;
                        }
                        let (a, b) = (a.max(lo), b.min(hi));
                        if a > cur {
                            let mut g = *c;
                            g.set(o, (cur, a - 1));
                            outside.push(g);
                        }
                        let mut i = *c;
                        i.set(o, (a, b));
                        inside.push(i);
                        if b >= hi {
                            to_end = true;
                            break;
                        }
                        cur = b + 1;
                    }
                    if !to_end {
                        let mut g = *c;
                        g.set(o, (cur, hi));
                        outside.push(g);
                    }
                }
            }
        }
        (Space(inside), Space(outside))
    }

    fn originate(&self, flow: Flow, out: &mut Sink) {
        let dev = flow.dev;
        // Traffic to the sender's own addresses is not a journey across the
        // network. A class of several senders drops it per member, once each
        // member's source address is chosen (below).
        let class_request = !flow.reply && flow.class.len() > 1;
        let mut rest = flow;
        // A group's reply goes back to where each request came from: never
        // to the member itself (those packets stayed home at the origin).
        if !class_request && rest.group.is_none() {
            let (local, remote) = Self::split_field_of(
                &rest.view,
                rest.merged.as_deref(),
                std::mem::take(&mut rest.space),
                Dim::Dst,
                &self.own_lists[dev],
            );
            self.stopped(&rest, local, Stop::Local, out);
            rest.space = remote;
        }
        if rest.space.is_empty() {
            return;
        }
        for (f, out_iface, next) in self.route(rest, out) {
            // Source address selection: a host sends from the outgoing interface's address.
            let mut f = f;
            if !f.reply && f.view.src == Field::Orig(Dim::Src) && self.devices[dev].owned.is_empty()
            {
                let fam = f.space.0[0].fam;
                // Every member of the class sends from its own address on
                // this interface (a network's stand-in: from its whole range).
                let sends: Vec<(usize, Vec<(u128, u128)>)> = f
                    .class
                    .iter()
                    .map(|&m| (m, self.sending_ranges(m, out_iface, fam)))
                    .filter(|(_, r)| !r.is_empty())
                    .collect();
                if sends.is_empty() {
                    self.stopped(&f, f.space.clone(), Stop::NoRoute, out);
                    continue;
                }
                let ranges = normalise(sends.iter().flat_map(|(_, r)| r.iter().copied()).collect());
                let groups = if class_request && f.class.grouped {
                    self.send_groups(&sends, fam)
                } else {
                    Vec::new()
                };
                // Each member's packets to its own addresses stay home. Only
                // the own addresses the flow sends to matter (a stand-in's
                // ranges hold no socket: its packets to itself are none).
                let mut diagonal = Vec::new();
                if class_request && !f.class.self_pairs {
                    let dsts = normalise(f.space.0.iter().map(|c| c.dst).collect());
                    let sent_to = |&&(lo, hi): &&(u128, u128)| {
                        let i = dsts.partition_point(|d| d.1 < lo);
                        i < dsts.len() && dsts[i].0 <= hi
                    };
                    for (m, from) in &sends {
                        for &src in from {
                            for &(lo, hi) in self.own_lists[*m][usize::from(fam == Fam::V6)]
                                .iter()
                                .filter(sent_to)
                            {
                                let mut c = Cube::full(fam);
                                c.src = src;
                                c.dst = (lo, hi);
                                diagonal.push(c);
                            }
                        }
                    }
                }
                // One address per group, when that sends fewer ranges than
                // every address does (alike addresses next to each other, or
                // with a stand-in's ranges between them, are one range).
                let sent = if groups.is_empty() {
                    Vec::new()
                } else {
                    let others: super::fasthash::FastSet<(u128, u128)> =
                        groups.iter().flat_map(|g| g[1..].iter().copied()).collect();
                    normalise(
                        sends
                            .iter()
                            .flat_map(|(_, r)| r.iter().copied())
                            .filter(|r| !others.contains(r))
                            .collect(),
                    )
                };
                if !groups.is_empty() && sent.len() < ranges.len() {
                    let ranges = (ranges.as_slice(), sent.as_slice());
                    self.send_grouped(f, (out_iface, next), ranges, &groups, &diagonal, out);
                    continue;
                }
                f.space = with_sources(&f.space, &ranges);
                if !diagonal.is_empty() {
                    let (local, remote) = f.space.split(&diagonal);
                    self.stopped(&f, local, Stop::Local, out);
                    f.space = remote;
                    if f.space.is_empty() {
                        continue;
                    }
                }
            }
            self.send(f, out_iface, next, out);
        }
    }

    /// A class's flow routed at its origin, sent from one address per group
    /// of its members' alike addresses (`groups`, see
    /// [`Engine::send_groups`]), whose outcomes are then given to the
    /// group's other addresses; should a box hold part of a sent address
    /// after all, every address is sent. `ranges`: every member's source
    /// addresses, and those sent; `diagonal`: the members' packets to their own addresses
    /// (they stay home: sent with the group, they are cut from the
    /// outcomes once given out).
    fn send_grouped(
        &self,
        mut f: Flow,
        (out_iface, next): (usize, Option<u128>),
        (ranges, sent): (&[Range], &[Range]),
        groups: &[Intervals],
        diagonal: &[Cube],
        out: &mut Sink,
    ) {
        if out.keep_stopped && !out.egress && !diagonal.is_empty() {
            let local = with_sources(&f.space, ranges).split(diagonal).0;
            self.stopped(&f, local, Stop::Local, out);
        }
        let spare = self.child(&f, f.space.clone(), None);
        f.space = with_sources(&f.space, sent);
        let before = out.outcomes.len();
        self.send(f, out_iface, next, out);
        let given = Self::give_to_groups(&mut out.outcomes[before..], groups);
        ALIKE_SENDS[usize::from(!given)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if given {
            if !diagonal.is_empty() {
                let given = out.outcomes.split_off(before);
                let diagonal = super::space::Splitter::new(diagonal);
                for mut o in given {
                    o.space = o.space.split_with(&diagonal).1;
                    if !o.space.is_empty() {
                        out.outcomes.push(o);
                    }
                }
            }
            return;
        }
        out.outcomes.truncate(before);
        let mut f = spare;
        f.space = with_sources(&f.space, ranges);
        if !diagonal.is_empty() {
            f.space = f.space.split(diagonal).1;
            if f.space.is_empty() {
                return;
            }
        }
        self.send(f, out_iface, next, out);
    }

    /// A flow routed at its origin, out through the output filter and
    /// postrouting onto the link.
    fn send(&self, f: Flow, out_iface: usize, next: Option<u128>, out: &mut Sink) {
        let state = self.state(&f);
        for f in self.filter_hook(f, Hook::Output, None, Some(out_iface), state, out) {
            for f in self.postrouting(f, out_iface, state, out) {
                self.transmit(f, out_iface, next, out);
            }
        }
    }

    /// The members' source addresses of one family that nothing tells
    /// apart (see `host_reps`), grouped, each group sorted, groups in the
    /// order of their first addresses; groups of one address are left out.
    /// A stand-in member's ranges are grouped among themselves, as
    /// `alike_ranges` groups them.
    fn send_groups(&self, sends: &[(usize, Vec<(u128, u128)>)], fam: Fam) -> Vec<Intervals> {
        let reps = &self.host_reps[usize::from(fam == Fam::V6)];
        let mut by_rep: std::collections::BTreeMap<u128, Intervals> = Default::default();
        for &(lo, hi) in sends.iter().flat_map(|(_, r)| r.iter()) {
            if let Some(&r) = reps.get(&lo).filter(|_| lo == hi) {
                by_rep.entry(r).or_default().push((lo, hi));
            }
        }
        let mut groups: Vec<Intervals> = by_rep
            .into_values()
            .map(|mut g| {
                g.sort_unstable();
                g.dedup();
                g
            })
            .filter(|g| g.len() > 1)
            .collect();
        // A network's stand-in among the members: its groups of alike
        // ranges, as it sends them alone (`alike_ranges`).
        for &(m, _) in sends
            .iter()
            .filter(|(m, _)| self.mixed_groups && !self.devices[*m].owned.is_empty())
        {
            let before = groups.len();
            groups.extend(
                self.range_groups[m][usize::from(fam == Fam::V6)]
                    .iter()
                    .filter(|g| g.len() > 1)
                    .cloned(),
            );
            if groups.len() > before {
                MIXED_GROUP_SENDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        groups.sort_unstable();
        groups
    }

    /// Gives the outcomes of each group's first address to the group's
    /// other addresses: a box whose sources hold first addresses is cut
    /// there, each first address replaced by its group's addresses. False
    /// when a box holds part of a first address (then nothing is certain).
    fn give_to_groups(outcomes: &mut [Outcome], groups: &[Intervals]) -> bool {
        let firsts: Vec<((u128, u128), usize)> = {
            let mut v: Vec<_> = groups.iter().enumerate().map(|(g, r)| (r[0], g)).collect();
            v.sort_unstable();
            v
        };
        // Each group's addresses, adjacent ones merged (a network of alike
        // hosts is a few ranges, not an address each).
        let spread: Vec<Intervals> = groups.iter().map(|g| normalise(g.clone())).collect();
        let meets = |c: &Cube| {
            let (lo, hi) = c.src;
            let i = firsts.partition_point(|(r, _)| r.1 < lo);
            firsts[i..].iter().take_while(move |(r, _)| r.0 <= hi)
        };
        if outcomes.iter().any(|o| {
            o.space
                .0
                .iter()
                .any(|c| meets(c).any(|(r, _)| r.0 < c.src.0 || r.1 > c.src.1))
        }) {
            return false;
        }
        for o in outcomes.iter_mut() {
            if !o.space.0.iter().any(|c| meets(c).next().is_some()) {
                continue;
            }
            let mut cubes = Vec::with_capacity(o.space.0.len());
            for c in &o.space.0 {
                // The box's sources from `cur` on are still to be given out.
                let mut cur = Some(c.src.0);
                for &(r, g) in meets(c) {
                    let from = cur.expect("first addresses are disjoint and inside the box");
                    if r.0 > from {
                        cubes.push(Cube {
                            src: (from, r.0 - 1),
                            ..*c
                        });
                    }
                    cubes.extend(spread[g].iter().map(|&src| Cube { src, ..*c }));
                    cur = r.1.checked_add(1).filter(|&n| n <= c.src.1);
                }
                if let Some(from) = cur.filter(|&n| n <= c.src.1) {
                    cubes.push(Cube {
                        src: (from, c.src.1),
                        ..*c
                    });
                }
            }
            // Given out, the group's ranges lie beside other sources of the
            // same packets (a network's stand-in fills the gaps between its
            // hosts): merged again, the outcome holds what a walk from every
            // address holds, not a box per range.
            o.space = Space(cubes).merged_along_sources();
        }
        true
    }

    /// Cuts each cube by sorted, disjoint intervals of a current field, giving
    /// each piece the key of its interval; pieces outside every interval go to `None`.
    fn cut_by_field<K: Copy + Ord>(
        view: &View,
        space: Space,
        dim: Dim,
        fam_intervals: &[(Fam, u128, u128, K)],
    ) -> Vec<(Option<K>, Vec<Cube>)> {
        // Most flows lie wholly inside one interval, or outside all of them.
        if let Some((fam, lo, hi)) = current_span(view, &space, dim) {
            let i = fam_intervals.partition_point(|&(f, _, h, _)| (f, h) < (fam, lo));
            match fam_intervals.get(i) {
                Some(&(f, a, b, k)) if f == fam && a <= lo && hi <= b => {
                    return vec![(Some(k), space.0)];
                }
                Some(&(f, a, _, _)) if f != fam || a > hi => return vec![(None, space.0)],
                None => return vec![(None, space.0)],
                _ => {}
            }
        }
        let mut res: Vec<(Option<K>, Cube)> = Vec::with_capacity(space.0.len() * 2);
        // Where each family's intervals start.
        let v6 = fam_intervals.partition_point(|&(f, _, _, _)| f < Fam::V6);
        for c in &space.0 {
            let start = if c.fam == Fam::V6 { v6 } else { 0 };
            match view.field(dim) {
                Field::Value(v) => {
                    let key = fam_intervals[start..]
                        .iter()
                        .take_while(|(f, _, _, _)| *f == c.fam)
                        .find(|&&(_, lo, hi, _)| lo <= v && v <= hi)
                        .map(|&(_, _, _, k)| k);
                    res.push((key, *c));
                }
                Field::Orig(d) => {
                    let (a, b) = c.addr(d);
                    let mut cur = a;
                    let first = start
                        + fam_intervals[start..]
                            .partition_point(|&(f, _, hi, _)| f == c.fam && hi < a);
                    // Whether an interval reaches the box's end.
                    let mut covered_to_end = false;
                    for &(f, lo, hi, k) in &fam_intervals[first..] {
                        if f != c.fam || lo > b {
                            break;
                        }
                        if lo > cur {
                            let mut gap = *c;
                            gap.set(d, (cur, lo - 1));
                            res.push((None, gap));
                        }
                        let mut piece = *c;
                        piece.set(d, (lo.max(a), hi.min(b)));
                        res.push((Some(k), piece));
                        if hi >= b {
                            covered_to_end = true;
                            break;
                        }
                        // hi < b: the next address is still in the box.
                        cur = hi + 1;
                    }
                    if !covered_to_end {
                        let mut gap = *c;
                        gap.set(d, (cur, b));
                        res.push((None, gap));
                    }
                }
            }
        }
        // Grouped by key in key order, each group in the order cut (often
        // already so: boxes tend to come sorted by destination).
        group_by_key(&mut res)
    }

    /// Splits by the route table; pieces with nowhere to go stop here.
    /// Returns (flow, outgoing interface, next hop: a constant or the destination).
    fn route(&self, mut f: Flow, out: &mut Sink) -> Vec<(Flow, usize, Option<u128>)> {
        let d = &self.devices[f.dev];
        let mut res = Vec::new();
        let space = std::mem::take(&mut f.space);
        for (key, cubes) in
            Self::cut_by_field_of(&f.view, f.merged.as_deref(), space, Dim::Dst, &d.atoms)
        {
            let Some(ri) = key else {
                self.stopped(&f, Space(cubes), Stop::NoRoute, out);
                continue;
            };
            let route = &d.host.routes[ri];
            let child = self.child(
                &f,
                Space(cubes),
                Some(self.step(&f, StepKind::Route(ri as u32))),
            );
            match route.action {
                RouteAction::Blackhole => {
                    self.stopped(&child, child.space.clone(), Stop::Blackhole, out)
                }
                RouteAction::Direct { iface } => res.push((child, iface, None)),
                RouteAction::Via { gateway, iface } => {
                    res.push((child, iface, Some(addr_u128(gateway))))
                }
            }
        }
        res
    }

    fn state(&self, f: &Flow) -> ConnState {
        if !f.reply {
            ConnState::New
        } else if f.visited.contains(&f.dev) || f.class.contains(&f.dev) {
            ConnState::Established
        } else if f.space.0.first().is_some_and(|c| c.proto == UDP) {
            ConnState::New
        } else {
            ConnState::Invalid
        }
    }

    /// Runs a filter hook; returns the allowed parts, one flow per allowing rule.
    fn filter_hook(
        &self,
        f: Flow,
        hook: Hook,
        in_iface: Option<usize>,
        out_iface: Option<usize>,
        state: ConnState,
        out: &mut Sink,
    ) -> Vec<Flow> {
        let host = &self.devices[f.dev].host;
        let fid = match hook {
            Hook::Input => host.input,
            Hook::Forward => host.forward,
            Hook::Output => host.output,
        };
        let Some(fid) = fid else { return vec![f] };
        super::consulted::note_filter(fid);
        let filter = self.scn.filter(fid);
        if filter.stateful && matches!(state, ConnState::Established | ConnState::Related) {
            let step = self.step(
                &f,
                StepKind::Filter {
                    filter: fid,
                    rule: Some(ESTABLISHED),
                },
            );
            let mut f = f;
            f.path.push(step);
            return vec![f];
        }
        if super::consulted::active() {
            // The packets that meet the rules, as they are here.
            let mut seen: [Option<Cube>; 2] = [None, None];
            for c in &f.space.0 {
                // A class walked from one address per group of alike
                // addresses stands for every member's: so do its packets.
                let mut c = *c;
                if f.class.grouped {
                    let own = &f.class.own[usize::from(c.fam == Fam::V6)];
                    if let (Some(a), Some(b)) = (own.first(), own.last()) {
                        c.src = (c.src.0.min(a.0), c.src.1.max(b.1));
                    }
                }
                let c = &c;
                let now = Cube {
                    fam: c.fam,
                    src: f.view.current(c, Dim::Src),
                    dst: f.view.current(c, Dim::Dst),
                    proto: c.proto,
                    sport: narrow(f.view.current(c, Dim::Sport)),
                    dport: narrow(f.view.current(c, Dim::Dport)),
                    tag: 0,
                };
                match &mut seen[usize::from(c.fam == Fam::V6)] {
                    Some(b) => super::consulted::hull(b, &now),
                    slot => *slot = Some(now),
                }
            }
            for b in seen.iter().flatten() {
                super::consulted::note_packets(fid, f.reply, b);
            }
        }
        let net = |i: Option<usize>| i.and_then(|i| host.interfaces.get(i)).map(|i| i.network);
        let (inn, outn) = (net(in_iface), net(out_iface));
        // First match, cube by cube, over the rules that can match its
        // destination and that apply here to some of the flow's sources.
        let rules = &self.filter_rules[fid.index()];
        // A tagged join's parts' sources: its boxes' source ranges may run
        // past them (see `join_tagged`).
        let joined = f.merged.clone();
        let sources = joined.as_deref().and_then(|m| m.sources.as_deref());
        let sc = &mut out.scratch;
        sc.decided.clear();
        let mut live: [Option<std::rc::Rc<Vec<u64>>>; 2] = [None, None];
        for (k, fam) in [Fam::V4, Fam::V6].into_iter().enumerate() {
            // A tagged join's boxes still carrying their sources: the span
            // of the parts' own sources, not of the widened ranges.
            let parts_span = sources
                .filter(|_| f.view.src == Field::Orig(Dim::Src))
                .and_then(|own| {
                    own.iter()
                        .filter_map(|o| Some((o[k].first()?.0, o[k].last()?.1)))
                        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
                });
            let Some((mut lo, mut hi)) = f
                .space
                .0
                .iter()
                .filter(|c| c.fam == fam)
                .map(|c| match parts_span {
                    Some(span) if c.tag != 0 => span,
                    _ => f.view.current(c, Dim::Src),
                })
                .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
            else {
                continue;
            };
            // A request still carrying its senders' addresses: ask about the
            // whole class, so that the flows of one walk share the answer.
            let own = &f.class.own[k];
            if !f.reply && f.view.src == Field::Orig(Dim::Src) && !own.is_empty() {
                lo = lo.min(own[0].0);
                hi = hi.max(own[own.len() - 1].1);
            }
            let key = (fid.0, state, k, lo, hi);
            let bits = sc.live.entry(key).or_insert_with(|| {
                // The rules of this state whose sources may meet lo..=hi (by
                // their hulls: a superset is enough, each candidate's whole
                // match is checked against each box below).
                let hulls = &self.hulls[fid.index()][k];
                let bounds = &self.bounds[fid.index()][k];
                let mut bits = self.state_rules[fid.index()][state as usize].clone();
                for (w, word) in bits.iter_mut().enumerate() {
                    let mut x = *word;
                    while x != 0 {
                        let bit = x.trailing_zeros();
                        x &= x - 1;
                        let ri = w * 64 + bit as usize;
                        let b = &bounds[ri];
                        let meets = hulls[ri].proto != 0 && b.src.0 <= hi && lo <= b.src.1;
                        if !meets {
                            *word &= !(1 << bit);
                        }
                    }
                }
                std::rc::Rc::new(bits)
            });
            live[k] = Some(bits.clone());
        }
        // The candidates of the previous box, kept while boxes share a destination.
        let mut last: Option<(usize, u128, u128)> = None;
        for c in &f.space.0 {
            let (lo, hi) = f.view.current(c, Dim::Dst);
            let fam = usize::from(c.fam == Fam::V6);
            let Some(live) = live[fam].as_deref() else {
                continue;
            };
            if last != Some((fam, lo, hi)) {
                let index = &self.filter_index[fid.index()][fam];
                index.candidates(
                    lo,
                    hi,
                    live,
                    &mut sc.cands,
                    (&mut sc.spans, (fid.0, fam as u8)),
                );
                last = Some((fam, lo, hi));
            }
            sc.work.push((*c, 0));
            while let Some((piece, mut pos)) = sc.work.pop() {
                // The piece in current coordinates: a rule that misses this
                // box misses every packet of the piece.
                let cur = Cube {
                    src: f.view.current(&piece, Dim::Src),
                    dst: f.view.current(&piece, Dim::Dst),
                    sport: narrow(f.view.current(&piece, Dim::Sport)),
                    dport: narrow(f.view.current(&piece, Dim::Dport)),
                    ..piece
                };
                let mut decided = false;
                let hulls = &self.hulls[fid.index()][fam];
                let bounds = &self.bounds[fid.index()][fam];
                let (inn, outn) = (iface_key(inn), iface_key(outn));
                while pos < sc.cands.len() {
                    let ri = sc.cands[pos] as usize;
                    pos += 1;
                    let h = &hulls[ri];
                    if h.proto & cur.proto == 0
                        || h.dport.0 > cur.dport.1
                        || cur.dport.0 > h.dport.1
                        || h.sport.0 > cur.sport.1
                        || cur.sport.0 > h.sport.1
                        || (h.in_iface != ANY_IFACE && h.in_iface != inn)
                        || (h.out_iface != ANY_IFACE && h.out_iface != outn)
                    {
                        continue;
                    }
                    let b = &bounds[ri];
                    if b.dst.0 > cur.dst.1
                        || cur.dst.0 > b.dst.1
                        || b.src.0 > cur.src.1
                        || cur.src.0 > b.src.1
                    {
                        continue;
                    }
                    let Some(rule) = &rules[ri][fam] else {
                        continue;
                    };
                    if !h.exact && !rule.meets(&cur) {
                        continue;
                    }
                    // The rule's condition on current fields, pulled back
                    // onto the piece's original fields.
                    sc.hit.clear();
                    sc.miss.clear();
                    let any = match pull_back_product(&f.view, rule) {
                        Some(cons) => match sources.filter(|_| piece.tag != 0) {
                            Some(own) => split_tagged(
                                &piece,
                                rule.proto,
                                &cons,
                                own,
                                &mut sc.split,
                                &mut sc.hit,
                                &mut sc.miss,
                            ),
                            None => split_by_product(
                                &piece,
                                rule.proto,
                                &cons,
                                &mut sc.split,
                                &mut sc.hit,
                                &mut sc.miss,
                            ),
                        },
                        None => {
                            // A view that maps two fields onto one (never
                            // built by the stages today): box by box.
                            let pulled: Vec<Cube> = rule
                                .cubes()
                                .iter()
                                .filter_map(|rc| f.view.pull_back(rc))
                                .collect();
                            let (hit, miss) = Space(vec![piece]).split(&pulled);
                            sc.hit = hit.0;
                            sc.miss = miss.0;
                            !sc.hit.is_empty()
                        }
                    };
                    if !any {
                        continue;
                    }
                    sc.work.extend(sc.miss.iter().map(|&m| (m, pos)));
                    sc.decided
                        .extend(sc.hit.iter().map(|&h| (ri as u32 + 1, h)));
                    decided = true;
                    break;
                }
                if !decided {
                    sc.decided.push((0, piece));
                }
            }
        }
        // One bucket per deciding rule, the default policy first, then in
        // rule order; boxes keep the order they were decided in.
        let buckets: Vec<(Option<usize>, Vec<Cube>)> = group_by_key(&mut sc.decided)
            .into_iter()
            .map(|(k, cubes)| ((k > 0).then(|| k as usize - 1), cubes))
            .collect();
        let mut allowed = Vec::new();
        for (rule, cubes) in buckets {
            let action = match rule {
                Some(ri) => filter.rules[ri].action,
                None => filter.default,
            };
            let child = self.child(
                &f,
                Space(cubes),
                Some(self.step(
                    &f,
                    StepKind::Filter {
                        filter: fid,
                        rule: rule.map(|r| r as u32),
                    },
                )),
            );
            match action {
                Action::Allow => allowed.push(child),
                a => self.stopped(&child, child.space.clone(), Stop::Filtered(a), out),
            }
        }
        allowed
    }

    /// Postrouting: SNAT/masquerade for new connections, the DNAT undone for replies.
    fn postrouting(
        &self,
        f: Flow,
        out_iface: usize,
        state: ConnState,
        out: &mut Sink,
    ) -> Vec<Flow> {
        let _ = out;
        let dev = f.dev;
        let host = &self.devices[dev].host;
        if f.reply {
            let mut f = f;
            if let Some(&(_, prev_dst, prev_dport)) = f.dnat_log.iter().find(|(d, _, _)| *d == dev)
            {
                f.view.src = prev_dst;
                f.view.sport = prev_dport;
                f.path.push(self.step(&f, StepKind::UndoDnat));
            }
            return vec![f];
        }
        if state != ConnState::New || dev >= self.scn.hosts.len() {
            return vec![f];
        }
        let out_net = host.interfaces.get(out_iface).map(|i| i.network);
        let mut res = Vec::new();
        let mut rest = f.space.clone();
        for (ni, rule) in host.nat.iter().enumerate() {
            if !matches!(rule.kind, NatKind::Snat { .. } | NatKind::Masquerade) {
                continue;
            }
            if rule.matches.out_iface.is_some() && rule.matches.out_iface != out_net {
                continue;
            }
            let (hit, miss) = Self::split_by(&f.view, &rest, &self.nat_cubes[&(dev, ni)]);
            rest = miss;
            for fam in Self::fams(&hit) {
                let part = Space(hit.0.iter().filter(|c| c.fam == fam).copied().collect());
                let to = match rule.kind {
                    NatKind::Snat { to } if Fam::of(to) == fam => Some(to),
                    NatKind::Masquerade => host.interfaces[out_iface]
                        .addrs
                        .iter()
                        .copied()
                        .find(|a| Fam::of(*a) == fam),
                    _ => None,
                };
                let mut child =
                    self.child(&f, part, Some(self.step(&f, StepKind::Snat(ni as u32))));
                match to {
                    Some(to) => {
                        child.snat_log.push((dev, child.view.src));
                        child.view.src = Field::Value(addr_u128(to));
                        res.push(child);
                    }
                    None => {
                        // A translation of another family does not apply.
                        child.path.pop();
                        res.push(child);
                    }
                }
            }
        }
        if !rest.is_empty() {
            res.push(self.child(&f, rest, None));
        }
        res
    }

    /// Hands each part of the flow to the device that answers for its next hop.
    fn transmit(&self, mut f: Flow, out_iface: usize, next: Option<u128>, out: &mut Sink) {
        let dev = f.dev;
        let net = self.devices[dev].host.interfaces[out_iface].network;
        let Some(fam) = f.space.0.first().map(|c| c.fam) else {
            return;
        };
        // A reply of several classes going onto a network where one of them
        // has members: coming home, each class's part goes its own way.
        if f.reply
            && f.merged
                .as_ref()
                .is_some_and(|m| m.parts.iter().any(|p| p.nets.contains(&net)))
        {
            for p in self.unmerged(f) {
                self.transmit(p, out_iface, next, out);
            }
            return;
        }
        let class_here = !f.reply && f.class.contains(&dev);
        // Who answers on this segment: the hosts' addresses, and — for replies
        // only — the range of the sender standing for the network.
        let table = if f.reply || out.egress {
            &self.on_link_reply
        } else {
            &self.on_link
        };
        let intervals: &[OnLink] = table.get(&(net, fam)).map(Vec::as_slice).unwrap_or(&[]);
        // A device does not send to itself, but a class member's packets may
        // be for another member of its class.
        let to_self_ok = (class_here && f.class.len() > 1) || f.group.is_some();
        let pieces: Vec<(Option<DevIface>, Vec<Cube>)> = match next {
            Some(gw) => {
                let at = intervals.partition_point(|&(_, _, hi, _)| hi < gw);
                let who = intervals
                    .get(at)
                    .filter(|&&(_, lo, hi, _)| lo <= gw && gw <= hi)
                    .map(|&(_, _, _, k)| k);
                vec![(who, std::mem::take(&mut f.space.0))]
            }
            None => {
                let mut space = std::mem::take(&mut f.space);
                // A reply for members of the source class: the part for the
                // members on this link goes home whole (cut per member, it
                // would only be merged again below).
                let mut home = None;
                if f.reply && f.class.len() > 1 {
                    if let Some((ii, lists)) = f.class.on_link(intervals) {
                        let (inside, outside) = Self::split_field_of(
                            &f.view,
                            f.merged.as_deref(),
                            space,
                            Dim::Dst,
                            &lists,
                        );
                        space = outside;
                        if !inside.is_empty() {
                            home = Some((Some((f.class[0], ii)), inside.0));
                        }
                    }
                }
                // (Each box cut into its neighbours' pieces and the gaps between.)
                if out.too_large(|| {
                    2 * pieces_bound(&f.view, &space, Dim::Dst, intervals) + space.0.len()
                }) {
                    return;
                }
                let mut pieces =
                    Self::cut_by_field_of(&f.view, f.merged.as_deref(), space, Dim::Dst, intervals);
                pieces.extend(home);
                pieces
            }
        };
        // A reply for several members of the source class goes home to the
        // class as one flow: members are configured alike.
        let pieces = if f.reply && f.class.len() > 1 {
            let mut merged: Vec<(Option<DevIface>, Vec<Cube>)> = Vec::new();
            let mut home: Option<(DevIface, Vec<Cube>)> = None;
            for (who, cubes) in pieces {
                match who {
                    Some((di, ii)) if f.class.contains(&di) => match &mut home {
                        Some((_, v)) => v.extend(cubes),
                        None => {
                            // Any member but the sender stands for the class.
                            let rep = f.class.iter().copied().find(|&m| m != dev);
                            home = Some(((rep.unwrap_or(di), ii), cubes));
                        }
                    },
                    _ => merged.push((who, cubes)),
                }
            }
            // The members' pieces were cut apart by destination (each
            // member's own address): together again, they merge.
            merged.extend(home.map(|(k, v)| (Some(k), Space(v).into_coalesced().0)));
            merged
        } else {
            pieces
        };
        let mut pieces: Vec<Piece> = pieces
            .into_iter()
            .map(|(who, cubes)| (who.filter(|&(di, _)| di != dev || to_self_ok), cubes, None))
            .collect();
        // A request for several hosts of one group reaches them as one flow.
        if !f.reply && next.is_none() {
            pieces = self.merge_groups(pieces, dev);
        }
        for (who, cubes, group) in pieces {
            match who {
                None => self.stopped(&f, Space(cubes), Stop::NoNeighbour, out),
                Some((di, ii)) => {
                    let mut child = self.child(&f, Space(cubes), None);
                    child.dev = di;
                    child.in_iface = Some(ii);
                    child.group = group;
                    if !child.reply {
                        std::rc::Rc::make_mut(&mut child.visited).push(di);
                    }
                    // A request arriving at a router past `hold_level`
                    // routers waits there for other classes' (see
                    // [`Engine::walk_classes`]).
                    if out.holding
                        && !child.reply
                        && child.group.is_none()
                        && child.visited.len() == out.hold_level + 2
                        && !f.class.contains(&di)
                        && self.devices[di].host.router
                    {
                        out.held.push(child);
                        continue;
                    }
                    self.receive(child, out);
                }
            }
        }
    }

    /// Pieces of a request for two or more members of one group of alike
    /// hosts, merged into one piece at one member (not the sender) that
    /// stands for the group.
    fn merge_groups(&self, pieces: Vec<Piece>, sender: usize) -> Vec<Piece> {
        let mut by_group: std::collections::BTreeMap<(u32, usize), Vec<usize>> =
            std::collections::BTreeMap::new();
        for (i, (who, _, _)) in pieces.iter().enumerate() {
            if let Some((di, ii)) = *who {
                if let Some(&g) = self.group_of.get(di) {
                    if g != u32::MAX {
                        by_group.entry((g, ii)).or_default().push(i);
                    }
                }
            }
        }
        if by_group.values().all(|v| v.len() < 2) {
            return pieces;
        }
        let mut slots: Vec<Option<Piece>> = pieces.into_iter().map(Some).collect();
        let mut out = Vec::new();
        for ((g, ii), idx) in by_group {
            if idx.len() < 2 {
                continue;
            }
            let mut cubes = Vec::new();
            let mut stand = None;
            for i in idx {
                let (who, c, _) = slots[i].take().expect("each piece once");
                let di = who.expect("grouped pieces have a device").0;
                if stand.is_none() && di != sender {
                    stand = Some(di);
                }
                cubes.extend(c);
            }
            let stand = stand.unwrap_or(sender);
            out.push((Some((stand, ii)), cubes, Some(g)));
        }
        out.extend(slots.into_iter().flatten());
        out
    }

    fn receive(&self, f: Flow, out: &mut Sink) {
        if out.over() || out.too_large(|| f.space.0.len()) {
            return;
        }
        let dev = f.dev;
        let in_iface = f.in_iface.unwrap_or(0);
        let Some(mut f) = self.drop_martians(f, MartianAt::Receipt, out) else {
            return;
        };
        let state = self.state(&f);
        // Prerouting: a reply to a connection this device source-NATed gets its destination back.
        if f.reply {
            if let Some(&(_, prev_src)) = f.snat_log.iter().find(|(d, _)| *d == dev) {
                f.view.dst = prev_src;
                f.path.push(self.step(&f, StepKind::UndoSnat));
            }
        }
        // Prerouting: DNAT for new connections, first matching rule.
        let mut flows = vec![f];
        if state == ConnState::New && !flows[0].reply && dev < self.scn.hosts.len() {
            let f = flows.pop().expect("one flow");
            let host = &self.devices[dev].host;
            let in_net = host.interfaces.get(in_iface).map(|i| i.network);
            let mut rest = f.space.clone();
            for (ni, rule) in host.nat.iter().enumerate() {
                let NatKind::Dnat { to, port, .. } = rule.kind else {
                    continue;
                };
                if rule.matches.in_iface.is_some() && rule.matches.in_iface != in_net {
                    continue;
                }
                let (hit, miss) = Self::split_by(&f.view, &rest, &self.nat_cubes[&(dev, ni)]);
                let (hit, keep) = hit
                    .0
                    .into_iter()
                    .partition::<Vec<Cube>, _>(|c| c.fam == Fam::of(to));
                rest = Space(miss.0.into_iter().chain(keep).collect());
                if hit.is_empty() {
                    continue;
                }
                let mut child = self.child(
                    &f,
                    Space(hit),
                    Some(self.step(&f, StepKind::Dnat(ni as u32))),
                );
                child.dnat_log.push((dev, child.view.dst, child.view.dport));
                child.view.dst = Field::Value(addr_u128(to));
                if let Some(p) = port {
                    child.view.dport = Field::Value(p as u128);
                }
                flows.push(child);
            }
            if !rest.is_empty() {
                flows.push(self.child(&f, rest, None));
            }
        }
        for f in flows {
            self.after_prerouting(f, in_iface, state, out);
        }
    }

    fn after_prerouting(&self, f: Flow, in_iface: usize, state: ConnState, out: &mut Sink) {
        let dev = f.dev;
        let host = &self.devices[dev].host;
        let Some(mut f) = self.drop_martians(f, MartianAt::Routing, out) else {
            return;
        };
        // Reverse-path check on the current source.
        if host.rp_filter != RpFilter::Off {
            let none: PerFam<Intervals> = Default::default();
            let lists = self.rp_pass[dev].get(in_iface).unwrap_or(&none);
            let (pass, fail) = Self::split_field_of(
                &f.view,
                f.merged.as_deref(),
                std::mem::take(&mut f.space),
                Dim::Src,
                lists,
            );
            self.stopped(&f, fail, Stop::ReversePath, out);
            if pass.is_empty() {
                return;
            }
            f = self.child(&f, pass, Some(self.step(&f, StepKind::ReversePath)));
        }
        // Routing decision: local or forward. A reply coming home to a class
        // arrives at the class as one: any member's address is home.
        let home_class = f.reply && f.class.len() > 1 && f.class.contains(&dev);
        let own = if let Some(g) = f.group {
            &self.group_own[g as usize]
        } else if home_class {
            &f.class.own
        } else {
            &self.own_lists[dev]
        };
        let (local, rest) = Self::split_field_of(
            &f.view,
            f.merged.as_deref(),
            std::mem::take(&mut f.space),
            Dim::Dst,
            own,
        );
        if !local.is_empty() {
            let child = self.child(&f, local, None);
            for c in self.filter_hook(child, Hook::Input, Some(in_iface), None, state, out) {
                self.deliver(c, out);
            }
        }
        if rest.is_empty() {
            return;
        }
        let f = self.child(&f, rest, None);
        if !host.router {
            self.stopped(&f, f.space.clone(), Stop::NotRouter, out);
            return;
        }
        if f.ttl <= 1 {
            self.stopped(&f, f.space.clone(), Stop::TtlExceeded, out);
            return;
        }
        let mut f = f;
        f.ttl -= 1;
        for (c, out_iface, next) in self.route(f, out) {
            // Not checked for a packet that leaves by the interface it came
            // in on (the tracer's `receive`).
            let c = if out_iface == in_iface {
                c
            } else {
                let Some(c) = self.drop_martians(c, MartianAt::Forwarding, out) else {
                    continue;
                };
                c
            };
            for c in self.filter_hook(
                c,
                Hook::Forward,
                Some(in_iface),
                Some(out_iface),
                state,
                out,
            ) {
                for c in self.postrouting(c, out_iface, state, out) {
                    self.transmit(c, out_iface, next, out);
                }
            }
        }
    }

    /// Linux's martian-source check at `at` (the tracer's `martian`): the
    /// packets whose current source no sender can have stop here.
    fn drop_martians(&self, mut f: Flow, at: MartianAt, out: &mut Sink) -> Option<Flow> {
        let (ok, bad) = Self::split_field_of(
            &f.view,
            f.merged.as_deref(),
            std::mem::take(&mut f.space),
            Dim::Src,
            &self.martian_ok[at as usize],
        );
        self.stopped(&f, bad, Stop::Martian, out);
        f.space = ok;
        (!f.space.is_empty()).then_some(f)
    }

    /// Local delivery: the socket lookup on a request, the end of a reply.
    fn deliver(&self, f: Flow, out: &mut Sink) {
        let dev = f.dev;
        if f.reply {
            self.reply_arrives(f, out);
            return;
        }
        let host = &self.devices[dev].host;
        if dev >= self.scn.hosts.len() {
            let catch_all = self.scn.networks[dev - self.scn.hosts.len()].catch_all;
            let stop = if out.egress && catch_all {
                Stop::Egress
            } else {
                Stop::NoSocket
            };
            self.stopped(&f, f.space.clone(), stop, out);
            return;
        }
        // ICMP echo is answered by the kernel.
        let (icmp, mut rest) = f.space.split(&[
            Cube {
                proto: ICMP,
                ..Cube::full(Fam::V4)
            },
            Cube {
                proto: ICMP,
                ..Cube::full(Fam::V6)
            },
        ]);
        if !icmp.is_empty() {
            self.reply(self.child(&f, icmp, None), usize::MAX, out);
        }
        if let Some(g) = f.group {
            // Each member's sockets take the packets addressed to it; the
            // reply leaves as one flow and is told apart when it arrives.
            let mut sockets = Vec::new();
            let mut taken = Vec::new();
            let mut refused = Vec::new();
            let by_member = Self::cut_by_field_of(
                &f.view,
                f.merged.as_deref(),
                rest,
                Dim::Dst,
                &self.group_iv[g as usize],
            );
            for (m, cubes) in by_member {
                let Some(m) = m else {
                    refused.extend(cubes);
                    continue;
                };
                let mh = &self.devices[m].host;
                let mut mine = Space(cubes);
                for si in socket_order(mh) {
                    if mine.is_empty() {
                        break;
                    }
                    let conds = socket_conds(&mh.sockets[si], Some(&self.own[m]));
                    let (hit, miss) = Self::split_by(&f.view, &mine, &conds);
                    mine = miss;
                    if !hit.is_empty() {
                        taken.extend(hit.0);
                        sockets.push((m, si, conds));
                    }
                }
                refused.extend(mine.0);
            }
            if !sockets.is_empty() {
                // By member, each member's sockets in the order they take
                // packets (a stable sort; the members come in order already).
                sockets.sort_by_key(|s| s.0);
                let mut child = self.child(
                    &f,
                    Space(taken),
                    Some(self.step(&f, StepKind::Socket(GROUP_SOCKET as u32))),
                );
                child.delivery = Some(std::rc::Rc::new(Delivery {
                    group: g,
                    view: f.view,
                    sockets,
                }));
                self.reply(child, GROUP_SOCKET, out);
            }
            self.stopped(&f, Space(refused), Stop::NoSocket, out);
            return;
        }
        for si in socket_order(host) {
            if rest.is_empty() {
                break;
            }
            let conds = socket_conds(&host.sockets[si], None);
            let (hit, miss) = Self::split_by(&f.view, &rest, &conds);
            rest = miss;
            if !hit.is_empty() {
                let child = self.child(&f, hit, Some(self.step(&f, StepKind::Socket(si as u32))));
                self.reply(child, si, out);
            }
        }
        self.stopped(&f, rest, Stop::NoSocket, out);
    }

    /// Sends the reply of a request that reached socket `si` (usize::MAX: ICMP echo).
    fn reply(&self, f: Flow, si: usize, out: &mut Sink) {
        let dev = f.dev;
        let mut r = f;
        // The request's splits left fragments that go back alike.
        r.space = std::mem::take(&mut r.space).into_coalesced();
        r.reply = true;
        r.view = r.view.swapped();
        r.in_iface = None;
        r.ttl = crate::journey::INITIAL_TTL;
        // Remember where the request ended, for the outcome.
        r.path.push(PathStep::new(
            dev as u32,
            true,
            false,
            StepKind::Socket(si.min(u32::MAX as usize) as u32),
        ));
        self.originate(r, out);
    }

    fn reply_arrives(&self, f: Flow, out: &mut Sink) {
        if f.merged.is_some() {
            for p in self.unmerged(f) {
                self.reply_arrives(p, out);
            }
            return;
        }
        let origin = f.visited[0];
        // Where the request ended: the socket step recorded when the reply began.
        let path = f.path.to_vec();
        let Some(start) = path
            .iter()
            .rposition(|s| s.reply() && matches!(s.kind(), StepKind::Socket(_)))
        else {
            return;
        };
        let (dev, si) = match path[start].kind() {
            StepKind::Socket(si) => (
                path[start].device(),
                match si {
                    u32::MAX => usize::MAX,
                    x if x == GROUP_SOCKET as u32 => GROUP_SOCKET,
                    x => x as usize,
                },
            ),
            _ => unreachable!("found a socket step"),
        };
        if f.dev != origin && !f.class.contains(&f.dev) {
            self.stopped(&f, f.space.clone(), Stop::ReplyMismatch, out);
            return;
        }
        // The reply must look like the answer the client expects: from where it sent to.
        let want = [
            (f.view.src, Dim::Dst),
            (f.view.sport, Dim::Dport),
            (f.view.dst, Dim::Src),
            (f.view.dport, Dim::Sport),
        ];
        let mut ok = f.space.clone();
        let mut bad = Space::default();
        for (field, dim) in want {
            match field {
                Field::Orig(d) if d == dim => {}
                Field::Orig(_) => {
                    // A swapped field that was never restored: only equal where both agree.
                    bad.0.append(&mut ok.0);
                }
                Field::Value(v) => {
                    let mut c = Cube::full(Fam::V4);
                    let conds: Vec<Cube> = [Fam::V4, Fam::V6]
                        .iter()
                        .map(|&fam| {
                            c = Cube::full(fam);
                            c.set(dim, (v, v));
                            c
                        })
                        .collect();
                    let (y, n) = ok.split(&conds);
                    ok = y;
                    bad.0.extend(n.0);
                }
            }
        }
        self.stopped(&f, bad, Stop::ReplyMismatch, out);
        if ok.is_empty() {
            return;
        }
        // Replies come home cut by member (each source's own address): the
        // journey's packets are whole again once they are all home.
        let ok = ok.into_coalesced();
        let mut path = path;
        path.remove(start);
        let Some(table) = &f.delivery else {
            out.outcomes.push(Outcome {
                space: ok,
                path,
                end: End::Reached { dev, socket: si },
            });
            return;
        };
        // A group answered: each member gets the packets its sockets took, and
        // the steps taken at the group are told as taken at that member.
        let before = path[..start]
            .iter()
            .rev()
            .take_while(|s| s.device() == dev)
            .count();
        let after = path[start..]
            .iter()
            .take_while(|s| s.device() == dev)
            .count();
        // The members' pieces, the parts cut from them and their outcomes:
        // as many boxes again each, weighed before they are made.
        let iv = &self.group_iv[table.group as usize];
        if out.too_large(|| pieces_bound(&table.view, &ok, Dim::Dst, iv)) {
            return;
        }
        let by_member = keyed_pieces(&table.view, &ok, Dim::Dst, iv);
        let mut parts = Vec::with_capacity(by_member.len());
        for (m, cubes) in by_member {
            let mut mine = Space(cubes);
            // The member's sockets (the table is by member: see `deliver`).
            let first = table.sockets.partition_point(|s| s.0 < m);
            let mut sockets = table.sockets[first..]
                .iter()
                .take_while(|s| s.0 == m)
                .peekable();
            while let Some((_, msi, conds)) = sockets.next() {
                let pulled: Vec<Cube> = conds
                    .iter()
                    .filter_map(|c| table.view.pull_back(c))
                    .collect();
                // What the member's last socket leaves is not needed.
                let hit = if sockets.peek().is_none() {
                    mine.inside(&pulled)
                } else {
                    let (hit, miss) = mine.split(&pulled);
                    mine = miss;
                    hit
                };
                parts.push((m, *msi, hit));
            }
        }
        out.outcomes.reserve(parts.len());
        for (m, msi, part) in parts {
            if part.is_empty() {
                continue;
            }
            let mut p = path.clone();
            for s in &mut p[start - before..start + after] {
                *s = s.at(m);
                // The group's socket step names the member's socket: the
                // path a request delivered to the member alone takes (which
                // hosts arrive together depends on how flows were joined).
                if !s.reply() && s.kind() == StepKind::Socket(GROUP_SOCKET as u32) {
                    *s = PathStep::new(m as u32, false, s.home(), StepKind::Socket(msi as u32));
                }
            }
            out.outcomes.push(Outcome {
                space: part,
                path: p,
                end: End::Reached {
                    dev: m,
                    socket: msi,
                },
            });
        }
    }
}

/// How many times walks sent one address per group of alike host
/// addresses and gave the outcomes out (`[0]`), and how many times they
/// had to send every address after all (`[1]`): for tests that the groups
/// are used.
#[doc(hidden)]
pub static ALIKE_SENDS: [std::sync::atomic::AtomicU64; 2] = [
    std::sync::atomic::AtomicU64::new(0),
    std::sync::atomic::AtomicU64::new(0),
];

/// How many times a class holding a network's stand-in and hosts sent one
/// range per group of the stand-in's alike ranges: for tests that they do.
#[doc(hidden)]
pub static MIXED_GROUP_SENDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times walks of classes together joined flows of several
/// classes into one (see [`Engine::walk_classes`]): for tests that joins happen.
#[doc(hidden)]
pub static JOINED_WALKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many tagged joins were made, and how many parts they held (see
/// [`Engine::join_tagged`]): for tests that they happen.
#[doc(hidden)]
pub static TAGGED_JOINS: [std::sync::atomic::AtomicU64; 2] = [
    std::sync::atomic::AtomicU64::new(0),
    std::sync::atomic::AtomicU64::new(0),
];

/// How many routers a class's requests may pass before they join other
/// classes' ([`Engine::walk_classes`]): at the first router they reach, or
/// the next.
const MERGE_LEVELS: usize = 2;

/// Per network, the addresses its stand-in sender sends from: the
/// network's addresses that no host of the scenario has.
pub(crate) fn stand_ins_owned(scn: &Scenario) -> Vec<Vec<(Fam, u128, u128)>> {
    let host_addrs: Vec<IpAddrU> = scn
        .hosts
        .iter()
        .flat_map(|h| {
            h.interfaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|a| (Fam::of(*a), addr_u128(*a))))
        })
        .collect();
    // Every host address per family, sorted and merged once.
    let host_ivs: PerFam<Intervals> = [Fam::V4, Fam::V6].map(|fam| {
        normalise(
            host_addrs
                .iter()
                .filter(|(f, _)| *f == fam)
                .map(|(_, a)| (*a, *a))
                .collect(),
        )
    });
    let mut all = Vec::with_capacity(scn.networks.len());
    for (ni, net) in scn.networks.iter().enumerate() {
        let id = NetworkId(ni as u32);
        let mut owned = Vec::new();
        for (k, fam) in [Fam::V4, Fam::V6].into_iter().enumerate() {
            let set = AddrSet {
                terms: vec![AddrTerm::Network(id)],
                parts: network_parts(scn, id),
                negated: false,
                text: net.name.clone(),
            };
            let space = addrset_intervals(&set, fam);
            for (lo, hi) in interval_minus(&space, &host_ivs[k]) {
                owned.push((fam, lo, hi));
            }
        }
        all.push(owned);
    }
    all
}

/// Each box of `space` once per source range of `ranges`.
/// `src` widened over the addresses `own` (sorted, disjoint) does not hold,
/// as far as the next address it holds on either side: the widened range
/// holds the same addresses of `own` as `src`.
fn widen(src: (u128, u128), own: &[(u128, u128)], max: u128) -> (u128, u128) {
    let (lo, hi) = src;
    let i = own.partition_point(|iv| iv.1 < lo);
    let lo = match own.get(i) {
        Some(&(a, _)) if a < lo => lo,
        _ if i > 0 => own[i - 1].1 + 1,
        _ => 0,
    };
    let j = own.partition_point(|iv| iv.0 <= hi);
    let hi = match j.checked_sub(1).map(|j| own[j]) {
        Some((_, b)) if b > hi => hi,
        _ => own.get(j).map_or(max, |&(a, _)| a - 1),
    };
    (lo, hi)
}

/// Per part of box `c`'s tag (in part order): the part, and its own
/// sources (`sources`: per part and family) that are in the box's source
/// range, clipped to it.
fn parts_sources_in<'s>(
    c: &Cube,
    sources: &'s [PerFam<Intervals>],
) -> impl Iterator<Item = (usize, impl Iterator<Item = (u128, u128)> + Clone + 's)> + 's {
    let (fam, (lo, hi), mut tag) = (c.fam, c.src, c.tag);
    std::iter::from_fn(move || {
        while tag != 0 {
            let k = tag.trailing_zeros() as usize;
            tag &= tag - 1;
            let Some(own) = sources.get(k) else { continue };
            let own = &own[usize::from(fam == Fam::V6)];
            let from = own.partition_point(|iv| iv.1 < lo);
            let mine = own[from..]
                .iter()
                .take_while(move |iv| iv.0 <= hi)
                .map(move |&(a, b)| (a.max(lo), b.min(hi)));
            return Some((k, mine));
        }
        None
    })
}

/// A tagged join's boxes cut by a condition on their original source:
/// each box's parts whose own sources in it lie wholly in one cell of the
/// condition (`cell` names the cell of a range, or `None` when the range
/// straddles cells) stay one box per cell, tagged with those parts; a part
/// whose sources straddle cells is left as its own sources' pieces (one
/// part each, exact ranges) for the plain cut, with the untagged boxes.
/// Parts without a source in a box leave it.
fn tag_cells<K: Copy + Eq>(
    space: Space,
    sources: &[PerFam<Intervals>],
    cell: impl Fn(Fam, u128, u128) -> Option<K>,
) -> (Vec<(K, Cube)>, Space) {
    let mut whole: Vec<(K, Cube)> = Vec::new();
    let mut rest = Vec::new();
    let mut cells: Vec<(K, u32)> = Vec::new();
    for c in space.0 {
        if c.tag == 0 {
            rest.push(c);
            continue;
        }
        cells.clear();
        for (k, mine) in parts_sources_in(&c, sources) {
            let mut key: Option<K> = None;
            let mut straddles = false;
            for (a, b) in mine.clone() {
                match cell(c.fam, a, b) {
                    Some(x) if key.is_none_or(|k| k == x) => key = Some(x),
                    _ => {
                        straddles = true;
                        break;
                    }
                }
            }
            if straddles {
                rest.extend(mine.map(|src| Cube {
                    src,
                    tag: 1 << k,
                    ..c
                }));
                continue;
            }
            // (No key: none of the part's sources is in the box.)
            if let Some(x) = key {
                match cells.iter_mut().find(|(y, _)| *y == x) {
                    Some((_, t)) => *t |= 1 << k,
                    None => cells.push((x, 1 << k)),
                }
            }
        }
        whole.extend(cells.iter().map(|&(x, t)| (x, Cube { tag: t, ..c })));
    }
    (whole, Space(rest))
}

/// A tagged join's parts' sources, when the field `dim` is (as `view` has
/// it) the original source: the field its cuts are made part by part on.
fn tagged_sources<'m>(
    view: &View,
    merged: Option<&'m Merged>,
    dim: Dim,
) -> Option<&'m [PerFam<Intervals>]> {
    merged
        .and_then(|m| m.sources.as_deref())
        .filter(|_| view.field(dim) == Field::Orig(Dim::Src))
}

/// The cell of `a..=b` by a sorted, disjoint list: wholly in it (`true`),
/// wholly out of it (`false`), or `None` when it straddles a boundary.
fn list_cell(list: &[(u128, u128)], a: u128, b: u128) -> Option<bool> {
    let i = list.partition_point(|iv| iv.1 < a);
    match list.get(i) {
        Some(&(lo, hi)) if lo <= a && b <= hi => Some(true),
        Some(&(lo, _)) if lo > b => Some(false),
        None => Some(false),
        _ => None,
    }
}

/// [`split_by_product`] of a tagged box of a tagged join: the parts whose
/// sources in the box are wholly inside the product's source condition are
/// split by its other conditions alone, those wholly outside miss, the
/// others are split as their own sources' pieces.
fn split_tagged(
    piece: &Cube,
    proto: u8,
    cons: &Conds,
    sources: &[PerFam<Intervals>],
    scratch: &mut SplitScratch,
    hit: &mut Vec<Cube>,
    miss: &mut Vec<Cube>,
) -> bool {
    let Some(cond) = cons[0] else {
        return split_by_product(piece, proto, cons, scratch, hit, miss);
    };
    let (whole, rest) = tag_cells(Space(vec![*piece]), sources, |_, a, b| {
        list_cell(cond, a, b)
    });
    let mut free = *cons;
    free[0] = None;
    let mut any = false;
    for (inside, c) in whole {
        if inside {
            any |= split_by_product(&c, proto, &free, scratch, hit, miss);
        } else {
            miss.push(c);
        }
    }
    for c in &rest.0 {
        any |= split_by_product(c, proto, cons, scratch, hit, miss);
    }
    any
}

fn with_sources(space: &Space, ranges: &[(u128, u128)]) -> Space {
    let mut v = Vec::with_capacity(space.0.len() * ranges.len());
    for c in &space.0 {
        v.extend(ranges.iter().map(|&src| Cube { src, ..*c }));
    }
    Space(v)
}

/// The sources that pass the martian check at `at`, per family: everything
/// but the intervals of `route::MARTIANS` checked there.
fn martian_ok(at: MartianAt) -> PerFam<Intervals> {
    let mut ok: PerFam<Intervals> = Default::default();
    for (fi, top) in [(0usize, u32::MAX as u128), (1, u128::MAX)] {
        let mut bad: Intervals = crate::journey::route::MARTIANS
            .iter()
            .filter(|m| m.0 == at && usize::from(m.1) == fi)
            .map(|m| (m.2, m.3))
            .collect();
        bad.sort_unstable();
        let mut cur = 0u128;
        let mut done = false;
        for (lo, hi) in bad {
            if lo > cur {
                ok[fi].push((cur, lo - 1));
            }
            if hi >= top {
                done = true;
                break;
            }
            cur = hi + 1;
        }
        if !done {
            ok[fi].push((cur, top));
        }
    }
    ok
}

/// Boxes grouped by key, in key order, each group in the order given: a
/// stable sort by key without its buffer of boxes (they usually come in
/// order already; if not, small (key, position) pairs are sorted).
/// How many rules at the start and at the end of two rule lists are the
/// same: the rules between are those that changed.
pub(crate) fn changed_span(a: &[Rule], b: &[Rule]) -> (usize, usize) {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = if a.len() == b.len() {
        a.iter()
            .rev()
            .zip(b.iter().rev())
            .take(a.len() - head)
            .take_while(|(x, y)| x == y)
            .count()
    } else {
        0
    };
    (head, tail)
}

/// How many rules at the start and at the end of two rule lists are the
/// same, wherever they now stand (a rule added or removed moves the ones
/// after it, but they stay what they were): the rules between are new or
/// gone.
fn same_ends(a: &[Rule], b: &[Rule]) -> (usize, usize) {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let room = a.len().min(b.len()) - head;
    let tail = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(room)
        .take_while(|(x, y)| x == y)
        .count();
    (head, tail)
}

/// Whether an address list marks every one of `owned` (sorted, disjoint
/// ranges) alike: it meets none of them, or holds all of them whole.
fn marks_alike(owned: &[(u128, u128)], list: &[(u128, u128)]) -> bool {
    let (mut none, mut all) = (true, true);
    for &(lo, hi) in owned {
        let start = list.partition_point(|&(_, b)| b < lo);
        let meets = list.get(start).is_some_and(|&(a, _)| a <= hi);
        let whole = meets && list[start].0 <= lo && hi <= list[start].1;
        none &= !meets;
        all &= whole;
        if !none && !all {
            return false;
        }
    }
    true
}

fn group_by_key<K: Copy + Ord>(v: &mut Vec<(K, Cube)>) -> Vec<(K, Vec<Cube>)> {
    if !v.is_sorted_by_key(|&(k, _)| k) {
        let mut order: Vec<(K, u32)> = v
            .iter()
            .enumerate()
            .map(|(i, &(k, _))| (k, i as u32))
            .collect();
        // By key, each key's boxes in the order cut: a stable sort by the
        // key alone, which takes the runs the cutting made (each box's
        // pieces come in key order) as they are.
        order.sort_by_key(|&(k, _)| k);
        *v = order.iter().map(|&(_, i)| v[i as usize]).collect();
    }
    v.chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run[0].0, run.iter().map(|&(_, c)| c).collect()))
        .collect()
}

/// The pieces `Engine::cut_by_field` gives a key (the pieces outside
/// every interval left out): the same groups in the same order, each box's
/// pieces put straight into their key's bucket, without cutting out and
/// sorting the gaps between a group's members.
fn keyed_pieces<K: Copy + Ord>(
    view: &View,
    space: &Space,
    dim: Dim,
    fam_intervals: &[(Fam, u128, u128, K)],
) -> Vec<(K, Vec<Cube>)> {
    let mut out: Vec<(K, Vec<Cube>)> = Vec::new();
    match view.field(dim) {
        Field::Value(v) => {
            // A box goes whole to the key of the first interval of its
            // family that holds the value.
            let mut keyed: Vec<(K, u32)> = space
                .0
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    fam_intervals
                        .iter()
                        .find(|&&(f, lo, hi, _)| f == c.fam && lo <= v && v <= hi)
                        .map(|e| (e.3, i as u32))
                })
                .collect();
            keyed.sort_unstable();
            for run in keyed.chunk_by(|a, b| a.0 == b.0) {
                out.push((
                    run[0].0,
                    run.iter().map(|&(_, i)| space.0[i as usize]).collect(),
                ));
            }
        }
        Field::Orig(d) => {
            // Each interval's bucket: its key's rank among the keys.
            let mut by_key: Vec<(K, usize)> = fam_intervals
                .iter()
                .enumerate()
                .map(|(i, e)| (e.3, i))
                .collect();
            by_key.sort_unstable();
            let mut bucket = vec![0usize; fam_intervals.len()];
            let mut keys: Vec<K> = Vec::new();
            for run in by_key.chunk_by(|a, b| a.0 == b.0) {
                for &(_, i) in run {
                    bucket[i] = keys.len();
                }
                keys.push(run[0].0);
            }
            let mut pieces: Vec<Vec<Cube>> = vec![Vec::new(); keys.len()];
            let v6 = fam_intervals.partition_point(|e| e.0 < Fam::V6);
            for c in &space.0 {
                let (a, b) = c.addr(d);
                let (from, to) = if c.fam == Fam::V6 {
                    (v6, fam_intervals.len())
                } else {
                    (0, v6)
                };
                let first = from + fam_intervals[from..to].partition_point(|e| e.2 < a);
                for (i, &(_, lo, hi, _)) in fam_intervals[first..to].iter().enumerate() {
                    if lo > b {
                        break;
                    }
                    let mut piece = *c;
                    piece.set(d, (lo.max(a), hi.min(b)));
                    pieces[bucket[first + i]].push(piece);
                }
            }
            out.extend(keys.into_iter().zip(pieces).filter(|(_, p)| !p.is_empty()));
        }
    }
    out
}

/// How many boxes [`keyed_pieces`] makes, at most, without making them.
fn pieces_bound<K>(
    view: &View,
    space: &Space,
    dim: Dim,
    fam_intervals: &[(Fam, u128, u128, K)],
) -> usize {
    let Field::Orig(d) = view.field(dim) else {
        return space.0.len();
    };
    let v6 = fam_intervals.partition_point(|e| e.0 < Fam::V6);
    space
        .0
        .iter()
        .map(|c| {
            let (a, b) = c.addr(d);
            let ivs = if c.fam == Fam::V6 {
                &fam_intervals[v6..]
            } else {
                &fam_intervals[..v6]
            };
            ivs.partition_point(|e| e.1 <= b)
                .saturating_sub(ivs.partition_point(|e| e.2 < a))
        })
        .sum()
}

/// The targets as disjoint cubes, socket endpoints that differ only in the
/// destination address merged into ranges (a segment's web servers on port
/// 443 become one cube), the DNAT match spaces cut away from them.
fn disjoint_targets(endpoints: Vec<Cube>, dnat: &[Cube]) -> Vec<Cube> {
    let mut endpoints = endpoints;
    endpoints.sort_unstable();
    endpoints.dedup();
    let mut out = Space(endpoints).into_coalesced().0;
    for &d in dnat {
        let mut pieces = vec![d];
        for c in &out {
            pieces = pieces.into_iter().flat_map(|p| p.subtract(c)).collect();
            if pieces.is_empty() {
                break;
            }
        }
        out.extend(pieces);
    }
    out
}

/// The marker of a group's sockets in a path (the members' own are in the
/// flow's delivery table).
const GROUP_SOCKET: usize = u32::MAX as usize - 1;

/// A host's sockets in lookup order: exact binds before wildcards, as the tracer does.
fn socket_order(host: &Host) -> Vec<usize> {
    let mut order: Vec<usize> = (0..host.sockets.len()).collect();
    order.sort_by_key(|&i| host.sockets[i].bind.is_unspecified());
    order
}

/// The packets a socket accepts (current coordinates); a wildcard bind
/// takes any destination, or only `own` addresses when given.
fn socket_conds(s: &Socket, own: Option<&[(Fam, u128, u128)]>) -> Vec<Cube> {
    let mut conds = Vec::new();
    for fam in [Fam::V4, Fam::V6] {
        let dsts: Vec<(u128, u128)> = if s.bind.is_unspecified() {
            if !s.accepts(if fam == Fam::V4 {
                std::net::IpAddr::from([1u8, 1, 1, 1])
            } else {
                std::net::IpAddr::from([1u16; 8])
            }) {
                continue;
            }
            match own {
                Some(own) => own
                    .iter()
                    .filter(|(f, _, _)| *f == fam)
                    .map(|&(_, lo, hi)| (lo, hi))
                    .collect(),
                None => vec![(0, fam.max())],
            }
        } else if Fam::of(s.bind) == fam {
            vec![(addr_u128(s.bind), addr_u128(s.bind))]
        } else {
            continue;
        };
        for d in dsts {
            let mut c = Cube::full(fam);
            c.proto = proto_bit(s.proto);
            c.dst = d;
            c.dport = (s.port, s.port);
            conds.push(c);
        }
    }
    conds
}

/// The family and the range one current field spans over a space, when
/// the space is non-empty and of one family.
fn current_span(view: &View, space: &Space, dim: Dim) -> Option<(Fam, u128, u128)> {
    let first = space.0.first()?;
    let fam = first.fam;
    let (mut lo, mut hi) = view.current(first, dim);
    for c in &space.0[1..] {
        if c.fam != fam {
            return None;
        }
        let (a, b) = view.current(c, dim);
        lo = lo.min(a);
        hi = hi.max(b);
    }
    Some((fam, lo, hi))
}

/// A product condition on current fields as a condition per original field
/// of the flow (`None` per field: any value): a field a NAT set to a
/// constant must lie inside the condition, and drops out of it. `None` when
/// the view maps two current fields onto one original field.
fn pull_back_product<'p>(view: &View, p: &'p Product) -> Option<Conds<'p>> {
    let mut cons: Conds = [None; 4];
    for (k, &d) in DIMS.iter().enumerate() {
        match view.field(d) {
            // `meets` was checked on the current box, so a constant is inside.
            Field::Value(_) => {}
            Field::Orig(o) => {
                let slot = &mut cons[dim_index(o)];
                if slot.is_some() {
                    return None;
                }
                *slot = Some(&p.dims[k]);
            }
        }
    }
    Some(cons)
}

fn dim_index(d: Dim) -> usize {
    match d {
        Dim::Src => 0,
        Dim::Dst => 1,
        Dim::Sport => 2,
        Dim::Dport => 3,
    }
}

/// A port range held as `u128` back in `u16`.
fn narrow((lo, hi): (u128, u128)) -> (u16, u16) {
    (lo as u16, hi as u16)
}

type IpAddrU = (Fam, u128);
/// A device and one of its interfaces.
type DevIface = (usize, usize);
/// An address range on a link and who answers for it.
type OnLink = (Fam, u128, u128, DevIface);
/// Part of a flow on a link: who takes it (nobody: no neighbour), its cubes,
/// and the group it reaches as one.
type Piece = (Option<DevIface>, Vec<Cube>, Option<u32>);
/// An address on a network, with the device and interface that own it.
type Member = (u128, usize, usize);

#[derive(Debug, Clone, Copy)]
enum Hook {
    Input,
    Forward,
    Output,
}

/// The address parts a network term covers (a catch-all leaves out the other networks).
fn network_parts(scn: &Scenario, id: NetworkId) -> Vec<AddrPart> {
    let n = scn.network(id);
    let minus: std::sync::Arc<Vec<ipnet::IpNet>> = std::sync::Arc::new(if n.catch_all {
        scn.networks
            .iter()
            .filter(|o| !o.catch_all)
            .flat_map(|o| o.prefixes.iter().copied())
            .collect()
    } else {
        Vec::new()
    });
    n.prefixes
        .iter()
        .map(|p| AddrPart {
            prefix: *p,
            minus: minus.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sorted, disjoint intervals within 0..40 from random (start, length).
    fn intervals(v: &[(u128, u128)]) -> Vec<(u128, u128)> {
        normalise(v.iter().map(|&(a, w)| (a, (a + w).min(39))).collect())
    }

    proptest! {
        /// `tag_cells` and the cuts made with it, against every address of
        /// every part: the boxes kept whole name the cell each of their
        /// parts' sources lies in, the pieces left hold exactly their part's
        /// sources, and nothing is lost or held twice. The conditions are a
        /// list (in or out) and a keyed table (a route's atoms), the parts'
        /// sources several ranges each (a stand-in's ranges around hosts).
        #[test]
        fn parts_are_cut_by_their_own_sources(
            parts in proptest::collection::vec(proptest::collection::vec((0u128..40, 0u128..6), 1..4), 1..5),
            boxes in proptest::collection::vec((0u128..40, 0u128..40, 1u32..32), 1..5),
            list in proptest::collection::vec((0u128..40, 0u128..8), 0..4),
            table in proptest::collection::vec((0u128..40, 0u128..8, 0usize..3), 0..4),
        ) {
            let sources: Vec<PerFam<Intervals>> =
                parts.iter().map(|p| [intervals(p), Vec::new()]).collect();
            let n = sources.len() as u32;
            let space = Space(
                boxes
                    .iter()
                    .map(|&(a, b, tag)| Cube {
                        src: (a.min(b), a.max(b)),
                        tag: tag & ((1 << n) - 1),
                        ..Cube::full(Fam::V4)
                    })
                    .filter(|c| c.tag != 0)
                    .collect(),
            );
            let list = intervals(&list);
            // A table of disjoint keyed intervals (overlaps dropped).
            let mut keyed: Vec<(Fam, u128, u128, usize)> = Vec::new();
            for &(a, w, k) in &table {
                let (lo, hi) = (a, (a + w).min(39));
                if keyed.iter().all(|&(_, x, y, _)| hi < x || y < lo) {
                    keyed.push((Fam::V4, lo, hi, k));
                }
            }
            keyed.sort_unstable();
            let key_of = |x: u128| keyed.iter().find(|e| e.1 <= x && x <= e.2).map(|e| e.3);
            let lists: PerFam<Intervals> = [list.clone(), Vec::new()];
            let merged = Merged { table: Vec::new(), parts: Vec::new(), sources: Some(sources.clone()) };
            let view = View::identity();
            let (inside, outside) =
                Engine::split_field_of(&view, Some(&merged), space.clone(), Dim::Src, &lists);
            let cut = Engine::cut_by_field_of(&view, Some(&merged), space.clone(), Dim::Src, &keyed);
            // Who holds (address, part): the truth, and each answer.
            let holds = |c: &Cube, x: u128, k: u32| {
                c.src.0 <= x && x <= c.src.1 && (c.tag == 0 || c.tag & (1 << k) != 0)
            };
            for k in 0..n {
                let own = &sources[k as usize][0];
                for x in 0..40u128 {
                    let mine = own.iter().any(|&(a, b)| a <= x && x <= b);
                    let count = |cs: &[Cube]| cs.iter().filter(|c| holds(c, x, k)).count();
                    let sent = usize::from(mine) * count(&space.0);
                    let (i, o) = (count(&inside.0), count(&outside.0));
                    // Only a part's own sources matter: past them, a
                    // widened box may hold the address or not.
                    if mine {
                        let want_in = list.iter().any(|&(a, b)| a <= x && x <= b);
                        prop_assert_eq!(i, sent * usize::from(want_in), "in: part {} at {}", k, x);
                        prop_assert_eq!(o, sent * usize::from(!want_in), "out: part {} at {}", k, x);
                        for (key, cubes) in &cut {
                            let here = count(cubes);
                            prop_assert_eq!(here, sent * usize::from(*key == key_of(x)), "key {:?}: part {} at {}", key, k, x);
                        }
                    }
                }
            }
        }
    }

    proptest! {
        /// `keyed_pieces` gives the keyed groups of `cut_by_field`, in its
        /// order, piece for piece.
        #[test]
        fn keyed_pieces_are_the_keyed_cut(
            boxes in proptest::collection::vec((0u128..40, 0u128..12, 0u16..3, proptest::bool::ANY), 1..8),
            ivs in proptest::collection::vec((0u128..6, 0u128..4, 0usize..4), 0..8),
            ivs6 in proptest::collection::vec((0u128..6, 0u128..4, 0usize..4), 0..4),
            value in proptest::option::of(0u128..40),
        ) {
            let space = Space(boxes.iter().map(|&(lo, w, p, v6)| Cube {
                dst: (lo, lo + w),
                dport: (p, p + 1),
                ..Cube::full(if v6 { Fam::V6 } else { Fam::V4 })
            }).collect());
            // Sorted, disjoint intervals with keys, as the engine keeps them.
            let mut list = Vec::new();
            for (fam, ivs) in [(Fam::V4, ivs), (Fam::V6, ivs6)] {
                let mut at = 0;
                for (gap, w, k) in ivs {
                    let lo = at + gap;
                    list.push((fam, lo, lo + w, k));
                    at = lo + w + 1;
                }
            }
            let mut view = View::identity();
            if let Some(v) = value {
                view.dst = Field::Value(v);
            }
            let want: Vec<(usize, Vec<Cube>)> = Engine::cut_by_field(&view, space.clone(), Dim::Dst, &list)
                .into_iter()
                .filter_map(|(k, v)| k.map(|k| (k, v)))
                .collect();
            let pieces: usize = want.iter().map(|(_, v)| v.len()).sum();
            prop_assert!(pieces_bound(&view, &space, Dim::Dst, &list) >= pieces);
            prop_assert_eq!(keyed_pieces(&view, &space, Dim::Dst, &list), want);
        }
    }

    #[test]
    fn a_packed_step_gives_back_what_it_was_made_of() {
        let kinds = [
            StepKind::Route(7),
            StepKind::Dnat(0),
            StepKind::Snat(u32::MAX),
            StepKind::ReversePath,
            StepKind::Filter {
                filter: FilterId(0),
                rule: None,
            },
            StepKind::Filter {
                filter: FilterId((1 << 26) - 1),
                rule: Some(0),
            },
            StepKind::Filter {
                filter: FilterId(3),
                rule: Some(ESTABLISHED),
            },
            StepKind::Socket(GROUP_SOCKET as u32),
            StepKind::UndoSnat,
            StepKind::UndoDnat,
        ];
        for kind in kinds {
            for (reply, home) in [(false, false), (false, true), (true, false), (true, true)] {
                let s = PathStep::new(u32::MAX, reply, home, kind);
                assert_eq!(
                    (s.device(), s.reply(), s.home(), s.kind()),
                    (u32::MAX as usize, reply, home, kind)
                );
                let moved = s.at(5);
                assert_eq!((moved.device(), moved.kind()), (5, kind));
            }
        }
    }
}

#[cfg(test)]
mod regroup_tests {
    use super::*;
    use crate::synth::{self, change_one_rule, SplitMix64, SynthParams};

    /// The engine's devices, built with route atoms shared between hosts of
    /// the same routes, are the devices built one by one: atoms of each
    /// host's own routes, and the stand-ins' ranges.
    #[test]
    fn shared_atoms_and_stand_ins_are_each_devices_own() {
        let mut scns = synth::sample_scenarios(30);
        let large = synth::large(&SynthParams::sized(3, 80));
        scns.push(crate::load::load("g.yaml", &large, None).unwrap());
        for scn in &scns {
            let e = Engine::new(scn);
            let owned = stand_ins_owned(scn);
            for (d, dev) in e.devices.iter().enumerate() {
                assert_eq!(dev.atoms, route_atoms(&dev.host), "{} {d}", scn.name);
                if d >= scn.hosts.len() {
                    assert_eq!(dev.owned, owned[d - scn.hosts.len()], "{} {d}", scn.name);
                }
            }
        }
    }

    /// A rule's source set to a random prefix, often one inside a network
    /// stand-in's ranges (the internet's), so that the change can regroup them.
    fn fresh_source(scn: &Scenario, rng: &mut SplitMix64) -> Option<Scenario> {
        let mut new = scn.clone();
        let with_rules: Vec<usize> = (0..new.filters.len())
            .filter(|&i| !new.filters[i].rules.is_empty())
            .collect();
        let fi = *rng.pick(&with_rules);
        let ri = rng.below(new.filters[fi].rules.len());
        let net = if rng.chance(0.5) {
            let len = [8u8, 16, 20, 24, 32][rng.below(5)];
            let addr = std::net::Ipv4Addr::from(rng.below(u32::MAX as usize) as u32);
            ipnet::IpNet::V4(ipnet::Ipv4Net::new(addr, len).ok()?.trunc())
        } else {
            // Around the segments' IPv6 networks (fd00:0:N::/64), which the
            // internet's catch-all is made of the gaps between.
            let len = [16u8, 40, 44, 46, 47, 48, 60, 64][rng.below(8)];
            let n = rng.below(64) as u16;
            let addr = std::net::Ipv6Addr::new(0xfd00, 0, n, 0, 0, 0, 0, 0);
            ipnet::IpNet::V6(ipnet::Ipv6Net::new(addr, len).ok()?.trunc())
        };
        new.filters[fi].rules[ri].matches.src = AddrSet {
            terms: vec![AddrTerm::Prefix(net)],
            parts: vec![AddrPart::whole(net)],
            negated: rng.chance(0.2),
            text: net.to_string(),
        };
        Some(new)
    }

    /// `Engine::with_filters_changed` keeps a stand-in's groups of alike
    /// ranges only where the changed rules cannot regroup them, and the
    /// compiled matches of the rules that stayed: after random changes
    /// (rules removed, added, flipped, moved, given another match or a
    /// fresh source prefix), its groups and compiled rules are those
    /// `Engine::new` makes.
    #[test]
    fn updated_groups_are_the_groups_built_from_scratch() {
        let mut checked = 0;
        let mut regrouped = 0;
        for seed in 1..=6u64 {
            let p = SynthParams::sized(seed, 60 + 10 * seed as usize);
            let mut scn = crate::load::load("g.yaml", &synth::large(&p), None)
                .expect("generated scenarios load");
            let mut rng = SplitMix64::new(seed);
            let mut engine = Engine::new(&scn).park();
            for _ in 0..12 {
                let next = match rng.below(4) {
                    0 | 1 => fresh_source(&scn, &mut rng),
                    2 => change_one_rule(&scn, &mut rng).map(|(n, _)| n),
                    // Two changes in one filter: a rule gone, another's
                    // copy somewhere else.
                    _ => change_one_rule(&scn, &mut rng).map(|(mut n, _)| {
                        let fi = rng.below(n.filters.len());
                        let rules = &mut n.filters[fi].rules;
                        if rules.len() > 2 {
                            let r = rules.remove(rng.below(rules.len()));
                            rules.insert(rng.below(rules.len() + 1), r);
                            let gone = rng.below(rules.len());
                            rules.remove(gone);
                        }
                        n
                    }),
                };
                let Some(next) = next else { continue };
                let changed: Vec<FilterId> = (0..scn.filters.len())
                    .filter(|&i| scn.filters[i] != next.filters[i])
                    .map(|i| FilterId(i as u32))
                    .collect();
                let before = engine.unpark(&scn);
                let old_groups = before.range_groups.clone();
                let (warm, moved) = before.with_filters_changed(&next, &changed);
                let cold = Engine::new(&next);
                assert_eq!(warm.range_groups, cold.range_groups, "seed {seed}");
                // The filters compiled again keeping the matches of the
                // rules that stayed are the filters compiled from scratch
                // (the other tables are made from these by the same code).
                assert!(warm.filter_rules == cold.filter_rules, "seed {seed}");
                let want: Vec<usize> = (0..old_groups.len())
                    .filter(|&d| old_groups[d] != cold.range_groups[d])
                    .collect();
                assert_eq!(moved, want, "seed {seed}");
                regrouped += moved.len();
                checked += 1;
                engine = warm.park();
                scn = next;
            }
        }
        assert!(checked >= 60, "{checked} changes checked");
        assert!(regrouped > 0, "no change regrouped a stand-in's ranges");
    }

    /// The same for the hosts' groups of alike addresses, on cluster-shaped
    /// scenarios: after changes of one rule, the groups are the groups
    /// built from scratch, and the hosts reported moved are exactly those
    /// whose address changed group.
    #[test]
    fn updated_host_groups_are_the_groups_built_from_scratch() {
        let (mut checked, mut moved_hosts) = (0, 0);
        for seed in 0..40u64 {
            let mut scn = crate::load::load("s.yaml", &synth::scattered(seed), None)
                .expect("generated scenarios load");
            let mut rng = SplitMix64::new(seed);
            let mut engine = Engine::new(&scn).park();
            for _ in 0..6 {
                let Some((next, _)) = change_one_rule(&scn, &mut rng) else {
                    continue;
                };
                let changed: Vec<FilterId> = (0..scn.filters.len())
                    .filter(|&i| scn.filters[i] != next.filters[i])
                    .map(|i| FilterId(i as u32))
                    .collect();
                let before = engine.unpark(&scn);
                let old = before.host_reps.clone();
                let (warm, moved) = before.with_filters_changed(&next, &changed);
                let cold = Engine::new(&next);
                assert_eq!(warm.host_addrs, cold.host_addrs, "seed {seed}");
                assert_eq!(warm.host_reps, cold.host_reps, "seed {seed}");
                let mut want: Vec<usize> = (0..2)
                    .flat_map(|k| {
                        let (old, cold) = (&old, &cold);
                        cold.host_addrs[k]
                            .iter()
                            .filter(move |(a, _)| old[k].get(a) != cold.host_reps[k].get(a))
                            .map(|&(_, d)| d)
                    })
                    .collect();
                want.sort_unstable();
                want.dedup();
                let hosts: Vec<usize> = moved
                    .iter()
                    .copied()
                    .filter(|&d| d < next.hosts.len())
                    .collect();
                assert_eq!(hosts, want, "seed {seed}");
                moved_hosts += hosts.len();
                checked += 1;
                engine = warm.park();
                scn = next;
            }
        }
        assert!(checked >= 100, "{checked} changes checked");
        assert!(moved_hosts > 0, "no change regrouped a host's address");
    }

    /// `marks_alike` against the definition, on small random ranges.
    /// The units of a walk hold every class once, the largest (by their
    /// sources) first, and some hold several classes.
    #[test]
    fn walk_units_hold_every_class_once_largest_first() {
        use crate::analysis::reach::{classes_for, ReachQuery};
        use crate::synth::{large, SynthParams};
        for (seed, hosts) in [(1, 200), (3, 400), (5, 120)] {
            let text = large(&SynthParams::sized(seed, hosts));
            let scn = crate::load("synth.yaml", &text, None).expect("generated");
            let engine = Engine::new(&scn);
            let classes = classes_for(&engine, &ReachQuery::default());
            let units = engine.walk_units(&classes);
            let mut all: Vec<usize> = units.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..classes.len()).collect::<Vec<_>>());
            let sizes: Vec<usize> = units
                .iter()
                .map(|u| u.iter().map(|&i| classes[i].len()).sum())
                .collect();
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
            assert!(units.iter().any(|u| u.len() > 1));
        }
    }

    #[test]
    fn marks_alike_is_none_or_all_whole() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..2000 {
            let mut pts: Vec<u128> = (0..rng.below(10) * 2)
                .map(|_| rng.below(60) as u128)
                .collect();
            pts.sort_unstable();
            pts.dedup();
            let ranges = |pts: &[u128]| -> Vec<(u128, u128)> {
                pts.chunks_exact(2).map(|c| (c[0], c[1])).collect()
            };
            let owned = ranges(&pts);
            let mut lp: Vec<u128> = (0..rng.below(6) * 2)
                .map(|_| rng.below(60) as u128)
                .collect();
            lp.sort_unstable();
            lp.dedup();
            let list = ranges(&lp);
            let meets = |o: &(u128, u128)| list.iter().any(|l| l.0 <= o.1 && o.0 <= l.1);
            let whole = |o: &(u128, u128)| list.iter().any(|l| l.0 <= o.0 && o.1 <= l.1);
            let want = owned.iter().all(|o| !meets(o)) || owned.iter().all(whole);
            assert_eq!(marks_alike(&owned, &list), want, "{owned:?} {list:?}");
        }
    }
}
