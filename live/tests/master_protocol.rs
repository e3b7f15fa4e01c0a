//! `live::master::run_master` against hand-driven agents over loopback mutual TLS (no cgroups needed): a wrong protocol version or an unusable name is refused with the reason, a bad frame drops the connection, a status update for an unknown task drops the agent and its running tasks become TASK_LOST, a silent agent is lost after the peer timeout, and the run still ends with a summary.

mod common;

use common::{master_config, wait_for_address};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use live::certs::{agent_files, write_certs, CertsConfig};
use live::master::{run_master, MasterConfig};
use live::tls::{connect, ClientStream, TlsFiles};
use live::wire::{
    encode, write_message, FrameReader, Message, TaskState, WireError, PEER_TIMEOUT,
    PROTOCOL_VERSION,
};
use models::resources::Resources;
use sim_core::SimDuration;

struct FakeAgent {
    stream: ClientStream,
    reader: FrameReader,
}

impl FakeAgent {
    /// Connects with agent 0's certificate (whose name is `agent-0`).
    fn connect(addr: &str, certs: &Path) -> FakeAgent {
        FakeAgent::connect_as(addr, certs, 0)
    }

    /// Connects with agent `i`'s certificate.
    fn connect_as(addr: &str, certs: &Path, i: u32) -> FakeAgent {
        let (cert, key) = agent_files(i);
        let tls = TlsFiles {
            cert: certs.join(cert),
            key: certs.join(key),
            ca: certs.join("ca.pem"),
        };
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stream = connect(&tls.client_config().unwrap(), "localhost", sock, addr).unwrap();
        FakeAgent {
            stream,
            reader: FrameReader::new(addr.to_string()),
        }
    }

    fn send(&mut self, m: &Message) {
        let peer = self.reader.peer().to_string();
        write_message(&mut self.stream, &peer, m).unwrap();
    }

    fn register(&mut self, version: u32, name: &str) {
        self.send(&Message::Register {
            version,
            agent: name.into(),
            resources: "cpus:1;mem:256".into(),
            cgroup_version: "v2".into(),
            cgroup: vec![format!("/nowhere/{name}")],
        });
    }

    /// Registers as `odd` with `change` applied to a good Register; returns the reason
    /// the master refused it for (it must refuse and close).
    fn refused(addr: &str, certs: &Path, change: impl FnOnce(&mut Message)) -> String {
        let mut agent = FakeAgent::connect(addr, certs);
        let mut m = Message::Register {
            version: PROTOCOL_VERSION,
            agent: "odd".into(),
            resources: "cpus:1;mem:256".into(),
            cgroup_version: "v2".into(),
            cgroup: vec!["/nowhere/odd".into()],
        };
        change(&mut m);
        agent.send(&m);
        let reason = match agent.next().unwrap() {
            Message::Refused { reason } => reason,
            other => panic!("expected Refused, got {other:?}"),
        };
        assert!(matches!(agent.next(), Err(WireError::Closed { .. })));
        reason
    }

    /// Registers as `agent-<i>` and answers `n` launches with `TASK_RUNNING`; returns
    /// the task ids.
    fn run_tasks(&mut self, i: u32, n: usize) -> Vec<String> {
        self.register(PROTOCOL_VERSION, &format!("agent-{i}"));
        assert!(matches!(self.next().unwrap(), Message::Registered { .. }));
        let mut tasks = Vec::new();
        while tasks.len() < n {
            if let Message::LaunchTask { task_id, .. } = self.next().unwrap() {
                self.send(&status(&task_id, TaskState::Running, None));
                tasks.push(task_id);
            }
        }
        tasks
    }

    /// True once the master ended the connection (reads whatever else it sends).
    fn dropped(&mut self) -> bool {
        let mut progress = false;
        self.reader.poll(&mut self.stream, &mut progress).is_err()
    }

