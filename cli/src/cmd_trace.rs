//! `mesosim trace inspect|convert|synth`: look into public cluster traces, turn them
//! into mesosim's compact workload format, or make a synthetic one.

use std::fs;
use std::io::BufWriter;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use traces::compact::{convert, CompactWriter};
use traces::{ReadOptions, TraceFormat};

use crate::CmdResult;

/// `mesosim trace`.
#[derive(Args)]
pub struct TraceArgs {
    #[command(subcommand)]
    command: TraceCommand,
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Stream a trace and report rows, bad rows, time range, machines, jobs, tasks,
    /// event types and resource totals.
    Inspect(InspectArgs),
    /// Convert a trace to mesosim's compact workload format (replays faster than CSV).
    Convert(ConvertArgs),
    /// Write a synthetic workload with the statistical shape of Google 2011.
    Synth(SynthArgs),
}

/// Which trace files and how to read them.
#[derive(Args)]
struct Input {
    /// Trace format: google2011, google2019, alibaba2018, swf.
    #[arg(long)]
    format: TraceFormat,
    /// Trace files or directories (several part files are read as one stream).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Read every file as this table instead of recognising it from its name.
    #[arg(long)]
    table: Option<String>,
    /// Skip bad rows (and report how many, of which kinds) instead of stopping.
    #[arg(long)]
    lenient: bool,
}

impl Input {
    fn options(&self) -> ReadOptions {
        ReadOptions {
            table: self.table.clone(),
            lenient: self.lenient,
        }
    }
}

#[derive(Args)]
struct InspectArgs {
    #[command(flatten)]
    input: Input,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ConvertArgs {
    #[command(flatten)]
    input: Input,
    /// The compact file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct SynthArgs {
    /// Machines in the synthetic cell.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    machines: u32,
    /// Days of workload.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The compact file to write.
    #[arg(long)]
    out: PathBuf,
}

/// `mesosim trace`.
pub fn run(args: TraceArgs) -> CmdResult {
    match args.command {
        TraceCommand::Inspect(a) => {
            let report = traces::inspect(a.input.format, &a.input.paths, &a.input.options())?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            Ok(())
        }
        TraceCommand::Convert(a) => {
            let reader = traces::open(a.input.format, &a.input.paths, &a.input.options())?;
            let records = write_compact(&a.out, |file| {
                let (writer, summary) = convert(reader, BufWriter::new(file))?;
                writer
                    .into_inner()
                    .map_err(|e| e.into_error())?
                    .sync_all()?;
                Ok(summary.records)
            })?;
            println!("{}: {records} records", a.out.display());
            Ok(())
        }
        TraceCommand::Synth(a) => {
            let records = write_compact(&a.out, |file| {
                let workload = traces::synth(a.machines, a.days, a.seed);
                let mut writer =
                    CompactWriter::new(BufWriter::new(file), &workload.compact_metadata())?;
                for record in workload {
                    writer.write(&record)?;
                }
                let count = writer.count();
                writer
                    .finish()?
                    .into_inner()
                    .map_err(|e| e.into_error())?
                    .sync_all()?;
                Ok(count)
            })?;
            println!(
                "{}: {records} records ({} machines, {} days, seed {})",
                a.out.display(),
                a.machines,
                a.days,
                a.seed
            );
            Ok(())
        }
    }
}

/// Writes through a temporary sibling and renames it into place only on success.
fn write_compact(
    out: &std::path::Path,
    body: impl FnOnce(fs::File) -> Result<u64, Box<dyn std::error::Error + Send + Sync>>,
) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut name = std::ffi::OsString::from(".");
    name.push(
        out.file_name()
            .ok_or_else(|| format!("{} is not a file path", out.display()))?,
    );
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = out.with_file_name(name);
    let file =
        fs::File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    match body(file) {
        Ok(n) => {
            fs::rename(&tmp, out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}
