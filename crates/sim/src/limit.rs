//! Rate limiters, each as its published definition gives it, with one state
//! per key. Times are microseconds since the start of the run; a limiter is
//! created at time 0 (which is when Envoy's fill timer starts).
//!
//! - fixed window: a counter per window [k·W, (k+1)·W); a request is allowed
//!   while the counter is below the limit.
//! - sliding-window log: the times of the allowed requests; those older than
//!   `now − W` are forgotten, and a request is allowed while fewer than the
//!   limit remain (denied requests are not recorded).
//! - sliding-window counter (Cloudflare, "How we built rate limiting capable
//!   of scaling to millions of domains", 2017): the estimate
//!   `previous × (W − elapsed)/W + current` of the allowed requests in the
//!   last W; a request is allowed while the estimate is below the limit.
//! - token bucket (Envoy's local rate limit): `max_tokens`, starting full,
//!   `tokens_per_fill` added every `fill_interval` (on a timer from the
//!   start), a request takes one token or is answered 429.
//! - leaky bucket (nginx `limit_req`, ngx_http_limit_req_module.c): in
//!   thousandths of a request, `excess = max(0, excess − rate·ms/1000 + 1000)`;
//!   over `burst` is rejected (503); otherwise the request waits
//!   `(excess − delay)·1000/rate` ms (none with `nodelay`).
//! - nftables `limit` (net/netfilter/nft_limit.c): a bucket of nanoseconds,
//!   `cost = unit/rate`, `tokens_max = cost × burst`, starting full; a packet
//!   passes when the bucket, refilled by the time since the last packet and
//!   capped, holds `cost`. A `meter` keeps one such bucket per key.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use pathproof_core::model::traffic::Algorithm;

/// What a limiter decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed, after waiting this long (nginx without `nodelay`).
    Delay(u64),
    /// Over the limit. `nth` is the request's number in the current window
    /// (window algorithms) or 0.
    Deny {
        nth: u64,
    },
}

impl Decision {
    pub fn allowed(self) -> bool {
        !matches!(self, Decision::Deny { .. })
    }
}

/// One key's state.
#[derive(Debug, Clone)]
enum State {
    Fixed {
        window: u64,
        count: u64,
        seen: u64,
    },
    Log {
        allowed: VecDeque<u64>,
        denied: VecDeque<u64>,
    },
    Counter {
        window: u64,
        previous: u64,
        current: u64,
        seen: u64,
    },
    Tokens {
        tokens: u64,
        fills: u64,
    },
    Leaky {
        excess: i64,
        last_ms: u64,
        /// nginx makes a key's node with excess 0 on its first request.
        fresh: bool,
    },
    Nft {
        tokens: u64,
        last_ns: u64,
    },
}

/// The parameters of one algorithm and the state of one key under it.
#[derive(Debug, Clone)]
pub struct Bucket {
    alg: Algorithm,
    state: State,
    /// The latest time seen: a request never goes back in time (several
    /// batches of one moment may be handed in out of order).
    latest: u64,
}

fn nft_cost(rate: u64, unit_s: u64) -> u64 {
    unit_s * 1_000_000_000 / rate
}

impl Bucket {
    /// A fresh key's state (first seen at `now`).
    pub fn new(alg: Algorithm, now: u64) -> Bucket {
        let state = match alg {
            Algorithm::FixedWindow { window_us, .. } => State::Fixed {
                window: now / window_us,
                count: 0,
                seen: 0,
            },
            Algorithm::SlidingWindowLog { .. } => State::Log {
                allowed: VecDeque::new(),
                denied: VecDeque::new(),
            },
            Algorithm::SlidingWindowCounter { window_us, .. } => State::Counter {
                window: now / window_us,
                previous: 0,
                current: 0,
                seen: 0,
            },
            Algorithm::TokenBucket {
                max_tokens,
                fill_interval_us,
                ..
            } => State::Tokens {
                tokens: max_tokens as u64,
                fills: now / fill_interval_us,
            },
            Algorithm::LeakyBucket { .. } => State::Leaky {
                excess: 0,
                last_ms: now / 1000,
                fresh: true,
            },
            Algorithm::NftLimit {
                rate,
                unit_s,
                burst,
            }
            | Algorithm::NftMeter {
                rate,
                unit_s,
                burst,
            } => State::Nft {
                tokens: nft_cost(rate, unit_s) * burst as u64,
                last_ns: now * 1000,
            },
        };
        Bucket {
            alg,
            state,
            latest: now,
        }
    }

