//! # pathproof-rulesets
//!
//! Reads real firewall rule sets (`iptables-save` output and `nft list ruleset` text),
//! parses packet lines, and tells which verdict netfilter would give each packet, which
//! rule (or chain policy) decided it, and the path taken through the chains.
//!
//! It also holds a fast first-match 5-tuple packet classifier ([`classifier`]) with a
//! ClassBench rule-file reader ([`classbench`]).
//!
//! See the crate README for the supported syntax and exact semantics.

#[cfg(feature = "capture")]
pub mod capture;
pub mod classbench;
pub mod classifier;
mod error;
pub mod flatten;
mod iptables;
mod model;
mod nft;
mod packet;
pub mod stream;

pub use error::ParseError;
pub use model::{
    CtState, DecidedBy, Decision, Family, Format, Hook, NatAction, NatKind, RejectWith, Ruleset,
    Step, TableFamily, TieChain, TieNote, Verdict, Via,
};
pub use packet::{parse_packet, Packet};

/// Parse a rule set, detecting the format: text whose first significant line starts with
/// `*` (a table header such as `*filter`) or `:`/`-A` is iptables-save output; text whose
/// first significant line starts with `table` (or is `flush ruleset`) is nft. Comment lines (`#`) and blank lines
/// are skipped for detection.
///
/// Returns every error found (at most one per bad line) if any.
pub fn parse_ruleset(text: &str) -> Result<Ruleset, Vec<ParseError>> {
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('*') || l.starts_with(':') || l.starts_with("-A") {
            return iptables::parse(text);
        }
        if l.starts_with("table") || l.starts_with("flush") {
            return nft::parse(text);
        }
        return Err(vec![ParseError::new(
            i + 1,
            1,
            format!(
                "cannot tell the format: expected `*filter` (iptables-save) or `table ...` (nft), got {:?}",
                truncate(l)
            ),
        )]);
    }
    Err(vec![ParseError::new(
        1,
        0,
        "empty rule set: expected iptables-save or nft text",
    )])
}

/// Parse iptables-save / ip6tables-save text explicitly.
pub fn parse_iptables_save(text: &str) -> Result<Ruleset, Vec<ParseError>> {
    iptables::parse(text)
}

/// Parse `nft list ruleset` text explicitly.
pub fn parse_nft(text: &str) -> Result<Ruleset, Vec<ParseError>> {
    nft::parse(text)
}

pub(crate) fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}
