//! `mesosim live agent`: connects to a live master over mutual TLS, registers its resources, runs the tasks it is sent as real processes in per-task cgroups, reports their states, and removes every cgroup and process on Shutdown, SIGINT/SIGTERM or loss of the master.
//!
//! One thread does everything: the socket has a short read timeout, and each turn of
//! the loop reads what arrived (see [`crate::wire::FrameReader`]), polls the tasks for
//! exits, sends a heartbeat when one is due and checks the signal flag. The cgroup tree
//! is `<this process's cgroup>/<cgroup_name>/<task id>`; sandboxes are
//! `<work_dir>/<task id>` and are kept.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use models::resources::Resources;
use thiserror::Error;

use crate::batch::{check_resources, limits_for};
use crate::cgroup::{Cgroup, CgroupError, CgroupGuard};
use crate::fetcher::{FetchJob, FetchWorker, Fetcher, TaskUri};
use crate::process::{Exit, TaskEnv, TaskProcess};
use crate::signals::Interrupts;
use crate::tls::{self, ClientStream, TlsError, TlsFiles};
use crate::wire::{
    self, FrameReader, Message, TaskState, WireError, HEARTBEAT_INTERVAL, PEER_TIMEOUT,
    PROTOCOL_VERSION,
};

/// How long one turn of the loop waits for bytes from the master.
const READ_TICK: Duration = Duration::from_millis(20);

/// How long the master has to answer `Register`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// What an agent runs with.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The master's address, `host:port`.
    pub master: String,
    /// The name the master's certificate must carry (the host part of `master`
    /// unless given).
    pub server_name: String,
    /// The agent's name (its hostname unless given).
    pub name: String,
    /// What it offers (unreserved `cpus` and `mem`).
    pub resources: Resources,
    /// Its certificate, key and the CA.
    pub tls: TlsFiles,
    /// Its cgroup, created under this process's own cgroup.
    pub cgroup_name: String,
    /// Where task sandboxes go; `None`: a fresh private directory (mode 0700) under
    /// the system's temporary directory.
    pub work_dir: Option<PathBuf>,
    /// How long to keep retrying the connection to the master.
    pub connect_timeout: Duration,
    /// Cap each task's memory plus swap at its memory limit (Mesos's
    /// `--cgroups_limit_swap`; off by default, as there).
    pub limit_swap: bool,
    /// The fetcher cache's size, bytes (`--fetcher_cache_size`).
    pub fetcher_cache_size: u64,
    /// Where the fetcher cache lives (wiped at start, kept after); `None`: a fresh
    /// private directory removed when the agent ends.
    pub fetcher_cache_dir: Option<PathBuf>,
}

/// Why an agent stopped with an error.
#[derive(Debug, Error)]
pub enum AgentError {
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// TLS could not be set up, or the handshake failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A cgroup could not be created, limited or removed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The master could not be reached in time.
    #[error("cannot connect to master {master} within {secs} s: {detail}")]
    Connect {
        /// The address.
        master: String,
        /// The time allowed.
        secs: u64,
        /// The last error.
        detail: String,
    },
    /// The master refused the registration.
    #[error("master {master} refused registration: {reason}")]
    Refused {
        /// The address.
        master: String,
        /// Its reason.
        reason: String,
    },
    /// The connection to the master failed or carried something bad: the tasks were
    /// killed and the cgroups removed.
    #[error("lost the master: {0}; tasks killed, cgroups removed")]
    MasterLost(WireError),
    /// SIGINT or SIGTERM arrived.
    #[error("interrupted by {0}: tasks killed, cgroups removed")]
    Interrupted(String),
    /// Signal handling could not be set up.
    #[error("cannot set up signal handling: {0}")]
    Signals(io::Error),
    /// A sandbox could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// How a clean run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentOutcome {
    /// The id the master gave this agent.
    pub agent_id: u32,
    /// Tasks it started.
    pub tasks_started: u64,
    /// The master's reason for the Shutdown.
    pub reason: String,
}