    /// One request at `now` (microseconds; an earlier time than one seen
    /// before counts as that one).
    pub fn admit(&mut self, now: u64) -> Decision {
        let now = now.max(self.latest);
        self.latest = now;
        match (&self.alg, &mut self.state) {
            (
                Algorithm::FixedWindow { limit, window_us },
                State::Fixed {
                    window,
                    count,
                    seen,
                },
            ) => {
                let w = now / window_us;
                if w != *window {
                    *window = w;
                    *count = 0;
                    *seen = 0;
                }
                *seen += 1;
                if *count < *limit as u64 {
                    *count += 1;
                    Decision::Allow
                } else {
                    Decision::Deny { nth: *seen }
                }
            }
            (Algorithm::SlidingWindowLog { limit, window_us }, State::Log { allowed, denied }) => {
                let start = now.saturating_sub(*window_us);
                // Strictly older than the window start are forgotten.
                while allowed.front().is_some_and(|t| *t < start) {
                    allowed.pop_front();
                }
                while denied.front().is_some_and(|t| *t < start) {
                    denied.pop_front();
                }
                if allowed.len() < *limit as usize {
                    allowed.push_back(now);
                    Decision::Allow
                } else {
                    denied.push_back(now);
                    Decision::Deny {
                        nth: (allowed.len() + denied.len()) as u64,
                    }
                }
            }
            (
                Algorithm::SlidingWindowCounter { limit, window_us },
                State::Counter {
                    window,
                    previous,
                    current,
                    seen,
                },
            ) => {
                let w = now / window_us;
                if w != *window {
                    *previous = if w == *window + 1 { *current } else { 0 };
                    *current = 0;
                    *seen = 0;
                    *window = w;
                }
                *seen += 1;
                let elapsed = now - w * window_us;
                // previous × (W − elapsed)/W + current < limit, in integers.
                let estimate_w = *previous as u128 * (*window_us - elapsed) as u128
                    + *current as u128 * *window_us as u128;
                if estimate_w < *limit as u128 * *window_us as u128 {
                    *current += 1;
                    Decision::Allow
                } else {
                    Decision::Deny { nth: *seen }
                }
            }
            (
                Algorithm::TokenBucket {
                    max_tokens,
                    tokens_per_fill,
                    fill_interval_us,
                },
                State::Tokens { tokens, fills },
            ) => {
                let f = now / fill_interval_us;
                if f > *fills {
                    let added = (f - *fills).saturating_mul(*tokens_per_fill as u64);
                    *tokens = (*tokens + added).min(*max_tokens as u64);
                    *fills = f;
                }
                if *tokens > 0 {
                    *tokens -= 1;
                    Decision::Allow
                } else {
                    Decision::Deny { nth: 0 }
                }
            }
            (
                Algorithm::LeakyBucket {
                    rate_milli,
                    burst,
                    delay,
                    nodelay,
                },
                State::Leaky {
                    excess,
                    last_ms,
                    fresh,
                },
            ) => {
                let now_ms = now / 1000;
                if *fresh {
                    *fresh = false;
                    *excess = 0;
                    *last_ms = now_ms;
                    return Decision::Allow;
                }
                let ms = now_ms.saturating_sub(*last_ms) as i64;
                let e = (*excess - (*rate_milli as i64) * ms / 1000 + 1000).max(0);
                if e > *burst as i64 * 1000 {
                    return Decision::Deny { nth: 0 };
                }
                *excess = e;
                if ms != 0 {
                    *last_ms = now_ms;
                }
                if *nodelay || e <= *delay as i64 * 1000 {
                    Decision::Allow
                } else {
                    let wait_ms = (e - *delay as i64 * 1000) as u64 * 1000 / *rate_milli;
                    if wait_ms == 0 {
                        Decision::Allow
                    } else {
                        Decision::Delay(wait_ms * 1000)
                    }
                }
            }
            (
                Algorithm::NftLimit {
                    rate,
                    unit_s,
                    burst,
                }
                | Algorithm::NftMeter {
                    rate,
                    unit_s,
                    burst,
                },
                State::Nft { tokens, last_ns },
            ) => {
                let cost = nft_cost(*rate, *unit_s);
                let max = cost * *burst as u64;
                let now_ns = now * 1000;
                let t = (*tokens + now_ns.saturating_sub(*last_ns)).min(max);
                *last_ns = now_ns;
                if t >= cost {
                    *tokens = t - cost;
                    Decision::Allow
                } else {
                    *tokens = t;
                    Decision::Deny { nth: 0 }
                }
            }
            _ => unreachable!("a bucket's state is made for its algorithm"),
        }
    }

