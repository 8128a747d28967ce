//! AWS `describe-*` JSON as a scenario (`pathproof import aws`).
//!
//! The model (docs/import.md has the full mapping):
//!
//! ```text
//!  i-1 ─┐ subnet-A            ┌─ subnet-A/rtb-1 ─┐   VPC fabric `vpc-X`    ┌ igw-X ── internet
//!  i-2 ─┴──────────────────── ┘  (route table,   ├── vpc-X/router ────────┤ nat-X (also on its subnet)
//!                                 network ACL)    │   (the local route)    ├ pcx-Y ── another VPC's fabric
//!  i-3 ── subnet-B ── subnet-B/rtb-2 ────────────┘                        └ vgw-Z (a stub: not modelled)
//! ```
//!
//! Each subnet is a network; its instances are hosts on it, named by
//! instance id, whose security groups are their input and output filters.
//! Each subnet has an edge router, named by the subnet and its route table,
//! holding the route table as routes and the network ACL as a stateless
//! forward filter. The edge routers, the VPC's router (the local route: a
//! route per subnet, and a blackhole for the VPC's addresses no subnet
//! holds), the internet gateway, NAT gateways and peering connections meet
//! on the VPC's fabric, a network with addresses the model makes up
//! (198.18.0.0/15, fd70:7061:7468::/48). The internet gateway translates
//! public and Elastic IPs 1:1; a NAT gateway source-NATs to its private
//! address (which the internet gateway then maps to its Elastic IP).

mod json;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::emit::{flow_list, quoted, scalar};
use crate::tree::Step;
use crate::{ImportError, Imported, Input};
use json::{name_tag, File, Permission, EXPECTED};
use rules::{Peers, Proto, Rule, Source};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `expect:` lines to put into the scenario.
    pub expect: Vec<String>,
    /// Import only these VPCs (all that hold a network interface when empty).
    pub vpcs: Vec<String>,
}

/// Where an item is: its file and the path to it there.
#[derive(Debug, Clone)]
struct Loc {
    file: usize,
    path: Vec<Step<'static>>,
}

#[derive(Debug, Clone)]
struct Item<T> {
    v: T,
    loc: Loc,
}

/// Everything read, by id (first occurrence wins: the same peering
/// connection appears in both accounts' files).
#[derive(Default)]
struct Account {
    vpcs: BTreeMap<String, Item<json::Vpc>>,
    subnets: BTreeMap<String, Item<json::Subnet>>,
    route_tables: BTreeMap<String, Item<json::RouteTable>>,
    groups: BTreeMap<String, Item<json::SecurityGroup>>,
    acls: BTreeMap<String, Item<json::NetworkAcl>>,
    enis: BTreeMap<String, Item<json::NetworkInterface>>,
    instances: BTreeMap<String, Item<json::Instance>>,
    igws: BTreeMap<String, Item<json::InternetGateway>>,
    eigws: BTreeMap<String, Item<json::EgressOnlyInternetGateway>>,
    nats: BTreeMap<String, Item<json::NatGateway>>,
    peerings: BTreeMap<String, Item<json::VpcPeeringConnection>>,
    addresses: Vec<Item<json::Address>>,
    /// Which describe calls were given at all.
    seen: BTreeSet<&'static str>,
}

fn collect<T: Clone>(
    map: &mut BTreeMap<String, Item<T>>,
    items: &Option<Vec<T>>,
    file: usize,
    key: &'static str,
    id: impl Fn(&T) -> &str,
) {
    for (i, v) in items.iter().flatten().enumerate() {
        map.entry(id(v).to_string()).or_insert_with(|| Item {
            v: v.clone(),
            loc: Loc {
                file,
                path: vec![Step::Key(key), Step::Index(i)],
            },
        });
    }
}

impl Account {
    fn read(files: &[File]) -> Account {
        let mut a = Account::default();
        for (f, file) in files.iter().enumerate() {
            let t = &file.top;
            for (key, present) in [
                ("Vpcs", t.vpcs.is_some()),
                ("Subnets", t.subnets.is_some()),
                ("RouteTables", t.route_tables.is_some()),
                ("SecurityGroups", t.security_groups.is_some()),
                ("NetworkAcls", t.network_acls.is_some()),
                ("NetworkInterfaces", t.network_interfaces.is_some()),
                ("Reservations", t.reservations.is_some()),
                ("InternetGateways", t.internet_gateways.is_some()),
                ("NatGateways", t.nat_gateways.is_some()),
            ] {
                if present {
                    a.seen.insert(key);
                }
            }
            collect(&mut a.vpcs, &t.vpcs, f, "Vpcs", |v| &v.vpc_id);
            collect(&mut a.subnets, &t.subnets, f, "Subnets", |v| &v.subnet_id);
            collect(
                &mut a.route_tables,
                &t.route_tables,
                f,
                "RouteTables",
                |v| &v.route_table_id,
            );
            collect(
                &mut a.groups,
                &t.security_groups,
                f,
                "SecurityGroups",
                |v| &v.group_id,
            );
            collect(&mut a.acls, &t.network_acls, f, "NetworkAcls", |v| {
                &v.network_acl_id
            });
            collect(
                &mut a.enis,
                &t.network_interfaces,
                f,
                "NetworkInterfaces",
                |v| &v.network_interface_id,
            );
            collect(
                &mut a.igws,
                &t.internet_gateways,
                f,
                "InternetGateways",
                |v| &v.internet_gateway_id,
            );
            collect(
                &mut a.eigws,
                &t.egress_only_internet_gateways,
                f,
                "EgressOnlyInternetGateways",
                |v| &v.egress_only_internet_gateway_id,
            );
            collect(&mut a.nats, &t.nat_gateways, f, "NatGateways", |v| {
                &v.nat_gateway_id
            });
            collect(
                &mut a.peerings,
                &t.vpc_peering_connections,
                f,
                "VpcPeeringConnections",
                |v| &v.vpc_peering_connection_id,
            );
            for (r, res) in t.reservations.iter().flatten().enumerate() {
                for (i, inst) in res.instances.iter().enumerate() {
                    a.instances
                        .entry(inst.instance_id.clone())
                        .or_insert_with(|| Item {
                            v: inst.clone(),
                            loc: Loc {
                                file: f,
                                path: vec![
                                    Step::Key("Reservations"),
                                    Step::Index(r),
                                    Step::Key("Instances"),
                                    Step::Index(i),
                                ],
                            },
                        });
                }
            }
            for (i, addr) in t.addresses.iter().flatten().enumerate() {
                a.addresses.push(Item {
                    v: addr.clone(),
                    loc: Loc {
                        file: f,
                        path: vec![Step::Key("Addresses"), Step::Index(i)],
                    },
                });
            }
        }
        a
    }
}

/// Notes, each printed once, in the order they were first made.
#[derive(Default)]
struct Notes {
    list: Vec<String>,
    seen: BTreeSet<String>,
}

impl Notes {
    fn add(&mut self, s: String) {
        if self.seen.insert(s.clone()) {
            self.list.push(s);
        }
    }
}

fn places(v: &[String]) -> String {
    let shown: Vec<&str> = v.iter().take(5).map(String::as_str).collect();
    if v.len() > 5 {
        format!("{}, and {} more", shown.join(", "), v.len() - 5)
    } else {
        shown.join(", ")
    }
}

/// Reads a file set and writes the scenario.
pub fn import(inputs: &[Input], options: &Options) -> Result<Imported, ImportError> {
    let mut files = Vec::new();
    for input in inputs {
        files.push(json::read(input)?);
    }
    let mut notes = Notes::default();
    // What is not read at all.
    let mut unread: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ignored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        for k in &f.unread {
            unread.entry(k.clone()).or_default().push(f.path.clone());
        }
        for p in &f.ignored {
            let top_end = p.find(['.', '[']).unwrap_or(p.len());
            let rest = p[top_end..]
                .trim_start_matches("[]")
                .trim_start_matches('.');
            ignored
                .entry(p[..top_end].to_string())
                .or_default()
                .insert(rest.to_string());
        }
    }
    for (k, v) in &unread {
        notes.add(format!(
            "ignored `{k}` ({}): nothing of it is modelled",
            places(v)
        ));
    }
    for (k, v) in &ignored {
        let v: Vec<String> = v.iter().cloned().collect();
        notes.add(format!(
            "ignored fields of {k}: {} (not modelled)",
            v.join(", ")
        ));
    }
    let account = Account::read(&files);
    for (key, call, what) in [
        (
            "NetworkAcls",
            "describe-network-acls",
            "nothing is filtered at the subnets' edges",
        ),
        (
            "SecurityGroups",
            "describe-security-groups",
            "the interfaces' security groups are unknown, so they allow nothing",
        ),
        (
            "RouteTables",
            "describe-route-tables",
            "each subnet has the local route only",
        ),
        (
            "InternetGateways",
            "describe-internet-gateways",
            "a route to an internet gateway ends at it",
        ),
    ] {
        if !account.seen.contains(key) {
            notes.add(format!("no {key} in the input ({call}): {what}"));
        }
    }
    let plan = Plan::new(&files, &account, options, &mut notes)?;
    let yaml = plan.write(&files, &account, options, &mut notes)?;
    Ok(Imported {
        yaml,
        notes: notes.list,
    })
}

fn parse_net(
    files: &[File],
    loc: &Loc,
    field: &'static str,
    text: &str,
) -> Result<IpNet, ImportError> {
    text.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
        let mut path = loc.path.clone();
        path.push(Step::Key(field));
        files[loc.file].error(
            &path,
            format!("`{field}` is `{text}`, not a prefix (ADDRESS/LENGTH)"),
            EXPECTED,
        )
    })
}

