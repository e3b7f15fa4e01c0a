//! `mesosim live master`: the simulator's allocator paced by the wall clock over agents that register over mutual TLS, with the built-in batch framework of `live run` launching its tasks on them.
//!
//! Threads: an acceptor takes connections; each connection gets a thread that runs
//! the TLS handshake, reads `Register`, and then relays frames both ways (its socket
//! has a short read timeout, so it also drains the master's outbox, sends heartbeats
//! and notices a silent agent). Connection threads talk to the master through
//! channels. The master itself is a `sim_core::Engine` on a [`WallClock`] like `live
//! run`'s: an allocation cycle every `allocation_interval`, a poll of the network
//! every [`POLL_INTERVAL`], and the timeout. The framework accepts each offer,
//! launching as many waiting tasks as fit, and declines the rest without a filter.
//! A lost agent's running tasks become `TASK_LOST` and its resources leave the
//! allocator; the run ends when every task has ended (in any state) or at the
//! timeout, and every agent is sent `Shutdown`. However `run_master` returns, every
//! thread it started has ended first.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use models::allocator::{
    AgentId, AgentInfo, Allocator, AllocatorConfig, Candidates, FrameworkId, FrameworkInfo,
};
use models::resources::Resources;
use rand::RngCore;
use rustls::ServerConfig;
use sim_core::{Context, Engine, Handler, NoObserver, RngStreams, SimDuration, SimTime};
use thiserror::Error;

use crate::agent::task_id_ok;
use crate::batch::{check_resources, scalar};
use crate::certs::write_atomically;
use crate::clock::WallClock;
use crate::fetcher::TaskUri;
use crate::outdir::{check_target, OutputDir};
use crate::run::{POLL_INTERVAL, ROLE};
use crate::signals::Interrupts;
use crate::summary::{AgentSummary, LiveSummary, TaskCounts, TaskRun};
use crate::tls::{self, ServerStream, TlsError, TlsFiles};
use crate::wire::{
    self, FrameReader, Message, TaskState, WireError, HEARTBEAT_INTERVAL, PEER_TIMEOUT,
};

const FRAMEWORK: FrameworkId = FrameworkId(0);

/// How long a connection thread waits for bytes before tending its outbox.
const READ_TICK: Duration = Duration::from_millis(20);

/// How long a new connection has to send `Register` after the handshake.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; more are closed at once (a bound on threads).
const MAX_CONNECTIONS: usize = 1024;

/// Connections from one address that may be in their TLS handshake at once; more from
/// it are closed at once, so one host cannot hold every connection slot with
/// handshakes it never finishes. Verified connections do not count.
pub const MAX_UNVERIFIED_PER_ADDRESS: usize = 16;

/// Status updates from one connection the master may have received but not yet
/// handled. At the budget the connection's thread stops reading its socket until the
/// master catches up, so TCP holds the agent back: an agent sending as fast as it can
/// neither grows the master's memory nor crowds out the other agents' updates.
pub const STATUS_BUDGET: usize = 64;

/// How long a write to an agent may block (its socket's write timeout): with the
/// read tick, it bounds how long a connection thread takes to end once told to.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a master runs.
#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// The address to listen on (`host:port`; port 0 picks a free one).
    pub listen: String,
    /// A file to write the bound address into once listening.
    pub listen_file: Option<PathBuf>,
    /// Its certificate, key and the CA agents' certificates must be signed by.
    pub tls: TlsFiles,
    /// The allocation policy, by name.
    pub policy: String,
    /// Seeds the allocator's random streams.
    pub seed: u64,
    /// Time between allocation cycles.
    pub allocation_interval: SimDuration,
    /// Tasks the framework runs.
    pub tasks: u32,
    /// Each task's resources.
    pub task_resources: Resources,
    /// The command line each task runs with `/bin/sh -c`.
    pub task_command: String,
    /// No task is launched before this many agents registered.
    pub min_agents: u32,
    /// Tasks still running this long after the start are killed (`TASK_KILLED`).
    pub timeout: SimDuration,
    /// The output directory (`summary.json`).
    pub out: PathBuf,
    /// URIs each task's agent fetches into its sandbox before starting it.
    pub task_uris: Vec<TaskUri>,
}

/// Why a master run failed.
#[derive(Debug, Error)]
pub enum MasterError {
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// The policy name is not an allocator.
    #[error(transparent)]
    UnknownPolicy(#[from] models::allocator::UnknownAllocator),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The error.
        source: io::Error,
    },
    /// SIGINT or SIGTERM arrived: agents were told to shut down.
    #[error("interrupted by {0}: agents told to shut down, no output written")]
    Interrupted(String),
    /// Signal handling could not be set up.
    #[error("cannot set up signal handling: {0}")]
    Signals(io::Error),
    /// `--out` may not be replaced, or the output directory could not be written.
    #[error(transparent)]
    OutputDir(#[from] crate::run::LiveError),
    /// The output could not be written.
    #[error("{path}: {detail}")]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        detail: String,
    },
    /// The master's books say a launch would exceed an agent (a broken invariant).
    #[error("over-allocation on {agent}: {used} in use plus {task} exceeds {total}")]
    OverAllocation {
        /// The agent.
        agent: String,
        /// What its running tasks hold.
        used: String,
        /// The task about to launch.
        task: String,
        /// Its total.
        total: String,
    },
}

