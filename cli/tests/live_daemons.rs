//! `mesosim live certs`, `live master` and `live agent` end to end on loopback: two agents run a master's tasks in their cgroups without over-allocation; an agent with a foreign certificate is refused with an error on both sides; a SIGKILLed agent's running tasks become TASK_LOST and the run still ends; agents clean up on SIGTERM and when the master dies; SIGTERM stops a master without output.
//!
//! The root tests skip (saying why) when cgroups cannot be created, and fail instead
//! when `MESOSIM_REQUIRE_ROOT_TESTS=1`, as CI sets it. Their cgroups are named
//! `mesosim-test-<pid>-<n>` and are removed by guards, as are the processes, also when
//! a test fails.

mod common;

use common::{mesosim, stderr};
use live::cgroup::{Cgroup, CgroupGuard};
use live::summary::{LiveSummary, TaskRun};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn skip(reason: &str) {
    if std::env::var("MESOSIM_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1") {
        panic!("MESOSIM_REQUIRE_ROOT_TESTS=1 but: {reason}");
    }
    eprintln!("skipping a root test: {reason}");
}

/// This host's cgroup base when this process may create cgroups there (probed with a
/// cgroup removed at once).
fn cgroup_base(name: &str) -> Option<Cgroup> {
    let reason = match live::cgroup::detect_host() {
        Ok(base) => match base.create_child(name) {
            Ok(probe) => match probe.remove() {
                Ok(()) => return Some(base),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    skip(&reason);
    None
}

/// A child process killed (SIGKILL) and reaped on drop unless it already ended.
struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(args: &[&str], cwd: &Path, stderr_file: &str) -> Proc {
        let stderr = cwd.join(stderr_file);
        let child = Command::new(env!("CARGO_BIN_EXE_mesosim"))
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Proc { child, stderr }
    }

    /// Waits up to `limit` for the exit; its status code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                start.elapsed() < limit,
                "still running after {limit:?}: {}",
                self.err()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn err(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `mesosim live certs` into `dir/certs` with three agent certificates.
fn make_certs(dir: &Path, out: &str) {
    let o = mesosim(&["live", "certs", "--out", out, "--agents", "3"], dir);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Starts a master on a free loopback port; returns it and its address.
fn start_master(dir: &Path, extra: &[&str]) -> (Proc, String) {
    let mut args = vec![
        "live",
        "master",
        "--listen",
        "127.0.0.1:0",
        "--listen-file",
        "addr",
        "--tls-cert",
        "certs/master.pem",
        "--tls-key",
        "certs/master-key.pem",
        "--tls-ca",
        "certs/ca.pem",
        "--allocation-interval",
        "100ms",
        "--out",
        "out",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let mut master = Proc::spawn(&args, dir, "master.err");
    let start = Instant::now();
    let addr = loop {
        if let Ok(a) = fs::read_to_string(dir.join("addr")) {
            break a.trim().to_string();
        }
        if let Ok(Some(s)) = master.child.try_wait() {
            panic!("master exited with {s}: {}", master.err());
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "master never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(master.err().contains(&format!("listening on {addr}")));
    (master, addr)
}

/// Starts agent `i` (certificate `agent-<i>` from `certs_dir`, trusting `certs/ca.pem`)
/// with its cgroup `cgroup` and sandboxes in `dir/work-<i>`.
fn start_agent(dir: &Path, addr: &str, i: u32, certs_dir: &str, cgroup: &str) -> Proc {
    let (cert, key) = (
        format!("{certs_dir}/agent-{i}.pem"),
        format!("{certs_dir}/agent-{i}-key.pem"),
    );
    let (name, work) = (format!("agent-{i}"), format!("work-{i}"));
    // Agent 0 names itself; the others go by their certificate's name, the default.
    let named = ["--name", name.as_str()];
    let name_flags = if i == 0 { &named[..] } else { &[][..] };
    let mut args = vec!["live", "agent", "--master", addr];
    args.extend_from_slice(name_flags);
    args.extend([
        "--resources",
        "cpus:1;mem:256",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-ca",
        "certs/ca.pem",
        "--cgroup-name",
        cgroup,
        "--work-dir",
        &work,
    ]);
    Proc::spawn(&args, dir, &format!("agent-{i}.err"))
}

fn summary(dir: &Path) -> LiveSummary {
    serde_json::from_str(&fs::read_to_string(dir.join("out/summary.json")).unwrap()).unwrap()
}

/// Per agent, the CPU (milli) its overlapping tasks held never exceeded `limit`.
fn max_concurrent_cpus(runs: &[TaskRun], agent: &str) -> i64 {
    let mine: Vec<_> = runs.iter().filter(|r| r.agent == agent).collect();
    mine.iter()
        .map(|r| {
            mine.iter()
                .filter(|o| o.start_ns <= r.start_ns && r.start_ns < o.end_ns.max(o.start_ns + 1))
                .map(|o| o.cpus_milli)
                .sum::<i64>()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn bad_flags_and_unreadable_certificates_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let tls = [
        "--tls-cert",
        "c.pem",
        "--tls-key",
        "k.pem",
        "--tls-ca",
        "ca.pem",
    ];
    for (args, expected) in [
        (
            &["master", "--policy", "nope"][..],
            "unknown allocator `nope`",
        ),
        (
            &["master", "--min-agents", "0"][..],
            "--min-agents must be at least 1",
        ),
        (
            &["master", "--tasks", "0"][..],
            "--tasks must be at least 1",
        ),
        (
            &["master", "--task-command", " "][..],
            "--task-command is empty",
        ),
        (&["master"][..], "--tls-ca ca.pem: "),
        (
            &["agent", "--master", "h:1", "--resources", "cpus:1"][..],
            "--resources needs positive cpus and mem",
        ),
        (
            &["agent", "--master", "h:1", "--cgroup-name", "a/b"][..],
            "must be one path component",
        ),
        (
            &["agent", "--master", "h:1", "--name", "a b"][..],
            "--name `a b` must be 1-64 of [A-Za-z0-9._-]",
        ),
        (
            &["certs", "--out", "c", "--master-name", " "][..],
            "--master-name ` ` is empty",
        ),
    ] {
        let mut all = vec!["live"];
        all.extend_from_slice(args);
        if args[0] != "certs" {
            all.extend_from_slice(&tls);
        }
        let o = mesosim(&all, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn two_agents_run_the_masters_tasks_and_a_foreign_agent_is_refused() {
    let pid = std::process::id();
    let Some(base) = cgroup_base(&format!("mesosim-test-{pid}-20")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "certs");
    make_certs(dir.path(), "foreign");
    let names: Vec<String> = (21..24)
        .map(|n| format!("mesosim-test-{pid}-{n}"))
        .collect();
    // Guards for whatever the agents leave, also when this test fails.
    let _cgroups: Vec<CgroupGuard> = names
        .iter()
        .map(|n| CgroupGuard::adopt(base.child(n)))
        .collect();
    let (mut master, addr) = start_master(
        dir.path(),
        &[
            "--tasks",
            "4",
            "--task-resources",
            "cpus:0.5;mem:64",
            "--task-command",
            "echo $MESOSIM_TASK_ID on $MESOSIM_AGENT; sleep 1",
            "--min-agents",
            "2",
            "--timeout",
            "60s",
        ],
    );
    // A certificate from another CA: refused at the handshake, both sides say so.
    let mut foreign = start_agent(dir.path(), &addr, 2, "foreign", &names[2]);
    assert_eq!(
        foreign.wait(Duration::from_secs(30)),
        Some(2),
        "{}",
        foreign.err()
    );
    assert!(
        foreign
            .err()
            .contains("the master rejected this agent's certificate"),
        "{}",
        foreign.err()
    );
    assert!(
        master
            .err()
            .contains("invalid peer certificate: UnknownIssuer"),
        "{}",
        master.err()
    );
    let mut agents: Vec<Proc> = (0..2)
        .map(|i| start_agent(dir.path(), &addr, i, "certs", &names[i as usize]))
        .collect();
    assert_eq!(
        master.wait(Duration::from_secs(60)),
        Some(0),
        "{}",
        master.err()
    );
    for a in &mut agents {
        assert_eq!(a.wait(Duration::from_secs(30)), Some(0), "{}", a.err());
        assert!(
            a.err().contains("shut down by the master (the run ended)"),
            "{}",
            a.err()
        );
    }
    let s = summary(dir.path());
    assert_eq!(s.mode, "live-master");
    assert_eq!(
        (
            s.tasks.submitted,
            s.tasks.launched,
            s.tasks.finished,
            s.tasks.lost
        ),
        (4, 4, 4, Some(0))
    );
    assert_eq!(s.agents.len(), 2, "the foreign agent never registered");
    // Each agent holds two tasks at most (cpus 1 / 0.5), so four tasks need both.
    for a in &s.agents {
        assert_eq!(a.tasks_launched, 2, "{}", a.name);
        assert!(max_concurrent_cpus(&s.task_runs, &a.name) <= a.cpus_milli);
        assert!(a.cgroup.iter().all(|d| !Path::new(d).exists()));
    }
    for r in &s.task_runs {
        assert_eq!(r.state, "TASK_FINISHED");
        assert_eq!(r.exit_code, Some(0));
        assert!(r.wall_ns >= 1_000_000_000, "{} ran {} ns", r.id, r.wall_ns);
        assert!(r.cgroup.iter().all(|d| !Path::new(d).exists()));
        // The sandbox on its agent holds what the task printed.
        let i = &r.agent["agent-".len()..];
        let out = fs::read_to_string(dir.path().join(format!("work-{i}/{}/stdout", r.id))).unwrap();
        assert_eq!(out, format!("{} on {}\n", r.id, r.agent));
    }
}

#[test]
fn a_killed_agents_running_tasks_are_lost_and_the_run_still_ends() {
    let pid = std::process::id();
    let Some(base) = cgroup_base(&format!("mesosim-test-{pid}-30")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "certs");
    let names: Vec<String> = (31..33)
        .map(|n| format!("mesosim-test-{pid}-{n}"))
        .collect();
    // The killed agent cannot clean up: its tasks and cgroups are this guard's.
    let _cgroups: Vec<CgroupGuard> = names
        .iter()
        .map(|n| CgroupGuard::adopt(base.child(n)))
        .collect();
    let (mut master, addr) = start_master(
        dir.path(),
        &[
            "--tasks",
            "4",
            "--task-command",
            "echo $$ > pid; sleep 4",
            "--min-agents",
            "2",
            "--timeout",
            "60s",
        ],
    );
    let mut agents: Vec<Proc> = (0..2)
        .map(|i| start_agent(dir.path(), &addr, i, "certs", &names[i as usize]))
        .collect();
    // Both of agent 1's tasks started (each agent holds two): kill it.
    let start = Instant::now();
    let victim_work = dir.path().join("work-1");
    loop {
        let started = fs::read_dir(&victim_work)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        fs::read_to_string(e.path().join("pid")).is_ok_and(|p| !p.trim().is_empty())
                    })
                    .count()
            })
            .unwrap_or(0);
        if started == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            master.err()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    agents[1].child.kill().unwrap();
    assert_eq!(
        master.wait(Duration::from_secs(60)),
        Some(0),
        "{}",
        master.err()
    );
    assert!(master.err().contains("`agent-1` lost"), "{}", master.err());
    assert_eq!(
        agents[0].wait(Duration::from_secs(30)),
        Some(0),
        "{}",
        agents[0].err()
    );
    let s = summary(dir.path());
    assert_eq!(
        (s.tasks.launched, s.tasks.finished, s.tasks.lost),
        (4, 2, Some(2))
    );
    for r in &s.task_runs {
        let expected = if r.agent == "agent-1" {
            "TASK_LOST"
        } else {
            "TASK_FINISHED"
        };
        assert_eq!(r.state, expected, "{}", r.id);
    }
    // The lost tasks ended on the master's books well before they would have exited.
    let lost_end = s
        .task_runs
        .iter()
        .filter(|r| r.state == "TASK_LOST")
        .map(|r| r.wall_ns)
        .max();
    assert!(
        lost_end.is_some_and(|ns| ns < 4_000_000_000),
        "{lost_end:?}"
    );
}

/// The pids the tasks under `work` wrote into their sandboxes (`echo $$ > pid`).
fn task_pids(work: &Path) -> Vec<String> {
    fs::read_dir(work)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| fs::read_to_string(e.path().join("pid")).ok())
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// True once `pid` is gone (or a zombie awaiting its reaper).
fn dead(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}

#[test]
fn agents_clean_up_on_sigterm_and_when_the_master_dies() {
    let pid = std::process::id();
    let Some(base) = cgroup_base(&format!("mesosim-test-{pid}-40")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "certs");
    let names: Vec<String> = (41..43)
        .map(|n| format!("mesosim-test-{pid}-{n}"))
        .collect();
    let _cgroups: Vec<CgroupGuard> = names
        .iter()
        .map(|n| CgroupGuard::adopt(base.child(n)))
        .collect();
    let (mut master, addr) = start_master(
        dir.path(),
        &[
            "--tasks",
            "4",
            "--task-command",
            "echo $$ > pid; exec sleep 60",
            "--min-agents",
            "2",
        ],
    );
    let mut agents: Vec<Proc> = (0..2)
        .map(|i| start_agent(dir.path(), &addr, i, "certs", &names[i as usize]))
        .collect();
    let start = Instant::now();
    let pids: Vec<Vec<String>> = loop {
        let pids: Vec<_> = (0..2)
            .map(|i| task_pids(&dir.path().join(format!("work-{i}"))))
            .collect();
        if pids.iter().all(|p| p.len() == 2) {
            break pids;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            master.err()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SIGTERM: the agent kills its tasks, removes its cgroup and exits 2.
    let term = Command::new("kill")
        .args(["-TERM", &agents[1].child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert_eq!(agents[1].wait(Duration::from_secs(30)), Some(2));
    assert!(
        agents[1]
            .err()
            .contains("interrupted by SIGTERM: tasks killed, cgroups removed"),
        "{}",
        agents[1].err()
    );
    assert!(pids[1].iter().all(|p| dead(p)), "{:?}", pids[1]);
    assert!(base.child(&names[1]).dirs().iter().all(|d| !d.exists()));
    // The master saw the connection end: the agent is lost.
    let start = Instant::now();
    while !master.err().contains("`agent-1` lost") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            master.err()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The master dies without a word: the other agent notices and cleans up.
    master.child.kill().unwrap();
    assert_eq!(agents[0].wait(Duration::from_secs(30)), Some(2));
    assert!(
        agents[0].err().contains("lost the master: peer 127.0.0.1:"),
        "{}",
        agents[0].err()
    );
    assert!(pids[0].iter().all(|p| dead(p)), "{:?}", pids[0]);
    assert!(base.child(&names[0]).dirs().iter().all(|d| !d.exists()));
}

#[test]
fn sigterm_stops_a_waiting_master_without_output() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "certs");
    let (mut master, _addr) = start_master(dir.path(), &["--tasks", "1"]);
    let term = Command::new("kill")
        .args(["-TERM", &master.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert_eq!(master.wait(Duration::from_secs(30)), Some(2));
    assert!(
        master
            .err()
            .contains("interrupted by SIGTERM: agents told to shut down, no output written"),
        "{}",
        master.err()
    );
    assert!(!dir.path().join("out").exists());
}
