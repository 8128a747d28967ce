//! Parser for `iptables-save` / `ip6tables-save` output (the `*filter` table).
//! Other tables are skipped with a note.

use crate::error::ParseError;
use crate::model::{
    find_loop, Action, AddrRange, BaseInfo, Chain, Cond, CtState, Family, Format, Hook, IfPat,
    Item, PortSel, Rule, Ruleset, Table, TableFamily, Verdict,
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

fn builtin_hook(name: &str) -> Option<Hook> {
    match name {
        "INPUT" => Some(Hook::Input),
        "FORWARD" => Some(Hook::Forward),
        "OUTPUT" => Some(Hook::Output),
        _ => None,
    }
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
    let mut section: Option<Section> = None;
    let mut filter_seen = false;
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
            if name == "filter" {
                if filter_seen {
                    errors.push(ParseError::new(lineno, 1, "second *filter table"));
                }
                filter_seen = true;
            }
            section = Some(Section {
                name,
                start: lineno,
            });
            continue;
        }
        if line == "COMMIT" {
            match section.take() {
                None => errors.push(ParseError::new(lineno, 1, "COMMIT outside a table")),
                Some(s) => {
                    if s.name != "filter" {
                        notes.push(format!(
                            "skipped table *{} (lines {}-{}): only the filter table is evaluated",
                            s.name, s.start, lineno
                        ));
                    }
                }
            }
            continue;
        }
        let Some(sec) = &section else {
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
        if sec.name != "filter" {
            continue;
        }
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
            if chains.iter().any(|c| c.name == name) {
                errors.push(ParseError::new(
                    lineno,
                    first.col,
                    format!("chain {name:?} declared twice"),
                ));
                continue;
            }
            let base = match (builtin_hook(name), pol.text.as_str()) {
                (Some(h), "ACCEPT") => Some(BaseInfo {
                    hook: h,
                    priority: 0,
                    policy: Verdict::Accept,
                }),
                (Some(h), "DROP") => Some(BaseInfo {
                    hook: h,
                    priority: 0,
                    policy: Verdict::Drop,
                }),
                (None, "-") => None,
                (Some(_), p) => {
                    errors.push(ParseError::new(
                        lineno,
                        pol.col,
                        format!("built-in chain {name} needs policy ACCEPT or DROP, got {p:?}"),
                    ));
                    continue;
                }
                (None, p) => {
                    let msg = if p == "ACCEPT" || p == "DROP" {
                        format!("{name:?} is not a built-in chain of the filter table (INPUT, FORWARD, OUTPUT) and cannot have a policy")
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
                table: 0,
                line: lineno,
                base,
                rules: Vec::new(),
            });
            continue;
        }
        if first.text == "-A" || first.text == "--append" {
            match parse_rule(toks, lineno, line, &chains, &mut fams) {
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
        if let Some((name, col, goto)) = p.target {
            match chains.iter().position(|c| c.name == name) {
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
                        format!("unsupported target {name:?}: not a built-in target (ACCEPT, DROP, REJECT, LOG, RETURN) nor a declared chain"),
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
    if !filter_seen {
        notes.push("no *filter table: every packet is accepted".to_string());
    }
    let table = Table {
        name: "filter".to_string(),
        family: if family == Family::V4 {
            TableFamily::Ip
        } else {
            TableFamily::Ip6
        },
    };
    Ok(Ruleset::new(
        Format::IptablesSave,
        vec![table],
        chains,
        Vec::new(),
        notes,
    ))
}

fn parse_rule(
    toks: &[Tok],
    lineno: usize,
    text: &str,
    chains: &[Chain],
    fams: &mut Vec<(Family, usize, usize)>,
) -> Result<PendingRule, ParseError> {
    let err = |col: usize, m: String| ParseError::new(lineno, col, m);
    let Some(ct) = toks.get(1) else {
        return Err(err(toks[0].col, "`-A` without a chain name".into()));
    };
    let Some(chain) = chains.iter().position(|c| c.name == ct.text) else {
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
                    val(i)?;
                    i += 2;
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
                    (false, "ACCEPT") => verdict = Some(Item::Verdict(Action::Accept)),
                    (false, "DROP") => verdict = Some(Item::Verdict(Action::Drop)),
                    (false, "REJECT") => verdict = Some(Item::Verdict(Action::Reject)),
                    (false, "RETURN") => verdict = Some(Item::Verdict(Action::Return)),
                    (false, "LOG") => verdict = Some(Item::Log),
                    _ => {
                        if name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                            && !chains.iter().any(|c| c.name == name)
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
