//! `mesosim live master`, `mesosim live agent` and `mesosim live certs`: live mode across hosts, agents connecting to the master over TCP with mutual TLS.

use std::path::PathBuf;
use std::time::Duration;

use analysis::table::Table;
use clap::Args;
use live::tls::TlsFiles;
use models::resources::Resources;
use scenarios::duration::parse_duration;

use crate::CmdResult;

/// The TLS flags both daemons take.
#[derive(Args)]
pub struct TlsArgs {
    /// This side's certificate (PEM), signed by --tls-ca.
    #[arg(long, value_name = "FILE")]
    tls_cert: PathBuf,
    /// This side's private key (PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: PathBuf,
    /// The CA (PEM) the other side's certificate must be signed by.
    #[arg(long, value_name = "FILE")]
    tls_ca: PathBuf,
}

impl TlsArgs {
    fn files(self) -> TlsFiles {
        TlsFiles {
            cert: self.tls_cert,
            key: self.tls_key,
            ca: self.tls_ca,
        }
    }
}

/// `mesosim live master`.
#[derive(Args)]
pub struct LiveMasterArgs {
    /// Address to listen on for agents (port 0 picks a free port; the bound address
    /// is printed as `listening on ADDR` on stderr).
    #[arg(long, default_value = "0.0.0.0:5050")]
    listen: String,
    /// Also write the bound address into this file.
    #[arg(long, value_name = "FILE")]
    listen_file: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Allocation policy: hdrf, random, fifo, bestfit.
    #[arg(long, default_value = "hdrf")]
    policy: String,
    /// Seed of the allocator's random streams.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time between allocation cycles.
    #[arg(long, default_value = "1s")]
    allocation_interval: String,
    /// Tasks to run.
    #[arg(long, default_value_t = 4)]
    tasks: u32,
    /// Each task's resources: cpus becomes its CFS quota, mem (MB) its memory limit.
    #[arg(long, default_value = "cpus:0.5;mem:64")]
    task_resources: String,
    /// The command each task runs with /bin/sh -c, in its sandbox on its agent; it
    /// sees MESOS_SANDBOX, MESOSIM_TASK_ID and MESOSIM_AGENT.
    #[arg(long, default_value = "sleep 1")]
    task_command: String,
    /// Launch nothing before this many agents registered.
    #[arg(long, default_value_t = 1)]
    min_agents: u32,
    /// Tasks still running after this long are killed (TASK_KILLED) and the run ends.
    #[arg(long, default_value = "10m")]
    timeout: String,
    /// Output directory [default: out/live-master-<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print nothing but errors and the connection log.
    #[arg(long, short)]
    quiet: bool,
    /// A URI each task's agent fetches into its sandbox before starting it
    /// (repeatable; as `live run --task-uri`: a path, file:// or http://, options
    /// `,cache`, `,executable`, `,no-extract`).
    #[arg(long = "task-uri", value_name = "URI[,OPTION...]")]
    task_uris: Vec<String>,
}

/// `mesosim live agent`.
#[derive(Args)]
pub struct LiveAgentArgs {
    /// The master's address, HOST:PORT.
    #[arg(long)]
    master: String,
    /// The name the master's certificate must carry [default: the HOST of --master].
    #[arg(long)]
    server_name: Option<String>,
    /// This agent's name, which the master accepts only if its certificate carries it
    /// [default: the first DNS name of --tls-cert, else the hostname].
    #[arg(long)]
    name: Option<String>,
    /// The resources this agent offers (Mesos notation, unreserved cpus and mem in MB).
    #[arg(long, default_value = "cpus:1;mem:256")]
    resources: String,
    #[command(flatten)]
    tls: TlsArgs,
    /// Name of the agent's cgroup, created under mesosim's own cgroup
    /// [default: mesosim-agent-<pid>].
    #[arg(long)]
    cgroup_name: Option<String>,
    /// Where task sandboxes go [default: a fresh private mesosim-agent-XXXXXX in the
    /// temporary directory, printed at start].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// How long to keep retrying the connection to the master.
    #[arg(long, default_value = "30s")]
    connect_timeout: String,
    /// Cap each task's memory plus swap at its memory limit, as Mesos's
    /// --cgroups_limit_swap (v2 memory.swap.max = 0, v1 memory.memsw.limit_in_bytes;
    /// needs swap accounting).
    #[arg(long)]
    limit_swap: bool,
    /// The fetcher cache's size, bytes (Mesos's --fetcher_cache_size).
    #[arg(long, default_value_t = models::fetcher::DEFAULT_FETCHER_CACHE_SIZE)]
    fetcher_cache_size: u64,
    /// Where the fetcher cache lives (wiped at start, kept after) [default: a fresh
    /// private directory removed when the agent ends].
    #[arg(long, value_name = "DIR")]
    fetcher_cache_dir: Option<PathBuf>,
}

