//! Task processes: started inside their cgroup in a process group of their own, waited for without blocking, and killed as a whole group on teardown.

use std::fs::File;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::cgroup::KILL_PATIENCE;

/// The trampoline every task starts as: `/bin/sh` writes its own pid (`$$`) into each
/// `cgroup.procs` file it is given, then `exec`s the task's command in its place.
///
/// Why not spawn-then-move: between `fork` and the parent writing the pid, the task
/// runs (and may fork children, which would stay behind) outside its cgroup, with no
/// limits. Why not `pre_exec`: it is `unsafe` (the workspace denies unsafe code) and
/// may only call async-signal-safe functions. With the trampoline the task's command
/// never runs outside its cgroup: the pid is the same before and after `exec`, and the
/// command starts only once every write succeeded (else exit status 125 and a line on
/// the task's stderr). Given a network namespace, the trampoline execs through
/// `ip netns exec`, which enters it and execs the command in turn (still the same pid).
const TRAMPOLINE: &str = r#"cmd=$1; netns=$2; shift 2
for f in "$@"; do
  echo $$ > "$f" || { echo "mesosim: cannot join cgroup $f" >&2; exit 125; }
done
if [ -n "$netns" ]; then exec ip netns exec "$netns" /bin/sh -c "$cmd"; fi
exec /bin/sh -c "$cmd""#;

/// The exit status the trampoline returns when it could not join the cgroup.
pub const JOIN_FAILED_STATUS: i32 = 125;

/// What a task is told about itself, as environment variables.
pub type TaskEnv = Vec<(String, String)>;

/// A running task: the child process (the leader of its own process group).
#[derive(Debug)]
pub struct TaskProcess {
    child: Child,
    reaped: bool,
}

/// How a task process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this status code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    fn from_status(s: ExitStatus) -> Exit {
        match (s.code(), s.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(sig)) => Exit::Signal(sig),
            // Neither code nor signal does not happen on Linux after wait().
            (None, None) => Exit::Code(-1),
        }
    }

    /// True for exit status 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl TaskProcess {
    /// Starts `command` (a `/bin/sh -c` command line) in `sandbox` (its working
    /// directory, also holding its `stdout` and `stderr` files), joined to the cgroups
    /// whose `cgroup.procs` files are `procs_files` before the command runs, as the
    /// leader of a new process group, with `env` added to its environment.
    pub fn spawn(
        command: &str,
        sandbox: &Path,
        procs_files: &[PathBuf],
        env: &TaskEnv,
    ) -> io::Result<TaskProcess> {
        Self::spawn_in_netns(command, sandbox, procs_files, env, None)
    }

    /// [`TaskProcess::spawn`], with the command run inside the named network namespace
    /// (`ip netns`) when one is given.
    pub fn spawn_in_netns(
        command: &str,
        sandbox: &Path,
        procs_files: &[PathBuf],
        env: &TaskEnv,
        netns: Option<&str>,
    ) -> io::Result<TaskProcess> {
        let stdout = File::create(sandbox.join("stdout"))?;
        let stderr = File::create(sandbox.join("stderr"))?;
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(TRAMPOLINE)
            .arg("mesosim-task")
            .arg(command)
            .arg(netns.unwrap_or(""))
            .args(procs_files)
            .current_dir(sandbox)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()?;
        Ok(TaskProcess {
            child,
            reaped: false,
        })
    }

    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit, if the process has ended (does not block). Once it has, whatever it
    /// left running in its process group is killed.
    pub fn try_exit(&mut self) -> io::Result<Option<Exit>> {
        if self.reaped {
            return Ok(None);
        }
        // Peek without reaping (WNOWAIT): while the leader is an unreaped zombie its pid,
        // and so the group id, cannot be reused, so killing the group cannot hit a
        // stranger's processes.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(self.leader()), flags) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
        Ok(self.kill())
    }

    /// Kills the whole process group, then reaps the leader, waiting at most
    /// [`KILL_PATIENCE`]; its exit (None when it was reaped before, or did not go).
    pub fn kill(&mut self) -> Option<Exit> {
        self.kill_within(KILL_PATIENCE)
    }

    /// [`TaskProcess::kill`] with the patience given. A leader that has not exited by
    /// then (stuck in uninterruptible sleep in the kernel, where SIGKILL waits) is
    /// named in a warning on stderr and given up on: it is never waited for again, so
    /// teardown goes on; what is left of it stays in its cgroup, which then reports it
    /// ([`crate::cgroup::CgroupError::Stuck`]).
    pub fn kill_within(&mut self, patience: Duration) -> Option<Exit> {
        if self.reaped {
            return None;
        }
        // ESRCH (nothing left in the group) is the normal case after a clean exit.
        let _ = killpg(self.leader(), Signal::SIGKILL);
        self.reaped = true;
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(Exit::from_status(status)),
                Ok(None) if start.elapsed() < patience => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    eprintln!(
                        "warning: task process {} did not exit within {} s of SIGKILL \
                         (stuck in the kernel?); left behind",
                        self.child.id(),
                        patience.as_secs_f64()
                    );
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    fn leader(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }
}

