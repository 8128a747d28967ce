//! The time loop. Time moves in steps of one millisecond. In each step,
//! every flow offers what its rate and pattern give; a flood's packets of
//! one step are one batch per class of sources (identical packets: a count,
//! never an event per packet), while every connection of a client, an HTTP
//! flood or a credential-stuffing flow is followed on its own with its
//! retransmissions and timers. Within a step, batches and connections are
//! interleaved in time, so a connection meets the queues and buckets as the
//! flood left them at its moment.
//!
//! The places a packet meets are the stations its trace gave it
//! (`journey`); the listener (`listener`), the links and conntrack tables
//! (`network`) and the limiters (`limit`) keep their state across the run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;

use pathproof_core::model::traffic::*;
use pathproof_core::model::Scenario;

use crate::journey::{Class, FlowPlan, Plan, Reply, SourceSeen, Station};
use crate::limit::{Decision, Key, Keyed};
use crate::listener::{Ack, Counters, Listener, Owner, SynFate, TimerEvent, SECOND};
use crate::network::{EntryKind, Link, Table};
use crate::report::*;
use crate::rng::Rng;

/// One step of the simulation.
pub const TICK: u64 = 1000;
const SYN_BYTES: u32 = 60;

/// Where an outcome happened (an index of the plan, by kind).
type Place = u64;
const LINK: u64 = 1 << 40;
const TABLE: u64 = 2 << 40;
const LIMITER: u64 = 3 << 40;
const LISTENER: u64 = 4 << 40;
const STOP: u64 = 5 << 40;
const DATAGRAM: u64 = 6 << 40;

fn stop_place(class: usize, station: usize) -> Place {
    STOP | (class as u64) << 16 | station as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Start(u32),
    Syn(u32),
    Ack(u32),
    Done(u32),
    Resume(u32),
    Timeout(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Ok,
    Failed,
}

#[derive(Debug, Clone)]
struct Attempt {
    flow: u16,
    class: u16,
    source: IpAddr,
    account: Option<u32>,
    t0: u64,
    tries: u8,
    pos: u16,
    state: State,
    /// The listener station and its entry (none: a cookie) of the handshake under way.
    handshake: Option<(u16, Option<usize>)>,
    ct: Vec<(u16, (u64, EntryKind))>,
    obstacle: Option<(&'static str, Place)>,
    ack_tries: u8,
    story: Option<u32>,
}

struct OutcomeDef {
    key: &'static str,
    what: String,
    at: String,
    ok: bool,
}

#[derive(Default)]
struct FlowStats {
    defs: Vec<OutcomeDef>,
    index: HashMap<(&'static str, Place), usize>,
    totals: Vec<u64>,
    per_sec: Vec<Vec<u64>>,
    offered: Vec<u64>,
    latency: Vec<u64>,
    latency_sec: Vec<Vec<u64>>,
    stories: Vec<Story>,
    story_second: Vec<bool>,
}

struct FlowState {
    carry: f64,
    /// Each class's share of the flow, and what it is owed of a packet.
    shares: Vec<f64>,
    class_carry: Vec<f64>,
    /// This step's count per class, and how many of it went already.
    step: Vec<(u64, u64)>,
    /// Real senders in turn: (class, address).
    senders: Vec<(u16, IpAddr)>,
    cursor: u64,
    member_cursor: Vec<usize>,
    rng: Rng,
    syn_retries: u8,
}

pub struct Options {
    pub seconds: Option<u32>,
    pub seed: Option<u64>,
}

struct Engine<'p> {
    plan: &'p Plan,
    seconds: u32,
    rng: Rng,
    listeners: Vec<Listener>,
    links: Vec<Link>,
    tables: Vec<Table>,
    limiters: Vec<Keyed>,
    limiter_sec: Vec<Vec<LimiterSecond>>,
    limiter_first: Vec<Option<String>>,
    flows: Vec<FlowState>,
    stats: Vec<FlowStats>,
    attempts: Vec<Attempt>,
    heap: BinaryHeap<Reverse<(u64, u64, EventKey)>>,
    seq: u64,
    accounts: Vec<String>,
    account_index: HashMap<String, u32>,
    listener_sec: Vec<Vec<ListenerSecond>>,
    listener_before: Vec<Counters>,
    listener_peak: Vec<u64>,
    link_sec: Vec<Vec<LinkSecond>>,
    link_before: Vec<u64>,
    link_peak: Vec<f64>,
    table_sec: Vec<Vec<TableSecond>>,
    table_before: Vec<(u64, u64)>,
    timer_events: Vec<TimerEvent>,
}

/// Events in the heap, ordered by (time, sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EventKey(u8, u32);

impl EventKey {
    fn of(e: Event) -> EventKey {
        match e {
            Event::Start(i) => EventKey(0, i),
            Event::Syn(i) => EventKey(1, i),
            Event::Ack(i) => EventKey(2, i),
            Event::Done(i) => EventKey(3, i),
            Event::Resume(i) => EventKey(4, i),
            Event::Timeout(i) => EventKey(5, i),
        }
    }
    fn event(self) -> Event {
        match self.0 {
            0 => Event::Start(self.1),
            1 => Event::Syn(self.1),
            2 => Event::Ack(self.1),
            3 => Event::Done(self.1),
            4 => Event::Resume(self.1),
            _ => Event::Timeout(self.1),
        }
    }
}

fn fmt_duration(us: u64) -> String {
    if us.is_multiple_of(SECOND) {
        format!("{} s", us / SECOND)
    } else if us.is_multiple_of(1000) {
        format!("{} ms", us / 1000)
    } else {
        format!("{} µs", us)
    }
}

fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, x) if x != 11 => "st",
        (2, x) if x != 12 => "nd",
        (3, x) if x != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A limiter's rule in words.
pub fn limiter_rule(l: &LimiterSpec) -> String {
    match l.algorithm {
        Algorithm::FixedWindow { limit, window_us } => {
            format!("{limit} per fixed {} window", fmt_duration(window_us))
        }
        Algorithm::SlidingWindowLog { limit, window_us } => {
            format!("{limit} in any {} (sliding log)", fmt_duration(window_us))
        }
        Algorithm::SlidingWindowCounter { limit, window_us } => format!(
            "{limit} per {} (sliding counter, Cloudflare's estimate)",
            fmt_duration(window_us)
        ),
        Algorithm::TokenBucket {
            max_tokens,
            tokens_per_fill,
            fill_interval_us,
        } => format!(
            "token bucket: max_tokens {max_tokens}, tokens_per_fill {tokens_per_fill}, fill_interval {}",
            fmt_duration(fill_interval_us)
        ),
        Algorithm::LeakyBucket {
            rate_milli,
            burst,
            delay,
            nodelay,
        } => {
            let rate = if rate_milli % 1000 == 0 {
                format!("{}r/s", rate_milli / 1000)
            } else {
                format!("{}r/m", rate_milli * 60 / 1000)
            };
            let mut s = format!("limit_req rate={rate} burst={burst}");
            if nodelay {
                s.push_str(" nodelay");
            } else if delay > 0 {
                s.push_str(&format!(" delay={delay}"));
            }
            s
        }
        Algorithm::NftLimit {
            rate,
            unit_s,
            burst,
        } => format!("limit rate {rate}/{} burst {burst} packets", unit_name(unit_s)),
        Algorithm::NftMeter {
            rate,
            unit_s,
            burst,
        } => format!(
            "meter {{ ip saddr limit rate {rate}/{} burst {burst} packets }}",
            unit_name(unit_s)
        ),
    }
}

fn unit_name(s: u64) -> &'static str {
    match s {
        1 => "second",
        60 => "minute",
        3600 => "hour",
        _ => "day",
    }
}

