//! The scenario library's stories hold: each file shows what its comment promises.

use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};
use scenarios::summary::Summary;

fn run(file: &str, overrides: &[&str]) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = Scenario::load(&path, &overrides).unwrap_or_else(|e| panic!("{e}"));
    sim::run(&scenario, RunOptions::default()).unwrap().summary
}

fn framework<'a>(s: &'a Summary, name: &str) -> &'a scenarios::summary::FrameworkSummary {
    s.frameworks.iter().find(|f| f.name == name).unwrap()
}

#[test]
fn weighted_roles_settle_near_three_to_one() {
    let s = run("weighted-roles.toml", &["duration=\"10m\""]);
    let gold = framework(&s, "gold-batch").dominant_share_mean;
    let silver = framework(&s, "silver-batch").dominant_share_mean;
    let ratio = gold / silver;
    assert!(
        (2.5..3.5).contains(&ratio),
        "gold {gold}, silver {silver}, ratio {ratio}"
    );
    // Equal weights even them out.
    let s = run(
        "weighted-roles.toml",
        &["duration=\"10m\"", "roles[gold].weight=1.0"],
    );
    let ratio = framework(&s, "gold-batch").dominant_share_mean
        / framework(&s, "silver-batch").dominant_share_mean;
    assert!((0.8..1.25).contains(&ratio), "equal weights, ratio {ratio}");
}

#[test]
fn a_quota_guarantee_ends_the_starvation() {
    let with_quota = run("quota-starvation.toml", &[]);
    assert_eq!(
        framework(&with_quota, "critical-service").tasks_launched,
        4,
        "all instances run with the guarantee"
    );
    let without = run(
        "quota-starvation.toml",
        &["roles[critical].guarantees=\"cpus:0\""],
    );
    assert_eq!(
        framework(&without, "critical-service").tasks_launched,
        0,
        "without quota the service starves"
    );
}

#[test]
fn every_library_scenario_validates_and_runs_briefly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "quickstart.toml",
        "drf-paper.toml",
        "weighted-roles.toml",
        "quota-starvation.toml",
        "dynamic-reservation.toml",
        "persistent-volume-failover.toml",
        "reservation-update.toml",
        "oversubscription.toml",
        "bursting.toml",
        "network-contention.toml",
        "network-control.toml",
        "fetcher-cache.toml",
        "executor-domain-sockets.toml",
        "task-groups.toml",
    ] {
        let s = run(file, &["duration=\"20s\""]);
        assert_eq!(s.sim_end_ns, 20_000_000_000, "{file}");
        assert!(dir.join(file).exists());
    }
}

#[test]
fn egress_limits_protect_the_latency_sensitive_service() {
    let web_p99 = |s: &Summary| {
        let net = s.network.as_ref().expect("the scenario models the network");
        net.frameworks
            .iter()
            .find(|f| f.name == "web")
            .unwrap()
            .fct_p99_ns
    };
    let shared = run("network-contention.toml", &[]);
    let isolated = run(
        "network-contention.toml",
        &["network.egress_rate_limit_per_container=250000000"],
    );
    let (n_shared, n_isolated) = (
        shared.network.as_ref().unwrap(),
        isolated.network.as_ref().unwrap(),
    );
    assert_eq!(n_shared.containers_egress_capped, 0);
    assert!(n_isolated.containers_egress_capped > 0);
    // A 5 MB response alone on a 2 Gbit/s class takes 20 ms plus 50 us of links; without
    // limits a shuffle's eight flows crowd it out of the NIC.
    let (a, b) = (web_p99(&shared), web_p99(&isolated));
    assert!(b < a, "isolated p99 {b} ns should beat shared {a} ns");
    assert!(
        b >= 20_000_000,
        "a response cannot beat its class rate: {b}"
    );
    assert!(n_shared.bytes_moved > 0 && n_shared.flows > 0);
}

#[test]
fn scenarios_without_a_network_have_no_network_section() {
    let s = run("quickstart.toml", &["duration=\"20s\""]);
    assert!(s.network.is_none());
}

fn master_cpu(s: &Summary) -> &scenarios::sim::tls::MasterCpuSummary {
    s.tls.as_ref().unwrap().master_cpu.as_ref().unwrap()
}

#[test]
fn tls_raises_master_cpu_and_offer_and_status_latency() {
    // 100 agents for 20 s keep the test short; the file's 1,000 (or 10,000) scale it up.
    let base = ["duration=\"20s\"", "agents[node].count=100"];
    let on = run("tls-overhead.toml", &base);
    let off = run(
        "tls-overhead.toml",
        &[base[0], base[1], "tls.enabled=false"],
    );
    let (c_on, c_off) = (master_cpu(&on), master_cpu(&off));
    assert!(
        c_on.utilization > c_off.utilization,
        "utilization on {} off {}",
        c_on.utilization,
        c_off.utilization
    );
    // 104 full handshakes (1,726 us of server CPU each) queue ahead of the first cycles.
    assert_eq!(on.tls.as_ref().unwrap().handshakes_full, 104);
    assert!(c_on.allocation_cycle_delay_p99_ns >= 104 * 1_726_000);
    assert!(c_on.allocation_cycle_delay_p99_ns > c_off.allocation_cycle_delay_p99_ns);
    assert!(c_on.offer_latency_p99_ns > c_off.offer_latency_p99_ns);
    assert!(c_on.status_update_latency_p99_ns > 0 && c_off.status_updates > 0);
    // Status updates: see tests/tls.rs for the hand-computed low-load case.
    let low = ["duration=\"20s\"", "agents[node].count=10"];
    let on = run("tls-overhead.toml", &low);
    let off = run("tls-overhead.toml", &[low[0], low[1], "tls.enabled=false"]);
    assert!(
        master_cpu(&on).status_update_latency_p50_ns
            > master_cpu(&off).status_update_latency_p50_ns
    );
}

#[test]
fn domain_sockets_beat_tcp_executors() {
    let s = run("executor-domain-sockets.toml", &["duration=\"20s\""]);
    let ex = &s.tls.as_ref().unwrap().executors;
    let tcp = ex.iter().find(|e| e.transport == "tcp").unwrap();
    let uds = ex.iter().find(|e| e.transport == "domain_socket").unwrap();
    assert!(uds.registration_latency_p99_ns < tcp.registration_latency_p50_ns);
    assert!(uds.status_update_latency_p99_ns < tcp.status_update_latency_p50_ns);
    // The socket works where the container's network blocks the agent; TCP does not.
    let blocked = run(
        "executor-domain-sockets.toml",
        &[
            "duration=\"20s\"",
            "agents[tcp-node].container_network_blocks_agent=true",
        ],
    );
    let ex = &blocked.tls.as_ref().unwrap().executors;
    assert!(ex
        .iter()
        .any(|e| e.transport == "tcp" && e.registrations_failed > 0));
    assert!(ex.iter().any(|e| e.transport == "domain_socket"
        && e.registrations > 0
        && e.registrations_failed == 0));
}
