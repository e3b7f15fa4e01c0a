//! Tests against the real cgroup hierarchies: they need root and the cpu and memory controllers, print why and skip without them, and fail instead of skipping when `MESOSIM_REQUIRE_ROOT_TESTS=1` (as CI sets it).
//!
//! Every cgroup a test creates is named `mesosim-test-<pid>-<n>` and owned by a guard,
//! so a failing test removes it on unwinding and a leftover is recognisable.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use live::cgroup::{detect_host, Cgroup, Limits};
use live::oversubscription::OversubscriptionConfig;
use live::process::{Exit, TaskEnv, TaskProcess};
use live::run::{run, LiveConfig, LiveError};
use live::summary::{LiveSummary, TaskRun};
use models::resources::Resources;
use sim_core::SimDuration;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!(
        "mesosim-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The host's cgroup base, or `None` (after saying why) when the capability is absent.
fn host() -> Option<Cgroup> {
    let reason = match detect_host() {
        Ok(base) => match base.create_child(&unique_name()) {
            Ok(probe) => match probe.remove() {
                Ok(()) => return Some(base),
                Err(e) => format!("cannot remove a probe cgroup: {e}"),
            },
            Err(e) => format!("cannot create a cgroup: {e}"),
        },
        Err(e) => e.to_string(),
    };
    skip(&reason);
    None
}

fn skip(reason: &str) {
    if std::env::var("MESOSIM_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1") {
        panic!("MESOSIM_REQUIRE_ROOT_TESTS=1 but: {reason}");
    }
    eprintln!("skipping a root test: {reason}");
}

fn config(out: &Path, tasks: u32, command: &str) -> LiveConfig {
    LiveConfig {
        agents: 2,
        agent_resources: Resources::parse("cpus:1;mem:256").unwrap(),
        tasks,
        task_resources: Resources::parse("cpus:0.5;mem:64").unwrap(),
        task_command: command.into(),
        policy: "hdrf".into(),
        seed: 1,
        allocation_interval: SimDuration::from_millis(100),
        timeout: SimDuration::from_secs(60),
        cgroup_name: unique_name(),
        out: out.to_path_buf(),
        network: None,
        oversubscription: Default::default(),
        limit_swap: false,
        fetch: Default::default(),
    }
}

fn gone(dirs: &[String]) -> bool {
    dirs.iter().all(|d| !Path::new(d).exists())
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn tasks_run_in_their_own_cgroups_with_their_limits_and_everything_is_removed() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cfg = config(&out, 4, "");
    // Each task copies its /proc/self/cgroup and its own limit files into its sandbox.
    let run_dirs: Vec<PathBuf> = base
        .child(&cfg.cgroup_name)
        .dirs()
        .iter()
        .map(|d| d.to_path_buf())
        .collect();
    let own = |i: usize| format!("{}/$MESOSIM_AGENT/$MESOSIM_TASK_ID", run_dirs[i].display());
    cfg.task_command = match &base {
        Cgroup::V1 { .. } => format!(
            "cat /proc/self/cgroup > cgroup; cat {c}/cpu.cfs_quota_us > cpu; \
             cat {c}/cpu.cfs_period_us > period; cat {m}/memory.limit_in_bytes > mem",
            c = own(0),
            m = own(run_dirs.len() - 1)
        ),
        Cgroup::V2 { .. } => format!(
            "cat /proc/self/cgroup > cgroup; cat {c}/cpu.max > cpu; cat {c}/memory.max > mem",
            c = own(0)
        ),
    };
    // ... and its blocked-signal mask (the master blocks SIGINT and SIGTERM for itself).
    cfg.task_command
        .push_str("; grep SigBlk /proc/self/status > sigblk");
    let summary = run(&cfg, &base).unwrap();
    let on_disk: LiveSummary = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(on_disk, summary);
    assert_eq!(summary.cgroup_version, base.version());
    assert_eq!(
        (
            summary.tasks.launched,
            summary.tasks.finished,
            summary.tasks.failed
        ),
        (4, 4, 0)
    );
    assert_eq!(summary.agents.len(), 2);
    for run in &summary.task_runs {
        assert_eq!(run.state, "TASK_FINISHED");
        let sandbox = out.join(&run.sandbox);
        let suffix = format!("/{}/{}/{}", cfg.cgroup_name, run.agent, run.id);
        let cgroup = read(&sandbox.join("cgroup"));
        // The lines of /proc/self/cgroup for the hierarchies we placed it in.
        let placed: Vec<&str> = cgroup
            .lines()
            .filter(|l| {
                let mut f = l.splitn(3, ':');
                let (_, names) = (f.next(), f.next().unwrap_or(""));
                match base {
                    Cgroup::V1 { .. } => names.split(',').any(|n| n == "cpu" || n == "memory"),
                    Cgroup::V2 { .. } => names.is_empty(),
                }
            })
            .collect();
        assert!(!placed.is_empty(), "{cgroup}");
        for line in placed {
            assert!(line.ends_with(&suffix), "{} ran in {line}", run.id);
        }
        match base {
            Cgroup::V1 { .. } => {
                assert_eq!(read(&sandbox.join("cpu")).trim(), "50000");
                assert_eq!(read(&sandbox.join("period")).trim(), "100000");
            }
            Cgroup::V2 { .. } => assert_eq!(read(&sandbox.join("cpu")).trim(), "50000 100000"),
        }
        assert_eq!(read(&sandbox.join("mem")).trim(), (64u64 << 20).to_string());
        assert_eq!(
            read(&sandbox.join("sigblk")).trim(),
            "SigBlk:\t0000000000000000"
        );
        assert!(gone(&run.cgroup), "{:?} left behind", run.cgroup);
        assert!(run.end_ns >= run.start_ns);
    }
    for agent in &summary.agents {
        assert!(gone(&agent.cgroup), "{:?} left behind", agent.cgroup);
    }
    assert!(run_dirs.iter().all(|d| !d.exists()));
    // Only the finished directory is left beside it.
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["out"]);
}