    /// The next message other than a heartbeat, or the error that ended the stream.
    fn next(&mut self) -> Result<Message, WireError> {
        let start = Instant::now();
        loop {
            let mut progress = false;
            match self.reader.poll(&mut self.stream, &mut progress)? {
                Some(Message::Heartbeat) | None => {}
                Some(m) => return Ok(m),
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no message");
        }
    }
}

fn status(task: &str, state: TaskState, exit_code: Option<i32>) -> Message {
    Message::StatusUpdate {
        task_id: task.into(),
        state,
        exit_code,
        signal: None,
        message: String::new(),
    }
}

type MasterRun =
    std::thread::JoinHandle<Result<live::summary::LiveSummary, live::master::MasterError>>;

/// Starts a master running `tasks` tasks of `cpus:0.5;mem:64` in a thread; returns it,
/// its address and the certificates directory.
fn start_master(tmp: &Path, tasks: u32) -> (MasterRun, String, PathBuf) {
    start_master_for(tmp, tasks, 1)
}

/// As [`start_master`], launching nothing before `min_agents` registered.
fn start_master_for(tmp: &Path, tasks: u32, min_agents: u32) -> (MasterRun, String, PathBuf) {
    let certs = tmp.join("certs");
    write_certs(&CertsConfig {
        out: certs.clone(),
        master_names: vec!["localhost".into()],
        agents: 2,
    })
    .unwrap();
    let listen_file = tmp.join("addr");
    let config = master_config(&certs, &listen_file, &tmp.join("out"), tasks, min_agents);
    let master = std::thread::spawn(move || run_master(&config));
    let addr = wait_for_address(&listen_file);
    (master, addr, certs)
}

#[test]
fn bad_peers_are_refused_or_dropped_and_a_dropped_agents_tasks_are_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, addr, certs) = start_master(tmp.path(), 2);

    // A newer protocol: refused with the reason, then closed.
    let mut future = FakeAgent::connect(&addr, &certs);
    future.register(PROTOCOL_VERSION + 1, "future");
    let local = future.stream.sock.local_addr().unwrap();
    assert_eq!(
        future.next().unwrap(),
        Message::Refused {
            reason: format!(
                "peer {local}: protocol version 2 is not supported (this build speaks 1)"
            )
        }
    );
    assert!(matches!(future.next(), Err(WireError::Closed { .. })));

    // A name that could not be a directory: refused.
    let mut odd = FakeAgent::connect(&addr, &certs);
    odd.register(PROTOCOL_VERSION, "../etc");
    assert_eq!(
        odd.next().unwrap(),
        Message::Refused {
            reason: "an agent name is 1-64 of [A-Za-z0-9._-]".into()
        }
    );
    assert!(matches!(odd.next(), Err(WireError::Closed { .. })));

    // Peer text is bounded and checked before it is parsed, stored or printed.
    let set = |f: fn(&mut String, &mut String, &mut Vec<String>)| {
        move |m: &mut Message| {
            if let Message::Register {
                resources,
                cgroup_version,
                cgroup,
                ..
            } = m
            {
                f(resources, cgroup_version, cgroup)
            }
        }
    };
    let long = FakeAgent::refused(
        &addr,
        &certs,
        set(|r, _, _| r.push_str(&";x:1".repeat(2000))),
    );
    assert_eq!(long, "resources: longer than 4096 bytes");
    let version = FakeAgent::refused(&addr, &certs, set(|_, v, _| *v = "v3\u{1b}[2J".into()));
    assert_eq!(version, "cgroup version `v3\\u{1b}[2J` is not v1 or v2");
    let many = FakeAgent::refused(&addr, &certs, set(|_, _, c| *c = vec!["/a".into(); 9]));
    assert!(many.starts_with("cgroup: at most 8 directories"), "{many}");
    let control = FakeAgent::refused(&addr, &certs, set(|_, _, c| c[0].push('\n')));
    assert!(
        control.starts_with("cgroup: at most 8 directories"),
        "{control}"
    );

    // Agent 1's certificate does not make it agent 0.
    let mut impostor = FakeAgent::connect_as(&addr, &certs, 1);
    impostor.register(PROTOCOL_VERSION, "agent-0");
    let local = impostor.stream.sock.local_addr().unwrap();
    assert_eq!(
        impostor.next().unwrap(),
        Message::Refused {
            reason: format!(
                "the certificate of {local} is for `agent-1`, not `agent-0` (an agent \
                 registers under a DNS name of its certificate)"
            )
        }
    );
    assert!(matches!(impostor.next(), Err(WireError::Closed { .. })));

    // An oversized frame instead of Register: dropped without an answer.
    let mut noisy = FakeAgent::connect(&addr, &certs);
    noisy.stream.write_all(&u32::MAX.to_be_bytes()).unwrap();
    noisy.stream.flush().unwrap();
    assert!(matches!(noisy.next(), Err(WireError::Closed { .. })));

    // A good agent gets both tasks (it holds two), finishes one, then names a task it
    // was never given: the master drops it and the other task is lost.
    let mut agent = FakeAgent::connect(&addr, &certs);
    agent.register(PROTOCOL_VERSION, "agent-0");
    assert_eq!(agent.next().unwrap(), Message::Registered { agent_id: 0 });
    let mut launched = Vec::new();
    while launched.len() < 2 {
        match agent.next().unwrap() {
            Message::LaunchTask {
                task_id,
                resources,
                command,
                ..
            } => {
                assert_eq!(
                    (resources.as_str(), command.as_str()),
                    ("cpus:0.5;mem:64", "true")
                );
                agent.send(&status(&task_id, TaskState::Running, None));
                launched.push(task_id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(launched, ["task-0", "task-1"]);
    agent.send(&status("task-0", TaskState::Finished, Some(0)));
    agent.send(&status("task-99", TaskState::Finished, Some(0)));
    assert!(matches!(agent.next(), Err(WireError::Closed { .. })));

    let summary = master.join().unwrap().unwrap();
    assert_eq!(summary.agents.len(), 1);
    assert_eq!(
        (
            summary.tasks.launched,
            summary.tasks.finished,
            summary.tasks.lost
        ),
        (2, 1, Some(1))
    );
    let states: Vec<_> = summary.task_runs.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["TASK_FINISHED", "TASK_LOST"]);
    assert_eq!(summary.task_runs[0].exit_code, Some(0));
    let reasons: Vec<_> = summary
        .task_runs
        .iter()
        .map(|r| r.reason.as_deref())
        .collect();
    assert_eq!(reasons, [None, Some("REASON_AGENT_REMOVED")]);
    let written: live::summary::LiveSummary = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written, summary);
}

#[test]
fn an_agent_flooding_status_updates_does_not_crowd_out_a_good_one() {
    use live::master::STATUS_BUDGET;
    let tmp = tempfile::tempdir().unwrap();
    let (master, addr, certs) = start_master_for(tmp.path(), 4, 2);
    let flood_for = Duration::from_secs(3);
    let flooder = {
        let (addr, certs) = (addr.clone(), certs.clone());
        std::thread::spawn(move || {
            let mut a = FakeAgent::connect_as(&addr, &certs, 1);
            a.register(PROTOCOL_VERSION, "agent-1");
            assert!(matches!(a.next().unwrap(), Message::Registered { .. }));
            let (mut tasks, mut sent) = (Vec::<String>::new(), 0);
            let until = Instant::now() + flood_for;
            while Instant::now() < until {
                // Bursts of heartbeats, then of updates for its (running) tasks, as
                // fast as the master takes them.
                let burst: Vec<u8> = if tasks.is_empty() {
                    (0..100).flat_map(|_| encode(&Message::Heartbeat)).collect()
                } else {
                    sent += 100;
                    let updates = tasks.iter().cycle().take(100);
                    updates
                        .flat_map(|t| encode(&status(t, TaskState::Running, None)))
                        .collect()
                };
                a.stream.write_all(&burst).unwrap();
                a.stream.flush().unwrap();
                let mut progress = false;
                match a.reader.poll(&mut a.stream, &mut progress).unwrap() {
                    Some(Message::LaunchTask { task_id, .. }) => tasks.push(task_id),
                    Some(Message::Heartbeat) | None => {}
                    Some(other) => panic!("unexpected {other:?}"),
                }
            }
            for t in &tasks {
                a.send(&status(t, TaskState::Finished, Some(0)));
            }
            loop {
                match a.next().unwrap() {
                    Message::Shutdown { .. } => break,
                    Message::LaunchTask { .. } => panic!("a task after the flood"),
                    _ => {}
                }
            }
            (tasks.len(), sent)
        })
    };
    // The good agent runs its tasks to the end while the flood goes on.
    let mut good = FakeAgent::connect(&addr, &certs);
    good.register(PROTOCOL_VERSION, "agent-0");
    assert!(matches!(good.next().unwrap(), Message::Registered { .. }));
    let mut mine = 0;
    let shutdown = loop {
        match good.next().unwrap() {
            Message::LaunchTask { task_id, .. } => {
                good.send(&status(&task_id, TaskState::Running, None));
                good.send(&status(&task_id, TaskState::Finished, Some(0)));
                mine += 1;
            }
            Message::Shutdown { reason } => break reason,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(shutdown, "the run ended");
    let (theirs, flooded) = flooder.join().unwrap();
    assert_eq!((mine, theirs), (2, 2));
    assert!(flooded > 10 * STATUS_BUDGET, "only {flooded} updates sent");
    let summary = master.join().unwrap().unwrap();
    assert_eq!(
        (summary.tasks.finished, summary.tasks.lost),
        (4, Some(0)),
        "{:?}",
        summary.task_runs
    );
}

#[test]
fn an_agent_trickling_a_tls_record_or_a_frame_is_dropped() {
    use live::wire::FRAME_TIMEOUT;
    let tmp = tempfile::tempdir().unwrap();
    let (master, addr, certs) = start_master_for(tmp.path(), 4, 2);
    let limit = Duration::from_secs(25);
    // Agent 0 sends a 12 KiB update as one TLS record, a byte every 5 ms: no whole
    // record, so no message, for a minute.
    let record = {
        let (addr, certs) = (addr.clone(), certs.clone());
        std::thread::spawn(move || {
            let mut a = FakeAgent::connect_as(&addr, &certs, 0);
            let tasks = a.run_tasks(0, 2);
            let mut update = status(&tasks[0], TaskState::Running, None);
            if let Message::StatusUpdate { message, .. } = &mut update {
                *message = "x".repeat(12 * 1024);
            }
            a.stream.conn.writer().write_all(&encode(&update)).unwrap();
            let mut ciphertext = Vec::new();
            while a.stream.conn.wants_write() {
                a.stream.conn.write_tls(&mut ciphertext).unwrap();
            }
            let mut raw = a.stream.sock.try_clone().unwrap();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let trickle = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    for b in ciphertext {
                        let gone = raw.write_all(&[b]).is_err();
                        if gone || stop.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    panic!("the whole record went out");
                })
            };
            let start = Instant::now();
            while !a.dropped() {
                assert!(start.elapsed() < limit, "still connected");
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            trickle.join().unwrap();
        })
    };
    // Agent 1 sends an update a byte per TLS record, one every 100 ms: never silent,
    // but the frame takes a minute.
    let mut b = FakeAgent::connect_as(&addr, &certs, 1);
    let tasks = b.run_tasks(1, 2);
    let mut update = status(&tasks[0], TaskState::Running, None);
    if let Message::StatusUpdate { message, .. } = &mut update {
        *message = "y".repeat(600);
    }
    let start = Instant::now();
    for byte in encode(&update) {
        if b.stream.write_all(&[byte]).is_err() || b.stream.flush().is_err() {
            break;
        }
        let next = Instant::now() + Duration::from_millis(100);
        let mut dropped = false;
        while Instant::now() < next && !dropped {
            dropped = b.dropped();
        }
        if dropped {
            break;
        }
        assert!(start.elapsed() < limit, "still connected");
    }
    let took = start.elapsed();
    assert!(took >= FRAME_TIMEOUT && took < limit, "{took:?}");
    record.join().unwrap();
    let summary = master.join().unwrap().unwrap();
    assert_eq!((summary.tasks.launched, summary.tasks.lost), (4, Some(4)));
}

#[test]
fn connections_from_one_address_still_in_their_handshake_are_limited() {
    use live::master::MAX_UNVERIFIED_PER_ADDRESS;
    use std::io::{ErrorKind, Read};
    let tmp = tempfile::tempdir().unwrap();
    let (master, addr, certs) = start_master(tmp.path(), 1);
    // A verified agent does not count against its address.
    let mut agent = FakeAgent::connect(&addr, &certs);
    agent.register(PROTOCOL_VERSION, "agent-0");
    assert_eq!(agent.next().unwrap(), Message::Registered { agent_id: 0 });
    // Connections that never start their handshake: the limit's worth wait in it...
    let mut mute: Vec<TcpStream> = (0..MAX_UNVERIFIED_PER_ADDRESS)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // ...and one more from the same address is closed at once: well before the
    // handshake's 10 s deadline would close it, and before the master, not hearing
    // from its agent for 5 s, would end the run and close everything.
    agent.send(&Message::Heartbeat);
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 16];
    match extra.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    let last = mute.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let e = last.read(&mut buf).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e}"
    );
    // The verified agent works on.
    let Message::LaunchTask { task_id, .. } = agent.next().unwrap() else {
        panic!("no launch");
    };
    agent.send(&status(&task_id, TaskState::Finished, Some(0)));
    let summary = master.join().unwrap().unwrap();
    assert_eq!(summary.tasks.finished, 1);
}

