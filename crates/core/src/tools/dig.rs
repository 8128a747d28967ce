//! `dig`: a name looked up in the DNS view the host asks (or another view,
//! `@VIEW`, as `dig @server` asks another resolver), with the resolver stage
//! the tracer uses.

use super::{at, host_named, model_note, ToolError};
use crate::journey::resolve::{resolve, Resolution};
use crate::model::{DnsRecord, RecordData, Scenario};

struct Options {
    name: Option<String>,
    kind: String,
    view: Option<String>,
    short: bool,
}

fn parse(args: &[String]) -> Result<Options, ToolError> {
    let mut o = Options {
        name: None,
        kind: "A".into(),
        view: None,
        short: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let upper = a.to_ascii_uppercase();
        if let Some(v) = a.strip_prefix('@') {
            o.view = Some(v.to_string());
        } else if a == "+short" {
            o.short = true;
        } else if a.starts_with('+') {
            // Other display options (+noall, +answer…) change nothing here.
        } else if a == "-t" {
            o.kind = it
                .next()
                .ok_or_else(|| {
                    ToolError::new("-t needs a type", Some("A, AAAA or CNAME".to_string()))
                })?
                .to_ascii_uppercase();
        } else if matches!(upper.as_str(), "A" | "AAAA" | "CNAME" | "ANY") && o.name.is_some() {
            o.kind = upper;
        } else if a.starts_with('-') {
            return Err(ToolError::new(
                format!("dig: invalid option `{a}`"),
                Some("the model answers @VIEW, -t TYPE, +short".to_string()),
            ));
        } else if o.name.is_none() {
            o.name = Some(a.trim_end_matches('.').to_string());
        } else {
            return Err(ToolError::new(
                format!("dig: one name at a time (`{a}`)"),
                None,
            ));
        }
    }
    if !matches!(o.kind.as_str(), "A" | "AAAA" | "CNAME" | "ANY") {
        return Err(ToolError::new(
            format!(
                "dig: the model holds A, AAAA and CNAME records, not {}",
                o.kind
            ),
            None,
        ));
    }
    Ok(o)
}

fn rdata(r: &DnsRecord) -> (&'static str, String) {
    match &r.data {
        RecordData::A { address } => ("A", address.to_string()),
        RecordData::Aaaa { address } => ("AAAA", address.to_string()),
        RecordData::Cname { target } => ("CNAME", format!("{target}.")),
    }
}

pub(super) fn run(scn: &Scenario, from: &str, args: &[String]) -> Result<String, ToolError> {
    let o = parse(args)?;
    let host = host_named(scn, from)?;
    let Some(name) = o.name.clone() else {
        return Err(ToolError::new(
            "dig: which name?",
            Some("pathproof tool dig --from HOST NAME [A|AAAA]".to_string()),
        ));
    };
    let view = match &o.view {
        Some(v) => scn.dns.iter().find(|x| &x.name == v).ok_or_else(|| {
            let names = scn.dns.iter().map(|x| x.name.as_str());
            ToolError::new(
                format!("dig: no DNS view `{v}` in {}", scn.file),
                crate::load::diagnostic::nearest(v, names).map(|n| format!("did you mean `@{n}`?")),
            )
        })?,
        None => match host.dns {
            Some(v) => scn.view(v),
            None => {
                return Err(ToolError::new(
                    format!(
                        ";; communications error: {} has no resolver (no DNS view)",
                        host.name
                    ),
                    Some("give one with @VIEW".to_string()),
                ))
            }
        },
    };
    let v6 = o.kind == "AAAA";
    let res = resolve(view, &name, v6);
    let (status, answer): (&str, Vec<&DnsRecord>) = match &res {
        Resolution::Found { chain, .. } => ("NOERROR", chain.clone()),
        Resolution::NoData { chain, .. } => ("NOERROR", chain.clone()),
        Resolution::NxDomain { chain, .. } => ("NXDOMAIN", chain.clone()),
        Resolution::Loop { chain } => ("SERVFAIL", chain.clone()),
    };
    let answer: Vec<&DnsRecord> = answer
        .into_iter()
        .filter(|r| {
            o.kind == "ANY"
                || o.kind == "CNAME"
                || rdata(r).0 == o.kind
                || matches!(r.data, RecordData::Cname { .. })
        })
        .filter(|r| o.kind != "CNAME" || matches!(r.data, RecordData::Cname { .. }))
        .collect();
    let mut out = String::new();
    if o.short {
        for r in &answer {
            out.push_str(&format!("{}\n", rdata(r).1));
        }
    } else {
        out.push_str(&format!(
            "; <<>> DiG (pathproof model) <<>> {name} {}\n",
            o.kind
        ));
        out.push_str(";; global options: +cmd\n;; Got answer:\n");
        out.push_str(&format!(
            ";; ->>HEADER<<- opcode: QUERY, status: {status}, id: 0\n"
        ));
        out.push_str(&format!(
            ";; flags: qr rd ra; QUERY: 1, ANSWER: {}, AUTHORITY: 0, ADDITIONAL: 0\n\n",
            answer.len()
        ));
        out.push_str(&format!(
            ";; QUESTION SECTION:\n;{name}.\t\tIN\t{}\n\n",
            o.kind
        ));
        if !answer.is_empty() {
            out.push_str(";; ANSWER SECTION:\n");
            for r in &answer {
                let (kind, data) = rdata(r);
                out.push_str(&format!("{}.\t300\tIN\t{kind}\t{data}\n", r.name));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            ";; SERVER: the `{}` view{} (the model places no resolver at an address)\n",
            view.name,
            if o.view.is_some() {
                ""
            } else {
                ", the one this host asks"
            }
        ));
    }
    out.push_str(&model_note(scn));
    out.push_str("# TTLs are not modelled: 300 stands in for whatever the zone says\n");
    for r in &answer {
        let (kind, data) = rdata(r);
        out.push_str(&format!(
            "# {} {kind} {data}: the record in view `{}` ({})\n",
            r.name,
            view.name,
            at(scn, r.origin.line)
        ));
    }
    match &res {
        Resolution::NxDomain { name: missing, .. } => {
            out.push_str(&format!("# {missing}: no record in view `{}`\n", view.name))
        }
        Resolution::NoData { name: n, .. } => out.push_str(&format!(
            "# {n}: no {} record in view `{}`\n",
            o.kind, view.name
        )),
        Resolution::Loop { .. } => {
            out.push_str("# the CNAME chain loops or runs longer than resolvers follow\n")
        }
        Resolution::Found { .. } => {}
    }
    Ok(out)
}
