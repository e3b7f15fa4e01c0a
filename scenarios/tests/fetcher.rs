//! The fetcher in whole runs: hand-timed fetches (miss, shared download, hits), tasks
//! starting only after their fetch, the `fetcher-cache.toml` comparisons (cold, warm
//! and too-small caches), and errors for bad `uris`.

use std::path::Path;

use scenarios::scenario::Scenario;
use scenarios::sim::{self, RunOptions};
use scenarios::summary::Summary;

const SECOND: u64 = 1_000_000_000;
const MB: u64 = 1024 * 1024;

/// One agent, no network: downloads at 100 MB/s, copies at 50 MB/s. Two jobs of two
/// tasks each, a minute apart, fetch one cached 100 MB URI.
const TWO_JOBS: &str = r#"
duration = "3m"
[master]
message_latency = "0s"
[fetcher]
download_bytes_per_sec = 104857600
copy_bytes_per_sec = 52428800
[[agents]]
name = "a"
resources = "cpus:8;mem:8192"
[[frameworks]]
name = "fw"
roles = ["r"]
[frameworks.batch]
job_interarrival = { distribution = "constant", value = "60s" }
tasks_per_job = { distribution = "constant", value = 2 }
task_resources = "cpus:1;mem:128"
task_duration = { distribution = "constant", value = "10s" }
max_jobs = 2
[[frameworks.uris]]
uri = "http://artifacts/app.tgz"
size = "100MB"
cache = true
"#;

fn run_text(text: &str, overrides: &[&str]) -> Summary {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = Scenario::parse(text, Path::new("fetch.toml"), &overrides).unwrap();
    let options = RunOptions {
        check_invariants: true,
        ..RunOptions::default()
    };
    sim::run(&scenario, options).unwrap().summary
}

fn run_file(overrides: &[&str]) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fetcher-cache.toml");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = Scenario::load(&path, &overrides).unwrap_or_else(|e| panic!("{e}"));
    sim::run(&scenario, RunOptions::default()).unwrap().summary
}

#[test]
fn a_miss_is_shared_then_later_tasks_hit() {
    let s = run_text(TWO_JOBS, &[]);
    let f = s.fetcher.expect("tasks fetch URIs");
    // Job 1: one task misses and downloads (1 s), the other waits for that download;
    // both then copy (2 s). Job 2: two hits, a 2 s copy each.
    assert_eq!(
        (f.requests, f.misses, f.waits, f.hits, f.bypasses),
        (4, 1, 1, 2, 0)
    );
    assert_eq!(f.bytes_downloaded, 100 * MB);
    assert_eq!(f.bytes_from_cache, 4 * 100 * MB);
    assert_eq!(f.hit_rate, 0.5);
    assert_eq!(f.fetches, 4);
    // Fetch times 2, 2, 3, 3 s: nearest-rank p50 is 2 s, p99 3 s.
    assert_eq!((f.fetch_p50_ns, f.fetch_p99_ns), (2 * SECOND, 3 * SECOND));
    // Start latency includes the fetch: job 1's tasks run 3 s later than without URIs
    // (job 2's start also depends on when offer filters expire, so it is left out).
    let one_job = run_text(TWO_JOBS, &["frameworks.0.batch.max_jobs=1"]);
    let without = run_text(
        TWO_JOBS,
        &["frameworks.0.batch.max_jobs=1", "frameworks.0.uris=[]"],
    );
    assert_eq!(without.fetcher.as_ref().map(|f| f.requests), Some(0));
    assert_eq!(one_job.wait_ns.count, 2);
    assert_eq!(one_job.wait_ns.p50, without.wait_ns.p50 + 3 * SECOND);
    assert_eq!(one_job.wait_ns.max, without.wait_ns.max + 3 * SECOND);
    assert_eq!(s.tasks.finished, 4);
}

#[test]
fn a_warm_cache_serves_every_request() {
    let f = run_text(TWO_JOBS, &["fetcher.warm=true"]).fetcher.unwrap();
    assert_eq!((f.requests, f.hits, f.misses, f.waits), (4, 4, 0, 0));
    assert_eq!(f.bytes_downloaded, 0);
    assert_eq!((f.fetch_p50_ns, f.fetch_p99_ns), (2 * SECOND, 2 * SECOND));
}

#[test]
fn a_uri_that_does_not_fit_bypasses_the_cache_every_time() {
    // A 50 MB cache cannot hold the 100 MB URI: four downloads into sandboxes, no
    // copies (1 s each).
    let f = run_text(TWO_JOBS, &["fetcher.cache_size=\"50MB\""])
        .fetcher
        .unwrap();
    assert_eq!((f.requests, f.bypasses, f.no_room, f.hits), (4, 4, 4, 0));
    assert_eq!(f.bytes_downloaded, 4 * 100 * MB);
    assert_eq!(f.bytes_from_cache, 0);
    assert_eq!(f.fetch_p99_ns, SECOND);
    // Not cached at all (`cache = false`): the same downloads, and no cache lookups.
    let f = run_text(TWO_JOBS, &["frameworks.0.uris.0.cache=false"])
        .fetcher
        .unwrap();
    assert_eq!((f.bypasses, f.no_room, f.hit_rate), (4, 0, 0.0));
}

