//! Links and conntrack tables: the shared places before any listener.
//!
//! A link is one direction of a host's interface: it sends `capacity` bits
//! per second and queues up to `queue` packets (the interface's txqueuelen);
//! a packet that finds the queue full is dropped, before any filter of the
//! next device sees it (a fluid model: the queue drains continuously and
//! packets of one moment share its fate).
//!
//! A conntrack table holds an entry per connection a device tracks. A new
//! connection needs a free slot (`nf_conntrack_max`); when there is none,
//! Linux 6.18's `early_drop` looks through the new entry's bucket and the
//! next ones (8 in all) for an entry not yet *assured* and evicts it, and
//! only when it finds none is the packet dropped ("nf_conntrack: table full,
//! dropping packet"). The garbage collector, once an insertion has failed,
//! also evicts closing connections while the table is over 95 % full.

use std::collections::BTreeMap;

use crate::journey::{LinkPlan, TablePlan};
use crate::listener::SECOND;
use crate::rng::Rng;

#[derive(Debug)]
pub struct Link {
    /// Bytes per microsecond.
    rate: f64,
    queue_limit: f64,
    backlog_bytes: f64,
    backlog_pkts: f64,
    last: u64,
    pub sent_bytes: f64,
    pub dropped: u64,
    pub passed: u64,
}

impl Link {
    pub fn new(p: &LinkPlan) -> Link {
        Link {
            rate: p.spec.capacity_bps / 8.0 / SECOND as f64,
            queue_limit: p.spec.queue_packets as f64,
            backlog_bytes: 0.0,
            backlog_pkts: 0.0,
            last: 0,
            sent_bytes: 0.0,
            dropped: 0,
            passed: 0,
        }
    }

    fn drain(&mut self, now: u64) {
        if now <= self.last {
            return;
        }
        let can = self.rate * (now - self.last) as f64;
        self.last = now;
        let sent = can.min(self.backlog_bytes);
        if self.backlog_bytes > 0.0 {
            self.backlog_pkts *= (self.backlog_bytes - sent) / self.backlog_bytes;
        }
        self.backlog_bytes -= sent;
        self.sent_bytes += sent;
        if self.backlog_bytes < 1e-9 {
            self.backlog_bytes = 0.0;
            self.backlog_pkts = 0.0;
        }
    }

    /// How long a packet arriving now waits before it is on the wire.
    pub fn delay(&mut self, now: u64) -> u64 {
        self.drain(now);
        (self.backlog_bytes / self.rate) as u64
    }

    /// `n` packets of `size` bytes arrive at `now`: how many are queued
    /// (the others are dropped).
    pub fn offer(&mut self, now: u64, n: u64, size: u32) -> u64 {
        if n == 0 {
            return 0;
        }
        self.drain(now);
        // A place is free once the packet ahead has left whole: a fraction
        // of one (its head half sent) takes nobody yet.
        let room = (self.queue_limit - self.backlog_pkts + 1e-9)
            .max(0.0)
            .floor();
        let take = n.min(room as u64);
        self.backlog_pkts += take as f64;
        self.backlog_bytes += take as f64 * size as f64;
        self.passed += take;
        self.dropped += n - take;
        take
    }

    /// Bytes sent since the last call (for the utilisation of a second).
    pub fn take_sent(&mut self, now: u64) -> f64 {
        self.drain(now);
        std::mem::take(&mut self.sent_bytes)
    }

    pub fn queued(&self) -> f64 {
        self.backlog_pkts
    }
}

/// The kinds of entries, for eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// Not assured: early_drop may evict it.
    Unassured = 0,
    /// Assured and open.
    Assured = 1,
    /// Assured but closing (TIME_WAIT and the like): the collector's
    /// early drop may evict it when the table is nearly full.
    Closing = 2,
}

#[derive(Debug)]
pub struct Table {
    max: u64,
    buckets: u64,
    pub count: u64,
    /// Slots given to packets of this moment that are not inserted yet.
    held: u64,
    kinds: [u64; 3],
    /// (expiry time, kind) → how many entries.
    calendar: BTreeMap<(u64, EntryKind), u64>,
    gc_pending: bool,
    pub dropped: u64,
    pub early_drops: u64,
}

impl Table {
    pub fn new(p: &TablePlan) -> Table {
        Table {
            max: p.tuning.conntrack_max as u64,
            buckets: p.tuning.conntrack_buckets.max(1) as u64,
            count: 0,
            held: 0,
            kinds: [0; 3],
            calendar: BTreeMap::new(),
            gc_pending: false,
            dropped: 0,
            early_drops: 0,
        }
    }

    pub fn expire(&mut self, now: u64) {
        while let Some((&(at, kind), &n)) = self.calendar.iter().next() {
            if at > now {
                break;
            }
            self.calendar.remove(&(at, kind));
            self.count -= n;
            self.kinds[kind as usize] -= n;
        }
    }

    fn evict(&mut self, kind: EntryKind, mut n: u64) -> u64 {
        let keys: Vec<(u64, EntryKind)> = self
            .calendar
            .keys()
            .filter(|k| k.1 == kind)
            .copied()
            .take(64)
            .collect();
        let mut done = 0;
        for k in keys {
            if n == 0 {
                break;
            }
            let have = self.calendar[&k];
            let take = have.min(n);
            if take == have {
                self.calendar.remove(&k);
            } else {
                *self.calendar.get_mut(&k).expect("present") -= take;
            }
            self.count -= take;
            self.kinds[kind as usize] -= take;
            n -= take;
            done += take;
        }
        done
    }

