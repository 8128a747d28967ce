//! The format-independent rule-set model (tables, chains, rules, match conditions)
//! and its evaluator, which follows netfilter's traversal semantics.

use crate::classifier::{FastClassifier, Header, Rule5};
use crate::packet::Packet;
use std::fmt;
use std::net::IpAddr;

/// Address family of a packet or of an address match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Netfilter hooks. Packet lines only use `Input`, `Forward` and `Output`;
/// nft base chains may also sit on `Prerouting` / `Postrouting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// NF_INET_PRE_ROUTING.
    Prerouting,
    /// NF_INET_LOCAL_IN.
    Input,
    /// NF_INET_FORWARD.
    Forward,
    /// NF_INET_LOCAL_OUT.
    Output,
    /// NF_INET_POST_ROUTING.
    Postrouting,
}

impl Hook {
    /// Lower-case name as used by nft (`input`, `forward`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }

    /// The hooks a packet of this kind traverses, in order
    /// (`input`: prerouting, input; `forward`: prerouting, forward, postrouting;
    /// `output`: output, postrouting).
    pub fn traversal(self) -> &'static [Hook] {
        match self {
            Hook::Prerouting => &[Hook::Prerouting],
            Hook::Input => &[Hook::Prerouting, Hook::Input],
            Hook::Forward => &[Hook::Prerouting, Hook::Forward, Hook::Postrouting],
            Hook::Output => &[Hook::Output, Hook::Postrouting],
            Hook::Postrouting => &[Hook::Postrouting],
        }
    }

    fn has_indev(self) -> bool {
        matches!(self, Hook::Prerouting | Hook::Input | Hook::Forward)
    }

    fn has_outdev(self) -> bool {
        matches!(self, Hook::Forward | Hook::Output | Hook::Postrouting)
    }
}

/// Conntrack state of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtState {
    /// First packet of a connection.
    New,
    /// Part of an established connection.
    Established,
    /// Related to an existing connection (e.g. ICMP error, FTP data).
    Related,
    /// Could not be tracked.
    Invalid,
    /// Exempted from tracking (raw table NOTRACK / `notrack`).
    Untracked,
}

impl CtState {
    /// The state's bit as the kernel's `ct state` tests it (new 1, established 2,
    /// related 4, invalid 8, untracked 16 here; the flattened boxes use these).
    pub fn bit(self) -> u8 {
        match self {
            CtState::New => 1,
            CtState::Established => 2,
            CtState::Related => 4,
            CtState::Invalid => 8,
            CtState::Untracked => 16,
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<CtState> {
        match s.to_ascii_lowercase().as_str() {
            "new" => Some(CtState::New),
            "established" => Some(CtState::Established),
            "related" => Some(CtState::Related),
            "invalid" => Some(CtState::Invalid),
            "untracked" => Some(CtState::Untracked),
            _ => None,
        }
    }
}

/// Final verdict for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Packet passes.
    Accept,
    /// Packet silently discarded.
    Drop,
    /// Packet discarded with an error sent back (REJECT / `reject`).
    Reject,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
        })
    }
}

/// Which input format a rule set was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `iptables-save` / `ip6tables-save` output (filter table).
    IptablesSave,
    /// `nft list ruleset` output (optionally with `-a` handles).
    Nft,
}

/// nft table family (iptables-save tables are `Ip` or `Ip6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFamily {
    /// Sees IPv4 packets only.
    Ip,
    /// Sees IPv6 packets only.
    Ip6,
    /// Sees both.
    Inet,
}

impl TableFamily {
    pub(crate) fn sees(self, f: Family) -> bool {
        matches!(
            (self, f),
            (TableFamily::Inet, _) | (TableFamily::Ip, Family::V4) | (TableFamily::Ip6, Family::V6)
        )
    }
}

/// Inclusive address range of one family (IPv4 addresses are stored in the low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddrRange {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
}

pub(crate) fn addr_key(a: IpAddr) -> (Family, u128) {
    match a {
        IpAddr::V4(v) => (Family::V4, u32::from(v) as u128),
        IpAddr::V6(v) => (Family::V6, u128::from(v)),
    }
}

impl AddrRange {
    pub fn single(a: IpAddr) -> Self {
        let (family, k) = addr_key(a);
        AddrRange {
            family,
            lo: k,
            hi: k,
        }
    }

    /// Prefix `a/len`; host bits are ignored (as the kernel masks them).
    pub fn prefix(a: IpAddr, len: u8) -> Option<Self> {
        let (family, k) = addr_key(a);
        let bits: u32 = if family == Family::V4 { 32 } else { 128 };
        if u32::from(len) > bits {
            return None;
        }
        let host = bits - u32::from(len);
        let hostmask: u128 = if host == 0 {
            0
        } else if host == 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        Some(AddrRange {
            family,
            lo: k & !hostmask,
            hi: (k & !hostmask) | hostmask,
        })
    }

    pub fn range(a: IpAddr, b: IpAddr) -> Option<Self> {
        let (fa, ka) = addr_key(a);
        let (fb, kb) = addr_key(b);
        if fa != fb || ka > kb {
            return None;
        }
        Some(AddrRange {
            family: fa,
            lo: ka,
            hi: kb,
        })
    }

    pub(crate) fn contains(&self, f: Family, k: u128) -> bool {
        self.family == f && self.lo <= k && k <= self.hi
    }
}

/// Interface name pattern: exact, or prefix (`eth+` in iptables, `"eth*"` in nft).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IfPat {
    pub name: String,
    pub prefix: bool,
}

impl IfPat {
    pub fn parse_iptables(s: &str) -> IfPat {
        match s.strip_suffix('+') {
            Some(p) => IfPat {
                name: p.to_string(),
                prefix: true,
            },
            None => IfPat {
                name: s.to_string(),
                prefix: false,
            },
        }
    }

