//! The Mesos fetcher in a running simulation (mesos-semantics.md §5): before a launched
//! task runs, its agent fetches the task's URIs into its sandbox, one after another,
//! through the agent's [`models::fetcher::FetcherCache`]. A hit copies from the cache
//! (disk time); a miss downloads from the artifact server (a network flow when the
//! scenario has a `[network]`, else at the `[fetcher]` download speed) and then copies;
//! a request for a key being downloaded waits for that download; a bypass (no `cache`,
//! or no room) downloads straight into the sandbox. Extraction costs time at the
//! extraction speed instead of the copy. The task stays STAGING, holding its
//! resources, until its last URI is in place; then it runs.
//!
//! Present only when the scenario has a `[fetcher]` table or tasks with `uris`;
//! without them nothing here is created and the world behaves exactly as before.

use std::collections::BTreeMap;

use analysis::stats::percentile_sorted;
use models::fetcher::{CacheKey, FetchAction, FetcherCache, FetcherStats};
use serde::{Deserialize, Serialize};
use sim_core::engine::Context;
use sim_core::time::{SimDuration, SimTime};

use super::eventlog::LogRecord;
use super::events::Event;
use super::ids::TaskId;
use super::network::NetSim;
use super::stats::round6;
use super::task::TaskState;
use super::world::World;
use crate::scenario::{FetcherDef, Scenario, UriDef};

/// The fetcher's timers.
#[derive(Debug)]
pub enum FetchEvent {
    /// A task's copy or extraction into its sandbox finished.
    Step(TaskId),
    /// A download timed at the `[fetcher]` download speed finished.
    Downloaded(u64),
}

/// The `fetcher` section of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetcherSummary {
    /// `--fetcher_cache_size` of every agent, bytes.
    pub cache_size: u64,
    /// The agents started with a warm cache (requests of the warm-up not counted).
    pub warm: bool,
    /// URIs requested by tasks.
    pub requests: u64,
    /// Requests served from a completed cache entry.
    pub hits: u64,
    /// Cacheable requests that started a download into the cache.
    pub misses: u64,
    /// Requests that waited for another fetch's download of the same (user, URI).
    pub waits: u64,
    /// Requests downloaded straight into the sandbox (`cache = false`, or no room).
    pub bypasses: u64,
    /// Of those, the ones that found no room: not enough unused space to free.
    pub no_room: u64,
    /// Hits per cache lookup: hits / (requests with `cache = true`), 6 decimals.
    pub hit_rate: f64,
    /// Bytes downloaded from the artifact server (misses and bypasses).
    pub bytes_downloaded: u64,
    /// Bytes copied from a cache into a sandbox (hits and waits).
    pub bytes_from_cache: u64,
    /// Cache entries evicted.
    pub evictions: u64,
    /// Tasks whose fetch completed (and which then ran).
    pub fetches: u64,
    /// Median time from a launch reaching its agent to its last URI in place, ns.
    pub fetch_p50_ns: u64,
    /// 99th percentile of the same, ns.
    pub fetch_p99_ns: u64,
}

/// A fetcher event for the `--event-log`, written by the world at the current time.
struct FetchRecord {
    kind: &'static str,
    task: Option<TaskId>,
    agent: usize,
    /// The cache key as Mesos writes it: `user@uri`, or the URI without a user.
    uri: Option<String>,
    bytes: Option<u64>,
    duration_ns: Option<u64>,
}

fn key_text(k: &CacheKey) -> String {
    match &k.user {
        Some(u) => format!("{u}@{}", k.uri),
        None => k.uri.clone(),
    }
}

/// One task's fetch run.
struct TaskFetch {
    agent: usize,
    /// Framework definition index (its `uris`).
    def: usize,
    /// The URI being fetched.
    next: usize,
    /// Cache keys it holds a reference on, released when the run ends.
    refs: Vec<CacheKey>,
    started: SimTime,
}

