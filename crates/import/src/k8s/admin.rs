//! AdminNetworkPolicy and BaselineAdminNetworkPolicy
//! (policy.networking.k8s.io/v1alpha1) and ClusterNetworkPolicy (v1alpha2),
//! read with our own serde structs (k8s-openapi has no types for them) into
//! one shape: a tier, a priority, a subject and rules in order.

use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;

use super::manifest::{Object, Step};
use super::Proto;
use crate::ImportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Admin,
    Baseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    Pass,
}

#[derive(Debug, Clone)]
pub enum Subject {
    Namespaces(LabelSelector),
    Pods {
        namespaces: LabelSelector,
        pods: LabelSelector,
    },
}

#[derive(Debug, Clone)]
pub enum Peer {
    Namespaces(LabelSelector),
    Pods {
        namespaces: LabelSelector,
        pods: LabelSelector,
    },
    Networks(Vec<IpNet>),
    /// Nodes by label: the model has one node, whose labels are unknown.
    Nodes,
}

#[derive(Debug, Clone)]
pub enum Port {
    Range(Proto, u16, u16),
    Named(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub action: Action,
    pub peers: Vec<Peer>,
    /// None: every protocol and port.
    pub ports: Option<Vec<Port>>,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct AdminPolicy {
    pub kind: String,
    pub name: String,
    pub tier: Tier,
    pub priority: i64,
    pub subject: Subject,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    pub file: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSubject {
    namespaces: Option<LabelSelector>,
    pods: Option<RawPods>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPods {
    namespace_selector: LabelSelector,
    pod_selector: LabelSelector,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPeer {
    namespaces: Option<LabelSelector>,
    pods: Option<RawPods>,
    nodes: Option<LabelSelector>,
    networks: Option<Vec<String>>,
    domain_names: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPortNumber {
    protocol: Option<String>,
    port: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPortRange {
    protocol: Option<String>,
    start: i64,
    end: i64,
}

/// v1alpha1: `{portNumber: {protocol, port}}`, `{namedPort: NAME}`,
/// `{portRange: {protocol, start, end}}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPortV1 {
    port_number: Option<RawPortNumber>,
    named_port: Option<String>,
    port_range: Option<RawPortRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRange {
    start: i64,
    end: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDestPort {
    number: Option<i64>,
    range: Option<RawRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawProtoPorts {
    destination_port: Option<RawDestPort>,
}

/// v1alpha2: `{tcp: {destinationPort: {number | range}}}`, `udp`, `sctp`,
/// `{destinationNamedPort: NAME}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawProtocol {
    tcp: Option<RawProtoPorts>,
    udp: Option<RawProtoPorts>,
    sctp: Option<RawProtoPorts>,
    destination_named_port: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    action: String,
    from: Option<Vec<RawPeer>>,
    to: Option<Vec<RawPeer>>,
    ports: Option<Vec<RawPortV1>>,
    protocols: Option<Vec<RawProtocol>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSpec {
    tier: Option<String>,
    priority: Option<i64>,
    subject: RawSubject,
    #[serde(default)]
    ingress: Vec<RawRule>,
    #[serde(default)]
    egress: Vec<RawRule>,
}

#[derive(Deserialize)]
struct RawMeta {
    name: String,
}

#[derive(Deserialize)]
struct RawPolicy {
    metadata: RawMeta,
    spec: RawSpec,
}

fn proto(obj: &Object, path: &[Step], p: Option<&str>) -> Result<Proto, ImportError> {
    match p.unwrap_or("TCP") {
        "TCP" => Ok(Proto::Tcp),
        "UDP" => Ok(Proto::Udp),
        "SCTP" => Ok(Proto::Sctp),
        other => Err(obj.error(
            path,
            format!("unknown protocol `{other}`"),
            Some("expected TCP, UDP or SCTP".into()),
        )),
    }
}

fn port_number(obj: &Object, path: &[Step], n: i64) -> Result<u16, ImportError> {
    if (1..=65535).contains(&n) {
        Ok(n as u16)
    } else {
        Err(obj.error(
            path,
            format!("port {n} is out of range"),
            Some("expected 1-65535".into()),
        ))
    }
}

/// Reads one admin-tier policy object.
pub fn read(obj: &Object) -> Result<AdminPolicy, ImportError> {
    let raw: RawPolicy = obj.parse()?;
    let v2 = obj.api_version.ends_with("v1alpha2");
    let (tier, priority) = match obj.kind.as_str() {
        "AdminNetworkPolicy" => (Tier::Admin, raw.spec.priority.unwrap_or(0)),
        "BaselineAdminNetworkPolicy" => (Tier::Baseline, 0),
        _ => match raw.spec.tier.as_deref() {
            Some("Admin") => (Tier::Admin, raw.spec.priority.unwrap_or(0)),
            Some("Baseline") => (Tier::Baseline, raw.spec.priority.unwrap_or(0)),
            other => {
                return Err(obj.error(
                    &[Step::Key("spec"), Step::Key("tier")],
                    format!("ClusterNetworkPolicy tier `{}`", other.unwrap_or("")),
                    Some("expected `tier: Admin` or `tier: Baseline`".into()),
                ))
            }
        },
    };
    let spec_subject = [Step::Key("spec"), Step::Key("subject")];
    let subject = match (raw.spec.subject.namespaces, raw.spec.subject.pods) {
        (Some(ns), None) => Subject::Namespaces(ns),
        (None, Some(p)) => Subject::Pods {
            namespaces: p.namespace_selector,
            pods: p.pod_selector,
        },
        _ => {
            return Err(obj.error(
                &spec_subject,
                "a subject names exactly one of `namespaces` or `pods`",
                None,
            ))
        }
    };
    let mut rules = [Vec::new(), Vec::new()];
    for (d, (key, raws)) in [("ingress", raw.spec.ingress), ("egress", raw.spec.egress)]
        .into_iter()
        .enumerate()
    {
        for (i, r) in raws.into_iter().enumerate() {
            let here = [Step::Key("spec"), Step::Key(key), Step::Index(i)];
            let action = match (r.action.as_str(), tier) {
                ("Allow", _) if !v2 => Action::Allow,
                ("Accept", _) if v2 => Action::Allow,
                ("Deny", _) => Action::Deny,
                ("Pass", Tier::Admin) => Action::Pass,
                (a, _) => {
                    let expected = match (v2, tier) {
                        (true, Tier::Admin) => "Accept, Deny or Pass",
                        (true, Tier::Baseline) => "Accept or Deny",
                        (false, Tier::Admin) => "Allow, Deny or Pass",
                        (false, Tier::Baseline) => "Allow or Deny",
                    };
                    return Err(obj.error(
                        &[here[0], here[1], here[2], Step::Key("action")],
                        format!("action `{a}` in a {} rule", obj.kind),
                        Some(format!("expected {expected}")),
                    ));
                }
            };
            let raw_peers = if d == 0 { r.from } else { r.to }.unwrap_or_default();
            let mut peers = Vec::new();
            for (j, p) in raw_peers.into_iter().enumerate() {
                let ppath = [
                    here[0],
                    here[1],
                    here[2],
                    Step::Key(if d == 0 { "from" } else { "to" }),
                    Step::Index(j),
                ];
                let n = p.namespaces.is_some() as u8
                    + p.pods.is_some() as u8
                    + p.nodes.is_some() as u8
                    + p.networks.is_some() as u8
                    + p.domain_names.is_some() as u8;
                if n != 1 {
                    return Err(obj.error(
                        &ppath,
                        "a peer names exactly one of `namespaces`, `pods`, `nodes`, `networks`",
                        None,
                    ));
                }
                if p.domain_names.is_some() {
                    return Err(obj.error(
                        &ppath,
                        "`domainNames` peers are not supported: pathproof's model has no DNS-name egress control",
                        Some("remove the rule, or write the addresses as `networks`".into()),
                    ));
                }
                if d == 0 && (p.nodes.is_some() || p.networks.is_some()) {
                    return Err(obj.error(
                        &ppath,
                        "an ingress peer is `namespaces` or `pods`",
                        None,
                    ));
                }
                if let Some(ns) = p.namespaces {
                    peers.push(Peer::Namespaces(ns));
                } else if let Some(pods) = p.pods {
                    peers.push(Peer::Pods {
                        namespaces: pods.namespace_selector,
                        pods: pods.pod_selector,
                    });
                } else if p.nodes.is_some() {
                    peers.push(Peer::Nodes);
                } else if let Some(nets) = p.networks {
                    let mut out = Vec::new();
                    for (k, s) in nets.iter().enumerate() {
                        let mut np = ppath.to_vec();
                        np.push(Step::Key("networks"));
                        np.push(Step::Index(k));
                        out.push(s.parse::<IpNet>().map_err(|_| {
                            obj.error(
                                &np,
                                format!("`{s}` is not a CIDR"),
                                Some("expected a prefix such as 10.0.0.0/8".into()),
                            )
                        })?);
                    }
                    peers.push(Peer::Networks(out));
                }
            }
            let mut ports = None;
            if let Some(list) = r.ports {
                let mut out = Vec::new();
                for (j, p) in list.into_iter().enumerate() {
                    let pp = [
                        here[0],
                        here[1],
                        here[2],
                        Step::Key("ports"),
                        Step::Index(j),
                    ];
                    if let Some(n) = p.port_number {
                        out.push(Port::Range(
                            proto(obj, &pp, n.protocol.as_deref())?,
                            port_number(obj, &pp, n.port)?,
                            port_number(obj, &pp, n.port)?,
                        ));
                    } else if let Some(name) = p.named_port {
                        out.push(Port::Named(name));
                    } else if let Some(r) = p.port_range {
                        out.push(Port::Range(
                            proto(obj, &pp, r.protocol.as_deref())?,
                            port_number(obj, &pp, r.start)?,
                            port_number(obj, &pp, r.end)?,
                        ));
                    } else {
                        return Err(obj.error(
                            &pp,
                            "a port names `portNumber`, `namedPort` or `portRange`",
                            None,
                        ));
                    }
                }
                ports = Some(out);
            }
            if let Some(list) = r.protocols {
                let mut out = Vec::new();
                for (j, p) in list.into_iter().enumerate() {
                    let pp = [
                        here[0],
                        here[1],
                        here[2],
                        Step::Key("protocols"),
                        Step::Index(j),
                    ];
                    if let Some(name) = p.destination_named_port {
                        out.push(Port::Named(name));
                        continue;
                    }
                    let (pr, ports) = match (p.tcp, p.udp, p.sctp) {
                        (Some(x), None, None) => (Proto::Tcp, x),
                        (None, Some(x), None) => (Proto::Udp, x),
                        (None, None, Some(x)) => (Proto::Sctp, x),
                        _ => {
                            return Err(obj.error(
                                &pp,
                                "a protocol entry names exactly one of `tcp`, `udp`, `sctp` or `destinationNamedPort`",
                                None,
                            ))
                        }
                    };
                    match ports.destination_port {
                        None => out.push(Port::Range(pr, 1, 65535)),
                        Some(RawDestPort {
                            number: Some(n),
                            range: None,
                        }) => {
                            let n = port_number(obj, &pp, n)?;
                            out.push(Port::Range(pr, n, n));
                        }
                        Some(RawDestPort {
                            number: None,
                            range: Some(r),
                        }) => out.push(Port::Range(
                            pr,
                            port_number(obj, &pp, r.start)?,
                            port_number(obj, &pp, r.end)?,
                        )),
                        _ => {
                            return Err(obj.error(
                                &pp,
                                "`destinationPort` names exactly one of `number` or `range`",
                                None,
                            ))
                        }
                    }
                }
                ports = Some(out);
            }
            rules[d].push(Rule {
                name: r.name.unwrap_or_default(),
                action,
                peers,
                ports,
                line: obj.line(&here),
            });
        }
    }
    let [ingress, egress] = rules;
    Ok(AdminPolicy {
        kind: obj.kind.clone(),
        name: raw.metadata.name,
        tier,
        priority,
        subject,
        ingress,
        egress,
        file: obj.file.clone(),
    })
}
