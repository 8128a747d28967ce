//! Objects to a cluster: namespaces, pods (declared or expanded from
//! workloads), services and policies, each remembering its file and line.
//! Kinds and fields that are not read become notes.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Namespace as K8sNamespace, Pod as K8sPod, PodSpec, Service as K8sService,
};
use k8s_openapi::api::networking::v1::NetworkPolicy as K8sNetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::admin::{self, AdminPolicy};
use super::manifest::{Object, Step};
use super::selector::{self, Labels};
use super::{Notes, Proto};
use crate::ImportError;

pub const METADATA_NAME: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub proto: Proto,
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub ips: Vec<IpAddr>,
    pub ports: Vec<ContainerPort>,
    pub file: String,
    pub line: u32,
}

impl Pod {
    pub fn host(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
    /// The port a name stands for on this pod, for a protocol (None: any).
    pub fn named_port(&self, name: &str, proto: Option<Proto>) -> Vec<(Proto, u16)> {
        self.ports
            .iter()
            .filter(|p| p.name.as_deref() == Some(name) && proto.is_none_or(|x| x == p.proto))
            .map(|p| (p.proto, p.port))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub enum Target {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone)]
pub struct ServicePort {
    pub proto: Proto,
    pub port: u16,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub cluster_ip: Option<IpAddr>,
    pub selector: Labels,
    pub ports: Vec<ServicePort>,
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct NetworkPolicy {
    pub namespace: String,
    pub name: String,
    pub spec: k8s_openapi::api::networking::v1::NetworkPolicySpec,
    pub obj: Object,
}

#[derive(Debug, Default)]
pub struct Cluster {
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub policies: Vec<NetworkPolicy>,
    pub admin: Vec<AdminPolicy>,
}

impl Cluster {
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }
}

pub fn parse_proto(obj: &Object, path: &[Step], p: Option<&str>) -> Result<Proto, ImportError> {
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

fn port16(obj: &Object, path: &[Step], n: i32) -> Result<u16, ImportError> {
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

fn labels_of(m: &Option<BTreeMap<String, String>>) -> Labels {
    m.clone().unwrap_or_default()
}

/// The container ports of a pod spec; `base` is the path to the spec.
fn container_ports(
    obj: &Object,
    base: &[Step],
    spec: &PodSpec,
    notes: &mut Notes,
) -> Result<Vec<ContainerPort>, ImportError> {
    let mut out = BTreeSet::new();
    for (ci, c) in spec.containers.iter().enumerate() {
        for (pi, p) in c.ports.iter().flatten().enumerate() {
            let mut path = base.to_vec();
            path.extend([
                Step::Key("containers"),
                Step::Index(ci),
                Step::Key("ports"),
                Step::Index(pi),
            ]);
            let proto = parse_proto(obj, &path, p.protocol.as_deref())?;
            let port = port16(obj, &path, p.container_port)?;
            if p.host_port.is_some() {
                notes.field(
                    obj,
                    &path,
                    "containers[].ports[].hostPort (the node's port is not modelled)",
                );
            }
            out.insert(ContainerPort {
                name: p.name.clone(),
                port,
                proto,
            });
        }
    }
    if spec.init_containers.as_ref().is_some_and(|c| !c.is_empty()) {
        notes.field(
            obj,
            base,
            "initContainers (they run before the pod serves; their ports are not sockets)",
        );
    }
    Ok(out.into_iter().collect())
}

fn ips_of(obj: &Object, pod: &K8sPod) -> Result<Vec<IpAddr>, ImportError> {
    let mut out = Vec::new();
    let Some(status) = &pod.status else {
        return Ok(out);
    };
    let mut texts: Vec<(Vec<Step>, String)> = Vec::new();
    for (i, p) in status.pod_ips.iter().flatten().enumerate() {
        texts.push((
            vec![
                Step::Key("status"),
                Step::Key("podIPs"),
                Step::Index(i),
                Step::Key("ip"),
            ],
            p.ip.clone(),
        ));
    }
    if texts.is_empty() {
        if let Some(ip) = &status.pod_ip {
            texts.push((vec![Step::Key("status"), Step::Key("podIP")], ip.clone()));
        }
    }
    for (path, t) in texts {
        let ip: IpAddr = t
            .parse()
            .map_err(|_| obj.error(&path, format!("`{t}` is not an IP address"), None))?;
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    Ok(out)
}

/// Reads every object into a cluster.
pub fn read(objects: &[Object], notes: &mut Notes) -> Result<Cluster, ImportError> {
    let mut c = Cluster::default();
    let mut seen_pods: BTreeMap<String, (String, u32)> = BTreeMap::new();
    let mut add_pod = |c: &mut Cluster, pod: Pod, notes: &mut Notes| {
        let key = pod.host();
        if let Some((f, l)) = seen_pods.get(&key) {
            notes.add(format!(
                "pod {key} at {}:{} is declared again at {f}:{l}; the first is kept",
                pod.file, pod.line
            ));
            return;
        }
        seen_pods.insert(key, (pod.file.clone(), pod.line));
        c.pods.push(pod);
    };
    for obj in objects {
        let name_line = obj.line(&[Step::Key("metadata"), Step::Key("name")]);
        let ns_of = |o: &Object| o.namespace().unwrap_or_else(|| "default".to_string());
        match obj.kind.as_str() {
            "Namespace" => {
                let n: K8sNamespace = obj.parse()?;
                let name = n.metadata.name.clone().unwrap_or_default();
                let mut labels = labels_of(&n.metadata.labels);
                labels.insert(METADATA_NAME.to_string(), name.clone());
                if c.namespace(&name).is_none() {
                    c.namespaces.push(Namespace { name, labels });
                }
            }
            "Pod" => {
                let p: K8sPod = obj.parse()?;
                let spec = p.spec.clone().unwrap_or_default();
                let phase = p
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default();
                let host = format!("{}/{}", ns_of(obj), obj.name());
                if matches!(phase.as_str(), "Succeeded" | "Failed") {
                    notes.add(format!(
                        "pod {host} ({}:{name_line}) has finished (phase {phase}): not imported",
                        obj.file
                    ));
                    continue;
                }
                if spec.host_network == Some(true) {
                    notes.add(format!("pod {host} ({}:{name_line}) uses the node's network (hostNetwork): policies do not apply to it; not imported", obj.file));
                    continue;
                }
                let ports = container_ports(obj, &[Step::Key("spec")], &spec, notes)?;
                let pod = Pod {
                    namespace: ns_of(obj),
                    name: obj.name(),
                    labels: labels_of(&p.metadata.labels),
                    ips: ips_of(obj, &p)?,
                    ports,
                    file: obj.file.clone(),
                    line: name_line,
                };
                add_pod(&mut c, pod, notes);
            }
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                let (template, replicas) = match obj.kind.as_str() {
                    "Deployment" => {
                        let d: Deployment = obj.parse()?;
                        let s = d.spec.unwrap_or_default();
                        (s.template, s.replicas.unwrap_or(1))
                    }
                    "StatefulSet" => {
                        let d: StatefulSet = obj.parse()?;
                        let s = d.spec.unwrap_or_default();
                        (s.template, s.replicas.unwrap_or(1))
                    }
                    "DaemonSet" => {
                        let d: DaemonSet = obj.parse()?;
                        (d.spec.unwrap_or_default().template, 1)
                    }
                    "ReplicaSet" => {
                        let d: ReplicaSet = obj.parse()?;
                        let s = d.spec.unwrap_or_default();
                        (s.template.unwrap_or_default(), s.replicas.unwrap_or(1))
                    }
                    _ => {
                        let d: Job = obj.parse()?;
                        let s = d.spec.unwrap_or_default();
                        (s.template, s.parallelism.unwrap_or(1))
                    }
                };
                let spec = template.spec.clone().unwrap_or_default();
                let base = [Step::Key("spec"), Step::Key("template"), Step::Key("spec")];
                if spec.host_network == Some(true) {
                    notes.add(format!("{} {}/{} ({}:{name_line}) uses the node's network (hostNetwork): not imported", obj.kind, ns_of(obj), obj.name(), obj.file));
                    continue;
                }
                let ports = container_ports(obj, &base, &spec, notes)?;
                let labels = labels_of(&template.metadata.as_ref().and_then(|m| m.labels.clone()));
                if obj.kind == "DaemonSet" {
                    notes.add(format!(
                        "DaemonSet {}/{} ({}:{name_line}): one pod, for the one node of the model",
                        ns_of(obj),
                        obj.name(),
                        obj.file
                    ));
                }
                for i in 0..replicas.max(0) {
                    let mut labels = labels.clone();
                    if obj.kind == "StatefulSet" {
                        labels.insert(
                            "statefulset.kubernetes.io/pod-name".into(),
                            format!("{}-{i}", obj.name()),
                        );
                    }
                    add_pod(
                        &mut c,
                        Pod {
                            namespace: ns_of(obj),
                            name: format!("{}-{i}", obj.name()),
                            labels,
                            ips: Vec::new(),
                            ports: ports.clone(),
                            file: obj.file.clone(),
                            line: name_line,
                        },
                        notes,
                    );
                }
            }
            "Service" => {
                let s: K8sService = obj.parse()?;
                let spec = s.spec.unwrap_or_default();
                let host = format!("{}/{}", ns_of(obj), obj.name());
                let typ = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
                if typ == "ExternalName" {
                    notes.add(format!("Service {host} ({}:{name_line}) is an ExternalName (a DNS alias): not imported", obj.file));
                    continue;
                }
                if spec.cluster_ip.as_deref() == Some("None") {
                    notes.add(format!("Service {host} ({}:{name_line}) is headless: clients reach its pods directly, nothing to translate", obj.file));
                    continue;
                }
                if matches!(typ.as_str(), "NodePort" | "LoadBalancer") {
                    notes.field(obj, &[Step::Key("spec"), Step::Key("type")], &format!("Service type {typ} (only its ClusterIP is imported; node ports and load balancers are not modelled)"));
                }
                if spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()) {
                    notes.field(
                        obj,
                        &[Step::Key("spec"), Step::Key("externalIPs")],
                        "Service externalIPs",
                    );
                }
                if spec
                    .session_affinity
                    .as_deref()
                    .is_some_and(|a| a != "None")
                {
                    notes.field(
                        obj,
                        &[Step::Key("spec"), Step::Key("sessionAffinity")],
                        "Service sessionAffinity (endpoints are chosen by source port)",
                    );
                }
                let Some(selector) = spec.selector.clone().filter(|s| !s.is_empty()) else {
                    notes.add(format!("Service {host} ({}:{name_line}) has no selector (its endpoints are managed by hand): not imported", obj.file));
                    continue;
                };
                let cluster_ip = match spec.cluster_ip.as_deref() {
                    None | Some("") => None,
                    Some(t) => Some(t.parse::<IpAddr>().map_err(|_| {
                        obj.error(
                            &[Step::Key("spec"), Step::Key("clusterIP")],
                            format!("`{t}` is not an IP address"),
                            None,
                        )
                    })?),
                };
                let mut ports = Vec::new();
                for (i, p) in spec.ports.iter().flatten().enumerate() {
                    let path = [Step::Key("spec"), Step::Key("ports"), Step::Index(i)];
                    let proto = parse_proto(obj, &path, p.protocol.as_deref())?;
                    let port = port16(obj, &path, p.port)?;
                    let target = match &p.target_port {
                        None => Target::Number(port),
                        Some(IntOrString::Int(n)) => Target::Number(port16(obj, &path, *n)?),
                        Some(IntOrString::String(s)) => match s.parse::<i32>() {
                            Ok(n) => Target::Number(port16(obj, &path, n)?),
                            Err(_) => Target::Name(s.clone()),
                        },
                    };
                    ports.push(ServicePort {
                        proto,
                        port,
                        target,
                    });
                }
                c.services.push(Service {
                    namespace: ns_of(obj),
                    name: obj.name(),
                    cluster_ip,
                    selector,
                    ports,
                    file: obj.file.clone(),
                    line: name_line,
                });
            }
            "NetworkPolicy" => {
                let np: K8sNetworkPolicy = obj.parse()?;
                let spec = np.spec.unwrap_or_default();
                check_np(obj, &spec)?;
                c.policies.push(NetworkPolicy {
                    namespace: ns_of(obj),
                    name: obj.name(),
                    spec,
                    obj: obj.clone(),
                });
            }
            "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy" | "ClusterNetworkPolicy" => {
                let want = if obj.kind == "ClusterNetworkPolicy" {
                    "policy.networking.k8s.io/v1alpha2"
                } else {
                    "policy.networking.k8s.io/v1alpha1"
                };
                if obj.api_version != want {
                    return Err(obj.error(
                        &[Step::Key("apiVersion")],
                        format!("{} of apiVersion `{}`", obj.kind, obj.api_version),
                        Some(format!("expected `{want}`")),
                    ));
                }
                let p = admin::read(obj)?;
                check_admin(obj, &p)?;
                c.admin.push(p);
            }
            other => notes.kind(other, obj),
        }
    }
    // Namespaces that objects live in but no manifest declares.
    let mut used: BTreeSet<String> = c.pods.iter().map(|p| p.namespace.clone()).collect();
    used.extend(c.policies.iter().map(|p| p.namespace.clone()));
    used.extend(c.services.iter().map(|p| p.namespace.clone()));
    for ns in used {
        if c.namespace(&ns).is_none() {
            notes.add(format!("namespace {ns} is used but not declared: it has only the label {METADATA_NAME}={ns}"));
            let mut labels = Labels::new();
            labels.insert(METADATA_NAME.to_string(), ns.clone());
            c.namespaces.push(Namespace { name: ns, labels });
        }
    }
    Ok(c)
}

fn check_selector(
    obj: &Object,
    path: &[Step],
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Result<(), ImportError> {
    if let Some((i, msg)) = selector::check(sel) {
        let mut p = path.to_vec();
        p.extend([
            Step::Key("matchExpressions"),
            Step::Index(i),
            Step::Key("operator"),
        ]);
        return Err(obj.error(&p, msg, None));
    }
    Ok(())
}

fn check_np(
    obj: &Object,
    spec: &k8s_openapi::api::networking::v1::NetworkPolicySpec,
) -> Result<(), ImportError> {
    let s = Step::Key("spec");
    check_selector(
        obj,
        &[s, Step::Key("podSelector")],
        &spec.pod_selector.clone().unwrap_or_default(),
    )?;
    for (i, t) in spec.policy_types.iter().flatten().enumerate() {
        if t != "Ingress" && t != "Egress" {
            return Err(obj.error(
                &[s, Step::Key("policyTypes"), Step::Index(i)],
                format!("policy type `{t}`"),
                Some("expected Ingress or Egress".into()),
            ));
        }
    }
    #[allow(clippy::type_complexity)]
    let dirs: [(&str, &str, Vec<(Option<&Vec<_>>, Option<&Vec<_>>)>); 2] = [
        (
            "ingress",
            "from",
            spec.ingress
                .iter()
                .flatten()
                .map(|r| (r.from.as_ref(), r.ports.as_ref()))
                .collect(),
        ),
        (
            "egress",
            "to",
            spec.egress
                .iter()
                .flatten()
                .map(|r| (r.to.as_ref(), r.ports.as_ref()))
                .collect(),
        ),
    ];
    for (key, peer_key, rules) in dirs {
        for (i, (peers, ports)) in rules.into_iter().enumerate() {
            for (j, p) in peers.into_iter().flatten().enumerate() {
                let here = [
                    s,
                    Step::Key(key),
                    Step::Index(i),
                    Step::Key(peer_key),
                    Step::Index(j),
                ];
                let p: &k8s_openapi::api::networking::v1::NetworkPolicyPeer = p;
                if p.ip_block.is_some()
                    && (p.pod_selector.is_some() || p.namespace_selector.is_some())
                {
                    return Err(obj.error(
                        &here,
                        "a peer with `ipBlock` has no selectors",
                        Some("write the selectors in a peer of their own".into()),
                    ));
                }
                if p.ip_block.is_none()
                    && p.pod_selector.is_none()
                    && p.namespace_selector.is_none()
                {
                    return Err(obj.error(
                        &here,
                        "an empty peer",
                        Some("expected `podSelector`, `namespaceSelector` or `ipBlock`".into()),
                    ));
                }
                for (k, sel) in [
                    ("podSelector", &p.pod_selector),
                    ("namespaceSelector", &p.namespace_selector),
                ] {
                    if let Some(sel) = sel {
                        let mut pp = here.to_vec();
                        pp.push(Step::Key(k));
                        check_selector(obj, &pp, sel)?;
                    }
                }
                if let Some(b) = &p.ip_block {
                    let mut pp = here.to_vec();
                    pp.extend([Step::Key("ipBlock"), Step::Key("cidr")]);
                    let cidr: ipnet::IpNet = b.cidr.parse().map_err(|_| {
                        obj.error(
                            &pp,
                            format!("`{}` is not a CIDR", b.cidr),
                            Some("expected a prefix such as 10.0.0.0/16".into()),
                        )
                    })?;
                    for (k, e) in b.except.iter().flatten().enumerate() {
                        let mut ep = here.to_vec();
                        ep.extend([Step::Key("ipBlock"), Step::Key("except"), Step::Index(k)]);
                        let ex: ipnet::IpNet = e
                            .parse()
                            .map_err(|_| obj.error(&ep, format!("`{e}` is not a CIDR"), None))?;
                        if !cidr.contains(&ex) {
                            return Err(obj.error(
                                &ep,
                                format!("except `{e}` is not inside `{}`", b.cidr),
                                Some("the API server rejects an except outside the cidr".into()),
                            ));
                        }
                    }
                }
            }
            for (j, p) in ports.into_iter().flatten().enumerate() {
                let here = [
                    s,
                    Step::Key(key),
                    Step::Index(i),
                    Step::Key("ports"),
                    Step::Index(j),
                ];
                let p: &k8s_openapi::api::networking::v1::NetworkPolicyPort = p;
                parse_proto(obj, &here, p.protocol.as_deref())?;
                match (&p.port, p.end_port) {
                    (Some(IntOrString::Int(n)), end) => {
                        port16(obj, &here, *n)?;
                        if let Some(e) = end {
                            port16(obj, &here, e)?;
                            if e < *n {
                                return Err(obj.error(
                                    &here,
                                    format!("endPort {e} is below port {n}"),
                                    None,
                                ));
                            }
                        }
                    }
                    (Some(IntOrString::String(_)), Some(_)) => {
                        return Err(obj.error(&here, "`endPort` needs a numeric `port`", None))
                    }
                    (None, Some(_)) => {
                        return Err(obj.error(&here, "`endPort` without `port`", None))
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

fn check_admin(obj: &Object, p: &AdminPolicy) -> Result<(), ImportError> {
    let s = Step::Key("spec");
    let subj = [s, Step::Key("subject")];
    match &p.subject {
        admin::Subject::Namespaces(sel) => check_selector(obj, &subj, sel)?,
        admin::Subject::Pods { namespaces, pods } => {
            check_selector(obj, &subj, namespaces)?;
            check_selector(obj, &subj, pods)?;
        }
    }
    if p.tier == admin::Tier::Admin && !(0..=1000).contains(&p.priority) {
        return Err(obj.error(
            &[s, Step::Key("priority")],
            format!("priority {} is out of range", p.priority),
            Some("expected 0-1000".into()),
        ));
    }
    if obj.kind == "BaselineAdminNetworkPolicy" && p.name != "default" {
        return Err(obj.error(
            &[Step::Key("metadata"), Step::Key("name")],
            "a BaselineAdminNetworkPolicy must be named `default`",
            None,
        ));
    }
    Ok(())
}
