//! Kubernetes manifests as a scenario (`pathproof import k8s`).
//!
//! The model (docs/import.md has the full mapping): every pod is a host
//! `NAMESPACE/POD` on one network `pods`, and every packet between pods goes
//! through one router `node` (as it goes through the node's root namespace
//! on a real one), which translates Service ClusterIPs to endpoints
//! (kube-proxy's DNAT; the endpoint is picked by the client's source port,
//! standing for kube-proxy's random choice) and enforces egress policies
//! after that translation. Ingress policies are each pod's input filter.
//! Both filters are first-match lists built by `policy`, one per distinct
//! set of selecting policies, every rule with the policy rule it comes from.

mod admin;
mod cluster;
mod manifest;
mod policy;
mod selector;

use ipnet::{IpNet, Ipv4Net};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use crate::addrs::Addrs;
use crate::emit::{flow_list, quoted, scalar};
use crate::{ImportError, Imported, Input};
use cluster::{Cluster, Target};
use manifest::{Object, Step};
use policy::{Compiled, Dir, Line};

/// A transport protocol a pod port or a policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    /// Addresses for pods without `status.podIP` (default 10.244.0.0/16, the
    /// usual flannel/kind pod CIDR), given in file order.
    pub pod_cidr: Ipv4Net,
    /// Addresses for Services without `spec.clusterIP` (default 10.96.0.0/12,
    /// kubeadm's service CIDR).
    pub service_cidr: Ipv4Net,
    /// `expect:` lines to put into the scenario.
    pub expect: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pod_cidr: "10.244.0.0/16".parse().expect("valid"),
            service_cidr: "10.96.0.0/12".parse().expect("valid"),
            expect: Vec::new(),
        }
    }
}

/// What was not read, gathered so that each note is printed once.
#[derive(Debug, Default)]
pub struct Notes {
    kinds: BTreeMap<String, Vec<String>>,
    fields: BTreeMap<String, Vec<String>>,
    other: Vec<String>,
}

fn places(v: &[String]) -> String {
    let shown: Vec<&str> = v.iter().take(5).map(String::as_str).collect();
    if v.len() > 5 {
        format!("{}, and {} more", shown.join(", "), v.len() - 5)
    } else {
        shown.join(", ")
    }
}

impl Notes {
    pub fn kind(&mut self, kind: &str, obj: &Object) {
        let (line, _) = obj.locate(&[Step::Key("kind")]);
        self.kinds
            .entry(kind.to_string())
            .or_default()
            .push(format!("{}:{line}", obj.file));
    }
    pub fn field(&mut self, obj: &Object, path: &[Step], what: &str) {
        let line = obj.line(path);
        self.fields
            .entry(what.to_string())
            .or_default()
            .push(format!("{}:{line}", obj.file));
    }
    pub fn add(&mut self, s: String) {
        self.other.push(s);
    }
    fn finish(self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in self.kinds {
            out.push(format!(
                "ignored {} object{} of kind {k}: nothing of it is modelled ({})",
                v.len(),
                if v.len() == 1 { "" } else { "s" },
                places(&v)
            ));
        }
        for (k, v) in self.fields {
            out.push(format!("ignored {k} ({})", places(&v)));
        }
        out.extend(self.other);
        out
    }
}

/// Reads manifests and writes the scenario.
pub fn import(inputs: &[Input], options: &Options) -> Result<Imported, ImportError> {
    let mut objects = Vec::new();
    for input in inputs {
        objects.extend(manifest::objects(input)?);
    }
    let mut notes = Notes::default();
    let mut c = cluster::read(&objects, &mut notes)?;
    if c.pods.is_empty() {
        let file = inputs.first().map(|i| i.path.clone()).unwrap_or_default();
        return Err(ImportError {
            file,
            line: 0,
            column: 0,
            message: "no pods: the manifests declare no Pod and no workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job)".into(),
            help: Some("pass the files or folders that hold the cluster's pods".into()),
        });
    }
    let plan = Plan::new(&mut c, options, &mut notes)?;
    let compiled = policy::compile(&c, Addrs::ips(plan.node_ips.iter().copied()));
    let yaml = write(&c, &plan, &compiled, inputs, options, &mut notes);
    Ok(Imported {
        yaml,
        notes: notes.finish(),
    })
}