#[test]
fn a_non_zero_exit_is_task_failed_and_zero_is_task_finished() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cfg = config(&out, 4, "exit $((MESOSIM_TASK_INDEX % 2 * 3))");
    let s = run(&cfg, &base).unwrap();
    assert_eq!((s.tasks.finished, s.tasks.failed), (2, 2));
    for r in &s.task_runs {
        let index: u32 = r.id.trim_start_matches("task-").parse().unwrap();
        let (state, code) = if index % 2 == 1 {
            ("TASK_FAILED", 3)
        } else {
            ("TASK_FINISHED", 0)
        };
        assert_eq!(
            (r.state.as_str(), r.exit_code),
            (state, Some(code)),
            "{r:?}"
        );
    }
}

#[test]
fn running_tasks_never_exceed_their_agent() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cfg = config(&out, 8, "sleep 0.3");
    // 0.4 CPU each: two fit an agent (0.8 of 1), a third does not.
    cfg.task_resources = Resources::parse("cpus:0.4;mem:64").unwrap();
    let s = run(&cfg, &base).unwrap();
    assert_eq!(s.tasks.finished, 8);
    let mut most = 0;
    for agent in &s.agents {
        // Sweep the agent's task starts and ends in time order (ends first on ties:
        // an interval is [start, end)).
        let mut edges: Vec<(u64, i8, i64, i64)> = Vec::new();
        for r in s.task_runs.iter().filter(|r| r.agent == agent.name) {
            edges.push((r.start_ns, 1, r.cpus_milli, r.mem_mb));
            edges.push((r.end_ns, -1, r.cpus_milli, r.mem_mb));
        }
        edges.sort_by_key(|e| (e.0, e.1));
        let (mut cpus, mut mem, mut n) = (0i64, 0i64, 0i64);
        for (_, d, c, m) in edges {
            let d = i64::from(d);
            cpus += d * c;
            mem += d * m;
            n += d;
            assert!(cpus <= agent.cpus_milli && mem <= agent.mem_mb, "{s:?}");
            most = most.max(n);
        }
    }
    // The check above saw agents full, not idle.
    assert_eq!(most, 2);
}