    /// `n` requests arriving together at `now`: how many are allowed (as
    /// `n` calls of `admit` at `now` would say, delayed ones counted as
    /// allowed).
    pub fn admit_many(&mut self, now: u64, n: u64) -> u64 {
        let now = now.max(self.latest);
        self.latest = now;
        match (&self.alg, &mut self.state) {
            (
                Algorithm::NftLimit {
                    rate,
                    unit_s,
                    burst,
                }
                | Algorithm::NftMeter {
                    rate,
                    unit_s,
                    burst,
                },
                State::Nft { tokens, last_ns },
            ) => {
                let cost = nft_cost(*rate, *unit_s);
                let max = cost * *burst as u64;
                let now_ns = now * 1000;
                let t = (*tokens + now_ns.saturating_sub(*last_ns)).min(max);
                *last_ns = now_ns;
                let ok = (t / cost).min(n);
                *tokens = t - ok * cost;
                ok
            }
            (Algorithm::FixedWindow { .. }, State::Fixed { .. }) => {
                let mut ok = 0;
                for _ in 0..n {
                    if self.admit(now).allowed() {
                        ok += 1;
                    } else {
                        // The rest of the window is denied too.
                        if let State::Fixed { seen, .. } = &mut self.state {
                            *seen += n - ok - 1;
                        }
                        break;
                    }
                }
                ok
            }
            _ => {
                let mut ok = 0;
                for _ in 0..n {
                    if self.admit(now).allowed() {
                        ok += 1;
                    } else {
                        // At one instant, once one is denied, every later one is.
                        break;
                    }
                }
                ok
            }
        }
    }
}

/// The key a request is counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub source: Option<IpAddr>,
    pub account: Option<u32>,
}

impl Key {
    pub const GLOBAL: Key = Key {
        source: None,
        account: None,
    };
}

/// A limiter: one algorithm, one state per key.
#[derive(Debug, Clone)]
pub struct Keyed {
    alg: Algorithm,
    keys: HashMap<Key, Bucket>,
}

impl Keyed {
    pub fn new(alg: Algorithm) -> Keyed {
        Keyed {
            alg,
            keys: HashMap::new(),
        }
    }
    pub fn admit(&mut self, key: &Key, now: u64) -> Decision {
        let alg = self.alg;
        self.keys
            .entry(key.clone())
            .or_insert_with(|| Bucket::new(alg, now))
            .admit(now)
    }
    pub fn admit_many(&mut self, key: &Key, now: u64, n: u64) -> u64 {
        let alg = self.alg;
        self.keys
            .entry(key.clone())
            .or_insert_with(|| Bucket::new(alg, now))
            .admit_many(now, n)
    }
    /// How many of `n` requests, each of a key never seen before, pass: a
    /// fresh state allows its first request whenever the limit allows any.
    pub fn admit_fresh(&self, n: u64) -> u64 {
        let mut b = Bucket::new(self.alg, 0);
        if b.admit(0).allowed() {
            n
        } else {
            0
        }
    }
    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn log5() -> Algorithm {
        Algorithm::SlidingWindowLog {
            limit: 5,
            window_us: 10 * S,
        }
    }

    #[test]
    fn the_seeds_login_example() {
        // At most 5 login attempts per 10 s. An attacker's 8 rapid attempts
        // lose the last 3; the legitimate user's window is untouched.
        let mut by_source = Keyed::new(log5());
        let attacker = Key {
            source: Some("192.168.1.105".parse().unwrap()),
            account: None,
        };
        let user = Key {
            source: Some("10.0.0.42".parse().unwrap()),
            account: None,
        };
        let verdicts: Vec<bool> = (0..8)
            .map(|i| by_source.admit(&attacker, i * 1000).allowed())
            .collect();
        assert_eq!(
            verdicts,
            [true, true, true, true, true, false, false, false]
        );
        assert_eq!(
            by_source.admit(&attacker, 8000),
            Decision::Deny { nth: 9 },
            "the 9th attempt in the window"
        );
        assert!(by_source.admit(&user, 9000).allowed());

        // The same attacker from 50 addresses, one attempt each, against
        // alice's account: a per-address limit lets all 50 through ...
        let mut per_address = Keyed::new(log5());
        let ok = (0..50u32)
            .filter(|i| {
                let k = Key {
                    source: Some(IpAddr::from([198, 51, 100, *i as u8 + 1])),
                    account: Some(0),
                };
                per_address
                    .admit(&Key { account: None, ..k }, *i as u64 * 100)
                    .allowed()
            })
            .count();
        assert_eq!(ok, 50);
        // ... a per-account limit stops it after 5 ...
        let mut per_account = Keyed::new(log5());
        let alice = Key {
            source: None,
            account: Some(0),
        };
        let ok = (0..50u64)
            .filter(|i| per_account.admit(&alice, i * 100).allowed())
            .count();
        assert_eq!(ok, 5);
        // ... and locks the real alice out for the rest of the window.
        assert!(!per_account.admit(&alice, 6 * S).allowed());
        assert!(per_account.admit(&alice, 10 * S + 100).allowed());
        // Keyed by both, the real alice from her own address still logs in.
        let mut both = Keyed::new(log5());
        for i in 0..50u8 {
            both.admit(
                &Key {
                    source: Some(IpAddr::from([198, 51, 100, i + 1])),
                    account: Some(0),
                },
                i as u64 * 100,
            );
        }
        assert!(both
            .admit(
                &Key {
                    source: Some("10.0.0.42".parse().unwrap()),
                    account: Some(0)
                },
                6 * S
            )
            .allowed());
    }