#[test]
fn extraction_replaces_the_copy() {
    // Extracting at 25 MB/s takes 4 s instead of the 2 s copy.
    let f = run_text(
        TWO_JOBS,
        &[
            "frameworks.0.uris.0.extract=true",
            "fetcher.extract_bytes_per_sec=26214400",
        ],
    )
    .fetcher
    .unwrap();
    assert_eq!((f.fetch_p50_ns, f.fetch_p99_ns), (4 * SECOND, 5 * SECOND));
}

#[test]
fn warm_caches_hit_more_and_too_small_caches_less() {
    let cold = run_file(&[]);
    let warm = run_file(&["fetcher.warm=true"]);
    let small = run_file(&["fetcher.cache_size=\"1GB\""]);
    let (c, w, s) = (
        cold.fetcher.as_ref().unwrap(),
        warm.fetcher.as_ref().unwrap(),
        small.fetcher.as_ref().unwrap(),
    );
    assert!(
        w.hit_rate > c.hit_rate && c.hit_rate > s.hit_rate,
        "hit rates warm {} cold {} small {}",
        w.hit_rate,
        c.hit_rate,
        s.hit_rate
    );
    assert_eq!((w.misses, w.waits), (0, 0), "everything is cached already");
    assert!(
        c.misses > 0 && c.waits > 0,
        "cold caches fill once per agent"
    );
    assert!(s.evictions > 0 && s.no_room > 0, "a too-small cache churns");
    assert_eq!(c.evictions, 0, "the working set fits in 2 GB");
    assert!(w.bytes_downloaded < c.bytes_downloaded);
    assert!(c.bytes_downloaded < s.bytes_downloaded);
    // Most fetches hit a cache in both the warm and the cold run, so their medians
    // differ only by placement noise (the seeded agent order); the tails and the
    // too-small cache separate clearly.
    assert!(
        w.fetch_p50_ns < s.fetch_p50_ns && c.fetch_p50_ns < s.fetch_p50_ns,
        "fetch p50 warm {} cold {} small {}",
        w.fetch_p50_ns,
        c.fetch_p50_ns,
        s.fetch_p50_ns
    );
    assert!(w.fetch_p99_ns < c.fetch_p99_ns && c.fetch_p99_ns < s.fetch_p99_ns);
    // Start latency (submission to RUNNING) follows the fetch.
    assert!(warm.wait_ns.p99 < cold.wait_ns.p99 && cold.wait_ns.p99 < small.wait_ns.p99);
    // Downloads are network flows from the artifact server.
    let net = cold.network.as_ref().unwrap();
    assert_eq!(net.busiest_links[0].link, "artifact-server->core");
}

#[test]
fn runs_without_uris_have_no_fetcher_section() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("quickstart.toml");
    let scenario = Scenario::load(&path, &["duration=\"20s\"".to_string()]).unwrap();
    let s = sim::run(&scenario, RunOptions::default()).unwrap().summary;
    assert!(s.fetcher.is_none());
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains("fetcher"));
}

#[test]
fn bad_uris_name_file_line_and_field() {
    let bad = TWO_JOBS.replace("size = \"100MB\"", "size = \"100XB\"");
    let msg = Scenario::parse(&bad, Path::new("fetch.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("fetch.toml:") && msg.contains("frameworks[0].uris[0].size"),
        "{msg}"
    );
    assert!(msg.contains("XB"), "{msg}");
    let bad = TWO_JOBS.replace("size = \"100MB\"", "size = 0");
    let msg = Scenario::parse(&bad, Path::new("fetch.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("uris[0].size") && msg.contains("above 0"),
        "{msg}"
    );
    let bad = TWO_JOBS.replace("copy_bytes_per_sec = 52428800", "copy_bytes_per_sec = 0");
    let msg = Scenario::parse(&bad, Path::new("fetch.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("fetch.toml:7:") && msg.contains("fetcher.copy_bytes_per_sec"),
        "{msg}"
    );
}

#[test]
fn a_task_lost_while_fetching_never_runs() {
    // The first job arrives at 60 s; the agent goes away a second into its 3 s fetch.
    let text = format!(
        "{TWO_JOBS}\n[[timeline]]\nat = \"61s\"\naction = \"remove_agent\"\nagent = \"a\"\n"
    );
    let s = run_text(&text, &["frameworks.0.batch.max_jobs=1"]);
    let f = s.fetcher.unwrap();
    assert_eq!((f.requests, f.fetches), (2, 0));
    assert_eq!(s.tasks.lost, 2);
    assert_eq!(s.wait_ns.count, 0, "neither task ever ran");
}

#[test]
fn fetcher_runs_are_deterministic() {
    let a = serde_json::to_string(&run_file(&["duration=\"2m\""])).unwrap();
    let b = serde_json::to_string(&run_file(&["duration=\"2m\""])).unwrap();
    assert_eq!(a, b);
}
