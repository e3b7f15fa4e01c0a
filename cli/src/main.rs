//! The `mesosim` command-line interface: parses flags with clap, calls the library
//! crates, prints results. Errors print one line with their cause chain and exit 2
//! (a benchmark regression found by `bench --baseline` exits 1).

// The flags' doc comments are their `--help` text, which clap prints as written:
// `out/<scenario>-<seed>` there is a placeholder for the user, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

mod cmd_bench;
mod cmd_live;
mod cmd_live_net;
mod cmd_run;
mod cmd_sweep;
mod cmd_trace;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A deterministic discrete-event simulator and testbed for Apache Mesos clusters.
#[derive(Parser)]
#[command(name = "mesosim", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario (the built-in quickstart when no file is given).
    Run(cmd_run::RunArgs),
    /// Check a scenario file and describe it, without running it.
    Validate(cmd_run::ValidateArgs),
    /// Run a scenario under several allocation policies and seeds, side by side.
    Compare(cmd_run::CompareArgs),
    /// Run benchmarks and print their figures (optionally as JSON).
    Bench(cmd_bench::BenchArgs),
    /// Replay a cluster trace under an allocation policy.
    Replay(cmd_run::ReplayArgs),
    /// Inspect, convert or synthesise cluster traces (Google 2011/2019, Alibaba 2018, SWF).
    Trace(cmd_trace::TraceArgs),
    /// Run a scenario over a grid of settings × policies × seeds, whole or one shard.
    Sweep(cmd_sweep::SweepArgs),
    /// Join the shards of a sweep into the files one machine would have written.
    Merge(cmd_sweep::MergeArgs),
    /// Live mode on this host: the simulator's allocator driving real processes in cgroups.
    Live(cmd_live::LiveArgs),
}

/// What every command returns: an error with its cause chain.
pub type CmdResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cmd_run::run(args),
        Command::Validate(args) => cmd_run::validate(args),
        Command::Compare(args) => cmd_run::compare(args),
        Command::Bench(args) => cmd_bench::run(args),
        Command::Trace(args) => cmd_trace::run(args),
        Command::Replay(args) => cmd_run::replay(args),
        Command::Sweep(args) => cmd_sweep::sweep(args),
        Command::Merge(args) => cmd_sweep::merge(args),
        Command::Live(args) => cmd_live::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut line = format!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{line}");
            if e.downcast_ref::<cmd_bench::Regressed>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}
