//! First-match 5-tuple packet classifiers.
//!
//! [`LinearClassifier`] is the reference: a plain scan in priority order.
//! [`FastClassifier`] answers the same question with an aggregated bit-vector scheme
//! (Lakshman & Stiliadis' bit-vector classifier with Baboescu & Varghese's aggregation):
//!
//! * per field, the value space is cut into elementary intervals at every rule edge;
//!   each interval stores the bit vector of the rules (in priority order) covering it.
//!   Identical vectors are stored once.
//! * ports and protocol index their vectors directly by value (tables of 65,536 and 256
//!   entries); addresses use a 65,536-entry table on the top 16 bits that narrows a
//!   binary search over the interval starts to the few intervals of that /16.
//! * every vector carries a summary word per 64 words (bit set when the word is not zero),
//!   so a lookup ANDs the five summaries, visits only words that may hold a common rule,
//!   and stops at the first word whose AND is not zero: its lowest bit is the
//!   highest-priority matching rule.
//!
//! Lookup cost is bounded by five table reads plus a handful of word ANDs, independent
//! of where the matching rule sits in the list; memory is `O(distinct vectors × rules/8)`.

use std::collections::HashMap;

/// A 5-tuple rule: prefixes, inclusive port ranges, protocol value/mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule5 {
    /// Source address (host bits beyond `src_len` are ignored).
    pub src: u32,
    /// Source prefix length 0-32.
    pub src_len: u8,
    /// Destination address.
    pub dst: u32,
    /// Destination prefix length 0-32.
    pub dst_len: u8,
    /// Inclusive source port range.
    pub sport: (u16, u16),
    /// Inclusive destination port range.
    pub dport: (u16, u16),
    /// Protocol value (compared under `proto_mask`).
    pub proto: u8,
    /// Protocol mask: 0xFF exact, 0x00 any.
    pub proto_mask: u8,
}

/// A packet header for the 5-tuple classifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Protocol number.
    pub proto: u8,
}

fn prefix_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl Rule5 {
    /// Inclusive source address range.
    pub fn src_range(&self) -> (u32, u32) {
        let m = prefix_mask(self.src_len);
        (self.src & m, (self.src & m) | !m)
    }

    /// Inclusive destination address range.
    pub fn dst_range(&self) -> (u32, u32) {
        let m = prefix_mask(self.dst_len);
        (self.dst & m, (self.dst & m) | !m)
    }

    /// Does the header fall in this rule's box?
    pub fn matches(&self, h: &Header) -> bool {
        let sm = prefix_mask(self.src_len);
        let dm = prefix_mask(self.dst_len);
        (h.src ^ self.src) & sm == 0
            && (h.dst ^ self.dst) & dm == 0
            && self.sport.0 <= h.sport
            && h.sport <= self.sport.1
            && self.dport.0 <= h.dport
            && h.dport <= self.dport.1
            && (h.proto ^ self.proto) & self.proto_mask == 0
    }
}

/// Reference classifier: scans the rules in order, returns the index of the first match.
#[derive(Debug, Clone)]
pub struct LinearClassifier {
    rules: Vec<LinRule>,
}

#[derive(Debug, Clone, Copy)]
struct LinRule {
    src: u32,
    src_mask: u32,
    dst: u32,
    dst_mask: u32,
    sport: (u16, u16),
    dport: (u16, u16),
    proto: u8,
    proto_mask: u8,
}

impl LinearClassifier {
    /// Build from rules in priority order (index 0 = highest).
    pub fn new(rules: &[Rule5]) -> Self {
        LinearClassifier {
            rules: rules
                .iter()
                .map(|r| {
                    let sm = prefix_mask(r.src_len);
                    let dm = prefix_mask(r.dst_len);
                    LinRule {
                        src: r.src & sm,
                        src_mask: sm,
                        dst: r.dst & dm,
                        dst_mask: dm,
                        sport: r.sport,
                        dport: r.dport,
                        proto: r.proto & r.proto_mask,
                        proto_mask: r.proto_mask,
                    }
                })
                .collect(),
        }
    }