/// Addresses: the pod network's prefixes, the node's addresses and every
/// Service's ClusterIP.
struct Plan {
    prefixes: Vec<IpNet>,
    node_ips: Vec<IpAddr>,
    cluster_ips: Vec<IpAddr>,
    v6: bool,
}

fn next_free(net: Ipv4Net, from: u32, used: &BTreeSet<IpAddr>) -> Option<(Ipv4Addr, u32)> {
    let base = u32::from(net.network());
    let size = 1u64 << (32 - net.prefix_len());
    let mut i = from;
    while (i as u64) < size.saturating_sub(1) {
        let a = Ipv4Addr::from(base + i);
        if !used.contains(&IpAddr::V4(a)) {
            return Some((a, i + 1));
        }
        i += 1;
    }
    None
}

impl Plan {
    fn new(c: &mut Cluster, o: &Options, notes: &mut Notes) -> Result<Plan, ImportError> {
        let mut used: BTreeSet<IpAddr> =
            c.pods.iter().flat_map(|p| p.ips.iter().copied()).collect();
        // Two pods with one address: the later one is a conflict.
        let mut owners: HashMap<IpAddr, String> = HashMap::new();
        for p in &c.pods {
            for ip in &p.ips {
                if let Some(first) = owners.insert(*ip, p.host()) {
                    return Err(ImportError {
                        file: p.file.clone(),
                        line: p.line,
                        column: 1,
                        message: format!("pod {} has address {ip}, which pod {first} has too", p.host()),
                        help: Some("every pod needs its own address; remove status.podIP to have one allocated".into()),
                    });
                }
            }
        }
        let mut cursor = 1;
        let (node, next) = next_free(o.pod_cidr, cursor, &used).expect("the pod CIDR has room");
        used.insert(IpAddr::V4(node));
        cursor = next;
        let mut allocated = 0;
        for p in &mut c.pods {
            if p.ips.is_empty() {
                let Some((a, next)) = next_free(o.pod_cidr, cursor, &used) else {
                    return Err(ImportError {
                        file: p.file.clone(),
                        line: p.line,
                        column: 1,
                        message: format!(
                            "the pod CIDR {} has no address left for {}",
                            o.pod_cidr,
                            p.host()
                        ),
                        help: Some("give a larger --pod-cidr".into()),
                    });
                };
                cursor = next;
                used.insert(IpAddr::V4(a));
                p.ips.push(IpAddr::V4(a));
                allocated += 1;
            }
        }
        if allocated > 0 {
            notes.add(format!(
                "{allocated} pod{} without status.podIP got addresses from the pod CIDR {} in file order",
                if allocated == 1 { "" } else { "s" },
                o.pod_cidr
            ));
        }
        // The pod network: the pod CIDR, and the /16 (IPv4) or /64 (IPv6)
        // around any pod address outside it.
        let mut prefixes: Vec<IpNet> = vec![IpNet::V4(o.pod_cidr)];
        for p in &c.pods {
            for ip in &p.ips {
                if !prefixes.iter().any(|n| n.contains(ip)) {
                    let len = if ip.is_ipv4() { 16 } else { 64 };
                    prefixes.push(IpNet::new(*ip, len).expect("valid length").trunc());
                }
            }
        }
        let v6 = prefixes.iter().any(|p| matches!(p, IpNet::V6(_)));
        let mut node_ips = vec![IpAddr::V4(node)];
        if let Some(IpNet::V6(p6)) = prefixes.iter().find(|p| matches!(p, IpNet::V6(_))) {
            let mut h = p6.hosts();
            let free = h.find(|a| !used.contains(&IpAddr::V6(*a)));
            if let Some(a) = free {
                node_ips.push(IpAddr::V6(a));
            }
        }
        // ClusterIPs.
        let mut cluster_ips = Vec::new();
        let mut svc_used: BTreeSet<IpAddr> =
            c.services.iter().filter_map(|s| s.cluster_ip).collect();
        let mut svc_cursor = 1;
        for s in &c.services {
            let ip = match s.cluster_ip {
                Some(ip) => ip,
                None => {
                    let (a, next) = next_free(o.service_cidr, svc_cursor, &svc_used).expect("room");
                    svc_cursor = next;
                    svc_used.insert(IpAddr::V4(a));
                    IpAddr::V4(a)
                }
            };
            if prefixes.iter().any(|n| n.contains(&ip)) {
                return Err(ImportError {
                    file: s.file.clone(),
                    line: s.line,
                    column: 1,
                    message: format!(
                        "Service {}/{} has ClusterIP {ip}, inside the pod network",
                        s.namespace, s.name
                    ),
                    help: Some("ClusterIPs come from the service CIDR, not the pod CIDR".into()),
                });
            }
            cluster_ips.push(ip);
        }
        Ok(Plan {
            prefixes,
            node_ips,
            cluster_ips,
            v6,
        })
    }
}

