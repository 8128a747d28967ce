//! Shared helpers for the lab's tests: root checks, unique lab names, a lab
//! that always comes down.
#![allow(dead_code)]

pub mod hosts;

use pathproof_lab::lab::{self, LabSpec, SupervisorCmd};
use pathproof_lab::plan::Plan;

/// Whether the test can touch the kernel. Outside CI a non-root run skips with
/// a message; under `CI=true` not being root is a failure.
pub fn root_or_skip(test: &str) -> bool {
    ready_or_skip(test, lab::preflight())
}

/// `root_or_skip` for the filter differential, which needs iptables-restore,
/// ip6tables-restore and conntrack too.
pub fn filterdiff_ready_or_skip(test: &str) -> bool {
    ready_or_skip(test, lab::preflight_filterdiff())
}

fn ready_or_skip(test: &str, ready: Result<(), String>) -> bool {
    let Err(why) = ready else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} needs root and the lab's tools under CI: {why}");
    }
    eprintln!("skipping {test}: {why}");
    false
}

/// A lab name unique to this test and process.
pub fn lab_name(tag: &str) -> String {
    format!("t{}-{tag}", std::process::id())
}

pub fn supervisor() -> SupervisorCmd {
    SupervisorCmd {
        program: env!("CARGO_BIN_EXE_pathproof-lab-supervise").into(),
        args: vec![],
    }
}

/// A lab that is taken down when dropped, even if the test panics.
pub struct Lab {
    pub name: String,
    pub spec: LabSpec,
}

impl Lab {
    pub fn up(tag: &str, file: &str, text: &str, variant: Option<&str>) -> Lab {
        let name = lab_name(tag);
        let spec = LabSpec {
            lab: name.clone(),
            file: file.to_string(),
            text: text.to_string(),
            variant: variant.map(str::to_string),
            files: Default::default(),
        };
        let l = Lab { name, spec };
        lab::up(&l.spec, &supervisor()).unwrap_or_else(|e| panic!("lab up {tag}: {e}"));
        l
    }

    /// A lab of a scenario that names files (`ruleset:`), with their texts.
    pub fn up_with_files(
        tag: &str,
        file: &str,
        text: &str,
        variant: Option<&str>,
        files: pathproof_core::Files,
    ) -> Lab {
        let name = lab_name(tag);
        let spec = LabSpec {
            lab: name.clone(),
            file: file.to_string(),
            text: text.to_string(),
            variant: variant.map(str::to_string),
            files,
        };
        let l = Lab { name, spec };
        lab::up(&l.spec, &supervisor()).unwrap_or_else(|e| panic!("lab up {tag}: {e}"));
        l
    }

    pub fn builtin(tag: &str, scenario: &str, variant: Option<&str>) -> Lab {
        let e = pathproof_core::examples::get(scenario).expect("built-in");
        Lab::up(tag, &e.file(), e.text, variant)
    }

    pub fn plan(&self) -> Plan {
        lab::read_plan(&self.name).expect("plan")
    }

    pub fn probe_all(&self) -> Vec<pathproof_lab::probe::ProbeResult> {
        let scn = self.spec.load().expect("loads");
        pathproof_lab::probe::probe(&scn, &self.plan(), pathproof_lab::probe::jobs(&scn))
            .expect("probe runs")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = lab::down(&self.name);
    }
}