/// True for a task id (or agent name) usable as a directory name: 1 to 64 of
/// `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn task_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl AgentConfig {
    /// Checks the settings before anything is created.
    pub fn validate(&self) -> Result<(), AgentError> {
        check_resources("--resources", &self.resources).map_err(AgentError::Config)?;
        let name_ok = !self.cgroup_name.is_empty()
            && self.cgroup_name != "."
            && self.cgroup_name != ".."
            && !self.cgroup_name.contains('/');
        if !name_ok {
            return Err(AgentError::Config(format!(
                "--cgroup-name `{}` must be one path component",
                self.cgroup_name
            )));
        }
        if !task_id_ok(&self.name) {
            return Err(AgentError::Config(format!(
                "--name `{}` must be 1-64 of [A-Za-z0-9._-]",
                self.name
            )));
        }
        Ok(())
    }
}

struct Task {
    id: String,
    resources: Resources,
    // Field order is drop order: the process group dies before its cgroup is removed.
    process: TaskProcess,
    cgroup: CgroupGuard,
}

impl Task {
    /// Kills its process group and removes its cgroup; returns its id and resources.
    fn stop(self) -> (String, Resources) {
        let Task {
            id,
            resources,
            mut process,
            cgroup,
        } = self;
        process.kill();
        // A cgroup that will not go (a process stuck in the kernel) is reported, not
        // fatal: the other tasks keep running and the master hears how this one ended.
        if let Err(e) = cgroup.remove() {
            eprintln!("warning: {id}: {e}");
        }
        (id, resources)
    }
}

/// A task whose URIs are being fetched: its resources are held meanwhile.
struct Fetching {
    id: String,
    resources: Resources,
    command: String,
}

struct Agent<'a> {
    config: &'a AgentConfig,
    /// Where task sandboxes go (`config.work_dir`, or the fresh directory made for it).
    work_dir: PathBuf,
    cgroup: &'a CgroupGuard,
    stream: ClientStream,
    reader: FrameReader,
    running: Vec<Task>,
    ended: Vec<String>,
    used: Resources,
    started: u64,
    last_heard: Instant,
    last_sent: Instant,
    /// Started at the first task with URIs.
    fetcher: Option<FetchWorker>,
    fetching: Vec<Fetching>,
    /// The fetcher cache's temporary directory, when no `fetcher_cache_dir` was given.
    fetch_tmp: Option<tempfile::TempDir>,
}

/// Runs an agent with its cgroup under `base` (from [`crate::cgroup::detect_host`])
/// until the master shuts it down.
pub fn run_agent(config: &AgentConfig, base: &Cgroup) -> Result<AgentOutcome, AgentError> {
    config.validate()?;
    let tls_config = config.tls.client_config()?;
    let interrupts = Interrupts::install().map_err(AgentError::Signals)?;
    // Cgroups first: missing privileges are reported before the master is contacted.
    let cgroup = base.create_child(&config.cgroup_name)?;
    if config.limit_swap {
        cgroup.cgroup().check_swap_accounting()?;
    }
    let work_dir = match &config.work_dir {
        Some(dir) => {
            fs::create_dir_all(dir).map_err(|source| AgentError::Io {
                path: dir.clone(),
                source,
            })?;
            dir.clone()
        }
        // Never a predictable name in /tmp: a local user could prepare it with
        // symlinks that the agent, as root, would then write task output through.
        None => tempfile::Builder::new()
            .prefix("mesosim-agent-")
            .tempdir()
            .map_err(|source| AgentError::Io {
                path: std::env::temp_dir(),
                source,
            })?
            .keep(),
    };
    eprintln!("task sandboxes in {}", work_dir.display());
    let (sock, peer) = connect(config, &interrupts)?;
    let stream = tls::connect(&tls_config, &config.server_name, sock, &peer)?;
    let mut agent = Agent {
        config,
        work_dir,
        cgroup: &cgroup,
        stream,
        reader: FrameReader::new(peer.clone()),
        running: Vec::new(),
        ended: Vec::new(),
        used: Resources::default(),
        started: 0,
        last_heard: Instant::now(),
        last_sent: Instant::now(),
        fetcher: None,
        fetching: Vec::new(),
        fetch_tmp: None,
    };
    let result = agent.serve(&interrupts);
    if let Some(worker) = agent.fetcher.take() {
        let f = worker.finish();
        eprintln!(
            "fetcher: {} fetches, {} cache hits, {} misses, {} bypasses, {} bytes fetched",
            f.requests, f.hits, f.misses, f.bypasses, f.bytes_downloaded
        );
    }
    // Every process and cgroup goes, whatever happened.
    agent.kill_all();
    tls::close(&mut agent.stream);
    drop(agent);
    cgroup.remove_or_leave()?;
    result
}