impl Drop for TaskProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(p: &mut TaskProcess) -> Exit {
        let start = Instant::now();
        loop {
            if let Some(e) = p.try_exit().unwrap() {
                return e;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "task never ended"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_command_runs_after_joining_in_its_sandbox_with_its_environment() {
        let tmp = tempfile::tempdir().unwrap();
        // Stand-ins for cgroup.procs: plain files receive the pid.
        let procs = [tmp.path().join("a.procs"), tmp.path().join("b.procs")];
        let env = vec![("MESOSIM_TASK_ID".to_string(), "task-7".to_string())];
        let mut p = TaskProcess::spawn(
            "echo $$ $MESOSIM_TASK_ID > out; cat a.procs b.procs >> out; exit 3",
            tmp.path(),
            &procs,
            &env,
        )
        .unwrap();
        let pid = p.pid();
        assert_eq!(wait(&mut p), Exit::Code(3));
        // The command ran as the same process that joined (exec keeps the pid), in the
        // sandbox, after both files had been written.
        let out = std::fs::read_to_string(tmp.path().join("out")).unwrap();
        assert_eq!(out, format!("{pid} task-7\n{pid}\n{pid}\n"));
        assert!(!Exit::Code(3).success());
    }

    #[test]
    fn a_failed_join_stops_the_command_from_running() {
        let tmp = tempfile::tempdir().unwrap();
        let procs = [tmp.path().join("missing-dir/cgroup.procs")];
        let mut p = TaskProcess::spawn("touch ran", tmp.path(), &procs, &TaskEnv::new()).unwrap();
        assert_eq!(wait(&mut p), Exit::Code(JOIN_FAILED_STATUS));
        assert!(!tmp.path().join("ran").exists());
        let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap();
        assert!(err.contains("cannot join cgroup"), "{err}");
    }

    #[test]
    fn killing_takes_the_whole_process_group() {
        let tmp = tempfile::tempdir().unwrap();
        // The leader starts a background grandchild and records its pid.
        let mut p = TaskProcess::spawn(
            "sleep 60 & echo $! > bg; wait",
            tmp.path(),
            &[],
            &TaskEnv::new(),
        )
        .unwrap();
        let bg_file = tmp.path().join("bg");
        let start = Instant::now();
        while std::fs::read_to_string(&bg_file).map_or(true, |s| s.trim().is_empty()) {
            assert!(start.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(5));
        }
        let bg: i32 = std::fs::read_to_string(&bg_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(p.kill(), Some(Exit::Signal(9)));
        // The grandchild got SIGKILL too: it is gone (or a zombie awaiting its reaper).
        let start = Instant::now();
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{bg}/stat"));
            match stat {
                Err(_) => break,
                Ok(s)
                    if s.rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z')) =>
                {
                    break
                }
                Ok(_) => {
                    assert!(
                        start.elapsed() < Duration::from_secs(20),
                        "grandchild {bg} survived"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}
