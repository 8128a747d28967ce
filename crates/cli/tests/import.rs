//! `pathproof import k8s|aws`, end to end: good input to standard output or
//! `-o`, the notes on standard error, `--expect`, and bad input that exits 2
//! with the file, line and column.

mod common;
use common::pathproof;

use std::path::PathBuf;

use predicates::prelude::*;

/// A fresh folder for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const MANIFESTS: &str = r#"apiVersion: v1
kind: Pod
metadata: { name: web, namespace: prod, labels: { app: web } }
spec:
  containers: [{ name: web, image: web, ports: [{ containerPort: 80 }] }]
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: prod, labels: { app: client } }
spec:
  containers: [{ name: c, image: c }]
---
apiVersion: v1
kind: Pod
metadata: { name: other, namespace: prod, labels: { app: other } }
spec:
  containers: [{ name: o, image: o }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: prod }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-client, namespace: prod }
spec:
  podSelector: { matchLabels: { app: web } }
  ingress:
    - from: [{ podSelector: { matchLabels: { app: client } } }]
      ports: [{ port: 80 }]
"#;

#[test]
fn import_k8s_writes_the_scenario_and_notes() {
    let d = dir("k8s-good");
    let m = d.join("cluster.yaml");
    std::fs::write(&m, MANIFESTS).unwrap();
    // To standard output, notes on standard error.
    let out = pathproof()
        .args(["import", "k8s", m.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: ignored 1 object of kind ConfigMap",
        ))
        .get_output()
        .clone();
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("  prod/web:"), "{yaml}");
    assert!(
        yaml.contains("NetworkPolicy prod/allow-client, ingress rule 1"),
        "{yaml}"
    );
    // To a file with -o, and the file is a scenario the other commands use.
    let o = d.join("out.yaml");
    let exp = d.join("expect.txt");
    std::fs::write(
        &exp,
        "# what must hold\nallow prod/client -> prod/web:80\n- deny prod/other -> prod/web:80\n",
    )
    .unwrap();
    pathproof()
        .args([
            "import",
            "k8s",
            d.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
            "--expect",
            exp.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!("wrote {}", o.display())));
    pathproof()
        .args(["check", o.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 passed"));
    pathproof()
        .args([
            "trace",
            o.to_str().unwrap(),
            "--from",
            "prod/other",
            "--to",
            "prod/web:80",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("DROPPED at prod/web"))
        .stdout(predicate::str::contains("cluster.yaml:"));
}

#[test]
fn import_k8s_bad_input_exits_2_at_its_line_and_column() {
    let d = dir("k8s-bad");
    let m = d.join("bad.yaml");
    let text = MANIFESTS.replace("ports: [{ port: 80 }]", "ports: [{ port: [80] }]");
    std::fs::write(&m, &text).unwrap();
    let line = text.lines().position(|l| l.contains("port: [80]")).unwrap() + 1;
    pathproof()
        .args(["import", "k8s", m.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:{line}:", m.display())))
        .stderr(predicate::str::contains("help: expected a NetworkPolicy"));
    // Not YAML at all.
    std::fs::write(&m, "kind: Pod\nmetadata: [\n").unwrap();
    pathproof()
        .args(["import", "k8s", m.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not valid YAML"))
        .stderr(predicate::str::contains(format!("{}:", m.display())));
    // A path that is not there.
    pathproof()
        .args(["import", "k8s", d.join("missing.yaml").to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read"));
}

fn write_account(d: &std::path::Path) {
    let files = [
        ("Vpcs.json", r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}]}"#),
        ("Subnets.json", r#"{"Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"}]}"#),
        ("SecurityGroups.json", "{\"SecurityGroups\": [\n {\"GroupId\": \"sg-1\", \"VpcId\": \"vpc-1\",\n  \"IpPermissions\": [{\"IpProtocol\": \"tcp\", \"FromPort\": 22, \"ToPort\": 22, \"IpRanges\": [{\"CidrIp\": \"10.0.0.0/16\"}]}],\n  \"IpPermissionsEgress\": [{\"IpProtocol\": \"-1\", \"IpRanges\": [{\"CidrIp\": \"0.0.0.0/0\"}]}]}\n]}\n"),
        ("Reservations.json", r#"{"Reservations": [{"Instances": [
  {"InstanceId": "i-a", "State": {"Name": "running"}, "Architecture": "x86_64", "Tags": [{"Key": "Name", "Value": "alpha"}],
   "NetworkInterfaces": [{"NetworkInterfaceId": "eni-a", "SubnetId": "subnet-1", "Groups": [{"GroupId": "sg-1"}], "PrivateIpAddress": "10.0.1.10"}]},
  {"InstanceId": "i-b", "State": {"Name": "running"},
   "NetworkInterfaces": [{"NetworkInterfaceId": "eni-b", "SubnetId": "subnet-1", "Groups": [{"GroupId": "sg-1"}], "PrivateIpAddress": "10.0.1.11"}]}]}]}"#),
        ("VpnGateways.json", r#"{"VpnGateways": []}"#),
    ];
    let region = d.join("us-east-1");
    std::fs::create_dir_all(&region).unwrap();
    for (n, t) in files {
        std::fs::write(region.join(n), t).unwrap();
    }
}

#[test]
fn import_aws_writes_the_scenario_and_notes() {
    let d = dir("aws-good");
    write_account(&d);
    let out = pathproof()
        .args(["import", "aws", d.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("note: ignored `VpnGateways`"))
        .stderr(predicate::str::contains("Instances[].Architecture"))
        .stderr(predicate::str::contains(
            "note: no NetworkAcls in the input",
        ))
        .get_output()
        .clone();
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("  i-a:") && yaml.contains("instance i-a (alpha)"),
        "{yaml}"
    );
    let o = d.join("out.yaml");
    pathproof()
        .args([
            "import",
            "aws",
            d.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    pathproof()
        .args([
            "trace",
            o.to_str().unwrap(),
            "--from",
            "i-a",
            "--to",
            "i-b:22",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("REACHED at i-b"))
        .stdout(predicate::str::contains(
            "security group sg-1, inbound rule 1: tcp 22 from 10.0.0.0/16",
        ));
    // The blocking component of an unreachable pair, by name, file and line.
    pathproof()
        .args([
            "trace",
            o.to_str().unwrap(),
            "--from",
            "i-a",
            "--to",
            "i-b:80",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("DROPPED at i-b"))
        .stdout(predicate::str::contains(
            "security groups sg-1: no inbound rule allows it",
        ))
        .stdout(predicate::str::contains("SecurityGroups.json:2"));
    // Only one VPC, by id; an unknown one is an error.
    pathproof()
        .args(["import", "aws", d.to_str().unwrap(), "--vpc", "vpc-9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no VPC `vpc-9` in the input"));
}

#[test]
fn import_aws_bad_input_exits_2_at_its_line_and_column() {
    let d = dir("aws-bad");
    write_account(&d);
    let sg = d.join("us-east-1/SecurityGroups.json");
    let text = std::fs::read_to_string(&sg)
        .unwrap()
        .replace("\"FromPort\": 22", "\"FromPort\": \"ssh\"");
    std::fs::write(&sg, text).unwrap();
    pathproof()
        .args(["import", "aws", d.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:3:", sg.display())))
        .stderr(predicate::str::contains("FromPort"))
        .stderr(predicate::str::contains(
            "help: expected the JSON that `aws ec2 describe-*` prints",
        ));
    std::fs::write(&sg, "{\"SecurityGroups\": [\n  {\"GroupId\": }\n]}").unwrap();
    pathproof()
        .args(["import", "aws", d.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:2:", sg.display())))
        .stderr(predicate::str::contains("not valid JSON"));
    let empty = dir("aws-empty");
    pathproof()
        .args(["import", "aws", empty.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no json files"));
}