#[test]
fn the_timeout_kills_running_tasks_and_their_process_groups() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cfg = config(&out, 2, "sleep 60 & echo $! > bg; wait");
    cfg.timeout = SimDuration::from_millis(500);
    let s = run(&cfg, &base).unwrap();
    assert_eq!((s.tasks.launched, s.tasks.killed), (2, 2));
    for r in &s.task_runs {
        assert_eq!((r.state.as_str(), r.signal), ("TASK_KILLED", Some(9)));
        let bg = read(&out.join(&r.sandbox).join("bg"));
        let stat = fs::read_to_string(format!("/proc/{}/stat", bg.trim()));
        assert!(
            stat.is_err() || stat.unwrap().contains(") Z"),
            "background process {bg} survived"
        );
        assert!(gone(&r.cgroup));
    }
}

#[test]
fn an_error_leaves_no_cgroup_and_no_output() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cfg = config(&out, 2, "true");
    // The run's cgroup exists already: creating it fails before any task starts.
    let squatter = base.create_child(&cfg.cgroup_name).unwrap();
    let err = run(&cfg, &base).unwrap_err();
    assert!(matches!(err, LiveError::Cgroup(_)), "{err}");
    assert!(err.to_string().contains(&cfg.cgroup_name), "{err}");
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    squatter.remove().unwrap();
    assert!(base
        .child(&cfg.cgroup_name)
        .dirs()
        .iter()
        .all(|d| !d.exists()));
}

#[test]
fn dropping_a_guard_kills_what_runs_inside_and_removes_the_cgroup() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let guard = base.create_child(&unique_name()).unwrap();
    let cg = guard.cgroup().clone();
    cg.set_limits(Limits {
        cpu_milli: 100,
        memory_bytes: 32 << 20,
    })
    .unwrap();
    // Started detached from any TaskProcess guard: only the cgroup knows it.
    let mut p = TaskProcess::spawn(
        "exec sleep 60",
        tmp.path(),
        &cg.procs_files(),
        &TaskEnv::new(),
    )
    .unwrap();
    let pid = p.pid() as i32;
    let start = Instant::now();
    while !cg.pids().contains(&pid) {
        assert!(start.elapsed() < Duration::from_secs(20), "never joined");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(guard);
    assert!(cg.dirs().iter().all(|d| !d.exists()));
    assert_eq!(p.try_exit().unwrap(), Some(Exit::Signal(9)));
}

#[test]
fn memory_over_the_limit_is_killed_and_reported_failed() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // `tail` keeps a newline-free stream in memory: 200 MB against a 64 MB limit.
    let mut cfg = config(&out, 1, "head -c 200000000 /dev/zero | tail > /dev/null");
    let s = run(&cfg, &base).unwrap();
    let r = &s.task_runs[0];
    assert_eq!(r.state, "TASK_FAILED");
    // The shell reports its SIGKILLed `tail` as 128 + 9.
    assert_eq!(r.exit_code, Some(137), "{r:?}");
    // The same command under a limit it fits in finishes: the limit did the killing.
    cfg.task_resources = Resources::parse("cpus:0.5;mem:250").unwrap();
    cfg.cgroup_name = unique_name();
    let s = run(&cfg, &base).unwrap();
    assert_eq!(s.task_runs[0].state, "TASK_FINISHED", "{s:?}");
}

