//! The built-in scenarios that stand for importer output (scenarios/pod-egress.yaml,
//! scenarios/cloud-acl.yaml) are what the importers write for the inputs kept beside
//! them (scenarios/k8s/pod-egress.yaml, scenarios/aws/cloud-acl/): if an importer's
//! output changes, these tests say which built-in scenario to regenerate.

use std::path::{Path, PathBuf};

use pathproof_import::{aws, k8s, Input};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rule_lines(yaml: &str) -> Vec<String> {
    yaml.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("- { action"))
        .map(|l| l[2..].to_string())
        .collect()
}

/// The lines of one variant's filter rules in the built-in scenario.
fn variant_rules(yaml: &str, variant: &str) -> Vec<String> {
    let start = yaml
        .find(&format!("\n  {variant}:\n    why:"))
        .expect("the variant");
    let rest = &yaml[start + 1..];
    let end = rest[1..]
        .find("\n  harden:")
        .map(|i| i + 1)
        .unwrap_or(rest.len());
    rule_lines(&rest[..end])
}

#[test]
fn pod_egress_variants_are_what_import_k8s_writes() {
    let path = "scenarios/k8s/pod-egress.yaml";
    let manifests = std::fs::read_to_string(root().join(path)).unwrap();
    let builtin = pathproof_core::examples::get("pod-egress").unwrap().text;
    for (variant, left_out) in [("harden", "allow-internet"), ("break", "allow-payments")] {
        // The other variant's policy, blanked line for line so that lines stay.
        let text: Vec<String> = manifests
            .split("\n---\n")
            .map(|doc| {
                if doc.contains(&format!("name: {left_out},")) {
                    doc.lines().map(|_| "#").collect::<Vec<_>>().join("\n")
                } else {
                    doc.to_string()
                }
            })
            .collect();
        let imported = k8s::import(
            &[Input::new(path, text.join("\n---\n"))],
            &Default::default(),
        )
        .unwrap()
        .yaml;
        assert_eq!(
            variant_rules(builtin, variant),
            rule_lines(&imported).iter().map(|l| l.replace("\"scenarios/k8s/pod-egress.yaml\"", "scenarios/k8s/pod-egress.yaml")).collect::<Vec<_>>(),
            "the {variant} variant of scenarios/pod-egress.yaml is not what `pathproof import k8s {path}` writes without {left_out}"
        );
    }
}

#[test]
fn cloud_acl_is_what_import_aws_writes() {
    let dir = root().join("scenarios/aws/cloud-acl");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let inputs: Vec<Input> = names
        .iter()
        .map(|n| {
            Input::new(
                format!("scenarios/aws/cloud-acl/{n}"),
                std::fs::read_to_string(dir.join(n)).unwrap(),
            )
        })
        .collect();
    let imported = aws::import(&inputs, &Default::default()).unwrap().yaml;
    let body = |y: &str| -> String {
        let s = y.find("\nnetworks:").unwrap();
        let e = y.find("\nexpect:").unwrap_or(y.len());
        y[s..e].trim_end().to_string()
    };
    let builtin = pathproof_core::examples::get("cloud-acl").unwrap().text;
    // The one hand edit: a socket describe-* cannot know of.
    let builtin = builtin.replace(
        "    listen: [\"tcp/5432\", \"tcp/9187 metrics\"]  # added by hand: a metrics exporter no security group rule names",
        "    listen: [\"tcp/5432\"]",
    );
    assert_eq!(
        body(&builtin),
        body(&imported),
        "scenarios/cloud-acl.yaml is not what `pathproof import aws scenarios/aws/cloud-acl` writes"
    );
}
