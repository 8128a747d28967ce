//! Reader for ClassBench filter files (as in `/work/shared/data/classbench`).
//!
//! One rule per line, highest priority first:
//! `@SRC/LEN  DST/LEN  SPORT_LO : SPORT_HI  DPORT_LO : DPORT_HI  PROTO/MASK  [FLAGS/MASK]`.
//! The TCP-flags field is read but ignored for matching (the classifiers are 5-tuple
//! only); a missing flags field means "any".

use crate::classifier::Rule5;
use crate::error::ParseError;
use std::net::Ipv4Addr;

fn hex_or_dec(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn prefix(s: &str) -> Option<(u32, u8)> {
    let (a, l) = s.split_once('/')?;
    let a: Ipv4Addr = a.parse().ok()?;
    let l: u8 = l.parse().ok()?;
    (l <= 32).then_some((u32::from(a), l))
}

/// Parse a ClassBench filter file. Blank lines are skipped; every other line must be a rule.
pub fn parse(text: &str) -> Result<Vec<Rule5>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let ln = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        let bad = |what: &str| {
            ParseError::new(
                ln,
                0,
                format!(
                    "expected {what} in ClassBench rule {:?}",
                    crate::truncate(t)
                ),
            )
        };
        if f.len() != 9 && f.len() != 10 {
            return Err(bad("9 or 10 whitespace-separated fields"));
        }
        let src = f[0]
            .strip_prefix('@')
            .and_then(prefix)
            .ok_or_else(|| bad("`@A.B.C.D/LEN` as the source"))?;
        let dst = prefix(f[1]).ok_or_else(|| bad("`A.B.C.D/LEN` as the destination"))?;
        let port = |lo: &str, colon: &str, hi: &str| -> Option<(u16, u16)> {
            if colon != ":" {
                return None;
            }
            let lo: u16 = lo.parse().ok()?;
            let hi: u16 = hi.parse().ok()?;
            (lo <= hi).then_some((lo, hi))
        };
        let sport = port(f[2], f[3], f[4]).ok_or_else(|| bad("`LO : HI` source ports"))?;
        let dport = port(f[5], f[6], f[7]).ok_or_else(|| bad("`LO : HI` destination ports"))?;
        let (p, m) = f[8]
            .split_once('/')
            .and_then(|(p, m)| Some((hex_or_dec(p)?, hex_or_dec(m)?)))
            .filter(|&(p, m)| p <= 255 && m <= 255)
            .ok_or_else(|| bad("`0xPP/0xMM` protocol"))?;
        if let Some(fl) = f.get(9) {
            fl.split_once('/')
                .and_then(|(a, b)| Some((hex_or_dec(a)?, hex_or_dec(b)?)))
                .ok_or_else(|| bad("`0xFFFF/0xFFFF` flags"))?;
        }
        out.push(Rule5 {
            src: src.0,
            src_len: src.1,
            dst: dst.0,
            dst_len: dst.1,
            sport,
            dport,
            proto: p as u8,
            proto_mask: m as u8,
        });
    }
    Ok(out)
}
