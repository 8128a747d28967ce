//! A listening TCP socket as Linux 6.18 runs it (net/ipv4/tcp_input.c
//! `tcp_conn_request`, net/ipv4/inet_connection_sock.c
//! `reqsk_timer_handler`, net/ipv4/syncookies.c, net/ipv4/tcp_ipv4.c
//! `tcp_v4_syn_recv_sock`): the SYN queue of half-open requests with their
//! SYN-ACK timers, the accept queue, SYN cookies, the quarter of
//! `tcp_max_syn_backlog` kept for proven peers, and the counters `nstat`
//! shows, under the kernel's names. See docs/semantics.md, "Traffic over
//! time".

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::net::IpAddr;

use serde::Serialize;

use crate::journey::ListenerPlan;

pub const SECOND: u64 = 1_000_000;
/// TCP_TIMEOUT_INIT: the first SYN-ACK retransmission comes after 1 s.
const TIMEOUT_INIT: u64 = SECOND;
/// TCP_RTO_MAX: no retransmission waits longer than 120 s.
const RTO_MAX: u64 = 120 * SECOND;

/// The TcpExt counters of `nstat` this model keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    #[serde(rename = "TcpExtListenOverflows")]
    pub listen_overflows: u64,
    #[serde(rename = "TcpExtListenDrops")]
    pub listen_drops: u64,
    #[serde(rename = "TcpExtSyncookiesSent")]
    pub syncookies_sent: u64,
    #[serde(rename = "TcpExtSyncookiesRecv")]
    pub syncookies_recv: u64,
    #[serde(rename = "TcpExtTCPReqQFullDoCookies")]
    pub reqq_full_do_cookies: u64,
    #[serde(rename = "TcpExtTCPReqQFullDrop")]
    pub reqq_full_drop: u64,
    #[serde(rename = "TcpExtTCPSynRetrans")]
    pub syn_retrans: u64,
    #[serde(rename = "TcpExtEmbryonicRsts")]
    pub embryonic_rsts: u64,
}

impl Counters {
    pub const NAMES: [&'static str; 8] = [
        "TcpExtListenOverflows",
        "TcpExtListenDrops",
        "TcpExtSyncookiesSent",
        "TcpExtSyncookiesRecv",
        "TcpExtTCPReqQFullDoCookies",
        "TcpExtTCPReqQFullDrop",
        "TcpExtTCPSynRetrans",
        "TcpExtEmbryonicRsts",
    ];
    pub fn values(&self) -> [u64; 8] {
        [
            self.listen_overflows,
            self.listen_drops,
            self.syncookies_sent,
            self.syncookies_recv,
            self.reqq_full_do_cookies,
            self.reqq_full_drop,
            self.syn_retrans,
            self.embryonic_rsts,
        ]
    }
    pub fn minus(&self, before: &Counters) -> Counters {
        let a = self.values();
        let b = before.values();
        let d: Vec<u64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        Counters {
            listen_overflows: d[0],
            listen_drops: d[1],
            syncookies_sent: d[2],
            syncookies_recv: d[3],
            reqq_full_do_cookies: d[4],
            reqq_full_drop: d[5],
            syn_retrans: d[6],
            embryonic_rsts: d[7],
        }
    }
}

/// What became of one SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynFate {
    /// A request in the SYN queue (SYN-RECV), with its SYN-ACK.
    Queued(usize),
    /// A SYN-ACK with a cookie; no state kept.
    Cookie,
    /// The SYN queue is full and cookies are off (TCPReqQFullDrop).
    QueueFull,
    /// The last quarter of tcp_max_syn_backlog is kept for proven peers.
    Reserved,
    /// The accept queue is full (ListenOverflows).
    AcceptFull,
}

/// Counts of the fates of many SYNs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fates {
    pub queued: u64,
    pub cookie: u64,
    pub queue_full: u64,
    pub reserved: u64,
    pub accept_full: u64,
}