    pub fn parse_nft(s: &str) -> IfPat {
        match s.strip_suffix('*') {
            Some(p) if !p.ends_with('\\') => IfPat {
                name: p.to_string(),
                prefix: true,
            },
            _ => IfPat {
                name: s.replace("\\*", "*"),
                prefix: false,
            },
        }
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        if self.prefix {
            name.starts_with(&self.name)
        } else {
            name == self.name
        }
    }
}

/// One match condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    /// Packet family must be this one (nft `ip`/`ip6` payload dependency, `meta nfproto`).
    Family(Family),
    /// Source (`dst == false`) or destination address in one of the ranges.
    /// A packet of another family never matches, negated or not.
    Addr {
        dst: bool,
        neg: bool,
        family: Family,
        set: Vec<AddrRange>,
    },
    /// Layer-4 protocol number in the list.
    Proto { neg: bool, protos: Vec<u8> },
    /// Port in one of the ranges. `l4`: protocol the packet must have first
    /// (nft `tcp dport` dependency; not negated). A packet without that port never matches.
    Port {
        sel: PortSel,
        neg: bool,
        l4: Option<u8>,
        ranges: Vec<(u16, u16)>,
    },
    /// Interface name. When the hook has no such device (no output device at
    /// prerouting/input, no input device at output/postrouting) the name is empty, as in
    /// the kernel (iptables compares against an empty name; nft's meta stores `""`).
    Iface {
        out: bool,
        neg: bool,
        pats: Vec<IfPat>,
    },
    /// Conntrack state in the mask (a bitmask test: any of the states; negated, none).
    Ct { neg: bool, mask: u8 },
    /// Conntrack state equal to one of the values (nft's `ct state a | b`, `!= a | b`,
    /// `{ a, b }`): a packet's state is one state, so a value of several never matches.
    CtValues { neg: bool, values: Vec<u8> },
}

/// Which port a port condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortSel {
    Src,
    Dst,
    /// multiport `--ports`: source or destination.
    Either,
}

/// What a rule does when all its conditions hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Accept,
    Drop,
    Reject(RejectWith),
    Return,
    Jump(usize),
    Goto(usize),
    /// An address translation (only in nat chains: `dnat`, `snat`,
    /// `masquerade`, `redirect`; iptables' `-j DNAT` and friends).
    Nat(NatAction),
}

/// What a reject answers with: the ICMP (ICMPv6) type, or a TCP reset.
/// iptables' `--reject-with icmp-X` and `icmp6-X`, nft's `with icmp|icmpv6|icmpx type X`
/// and `with tcp reset` all map here; the default is `PortUnreachable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RejectWith {
    /// ICMP port unreachable (the default of iptables and nft).
    #[default]
    PortUnreachable,
    /// A TCP reset.
    TcpReset,
    /// ICMP "communication administratively prohibited" (code 13; ICMPv6 code 1).
    AdminProhibited,
    /// ICMP host prohibited (code 10).
    HostProhibited,
    /// ICMP net prohibited (code 9).
    NetProhibited,
    /// ICMP host unreachable (code 1).
    HostUnreachable,
    /// ICMP net unreachable (code 0).
    NetUnreachable,
    /// ICMP protocol unreachable (code 2).
    ProtoUnreachable,
    /// ICMPv6 no route to destination (code 0).
    NoRoute,
    /// ICMPv6 address unreachable (code 3).
    AddrUnreachable,
    /// ICMPv6 source address failed ingress/egress policy (code 5).
    PolicyFail,
    /// ICMPv6 reject route to destination (code 6).
    RejectRoute,
}

impl RejectWith {
    /// The name nft gives it (`port-unreachable`, `tcp reset`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RejectWith::PortUnreachable => "port-unreachable",
            RejectWith::TcpReset => "tcp reset",
            RejectWith::AdminProhibited => "admin-prohibited",
            RejectWith::HostProhibited => "host-prohibited",
            RejectWith::NetProhibited => "net-prohibited",
            RejectWith::HostUnreachable => "host-unreachable",
            RejectWith::NetUnreachable => "net-unreachable",
            RejectWith::ProtoUnreachable => "prot-unreachable",
            RejectWith::NoRoute => "no-route",
            RejectWith::AddrUnreachable => "addr-unreachable",
            RejectWith::PolicyFail => "policy-fail",
            RejectWith::RejectRoute => "reject-route",
        }
    }

    /// An nft reject type (`with icmp|icmpv6|icmpx type NAME`).
    pub(crate) fn from_nft(name: &str) -> Option<RejectWith> {
        Some(match name {
            "port-unreachable" => RejectWith::PortUnreachable,
            "admin-prohibited" => RejectWith::AdminProhibited,
            "host-prohibited" => RejectWith::HostProhibited,
            "net-prohibited" => RejectWith::NetProhibited,
            "host-unreachable" => RejectWith::HostUnreachable,
            "net-unreachable" => RejectWith::NetUnreachable,
            "prot-unreachable" => RejectWith::ProtoUnreachable,
            "no-route" => RejectWith::NoRoute,
            "addr-unreachable" => RejectWith::AddrUnreachable,
            "policy-fail" => RejectWith::PolicyFail,
            "reject-route" => RejectWith::RejectRoute,
            _ => return None,
        })
    }

    /// An iptables `--reject-with` value (with its short aliases).
    pub(crate) fn from_iptables(name: &str) -> Option<RejectWith> {
        Some(match name {
            "icmp-port-unreachable" | "port-unreach" | "icmp6-port-unreachable" => {
                RejectWith::PortUnreachable
            }
            "tcp-reset" => RejectWith::TcpReset,
            "icmp-admin-prohibited"
            | "admin-prohib"
            | "icmp6-adm-prohibited"
            | "adm-prohibited" => RejectWith::AdminProhibited,
            "icmp-host-prohibited" | "host-prohib" => RejectWith::HostProhibited,
            "icmp-net-prohibited" | "net-prohib" => RejectWith::NetProhibited,
            "icmp-host-unreachable" | "host-unreach" => RejectWith::HostUnreachable,
            "icmp-net-unreachable" | "net-unreach" => RejectWith::NetUnreachable,
            "icmp-proto-unreachable" | "proto-unreach" => RejectWith::ProtoUnreachable,
            "icmp6-no-route" | "no-route" => RejectWith::NoRoute,
            "icmp6-addr-unreachable" | "addr-unreach" => RejectWith::AddrUnreachable,
            "icmp6-policy-fail" | "policy-fail" => RejectWith::PolicyFail,
            "icmp6-reject-route" | "reject-route" => RejectWith::RejectRoute,
            _ => return None,
        })
    }
}

