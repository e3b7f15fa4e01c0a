//! The network in a running simulation: one container per running task, the task's
//! transfers as flows of [`models::network::Network`], one engine timer at the next
//! flow completion, the simulated `/monitor/statistics` and the `network` summary.
//!
//! Present only when the scenario has a `[network]` table; without it the world
//! schedules nothing here and behaves exactly as before.

use std::collections::BTreeMap;

use analysis::stats::percentile_sorted;
use models::network::{ContainerId, ContainerStats, Endpoint, FlowId, FlowSpec, Network, Node};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sim_core::engine::{Context, TimerId};
use sim_core::rng::SimRng;
use sim_core::time::{SimDuration, SimTime};

use super::control::{ControlStats, ControlSummary};
use super::events::Event;
use super::ids::TaskId;
use crate::scenario::{NetworkDef, Scenario, Transfers};

/// The `network` section of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSummary {
    /// Flows completed.
    pub flows: u64,
    /// Bytes moved by completed flows.
    pub bytes_moved: u64,
    /// Mean flow completion time (start to last byte received), ns.
    pub fct_mean_ns: u64,
    /// 99th percentile (nearest rank) flow completion time, ns.
    pub fct_p99_ns: u64,
    /// Per framework with network traffic.
    pub frameworks: Vec<NetworkFrameworkSummary>,
    /// The most utilized links (bytes carried / capacity × run time), up to 5.
    pub busiest_links: Vec<LinkUtilization>,
    /// Containers created.
    pub containers: u64,
    /// Containers whose egress limit was the bottleneck of a flow at some point.
    pub containers_egress_capped: u64,
    /// `--egress_rate_limit_per_container` in force, bytes/s (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_rate_limit_per_container: Option<u64>,
    /// Tasks that failed to launch because their agent ran out of ephemeral ports.
    pub launch_failures: u64,
    /// The first such failure's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_launch_failure: Option<String>,
    /// Control messages over the topology: offer and status-update latencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlSummary>,
}

/// One framework's flows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkFrameworkSummary {
    /// Framework name.
    pub name: String,
    /// Flows completed.
    pub flows: u64,
    /// Mean flow completion time, ns.
    pub fct_mean_ns: u64,
    /// Median flow completion time, ns.
    pub fct_p50_ns: u64,
    /// 99th percentile flow completion time, ns.
    pub fct_p99_ns: u64,
}

/// One link's utilization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkUtilization {
    /// `from->to`, e.g. `agent3->core`.
    pub link: String,
    /// Mean fraction of capacity used over the run (6 decimals).
    pub utilization: f64,
}

struct TaskNet {
    container: ContainerId,
    framework: usize,
    agent: u32,
    /// Batch transfers still moving.
    pending: u32,
    /// The task's work is done and it waits for its transfers.
    work_done: bool,
}

/// The network side of the world.
pub(crate) struct NetSim {
    net: Network,
    egress_limit: Option<u64>,
    rng: SimRng,
    tasks: BTreeMap<TaskId, TaskNet>,
    /// Per flow: its task, one-way latency, and whether the task waits for it.
    flows: BTreeMap<FlowId, (TaskId, SimDuration, bool)>,
    timer: Option<(SimTime, TimerId)>,
    fct: Vec<Vec<u64>>,
    bytes_moved: u64,
    containers: u64,
    capped: u64,
    launch_failures: u64,
    first_failure: Option<String>,
    csv: String,
    /// Fetcher downloads moving as flows: flow → the fetcher's download id.
    downloads: BTreeMap<FlowId, u64>,
    /// Downloads whose last byte arrived during the latest completion.
    downloaded: Vec<u64>,
    /// Control messages priced over the topology (see `sim/control.rs`).
    pub(super) control: ControlStats,
}

impl NetSim {
    pub fn new(def: &NetworkDef, frameworks: usize, rng: SimRng) -> NetSim {
        NetSim {
            net: Network::new(def.config.clone()).expect("validated with the scenario"),
            egress_limit: def.egress_rate_limit_per_container,
            rng,
            tasks: BTreeMap::new(),
            flows: BTreeMap::new(),
            timer: None,
            fct: vec![Vec::new(); frameworks],
            bytes_moved: 0,
            containers: 0,
            capped: 0,
            launch_failures: 0,
            first_failure: None,
            csv: "t_ns,task,framework,agent,net_tx_bytes,net_tx_packets,net_rx_bytes,\
                  net_rx_packets,net_tx_dropped,egress_capped_ns\n"
                .to_string(),
            downloads: BTreeMap::new(),
            downloaded: Vec::new(),
            control: ControlStats::new(def.schedulers),
        }
    }