/// What the last ACK of a handshake found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// The connection went to the accept queue.
    Accepted,
    /// The accept queue was full (ListenOverflows); the client tries again.
    AcceptQueueFull,
    /// The request had expired: nothing to complete.
    Gone,
}

/// What a request's timer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerEvent {
    /// The SYN-ACK was sent again (`count` requests of this entry).
    Resent { entry: usize, count: u64 },
    /// The requests gave up (dropped from the SYN queue).
    Expired { entry: usize, count: u64 },
}

/// What occupies the SYN queue: one entry per group of requests that
/// arrived together and age together (a flood's SYNs of one moment are one
/// entry; each legitimate connection is its own).
#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub num_timeout: u32,
    /// The handshake's last ACK came but the accept queue was full
    /// (`inet_rsk(req)->acked`): the request stays and its SYN-ACK is resent.
    pub acked: bool,
    /// Who put it there: a flow's class, or one connection.
    pub owner: Owner,
    next_timer: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Batch { flow: usize, class: usize },
    Attempt(u32),
}

#[derive(Debug)]
pub struct Listener {
    pub max_ack_backlog: u64,
    pub syncookies: u8,
    pub max_syn_backlog: u64,
    pub synack_retries: u32,
    pub accept_rate: Option<f64>,
    pub service_us: u64,
    pub qlen: u64,
    pub young: u64,
    pub accept: VecDeque<u32>,
    accept_tokens: f64,
    entries: Vec<Entry>,
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(u64, usize)>>,
    resets: BinaryHeap<Reverse<(u64, usize)>>,
    proven: HashSet<IpAddr>,
    no_metrics_save: bool,
    pub counters: Counters,
}

impl Listener {
    pub fn new(p: &ListenerPlan) -> Listener {
        Listener {
            max_ack_backlog: p.spec.backlog.min(p.tuning.somaxconn) as u64,
            syncookies: p.tuning.tcp_syncookies,
            max_syn_backlog: p.tuning.tcp_max_syn_backlog as u64,
            synack_retries: p.tuning.tcp_synack_retries as u32,
            accept_rate: p.spec.accept_rate,
            service_us: p.spec.service_us,
            qlen: 0,
            young: 0,
            accept: VecDeque::new(),
            accept_tokens: 0.0,
            entries: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            resets: BinaryHeap::new(),
            proven: HashSet::new(),
            no_metrics_save: p.tuning.tcp_no_metrics_save,
            counters: Counters::default(),
        }
    }

    /// `inet_csk_reqsk_queue_is_full`: Linux 6.18 compares with `>`
    /// (the SYN queue holds one more request than the backlog).
    fn syn_queue_full(&self, qlen: u64) -> bool {
        qlen > self.max_ack_backlog
    }

    /// `sk_acceptq_is_full`: `sk_ack_backlog > sk_max_ack_backlog`.
    pub fn accept_queue_full(&self) -> bool {
        self.accept.len() as u64 > self.max_ack_backlog
    }

    /// The SYN queue length at which SYNs of peers not proven are dropped
    /// (`!syncookies && max_syn_backlog − qlen < max_syn_backlog >> 2`).
    fn reserved_from(&self) -> u64 {
        self.max_syn_backlog - (self.max_syn_backlog >> 2) + 1
    }

    pub fn is_proven(&self, a: IpAddr) -> bool {
        self.proven.contains(&a)
    }

    /// A peer's connection ended cleanly: its metrics (RTT) are saved, and
    /// with cookies off it may use the reserved quarter.
    pub fn prove(&mut self, a: IpAddr) {
        if !self.no_metrics_save {
            self.proven.insert(a);
        }
    }