/// `mesosim live certs`.
#[derive(Args)]
pub struct LiveCertsArgs {
    /// Directory to write ca.pem, master.pem, agent-<i>.pem and their keys into.
    #[arg(long)]
    out: PathBuf,
    /// A DNS name or IP address agents reach the master by (repeatable)
    /// [default: localhost and 127.0.0.1].
    #[arg(long = "master-name", value_name = "NAME")]
    master_names: Vec<String>,
    /// Agent certificates to issue.
    #[arg(long, default_value_t = 2)]
    agents: u32,
}

fn duration(flag: &str, text: &str) -> Result<sim_core::SimDuration, String> {
    parse_duration(text).map_err(|e| format!("--{flag}: {e}"))
}

fn resources(flag: &str, text: &str) -> Result<Resources, String> {
    Resources::parse(text).map_err(|e| format!("--{flag} `{text}`: {e}"))
}

/// Runs `mesosim live master`.
pub fn live_master(args: LiveMasterArgs) -> CmdResult {
    let config = live::master::MasterConfig {
        listen: args.listen,
        listen_file: args.listen_file,
        tls: args.tls.files(),
        policy: args.policy,
        seed: args.seed,
        allocation_interval: duration("allocation-interval", &args.allocation_interval)?,
        tasks: args.tasks,
        task_resources: resources("task-resources", &args.task_resources)?,
        task_command: args.task_command,
        min_agents: args.min_agents,
        timeout: duration("timeout", &args.timeout)?,
        out: args
            .out
            .unwrap_or_else(|| PathBuf::from(format!("out/live-master-{}", args.seed))),
        task_uris: crate::cmd_live::task_uris(&args.task_uris)?,
    };
    let summary = live::master::run_master(&config)?;
    if !args.quiet {
        let t = &summary.tasks;
        let mut table = Table::new(["figure", "value"]);
        table
            .row(["agents".to_string(), summary.agents.len().to_string()])
            .row(["tasks launched".to_string(), t.launched.to_string()])
            .row(["tasks finished".to_string(), t.finished.to_string()])
            .row(["tasks failed".to_string(), t.failed.to_string()])
            .row(["tasks killed".to_string(), t.killed.to_string()])
            .row(["tasks lost".to_string(), t.lost.unwrap_or(0).to_string()])
            .row([
                "wall time".to_string(),
                format!("{:.2} s", summary.wall_ns as f64 / 1e9),
            ]);
        print!("{}", table.render());
        println!("output: {}", config.out.display());
    }
    Ok(())
}

/// The host part of `HOST:PORT` (brackets of an IPv6 literal removed).
fn host_of(addr: &str) -> String {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h,
        None => addr,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// The first DNS name of the agent's certificate (the name `live certs` gave it), or
/// the hostname when it has none. An unreadable certificate also falls back: its error
/// comes with the TLS set-up, after the flags are checked.
fn default_agent_name(tls: &live::tls::TlsFiles) -> String {
    tls.own_dns_names()
        .ok()
        .and_then(|names| names.into_iter().next())
        .unwrap_or_else(hostname)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Runs `mesosim live agent`.
pub fn live_agent(args: LiveAgentArgs) -> CmdResult {
    let pid = std::process::id();
    let connect = duration("connect-timeout", &args.connect_timeout)?;
    let tls = args.tls.files();
    let config = live::agent::AgentConfig {
        server_name: args.server_name.unwrap_or_else(|| host_of(&args.master)),
        master: args.master,
        name: match args.name {
            Some(name) => name,
            None => default_agent_name(&tls),
        },
        resources: resources("resources", &args.resources)?,
        tls: tls.clone(),
        cgroup_name: args
            .cgroup_name
            .unwrap_or_else(|| format!("mesosim-agent-{pid}")),
        work_dir: args.work_dir,
        connect_timeout: Duration::from_nanos(connect.as_nanos()),
        fetcher_cache_size: args.fetcher_cache_size,
        fetcher_cache_dir: args.fetcher_cache_dir,
        limit_swap: args.limit_swap,
    };
    // Bad flags are reported before the host is looked at.
    config.validate()?;
    let base = live::cgroup::detect_host()?;
    let outcome = live::agent::run_agent(&config, &base)?;
    eprintln!(
        "agent {} shut down by the master ({}): {} tasks started",
        outcome.agent_id, outcome.reason, outcome.tasks_started
    );
    Ok(())
}

/// Runs `mesosim live certs`.
pub fn live_certs(args: LiveCertsArgs) -> CmdResult {
    let master_names = if args.master_names.is_empty() {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        args.master_names
    };
    let files = live::certs::write_certs(&live::certs::CertsConfig {
        out: args.out,
        master_names,
        agents: args.agents,
    })?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_host_of_the_address() {
        assert_eq!(host_of("localhost:5050"), "localhost");
        assert_eq!(host_of("10.1.2.3:5050"), "10.1.2.3");
        assert_eq!(host_of("[::1]:5050"), "::1");
        assert_eq!(host_of("master"), "master");
    }
}