/// Which address a translation rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatKind {
    /// `dnat to A[:P]`, `-j DNAT --to-destination A[:P]`.
    Dnat,
    /// `snat to A`, `-j SNAT --to-source A`.
    Snat,
    /// `masquerade`, `-j MASQUERADE`: the outgoing interface's address.
    Masquerade,
    /// `redirect [to :P]`, `-j REDIRECT [--to-ports P]`: the incoming interface's address.
    Redirect,
}

/// An address translation statement, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NatAction {
    pub kind: NatKind,
    /// The addresses given (`A` or `A-B`), if any.
    pub addr: Option<(IpAddr, IpAddr)>,
    /// The ports given (`:P` or `:P-Q`), if any.
    pub ports: Option<(u16, u16)>,
    /// Flags: `random`, `fully-random`, `persistent`.
    pub flags: Vec<String>,
}

/// Items of a rule, evaluated in order (nft statements may interleave with matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    Cond(Cond),
    Log,
    Counter,
    Verdict(Action),
    /// A verdict-map lookup (`KEY vmap { ... }` / `KEY vmap @name`): the map (an index
    /// into [`Ruleset::maps`]) and the key expression, one selector per component.
    Vmap {
        map: usize,
        keys: Vec<KeySel>,
    },
}

/// What one component of a verdict map's key reads from the packet. Each
/// carries nft's implicit dependency: an address needs its family, `ip
/// protocol` IPv4 and `ip6 nexthdr` IPv6, `tcp`/`udp dport` that protocol; a
/// packet failing it (or without the port) does not match the rule, whatever
/// the map holds (even a catch-all `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySel {
    Addr { dst: bool, family: Family },
    Proto { family: Option<Family> },
    Port { dst: bool, l4: Option<u8> },
    Iface { out: bool },
    Ct,
    NfProto,
}

/// One component of a verdict-map element's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyVal {
    Addr(AddrRange),
    Proto(u8),
    Port(u16, u16),
    Iface(IfPat),
    /// A conntrack state value, matched exactly (as the kernel's lookup does:
    /// `established | related` is one value no packet has).
    Ct(u8),
    NfProto(Family),
}

/// An element of a verdict map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapElem {
    /// One value per key component; `None` is the catch-all `*`.
    pub key: Option<Vec<KeyVal>>,
    /// `None` is `continue`: the rest of the rule runs.
    pub verdict: Option<Action>,
    /// Line of the element.
    pub line: usize,
    /// The element as written, normalised: `443 : drop`.
    pub text: String,
}

/// A verdict map: named (`map NAME { type ... : verdict; ... }`) or anonymous. The key
/// expression belongs to each lookup ([`Item::Vmap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vmap {
    pub name: Option<String>,
    pub elems: Vec<MapElem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub line: usize,
    pub text: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseInfo {
    pub hook: Hook,
    pub priority: i32,
    pub policy: Verdict,
    /// A nat chain (`type nat`, iptables' nat table): it translates the first packet
    /// of a connection and never decides a verdict; `filter` skips it.
    pub nat: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    pub name: String,
    pub table: usize,
    pub line: usize,
    pub base: Option<BaseInfo>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub name: String,
    pub family: TableFamily,
}

/// A parsed rule set, ready to evaluate packets.
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub(crate) format: Format,
    pub(crate) tables: Vec<Table>,
    pub(crate) chains: Vec<Chain>,
    /// Verdict maps, named and anonymous ([`Item::Vmap`] indexes them).
    pub(crate) maps: Vec<Vmap>,
    pub(crate) notes: Vec<String>,
    /// What the rule set holds that is read but not evaluated at all (tables and hooks
    /// other than those of filter, route and nat chains), as (line, what): a
    /// scenario refuses a rule set with any (see `flatten`).
    pub(crate) unmodelled: Vec<(usize, String)>,
    /// Per chain: a [`FastClassifier`] over its rules when the chain is long and uses only
    /// 5-tuple matches (see [`accel_for`]).
    accel: Vec<Option<Accel>>,
    /// Per hook (in [`Hook`]'s order) and family (V4, V6): the base chains that see the
    /// packet there, in the order they run.
    bases: Vec<Vec<usize>>,
}

/// Chains with at least this many rules get a [`FastClassifier`] ...
pub(crate) const ACCEL_MIN_RULES: usize = 256;
/// ... at most this many of them (the longest; each costs about 1.3 MB of fixed tables
/// plus its bit vectors).
pub(crate) const ACCEL_MAX_CHAINS: usize = 32;

#[derive(Clone)]
struct Accel(FastClassifier);

impl fmt::Debug for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FastClassifier({} rules)", self.0.len())
    }
}

/// Inclusive IPv4 range → prefix, if it is one.
fn as_prefix(r: &AddrRange) -> Option<(u32, u8)> {
    if r.family != Family::V4 || r.hi > u128::from(u32::MAX) || r.lo > r.hi {
        return None;
    }
    let size = (r.hi - r.lo) as u64 + 1;
    if !size.is_power_of_two() || (r.lo as u64) & (size - 1) != 0 {
        return None;
    }
    Some((r.lo as u32, 32 - size.trailing_zeros() as u8))
}