impl<'p> Engine<'p> {
    fn push(&mut self, at: u64, e: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, EventKey::of(e))));
    }

    fn second_of(&self, t: u64) -> usize {
        ((t / SECOND) as usize).min(self.seconds as usize - 1)
    }

    fn account_name(&self, i: u32) -> &str {
        &self.accounts[i as usize]
    }

    fn intern(&mut self, name: String) -> u32 {
        if let Some(i) = self.account_index.get(&name) {
            return *i;
        }
        let i = self.accounts.len() as u32;
        self.accounts.push(name.clone());
        self.account_index.insert(name, i);
        i
    }

    fn describe(&self, flow: usize, key: &'static str, place: Place) -> (String, String) {
        let plan = self.plan;
        let kind = place & !((1 << 40) - 1);
        let idx = (place & 0xFFFF_FFFF) as usize;
        let fp = &plan.flows[flow];
        let at = match kind {
            LINK => plan.links[idx].name.clone(),
            TABLE => plan.tables[idx].name.clone(),
            LIMITER => plan.limiters[idx].name.clone(),
            LISTENER => plan.listeners[idx].name.clone(),
            STOP | DATAGRAM => {
                let c = ((place >> 16) & 0xFFFF) as usize;
                let s = (place & 0xFFFF) as usize;
                match &fp.classes[c].stations[s] {
                    Station::Stop(stop) => stop.device.clone(),
                    Station::Datagram { device, port } => format!("{device}:{port}"),
                    _ => String::new(),
                }
            }
            _ => String::new(),
        };
        let what = match key {
            "served" => match fp.spec.kind {
                FlowKind::CredentialStuffing => "login attempt answered (a password checked)".into(),
                _ => "served".into(),
            },
            "limited" => {
                let l = &plan.limiters[idx];
                let answer = match l.answer {
                    LimitAnswer::Drop => "dropped".to_string(),
                    LimitAnswer::Status(s) => format!("answered {s}"),
                };
                format!(
                    "rate limited ({}, key {}): {answer}",
                    limiter_rule(l),
                    l.key.name()
                )
            }
            "link_saturated" => "link saturated: the interface's queue was full".into(),
            "conntrack_full" => format!(
                "conntrack table full (nf_conntrack_max {})",
                plan.tables[idx].tuning.conntrack_max
            ),
            "network" => {
                let c = ((place >> 16) & 0xFFFF) as usize;
                let s = (place & 0xFFFF) as usize;
                match &fp.classes[c].stations[s] {
                    Station::Stop(stop) => match &stop.rule {
                        Some(r) => format!("{} [{}]: {}", stop.kind.name(), r, stop.text),
                        None => format!("{}: {}", stop.kind.name(), stop.text),
                    },
                    _ => "stopped".into(),
                }
            }
            "syn_queued" => "held half-open in the SYN queue (SYN-RECV), SYN-ACK sent".into(),
            "syn_cookie" => {
                if plan.listeners[idx].tuning.tcp_syncookies == 2 {
                    "SYN cookie sent (tcp_syncookies=2: always); no state kept (TCPReqQFullDoCookies)"
                        .into()
                } else {
                    "SYN queue full: SYN cookie sent, no state kept (TCPReqQFullDoCookies)".into()
                }
            }
            "syn_queue_full" => "SYN queue full, cookies off: SYN dropped (TCPReqQFullDrop)".into(),
            "syn_reserved" => format!(
                "SYN queue past 3/4 of tcp_max_syn_backlog ({}), kept for proven peers: SYN dropped (ListenDrops)",
                plan.listeners[idx].tuning.tcp_max_syn_backlog
            ),
            "accept_queue_full" => "accept queue full: ListenOverflows".into(),
            "synack_lost" => "the SYN-ACK never reached the client".into(),
            "expired" => "the half-open connection expired in the SYN queue".into(),
            "waiting" => "timed out in the accept queue (the application is too slow)".into(),
            "delivered" => "delivered".into(),
            "timed_out" => "timed out with no answer".into(),
            other => other.to_string(),
        };
        (what, at)
    }

    fn tally(&mut self, flow: usize, key: &'static str, place: Place, ok: bool, t: u64, n: u64) {
        if n == 0 {
            return;
        }
        let sec = self.second_of(t);
        let i = match self.stats[flow].index.get(&(key, place)) {
            Some(i) => *i,
            None => {
                let (what, at) = self.describe(flow, key, place);
                let s = &mut self.stats[flow];
                s.defs.push(OutcomeDef { key, what, at, ok });
                s.totals.push(0);
                let i = s.defs.len() - 1;
                s.index.insert((key, place), i);
                i
            }
        };
        let s = &mut self.stats[flow];
        s.totals[i] += n;
        let row = &mut s.per_sec[sec];
        if row.len() <= i {
            row.resize(i + 1, 0);
        }
        row[i] += n;
    }

    fn note(&mut self, id: u32, t: u64, at: String, what: String) {
        let a = &self.attempts[id as usize];
        if let Some(s) = a.story {
            let ms = (t - a.t0) as f64 / 1000.0;
            self.stats[a.flow as usize].stories[s as usize]
                .events
                .push(StoryEvent { ms, at, what });
        }
    }

    fn class(&self, a: &Attempt) -> &'p Class {
        &self.plan.flows[a.flow as usize].classes[a.class as usize]
    }

    fn key_for(
        &self,
        l: &LimiterSpec,
        seen: SourceSeen,
        source: IpAddr,
        account: Option<u32>,
    ) -> Key {
        let src = match seen {
            SourceSeen::Own => source,
            SourceSeen::Fixed(a) => a,
        };
        match l.key {
            LimitKey::Global => Key::GLOBAL,
            LimitKey::Source => Key {
                source: Some(src),
                account: None,
            },
            LimitKey::Account => Key {
                source: None,
                account,
            },
            LimitKey::SourceAccount => Key {
                source: Some(src),
                account,
            },
        }
    }

    fn key_text(&self, k: &Key) -> String {
        match (k.source, k.account) {
            (None, None) => "all".into(),
            (Some(s), None) => format!("source={s}"),
            (None, Some(a)) => format!("user={}", self.account_name(a)),
            (Some(s), Some(a)) => format!("source={s},user={}", self.account_name(a)),
        }
    }

    fn refusal_text(&self, l: &LimiterSpec, d: Decision, key: &Key) -> String {
        let nth = match d {
            Decision::Deny { nth } => nth,
            _ => 0,
        };
        let key = self.key_text(key);
        match l.algorithm {
            Algorithm::FixedWindow { window_us, .. }
            | Algorithm::SlidingWindowLog { window_us, .. }
            | Algorithm::SlidingWindowCounter { window_us, .. }
                if nth > 0 =>
            {
                format!(
                    "rate limited: {} request in the {} window of key {key}",
                    ordinal(nth),
                    fmt_duration(window_us)
                )
            }
            Algorithm::TokenBucket { .. } => format!("rate limited: no token left for key {key}"),
            Algorithm::LeakyBucket { burst, .. } => {
                format!("rate limited: more than {burst} waiting (burst) for key {key}")
            }
            _ => format!("rate limited: over {} for key {key}", limiter_rule(l)),
        }
    }

    // ------------------------------------------------------------------
    // Flows: how many each step.

    fn count(&mut self, f: usize, t: u64) -> u64 {
        let spec = &self.plan.flows[f].spec;
        if t < spec.start_us || spec.stop_us.is_some_and(|s| t >= s) {
            return 0;
        }
        if let Pattern::Bursts {
            every_us,
            length_us,
        } = spec.pattern
        {
            if (t - spec.start_us) % every_us >= length_us {
                return 0;
            }
        }
        let mean = spec.rate * TICK as f64 / SECOND as f64;
        let st = &mut self.flows[f];
        match spec.pattern {
            Pattern::Poisson => st.rng.poisson(mean),
            _ => {
                st.carry += mean;
                let n = st.carry.floor();
                st.carry -= n;
                n as u64
            }
        }
    }

    fn individual(kind: FlowKind) -> bool {
        kind.completes_handshake()
    }

    fn generate(&mut self, t: u64) {
        for f in 0..self.plan.flows.len() {
            let n = self.count(f, t);
            let sec = self.second_of(t);
            let fp = &self.plan.flows[f];
            if Self::individual(fp.spec.kind) {
                self.stats[f].offered[sec] += n;
                for i in 0..n {
                    let offset = match fp.spec.pattern {
                        Pattern::Poisson => self.flows[f].rng.below(TICK),
                        _ => (i * 2 + 1) * TICK / (2 * n),
                    };
                    let id = self.new_attempt(f, t + offset);
                    self.push(t + offset, Event::Start(id));
                }
                continue;
            }
            // A batch per class, each class its share (with its own carry,
            // so that in the long run every class gets exactly its share).
            let st = &mut self.flows[f];
            let mut total = 0;
            for c in 0..st.shares.len() {
                st.class_carry[c] += n as f64 * st.shares[c];
                let k = st.class_carry[c].floor();
                st.class_carry[c] -= k;
                st.step[c] = (k as u64, 0);
                total += k as u64;
            }
            self.stats[f].offered[sec] += total;
        }
    }

    fn new_attempt(&mut self, f: usize, t0: u64) -> u32 {
        let fp = &self.plan.flows[f];
        let st = &mut self.flows[f];
        let i = st.cursor;
        st.cursor += 1;
        let (class, source) = st.senders[(i % st.senders.len() as u64) as usize];
        let account = fp.spec.accounts.nth(i);
        let account = account.map(|a| self.intern(a));
        let id = self.attempts.len() as u32;
        let sec = self.second_of(t0);
        let story = if !self.stats[f].story_second[sec] {
            self.stats[f].story_second[sec] = true;
            let s = &mut self.stats[f];
            s.stories.push(Story {
                second: sec as u32,
                class: class as usize,
                source: source.to_string(),
                account: None,
                events: Vec::new(),
                end: "pending".into(),
            });
            Some((s.stories.len() - 1) as u32)
        } else {
            None
        };
        if let (Some(s), Some(a)) = (story, account) {
            let name = self.account_name(a).to_string();
            self.stats[f].stories[s as usize].account = Some(name);
        }
        self.attempts.push(Attempt {
            flow: f as u16,
            class,
            source,
            account,
            t0,
            tries: 0,
            pos: 0,
            state: State::Running,
            handshake: None,
            ct: Vec::new(),
            obstacle: None,
            ack_tries: 0,
            story,
        });
        id
    }

    // ------------------------------------------------------------------
    // Batches: a flood's identical packets, as one count.

    fn batches(&mut self, from: u64, to: u64, step_start: u64) {
        let frac = (to - step_start) as f64 / TICK as f64;
        for f in 0..self.plan.flows.len() {
            if Self::individual(self.plan.flows[f].spec.kind) {
                continue;
            }
            for c in 0..self.flows[f].step.len() {
                let (k, done) = self.flows[f].step[c];
                if k == done {
                    continue;
                }
                let target = ((k as f64) * frac).round() as u64;
                let m = target.min(k) - done.min(target);
                if m == 0 {
                    continue;
                }
                self.flows[f].step[c].1 += m;
                // The batch's packets arrived over the segment, the last one
                // a packet's spacing before its end: what becomes free after
                // that (a token, a place in a queue) is left for a
                // connection arriving at the end.
                let spacing = TICK / k.max(1);
                let at = to.saturating_sub(spacing).max(from);
                self.walk_batch(f, c, m, at);
            }
        }
    }

    fn walk_batch(&mut self, f: usize, c: usize, n: u64, now: u64) {
        let plan = self.plan;
        let fp: &FlowPlan = &plan.flows[f];
        let class = &fp.classes[c];
        let kind = fp.spec.kind;
        let mut n = n;
        let mut size = fp.spec.size;
        let mut pending: Vec<(usize, u64)> = Vec::new();
        let mut answered = 0u64;
        let mut queued_long = 0u64;
        let mut reached_end = true;
        let mut rng = self.rng.fork(now ^ (f as u64) << 20 ^ c as u64);
        for (si, s) in class.stations.iter().enumerate() {
            if n == 0 {
                reached_end = false;
                break;
            }
            match s {
                Station::Link(l) => {
                    let passed = self.links[*l].offer(now, n, size);
                    self.tally(
                        f,
                        "link_saturated",
                        LINK | *l as u64,
                        false,
                        now,
                        n - passed,
                    );
                    n = passed;
                }
                Station::Conntrack { table, insert } => {
                    let ok = self.tables[*table].admit(now, n, &mut rng);
                    self.tally(
                        f,
                        "conntrack_full",
                        TABLE | *table as u64,
                        false,
                        now,
                        n - ok,
                    );
                    if *insert {
                        pending.push((*table, ok));
                    } else {
                        self.tables[*table].release(ok);
                    }
                    n = ok;
                }
                Station::Firewall { limiter, source } => {
                    let allowed = self.batch_limit(f, c, *limiter, *source, n, now);
                    self.tally(
                        f,
                        "limited",
                        LIMITER | *limiter as u64,
                        false,
                        now,
                        n - allowed,
                    );
                    n = allowed;
                }
                Station::Application { .. } => {}
                Station::Listener { listener, reply } => {
                    let (fates, entry) =
                        self.listeners[*listener].syns(now, n, Owner::Batch { flow: f, class: c });
                    let place = LISTENER | *listener as u64;
                    self.tally(f, "syn_queued", place, true, now, fates.queued);
                    self.tally(f, "syn_cookie", place, false, now, fates.cookie);
                    self.tally(f, "syn_queue_full", place, false, now, fates.queue_full);
                    self.tally(f, "syn_reserved", place, false, now, fates.reserved);
                    self.tally(f, "accept_queue_full", place, false, now, fates.accept_full);
                    answered = fates.queued + fates.cookie;
                    queued_long = fates.queued;
                    self.synacks(reply, answered, now);
                    if let (Some(e), Some(_)) = (entry, &reply.reset_by) {
                        if reply.lost.is_none() {
                            self.listeners[*listener].reset_at(e, now + fp.spec.rtt_us.max(TICK));
                        }
                    }
                    n = 0;
                    reached_end = false;
                    break;
                }
                Station::Datagram { .. } => {
                    let last = si + 1 == class.stations.len();
                    if last {
                        self.tally(f, "delivered", DATAGRAM | stop_place(c, si), true, now, n);
                        n = 0;
                        reached_end = false;
                        break;
                    }
                    // A reflector answers each request with its bigger answer.
                    size = fp.spec.answer_size.max(20);
                    answered = n;
                }
                Station::Stop(stop) => {
                    // A datagram that reaches a host with nothing on its port
                    // still arrived: the volume got through.
                    let ok = kind.is_udp()
                        && matches!(stop.kind, pathproof_core::evidence::OutcomeKind::Refused);
                    self.tally(f, "network", stop_place(c, si), ok, now, n);
                    n = 0;
                    reached_end = false;
                    break;
                }
            }
        }
        if reached_end && n > 0 {
            self.tally(
                f,
                "delivered",
                DATAGRAM | stop_place(c, class.stations.len()),
                true,
                now,
                n,
            );
        }
        // Keep the entries of the connections that got past each table:
        // half-open ones live until their SYN-ACKs stop plus syn_recv,
        // unanswered ones syn_sent; datagrams udp_timeout.
        for (table, ok) in pending {
            let tun = &plan.tables[table].tuning.conntrack_timeouts;
            let tb = &mut self.tables[table];
            if kind.is_udp() {
                tb.insert(
                    now + tun.udp_timeout as u64 * SECOND,
                    EntryKind::Unassured,
                    ok,
                );
                continue;
            }
            let ans = answered.min(ok);
            let long = queued_long.min(ans);
            let synack_life = 7 * SECOND;
            tb.insert(
                now + synack_life + tun.tcp_timeout_syn_recv as u64 * SECOND,
                EntryKind::Unassured,
                long,
            );
            tb.insert(
                now + tun.tcp_timeout_syn_recv as u64 * SECOND,
                EntryKind::Unassured,
                ans - long,
            );
            tb.insert(
                now + tun.tcp_timeout_syn_sent as u64 * SECOND,
                EntryKind::Unassured,
                ok - ans,
            );
        }
    }

    /// SYN-ACKs (or any answers) on their way back: they load the links.
    fn synacks(&mut self, reply: &Reply, n: u64, now: u64) {
        let mut n = n;
        for l in &reply.links {
            n = self.links[*l].offer(now, n, SYN_BYTES);
        }
    }

    fn batch_limit(
        &mut self,
        f: usize,
        c: usize,
        limiter: usize,
        seen: SourceSeen,
        n: u64,
        now: u64,
    ) -> u64 {
        let spec = &self.plan.limiters[limiter];
        let class = &self.plan.flows[f].classes[c];
        let allowed = match (spec.key, seen) {
            (LimitKey::Global, _) => self.limiters[limiter].admit_many(&Key::GLOBAL, now, n),
            (_, SourceSeen::Fixed(a)) => self.limiters[limiter].admit_many(
                &Key {
                    source: Some(a),
                    account: None,
                },
                now,
                n,
            ),
            (_, SourceSeen::Own) if class.members.is_empty() => {
                // Forged sources: a new address each time.
                self.limiters[limiter].admit_fresh(n)
            }
            (_, SourceSeen::Own) => {
                // Real senders take turns.
                let m = class.members.len() as u64;
                let mut ok = 0;
                let start = self.flows[f].member_cursor[c];
                for j in 0..n.min(m) {
                    let share = n / m + u64::from(j < n % m);
                    let a = class.members[((start as u64 + j) % m) as usize];
                    ok += self.limiters[limiter].admit_many(
                        &Key {
                            source: Some(a),
                            account: None,
                        },
                        now,
                        share,
                    );
                }
                self.flows[f].member_cursor[c] = ((start as u64 + n) % m) as usize;
                ok
            }
        };
        let sec = self.second_of(now);
        let row = &mut self.limiter_sec[limiter][sec];
        row.allowed += allowed;
        row.limited += n - allowed;
        if allowed < n && self.limiter_first[limiter].is_none() {
            self.limiter_first[limiter] = Some(format!(
                "rate limited: over {} ({} of {} packets of this moment refused)",
                limiter_rule(spec),
                n - allowed,
                n
            ));
        }
        allowed
    }

    // ------------------------------------------------------------------
    // Connections, one by one.

    fn handle(&mut self, e: Event, now: u64) {
        match e {
            Event::Start(id) => {
                let timeout = self.plan.flows[self.attempts[id as usize].flow as usize]
                    .spec
                    .timeout_us;
                self.push(now + timeout, Event::Timeout(id));
                self.syn(id, now);
            }
            Event::Syn(id) => self.syn(id, now),
            Event::Ack(id) => self.ack(id, now),
            Event::Done(id) => self.done(id, now),
            Event::Resume(id) => self.advance(id, now),
            Event::Timeout(id) => {
                if self.attempts[id as usize].state == State::Running {
                    let (key, place) = self.attempts[id as usize]
                        .obstacle
                        .unwrap_or(("timed_out", 0));
                    self.note(
                        id,
                        now,
                        String::new(),
                        "the client gives up: timed out".into(),
                    );
                    self.fail(id, now, key, place);
                }
            }
        }
    }

    fn running(&self, id: u32) -> bool {
        self.attempts[id as usize].state == State::Running
    }

    /// The client sends (or resends) its SYN from the start of its journey.
    fn syn(&mut self, id: u32, now: u64) {
        if !self.running(id) {
            return;
        }
        let what = if self.attempts[id as usize].tries == 0 {
            "SYN sent".to_string()
        } else {
            format!(
                "SYN sent again (retransmission {})",
                self.attempts[id as usize].tries
            )
        };
        let src = self.attempts[id as usize].source.to_string();
        self.note(id, now, src, what);
        self.attempts[id as usize].pos = 0;
        self.advance(id, now);
    }

    /// The packet was lost: the client resends its SYN after its backoff
    /// (1 s, then doubling), up to tcp_syn_retries times.
    fn lost(&mut self, id: u32, _now: u64, key: &'static str, place: Place) {
        let a = &mut self.attempts[id as usize];
        a.obstacle = Some((key, place));
        let f = a.flow as usize;
        let retries = self.flows[f].syn_retries;
        if a.tries >= retries {
            return;
        }
        let first_sent = a.t0;
        a.tries += 1;
        // SYN n is sent at t0 + (2^n − 1) s.
        let at = first_sent + ((1u64 << a.tries) - 1) * SECOND;
        self.push(at, Event::Syn(id));
    }

    fn advance(&mut self, id: u32, now: u64) {
        let plan = self.plan;
        loop {
            if !self.running(id) {
                return;
            }
            let a = self.attempts[id as usize].clone();
            let class = self.class(&a);
            let Some(station) = class.stations.get(a.pos as usize) else {
                // Past every station: the request is answered.
                let spec = &plan.flows[a.flow as usize].spec;
                let service = self.last_service(&a);
                let done = now + service + spec.rtt_us / 2;
                self.push(done, Event::Done(id));
                return;
            };
            let f = a.flow as usize;
            let spec = &plan.flows[f].spec;
            let mut rng = self.rng.fork(u64::from(id) << 8 ^ now);
            match station {
                Station::Link(l) => {
                    let size = if a.handshake.is_some() {
                        spec.size
                    } else {
                        SYN_BYTES
                    };
                    let delay = self.links[*l].delay(now);
                    if self.links[*l].offer(now, 1, size) == 0 {
                        let name = plan.links[*l].name.clone();
                        self.note(id, now, name, "dropped: the link's queue is full".into());
                        self.lost(id, now, "link_saturated", LINK | *l as u64);
                        return;
                    }
                    if delay > 0 {
                        let name = plan.links[*l].name.clone();
                        self.note(
                            id,
                            now,
                            name,
                            format!("waits {:.1} ms in the link's queue", delay as f64 / 1000.0),
                        );
                        // It goes on when it leaves the queue, after whatever
                        // else arrives meanwhile.
                        self.attempts[id as usize].pos += 1;
                        self.push(now + delay, Event::Resume(id));
                        return;
                    }
                }
                Station::Conntrack { table, insert } => {
                    let t = *table as u16;
                    if !a.ct.iter().any(|(x, _)| *x == t) {
                        let ok = self.tables[*table].admit(now, 1, &mut rng);
                        let name = plan.tables[*table].name.clone();
                        if ok == 0 {
                            self.note(id, now, name, "dropped: conntrack table full".into());
                            self.lost(id, now, "conntrack_full", TABLE | *table as u64);
                            return;
                        }
                        if *insert {
                            let tun = &plan.tables[*table].tuning.conntrack_timeouts;
                            let h = self.tables[*table].insert(
                                now + tun.tcp_timeout_syn_sent as u64 * SECOND,
                                EntryKind::Unassured,
                                1,
                            );
                            self.attempts[id as usize].ct.push((t, h));
                            self.note(id, now, name, "conntrack: new entry (SYN_SENT)".into());
                        } else {
                            self.tables[*table].release(1);
                        }
                    }
                }
                Station::Firewall { limiter, source } => {
                    let l = &plan.limiters[*limiter];
                    let key = self.key_for(l, *source, a.source, a.account);
                    let d = self.limiters[*limiter].admit(&key, now);
                    let sec = self.second_of(now);
                    if d.allowed() {
                        self.limiter_sec[*limiter][sec].allowed += 1;
                    } else {
                        self.limiter_sec[*limiter][sec].limited += 1;
                        let text = self.refusal_text(l, d, &key);
                        if self.limiter_first[*limiter].is_none() {
                            self.limiter_first[*limiter] = Some(text.clone());
                        }
                        self.note(id, now, l.name.clone(), format!("dropped: {text}"));
                        self.lost(id, now, "limited", LIMITER | *limiter as u64);
                        return;
                    }
                }
                Station::Stop(stop) => {
                    use pathproof_core::evidence::OutcomeKind as K;
                    let place = stop_place(a.class as usize, a.pos as usize);
                    let what = match &stop.rule {
                        Some(r) => format!("{}: {} [{}]", stop.kind.name(), stop.text, r),
                        None => format!("{}: {}", stop.kind.name(), stop.text),
                    };
                    self.note(id, now, stop.device.clone(), what);
                    match stop.kind {
                        K::Dropped | K::TtlExceeded | K::ReplyLost => {
                            self.lost(id, now, "network", place);
                        }
                        _ => {
                            let at = now + spec.rtt_us / 2;
                            self.fail(id, at, "network", place);
                        }
                    }
                    return;
                }
                Station::Datagram { .. } => {}
                Station::Listener { listener, reply } => {
                    if a.handshake.is_none() || a.handshake.map(|h| h.0) != Some(a.pos) {
                        self.listener_syn(id, now, *listener, reply);
                        return;
                    }
                    // The handshake is done and the application accepted:
                    // on to what follows the listener.
                }
                Station::Application { limiter, source } => {
                    let l = &plan.limiters[*limiter];
                    let key = self.key_for(l, *source, a.source, a.account);
                    if matches!(l.key, LimitKey::Account | LimitKey::SourceAccount)
                        && a.account.is_none()
                    {
                        // A request that names no account is not counted.
                    } else {
                        let d = self.limiters[*limiter].admit(&key, now);
                        let sec = self.second_of(now);
                        match d {
                            Decision::Deny { .. } => {
                                self.limiter_sec[*limiter][sec].limited += 1;
                                let text = self.refusal_text(l, d, &key);
                                if self.limiter_first[*limiter].is_none() {
                                    self.limiter_first[*limiter] = Some(text.clone());
                                }
                                let answer = match l.answer {
                                    LimitAnswer::Status(s) => format!("answered {s}"),
                                    LimitAnswer::Drop => "dropped".into(),
                                };
                                self.note(id, now, l.name.clone(), format!("{text}; {answer}"));
                                let at = now + spec.rtt_us / 2;
                                self.close(id, now);
                                self.fail(id, at, "limited", LIMITER | *limiter as u64);
                                return;
                            }
                            Decision::Delay(d) => {
                                self.limiter_sec[*limiter][sec].allowed += 1;
                                self.note(
                                    id,
                                    now,
                                    l.name.clone(),
                                    format!("over the rate: waits {} ms (burst)", d / 1000),
                                );
                                self.attempts[id as usize].pos += 1;
                                self.push(now + d, Event::Resume(id));
                                return;
                            }
                            Decision::Allow => {
                                self.limiter_sec[*limiter][sec].allowed += 1;
                            }
                        }
                    }
                }
            }
            self.attempts[id as usize].pos += 1;
        }
    }

    fn last_service(&self, a: &Attempt) -> u64 {
        let class = self.class(a);
        class
            .stations
            .iter()
            .rev()
            .find_map(|s| match s {
                Station::Listener { listener, .. } => {
                    Some(self.plan.listeners[*listener].spec.service_us)
                }
                _ => None,
            })
            .unwrap_or(0)
    }

    fn listener_syn(&mut self, id: u32, now: u64, l: usize, reply: &Reply) {
        let plan = self.plan;
        let a = self.attempts[id as usize].clone();
        let spec = &plan.flows[a.flow as usize].spec;
        let name = plan.listeners[l].name.clone();
        let place = LISTENER | l as u64;
        // A request already in the queue: the retransmitted SYN gets its
        // SYN-ACK again.
        let existing = match a.handshake {
            Some((pos, Some(e))) if pos == a.pos && self.listeners[l].holds(e, id) => Some(e),
            _ => None,
        };
        let fate = match existing {
            Some(e) => SynFate::Queued(e),
            None => {
                // Past the first leg the client is a proxy, a proven peer.
                let first = !plan.flows[a.flow as usize].classes[a.class as usize].stations
                    [..a.pos as usize]
                    .iter()
                    .any(|s| matches!(s, Station::Listener { .. }));
                let proven = !first || self.listeners[l].is_proven(a.source);
                self.listeners[l].syn(now, proven, id)
            }
        };
        match fate {
            SynFate::Queued(_) | SynFate::Cookie => {
                let cookie = fate == SynFate::Cookie;
                self.attempts[id as usize].handshake =
                    Some((a.pos, if cookie { None } else { Some(e_of(fate)) }));
                self.note(
                    id,
                    now,
                    name,
                    if cookie {
                        if plan.listeners[l].tuning.tcp_syncookies == 2 {
                            "SYN-ACK with a cookie (tcp_syncookies=2); no state kept".into()
                        } else {
                            "SYN queue full: SYN-ACK with a cookie; no state kept".into()
                        }
                    } else {
                        format!(
                            "SYN queue: half-open (SYN-RECV), {} of {} places",
                            self.listeners[l].qlen,
                            self.listeners[l].max_ack_backlog + 1
                        )
                    },
                );
                if let Some(lost) = &reply.lost {
                    self.note(
                        id,
                        now,
                        lost.device.clone(),
                        format!("the SYN-ACK is lost: {}", lost.text),
                    );
                    self.lost(id, now, "synack_lost", place);
                    return;
                }
                let mut delay = 0;
                for link in &reply.links {
                    delay += self.links[*link].delay(now);
                    if self.links[*link].offer(now, 1, SYN_BYTES) == 0 {
                        let ln = plan.links[*link].name.clone();
                        self.note(
                            id,
                            now,
                            ln,
                            "the SYN-ACK is dropped: the link's queue is full".into(),
                        );
                        self.lost(id, now, "link_saturated", LINK | *link as u64);
                        return;
                    }
                }
                let _ = existing;
                self.push(now + spec.rtt_us + delay, Event::Ack(id));
            }
            SynFate::QueueFull => {
                self.note(
                    id,
                    now,
                    name,
                    "SYN queue full, cookies off: SYN dropped (TCPReqQFullDrop)".into(),
                );
                self.lost(id, now, "syn_queue_full", place);
            }
            SynFate::Reserved => {
                self.note(
                    id,
                    now,
                    name,
                    "SYN queue past three quarters and this peer is not proven: SYN dropped".into(),
                );
                self.lost(id, now, "syn_reserved", place);
            }
            SynFate::AcceptFull => {
                self.note(
                    id,
                    now,
                    name,
                    "accept queue full: SYN dropped (ListenOverflows)".into(),
                );
                self.lost(id, now, "accept_queue_full", place);
            }
        }
    }

    /// The handshake's last ACK arrives at the listener.
    fn ack(&mut self, id: u32, now: u64) {
        if !self.running(id) {
            return;
        }
        let plan = self.plan;
        let a = self.attempts[id as usize].clone();
        let Some((pos, entry)) = a.handshake else {
            return;
        };
        let Station::Listener { listener, .. } = &self.class(&a).stations[pos as usize] else {
            return;
        };
        let l = *listener;
        let name = plan.listeners[l].name.clone();
        let result = match entry {
            Some(e) => self.listeners[l].ack(e, id),
            None => self.listeners[l].cookie_ack(id),
        };
        match result {
            Ack::Accepted => {
                let what = match entry {
                    Some(_) => "handshake complete: into the accept queue".to_string(),
                    None => "handshake complete: the cookie checks out (SyncookiesRecv), into the accept queue".to_string(),
                };
                self.note(id, now, name, what);
                self.attempts[id as usize].obstacle = Some(("waiting", LISTENER | l as u64));
                // Conntrack: the connection is established (assured).
                let cts = self.attempts[id as usize].ct.clone();
                let mut new = Vec::new();
                for (t, h) in cts {
                    let tun = &plan.tables[t as usize].tuning.conntrack_timeouts;
                    let nh = self.tables[t as usize].update(
                        h,
                        now + tun.tcp_timeout_established as u64 * SECOND,
                        EntryKind::Assured,
                    );
                    new.push((t, nh));
                }
                self.attempts[id as usize].ct = new;
            }
            Ack::Gone | Ack::AcceptQueueFull => {
                if result == Ack::Gone {
                    self.note(
                        id,
                        now,
                        name,
                        "the request expired: the client's data is answered with a reset".into(),
                    );
                    let at = now + plan.flows[a.flow as usize].spec.rtt_us / 2;
                    self.fail(id, at, "expired", LISTENER | l as u64);
                    return;
                }
                self.note(
                    id,
                    now,
                    name,
                    "accept queue full: the ACK is dropped (ListenOverflows)".into(),
                );
                self.attempts[id as usize].obstacle =
                    Some(("accept_queue_full", LISTENER | l as u64));
                let at = self.attempts[id as usize].ack_tries;
                self.attempts[id as usize].ack_tries = at.saturating_add(1);
                let rtt = plan.flows[a.flow as usize].spec.rtt_us;
                let next = match entry {
                    // The SYN-ACK is resent at the request's timer; the client acks it again.
                    Some(e) => self.listeners[l].next_timer(e).max(now) + rtt,
                    // With a cookie, the client's data (carrying the ACK) is retransmitted.
                    None => now + (200_000u64 << at.min(8)),
                };
                self.push(next, Event::Ack(id));
            }
        }
    }

    /// The application accepted the connection.
    fn accepted(&mut self, id: u32, now: u64) {
        if !self.running(id) {
            return;
        }
        let a = &self.attempts[id as usize];
        let Some((pos, _)) = a.handshake else { return };
        let l = match &self.class(a).stations[pos as usize] {
            Station::Listener { listener, .. } => *listener,
            _ => return,
        };
        let name = self.plan.listeners[l].name.clone();
        self.note(
            id,
            now,
            name,
            "accept(): the application takes the connection".into(),
        );
        let a = &mut self.attempts[id as usize];
        a.obstacle = None;
        a.pos = pos + 1;
        let (flow, class) = (a.flow as usize, a.class as usize);
        // Is there another leg (a proxy's connection upstream)?
        let more = self.plan.flows[flow].classes[class].stations[pos as usize + 1..]
            .iter()
            .any(|s| matches!(s, Station::Listener { .. }));
        if more {
            // The proxy's own connection: a new handshake further on.
            let service = self.plan.listeners[l].spec.service_us;
            self.attempts[id as usize].handshake = None;
            self.push(now + service, Event::Resume(id));
            return;
        }
        self.advance(id, now);
    }

    fn close(&mut self, id: u32, now: u64) {
        let plan = self.plan;
        let cts = std::mem::take(&mut self.attempts[id as usize].ct);
        for (t, h) in cts {
            let tun = &plan.tables[t as usize].tuning.conntrack_timeouts;
            self.tables[t as usize].update(
                h,
                now + tun.tcp_timeout_time_wait as u64 * SECOND,
                EntryKind::Closing,
            );
        }
    }

    fn done(&mut self, id: u32, now: u64) {
        if !self.running(id) {
            return;
        }
        let a = self.attempts[id as usize].clone();
        let f = a.flow as usize;
        // The peer is proven at every listener it completed a connection with.
        let class = self.class(&a);
        for s in &class.stations {
            if let Station::Listener { listener, .. } = s {
                self.listeners[*listener].prove(a.source);
            }
        }
        let last = class
            .stations
            .iter()
            .rev()
            .find_map(|s| match s {
                Station::Listener { listener, .. } => Some(*listener),
                _ => None,
            })
            .unwrap_or(0);
        self.close(id, now);
        let latency = now - a.t0;
        self.note(
            id,
            now,
            self.plan.listeners[last].name.clone(),
            format!("answered: {} ms after the first SYN", latency / 1000),
        );
        let sec = self.second_of(a.t0);
        let s = &mut self.stats[f];
        s.latency.push(latency);
        s.latency_sec[sec].push(latency);
        if let Some(st) = a.story {
            s.stories[st as usize].end = "served".into();
        }
        self.attempts[id as usize].state = State::Ok;
        // A connection counts in the second it started.
        self.tally(f, "served", LISTENER | last as u64, true, a.t0, 1);
    }

    fn fail(&mut self, id: u32, now: u64, key: &'static str, place: Place) {
        let a = &mut self.attempts[id as usize];
        if a.state != State::Running {
            return;
        }
        a.state = State::Failed;
        let f = a.flow as usize;
        if let Some(st) = a.story {
            self.stats[f].stories[st as usize].end = "failed".into();
        }
        let _ = now;
        // A connection counts in the second it started.
        let t0 = self.attempts[id as usize].t0;
        self.tally(f, key, place, false, t0, 1);
    }

    fn listener_timers(&mut self, now: u64) {
        let plan = self.plan;
        for l in 0..self.listeners.len() {
            let mut ev = std::mem::take(&mut self.timer_events);
            ev.clear();
            self.listeners[l].timers(now, &mut ev);
            for e in &ev {
                match *e {
                    TimerEvent::Resent { entry, count } => {
                        let owner = self.listeners[l].entry(entry).owner;
                        match owner {
                            Owner::Batch { flow, class } => {
                                // The resent SYN-ACKs load the way back.
                                if let Some(reply) =
                                    listener_reply(&plan.flows[flow].classes[class], l)
                                {
                                    self.synacks(reply, count, now);
                                }
                            }
                            Owner::Attempt(_) => {}
                        }
                    }
                    TimerEvent::Expired { .. } => {}
                }
            }
            self.timer_events = ev;
        }
    }

    fn second_done(&mut self, sec: usize, now: u64) {
        for (i, l) in self.listeners.iter().enumerate() {
            let d = l.counters.minus(&self.listener_before[i]);
            self.listener_before[i] = l.counters;
            self.listener_sec[i].push(ListenerSecond {
                syn_queue: l.qlen,
                syn_queue_max: self.listener_peak[i].max(l.qlen),
                accept_queue: l.accept.len() as u64,
                counters: d,
            });
            self.listener_peak[i] = 0;
        }
        for (i, l) in self.links.iter_mut().enumerate() {
            let sent = l.take_sent(now);
            let cap = self.plan.links[i].spec.capacity_bps / 8.0;
            self.link_sec[i].push(LinkSecond {
                utilization: (sent / cap).min(1.0),
                queue_max: self.link_peak[i].max(l.queued()),
                dropped: l.dropped - self.link_before[i],
            });
            self.link_before[i] = l.dropped;
            self.link_peak[i] = 0.0;
        }
        for (i, t) in self.tables.iter_mut().enumerate() {
            t.expire(now);
            let (d0, e0) = self.table_before[i];
            self.table_sec[i].push(TableSecond {
                entries: t.count,
                dropped: t.dropped - d0,
                early_drops: t.early_drops - e0,
            });
            self.table_before[i] = (t.dropped, t.early_drops);
            t.collect();
        }
        let _ = sec;
    }
}