/// Connects to the master, retrying with backoff until `connect_timeout`.
fn connect(
    config: &AgentConfig,
    interrupts: &Interrupts,
) -> Result<(TcpStream, String), AgentError> {
    let deadline = Instant::now() + config.connect_timeout;
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = config
            .master
            .to_socket_addrs()
            .map_err(|e| e.to_string())
            .and_then(|addrs| {
                let addrs: Vec<SocketAddr> = addrs.collect();
                let mut last = format!("`{}` resolves to no address", config.master);
                for a in addrs {
                    match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
                        Ok(s) => return Ok((s, a)),
                        Err(e) => last = format!("{a}: {e}"),
                    }
                }
                Err(last)
            });
        match attempt {
            Ok((sock, addr)) => {
                let setup = |s: &TcpStream| -> io::Result<()> {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(READ_TICK))?;
                    s.set_write_timeout(Some(Duration::from_secs(5)))
                };
                setup(&sock).map_err(|e| AgentError::Connect {
                    master: config.master.clone(),
                    secs: config.connect_timeout.as_secs(),
                    detail: e.to_string(),
                })?;
                return Ok((sock, addr.to_string()));
            }
            Err(detail) => {
                if Instant::now() + backoff > deadline {
                    return Err(AgentError::Connect {
                        master: config.master.clone(),
                        secs: config.connect_timeout.as_secs(),
                        detail,
                    });
                }
                if let Some(sig) = interrupts.received() {
                    return Err(AgentError::Interrupted(sig.as_str().to_string()));
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// With TLS 1.3 the master judges the agent's certificate after the agent's side of
/// the handshake completed, so a rejection arrives as an alert on the first read: it
/// is reported as the handshake failure it is.
fn rejected(e: AgentError) -> AgentError {
    if let AgentError::MasterLost(WireError::Io { peer, source }) = &e {
        let alert = source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(|r| match r {
                rustls::Error::AlertReceived(a) => Some(*a),
                _ => None,
            });
        if let Some(alert) = alert {
            return AgentError::Tls(TlsError::Handshake {
                peer: peer.clone(),
                detail: format!(
                    "the master rejected this agent's certificate (alert {alert:?}); is it \
                     signed by the master's --tls-ca?"
                ),
            });
        }
    }
    e
}

impl Agent<'_> {
    fn peer(&self) -> String {
        self.reader.peer().to_string()
    }

    fn send(&mut self, m: &Message) -> Result<(), AgentError> {
        let peer = self.peer();
        wire::write_message(&mut self.stream, &peer, m).map_err(AgentError::MasterLost)?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// The next message, waiting at most one read tick; `None` if nothing came.
    fn receive(&mut self) -> Result<Option<Message>, AgentError> {
        let mut progress = false;
        let m = self
            .reader
            .poll(&mut tls::ReadOnce(&mut self.stream), &mut progress)
            .map_err(AgentError::MasterLost)?;
        if progress {
            self.last_heard = Instant::now();
        }
        Ok(m)
    }

    fn serve(&mut self, interrupts: &Interrupts) -> Result<AgentOutcome, AgentError> {
        self.send(&Message::Register {
            version: PROTOCOL_VERSION,
            agent: self.config.name.clone(),
            resources: self.config.resources.to_string(),
            cgroup_version: self.cgroup.cgroup().version().to_string(),
            cgroup: self
                .cgroup
                .cgroup()
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
        })?;
        let asked = Instant::now();
        let agent_id = loop {
            if let Some(sig) = interrupts.received() {
                return Err(AgentError::Interrupted(sig.as_str().to_string()));
            }
            match self.receive().map_err(rejected)? {
                Some(Message::Registered { agent_id }) => break agent_id,
                // The master's connection thread may beat before its engine answers.
                Some(Message::Heartbeat) => {}
                Some(Message::Refused { reason }) => {
                    return Err(AgentError::Refused {
                        master: self.peer(),
                        reason,
                    })
                }
                Some(other) => {
                    return Err(AgentError::MasterLost(WireError::Unexpected {
                        peer: self.peer(),
                        kind: other.kind().into(),
                        detail: "expected Registered or Refused".into(),
                    }))
                }
                None if asked.elapsed() > REGISTER_TIMEOUT => {
                    return Err(AgentError::MasterLost(WireError::Silent {
                        peer: self.peer(),
                        secs: asked.elapsed().as_secs_f64(),
                        limit_secs: REGISTER_TIMEOUT.as_secs_f64(),
                    }))
                }
                None => {}
            }
        };
        eprintln!(
            "registered with master {} as agent {agent_id} ({}, {})",
            self.peer(),
            self.config.name,
            self.config.resources
        );
        self.last_heard = Instant::now();
        loop {
            if let Some(sig) = interrupts.received() {
                return Err(AgentError::Interrupted(sig.as_str().to_string()));
            }
            while let Some(m) = self.receive()? {
                if let Some(reason) = self.handle(m)? {
                    return Ok(AgentOutcome {
                        agent_id,
                        tasks_started: self.started,
                        reason,
                    });
                }
                // A long burst of launches must not starve the master of heartbeats.
                if self.last_sent.elapsed() >= HEARTBEAT_INTERVAL {
                    self.send(&Message::Heartbeat)?;
                }
            }
            self.reap()?;
            self.collect_fetches()?;
            if self.last_sent.elapsed() >= HEARTBEAT_INTERVAL {
                self.send(&Message::Heartbeat)?;
            }
            if self.last_heard.elapsed() > PEER_TIMEOUT {
                return Err(AgentError::MasterLost(WireError::Silent {
                    peer: self.peer(),
                    secs: self.last_heard.elapsed().as_secs_f64(),
                    limit_secs: PEER_TIMEOUT.as_secs_f64(),
                }));
            }
        }
    }

    /// Acts on one message; `Some(reason)` on Shutdown.
    fn handle(&mut self, m: Message) -> Result<Option<String>, AgentError> {
        match m {
            Message::Heartbeat => {}
            Message::Shutdown { reason } => return Ok(Some(reason)),
            Message::LaunchTask {
                task_id,
                resources,
                command,
                uris,
            } => self.launch(task_id, &resources, &command, &uris)?,
            Message::KillTask { task_id } => {
                if let Some(i) = self.fetching.iter().position(|t| t.id == task_id) {
                    // Its fetch result, when it comes, finds no task and is dropped.
                    let t = self.fetching.swap_remove(i);
                    self.used.sub_assign(&t.resources);
                    self.ended.push(t.id.clone());
                    self.send(&Message::StatusUpdate {
                        task_id: t.id,
                        state: TaskState::Killed,
                        exit_code: None,
                        signal: None,
                        message: "killed by the master while fetching".into(),
                    })?;
                } else if let Some(i) = self.running.iter().position(|t| t.id == task_id) {
                    let mut t = self.running.swap_remove(i);
                    let exit = t.process.kill();
                    self.finish(t, exit, TaskState::Killed, "killed by the master")?;
                } else if !self.ended.contains(&task_id) {
                    return Err(AgentError::MasterLost(WireError::UnknownTask {
                        peer: self.peer(),
                        task: task_id,
                        kind: "KillTask".into(),
                    }));
                }
            }
            other => {
                return Err(AgentError::MasterLost(WireError::Unexpected {
                    peer: self.peer(),
                    kind: other.kind().into(),
                    detail: "not a message for an agent".into(),
                }))
            }
        }
        Ok(None)
    }

    fn refuse_task(&mut self, task_id: String, why: String) -> Result<(), AgentError> {
        eprintln!("refusing {task_id}: {why}");
        self.ended.push(task_id.clone());
        self.send(&Message::StatusUpdate {
            task_id,
            state: TaskState::Failed,
            exit_code: None,
            signal: None,
            message: why,
        })
    }

    fn launch(
        &mut self,
        task_id: String,
        resources: &str,
        command: &str,
        uris: &[String],
    ) -> Result<(), AgentError> {
        let known = self.ended.contains(&task_id)
            || self.running.iter().any(|t| t.id == task_id)
            || self.fetching.iter().any(|t| t.id == task_id);
        if known {
            return Err(AgentError::MasterLost(WireError::Unexpected {
                peer: self.peer(),
                kind: "LaunchTask".into(),
                detail: format!("task id `{task_id}` was launched before"),
            }));
        }
        if !task_id_ok(&task_id) {
            return Err(AgentError::MasterLost(WireError::Unexpected {
                peer: self.peer(),
                kind: "LaunchTask".into(),
                detail: format!("task id `{task_id}` is not 1-64 of [A-Za-z0-9._-]"),
            }));
        }
        let r = match Resources::parse(resources) {
            Ok(r) => r,
            Err(e) => return self.refuse_task(task_id, format!("resources `{resources}`: {e}")),
        };
        if let Err(why) = check_resources("task resources", &r) {
            return self.refuse_task(task_id, why);
        }
        let in_use = self.used.plus(&r);
        if !self.config.resources.contains(&in_use) {
            let why = format!(
                "over-allocation: {} in use plus {r} exceeds {}",
                self.used, self.config.resources
            );
            return self.refuse_task(task_id, why);
        }
        // A task that cannot be set up fails alone; the agent and its other tasks go on.
        let sandbox = self.work_dir.join(&task_id);
        if let Err(e) = fs::create_dir_all(&sandbox) {
            let why = format!("cannot create its sandbox {}: {e}", sandbox.display());
            return self.refuse_task(task_id, why);
        }
        if !uris.is_empty() {
            let mut parsed = Vec::new();
            for u in uris {
                match TaskUri::parse(u) {
                    Ok(u) => parsed.push(u),
                    Err(e) => return self.refuse_task(task_id, format!("--task-uri: {e}")),
                }
            }
            let worker = match self.fetch_worker() {
                Ok(w) => w,
                Err(e) => return self.refuse_task(task_id, format!("no fetcher: {e}")),
            };
            worker.submit(FetchJob {
                task_id: task_id.clone(),
                uris: parsed,
                sandbox,
            });
            self.used = in_use;
            self.fetching.push(Fetching {
                id: task_id,
                resources: r,
                command: command.to_string(),
            });
            return Ok(());
        }
        self.start(task_id, r, command, &sandbox)
    }

    /// The fetcher's thread, started on first use.
    fn fetch_worker(&mut self) -> io::Result<&FetchWorker> {
        if self.fetcher.is_none() {
            let dir = match &self.config.fetcher_cache_dir {
                Some(dir) => dir.clone(),
                None => {
                    let tmp = tempfile::Builder::new()
                        .prefix("mesosim-fetch-")
                        .tempdir()?;
                    let dir = tmp.path().to_path_buf();
                    self.fetch_tmp = Some(tmp);
                    dir
                }
            };
            let fetcher = Fetcher::new(dir, self.config.fetcher_cache_size)?;
            self.fetcher = Some(FetchWorker::start(fetcher)?);
        }
        Ok(self.fetcher.as_ref().expect("started above"))
    }

    /// Starts the tasks whose fetches ended; a failed fetch fails its task.
    fn collect_fetches(&mut self) -> Result<(), AgentError> {
        while let Some(done) = self.fetcher.as_ref().and_then(FetchWorker::try_done) {
            let Some(i) = self.fetching.iter().position(|t| t.id == done.task_id) else {
                continue;
            };
            let t = self.fetching.swap_remove(i);
            self.used.sub_assign(&t.resources);
            match done.result {
                Ok(()) => {
                    let sandbox = self.work_dir.join(&t.id);
                    self.start(t.id, t.resources, &t.command, &sandbox)?;
                }
                Err(e) => self.refuse_task(t.id, e.to_string())?,
            }
        }
        Ok(())
    }

    /// Starts task `task_id` in its cgroup, its sandbox made and its URIs fetched.
    fn start(
        &mut self,
        task_id: String,
        r: Resources,
        command: &str,
        sandbox: &Path,
    ) -> Result<(), AgentError> {
        let in_use = self.used.plus(&r);
        let cgroup = match self.cgroup.cgroup().create_child(&task_id) {
            Ok(c) => c,
            Err(e) => return self.refuse_task(task_id, format!("cannot create its cgroup: {e}")),
        };
        let limits = limits_for(&r);
        let limited = cgroup.cgroup().set_limits(limits).and_then(|()| {
            if self.config.limit_swap {
                cgroup.cgroup().limit_swap(limits.memory_bytes)
            } else {
                Ok(())
            }
        });
        if let Err(e) = limited {
            return self.refuse_task(task_id, format!("cannot limit its cgroup: {e}"));
        }
        let env: TaskEnv = vec![
            ("MESOS_SANDBOX".into(), sandbox.display().to_string()),
            ("MESOSIM_TASK_ID".into(), task_id.clone()),
            ("MESOSIM_AGENT".into(), self.config.name.clone()),
        ];
        let process =
            match TaskProcess::spawn(command, sandbox, &cgroup.cgroup().procs_files(), &env) {
                Ok(p) => p,
                Err(e) => return self.refuse_task(task_id, format!("cannot start: {e}")),
            };
        self.used = in_use;
        self.started += 1;
        self.send(&Message::StatusUpdate {
            task_id: task_id.clone(),
            state: TaskState::Running,
            exit_code: None,
            signal: None,
            message: format!("pid {}", process.pid()),
        })?;
        self.running.push(Task {
            id: task_id,
            resources: r,
            process,
            cgroup,
        });
        Ok(())
    }

    /// Reports the tasks that exited.
    fn reap(&mut self) -> Result<(), AgentError> {
        let mut i = 0;
        while i < self.running.len() {
            let exit = match self.running[i].process.try_exit() {
                Ok(e) => e,
                // A wait error leaves the task unaccounted for: report it failed.
                Err(e) => {
                    let t = self.running.swap_remove(i);
                    let msg = format!("cannot wait for it: {e}");
                    self.finish(t, None, TaskState::Failed, &msg)?;
                    continue;
                }
            };
            match exit {
                Some(exit) => {
                    let t = self.running.swap_remove(i);
                    let state = if exit.success() {
                        TaskState::Finished
                    } else {
                        TaskState::Failed
                    };
                    self.finish(t, Some(exit), state, "")?;
                }
                None => i += 1,
            }
        }
        Ok(())
    }

    /// Removes an ended task's cgroup, returns its resources and reports its state.
    fn finish(
        &mut self,
        t: Task,
        exit: Option<Exit>,
        state: TaskState,
        message: &str,
    ) -> Result<(), AgentError> {
        let (id, resources) = t.stop();
        self.used.sub_assign(&resources);
        self.ended.push(id.clone());
        self.send(&Message::StatusUpdate {
            task_id: id,
            state,
            exit_code: match exit {
                Some(Exit::Code(c)) => Some(c),
                _ => None,
            },
            signal: match exit {
                Some(Exit::Signal(s)) => Some(s),
                _ => None,
            },
            message: message.to_string(),
        })
    }

    /// Kills every task and removes its cgroup (errors are printed: this runs while
    /// tearing down).
    fn kill_all(&mut self) {
        for t in std::mem::take(&mut self.running) {
            t.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_must_be_safe_directory_names() {
        for ok in ["task-0", "a.b_c-9", &"x".repeat(64)] {
            assert!(task_id_ok(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", &"x".repeat(65), "é"] {
            assert!(!task_id_ok(bad), "{bad}");
        }
    }
}
