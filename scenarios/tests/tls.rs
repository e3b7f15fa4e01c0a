//! TLS on control traffic, the master's CPU queue and executor transports: hand-computed
//! latencies, the failure when a container's network blocks TCP, and absence when unused.

mod support;

use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::summary::Summary;

fn run(file: &str, overrides: &[&str]) -> Summary {
    support::run(&support::library(file, overrides))
}

fn executor<'a>(s: &'a Summary, transport: &str) -> &'a scenarios::sim::tls::ExecutorSummary {
    s.tls
        .as_ref()
        .expect("tls section")
        .executors
        .iter()
        .find(|e| e.transport == transport)
        .expect("transport present")
}

#[test]
fn executor_latencies_match_hand_computation() {
    let s = run("executor-domain-sockets.toml", &["duration=\"20s\""]);
    let tcp = executor(&s, "tcp");
    // TCP connect 2 x 6 us, TLS 1.2 full handshake 2 RTT = 24 us plus 1,726 us (RSA-2048
    // sign) + 78 us (verify), the SUBSCRIBE 6 us, encrypted and decrypted:
    // 2 x ceil(2048 B x 213 ps / 1000) = 2 x 437 ns.
    let tcp_registration = 12_000 + 24_000 + 1_726_000 + 78_000 + 6_000 + 2 * 437;
    assert_eq!(tcp.registration_latency_p50_ns, tcp_registration);
    assert_eq!(tcp.registration_latency_p99_ns, tcp_registration);
    // A status update: 6 us plus 2 x ceil(512 B x 213 ps / 1000) = 2 x 110 ns.
    assert_eq!(tcp.status_update_latency_p50_ns, 6_220);
    let uds = executor(&s, "domain_socket");
    // Connect (one 2 us round trip) and SUBSCRIBE (2 us): no TLS on the socket.
    assert_eq!(uds.registration_latency_p50_ns, 6_000);
    assert_eq!(uds.status_update_latency_p99_ns, 2_000);
    assert!(tcp.registrations > 0 && uds.registrations > 0);
    assert_eq!(tcp.registrations_failed + uds.registrations_failed, 0);
}

#[test]
fn without_tls_executors_over_tcp_skip_the_handshake() {
    let s = run(
        "executor-domain-sockets.toml",
        &["duration=\"20s\"", "tls.enabled=false"],
    );
    let tcp = executor(&s, "tcp");
    assert_eq!(tcp.registration_latency_p50_ns, 3 * 6_000);
    assert_eq!(tcp.status_update_latency_p50_ns, 6_000);
    let tls = s.tls.as_ref().unwrap();
    assert_eq!(tls.handshakes_full, 0);
    assert_eq!(tls.bytes_encrypted, 0);
}

#[test]
fn a_blocking_container_network_fails_tcp_executors_only() {
    let s = run(
        "executor-domain-sockets.toml",
        &[
            "duration=\"20s\"",
            "agents[tcp-node].container_network_blocks_agent=true",
        ],
    );
    let tcp = executor(&s, "tcp");
    assert_eq!(tcp.registrations, 0);
    assert!(tcp.registrations_failed > 0);
    assert_eq!(s.tasks.failed, tcp.registrations_failed);
    let uds = executor(&s, "domain_socket");
    assert!(uds.registrations > 0);
    assert_eq!(uds.registrations_failed, 0);
}

#[test]
fn status_latency_at_low_load_is_hand_computed() {
    // Ten agents keep the master's queue mostly idle: a status update takes the agent →
    // master latency (1 ms), 15 us of master CPU, and the master → framework latency;
    // with TLS 2 x ceil(512 B x 213 ps / 1000) = 220 ns more to decrypt and re-encrypt.
    let base = &["duration=\"20s\"", "agents[node].count=10"];
    let off = run(
        "tls-overhead.toml",
        &[base[0], base[1], "tls.enabled=false"],
    );
    let on = run("tls-overhead.toml", base);
    let p50 = |s: &Summary| {
        s.tls
            .as_ref()
            .unwrap()
            .master_cpu
            .as_ref()
            .unwrap()
            .status_update_latency_p50_ns
    };
    assert_eq!(p50(&off), 2_015_000);
    assert_eq!(p50(&on), 2_015_220);
    let tls = on.tls.as_ref().unwrap();
    // One full handshake per agent and framework link.
    assert_eq!(tls.handshakes_full, 10 + 4);
    assert_eq!(tls.handshakes_resumed, 0);
    // Every message is at most one record: 29 bytes each.
    assert_eq!(tls.record_overhead_bytes % 29, 0);
    assert!(tls.bytes_encrypted > 0);
}

#[test]
fn scenarios_without_tls_have_no_tls_section() {
    let s = run("quickstart.toml", &["duration=\"20s\""]);
    assert!(s.tls.is_none());
}

#[test]
fn bad_tls_fields_name_the_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tls-overhead.toml");
    let e = Scenario::load(&path, &["tls.version=\"1.1\"".to_string()]).unwrap_err();
    assert!(e.to_string().contains("tls.version"), "{e}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("executor-domain-sockets.toml");
    let e = Scenario::load(
        &path,
        &["agents[uds-node].executor_transport=\"pipe\"".to_string()],
    )
    .unwrap_err();
    assert!(e.to_string().contains("executor_transport"), "{e}");
}

#[test]
fn tls_1_3_saves_one_round_trip_and_runs_are_deterministic() {
    let args = ["duration=\"20s\"", "tls.version=\"1.3\""];
    let s = run("executor-domain-sockets.toml", &args);
    // As in TLS 1.2 but with one handshake round trip (12 us) instead of two (24 us).
    let expected = 12_000 + 12_000 + 1_726_000 + 78_000 + 6_000 + 2 * 437;
    assert_eq!(executor(&s, "tcp").registration_latency_p50_ns, expected);
    assert_eq!(s.tls.as_ref().unwrap().version.as_deref(), Some("1.3"));
    assert_eq!(s, run("executor-domain-sockets.toml", &args));
}
