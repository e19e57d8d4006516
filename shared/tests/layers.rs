//! The layers of `shared`, as `docs/architecture.md` draws them, held by a test: each top-level module
//! imports only the layers below it (so no two modules import each other), and the domain has no
//! AWS, HTTP or Lambda type in it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each module of `shared` and what it may import from the rest of the crate.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("tls", &[]),
    ("mesh", &["tls"]),
    ("storage", &["domain"]),
    ("ingest", &["domain", "storage"]),
    ("runtime", &["domain", "mesh", "storage", "tls"]),
    ("testkit", &["domain", "mesh", "runtime", "storage", "tls"]),
];

/// Crates the domain must not name: it is pure, whatever carries it.
const NOT_IN_DOMAIN: &[&str] = &["aws_sdk", "aws_smithy", "aws_config", "reqwest", "lambda_", "serde_dynamo"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files of a top-level module: `src/<name>.rs` or everything under `src/<name>/`.
fn files(module: &str) -> Vec<PathBuf> {
    let single = src().join(format!("{module}.rs"));
    if single.exists() {
        return vec![single];
    }
    let mut out = Vec::new();
    let mut dirs = vec![src().join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The top-level modules a file names through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(i, m)| text[i + m.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
        .collect()
}

#[test]
fn every_module_is_listed() {
    let listed: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: BTreeSet<&str> =
        lib.lines().filter_map(|l| l.trim().strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';')).collect();
    assert_eq!(declared, listed, "a new module of shared needs its place in the layers");
}

#[test]
fn each_module_imports_only_the_layers_below_it() {
    for (module, allowed) in ALLOWED {
        for file in files(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for imported in imports(&text) {
                assert!(
                    imported == *module || allowed.contains(&imported.as_str()),
                    "{} ({module}) imports crate::{imported}; {module} may import only {allowed:?}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_domain_names_no_aws_http_or_lambda_crate() {
    let domain = files("domain");
    assert!(domain.len() >= 5, "the domain's files were not found: {domain:?}");
    for file in domain {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in NOT_IN_DOMAIN {
            assert!(!text.contains(name), "{} names {name}: the domain stays pure", file.display());
        }
    }
}

#[test]
fn the_scan_sees_imports() {
    let found = imports("use crate::storage::{A, B};\nlet x = crate::domain::time::now_millis();");
    assert_eq!(found, BTreeSet::from(["storage".to_string(), "domain".to_string()]));
}
