//! Packet lines: `PROTO SRC[:PORT] -> DST[:PORT] [in IFACE] [out IFACE] [state S] [hook H]`.

use crate::error::ParseError;
use crate::model::{CtState, Hook};
use std::net::{IpAddr, Ipv6Addr};

/// A test packet. Build it with [`parse_packet`] or directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, ...).
    pub protocol: u8,
    /// Source address (its family is the packet's family).
    pub src: IpAddr,
    /// Destination address (same family as `src`).
    pub dst: IpAddr,
    /// Source port (tcp/udp and other port-carrying protocols only).
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// Input interface name, if any.
    pub in_iface: Option<String>,
    /// Output interface name, if any.
    pub out_iface: Option<String>,
    /// Conntrack state (default `New`).
    pub state: CtState,
    /// Hook the packet is delivered to (default `Input`).
    pub hook: Hook,
}

/// Protocols that carry 16-bit source/destination ports (tcp, udp, dccp, sctp, udplite).
pub(crate) fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 33 | 132 | 136)
}

/// Protocol names accepted by iptables `-p`, nft and packet lines.
pub(crate) fn proto_number(name: &str) -> Option<u8> {
    // The usual spellings first, without a lower-cased copy.
    match name {
        "tcp" => return Some(6),
        "udp" => return Some(17),
        "icmp" => return Some(1),
        _ => {}
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse::<u8>().ok();
    }
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "dccp" => 33,
        "udplite" => 136,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "igmp" => 2,
        _ => return n.parse::<u8>().ok(),
    })
}

struct Tok<'a> {
    text: &'a str,
    col: usize,
}

fn split_ws(line: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::with_capacity(8);
    if line.is_ascii() {
        // Columns are bytes.
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_whitespace() || b[i] == 0x0b {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !(b[i].is_ascii_whitespace() || b[i] == 0x0b) {
                i += 1;
            }
            out.push(Tok {
                text: &line[start..i],
                col: start + 1,
            });
        }
        return out;
    }
    let mut start: Option<(usize, usize)> = None; // (byte, col)
    for (col0, (b, ch)) in line.char_indices().enumerate() {
        if ch.is_whitespace() {
            if let Some((sb, sc)) = start.take() {
                out.push(Tok {
                    text: &line[sb..b],
                    col: sc,
                });
            }
        } else if start.is_none() {
            start = Some((b, col0 + 1));
        }
    }
    if let Some((sb, sc)) = start {
        out.push(Tok {
            text: &line[sb..],
            col: sc,
        });
    }
    out
}

/// The plainest IPv4 addresses (four decimal numbers 0-255 without leading zeros),
/// quickly; `None` for anything else, which the standard parser then reads (or
/// refuses). What this reads, the standard parser reads alike.
fn dotted_quad(s: &[u8]) -> Option<u32> {
    let (mut out, mut val, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &b in s {
        if b == b'.' {
            if digits == 0 || dots == 3 {
                return None;
            }
            out = out << 8 | val;
            (val, digits, dots) = (0, 0, dots + 1);
        } else if b.is_ascii_digit() {
            if digits > 0 && val == 0 {
                return None;
            }
            val = val * 10 + u32::from(b - b'0');
            digits += 1;
            if val > 255 {
                return None;
            }
        } else {
            return None;
        }
    }
    (digits > 0 && dots == 3).then_some(out << 8 | val)
}

fn parse_endpoint(t: &Tok<'_>) -> Result<(IpAddr, Option<u16>), ParseError> {
    let err = |m: String| ParseError::new(1, t.col, m);
    let s = t.text;
    let (addr, port): (IpAddr, Option<&str>) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(err(format!(
                "expected `]` closing the IPv6 address in {s:?}"
            )));
        };
        let a: Ipv6Addr = rest[..end]
            .parse()
            .map_err(|_| err(format!("expected an IPv6 address in brackets, got {s:?}")))?;
        let after = &rest[end + 1..];
        let port = if after.is_empty() {
            None
        } else if let Some(p) = after.strip_prefix(':') {
            Some(p)
        } else {
            return Err(err(format!("expected `:PORT` after `]`, got {after:?}")));
        };
        (IpAddr::V6(a), port)
    } else if s.bytes().filter(|&b| b == b':').count() > 1 {
        let a: Ipv6Addr = s.parse().map_err(|_| {
            err(format!(
                "expected an IPv6 address (use [ADDR]:PORT for a port), got {s:?}"
            ))
        })?;
        (IpAddr::V6(a), None)
    } else {
        let (a, p) = match s.bytes().position(|b| b == b':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let a: IpAddr = match dotted_quad(a.as_bytes()) {
            Some(n) => IpAddr::V4(n.into()),
            None => a
                .parse()
                .map_err(|_| err(format!("expected an IPv4 address, got {a:?}")))?,
        };
        (a, p)
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| err(format!("expected a port number 0-65535, got {p:?}")))?,
        ),
    };
    Ok((addr, port))
}