    /// Index of the first matching rule, if any.
    #[inline]
    pub fn classify(&self, h: &Header) -> Option<usize> {
        self.rules.iter().position(|r| {
            h.src & r.src_mask == r.src
                && h.dst & r.dst_mask == r.dst
                && r.sport.0 <= h.sport
                && h.sport <= r.sport.1
                && r.dport.0 <= h.dport
                && h.dport <= r.dport.1
                && h.proto & r.proto_mask == r.proto
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Bit vectors of one field: `rows` holds, per distinct vector, `sw` summary words
/// followed by `w` rule words.
#[derive(Debug, Clone)]
struct Field {
    rows: Vec<u64>,
}

impl Field {
    fn bytes(&self) -> usize {
        self.rows.capacity() * 8
    }
}

struct RowBuilder {
    w: usize,
    sw: usize,
    rows: Vec<u64>,
    index: HashMap<Vec<u64>, u32>,
}

impl RowBuilder {
    fn new(w: usize, sw: usize) -> Self {
        RowBuilder {
            w,
            sw,
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Returns the offset (in words) of the stored row equal to `bits`.
    fn intern(&mut self, bits: &[u64]) -> u32 {
        if let Some(&o) = self.index.get(bits) {
            return o;
        }
        let off = self.rows.len() as u32;
        let mut sum = vec![0u64; self.sw];
        for (i, &b) in bits.iter().enumerate() {
            if b != 0 {
                sum[i / 64] |= 1 << (i % 64);
            }
        }
        self.rows.extend_from_slice(&sum);
        self.rows.extend_from_slice(bits);
        debug_assert_eq!(bits.len(), self.w);
        self.index.insert(bits.to_vec(), off);
        off
    }

    fn finish(self) -> Field {
        let mut rows = self.rows;
        rows.shrink_to_fit();
        Field { rows }
    }
}

/// Sweep elementary intervals of `[0, max]` for the given inclusive ranges (one per rule,
/// in rule order). Returns interval starts and, per interval, the row offset.
fn sweep(ranges: &[(u64, u64)], max: u64, b: &mut RowBuilder) -> (Vec<u64>, Vec<u32>) {
    let mut starts: Vec<u64> = Vec::with_capacity(ranges.len() * 2 + 1);
    starts.push(0);
    for &(lo, hi) in ranges {
        starts.push(lo);
        if hi < max {
            starts.push(hi + 1);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let n = starts.len();
    let mut add: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut del: Vec<Vec<u32>> = vec![Vec::new(); n + 1];
    for (ri, &(lo, hi)) in ranges.iter().enumerate() {
        let a = starts.partition_point(|&s| s < lo);
        let e = if hi < max {
            starts.partition_point(|&s| s < hi + 1)
        } else {
            n
        };
        add[a].push(ri as u32);
        del[e].push(ri as u32);
    }
    let mut cur = vec![0u64; b.w];
    let mut offs = Vec::with_capacity(n);
    for j in 0..n {
        for &r in &del[j] {
            cur[r as usize / 64] &= !(1u64 << (r % 64));
        }
        for &r in &add[j] {
            cur[r as usize / 64] |= 1u64 << (r % 64);
        }
        offs.push(b.intern(&cur));
    }
    (starts, offs)
}

/// Address field: interval starts + row offsets, with a /16 index to narrow the search.
#[derive(Debug, Clone)]
struct AddrIndex {
    starts: Vec<u32>,
    offs: Vec<u32>,
    /// `block[b]` = index of the interval containing `b << 16`; 65,537 entries.
    block: Vec<u32>,
}

impl AddrIndex {
    fn build(ranges: &[(u64, u64)], b: &mut RowBuilder) -> Self {
        let (starts, offs) = sweep(ranges, u64::from(u32::MAX), b);
        let starts: Vec<u32> = starts.iter().map(|&s| s as u32).collect();
        let mut block = Vec::with_capacity(65537);
        for blk in 0..65536u64 {
            let x = (blk << 16) as u32;
            block.push((starts.partition_point(|&s| s <= x) - 1) as u32);
        }
        block.push((starts.len() - 1) as u32);
        AddrIndex {
            starts,
            offs,
            block,
        }
    }

    #[inline]
    fn row(&self, x: u32) -> usize {
        let blk = (x >> 16) as usize;
        let lo = self.block[blk] as usize;
        let hi = self.block[blk + 1] as usize;
        // interval index in [lo, hi]: last start <= x
        let slice = &self.starts[lo + 1..=hi];
        let k = lo + slice.partition_point(|&s| s <= x);
        self.offs[k] as usize
    }

    fn bytes(&self) -> usize {
        (self.starts.capacity() + self.offs.capacity() + self.block.capacity()) * 4
    }
}

/// Fast first-match classifier (aggregated bit vectors), see the module docs.
#[derive(Debug, Clone)]
pub struct FastClassifier {
    n: usize,
    w: usize,
    sw: usize,
    src: AddrIndex,
    dst: AddrIndex,
    src_rows: Field,
    dst_rows: Field,
    /// Row offset per port value (65,536 entries each).
    sport: Vec<u32>,
    dport: Vec<u32>,
    port_rows: Field,
    /// Row offset per protocol value (256 entries).
    proto: Vec<u32>,
    proto_rows: Field,
}

impl FastClassifier {
    /// Build from rules in priority order (index 0 = highest).
    pub fn new(rules: &[Rule5]) -> Self {
        let n = rules.len();
        let w = n.div_ceil(64).max(1);
        let sw = w.div_ceil(64);
        let mut sb = RowBuilder::new(w, sw);
        let sr: Vec<(u64, u64)> = rules
            .iter()
            .map(|r| {
                let (a, b) = r.src_range();
                (u64::from(a), u64::from(b))
            })
            .collect();
        let src = AddrIndex::build(&sr, &mut sb);
        let mut db = RowBuilder::new(w, sw);
        let dr: Vec<(u64, u64)> = rules
            .iter()
            .map(|r| {
                let (a, b) = r.dst_range();
                (u64::from(a), u64::from(b))
            })
            .collect();
        let dst = AddrIndex::build(&dr, &mut db);
        let mut pb = RowBuilder::new(w, sw);
        let expand = |ranges: Vec<(u64, u64)>, pb: &mut RowBuilder| -> Vec<u32> {
            let (starts, offs) = sweep(&ranges, 65535, pb);
            let mut table = Vec::with_capacity(65536);
            let mut k = 0usize;
            for v in 0..65536u64 {
                while k + 1 < starts.len() && starts[k + 1] <= v {
                    k += 1;
                }
                table.push(offs[k]);
            }
            table
        };
        let sport = expand(
            rules
                .iter()
                .map(|r| (u64::from(r.sport.0), u64::from(r.sport.1)))
                .collect(),
            &mut pb,
        );
        let dport = expand(
            rules
                .iter()
                .map(|r| (u64::from(r.dport.0), u64::from(r.dport.1)))
                .collect(),
            &mut pb,
        );
        let mut qb = RowBuilder::new(w, sw);
        let mut proto = Vec::with_capacity(256);
        let mut bits = vec![0u64; w];
        for v in 0..=255u8 {
            bits.iter_mut().for_each(|x| *x = 0);
            for (i, r) in rules.iter().enumerate() {
                if (v ^ r.proto) & r.proto_mask == 0 {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            proto.push(qb.intern(&bits));
        }
        FastClassifier {
            n,
            w,
            sw,
            src,
            dst,
            src_rows: sb.finish(),
            dst_rows: db.finish(),
            sport,
            dport,
            port_rows: pb.finish(),
            proto,
            proto_rows: qb.finish(),
        }
    }

    /// Index of the first (highest-priority) matching rule, if any.
    #[inline]
    pub fn classify(&self, h: &Header) -> Option<usize> {
        if self.n == 0 {
            return None;
        }
        let (w, sw) = (self.w, self.sw);
        let len = sw + w;
        let a = &self.src_rows.rows[self.src.row(h.src)..][..len];
        let b = &self.dst_rows.rows[self.dst.row(h.dst)..][..len];
        let c = &self.port_rows.rows[self.sport[h.sport as usize] as usize..][..len];
        let d = &self.port_rows.rows[self.dport[h.dport as usize] as usize..][..len];
        let e = &self.proto_rows.rows[self.proto[h.proto as usize] as usize..][..len];
        for s in 0..sw {
            let mut m = a[s] & b[s] & c[s] & d[s] & e[s];
            while m != 0 {
                let wi = s * 64 + m.trailing_zeros() as usize;
                let k = sw + wi;
                let x = a[k] & b[k] & c[k] & d[k] & e[k];
                if x != 0 {
                    return Some(wi * 64 + x.trailing_zeros() as usize);
                }
                m &= m - 1;
            }
        }
        None
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Heap bytes held by the structure.
    pub fn memory_bytes(&self) -> usize {
        self.src.bytes()
            + self.dst.bytes()
            + self.src_rows.bytes()
            + self.dst_rows.bytes()
            + self.port_rows.bytes()
            + self.proto_rows.bytes()
            + (self.sport.capacity() + self.dport.capacity() + self.proto.capacity()) * 4
    }
}

/// Deterministic splitmix64 generator (no external RNG dependency).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }
}

/// Generate `n` headers deterministically from `seed`: even indices are a random header
/// inside a random rule's box, odd indices are uniform over the whole header space.
pub fn generate_headers(rules: &[Rule5], n: usize, seed: u64) -> Vec<Header> {
    let mut g = SplitMix64(seed);
    (0..n)
        .map(|i| {
            if i % 2 == 0 && !rules.is_empty() {
                let r = &rules[g.range(0, rules.len() as u64 - 1) as usize];
                let (s0, s1) = r.src_range();
                let (d0, d1) = r.dst_range();
                Header {
                    src: g.range(u64::from(s0), u64::from(s1)) as u32,
                    dst: g.range(u64::from(d0), u64::from(d1)) as u32,
                    sport: g.range(u64::from(r.sport.0), u64::from(r.sport.1)) as u16,
                    dport: g.range(u64::from(r.dport.0), u64::from(r.dport.1)) as u16,
                    proto: (r.proto & r.proto_mask) | (g.next_u64() as u8 & !r.proto_mask),
                }
            } else {
                let x = g.next_u64();
                let y = g.next_u64();
                Header {
                    src: x as u32,
                    dst: (x >> 32) as u32,
                    sport: y as u16,
                    dport: (y >> 16) as u16,
                    proto: (y >> 32) as u8,
                }
            }
        })
        .collect()
}