/// A set of addresses as scenario address terms: pod names when it is a
/// few whole pods, else prefixes.
struct Namer {
    by_ip: HashMap<IpAddr, usize>,
    hosts: Vec<String>,
    ips: Vec<Vec<IpAddr>>,
}

impl Namer {
    fn terms(&self, a: &Addrs) -> Vec<String> {
        if a.is_all() {
            return vec!["any".into()];
        }
        let mut pods = BTreeSet::new();
        let mut count = 0u128;
        let mut all_pods = true;
        for (lo, hi) in a.ranges() {
            let n = match (lo, hi) {
                (IpAddr::V4(l), IpAddr::V4(h)) => (u32::from(h) - u32::from(l)) as u128 + 1,
                (IpAddr::V6(l), IpAddr::V6(h)) => u128::from(h) - u128::from(l) + 1,
                _ => u128::MAX,
            };
            count = count.saturating_add(n);
            if count > 16 {
                all_pods = false;
                break;
            }
            let mut x = lo;
            loop {
                match self.by_ip.get(&x) {
                    Some(&i) => {
                        pods.insert(i);
                    }
                    None => all_pods = false,
                }
                if x == hi {
                    break;
                }
                x = match x {
                    IpAddr::V4(v) => IpAddr::V4(Ipv4Addr::from(u32::from(v) + 1)),
                    IpAddr::V6(v) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v) + 1)),
                };
            }
        }
        if all_pods
            && pods
                .iter()
                .all(|&i| self.ips[i].iter().all(|ip| a.contains(*ip)))
        {
            return pods.iter().map(|&i| self.hosts[i].clone()).collect();
        }
        a.prefixes().iter().map(|p| p.to_string()).collect()
    }
}

fn rule_yaml(
    namer: &Namer,
    compiled: &Compiled,
    l: &Line,
    dir: Dir,
    from: Option<&[String]>,
) -> String {
    let mut s = format!("{{ action: {}", if l.allow { "allow" } else { "drop" });
    if let Some(p) = l.proto {
        let _ = write!(s, ", proto: {}", p.name());
    }
    let peer = namer.terms(&l.peer);
    let any = peer == ["any"];
    match dir {
        Dir::Ingress => {
            if !any {
                let _ = write!(s, ", from: {}", flow_list(&peer));
            }
        }
        Dir::Egress => {
            if let Some(f) = from {
                let _ = write!(s, ", from: {}", flow_list(f));
            }
            if !any {
                let _ = write!(s, ", to: {}", flow_list(&peer));
            }
        }
    }
    if !l.ports.is_empty() {
        let ports: Vec<String> = l
            .ports
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        let _ = write!(s, ", dport: {}", quoted(&ports.join(",")));
    }
    if let Some(i) = l.source {
        let src = &compiled.sources[i];
        let _ = write!(
            s,
            ", source: {{ file: {}, line: {}, label: {}, kind: {} }}",
            quoted(&src.file),
            src.line,
            quoted(&src.label),
            if src.admin {
                "k8s-adminnetworkpolicy"
            } else {
                "k8s-networkpolicy"
            }
        );
    }
    s.push_str(" }");
    s
}

/// Words a socket line reserves: a port name that is one of them is left out.
const SOCKET_WORDS: &[&str] = &["on", "tls", "mtls", "issuer", "client-ca"];