/// A download from the artifact server.
struct Download {
    agent: usize,
    /// The cache entry it fills; `None` for a bypass into one sandbox.
    key: Option<CacheKey>,
    bytes: u64,
    extract: bool,
    /// Tasks waiting for it (the one that started it first).
    waiters: Vec<TaskId>,
}

/// The fetcher side of the world: one cache per agent, the fetch runs in progress and
/// the downloads in flight.
pub(crate) struct FetchSim {
    def: FetcherDef,
    caches: BTreeMap<usize, FetcherCache>,
    /// Per agent: the counters after the warm-up, not reported.
    baseline: BTreeMap<usize, FetcherStats>,
    /// Cacheable URIs of the whole scenario, for the warm-up.
    warm_uris: Vec<UriDef>,
    fetching: BTreeMap<TaskId, TaskFetch>,
    downloads: BTreeMap<u64, Download>,
    /// (agent, key) → the download filling that entry.
    in_flight: BTreeMap<(usize, CacheKey), u64>,
    next_download: u64,
    bytes_downloaded: u64,
    bytes_from_cache: u64,
    fetch_times: Vec<u64>,
    /// Whether the run writes an event log (records are built only then).
    logging: bool,
    log: Vec<FetchRecord>,
    /// `metrics/fetcher.csv`.
    csv: String,
}

