//! `mesosim live run` end to end: bad flags are refused before the host is touched; as root, a run with two agents places its tasks in their cgroups, writes the summary, and removes every cgroup; without privileges it fails naming the cgroup it could not create.
//!
//! The root tests skip (saying why) when cgroups cannot be created, and fail instead
//! when `MESOSIM_REQUIRE_ROOT_TESTS=1`, as CI sets it. Their cgroups are named
//! `mesosim-test-<pid>-<n>`.

mod common;

use common::{mesosim, stderr};
use std::path::Path;
use std::process::Command;

fn skip(reason: &str) {
    if std::env::var("MESOSIM_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1") {
        panic!("MESOSIM_REQUIRE_ROOT_TESTS=1 but: {reason}");
    }
    eprintln!("skipping a root test: {reason}");
}

/// True when this host lets us create cgroups (probed with a cgroup removed at once).
fn cgroups_usable(name: &str) -> bool {
    let reason = match live::cgroup::detect_host() {
        Ok(base) => match base.create_child(name) {
            Ok(probe) => match probe.remove() {
                Ok(()) => return true,
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    skip(&reason);
    false
}

#[test]
fn bad_flags_exit_2_with_the_flag_named_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (&["--agents", "0"][..], "--agents must be at least 1"),
        (&["--tasks", "0"][..], "--tasks must be at least 1"),
        (&["--policy", "nope"][..], "unknown allocator `nope`"),
        (
            &["--task-resources", "cpus:4;mem:64"][..],
            "do not fit an agent's `cpus:1;mem:256`",
        ),
        (
            &["--task-resources", "cpus:x"][..],
            "--task-resources `cpus:x`",
        ),
        (&["--timeout", "10"][..], "--timeout: `10` has no unit"),
        (&["--cgroup-name", "a/b"][..], "must be one path component"),
        (&["--task-command", " "][..], "--task-command is empty"),
        (
            &["--agent-network", "--agent-egress-rate", "0"][..],
            "--agent-egress-rate must be positive",
        ),
        (&["--agent-egress-rate", "5"][..], "--agent-network"),
        (&["--cgroup-name", ".."][..], "must be one path component"),
        (
            &["--cgroup-name", "a b"][..],
            "--cgroup-name `a b` must be at most 200 letters",
        ),
        (
            &["--cgroup-name", &"x".repeat(201)][..],
            "must be at most 200 letters",
        ),
        (
            &["--agent-resources", "mem:256"][..],
            "--agent-resources needs positive cpus and mem, got `mem:256`",
        ),
        (
            &["--task-resources", "cpus:0.5"][..],
            "--task-resources needs positive cpus and mem",
        ),
        (
            &["--agent-network", "--agents", "251"][..],
            "--agent-network allows at most 250 agents, got 251",
        ),
        (
            &["--agent-network", "--agent-egress-rate", "1000000000001"][..],
            "--agent-egress-rate must be at most 1000000000000 bytes/s",
        ),
        (&["--allocation-interval", "0s"][..], "must be positive"),
        // Oversubscription.
        (
            &["--estimator", "magic"][..],
            "--estimator `magic` is not one of",
        ),
        (
            &["--estimator", "fixed"][..],
            "needs a positive --fixed-cpus",
        ),
        (&["--qos", "load"][..], "--load-threshold-5min or"),
        (&["--qos", "magic"][..], "--qos `magic`"),
        (
            &["--revocable-tasks", "1"][..],
            "--revocable-tasks needs an --estimator",
        ),
        (
            &[
                "--estimator",
                "fixed",
                "--fixed-cpus",
                "0.2",
                "--revocable-tasks",
                "1",
            ][..],
            "do not fit --fixed-cpus 0.2",
        ),
        (
            &["--estimator", "usage", "--usage-margin", "2"][..],
            "--usage-margin must be",
        ),
        (
            &["--qos-interval", "0s"][..],
            "--qos-interval must be positive",
        ),
        (&["--estimator-interval", "x"][..], "--estimator-interval:"),
    ] {
        let mut all = vec!["live", "run", "--out", "o"];
        all.extend_from_slice(args);
        let o = mesosim(&all, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `live certs` replaces only its own earlier set (a new CA each time), and refuses a
/// directory it did not write with exit 2, leaving it as it was.
#[test]
fn live_certs_replaces_its_own_set_and_refuses_a_foreign_directory() {
    let dir = tempfile::tempdir().unwrap();
    let certs = ["live", "certs", "--out", "certs", "--agents", "1"];
    let o = mesosim(&certs, dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ca = std::fs::read_to_string(dir.path().join("certs/ca.pem")).unwrap();
    let o = mesosim(&certs, dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let new_ca = std::fs::read_to_string(dir.path().join("certs/ca.pem")).unwrap();
    assert_ne!(ca, new_ca);
    std::fs::create_dir(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/ca.pem"), "keep").unwrap();
    let o = mesosim(&["live", "certs", "--out", "mine"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--out mine exists and is not a mesosim live output directory"),
        "{}",
        stderr(&o)
    );
    let names: Vec<_> = std::fs::read_dir(dir.path().join("mine"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ca.pem"]);
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["certs", "mine"]);
}

/// An I/O error is one line with its cause said once (the error's own text does not
/// repeat the cause the chain adds).
#[test]
fn an_unusable_out_path_is_one_line_naming_it_and_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "").unwrap();
    let o = mesosim(&["live", "run", "--out", "f/sub"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o), "error: f/sub: Not a directory (os error 20)\n");
}

#[test]
fn an_out_directory_not_written_by_live_is_refused_before_the_host_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    // A simulation's output (it has a summary.json too) must survive a live run
    // pointed at it by mistake.
    let o = mesosim(&["run", "--out", "sim", "--quiet"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let before: Vec<_> = std::fs::read_dir(dir.path().join("sim"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(before.iter().any(|n| n == "summary.json"), "{before:?}");
    let o = mesosim(
        &["live", "run", "--out", "sim", "--cgroup-name", "never-made"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--out sim exists and is not a mesosim live output directory"),
        "{}",
        stderr(&o)
    );
    let after: Vec<_> = std::fs::read_dir(dir.path().join("sim"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["sim"]);
}

#[test]
fn live_run_places_tasks_in_their_cgroups_and_removes_them() {
    let pid = std::process::id();
    if !cgroups_usable(&format!("mesosim-test-{pid}-0")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("mesosim-test-{pid}-1");
    // Each task copies /proc/self/cgroup and its own limit files into its sandbox.
    let base = live::cgroup::detect_host().unwrap();
    let own = |d: &Path| {
        format!(
            "{}/$MESOSIM_AGENT/$MESOSIM_TASK_ID",
            d.join(&name).display()
        )
    };
    let (limits, expected_cpu, expected_mem) = match &base {
        live::cgroup::Cgroup::V1 { cpu, memory } => (
            format!(
                "cat {}/cpu.cfs_quota_us > cpu; cat {}/memory.limit_in_bytes > mem",
                own(cpu),
                own(memory)
            ),
            "50000",
            "67108864",
        ),
        live::cgroup::Cgroup::V2 { dir } => (
            format!(
                "cat {d}/cpu.max > cpu; cat {d}/memory.max > mem",
                d = own(dir)
            ),
            "50000 100000",
            "67108864",
        ),
    };
    let command =
        format!("cat /proc/self/cgroup > cgroup; {limits}; test $MESOSIM_TASK_INDEX != 2");
    let o = mesosim(
        &[
            "live",
            "run",
            "--agents",
            "2",
            "--tasks",
            "3",
            "--task-resources",
            "cpus:0.5;mem:64",
            "--task-command",
            &command,
            "--allocation-interval",
            "100ms",
            "--cgroup-name",
            &name,
            "--out",
            "live-out",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("live-out");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let tasks = &summary["tasks"];
    assert_eq!(
        [&tasks["launched"], &tasks["finished"], &tasks["failed"]],
        [3, 2, 1]
    );
    let agents = summary["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2);
    for run in summary["task_runs"].as_array().unwrap() {
        let id = run["id"].as_str().unwrap();
        let expected = if id == "task-2" {
            "TASK_FAILED"
        } else {
            "TASK_FINISHED"
        };
        assert_eq!(run["state"], expected);
        let seen =
            std::fs::read_to_string(out.join(run["sandbox"].as_str().unwrap()).join("cgroup"))
                .unwrap();
        let suffix = format!("/{name}/{}/{id}", run["agent"].as_str().unwrap());
        assert!(seen.lines().any(|l| l.ends_with(&suffix)), "{seen}");
        let sandbox = out.join(run["sandbox"].as_str().unwrap());
        let limit = |f: &str| std::fs::read_to_string(sandbox.join(f)).unwrap();
        assert_eq!(limit("cpu").trim(), expected_cpu);
        assert_eq!(limit("mem").trim(), expected_mem);
        for d in run["cgroup"].as_array().unwrap() {
            assert!(!Path::new(d.as_str().unwrap()).exists(), "{d} left behind");
        }
    }
    for a in agents {
        for d in a["cgroup"].as_array().unwrap() {
            let agent_dir = Path::new(d.as_str().unwrap());
            assert!(!agent_dir.exists(), "{d} left behind");
            assert!(
                !agent_dir.parent().unwrap().exists(),
                "the run's cgroup left behind"
            );
        }
    }
}

#[test]
fn without_privileges_the_error_names_the_cgroup_and_nothing_is_written() {
    let pid = std::process::id();
    if !cgroups_usable(&format!("mesosim-test-{pid}-2")) {
        return;
    }
    // As root, drop to `nobody` for the run.
    let dir = tempfile::tempdir().unwrap();
    let name = format!("mesosim-test-{pid}-3");
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_mesosim"))
        .args(["live", "run", "--cgroup-name", &name, "--out"])
        .arg(dir.path().join("o"))
        .output();
    let o = match o {
        Ok(o) => o,
        Err(e) => return skip(&format!("cannot run setpriv: {e}")),
    };
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("permission denied on "), "{err}");
    assert!(err.contains(&name) && err.contains("needs root"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Starts `mesosim live run` with two `sleep 60` tasks in `dir` and waits until both
/// have written their pids into their sandboxes (inside the output directory under
/// construction, `.o.tmp-<random>`); returns the child and the pids.
fn start_two_sleeping_tasks(dir: &Path, name: &str) -> (std::process::Child, Vec<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_mesosim"))
        .args(["live", "run", "--tasks", "2", "--task-command"])
        .arg("echo $$ > pid; exec sleep 60")
        .args(["--cgroup-name", name, "--out", "o", "--quiet"])
        // Bounds the run if a signal goes unnoticed (the test then fails, not hangs).
        .args(["--timeout", "20s"])
        .current_dir(dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let task_pids = loop {
        let building = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(".o.tmp-"));
        if let Some(t) = building {
            let pids: Vec<_> = (0..2)
                .filter_map(|i| std::fs::read_to_string(t.join(format!("tasks/task-{i}/pid"))).ok())
                .filter(|p| !p.trim().is_empty())
                .collect();
            if pids.len() == 2 {
                break pids;
            }
        }
        assert!(start.elapsed().as_secs() < 30, "tasks never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (child, task_pids)
}

fn send(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_kills_the_tasks_removes_the_cgroups_and_writes_nothing() {
    sigterm_test(4, false);
}

/// A stray SIGUSR1 (the signal the master uses internally to stop its signal thread)
/// arriving first must not end the signal handling: the SIGTERM after it still works.
#[test]
fn a_stray_sigusr1_does_not_disable_sigterm_handling() {
    sigterm_test(6, true);
}

fn sigterm_test(n: u32, stray_usr1: bool) {
    let pid = std::process::id();
    if !cgroups_usable(&format!("mesosim-test-{pid}-{n}")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("mesosim-test-{pid}-{}", n + 1);
    let (child, task_pids) = start_two_sleeping_tasks(dir.path(), &name);
    if stray_usr1 {
        send("-USR1", child.id());
    }
    send("-TERM", child.id());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted by SIGTERM"),
        "{}",
        stderr(&o)
    );
    for task_pid in task_pids {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", task_pid.trim()));
        assert!(
            stat.is_err() || stat.unwrap().contains(") Z"),
            "task {task_pid} survived"
        );
    }
    let base = live::cgroup::detect_host().unwrap();
    assert!(base.child(&name).dirs().iter().all(|d| !d.exists()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A SIGTERM while the agents' networks are still being set up (250 of them take
/// seconds) stops the run there: no task is ever launched, and every namespace made so
/// far is removed.
#[test]
fn sigterm_during_setup_stops_before_any_task_starts() {
    let pid = std::process::id();
    if !cgroups_usable(&format!("mesosim-test-{pid}-8")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("mesosim-test-{pid}-9");
    let launched = dir.path().join("launched");
    let child = Command::new(env!("CARGO_BIN_EXE_mesosim"))
        .args(["live", "run", "--agents", "250", "--agent-network"])
        .args(["--tasks", "2", "--task-command"])
        .arg(format!("touch {}", launched.display()))
        .args(["--cgroup-name", &name, "--out", "o", "--quiet"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let netns_list = || {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|n| n.starts_with(&name))
            .collect::<Vec<_>>()
    };
    let second = format!("{name}-agent-1");
    let start = std::time::Instant::now();
    while !netns_list().contains(&second) {
        assert!(
            start.elapsed().as_secs() < 30,
            "agent networks never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    send("-TERM", child.id());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted by SIGTERM"),
        "{}",
        stderr(&o)
    );
    assert!(!launched.exists(), "a task ran after the interrupt");
    assert_eq!(netns_list(), Vec::<String>::new());
    let base = live::cgroup::detect_host().unwrap();
    assert!(base.child(&name).dirs().iter().all(|d| !d.exists()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn live_run_fetches_task_uris_through_each_agents_cache() {
    let pid = std::process::id();
    if !cgroups_usable(&format!("mesosim-test-{pid}-30")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("tool")).unwrap();
    std::fs::write(src.join("tool/run.sh"), "echo tool > tool-ran\n").unwrap();
    std::fs::write(
        src.join("helper.sh"),
        "#!/bin/sh\necho helper > helper-ran\n",
    )
    .unwrap();
    let tar = Command::new("tar")
        .args(["-czf", "tool.tgz", "tool"])
        .current_dir(&src)
        .status()
        .unwrap();
    assert!(tar.success());
    let tgz_len = std::fs::metadata(src.join("tool.tgz")).unwrap().len();
    let helper_len = std::fs::metadata(src.join("helper.sh")).unwrap().len();
    let run = |name: &str, uris: &[String], out: &str| {
        let mut args = vec![
            "live",
            "run",
            "--agents",
            "2",
            "--tasks",
            "4",
            "--task-resources",
            "cpus:0.5;mem:64",
            "--task-command",
            "sh tool/run.sh && ./helper.sh",
            "--allocation-interval",
            "100ms",
            "--cgroup-name",
            name,
            "--fetcher-cache-dir",
            "cache",
            "--out",
            out,
            "--quiet",
        ];
        for u in uris {
            args.extend(["--task-uri", u.as_str()]);
        }
        let o = mesosim(&args, dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(dir.path().join(out).join("summary.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let uris = [
        format!("file://{}/tool.tgz,cache", src.display()),
        format!("{}/helper.sh,executable", src.display()),
    ];
    let s = run(&format!("mesosim-test-{pid}-31"), &uris, "fetched");
    assert_eq!(s["tasks"]["finished"], 4, "{s}");
    // Two tasks per agent: each agent downloads the archive once and extracts it from
    // its cache for its second task; the uncached helper is copied every time.
    let f = &s["fetcher"];
    assert_eq!(
        [
            &f["requests"],
            &f["misses"],
            &f["hits"],
            &f["bypasses"],
            &f["evictions"]
        ],
        [8, 2, 2, 4, 0],
        "{f}"
    );
    assert_eq!(f["bytes_downloaded"], 2 * tgz_len + 4 * helper_len);
    for run in s["task_runs"].as_array().unwrap() {
        let sandbox = dir
            .path()
            .join("fetched")
            .join(run["sandbox"].as_str().unwrap());
        assert!(sandbox.join("tool-ran").is_file() && sandbox.join("helper-ran").is_file());
    }
    for agent in ["agent-0", "agent-1"] {
        let cached: Vec<_> = std::fs::read_dir(dir.path().join("cache").join(agent))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(cached, ["c1-tool.tgz"], "{agent}");
    }
    // A URI that cannot be fetched fails each task before it starts; the run goes on.
    let missing = src.join("missing.tgz");
    let s = run(
        &format!("mesosim-test-{pid}-32"),
        &[missing.display().to_string()],
        "unfetched",
    );
    assert_eq!(
        [&s["tasks"]["launched"], &s["tasks"]["failed"]],
        [0, 4],
        "{s}"
    );
    for run in s["task_runs"].as_array().unwrap() {
        assert_eq!(run["state"], "TASK_FAILED");
        assert_eq!(run["reason"], "REASON_CONTAINER_LAUNCH_FAILED");
        let message = run["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "fetching `{0}`: {0}: No such file",
                missing.display()
            )),
            "{message}"
        );
    }
}