    fn add_entry(&mut self, now: u64, count: u64, owner: Owner) -> usize {
        let e = Entry {
            count,
            num_timeout: 0,
            acked: false,
            owner,
            next_timer: now + TIMEOUT_INIT,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i] = e;
                i
            }
            None => {
                self.entries.push(e);
                self.entries.len() - 1
            }
        };
        self.qlen += count;
        self.young += count;
        self.timers.push(Reverse((now + TIMEOUT_INIT, i)));
        i
    }

    pub fn entry(&self, i: usize) -> &Entry {
        &self.entries[i]
    }

    /// When the entry's SYN-ACK is next resent.
    pub fn next_timer(&self, i: usize) -> u64 {
        self.entries[i].next_timer
    }

    /// Whether entry `i` still holds attempt `id`'s request.
    pub fn holds(&self, i: usize, id: u32) -> bool {
        let e = &self.entries[i];
        e.count > 0 && e.owner == Owner::Attempt(id)
    }

    fn remove(&mut self, i: usize, count: u64) {
        let e = &mut self.entries[i];
        let n = count.min(e.count);
        e.count -= n;
        self.qlen -= n;
        if e.num_timeout == 0 {
            self.young -= n;
        }
        if e.count == 0 {
            self.free.push(i);
        }
    }

    /// `count` SYNs of peers not proven arriving together, in the order
    /// `tcp_conn_request` tests them. Those queued become one entry.
    pub fn syns(&mut self, now: u64, count: u64, owner: Owner) -> (Fates, Option<usize>) {
        let mut f = Fates::default();
        if count == 0 {
            return (f, None);
        }
        let cookie_path = self.syncookies == 2 || self.syn_queue_full(self.qlen);
        let accept_full = self.accept_queue_full();
        let c = &mut self.counters;
        if cookie_path {
            if self.syncookies > 0 {
                c.reqq_full_do_cookies += count;
                if accept_full {
                    c.listen_overflows += count;
                    c.listen_drops += count;
                    f.accept_full = count;
                } else {
                    c.syncookies_sent += count;
                    f.cookie = count;
                }
            } else {
                c.reqq_full_drop += count;
                c.listen_drops += count;
                f.queue_full = count;
            }
            return (f, None);
        }
        if accept_full {
            c.listen_overflows += count;
            c.listen_drops += count;
            f.accept_full = count;
            return (f, None);
        }
        let full_at = self.max_ack_backlog + 1;
        let limit = if self.syncookies == 0 {
            full_at.min(self.reserved_from())
        } else {
            full_at
        };
        let queued = count.min(limit.saturating_sub(self.qlen));
        let rest = count - queued;
        let entry = (queued > 0).then(|| self.add_entry(now, queued, owner));
        f.queued = queued;
        if rest > 0 {
            let c = &mut self.counters;
            if self.qlen >= full_at {
                if self.syncookies > 0 {
                    c.reqq_full_do_cookies += rest;
                    c.syncookies_sent += rest;
                    f.cookie = rest;
                } else {
                    c.reqq_full_drop += rest;
                    c.listen_drops += rest;
                    f.queue_full = rest;
                }
            } else {
                // pr_drop_req: the reserved quarter.
                c.listen_drops += rest;
                f.reserved = rest;
            }
        }
        (f, entry)
    }

    /// One SYN of a connection attempt.
    pub fn syn(&mut self, now: u64, proven: bool, id: u32) -> SynFate {
        if !proven {
            let (f, e) = self.syns(now, 1, Owner::Attempt(id));
            return if let Some(e) = e {
                SynFate::Queued(e)
            } else if f.cookie == 1 {
                SynFate::Cookie
            } else if f.queue_full == 1 {
                SynFate::QueueFull
            } else if f.reserved == 1 {
                SynFate::Reserved
            } else {
                SynFate::AcceptFull
            };
        }
        // A proven peer skips only the reservation.
        let cookie_path = self.syncookies == 2 || self.syn_queue_full(self.qlen);
        let accept_full = self.accept_queue_full();
        let c = &mut self.counters;
        if cookie_path {
            if self.syncookies > 0 {
                c.reqq_full_do_cookies += 1;
                if accept_full {
                    c.listen_overflows += 1;
                    c.listen_drops += 1;
                    return SynFate::AcceptFull;
                }
                c.syncookies_sent += 1;
                return SynFate::Cookie;
            }
            c.reqq_full_drop += 1;
            c.listen_drops += 1;
            return SynFate::QueueFull;
        }
        if accept_full {
            c.listen_overflows += 1;
            c.listen_drops += 1;
            return SynFate::AcceptFull;
        }
        SynFate::Queued(self.add_entry(now, 1, Owner::Attempt(id)))
    }

    /// A forged source's owner answers the SYN-ACKs of entry `i` with
    /// resets, arriving at `at`.
    pub fn reset_at(&mut self, i: usize, at: u64) {
        self.resets.push(Reverse((at, i)));
    }

    /// The last ACK of the handshake of a queued request.
    pub fn ack(&mut self, i: usize, id: u32) -> Ack {
        if self.entries[i].count == 0 || self.entries[i].owner != Owner::Attempt(id) {
            // The request expired meanwhile: the ACK finds nothing (the
            // client's data will be answered with a reset).
            return Ack::Gone;
        }
        if self.accept_queue_full() {
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            self.entries[i].acked = true;
            return Ack::AcceptQueueFull;
        }
        self.remove(i, 1);
        self.accept.push_back(id);
        Ack::Accepted
    }

    /// The last ACK of a handshake answered with a cookie.
    pub fn cookie_ack(&mut self, id: u32) -> Ack {
        self.counters.syncookies_recv += 1;
        if self.accept_queue_full() {
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            return Ack::AcceptQueueFull;
        }
        self.accept.push_back(id);
        Ack::Accepted
    }

    /// Runs the SYN-ACK timers and resets due by `now`, in time order.
    pub fn timers(&mut self, now: u64, out: &mut Vec<TimerEvent>) {
        while let Some(Reverse((at, i))) = self.resets.peek().copied() {
            if at > now {
                break;
            }
            self.resets.pop();
            let n = self.entries[i].count;
            if n > 0 && matches!(self.entries[i].owner, Owner::Batch { .. }) {
                self.counters.embryonic_rsts += n;
                self.remove(i, n);
                out.push(TimerEvent::Expired { entry: i, count: 0 });
            }
        }
        while let Some(Reverse((at, i))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let e = &self.entries[i];
            if e.count == 0 || e.next_timer != at {
                continue;
            }
            // reqsk_timer_handler: when the queue is more than half full,
            // old requests get fewer retries, so that at least half of the
            // room stays for young ones.
            let mut max_retries = self.synack_retries;
            if (self.qlen << 1) > self.max_ack_backlog.max(8) {
                let mut young = self.young << 1;
                while max_retries > 2 {
                    if self.qlen < young {
                        break;
                    }
                    max_retries -= 1;
                    young <<= 1;
                }
            }
            let count = e.count;
            if e.num_timeout >= max_retries {
                self.remove(i, count);
                out.push(TimerEvent::Expired { entry: i, count });
                continue;
            }
            self.counters.syn_retrans += count;
            if e.num_timeout == 0 {
                self.young -= count;
            }
            let e = &mut self.entries[i];
            e.num_timeout += 1;
            let next = at + (TIMEOUT_INIT << e.num_timeout).min(RTO_MAX);
            e.next_timer = next;
            self.timers.push(Reverse((next, i)));
            out.push(TimerEvent::Resent { entry: i, count });
        }
    }

    /// The application calls accept() for `dt` microseconds: the
    /// connections it takes, oldest first.
    pub fn accept_for(&mut self, dt: u64, out: &mut Vec<u32>) {
        match self.accept_rate {
            None => out.extend(self.accept.drain(..)),
            Some(rate) => {
                let step = rate * dt as f64 / SECOND as f64;
                self.accept_tokens += step;
                while self.accept_tokens >= 1.0 {
                    let Some(id) = self.accept.pop_front() else {
                        break;
                    };
                    out.push(id);
                    self.accept_tokens -= 1.0;
                }
                // An idle application waits in accept(): it does not save
                // up turns for later.
                if self.accept.is_empty() {
                    self.accept_tokens = self.accept_tokens.min(step.max(1.0));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::ListenerPlan;
    use pathproof_core::model::traffic::{HostTuning, ListenerSpec};
    use pathproof_core::model::{HostId, Origin};

    fn plan(backlog: u32, cookies: u8, max_syn: u32) -> ListenerPlan {
        let mut tuning = HostTuning::defaults(HostId(0));
        tuning.tcp_syncookies = cookies;
        tuning.tcp_max_syn_backlog = max_syn;
        ListenerPlan {
            host: HostId(0),
            name: "web:80".into(),
            port: 80,
            spec: ListenerSpec {
                host: HostId(0),
                port: 80,
                backlog,
                accept_rate: None,
                service_us: 0,
                origin: Origin::default(),
            },
            tuning,
        }
    }

    const FLOOD: Owner = Owner::Batch { flow: 0, class: 0 };

    #[test]
    fn cookies_after_the_queue_is_full() {
        let mut l = Listener::new(&plan(128, 1, 1024));
        let (f, _) = l.syns(0, 1000, FLOOD);
        assert_eq!(f.queued, 129, "the queue holds backlog + 1 (`>`)");
        assert_eq!(f.cookie, 871);
        assert_eq!(l.counters.syncookies_sent, 871);
        assert_eq!(l.counters.reqq_full_do_cookies, 871);
        assert_eq!(l.counters.listen_drops, 0);
    }

    #[test]
    fn without_cookies_the_last_quarter_waits_for_proven_peers() {
        let mut l = Listener::new(&plan(128, 0, 128));
        let (f, _) = l.syns(0, 1000, FLOOD);
        // 128 − qlen < 32 drops from qlen 97 on.
        assert_eq!(f.queued, 97);
        assert_eq!(f.reserved, 903);
        assert_eq!(l.counters.listen_drops, 903);
        assert_eq!(l.counters.reqq_full_drop, 0);
        assert!(matches!(l.syn(0, false, 7), SynFate::Reserved));
        assert!(matches!(l.syn(0, true, 8), SynFate::Queued(_)));
        // Proven peers fill the rest; then the queue is full for everyone.
        for i in 0..31 {
            assert!(matches!(l.syn(0, true, 9 + i), SynFate::Queued(_)));
        }
        assert!(matches!(l.syn(0, true, 99), SynFate::QueueFull));
        assert_eq!(l.counters.reqq_full_drop, 1);
    }

    #[test]
    fn always_cookies_with_2() {
        let mut l = Listener::new(&plan(128, 2, 128));
        let (f, _) = l.syns(0, 50, FLOOD);
        assert_eq!((f.queued, f.cookie), (0, 50));
        assert_eq!(l.counters.reqq_full_do_cookies, 50);
        assert_eq!(l.counters.syncookies_sent, 50);
    }

    #[test]
    fn synack_timers_back_off_and_expire() {
        let mut l = Listener::new(&plan(4096, 1, 4096));
        l.syns(0, 10, FLOOD);
        let mut ev = Vec::new();
        // A lightly loaded queue keeps the 5 retries: 1, 3, 7, 15, 31, expire at 63 s.
        for s in 0..=63 {
            l.timers(s * SECOND, &mut ev);
        }
        let resent: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, TimerEvent::Resent { .. }))
            .collect();
        assert_eq!(resent.len(), 5);
        assert!(matches!(
            ev.last(),
            Some(TimerEvent::Expired { count: 10, .. })
        ));
        assert_eq!(l.qlen, 0);
        assert_eq!(l.counters.syn_retrans, 50);
    }

    #[test]
    fn a_full_queue_of_old_requests_gets_two_retries() {
        let mut l = Listener::new(&plan(128, 1, 1024));
        l.syns(0, 1000, FLOOD);
        let mut ev = Vec::new();
        for s in 0..=8 {
            l.timers(s * SECOND, &mut ev);
        }
        // Nothing young: 1 s and 3 s resends, then gone at 7 s.
        assert_eq!(l.qlen, 0);
        assert_eq!(l.counters.syn_retrans, 2 * 129);
    }
}