#[test]
fn a_silent_agent_is_lost_after_the_peer_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, addr, certs) = start_master(tmp.path(), 1);
    let mut agent = FakeAgent::connect(&addr, &certs);
    agent.register(PROTOCOL_VERSION, "agent-0");
    assert_eq!(agent.next().unwrap(), Message::Registered { agent_id: 0 });
    assert!(matches!(agent.next().unwrap(), Message::LaunchTask { .. }));
    agent.send(&status("task-0", TaskState::Running, None));
    // From here the agent sends nothing (no heartbeats) and reads nothing.
    let silent_from = Instant::now();
    let summary = master.join().unwrap().unwrap();
    let waited = silent_from.elapsed();
    assert!(
        // Not before the timeout; the upper bound only catches a master that never
        // notices (a loaded CI machine may take seconds more).
        waited >= PEER_TIMEOUT && waited < PEER_TIMEOUT + Duration::from_secs(30),
        "{waited:?}"
    );
    assert_eq!((summary.tasks.launched, summary.tasks.lost), (1, Some(1)));
    assert_eq!(summary.task_runs[0].state, "TASK_LOST");
    drop(agent);
}

#[test]
fn a_task_command_too_long_for_a_launch_frame_is_refused_up_front() {
    use live::master::MAX_TASK_COMMAND;
    let config = |command: String| MasterConfig {
        listen: "127.0.0.1:0".into(),
        listen_file: None,
        tls: TlsFiles {
            cert: "m.pem".into(),
            key: "m-key.pem".into(),
            ca: "ca.pem".into(),
        },
        policy: "hdrf".into(),
        seed: 1,
        allocation_interval: SimDuration::from_millis(50),
        tasks: 1,
        task_resources: Resources::parse("cpus:0.5;mem:64").unwrap(),
        task_command: command,
        min_agents: 1,
        timeout: SimDuration::from_secs(60),
        out: "out".into(),
        task_uris: Vec::new(),
    };
    let e = config("x".repeat(MAX_TASK_COMMAND + 1))
        .validate()
        .unwrap_err()
        .to_string();
    let want = format!("--task-command is {} bytes", MAX_TASK_COMMAND + 1);
    assert!(e.contains(&want), "{e}");
    // The longest command fits a frame even when JSON escapes every byte (\u0001).
    let longest = "\u{1}".repeat(MAX_TASK_COMMAND);
    config(longest.clone()).validate().unwrap();
    // With the most URI bytes, each one JSON doubles (`"`).
    let uri = format!("/{}", "\"".repeat(live::master::MAX_TASK_URIS - 1));
    let mut with_uris = config(longest.clone());
    with_uris.task_uris = vec![live::fetcher::TaskUri::parse(&uri).unwrap()];
    with_uris.validate().unwrap();
    with_uris
        .task_uris
        .push(live::fetcher::TaskUri::parse("/x").unwrap());
    let e = with_uris.validate().unwrap_err().to_string();
    assert!(e.contains("the --task-uri values are"), "{e}");
    let frame = live::wire::encode(&Message::LaunchTask {
        task_id: "x".repeat(64),
        resources: "cpus:0.5;mem:64".into(),
        command: longest,
        uris: vec![uri],
    });
    assert!(
        frame.len() <= 4 + live::wire::MAX_FRAME as usize,
        "{}",
        frame.len()
    );
}
