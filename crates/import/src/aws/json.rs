//! The JSON that `aws ec2 describe-*` prints, as pathproof's own serde
//! structs (the AWS SDK's types are not meant to be deserialised from the
//! CLI's output). A file holds one call's answer, recognised by its top-level
//! key (`{"SecurityGroups": [...]}`), whatever the file is called. Every
//! field is optional here; what a field must hold is checked where it is
//! used, at its own line.
//!
//! What is read is what the structs declare. Everything else a file holds is
//! listed by `ignored_fields` (the file's keys that the typed value, written
//! back out, does not have), so the importer's notes name every ignored
//! field.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use pathproof_core::load::yaml::Node;

use crate::tree::{self, Step};
use crate::{ImportError, Input};

/// One input file, parsed, with what is needed to locate any of its fields.
#[derive(Debug)]
pub struct File {
    pub path: String,
    lines: std::sync::Arc<Vec<usize>>,
    /// The node tree with spans (the YAML reader reads JSON); `None` in the
    /// unlikely case it refuses a text serde_json accepted (then lines are 0).
    node: Option<Node>,
    pub top: Top,
    /// Top-level keys that no describe call this importer reads prints.
    pub unread: Vec<String>,
    /// Paths (`Reservations[].Instances[].Architecture`) of fields present in
    /// the file that are not read.
    pub ignored: BTreeSet<String>,
}

impl File {
    /// Line (1-based; 0 when unknown) of the node at `path`.
    pub fn line(&self, path: &[Step]) -> u32 {
        self.locate(path).0
    }

    pub fn locate(&self, path: &[Step]) -> (u32, u32) {
        match &self.node {
            Some(n) => tree::locate(n, 0, &self.lines, path),
            None => (0, 0),
        }
    }

    pub fn error(&self, path: &[Step], message: impl Into<String>, help: &str) -> ImportError {
        let (line, column) = self.locate(path);
        ImportError {
            file: self.path.clone(),
            line,
            column,
            message: message.into(),
            help: Some(help.to_string()),
        }
    }
}

/// The help line of every error about a file's content.
pub const EXPECTED: &str =
    "expected the JSON that `aws ec2 describe-*` prints (one call per file, e.g. `aws ec2 describe-security-groups > SecurityGroups.json`)";

/// The answer of one describe call (or several, merged in one object).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Top {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpcs: Option<Vec<Vpc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<Subnet>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_tables: Option<Vec<RouteTable>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<SecurityGroup>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_acls: Option<Vec<NetworkAcl>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_interfaces: Option<Vec<NetworkInterface>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Vec<Reservation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internet_gateways: Option<Vec<InternetGateway>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_only_internet_gateways: Option<Vec<EgressOnlyInternetGateway>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat_gateways: Option<Vec<NatGateway>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_peering_connections: Option<Vec<VpcPeeringConnection>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<Address>>,
}