/// cgroup v2 as far as this host allows: on a hybrid layout the unified hierarchy has
/// no controllers, but creating, joining and removing work there too.
#[test]
fn cgroup_v2_join_and_removal_on_the_unified_hierarchy() {
    let Some(base) = unified_base() else {
        return;
    };
    // Without controllers to hand down, create the test cgroup directly.
    let name = unique_name();
    let dir = base.child(&name);
    if let Err(e) = fs::create_dir(dir.dirs()[0]) {
        skip(&format!("cannot create a cgroup2 directory: {e}"));
        return;
    }
    let _cleanup = RmdirOnDrop(dir.dirs()[0].to_path_buf());
    let tmp = tempfile::tempdir().unwrap();
    let mut p = TaskProcess::spawn(
        "cat /proc/self/cgroup > cgroup",
        tmp.path(),
        &dir.procs_files(),
        &TaskEnv::new(),
    )
    .unwrap();
    let start = Instant::now();
    let exit = loop {
        if let Some(e) = p.try_exit().unwrap() {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(exit, Exit::Code(0));
    let seen = read(&tmp.path().join("cgroup"));
    assert!(
        seen.lines()
            .any(|l| l.starts_with("0::") && l.ends_with(&format!("/{name}"))),
        "{seen}"
    );
    fs::remove_dir(dir.dirs()[0]).unwrap();
    assert!(!dir.dirs()[0].exists());
}

/// Removes a cgroup directory made by hand, also when the test fails.
struct RmdirOnDrop(PathBuf);

impl Drop for RmdirOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

#[test]
fn a_previous_output_is_replaced_but_a_foreign_directory_is_refused() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run(&config(&out, 1, "echo first"), &base).unwrap();
    let s = run(&config(&out, 2, "true"), &base).unwrap();
    let on_disk: LiveSummary = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!((on_disk.tasks.launched, s.tasks.launched), (2, 2));
    assert!(out.join(live::outdir::MARKER).is_file());
    // A directory of the user's own, even one holding a `summary.json` (as a
    // simulation's output does), is refused before anything is created.
    let foreign = tmp.path().join("home");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    fs::write(foreign.join("summary.json"), "{}").unwrap();
    let cfg = config(&foreign, 1, "true");
    let err = run(&cfg, &base).unwrap_err();
    assert!(
        err.to_string()
            .contains("is not a mesosim live output directory"),
        "{err}"
    );
    assert_eq!(read(&foreign.join("notes.txt")), "keep me");
    assert_eq!(read(&foreign.join("summary.json")), "{}");
    assert!(base
        .child(&cfg.cgroup_name)
        .dirs()
        .iter()
        .all(|d| !d.exists()));
    let mut names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["home", "out"]);
}

#[test]
fn with_agent_networks_tasks_run_in_their_agents_namespace_behind_its_limit() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cfg = config(
        &out,
        2,
        "ip -o -4 addr show dev eth0 > addr; tc qdisc show dev eth0 > qdisc; \
         echo $MESOSIM_AGENT_IP > ip",
    );
    cfg.network = Some(live::run::NetworkConfig {
        egress_bytes_per_sec: Some(1_000_000),
    });
    let s = run(&cfg, &base).unwrap();
    assert_eq!(s.tasks.finished, 2, "{s:?}");
    assert_eq!(s.egress_bytes_per_sec, Some(1_000_000));
    for r in &s.task_runs {
        let sandbox = out.join(&r.sandbox);
        let agent = s.agents.iter().find(|a| a.name == r.agent).unwrap();
        let ip = agent.address.clone().unwrap();
        assert_eq!(read(&sandbox.join("ip")).trim(), ip);
        // Inside the agent's namespace its eth0 has the agent's address ...
        let addr = read(&sandbox.join("addr"));
        assert!(addr.contains(&format!("inet {ip}/30")), "{addr}");
        // ... and the tbf limit (1 MB/s = 8 Mbit).
        let qdisc = read(&sandbox.join("qdisc"));
        assert!(
            qdisc.contains("tbf") && qdisc.contains("rate 8Mbit"),
            "{qdisc}"
        );
    }
    // Every namespace is gone.
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(!list.contains(&cfg.cgroup_name), "{list}");
    for a in &s.agents {
        assert!(a
            .netns
            .as_deref()
            .is_some_and(|n| n.starts_with(&cfg.cgroup_name)));
    }
}

/// Finding 4: when the second agent's network cannot be set up (its namespace name is
/// taken), the first agent's namespace, the hub and every cgroup are removed, the
/// namespace that was there before is left alone, and no output is written.
#[test]
fn a_failing_agent_network_removes_the_earlier_agents_and_the_hub() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cfg = config(&out, 2, "true");
    cfg.network = Some(live::run::NetworkConfig::default());
    let squatter_name = format!("{}-agent-1", cfg.cgroup_name);
    let squatter = match live::netns::Netns::create(&squatter_name) {
        Ok(ns) => ns,
        Err(e) => return skip(&e.to_string()),
    };
    let err = run(&cfg, &base).unwrap_err();
    assert!(matches!(err, LiveError::Network(_)), "{err}");
    assert!(err.to_string().contains(&squatter_name), "{err}");
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| n.starts_with(&cfg.cgroup_name))
        .collect();
    assert_eq!(names, std::slice::from_ref(&squatter_name));
    assert!(base
        .child(&cfg.cgroup_name)
        .dirs()
        .iter()
        .all(|d| !d.exists()));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    squatter.delete().unwrap();
}