/// The longest text an agent may send in `Register`'s `resources` and in each of its
/// `cgroup` directories, bytes (a real one is well under 200).
pub const MAX_PEER_TEXT: usize = 4096;

/// The most `cgroup` directories an agent may report (v1 has one per controller
/// hierarchy mesosim uses: cpu, memory, and cpuacct where it is mounted apart).
pub const MAX_CGROUP_DIRS: usize = 8;

/// The longest `--task-command`, bytes: a LaunchTask frame is at most
/// [`crate::wire::MAX_FRAME`], and the task id, resources and JSON escaping need room.
pub const MAX_TASK_COMMAND: usize = crate::wire::MAX_FRAME as usize / 8;

/// The most bytes of `--task-uri` values (they hold no control characters, so JSON
/// at most doubles them): with the longest command they still fit a LaunchTask.
pub const MAX_TASK_URIS: usize = MAX_TASK_COMMAND / 2;

impl MasterConfig {
    /// Checks the settings before anything is opened.
    pub fn validate(&self) -> Result<(), MasterError> {
        if !models::allocator::ALLOCATOR_NAMES.contains(&self.policy.as_str()) {
            return Err(models::allocator::UnknownAllocator(self.policy.clone()).into());
        }
        check_resources("--task-resources", &self.task_resources).map_err(MasterError::Config)?;
        if self.task_command.trim().is_empty() {
            return Err(MasterError::Config("--task-command is empty".into()));
        }
        // Every LaunchTask carries it: past a frame's limit, every agent would drop the
        // connection and every task would be lost.
        if self.task_command.len() > MAX_TASK_COMMAND {
            return Err(MasterError::Config(format!(
                "--task-command is {} bytes, at most {MAX_TASK_COMMAND} fit a LaunchTask",
                self.task_command.len()
            )));
        }
        let uri_bytes: usize = self.task_uris.iter().map(|u| u.to_string().len()).sum();
        if uri_bytes > MAX_TASK_URIS {
            return Err(MasterError::Config(format!(
                "the --task-uri values are {uri_bytes} bytes, at most {MAX_TASK_URIS} fit a LaunchTask"
            )));
        }
        if self.allocation_interval == SimDuration::ZERO {
            return Err(MasterError::Config(
                "--allocation-interval must be positive".into(),
            ));
        }
        if self.tasks == 0 {
            return Err(MasterError::Config("--tasks must be at least 1".into()));
        }
        if self.min_agents == 0 {
            return Err(MasterError::Config(
                "--min-agents must be at least 1".into(),
            ));
        }
        if self.out.file_name().is_none() {
            return Err(MasterError::Config(format!(
                "--out `{}` must name a directory",
                self.out.display()
            )));
        }
        Ok(())
    }
}

/// What connection threads tell the master.
enum NetEvent {
    /// A connection completed TLS and sent a valid `Register`.
    Register {
        conn: u64,
        peer: String,
        name: String,
        resources: String,
        cgroup_version: String,
        cgroup: Vec<String>,
        /// The DNS names of its client certificate.
        cert_names: Vec<String>,
        outbox: Sender<Outbound>,
    },
    /// A registered agent's status update.
    Status {
        conn: u64,
        update: Message,
        /// Its share of the connection's [`STATUS_BUDGET`], returned when handled.
        _credit: Credit,
    },
    /// A connection ended or failed.
    Lost { conn: u64, reason: String },
}

/// One unhandled status update's share of its connection's [`STATUS_BUDGET`]; dropping
/// it (once the master handled the update, or dropped it unhandled) returns it.
struct Credit(Arc<AtomicUsize>);

impl Credit {
    /// Takes a share of `in_flight`, unless the budget is spent.
    fn take(in_flight: &Arc<AtomicUsize>) -> Option<Credit> {
        in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < STATUS_BUDGET).then_some(n + 1)
            })
            .ok()
            .map(|_| Credit(in_flight.clone()))
    }
}

impl Drop for Credit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the master tells a connection thread.
enum Outbound {
    /// Send it.
    Send(Message),
    /// Send it, then close the connection.
    SendAndClose(Message),
    /// Close the connection (after printing why).
    Close(String),
}

