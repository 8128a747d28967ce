//! The AWS semantics the importer maps, one rule at a time, each on a small
//! account written here (the JSON `aws ec2 describe-*` prints) and checked
//! with the engine's trace: security group references, network ACL order and
//! the `*` rule, ephemeral ports through a stateless ACL, route priority,
//! the internet gateway's 1:1 NAT, the NAT gateway's source NAT, IPv6, and
//! bad input located in its file.

use pathproof_core::evidence::{Direction, OutcomeKind, Stage, Trace};
use pathproof_core::model::Proto;
use pathproof_import::{aws, Input};
use serde_json::{json, Value};

/// A small account: one VPC 10.0.0.0/16 (and 2600:1f16:1::/56), subnets A
/// (10.0.1.0/24, 2600:1f16:1:1::/64) and B (10.0.2.0/24), an internet
/// gateway; the caller adds instances, groups, ACLs and routes.
struct Account {
    instances: Vec<Value>,
    groups: Vec<Value>,
    acls: Vec<Value>,
    routes_a: Vec<Value>,
    routes_b: Vec<Value>,
    nats: Vec<Value>,
    enis: Vec<Value>,
}

fn group(id: &str, inbound: Value, outbound: Value) -> Value {
    json!({"GroupId": id, "GroupName": id, "VpcId": "vpc-1",
           "IpPermissions": inbound, "IpPermissionsEgress": outbound})
}