/// The 5-tuple box of a rule, if all its conditions are positive single 5-tuple matches
/// on IPv4 and every statement (LOG/counter) comes after all conditions (so skipping a
/// non-matching rule skips no side effect).
fn rule5_of(rule: &Rule) -> Option<Rule5> {
    let mut r = Rule5 {
        src: 0,
        src_len: 0,
        dst: 0,
        dst_len: 0,
        sport: (0, 65535),
        dport: (0, 65535),
        proto: 0,
        proto_mask: 0,
    };
    let (mut s, mut d, mut sp, mut dp, mut pr) = (false, false, false, false, false);
    let mut stmt_seen = false;
    fn set_proto(r: &mut Rule5, pr: &mut bool, p: u8) -> Option<()> {
        if *pr && r.proto != p {
            return None;
        }
        *pr = true;
        r.proto = p;
        r.proto_mask = 0xFF;
        Some(())
    }
    for item in &rule.items {
        match item {
            Item::Cond(c) => {
                if stmt_seen {
                    return None;
                }
                match c {
                    Cond::Family(Family::V4) => {}
                    Cond::Addr {
                        dst,
                        neg: false,
                        family: Family::V4,
                        set,
                    } if set.len() == 1 => {
                        let (a, l) = as_prefix(&set[0])?;
                        let seen = if *dst { &mut d } else { &mut s };
                        if *seen {
                            return None;
                        }
                        *seen = true;
                        if *dst {
                            (r.dst, r.dst_len) = (a, l);
                        } else {
                            (r.src, r.src_len) = (a, l);
                        }
                    }
                    Cond::Proto { neg: false, protos } if protos.len() == 1 => {
                        if pr {
                            return None;
                        }
                        set_proto(&mut r, &mut pr, protos[0])?;
                    }
                    Cond::Port {
                        sel: sel @ (PortSel::Src | PortSel::Dst),
                        neg: false,
                        l4,
                        ranges,
                    } if ranges.len() == 1 => {
                        let src = *sel == PortSel::Src;
                        let seen = if src { &mut sp } else { &mut dp };
                        if *seen {
                            return None;
                        }
                        *seen = true;
                        if src {
                            r.sport = ranges[0];
                        } else {
                            r.dport = ranges[0];
                        }
                        if let Some(p) = l4 {
                            set_proto(&mut r, &mut pr, *p)?;
                        }
                    }
                    _ => return None,
                }
            }
            Item::Log | Item::Counter => stmt_seen = true,
            Item::Verdict(_) => {}
            Item::Vmap { .. } => return None,
        }
    }
    Some(r)
}

/// A [`FastClassifier`] for the chain if it is long and 5-tuple only.
fn accel_for(chain: &Chain) -> Option<Accel> {
    if chain.rules.len() < ACCEL_MIN_RULES {
        return None;
    }
    let rules: Option<Vec<Rule5>> = chain.rules.iter().map(rule5_of).collect();
    rules.map(|r| Accel(FastClassifier::new(&r)))
}

/// Why the final verdict was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecidedBy {
    /// A rule with a terminal verdict (line in the rule-set file, text as in the file).
    Rule {
        /// 1-based line in the rule-set text.
        line: usize,
        /// The rule exactly as written (trimmed).
        text: String,
    },
    /// The policy of a base chain (no rule decided).
    Policy {
        /// Table name (`filter` for iptables-save).
        table: String,
        /// Chain name.
        chain: String,
        /// Line of the chain declaration.
        line: usize,
    },
    /// An element of a verdict map decided (`443 : drop` in `tcp dport vmap { ... }`).
    MapElement {
        /// Line of the rule holding the lookup.
        line: usize,
        /// The rule exactly as written (trimmed).
        text: String,
        /// The map's name; `None` for an anonymous map (written in the rule).
        map: Option<String>,
        /// Line of the element (in the map's declaration for a named map).
        element_line: usize,
        /// The element, `KEY : VERDICT` (`443 : drop`, `10.0.0.0/8 . 22 : accept`, `* : drop`).
        element: String,
    },
    /// No base chain saw the packet: netfilter accepts it.
    NoBaseChain,
}

impl DecidedBy {
    /// `line L: TEXT`, `line L: policy of chain C (table T)`, or `no base chain on the
    /// packet's hooks`; a map element adds itself: `` (element `443 : drop`, line 6 of map
    /// ports)``.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = self.write_render(&mut s);
        s
    }

    /// [`DecidedBy::render`], written to `w`.
    pub fn write_render<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        match self {
            DecidedBy::Rule { line, text } => write!(w, "line {line}: {text}"),
            DecidedBy::MapElement {
                line,
                text,
                map,
                element_line,
                element,
            } => {
                write!(w, "line {line}: {text} (element `{element}`")?;
                match map {
                    Some(m) => write!(w, ", line {element_line} of map {m}")?,
                    None if element_line != line => write!(w, ", line {element_line}")?,
                    None => {}
                }
                w.write_str(")")
            }
            DecidedBy::Policy { table, chain, line } => {
                write!(w, "line {line}: policy of chain {chain} (table {table})")
            }
            DecidedBy::NoBaseChain => w.write_str("no base chain on the packet's hooks"),
        }
    }
}

/// A base chain in a [`TieNote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TieChain {
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Line of the chain declaration.
    pub line: usize,
}

/// The verdict depends on the order of base chains of equal priority on one hook in
/// different tables, which a dump does not fix (see the crate README): the decision
/// follows the order of an `nft -f` load of the text (the chain listed later runs
/// first); registered in another order, the verdict would be `alternative`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TieNote {
    /// The hook.
    pub hook: Hook,
    /// The priority the chains share.
    pub priority: i32,
    /// Every base chain on that hook and priority that sees the packet, in the order
    /// evaluated.
    pub chains: Vec<TieChain>,
    /// The verdict in another registration order.
    pub alternative: Verdict,
    /// What would decide it then.
    pub alternative_by: DecidedBy,
}

/// How a chain was entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Base chain attached to the hook.
    Hook(Hook),
    /// `-j CHAIN` / `jump CHAIN` at this line.
    Jump(usize),
    /// `-g CHAIN` / `goto CHAIN` at this line.
    Goto(usize),
}

