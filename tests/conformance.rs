//! Conformance with the official SDKs, read from the installed SDK packages
//! (`tests/sdk/sdk_params.py` lists every parameter each action's request
//! model can send): every action served exists in its product's SDK under
//! the version it is served at, and every parameter the SDK can send is
//! either decoded by the action's request type (handled, or refused as
//! `UnsupportedParameter`) or one of the common parameters. The answers are
//! checked against the SDK response models by `tests/sdk/conformance.py`
//! inside every SDK harness run (tests/daemon.rs, tests/igw.rs).
use std::{collections::BTreeMap, path::PathBuf, process::Command};

use vpc_control::service::{ACTIONS, common_parameters};
use vpc_tests::sdk_python;

/// {version: {action: [parameter]}} from the installed SDKs.
fn sdk_models() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/sdk_params.py");
    let out = Command::new(sdk_python()).arg(&script).output().expect("running sdk_params.py");
    assert!(out.status.success(), "sdk_params.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("sdk_params.py prints JSON")
}

#[test]
fn every_parameter_the_sdks_send_is_handled_or_refused() {
    let models = sdk_models();
    assert!(models.values().map(BTreeMap::len).sum::<usize>() > 500, "the SDK models were not read: {:?}", models.keys());
    assert!(!ACTIONS.is_empty());
    let mut problems = Vec::new();
    let mut checked = 0;
    for a in ACTIONS {
        let version = a.product.version();
        let Some(sdk) = models.get(version).and_then(|m| m.get(a.name)) else {
            problems.push(format!("{} is served under {version}, whose SDK has no such action", a.name));
            continue;
        };
        if a.parameters().is_empty() {
            problems.push(format!("{} ({version}) reads its parameters by hand, not through a request type", a.name));
            continue;
        }
        for p in sdk {
            checked += 1;
            if !a.parameters().contains(&p.as_str()) && !common_parameters().contains(&p.as_str()) {
                problems.push(format!("{} ({version}): the SDK can send {p}, which the request type neither handles nor refuses", a.name));
            }
        }
        for p in a.parameters() {
            if !sdk.iter().any(|s| s == p) {
                problems.push(format!("{} ({version}): the request type reads {p}, which the SDK model does not have", a.name));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(checked > 100, "only {checked} SDK parameters were checked");
}
