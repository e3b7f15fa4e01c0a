//! The fetcher in whole runs: hand-timed fetches (miss, shared download, hits), tasks
//! starting only after their fetch, the `fetcher-cache.toml` comparisons (cold, warm
//! and too-small caches), and errors for bad `uris`.

mod support;

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
    support::run_checked(&support::inline(text, "fetch.toml", overrides))
}

fn run_file(overrides: &[&str]) -> Summary {
    support::run(&support::library("fetcher-cache.toml", overrides))
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

/// The event log and `metrics/fetcher.csv` of the two-job run: per fetch a start, the
/// cache's verdict and a done with its duration; the CSV's last row holds the counters
/// the summary reports. Runs without a fetcher have neither.
#[test]
fn fetches_are_logged_and_sampled() {
    let scenario = Scenario::parse(TWO_JOBS, Path::new("fetch.toml"), &[]).unwrap();
    let mut log: Vec<u8> = Vec::new();
    let out = sim::run(
        &scenario,
        RunOptions {
            event_log: Some(&mut log),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["kind"].as_str().filter(|k| k.starts_with("fetch_")))
        .collect();
    // Job 1: both start, one misses, the other waits; both take 3 s (the 1 s download,
    // then a 2 s copy each). Job 2: two hits, a 2 s copy each.
    assert_eq!(
        kinds,
        [
            "fetch_start",
            "fetch_miss",
            "fetch_start",
            "fetch_wait",
            "fetch_done",
            "fetch_done",
            "fetch_start",
            "fetch_hit",
            "fetch_start",
            "fetch_hit",
            "fetch_done",
            "fetch_done",
        ]
    );
    let miss = lines.iter().find(|l| l["kind"] == "fetch_miss").unwrap();
    assert_eq!(miss["uri"], "fw@http://artifacts/app.tgz");
    assert_eq!(miss["bytes"], 100 * MB);
    assert_eq!(miss["agent"], "a");
    assert_eq!(miss["framework"], "fw");
    let done: Vec<u64> = lines
        .iter()
        .filter(|l| l["kind"] == "fetch_done")
        .map(|l| l["duration_ns"].as_u64().unwrap())
        .collect();
    assert_eq!(done, [3 * SECOND, 3 * SECOND, 2 * SECOND, 2 * SECOND]);
    let csv = &out
        .metrics
        .iter()
        .find(|(name, _)| name == "fetcher.csv")
        .expect("a run with the fetcher writes fetcher.csv")
        .1;
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "t_ns,agent,used_bytes,entries,requests,hits,misses,waits,bypasses,evictions"
    );
    let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    let f = out.summary.fetcher.as_ref().unwrap();
    assert_eq!(last[1], "a");
    assert_eq!(last[2], (100 * MB).to_string(), "one 100 MB entry");
    assert_eq!(last[3], "1");
    assert_eq!(
        last[4..].join(","),
        format!(
            "{},{},{},{},{},{}",
            f.requests, f.hits, f.misses, f.waits, f.bypasses, f.evictions
        )
    );
    let plain = Scenario::quickstart(&[]).unwrap();
    let out = sim::run(&plain, RunOptions::default()).unwrap();
    assert!(out.metrics.iter().all(|(name, _)| name != "fetcher.csv"));
}

/// Two frameworks' URIs in a cache with room for one: the second framework's miss
/// (its job arrives at 30 s) evicts the first's entry, unused since its fetch ended,
/// and the log names it just before that miss.
#[test]
fn evictions_are_logged_with_their_key() {
    let second = r#"
[[frameworks]]
name = "fw2"
roles = ["r"]
[frameworks.batch]
job_interarrival = { distribution = "constant", value = "30s" }
tasks_per_job = { distribution = "constant", value = 1 }
task_resources = "cpus:1;mem:128"
task_duration = { distribution = "constant", value = "10s" }
max_jobs = 1
[[frameworks.uris]]
uri = "http://artifacts/b.tgz"
size = "100MB"
cache = true
"#;
    let text = format!("{TWO_JOBS}{second}");
    let overrides = [
        "fetcher.cache_size=\"100MB\"".to_string(),
        "frameworks.0.batch.max_jobs=1".to_string(),
        "frameworks.0.batch.job_interarrival={ distribution = \"constant\", value = \"1s\" }"
            .to_string(),
    ];
    let scenario = Scenario::parse(&text, Path::new("fetch.toml"), &overrides).unwrap();
    let mut log: Vec<u8> = Vec::new();
    let out = sim::run(
        &scenario,
        RunOptions {
            event_log: Some(&mut log),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    let evicts: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["kind"] == "fetch_evict")
        .collect();
    assert_eq!(out.summary.fetcher.unwrap().evictions, 1);
    assert_eq!(evicts.len(), 1);
    let e = &evicts[0];
    assert_eq!(
        e["uri"], "fw@http://artifacts/app.tgz",
        "the key is user@uri"
    );
    assert_eq!(e["agent"], "a");
    assert!(e.get("task").is_none());
    let at = lines.iter().position(|l| l == *e).unwrap();
    let miss = &lines[at + 1];
    assert_eq!(miss["kind"], "fetch_miss");
    assert_eq!(miss["framework"], "fw2");
    assert_eq!(miss["uri"], "fw2@http://artifacts/b.tgz");
    assert_eq!(miss["t_ns"], e["t_ns"]);
    assert!(e["t_ns"].as_u64().unwrap() >= 30 * SECOND);
}