/// Parse one packet line.
///
/// Grammar: `PROTO SRC[:PORT] -> DST[:PORT] [in IFACE] [out IFACE] [state STATE] [hook HOOK]`
/// where PROTO is `tcp`, `udp`, `icmp`, `icmpv6` or a number 0-255, IPv6 endpoints are written
/// `[ADDR]:PORT` (or a bare IPv6 address without port), STATE is
/// `new|established|related|invalid|untracked` (default `new`) and HOOK is
/// `input|forward|output` (default `input`). The optional clauses may come in any order,
/// each at most once. Ports are only allowed for port-carrying protocols (tcp, udp, ...).
pub fn parse_packet(line: &str) -> Result<Packet, ParseError> {
    let toks = split_ws(line);
    let end_col = || line.chars().count() + 1;
    let at = |i: usize| toks.get(i).map_or_else(end_col, |t| t.col);
    let Some(pt) = toks.first() else {
        return Err(ParseError::new(
            1,
            1,
            "expected a protocol (tcp, udp, icmp, icmpv6 or a number), got an empty line",
        ));
    };
    let protocol = proto_number(pt.text).ok_or_else(|| {
        ParseError::new(
            1,
            pt.col,
            format!(
                "expected a protocol (tcp, udp, icmp, icmpv6 or a number 0-255), got {:?}",
                pt.text
            ),
        )
    })?;
    let Some(st) = toks.get(1) else {
        return Err(ParseError::new(1, at(1), "expected a source address"));
    };
    let (src, sport) = parse_endpoint(st)?;
    match toks.get(2) {
        Some(t) if t.text == "->" => {}
        Some(t) => {
            return Err(ParseError::new(
                1,
                t.col,
                format!("expected `->`, got {:?}", t.text),
            ))
        }
        None => return Err(ParseError::new(1, at(2), "expected `->`")),
    }
    let Some(dt) = toks.get(3) else {
        return Err(ParseError::new(1, at(3), "expected a destination address"));
    };
    let (dst, dport) = parse_endpoint(dt)?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(ParseError::new(
            1,
            dt.col,
            "source and destination addresses must be of the same family",
        ));
    }
    if (sport.is_some() || dport.is_some()) && !has_ports(protocol) {
        let col = if sport.is_some() { st.col } else { dt.col };
        return Err(ParseError::new(
            1,
            col,
            format!(
                "ports are only allowed for tcp, udp, sctp, dccp or udplite, not {:?}",
                pt.text
            ),
        ));
    }
    let mut pkt = Packet {
        protocol,
        src,
        dst,
        sport,
        dport,
        in_iface: None,
        out_iface: None,
        state: CtState::New,
        hook: Hook::Input,
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut i = 4;
    while i < toks.len() {
        let kw = &toks[i];
        let Some(val) = toks.get(i + 1) else {
            return Err(ParseError::new(
                1,
                end_col(),
                format!("expected a value after {:?}", kw.text),
            ));
        };
        if seen.contains(&kw.text) {
            return Err(ParseError::new(
                1,
                kw.col,
                format!("{:?} given twice", kw.text),
            ));
        }
        match kw.text {
            "in" => pkt.in_iface = Some(val.text.to_string()),
            "out" => pkt.out_iface = Some(val.text.to_string()),
            "state" => {
                pkt.state = CtState::from_name(val.text).ok_or_else(|| {
                    ParseError::new(
                        1,
                        val.col,
                        format!(
                            "expected a state (new, established, related, invalid, untracked), got {:?}",
                            val.text
                        ),
                    )
                })?
            }
            "hook" => {
                pkt.hook = match val.text {
                    "input" => Hook::Input,
                    "forward" => Hook::Forward,
                    "output" => Hook::Output,
                    other => {
                        return Err(ParseError::new(
                            1,
                            val.col,
                            format!("expected a hook (input, forward, output), got {other:?}"),
                        ))
                    }
                }
            }
            other => {
                return Err(ParseError::new(
                    1,
                    kw.col,
                    format!("expected `in`, `out`, `state` or `hook`, got {other:?}"),
                ))
            }
        }
        seen.push(kw.text);
        i += 2;
    }
    Ok(pkt)
}