fn e_of(f: SynFate) -> usize {
    match f {
        SynFate::Queued(e) => e,
        _ => 0,
    }
}

fn listener_reply(class: &Class, l: usize) -> Option<&Reply> {
    class.stations.iter().find_map(|s| match s {
        Station::Listener { listener, reply } if *listener == l => Some(reply),
        _ => None,
    })
}

/// Runs the scenario's traffic over its plan.
pub fn run(scn: &Scenario, traffic: &Traffic, plan: &Plan, opts: &Options) -> Run {
    let seconds = opts.seconds.unwrap_or(traffic.seconds).max(1);
    let seed = opts.seed.unwrap_or(traffic.seed);
    let end = seconds as u64 * SECOND;
    let root = Rng::new(seed);
    let nsec = seconds as usize;
    let mut flows = Vec::new();
    let mut stats = Vec::new();
    for (i, fp) in plan.flows.iter().enumerate() {
        let total: f64 = if fp.pool_size > 0 {
            fp.pool_size as f64
        } else {
            fp.classes
                .iter()
                .map(|c| c.members.len().max(1) as f64)
                .sum()
        };
        let shares: Vec<f64> = fp
            .classes
            .iter()
            .map(|c| {
                let w = if fp.pool_size > 0 {
                    c.pool as f64
                } else {
                    c.members.len().max(1) as f64
                };
                w / total
            })
            .collect();
        let mut senders = Vec::new();
        let longest = fp
            .classes
            .iter()
            .map(|c| c.members.len())
            .max()
            .unwrap_or(0);
        for j in 0..longest {
            for (ci, c) in fp.classes.iter().enumerate() {
                if let Some(a) = c.members.get(j) {
                    senders.push((ci as u16, *a));
                }
            }
        }
        if senders.is_empty() {
            senders.push((
                0,
                fp.classes
                    .first()
                    .map(|c| c.representative)
                    .unwrap_or(IpAddr::from([0, 0, 0, 0])),
            ));
        }
        let syn_retries = match &fp.spec.from_place {
            pathproof_core::model::Place::Host(h) => scn
                .host_by_name(h)
                .map(|id| traffic.tuning(id).tcp_syn_retries)
                .unwrap_or(6),
            _ => 6,
        };
        flows.push(FlowState {
            carry: 0.0,
            class_carry: vec![0.0; shares.len()],
            shares,
            step: vec![(0, 0); fp.classes.len()],
            senders,
            cursor: 0,
            member_cursor: vec![0; fp.classes.len()],
            rng: root.fork(1000 + i as u64),
            syn_retries,
        });
        stats.push(FlowStats {
            per_sec: vec![Vec::new(); nsec],
            offered: vec![0; nsec],
            latency_sec: vec![Vec::new(); nsec],
            story_second: vec![false; nsec],
            ..Default::default()
        });
    }
    let mut e = Engine {
        plan,
        seconds,
        rng: root.fork(1),
        listeners: plan.listeners.iter().map(Listener::new).collect(),
        links: plan.links.iter().map(Link::new).collect(),
        tables: plan.tables.iter().map(Table::new).collect(),
        limiters: plan
            .limiters
            .iter()
            .map(|l| Keyed::new(l.algorithm))
            .collect(),
        limiter_sec: vec![
            vec![
                LimiterSecond {
                    allowed: 0,
                    limited: 0
                };
                nsec
            ];
            plan.limiters.len()
        ],
        limiter_first: vec![None; plan.limiters.len()],
        flows,
        stats,
        attempts: Vec::new(),
        heap: BinaryHeap::new(),
        seq: 0,
        accounts: Vec::new(),
        account_index: HashMap::new(),
        listener_sec: vec![Vec::new(); plan.listeners.len()],
        listener_before: vec![Counters::default(); plan.listeners.len()],
        listener_peak: vec![0; plan.listeners.len()],
        link_sec: vec![Vec::new(); plan.links.len()],
        link_before: vec![0; plan.links.len()],
        link_peak: vec![0.0; plan.links.len()],
        table_sec: vec![Vec::new(); plan.tables.len()],
        table_before: vec![(0, 0); plan.tables.len()],
        timer_events: Vec::new(),
    };
    let ticks = end / TICK;
    let mut accepted = Vec::new();
    for step in 0..ticks {
        let t = step * TICK;
        if t > 0 && t.is_multiple_of(SECOND) {
            e.second_done((t / SECOND) as usize - 1, t);
        }
        e.listener_timers(t);
        for l in 0..e.listeners.len() {
            accepted.clear();
            e.listeners[l].accept_for(TICK, &mut accepted);
            for id in accepted.iter().copied() {
                e.accepted(id, t);
            }
        }
        e.generate(t);
        let te = t + TICK;
        let mut seg = t;
        while let Some(Reverse((at, _, key))) = e.heap.peek().copied() {
            if at >= te {
                break;
            }
            if at > seg {
                e.batches(seg, at, t);
                seg = at;
            }
            e.heap.pop();
            e.handle(key.event(), at.max(t));
        }
        e.batches(seg, te, t);
        for (i, l) in e.listeners.iter().enumerate() {
            e.listener_peak[i] = e.listener_peak[i].max(l.qlen);
        }
        for (i, l) in e.links.iter().enumerate() {
            e.link_peak[i] = e.link_peak[i].max(l.queued());
        }
    }
    e.second_done(nsec - 1, end);
    report(scn, plan, e, seconds, seed)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1] as f64 / 1000.0
}

