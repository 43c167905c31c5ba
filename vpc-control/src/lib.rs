//! Control plane of the VPC router, one folder per layer, each using only
//! the layers below it:
//!
//! - [`model`]: plain data in the cloud's words;
//! - [`access_policy`]: the RAM policy language (parse, validate,
//!   evaluate), pure;
//! - [`validate`]: the cloud's rules, with its error codes;
//! - [`compile`]: pure, model -> map entries ([`compile::policy`] for
//!   security groups and network ACLs, [`compile::topology`] for ports);
//! - [`datapath`]: the XDP programs and maps (load, pin, write, read,
//!   sweep);
//! - [`apply`]: namespaces and veths ([`apply::netns`], netlink), then the
//!   maps through [`datapath`]; [`apply::stats`] reads the counters back;
//! - [`store`]: durable state (redb);
//! - [`api`]: the cloud's wire: products and versions, signatures, typed
//!   parameters, errors;
//! - [`object_store`]: the lab's object storage service (OSS's REST API);
//! - [`service`]: one module per resource, the actions over the model;
//! - [`daemon`]: HTTP and the Unix socket, /metrics;
//! - [`cli`]: the command line's client, lab files, tables.
//!
//! The pure layers (model, validate, compile, api, service) build and test
//! without the eBPF toolchain: `VPC_SKIP_EBPF=1` (see build.rs).
pub mod access_policy;
pub mod api;
pub mod apply;
pub mod cli;
pub mod compile;
pub mod daemon;
pub mod datapath;
pub mod model;
pub mod object_store;
pub mod service;
pub mod store;
#[cfg(test)]
mod test_fixtures;
pub mod validate;

// The paths these modules had before the layers became folders.
pub use apply::stats;
pub use cli::{client, lab, table};
pub use compile::{policy, topology};
pub use daemon::metrics;
pub use datapath::netns;
pub use datapath::{direct, ebpf_log, sweep};

#[cfg(test)]
mod layers {
    //! Nothing reaches past its layer: each folder uses only the layers
    //! below it (read from the sources' `crate::` paths).
    use std::{collections::BTreeSet, fs, path::Path};

    /// The layers, lowest first.
    const ORDER: &[&str] = &[
        "model",
        "access_policy",
        "validate",
        "compile",
        "datapath",
        "apply",
        "store",
        "api",
        "object_store",
        "service",
        "daemon",
        "cli",
    ];

    /// The layer a top-level `crate::` name belongs to.
    fn layer_of(name: &str) -> Option<&'static str> {
        Some(match name {
            "policy" | "topology" => "compile",
            "netns" | "direct" | "ebpf_log" | "sweep" => "datapath",
            "stats" => "apply",
            "metrics" => "daemon",
            "client" | "lab" | "table" => "cli",
            "test_fixtures" => return None,
            other => ORDER.iter().copied().find(|l| *l == other)?,
        })
    }

    /// Top-level names a source file takes from `crate::`.
    fn crate_names(src: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (i, _) in src.match_indices("crate::") {
            let rest = &src[i + "crate::".len()..];
            if let Some(inner) = rest.strip_prefix('{') {
                // Top-level items of the braced list (skip nested braces).
                let (mut depth, mut item) = (0, String::new());
                for c in inner.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.insert(item.trim().split("::").next().unwrap_or("").to_string());
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        item.push(c);
                    }
                }
                out.insert(item.trim().split("::").next().unwrap_or("").to_string());
            } else {
                out.insert(
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect(),
                );
            }
        }
        out.retain(|n| !n.is_empty());
        out
    }

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn nothing_reaches_past_its_layer() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        let mut checked = 0;
        for (rank, layer) in ORDER.iter().enumerate() {
            let mut files = Vec::new();
            sources(&root.join(layer), &mut files);
            assert!(!files.is_empty(), "no sources in src/{layer}");
            for f in files {
                let text = fs::read_to_string(&f).unwrap();
                // Code only: comments may name any layer.
                let src: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                for name in crate_names(&src) {
                    checked += 1;
                    let Some(used) = layer_of(&name) else {
                        continue;
                    };
                    let used_rank = ORDER.iter().position(|l| *l == used).unwrap();
                    if used_rank > rank {
                        problems.push(format!(
                            "{} uses crate::{name} ({used}, above {layer})",
                            f.display()
                        ));
                    }
                }
            }
        }
        assert!(checked > 50, "only {checked} crate:: paths found");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