/// One agent with 1 CPU running two regular tasks of 0.5 (no regular slack left) and
/// up to two revocable tasks of 0.5 revocable CPUs; estimates and QoS corrections
/// every 250 ms. Every task writes its pid into its sandbox.
fn oversubscribed(out: &Path, regular: &str, revocable: &str) -> LiveConfig {
    let mut cfg = config(out, 2, &format!("echo $$ > pid; {regular}"));
    cfg.agents = 1;
    cfg.task_resources = Resources::parse("cpus:0.5;mem:32").unwrap();
    cfg.timeout = SimDuration::from_secs(40);
    cfg.oversubscription = OversubscriptionConfig {
        estimator_interval: SimDuration::from_millis(250),
        qos_interval: SimDuration::from_millis(250),
        revocable_tasks: 2,
        revocable_task_command: format!("echo $$ > pid; {revocable}"),
        ..Default::default()
    };
    cfg
}

/// Oversubscription's invariants over a finished run: at every launch the agent's
/// regular tasks fit its resources and its revocable tasks fit the revocable CPUs it
/// last reported; every cgroup (cpuacct's too) and every task process is gone.
fn check_oversubscribed_run(cfg: &LiveConfig, base: &Cgroup, s: &LiveSummary) {
    let o = s
        .oversubscription
        .as_ref()
        .expect("an oversubscription section");
    assert_eq!(o.estimates_reported, o.estimates.len() as u64);
    for agent in &s.agents {
        let runs: Vec<&TaskRun> = s
            .task_runs
            .iter()
            .filter(|r| r.agent == agent.name)
            .collect();
        for launch in &runs {
            let t = launch.start_ns;
            let held = |revocable: bool| -> (i64, i64) {
                runs.iter()
                    .filter(|r| r.revocable == revocable && r.start_ns <= t && r.end_ns > t)
                    .fold((0, 0), |(c, m), r| (c + r.cpus_milli, m + r.mem_mb))
            };
            let (reg_cpus, reg_mem) = held(false);
            let (rev_cpus, rev_mem) = held(true);
            let reported = o
                .estimates
                .iter()
                .rfind(|e| e.agent == agent.name && e.t_ns <= t)
                .map_or(0, |e| e.revocable_cpus_milli as i64);
            assert!(reg_cpus <= agent.cpus_milli, "{} at {t}: {s:?}", launch.id);
            assert!(
                rev_cpus <= reported,
                "{} at {t}: {rev_cpus} > {reported}",
                launch.id
            );
            assert!(reg_mem + rev_mem <= agent.mem_mb, "{} at {t}", launch.id);
        }
        assert!(gone(&agent.cgroup), "{:?} left behind", agent.cgroup);
    }
    for r in &s.task_runs {
        assert!(gone(&r.cgroup), "{:?} left behind", r.cgroup);
        let pid = read(&cfg.out.join(&r.sandbox).join("pid"));
        let stat = fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        assert!(
            stat.is_err() || stat.unwrap().contains(") Z"),
            "{} (pid {pid}) survived",
            r.id
        );
    }
    assert!(base
        .child(&cfg.cgroup_name)
        .dirs()
        .iter()
        .all(|d| !d.exists()));
    if let Some(acct) = live::cgroup::detect_host_cpuacct().unwrap() {
        assert!(
            !acct.join(&cfg.cgroup_name).exists(),
            "cpuacct cgroup left behind"
        );
    }
}

