//! Control messages over the network topology: hand-computed offer and status-update
//! latencies on an idle flat cluster (with and without TLS record overhead), the
//! `network-control.toml` comparison (a saturated uplink slows control traffic), and
//! determinism.

mod support;

use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::sim::control::ControlSummary;
use scenarios::summary::Summary;

/// One agent, one framework outside the racks, one task; nothing else on the wire.
const ONE_TASK: &str = r#"
duration = "1m"
[master]
message_latency = "1s"
[network]
link_latency = "25us"
[[agents]]
name = "a"
resources = "cpus:8;mem:8192"
[[frameworks]]
name = "fw"
roles = ["r"]
[frameworks.batch]
job_interarrival = { distribution = "constant", value = "1s" }
tasks_per_job = { distribution = "constant", value = 1 }
task_resources = "cpus:1;mem:128"
task_duration = { distribution = "constant", value = "10s" }
max_jobs = 1
"#;

fn run_text(text: &str, overrides: &[&str]) -> Summary {
    support::run(&support::inline(text, "inline.toml", overrides))
}

fn run(file: &str, overrides: &[&str]) -> Summary {
    support::run(&support::library(file, overrides))
}

fn control(s: &Summary) -> &ControlSummary {
    s.network
        .as_ref()
        .and_then(|n| n.control.as_ref())
        .expect("a run with a network has a control section")
}

/// Master → scheduler (outside): master→core 25 µs on a 10 Gbit/s NIC plus core→clients
/// 25 µs, non-blocking. An offer of 1,024 B: 50,000 + ceil(1024 / 1.25) = 50,820 ns.
/// A status update of 512 B agent → master (agent→core, core→master, 50,410 ns) then
/// master → scheduler (50,410 ns): 100,820 ns. `master.message_latency` (1 s) is unused.
#[test]
fn an_idle_network_gives_hand_computed_control_latencies() {
    let s = run_text(ONE_TASK, &[]);
    let c = control(&s);
    assert_eq!(c.schedulers, "outside");
    assert_eq!(c.offer_latency_p50_ns, 50_820);
    assert_eq!(c.offer_latency_p99_ns, 50_820);
    // TASK_RUNNING and TASK_FINISHED.
    assert_eq!(c.status_updates, 2);
    assert_eq!(c.status_update_latency_p50_ns, 100_820);
    assert_eq!(c.status_update_latency_p99_ns, 100_820);
}

/// TLS 1.2 adds 29 B of record overhead to each message (one record each): an offer is
/// 1,053 B (ceil(1053 / 1.25) = 843 ns on the wire), a status update 541 B (433 ns a
/// leg). `[tls]` also turns on the master's CPU queue: an offer costs 20 µs plus
/// ceil(1024 B × 213 ps) = 219 ns of AES-GCM before it leaves, a status update 15 µs
/// plus 2 × 110 ns (decrypted, encrypted again). Every message grows by exactly 29 B.
#[test]
fn tls_record_overhead_adds_to_every_message() {
    let tls = "[tls]\nenabled = true\nversion = \"1.2\"\n";
    let plain = run_text(ONE_TASK, &[]);
    let on = run_text(&format!("{ONE_TASK}{tls}"), &[]);
    let (p, t) = (control(&plain), control(&on));
    assert_eq!(t.offer_latency_p50_ns, 20_219 + 50_843);
    assert_eq!(t.status_update_latency_p50_ns, 50_433 + 15_220 + 50_433);
    assert_eq!(p.messages, t.messages);
    assert_eq!(t.bytes, p.bytes + 29 * t.messages);
}

/// The shuffle saturates the 4:1 rack uplinks; the schedulers run on agents, so both
/// offers and status updates cross them and slow down against the same run without it.
#[test]
fn saturated_uplinks_slow_offers_and_status_updates() {
    let loaded = run("network-control.toml", &["duration=\"40s\""]);
    let idle = run(
        "network-control.toml",
        &[
            "duration=\"40s\"",
            "frameworks[spark].network.shuffle_bytes=0",
        ],
    );
    let (l, i) = (control(&loaded), control(&idle));
    assert_eq!(l.schedulers, "on_agents");
    let uplink = &loaded.network.as_ref().unwrap().busiest_links[0];
    assert!(uplink.link.starts_with("tor"), "{uplink:?}");
    assert!(
        l.status_update_latency_p99_ns > i.status_update_latency_p99_ns,
        "{l:?} vs {i:?}"
    );
    assert!(
        l.offer_latency_p99_ns > i.offer_latency_p99_ns,
        "{l:?} vs {i:?}"
    );
    // Idle paths cost at least their propagation: 3 links to the master and 3 back.
    assert!(i.status_update_latency_p50_ns >= 150_000);
}

#[test]
fn control_latencies_are_deterministic() {
    let a = run("network-control.toml", &["duration=\"20s\""]);
    let b = run("network-control.toml", &["duration=\"20s\""]);
    assert_eq!(control(&a), control(&b));
    assert!(control(&a).messages > 0);
}

#[test]
fn an_unknown_scheduler_placement_is_an_error_naming_the_field() {
    let bad = ONE_TASK.replace("[network]\n", "[network]\nschedulers = \"moon\"\n");
    let err = Scenario::parse(&bad, Path::new("inline.toml"), &[])
        .expect_err("schedulers must be outside or on_agents")
        .to_string();
    assert!(err.contains("inline.toml:6:14"), "{err}");
    assert!(err.contains("network.schedulers"), "{err}");
}