/// One step of the path a packet took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Entered a chain.
    Enter {
        /// Table name.
        table: String,
        /// Chain name.
        chain: String,
        /// Line of the chain declaration.
        line: usize,
        /// How it was entered.
        via: Via,
    },
    /// A non-terminating LOG / `log` statement fired at this line.
    Log {
        /// Line of the rule.
        line: usize,
    },
    /// A `counter` statement was hit (nft), or an iptables rule without target matched.
    Counter {
        /// Line of the rule.
        line: usize,
    },
    /// An element of a verdict map matched the packet's key (it decides, jumps, goes to,
    /// returns or continues as the element says).
    MapElement {
        /// Line of the rule holding the lookup.
        line: usize,
        /// The map's name; `None` for an anonymous map.
        map: Option<String>,
        /// Line of the element.
        element_line: usize,
        /// The element, `KEY : VERDICT`.
        element: String,
        /// The packet's key (`22`, `10.0.0.1 . 22`).
        key: String,
    },
    /// Left a chain to its caller, by a RETURN rule (`line: Some`) or by falling off its end.
    Return {
        /// Chain left.
        chain: String,
        /// Line of the RETURN / `return` rule, if any.
        line: Option<usize>,
    },
    /// A base chain accepted the packet (by rule or policy); evaluation continues
    /// with the next base chain / hook.
    Accepted {
        /// Table name.
        table: String,
        /// Base chain name.
        chain: String,
    },
}

/// The result of evaluating one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Final verdict.
    pub verdict: Verdict,
    /// What decided it. For an accept that went through several base chains (each of
    /// which accepted), the last accepting *rule* if any, else the last accepting policy.
    pub decided_by: DecidedBy,
    /// Chains traversed, jumps, returns, LOG/counter hits, map elements, in order.
    pub path: Vec<Step>,
    /// Set when the verdict depends on the order of base chains of equal priority in
    /// different tables (see [`TieNote`]).
    pub tie: Option<TieNote>,
}

impl Decision {
    /// One-line human summary, e.g. `accept  line 12: -A INPUT -p tcp --dport 22 -j ACCEPT`.
    pub fn render_line(&self) -> String {
        let mut s = String::new();
        let _ = self.write_line(&mut s);
        s
    }

    /// [`Decision::render_line`], written to `w`.
    pub fn write_line<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        let v = match self.verdict {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop  ",
            Verdict::Reject => "reject",
        };
        w.write_str(v)?;
        w.write_str("  ")?;
        self.decided_by.write_render(w)
    }

    /// The tie note in words, when there is one: which chains share the priority, and
    /// the verdict in the other order.
    pub fn render_tie(&self) -> Option<String> {
        let t = self.tie.as_ref()?;
        let chains: Vec<String> = t
            .chains
            .iter()
            .map(|c| format!("{} (table {}, line {})", c.chain, c.table, c.line))
            .collect();
        Some(format!(
            "tie: base chains {} share hook {} priority {}; evaluated in the order nft -f gives them (the chain listed later first); registered in another order: {} {}",
            chains.join(", "),
            t.hook.name(),
            t.priority,
            t.alternative,
            t.alternative_by.render()
        ))
    }
}

struct Ctx<'a> {
    pkt: &'a Packet,
    fam: Family,
    src: u128,
    dst: u128,
    hook: Hook,
    header: Option<Header>,
    /// `header` has the packet's own ports: an accelerated chain's classifier gives its
    /// first matching rule, not a lower bound.
    exact: bool,
    /// Record the path (false: the path stays empty).
    record: bool,
}

fn eval_cond(c: &Cond, x: &Ctx<'_>) -> bool {
    match c {
        Cond::Family(f) => *f == x.fam,
        Cond::Addr {
            dst,
            neg,
            family,
            set,
        } => {
            if *family != x.fam {
                return false;
            }
            let k = if *dst { x.dst } else { x.src };
            set.iter().any(|r| r.contains(x.fam, k)) != *neg
        }
        Cond::Proto { neg, protos } => protos.contains(&x.pkt.protocol) != *neg,
        Cond::Port {
            sel,
            neg,
            l4,
            ranges,
        } => {
            if let Some(p) = l4 {
                if x.pkt.protocol != *p {
                    return false;
                }
            }
            let inr = |p: u16| ranges.iter().any(|&(a, b)| a <= p && p <= b);
            let hit = match sel {
                PortSel::Src => x.pkt.sport.map(inr),
                PortSel::Dst => x.pkt.dport.map(inr),
                PortSel::Either => match (x.pkt.sport, x.pkt.dport) {
                    (Some(s), Some(d)) => Some(inr(s) || inr(d)),
                    _ => None,
                },
            };
            match hit {
                None => false,
                Some(h) => h != *neg,
            }
        }
        Cond::Iface { out, neg, pats } => {
            let name = iface_name(x, *out);
            pats.iter().any(|p| p.matches(name)) != *neg
        }
        Cond::Ct { neg, mask } => (mask & x.pkt.state.bit() != 0) != *neg,
        Cond::CtValues { neg, values } => values.contains(&x.pkt.state.bit()) != *neg,
    }
}

/// The interface name a match sees: empty where the hook has no such device. At
/// postrouting a forwarded packet still has the device it came in on (the kernel's
/// `ip_output` and `ip6_output` pass `skb->dev` as the hook's input device); a local
/// packet has none.
fn iface_name<'a>(x: &Ctx<'a>, out: bool) -> &'a str {
    let exists = if out {
        x.hook.has_outdev()
    } else {
        x.hook.has_indev() || x.hook == Hook::Postrouting && x.pkt.hook == Hook::Forward
    };
    if !exists {
        ""
    } else if out {
        x.pkt.out_iface.as_deref().unwrap_or("")
    } else {
        x.pkt.in_iface.as_deref().unwrap_or("")
    }
}

/// The packet's value for one key component.
#[derive(Debug, Clone, Copy)]
enum PktVal<'a> {
    Addr(Family, u128),
    Proto(u8),
    Port(u16),
    Iface(&'a str),
    Ct(CtState),
    NfProto(Family),
}