/// Runs a master until its tasks ended (or the timeout), then shuts the agents down
/// and writes `summary.json`.
pub fn run_master(config: &MasterConfig) -> Result<LiveSummary, MasterError> {
    config.validate()?;
    // A `--out` that may not be replaced is refused before anyone connects.
    check_target(&config.out)?;
    let server_config = config.tls.server_config()?;
    let allocator = models::allocator::by_name(
        &config.policy,
        AllocatorConfig {
            allocation_interval: config.allocation_interval,
            ..Default::default()
        },
        RngStreams::new(config.seed)
            .stream("master/allocator")
            .next_u64(),
    )?;
    let interrupts = Interrupts::install().map_err(MasterError::Signals)?;
    let listener = TcpListener::bind(&config.listen).map_err(|source| MasterError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MasterError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| MasterError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    let (events_tx, events) = mpsc::channel();
    // Ends (and joins) every thread of the network side when dropped, on every return.
    let acceptor = Acceptor::start(listener, server_config, events_tx);
    eprintln!("listening on {bound}");
    if let Some(f) = &config.listen_file {
        write_atomically(f, format!("{bound}\n").as_bytes(), 0o644).map_err(|e| {
            MasterError::Output {
                path: f.clone(),
                detail: e.to_string(),
            }
        })?;
    }
    let mut master = Master {
        config,
        allocator,
        events,
        agents: Vec::new(),
        running: Vec::new(),
        next_task: 0,
        runs: Vec::new(),
        counts: TaskCounts {
            submitted: u64::from(config.tasks),
            lost: Some(0),
            ..Default::default()
        },
        cycles: 0,
        offers: 0,
        started: false,
        start: Instant::now(),
        interrupts: &interrupts,
        error: None,
    };
    let mut clock = WallClock::new();
    master.start = Instant::now();
    master.allocator.add_framework(
        SimTime::ZERO,
        FRAMEWORK,
        FrameworkInfo {
            name: "live-batch".into(),
            roles: vec![ROLE.into()],
            ..Default::default()
        },
        true,
    );
    let mut engine: Engine<Event> = Engine::new();
    engine.schedule_at(SimTime::ZERO, Event::Allocate);
    engine.schedule_at(SimTime::ZERO + POLL_INTERVAL, Event::Poll);
    engine.schedule_at(SimTime::ZERO + config.timeout, Event::Timeout);
    engine.run_with(&mut master, &mut clock, &mut NoObserver, None);
    let wall_ns = master.start.elapsed().as_nanos() as u64;
    let reason = match &master.error {
        Some(e) => format!("master failed: {e}"),
        None => "the run ended".to_string(),
    };
    master.shutdown_agents(&reason);
    drop(acceptor);
    if let Some(e) = master.error.take() {
        return Err(e);
    }
    let mut versions: Vec<String> = master
        .agents
        .iter()
        .map(|a| a.cgroup_version.clone())
        .collect();
    versions.sort();
    versions.dedup();
    let agents = master
        .agents
        .iter()
        .map(|a| AgentSummary {
            name: a.name.clone(),
            resources: a.total.to_string(),
            cpus_milli: scalar(&a.total, "cpus"),
            mem_mb: scalar(&a.total, "mem") / 1000,
            cgroup: a.cgroup.clone(),
            tasks_launched: a.launched,
            netns: None,
            address: Some(a.peer.clone()),
        })
        .collect();
    let summary = LiveSummary {
        mesosim_version: env!("CARGO_PKG_VERSION").to_string(),
        mode: "live-master".into(),
        policy: config.policy.clone(),
        seed: config.seed,
        cgroup_version: versions.join(","),
        task_command: config.task_command.clone(),
        tasks: master.counts.clone(),
        agents,
        task_runs: master.runs.clone(),
        allocation_cycles: master.cycles,
        offers: master.offers,
        wall_ns,
        max_clock_lag_ns: clock.max_lag().as_nanos() as u64,
        egress_bytes_per_sec: None,
        oversubscription: None,
        fetcher: None,
    };
    // As `live run`'s: built aside and renamed into place, replacing only an earlier
    // live output.
    OutputDir::create(&config.out)?.commit(&summary)?;
    Ok(summary)
}

/// How many connections from each address are in their TLS handshake.
type Unverified = Arc<Mutex<BTreeMap<IpAddr, usize>>>;

/// A connection's place among its address's [`MAX_UNVERIFIED_PER_ADDRESS`], given up
/// when dropped (once its handshake ended, either way).
struct UnverifiedSlot {
    all: Unverified,
    ip: IpAddr,
}

impl UnverifiedSlot {
    /// A place for a connection from `ip`, unless its address has none left.
    fn take(all: &Unverified, ip: IpAddr) -> Option<UnverifiedSlot> {
        let mut counts = all.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= MAX_UNVERIFIED_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(UnverifiedSlot {
            all: all.clone(),
            ip,
        })
    }
}

impl Drop for UnverifiedSlot {
    fn drop(&mut self) {
        let mut counts = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// The acceptor thread and the connection threads it started. Dropping it tells them
/// all to stop and waits until they have: a connection in its handshake or waiting
/// for `Register` ends within a read tick, a registered one once it sent what its
/// outbox holds (at most a write timeout per frame), telling an agent the master never
/// got to answer that the master is ending.
struct Acceptor {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl Acceptor {
    fn start(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        events: Sender<NetEvent>,
    ) -> Acceptor {
        let flag = Arc::new(AtomicBool::new(false));
        let stop = flag.clone();
        let handle = std::thread::Builder::new()
            .name("mesosim-accept".into())
            .spawn(move || {
                let mut conns = Vec::new();
                let mut next = 0u64;
                let unverified = Unverified::default();
                while !stop.load(Ordering::SeqCst) {
                    if conns.len() >= MAX_CONNECTIONS {
                        conns.retain(|h: &JoinHandle<()>| !h.is_finished());
                    }
                    match listener.accept() {
                        Ok((sock, addr)) if conns.len() >= MAX_CONNECTIONS => {
                            eprintln!(
                                "refused agent connection from {addr}: \
                                 {MAX_CONNECTIONS} connections already open"
                            );
                            drop(sock);
                        }
                        Ok((sock, addr)) => {
                            let Some(slot) = UnverifiedSlot::take(&unverified, addr.ip()) else {
                                eprintln!(
                                    "refused agent connection from {addr}: \
                                     {MAX_UNVERIFIED_PER_ADDRESS} connections from {} are \
                                     still in their TLS handshake",
                                    addr.ip()
                                );
                                drop(sock);
                                continue;
                            };
                            let (config, events, stop) =
                                (config.clone(), events.clone(), stop.clone());
                            let conn = next;
                            next += 1;
                            let h = std::thread::Builder::new()
                                .name(format!("mesosim-conn-{conn}"))
                                .spawn(move || {
                                    serve_conn(conn, sock, addr, slot, &config, &events, &stop)
                                });
                            match h {
                                Ok(h) => conns.push(h),
                                Err(e) => eprintln!("cannot serve {addr}: {e}"),
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(READ_TICK);
                        }
                        Err(e) => {
                            eprintln!("accept failed: {e}");
                            std::thread::sleep(READ_TICK);
                        }
                    }
                }
                conns
            })
            .expect("spawn the acceptor thread");
        Acceptor {
            stop: flag,
            handle: Some(handle),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let Some(Ok(conns)) = self.handle.take().map(JoinHandle::join) else {
            return;
        };
        for c in conns {
            let _ = c.join();
        }
    }
}

/// One connection: handshake, registration, then relaying until it ends.
fn serve_conn(
    conn: u64,
    sock: TcpStream,
    addr: SocketAddr,
    slot: UnverifiedSlot,
    config: &Arc<ServerConfig>,
    events: &Sender<NetEvent>,
    stop: &AtomicBool,
) {
    let peer = addr.to_string();
    let setup = |s: &TcpStream| -> io::Result<()> {
        s.set_nonblocking(false)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(READ_TICK))?;
        s.set_write_timeout(Some(WRITE_TIMEOUT))
    };
    if let Err(e) = setup(&sock) {
        eprintln!("agent connection {peer}: {e}");
        return;
    }
    let handshake = tls::accept_until(config, sock, &peer, stop);
    drop(slot);
    let mut stream = match handshake {
        Ok(s) => s,
        Err(e) => {
            eprintln!("refused agent connection: {e}");
            return;
        }
    };
    let mut reader = FrameReader::new(peer.clone());
    match relay(conn, &mut stream, &mut reader, events, stop) {
        Ok(()) => {}
        Err(reason) => {
            let _ = events.send(NetEvent::Lost { conn, reason });
        }
    }
    tls::close(&mut stream);
}

/// Reads `Register`, hands the connection to the master and relays until the master
/// closes it (`Ok`) or it fails (`Err` with the reason).
fn relay(
    conn: u64,
    stream: &mut ServerStream,
    reader: &mut FrameReader,
    events: &Sender<NetEvent>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let peer = reader.peer().to_string();
    let asked = Instant::now();
    let first = loop {
        let mut progress = false;
        match reader.poll(&mut tls::ReadOnce(stream), &mut progress) {
            Ok(Some(m)) => break m,
            Ok(None) if asked.elapsed() > REGISTER_TIMEOUT || stop.load(Ordering::SeqCst) => {
                let e = WireError::Silent {
                    peer: peer.clone(),
                    secs: asked.elapsed().as_secs_f64(),
                    limit_secs: REGISTER_TIMEOUT.as_secs_f64(),
                };
                eprintln!("refused agent connection: {e}");
                return Ok(());
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("refused agent connection: {e}");
                return Ok(());
            }
        }
    };
    if let Err(e) = wire::check_register(&peer, &first) {
        eprintln!("refused agent connection: {e}");
        let _ = wire::write_message(
            stream,
            &peer,
            &Message::Refused {
                reason: e.to_string(),
            },
        );
        return Ok(());
    }
    let Message::Register {
        agent,
        resources,
        cgroup_version,
        cgroup,
        ..
    } = first
    else {
        return Ok(());
    };
    let (outbox, inbox) = mpsc::channel();
    let registered = events.send(NetEvent::Register {
        conn,
        peer: peer.clone(),
        name: agent,
        resources,
        cgroup_version,
        cgroup,
        cert_names: tls::peer_dns_names(&stream.conn),
        outbox,
    });
    if registered.is_err() {
        return Ok(());
    }
    relay_registered(conn, stream, reader, events, &inbox, stop)
}

fn relay_registered(
    conn: u64,
    stream: &mut ServerStream,
    reader: &mut FrameReader,
    events: &Sender<NetEvent>,
    inbox: &Receiver<Outbound>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let peer = reader.peer().to_string();
    let mut last_heard = Instant::now();
    let mut last_sent = Instant::now();
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        loop {
            match inbox.try_recv() {
                Ok(Outbound::Send(m)) => {
                    wire::write_message(stream, &peer, &m).map_err(|e| e.to_string())?;
                    last_sent = Instant::now();
                }
                Ok(Outbound::SendAndClose(m)) => {
                    let _ = wire::write_message(stream, &peer, &m);
                    return Ok(());
                }
                Ok(Outbound::Close(reason)) => {
                    eprintln!("dropping agent connection {peer}: {reason}");
                    return Ok(());
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(()),
            }
        }
        // Told to stop with nothing more from the master: it ended before it handled
        // this agent's Register (a Shutdown for a registered agent came first).
        if stop.load(Ordering::SeqCst) {
            let reason = "the master is ending".to_string();
            let _ = wire::write_message(stream, &peer, &Message::Shutdown { reason });
            return Ok(());
        }
        // Taken before reading, so a frame read is never held back.
        if let Some(credit) = Credit::take(&in_flight) {
            let mut progress = false;
            match reader.poll(&mut tls::ReadOnce(stream), &mut progress) {
                Ok(Some(Message::Heartbeat)) => {}
                Ok(Some(Message::StatusUpdate {
                    task_id,
                    state,
                    exit_code,
                    signal,
                    mut message,
                })) => {
                    // Bounded before it is queued: a queued update holds little memory.
                    if !task_id_ok(&task_id) {
                        return Err(WireError::Unexpected {
                            peer: peer.clone(),
                            kind: "StatusUpdate".into(),
                            detail: "a task id is 1-64 of [A-Za-z0-9._-]".into(),
                        }
                        .to_string());
                    }
                    if message.len() > MAX_PEER_TEXT {
                        let mut end = MAX_PEER_TEXT;
                        while !message.is_char_boundary(end) {
                            end -= 1;
                        }
                        message.truncate(end);
                        message.push_str("...");
                    }
                    let update = Message::StatusUpdate {
                        task_id,
                        state,
                        exit_code,
                        signal,
                        message,
                    };
                    let event = NetEvent::Status {
                        conn,
                        update,
                        _credit: credit,
                    };
                    if events.send(event).is_err() {
                        return Ok(());
                    }
                }
                Ok(Some(other)) => {
                    return Err(WireError::Unexpected {
                        peer: peer.clone(),
                        kind: other.kind().into(),
                        detail: "not a message for the master".into(),
                    }
                    .to_string())
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            if progress {
                last_heard = Instant::now();
            }
        } else {
            // The master has not caught up with this agent: its bytes wait in the
            // socket, and the wait is neither its silence nor its slowness.
            std::thread::sleep(READ_TICK);
            last_heard = Instant::now();
            reader.excuse_wait();
        }
        if last_heard.elapsed() > PEER_TIMEOUT {
            return Err(WireError::Silent {
                peer: peer.clone(),
                secs: last_heard.elapsed().as_secs_f64(),
                limit_secs: PEER_TIMEOUT.as_secs_f64(),
            }
            .to_string());
        }
        if last_sent.elapsed() >= HEARTBEAT_INTERVAL {
            wire::write_message(stream, &peer, &Message::Heartbeat).map_err(|e| e.to_string())?;
            last_sent = Instant::now();
        }
    }
}

/// The master's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// A periodic allocation cycle.
    Allocate,
    /// Drain the network's events.
    Poll,
    /// `--timeout` passed: kill what runs and stop.
    Timeout,
}

struct RemoteAgent {
    conn: u64,
    name: String,
    peer: String,
    total: Resources,
    /// What running tasks hold (the master's books).
    used: Resources,
    cgroup_version: String,
    cgroup: Vec<String>,
    launched: u64,
    /// `None` once the connection is gone.
    outbox: Option<Sender<Outbound>>,
}

struct Running {
    /// Index into `runs`.
    run: usize,
    agent: usize,
    role: Arc<str>,
}

struct Master<'a> {
    config: &'a MasterConfig,
    allocator: Box<dyn Allocator>,
    events: Receiver<NetEvent>,
    agents: Vec<RemoteAgent>,
    running: Vec<Running>,
    next_task: u32,
    runs: Vec<TaskRun>,
    counts: TaskCounts,
    cycles: u64,
    offers: u64,
    /// Set once `min_agents` registered.
    started: bool,
    start: Instant,
    interrupts: &'a Interrupts,
    error: Option<MasterError>,
}

impl Handler<Event> for Master<'_> {
    fn handle(&mut self, event: Event, ctx: &mut Context<'_, Event>) {
        let result = match event {
            Event::Allocate => self.allocate(ctx),
            Event::Poll => self.poll(ctx),
            Event::Timeout => {
                self.kill_all(ctx.now());
                ctx.stop();
                Ok(())
            }
        };
        if let Err(e) = result {
            self.error = Some(e);
            ctx.stop();
        }
    }
}

impl Master<'_> {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn allocate(&mut self, ctx: &mut Context<'_, Event>) -> Result<(), MasterError> {
        ctx.schedule_after(self.config.allocation_interval, Event::Allocate);
        if !self.started {
            return Ok(());
        }
        let now = ctx.now();
        let _ = self.allocator.take_allocation_request();
        self.cycles += 1;
        let task = self.config.task_resources.clone();
        for offer in self.allocator.allocate(now, &Candidates::All) {
            self.offers += 1;
            let mut left = offer.resources.clone();
            while self.next_task < self.config.tasks && left.contains(&task) {
                self.launch(offer.agent.0 as usize, offer.role.clone())?;
                left.sub_assign(&task);
            }
            if !left.is_empty() {
                // Declined without a filter (refuse_seconds = 0).
                self.allocator.recover_role_resources(
                    now,
                    FRAMEWORK,
                    &offer.role,
                    offer.agent,
                    &left,
                    None,
                );
            }
        }
        Ok(())
    }

    fn launch(&mut self, a: usize, role: Arc<str>) -> Result<(), MasterError> {
        let task = &self.config.task_resources;
        let start_ns = self.now_ns();
        let agent = &mut self.agents[a];
        let in_use = agent.used.plus(task);
        if !agent.total.contains(&in_use) {
            return Err(MasterError::OverAllocation {
                agent: agent.name.clone(),
                used: agent.used.to_string(),
                task: task.to_string(),
                total: agent.total.to_string(),
            });
        }
        let id = format!("task-{}", self.next_task);
        let Some(outbox) = &agent.outbox else {
            // The allocator no longer offers a removed agent; nothing to launch on.
            return Ok(());
        };
        let _ = outbox.send(Outbound::Send(Message::LaunchTask {
            task_id: id.clone(),
            resources: task.to_string(),
            command: self.config.task_command.clone(),
            uris: self
                .config
                .task_uris
                .iter()
                .map(TaskUri::to_string)
                .collect(),
        }));
        agent.used = in_use;
        agent.launched += 1;
        self.runs.push(TaskRun {
            id: id.clone(),
            agent: agent.name.clone(),
            cpus_milli: scalar(task, "cpus"),
            mem_mb: scalar(task, "mem") / 1000,
            cgroup: agent.cgroup.iter().map(|d| format!("{d}/{id}")).collect(),
            sandbox: format!("{}:{id}", agent.name),
            state: "TASK_STAGING".into(),
            exit_code: None,
            signal: None,
            start_ns,
            end_ns: start_ns,
            wall_ns: 0,
            revocable: false,
            reason: None,
            message: None,
        });
        self.running.push(Running {
            run: self.runs.len() - 1,
            agent: a,
            role,
        });
        self.next_task += 1;
        self.counts.launched += 1;
        Ok(())
    }

    fn poll(&mut self, ctx: &mut Context<'_, Event>) -> Result<(), MasterError> {
        if let Some(signal) = self.interrupts.received() {
            ctx.stop();
            return Err(MasterError::Interrupted(signal.as_str().to_string()));
        }
        while let Ok(e) = self.events.try_recv() {
            self.on_net(ctx.now(), e);
        }
        if self.next_task == self.config.tasks && self.running.is_empty() && self.started {
            ctx.stop();
        } else {
            ctx.schedule_after(POLL_INTERVAL, Event::Poll);
        }
        Ok(())
    }

    fn on_net(&mut self, now: SimTime, event: NetEvent) {
        match event {
            NetEvent::Register {
                conn,
                peer,
                name,
                resources,
                cgroup_version,
                cgroup,
                cert_names,
                outbox,
            } => {
                let refuse = |reason: String| {
                    eprintln!(
                        "refused agent `{}` from {peer}: {reason}",
                        name.escape_debug()
                    );
                    let _ = outbox.send(Outbound::SendAndClose(Message::Refused { reason }));
                };
                // Everything here came from the peer: bounded before it is parsed,
                // stored in every task run or printed.
                if resources.len() > MAX_PEER_TEXT {
                    return refuse(format!("resources: longer than {MAX_PEER_TEXT} bytes"));
                }
                if !matches!(cgroup_version.as_str(), "v1" | "v2") {
                    return refuse(format!(
                        "cgroup version `{}` is not v1 or v2",
                        cgroup_version.escape_debug()
                    ));
                }
                let plain = |d: &String| d.len() <= MAX_PEER_TEXT && !d.contains(char::is_control);
                if cgroup.len() > MAX_CGROUP_DIRS || !cgroup.iter().all(plain) {
                    return refuse(format!(
                        "cgroup: at most {MAX_CGROUP_DIRS} directories of at most \
                         {MAX_PEER_TEXT} bytes without control characters"
                    ));
                }
                let total = match Resources::parse(&resources) {
                    Ok(r) => r,
                    Err(e) => {
                        return refuse(format!("resources `{}`: {e}", resources.escape_debug()))
                    }
                };
                if let Err(e) = check_resources("resources", &total) {
                    return refuse(e);
                }
                if !task_id_ok(&name) {
                    return refuse("an agent name is 1-64 of [A-Za-z0-9._-]".into());
                }
                // Any holder of a certificate from the run's CA could otherwise take
                // another agent's name (and its place in the summary). Exact and
                // case-sensitive: no DNS matching, so a wildcard name is no agent's.
                if !cert_names.contains(&name) {
                    let names: Vec<String> = cert_names.iter().map(|n| format!("`{n}`")).collect();
                    return refuse(format!(
                        "the certificate of {peer} is for {}, not `{name}` (an agent \
                         registers under a DNS name of its certificate)",
                        if names.is_empty() {
                            "no DNS name".to_string()
                        } else {
                            names.join(", ")
                        }
                    ));
                }
                if self
                    .agents
                    .iter()
                    .any(|a| a.name == name && a.outbox.is_some())
                {
                    return refuse(format!("an agent named `{name}` is already registered"));
                }
                let id = self.agents.len() as u32;
                self.allocator.add_agent(
                    now,
                    AgentId(id),
                    AgentInfo {
                        name: name.clone(),
                        total: total.clone(),
                        ..Default::default()
                    },
                    &[],
                );
                let _ = outbox.send(Outbound::Send(Message::Registered { agent_id: id }));
                eprintln!("agent {id} `{name}` registered from {peer} with {total}");
                self.agents.push(RemoteAgent {
                    conn,
                    name,
                    peer,
                    total,
                    used: Resources::default(),
                    cgroup_version,
                    cgroup,
                    launched: 0,
                    outbox: Some(outbox),
                });
                let connected = self.agents.iter().filter(|a| a.outbox.is_some()).count();
                if connected >= self.config.min_agents as usize {
                    self.started = true;
                }
            }
            NetEvent::Status { conn, update, .. } => {
                if let Err(reason) = self.on_status(now, conn, update) {
                    if let Some(a) = self.agent_of(conn) {
                        if let Some(o) = &self.agents[a].outbox {
                            let _ = o.send(Outbound::Close(reason.clone()));
                        }
                    }
                    self.lose(now, conn, &reason);
                }
            }
            NetEvent::Lost { conn, reason } => self.lose(now, conn, &reason),
        }
    }

    fn agent_of(&self, conn: u64) -> Option<usize> {
        self.agents.iter().position(|a| a.conn == conn)
    }

    fn on_status(&mut self, now: SimTime, conn: u64, update: Message) -> Result<(), String> {
        let Some(a) = self.agent_of(conn) else {
            return Ok(());
        };
        let Message::StatusUpdate {
            task_id,
            state,
            exit_code,
            signal,
            message,
        } = update
        else {
            return Ok(());
        };
        let Some(i) = self
            .running
            .iter()
            .position(|r| r.agent == a && self.runs[r.run].id == task_id)
        else {
            // An update for a task this master killed at the timeout is late, not wrong.
            let known = self
                .runs
                .iter()
                .any(|r| r.id == task_id && r.agent == self.agents[a].name);
            if known {
                return Ok(());
            }
            return Err(WireError::UnknownTask {
                peer: self.agents[a].peer.clone(),
                task: task_id,
                kind: "StatusUpdate".into(),
            }
            .to_string());
        };
        if !message.is_empty() && state != TaskState::Running {
            eprintln!(
                "{task_id} on {}: {state}: {}",
                self.agents[a].name,
                message.escape_debug()
            );
        }
        let run = &mut self.runs[self.running[i].run];
        if state == TaskState::Running {
            run.state = state.as_str().into();
            return Ok(());
        }
        run.exit_code = exit_code;
        run.signal = signal;
        let r = self.running.swap_remove(i);
        self.end(now, r, state);
        Ok(())
    }

    /// Records how a task ended and returns its resources (to the allocator too,
    /// unless its agent is gone).
    fn end(&mut self, now: SimTime, r: Running, state: TaskState) {
        let end_ns = self.now_ns();
        let run = &mut self.runs[r.run];
        run.end_ns = end_ns;
        run.wall_ns = end_ns - run.start_ns;
        run.state = state.as_str().into();
        if state == TaskState::Lost {
            // As the simulator (and Mesos's master) says of a removed agent's tasks.
            run.reason = Some("REASON_AGENT_REMOVED".into());
        }
        match state {
            TaskState::Finished => self.counts.finished += 1,
            TaskState::Killed => self.counts.killed += 1,
            TaskState::Lost => *self.counts.lost.get_or_insert(0) += 1,
            TaskState::Failed | TaskState::Running => self.counts.failed += 1,
        }
        let task = &self.config.task_resources;
        let agent = &mut self.agents[r.agent];
        agent.used.sub_assign(task);
        if agent.outbox.is_some() {
            self.allocator.recover_role_resources(
                now,
                FRAMEWORK,
                &r.role,
                AgentId(r.agent as u32),
                task,
                None,
            );
        }
    }

    /// An agent's connection is gone: its tasks are lost and it leaves the allocator.
    fn lose(&mut self, now: SimTime, conn: u64, reason: &str) {
        let Some(a) = self.agent_of(conn) else {
            // It never registered.
            eprintln!("agent connection failed before registering: {reason}");
            return;
        };
        if self.agents[a].outbox.take().is_none() {
            return;
        }
        eprintln!("agent {a} `{}` lost: {reason}", self.agents[a].name);
        let (lost, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|r| r.agent == a);
        self.running = keep;
        for r in lost {
            self.end(now, r, TaskState::Lost);
        }
        self.allocator.remove_agent(now, AgentId(a as u32));
    }

    /// Ends every running task as killed. No KillTask goes out: the Shutdown that
    /// follows kills everything on each agent, and an agent answering KillTasks into a
    /// connection the master is closing would see its writes fail and exit as if its
    /// master were lost.
    fn kill_all(&mut self, now: SimTime) {
        for r in std::mem::take(&mut self.running) {
            self.end(now, r, TaskState::Killed);
        }
    }

    /// Tells every connected agent to shut down, closing the connections.
    fn shutdown_agents(&mut self, reason: &str) {
        for a in &mut self.agents {
            if let Some(o) = a.outbox.take() {
                let _ = o.send(Outbound::SendAndClose(Message::Shutdown {
                    reason: reason.to_string(),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::{agent_files, write_certs, CertsConfig, MASTER_CERT, MASTER_KEY};
    use crate::tls::ClientStream;
    use std::net::TcpListener;

    /// A registered connection's two ends over loopback mutual TLS: the master's side
    /// set up as `serve_conn` does, and an agent's.
    fn tls_pair() -> (ServerStream, ClientStream, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let certs = tmp.path().to_path_buf();
        write_certs(&CertsConfig {
            out: certs.clone(),
            master_names: vec!["localhost".into()],
            agents: 1,
        })
        .unwrap();
        let (cert, key) = agent_files(0);
        let agent = TlsFiles {
            cert: certs.join(cert),
            key: certs.join(key),
            ca: certs.join("ca.pem"),
        };
        let master = TlsFiles {
            cert: certs.join(MASTER_CERT),
            key: certs.join(MASTER_KEY),
            ca: certs.join("ca.pem"),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let sock = TcpStream::connect(addr).unwrap();
            sock.set_read_timeout(Some(READ_TICK)).unwrap();
            let config = agent.client_config().unwrap();
            tls::connect(&config, "localhost", sock, &addr.to_string()).unwrap()
        });
        let (sock, peer) = listener.accept().unwrap();
        sock.set_read_timeout(Some(READ_TICK)).unwrap();
        sock.set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let server =
            tls::accept(&master.server_config().unwrap(), sock, &peer.to_string()).unwrap();
        (server, client.join().unwrap(), tmp)
    }

    fn running(i: usize) -> Message {
        Message::StatusUpdate {
            task_id: format!("task-{i}"),
            state: TaskState::Running,
            exit_code: None,
            signal: None,
            message: String::new(),
        }
    }

    #[test]
    fn a_flooding_agent_has_at_most_its_budget_of_updates_queued_until_the_master_catches_up() {
        const SENT: usize = 4 * STATUS_BUDGET;
        let (mut server, mut client, _tmp) = tls_pair();
        let (events_tx, events) = mpsc::channel();
        let (outbox, inbox) = mpsc::channel();
        let relay = std::thread::spawn(move || {
            let mut reader = FrameReader::new("agent");
            let stop = AtomicBool::new(false);
            relay_registered(7, &mut server, &mut reader, &events_tx, &inbox, &stop)
        });
        let flood = std::thread::spawn(move || {
            // Every update at once; the writes block while the master holds it back.
            let frames: Vec<u8> = (0..SENT).flat_map(|i| wire::encode(&running(i))).collect();
            io::Write::write_all(&mut client, &frames).unwrap();
            io::Write::flush(&mut client).unwrap();
            client
        });
        // A master that handles nothing: the queue stops at the budget.
        let mut held = Vec::new();
        while let Ok(e) = events.recv_timeout(Duration::from_secs(2)) {
            held.push(e);
            assert!(held.len() <= STATUS_BUDGET, "more than the budget queued");
        }
        assert_eq!(held.len(), STATUS_BUDGET);
        // Held back, the agent still hears the master's heartbeats (2 s passed).
        let mut client = flood.join().unwrap();
        let mut from_master = FrameReader::new("master");
        let (mut beats, start) = (0, Instant::now());
        while beats < 2 {
            let mut progress = false;
            match from_master.poll(&mut client, &mut progress).unwrap() {
                Some(Message::Heartbeat) => beats += 1,
                Some(other) => panic!("unexpected {other:?}"),
                None => assert!(start.elapsed() < Duration::from_secs(10), "no heartbeat"),
            }
        }
        // Handling them lets the rest through, in order.
        let mut got = 0;
        while got < SENT {
            let e = if held.is_empty() {
                events
                    .recv_timeout(Duration::from_secs(20))
                    .expect("an update")
            } else {
                held.remove(0)
            };
            let NetEvent::Status { conn, update, .. } = e else {
                panic!("not a status update");
            };
            assert_eq!((conn, update), (7, running(got)));
            got += 1;
        }
        outbox.send(Outbound::Close("done".into())).unwrap();
        assert_eq!(relay.join().unwrap(), Ok(()));
        drop(client);
    }

    #[test]
    fn a_registration_the_master_never_handled_ends_with_a_shutdown_when_it_stops() {
        let (mut server, mut client, _tmp) = tls_pair();
        let (events_tx, _events) = mpsc::channel();
        // The master stopped with this connection's Register still queued: its outbox
        // will never carry anything.
        let (_outbox, inbox) = mpsc::channel();
        let stop = AtomicBool::new(true);
        let mut reader = FrameReader::new("agent");
        let ended = relay_registered(7, &mut server, &mut reader, &events_tx, &inbox, &stop);
        assert_eq!(ended, Ok(()));
        tls::close(&mut server);
        let mut reader = FrameReader::new("master");
        let start = Instant::now();
        let m = loop {
            let mut progress = false;
            if let Some(m) = reader.poll(&mut client, &mut progress).unwrap() {
                break m;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "nothing came");
        };
        assert_eq!(
            m,
            Message::Shutdown {
                reason: "the master is ending".into()
            }
        );
    }
}
