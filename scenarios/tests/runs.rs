//! Whole runs: determinism (same seed, same bytes), invariants over seeded random
//! workloads for every policy, the quickstart's golden summary, compare at 1 and 2
//! threads.

use std::path::Path;

use scenarios::compare::{compare, CompareOptions};
use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};

fn run_bytes(scenario: &Scenario, seed: u64) -> (String, Vec<u8>) {
    let mut log = Vec::new();
    let out = sim::run(
        scenario,
        RunOptions {
            seed: Some(seed),
            event_log: Some(&mut log),
            ..RunOptions::default()
        },
    )
    .unwrap();
    (serde_json::to_string_pretty(&out.summary).unwrap(), log)
}

fn short_quickstart() -> Scenario {
    Scenario::quickstart(&["duration=\"3m\"".to_string()]).unwrap()
}

#[test]
fn same_seed_gives_identical_summary_and_event_log() {
    let s = short_quickstart();
    let (a_summary, a_log) = run_bytes(&s, 7);
    let (b_summary, b_log) = run_bytes(&s, 7);
    assert_eq!(a_summary, b_summary);
    assert!(a_log == b_log, "event logs differ");
    assert!(a_log.len() > 10_000, "the log should record a real run");
    let (c_summary, _) = run_bytes(&s, 8);
    assert_ne!(
        a_summary, c_summary,
        "a different seed should change the run"
    );
}

/// A random cluster and workload from a seed: agents with static reservations,
/// weighted roles, one with quota, batch and service frameworks.
fn random_scenario(seed: u64) -> Scenario {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut text = format!("seed = {seed}\nduration = \"90s\"\nmetrics_interval = \"5s\"\n[master]\nmessage_latency = \"{}ms\"\n", rng.random_range(0..5));
    let mut first_agent = String::new();
    for g in 0..rng.random_range(1..4) {
        let count = rng.random_range(1..6);
        if g == 0 {
            first_agent = if count == 1 {
                "g0".to_string()
            } else {
                "g0-1".to_string()
            };
        }
        let reserved = if rng.random_bool(0.5) {
            format!(";cpus(r{}):{}", g % 3, rng.random_range(1..4))
        } else {
            String::new()
        };
        text += &format!(
            "[[agents]]\nname = \"g{g}\"\ncount = {count}\nresources = \"cpus:{};mem:{}{reserved}\"\n",
            rng.random_range(2..17),
            rng.random_range(2..33) * 1024
        );
    }
    text += "[[roles]]\nname = \"r0\"\nweight = 2.0\n[[roles]]\nname = \"r1\"\nguarantees = \"cpus:4;mem:4096\"\n";
    for f in 0..rng.random_range(2..6) {
        let role = format!("r{}", f % 3);
        let refuse = [0.0, 1.0, 5.0][rng.random_range(0..3)];
        let think = rng.random_range(0..200);
        if rng.random_bool(0.7) {
            text += &format!(
                "[[frameworks]]\nname = \"f{f}\"\nroles = [\"{role}\"]\nrefuse_seconds = {refuse}\noffer_think_time = \"{think}ms\"\nsuppress_when_idle = {}\n[frameworks.batch]\njob_interarrival = {{ distribution = \"exponential\", mean = \"{}s\" }}\ntasks_per_job = {{ distribution = \"uniform\", min = 1, max = {} }}\ntask_resources = \"cpus:{};mem:{}\"\ntask_duration = {{ distribution = \"lognormal\", median = \"{}s\", sigma = 1.0 }}\n",
                rng.random_bool(0.5),
                rng.random_range(1..10),
                rng.random_range(1..20),
                rng.random_range(1..4),
                rng.random_range(1..8) * 512,
                rng.random_range(1..30)
            );
        } else {
            text += &format!(
                "[[frameworks]]\nname = \"f{f}\"\nroles = [\"{role}\"]\nrefuse_seconds = {refuse}\n[frameworks.service]\ninstances = {}\ntask_resources = \"cpus:1;mem:1024\"\n",
                rng.random_range(1..30)
            );
        }
    }
    // Churn: an agent leaves and a bigger one joins.
    text += &format!(
        "[[timeline]]\nat = \"30s\"\naction = \"remove_agent\"\nagent = \"{first_agent}\"\n"
    );
    text += "[[timeline]]\nat = \"40s\"\naction = \"add_agent\"\nagent = \"late\"\nresources = \"cpus:32;mem:65536\"\n";
    Scenario::parse(&text, Path::new("random.toml"), &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn no_policy_ever_over_allocates_an_agent_on_random_workloads() {
    for seed in 0..12 {
        let scenario = random_scenario(seed);
        for policy in models::allocator::ALLOCATOR_NAMES {
            let out = sim::run(
                &scenario,
                RunOptions {
                    policy: Some(policy.to_string()),
                    check_invariants: true,
                    ..RunOptions::default()
                },
            )
            .unwrap_or_else(|e| panic!("seed {seed}, policy {policy}: {e}"));
            let t = &out.summary.tasks;
            assert!(
                t.launched <= t.submitted + t.lost,
                "seed {seed} {policy}: launched more than submitted"
            );
            assert!(
                t.finished <= t.launched,
                "seed {seed} {policy}: finished more than launched"
            );
        }
    }
}

#[test]
fn compare_output_does_not_depend_on_thread_count() {
    let s = Scenario::quickstart(&["duration=\"1m\"".to_string()]).unwrap();
    let policies: Vec<String> = models::allocator::ALLOCATOR_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let one = compare(
        &s,
        &CompareOptions {
            policies: policies.clone(),
            seeds: 2,
            threads: 1,
        },
    )
    .unwrap();
    let two = compare(
        &s,
        &CompareOptions {
            policies,
            seeds: 2,
            threads: 2,
        },
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&two).unwrap()
    );
    assert_eq!(one.to_csv(), two.to_csv());
    assert_eq!(one.runs.len(), models::allocator::ALLOCATOR_NAMES.len() * 2);
}

#[test]
fn quickstart_summary_matches_golden_file() {
    let s = short_quickstart();
    let (summary, _) = run_bytes(&s, s.seed);
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/quickstart-3m.summary.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, format!("{summary}\n")).unwrap();
    }
    let want =
        std::fs::read_to_string(&golden).expect("golden file missing: run with UPDATE_GOLDEN=1");
    assert_eq!(
        format!("{summary}\n"),
        want,
        "summary changed; if intended, rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}

#[test]
fn task_think_time_delays_the_accept_by_one_step_per_task() {
    let text = r#"
duration = "10s"
[master]
message_latency = "0s"
[[agents]]
name = "a1"
resources = "cpus:4;mem:4096"
[[frameworks]]
name = "svc"
roles = ["web"]
offer_think_time = "500ms"
task_think_time = "1s"
[frameworks.service]
instances = 3
task_resources = "cpus:1;mem:1024"
"#;
    let s = Scenario::parse(text, Path::new("think.toml"), &[]).unwrap();
    let out = sim::run(&s, RunOptions::default()).unwrap();
    // Offer at 0 s, answer after 0.5 s of thought plus 3 × 1 s for the three tasks.
    assert_eq!(out.summary.tasks.launched, 3);
    assert_eq!(
        (out.summary.wait_ns.p50, out.summary.wait_ns.max),
        (3_500_000_000, 3_500_000_000)
    );
}