    /// Agents the topology knows.
    pub fn agent_count(&self) -> u32 {
        self.net.topology().agent_count()
    }

    /// A control message's delay between two hosts of the topology.
    pub fn message_delay(&self, src: Node, dst: Node, bytes: u64) -> SimDuration {
        self.net
            .message_delay(src, dst, bytes)
            .expect("control endpoints are hosts of the topology")
    }

    /// A random agent other than `agent` (the same one in a one-agent cluster).
    fn peer(&mut self, agent: u32) -> Endpoint {
        let n = self.net.topology().agent_count();
        let other = if n > 1 {
            (agent + self.rng.random_range(1..n)) % n
        } else {
            agent
        };
        Endpoint::Host(Node::Agent(other))
    }

    /// A task starts on `agent`: creates its container and starts its batch transfers
    /// (input read, shuffle, output write, all at once). Returns an error message when
    /// the agent has no ephemeral ports left for another container.
    pub fn task_started(
        &mut self,
        ctx: &mut Context<'_, Event>,
        task: TaskId,
        framework: usize,
        agent: usize,
        transfers: &Transfers,
    ) -> Result<(), String> {
        let now = ctx.now();
        let Ok(agent) = u32::try_from(agent) else {
            return Ok(());
        };
        if agent >= self.net.topology().agent_count() {
            return Ok(()); // an agent the topology does not know (not modelled)
        }
        let container = match self.net.add_container(agent, self.egress_limit) {
            Ok(c) => c,
            Err(e) => {
                self.launch_failures += 1;
                let message = e.to_string();
                self.first_failure.get_or_insert_with(|| message.clone());
                return Err(message);
            }
        };
        self.containers += 1;
        let me = Endpoint::Container(container);
        let mut specs = Vec::new();
        let flow = |src, dst, bytes| FlowSpec {
            src,
            dst,
            bytes,
            cap: None,
        };
        if transfers.input_bytes > 0 {
            let src = self.peer(agent);
            specs.push(flow(src, me, transfers.input_bytes));
        }
        if transfers.shuffle_bytes > 0 {
            let n = transfers.shuffle_flows.max(1);
            for i in 0..n {
                // Split evenly; the first flows carry the remainder.
                let part = transfers.shuffle_bytes / n + u64::from(i < transfers.shuffle_bytes % n);
                let dst = self.peer(agent);
                if part > 0 {
                    specs.push(flow(me, dst, part));
                }
            }
        }
        if transfers.output_bytes > 0 {
            let dst = self.peer(agent);
            specs.push(flow(me, dst, transfers.output_bytes));
        }
        self.tasks.insert(
            task,
            TaskNet {
                container,
                framework,
                agent,
                pending: 0,
                work_done: false,
            },
        );
        self.start(ctx, task, &specs, true);
        if transfers.request_bytes > 0 {
            if let Some(interval) = transfers.request_interval {
                // A random phase keeps instances from answering in lockstep.
                let phase = self.rng.random_range(0..interval.as_nanos().max(1));
                ctx.schedule_at(
                    now + SimDuration::from_nanos(phase),
                    Event::ServiceRequest(task),
                );
            }
        }
        Ok(())
    }

    fn start(
        &mut self,
        ctx: &mut Context<'_, Event>,
        task: TaskId,
        specs: &[FlowSpec],
        holds: bool,
    ) {
        let now = ctx.now();
        let results = self.net.start_flows(now, specs);
        for (spec, r) in specs.iter().zip(results) {
            // A refused connection (no ephemeral port) is counted in tx_dropped.
            if let Ok(id) = r {
                let latency = self
                    .net
                    .latency(spec.src, spec.dst)
                    .expect("endpoints were just resolved");
                self.flows.insert(id, (task, latency, holds));
                if let Some(t) = self.tasks.get_mut(&task).filter(|_| holds) {
                    t.pending += 1;
                }
            }
        }
        self.reschedule(ctx);
    }