fn describe_sources(fp: &FlowPlan, c: &Class) -> String {
    if c.members.is_empty() {
        let share = c.pool as f64 / fp.pool_size.max(1) as f64 * 100.0;
        return format!(
            "forged: {} addresses ({share:.4} % of the pool), such as {}",
            c.pool, c.representative
        );
    }
    if c.members.len() == 1 {
        return c.members[0].to_string();
    }
    format!(
        "{} addresses, {} to {}",
        c.members.len(),
        c.members[0],
        c.members[c.members.len() - 1]
    )
}

fn station_text(plan: &Plan, s: &Station) -> String {
    match s {
        Station::Link(l) => format!("link {}", plan.links[*l].name),
        Station::Conntrack { table, insert } => format!(
            "conntrack table of {}{}",
            plan.tables[*table].name,
            if *insert { "" } else { " (checked, not kept)" }
        ),
        Station::Firewall { limiter, .. } => {
            format!(
                "limiter {} (packets of new connections)",
                plan.limiters[*limiter].name
            )
        }
        Station::Listener { listener, reply } => {
            let mut s = format!("listener {}", plan.listeners[*listener].name);
            if let Some(lost) = &reply.lost {
                s.push_str(&format!(" (its SYN-ACK is lost at {})", lost.device));
            }
            if let Some(by) = &reply.reset_by {
                s.push_str(&format!(" (its SYN-ACK goes to {by}, which resets it)"));
            }
            s
        }
        Station::Application { limiter, .. } => {
            format!(
                "limiter {} in the application",
                plan.limiters[*limiter].name
            )
        }
        Station::Datagram { device, port } => format!("UDP service {device}:{port}"),
        Station::Stop(stop) => format!("{} at {}: {}", stop.kind.name(), stop.device, stop.text),
    }
}