    #[test]
    fn sliding_log_forgets_exactly_after_the_window() {
        let mut b = Bucket::new(log5(), 0);
        for i in 0..5 {
            assert!(b.admit(i).allowed());
        }
        // At 10 s + 0 µs the first request (at 0) is exactly W old: kept.
        assert!(!b.admit(10 * S).allowed());
        // One microsecond later it is strictly older than the window start.
        assert!(b.admit(10 * S + 1).allowed());
        assert!(!b.admit(10 * S + 1).allowed());
    }

    #[test]
    fn fixed_window_lets_a_double_burst_through_at_the_boundary() {
        let alg = Algorithm::FixedWindow {
            limit: 100,
            window_us: 60 * S,
        };
        let mut b = Bucket::new(alg, 0);
        // 100 at 0:59 and 100 at 1:00: 200 in two seconds, all allowed.
        let late = (0..100).filter(|_| b.admit(59 * S).allowed()).count();
        let early = (0..100).filter(|_| b.admit(60 * S).allowed()).count();
        assert_eq!((late, early), (100, 100));
        assert_eq!(b.admit(61 * S), Decision::Deny { nth: 101 });
        // The sliding log refuses the second hundred.
        let mut l = Bucket::new(
            Algorithm::SlidingWindowLog {
                limit: 100,
                window_us: 60 * S,
            },
            0,
        );
        let late = (0..100).filter(|_| l.admit(59 * S).allowed()).count();
        let early = (0..100).filter(|_| l.admit(60 * S).allowed()).count();
        assert_eq!((late, early), (100, 0));
    }

    #[test]
    fn sliding_counter_is_cloudflares_estimate() {
        // Cloudflare's example: limit 50 per minute, 42 in the previous
        // minute, 18 so far in this one, 15 s into it:
        // 42 × (60 − 15)/60 + 18 = 49.5 < 50, so one more is allowed.
        let alg = Algorithm::SlidingWindowCounter {
            limit: 50,
            window_us: 60 * S,
        };
        let mut b = Bucket::new(alg, 0);
        for _ in 0..42 {
            assert!(b.admit(30 * S).allowed());
        }
        // 15 s into the next minute, 18 more arrive: each is allowed
        // (the last one sees 31.5 + 17 = 48.5).
        for _ in 0..18 {
            assert!(b.admit(75 * S).allowed());
        }
        // The request after them: 42 × (60 − 15)/60 + 18 = 49.5 < 50, allowed.
        assert!(b.admit(75 * S).allowed(), "49.5 < 50");
        // Now 31.5 + 19 = 50.5: refused.
        assert!(!b.admit(75 * S).allowed());
        // Two windows later the previous count is gone entirely.
        assert!(b.admit(181 * S).allowed());
    }

    #[test]
    fn envoy_token_bucket_fills_on_its_timer() {
        let alg = Algorithm::TokenBucket {
            max_tokens: 3,
            tokens_per_fill: 1,
            fill_interval_us: S,
        };
        let mut b = Bucket::new(alg, 0);
        let first: Vec<bool> = (0..4).map(|_| b.admit(100).allowed()).collect();
        assert_eq!(first, [true, true, true, false]);
        // No token until the timer fires at 1 s, whatever the time since.
        assert!(!b.admit(999_999).allowed());
        assert!(b.admit(S).allowed());
        assert!(!b.admit(S + 1).allowed());
        // Ten idle seconds fill to max_tokens, not beyond.
        let later = (0..5).filter(|_| b.admit(12 * S).allowed()).count();
        assert_eq!(later, 3);
    }