impl fmt::Display for PktVal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PktVal::Addr(Family::V4, k) => write!(f, "{}", std::net::Ipv4Addr::from(k as u32)),
            PktVal::Addr(Family::V6, k) => write!(f, "{}", std::net::Ipv6Addr::from(k)),
            PktVal::Proto(p) => match p {
                6 => f.write_str("tcp"),
                17 => f.write_str("udp"),
                1 => f.write_str("icmp"),
                58 => f.write_str("ipv6-icmp"),
                _ => write!(f, "{p}"),
            },
            PktVal::Port(p) => write!(f, "{p}"),
            PktVal::Iface(n) => write!(f, "\"{n}\""),
            PktVal::Ct(s) => f.write_str(match s {
                CtState::New => "new",
                CtState::Established => "established",
                CtState::Related => "related",
                CtState::Invalid => "invalid",
                CtState::Untracked => "untracked",
            }),
            PktVal::NfProto(Family::V4) => f.write_str("ipv4"),
            PktVal::NfProto(Family::V6) => f.write_str("ipv6"),
        }
    }
}

/// The packet's value for a key component, or `None` when the component's implicit
/// dependency fails (wrong family or protocol, no such port): then the rule does not
/// match.
fn key_value<'a>(k: KeySel, x: &Ctx<'a>) -> Option<PktVal<'a>> {
    match k {
        KeySel::Addr { dst, family } => {
            (family == x.fam).then_some(PktVal::Addr(family, if dst { x.dst } else { x.src }))
        }
        KeySel::Proto { family } => {
            if family.is_some_and(|f| f != x.fam) {
                return None;
            }
            Some(PktVal::Proto(x.pkt.protocol))
        }
        KeySel::Port { dst, l4 } => {
            if l4.is_some_and(|p| p != x.pkt.protocol) {
                return None;
            }
            let p = if dst { x.pkt.dport } else { x.pkt.sport };
            p.map(PktVal::Port)
        }
        KeySel::Iface { out } => Some(PktVal::Iface(iface_name(x, out))),
        KeySel::Ct => Some(PktVal::Ct(x.pkt.state)),
        KeySel::NfProto => Some(PktVal::NfProto(x.fam)),
    }
}

impl KeyVal {
    fn contains(&self, v: &PktVal<'_>) -> bool {
        match (self, v) {
            (KeyVal::Addr(r), PktVal::Addr(f, k)) => r.contains(*f, *k),
            (KeyVal::Proto(p), PktVal::Proto(q)) => p == q,
            (KeyVal::Port(a, b), PktVal::Port(p)) => a <= p && p <= b,
            (KeyVal::Iface(pat), PktVal::Iface(n)) => pat.matches(n),
            (KeyVal::Ct(m), PktVal::Ct(s)) => *m == s.bit(),
            (KeyVal::NfProto(f), PktVal::NfProto(g)) => f == g,
            _ => false,
        }
    }
}

impl Vmap {
    /// The element the packet's key finds (a catch-all `*` when no other does) and the
    /// key in words; `None` when a dependency fails or no element matches.
    fn lookup(&self, keys: &[KeySel], x: &Ctx<'_>) -> Option<(&MapElem, String)> {
        let vals: Vec<PktVal<'_>> = keys
            .iter()
            .map(|k| key_value(*k, x))
            .collect::<Option<_>>()?;
        let hit = self
            .elems
            .iter()
            .find(|e| {
                e.key
                    .as_ref()
                    .is_some_and(|k| k.iter().zip(&vals).all(|(kv, v)| kv.contains(v)))
            })
            .or_else(|| self.elems.iter().find(|e| e.key.is_none()))?;
        let key: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
        Some((hit, key.join(" . ")))
    }
}

enum ChainOutcome {
    Verdict(Verdict, DecidedBy),
}