fn all_out() -> Value {
    json!([{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
}

fn tcp_from(port: i64, cidr: &str) -> Value {
    json!({"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]})
}

fn instance(id: &str, subnet: &str, ip: &str, groups: &[&str], public: Option<&str>) -> Value {
    let mut eni = json!({
        "NetworkInterfaceId": format!("eni-{id}"),
        "SubnetId": subnet, "VpcId": "vpc-1",
        "Attachment": {"DeviceIndex": 0},
        "Groups": groups.iter().map(|g| json!({"GroupId": g})).collect::<Vec<_>>(),
        "PrivateIpAddress": ip,
        "PrivateIpAddresses": [{"PrivateIpAddress": ip, "Primary": true}],
    });
    if let Some(p) = public {
        eni["Association"] = json!({"PublicIp": p});
    }
    json!({"InstanceId": id, "State": {"Name": "running"}, "SubnetId": subnet, "VpcId": "vpc-1",
           "Tags": [{"Key": "Name", "Value": format!("{id}-name")}],
           "NetworkInterfaces": [eni]})
}

fn local() -> Value {
    json!({"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"})
}

fn to_igw() -> Value {
    json!({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "Origin": "CreateRoute", "State": "active"})
}

fn allow_all_acl(id: &str, subnets: &[&str]) -> Value {
    acl(
        id,
        subnets,
        json!([
            {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": true, "CidrBlock": "0.0.0.0/0"},
            {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": true, "CidrBlock": "0.0.0.0/0"},
            {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0"},
            {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0"}
        ]),
    )
}

fn acl(id: &str, subnets: &[&str], entries: Value) -> Value {
    json!({"NetworkAclId": id, "VpcId": "vpc-1",
           "Associations": subnets.iter().map(|s| json!({"SubnetId": s, "NetworkAclId": id})).collect::<Vec<_>>(),
           "Entries": entries})
}

impl Account {
    fn new() -> Account {
        Account {
            instances: Vec::new(),
            groups: Vec::new(),
            acls: Vec::new(),
            routes_a: vec![local(), to_igw()],
            routes_b: vec![local(), to_igw()],
            nats: Vec::new(),
            enis: Vec::new(),
        }
    }

    fn inputs(&self) -> Vec<Input> {
        let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap();
        let mut acls = self.acls.clone();
        if acls.is_empty() {
            acls.push(allow_all_acl("acl-default", &["subnet-a", "subnet-b"]));
        }
        let mut v = vec![
            Input::new(
                "Vpcs.json",
                pretty(
                    json!({"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16",
                "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": "2600:1f16:1::/56", "Ipv6CidrBlockState": {"State": "associated"}}]}]}),
                ),
            ),
            Input::new(
                "Subnets.json",
                pretty(json!({"Subnets": [
                {"SubnetId": "subnet-a", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24",
                 "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": "2600:1f16:1:1::/64", "Ipv6CidrBlockState": {"State": "associated"}}]},
                {"SubnetId": "subnet-b", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24"}]})),
            ),
            Input::new(
                "RouteTables.json",
                pretty(json!({"RouteTables": [
                {"RouteTableId": "rtb-a", "VpcId": "vpc-1", "Associations": [{"Main": false, "SubnetId": "subnet-a"}], "Routes": self.routes_a},
                {"RouteTableId": "rtb-b", "VpcId": "vpc-1", "Associations": [{"Main": true}, {"Main": false, "SubnetId": "subnet-b"}], "Routes": self.routes_b}]})),
            ),
            Input::new(
                "InternetGateways.json",
                pretty(json!({"InternetGateways": [
                {"InternetGatewayId": "igw-1", "Attachments": [{"VpcId": "vpc-1", "State": "available"}]}]})),
            ),
            Input::new(
                "SecurityGroups.json",
                pretty(json!({"SecurityGroups": self.groups})),
            ),
            Input::new("NetworkAcls.json", pretty(json!({"NetworkAcls": acls}))),
            Input::new(
                "Reservations.json",
                pretty(json!({"Reservations": [{"Instances": self.instances}]})),
            ),
            Input::new(
                "NatGateways.json",
                pretty(json!({"NatGateways": self.nats})),
            ),
        ];
        if !self.enis.is_empty() {
            v.push(Input::new(
                "NetworkInterfaces.json",
                pretty(json!({"NetworkInterfaces": self.enis})),
            ));
        }
        v
    }

    /// The imported scenario, with a host `web` on the internet at
    /// 203.0.113.80 listening on tcp/443 (a destination out there).
    fn yaml(&self) -> String {
        let yaml = aws::import(&self.inputs(), &aws::Options::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .yaml;
        yaml.replacen(
            "\nhosts:\n",
            "\nhosts:\n  web: { at: \"internet 203.0.113.80 2001:db8:80::80\", listen: [\"tcp/443\"] }\n",
            1,
        )
    }

    fn trace(&self, from: &str, to: &str, proto: Proto) -> Trace {
        let yaml = self.yaml();
        let scn =
            pathproof_core::load("aws.yaml", &yaml, None).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let mut q = pathproof_core::Query::new(from, to);
        q.proto = proto;
        q.ipv6 = to.contains('[') || to.matches(':').count() > 1;
        pathproof_core::trace(&scn, &q).unwrap_or_else(|e| panic!("{e:?}"))
    }
}

fn text(t: &Trace) -> String {
    pathproof_core::render::trace_text(t)
}

fn ends(t: &Trace, kind: OutcomeKind, at: &str) {
    assert_eq!(
        (t.outcome.kind, t.outcome.at.as_deref()),
        (kind, Some(at)),
        "{}",
        text(t)
    );
}

#[test]
fn a_security_group_rule_that_references_a_group_allows_its_members_only() {
    let mut a = Account::new();
    a.groups.push(group(
        "sg-db",
        json!([{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": "sg-app"}]}]),
        all_out(),
    ));
    a.groups.push(group("sg-app", json!([]), all_out()));
    a.groups.push(group("sg-other", json!([]), all_out()));
    a.instances
        .push(instance("i-db", "subnet-b", "10.0.2.10", &["sg-db"], None));
    a.instances.push(instance(
        "i-app",
        "subnet-a",
        "10.0.1.10",
        &["sg-app"],
        None,
    ));
    a.instances.push(instance(
        "i-app2",
        "subnet-b",
        "10.0.2.11",
        &["sg-app"],
        None,
    ));
    a.instances.push(instance(
        "i-other",
        "subnet-a",
        "10.0.1.20",
        &["sg-other"],
        None,
    ));
    let t = a.trace("i-app", "i-db:5432", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "i-db");
    let t = a.trace("i-app2", "i-db:5432", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "i-db");
    let t = a.trace("i-other", "i-db:5432", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "i-db");
    // The blocking component: the group, and where it is written.
    assert!(
        t.outcome.text.contains("security groups sg-db")
            && t.outcome.text.contains("SecurityGroups.json:"),
        "{}",
        t.outcome.text
    );
    // The allowing hop names the group rule and proves/trusts its kind's claims.
    let t = a.trace("i-app", "i-db:5432", Proto::Tcp);
    let hop = t
        .hops
        .iter()
        .find(|h| h.device == "i-db" && h.stage == Stage::Filter)
        .unwrap();
    let src = hop.rule.as_ref().unwrap().source.as_ref().unwrap();
    assert!(
        src.label
            .contains("security group sg-db, inbound rule 1: tcp 5432 from members of sg-app"),
        "{}",
        src.label
    );
    assert!(hop.trusts.iter().any(|c| c.text.contains("membership")));
}

#[test]
fn security_groups_are_stateful_replies_pass_without_a_rule() {
    let mut a = Account::new();
    // Outbound to 443 only; no inbound rule at all: the reply still comes back.
    a.groups.push(group(
        "sg-c",
        json!([]),
        json!([tcp_from(443, "0.0.0.0/0")]),
    ));
    a.instances.push(instance(
        "i-c",
        "subnet-a",
        "10.0.1.10",
        &["sg-c"],
        Some("54.0.0.10"),
    ));
    let t = a.trace("i-c", "web:443", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "web");
    let t = a.trace("i-c", "web:80", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "i-c");
    assert!(
        t.outcome.text.contains("no outbound rule"),
        "{}",
        t.outcome.text
    );
}

fn entry(n: i64, egress: bool, action: &str, proto: &str, ports: Option<(i64, i64)>) -> Value {
    let mut e = json!({"RuleNumber": n, "Protocol": proto, "RuleAction": action, "Egress": egress, "CidrBlock": "0.0.0.0/0"});
    if let Some((f, t)) = ports {
        e["PortRange"] = json!({"From": f, "To": t});
    }
    e
}

fn nacl_account(entries_b: Value) -> Account {
    let mut a = Account::new();
    a.groups.push(group(
        "sg-open",
        json!([tcp_from(22, "0.0.0.0/0"), tcp_from(80, "0.0.0.0/0")]),
        all_out(),
    ));
    a.instances
        .push(instance("i-a", "subnet-a", "10.0.1.10", &["sg-open"], None));
    a.instances
        .push(instance("i-b", "subnet-b", "10.0.2.10", &["sg-open"], None));
    a.acls.push(allow_all_acl("acl-a", &["subnet-a"]));
    a.acls.push(acl("acl-b", &["subnet-b"], entries_b));
    a
}

#[test]
fn network_acl_entries_go_by_rule_number_and_end_in_the_star_rule() {
    // In the file the allow comes first, but the deny has the lower number.
    let a = nacl_account(json!([
        entry(200, false, "allow", "-1", None),
        entry(100, false, "deny", "6", Some((22, 22))),
        entry(100, true, "allow", "-1", None),
    ]));
    let t = a.trace("i-a", "i-b:22", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "subnet-b/rtb-b");
    assert!(
        t.outcome
            .text
            .contains("network ACL acl-b, inbound rule 100: deny tcp 22 from 0.0.0.0/0"),
        "{}",
        t.outcome.text
    );
    assert!(
        t.outcome.text.contains("NetworkAcls.json:"),
        "{}",
        t.outcome.text
    );
    let t = a.trace("i-a", "i-b:80", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "i-b");
    // Within a subnet, no network ACL applies.
    // Only tcp/80 inbound: tcp/22 falls to the `*` rule.
    let a = nacl_account(json!([
        entry(100, false, "allow", "6", Some((80, 80))),
        entry(100, true, "allow", "-1", None),
    ]));
    let t = a.trace("i-a", "i-b:22", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "subnet-b/rtb-b");
    assert!(
        t.outcome.text.contains("inbound rule *"),
        "{}",
        t.outcome.text
    );
    ends(
        &a.trace("i-a", "i-b:80", Proto::Tcp),
        OutcomeKind::Reached,
        "i-b",
    );
}

#[test]
fn a_stateless_acl_needs_the_ephemeral_ports_for_the_reply() {
    // Inbound tcp/22 is allowed, outbound only tcp/22: the reply to the
    // client's port 49152 leaves by no rule and dies at the `*` rule.
    let a = nacl_account(json!([
        entry(100, false, "allow", "6", Some((22, 22))),
        entry(100, true, "allow", "6", Some((22, 22))),
    ]));
    let t = a.trace("i-a", "i-b:22", Proto::Tcp);
    assert_eq!(t.outcome.kind, OutcomeKind::ReplyLost, "{}", text(&t));
    assert_eq!(t.outcome.at.as_deref(), Some("subnet-b/rtb-b"));
    assert!(
        t.outcome.text.contains("outbound rule *"),
        "{}",
        t.outcome.text
    );
    // With the ephemeral range open outbound, the reply leaves.
    let a = nacl_account(json!([
        entry(100, false, "allow", "6", Some((22, 22))),
        entry(100, true, "allow", "6", Some((1024, 65535))),
    ]));
    ends(
        &a.trace("i-a", "i-b:22", Proto::Tcp),
        OutcomeKind::Reached,
        "i-b",
    );
}

#[test]
fn routes_go_by_longest_prefix_then_static_before_propagated() {
    let mut a = Account::new();
    a.groups.push(group("sg-c", json!([]), all_out()));
    a.instances.push(instance(
        "i-c",
        "subnet-a",
        "10.0.1.10",
        &["sg-c"],
        Some("54.0.0.10"),
    ));
    a.routes_a = vec![
        local(),
        // Propagated and static for the same prefix: the static one wins,
        // whatever the order in the file.
        json!({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "vgw-1", "Origin": "EnableVgwRoutePropagation", "State": "active"}),
        to_igw(),
        // A longer prefix wins over both, even propagated.
        json!({"DestinationCidrBlock": "203.0.113.0/25", "GatewayId": "vgw-1", "Origin": "EnableVgwRoutePropagation", "State": "active"}),
        // A blackhole route (its target deleted).
        json!({"DestinationCidrBlock": "198.51.100.0/24", "GatewayId": "igw-gone", "Origin": "CreateRoute", "State": "blackhole"}),
    ];
    let t = a.trace("i-c", "203.0.113.80:443", Proto::Tcp);
    ends(&t, OutcomeKind::NoRoute, "vgw-1");
    a.routes_a.remove(3);
    ends(
        &a.trace("i-c", "web:443", Proto::Tcp),
        OutcomeKind::Reached,
        "web",
    );
    let t = a.trace("i-c", "198.51.100.7:443", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "subnet-a/rtb-a");
    // Addresses of the VPC that no subnet holds: the local route, then nowhere.
    let t = a.trace("i-c", "10.0.99.1:443", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "vpc-1/router");
    // The route table's own lines are commented with their origin.
    let yaml = a.yaml();
    assert!(
        yaml.contains("\"0.0.0.0/0 via igw-1\"  # rtb-a route 3 (RouteTables.json:"),
        "{yaml}"
    );
}

#[test]
fn the_internet_gateway_translates_public_addresses_one_to_one() {
    let mut a = Account::new();
    a.groups.push(group(
        "sg-web",
        json!([tcp_from(22, "0.0.0.0/0")]),
        all_out(),
    ));
    a.instances.push(instance(
        "i-pub",
        "subnet-a",
        "10.0.1.10",
        &["sg-web"],
        Some("54.0.0.10"),
    ));
    a.instances.push(instance(
        "i-priv",
        "subnet-a",
        "10.0.1.11",
        &["sg-web"],
        None,
    ));
    // In: the public address is translated to the private one.
    let t = a.trace("internet", "54.0.0.10:22", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "i-pub");
    assert!(t
        .hops
        .iter()
        .any(|h| h.device == "igw-1" && h.stage == Stage::Dnat));
    // Out: the server sees the public address.
    let t = a.trace("i-pub", "web:443", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "web");
    let at_web = t
        .hops
        .iter()
        .find(|h| h.device == "web" && h.direction == Direction::Request)
        .unwrap();
    assert_eq!(at_web.packet.src.to_string(), "54.0.0.10");
    // A private address without a public one is not carried.
    let t = a.trace("i-priv", "web:443", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "igw-1");
    assert!(
        t.outcome.text.contains("no public or Elastic IP"),
        "{}",
        t.outcome.text
    );
    // And the private address is not reachable from the internet at all.
    let t = a.trace("internet", "10.0.1.10:22", Proto::Tcp);
    assert_eq!(t.outcome.kind, OutcomeKind::NoRoute, "{}", text(&t));
}

#[test]
fn a_nat_gateway_translates_the_source_and_accepts_nothing_itself() {
    let mut a = Account::new();
    a.groups.push(group("sg-c", json!([]), all_out()));
    a.instances
        .push(instance("i-priv", "subnet-b", "10.0.2.10", &["sg-c"], None));
    a.nats.push(json!({"NatGatewayId": "nat-1", "SubnetId": "subnet-a", "VpcId": "vpc-1", "State": "available",
        "NatGatewayAddresses": [{"PrivateIp": "10.0.1.200", "PublicIp": "54.0.0.200", "NetworkInterfaceId": "eni-nat"}]}));
    a.routes_b = vec![
        local(),
        json!({"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "Origin": "CreateRoute", "State": "active"}),
    ];
    let t = a.trace("i-priv", "web:443", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "web");
    assert!(t
        .hops
        .iter()
        .any(|h| h.device == "nat-1" && h.stage == Stage::Snat));
    let at_web = t
        .hops
        .iter()
        .find(|h| h.device == "web" && h.direction == Direction::Request)
        .unwrap();
    assert_eq!(at_web.packet.src.to_string(), "54.0.0.200");
    // Nothing opens a connection to the gateway's public address.
    let t = a.trace("internet", "54.0.0.200:443", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "nat-1");
    // A protocol it does not translate.
    let t = a.trace("i-priv", "web:443", Proto::Sctp);
    ends(&t, OutcomeKind::Dropped, "nat-1");
}

#[test]
fn ipv6_addresses_pass_the_internet_gateway_untranslated() {
    let mut a = Account::new();
    a.groups.push(group(
        "sg-v6",
        json!([{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]),
        all_out(),
    ));
    let mut i = instance("i-six", "subnet-a", "10.0.1.10", &["sg-v6"], None);
    i["NetworkInterfaces"][0]["Ipv6Addresses"] = json!([{"Ipv6Address": "2600:1f16:1:1::10"}]);
    a.instances.push(i);
    a.routes_a.push(json!({"DestinationIpv6CidrBlock": "::/0", "GatewayId": "igw-1", "Origin": "CreateRoute", "State": "active"}));
    a.routes_a.push(json!({"DestinationIpv6CidrBlock": "2600:1f16:1::/56", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}));
    a.acls.push(acl(
        "acl-a",
        &["subnet-a", "subnet-b"],
        json!([
            {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": true, "Ipv6CidrBlock": "::/0"},
            {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "Ipv6CidrBlock": "::/0"}
        ]),
    ));
    let t = a.trace("web", "[2600:1f16:1:1::10]:22", Proto::Tcp);
    ends(&t, OutcomeKind::Reached, "i-six");
    // The ACL allows IPv6 only: IPv4 falls to the `*` rule.
    let t = a.trace("i-six", "203.0.113.80:443", Proto::Tcp);
    ends(&t, OutcomeKind::Dropped, "subnet-a/rtb-a");
}

#[test]
fn bad_input_is_located_in_its_file() {
    let mut a = Account::new();
    a.instances
        .push(instance("i-x", "subnet-a", "10.0.1.10", &[], None));
    let mut inputs = a.inputs();
    let acls = inputs
        .iter_mut()
        .find(|i| i.path == "NetworkAcls.json")
        .unwrap();
    acls.text = "{\n \"NetworkAcls\": [\n  {\"NetworkAclId\": \"acl-1\", \"VpcId\": \"vpc-1\",\n   \"Entries\": [{\"RuleNumber\": \"first\"}]}\n ]\n}\n".into();
    let e = aws::import(&inputs, &aws::Options::default()).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("NetworkAcls.json", 4), "{e}");
    assert!(e.message.contains("RuleNumber"), "{e}");
    assert!(e.help.as_deref().unwrap().contains("describe"), "{e}");
    // A prefix that is not one.
    let mut inputs = a.inputs();
    let s = inputs
        .iter_mut()
        .find(|i| i.path == "Subnets.json")
        .unwrap();
    s.text = s.text.replace("10.0.2.0/24", "10.0.2.0/33");
    let e = aws::import(&inputs, &aws::Options::default()).unwrap_err();
    assert_eq!(e.file, "Subnets.json");
    assert!(e.line > 1 && e.message.contains("10.0.2.0/33"), "{e}");
    // Not JSON at all.
    let mut inputs = a.inputs();
    inputs[0].text = "{\n \"Vpcs\": [\n".into();
    let e = aws::import(&inputs, &aws::Options::default()).unwrap_err();
    assert_eq!(e.file, "Vpcs.json");
    assert!(e.line >= 2 && e.message.contains("not valid JSON"), "{e}");
}

#[test]
fn ignored_fields_and_files_are_noted() {
    let mut a = Account::new();
    a.instances
        .push(instance("i-x", "subnet-a", "10.0.1.10", &[], None));
    a.instances[0]["Architecture"] = json!("x86_64");
    let mut inputs = a.inputs();
    inputs.push(Input::new(
        "VpnConnections.json",
        "{\"VpnConnections\": []}",
    ));
    let out = aws::import(&inputs, &aws::Options::default()).unwrap();
    let notes = out.notes.join("\n");
    assert!(notes.contains("Instances[].Architecture"), "{notes}");
    assert!(notes.contains("`VpnConnections`"), "{notes}");
    // The Name tag is shown beside the instance id.
    assert!(out.yaml.contains("instance i-x (i-x-name)"), "{}", out.yaml);
}
