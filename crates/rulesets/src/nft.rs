//! Parser for `nft list ruleset` text (also `nft -a list ruleset`, whose `# handle N`
//! comments are ignored). Builds the common model of [`crate::model`].

use crate::error::ParseError;
use crate::iptables::parse_prefix;
use crate::model::{
    find_loop, Action, AddrRange, BaseInfo, Chain, Cond, CtState, Family, Format, Hook, IfPat,
    Item, KeySel, KeyVal, MapElem, NatAction, NatKind, PortSel, RejectWith, Rule, Ruleset, Table,
    TableFamily, Verdict, Vmap,
};
use crate::packet::{port_number, proto_number};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
enum K {
    Word(String),
    Str(String),
    LBrace,
    RBrace,
    Comma,
    Semi,
    Assign,
    Op(&'static str),
    Newline,
}

#[derive(Debug, Clone)]
struct T {
    k: K,
    line: usize,
    col: usize,
}

fn lex(text: &str) -> Result<Vec<T>, ParseError> {
    let mut out = Vec::new();
    for (li, line) in text.lines().enumerate() {
        let ln = li + 1;
        let ch: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < ch.len() {
            let c = ch[i];
            let col = i + 1;
            let mut push = |k: K| out.push(T { k, line: ln, col });
            match c {
                _ if c.is_whitespace() => i += 1,
                '#' => break,
                '{' => {
                    push(K::LBrace);
                    i += 1
                }
                '}' => {
                    push(K::RBrace);
                    i += 1
                }
                ',' => {
                    push(K::Comma);
                    i += 1
                }
                ';' => {
                    push(K::Semi);
                    i += 1
                }
                '"' => {
                    let mut s = String::new();
                    i += 1;
                    loop {
                        match ch.get(i) {
                            None => return Err(ParseError::new(ln, col, "unterminated string")),
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some('\\') if ch.get(i + 1).is_some() => {
                                s.push(ch[i + 1]);
                                i += 2;
                            }
                            Some(&x) => {
                                s.push(x);
                                i += 1;
                            }
                        }
                    }
                    push(K::Str(s));
                }
                '!' | '=' | '<' | '>' => {
                    let next = ch.get(i + 1).copied();
                    let (k, n) = match (c, next) {
                        ('!', Some('=')) => (K::Op("!="), 2),
                        ('=', Some('=')) => (K::Op("=="), 2),
                        ('<', Some('=')) => (K::Op("<="), 2),
                        ('>', Some('=')) => (K::Op(">="), 2),
                        ('<', _) => (K::Op("<"), 1),
                        ('>', _) => (K::Op(">"), 1),
                        ('=', _) => (K::Assign, 1),
                        // `ct state ! a,b`: none of the flags
                        ('!', _) => (K::Op("!"), 1),
                        _ => return Err(ParseError::new(ln, col, "unexpected character")),
                    };
                    push(k);
                    i += n;
                }
                _ => {
                    let start = i;
                    while i < ch.len()
                        && !ch[i].is_whitespace()
                        && !matches!(
                            ch[i],
                            '{' | '}' | ',' | ';' | '"' | '!' | '=' | '<' | '>' | '#'
                        )
                    {
                        i += 1;
                    }
                    let w: String = ch[start..i].iter().collect();
                    out.push(T {
                        k: K::Word(w),
                        line: ln,
                        col,
                    });
                }
            }
        }
        out.push(T {
            k: K::Newline,
            line: ln,
            col: ch.len() + 1,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetType {
    Ipv4,
    Ipv6,
    Service,
    Proto,
    Ifname,
    CtState,
    NfProto,
}

impl SetType {
    fn name(self) -> &'static str {
        match self {
            SetType::Ipv4 => "ipv4_addr",
            SetType::Ipv6 => "ipv6_addr",
            SetType::Service => "inet_service",
            SetType::Proto => "inet_proto",
            SetType::Ifname => "ifname",
            SetType::CtState => "ct_state",
            SetType::NfProto => "nf_proto",
        }
    }

    /// The type of a `type` word (`ipv4_addr`, ...).
    fn from_type(s: &str) -> Option<SetType> {
        Some(match s {
            "ipv4_addr" => SetType::Ipv4,
            "ipv6_addr" => SetType::Ipv6,
            "inet_service" => SetType::Service,
            "inet_proto" => SetType::Proto,
            "ifname" => SetType::Ifname,
            "ct_state" => SetType::CtState,
            "nf_proto" => SetType::NfProto,
            _ => return None,
        })
    }

    /// The type of a `typeof` expression (`ip saddr`, `tcp dport`, ...).
    fn from_typeof(s: &str) -> Option<SetType> {
        Some(match s {
            "ip saddr" | "ip daddr" => SetType::Ipv4,
            "ip6 saddr" | "ip6 daddr" => SetType::Ipv6,
            "tcp dport" | "tcp sport" | "udp dport" | "udp sport" | "th dport" | "th sport" => {
                SetType::Service
            }
            "meta l4proto" | "ip protocol" | "ip6 nexthdr" => SetType::Proto,
            "iifname" | "oifname" | "meta iifname" | "meta oifname" | "iif" | "oif"
            | "meta iif" | "meta oif" => SetType::Ifname,
            "ct state" => SetType::CtState,
            "meta nfproto" => SetType::NfProto,
            _ => return None,
        })
    }

    /// The type of a key component.
    fn of_key(k: KeySel) -> SetType {
        match k {
            KeySel::Addr {
                family: Family::V4, ..
            } => SetType::Ipv4,
            KeySel::Addr {
                family: Family::V6, ..
            } => SetType::Ipv6,
            KeySel::Proto { .. } => SetType::Proto,
            KeySel::Port { .. } => SetType::Service,
            KeySel::Iface { .. } => SetType::Ifname,
            KeySel::Ct => SetType::CtState,
            KeySel::NfProto => SetType::NfProto,
        }
    }
}

/// A named verdict map of the table being read.
struct NamedMap {
    name: String,
    types: Vec<SetType>,
    /// Index into `P::maps`.
    idx: usize,
}

/// A `jump`/`goto` in a map element, resolved when the table ends.
struct PendingMapJump {
    map: usize,
    elem: usize,
    name: String,
    line: usize,
    col: usize,
}

/// What a table's rules may refer to: its named sets and maps, and the jumps of map
/// elements still to resolve.
#[derive(Default)]
struct Scope {
    sets: Vec<NamedSet>,
    maps: Vec<NamedMap>,
    map_jumps: Vec<PendingMapJump>,
}

#[derive(Debug, Clone)]
struct Elem {
    text: String,
    line: usize,
    col: usize,
}

struct NamedSet {
    name: String,
    ty: SetType,
    elems: Vec<Elem>,
}

/// Values of a match: a single value, an anonymous set, or a named set.
struct Values {
    elems: Vec<Elem>,
}

type E = ParseError;

struct P<'a> {
    t: Vec<T>,
    pos: usize,
    lines: Vec<&'a str>,
    errors: Vec<E>,
    notes: Vec<String>,
    /// Tables and hooks read but not evaluated at all (see `Ruleset::unmodelled`).
    unmodelled: Vec<(usize, String)>,
    tables: Vec<Table>,
    chains: Vec<Chain>,
    maps: Vec<Vmap>,
    declared_base: Vec<bool>,
    /// Per table: its sets, maps and map jumps (a table may come in several blocks, as
    /// in an `nft -f` file that adds to a table), and whether it is dormant.
    scopes: Vec<Scope>,
    dormant: Vec<bool>,
    /// Jumps and gotos of rules, resolved when the text ends.
    jumps: Vec<PendingJump>,
}

struct PendingJump {
    chain: usize,
    rule: usize,
    name: String,
    line: usize,
    col: usize,
    goto: bool,
}

fn describe(k: &K) -> String {
    match k {
        K::Word(w) => format!("{w:?}"),
        K::Str(s) => format!("string \"{s}\""),
        K::LBrace => "`{`".into(),
        K::RBrace => "`}`".into(),
        K::Comma => "`,`".into(),
        K::Semi => "`;`".into(),
        K::Assign => "`=`".into(),
        K::Op(o) => format!("`{o}`"),
        K::Newline => "end of line".into(),
    }
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<&T> {
        self.t.get(self.pos)
    }
    fn peek_k(&self) -> Option<&K> {
        self.t.get(self.pos).map(|t| &t.k)
    }
    fn eof_pos(&self) -> (usize, usize) {
        self.t.last().map_or((1, 1), |t| (t.line, t.col))
    }
    fn err_here(&self, msg: impl Into<String>) -> E {
        let (l, c) = self.peek().map_or(self.eof_pos(), |t| (t.line, t.col));
        E::new(l, c, msg)
    }
    fn next(&mut self) -> Option<T> {
        let t = self.t.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    fn skip_nl(&mut self) {
        while matches!(self.peek_k(), Some(K::Newline | K::Semi)) {
            self.pos += 1;
        }
    }
    fn skip_newlines_only(&mut self) {
        while matches!(self.peek_k(), Some(K::Newline)) {
            self.pos += 1;
        }
    }
    fn word(&mut self, what: &str) -> Result<(String, usize, usize), E> {
        match self.peek().cloned() {
            Some(T {
                k: K::Word(w),
                line,
                col,
            }) => {
                self.pos += 1;
                Ok((w, line, col))
            }
            Some(t) => Err(E::new(
                t.line,
                t.col,
                format!("expected {what}, got {}", describe(&t.k)),
            )),
            None => Err(self.err_here(format!("expected {what}, got end of input"))),
        }
    }
    fn name(&mut self, what: &str) -> Result<(String, usize, usize), E> {
        match self.peek().cloned() {
            Some(T {
                k: K::Word(w) | K::Str(w),
                line,
                col,
            }) => {
                self.pos += 1;
                Ok((w, line, col))
            }
            Some(t) => Err(E::new(
                t.line,
                t.col,
                format!("expected {what}, got {}", describe(&t.k)),
            )),
            None => Err(self.err_here(format!("expected {what}, got end of input"))),
        }
    }
    fn expect(&mut self, k: K) -> Result<(), E> {
        match self.peek() {
            Some(t) if t.k == k => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(E::new(
                t.line,
                t.col,
                format!("expected {}, got {}", describe(&k), describe(&t.k)),
            )),
            None => Err(self.err_here(format!("expected {}, got end of input", describe(&k)))),
        }
    }
    fn at_end_of_stmt(&self) -> bool {
        matches!(self.peek_k(), None | Some(K::Newline | K::Semi | K::RBrace))
    }
    /// Skip to the end of the current statement (newline/`;` at brace depth 0, or
    /// just before a closing `}` at depth 0).
    fn recover(&mut self) {
        let mut depth = 0usize;
        while let Some(k) = self.peek_k() {
            match k {
                K::LBrace => depth += 1,
                K::RBrace if depth == 0 => return,
                K::RBrace => depth -= 1,
                K::Newline | K::Semi if depth == 0 => {
                    self.pos += 1;
                    return;
                }
                _ => {}
            }
            self.pos += 1;
        }
    }
    /// Skip a balanced `{ ... }` block starting at the current `{`.
    fn skip_block(&mut self) -> Result<usize, E> {
        self.expect(K::LBrace)?;
        let mut depth = 1usize;
        while let Some(t) = self.next() {
            match t.k {
                K::LBrace => depth += 1,
                K::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(t.line);
                    }
                }
                _ => {}
            }
        }
        Err(self.err_here("unbalanced `{`: missing `}`"))
    }

    fn file(&mut self) -> Result<(), E> {
        loop {
            self.skip_nl();
            let Some(t) = self.peek().cloned() else {
                return Ok(());
            };
            match &t.k {
                K::Word(w) if w == "table" => {
                    self.pos += 1;
                    self.table(t.line)?;
                }
                K::Word(w) if w == "flush" => {
                    // `flush ruleset` at the top of an `nft -f` file: nothing to evaluate
                    self.pos += 1;
                    let (what, l, c) = self.word("`ruleset`")?;
                    if what != "ruleset" {
                        return Err(E::new(
                            l,
                            c,
                            format!("unsupported command \"flush {what}\""),
                        ));
                    }
                }
                k => {
                    return Err(E::new(
                        t.line,
                        t.col,
                        format!("expected `table` or `flush ruleset`, got {}", describe(k)),
                    ))
                }
            }
        }
    }

    fn table(&mut self, start_line: usize) -> Result<(), E> {
        let (first, _, fcol) = self.name("a table family or name")?;
        let fam_word = matches!(
            first.as_str(),
            "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev"
        ) && matches!(self.peek_k(), Some(K::Word(_) | K::Str(_)));
        let (family, name) = if fam_word {
            let (n, _, _) = self.name("a table name")?;
            (first, n)
        } else {
            ("ip".to_string(), first)
        };
        let tf = match family.as_str() {
            "ip" => TableFamily::Ip,
            "ip6" => TableFamily::Ip6,
            "inet" => TableFamily::Inet,
            _ => {
                let end = self.skip_block()?;
                self.notes.push(format!(
                    "skipped table {family} {name} (lines {start_line}-{end}): only ip, ip6 and inet tables are evaluated"
                ));
                if end > start_line {
                    self.unmodelled
                        .push((start_line, format!("table {family} {name}")));
                }
                return Ok(());
            }
        };
        let _ = fcol;
        // A table named again (as an `nft -f` file may, to add to it) is the same table.
        let table_idx = match self
            .tables
            .iter()
            .position(|t| t.name == name && t.family == tf)
        {
            Some(i) => i,
            None => {
                self.tables.push(Table {
                    name: name.clone(),
                    family: tf,
                });
                self.scopes.push(Scope::default());
                self.dormant.push(false);
                self.tables.len() - 1
            }
        };
        self.expect(K::LBrace)?;
        let mut scope = std::mem::take(&mut self.scopes[table_idx]);
        let mut jumps: Vec<PendingJump> = Vec::new();
        let mut dormant = false;
        loop {
            self.skip_nl();
            let Some(t) = self.peek().cloned() else {
                return Err(self.err_here(format!("table {name}: missing `}}`")));
            };
            match &t.k {
                K::RBrace => {
                    self.pos += 1;
                    break;
                }
                K::Word(w) if w == "chain" => {
                    self.pos += 1;
                    self.chain(table_idx, &mut scope, &mut jumps)?;
                }
                K::Word(w) if w == "set" => {
                    self.pos += 1;
                    let start = self.pos;
                    match self.set_decl() {
                        Ok(s) => scope.sets.push(s),
                        Err(e) => {
                            self.errors.push(e);
                            // Skip the whole set block.
                            self.pos = start + 1;
                            if self.peek_k() == Some(&K::LBrace) {
                                self.skip_block()?;
                            } else {
                                self.recover();
                            }
                        }
                    }
                }
                K::Word(w) if w == "map" => {
                    self.pos += 1;
                    let start = self.pos;
                    if let Err(e) = self.map_decl(&mut scope) {
                        self.errors.push(e);
                        // Skip the whole map block.
                        self.pos = start + 1;
                        if self.peek_k() == Some(&K::LBrace) {
                            self.skip_block()?;
                        } else {
                            self.recover();
                        }
                    }
                }
                K::Word(w) if w == "flags" => {
                    self.pos += 1;
                    while let Some(K::Word(f)) = self.peek_k().cloned() {
                        if f == "dormant" {
                            dormant = true;
                        }
                        self.pos += 1;
                        if self.peek_k() == Some(&K::Comma) {
                            self.pos += 1;
                        }
                    }
                }
                K::Word(w) if w == "comment" => {
                    self.pos += 1;
                    self.name("a comment string")?;
                }
                K::Word(w) => {
                    self.errors.push(E::new(
                        t.line,
                        t.col,
                        format!("unsupported table statement {w:?} (supported: chain, set, map, flags, comment)"),
                    ));
                    self.pos += 1;
                    if matches!(self.peek_k(), Some(K::Word(_) | K::Str(_))) {
                        self.pos += 1;
                    }
                    if self.peek_k() == Some(&K::LBrace) {
                        self.skip_block()?;
                    } else {
                        self.recover();
                    }
                }
                k => {
                    return Err(E::new(
                        t.line,
                        t.col,
                        format!(
                            "expected `chain`, `set`, `map` or `}}` in table {name}, got {}",
                            describe(k)
                        ),
                    ))
                }
            }
        }
        self.scopes[table_idx] = scope;
        self.jumps.extend(jumps);
        self.dormant[table_idx] |= dormant;
        Ok(())
    }

    /// Resolves the jumps and gotos of rules and map elements (to a regular chain of the
    /// same table, declared anywhere in the text) and sets dormant tables aside.
    fn resolve(&mut self) {
        // (table, name) -> the first chain of that name in the table
        let by_name: std::collections::HashMap<(usize, String), usize> = self
            .chains
            .iter()
            .enumerate()
            .rev()
            .map(|(i, c)| ((c.table, c.name.clone()), i))
            .collect();
        let target = |p: &Self, table: usize, name: &str, line: usize, col: usize| match by_name
            .get(&(table, name.to_string()))
            .copied()
        {
            None => Err(E::new(
                line,
                col,
                format!(
                    "jump to unknown chain {name:?} in table {}",
                    p.tables[table].name
                ),
            )),
            Some(t) if p.declared_base[t] => Err(E::new(
                line,
                col,
                format!("cannot jump to base chain {name:?}"),
            )),
            Some(t) => Ok(t),
        };
        for j in std::mem::take(&mut self.jumps) {
            let table = self.chains[j.chain].table;
            match target(self, table, &j.name, j.line, j.col) {
                Err(e) => self.errors.push(e),
                Ok(t) => {
                    if let Some(r) = self.chains[j.chain].rules.get_mut(j.rule) {
                        r.items.push(Item::Verdict(if j.goto {
                            Action::Goto(t)
                        } else {
                            Action::Jump(t)
                        }));
                    }
                }
            }
        }
        for table in 0..self.scopes.len() {
            for j in std::mem::take(&mut self.scopes[table].map_jumps) {
                match target(self, table, &j.name, j.line, j.col) {
                    Err(e) => self.errors.push(e),
                    Ok(t) => {
                        if let Some(e) = self
                            .maps
                            .get_mut(j.map)
                            .and_then(|m| m.elems.get_mut(j.elem))
                        {
                            e.verdict = match e.verdict {
                                Some(Action::Goto(_)) => Some(Action::Goto(t)),
                                _ => Some(Action::Jump(t)),
                            };
                        }
                    }
                }
            }
            if self.dormant[table] {
                let fam = match self.tables[table].family {
                    TableFamily::Ip => "ip",
                    TableFamily::Ip6 => "ip6",
                    TableFamily::Inet => "inet",
                };
                self.notes.push(format!(
                    "table {fam} {} is dormant (flags dormant): not evaluated",
                    self.tables[table].name
                ));
                for c in self.chains.iter_mut().filter(|c| c.table == table) {
                    c.base = None;
                }
            }
        }
    }

    fn set_decl(&mut self) -> Result<NamedSet, E> {
        let (name, _, _) = self.name("a set name")?;
        self.expect(K::LBrace)?;
        let mut ty: Option<SetType> = None;
        let mut elems = Vec::new();
        loop {
            self.skip_nl();
            let Some(t) = self.peek().cloned() else {
                return Err(self.err_here("set: missing `}`"));
            };
            let K::Word(w) = &t.k else {
                if t.k == K::RBrace {
                    self.pos += 1;
                    break;
                }
                return Err(E::new(
                    t.line,
                    t.col,
                    format!("expected a set statement, got {}", describe(&t.k)),
                ));
            };
            self.pos += 1;
            match w.as_str() {
                "type" => {
                    let (ty_name, l, c) = self.word("a set type")?;
                    if !self.at_end_of_stmt() {
                        return Err(self.err_here(format!(
                            "unsupported set type: concatenations (`{ty_name} . ...`) are not supported"
                        )));
                    }
                    ty = Some(SetType::from_type(&ty_name).ok_or_else(|| {
                        E::new(l, c, format!("unsupported set type {ty_name:?}"))
                    })?);
                }
                "typeof" => {
                    let mut words = Vec::new();
                    while !self.at_end_of_stmt() {
                        let (x, _, _) = self.word("a typeof expression")?;
                        words.push(x);
                    }
                    let joined = words.join(" ");
                    ty = Some(SetType::from_typeof(&joined).ok_or_else(|| {
                        E::new(
                            t.line,
                            t.col,
                            if words.iter().any(|w| w == ".") {
                                format!("unsupported set typeof {joined:?}: concatenations are supported in verdict maps only")
                            } else {
                                format!("unsupported set typeof {joined:?}")
                            },
                        )
                    })?);
                }
                "flags" => loop {
                    let (f, l, c) = self.word("a set flag")?;
                    if !matches!(f.as_str(), "interval" | "constant" | "dynamic" | "timeout") {
                        return Err(E::new(l, c, format!("unsupported set flag {f:?}")));
                    }
                    if self.peek_k() == Some(&K::Comma) {
                        self.pos += 1;
                    } else {
                        break;
                    }
                },
                "elements" => {
                    self.expect(K::Assign)?;
                    let v = self.values()?;
                    elems = v.elems;
                }
                "size" | "policy" | "timeout" | "gc-interval" => {
                    self.word("a value")?;
                }
                "auto-merge" | "counter" => {}
                "comment" => {
                    self.name("a comment string")?;
                }
                other => {
                    return Err(E::new(
                        t.line,
                        t.col,
                        format!("unsupported set statement {other:?}"),
                    ))
                }
            }
            if !self.at_end_of_stmt() {
                return Err(self.err_here("expected end of set statement"));
            }
        }
        let ty = ty.ok_or_else(|| self.err_here(format!("set {name} has no type")))?;
        Ok(NamedSet { name, ty, elems })
    }

    fn chain(
        &mut self,
        table: usize,
        scope: &mut Scope,
        jumps: &mut Vec<PendingJump>,
    ) -> Result<(), E> {
        let (name, cline, ccol) = self.name("a chain name")?;
        self.expect(K::LBrace)?;
        let idx = self.chains.len();
        if self
            .chains
            .iter()
            .any(|c| c.table == table && c.name == name)
        {
            self.errors.push(E::new(
                cline,
                ccol,
                format!("chain {name:?} defined twice in this table"),
            ));
        }
        self.chains.push(Chain {
            name: name.clone(),
            table,
            line: cline,
            base: None,
            rules: Vec::new(),
        });
        self.declared_base.push(false);
        let mut base: Option<(String, Hook, i32)> = None;
        let mut policy = Verdict::Accept;
        let mut policy_at: Option<(usize, usize)> = None;
        loop {
            self.skip_nl();
            let Some(t) = self.peek().cloned() else {
                return Err(self.err_here(format!("chain {name}: missing `}}`")));
            };
            match &t.k {
                K::RBrace => {
                    self.pos += 1;
                    break;
                }
                K::Word(w) if w == "type" => {
                    self.pos += 1;
                    match self.base_decl(&name) {
                        Ok(b) => {
                            self.declared_base[idx] = true;
                            base = b;
                        }
                        Err(e) => {
                            self.declared_base[idx] = true;
                            self.errors.push(e);
                            self.recover();
                        }
                    }
                }
                K::Word(w) if w == "policy" => {
                    self.pos += 1;
                    policy_at = Some((t.line, t.col));
                    match self.word("`accept` or `drop`") {
                        Ok((p, _, _)) if p == "accept" => policy = Verdict::Accept,
                        Ok((p, _, _)) if p == "drop" => policy = Verdict::Drop,
                        Ok((p, l, c)) => {
                            self.errors.push(E::new(
                                l,
                                c,
                                format!("unsupported policy {p:?} (expected accept or drop)"),
                            ));
                            self.recover();
                        }
                        Err(e) => {
                            self.errors.push(e);
                            self.recover();
                        }
                    }
                }
                K::Word(w) if w == "comment" && self.rule_is_only_comment() => {
                    self.pos += 1;
                    self.name("a comment string")?;
                }
                _ => {
                    let start = self.pos;
                    let rule_idx = self.chains[idx].rules.len();
                    match self.rule(scope) {
                        Ok((items, jump)) => {
                            let first = &self.t[start];
                            let last_line = self.t[self.pos.saturating_sub(1).max(start)].line;
                            let text = (first.line..=last_line)
                                .filter_map(|l| self.lines.get(l - 1))
                                .map(|s| s.trim())
                                .collect::<Vec<_>>()
                                .join(" ");
                            let line = first.line;
                            if let Some((jn, jl, jc, goto)) = jump {
                                jumps.push(PendingJump {
                                    chain: idx,
                                    rule: rule_idx,
                                    name: jn,
                                    line: jl,
                                    col: jc,
                                    goto,
                                });
                            }
                            self.chains[idx].rules.push(Rule { line, text, items });
                        }
                        Err(e) => {
                            self.errors.push(e);
                            self.recover();
                        }
                    }
                }
            }
        }
        if let (Some((l, c)), false) = (policy_at, self.declared_base[idx]) {
            self.errors.push(E::new(
                l,
                c,
                format!("`policy` in chain {name}, which is not a base chain"),
            ));
        }
        if let Some((ty, hook, prio)) = base {
            let nat = ty == "nat";
            if nat {
                self.notes.push(format!(
                    "chain {name} (line {cline}) is a nat chain: address translation, not evaluated by `filter` (a scenario's `ruleset:` uses it)"
                ));
            }
            self.chains[idx].base = Some(BaseInfo {
                hook,
                priority: prio,
                policy,
                nat,
            });
        }
        Ok(())
    }

    fn rule_is_only_comment(&self) -> bool {
        matches!(self.t.get(self.pos + 1).map(|t| &t.k), Some(K::Str(_)))
            && matches!(
                self.t.get(self.pos + 2).map(|t| &t.k),
                None | Some(K::Newline | K::Semi | K::RBrace)
            )
    }

    /// After `type`: `T hook H [device D] priority P`. Returns None for hooks we do not
    /// evaluate (with a note).
    fn base_decl(&mut self, chain: &str) -> Result<Option<(String, Hook, i32)>, E> {
        let (ty, tl, tc) = self.word("a chain type")?;
        if !matches!(ty.as_str(), "filter" | "nat" | "route") {
            return Err(E::new(tl, tc, format!("unsupported chain type {ty:?}")));
        }
        let (h, _, _) = self.word("`hook`")?;
        if h != "hook" {
            return Err(self.err_here("expected `hook`"));
        }
        let (hook_name, hl, _) = self.word("a hook name")?;
        let hook = match hook_name.as_str() {
            "prerouting" => Some(Hook::Prerouting),
            "input" => Some(Hook::Input),
            "forward" => Some(Hook::Forward),
            "output" => Some(Hook::Output),
            "postrouting" => Some(Hook::Postrouting),
            "ingress" | "egress" => None,
            other => return Err(E::new(hl, 0, format!("unsupported hook {other:?}"))),
        };
        if matches!(self.peek_k(), Some(K::Word(w)) if w == "device") {
            self.pos += 1;
            self.name("a device name")?;
        }
        let (p, _, _) = self.word("`priority`")?;
        if p != "priority" {
            return Err(self.err_here("expected `priority`"));
        }
        let (pv, pl, pc) = self.word("a priority")?;
        let named = |s: &str| -> Option<i32> {
            Some(match s {
                "raw" => -300,
                "mangle" => -150,
                "dstnat" => -100,
                "filter" => 0,
                "security" => 50,
                "srcnat" => 100,
                _ => return s.parse::<i32>().ok(),
            })
        };
        let mut prio =
            named(&pv).ok_or_else(|| E::new(pl, pc, format!("invalid priority {pv:?}")))?;
        if let Some(K::Word(op)) = self.peek_k().cloned() {
            if op == "+" || op == "-" {
                self.pos += 1;
                let (n, l, c) = self.word("a number")?;
                let n: i32 = n
                    .parse()
                    .map_err(|_| E::new(l, c, format!("invalid priority offset {n:?}")))?;
                prio = if op == "+" {
                    prio.saturating_add(n)
                } else {
                    prio.saturating_sub(n)
                };
            }
        }
        if !self.at_end_of_stmt() {
            return Err(self.err_here("expected `;` after the priority"));
        }
        match hook {
            Some(h) => Ok(Some((ty, h, prio))),
            None => {
                self.notes.push(format!(
                    "chain {chain} on hook {hook_name} (line {hl}) is not evaluated"
                ));
                self.unmodelled
                    .push((hl, format!("chain {chain} on hook {hook_name}")));
                Ok(None)
            }
        }
    }

    /// Values after a match key: optional anonymous set `{ ... }`, named set `@x`, or a
    /// single value.
    fn values(&mut self) -> Result<Values, E> {
        let mut elems = Vec::new();
        if self.peek_k() == Some(&K::LBrace) {
            self.pos += 1;
            loop {
                self.skip_newlines_only();
                let Some(t) = self.next() else {
                    return Err(self.err_here("missing `}` closing the set"));
                };
                match t.k {
                    K::RBrace => break,
                    K::Comma => continue,
                    K::Word(w) | K::Str(w) => {
                        // element annotations (a set with `counter`, `timeout`,
                        // element comments) say nothing about matching
                        self.element_annotations()?;
                        if matches!(self.peek_k(), Some(K::Word(_))) {
                            let n = self.peek().cloned();
                            if let Some(n) = n {
                                return Err(E::new(
                                    n.line,
                                    n.col,
                                    format!("unsupported set element syntax {}", describe(&n.k)),
                                ));
                            }
                        }
                        elems.push(Elem {
                            text: w,
                            line: t.line,
                            col: t.col,
                        })
                    }
                    k => {
                        return Err(E::new(
                            t.line,
                            t.col,
                            format!("expected a set element, got {}", describe(&k)),
                        ))
                    }
                }
            }
            return Ok(Values { elems });
        }
        let Some(t) = self.next() else {
            return Err(self.err_here("expected a value"));
        };
        match t.k {
            K::Word(w) | K::Str(w) => elems.push(Elem {
                text: w,
                line: t.line,
                col: t.col,
            }),
            k => {
                return Err(E::new(
                    t.line,
                    t.col,
                    format!("expected a value, got {}", describe(&k)),
                ))
            }
        }
        Ok(Values { elems })
    }

    /// Reads `[op] values`; resolves `@set` references.
    fn operand(
        &mut self,
        sets: &[NamedSet],
        ty: SetType,
    ) -> Result<(bool, Vec<Elem>, Option<String>), E> {
        let mut neg = false;
        let mut rel: Option<&'static str> = None;
        if let Some(K::Op(o)) = self.peek_k().cloned() {
            self.pos += 1;
            match o {
                "!=" => neg = true,
                "==" => {}
                "!" => {
                    let (l, c) = self.t.get(self.pos - 1).map_or((0, 0), |t| (t.line, t.col));
                    return Err(E::new(
                        l,
                        c,
                        "`!` (none of the flags) applies to ct state only; use `!=`",
                    ));
                }
                _ => rel = Some(o),
            }
        }
        let at = self.peek().map_or(self.eof_pos(), |t| (t.line, t.col));
        if let Some(K::Word(w)) = self.peek_k() {
            if w == "vmap" {
                return Err(E::new(
                    at.0,
                    at.1,
                    "a verdict map lookup cannot be negated or compared (nft refuses `!= vmap`)",
                ));
            }
            if w == "map" {
                return Err(E::new(
                    at.0,
                    at.1,
                    "unsupported map lookup (`map { ... }`): only verdict maps (`vmap`) are evaluated",
                ));
            }
        }
        let v = self.values()?;
        if let Some(op) = rel {
            if v.elems.len() != 1 {
                return Err(E::new(at.0, at.1, format!("`{op}` needs a single value")));
            }
        }
        if v.elems.len() == 1 {
            if let Some(name) = v.elems[0].text.strip_prefix('@') {
                let e = &v.elems[0];
                if rel.is_some() {
                    return Err(E::new(e.line, e.col, "relational operator with a set"));
                }
                let Some(s) = sets.iter().find(|s| s.name == name) else {
                    return Err(E::new(e.line, e.col, format!("unknown set @{name} (sets must be declared before use in the same table)")));
                };
                if s.ty != ty {
                    return Err(E::new(
                        e.line,
                        e.col,
                        format!(
                            "set @{name} has type {}, expected {}",
                            s.ty.name(),
                            ty.name()
                        ),
                    ));
                }
                return Ok((neg, s.elems.clone(), None));
            }
        }
        Ok((neg, v.elems, rel.map(str::to_string)))
    }

    fn addr_match(
        &mut self,
        sets: &[NamedSet],
        fam: Family,
        dst: bool,
        key: (usize, usize),
    ) -> Result<Cond, E> {
        let ty = if fam == Family::V4 {
            SetType::Ipv4
        } else {
            SetType::Ipv6
        };
        let (neg, elems, rel) = self.operand(sets, ty)?;
        if rel.is_some() {
            return Err(E::new(
                key.0,
                key.1,
                "relational operators on addresses are not supported",
            ));
        }
        let mut set = Vec::new();
        for e in &elems {
            let r = parse_addr_elem(&e.text)
                .filter(|r| r.family == fam)
                .ok_or_else(|| {
                    E::new(
                        e.line,
                        e.col,
                        format!(
                            "expected an {} address, prefix or range, got {:?}",
                            if fam == Family::V4 { "IPv4" } else { "IPv6" },
                            e.text
                        ),
                    )
                })?;
            set.push(r);
        }
        Ok(Cond::Addr {
            dst,
            neg,
            family: fam,
            set,
        })
    }

    fn port_match(&mut self, sets: &[NamedSet], sel: PortSel, l4: Option<u8>) -> Result<Cond, E> {
        let (neg, elems, rel) = self.operand(sets, SetType::Service)?;
        let mut ranges = Vec::new();
        for e in &elems {
            let r = parse_port_elem(&e.text).ok_or_else(|| {
                E::new(
                    e.line,
                    e.col,
                    format!("expected a port, range or service name, got {:?}", e.text),
                )
            })?;
            ranges.push(r);
        }
        if let Some(op) = rel {
            let [(p, q)] = ranges[..] else {
                return Err(E::new(
                    elems[0].line,
                    elems[0].col,
                    format!("`{op}` needs a single port"),
                ));
            };
            if p != q {
                return Err(E::new(
                    elems[0].line,
                    elems[0].col,
                    format!("`{op}` needs a single port"),
                ));
            }
            let r = match op.as_str() {
                "<" if p == 0 => None,
                "<" => Some((0, p - 1)),
                "<=" => Some((0, p)),
                ">" if p == 65535 => None,
                ">" => Some((p + 1, 65535)),
                _ => Some((p, 65535)),
            };
            ranges = r.into_iter().collect();
        }
        Ok(Cond::Port {
            sel,
            neg,
            l4,
            ranges,
        })
    }

    fn proto_match(&mut self, sets: &[NamedSet]) -> Result<Cond, E> {
        let (neg, elems, rel) = self.operand(sets, SetType::Proto)?;
        if let Some(op) = rel {
            return Err(E::new(
                elems[0].line,
                elems[0].col,
                format!("`{op}` on a protocol is not supported"),
            ));
        }
        let mut protos = Vec::new();
        for e in &elems {
            protos.push(
                proto_number(&e.text).ok_or_else(|| {
                    E::new(e.line, e.col, format!("unknown protocol {:?}", e.text))
                })?,
            );
        }
        Ok(Cond::Proto { neg, protos })
    }

    fn iface_match(&mut self, sets: &[NamedSet], out: bool) -> Result<Cond, E> {
        let (neg, elems, rel) = self.operand(sets, SetType::Ifname)?;
        if let Some(op) = rel {
            return Err(E::new(
                elems[0].line,
                elems[0].col,
                format!("`{op}` on an interface is not supported"),
            ));
        }
        Ok(Cond::Iface {
            out,
            neg,
            pats: elems.iter().map(|e| IfPat::parse_nft(&e.text)).collect(),
        })
    }

    /// `ct state [op] VALUES`. As nft reads and prints it: `a,b` is a bitmask test (any
    /// of the states), `! a,b` none of them, `a | b` one value compared exactly (which a
    /// packet, in one state, never has), `{ a, b }` and `@set` a set of values.
    fn ct_match(&mut self, sets: &[NamedSet]) -> Result<Cond, E> {
        let mut op: Option<&'static str> = None;
        if let Some(t) = self.peek().cloned() {
            if let K::Op(o) = t.k {
                if !matches!(o, "!=" | "==" | "!") {
                    return Err(E::new(
                        t.line,
                        t.col,
                        format!("`{o}` on ct state is not supported"),
                    ));
                }
                self.pos += 1;
                op = Some(o);
            }
        }
        let at = self.peek().map_or(self.eof_pos(), |t| (t.line, t.col));
        let state = |name: &str, l: usize, c: usize| -> Result<u8, E> {
            Ok(CtState::from_name(name)
                .ok_or_else(|| E::new(l, c, format!("unsupported ct state {name:?}")))?
                .bit())
        };
        // A set: each element one value.
        let set_elems = if self.peek_k() == Some(&K::LBrace) {
            Some(self.values()?.elems)
        } else if let Some(K::Word(w)) = self.peek_k() {
            match w.strip_prefix('@') {
                Some(name) => {
                    let name = name.to_string();
                    let Some(s) = sets.iter().find(|s| s.name == name) else {
                        return Err(E::new(at.0, at.1, format!("unknown set @{name} (sets must be declared before use in the same table)")));
                    };
                    if s.ty != SetType::CtState {
                        return Err(E::new(
                            at.0,
                            at.1,
                            format!("set @{name} has type {}, expected ct_state", s.ty.name()),
                        ));
                    }
                    self.pos += 1;
                    Some(s.elems.clone())
                }
                None if w == "vmap" || w == "map" => {
                    return Err(E::new(
                        at.0,
                        at.1,
                        if w == "vmap" {
                            "a verdict map lookup cannot be negated or compared (nft refuses `!= vmap`)"
                        } else {
                            "unsupported map lookup (`map { ... }`): only verdict maps (`vmap`) are evaluated"
                        },
                    ))
                }
                None => None,
            }
        } else {
            None
        };
        if let Some(elems) = set_elems {
            if op == Some("!") {
                return Err(E::new(at.0, at.1, "`!` needs states, not a set"));
            }
            let mut values = Vec::new();
            for e in &elems {
                let mut v = 0u8;
                for name in e.text.split('|').map(str::trim).filter(|n| !n.is_empty()) {
                    v |= state(name, e.line, e.col)?;
                }
                values.push(v);
            }
            return Ok(Cond::CtValues {
                neg: op == Some("!="),
                values,
            });
        }
        // Bare values: groups separated by `,`, the states of a group by `|`.
        let mut groups: Vec<u8> = Vec::new();
        let mut piped = false;
        loop {
            let (w, l, c) = self.word("a ct state")?;
            let mut v = 0u8;
            for name in w.split('|').filter(|n| !n.is_empty()) {
                v |= state(name, l, c)?;
            }
            piped |= w.contains('|');
            // `a | b`, `a| b`, `a |b`: more states of the value
            let mut more = w.ends_with('|');
            loop {
                if self.next_is_word("|") {
                    self.pos += 1;
                    more = true;
                } else if matches!(self.peek_k(), Some(K::Word(x)) if x.starts_with('|')) {
                    more = true;
                }
                if !more {
                    break;
                }
                let (w2, l2, c2) = self.word("a ct state after `|`")?;
                for name in w2.split('|').filter(|n| !n.is_empty()) {
                    v |= state(name, l2, c2)?;
                }
                piped = true;
                more = w2.ends_with('|');
            }
            groups.push(v);
            if self.peek_k() == Some(&K::Comma) {
                self.pos += 1;
            } else {
                break;
            }
        }
        if piped && groups.len() > 1 {
            return Err(E::new(at.0, at.1, "ct state: `,` and `|` mixed"));
        }
        let all = groups.iter().fold(0u8, |a, b| a | b);
        Ok(match op {
            Some("!") => Cond::Ct {
                neg: true,
                mask: all,
            },
            Some("!=") => {
                if groups.len() > 1 {
                    self.notes.push(format!(
                        "line {}: nft reads `ct state != a,b` as `ct state != a | b`: the state is not the one value a|b, which holds for every packet; `ct state ! a,b` is \"none of them\"",
                        at.0
                    ));
                }
                Cond::CtValues {
                    neg: true,
                    values: vec![all],
                }
            }
            _ if piped => Cond::CtValues {
                neg: false,
                values: vec![all],
            },
            _ => Cond::Ct {
                neg: false,
                mask: all,
            },
        })
    }

    fn next_is_word(&self, w: &str) -> bool {
        matches!(self.peek_k(), Some(K::Word(x)) if x == w)
    }

    /// The key expression that starts with `w` (already read) and its field words:
    /// `ip saddr`, `tcp dport`, `meta l4proto`, `iifname`, `ct state`, ...
    fn selector(&mut self, w: &str, at: (usize, usize)) -> Result<KeySel, E> {
        let sel = match w {
            "ip" | "ip6" => {
                let family = if w == "ip" { Family::V4 } else { Family::V6 };
                let (f, l, c) = self.word("a field (saddr, daddr, ...)")?;
                match f.as_str() {
                    "saddr" | "daddr" => KeySel::Addr {
                        dst: f == "daddr",
                        family,
                    },
                    "protocol" if family == Family::V4 => KeySel::Proto {
                        family: Some(family),
                    },
                    "nexthdr" if family == Family::V6 => KeySel::Proto {
                        family: Some(family),
                    },
                    _ => return Err(E::new(l, c, format!("unsupported expression \"{w} {f}\""))),
                }
            }
            "tcp" | "udp" | "th" => {
                let (f, l, c) = self.word("`sport` or `dport`")?;
                let dst = match f.as_str() {
                    "sport" => false,
                    "dport" => true,
                    _ => return Err(E::new(l, c, format!("unsupported expression \"{w} {f}\""))),
                };
                let l4 = match w {
                    "tcp" => Some(6),
                    "udp" => Some(17),
                    _ => None,
                };
                KeySel::Port { dst, l4 }
            }
            "meta" => {
                let (f, l, c) = self.word("a meta key")?;
                match f.as_str() {
                    "l4proto" => KeySel::Proto { family: None },
                    "nfproto" => KeySel::NfProto,
                    "iifname" | "iif" | "oifname" | "oif" => KeySel::Iface {
                        out: f.starts_with('o'),
                    },
                    _ => return Err(E::new(l, c, format!("unsupported expression \"meta {f}\""))),
                }
            }
            "iifname" | "iif" | "oifname" | "oif" => KeySel::Iface {
                out: w.starts_with('o'),
            },
            "ct" => {
                let (f, l, c) = self.word("a ct key")?;
                if f != "state" {
                    return Err(E::new(l, c, format!("unsupported expression \"ct {f}\"")));
                }
                KeySel::Ct
            }
            _ => return Err(E::new(at.0, at.1, format!("unsupported expression {w:?}"))),
        };
        Ok(sel)
    }

    /// A match on a key expression: `KEY [op] VALUES`.
    fn match_sel(
        &mut self,
        sets: &[NamedSet],
        sel: KeySel,
        key: (usize, usize),
        items: &mut Vec<Item>,
    ) -> Result<(), E> {
        let cnd = match sel {
            KeySel::Addr { dst, family } => self.addr_match(sets, family, dst, key)?,
            KeySel::Proto { family } => {
                if let Some(f) = family {
                    items.push(Item::Cond(Cond::Family(f)));
                }
                self.proto_match(sets)?
            }
            KeySel::Port { dst, l4 } => {
                self.port_match(sets, if dst { PortSel::Dst } else { PortSel::Src }, l4)?
            }
            KeySel::Iface { out } => self.iface_match(sets, out)?,
            KeySel::Ct => self.ct_match(sets)?,
            KeySel::NfProto => {
                let (v, vl, vc) = self.word("ipv4 or ipv6")?;
                Cond::Family(match v.as_str() {
                    "ipv4" => Family::V4,
                    "ipv6" => Family::V6,
                    _ => return Err(E::new(vl, vc, format!("unsupported nfproto {v:?}"))),
                })
            }
        };
        items.push(Item::Cond(cnd));
        Ok(())
    }

    /// After a key expression `first`: more components (`. tcp dport`), then `vmap`
    /// with an anonymous map `{ ... }` or a named one `@NAME`. Returns the lookup.
    fn vmap(&mut self, scope: &mut Scope, first: KeySel, at: (usize, usize)) -> Result<Item, E> {
        let mut keys = vec![first];
        while self.next_is_word(".") {
            self.pos += 1;
            let (w, l, c) = self.word("a key expression after `.`")?;
            keys.push(self.selector(&w, (l, c))?);
        }
        match self.peek().cloned() {
            Some(T {
                k: K::Word(w), ..
            }) if w == "vmap" => self.pos += 1,
            Some(T {
                k: K::Word(w),
                line,
                col,
            }) if w == "map" => {
                return Err(E::new(
                    line,
                    col,
                    "unsupported map lookup (`map { ... }`): only verdict maps (`vmap`) are evaluated",
                ))
            }
            Some(t) => {
                return Err(E::new(
                    t.line,
                    t.col,
                    format!(
                        "unsupported concatenation (`a . b` compared with a set): expected `vmap` after a concatenated key, got {}",
                        describe(&t.k)
                    ),
                ))
            }
            None => return Err(self.err_here("expected `vmap`, got end of input")),
        }
        let types: Vec<SetType> = keys.iter().map(|k| SetType::of_key(*k)).collect();
        let want = types
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(" . ");
        match self.peek().cloned() {
            Some(T {
                k: K::Word(w),
                line,
                col,
            }) if w.starts_with('@') => {
                self.pos += 1;
                let name = &w[1..];
                let Some(m) = scope.maps.iter().find(|m| m.name == name) else {
                    return Err(E::new(
                        line,
                        col,
                        format!("unknown map @{name} (maps must be declared before use in the same table)"),
                    ));
                };
                if m.types != types {
                    let have = m
                        .types
                        .iter()
                        .map(|t| t.name())
                        .collect::<Vec<_>>()
                        .join(" . ");
                    return Err(E::new(
                        line,
                        col,
                        format!("map @{name} has key type {have}, expected {want}"),
                    ));
                }
                Ok(Item::Vmap { map: m.idx, keys })
            }
            Some(T { k: K::LBrace, .. }) => {
                let idx = self.maps.len();
                let elems = self.map_elems(&types, idx, &mut scope.map_jumps)?;
                self.maps.push(Vmap { name: None, elems });
                Ok(Item::Vmap { map: idx, keys })
            }
            Some(t) => Err(E::new(
                t.line,
                t.col,
                format!(
                    "expected `{{` or `@MAP` after `vmap`, got {}",
                    describe(&t.k)
                ),
            )),
            None => Err(E::new(at.0, at.1, "expected a map after `vmap`")),
        }
    }

    /// `{ KEY [. KEY ...] [counter ...] [timeout T] [expires T] [comment "..."] : VERDICT,
    /// ... }` for a map with key types `types` that will have index `map`.
    fn map_elems(
        &mut self,
        types: &[SetType],
        map: usize,
        jumps: &mut Vec<PendingMapJump>,
    ) -> Result<Vec<MapElem>, E> {
        self.expect(K::LBrace)?;
        let mut elems: Vec<MapElem> = Vec::new();
        // (line, column) of each element, for errors.
        let mut at: Vec<(usize, usize)> = Vec::new();
        loop {
            self.skip_newlines_only();
            let Some(t) = self.peek().cloned() else {
                return Err(self.err_here("missing `}` closing the map"));
            };
            match t.k {
                K::RBrace => {
                    self.pos += 1;
                    break;
                }
                K::Comma => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            // The key.
            let (key, key_text) = if matches!(&t.k, K::Word(w) if w == "*") {
                self.pos += 1;
                (None, "*".to_string())
            } else {
                let mut vals = Vec::new();
                let mut texts = Vec::new();
                for (i, ty) in types.iter().enumerate() {
                    if i > 0 {
                        match self.next() {
                            Some(T { k: K::Word(w), .. }) if w == "." => {}
                            Some(x) => {
                                return Err(E::new(
                                    x.line,
                                    x.col,
                                    format!(
                                        "expected `.` and the next part of the key ({}), got {}",
                                        ty.name(),
                                        describe(&x.k)
                                    ),
                                ))
                            }
                            None => return Err(self.err_here("missing `}` closing the map")),
                        }
                    }
                    let (v, text) = self.key_val(*ty)?;
                    vals.push(v);
                    texts.push(text);
                }
                (Some(vals), texts.join(" . "))
            };
            self.element_annotations()?;
            match self.next() {
                Some(T { k: K::Word(w), .. }) if w == ":" => {}
                Some(x) => {
                    return Err(E::new(
                        x.line,
                        x.col,
                        format!(
                            "expected ` : ` and a verdict after the map key, got {}",
                            describe(&x.k)
                        ),
                    ))
                }
                None => return Err(self.err_here("missing `}` closing the map")),
            }
            let (v, vl, vc) = self.word("a verdict")?;
            let (verdict, vtext) = match v.as_str() {
                "accept" => (Some(Action::Accept), v.clone()),
                "drop" => (Some(Action::Drop), v.clone()),
                "return" => (Some(Action::Return), v.clone()),
                "continue" => (None, v.clone()),
                "jump" | "goto" => {
                    let (n, nl, nc) = self.name("a chain name")?;
                    jumps.push(PendingMapJump {
                        map,
                        elem: elems.len(),
                        name: n.clone(),
                        line: nl,
                        col: nc,
                    });
                    // The target is resolved when the table ends.
                    let a = if v == "goto" {
                        Action::Goto(usize::MAX)
                    } else {
                        Action::Jump(usize::MAX)
                    };
                    (Some(a), format!("{v} {n}"))
                }
                _ => {
                    return Err(E::new(
                        vl,
                        vc,
                        format!("unsupported verdict {v:?} in a verdict map (nft allows accept, drop, continue, return, jump and goto)"),
                    ))
                }
            };
            let elem = MapElem {
                key,
                verdict,
                line: t.line,
                text: format!("{key_text} : {vtext}"),
            };
            elems.push(elem);
            at.push((t.line, t.col));
            if !matches!(self.peek_k(), Some(K::Comma | K::RBrace | K::Newline)) {
                let x = self.peek().cloned();
                return Err(match x {
                    Some(x) => E::new(
                        x.line,
                        x.col,
                        format!(
                            "expected `,` or `}}` after the map element, got {}",
                            describe(&x.k)
                        ),
                    ),
                    None => self.err_here("missing `}` closing the map"),
                });
            }
        }
        if let Some((i, j)) = find_overlap(&elems) {
            // Report the later one.
            let (i, j) = if at[i] < at[j] { (i, j) } else { (j, i) };
            let key = |e: &MapElem| e.text.split(" : ").next().unwrap_or("").to_string();
            return Err(E::new(
                at[j].0,
                at[j].1,
                format!(
                    "map element `{}` overlaps `{}` (line {}): nft refuses overlapping elements",
                    key(&elems[j]),
                    key(&elems[i]),
                    at[i].0
                ),
            ));
        }
        Ok(elems)
    }

    /// What may follow a set or map element's key: `counter [packets N bytes M]`,
    /// `timeout T`, `expires T`, `comment "..."`.
    fn element_annotations(&mut self) -> Result<(), E> {
        while let Some(K::Word(o)) = self.peek_k().cloned() {
            match o.as_str() {
                "counter" => {
                    self.pos += 1;
                    if self.next_is_word("packets") {
                        self.pos += 1;
                        self.word("a packet count")?;
                        let (b, l, c) = self.word("`bytes`")?;
                        if b != "bytes" {
                            return Err(E::new(l, c, "expected `bytes`"));
                        }
                        self.word("a byte count")?;
                    }
                }
                "timeout" | "expires" => {
                    self.pos += 1;
                    self.word("a time")?;
                }
                "comment" => {
                    self.pos += 1;
                    self.name("a comment string")?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// One key value of type `ty`; returns it and its text as written (a ct state
    /// value may be `established | related`).
    fn key_val(&mut self, ty: SetType) -> Result<(KeyVal, String), E> {
        let (w, l, c) = self.name(ty.name())?;
        let bad = |what: &str| E::new(l, c, format!("expected {what}, got {w:?}"));
        let v =
            match ty {
                SetType::Ipv4 | SetType::Ipv6 => {
                    let fam = if ty == SetType::Ipv4 {
                        Family::V4
                    } else {
                        Family::V6
                    };
                    KeyVal::Addr(parse_addr_elem(&w).filter(|r| r.family == fam).ok_or_else(
                        || {
                            bad(if fam == Family::V4 {
                                "an IPv4 address, prefix or range"
                            } else {
                                "an IPv6 address, prefix or range"
                            })
                        },
                    )?)
                }
                SetType::Service => {
                    let (a, b) =
                        parse_port_elem(&w).ok_or_else(|| bad("a port, range or service name"))?;
                    KeyVal::Port(a, b)
                }
                SetType::Proto => KeyVal::Proto(proto_number(&w).ok_or_else(|| bad("a protocol"))?),
                SetType::Ifname => KeyVal::Iface(IfPat::parse_nft(&w)),
                SetType::NfProto => KeyVal::NfProto(match w.as_str() {
                    "ipv4" => Family::V4,
                    "ipv6" => Family::V6,
                    _ => return Err(bad("ipv4 or ipv6")),
                }),
                SetType::CtState => {
                    let mut names: Vec<String> = w.split('|').map(str::to_string).collect();
                    while self.next_is_word("|") || names.last().is_some_and(|n| n.is_empty()) {
                        if self.next_is_word("|") {
                            self.pos += 1;
                        }
                        names.retain(|n| !n.is_empty());
                        let (n, _, _) = self.word("a ct state")?;
                        names.extend(n.split('|').map(str::to_string));
                    }
                    names.retain(|n| !n.is_empty());
                    let mut mask = 0u8;
                    for n in &names {
                        mask |= CtState::from_name(n)
                            .ok_or_else(|| E::new(l, c, format!("unsupported ct state {n:?}")))?
                            .bit();
                    }
                    if mask == 0 {
                        return Err(bad("a ct state"));
                    }
                    return Ok((KeyVal::Ct(mask), names.join(" | ")));
                }
            };
        let text = if ty == SetType::Ifname {
            format!("\"{w}\"")
        } else {
            w
        };
        Ok((v, text))
    }

    /// `map NAME { type K [. K] : verdict; [flags ...;] [elements = { ... }] ... }`, after
    /// `map`. A map to anything but verdicts is skipped with a note.
    fn map_decl(&mut self, scope: &mut Scope) -> Result<(), E> {
        let (name, nline, ncol) = self.name("a map name")?;
        self.expect(K::LBrace)?;
        if scope.maps.iter().any(|m| m.name == name) {
            return Err(E::new(
                nline,
                ncol,
                format!("map {name:?} defined twice in this table"),
            ));
        }
        let idx = self.maps.len();
        let mut types: Option<Vec<SetType>> = None;
        let mut elems = Vec::new();
        let mut jumps = Vec::new();
        loop {
            self.skip_nl();
            let Some(t) = self.peek().cloned() else {
                return Err(self.err_here("map: missing `}`"));
            };
            let K::Word(w) = &t.k else {
                if t.k == K::RBrace {
                    self.pos += 1;
                    break;
                }
                return Err(E::new(
                    t.line,
                    t.col,
                    format!("expected a map statement, got {}", describe(&t.k)),
                ));
            };
            self.pos += 1;
            match w.as_str() {
                "type" | "typeof" => {
                    // Words up to ` : `, in groups separated by `.`.
                    let mut groups: Vec<Vec<(String, usize, usize)>> = vec![Vec::new()];
                    loop {
                        let (x, l, c) = self.word("a key type and ` : verdict`")?;
                        match x.as_str() {
                            ":" => break,
                            "." => groups.push(Vec::new()),
                            _ => groups.last_mut().expect("one group").push((x, l, c)),
                        }
                    }
                    let mut ts = Vec::new();
                    for g in &groups {
                        let Some(&(_, l, c)) = g.first() else {
                            return Err(E::new(t.line, t.col, "empty part in the map's key type"));
                        };
                        let text = g.iter().map(|x| x.0.as_str()).collect::<Vec<_>>().join(" ");
                        let ty = if w == "type" {
                            SetType::from_type(&text)
                        } else {
                            SetType::from_typeof(&text)
                        };
                        ts.push(ty.ok_or_else(|| {
                            E::new(l, c, format!("unsupported map key {w} {text:?}"))
                        })?);
                    }
                    let (data, _, _) = self.word("the map's data type")?;
                    if data != "verdict" {
                        let mut dt = data.clone();
                        while !self.at_end_of_stmt() {
                            let Some(x) = self.next() else { break };
                            if let K::Word(x) = x.k {
                                dt.push(' ');
                                dt.push_str(&x);
                            }
                        }
                        self.skip_rest_of_block()?;
                        self.notes.push(format!(
                            "map {name} (line {nline}) maps to {dt}, not to verdicts: not evaluated (rules that look it up are errors)"
                        ));
                        return Ok(());
                    }
                    types = Some(ts);
                }
                "flags" => loop {
                    let (f, l, c) = self.word("a map flag")?;
                    if !matches!(f.as_str(), "interval" | "constant" | "dynamic" | "timeout") {
                        return Err(E::new(l, c, format!("unsupported map flag {f:?}")));
                    }
                    if self.peek_k() == Some(&K::Comma) {
                        self.pos += 1;
                    } else {
                        break;
                    }
                },
                "elements" => {
                    self.expect(K::Assign)?;
                    let Some(ts) = &types else {
                        return Err(E::new(
                            t.line,
                            t.col,
                            format!("map {name}: elements before its type"),
                        ));
                    };
                    let ts = ts.clone();
                    elems = self.map_elems(&ts, idx, &mut jumps)?;
                }
                "size" | "policy" | "timeout" | "gc-interval" => {
                    self.word("a value")?;
                }
                "auto-merge" | "counter" => {}
                "comment" => {
                    self.name("a comment string")?;
                }
                other => {
                    return Err(E::new(
                        t.line,
                        t.col,
                        format!("unsupported map statement {other:?}"),
                    ))
                }
            }
            if !self.at_end_of_stmt() {
                return Err(self.err_here("expected end of map statement"));
            }
        }
        let types = types.ok_or_else(|| E::new(nline, ncol, format!("map {name} has no type")))?;
        self.maps.push(Vmap {
            name: Some(name.clone()),
            elems,
        });
        scope.map_jumps.extend(jumps);
        scope.maps.push(NamedMap { name, types, idx });
        Ok(())
    }

    /// Skip to just after the `}` closing the block the parser is in.
    fn skip_rest_of_block(&mut self) -> Result<(), E> {
        let mut depth = 1usize;
        while let Some(t) = self.next() {
            match t.k {
                K::LBrace => depth += 1,
                K::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err(self.err_here("unbalanced `{`: missing `}`"))
    }

    /// A translation statement after its keyword `w`: `dnat|snat [ip|ip6] to ADDR[-ADDR][:PORT[-PORT]]`,
    /// `masquerade|redirect [to :PORT[-PORT]]`, then flags (`random`, `fully-random`,
    /// `persistent`). An address makes the statement one of its family's (in an `inet`
    /// table the kernel's nat expression does nothing to a packet of the other
    /// family): a family condition comes before it.
    fn nat_statement(&mut self, w: &str, at: (usize, usize)) -> Result<Vec<Item>, E> {
        let kind = match w {
            "dnat" => NatKind::Dnat,
            "snat" => NatKind::Snat,
            "masquerade" => NatKind::Masquerade,
            _ => NatKind::Redirect,
        };
        let mut family: Option<Family> = None;
        if matches!(kind, NatKind::Dnat | NatKind::Snat) {
            if let Some(K::Word(f)) = self.peek_k().cloned() {
                if f == "ip" || f == "ip6" {
                    self.pos += 1;
                    family = Some(if f == "ip" { Family::V4 } else { Family::V6 });
                }
            }
        }
        let mut addr = None;
        let mut ports = None;
        if matches!(self.peek_k(), Some(K::Word(x)) if x == "to") {
            self.pos += 1;
            let (spec, l, c) = self.word("a translation target")?;
            if matches!(self.peek_k(), Some(K::Word(x)) if x == "map")
                || matches!(
                    spec.as_str(),
                    "ip" | "ip6" | "tcp" | "udp" | "th" | "meta" | "ct"
                )
            {
                return Err(E::new(
                    l,
                    c,
                    format!("unsupported {w} to an expression or map {spec:?}: give an address"),
                ));
            }
            let to = if matches!(kind, NatKind::Masquerade | NatKind::Redirect) {
                let p = spec.trim_start_matches(':');
                let r = match p.split_once('-') {
                    Some((a, b)) => port_number(a).zip(port_number(b)),
                    None => port_number(p).map(|x| (x, x)),
                };
                r.map(|r| (None, Some(r)))
            } else {
                crate::iptables::parse_nat_to(&spec)
            };
            let Some((a, p)) = to else {
                return Err(E::new(l, c, format!("invalid {w} target {spec:?}")));
            };
            addr = a;
            ports = p;
        } else if matches!(kind, NatKind::Dnat | NatKind::Snat) {
            return Err(self.err_here(format!("expected `to` after {w}")));
        }
        if let Some((a, _)) = addr {
            let f = if a.is_ipv4() { Family::V4 } else { Family::V6 };
            if family.is_some_and(|x| x != f) {
                return Err(E::new(
                    at.0,
                    at.1,
                    format!("{w}: the address is not of the family given"),
                ));
            }
            family = Some(f);
        }
        let mut flags = Vec::new();
        while let Some(K::Word(f)) = self.peek_k().cloned() {
            if !matches!(f.as_str(), "random" | "fully-random" | "persistent") {
                break;
            }
            self.pos += 1;
            flags.push(f);
            if self.peek_k() == Some(&K::Comma) {
                self.pos += 1;
            }
        }
        let mut items = Vec::new();
        if let Some(f) = family {
            items.push(Item::Cond(Cond::Family(f)));
        }
        items.push(Item::Verdict(Action::Nat(NatAction {
            kind,
            addr,
            ports,
            flags,
        })));
        Ok(items)
    }

    /// One rule: items until end of line. Returns items and a pending jump/goto.
    #[allow(clippy::type_complexity)]
    fn rule(
        &mut self,
        scope: &mut Scope,
    ) -> Result<(Vec<Item>, Option<(String, usize, usize, bool)>), E> {
        let mut items = Vec::new();
        let mut jump = None;
        let mut verdict_seen = false;
        while !self.at_end_of_stmt() {
            let Some(t) = self.next() else { break };
            let K::Word(w) = &t.k else {
                return Err(E::new(
                    t.line,
                    t.col,
                    format!("unexpected {}", describe(&t.k)),
                ));
            };
            let key = (t.line, t.col);
            if verdict_seen && w != "comment" {
                return Err(E::new(
                    t.line,
                    t.col,
                    format!("unsupported {w:?} after the verdict"),
                ));
            }
            match w.as_str() {
                "ip" | "ip6" | "tcp" | "udp" | "th" | "meta" | "iifname" | "iif" | "oifname"
                | "oif" | "ct" => {
                    let sel = self.selector(w, key)?;
                    if self.next_is_word(".") || self.next_is_word("vmap") {
                        let item = self.vmap(scope, sel, key)?;
                        items.push(item);
                    } else {
                        self.match_sel(&scope.sets, sel, key, &mut items)?;
                    }
                }
                "counter" => {
                    items.push(Item::Counter);
                    if matches!(self.peek_k(), Some(K::Word(x)) if x == "packets") {
                        self.pos += 1;
                        self.word("a packet count")?;
                        let (b, l, c) = self.word("`bytes`")?;
                        if b != "bytes" {
                            return Err(E::new(l, c, "expected `bytes`"));
                        }
                        self.word("a byte count")?;
                    }
                }
                "log" => {
                    items.push(Item::Log);
                    while let Some(K::Word(o)) = self.peek_k().cloned() {
                        match o.as_str() {
                            "prefix" => {
                                self.pos += 1;
                                self.name("a log prefix")?;
                            }
                            "level" | "group" | "snaplen" | "queue-threshold" => {
                                self.pos += 1;
                                self.word("a value")?;
                            }
                            "flags" => {
                                self.pos += 1;
                                loop {
                                    self.word("a log flag")?;
                                    if self.peek_k() == Some(&K::Comma) {
                                        self.pos += 1;
                                    } else {
                                        break;
                                    }
                                }
                            }
                            _ => break,
                        }
                    }
                }
                "comment" => {
                    self.name("a comment string")?;
                }
                "accept" | "drop" | "reject" | "return" | "continue" => {
                    verdict_seen = true;
                    match w.as_str() {
                        "accept" => items.push(Item::Verdict(Action::Accept)),
                        "drop" => items.push(Item::Verdict(Action::Drop)),
                        "return" => items.push(Item::Verdict(Action::Return)),
                        "continue" => {}
                        _ => {
                            if matches!(self.peek_k(), Some(K::Word(x)) if x == "with") {
                                self.pos += 1;
                                let (kind, l, c) = self.word("icmp, icmpv6, icmpx or tcp")?;
                                // nft gives the statement an implicit dependency
                                // on what its answer needs (not shown by `nft
                                // list`): a TCP reset only for TCP, an ICMP
                                // answer of one family only for that family.
                                match kind.as_str() {
                                    "tcp" => items.push(Item::Cond(Cond::Proto {
                                        neg: false,
                                        protos: vec![6],
                                    })),
                                    "icmp" => items.push(Item::Cond(Cond::Family(Family::V4))),
                                    "icmpv6" => items.push(Item::Cond(Cond::Family(Family::V6))),
                                    _ => {}
                                }
                                let with = match kind.as_str() {
                                    "tcp" => {
                                        let (r, l, c) = self.word("`reset`")?;
                                        if r != "reset" {
                                            return Err(E::new(l, c, "expected `reset`"));
                                        }
                                        RejectWith::TcpReset
                                    }
                                    "icmp" | "icmpv6" | "icmpx" => {
                                        let (mut x, mut xl, mut xc) = self.word("a reject type")?;
                                        if x == "type" {
                                            (x, xl, xc) = self.word("a reject type")?;
                                        }
                                        RejectWith::from_nft(&x).ok_or_else(|| {
                                            E::new(
                                                xl,
                                                xc,
                                                format!("unsupported {kind} reject type {x:?}"),
                                            )
                                        })?
                                    }
                                    _ => {
                                        return Err(E::new(
                                            l,
                                            c,
                                            format!("unsupported reject {kind:?}"),
                                        ))
                                    }
                                };
                                items.push(Item::Verdict(Action::Reject(with)));
                            } else {
                                items.push(Item::Verdict(Action::Reject(RejectWith::default())));
                            }
                        }
                    }
                }
                "dnat" | "snat" | "masquerade" | "redirect" => {
                    verdict_seen = true;
                    let item = self.nat_statement(w, key)?;
                    items.extend(item);
                }
                "jump" | "goto" => {
                    verdict_seen = true;
                    let (n, l, c) = self.name("a chain name")?;
                    jump = Some((n, l, c, w == "goto"));
                }
                _ => {
                    return Err(E::new(
                        t.line,
                        t.col,
                        format!("unsupported expression or statement {w:?}"),
                    ))
                }
            }
        }
        Ok((items, jump))
    }
}

/// Two elements of a map that can both match one key, if any (nft refuses such maps):
/// sorted for one-part keys, pair by pair (up to 2,000 elements) for concatenations
/// and interface names.
fn find_overlap(elems: &[MapElem]) -> Option<(usize, usize)> {
    let catch: Vec<usize> = (0..elems.len())
        .filter(|&i| elems[i].key.is_none())
        .collect();
    if catch.len() > 1 {
        return Some((catch[0], catch[1]));
    }
    // One-part numeric keys as (kind, low, high).
    let flat: Option<Vec<(u8, u128, u128, usize)>> = elems
        .iter()
        .enumerate()
        .filter(|(_, e)| e.key.is_some())
        .map(|(i, e)| match e.key.as_deref() {
            Some([KeyVal::Addr(r)]) => Some((r.family as u8, r.lo, r.hi, i)),
            Some([KeyVal::Port(a, b)]) => Some((2, u128::from(*a), u128::from(*b), i)),
            Some([KeyVal::Proto(p)]) => Some((3, u128::from(*p), u128::from(*p), i)),
            Some([KeyVal::Ct(m)]) => Some((4, u128::from(*m), u128::from(*m), i)),
            Some([KeyVal::NfProto(f)]) => Some((5, *f as u128, *f as u128, i)),
            _ => None,
        })
        .collect();
    if let Some(mut flat) = flat {
        flat.sort_unstable();
        let mut reach: Option<(u8, u128, usize)> = None;
        for &(k, lo, hi, i) in &flat {
            if let Some((rk, rhi, ri)) = reach {
                if rk == k && lo <= rhi {
                    return Some((ri, i));
                }
            }
            if reach.is_none_or(|(rk, rhi, _)| rk != k || hi > rhi) {
                reach = Some((k, hi, i));
            }
        }
        return None;
    }
    if elems.len() > 2000 {
        return None;
    }
    for j in 0..elems.len() {
        for i in 0..j {
            if overlaps(&elems[i], &elems[j]) {
                return Some((i, j));
            }
        }
    }
    None
}

/// Whether two map elements can both match one key.
fn overlaps(a: &MapElem, b: &MapElem) -> bool {
    let (Some(x), Some(y)) = (&a.key, &b.key) else {
        return false;
    };
    x.iter().zip(y).all(|(p, q)| match (p, q) {
        (KeyVal::Addr(r), KeyVal::Addr(s)) => r.family == s.family && r.lo <= s.hi && s.lo <= r.hi,
        (KeyVal::Port(a, b), KeyVal::Port(c, d)) => a <= d && c <= b,
        (KeyVal::Proto(p), KeyVal::Proto(q)) => p == q,
        (KeyVal::Ct(p), KeyVal::Ct(q)) => p == q,
        (KeyVal::NfProto(p), KeyVal::NfProto(q)) => p == q,
        (KeyVal::Iface(p), KeyVal::Iface(q)) => match (p.prefix, q.prefix) {
            (false, false) => p.name == q.name,
            (true, false) => q.name.starts_with(&p.name),
            (false, true) => p.name.starts_with(&q.name),
            (true, true) => p.name.starts_with(&q.name) || q.name.starts_with(&p.name),
        },
        _ => false,
    })
}

fn parse_addr_elem(s: &str) -> Option<AddrRange> {
    if let Some((a, b)) = s.split_once('-') {
        let a: IpAddr = a.parse().ok()?;
        let b: IpAddr = b.parse().ok()?;
        return AddrRange::range(a, b);
    }
    if s.contains('/') {
        // nft only accepts prefix lengths
        let (_, l) = s.split_once('/')?;
        l.parse::<u8>().ok()?;
    }
    parse_prefix(s)
}

fn parse_port_elem(s: &str) -> Option<(u16, u16)> {
    if let Some((a, b)) = s.split_once('-') {
        let a = port_number(a)?;
        let b = port_number(b)?;
        return (a <= b).then_some((a, b));
    }
    port_number(s).map(|p| (p, p))
}

/// Parse nft text.
pub(crate) fn parse(text: &str) -> Result<Ruleset, Vec<ParseError>> {
    let toks = lex(text).map_err(|e| vec![e])?;
    let mut p = P {
        t: toks,
        pos: 0,
        lines: text.lines().collect(),
        errors: Vec::new(),
        notes: Vec::new(),
        unmodelled: Vec::new(),
        tables: Vec::new(),
        chains: Vec::new(),
        maps: Vec::new(),
        declared_base: Vec::new(),
        scopes: Vec::new(),
        dormant: Vec::new(),
        jumps: Vec::new(),
    };
    if let Err(e) = p.file() {
        p.errors.push(e);
    }
    p.resolve();
    if p.errors.is_empty() {
        if let Some((c, line)) = find_loop(&p.chains, &p.maps) {
            p.errors.push(ParseError::new(
                line,
                0,
                format!("jump loop through chain {}", p.chains[c].name),
            ));
        }
    }
    if !p.errors.is_empty() {
        let mut errs = p.errors;
        errs.sort_by_key(|e| (e.line, e.column));
        errs.dedup_by_key(|e| e.line);
        return Err(errs);
    }
    Ok(Ruleset::new(
        Format::Nft,
        p.tables,
        p.chains,
        p.maps,
        p.notes,
        p.unmodelled,
    ))
}