impl Ruleset {
    pub(crate) fn new(
        format: Format,
        tables: Vec<Table>,
        chains: Vec<Chain>,
        maps: Vec<Vmap>,
        notes: Vec<String>,
        unmodelled: Vec<(usize, String)>,
    ) -> Self {
        let mut order: Vec<usize> = (0..chains.len())
            .filter(|&i| chains[i].rules.len() >= ACCEL_MIN_RULES)
            .collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(chains[i].rules.len()), i));
        let mut accel: Vec<Option<Accel>> = vec![None; chains.len()];
        let mut built = 0;
        for i in order {
            if built == ACCEL_MAX_CHAINS {
                break;
            }
            if let Some(a) = accel_for(&chains[i]) {
                accel[i] = Some(a);
                built += 1;
            }
        }
        let mut bases = Vec::with_capacity(10);
        for hook in [
            Hook::Prerouting,
            Hook::Input,
            Hook::Forward,
            Hook::Output,
            Hook::Postrouting,
        ] {
            for fam in [Family::V4, Family::V6] {
                let mut b: Vec<usize> = chains
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| {
                        c.base.as_ref().is_some_and(|b| b.hook == hook && !b.nat)
                            && tables[c.table].family.sees(fam)
                    })
                    .map(|(i, _)| i)
                    .collect();
                // Equal priorities: the chain listed later runs first. `nft -f` registers
                // base chains in the order of the text, and the kernel puts a new hook
                // before the hooks of equal priority it already has.
                let priority = |i: usize| chains[i].base.as_ref().map_or(0, |b| b.priority);
                b.sort_by_key(|&i| (priority(i), std::cmp::Reverse(i)));
                bases.push(b);
            }
        }
        Ruleset {
            format,
            tables,
            chains,
            maps,
            notes,
            unmodelled,
            accel,
            bases,
        }
    }

    /// The base chains that see a packet of family `fam` at `hook`, in the order they run.
    fn filter_bases(&self, hook: Hook, fam: Family) -> &[usize] {
        &self.bases[hook as usize * 2 + usize::from(fam == Family::V6)]
    }

    /// Number of chains evaluated with the [`FastClassifier`] (long chains whose rules
    /// use only positive IPv4 5-tuple matches).
    pub fn accelerated_chains(&self) -> usize {
        self.accel.iter().filter(|a| a.is_some()).count()
    }

    /// Like [`Ruleset::evaluate`] but always scanning rule by rule (the reference the
    /// accelerated path is tested against).
    pub fn evaluate_reference(&self, packet: &Packet) -> Decision {
        self.eval(packet, false, true)
    }

    /// Which format the rule set was read from.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Notes about things deliberately not evaluated (skipped tables, non-filter chains, ...).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Evaluate one packet. Deterministic, never panics.
    pub fn evaluate(&self, packet: &Packet) -> Decision {
        self.eval(packet, true, true)
    }

    /// [`Ruleset::evaluate`] without the path ([`Decision::path`] is empty): the
    /// verdict, what decided it and the tie note, for a caller that shows only those
    /// (`pathproof filter`'s text). Faster: no step is recorded.
    pub fn evaluate_verdict(&self, packet: &Packet) -> Decision {
        self.eval(packet, true, false)
    }

    fn eval(&self, packet: &Packet, use_accel: bool, record: bool) -> Decision {
        let (fam, src) = addr_key(packet.src);
        // 5-tuple header for accelerated chains (IPv4 only). A port the packet does not
        // have is 0 there: the classifier's first match is then a lower bound of the
        // chain's, which the scan goes on from (a rule that matches a packet without
        // ports has no port condition, so its box holds port 0 too; one that has a port
        // condition with 0 in it may come first, and its conditions then fail it).
        // With both ports the classifier's first match is the chain's (see `rule5_of`).
        let exact = packet.sport.is_some() && packet.dport.is_some();
        let header = match (use_accel, packet.src, packet.dst) {
            (true, IpAddr::V4(s), IpAddr::V4(d)) => Some(Header {
                src: u32::from(s),
                dst: u32::from(d),
                sport: packet.sport.unwrap_or(0),
                dport: packet.dport.unwrap_or(0),
                proto: packet.protocol,
            }),
            _ => None,
        };
        let (_, dst) = addr_key(packet.dst);
        let mut path = Vec::new();
        let mut last: Option<DecidedBy> = None;
        let mut last_rule: Option<DecidedBy> = None;
        for &hook in packet.hook.traversal() {
            let bases = self.filter_bases(hook, fam);
            let ctx = Ctx {
                pkt: packet,
                fam,
                src,
                dst,
                hook,
                header,
                exact,
                record,
            };
            for (k, &b) in bases.iter().enumerate() {
                let ChainOutcome::Verdict(v, by) = self.run_base(b, &ctx, &mut path);
                if v != Verdict::Accept {
                    let tie = self.tie_note(bases, k, v, &ctx);
                    return Decision {
                        verdict: v,
                        decided_by: by,
                        path,
                        tie,
                    };
                }
                let c = &self.chains[b];
                if record {
                    path.push(Step::Accepted {
                        table: self.tables[c.table].name.clone(),
                        chain: c.name.clone(),
                    });
                }
                if matches!(by, DecidedBy::Rule { .. } | DecidedBy::MapElement { .. }) {
                    last_rule = Some(by);
                } else {
                    last = Some(by);
                }
            }
        }
        Decision {
            verdict: Verdict::Accept,
            decided_by: last_rule.or(last).unwrap_or(DecidedBy::NoBaseChain),
            path,
            tie: None,
        }
    }

    fn priority(&self, chain: usize) -> i32 {
        self.chains[chain].base.as_ref().map_or(0, |b| b.priority)
    }

    /// `bases[k]` (in evaluation order) ended the packet with `v`. Base chains of equal
    /// priority in one table always run in the order this assumes (the one listed later
    /// first: a table lists its chains in the order they were made, and each was
    /// registered when it was made); chains of other tables may have been registered
    /// before or after them. In another registration order, another table's first chain
    /// that does not accept (in that table's order) could come first: if its verdict
    /// differs, the decision depends on the tie.
    fn tie_note(&self, bases: &[usize], k: usize, v: Verdict, x: &Ctx<'_>) -> Option<TieNote> {
        let p = self.priority(bases[k]);
        let group: Vec<usize> = bases
            .iter()
            .copied()
            .filter(|&c| self.priority(c) == p)
            .collect();
        let table = |c: usize| self.chains[c].table;
        let own = table(bases[k]);
        let mut done: Vec<usize> = vec![own];
        for &c in &group {
            let t = table(c);
            if done.contains(&t) {
                continue;
            }
            done.push(t);
            for &d in group.iter().filter(|&&d| table(d) == t) {
                let mut scratch = Vec::new();
                let ChainOutcome::Verdict(w, by) = self.run_base(d, x, &mut scratch);
                if w == Verdict::Accept {
                    continue;
                }
                if w == v {
                    break;
                }
                return Some(TieNote {
                    hook: x.hook,
                    priority: p,
                    chains: group
                        .iter()
                        .map(|&g| TieChain {
                            table: self.tables[table(g)].name.clone(),
                            chain: self.chains[g].name.clone(),
                            line: self.chains[g].line,
                        })
                        .collect(),
                    alternative: w,
                    alternative_by: by,
                });
            }
        }
        None
    }

    fn enter(&self, ci: usize, via: Via, x: &Ctx<'_>, path: &mut Vec<Step>) {
        if !x.record {
            return;
        }
        let c = &self.chains[ci];
        path.push(Step::Enter {
            table: self.tables[c.table].name.clone(),
            chain: c.name.clone(),
            line: c.line,
            via,
        });
    }

    fn run_base(&self, base: usize, x: &Ctx<'_>, path: &mut Vec<Step>) -> ChainOutcome {
        let policy = |s: &Self| {
            let c = &s.chains[base];
            let v = c.base.as_ref().map_or(Verdict::Accept, |b| b.policy);
            ChainOutcome::Verdict(
                v,
                DecidedBy::Policy {
                    table: s.tables[c.table].name.clone(),
                    chain: c.name.clone(),
                    line: c.line,
                },
            )
        };
        self.enter(base, Via::Hook(x.hook), x, path);
        // Jump stack of (chain, next rule index). Loops are rejected at parse time;
        // the step bound is a belt-and-braces guarantee of termination.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let (mut cur, mut i) = (base, 0usize);
        let mut steps: u64 = 0;
        let limit: u64 = 10_000_000;
        // just entered `cur` at rule 0: an accelerated chain skips to its first match
        let mut fresh = true;
        // The rule `i` is known to match (the classifier found it with the packet's own
        // ports): its conditions need not be read again.
        let mut known = false;
        loop {
            steps += 1;
            if steps > limit {
                return policy(self);
            }
            if fresh {
                fresh = false;
                if let (Some(h), Some(Some(a))) = (&x.header, self.accel.get(cur)) {
                    match a.0.classify(h) {
                        Some(k) => (i, known) = (k, x.exact),
                        None => i = usize::MAX,
                    }
                }
            }
            let chain = &self.chains[cur];
            let Some(rule) = chain.rules.get(i) else {
                // fell off the end
                match stack.pop() {
                    None => return policy(self),
                    Some((c, n)) => {
                        if x.record {
                            path.push(Step::Return {
                                chain: chain.name.clone(),
                                line: None,
                            });
                        }
                        cur = c;
                        i = n;
                        continue;
                    }
                }
            };
            i += 1;
            let mut action: Option<&Action> = None;
            // The map (and element) whose verdict is `action`.
            let mut from_map: Option<(&Vmap, &MapElem)> = None;
            let mut matched = true;
            let skip_conds = std::mem::take(&mut known);
            for item in &rule.items {
                match item {
                    Item::Cond(_) if skip_conds => {}
                    Item::Cond(c) => {
                        if !eval_cond(c, x) {
                            matched = false;
                            break;
                        }
                    }
                    Item::Log if x.record => path.push(Step::Log { line: rule.line }),
                    Item::Counter if x.record => path.push(Step::Counter { line: rule.line }),
                    Item::Log | Item::Counter => {}
                    Item::Verdict(a) => {
                        action = Some(a);
                        break;
                    }
                    Item::Vmap { map: m, keys } => {
                        let Some((map, e, key)) = self
                            .maps
                            .get(*m)
                            .and_then(|map| map.lookup(keys, x).map(|(e, key)| (map, e, key)))
                        else {
                            // No element (or a failed dependency): the rule does not match.
                            matched = false;
                            break;
                        };
                        if x.record {
                            path.push(Step::MapElement {
                                line: rule.line,
                                map: map.name.clone(),
                                element_line: e.line,
                                element: e.text.clone(),
                                key,
                            });
                        }
                        // `continue` goes on with the rest of the rule.
                        if let Some(a) = &e.verdict {
                            action = Some(a);
                            from_map = Some((map, e));
                            break;
                        }
                    }
                }
            }
            if !matched {
                continue;
            }
            let by = || match from_map {
                Some((map, e)) => DecidedBy::MapElement {
                    line: rule.line,
                    text: rule.text.clone(),
                    map: map.name.clone(),
                    element_line: e.line,
                    element: e.text.clone(),
                },
                None => DecidedBy::Rule {
                    line: rule.line,
                    text: rule.text.clone(),
                },
            };
            match action {
                None => {}
                Some(Action::Accept) => return ChainOutcome::Verdict(Verdict::Accept, by()),
                Some(Action::Drop) => return ChainOutcome::Verdict(Verdict::Drop, by()),
                Some(Action::Reject(_)) => return ChainOutcome::Verdict(Verdict::Reject, by()),
                // Nat chains are never run here (see `BaseInfo::nat`).
                Some(Action::Nat(_)) => return ChainOutcome::Verdict(Verdict::Accept, by()),
                Some(Action::Return) => {
                    if x.record {
                        path.push(Step::Return {
                            chain: chain.name.clone(),
                            line: Some(rule.line),
                        });
                    }
                    match stack.pop() {
                        None => return policy(self),
                        Some((c, n)) => {
                            cur = c;
                            i = n;
                        }
                    }
                }
                Some(Action::Jump(t)) => {
                    stack.push((cur, i));
                    self.enter(*t, Via::Jump(rule.line), x, path);
                    cur = *t;
                    i = 0;
                    fresh = true;
                }
                Some(Action::Goto(t)) => {
                    self.enter(*t, Via::Goto(rule.line), x, path);
                    cur = *t;
                    i = 0;
                    fresh = true;
                }
            }
        }
    }
}

