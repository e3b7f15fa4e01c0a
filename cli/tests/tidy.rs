//! The tidy test: keeps the workspace's structural rules true (rust-analyzer's habit).
//!
//! - crates depend only along design.md's one-way graph;
//! - every `.rs` file starts with a `//!` line saying what it is for;
//! - no test is `#[ignore]`d (root-only tests gate themselves and say why they skip).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The allowed edges between workspace crates (package names), from design.md §2.
/// `benches` is a library too: the CLI's `bench` command runs its suite, so cli → benches
/// is allowed and benches must never depend on cli.
fn allowed_edges() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("sim-core", &[][..]),
        ("models", &["sim-core"][..]),
        ("traces", &["sim-core"][..]),
        ("analysis", &["sim-core"][..]),
        (
            "scenarios",
            &["sim-core", "models", "traces", "analysis"][..],
        ),
        ("live", &["sim-core", "models", "analysis"][..]),
        (
            "benches",
            &[
                "sim-core",
                "models",
                "traces",
                "analysis",
                "scenarios",
                "live",
            ][..],
        ),
        (
            "mesosim",
            &[
                "sim-core",
                "models",
                "traces",
                "analysis",
                "scenarios",
                "live",
                "benches",
            ][..],
        ),
    ])
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn members(root: &Path) -> Vec<PathBuf> {
    let manifest: toml::Table = fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    manifest["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| root.join(m.as_str().unwrap()))
        .collect()
}

#[test]
fn crates_depend_only_along_the_design_graph() {
    let root = workspace_root();
    let allowed = allowed_edges();
    let mut violations = Vec::new();
    let mut seen = Vec::new();
    for dir in members(&root) {
        let manifest: toml::Table = fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let name = manifest["package"]["name"].as_str().unwrap().to_string();
        let Some(permitted) = allowed.get(name.as_str()) else {
            violations.push(format!(
                "crate {name} is not in the tidy test's dependency graph"
            ));
            continue;
        };
        seen.push(name.clone());
        // Build-time and test-time edges count too: a dev-dependency on a higher layer
        // would let a lower crate's tests reach up the graph.
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for dep in deps.keys() {
                if allowed.contains_key(dep.as_str()) && !permitted.contains(&dep.as_str()) {
                    violations.push(format!("{name} → {dep} ({section}) is not an allowed edge"));
                }
            }
        }
    }
    assert_eq!(
        seen.len(),
        allowed.len(),
        "every crate of the graph is a workspace member"
    );
    assert!(
        violations.is_empty(),
        "dependency graph violations:\n{}",
        violations.join("\n")
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name == "target" || name.starts_with('.') {
                continue;
            }
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in members(&root) {
        rust_files(&dir, &mut files);
    }
    files.sort();
    assert!(
        files.len() > 10,
        "tidy found too few files: {}",
        files.len()
    );
    files
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let missing: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !first.starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! line:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_test_is_ignored() {
    // An attribute line, not a mention in prose; built from pieces so this file does
    // not trip its own check.
    let needle = ["#[", "ignore"].concat();
    let offenders: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|f| {
            fs::read_to_string(f)
                .unwrap()
                .lines()
                .any(|l| l.trim_start().starts_with(&needle))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "ignored tests (gate on the capability instead):\n{}",
        offenders.join("\n")
    );
}
