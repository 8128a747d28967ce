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
mod plan;
mod rules;
mod write;

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

/// Every network interface read, by id: the interface, where, and the
/// instance it is attached to.
type Enis = BTreeMap<String, (json::NetworkInterface, Loc, Option<String>)>;
