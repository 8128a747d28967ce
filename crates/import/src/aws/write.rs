//! Writing the plan as a scenario: the devices (VPC and subnet routers,
//! gateways, instances), the filters (security groups, network ACLs,
//! gateways' own rules) and the YAML text.

use super::*;

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

/// What `write` gathers: devices and filters in order, the rules left out,
/// and the next made-up internet-side addresses.
#[derive(Default)]
struct Out {
    devices: Vec<Device>,
    filters: Vec<FilterDef>,
    filter_names: BTreeSet<String>,
    skipped: Vec<String>,
    next_out: u32,
    next_out6: u128,
}

fn ips_text(v: &[IpAddr]) -> String {
    v.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Plan {
    pub(super) fn write(
        &self,
        files: &[File],
        a: &Account,
        options: &Options,
        notes: &mut Notes,
    ) -> Result<String, ImportError> {
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

        let mut out = Out {
            next_out: 1,
            next_out6: 1,
            ..Default::default()
        };
        for v in self.vpcs.values() {
            self.vpc_routers(files, a, v, &mut out, notes)?;
            if let Some(g) = &v.igw {
                self.internet_gateway(files, a, v, g, &mut out);
            }
            if let Some(g) = &v.eigw {
                self.egress_only_gateway(files, a, v, g, &mut out);
            }
        }
        self.peerings_and_stubs(files, a, &mut out, notes);
        self.host_devices(
            files,
            a,
            &members,
            &host_addrs,
            &mut missing_groups,
            &mut out,
            notes,
        )?;
        if !missing_groups.is_empty() {
            let v: Vec<String> = missing_groups.into_iter().collect();
            notes.add(format!(
                "security groups the interfaces or rules name but the input does not describe (they allow nothing): {}",
                places(&v)
            ));
        }
        if !out.skipped.is_empty() {
            notes.add(format!(
                "{} rule{} not modelled (each left out): {}",
                out.skipped.len(),
                if out.skipped.len() == 1 {
                    " is"
                } else {
                    "s are"
                },
                places(&out.skipped)
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
            let outside6: Ipv6Net = OUTSIDE6.parse().expect("valid");
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
            out.devices.push(Device {
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
        Ok(self.emit(files, a, options, &out.devices, &out.filters, backbone))
    }

    /// The VPC's router (the local route) and each subnet's edge router
    /// (its route table and network ACL).
    fn vpc_routers(
        &self,
        files: &[File],
        a: &Account,
        v: &VpcPlan,
        out: &mut Out,
        notes: &mut Notes,
    ) -> Result<(), ImportError> {
        let vpc_item = &a.vpcs[&v.id];
        let vname = named(&v.id, &vpc_item.v.tags);
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
        out.devices.push(Device {
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
                    if out.filter_names.insert(name.clone()) {
                        out.filters.push(FilterDef {
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
                            rules: acl_rules(files, acl, &v.id, !v.v6.is_empty(), &mut out.skipped)?,
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
            out.devices.push(Device {
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
        Ok(())
    }

    /// The internet gateway: public and Elastic IPs translated 1:1.
    fn internet_gateway(&self, files: &[File], a: &Account, v: &VpcPlan, g: &str, out: &mut Out) {
        let outside: Ipv4Net = OUTSIDE.parse().expect("valid");
        let outside6: Ipv6Net = OUTSIDE6.parse().expect("valid");
        let item = &a.igws[g];
        let mut inet = vec![IpAddr::V4(Ipv4Addr::from(
            u32::from(outside.network()) + out.next_out,
        ))];
        out.next_out += 1;
        if !v.v6.is_empty() {
            inet.push(IpAddr::V6(Ipv6Addr::from(
                u128::from(outside6.network()) + out.next_out6,
            )));
            out.next_out6 += 1;
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
        out.filters.push(FilterDef {
            name: g.to_string(),
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
        out.devices.push(Device {
            name: g.to_string(),
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
            forward: Some(g.to_string()),
            nat,
            ..Default::default()
        });
    }

    /// The egress-only internet gateway: IPv6 out, nothing in.
    fn egress_only_gateway(
        &self,
        files: &[File],
        a: &Account,
        v: &VpcPlan,
        g: &str,
        out: &mut Out,
    ) {
        let outside6: Ipv6Net = OUTSIDE6.parse().expect("valid");
        let item = &a.eigws[g];
        let inet = vec![IpAddr::V6(Ipv6Addr::from(
            u128::from(outside6.network()) + out.next_out6,
        ))];
        out.next_out6 += 1;
        let src = Source {
            file: files[item.loc.file].path.clone(),
            line: line(
                files,
                &item.loc,
                &[Step::Key("EgressOnlyInternetGatewayId")],
            ),
            label: format!("egress-only internet gateway {g}: no connection from the internet"),
            kind: None,
        };
        out.filters.push(FilterDef {
            name: g.to_string(),
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
        out.devices.push(Device {
            name: g.to_string(),
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
            forward: Some(g.to_string()),
            ..Default::default()
        });
    }

    /// Peering connections, and stubs for the route targets not modelled.
    fn peerings_and_stubs(&self, files: &[File], a: &Account, out: &mut Out, notes: &mut Notes) {
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
            out.devices.push(Device {
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
            out.devices.push(Device {
                name: s.name.clone(),
                about: format!("{}; it routes only back into the VPC", s.what),
                router: true,
                at: at_list,
                routes,
                ..Default::default()
            });
        }
    }

    /// Instances, NAT gateways and other interfaces, with their filters.
    #[allow(clippy::too_many_arguments)]
    fn host_devices(
        &self,
        files: &[File],
        a: &Account,
        members: &BTreeMap<&str, Vec<(&str, Vec<IpAddr>)>>,
        host_addrs: &BTreeMap<&str, BTreeSet<IpAddr>>,
        missing_groups: &mut BTreeSet<String>,
        out: &mut Out,
        notes: &mut Notes,
    ) -> Result<(), ImportError> {
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
                        rules.extend(acl_rules(
                            files,
                            acl,
                            &vpc.id,
                            !vpc.v6.is_empty(),
                            &mut out.skipped,
                        )?);
                    }
                    out.filters.push(FilterDef {
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
                    out.filters.push(FilterDef {
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
                    out.devices.push(Device {
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
                        members,
                        host_addrs,
                        &mut out.filters,
                        &mut out.filter_names,
                        &mut out.skipped,
                        missing_groups,
                    );
                    if let Owner::Instance(id) = &h.owner {
                        if a.instances[id].v.source_dest_check == Some(false) {
                            notes.add(format!("instance {id} has its source/destination check off (it may route for others): the model does not route through it"));
                        }
                    }
                    out.devices.push(Device {
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
        Ok(())
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
/// in the `*` rule: the entry describe-network-acls lists (32767, and 32768
/// for IPv6), and an explicit `drop` for the direction when those entries do
/// not cover every family the VPC has.
fn acl_rules(
    files: &[File],
    acl: &Item<json::NetworkAcl>,
    vpc_net: &str,
    v6: bool,
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
        let star_covers = |family: &str| {
            acl.v.entries.iter().any(|e| {
                e.egress == egress
                    && e.rule_number >= 32767
                    && e.rule_action.eq_ignore_ascii_case("deny")
                    && rules::protocol(&e.protocol) == rules::Protocol::All
                    && match family {
                        "v4" => e.cidr_block.as_deref() == Some("0.0.0.0/0"),
                        _ => e.ipv6_cidr_block.as_deref() == Some("::/0"),
                    }
            })
        };
        if star_covers("v4") && (!v6 || star_covers("v6")) {
            continue;
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
