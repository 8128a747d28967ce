//! The built-in scenarios, embedded in the binary. The files live in
//! `scenarios/` at the repository root.

/// One built-in scenario.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub name: &'static str,
    /// What it shows, in one line.
    pub teaches: &'static str,
    pub text: &'static str,
}

impl Example {
    /// The name reports use for this file.
    pub fn file(&self) -> String {
        format!("{}.yaml", self.name)
    }
}

/// The scenario used when none is given.
pub const DEFAULT: &str = "mini-lab";

pub const ALL: &[Example] = &[Example {
    name: "mini-lab",
    teaches: "an edge firewall, DNAT, split-horizon DNS, a proxy, and the metadata endpoint",
    text: include_str!("../../../scenarios/mini-lab.yaml"),
}];

/// A built-in scenario by name.
pub fn get(name: &str) -> Option<&'static Example> {
    ALL.iter().find(|e| e.name == name)
}
