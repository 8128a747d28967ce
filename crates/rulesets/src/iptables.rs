//! Parser for `iptables-save` / `ip6tables-save` output (the `*filter` table).
//! Other tables are skipped with a note.

use crate::error::ParseError;
use crate::model::{
    find_loop, Action, AddrRange, BaseInfo, Chain, Cond, CtState, Family, Format, Hook, IfPat,
    Item, NatAction, NatKind, PortSel, RejectWith, Rule, Ruleset, Table, TableFamily, Verdict,
};
use crate::packet::{port_number, proto_number};
use crate::truncate;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub(crate) struct Tok {
    pub text: String,
    pub col: usize,
}

/// Split a line into shell-like words: whitespace-separated, double quotes group
/// (with `\"` and `\\` escapes), single quotes group literally.
pub(crate) fn shell_split(line: &str, lineno: usize) -> Result<Vec<Tok>, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let col = i + 1;
        let mut text = String::new();
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                '"' => {
                    let open = i + 1;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => {
                                return Err(ParseError::new(
                                    lineno,
                                    open,
                                    "unterminated double quote",
                                ))
                            }
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                                text.push(chars[i + 1]);
                                i += 2;
                            }
                            Some(&c) => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                }
                '\'' => {
                    let open = i + 1;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => {
                                return Err(ParseError::new(
                                    lineno,
                                    open,
                                    "unterminated single quote",
                                ))
                            }
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(&c) => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        out.push(Tok { text, col });
    }
    Ok(out)
}

/// The hook and priority of a built-in chain of `table` (0: filter, 1: nat).
fn builtin_hook(table: usize, name: &str) -> Option<(Hook, i32)> {
    match (table, name) {
        (0, "INPUT") => Some((Hook::Input, 0)),
        (0, "FORWARD") => Some((Hook::Forward, 0)),
        (0, "OUTPUT") => Some((Hook::Output, 0)),
        (1, "PREROUTING") => Some((Hook::Prerouting, -100)),
        (1, "INPUT") => Some((Hook::Input, 100)),
        (1, "OUTPUT") => Some((Hook::Output, -100)),
        (1, "POSTROUTING") => Some((Hook::Postrouting, 100)),
        _ => None,
    }
}

/// Which parsed table a section is: 0 filter, 1 nat; `None` for tables that are skipped.
fn table_index(name: &str) -> Option<usize> {
    match name {
        "filter" => Some(0),
        "nat" => Some(1),
        _ => None,
    }
}

/// A translation's addresses (first, last) and ports (first, last), either optional.
pub(crate) type NatTo = (Option<(IpAddr, IpAddr)>, Option<(u16, u16)>);