/// Time to move `bytes` at `rate` bytes/s, rounded up to the nanosecond.
fn transfer_time(bytes: u64, rate: u64) -> SimDuration {
    let ns = (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(rate.max(1)));
    SimDuration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

impl FetchSim {
    pub fn new(def: &FetcherDef, scenario: &Scenario) -> FetchSim {
        let mut warm_uris: Vec<UriDef> = Vec::new();
        if def.warm {
            for u in scenario.frameworks.iter().flat_map(|f| &f.uris) {
                if u.cache && !warm_uris.iter().any(|w| w.key == u.key) {
                    warm_uris.push(u.clone());
                }
            }
        }
        FetchSim {
            def: def.clone(),
            caches: BTreeMap::new(),
            baseline: BTreeMap::new(),
            warm_uris,
            fetching: BTreeMap::new(),
            downloads: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_download: 0,
            bytes_downloaded: 0,
            bytes_from_cache: 0,
            fetch_times: Vec::new(),
            logging: false,
            log: Vec::new(),
            csv: "t_ns,agent,used_bytes,entries,requests,hits,misses,waits,bypasses,evictions\n"
                .to_string(),
        }
    }

    fn record(&mut self, kind: &'static str, task: TaskId, agent: usize, u: Option<&UriDef>) {
        if self.logging {
            self.log.push(FetchRecord {
                kind,
                task: Some(task),
                agent,
                uri: u.map(|u| key_text(&u.key)),
                bytes: u.map(|u| u.size),
                duration_ns: None,
            });
        }
    }

    /// The agent's cache, created on first use: empty, or warmed with every cacheable
    /// URI of the scenario in file order (as far as they fit).
    fn cache(&mut self, agent: usize) -> &mut FetcherCache {
        if !self.caches.contains_key(&agent) {
            let mut c = FetcherCache::new(self.def.cache_size);
            for u in &self.warm_uris {
                if c.request(&u.key, u.size, true) != FetchAction::Bypass {
                    c.download_finished(&u.key, true);
                    c.release(&u.key);
                }
            }
            c.take_evicted(); // the warm-up is not reported
            self.baseline.insert(agent, c.stats());
            self.caches.insert(agent, c);
        }
        self.caches.get_mut(&agent).expect("just created")
    }

    /// The sandbox step after the bytes are on the agent: a copy out of the cache
    /// (or an extraction from it); for a bypass only the extraction, if any.
    fn sandbox_time(&self, bytes: u64, extract: bool, from_cache: bool) -> Option<SimDuration> {
        if extract {
            Some(transfer_time(bytes, self.def.extract_bytes_per_sec))
        } else if from_cache {
            Some(transfer_time(bytes, self.def.copy_bytes_per_sec))
        } else {
            None
        }
    }

    /// Starts fetching the next URIs of `task` until one has to wait; pushes the task
    /// to `ready` when its last URI is in place.
    fn advance(
        &mut self,
        ctx: &mut Context<'_, Event>,
        net: &mut Option<NetSim>,
        scenario: &Scenario,
        task: TaskId,
        ready: &mut Vec<TaskId>,
    ) {
        let Some(f) = self.fetching.get(&task) else {
            return;
        };
        let (agent, def, next) = (f.agent, f.def, f.next);
        let Some(u) = scenario.frameworks[def].uris.get(next) else {
            let f = self.fetching.remove(&task).expect("fetching");
            let cache = self.cache(agent);
            for k in &f.refs {
                cache.release(k);
            }
            let took = ctx.now().saturating_duration_since(f.started).as_nanos();
            self.fetch_times.push(took);
            if self.logging {
                self.log.push(FetchRecord {
                    kind: "fetch_done",
                    task: Some(task),
                    agent,
                    uri: None,
                    bytes: None,
                    duration_ns: Some(took),
                });
            }
            ready.push(task);
            return;
        };
        let cache = self.cache(agent);
        let action = cache.request(&u.key, u.size, u.cache);
        let evicted = cache.take_evicted();
        if self.logging {
            for k in evicted {
                self.log.push(FetchRecord {
                    kind: "fetch_evict",
                    task: None,
                    agent,
                    uri: Some(key_text(&k)),
                    bytes: None,
                    duration_ns: None,
                });
            }
        }
        let kind = match action {
            FetchAction::RetrieveFromCache => "fetch_hit",
            FetchAction::DownloadAndCache => "fetch_miss",
            FetchAction::WaitForDownload => "fetch_wait",
            FetchAction::Bypass => "fetch_bypass",
        };
        self.record(kind, task, agent, Some(u));
        if action != FetchAction::Bypass {
            let f = self.fetching.get_mut(&task).expect("fetching");
            f.refs.push(u.key.clone());
        }
        match action {
            FetchAction::RetrieveFromCache => self.copy(ctx, task, u.size, u.extract),
            FetchAction::WaitForDownload => {
                let id = self.in_flight[&(agent, u.key.clone())];
                self.downloads
                    .get_mut(&id)
                    .expect("in flight")
                    .waiters
                    .push(task);
            }
            FetchAction::DownloadAndCache | FetchAction::Bypass => {
                let id = self.next_download;
                self.next_download += 1;
                let key = (action == FetchAction::DownloadAndCache).then(|| u.key.clone());
                if let Some(k) = &key {
                    self.in_flight.insert((agent, k.clone()), id);
                }
                self.downloads.insert(
                    id,
                    Download {
                        agent,
                        key,
                        bytes: u.size,
                        extract: u.extract,
                        waiters: vec![task],
                    },
                );
                let on_network = net
                    .as_mut()
                    .is_some_and(|n| n.start_download(ctx, agent, u.size, id));
                if !on_network {
                    let d = transfer_time(u.size, self.def.download_bytes_per_sec);
                    ctx.schedule_after(d, Event::Fetch(FetchEvent::Downloaded(id)));
                }
            }
        }
    }

    /// Copies (or extracts) a cached URI into the task's sandbox.
    fn copy(&mut self, ctx: &mut Context<'_, Event>, task: TaskId, bytes: u64, extract: bool) {
        self.bytes_from_cache += bytes;
        let d = self
            .sandbox_time(bytes, extract, true)
            .expect("a copy from the cache takes time");
        ctx.schedule_after(d, Event::Fetch(FetchEvent::Step(task)));
    }

    /// A download finished: completes its cache entry and moves every waiter on.
    fn downloaded(
        &mut self,
        ctx: &mut Context<'_, Event>,
        net: &mut Option<NetSim>,
        scenario: &Scenario,
        id: u64,
        ready: &mut Vec<TaskId>,
    ) {
        let Some(d) = self.downloads.remove(&id) else {
            return;
        };
        self.bytes_downloaded += d.bytes;
        if let Some(k) = &d.key {
            // Only while the entry is still this download's (an entry nobody refers to
            // any more may have been evicted and started again by a later fetch).
            if self.in_flight.get(&(d.agent, k.clone())) == Some(&id) {
                self.in_flight.remove(&(d.agent, k.clone()));
                self.cache(d.agent).download_finished(k, true);
            }
        }
        for w in d.waiters {
            if !self.fetching.contains_key(&w) {
                continue; // the task ended meanwhile
            }
            if d.key.is_some() {
                self.copy(ctx, w, d.bytes, d.extract);
            } else if let Some(t) = self.sandbox_time(d.bytes, d.extract, false) {
                ctx.schedule_after(t, Event::Fetch(FetchEvent::Step(w)));
            } else {
                self.step_done(ctx, net, scenario, w, ready);
            }
        }
    }

    fn step_done(
        &mut self,
        ctx: &mut Context<'_, Event>,
        net: &mut Option<NetSim>,
        scenario: &Scenario,
        task: TaskId,
        ready: &mut Vec<TaskId>,
    ) {
        if let Some(f) = self.fetching.get_mut(&task) {
            f.next += 1;
            self.advance(ctx, net, scenario, task, ready);
        }
    }

    /// A task ended (any state): a fetch in progress gives its references back.
    pub fn task_ended(&mut self, task: TaskId) {
        if let Some(f) = self.fetching.remove(&task) {
            let cache = self.cache(f.agent);
            for k in &f.refs {
                cache.release(k);
            }
        }
    }

    /// The metrics sample: one row per agent whose cache has been used, with its
    /// occupancy and its counters so far (warm-up excluded).
    fn sample(&mut self, now: SimTime, names: &[String]) {
        use std::fmt::Write as _;
        for (agent, c) in &self.caches {
            let (s, base) = (c.stats(), self.baseline[agent]);
            let _ = writeln!(
                self.csv,
                "{},{},{},{},{},{},{},{},{},{}",
                now.as_nanos(),
                names.get(*agent).map_or("", String::as_str),
                c.used(),
                c.len(),
                s.requests - base.requests,
                s.hits - base.hits,
                s.misses - base.misses,
                s.waits - base.waits,
                s.bypasses - base.bypasses,
                s.evictions - base.evictions,
            );
        }
    }

    /// `metrics/fetcher.csv`.
    pub fn metrics_file(&self) -> (String, String) {
        ("fetcher.csv".to_string(), self.csv.clone())
    }

    /// The `fetcher` section at the end of the run.
    pub fn summary(&self) -> FetcherSummary {
        let mut s = FetcherStats::default();
        for (agent, c) in &self.caches {
            let (now, base) = (c.stats(), self.baseline[agent]);
            s.requests += now.requests - base.requests;
            s.hits += now.hits - base.hits;
            s.misses += now.misses - base.misses;
            s.waits += now.waits - base.waits;
            s.bypasses += now.bypasses - base.bypasses;
            s.no_room += now.no_room - base.no_room;
            s.evictions += now.evictions - base.evictions;
        }
        let mut times = self.fetch_times.clone();
        times.sort_unstable();
        FetcherSummary {
            cache_size: self.def.cache_size,
            warm: self.def.warm,
            requests: s.requests,
            hits: s.hits,
            misses: s.misses,
            waits: s.waits,
            bypasses: s.bypasses,
            no_room: s.no_room,
            hit_rate: {
                // Requests with `cache = true` (a no-room bypass did look the cache up).
                let lookups = s.requests - (s.bypasses - s.no_room);
                if lookups == 0 {
                    0.0
                } else {
                    round6(s.hits as f64 / lookups as f64)
                }
            },
            bytes_downloaded: self.bytes_downloaded,
            bytes_from_cache: self.bytes_from_cache,
            evictions: s.evictions,
            fetches: times.len() as u64,
            fetch_p50_ns: percentile_sorted(&times, 50.0).unwrap_or(0),
            fetch_p99_ns: percentile_sorted(&times, 99.0).unwrap_or(0),
        }
    }
}

impl World<'_, '_> {
    /// A launch reached its agent: starts fetching the task's URIs. True when the task
    /// now waits for its fetch; false when it has nothing to fetch and runs at once.
    pub(super) fn fetch_begin(&mut self, ctx: &mut Context<'_, Event>, task: TaskId) -> bool {
        let t = &self.tasks[task.0 as usize];
        let def = self.frameworks[t.framework].def;
        let (Some(fetcher), Some(agent)) = (self.fetcher.as_mut(), t.agent) else {
            return false;
        };
        if self.scenario.frameworks[def].uris.is_empty() {
            return false;
        }
        fetcher.logging = self.log.enabled();
        fetcher.record("fetch_start", task, agent, None);
        fetcher.fetching.insert(
            task,
            TaskFetch {
                agent,
                def,
                next: 0,
                refs: Vec::new(),
                started: ctx.now(),
            },
        );
        let mut ready = Vec::new();
        fetcher.advance(ctx, &mut self.net, self.scenario, task, &mut ready);
        self.fetch_log(ctx.now());
        // Every fetch takes some time (sizes and speeds are positive), so `ready` stays
        // empty here; were it not, the task would simply run now.
        ready.is_empty()
    }

    /// A fetcher timer fired.
    pub(super) fn on_fetch(&mut self, ctx: &mut Context<'_, Event>, e: FetchEvent) {
        let Some(fetcher) = self.fetcher.as_mut() else {
            return;
        };
        let mut ready = Vec::new();
        match e {
            FetchEvent::Step(task) => {
                fetcher.step_done(ctx, &mut self.net, self.scenario, task, &mut ready)
            }
            FetchEvent::Downloaded(id) => {
                fetcher.downloaded(ctx, &mut self.net, self.scenario, id, &mut ready)
            }
        }
        self.fetched(ctx, ready);
    }

    /// Network flows finished: moves on the fetches waiting for those downloads.
    pub(super) fn fetch_downloads_done(&mut self, ctx: &mut Context<'_, Event>) {
        let ids = match self.net.as_mut() {
            Some(net) => net.take_downloaded(),
            None => return,
        };
        let Some(fetcher) = self.fetcher.as_mut() else {
            return;
        };
        let mut ready = Vec::new();
        for id in ids {
            fetcher.downloaded(ctx, &mut self.net, self.scenario, id, &mut ready);
        }
        self.fetched(ctx, ready);
    }

    /// Writes the fetcher's pending records to the event log.
    fn fetch_log(&mut self, now: SimTime) {
        let Some(f) = self.fetcher.as_mut().filter(|f| !f.log.is_empty()) else {
            return;
        };
        for r in std::mem::take(&mut f.log) {
            let framework = r
                .task
                .map(|t| self.framework_name(self.tasks[t.0 as usize].framework));
            self.log.record(LogRecord {
                t_ns: now.as_nanos(),
                kind: r.kind,
                framework,
                agent: Some(&self.agents[r.agent].name),
                task: r.task.map(|t| t.0),
                uri: r.uri.as_deref(),
                bytes: r.bytes,
                duration_ns: r.duration_ns,
                ..LogRecord::default()
            });
        }
    }

    /// The metrics sample of the fetcher caches, when the run has them.
    pub(super) fn fetcher_sample(&mut self, now: SimTime) {
        if let Some(f) = self.fetcher.as_mut() {
            let names: Vec<String> = self.agents.iter().map(|a| a.name.clone()).collect();
            f.sample(now, &names);
        }
    }

    /// Tasks whose URIs are all in their sandboxes start running.
    fn fetched(&mut self, ctx: &mut Context<'_, Event>, ready: Vec<TaskId>) {
        self.fetch_log(ctx.now());
        for task in ready {
            if self
                .tasks
                .get(task)
                .is_some_and(|t| t.state == TaskState::Staging)
            {
                self.task_running(ctx, task);
            }
        }
    }
}