    /// A service instance's next response is due: sends it and schedules the next.
    pub fn on_service_request(
        &mut self,
        ctx: &mut Context<'_, Event>,
        task: TaskId,
        transfers: &Transfers,
    ) {
        let Some(t) = self.tasks.get(&task) else {
            return; // the task ended
        };
        let spec = FlowSpec {
            src: Endpoint::Container(t.container),
            dst: Endpoint::Host(Node::Clients),
            bytes: transfers.request_bytes,
            cap: None,
        };
        // Responses do not hold the task: a service never waits for them to end.
        self.start(ctx, task, &[spec], false);
        if let Some(interval) = transfers.request_interval {
            ctx.schedule_after(interval, Event::ServiceRequest(task));
        }
    }

    /// Keeps one engine timer at the next completion.
    fn reschedule(&mut self, ctx: &mut Context<'_, Event>) {
        let next = self.net.next_completion();
        if self.timer.map(|(t, _)| t) == next {
            return;
        }
        if let Some((_, id)) = self.timer.take() {
            ctx.cancel(id);
        }
        if let Some(t) = next {
            let id = ctx.schedule_at(t.max(ctx.now()), Event::NetworkCompletion);
            self.timer = Some((t, id));
        }
    }

    /// The completion timer fired: completes the due flows and returns the tasks whose
    /// work was done and whose last transfer just finished.
    pub fn on_completion(&mut self, ctx: &mut Context<'_, Event>) -> Vec<TaskId> {
        let now = ctx.now();
        self.timer = None;
        let mut ready = Vec::new();
        for done in self.net.advance(now) {
            self.bytes_moved += done.bytes;
            if let Some(download) = self.downloads.remove(&done.id) {
                self.downloaded.push(download);
                continue;
            }
            let Some((task, latency, holds)) = self.flows.remove(&done.id) else {
                continue;
            };
            let Some(t) = self.tasks.get_mut(&task) else {
                continue;
            };
            let fct = done.end.saturating_duration_since(done.start) + latency;
            self.fct[t.framework].push(fct.as_nanos());
            if holds {
                t.pending = t.pending.saturating_sub(1);
                if t.pending == 0 && t.work_done {
                    ready.push(task);
                }
            }
        }
        self.reschedule(ctx);
        ready
    }

    /// Starts a fetcher download of `bytes` from the artifact server to `agent`'s
    /// host; false when the topology does not know the agent (the caller times the
    /// download itself then). Its end is reported by [`NetSim::take_downloaded`].
    pub fn start_download(
        &mut self,
        ctx: &mut Context<'_, Event>,
        agent: usize,
        bytes: u64,
        download: u64,
    ) -> bool {
        let Some(agent) = u32::try_from(agent)
            .ok()
            .filter(|a| *a < self.net.topology().agent_count())
        else {
            return false;
        };
        let spec = FlowSpec {
            src: Endpoint::Host(Node::ArtifactServer),
            dst: Endpoint::Host(Node::Agent(agent)),
            bytes,
            cap: None,
        };
        let Ok(id) = self.net.start_flow(ctx.now(), spec) else {
            return false;
        };
        self.downloads.insert(id, download);
        self.reschedule(ctx);
        true
    }