/// `A`, `A-B`, `A:P`, `A:P-Q`, `A-B:P-Q`, `:P` (IPv6 addresses in brackets when a
/// port follows: `[A]:P`, `[A]-[B]:P`) as `--to-destination` and `--to-source` take them.
pub(crate) fn parse_nat_to(s: &str) -> Option<NatTo> {
    let (addrs, ports) = if s.starts_with('[') || s.matches(':').count() <= 1 {
        match s.rfind(':') {
            Some(i) if !s[..i].ends_with(']') && s.starts_with('[') => (s, None),
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    } else {
        (s, None) // a bare IPv6 address
    };
    let unbracket = |a: &str| a.trim_start_matches('[').trim_end_matches(']').to_string();
    let addr = if addrs.is_empty() {
        None
    } else {
        let (a, b) = match addrs.split_once("]-[") {
            Some((a, b)) => (unbracket(a), unbracket(b)),
            None => match addrs.split_once('-') {
                Some((a, b)) if !addrs.starts_with('[') => (a.to_string(), b.to_string()),
                _ => (unbracket(addrs), unbracket(addrs)),
            },
        };
        let a: IpAddr = a.parse().ok()?;
        let b: IpAddr = b.parse().ok()?;
        if a.is_ipv4() != b.is_ipv4() {
            return None;
        }
        Some((a, b))
    };
    let ports = match ports {
        None => None,
        Some(p) => Some(match p.split_once('-') {
            Some((a, b)) => (port_number(a)?, port_number(b)?),
            None => (port_number(p)?, port_number(p)?),
        }),
    };
    if addr.is_none() && ports.is_none() {
        return None;
    }
    Some((addr, ports))
}

/// Parse an address or prefix (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `2001:db8::/32`).
pub(crate) fn parse_prefix(s: &str) -> Option<AddrRange> {
    match s.split_once('/') {
        None => s.parse::<IpAddr>().ok().map(AddrRange::single),
        Some((a, l)) => {
            let a: IpAddr = a.parse().ok()?;
            let len: u8 = match l.parse::<u8>() {
                Ok(n) => n,
                Err(_) => {
                    // dotted netmask, must be contiguous
                    let m: IpAddr = l.parse().ok()?;
                    let (fa, _) = crate::model::addr_key(a);
                    let (fm, k) = crate::model::addr_key(m);
                    if fa != fm {
                        return None;
                    }
                    let bits = if fm == Family::V4 { 32 } else { 128 };
                    let ones = k.count_ones();
                    let expect = if ones == 0 {
                        0
                    } else {
                        let full: u128 = if bits == 128 {
                            u128::MAX
                        } else {
                            (1u128 << bits) - 1
                        };
                        full & !((1u128 << (bits - ones)) - 1)
                    };
                    if k != expect {
                        return None;
                    }
                    ones as u8
                }
            };
            AddrRange::prefix(a, len)
        }
    }
}

fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once(':') {
        None => port_number(s).map(|p| (p, p)),
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { port_number(a)? };
            let hi = if b.is_empty() { 65535 } else { port_number(b)? };
            // iptables swaps reversed ranges silently? No: it rejects them for multiport
            // and accepts-then-never-matches for tcp; we reject them as invalid input.
            if lo > hi {
                None
            } else {
                Some((lo, hi))
            }
        }
    }
}

struct Section {
    name: String,
    start: usize,
    /// The parsed table (0 filter, 1 nat); `None` for a skipped one.
    table: Option<usize>,
    /// A skipped table's first rule or policy that is not ACCEPT, if any.
    content: Option<(usize, String)>,
}

struct PendingRule {
    chain: usize,
    line: usize,
    text: String,
    items: Vec<Item>,
    target: Option<(String, usize, bool)>, // (chain name, column, goto)
}