fn report(scn: &Scenario, plan: &Plan, mut e: Engine, seconds: u32, seed: u64) -> Run {
    let nsec = seconds as usize;
    let mut flows = Vec::new();
    for (f, fp) in plan.flows.iter().enumerate() {
        let spec = &fp.spec;
        let st = &mut e.stats[f];
        let pending = e
            .attempts
            .iter()
            .filter(|a| a.flow as usize == f && a.state == State::Running)
            .count() as u64;
        let mut outcomes: Vec<Outcome> = st
            .defs
            .iter()
            .zip(&st.totals)
            .map(|(d, n)| Outcome {
                key: d.key.to_string(),
                what: d.what.clone(),
                at: d.at.clone(),
                ok: d.ok,
                count: *n,
            })
            .collect();
        let ok: u64 = outcomes.iter().filter(|o| o.ok).map(|o| o.count).sum();
        let failed: u64 = outcomes.iter().filter(|o| !o.ok).map(|o| o.count).sum();
        let offered: u64 = st.offered.iter().sum();
        st.latency.sort_unstable();
        let latency_ms = (!st.latency.is_empty()).then(|| Percentiles {
            p50: percentile(&st.latency, 0.5),
            p90: percentile(&st.latency, 0.9),
            p99: percentile(&st.latency, 0.99),
        });
        let per_second: Vec<FlowSecond> = (0..nsec)
            .map(|s| {
                let mut row = st.per_sec[s].clone();
                row.resize(outcomes.len(), 0);
                let ok: u64 = row
                    .iter()
                    .zip(&outcomes)
                    .filter(|(_, o)| o.ok)
                    .map(|(n, _)| *n)
                    .sum();
                let failed: u64 = row
                    .iter()
                    .zip(&outcomes)
                    .filter(|(_, o)| !o.ok)
                    .map(|(n, _)| *n)
                    .sum();
                let lat = &mut st.latency_sec[s];
                lat.sort_unstable();
                FlowSecond {
                    offered: st.offered[s],
                    ok,
                    failed,
                    outcomes: row,
                    p50_ms: (!lat.is_empty()).then(|| percentile(lat, 0.5)),
                }
            })
            .collect();
        // Outcomes are listed in the order they first happened; that order
        // is the run's own and the same every time.
        for o in &mut outcomes {
            o.what = o.what.trim().to_string();
        }
        let classes = fp
            .classes
            .iter()
            .map(|c| ClassReport {
                sources: describe_sources(fp, c),
                share: if fp.pool_size > 0 {
                    c.pool as f64 / fp.pool_size as f64
                } else {
                    let total: usize = fp.classes.iter().map(|x| x.members.len().max(1)).sum();
                    c.members.len().max(1) as f64 / total as f64
                },
                stations: c.stations.iter().map(|s| station_text(plan, s)).collect(),
                trace: c.trace.clone(),
                answer_trace: c.answer_trace.clone(),
            })
            .collect();
        let sources = match &spec.sources {
            Sources::Real { count } if *count == 1 => "1 address".to_string(),
            Sources::Real { count } => format!("{count} addresses"),
            Sources::Spoofed { pool } if pool.is_empty() => {
                format!("forged, any address of {}", spec.from)
            }
            Sources::Spoofed { pool } => format!(
                "forged, from {}",
                pool.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        flows.push(FlowReport {
            name: spec.name.clone(),
            kind: spec.kind.name().to_string(),
            legitimate: spec.kind.legitimate(),
            from: spec.from.clone(),
            to: spec.to.clone(),
            rate: spec.rate,
            sources,
            offered,
            ok,
            failed,
            pending,
            success_rate: (ok + failed > 0).then(|| ok as f64 / (ok + failed) as f64),
            latency_ms,
            outcomes,
            per_second,
            classes,
            stories: std::mem::take(&mut st.stories),
        });
    }
    let listeners = plan
        .listeners
        .iter()
        .enumerate()
        .map(|(i, lp)| {
            let l = &e.listeners[i];
            ListenerReport {
                name: lp.name.clone(),
                backlog: l.max_ack_backlog,
                tcp_syncookies: l.syncookies,
                tcp_max_syn_backlog: l.max_syn_backlog,
                tcp_synack_retries: l.synack_retries,
                accept_rate: l.accept_rate,
                counters: l.counters,
                per_second: std::mem::take(&mut e.listener_sec[i]),
            }
        })
        .collect();
    let links = plan
        .links
        .iter()
        .enumerate()
        .map(|(i, lp)| LinkReport {
            name: lp.name.clone(),
            capacity_bps: lp.spec.capacity_bps,
            queue_packets: lp.spec.queue_packets,
            passed: e.links[i].passed,
            dropped: e.links[i].dropped,
            per_second: std::mem::take(&mut e.link_sec[i]),
        })
        .collect();
    let conntrack = plan
        .tables
        .iter()
        .enumerate()
        .map(|(i, tp)| TableReport {
            host: tp.name.clone(),
            max: e.tables[i].max(),
            dropped: e.tables[i].dropped,
            early_drops: e.tables[i].early_drops,
            per_second: std::mem::take(&mut e.table_sec[i]),
        })
        .collect();
    let limiters = plan
        .limiters
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let per_second = std::mem::take(&mut e.limiter_sec[i]);
            LimiterReport {
                name: l.name.clone(),
                algorithm: l.algorithm.name().to_string(),
                rule: limiter_rule(l),
                key: l.key.name().to_string(),
                at: match l.place {
                    LimiterPlace::Host { host } => scn.host(host).name.clone(),
                    LimiterPlace::Socket { host, port } => {
                        format!("{}:{port}", scn.host(host).name)
                    }
                },
                answer: match l.answer {
                    LimitAnswer::Drop => "drop".into(),
                    LimitAnswer::Status(s) => s.to_string(),
                },
                allowed: per_second.iter().map(|s| s.allowed).sum(),
                limited: per_second.iter().map(|s| s.limited).sum(),
                first_refusal: e.limiter_first[i].clone(),
                per_second,
            }
        })
        .collect();
    Run {
        schema: SCHEMA,
        scenario: scn.name.clone(),
        file: scn.file.clone(),
        variant: scn.variant.clone(),
        seconds,
        seed,
        tick_us: TICK,
        flows,
        listeners,
        links,
        conntrack,
        limiters,
    }
}