fn parse_ip(
    files: &[File],
    loc: &Loc,
    extra: &[Step<'static>],
    text: &str,
) -> Result<IpAddr, ImportError> {
    text.parse::<IpAddr>().map_err(|_| {
        let mut path = loc.path.clone();
        path.extend_from_slice(extra);
        files[loc.file].error(&path, format!("`{text}` is not an IP address"), EXPECTED)
    })
}

fn line(files: &[File], loc: &Loc, extra: &[Step<'static>]) -> u32 {
    let mut path = loc.path.clone();
    path.extend_from_slice(extra);
    files[loc.file].line(&path)
}

fn at(files: &[File], loc: &Loc, extra: &[Step<'static>]) -> String {
    format!("{}:{}", files[loc.file].path, line(files, loc, extra))
}

/// A name with its `Name` tag, for `about:` and labels.
fn named(id: &str, tags: &[json::Tag]) -> String {
    match name_tag(tags) {
        Some(n) => format!("{id} ({n})"),
        None => id.to_string(),
    }
}

/// One network interface in the model.
#[derive(Debug, Clone)]
struct Eni {
    id: String,
    subnet: String,
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    groups: Vec<String>,
    device_index: i64,
    loc: Loc,
}

impl Eni {
    fn addrs(&self) -> Vec<IpAddr> {
        self.v4
            .iter()
            .map(|a| IpAddr::V4(*a))
            .chain(self.v6.iter().map(|a| IpAddr::V6(*a)))
            .collect()
    }
}

/// What a host stands for.
#[derive(Debug, Clone)]
enum Owner {
    Instance(String),
    Nat(String),
    Eni,
}

#[derive(Debug, Clone)]
struct HostPlan {
    name: String,
    about: String,
    owner: Owner,
    enis: Vec<Eni>,
}

struct SubnetPlan {
    id: String,
    vpc: String,
    v4: Option<Ipv4Net>,
    v6: Vec<Ipv6Net>,
    router: String,
    rtb: Option<String>,
    acl: Option<String>,
    loc: Loc,
}

struct VpcPlan {
    id: String,
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
    subnets: Vec<String>,
    igw: Option<String>,
    eigw: Option<String>,
    fabric: Ipv4Net,
    fabric6: Option<Ipv6Net>,
    /// Devices on the fabric, in address order (the VPC router is first).
    on_fabric: Vec<String>,
    loc: Loc,
}

impl VpcPlan {
    fn nets(&self) -> Vec<IpNet> {
        self.v4
            .iter()
            .map(|n| IpNet::V4(*n))
            .chain(self.v6.iter().map(|n| IpNet::V6(*n)))
            .collect()
    }
    fn router(&self) -> String {
        format!("{}/router", self.id)
    }
    fn fabric_addrs(&self, device: &str) -> Vec<IpAddr> {
        let i = self
            .on_fabric
            .iter()
            .position(|d| d == device)
            .expect("every fabric device is placed") as u32;
        let mut out = vec![IpAddr::V4(Ipv4Addr::from(
            u32::from(self.fabric.network()) + i + 1,
        ))];
        if let Some(p6) = self.fabric6 {
            out.push(IpAddr::V6(Ipv6Addr::from(
                u128::from(p6.network()) + i as u128 + 1,
            )));
        }
        out
    }
}

/// A device the model adds for a route target it does not model (a virtual
/// private gateway, a transit gateway, an endpoint, an instance as a next
/// hop): a router that sends only back into the VPCs that route to it, so a
/// journey that goes there ends at it, by name.
struct Stub {
    name: String,
    what: String,
    vpcs: BTreeSet<String>,
}

/// A route table entry, resolved.
struct RouteLine {
    dest: IpNet,
    rank: u8,
    order: usize,
    text: String,
    comment: String,
}

struct Plan {
    vpcs: BTreeMap<String, VpcPlan>,
    subnets: BTreeMap<String, SubnetPlan>,
    hosts: Vec<HostPlan>,
    /// Private address -> (public address, where the mapping was read).
    public: BTreeMap<IpAddr, (IpAddr, String)>,
    nats: Vec<String>,
    peerings: Vec<String>,
    stubs: BTreeMap<String, Stub>,
    /// Per subnet, its routes (sorted as AWS picks them).
    routes: BTreeMap<String, Vec<RouteLine>>,
    v6: bool,
}

const FABRIC: &str = "198.18.0.0/15";
const FABRIC6: &str = "fd70:7061:7468::/48";
const OUTSIDE: &str = "192.0.2.0/24";
const OUTSIDE6: &str = "2001:db8:a35::/48";

fn running(state: Option<&json::InstanceState>) -> bool {
    state.is_none_or(|s| matches!(s.name.as_str(), "running" | "pending" | ""))
}

impl Plan {
    fn new(
        files: &[File],
        a: &Account,
        options: &Options,
        notes: &mut Notes,
    ) -> Result<Plan, ImportError> {
        // Network interfaces: the describe-network-interfaces list, and
        // those only the instances list (when the former is missing).
        let mut enis: BTreeMap<String, (json::NetworkInterface, Loc, Option<String>)> =
            BTreeMap::new();
        for (id, it) in &a.enis {
            let inst = it.v.attachment.as_ref().and_then(|x| x.instance_id.clone());
            enis.insert(id.clone(), (it.v.clone(), it.loc.clone(), inst));
        }
        let mut hosts: Vec<HostPlan> = Vec::new();
        let mut owner_of: BTreeMap<String, usize> = BTreeMap::new();
        let mut left_out: Vec<String> = Vec::new();
        for (id, it) in &a.instances {
            let i = &it.v;
            if !running(i.state.as_ref()) {
                left_out.push(format!(
                    "{id} ({})",
                    i.state.as_ref().map(|s| s.name.as_str()).unwrap_or("")
                ));
                continue;
            }
            for (k, e) in i.network_interfaces.iter().enumerate() {
                let mut path = it.loc.path.clone();
                path.push(Step::Key("NetworkInterfaces"));
                path.push(Step::Index(k));
                enis.entry(e.network_interface_id.clone()).or_insert((
                    e.clone(),
                    Loc {
                        file: it.loc.file,
                        path,
                    },
                    Some(id.clone()),
                ));
                if let Some(x) = enis.get_mut(&e.network_interface_id) {
                    x.2 = Some(id.clone());
                }
            }
            let about = format!(
                "instance {}{}, {}",
                named(id, &i.tags),
                i.instance_type
                    .as_deref()
                    .map(|t| format!(", {t}"))
                    .unwrap_or_default(),
                at(files, &it.loc, &[Step::Key("InstanceId")])
            );
            owner_of.insert(id.clone(), hosts.len());
            hosts.push(HostPlan {
                name: id.clone(),
                about,
                owner: Owner::Instance(id.clone()),
                enis: Vec::new(),
            });
        }
        if !left_out.is_empty() {
            notes.add(format!(
                "left out {} instance{} that {} not running: {}",
                left_out.len(),
                if left_out.len() == 1 { "" } else { "s" },
                if left_out.len() == 1 { "is" } else { "are" },
                places(&left_out)
            ));
        }
        let nat_enis: BTreeMap<String, String> = a
            .nats
            .iter()
            .flat_map(|(id, n)| {
                n.v.nat_gateway_addresses
                    .iter()
                    .filter_map(|x| x.network_interface_id.clone())
                    .map(move |e| (e, id.clone()))
            })
            .collect();
        let mut nats = Vec::new();
        for (id, n) in &a.nats {
            match n.v.state.as_deref() {
                None | Some("available") | Some("pending") => {}
                Some(s) => {
                    notes.add(format!(
                        "left out NAT gateway {id} ({s}), {}",
                        at(files, &n.loc, &[])
                    ));
                    continue;
                }
            }
            owner_of.insert(id.clone(), hosts.len());
            nats.push(id.clone());
            hosts.push(HostPlan {
                name: id.clone(),
                about: format!(
                    "NAT gateway {}, {}: translates the source of every connection the VPC routes to it to its own private address{}",
                    named(id, &n.v.tags),
                    at(files, &n.loc, &[Step::Key("NatGatewayId")]),
                    if n.v.connectivity_type.as_deref() == Some("private") {
                        " (private connectivity: no Elastic IP)"
                    } else {
                        ", which the internet gateway maps to its Elastic IP"
                    }
                ),
                owner: Owner::Nat(id.clone()),
                enis: Vec::new(),
            });
        }
        // Every interface to its host.
        let mut skipped_enis: Vec<String> = Vec::new();
        for (id, (e, loc, inst)) in &enis {
            let kind = e.interface_type.as_deref().unwrap_or("interface");
            let owner = if let Some(i) = inst {
                match owner_of.get(i) {
                    Some(&h) => h,
                    None => continue, // a stopped instance's interface
                }
            } else if let Some(n) = nat_enis.get(id).filter(|n| owner_of.contains_key(*n)) {
                owner_of[n]
            } else if kind == "nat_gateway" {
                continue; // a NAT gateway that is not available
            } else if kind == "transit_gateway"
                || e.status.as_deref() == Some("available") && e.attachment.is_none()
            {
                skipped_enis.push(format!("{id} ({kind})"));
                continue;
            } else {
                owner_of.insert(id.clone(), hosts.len());
                let desc = e.description.clone().unwrap_or_default();
                hosts.push(HostPlan {
                    name: id.clone(),
                    about: format!(
                        "network interface {} ({kind}{}), {}",
                        named(id, &e.tag_set),
                        if desc.is_empty() {
                            String::new()
                        } else {
                            format!(": {desc}")
                        },
                        at(files, loc, &[Step::Key("NetworkInterfaceId")])
                    ),
                    owner: Owner::Eni,
                    enis: Vec::new(),
                });
                owner_of[id]
            };
            let Some(subnet) = e.subnet_id.clone() else {
                notes.add(format!(
                    "network interface {id} names no subnet and is left out ({})",
                    at(files, loc, &[])
                ));
                continue;
            };
            let mut v4 = Vec::new();
            let mut ips: Vec<(String, Vec<Step<'static>>)> = Vec::new();
            if let Some(p) = &e.private_ip_address {
                ips.push((p.clone(), vec![Step::Key("PrivateIpAddress")]));
            }
            for (k, p) in e.private_ip_addresses.iter().enumerate() {
                ips.push((
                    p.private_ip_address.clone(),
                    vec![
                        Step::Key("PrivateIpAddresses"),
                        Step::Index(k),
                        Step::Key("PrivateIpAddress"),
                    ],
                ));
            }
            for (text, extra) in &ips {
                match parse_ip(files, loc, extra, text)? {
                    IpAddr::V4(v) if !v4.contains(&v) => v4.push(v),
                    IpAddr::V4(_) => {}
                    IpAddr::V6(_) => {
                        return Err(files[loc.file].error(
                            &[loc.path.clone(), extra.clone()].concat(),
                            format!("`{text}` is an IPv6 address in an IPv4 field"),
                            EXPECTED,
                        ))
                    }
                }
            }
            let mut v6 = Vec::new();
            for (k, x) in e.ipv6_addresses.iter().enumerate() {
                let extra = [
                    Step::Key("Ipv6Addresses"),
                    Step::Index(k),
                    Step::Key("Ipv6Address"),
                ];
                match parse_ip(files, loc, &extra, &x.ipv6_address)? {
                    IpAddr::V6(v) => v6.push(v),
                    IpAddr::V4(_) => {
                        return Err(files[loc.file].error(
                            &[loc.path.clone(), extra.to_vec()].concat(),
                            format!("`{}` is not an IPv6 address", x.ipv6_address),
                            EXPECTED,
                        ))
                    }
                }
            }
            hosts[owner].enis.push(Eni {
                id: id.clone(),
                subnet,
                v4,
                v6,
                groups: e.groups.iter().map(|g| g.group_id.clone()).collect(),
                device_index: e
                    .attachment
                    .as_ref()
                    .and_then(|x| x.device_index)
                    .unwrap_or(0),
                loc: loc.clone(),
            });
        }
        if !skipped_enis.is_empty() {
            notes.add(format!(
                "left out network interfaces that carry no traffic of their own here: {}",
                places(&skipped_enis)
            ));
        }
        // NAT gateways whose interface was not described: their addresses.
        for h in &mut hosts {
            if let Owner::Nat(id) = &h.owner {
                if h.enis.is_empty() {
                    let n = &a.nats[id];
                    let mut v4 = Vec::new();
                    for (k, x) in n.v.nat_gateway_addresses.iter().enumerate() {
                        if let Some(p) = &x.private_ip {
                            let extra = [
                                Step::Key("NatGatewayAddresses"),
                                Step::Index(k),
                                Step::Key("PrivateIp"),
                            ];
                            if let IpAddr::V4(v) = parse_ip(files, &n.loc, &extra, p)? {
                                v4.push(v);
                            }
                        }
                    }
                    h.enis.push(Eni {
                        id: format!("{id}-interface"),
                        subnet: n.v.subnet_id.clone(),
                        v4,
                        v6: Vec::new(),
                        groups: Vec::new(),
                        device_index: 0,
                        loc: n.loc.clone(),
                    });
                }
            }
        }
        for h in &mut hosts {
            h.enis.sort_by_key(|e| (e.device_index, e.id.clone()));
        }
        let without: Vec<String> = hosts
            .iter()
            .filter(|h| h.enis.is_empty())
            .map(|h| h.name.clone())
            .collect();
        if !without.is_empty() {
            notes.add(format!(
                "left out instances with no network interface in the input: {}",
                places(&without)
            ));
        }
        hosts.retain(|h| !h.enis.is_empty());

        // VPCs: those chosen, or those that hold an interface.
        let mut vpcs: BTreeMap<String, VpcPlan> = BTreeMap::new();
        let mut subnets: BTreeMap<String, SubnetPlan> = BTreeMap::new();
        let used_subnets: BTreeSet<&str> = hosts
            .iter()
            .flat_map(|h| h.enis.iter().map(|e| e.subnet.as_str()))
            .collect();
        let mut empty = Vec::new();
        for (id, v) in &a.vpcs {
            let holds = a
                .subnets
                .values()
                .any(|s| s.v.vpc_id == *id && used_subnets.contains(s.v.subnet_id.as_str()));
            let wanted = if options.vpcs.is_empty() {
                holds
            } else {
                options.vpcs.contains(id)
            };
            if !wanted {
                if options.vpcs.is_empty() {
                    empty.push(id.clone());
                }
                continue;
            }
            let mut v4 = Vec::new();
            let mut v6 = Vec::new();
            if let Some(c) = &v.v.cidr_block {
                if let IpNet::V4(n) = parse_net(files, &v.loc, "CidrBlock", c)? {
                    v4.push(n);
                }
            }
            for (k, c) in v.v.cidr_block_association_set.iter().enumerate() {
                let state = c.cidr_block_state.as_ref().map(|s| s.state.as_str());
                if !matches!(state, None | Some("associated") | Some("associating")) {
                    continue;
                }
                let mut l = v.loc.clone();
                l.path.push(Step::Key("CidrBlockAssociationSet"));
                l.path.push(Step::Index(k));
                if let IpNet::V4(n) = parse_net(files, &l, "CidrBlock", &c.cidr_block)? {
                    if !v4.contains(&n) {
                        v4.push(n);
                    }
                }
            }
            for (k, c) in v.v.ipv6_cidr_block_association_set.iter().enumerate() {
                let state = c.ipv6_cidr_block_state.as_ref().map(|s| s.state.as_str());
                if !matches!(state, None | Some("associated") | Some("associating")) {
                    continue;
                }
                let mut l = v.loc.clone();
                l.path.push(Step::Key("Ipv6CidrBlockAssociationSet"));
                l.path.push(Step::Index(k));
                if let IpNet::V6(n) = parse_net(files, &l, "Ipv6CidrBlock", &c.ipv6_cidr_block)? {
                    v6.push(n);
                }
            }
            vpcs.insert(
                id.clone(),
                VpcPlan {
                    id: id.clone(),
                    v4,
                    v6,
                    subnets: Vec::new(),
                    igw: None,
                    eigw: None,
                    fabric: "0.0.0.0/32".parse().expect("valid"),
                    fabric6: None,
                    on_fabric: Vec::new(),
                    loc: v.loc.clone(),
                },
            );
        }
        for want in &options.vpcs {
            if !a.vpcs.contains_key(want) {
                return Err(ImportError {
                    file: files.first().map(|f| f.path.clone()).unwrap_or_default(),
                    line: 0,
                    column: 0,
                    message: format!("no VPC `{want}` in the input"),
                    help: Some(format!(
                        "the VPCs described are: {}",
                        a.vpcs.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                });
            }
        }
        if !empty.is_empty() {
            notes.add(format!(
                "left out VPCs that hold no network interface: {}",
                places(&empty)
            ));
        }
        if vpcs.is_empty() {
            return Err(ImportError {
                file: files.first().map(|f| f.path.clone()).unwrap_or_default(),
                line: 0,
                column: 0,
                message: "no VPC with a network interface: the input describes no instance, NAT gateway or other interface in a described VPC and subnet".into(),
                help: Some("give the folder that holds Vpcs.json, Subnets.json and Reservations.json or NetworkInterfaces.json (one describe call per file)".into()),
            });
        }
        // Subnets of the chosen VPCs.
        let main_rtb: BTreeMap<&str, &str> = a
            .route_tables
            .values()
            .filter(|t| t.v.associations.iter().any(|x| x.main))
            .map(|t| (t.v.vpc_id.as_str(), t.v.route_table_id.as_str()))
            .collect();
        let rtb_of: BTreeMap<&str, &str> = a
            .route_tables
            .values()
            .flat_map(|t| {
                t.v.associations.iter().filter_map(move |x| {
                    x.subnet_id
                        .as_deref()
                        .map(|s| (s, t.v.route_table_id.as_str()))
                })
            })
            .collect();
        let acl_of: BTreeMap<&str, &str> = a
            .acls
            .values()
            .flat_map(|n| {
                n.v.associations
                    .iter()
                    .map(move |x| (x.subnet_id.as_str(), n.v.network_acl_id.as_str()))
            })
            .collect();
        for (id, s) in &a.subnets {
            if !vpcs.contains_key(&s.v.vpc_id) {
                continue;
            }
            let v4 = match &s.v.cidr_block {
                Some(c) => match parse_net(files, &s.loc, "CidrBlock", c)? {
                    IpNet::V4(n) => Some(n),
                    IpNet::V6(_) => None,
                },
                None => None,
            };
            let mut v6 = Vec::new();
            for (k, c) in s.v.ipv6_cidr_block_association_set.iter().enumerate() {
                let state = c.ipv6_cidr_block_state.as_ref().map(|s| s.state.as_str());
                if !matches!(state, None | Some("associated") | Some("associating")) {
                    continue;
                }
                let mut l = s.loc.clone();
                l.path.push(Step::Key("Ipv6CidrBlockAssociationSet"));
                l.path.push(Step::Index(k));
                if let IpNet::V6(n) = parse_net(files, &l, "Ipv6CidrBlock", &c.ipv6_cidr_block)? {
                    v6.push(n);
                }
            }
            if v4.is_none() && v6.is_empty() {
                notes.add(format!(
                    "subnet {id} has no prefix and is left out ({})",
                    at(files, &s.loc, &[])
                ));
                continue;
            }
            let rtb = rtb_of
                .get(id.as_str())
                .or_else(|| main_rtb.get(s.v.vpc_id.as_str()))
                .map(|r| r.to_string());
            let acl = acl_of.get(id.as_str()).map(|r| r.to_string());
            let router = match &rtb {
                Some(r) => format!("{id}/{r}"),
                None => format!("{id}/router"),
            };
            vpcs.get_mut(&s.v.vpc_id)
                .expect("checked")
                .subnets
                .push(id.clone());
            subnets.insert(
                id.clone(),
                SubnetPlan {
                    id: id.clone(),
                    vpc: s.v.vpc_id.clone(),
                    v4,
                    v6,
                    router,
                    rtb,
                    acl,
                    loc: s.loc.clone(),
                },
            );
        }
        // Interfaces in subnets the input does not describe.
        for h in &mut hosts {
            let before = h.enis.len();
            let gone: Vec<String> = h
                .enis
                .iter()
                .filter(|e| !subnets.contains_key(&e.subnet))
                .map(|e| format!("{} (subnet {})", e.id, e.subnet))
                .collect();
            h.enis.retain(|e| subnets.contains_key(&e.subnet));
            if h.enis.len() < before && options.vpcs.is_empty() {
                notes.add(format!(
                    "left out network interfaces whose subnet is not described: {}",
                    places(&gone)
                ));
            }
        }
        hosts.retain(|h| !h.enis.is_empty());
        Self::check_overlaps(files, &vpcs, &subnets, &hosts)?;

        // Public and Elastic IPs: private address -> public address.
        let mut public: BTreeMap<IpAddr, (IpAddr, String)> = BTreeMap::new();
        let mut add_public = |private: IpAddr,
                              public_ip: IpAddr,
                              place: String,
                              notes: &mut Notes| {
            match public.get(&private) {
                    Some((p, _)) if *p != public_ip => notes.add(format!(
                        "{private} has two public addresses, {p} and {public_ip} ({place}): the first is used"
                    )),
                    Some(_) => {}
                    None => {
                        public.insert(private, (public_ip, place));
                    }
                }
        };
        for (e, loc, _) in enis.values() {
            for (k, p) in e.private_ip_addresses.iter().enumerate() {
                if let Some(pubip) = p.association.as_ref().and_then(|x| x.public_ip.as_ref()) {
                    let extra = [
                        Step::Key("PrivateIpAddresses"),
                        Step::Index(k),
                        Step::Key("Association"),
                        Step::Key("PublicIp"),
                    ];
                    let private = parse_ip(files, loc, &extra[..3], &p.private_ip_address)?;
                    let pubip = parse_ip(files, loc, &extra, pubip)?;
                    add_public(private, pubip, at(files, loc, &extra), notes);
                }
            }
            if let (Some(pubip), Some(private)) = (
                e.association.as_ref().and_then(|x| x.public_ip.as_ref()),
                &e.private_ip_address,
            ) {
                let extra = [Step::Key("Association"), Step::Key("PublicIp")];
                let private = parse_ip(files, loc, &[Step::Key("PrivateIpAddress")], private)?;
                let pubip = parse_ip(files, loc, &extra, pubip)?;
                add_public(private, pubip, at(files, loc, &extra), notes);
            }
        }
        for (id, n) in &a.nats {
            for (k, x) in n.v.nat_gateway_addresses.iter().enumerate() {
                if let (Some(pr), Some(pu)) = (&x.private_ip, &x.public_ip) {
                    let extra = [
                        Step::Key("NatGatewayAddresses"),
                        Step::Index(k),
                        Step::Key("PublicIp"),
                    ];
                    let private = parse_ip(files, &n.loc, &extra[..2], pr)?;
                    let pubip = parse_ip(files, &n.loc, &extra, pu)?;
                    let _ = id;
                    add_public(private, pubip, at(files, &n.loc, &extra), notes);
                }
            }
        }
        for it in &a.addresses {
            if let (Some(pr), Some(pu)) = (&it.v.private_ip_address, &it.v.public_ip) {
                let private = parse_ip(files, &it.loc, &[Step::Key("PrivateIpAddress")], pr)?;
                let pubip = parse_ip(files, &it.loc, &[Step::Key("PublicIp")], pu)?;
                add_public(
                    private,
                    pubip,
                    at(files, &it.loc, &[Step::Key("PublicIp")]),
                    notes,
                );
            }
        }
        let ours: BTreeSet<IpAddr> = hosts
            .iter()
            .flat_map(|h| h.enis.iter().flat_map(|e| e.addrs()))
            .collect();
        public.retain(|k, _| ours.contains(k));

        // Gateways of each VPC.
        for (id, g) in &a.igws {
            for x in &g.v.attachments {
                if let Some(v) = vpcs.get_mut(&x.vpc_id) {
                    if matches!(
                        x.state.as_deref(),
                        None | Some("available") | Some("attached")
                    ) {
                        v.igw = Some(id.clone());
                    }
                }
            }
        }
        for (id, g) in &a.eigws {
            for x in &g.v.attachments {
                if let Some(v) = vpcs.get_mut(&x.vpc_id) {
                    v.eigw = Some(id.clone());
                }
            }
        }
        let mut unmapped = Vec::new();
        for (private, (pubip, place)) in &public {
            let vpc = hosts
                .iter()
                .flat_map(|h| h.enis.iter())
                .find(|e| e.addrs().contains(private))
                .map(|e| subnets[&e.subnet].vpc.clone())
                .expect("kept only our addresses");
            if vpcs[&vpc].igw.is_none() {
                unmapped.push(format!("{pubip} -> {private} ({place})"));
            }
        }
        if !unmapped.is_empty() {
            notes.add(format!(
                "public addresses whose VPC has no internet gateway in the input reach nothing: {}",
                places(&unmapped)
            ));
        }
        let peerings: Vec<String> = a
            .peerings
            .iter()
            .filter(|(_, p)| {
                p.v.status.as_ref().is_none_or(|s| s.code == "active")
                    && [&p.v.accepter_vpc_info, &p.v.requester_vpc_info]
                        .iter()
                        .any(|i| i.as_ref().is_some_and(|i| vpcs.contains_key(&i.vpc_id)))
            })
            .map(|(id, _)| id.clone())
            .collect();
        let v6 = vpcs.values().any(|v| !v.v6.is_empty());
        let mut plan = Plan {
            vpcs,
            subnets,
            hosts,
            public,
            nats,
            peerings,
            stubs: BTreeMap::new(),
            routes: BTreeMap::new(),
            v6,
        };
        plan.route_tables(files, a, notes)?;
        plan.place_fabric(files, a)?;
        Ok(plan)
    }

    /// The model is one address space: subnets of different VPCs may not
    /// overlap, and nothing may use the addresses the model makes up.
    fn check_overlaps(
        files: &[File],
        vpcs: &BTreeMap<String, VpcPlan>,
        subnets: &BTreeMap<String, SubnetPlan>,
        hosts: &[HostPlan],
    ) -> Result<(), ImportError> {
        let reserved: Vec<IpNet> = [FABRIC, FABRIC6, OUTSIDE, OUTSIDE6]
            .iter()
            .map(|s| s.parse().expect("valid"))
            .collect();
        let mut seen: Vec<(IpNet, &str)> = Vec::new();
        for s in subnets.values() {
            let nets: Vec<IpNet> =
                s.v4.iter()
                    .map(|n| IpNet::V4(*n))
                    .chain(s.v6.iter().map(|n| IpNet::V6(*n)))
                    .collect();
            for n in nets {
                let field = if n.addr().is_ipv4() {
                    "CidrBlock"
                } else {
                    "Ipv6CidrBlockAssociationSet"
                };
                let mut path = s.loc.path.clone();
                path.push(Step::Key(field));
                if let Some(r) = reserved.iter().find(|r| r.contains(&n) || n.contains(*r)) {
                    return Err(files[s.loc.file].error(
                        &path,
                        format!("subnet {} ({n}) uses {r}, which the model reserves for the addresses it makes up (the VPC fabric, the internet side of gateways)", s.id),
                        "this input cannot be imported as it is; please report it",
                    ));
                }
                if let Some((other, oid)) = seen
                    .iter()
                    .find(|(o, _)| o.contains(&n.network()) || n.contains(&o.network()))
                {
                    return Err(files[s.loc.file].error(
                        &path,
                        format!(
                            "subnet {} ({n}) of {} overlaps subnet {oid} ({other}): the model is one address space",
                            s.id, s.vpc
                        ),
                        "import the VPCs separately: `--vpc ID` (or a folder with one region or account)",
                    ));
                }
                seen.push((n, &s.id));
            }
        }
        let _ = vpcs;
        let mut owners: BTreeMap<IpAddr, &str> = BTreeMap::new();
        for h in hosts {
            for e in &h.enis {
                let s = &subnets[&e.subnet];
                for ip in e.addrs() {
                    let inside = s.v4.is_some_and(|n| IpNet::V4(n).contains(&ip))
                        || s.v6.iter().any(|n| IpNet::V6(*n).contains(&ip));
                    if !inside {
                        return Err(files[e.loc.file].error(
                            &e.loc.path,
                            format!(
                                "network interface {} has address {ip}, outside its subnet {}",
                                e.id, s.id
                            ),
                            EXPECTED,
                        ));
                    }
                    if let Some(o) = owners.insert(ip, &h.name) {
                        if o != h.name {
                            return Err(files[e.loc.file].error(
                                &e.loc.path,
                                format!("{ip} is the address of both {o} and {}", h.name),
                                EXPECTED,
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A stub device for a route target the model does not follow.
    fn stub(&mut self, name: &str, what: String, vpc: &str) -> String {
        self.stubs
            .entry(name.to_string())
            .or_insert_with(|| Stub {
                name: name.to_string(),
                what,
                vpcs: BTreeSet::new(),
            })
            .vpcs
            .insert(vpc.to_string());
        name.to_string()
    }

    /// Each subnet's routes, from its route table (or the local route alone).
    fn route_tables(
        &mut self,
        files: &[File],
        a: &Account,
        notes: &mut Notes,
    ) -> Result<(), ImportError> {
        let ids: Vec<String> = self.subnets.keys().cloned().collect();
        let mut unread_targets: Vec<String> = Vec::new();
        for sid in ids {
            let (vpc, rtb) = {
                let s = &self.subnets[&sid];
                (s.vpc.clone(), s.rtb.clone())
            };
            let vpc_router = self.vpcs[&vpc].router();
            let mut lines = Vec::new();
            let Some(rtb) = rtb.and_then(|r| a.route_tables.get(&r)) else {
                notes.add(format!(
                    "subnet {sid} has no route table in the input: it gets the local route of {vpc} only"
                ));
                for n in self.vpcs[&vpc].nets() {
                    lines.push(RouteLine {
                        dest: n,
                        rank: 0,
                        order: 0,
                        text: format!("{n} via {vpc_router}"),
                        comment: "the local route (no route table in the input)".into(),
                    });
                }
                self.routes.insert(sid, lines);
                continue;
            };
            for (k, r) in rtb.v.routes.iter().enumerate() {
                let mut loc = rtb.loc.clone();
                loc.path.push(Step::Key("Routes"));
                loc.path.push(Step::Index(k));
                let place = at(files, &loc, &[]);
                let comment = format!("{} route {} ({place})", rtb.v.route_table_id, k + 1);
                let dest = match (&r.destination_cidr_block, &r.destination_ipv6_cidr_block) {
                    (Some(c), _) => parse_net(files, &loc, "DestinationCidrBlock", c)?,
                    (None, Some(c)) => parse_net(files, &loc, "DestinationIpv6CidrBlock", c)?,
                    (None, None) => {
                        unread_targets.push(format!(
                            "{} to prefix list {} ({place})",
                            rtb.v.route_table_id,
                            r.destination_prefix_list_id.as_deref().unwrap_or("?")
                        ));
                        continue;
                    }
                };
                let rank = match r.origin.as_deref() {
                    Some("CreateRouteTable") => 0,
                    Some("EnableVgwRoutePropagation") => 2,
                    _ => 1,
                };
                let target = if r.state.as_deref() == Some("blackhole") {
                    None
                } else if r.gateway_id.as_deref() == Some("local") {
                    Some(vpc_router.clone())
                } else if let Some(g) = &r.gateway_id {
                    if g.starts_with("igw-") && self.vpcs[&vpc].igw.as_deref() == Some(g) {
                        Some(g.clone())
                    } else if g.starts_with("igw-") {
                        Some(self.stub(
                            g,
                            format!("internet gateway {g}, which the input does not describe as attached to {vpc}"),
                            &vpc,
                        ))
                    } else if g.starts_with("vgw-") {
                        Some(self.stub(g, format!("virtual private gateway {g}: VPN connections and Direct Connect are not modelled"), &vpc))
                    } else {
                        Some(self.stub(g, format!("gateway {g} (not modelled)"), &vpc))
                    }
                } else if let Some(n) = &r.nat_gateway_id {
                    if self.nats.contains(n) {
                        Some(n.clone())
                    } else {
                        Some(self.stub(
                            n,
                            format!(
                                "NAT gateway {n}, which the input does not describe as available"
                            ),
                            &vpc,
                        ))
                    }
                } else if let Some(p) = &r.vpc_peering_connection_id {
                    if self.peerings.contains(p) {
                        Some(p.clone())
                    } else {
                        Some(self.stub(p, format!("VPC peering connection {p}, which the input does not describe as active"), &vpc))
                    }
                } else if let Some(e) = &r.egress_only_internet_gateway_id {
                    if self.vpcs[&vpc].eigw.as_deref() == Some(e) {
                        Some(e.clone())
                    } else {
                        Some(self.stub(e, format!("egress-only internet gateway {e}, which the input does not describe as attached to {vpc}"), &vpc))
                    }
                } else if let Some(t) = &r.transit_gateway_id {
                    Some(self.stub(
                        t,
                        format!("transit gateway {t}: transit gateways are not modelled"),
                        &vpc,
                    ))
                } else if let Some(i) = r.network_interface_id.as_ref().or(r.instance_id.as_ref()) {
                    Some(self.stub(&format!("{i}/route-target"), format!("{i} as a route target: routing through an instance or interface is not modelled"), &vpc))
                } else if let Some(g) = r
                    .local_gateway_id
                    .as_ref()
                    .or(r.carrier_gateway_id.as_ref())
                {
                    Some(self.stub(g, format!("gateway {g} (not modelled)"), &vpc))
                } else {
                    unread_targets.push(format!(
                        "{} route {} ({place})",
                        rtb.v.route_table_id,
                        k + 1
                    ));
                    continue;
                };
                let text = match target {
                    Some(t) => format!("{dest} via {t}"),
                    None => format!("{dest} blackhole"),
                };
                lines.push(RouteLine {
                    dest,
                    rank,
                    order: k,
                    text,
                    comment,
                });
            }
            // Longest prefix first; then the local route, static before
            // propagated; then the table's order.
            lines.sort_by_key(|l| (std::cmp::Reverse(l.dest.prefix_len()), l.rank, l.order));
            // Of two routes for one prefix only the first counts.
            let mut seen = BTreeSet::new();
            lines.retain(|l| seen.insert(l.dest));
            self.routes.insert(sid, lines);
        }
        if !unread_targets.is_empty() {
            notes.add(format!(
                "ignored routes whose destination or target is not modelled (prefix lists, core networks): {}",
                places(&unread_targets)
            ));
        }
        Ok(())
    }

    /// Addresses on each VPC's fabric, in a fixed order.
    fn place_fabric(&mut self, files: &[File], a: &Account) -> Result<(), ImportError> {
        let fabric: Ipv4Net = FABRIC.parse().expect("valid");
        let mut cursor = u32::from(fabric.network());
        let end = u32::from(fabric.broadcast());
        let ids: Vec<String> = self.vpcs.keys().cloned().collect();
        for (k, id) in ids.iter().enumerate() {
            let mut devices = vec![self.vpcs[id].router()];
            for s in &self.vpcs[id].subnets {
                devices.push(self.subnets[s].router.clone());
            }
            if let Some(g) = &self.vpcs[id].igw {
                devices.push(g.clone());
            }
            if let Some(g) = &self.vpcs[id].eigw {
                devices.push(g.clone());
            }
            for n in &self.nats {
                if a.nats[n].v.vpc_id.as_deref() == Some(id.as_str())
                    || self.subnets.get(&a.nats[n].v.subnet_id).map(|s| &s.vpc) == Some(id)
                {
                    devices.push(n.clone());
                }
            }
            for p in &self.peerings {
                let v = &a.peerings[p].v;
                if [&v.accepter_vpc_info, &v.requester_vpc_info]
                    .iter()
                    .any(|i| i.as_ref().is_some_and(|i| i.vpc_id == *id))
                {
                    devices.push(p.clone());
                }
            }
            for s in self.stubs.values() {
                if s.vpcs.contains(id) {
                    devices.push(s.name.clone());
                }
            }
            let size = (devices.len() as u32 + 2).next_power_of_two().max(256);
            cursor = cursor.div_ceil(size) * size;
            if cursor.checked_add(size - 1).is_none_or(|last| last > end) {
                let v = &self.vpcs[id];
                return Err(files[v.loc.file].error(
                    &v.loc.path,
                    format!(
                        "too many VPCs and gateways for the model's fabric addresses ({FABRIC})"
                    ),
                    "import fewer VPCs at once (`--vpc ID`)",
                ));
            }
            let len = 32 - size.trailing_zeros() as u8;
            let v = self.vpcs.get_mut(id).expect("listed");
            v.fabric = Ipv4Net::new(Ipv4Addr::from(cursor), len).expect("valid");
            cursor += size;
            if !v.v6.is_empty() {
                let base: Ipv6Net = FABRIC6.parse().expect("valid");
                let net = u128::from(base.network()) | ((k as u128) << 64);
                v.fabric6 = Some(Ipv6Net::new(Ipv6Addr::from(net), 64).expect("valid"));
            }
            v.on_fabric = devices;
        }
        Ok(())
    }
}

/// One host of the scenario, as written.
#[derive(Default)]
struct Device {
    name: String,
    about: String,
    router: bool,
    at: Vec<(String, Vec<IpAddr>)>,
    listen: Vec<String>,
    routes: Vec<(String, String)>,
    forward: Option<String>,
    input: Option<String>,
    output: Option<String>,
    nat: Vec<String>,
}

struct FilterDef {
    name: String,
    about: String,
    stateful: bool,
    default_allow: bool,
    rules: Vec<Rule>,
}

fn ips_text(v: &[IpAddr]) -> String {
    v.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Plan {
    fn write(
        &self,
        files: &[File],
        a: &Account,
        options: &Options,
        notes: &mut Notes,
    ) -> Result<String, ImportError> {
        let mut devices: Vec<Device> = Vec::new();
        let mut filters: Vec<FilterDef> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        let mut filter_names: BTreeSet<String> = BTreeSet::new();

        // Internet side: synthetic addresses for gateways.
        let outside: Ipv4Net = OUTSIDE.parse().expect("valid");
        let outside6: Ipv6Net = OUTSIDE6.parse().expect("valid");
        let mut next_out = 1u32;
        let mut next_out6 = 1u128;
        let backbone = self.v6
            && self
                .vpcs
                .values()
                .any(|v| !v.v6.is_empty() && (v.igw.is_some() || v.eigw.is_some()));

        // Security group members: group id -> (host, addresses of its interfaces in the group).
        let mut members: BTreeMap<&str, Vec<(&str, Vec<IpAddr>)>> = BTreeMap::new();
        for h in &self.hosts {
            for e in &h.enis {
                for g in &e.groups {
                    let list = members.entry(g.as_str()).or_default();
                    match list.iter_mut().find(|(n, _)| *n == h.name) {
                        Some((_, ips)) => ips.extend(e.addrs()),
                        None => list.push((&h.name, e.addrs())),
                    }
                }
            }
        }
        let host_addrs: BTreeMap<&str, BTreeSet<IpAddr>> = self
            .hosts
            .iter()
            .map(|h| {
                (
                    h.name.as_str(),
                    h.enis.iter().flat_map(|e| e.addrs()).collect(),
                )
            })
            .collect();
        let mut missing_groups: BTreeSet<String> = BTreeSet::new();

        // The VPCs: router, subnet routers, gateways.
        for v in self.vpcs.values() {
            let vpc_item = &a.vpcs[&v.id];
            let vname = named(&v.id, &vpc_item.v.tags);
            let fabric_cidr: Vec<IpNet> = std::iter::once(IpNet::V4(v.fabric))
                .chain(v.fabric6.map(IpNet::V6))
                .collect();
            let _ = fabric_cidr;
            let mut routes = Vec::new();
            for s in &v.subnets {
                let sp = &self.subnets[s];
                for n in sp
                    .v4
                    .iter()
                    .map(|n| IpNet::V4(*n))
                    .chain(sp.v6.iter().map(|n| IpNet::V6(*n)))
                {
                    routes.push((
                        format!("{n} via {}", sp.router),
                        format!(
                            "subnet {s} ({})",
                            at(files, &sp.loc, &[Step::Key("SubnetId")])
                        ),
                    ));
                }
            }
            for n in v.nets() {
                routes.push((
                    format!("{n} blackhole"),
                    format!("{}: addresses of the VPC that no subnet holds", v.id),
                ));
            }
            devices.push(Device {
                name: v.router(),
                about: format!(
                    "the router of VPC {vname} ({}): the local route, to each subnet's edge; the VPC's addresses that no subnet holds go nowhere",
                    at(files, &v.loc, &[Step::Key("VpcId")])
                ),
                router: true,
                at: vec![(v.id.clone(), v.fabric_addrs(&v.router()))],
                routes,
                ..Default::default()
            });
            for s in &v.subnets {
                let sp = &self.subnets[s];
                let sitem = &a.subnets[s];
                let mut addrs = Vec::new();
                if let Some(n) = sp.v4 {
                    addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + 1)));
                }
                for n in &sp.v6 {
                    addrs.push(IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + 1)));
                }
                let rtb_text = match &sp.rtb {
                    Some(r) => format!(
                        "route table {} ({})",
                        r,
                        at(files, &a.route_tables[r].loc, &[Step::Key("RouteTableId")])
                    ),
                    None => "no route table in the input (the local route only)".into(),
                };
                let acl_text = match sp.acl.as_ref().and_then(|x| a.acls.get(x)) {
                    Some(acl) => format!(
                        "network ACL {} ({})",
                        named(&acl.v.network_acl_id, &acl.v.tags),
                        at(files, &acl.loc, &[Step::Key("NetworkAclId")])
                    ),
                    None => {
                        "no network ACL in the input (nothing filtered at the subnet's edge)".into()
                    }
                };
                let forward = match sp.acl.as_ref().and_then(|x| a.acls.get(x)) {
                    Some(acl) => {
                        let name = acl.v.network_acl_id.clone();
                        if filter_names.insert(name.clone()) {
                            filters.push(FilterDef {
                                name: name.clone(),
                                about: format!(
                                    "network ACL {} of {}: stateless, by rule number; outbound entries match packets leaving the subnet (out {}), inbound entries packets entering it (in {})",
                                    named(&acl.v.network_acl_id, &acl.v.tags),
                                    v.id,
                                    v.id,
                                    v.id
                                ),
                                stateful: false,
                                default_allow: false,
                                rules: acl_rules(files, acl, &v.id, &mut skipped)?,
                            });
                        }
                        Some(name)
                    }
                    None => {
                        if a.seen.contains("NetworkAcls") {
                            notes.add(format!("subnet {s} has no network ACL in the input: nothing is filtered at its edge"));
                        }
                        None
                    }
                };
                let routes = self.routes[s]
                    .iter()
                    .map(|r| (r.text.clone(), r.comment.clone()))
                    .collect();
                devices.push(Device {
                    name: sp.router.clone(),
                    about: format!(
                        "the edge of subnet {} of {}: {rtb_text}; {acl_text}",
                        named(s, &sitem.v.tags),
                        v.id
                    ),
                    router: true,
                    at: vec![
                        (s.clone(), addrs),
                        (v.id.clone(), v.fabric_addrs(&sp.router)),
                    ],
                    routes,
                    forward,
                    ..Default::default()
                });
            }
            // The internet gateway.
            if let Some(g) = &v.igw {
                let item = &a.igws[g];
                let mut inet = vec![IpAddr::V4(Ipv4Addr::from(
                    u32::from(outside.network()) + next_out,
                ))];
                next_out += 1;
                if !v.v6.is_empty() {
                    inet.push(IpAddr::V6(Ipv6Addr::from(
                        u128::from(outside6.network()) + next_out6,
                    )));
                    next_out6 += 1;
                }
                let mut nat = Vec::new();
                let mut mapped = Vec::new();
                for (private, (pubip, _)) in &self.public {
                    let in_vpc = v.nets().iter().any(|n| n.contains(private));
                    if !in_vpc {
                        continue;
                    }
                    inet.push(*pubip);
                    nat.push(format!("dnat to {pubip} -> {private}"));
                    nat.push(format!("snat from {private} -> {pubip}"));
                    mapped.push(private.to_string());
                }
                let place = at(files, &item.loc, &[Step::Key("InternetGatewayId")]);
                let gsrc = |label: String| Source {
                    file: files[item.loc.file].path.clone(),
                    line: line(files, &item.loc, &[Step::Key("InternetGatewayId")]),
                    label,
                    kind: None,
                };
                let mut rules = Vec::new();
                if !mapped.is_empty() {
                    rules.push(Rule {
                        allow: true,
                        from: mapped.clone(),
                        in_net: Some(v.id.clone()),
                        source: Some(gsrc(format!(
                            "internet gateway {g}: these private addresses have a public or Elastic IP"
                        ))),
                        ..Default::default()
                    });
                }
                if !v.v6.is_empty() {
                    rules.push(Rule {
                        allow: true,
                        from: v.v6.iter().map(|n| n.to_string()).collect(),
                        in_net: Some(v.id.clone()),
                        source: Some(gsrc(format!(
                            "internet gateway {g}: IPv6 addresses of {} are public as they are",
                            v.id
                        ))),
                        ..Default::default()
                    });
                }
                rules.push(Rule {
                    allow: false,
                    in_net: Some(v.id.clone()),
                    source: Some(gsrc(format!(
                        "internet gateway {g}: the source has no public or Elastic IP, so the gateway does not carry it"
                    ))),
                    ..Default::default()
                });
                filters.push(FilterDef {
                    name: g.clone(),
                    about: format!("internet gateway {g}: it carries only what it can translate"),
                    stateful: true,
                    default_allow: true,
                    rules,
                });
                let routes = v
                    .nets()
                    .iter()
                    .map(|n| (format!("{n} via {}", v.router()), format!("into {}", v.id)))
                    .collect();
                devices.push(Device {
                    name: g.clone(),
                    about: format!(
                        "internet gateway {} of {} ({place}): each public or Elastic IP is translated 1:1 to its private address",
                        named(g, &item.v.tags),
                        v.id
                    ),
                    router: true,
                    at: vec![
                        ("internet".into(), inet),
                        (v.id.clone(), v.fabric_addrs(g)),
                    ],
                    routes,
                    forward: Some(g.clone()),
                    nat,
                    ..Default::default()
                });
            }
            if let Some(g) = &v.eigw {
                let item = &a.eigws[g];
                let inet = vec![IpAddr::V6(Ipv6Addr::from(
                    u128::from(outside6.network()) + next_out6,
                ))];
                next_out6 += 1;
                let src = Source {
                    file: files[item.loc.file].path.clone(),
                    line: line(
                        files,
                        &item.loc,
                        &[Step::Key("EgressOnlyInternetGatewayId")],
                    ),
                    label: format!(
                        "egress-only internet gateway {g}: no connection from the internet"
                    ),
                    kind: None,
                };
                filters.push(FilterDef {
                    name: g.clone(),
                    about: format!("egress-only internet gateway {g}"),
                    stateful: true,
                    default_allow: true,
                    rules: vec![Rule {
                        allow: false,
                        in_net: Some("internet".into()),
                        source: Some(src),
                        ..Default::default()
                    }],
                });
                let fabric6: Vec<IpAddr> = v
                    .fabric_addrs(g)
                    .into_iter()
                    .filter(|a| a.is_ipv6())
                    .collect();
                devices.push(Device {
                    name: g.clone(),
                    about: format!(
                        "egress-only internet gateway {} of {}: IPv6 out, nothing in",
                        named(g, &item.v.tags),
                        v.id
                    ),
                    router: true,
                    at: vec![("internet".into(), inet), (v.id.clone(), fabric6)],
                    routes: v
                        .v6
                        .iter()
                        .map(|n| (format!("{n} via {}", v.router()), format!("into {}", v.id)))
                        .collect(),
                    forward: Some(g.clone()),
                    ..Default::default()
                });
            }
        }

        // Peering connections.
        for p in &self.peerings {
            let item = &a.peerings[p];
            let mut at_list = Vec::new();
            let mut routes = Vec::new();
            for info in [&item.v.requester_vpc_info, &item.v.accepter_vpc_info]
                .into_iter()
                .flatten()
            {
                match self.vpcs.get(&info.vpc_id) {
                    Some(v) => {
                        at_list.push((v.id.clone(), v.fabric_addrs(p)));
                        for n in v.nets() {
                            routes.push((
                                format!("{n} via {}", v.router()),
                                format!("into {}", v.id),
                            ));
                        }
                    }
                    None => notes.add(format!(
                        "peering connection {p} leads to {}, which is not in the input (or not imported): nothing goes through it that way",
                        info.vpc_id
                    )),
                }
            }
            devices.push(Device {
                name: p.clone(),
                about: format!(
                    "VPC peering connection {} ({}): carries packets for the peer VPC's addresses, and nothing further",
                    named(p, &item.v.tags),
                    at(files, &item.loc, &[Step::Key("VpcPeeringConnectionId")])
                ),
                router: true,
                at: at_list,
                routes,
                ..Default::default()
            });
        }
        // Stubs.
        for s in self.stubs.values() {
            let mut at_list = Vec::new();
            let mut routes = Vec::new();
            for vid in &s.vpcs {
                let v = &self.vpcs[vid];
                at_list.push((v.id.clone(), v.fabric_addrs(&s.name)));
                for n in v.nets() {
                    routes.push((format!("{n} via {}", v.router()), format!("into {}", v.id)));
                }
            }
            notes.add(format!(
                "route target {}: a journey routed there ends at {}",
                s.what, s.name
            ));
            devices.push(Device {
                name: s.name.clone(),
                about: format!("{}; it routes only back into the VPC", s.what),
                router: true,
                at: at_list,
                routes,
                ..Default::default()
            });
        }

        // Instances, NAT gateways, other interfaces.
        for h in &self.hosts {
            let vpc = &self.vpcs[&self.subnets[&h.enis[0].subnet].vpc];
            let mut at_list: Vec<(String, Vec<IpAddr>)> = Vec::new();
            for e in &h.enis {
                match at_list.iter_mut().find(|(n, _)| *n == e.subnet) {
                    Some((_, ips)) => ips.extend(e.addrs()),
                    None => at_list.push((e.subnet.clone(), e.addrs())),
                }
            }
            match &h.owner {
                Owner::Nat(id) => {
                    let item = &a.nats[id];
                    let subnet = &h.enis[0].subnet;
                    let private = h.enis[0].v4.first().copied();
                    at_list.push((vpc.id.clone(), vpc.fabric_addrs(id)));
                    let src = |label: String| Source {
                        file: files[item.loc.file].path.clone(),
                        line: line(files, &item.loc, &[Step::Key("NatGatewayId")]),
                        label,
                        kind: None,
                    };
                    let mut rules = vec![Rule {
                        allow: false,
                        proto: Some(Proto::Sctp),
                        source: Some(src(format!(
                            "NAT gateway {id} translates TCP, UDP and ICMP only"
                        ))),
                        ..Default::default()
                    }];
                    let acl = self.subnets[subnet]
                        .acl
                        .as_ref()
                        .and_then(|x| a.acls.get(x));
                    if let Some(acl) = acl {
                        rules.extend(acl_rules(files, acl, &vpc.id, &mut skipped)?);
                    }
                    filters.push(FilterDef {
                        name: id.clone(),
                        about: format!(
                            "NAT gateway {id}: the protocols it translates, then the network ACL of its subnet {subnet}{} (the gateway is inside the subnet: what reaches it from the VPC enters the subnet there)",
                            acl.map(|x| format!(" ({})", x.v.network_acl_id)).unwrap_or_default()
                        ),
                        stateful: false,
                        default_allow: true,
                        rules,
                    });
                    let own = format!("{id}/own");
                    filters.push(FilterDef {
                        name: own.clone(),
                        about: format!("NAT gateway {id}: nothing connects to the gateway itself"),
                        stateful: true,
                        default_allow: false,
                        rules: vec![Rule {
                            allow: false,
                            source: Some(src(format!(
                                "NAT gateway {id} accepts no connection of its own: it only translates connections the VPC routes to it"
                            ))),
                            ..Default::default()
                        }],
                    });
                    let nat = private
                        .map(|p| vec![format!("snat out {subnet} -> {p}")])
                        .unwrap_or_default();
                    devices.push(Device {
                        name: h.name.clone(),
                        about: h.about.clone(),
                        router: true,
                        at: at_list,
                        routes: vpc
                            .nets()
                            .iter()
                            .map(|n| {
                                (
                                    format!("{n} via {}", vpc.router()),
                                    format!("back into {}", vpc.id),
                                )
                            })
                            .collect(),
                        forward: Some(id.clone()),
                        input: Some(own),
                        nat,
                        ..Default::default()
                    });
                }
                Owner::Instance(_) | Owner::Eni => {
                    let (input, output, listen) = self.security_filters(
                        files,
                        a,
                        h,
                        &members,
                        &host_addrs,
                        &mut filters,
                        &mut filter_names,
                        &mut skipped,
                        &mut missing_groups,
                    );
                    if let Owner::Instance(id) = &h.owner {
                        if a.instances[id].v.source_dest_check == Some(false) {
                            notes.add(format!("instance {id} has its source/destination check off (it may route for others): the model does not route through it"));
                        }
                    }
                    devices.push(Device {
                        name: h.name.clone(),
                        about: h.about.clone(),
                        at: at_list,
                        listen,
                        input: Some(input),
                        output: Some(output),
                        ..Default::default()
                    });
                }
            }
        }
        if !missing_groups.is_empty() {
            let v: Vec<String> = missing_groups.into_iter().collect();
            notes.add(format!(
                "security groups the interfaces or rules name but the input does not describe (they allow nothing): {}",
                places(&v)
            ));
        }
        if !skipped.is_empty() {
            notes.add(format!(
                "{} rule{} not modelled (each left out): {}",
                skipped.len(),
                if skipped.len() == 1 { " is" } else { "s are" },
                places(&skipped)
            ));
        }
        let listens = self.hosts.iter().any(|h| !matches!(h.owner, Owner::Nat(_)));
        if listens {
            notes.add(format!(
                "describe-* does not say what listens on an instance: each instance and interface listens on the TCP, UDP and SCTP ports its security groups open to anyone (single ports and ranges of up to {} ports); a journey to another port ends `refused` at the host when the network lets it in",
                rules::MAX_RANGE
            ));
        }
        if backbone {
            let mut routes = Vec::new();
            for v in self.vpcs.values() {
                if let Some(g) = v.igw.as_ref().or(v.eigw.as_ref()) {
                    for n in &v.v6 {
                        routes.push((
                            format!("{n} via {g}"),
                            format!("{} is reached through {g}", v.id),
                        ));
                    }
                }
            }
            devices.push(Device {
                name: "aws-backbone".into(),
                about: "the provider's network between the internet and the VPCs' internet gateways (for IPv6, whose addresses are not translated)".into(),
                router: true,
                at: vec![(
                    "internet".into(),
                    vec![IpAddr::V6(Ipv6Addr::from(u128::from(outside6.network()) + 0xffff))],
                )],
                routes,
                ..Default::default()
            });
        }
        let _ = next_out;
        Ok(self.emit(files, a, options, &devices, &filters, backbone))
    }

    /// The input and output filters of a host from its interfaces' security
    /// groups (shared by hosts with the same groups), and its sockets.
    #[allow(clippy::too_many_arguments)]
    fn security_filters(
        &self,
        files: &[File],
        a: &Account,
        h: &HostPlan,
        members: &BTreeMap<&str, Vec<(&str, Vec<IpAddr>)>>,
        host_addrs: &BTreeMap<&str, BTreeSet<IpAddr>>,
        filters: &mut Vec<FilterDef>,
        filter_names: &mut BTreeSet<String>,
        skipped: &mut Vec<String>,
        missing: &mut BTreeSet<String>,
    ) -> (String, String, Vec<String>) {
        let distinct: BTreeSet<Vec<String>> = h.enis.iter().map(|e| e.groups.clone()).collect();
        let per_eni = distinct.len() > 1;
        let base = if per_eni {
            h.name.clone()
        } else {
            let g = &h.enis[0].groups;
            if g.is_empty() {
                "no-security-group".to_string()
            } else {
                g.join("+")
            }
        };
        let (input, output) = (format!("{base}/in"), format!("{base}/out"));
        let mut sockets = BTreeSet::new();
        for e in &h.enis {
            let perms: Vec<&Permission> = e
                .groups
                .iter()
                .filter_map(|g| a.groups.get(g))
                .flat_map(|g| g.v.ip_permissions.iter())
                .collect();
            rules::sockets(&perms, &mut sockets);
        }
        let listen = sockets
            .iter()
            .map(|(p, port)| rules::socket_line(*p, *port))
            .collect();
        if !filter_names.insert(input.clone()) {
            return (input, output, listen);
        }
        filter_names.insert(output.clone());
        for inbound in [true, false] {
            let mut list = Vec::new();
            let mut all_groups = Vec::new();
            for e in &h.enis {
                let local: Vec<String> = if per_eni {
                    e.addrs().iter().map(|a| a.to_string()).collect()
                } else {
                    Vec::new()
                };
                for g in &e.groups {
                    let Some(sg) = a.groups.get(g) else {
                        missing.insert(g.clone());
                        continue;
                    };
                    if !all_groups.contains(g) {
                        all_groups.push(g.clone());
                    }
                    let (key, perms) = if inbound {
                        ("IpPermissions", &sg.v.ip_permissions)
                    } else {
                        ("IpPermissionsEgress", &sg.v.ip_permissions_egress)
                    };
                    for (k, p) in perms.iter().enumerate() {
                        let proto = rules::permission_proto(p);
                        let peers = self.peers(p, proto, members, host_addrs, a, missing);
                        let label = format!(
                            "security group {}, {} rule {}: {} {} {}",
                            named(g, &sg.v.tags),
                            if inbound { "inbound" } else { "outbound" },
                            k + 1,
                            describe_proto(p),
                            if inbound { "from" } else { "to" },
                            if peers.described.is_empty() {
                                "nothing".to_string()
                            } else {
                                peers.described.join(", ")
                            }
                        );
                        let src = Source {
                            file: files[sg.loc.file].path.clone(),
                            line: line(files, &sg.loc, &[Step::Key(key), Step::Index(k)]),
                            label,
                            kind: Some("aws-security-group"),
                        };
                        if let Some(r) = rules::permission(p, inbound, &peers, &local, src, skipped)
                        {
                            list.push(r);
                        }
                    }
                }
            }
            let first = h
                .enis
                .iter()
                .flat_map(|e| e.groups.iter())
                .find_map(|g| a.groups.get(g));
            let (file, l) = match first {
                Some(sg) => (
                    files[sg.loc.file].path.clone(),
                    line(files, &sg.loc, &[Step::Key("GroupId")]),
                ),
                None => (
                    files[h.enis[0].loc.file].path.clone(),
                    line(files, &h.enis[0].loc, &[]),
                ),
            };
            let groups_text = if all_groups.is_empty() {
                "no security group".to_string()
            } else {
                all_groups
                    .iter()
                    .map(|g| named(g, &a.groups[g].v.tags))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            list.push(Rule {
                allow: false,
                source: Some(Source {
                    file,
                    line: l,
                    label: format!(
                        "security groups {groups_text}: no {} rule allows it (a security group allows only what a rule names)",
                        if inbound { "inbound" } else { "outbound" }
                    ),
                    kind: Some("aws-security-group"),
                }),
                ..Default::default()
            });
            filters.push(FilterDef {
                name: if inbound { input.clone() } else { output.clone() },
                about: format!(
                    "{} rules of security groups {groups_text}: stateful, allow-only (any rule of any group allows)",
                    if inbound { "inbound" } else { "outbound" }
                ),
                stateful: true,
                default_allow: false,
                rules: list,
            });
        }
        (input, output, listen)
    }

    /// The peers of a permission as address terms: prefixes as they are,
    /// a referenced group as its members (host names when all of a host's
    /// addresses are in the group, else addresses).
    fn peers(
        &self,
        p: &Permission,
        proto: Option<Proto>,
        members: &BTreeMap<&str, Vec<(&str, Vec<IpAddr>)>>,
        host_addrs: &BTreeMap<&str, BTreeSet<IpAddr>>,
        a: &Account,
        missing: &mut BTreeSet<String>,
    ) -> Peers {
        let mut out = Peers::default();
        for r in &p.ip_ranges {
            if let Ok(n) = r.cidr_ip.parse::<IpNet>() {
                out.described.push(n.trunc().to_string());
                if rules::family_ok(proto, &n) {
                    out.terms.push(n.trunc().to_string());
                }
            }
        }
        for r in &p.ipv6_ranges {
            if let Ok(n) = r.cidr_ipv6.parse::<IpNet>() {
                out.described.push(n.trunc().to_string());
                if rules::family_ok(proto, &n) {
                    out.terms.push(n.trunc().to_string());
                }
            }
        }
        for pl in &p.prefix_list_ids {
            out.described
                .push(format!("prefix list {} (not read)", pl.prefix_list_id));
        }
        for g in &p.user_id_group_pairs {
            let Some(gid) = &g.group_id else { continue };
            let gname = a
                .groups
                .get(gid)
                .map(|sg| named(gid, &sg.v.tags))
                .unwrap_or_else(|| gid.clone());
            out.described.push(format!("members of {gname}"));
            if !a.groups.contains_key(gid) {
                missing.insert(gid.clone());
            }
            for (host, ips) in members.get(gid.as_str()).into_iter().flatten() {
                let ips: Vec<IpAddr> = ips
                    .iter()
                    .filter(|ip| rules::family_ok_ip(proto, ip))
                    .copied()
                    .collect();
                let all: BTreeSet<IpAddr> = ips.iter().copied().collect();
                if proto.is_none_or(|p| !matches!(p, Proto::Icmp | Proto::Icmpv6))
                    && host_addrs.get(host) == Some(&all)
                {
                    out.terms.push(host.to_string());
                } else {
                    out.terms.extend(ips.iter().map(|ip| ip.to_string()));
                }
            }
        }
        let mut seen = BTreeSet::new();
        out.terms.retain(|t| seen.insert(t.clone()));
        out
    }

    fn emit(
        &self,
        files: &[File],
        a: &Account,
        options: &Options,
        devices: &[Device],
        filters: &[FilterDef],
        backbone: bool,
    ) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "# Written by `pathproof import aws`; every security group and network ACL rule names its file and line,");
        let _ = writeln!(y, "# every route its route table. The VPC fabrics (198.18.0.0/15) and the gateways' internet-side");
        let _ = writeln!(
            y,
            "# addresses (192.0.2.0/24) are the model's own: AWS has no such addresses."
        );
        let _ = writeln!(y, "name: aws-import");
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let instances = self
            .hosts
            .iter()
            .filter(|h| matches!(h.owner, Owner::Instance(_)))
            .count();
        let _ = writeln!(
            y,
            "about: {}",
            quoted(&format!(
                "AWS VPCs imported from {}: {} VPC{}, {} subnet{}, {} instance{}, {} NAT gateway{}, {} peering connection{}. Each instance is a host named by its instance id; each subnet a network with an edge router (its route table and network ACL); the internet is the network `internet`.",
                places(&paths),
                self.vpcs.len(),
                plural(self.vpcs.len()),
                self.subnets.len(),
                plural(self.subnets.len()),
                instances,
                plural(instances),
                self.nats.len(),
                plural(self.nats.len()),
                self.peerings.len(),
                plural(self.peerings.len()),
            ))
        );
        let _ = writeln!(y, "\nnetworks:");
        let inet: Vec<&str> = if self.v6 {
            vec!["0.0.0.0/0", "::/0"]
        } else {
            vec!["0.0.0.0/0"]
        };
        let _ = writeln!(
            y,
            "  internet: {{ cidr: {}, trust: untrusted{}, about: \"everything outside AWS\" }}",
            flow_list(&inet),
            if backbone {
                ", gateway: aws-backbone"
            } else {
                ""
            }
        );
        for v in self.vpcs.values() {
            let cidr: Vec<String> = std::iter::once(v.fabric.to_string())
                .chain(v.fabric6.map(|n| n.to_string()))
                .collect();
            let real: Vec<String> = v.nets().iter().map(|n| n.to_string()).collect();
            let _ = writeln!(
                y,
                "  {}: {{ cidr: {}, about: {} }}",
                scalar(&v.id),
                flow_list(&cidr),
                quoted(&format!(
                    "the fabric of VPC {} ({}) that joins its subnets' edges and gateways; its addresses are the model's",
                    named(&v.id, &a.vpcs[&v.id].v.tags),
                    real.join(", ")
                ))
            );
            for s in &v.subnets {
                let sp = &self.subnets[s];
                let cidr: Vec<String> = sp
                    .v4
                    .iter()
                    .map(|n| n.to_string())
                    .chain(sp.v6.iter().map(|n| n.to_string()))
                    .collect();
                let item = &a.subnets[s];
                let _ = writeln!(
                    y,
                    "  {}: {{ cidr: {}, gateway: {}, about: {} }}",
                    scalar(s),
                    flow_list(&cidr),
                    scalar(&sp.router),
                    quoted(&format!(
                        "subnet {} of {}{} ({})",
                        named(s, &item.v.tags),
                        v.id,
                        item.v
                            .availability_zone
                            .as_deref()
                            .map(|z| format!(", {z}"))
                            .unwrap_or_default(),
                        at(files, &sp.loc, &[Step::Key("SubnetId")])
                    ))
                );
            }
        }
        let _ = writeln!(y, "\nhosts:");
        for d in devices {
            let _ = writeln!(y, "  {}:", scalar(&d.name));
            let _ = writeln!(y, "    about: {}", quoted(&d.about));
            if d.router {
                let _ = writeln!(y, "    router: true");
            }
            let at_items: Vec<String> =
                d.at.iter()
                    .map(|(n, ips)| quoted(&format!("{n} {}", ips_text(ips))))
                    .collect();
            let _ = writeln!(y, "    at: [{}]", at_items.join(", "));
            if !d.routes.is_empty() {
                let _ = writeln!(y, "    routes:");
                for (r, c) in &d.routes {
                    let _ = writeln!(y, "      - {}  # {}", quoted(r), c.replace('\n', " "));
                }
            }
            if let Some(f) = &d.forward {
                let _ = writeln!(y, "    forward: {}", scalar(f));
            }
            if let Some(f) = &d.input {
                let _ = writeln!(y, "    input: {}", scalar(f));
            }
            if let Some(f) = &d.output {
                let _ = writeln!(y, "    output: {}", scalar(f));
            }
            if !d.nat.is_empty() {
                let _ = writeln!(y, "    nat:");
                for n in &d.nat {
                    let _ = writeln!(y, "      - {}", quoted(n));
                }
            }
            if !d.listen.is_empty() {
                let items: Vec<String> = d.listen.iter().map(|l| quoted(l)).collect();
                let _ = writeln!(y, "    listen: [{}]", items.join(", "));
            }
        }
        let _ = writeln!(y, "\nfilters:");
        for f in filters {
            let _ = writeln!(y, "  {}:", scalar(&f.name));
            let _ = writeln!(y, "    about: {}", quoted(&f.about));
            let _ = writeln!(y, "    stateful: {}", f.stateful);
            let _ = writeln!(
                y,
                "    default: {}",
                if f.default_allow { "allow" } else { "drop" }
            );
            if f.rules.is_empty() {
                let _ = writeln!(y, "    rules: []");
            } else {
                let _ = writeln!(y, "    rules:");
                for r in &f.rules {
                    let _ = writeln!(y, "      - {}", r.yaml());
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
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// An AWS protocol field in words (`6` is `tcp`).
fn proto_word(p: &str) -> String {
    match rules::protocol(p) {
        rules::Protocol::All => "all traffic".into(),
        rules::Protocol::One(Proto::Tcp) => "tcp".into(),
        rules::Protocol::One(Proto::Udp) => "udp".into(),
        rules::Protocol::One(Proto::Sctp) => "sctp".into(),
        rules::Protocol::One(Proto::Icmp) => "icmp".into(),
        rules::Protocol::One(Proto::Icmpv6) => "icmpv6".into(),
        rules::Protocol::Other => format!("protocol {p}"),
    }
}

fn describe_proto(p: &Permission) -> String {
    match rules::protocol(&p.ip_protocol) {
        rules::Protocol::All => "all traffic".into(),
        rules::Protocol::Other => format!("protocol {}", p.ip_protocol),
        rules::Protocol::One(pr) if pr.has_ports() => match rules::ports(p.from_port, p.to_port) {
            Ok(Some((a, b))) if a == b => format!("{} {a}", proto_word(&p.ip_protocol)),
            Ok(Some((a, b))) => format!("{} {a}-{b}", proto_word(&p.ip_protocol)),
            _ => format!("{} all ports", proto_word(&p.ip_protocol)),
        },
        rules::Protocol::One(_) => match p.from_port {
            None | Some(-1) => format!("{} all types", proto_word(&p.ip_protocol)),
            Some(t) => format!("{} type {t}", proto_word(&p.ip_protocol)),
        },
    }
}

/// A network ACL's entries as rules, by rule number, each direction ending
/// in the `*` rule.
fn acl_rules(
    files: &[File],
    acl: &Item<json::NetworkAcl>,
    vpc_net: &str,
    skipped: &mut Vec<String>,
) -> Result<Vec<Rule>, ImportError> {
    let mut out = Vec::new();
    let name = named(&acl.v.network_acl_id, &acl.v.tags);
    for egress in [true, false] {
        let dir = if egress { "outbound" } else { "inbound" };
        let mut entries: Vec<(usize, &json::AclEntry)> = acl
            .v
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.egress == egress)
            .collect();
        entries.sort_by_key(|(k, e)| (e.rule_number, *k));
        for (k, e) in entries {
            let number = if e.rule_number >= 32767 {
                "*".to_string()
            } else {
                e.rule_number.to_string()
            };
            let what = match rules::protocol(&e.protocol) {
                rules::Protocol::All => "all traffic".to_string(),
                _ => {
                    let ports = e
                        .port_range
                        .as_ref()
                        .map(|p| match (p.from, p.to) {
                            (Some(a), Some(b)) if a == b => format!(" {a}"),
                            (Some(a), Some(b)) => format!(" {a}-{b}"),
                            _ => String::new(),
                        })
                        .unwrap_or_default();
                    format!("{}{ports}", proto_word(&e.protocol))
                }
            };
            let label = format!(
                "network ACL {name}, {dir} rule {number}: {} {what} {} {}",
                e.rule_action.to_ascii_lowercase(),
                if egress { "to" } else { "from" },
                e.cidr_block
                    .as_deref()
                    .or(e.ipv6_cidr_block.as_deref())
                    .unwrap_or("?")
            );
            let mut loc = acl.loc.clone();
            loc.path.push(Step::Key("Entries"));
            loc.path.push(Step::Index(k));
            let src = Source {
                file: files[loc.file].path.clone(),
                line: line(files, &loc, &[]),
                label,
                kind: Some("aws-network-acl"),
            };
            match rules::acl_entry(e, vpc_net, src, skipped) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(msg) => {
                    return Err(files[loc.file].error(&loc.path, msg, EXPECTED));
                }
            }
        }
        let mut star = Rule {
            allow: false,
            source: Some(Source {
                file: files[acl.loc.file].path.clone(),
                line: line(files, &acl.loc, &[Step::Key("Entries")]),
                label: format!(
                    "network ACL {name}, {dir} rule *: deny what no numbered rule matched"
                ),
                kind: Some("aws-network-acl"),
            }),
            ..Default::default()
        };
        if egress {
            star.out_net = Some(vpc_net.to_string());
        } else {
            star.in_net = Some(vpc_net.to_string());
        }
        out.push(star);
    }
    Ok(out)
}