#[test]
fn revocable_tasks_run_on_estimated_slack_and_qos_kills_them_when_a_regular_task_gets_busy() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // Task 0 spins at its 0.5 quota for 12 s, task 1 sleeps as long: the kill is due
    // at the first QoS check after the 5 s load sample, and a loaded machine may run
    // that check seconds late. The revocable tasks would sleep for 20 s and record
    // their CPU weight.
    let mut cfg = oversubscribed(
        &out,
        "if [ \"$MESOSIM_TASK_INDEX\" = 0 ]; then timeout 12 sh -c 'while :; do :; done'; \
         else sleep 12; fi; true",
        "",
    );
    let dir = base
        .child(&cfg.cgroup_name)
        .cpu_file("$MESOSIM_AGENT/$MESOSIM_TASK_ID");
    let weight = if base.version() == "v1" {
        "cpu.shares"
    } else {
        "cpu.weight"
    };
    cfg.oversubscription.revocable_task_command = format!(
        "echo $$ > pid; cat {}/{weight} > shares; exec sleep 20",
        dir.display()
    );
    // The fixed estimator offers 1 revocable CPU: both revocable tasks fit at once.
    // The load controller with a 5-minute threshold of 0.001: the load average moves
    // only at its 5 s samples, and one sample with the spinning task's demand (say
    // 0.5, at least 0.06) lifts it to 2 milli or more; idle tasks leave it at 0.
    cfg.oversubscription.estimator = "fixed".into();
    cfg.oversubscription.fixed_cpus = Some(1000);
    cfg.oversubscription.qos = "load".into();
    cfg.oversubscription.load_threshold_5min = Some(1);
    let s = run(&cfg, &base).unwrap();
    assert_eq!((s.tasks.launched, s.tasks.finished), (2, 2), "{s:?}");
    let o = s.oversubscription.as_ref().unwrap();
    assert_eq!(o.estimates[0].revocable_cpus_milli, 1000);
    assert!(o.revocable_offers >= 1 && o.revocable_cpus_offered_milli >= 1000);
    let rev = &o.revocable_tasks;
    assert_eq!((rev.submitted, rev.launched), (2, 2), "{o:?}");
    // The load controller kills every revocable task at once.
    assert_eq!((rev.lost, rev.finished, rev.killed), (2, 0, 0), "{o:?}");
    assert_eq!(o.qos_kills.len(), 2);
    for k in &o.qos_kills {
        assert_eq!(k.reason, "REASON_CONTAINER_PREEMPTED");
        assert!(k.load5_milli > 1, "{k:?}");
        // Not before the load average's first sample, due 5 s into the run (on the
        // master's clock, whose zero is a moment before that of `t_ns`).
        assert!(k.t_ns >= 4_900_000_000, "{k:?}");
    }
    for r in s.task_runs.iter().filter(|r| r.revocable) {
        assert_eq!(r.state, "TASK_LOST");
        assert_eq!(r.reason.as_deref(), Some("REASON_CONTAINER_PREEMPTED"));
        assert_eq!(r.cpus_milli, 500);
        // Mesos's low-priority revocable CPU: max(10 × 0.5, 2) shares (v2: weight 1).
        let want = if base.version() == "v1" { "5" } else { "1" };
        assert_eq!(read(&out.join(&r.sandbox).join("shares")).trim(), want);
        assert!(o.qos_kills.iter().any(|k| k.task == r.id));
    }
    check_oversubscribed_run(&cfg, &base, &s);
}

#[test]
fn with_idle_regular_tasks_the_usage_estimator_offers_slack_and_nothing_is_killed() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cfg = oversubscribed(&out, "sleep 4", "sleep 5");
    // Idle regular tasks: slack = 1 CPU allocated − about 0 used − 0.1 margin, room
    // for one revocable task at a time; the same load controller never fires.
    cfg.oversubscription.estimator = "usage".into();
    cfg.oversubscription.qos = "load".into();
    cfg.oversubscription.load_threshold_5min = Some(1);
    let s = run(&cfg, &base).unwrap();
    let o = s.oversubscription.as_ref().unwrap();
    let first = &o.estimates[0];
    assert_eq!(first.allocated_cpus_milli, 1000);
    assert!((500..=900).contains(&first.revocable_cpus_milli), "{o:?}");
    let rev = &o.revocable_tasks;
    assert!(rev.launched >= 1, "{o:?}");
    assert_eq!((rev.finished, rev.lost), (rev.launched, 0), "{o:?}");
    assert!(o.qos_kills.is_empty());
    check_oversubscribed_run(&cfg, &base, &s);
}