    /// The fetcher downloads that finished since the last call.
    pub fn take_downloaded(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.downloaded)
    }

    /// The task's work is done: true if it may complete now, false if it waits for
    /// transfers.
    pub fn work_done(&mut self, task: TaskId) -> bool {
        match self.tasks.get_mut(&task) {
            Some(t) if t.pending > 0 => {
                t.work_done = true;
                false
            }
            _ => true,
        }
    }

    /// The task ended (any state): removes its container and aborts its flows.
    pub fn task_ended(&mut self, ctx: &mut Context<'_, Event>, task: TaskId) {
        let now = ctx.now();
        let Some(t) = self.tasks.remove(&task) else {
            return;
        };
        let (stats, aborted) = self
            .net
            .remove_container(now, t.container)
            .expect("a running task's container is registered");
        for f in aborted {
            self.flows.remove(&f);
        }
        if stats.egress_capped_ns > 0 {
            self.capped += 1;
        }
        self.row(now, task, t.framework, t.agent, &stats);
        self.reschedule(ctx);
    }

    fn row(
        &mut self,
        now: SimTime,
        task: TaskId,
        framework: usize,
        agent: u32,
        s: &ContainerStats,
    ) {
        use std::fmt::Write as _;
        let _ = writeln!(
            self.csv,
            "{},{},{},{},{},{},{},{},{},{}",
            now.as_nanos(),
            task.0,
            framework,
            agent,
            s.tx_bytes,
            s.tx_packets,
            s.rx_bytes,
            s.rx_packets,
            s.tx_dropped,
            s.egress_capped_ns
        );
    }

    /// The metrics sample: one row per running container.
    pub fn sample(&mut self, now: SimTime) {
        self.net.settle_all(now);
        let rows: Vec<(TaskId, usize, u32, ContainerStats)> = self
            .tasks
            .iter()
            .filter_map(|(&id, t)| {
                Some((
                    id,
                    t.framework,
                    t.agent,
                    self.net.container_stats(t.container, now)?,
                ))
            })
            .collect();
        for (id, framework, agent, stats) in rows {
            self.row(now, id, framework, agent, &stats);
        }
    }

    /// `metrics/network_containers.csv`.
    pub fn metrics_file(&self) -> (String, String) {
        ("network_containers.csv".to_string(), self.csv.clone())
    }

    /// The `network` section at the end of the run.
    pub fn summary(&mut self, scenario: &Scenario, end: SimTime) -> NetworkSummary {
        self.net.settle_all(end);
        let mut all: Vec<u64> = self.fct.iter().flatten().copied().collect();
        all.sort_unstable();
        let mean = |v: &[u64]| {
            if v.is_empty() {
                0
            } else {
                (v.iter().map(|&x| u128::from(x)).sum::<u128>() / v.len() as u128) as u64
            }
        };
        let frameworks = self
            .fct
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(i, v)| {
                let mut v = v.clone();
                v.sort_unstable();
                NetworkFrameworkSummary {
                    name: scenario.frameworks[i].name.clone(),
                    flows: v.len() as u64,
                    fct_mean_ns: mean(&v),
                    fct_p50_ns: percentile_sorted(&v, 50.0).unwrap_or(0),
                    fct_p99_ns: percentile_sorted(&v, 99.0).unwrap_or(0),
                }
            })
            .collect();
        let secs = end.as_secs_f64().max(1e-9);
        let mut links: Vec<(u64, u64, String)> = self
            .net
            .link_stats()
            .into_iter()
            .filter_map(|l| {
                let cap = l.capacity?;
                let name = format!("{}->{}", node_name(l.from), node_name(l.to));
                // Sort key: bytes per capacity in parts per billion (integer, stable).
                let ppb = (u128::from(l.bytes) * 1_000_000_000 / u128::from(cap)) as u64;
                Some((ppb, l.bytes, name)).filter(|_| l.bytes > 0)
            })
            .collect();
        links.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
        let busiest_links = links
            .into_iter()
            .take(5)
            .map(|(ppb, _, link)| LinkUtilization {
                link,
                utilization: round6(ppb as f64 / 1e9 / secs),
            })
            .collect();
        let still_capped = self
            .tasks
            .values()
            .filter(|t| {
                self.net
                    .container_stats(t.container, end)
                    .is_some_and(|s| s.egress_capped_ns > 0)
            })
            .count() as u64;
        NetworkSummary {
            flows: all.len() as u64,
            bytes_moved: self.bytes_moved,
            fct_mean_ns: mean(&all),
            fct_p99_ns: percentile_sorted(&all, 99.0).unwrap_or(0),
            frameworks,
            busiest_links,
            containers: self.containers,
            containers_egress_capped: self.capped + still_capped,
            egress_rate_limit_per_container: self.egress_limit,
            launch_failures: self.launch_failures,
            first_launch_failure: self.first_failure.clone(),
            control: Some(self.control.summary()),
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn node_name(n: Node) -> String {
    match n {
        Node::Agent(i) => format!("agent{i}"),
        Node::ArtifactServer => "artifact-server".to_string(),
        Node::Master => "master".to_string(),
        Node::Tor(r) => format!("tor{r}"),
        Node::Core => "core".to_string(),
        Node::Clients => "clients".to_string(),
    }
}
