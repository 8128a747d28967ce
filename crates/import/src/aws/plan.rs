//! Reading the account into the model's plan: which hosts, VPCs and
//! subnets there are, their addresses, public IP mappings, each subnet's
//! routes, and the addresses on each VPC's fabric.

use super::*;

type Vpcs = BTreeMap<String, VpcPlan>;
type Subnets = BTreeMap<String, SubnetPlan>;

impl Plan {
    pub(super) fn new(
        files: &[File],
        a: &Account,
        options: &Options,
        notes: &mut Notes,
    ) -> Result<Plan, ImportError> {
        let (mut hosts, enis, nats) = Self::hosts(files, a, notes)?;
        let (mut vpcs, subnets) = Self::vpcs_and_subnets(files, a, options, &mut hosts, notes)?;
        Self::check_overlaps(files, &subnets, &hosts)?;
        let public = Self::public_addresses(files, a, &enis, &hosts, notes)?;

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

    /// The hosts: running instances, available NAT gateways and the other
    /// interfaces that carry traffic, each with its network interfaces.
    fn hosts(
        files: &[File],
        a: &Account,
        notes: &mut Notes,
    ) -> Result<(Vec<HostPlan>, Enis, Vec<String>), ImportError> {
        // Network interfaces: the describe-network-interfaces list, and
        // those only the instances list (when the former is missing).
        let mut enis: Enis = BTreeMap::new();
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
        for h in hosts.iter_mut() {
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
        for h in hosts.iter_mut() {
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
        Ok((hosts, enis, nats))
    }

    /// The VPCs chosen (or those that hold an interface) and their subnets;
    /// interfaces in subnets the input does not describe are left out.
    fn vpcs_and_subnets(
        files: &[File],
        a: &Account,
        options: &Options,
        hosts: &mut Vec<HostPlan>,
        notes: &mut Notes,
    ) -> Result<(Vpcs, Subnets), ImportError> {
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
        for h in hosts.iter_mut() {
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
        Ok((vpcs, subnets))
    }

    /// Public and Elastic IPs of the imported interfaces: private address ->
    /// (public address, where the mapping was read).
    fn public_addresses(
        files: &[File],
        a: &Account,
        enis: &Enis,
        hosts: &[HostPlan],
        notes: &mut Notes,
    ) -> Result<BTreeMap<IpAddr, (IpAddr, String)>, ImportError> {
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
        for n in a.nats.values() {
            for (k, x) in n.v.nat_gateway_addresses.iter().enumerate() {
                if let (Some(pr), Some(pu)) = (&x.private_ip, &x.public_ip) {
                    let extra = [
                        Step::Key("NatGatewayAddresses"),
                        Step::Index(k),
                        Step::Key("PublicIp"),
                    ];
                    let private = parse_ip(files, &n.loc, &extra[..2], pr)?;
                    let pubip = parse_ip(files, &n.loc, &extra, pu)?;
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

        Ok(public)
    }

    /// The model is one address space: subnets of different VPCs may not
    /// overlap, and nothing may use the addresses the model makes up.
    fn check_overlaps(
        files: &[File],
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