/// The top-level keys `Top` reads.
pub const READ_KEYS: &[&str] = &[
    "Vpcs",
    "Subnets",
    "RouteTables",
    "SecurityGroups",
    "NetworkAcls",
    "NetworkInterfaces",
    "Reservations",
    "InternetGateways",
    "EgressOnlyInternetGateways",
    "NatGateways",
    "VpcPeeringConnections",
    "Addresses",
];

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The `Name` tag, if any.
pub fn name_tag(tags: &[Tag]) -> Option<&str> {
    tags.iter()
        .find(|t| t.key == "Name")
        .map(|t| t.value.as_str())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StateField {
    pub state: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Vpc {
    pub vpc_id: String,
    pub cidr_block: Option<String>,
    pub cidr_block_association_set: Vec<CidrAssociation>,
    pub ipv6_cidr_block_association_set: Vec<Ipv6CidrAssociation>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CidrAssociation {
    pub cidr_block: String,
    pub cidr_block_state: Option<StateField>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipv6CidrAssociation {
    pub ipv6_cidr_block: String,
    pub ipv6_cidr_block_state: Option<StateField>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Subnet {
    pub subnet_id: String,
    pub vpc_id: String,
    pub cidr_block: Option<String>,
    pub ipv6_cidr_block_association_set: Vec<Ipv6CidrAssociation>,
    pub availability_zone: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RouteTable {
    pub route_table_id: String,
    pub vpc_id: String,
    pub associations: Vec<RouteTableAssociation>,
    pub routes: Vec<Route>,
    pub propagating_vgws: Vec<Value>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RouteTableAssociation {
    pub main: bool,
    pub subnet_id: Option<String>,
    pub gateway_id: Option<String>,
    pub association_state: Option<StateField>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Route {
    pub destination_cidr_block: Option<String>,
    pub destination_ipv6_cidr_block: Option<String>,
    pub destination_prefix_list_id: Option<String>,
    pub gateway_id: Option<String>,
    pub nat_gateway_id: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
    pub egress_only_internet_gateway_id: Option<String>,
    pub instance_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub transit_gateway_id: Option<String>,
    pub local_gateway_id: Option<String>,
    pub carrier_gateway_id: Option<String>,
    pub core_network_arn: Option<String>,
    pub origin: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_name: Option<String>,
    pub vpc_id: Option<String>,
    pub ip_permissions: Vec<Permission>,
    pub ip_permissions_egress: Vec<Permission>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Permission {
    pub ip_protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub ip_ranges: Vec<IpRange>,
    pub ipv6_ranges: Vec<Ipv6Range>,
    pub prefix_list_ids: Vec<PrefixListId>,
    pub user_id_group_pairs: Vec<GroupPair>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpRange {
    pub cidr_ip: String,
    pub description: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipv6Range {
    pub cidr_ipv6: String,
    pub description: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PrefixListId {
    pub prefix_list_id: String,
    pub description: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupPair {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub description: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkAcl {
    pub network_acl_id: String,
    pub vpc_id: String,
    pub is_default: Option<bool>,
    pub associations: Vec<AclAssociation>,
    pub entries: Vec<AclEntry>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AclAssociation {
    pub subnet_id: String,
    pub network_acl_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AclEntry {
    pub rule_number: i64,
    pub protocol: String,
    pub rule_action: String,
    pub egress: bool,
    pub cidr_block: Option<String>,
    pub ipv6_cidr_block: Option<String>,
    pub port_range: Option<PortRange>,
    pub icmp_type_code: Option<IcmpTypeCode>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IcmpTypeCode {
    pub r#type: Option<i64>,
    pub code: Option<i64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkInterface {
    pub network_interface_id: String,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub interface_type: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub attachment: Option<Attachment>,
    pub groups: Vec<GroupRef>,
    pub private_ip_address: Option<String>,
    pub private_ip_addresses: Vec<PrivateIp>,
    pub ipv6_addresses: Vec<Ipv6Address>,
    pub association: Option<Association>,
    pub source_dest_check: Option<bool>,
    pub requester_managed: Option<bool>,
    pub tag_set: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Attachment {
    pub instance_id: Option<String>,
    pub device_index: Option<i64>,
    pub status: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupRef {
    pub group_id: String,
    pub group_name: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PrivateIp {
    pub private_ip_address: String,
    pub primary: Option<bool>,
    pub association: Option<Association>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Association {
    pub public_ip: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipv6Address {
    pub ipv6_address: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Reservation {
    pub instances: Vec<Instance>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Instance {
    pub instance_id: String,
    pub instance_type: Option<String>,
    pub state: Option<InstanceState>,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub private_ip_address: Option<String>,
    pub public_ip_address: Option<String>,
    pub network_interfaces: Vec<NetworkInterface>,
    pub security_groups: Vec<GroupRef>,
    pub source_dest_check: Option<bool>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceState {
    pub name: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GatewayAttachment {
    pub vpc_id: String,
    pub state: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InternetGateway {
    pub internet_gateway_id: String,
    pub attachments: Vec<GatewayAttachment>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EgressOnlyInternetGateway {
    pub egress_only_internet_gateway_id: String,
    pub attachments: Vec<GatewayAttachment>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NatGateway {
    pub nat_gateway_id: String,
    pub subnet_id: String,
    pub vpc_id: Option<String>,
    pub state: Option<String>,
    pub connectivity_type: Option<String>,
    pub nat_gateway_addresses: Vec<NatGatewayAddress>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NatGatewayAddress {
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub network_interface_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VpcPeeringConnection {
    pub vpc_peering_connection_id: String,
    pub status: Option<PeeringStatus>,
    pub accepter_vpc_info: Option<PeeringVpcInfo>,
    pub requester_vpc_info: Option<PeeringVpcInfo>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeeringStatus {
    pub code: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeeringVpcInfo {
    pub vpc_id: String,
    pub cidr_block: Option<String>,
    pub cidr_block_set: Vec<CidrAssociation>,
    pub ipv6_cidr_block_set: Vec<Ipv6CidrAssociation>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Address {
    pub public_ip: Option<String>,
    pub private_ip_address: Option<String>,
    pub network_interface_id: Option<String>,
    pub instance_id: Option<String>,
}

/// The keys of `raw` that `typed` (the same file read and written back) does
/// not have, as paths with `[]` for list elements.
fn collect_ignored(raw: &Value, typed: &Value, path: &str, out: &mut BTreeSet<String>) {
    match (raw, typed) {
        (Value::Object(r), Value::Object(t)) => {
            for (k, v) in r {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    Some(tv) => collect_ignored(v, tv, &p, out),
                    None => {
                        out.insert(p);
                    }
                }
            }
        }
        (Value::Array(r), Value::Array(t)) => {
            for (rv, tv) in r.iter().zip(t) {
                collect_ignored(rv, tv, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Reads one file. Bad JSON is an error at its line and column; a field of
/// the wrong type is an error at the field.
pub fn read(input: &Input) -> Result<File, ImportError> {
    let lines = tree::line_starts(&input.text);
    let raw: Value = serde_json::from_str(&input.text).map_err(|e| ImportError {
        file: input.path.clone(),
        line: e.line() as u32,
        column: e.column() as u32,
        message: format!("not valid JSON: {e}"),
        help: Some(EXPECTED.to_string()),
    })?;
    let node = pathproof_core::load::yaml::parse(&input.text).ok();
    let mut file = File {
        path: input.path.clone(),
        lines,
        node,
        top: Top::default(),
        unread: Vec::new(),
        ignored: BTreeSet::new(),
    };
    let Value::Object(map) = &raw else {
        return Err(file.error(
            &[],
            "the file is not a JSON object",
            "expected `{\"SecurityGroups\": [...]}` and the like, as `aws ec2 describe-*` prints",
        ));
    };
    file.unread = map
        .keys()
        .filter(|k| !READ_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    let top: Top = serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
        let segments: Vec<String> = e
            .path()
            .iter()
            .map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => index.to_string(),
                serde_path_to_error::Segment::Map { key } => key.clone(),
                _ => String::new(),
            })
            .collect();
        let steps: Vec<Step> = e
            .path()
            .iter()
            .zip(&segments)
            .map(|(s, text)| match s {
                serde_path_to_error::Segment::Seq { index } => Step::Index(*index),
                _ => Step::Key(text.as_str()),
            })
            .collect();
        let field = e.path().to_string();
        file.error(&steps, format!("`{field}`: {}", e.into_inner()), EXPECTED)
    })?;
    let typed = serde_json::to_value(&top).expect("the typed file serialises");
    let mut ignored = BTreeSet::new();
    collect_ignored(&raw, &typed, "", &mut ignored);
    ignored.retain(|p| p.contains('.') || p.contains('['));
    file.ignored = ignored;
    file.top = top;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_lists_ignored_fields() {
        let text = "{\n \"Vpcs\": [\n  {\"VpcId\": \"vpc-1\", \"CidrBlock\": \"10.0.0.0/16\",\n   \"DhcpOptionsId\": \"dopt-1\"}\n ],\n \"Extra\": 1\n}";
        let f = read(&Input::new("Vpcs.json", text)).unwrap();
        let vpcs = f.top.vpcs.as_ref().unwrap();
        assert_eq!(vpcs[0].vpc_id, "vpc-1");
        assert_eq!(f.unread, vec!["Extra".to_string()]);
        assert!(
            f.ignored.contains("Vpcs[].DhcpOptionsId"),
            "{:?}",
            f.ignored
        );
        assert_eq!(
            f.line(&[Step::Key("Vpcs"), Step::Index(0), Step::Key("CidrBlock")]),
            3
        );
    }

    #[test]
    fn bad_json_and_bad_types_are_located() {
        let e = read(&Input::new(
            "a.json",
            "{\n \"Vpcs\": [\n  {\"VpcId\": }\n ]\n}",
        ))
        .unwrap_err();
        assert_eq!((e.line, e.file.as_str()), (3, "a.json"), "{e}");
        assert!(e.column > 0);
        let e = read(&Input::new(
            "b.json",
            "{\n \"NetworkAcls\": [\n  {\"NetworkAclId\": \"acl-1\",\n   \"Entries\": [{\"RuleNumber\": \"one\"}]}\n ]\n}",
        ))
        .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("RuleNumber"), "{e}");
    }
}