/// Waits until `cond` holds, failing (naming `what`) after 20 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The pids whose whole command line is `cmdline` (`pgrep -fx`).
fn pgrep(cmdline: &str) -> Vec<i32> {
    let o = std::process::Command::new("pgrep")
        .args(["-fx", &cmdline.replace('.', "\\.")])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Finding 2: a task whose child left its process group and session (`setsid`) is
/// still in the task's cgroup when the task ends; killing the cgroup takes it, before
/// the cgroup is removed.
fn an_escaped_child_is_killed_through_the_cgroup(guard: live::cgroup::CgroupGuard) {
    let cg = guard.cgroup().clone();
    let tmp = tempfile::tempdir().unwrap();
    // A sleep no other test runs: its command line names this test's pid.
    let sleep = format!(
        "sleep 1000.{}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut p = TaskProcess::spawn(
        &format!("setsid {sleep} </dev/null >/dev/null 2>&1 & exit 0"),
        tmp.path(),
        &cg.procs_files(),
        &TaskEnv::new(),
    )
    .unwrap();
    wait_for("the setsid child runs", || !pgrep(&sleep).is_empty());
    let escaped = pgrep(&sleep);
    wait_for("the task ends", || p.try_exit().unwrap().is_some());
    // Its process group was killed, but the child is in a session of its own: alive,
    // and still in the cgroup.
    assert_eq!(pgrep(&sleep), escaped);
    assert_eq!(cg.pids(), escaped);
    cg.kill_all(live::cgroup::KILL_PATIENCE).unwrap();
    assert!(cg.subtree_pids().is_empty(), "{:?}", cg.subtree_pids());
    assert!(pgrep(&sleep).is_empty(), "{sleep} survived");
    guard.remove().unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
}

#[test]
fn a_setsid_child_of_a_task_is_killed_with_its_cgroup() {
    let Some(base) = host() else { return };
    an_escaped_child_is_killed_through_the_cgroup(base.create_child(&unique_name()).unwrap());
}

/// The same on cgroup v2 (through `cgroup.kill` where the kernel has it), in the
/// unified hierarchy, which on a hybrid host has no controllers: the cgroup is made
/// by hand.
#[test]
fn a_setsid_child_of_a_task_is_killed_with_its_v2_cgroup() {
    let Some(base) = unified_base() else { return };
    let dir = base.child(&unique_name());
    if let Err(e) = fs::create_dir(dir.dirs()[0]) {
        skip(&format!("cannot create a cgroup2 directory: {e}"));
        return;
    }
    let guard = live::cgroup::CgroupGuard::adopt(dir.clone());
    if !dir.dirs()[0].join("cgroup.kill").exists() {
        eprintln!("no cgroup.kill (Linux before 5.14): the pid-by-pid path runs");
    }
    an_escaped_child_is_killed_through_the_cgroup(guard);
}

/// This process's cgroup in the unified (v2) hierarchy, or `None` (after saying why).
fn unified_base() -> Option<Cgroup> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mount = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        post.starts_with("cgroup2 ")
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
    });
    let path = own.lines().find_map(|l| l.strip_prefix("0::"));
    match (mount, path) {
        (Some(mount), Some(path)) => Some(Cgroup::V2 {
            dir: mount.join(path.trim().trim_start_matches('/')),
        }),
        _ => {
            skip("no cgroup2 hierarchy mounted");
            None
        }
    }
}

/// This process's directory in the cgroup v1 hierarchy that has `controller`.
fn v1_own_dir(controller: &str) -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let (root, mount) = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let post: Vec<&str> = post.split_whitespace().collect();
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let ours =
            post.first() == Some(&"cgroup") && post.get(2)?.split(',').any(|o| o == controller);
        ours.then_some((pre.get(3)?.to_string(), PathBuf::from(pre.get(4)?)))
    })?;
    let path = own.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, names, path) = (f.next()?, f.next()?, f.next()?);
        names
            .split(',')
            .any(|n| n == controller)
            .then(|| path.trim().to_string())
    })?;
    let rel = path
        .strip_prefix(root.trim_end_matches('/'))
        .unwrap_or(&path);
    Some(mount.join(rel.trim_start_matches('/')))
}

/// A v1 freezer cgroup made by hand: thawed, emptied and removed when dropped.
struct Freezer(PathBuf);