    /// The collector's pass, once a second: after a failed insertion, closing
    /// connections go while the table is over 95 % full.
    pub fn collect(&mut self) {
        if !self.gc_pending {
            return;
        }
        self.gc_pending = false;
        let limit = self.max * 95 / 100;
        if self.count > limit {
            let n = (self.count - limit).min(self.kinds[EntryKind::Closing as usize]);
            self.evict(EntryKind::Closing, n);
        }
    }

    /// `n` new connections need an entry at `now`: how many get one (the
    /// others' packets are dropped). The caller inserts those it keeps.
    pub fn admit(&mut self, now: u64, n: u64, rng: &mut Rng) -> u64 {
        if n == 0 {
            return 0;
        }
        self.expire(now);
        let free = self.max.saturating_sub(self.count + self.held);
        if n <= free {
            // Held until inserted or released, so later packets of this
            // moment see them taken.
            self.held += n;
            return n;
        }
        let mut ok = free;
        let mut rest = n - free;
        // early_drop: 8 buckets' entries are looked at; each is unassured
        // with the table's share of unassured entries.
        while rest > 0 {
            let unassured = self.kinds[EntryKind::Unassured as usize];
            if unassured == 0 || self.count == 0 {
                break;
            }
            let seen = (8.0 * self.count as f64 / self.buckets as f64).max(1.0);
            let share = unassured as f64 / self.count as f64;
            let p = 1.0 - (1.0 - share).powf(seen);
            let wins = rng.binomial(rest, p).min(unassured);
            if wins == 0 {
                break;
            }
            let evicted = self.evict(EntryKind::Unassured, wins);
            self.early_drops += evicted;
            ok += evicted;
            rest -= evicted;
            if p >= 0.999_999 {
                continue;
            }
            break;
        }
        if rest > 0 {
            self.dropped += rest;
            self.gc_pending = true;
        }
        self.held += ok;
        ok
    }

    /// Slots given by `admit` whose packets were stopped later on.
    pub fn release(&mut self, n: u64) {
        self.held -= n.min(self.held);
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn insert(&mut self, expires: u64, kind: EntryKind, n: u64) -> (u64, EntryKind) {
        self.release(n);
        if n > 0 {
            *self.calendar.entry((expires, kind)).or_default() += n;
            self.count += n;
            self.kinds[kind as usize] += n;
        }
        (expires, kind)
    }

    /// Moves one entry (of a connection) to a new state and expiry.
    pub fn update(
        &mut self,
        old: (u64, EntryKind),
        expires: u64,
        kind: EntryKind,
    ) -> (u64, EntryKind) {
        if let Some(n) = self.calendar.get_mut(&old) {
            *n -= 1;
            if *n == 0 {
                self.calendar.remove(&old);
            }
            self.count -= 1;
            self.kinds[old.1 as usize] -= 1;
        } else {
            // It expired or was evicted meanwhile: the connection's next
            // packet makes a new one (picked up from the middle, as Linux
            // does for an established TCP connection).
        }
        self.held += 1;
        self.insert(expires, kind, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathproof_core::model::traffic::{HostTuning, LinkSpec};
    use pathproof_core::model::{HostId, NetworkId, Origin};

    #[test]
    fn a_link_drops_what_its_queue_cannot_hold() {
        let p = LinkPlan {
            spec: LinkSpec {
                host: HostId(0),
                network: NetworkId(0),
                capacity_bps: 8_000_000.0, // 1 byte per µs
                queue_packets: 100,
                text: "x".into(),
                origin: Origin::default(),
            },
            inbound: true,
            name: "x".into(),
        };
        let mut l = Link::new(&p);
        // 1000 packets of 100 bytes at once: 100 fit in the queue.
        assert_eq!(l.offer(0, 1000, 100), 100);
        // It drains 100 bytes per 100 µs: one packet.
        assert_eq!(l.delay(100), 9_900);
        assert_eq!(l.offer(100, 5, 100), 1);
        // Within capacity nothing is lost.
        let mut l = Link::new(&p);
        let mut kept = 0;
        for t in 0..10_000u64 {
            kept += l.offer(t * 200, 1, 100);
        }
        assert_eq!(kept, 10_000);
    }

    fn table(max: u32) -> Table {
        let mut t = HostTuning::defaults(HostId(0));
        t.conntrack_max = max;
        t.conntrack_buckets = max;
        Table::new(&TablePlan {
            host: HostId(0),
            name: "fw".into(),
            tuning: t,
        })
    }

    #[test]
    fn a_full_table_of_assured_entries_drops_new_connections() {
        let mut t = table(100);
        let mut r = Rng::new(3);
        assert_eq!(t.admit(0, 100, &mut r), 100);
        t.insert(1000 * SECOND, EntryKind::Assured, 100);
        assert_eq!(t.admit(1, 10, &mut r), 0);
        assert_eq!(t.dropped, 10);
        // Expired entries make room again.
        t.expire(1000 * SECOND);
        assert_eq!(t.admit(1000 * SECOND, 10, &mut r), 10);
    }

    #[test]
    fn early_drop_evicts_unassured_entries() {
        let mut t = table(100);
        let mut r = Rng::new(3);
        t.admit(0, 100, &mut r);
        t.insert(60 * SECOND, EntryKind::Unassured, 100);
        // Every entry is unassured: each new one evicts an old one.
        assert_eq!(t.admit(1, 50, &mut r), 50);
        assert_eq!(t.early_drops, 50);
        assert_eq!(t.dropped, 0);
    }
}
