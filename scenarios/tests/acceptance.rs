//! Mesos's own allocator cases (../shared/docs/allocator-cases.md), one scenario file
//! each under `scenarios/acceptance/`, run through the scenario format: every step's
//! `expect_offers` must match the offers made, which the event log must also show.

use std::path::{Path, PathBuf};

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunError, RunOptions};

fn acceptance_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("acceptance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn run_with_log(scenario: &Scenario) -> (Result<sim::RunOutput, RunError>, Vec<serde_json::Value>) {
    let mut log: Vec<u8> = Vec::new();
    let result = sim::run(
        scenario,
        RunOptions {
            event_log: Some(&mut log),
            check_invariants: true,
            ..RunOptions::default()
        },
    );
    let lines = String::from_utf8(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (result, lines)
}

#[test]
fn every_acceptance_case_makes_exactly_the_expected_offers() {
    let files = acceptance_files();
    assert!(
        files.len() >= 23,
        "expected one file per case part, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let scenario = Scenario::load(file, &[]).unwrap_or_else(|e| panic!("{e}"));
        let expected: usize = scenario
            .timeline
            .iter()
            .filter_map(|s| s.expect_offers.as_ref())
            .map(Vec::len)
            .sum();
        assert!(
            scenario.timeline.iter().any(|s| s.expect_offers.is_some()),
            "{} checks nothing",
            file.display()
        );
        let (result, log) = run_with_log(&scenario);
        match result {
            Ok(_) => {
                // Every expected offer is in the event log (the runtime check and the
                // log come from the same offers; this guards the log's contents).
                let logged = log.iter().filter(|l| l["kind"] == "offer").count();
                if logged < expected {
                    failures.push(format!(
                        "{}: {logged} offers logged, {expected} expected",
                        file.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "acceptance failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_wrong_expectation_fails_the_run() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("acceptance/12a-offer-filter.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    // Claim the filtered tick at 1 s made an offer: the run must say it did not.
    let wrong = text.replacen("expect_offers = []  # the tick at 1 s is filtered", "expect_offers = [{ framework = \"fw1\", role = \"role\", agent = \"a1\", resources = \"cpus:1;mem:512\" }]", 1);
    assert_ne!(text, wrong, "the test's anchor text moved");
    let scenario = Scenario::parse(&wrong, &file, &[]).unwrap();
    let err = sim::run(&scenario, RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("expect_offers of step 2 not met"), "{err}");
    assert!(
        err.contains("missing [fw1 [role] a1: cpus:1;mem:512]"),
        "{err}"
    );
}

#[test]
fn drf_paper_example_ends_with_three_and_two_tasks_at_two_thirds() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("drf-paper.toml");
    let scenario = Scenario::load(&file, &[]).unwrap();
    let out = sim::run(
        &scenario,
        RunOptions {
            check_invariants: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let fw = |name: &str| {
        out.summary
            .frameworks
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .clone()
    };
    assert_eq!(fw("A").tasks_launched, 3, "A runs 3 tasks of <1 CPU, 4 GB>");
    assert_eq!(
        fw("B").tasks_launched,
        2,
        "B runs 2 tasks of <3 CPUs, 1 GB>"
    );
    // Both end at a dominant share of 2/3: A's mem 12/18, B's cpus 6/9.
    let last = out
        .metrics
        .iter()
        .find(|(n, _)| n == "dominant_share.csv")
        .unwrap()
        .1
        .lines()
        .last()
        .unwrap()
        .to_string();
    let shares: Vec<f64> = last
        .split(',')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(shares.len(), 2);
    for s in shares {
        assert!((s - 2.0 / 3.0).abs() < 1e-6, "share {s} in {last}");
    }
    assert!(
        (out.summary.utilization["cpus"].allocated - 1.0).abs() < 0.35,
        "cpus end fully allocated"
    );
}

/// The sorter cases (2, 3 and 5) read each `sort()` as a sequence of probe offers
/// (see the comment at the top of their files). Rebuilds every observed order from the
/// event log alone and compares it with the tables of allocator-cases.md.
#[test]
fn sorter_cases_show_every_sort_in_the_event_log() {
    let cases: [(&str, &[&[&str]]); 6] = [
        (
            "02-drf-sorter",
            &[
                &[],
                &["a", "b"],
                &["c", "d", "a", "b"],
                &["c", "b", "d"],
                &["c", "b", "e", "d"],
                &["e", "b", "d", "c", "f"],
                &["e", "b", "c", "f"],
                &["e", "b", "d", "c", "f"],
            ],
        ),
        (
            "03a-weighted-drf",
            &[
                &["b", "a"],
                &["b", "c", "a"],
                &["d", "b", "c", "a"],
                &["d", "c", "a"],
                &["c", "d", "a"],
                &["c", "d", "a", "e"],
                &["c", "d", "e"],
            ],
        ),
        ("03b-update-weight", &[&["a", "b"], &["b", "a"]]),
        (
            "05a-hierarchical-order",
            &[
                &["a/b", "c", "d", "d/e"],
                &["a/b", "d", "d/e", "c"],
                &["a/b", "d/e", "d", "c"],
                &["d/e", "d", "a/b", "c"],
            ],
        ),
        (
            "05b-add-child-to-leaf",
            &[
                &["b", "a"],
                &["b", "a/c", "a"],
                &["a/c", "b"],
                &["b", "a/c", "a"],
                &["b", "a", "a/c"],
                &["a", "a/c", "b"],
                &["a/c", "a", "b"],
            ],
        ),
        (
            "05c-hierarchical-allocation",
            &[
                &["a", "b/c", "b/d"],
                &["b/c", "b/d", "a"],
                &["a", "b/d", "b/c"],
                &["b/d", "b/c", "a"],
                &["b/e/f", "b/d", "b/c", "a"],
                &["a", "b/d", "b/e/f", "b/c"],
                &["b/d", "b/c", "a"],
                &["b/c", "b/d", "a"],
                &["b/c", "b/d", "b/e/f", "a"],
            ],
        ),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("acceptance");
    for (name, want) in cases {
        let scenario = Scenario::load(&dir.join(format!("{name}.toml")), &[]).unwrap();
        let (result, log) = run_with_log(&scenario);
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        // Observation k's probes are agents `probe<k>-<i>` and `probe<k>-end`.
        let mut seen: Vec<Vec<String>> = vec![Vec::new(); want.len()];
        for l in log.iter().filter(|l| l["kind"] == "offer") {
            let agent = l["agent"].as_str().unwrap();
            let Some(probe) = agent.strip_prefix("probe") else {
                panic!("{name}: an offer on {agent}, not on a probe: {l}");
            };
            let (k, i) = probe.split_once('-').unwrap();
            assert_ne!(
                i, "end",
                "{name}: the probe after the last client was offered: {l}"
            );
            let k: usize = k.parse().unwrap();
            // Case 2's clients are frameworks of role `r`; the others are roles.
            let client = match l["role"].as_str().unwrap() {
                "r" => l["framework"].as_str().unwrap(),
                role => role,
            };
            seen[k - 1].push(client.to_string());
        }
        assert_eq!(seen, want, "{name}: sort() orders read from the event log");
    }
}
