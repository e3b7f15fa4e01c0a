//! Replay at scale: the synthetic Google-2011-shaped workload (`traces::synth`) of N
//! machines over D days replayed end to end under `hdrf`, reported as wall seconds and
//! simulated events per second. The baseline of the same run is generating the same
//! records without simulating them, so the ratio says what the simulation itself costs
//! on top of producing its input.

use std::time::Instant;

use scenarios::sim::{self, replay::ReplayConfig, ReplayOptions, RunOptions};
use serde::Serialize;
use sim_core::time::{SimDuration, SimTime};

/// What to replay.
#[derive(Clone, Debug)]
pub struct ReplayBenchOptions {
    /// Machines of the synthetic cell.
    pub machines: u32,
    /// Days of workload.
    pub days: u32,
    /// Seed of the generator and of the simulation.
    pub seed: u64,
    /// Stop the replay after this much simulated time (the CI suite's smoke run);
    /// `None` replays every day.
    pub cut_after: Option<SimDuration>,
}

/// The figures of one replay (the JSON object `mesosim bench replay --json` writes;
/// the CLI adds `peak_rss_bytes`, which only the process can know).
#[derive(Clone, Debug, Serialize)]
pub struct ReplayBenchRecord {
    /// Machines of the synthetic cell.
    pub machines: u32,
    /// Days of workload.
    pub days: u32,
    /// Tasks submitted to the simulated cluster.
    pub tasks: u64,
    /// Trace records replayed.
    pub records: u64,
    /// Simulation events handled.
    pub events: u64,
    /// Wall seconds of the replay, generating the workload included.
    pub wall_s: f64,
    /// `events / wall_s`.
    pub events_per_sec: f64,
    /// Simulated seconds per wall second.
    pub simulated_per_wall: f64,
    /// Wall seconds to generate the same records without simulating them (baseline).
    pub generate_only_s: f64,
    /// `wall_s / generate_only_s`.
    pub ratio_to_generate_only: f64,
    /// Offers the master made (the cost driver of large replays).
    pub offers: u64,
    /// Allocation cycles run.
    pub allocation_cycles: u64,
    /// Peak resident memory of the process in bytes, where the OS reports it.
    pub peak_rss_bytes: Option<u64>,
}

/// Generates and replays the workload; `progress` sees simulated time as it advances.
pub fn run(
    options: &ReplayBenchOptions,
    progress: &mut dyn FnMut(SimTime),
) -> Result<ReplayBenchRecord, sim::RunError> {
    let generate_started = Instant::now();
    let records = traces::synth(options.machines, options.days, options.seed).count() as u64;
    let generate_only_s = generate_started.elapsed().as_secs_f64();

    let started = Instant::now();
    // `sim::replay` generates it on another thread, as `mesosim replay` parses a trace.
    let workload = traces::synth(options.machines, options.days, options.seed).map(Ok);
    let output = sim::replay(
        Box::new(workload),
        ReplayOptions {
            name: format!("bench-replay-{}x{}d", options.machines, options.days),
            config: ReplayConfig::default(),
            duration: options.cut_after,
            run: RunOptions {
                seed: Some(options.seed),
                progress: Some(progress),
                ..RunOptions::default()
            },
        },
    )?;
    let wall_s = started.elapsed().as_secs_f64();
    let summary = &output.summary;
    Ok(ReplayBenchRecord {
        machines: options.machines,
        days: options.days,
        tasks: summary.tasks.submitted,
        records,
        events: summary.events,
        wall_s,
        events_per_sec: summary.events as f64 / wall_s,
        simulated_per_wall: summary.sim_end_ns as f64 / 1e9 / wall_s,
        generate_only_s,
        ratio_to_generate_only: wall_s / generate_only_s,
        offers: summary.allocator.offers,
        allocation_cycles: summary.allocator.cycles,
        peak_rss_bytes: None,
    })
}

/// The record as a readable table.
pub fn render_table(r: &ReplayBenchRecord) -> String {
    let rss = r
        .peak_rss_bytes
        .map(|b| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64))
        .unwrap_or_else(|| "n/a".to_string());
    format!(
        "replay of {} machines x {} days: {} tasks, {} records, {} events\n\
         wall {:.2}s ({:.0} events/s, {:.0} simulated s per wall s), peak memory {}\n\
         generating the records alone: {:.2}s (replay = {:.1}x that)\n\
         offers {}, allocation cycles {}\n",
        r.machines,
        r.days,
        r.tasks,
        r.records,
        r.events,
        r.wall_s,
        r.events_per_sec,
        r.simulated_per_wall,
        rss,
        r.generate_only_s,
        r.ratio_to_generate_only,
        r.offers,
        r.allocation_cycles,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small replay's figures agree with each other and with the workload generated.
    #[test]
    fn small_replay_reports_consistent_figures() {
        let options = ReplayBenchOptions {
            machines: 20,
            days: 1,
            seed: 3,
            cut_after: Some(SimDuration::from_secs(6 * 3600)),
        };
        let mut last = SimTime::ZERO;
        let r = run(&options, &mut |t| last = t).expect("replay");
        assert_eq!(r.records, traces::synth(20, 1, 3).count() as u64);
        assert!(r.tasks > 0 && r.events > r.tasks, "{r:?}");
        assert!(r.offers > 0 && r.allocation_cycles > 0, "{r:?}");
        assert!(last > SimTime::ZERO, "progress never reported");
        assert!(
            last <= SimTime::from_secs(6 * 3600),
            "ran past the cut: {last:?}"
        );
        assert!(render_table(&r).contains("20 machines x 1 days"));
    }
}