fn write(
    c: &Cluster,
    plan: &Plan,
    compiled: &Compiled,
    inputs: &[Input],
    options: &Options,
    notes: &mut Notes,
) -> String {
    let namer = Namer {
        by_ip: c
            .pods
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.ips.iter().map(move |ip| (*ip, i)))
            .collect(),
        hosts: c.pods.iter().map(|p| p.host()).collect(),
        ips: c.pods.iter().map(|p| p.ips.clone()).collect(),
    };
    let mut y = String::new();
    let files: Vec<&str> = inputs.iter().map(|i| i.path.as_str()).collect();
    let _ = writeln!(y, "# Written by `pathproof import k8s`; every policy rule below names its manifest's file and line.");
    let _ = writeln!(y, "name: k8s-import");
    let _ = writeln!(
        y,
        "about: {}",
        quoted(&format!(
            "A Kubernetes cluster imported from {}: {} pods in {} namespaces, {} Services, {} NetworkPolicies, {} admin network policies. Every pod is a host NAMESPACE/POD on the network `pods`; pod-to-pod traffic goes through the router `node`, which translates ClusterIPs and enforces egress policies; ingress policies are each pod's input filter.",
            places(&files.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            c.pods.len(),
            c.namespaces.len(),
            c.services.len(),
            c.policies.len(),
            c.admin.len()
        ))
    );
    let _ = writeln!(y, "\nnetworks:");
    let pods_cidr: Vec<String> = plan.prefixes.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(
        y,
        "  pods: {{ cidr: {}, gateway: node, via-gateway: true, trust: trusted, about: \"the pod network\" }}",
        flow_list(&pods_cidr)
    );
    let inet: Vec<&str> = if plan.v6 {
        vec!["0.0.0.0/0", "::/0"]
    } else {
        vec!["0.0.0.0/0"]
    };
    let _ = writeln!(
        y,
        "  internet: {{ cidr: {}, trust: untrusted, about: \"everything outside the cluster\" }}",
        flow_list(&inet)
    );

    // The node: a router with the ClusterIP translations and the egress filter.
    let _ = writeln!(y, "\nhosts:\n  node:");
    let _ = writeln!(y, "    about: \"the node (one for the whole cluster): kube-proxy's Service translation and the CNI's egress policy enforcement\"");
    let _ = writeln!(y, "    router: true");
    let node_at: Vec<String> = plan.node_ips.iter().map(|a| a.to_string()).collect();
    let inet_at = if plan.v6 {
        "internet 192.0.2.1 2001:db8::1"
    } else {
        "internet 192.0.2.1"
    };
    let _ = writeln!(
        y,
        "    at: [{}, {}]",
        quoted(&format!("pods {}", node_at.join(" "))),
        quoted(inet_at)
    );
    let has_egress = compiled.egress.iter().any(Option::is_some);
    if has_egress {
        let _ = writeln!(y, "    forward: egress");
    }
    let mut nat = Vec::new();
    for (s, ip) in c.services.iter().zip(&plan.cluster_ips) {
        let endpoints: Vec<&cluster::Pod> = c
            .pods
            .iter()
            .filter(|p| {
                p.namespace == s.namespace
                    && s.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .collect();
        for sp in &s.ports {
            let targets: Vec<(String, u16)> = endpoints
                .iter()
                .filter_map(|p| {
                    let port = match &sp.target {
                        Target::Number(n) => Some(*n),
                        Target::Name(name) => {
                            p.named_port(name, Some(sp.proto)).first().map(|x| x.1)
                        }
                    }?;
                    Some((p.host(), port))
                })
                .collect();
            if targets.is_empty() {
                notes.add(format!(
                    "Service {}/{} port {}/{} ({}:{}) has no endpoint among the imported pods",
                    s.namespace,
                    s.name,
                    sp.proto.name(),
                    sp.port,
                    s.file,
                    s.line
                ));
                continue;
            }
            let k = targets.len() as u32;
            for (i, (host, port)) in targets.iter().enumerate() {
                let lo = (65536 * i as u32) / k;
                let hi = (65536 * (i as u32 + 1)) / k - 1;
                let sport = if k == 1 {
                    String::new()
                } else {
                    format!(" sport {lo}-{hi}")
                };
                nat.push(format!(
                    "dnat {} to {ip} dport {}{sport} in pods -> {host}:{port}",
                    sp.proto.name(),
                    sp.port
                ));
            }
        }
    }
    if !nat.is_empty() {
        let _ = writeln!(y, "    nat:");
        for n in &nat {
            let _ = writeln!(y, "      - {}", quoted(n));
        }
    }
    let mut ingress_names: HashMap<usize, String> = HashMap::new();
    for (i, pod) in c.pods.iter().enumerate() {
        let _ = writeln!(y, "  {}:", scalar(&pod.host()));
        let labels: Vec<String> = pod.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            y,
            "    about: {}",
            quoted(&format!(
                "Pod {} ({}:{}); labels: {}",
                pod.host(),
                pod.file,
                pod.line,
                if labels.is_empty() {
                    "none".into()
                } else {
                    labels.join(", ")
                }
            ))
        );
        let ips: Vec<String> = pod.ips.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(y, "    at: {}", quoted(&format!("pods {}", ips.join(" "))));
        if !pod.ports.is_empty() {
            let mut seen = BTreeSet::new();
            let listen: Vec<String> = pod
                .ports
                .iter()
                .filter(|p| seen.insert((p.proto, p.port)))
                .map(|p| {
                    let app = p
                        .name
                        .as_deref()
                        .filter(|n| !SOCKET_WORDS.contains(n))
                        .map(|n| format!(" {n}"))
                        .unwrap_or_default();
                    format!("{}/{}{app}", p.proto.name(), p.port)
                })
                .collect();
            let _ = writeln!(
                y,
                "    listen: [{}]",
                listen
                    .iter()
                    .map(|l| quoted(l))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(id) = compiled.ingress[i] {
            let n = ingress_names.len() + 1;
            let name = ingress_names
                .entry(id)
                .or_insert_with(|| format!("ingress-{n}"));
            let _ = writeln!(y, "    input: {name}");
        }
    }

    let _ = writeln!(y, "\nfilters:");
    let mut order: Vec<(&usize, &String)> = ingress_names.iter().collect();
    order.sort_by_key(|(_, n)| n[8..].parse::<usize>().unwrap_or(0));
    for (&id, name) in order {
        let _ = writeln!(y, "  {name}:");
        let _ = writeln!(
            y,
            "    about: {}",
            quoted(&format!(
                "ingress of the pods selected by {}",
                compiled.about[id]
            ))
        );
        let _ = writeln!(y, "    stateful: true\n    default: allow\n    rules:");
        let _ = writeln!(y, "      - allow from node");
        for l in &compiled.lists[id] {
            let _ = writeln!(
                y,
                "      - {}",
                rule_yaml(&namer, compiled, l, Dir::Ingress, None)
            );
        }
    }
    if has_egress {
        let _ = writeln!(y, "  egress:");
        let _ = writeln!(y, "    about: \"the egress policies, enforced on the node after Service translation; pods selected by the same policies share rules\"");
        let _ = writeln!(y, "    stateful: true\n    default: allow\n    rules:");
        // Pods with the same egress list, in order of their first pod.
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, e) in compiled.egress.iter().enumerate() {
            if let Some(id) = e {
                match groups.iter_mut().find(|(g, _)| g == id) {
                    Some((_, pods)) => pods.push(i),
                    None => groups.push((*id, vec![i])),
                }
            }
        }
        for (id, pods) in groups {
            let members = Addrs::ips(pods.iter().flat_map(|&i| c.pods[i].ips.iter().copied()));
            let from = namer.terms(&members);
            for l in &compiled.lists[id] {
                let _ = writeln!(
                    y,
                    "      - {}",
                    rule_yaml(&namer, compiled, l, Dir::Egress, Some(&from))
                );
            }
        }
    }
    if !options.expect.is_empty() {
        let _ = writeln!(y, "\nexpect:");
        for e in &options.expect {
            let _ = writeln!(y, "  - {}", quoted(e));
        }
    }
    y
}