impl Freezer {
    fn set(&self, state: &str) {
        fs::write(self.0.join("freezer.state"), state).unwrap();
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        let _ = fs::write(self.0.join("freezer.state"), "THAWED");
        let start = Instant::now();
        while fs::remove_dir(&self.0).is_err_and(|e| e.kind() != std::io::ErrorKind::NotFound) {
            for pid in fs::read_to_string(self.0.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                let _ = std::process::Command::new("kill")
                    .args(["-9", pid.trim()])
                    .status();
            }
            if start.elapsed() > Duration::from_secs(20) {
                eprintln!("warning: leaving {} behind", self.0.display());
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Finding 3: a task stuck where SIGKILL cannot reach it (here: frozen by the v1
/// freezer, which holds a killed task until it is thawed) neither hangs the kill nor
/// the cgroup's removal: both give up after their patience, the kill naming no exit,
/// the removal the pid it leaves behind with the cgroup. Once the task can go, the
/// cgroup is removed.
#[test]
fn a_task_that_does_not_die_is_reported_and_left_behind_without_hanging() {
    let Some(base) = host() else { return };
    let Some(freezer_base) = v1_own_dir("freezer") else {
        skip("no cgroup v1 freezer to hold a killed process");
        return;
    };
    let name = unique_name();
    let guard = base.create_child(&name).unwrap();
    let cg = guard.cgroup().clone();
    // Dropped last: removes the task's cgroup whatever happens below.
    let _cleanup = live::cgroup::CgroupGuard::adopt(cg.clone());
    fs::create_dir(freezer_base.join(&name)).unwrap();
    let freezer = Freezer(freezer_base.join(&name));
    let tmp = tempfile::tempdir().unwrap();
    let mut procs = cg.procs_files();
    procs.push(freezer.0.join("cgroup.procs"));
    let mut p = TaskProcess::spawn("exec sleep 60", tmp.path(), &procs, &TaskEnv::new()).unwrap();
    let pid = p.pid() as i32;
    wait_for("the task joins", || {
        read(&freezer.0.join("cgroup.procs"))
            .lines()
            .any(|l| l.trim() == pid.to_string())
    });
    freezer.set("FROZEN");
    wait_for("the freezer freezes", || {
        read(&freezer.0.join("freezer.state")).trim() == "FROZEN"
    });
    // In a thread: a kill that waited without bound would hang the test, not fail it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let exit = p.kill_within(Duration::from_millis(500));
        let _ = tx.send((exit, p));
    });
    let Ok((exit, _p)) = rx.recv_timeout(Duration::from_secs(60)) else {
        freezer.set("THAWED");
        panic!("killing a frozen task still waits 60 s after SIGKILL");
    };
    assert_eq!(exit, None);
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let err = guard.remove_within(Duration::from_millis(500)).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, live::cgroup::CgroupError::Stuck { .. })
            && text.contains(&format!("process {pid} still there"))
            && text.contains("left behind"),
        "{text}"
    );
    assert!(
        cg.dirs().iter().all(|d| d.exists()),
        "left for later removal"
    );
    // Thawed, it takes its SIGKILL and the cgroup goes.
    freezer.set("THAWED");
    live::cgroup::CgroupGuard::adopt(cg.clone())
        .remove()
        .unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
}

/// Finding 4: with `limit_swap` each task's cgroup caps memory plus swap at its memory
/// limit (v1 `memory.memsw.limit_in_bytes`, v2 `memory.swap.max` = 0); without it (the
/// default, as in Mesos) swap is left alone.
#[test]
fn limit_swap_caps_memory_plus_swap_at_the_memory_limit() {
    let Some(base) = host() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let swap_file = match base {
        Cgroup::V1 { .. } => "memory.memsw.limit_in_bytes",
        Cgroup::V2 { .. } => "memory.swap.max",
    };
    for limit_swap in [true, false] {
        let out = tmp.path().join(format!("out-{limit_swap}"));
        let mut cfg = config(&out, 1, "");
        let own = base
            .child(&cfg.cgroup_name)
            .memory_file("$MESOSIM_AGENT/$MESOSIM_TASK_ID");
        cfg.task_command = format!("cat {}/{swap_file} > swap", own.display());
        cfg.limit_swap = limit_swap;
        let s = match run(&cfg, &base) {
            Err(LiveError::Cgroup(e @ live::cgroup::CgroupError::NoSwapAccounting { .. })) => {
                return skip(&e.to_string());
            }
            r => r.unwrap(),
        };
        assert_eq!(s.tasks.finished, 1, "{s:?}");
        let swap = read(&out.join(&s.task_runs[0].sandbox).join("swap"));
        let capped = match base {
            Cgroup::V1 { .. } => (64u64 << 20).to_string(),
            Cgroup::V2 { .. } => "0".to_string(),
        };
        assert_eq!(swap.trim() == capped, limit_swap, "{swap_file}: {swap}");
    }
}