    #[test]
    fn nginx_leaky_bucket_with_burst_and_nodelay() {
        // limit_req zone rate=10r/s burst=5 nodelay: 6 at once are served at
        // once (1 + 5 of burst), the 7th is rejected; 100 ms later one slot
        // has leaked out.
        let nodelay = Algorithm::LeakyBucket {
            rate_milli: 10_000,
            burst: 5,
            delay: 0,
            nodelay: true,
        };
        let mut b = Bucket::new(nodelay, 0);
        let got: Vec<Decision> = (0..7).map(|_| b.admit(0)).collect();
        assert_eq!(&got[..6], &[Decision::Allow; 6]);
        assert_eq!(got[6], Decision::Deny { nth: 0 });
        assert_eq!(b.admit(99_000), Decision::Deny { nth: 0 });
        assert_eq!(b.admit(100_000), Decision::Allow);
        // Without nodelay the excess waits: the k-th extra one 100·k ms.
        let delayed = Algorithm::LeakyBucket {
            rate_milli: 10_000,
            burst: 5,
            delay: 0,
            nodelay: false,
        };
        let mut b = Bucket::new(delayed, 0);
        let got: Vec<Decision> = (0..7).map(|_| b.admit(0)).collect();
        assert_eq!(
            got,
            [
                Decision::Allow,
                Decision::Delay(100_000),
                Decision::Delay(200_000),
                Decision::Delay(300_000),
                Decision::Delay(400_000),
                Decision::Delay(500_000),
                Decision::Deny { nth: 0 },
            ]
        );
        // delay=2: the first two extra ones go at once, then they wait.
        let two = Algorithm::LeakyBucket {
            rate_milli: 10_000,
            burst: 5,
            delay: 2,
            nodelay: false,
        };
        let mut b = Bucket::new(two, 0);
        let got: Vec<Decision> = (0..4).map(|_| b.admit(0)).collect();
        assert_eq!(
            got,
            [
                Decision::Allow,
                Decision::Allow,
                Decision::Allow,
                Decision::Delay(100_000)
            ]
        );
        // Without burst, two requests 50 ms apart at 10r/s: the second is rejected.
        let strict = Algorithm::LeakyBucket {
            rate_milli: 10_000,
            burst: 0,
            delay: 0,
            nodelay: false,
        };
        let mut b = Bucket::new(strict, 0);
        assert_eq!(b.admit(0), Decision::Allow);
        assert_eq!(b.admit(50_000), Decision::Deny { nth: 0 });
        assert_eq!(b.admit(100_000), Decision::Allow);
    }

    #[test]
    fn nft_limit_is_a_bucket_of_nanoseconds() {
        // limit rate 10/second (burst 5 by default): 5 at once, then one per 100 ms.
        let alg = Algorithm::NftLimit {
            rate: 10,
            unit_s: 1,
            burst: 5,
        };
        let mut b = Bucket::new(alg, 0);
        assert_eq!((0..8).filter(|_| b.admit(0).allowed()).count(), 5);
        assert!(!b.admit(99_999).allowed());
        assert!(b.admit(100_000).allowed());
        // A steady 100 packets a second for 10 s: 10 per second pass.
        let mut b = Bucket::new(alg, 0);
        let mut passed = 0;
        for i in 0..1000u64 {
            if b.admit(i * 10_000 + 1).allowed() {
                passed += 1;
            }
        }
        assert!((104..=106).contains(&passed), "5 + 10 per second: {passed}");
        // admit_many agrees with one call per packet.
        let mut one = Bucket::new(alg, 0);
        let mut many = Bucket::new(alg, 0);
        for t in (0..3_000_000).step_by(1000) {
            let a = (0..7).filter(|_| one.admit(t).allowed()).count() as u64;
            assert_eq!(many.admit_many(t, 7), a, "at {t}");
        }
    }

    #[test]
    fn admit_many_agrees_with_admit_for_every_algorithm() {
        let algs = [
            Algorithm::FixedWindow {
                limit: 7,
                window_us: S,
            },
            log5(),
            Algorithm::SlidingWindowCounter {
                limit: 9,
                window_us: 2 * S,
            },
            Algorithm::TokenBucket {
                max_tokens: 4,
                tokens_per_fill: 2,
                fill_interval_us: 500_000,
            },
            Algorithm::LeakyBucket {
                rate_milli: 3000,
                burst: 4,
                delay: 0,
                nodelay: true,
            },
        ];
        for alg in algs {
            let mut one = Bucket::new(alg, 0);
            let mut many = Bucket::new(alg, 0);
            for step in 0..200u64 {
                let t = step * 37_000;
                let n = step % 5;
                let a = (0..n).filter(|_| one.admit(t).allowed()).count() as u64;
                assert_eq!(many.admit_many(t, n), a, "{} at {t}", alg.name());
            }
        }
    }
}