/// Reject jump/goto loops (as iptables-restore and nft do at load time), through
/// verdict maps too. Returns the chain index and the line of a jump that closes a loop.
pub(crate) fn find_loop(chains: &[Chain], maps: &[Vmap]) -> Option<(usize, usize)> {
    // Per chain: (target, line of the rule that jumps or goes there).
    let adj: Vec<Vec<(usize, usize)>> = chains
        .iter()
        .map(|c| {
            let mut out = Vec::new();
            for rule in &c.rules {
                for it in &rule.items {
                    match it {
                        Item::Verdict(Action::Jump(t) | Action::Goto(t)) => {
                            out.push((*t, rule.line))
                        }
                        Item::Vmap { map: m, .. } => {
                            for e in maps.get(*m).map_or(&[][..], |m| &m.elems[..]) {
                                if let Some(Action::Jump(t) | Action::Goto(t)) = e.verdict {
                                    out.push((t, rule.line));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            out
        })
        .collect();
    // 0 = unvisited, 1 = on stack, 2 = done
    let n = chains.len();
    let mut state = vec![0u8; n];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        // iterative DFS: (chain, next edge)
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (c, ref mut ei)) = stack.last_mut() {
            let Some(&(t, line)) = adj[c].get(*ei) else {
                state[c] = 2;
                stack.pop();
                continue;
            };
            *ei += 1;
            if t >= n {
                continue;
            }
            if state[t] == 1 {
                return Some((c, line));
            }
            if state[t] == 0 {
                state[t] = 1;
                stack.push((t, 0));
            }
        }
    }
    None
}