/// Parse iptables-save text.
pub(crate) fn parse(text: &str) -> Result<Ruleset, Vec<ParseError>> {
    let mut errors: Vec<ParseError> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut unmodelled: Vec<(usize, String)> = Vec::new();
    let mut section: Option<Section> = None;
    let mut seen = [false; 2];
    let mut chains: Vec<Chain> = Vec::new();
    let mut pending: Vec<PendingRule> = Vec::new();
    let mut v6_header = false;
    let mut fams: Vec<(Family, usize, usize)> = Vec::new(); // (family, line, col) of addresses

    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            if line.contains("ip6tables-save") {
                v6_header = true;
            }
            continue;
        }
        let lead_ws = raw.chars().take_while(|c| c.is_whitespace()).count();
        if let Some(name) = line.strip_prefix('*') {
            if let Some(s) = &section {
                errors.push(ParseError::new(
                    lineno,
                    1,
                    format!(
                        "table header {line:?} inside table *{} (started line {}) without COMMIT",
                        s.name, s.start
                    ),
                ));
            }
            let name = name.trim().to_string();
            let table = table_index(&name);
            if let Some(t) = table {
                if seen[t] {
                    errors.push(ParseError::new(lineno, 1, format!("second *{name} table")));
                }
                seen[t] = true;
            }
            section = Some(Section {
                name,
                start: lineno,
                table,
                content: None,
            });
            continue;
        }
        if line == "COMMIT" {
            match section.take() {
                None => errors.push(ParseError::new(lineno, 1, "COMMIT outside a table")),
                Some(s) => match s.table {
                    Some(1) => notes.push(format!(
                        "table *nat (lines {}-{lineno}): address translation, not evaluated by `filter` (a scenario's `ruleset:` uses it)",
                        s.start
                    )),
                    Some(_) => {}
                    None => {
                        notes.push(format!(
                            "skipped table *{} (lines {}-{}): only the filter table is evaluated",
                            s.name, s.start, lineno
                        ));
                        if let Some((l, what)) = s.content {
                            unmodelled.push((l, format!("table *{}: {what}", s.name)));
                        }
                    }
                },
            }
            continue;
        }
        let Some(sec) = &mut section else {
            errors.push(ParseError::new(
                lineno,
                lead_ws + 1,
                format!(
                    "expected a table header like `*filter`, got {:?}",
                    truncate(line)
                ),
            ));
            continue;
        };
        let Some(table) = sec.table else {
            // A skipped table: remember whether it does anything.
            if sec.content.is_none() {
                let policy = line
                    .strip_prefix(':')
                    .and_then(|l| l.split_whitespace().nth(1))
                    .filter(|p| *p != "ACCEPT" && *p != "-");
                if line.starts_with("-A") || line.starts_with("[") {
                    sec.content = Some((lineno, format!("rule {:?}", truncate(line))));
                } else if let Some(p) = policy {
                    sec.content = Some((lineno, format!("policy {p}")));
                }
            }
            continue;
        };
        let toks = match shell_split(raw, lineno) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        // optional `[pkts:bytes]` counter prefix (iptables-save -c)
        let skip = usize::from(
            toks.first()
                .is_some_and(|t| t.text.starts_with('[') && t.text.ends_with(']')),
        );
        let toks = &toks[skip..];
        let Some(first) = toks.first() else { continue };
        if let Some(name) = first.text.strip_prefix(':') {
            let Some(pol) = toks.get(1) else {
                errors.push(ParseError::new(
                    lineno,
                    first.col,
                    "chain declaration without policy (expected `:NAME POLICY [p:b]`)",
                ));
                continue;
            };
            if chains.iter().any(|c| c.name == name && c.table == table) {
                errors.push(ParseError::new(
                    lineno,
                    first.col,
                    format!("chain {name:?} declared twice"),
                ));
                continue;
            }
            let nat = table == 1;
            let base = match (builtin_hook(table, name), pol.text.as_str()) {
                (Some((h, priority)), "ACCEPT") => Some(BaseInfo {
                    hook: h,
                    priority,
                    policy: Verdict::Accept,
                    nat,
                }),
                (Some((h, priority)), "DROP") if !nat => Some(BaseInfo {
                    hook: h,
                    priority,
                    policy: Verdict::Drop,
                    nat,
                }),
                (None, "-") => None,
                (Some(_), p) => {
                    let want = if nat { "ACCEPT" } else { "ACCEPT or DROP" };
                    errors.push(ParseError::new(
                        lineno,
                        pol.col,
                        format!("built-in chain {name} needs policy {want}, got {p:?}"),
                    ));
                    continue;
                }
                (None, p) => {
                    let msg = if p == "ACCEPT" || p == "DROP" {
                        if nat {
                            format!("{name:?} is not a built-in chain of the nat table (PREROUTING, INPUT, OUTPUT, POSTROUTING) and cannot have a policy")
                        } else {
                            format!("{name:?} is not a built-in chain of the filter table (INPUT, FORWARD, OUTPUT) and cannot have a policy")
                        }
                    } else {
                        format!("user chain {name:?} must have policy `-`, got {p:?}")
                    };
                    errors.push(ParseError::new(lineno, pol.col, msg));
                    continue;
                }
            };
            if name.is_empty() {
                errors.push(ParseError::new(lineno, first.col, "empty chain name"));
                continue;
            }
            chains.push(Chain {
                name: name.to_string(),
                table,
                line: lineno,
                base,
                rules: Vec::new(),
            });
            continue;
        }
        if first.text == "-A" || first.text == "--append" {
            match parse_rule(toks, lineno, line, table, &chains, &mut fams) {
                Ok(r) => pending.push(r),
                Err(e) => errors.push(e),
            }
            continue;
        }
        errors.push(ParseError::new(
            lineno,
            first.col,
            format!(
                "expected a chain declaration `:NAME` or a rule `-A CHAIN ...`, got {:?}",
                truncate(&first.text)
            ),
        ));
    }
    if let Some(s) = &section {
        errors.push(ParseError::new(
            s.start,
            1,
            format!("table *{} is not terminated by COMMIT", s.name),
        ));
    }

    // resolve targets
    for p in pending {
        let mut items = p.items;
        let table = chains[p.chain].table;
        if let Some((name, col, goto)) = p.target {
            match chains
                .iter()
                .position(|c| c.name == name && c.table == table)
            {
                Some(t) if chains[t].base.is_some() => {
                    errors.push(ParseError::new(
                        p.line,
                        col,
                        format!("cannot jump to built-in chain {name}"),
                    ));
                    continue;
                }
                Some(t) => items.push(Item::Verdict(if goto {
                    Action::Goto(t)
                } else {
                    Action::Jump(t)
                })),
                None => {
                    errors.push(ParseError::new(
                        p.line,
                        col,
                        format!("unsupported target {name:?}: not a built-in target (ACCEPT, DROP, REJECT, LOG, RETURN; DNAT, SNAT, MASQUERADE, REDIRECT in the nat table) nor a declared chain"),
                    ));
                    continue;
                }
            }
        }
        chains[p.chain].rules.push(Rule {
            line: p.line,
            text: p.text,
            items,
        });
    }

    let family = if v6_header {
        Family::V6
    } else {
        fams.first().map_or(Family::V4, |f| f.0)
    };
    for &(f, l, c) in &fams {
        if f != family {
            errors.push(ParseError::new(
                l,
                c,
                format!(
                    "address family mismatch: this is an {} rule set but the address is {}",
                    if family == Family::V4 { "IPv4" } else { "IPv6" },
                    if f == Family::V4 { "IPv4" } else { "IPv6" }
                ),
            ));
        }
    }
    if errors.is_empty() {
        if let Some((c, line)) = find_loop(&chains, &[]) {
            errors.push(ParseError::new(
                line,
                0,
                format!("jump loop through chain {}", chains[c].name),
            ));
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(errors);
    }
    if !seen[0] {
        notes.push("no *filter table: every packet is accepted".to_string());
    }
    let tfam = if family == Family::V4 {
        TableFamily::Ip
    } else {
        TableFamily::Ip6
    };
    let mut tables = vec![Table {
        name: "filter".to_string(),
        family: tfam,
    }];
    if seen[1] {
        tables.push(Table {
            name: "nat".to_string(),
            family: tfam,
        });
    }
    Ok(Ruleset::new(
        Format::IptablesSave,
        tables,
        chains,
        Vec::new(),
        notes,
        unmodelled,
    ))
}