/// Port number or a well-known service name (as /etc/services spells it).
pub(crate) fn port_number(s: &str) -> Option<u16> {
    if let Ok(n) = s.parse::<u16>() {
        return Some(n);
    }
    Some(match s.to_ascii_lowercase().as_str() {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "http" => 80,
        "kerberos" => 88,
        "pop3" => 110,
        "sunrpc" => 111,
        "ntp" => 123,
        "imap" | "imap2" => 143,
        "snmp" => 161,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" => 445,
        "submission" => 587,
        "ldaps" => 636,
        "imaps" => 993,
        "pop3s" => 995,
        "mysql" => 3306,
        "postgresql" => 5432,
        _ => return None,
    })
}

impl std::fmt::Display for Packet {
    /// The packet as a packet line (`parse_packet` reads it back): every clause
    /// written, `state` and `hook` included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = match self.protocol {
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            1 => "icmp".to_string(),
            58 => "icmpv6".to_string(),
            132 => "sctp".to_string(),
            33 => "dccp".to_string(),
            136 => "udplite".to_string(),
            p => p.to_string(),
        };
        let end = |a: IpAddr, p: Option<u16>| match (a, p) {
            (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        };
        write!(
            f,
            "{proto} {} -> {}",
            end(self.src, self.sport),
            end(self.dst, self.dport)
        )?;
        if let Some(i) = &self.in_iface {
            write!(f, " in {i}")?;
        }
        if let Some(o) = &self.out_iface {
            write!(f, " out {o}")?;
        }
        let state = match self.state {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid => "invalid",
            CtState::Untracked => "untracked",
        };
        write!(f, " state {state} hook {}", self.hook.name())
    }
}

#[cfg(test)]
mod tests {
    use super::dotted_quad;
    use std::net::Ipv4Addr;

    /// What the quick reader reads, the standard parser reads alike.
    #[test]
    fn dotted_quad_agrees_with_the_standard_parser() {
        let parts = [
            "0", "1", "00", "01", "9", "10", "99", "100", "255", "256", "999", "0255", "", "a",
            "+1",
        ];
        let mut n = 0;
        for a in parts {
            for b in parts {
                for c in ["0", "255", "01", ""] {
                    for d in parts {
                        for s in [
                            format!("{a}.{b}.{c}.{d}"),
                            format!("{a}.{b}.{c}"),
                            format!("{a}.{b}.{c}.{d}.1"),
                        ] {
                            if let Some(x) = dotted_quad(s.as_bytes()) {
                                assert_eq!(Some(Ipv4Addr::from(x)), s.parse().ok(), "{s}");
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(n > 500, "{n}");
    }
}