fn parse_rule(
    toks: &[Tok],
    lineno: usize,
    text: &str,
    table: usize,
    chains: &[Chain],
    fams: &mut Vec<(Family, usize, usize)>,
) -> Result<PendingRule, ParseError> {
    let err = |col: usize, m: String| ParseError::new(lineno, col, m);
    let Some(ct) = toks.get(1) else {
        return Err(err(toks[0].col, "`-A` without a chain name".into()));
    };
    let Some(chain) = chains
        .iter()
        .position(|c| c.name == ct.text && c.table == table)
    else {
        return Err(err(
            ct.col,
            format!(
                "chain {:?} is not declared (expected `:{} - [0:0]` before)",
                ct.text, ct.text
            ),
        ));
    };
    let mut items: Vec<Item> = Vec::new();
    let mut modules: Vec<String> = Vec::new();
    let mut proto: Option<(bool, Option<u8>)> = None; // (negated, None = all)
    let mut target: Option<(String, usize, bool)> = None;
    let mut verdict: Option<Item> = None;
    let mut target_name: Option<String> = None;
    // What a REJECT answers with, and a translation's statement, as their options say.
    let mut reject_with = RejectWith::default();
    let mut reject_at = 0usize;
    let mut nat: Option<NatAction> = None;
    let mut neg: Option<usize> = None;
    let mut i = 2;
    // value after option at toks[i]
    let val = |i: usize| -> Result<&Tok, ParseError> {
        toks.get(i + 1).ok_or_else(|| {
            err(
                toks[i].col,
                format!("option {} needs a value", toks[i].text),
            )
        })
    };
    while i < toks.len() {
        let t = &toks[i];
        let o = t.text.as_str();
        if o == "!" {
            if neg.is_some() {
                return Err(err(t.col, "double `!`".into()));
            }
            neg = Some(t.col);
            i += 1;
            continue;
        }
        let negated = neg.take().is_some();
        let negatable = |ok: bool| -> Result<(), ParseError> {
            if negated && !ok {
                Err(err(t.col, format!("option {o} cannot be negated with `!`")))
            } else {
                Ok(())
            }
        };
        let need_module = |names: &[&str]| -> Result<(), ParseError> {
            if modules.iter().any(|m| names.contains(&m.as_str())) {
                Ok(())
            } else {
                Err(err(
                    t.col,
                    format!("option {o} needs -m {}", names.join(" or -m ")),
                ))
            }
        };
        if let Some(tn) = &target_name {
            // target options
            negatable(false)?;
            match (tn.as_str(), o) {
                ("REJECT", "--reject-with") => {
                    let v = val(i)?;
                    reject_with = RejectWith::from_iptables(&v.text)
                        .ok_or_else(|| err(v.col, format!("unknown --reject-with {:?}", v.text)))?;
                    reject_at = v.col;
                    i += 2;
                }
                ("DNAT", "--to-destination" | "--to")
                | ("SNAT", "--to-source" | "--to")
                | ("MASQUERADE" | "REDIRECT", "--to-ports") => {
                    let v = val(i)?;
                    let n = nat.as_mut().expect("a translation target sets `nat`");
                    let (addr, ports) = if o == "--to-ports" {
                        let p = match v.text.split_once('-') {
                            Some((a, b)) => port_number(a).zip(port_number(b)),
                            None => port_number(&v.text).map(|p| (p, p)),
                        };
                        (None, p)
                    } else {
                        parse_nat_to(&v.text).ok_or_else(|| {
                            err(
                                v.col,
                                format!(
                                    "invalid {o} {:?} (expected ADDR[-ADDR][:PORT[-PORT]])",
                                    v.text
                                ),
                            )
                        })?
                    };
                    if o == "--to-ports" && ports.is_none() {
                        return Err(err(v.col, format!("invalid port or range {:?}", v.text)));
                    }
                    if let Some((a, _)) = addr {
                        let f = if a.is_ipv4() { Family::V4 } else { Family::V6 };
                        fams.push((f, lineno, v.col));
                    }
                    n.addr = addr.or(n.addr);
                    n.ports = ports.or(n.ports);
                    i += 2;
                }
                (
                    "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT",
                    "--random" | "--random-fully" | "--persistent",
                ) => {
                    let n = nat.as_mut().expect("a translation target sets `nat`");
                    n.flags.push(match o {
                        "--random" => "random".to_string(),
                        "--random-fully" => "fully-random".to_string(),
                        _ => "persistent".to_string(),
                    });
                    i += 1;
                }
                ("LOG", "--log-prefix" | "--log-level") => {
                    val(i)?;
                    i += 2;
                }
                (
                    "LOG",
                    "--log-tcp-sequence" | "--log-tcp-options" | "--log-ip-options" | "--log-uid"
                    | "--log-macdecode",
                ) => i += 1,
                _ => {
                    return Err(err(
                        t.col,
                        format!("unsupported option {o:?} for target {tn}"),
                    ))
                }
            }
            continue;
        }
        match o {
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                negatable(true)?;
                let v = val(i)?;
                let mut set = Vec::new();
                for part in v.text.split(',') {
                    let r = parse_prefix(part).ok_or_else(|| {
                        err(v.col, format!("invalid address or prefix {part:?} for {o}"))
                    })?;
                    fams.push((r.family, lineno, v.col));
                    set.push(r);
                }
                if set.len() > 1 && negated {
                    return Err(err(
                        t.col,
                        format!("! not allowed with multiple addresses in {o}"),
                    ));
                }
                let family = set[0].family;
                items.push(Item::Cond(Cond::Addr {
                    dst: o.starts_with("-d") || o.starts_with("--d"),
                    neg: negated,
                    family,
                    set,
                }));
                i += 2;
            }
            "-p" | "--protocol" => {
                negatable(true)?;
                let v = val(i)?;
                if proto.is_some() {
                    return Err(err(t.col, "-p given twice".into()));
                }
                let name = v.text.to_ascii_lowercase();
                let p = if name == "all" || name == "0" {
                    None
                } else {
                    Some(
                        proto_number(&name)
                            .ok_or_else(|| err(v.col, format!("unknown protocol {:?}", v.text)))?,
                    )
                };
                proto = Some((negated, p));
                match p {
                    Some(n) => items.push(Item::Cond(Cond::Proto {
                        neg: negated,
                        protos: vec![n],
                    })),
                    None if negated => items.push(Item::Cond(Cond::Proto {
                        neg: false,
                        protos: vec![],
                    })),
                    None => {}
                }
                i += 2;
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                negatable(true)?;
                let v = val(i)?;
                items.push(Item::Cond(Cond::Iface {
                    out: o == "-o" || o == "--out-interface",
                    neg: negated,
                    pats: vec![IfPat::parse_iptables(&v.text)],
                }));
                i += 2;
            }
            "-m" | "--match" => {
                negatable(false)?;
                let v = val(i)?;
                let m = v.text.as_str();
                match m {
                    "tcp" | "udp" => {
                        let want = if m == "tcp" { 6 } else { 17 };
                        if proto != Some((false, Some(want))) {
                            return Err(err(
                                t.col,
                                format!("-m {m} needs `-p {m}` before it (not negated)"),
                            ));
                        }
                    }
                    "multiport" | "conntrack" | "state" | "iprange" | "comment" => {}
                    _ => return Err(err(t.col, format!("unsupported match module \"-m {m}\""))),
                }
                modules.push(m.to_string());
                i += 2;
            }
            "--sport" | "--source-port" | "--dport" | "--destination-port" => {
                negatable(true)?;
                let implicit = matches!(proto, Some((false, Some(6 | 17))));
                if !implicit {
                    need_module(&["tcp", "udp"])?;
                }
                let v = val(i)?;
                let r = parse_port_range(&v.text)
                    .ok_or_else(|| err(v.col, format!("invalid port or range {:?}", v.text)))?;
                items.push(Item::Cond(Cond::Port {
                    sel: if o.starts_with("--s") {
                        PortSel::Src
                    } else {
                        PortSel::Dst
                    },
                    neg: negated,
                    l4: None,
                    ranges: vec![r],
                }));
                i += 2;
            }
            "--dports" | "--destination-ports" | "--sports" | "--source-ports" | "--ports" => {
                negatable(true)?;
                need_module(&["multiport"])?;
                if !matches!(proto, Some((false, Some(6 | 17 | 33 | 132 | 136)))) {
                    return Err(err(
                        t.col,
                        "multiport needs `-p tcp`, `-p udp`, `-p sctp`, `-p dccp` or `-p udplite`"
                            .into(),
                    ));
                }
                let v = val(i)?;
                let mut ranges = Vec::new();
                for part in v.text.split(',') {
                    ranges.push(parse_port_range(part).ok_or_else(|| {
                        err(v.col, format!("invalid port or range {part:?} in {o}"))
                    })?);
                }
                items.push(Item::Cond(Cond::Port {
                    sel: match o {
                        "--ports" => PortSel::Either,
                        "--sports" | "--source-ports" => PortSel::Src,
                        _ => PortSel::Dst,
                    },
                    neg: negated,
                    l4: None,
                    ranges,
                }));
                i += 2;
            }
            "--ctstate" | "--state" => {
                negatable(true)?;
                need_module(if o == "--state" {
                    &["state"]
                } else {
                    &["conntrack"]
                })?;
                let v = val(i)?;
                let mut mask = 0u8;
                for part in v.text.split(',') {
                    let s = CtState::from_name(part).ok_or_else(|| {
                        err(v.col, format!("unsupported conntrack state {part:?}"))
                    })?;
                    mask |= s.bit();
                }
                items.push(Item::Cond(Cond::Ct { neg: negated, mask }));
                i += 2;
            }
            "--src-range" | "--dst-range" => {
                negatable(true)?;
                need_module(&["iprange"])?;
                let v = val(i)?;
                let r = v
                    .text
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse::<IpAddr>().ok()?, b.parse::<IpAddr>().ok()?)))
                    .and_then(|(a, b)| AddrRange::range(a, b))
                    .ok_or_else(|| {
                        err(
                            v.col,
                            format!("invalid address range {:?} (expected A-B)", v.text),
                        )
                    })?;
                fams.push((r.family, lineno, v.col));
                items.push(Item::Cond(Cond::Addr {
                    dst: o == "--dst-range",
                    neg: negated,
                    family: r.family,
                    set: vec![r],
                }));
                i += 2;
            }
            "--comment" => {
                negatable(false)?;
                need_module(&["comment"])?;
                val(i)?;
                i += 2;
            }
            "-c" | "--set-counters" => {
                negatable(false)?;
                if toks.len() < i + 3 {
                    return Err(err(t.col, "-c needs packets and bytes".into()));
                }
                i += 3;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                negatable(false)?;
                let v = val(i)?;
                if target_name.is_some() || target.is_some() {
                    return Err(err(t.col, "more than one target".into()));
                }
                let goto = o == "-g" || o == "--goto";
                let name = v.text.clone();
                match (goto, name.as_str()) {
                    (false, t @ ("DROP" | "REJECT")) if table == 1 => {
                        return Err(err(
                            v.col,
                            format!(
                                "{t} is not allowed in the nat table (it is not for filtering)"
                            ),
                        ))
                    }
                    (false, "ACCEPT") => verdict = Some(Item::Verdict(Action::Accept)),
                    (false, "DROP") => verdict = Some(Item::Verdict(Action::Drop)),
                    (false, "REJECT") => {
                        verdict = Some(Item::Verdict(Action::Reject(RejectWith::default())))
                    }
                    (false, t @ ("DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT")) if table == 1 => {
                        let kind = match t {
                            "DNAT" => NatKind::Dnat,
                            "SNAT" => NatKind::Snat,
                            "MASQUERADE" => NatKind::Masquerade,
                            _ => NatKind::Redirect,
                        };
                        let chain_hook = chains[chain].base.as_ref().map(|b| b.hook);
                        let allowed = match kind {
                            NatKind::Dnat | NatKind::Redirect => {
                                matches!(chain_hook, None | Some(Hook::Prerouting | Hook::Output))
                            }
                            _ => matches!(chain_hook, None | Some(Hook::Postrouting | Hook::Input)),
                        };
                        if !allowed {
                            return Err(err(
                                v.col,
                                format!("-j {t} is not allowed in chain {}", chains[chain].name),
                            ));
                        }
                        nat = Some(NatAction {
                            kind,
                            addr: None,
                            ports: None,
                            flags: Vec::new(),
                        });
                    }
                    (false, "RETURN") => verdict = Some(Item::Verdict(Action::Return)),
                    (false, "LOG") => verdict = Some(Item::Log),
                    _ => {
                        if name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                            && !chains.iter().any(|c| c.name == name && c.table == table)
                        {
                            return Err(err(v.col, format!("unsupported target \"-j {name}\"")));
                        }
                        target = Some((name.clone(), v.col, goto));
                    }
                }
                if !goto {
                    target_name = Some(name);
                }
                i += 2;
            }
            _ => {
                return Err(err(t.col, format!("unsupported option {o:?}")));
            }
        }
    }
    if let Some(c) = neg {
        return Err(err(c, "`!` at end of rule".into()));
    }
    if let Some(n) = nat {
        let needs_to = matches!(n.kind, NatKind::Dnat | NatKind::Snat);
        if needs_to && n.addr.is_none() && n.ports.is_none() {
            return Err(err(
                toks[0].col,
                format!(
                    "-j {} needs {}",
                    target_name.as_deref().unwrap_or(""),
                    if n.kind == NatKind::Dnat {
                        "--to-destination"
                    } else {
                        "--to-source"
                    }
                ),
            ));
        }
        if n.ports.is_some() && !matches!(proto, Some((false, Some(6 | 17 | 33 | 132 | 136)))) {
            return Err(err(
                toks[0].col,
                "a translation to ports needs `-p tcp`, `-p udp`, `-p sctp`, `-p dccp` or `-p udplite`".into(),
            ));
        }
        verdict = Some(Item::Verdict(Action::Nat(n)));
    }
    if let Some(Item::Verdict(Action::Reject(w))) = &mut verdict {
        // (iptables-restore refuses a TCP reset without `-p tcp` in the rule itself;
        // read leniently, as before: such a reject answers other protocols with the
        // ICMP default, as a scenario's `with tcp-reset` does.)
        *w = reject_with;
    }
    let _ = reject_at;
    match verdict {
        Some(v) => items.push(v),
        None if target.is_none() => items.push(Item::Counter),
        None => {}
    }
    let _ = proto;
    Ok(PendingRule {
        chain,
        line: lineno,
        text: text.to_string(),
        items,
        target,
    })
}
