//! cgroups v1 and v2 behind one type: finding the cpu and memory controllers, creating child cgroups, applying CPU quota and memory limits, and removing them again.
//!
//! A [`Cgroup`] is a set of directories: on v1 one per hierarchy that carries a
//! controller we use (`cpu` and `memory`, the same directory when they are co-mounted),
//! on v2 the one unified directory. Every operation takes the directories it was given,
//! so unit tests point a `Cgroup` at a temporary tree instead of `/sys/fs/cgroup` and
//! read back what was written.
//!
//! | what            | v1                                         | v2                      |
//! |-----------------|--------------------------------------------|-------------------------|
//! | CPU limit       | `cpu.cfs_period_us`, `cpu.cfs_quota_us`    | `cpu.max`               |
//! | memory limit    | `memory.limit_in_bytes`                    | `memory.max`            |
//! | `--limit-swap`  | `memory.memsw.limit_in_bytes` = the limit  | `memory.swap.max` = 0   |
//! | teardown kill   | SIGKILL to each pid in `cgroup.procs`      | `cgroup.kill` (≥ 5.14)  |
//! | join            | `cgroup.procs` in each hierarchy           | `cgroup.procs`          |
//! | child controls  | (inherited)                                | `cgroup.subtree_control`|

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use thiserror::Error;

/// The CFS period mesosim sets (the kernel's default, 100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The kernel's smallest CFS quota (1 ms): smaller requests are raised to it.
pub const MIN_CPU_QUOTA_US: u64 = 1_000;

/// What went wrong with cgroups.
#[derive(Debug, Error)]
pub enum CgroupError {
    /// No mounted hierarchy offers the named controllers.
    #[error("no cgroup hierarchy provides the {missing} controller{plural} ({found})", plural = if missing.contains(' ') { "s" } else { "" })]
    MissingControllers {
        /// The controllers not found, e.g. `memory` or `cpu and memory`.
        missing: String,
        /// What was found, for the message.
        found: String,
    },
    /// This process's own cgroup could not be found for a hierarchy.
    #[error("cannot tell this process's cgroup in the {0} hierarchy from /proc/self/cgroup")]
    UnknownOwnCgroup(String),
    /// Creating or writing a cgroup file was refused.
    #[error(
        "permission denied on {path} (live mode needs root, or write access to a delegated cgroup)"
    )]
    PermissionDenied {
        /// The file or directory.
        path: PathBuf,
    },
    /// cgroup v2: the parent does not hand the cpu and memory controllers down.
    #[error(
        "cannot enable the cpu and memory controllers for children of {path}{}",
        delegation_hint(source)
    )]
    Delegation {
        /// The parent's directory.
        path: PathBuf,
        /// Why writing its `cgroup.subtree_control` failed.
        source: io::Error,
    },
    /// Any other I/O error, with the path it concerned.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A cgroup still held processes after they were killed.
    #[error("cgroup {path} is still busy after killing its processes")]
    Busy {
        /// The directory.
        path: PathBuf,
    },
    /// Processes did not leave a cgroup within the patience after SIGKILL (stuck in
    /// uninterruptible sleep in the kernel, say): the cgroup is left in place.
    #[error(
        "cgroup {path}: process{plural} {pids} still there {secs} s after SIGKILL \
         (stuck in the kernel?); the cgroup is left behind: remove it with rmdir once \
         they are gone",
        plural = if pids.contains(' ') { "es" } else { "" },
        secs = patience.as_secs_f64()
    )]
    Stuck {
        /// The cgroup's directory.
        path: PathBuf,
        /// The pids that remain, space-separated.
        pids: String,
        /// How long they were given.
        patience: Duration,
    },
    /// `--limit-swap` on a kernel that does not account swap in cgroups.
    #[error(
        "--limit-swap: {path} does not exist: this kernel does not account swap per cgroup \
         (cgroup v1 needs swap accounting, e.g. the boot option swapaccount=1; cgroup v2 \
         needs CONFIG_MEMCG_SWAP); run without --limit-swap"
    )]
    NoSwapAccounting {
        /// The control file that is missing.
        path: PathBuf,
    },
}

/// What to do about a refused `cgroup.subtree_control` write: EBUSY is the kernel's "no
/// internal processes" rule (a non-root cgroup that holds processes may not enable
/// controllers for its children).
fn delegation_hint(source: &io::Error) -> &'static str {
    if source.raw_os_error() == Some(nix::libc::EBUSY) {
        " (cgroup v2 lets a cgroup hand controllers to its children only while it holds \
         no processes itself: start mesosim in a cgroup of its own, e.g. with \
         `systemd-run --scope -p Delegate=yes mesosim live run ...`)"
    } else {
        ""
    }
}

fn io_err(path: &Path, source: io::Error) -> CgroupError {
    if source.kind() == io::ErrorKind::PermissionDenied {
        CgroupError::PermissionDenied {
            path: path.to_path_buf(),
        }
    } else {
        CgroupError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A cgroup: its directories in the hierarchies that carry the cpu and memory
/// controllers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cgroup {
    /// cgroup v1: one directory in the hierarchy with `cpu`, one in the hierarchy with
    /// `memory` (equal when the two are mounted together).
    V1 {
        /// Directory in the cpu hierarchy.
        cpu: PathBuf,
        /// Directory in the memory hierarchy.
        memory: PathBuf,
    },
    /// cgroup v2: the directory in the unified hierarchy.
    V2 {
        /// The directory.
        dir: PathBuf,
    },
}

/// The limits applied to a task's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// CPU in thousandths of a CPU (as `Resources` counts them): the CFS quota is
    /// `cpu_milli / 1000` CPUs per period.
    pub cpu_milli: u64,
    /// Memory limit in bytes.
    pub memory_bytes: u64,
}

impl Limits {
    /// The CFS quota in microseconds per [`CPU_PERIOD_US`], at least
    /// [`MIN_CPU_QUOTA_US`].
    pub fn cpu_quota_us(&self) -> u64 {
        // u128: a huge request saturates rather than overflowing.
        let quota = u128::from(self.cpu_milli) * u128::from(CPU_PERIOD_US) / 1000;
        u64::try_from(quota)
            .unwrap_or(u64::MAX)
            .max(MIN_CPU_QUOTA_US)
    }
}

impl Cgroup {
    /// `"v1"` or `"v2"`.
    pub fn version(&self) -> &'static str {
        match self {
            Cgroup::V1 { .. } => "v1",
            Cgroup::V2 { .. } => "v2",
        }
    }

    /// Its directories, each once (a co-mounted v1 cpu and memory give one).
    pub fn dirs(&self) -> Vec<&Path> {
        match self {
            Cgroup::V1 { cpu, memory } if cpu == memory => vec![cpu],
            Cgroup::V1 { cpu, memory } => vec![cpu, memory],
            Cgroup::V2 { dir } => vec![dir],
        }
    }

    /// The child cgroup `name` (not created).
    pub fn child(&self, name: &str) -> Cgroup {
        match self {
            Cgroup::V1 { cpu, memory } => Cgroup::V1 {
                cpu: cpu.join(name),
                memory: memory.join(name),
            },
            Cgroup::V2 { dir } => Cgroup::V2 {
                dir: dir.join(name),
            },
        }
    }

    /// The `cgroup.procs` files a process writes its pid into to join this cgroup (one
    /// per hierarchy).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// Creates the child cgroup `name` and returns a guard that removes it (and
    /// anything below it) when dropped. v2: first makes sure this cgroup hands the cpu
    /// and memory controllers down (`cgroup.subtree_control`), which the kernel only
    /// allows while this cgroup holds no processes of its own.
    pub fn create_child(&self, name: &str) -> Result<CgroupGuard, CgroupError> {
        if let Cgroup::V2 { dir } = self {
            enable_v2_controllers(dir)?;
        }
        let child = self.child(name);
        for d in child.dirs() {
            fs::create_dir(d).map_err(|e| io_err(d, e))?;
        }
        Ok(CgroupGuard {
            cgroup: Some(child),
        })
    }

    /// Applies `limits`: v1 `cpu.cfs_period_us`, `cpu.cfs_quota_us`,
    /// `memory.limit_in_bytes`; v2 `cpu.max`, `memory.max`.
    pub fn set_limits(&self, limits: Limits) -> Result<(), CgroupError> {
        let quota = limits.cpu_quota_us();
        match self {
            Cgroup::V1 { cpu, memory } => {
                write(&cpu.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
                write(
                    &memory.join("memory.limit_in_bytes"),
                    &limits.memory_bytes.to_string(),
                )
            }
            Cgroup::V2 { dir } => {
                write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
                write(&dir.join("memory.max"), &limits.memory_bytes.to_string())
            }
        }
    }

    /// Mesos's `--cgroups_limit_swap`: memory and swap together are capped at
    /// `memory_bytes` (the memory limit [`Cgroup::set_limits`] wrote), so a task cannot
    /// go past its limit by swapping out. v2: `memory.swap.max` = 0; v1:
    /// `memory.memsw.limit_in_bytes` = `memory_bytes` (after `memory.limit_in_bytes`,
    /// which may not exceed it). A kernel without swap accounting has neither file:
    /// [`CgroupError::NoSwapAccounting`].
    pub fn limit_swap(&self, memory_bytes: u64) -> Result<(), CgroupError> {
        let (file, value) = match self {
            Cgroup::V1 { memory, .. } => (
                memory.join("memory.memsw.limit_in_bytes"),
                memory_bytes.to_string(),
            ),
            Cgroup::V2 { dir } => (dir.join("memory.swap.max"), "0".to_string()),
        };
        // Never created: a missing file means no swap accounting, not a typo of ours.
        let open = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&file);
        let result = open.and_then(|mut f| io::Write::write_all(&mut f, value.as_bytes()));
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(CgroupError::NoSwapAccounting { path: file })
            }
            Err(e) => Err(io_err(&file, e)),
        }
    }

    /// Whether [`Cgroup::limit_swap`] can work here: the swap control file exists (v2
    /// has it in every cgroup but the root, so ask a child).
    pub fn check_swap_accounting(&self) -> Result<(), CgroupError> {
        let file = match self {
            Cgroup::V1 { memory, .. } => memory.join("memory.memsw.limit_in_bytes"),
            Cgroup::V2 { dir } => dir.join("memory.swap.max"),
        };
        if file.exists() {
            Ok(())
        } else {
            Err(CgroupError::NoSwapAccounting { path: file })
        }
    }

    /// The pids in this cgroup (read from the first directory's `cgroup.procs`; a
    /// missing file reads as none).
    pub fn pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for f in self.procs_files() {
            if let Ok(text) = fs::read_to_string(&f) {
                out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The pids in this cgroup and every cgroup below it (all hierarchies).
    pub fn subtree_pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for d in self.dirs() {
            subtree_pids_in(d, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Kills every process in this cgroup and below it, also those that left the
    /// task's process group or session (a `setsid` or double fork), and waits up to
    /// `patience` until none is left. cgroup v2 with `cgroup.kill` (Linux 5.14 and
    /// later): writes `1` there, and the kernel kills the whole subtree at once, also
    /// what forks meanwhile. Otherwise (v1, or an older v2) every pid listed in the
    /// subtree's `cgroup.procs` files gets SIGKILL, repeated until the lists are empty
    /// (a killed process cannot fork, so each round leaves fewer). Processes still
    /// there after `patience` are a [`CgroupError::Stuck`] naming them. A directory
    /// that is not on a cgroup file system (a unit test's stand-in tree) holds no
    /// processes: nothing read from it is ever signalled.
    pub fn kill_all(&self, patience: Duration) -> Result<(), CgroupError> {
        if !self.dirs().into_iter().all(on_cgroupfs) {
            return Ok(());
        }
        let kill_file = match self {
            Cgroup::V2 { dir } => Some(dir.join("cgroup.kill")),
            Cgroup::V1 { .. } => None,
        };
        // A missing directory (already removed) or `cgroup.kill` (older kernel) is
        // not an error: the loop below then finds nothing or signals pid by pid.
        // A refused write falls back to signalling pid by pid too: whatever cannot be
        // killed then shows up as `Stuck`, naming the pids.
        let kernel_kills = kill_file.is_some_and(|f| f.exists() && fs::write(&f, "1").is_ok());
        let start = Instant::now();
        loop {
            let pids = self.subtree_pids();
            if pids.is_empty() {
                return Ok(());
            }
            if start.elapsed() > patience {
                return Err(CgroupError::Stuck {
                    path: self.dirs()[0].to_path_buf(),
                    pids: pids
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    patience,
                });
            }
            if !kernel_kills {
                for pid in pids {
                    // Already gone is fine: we only want it out of the cgroup.
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The control file `name` of the cpu controller (v1: in the cpu hierarchy).
    pub fn cpu_file(&self, name: &str) -> PathBuf {
        match self {
            Cgroup::V1 { cpu, .. } => cpu.join(name),
            Cgroup::V2 { dir } => dir.join(name),
        }
    }

    /// The control file `name` of the memory controller (v1: in the memory hierarchy).
    pub fn memory_file(&self, name: &str) -> PathBuf {
        match self {
            Cgroup::V1 { memory, .. } => memory.join(name),
            Cgroup::V2 { dir } => dir.join(name),
        }
    }

    /// Sets the CPU weight from Mesos's `cpu.shares` (2 to 262144): v1 `cpu.shares`, v2
    /// `cpu.weight` = `shares × 100 / 1024` within 1–10000, so the kernels' defaults
    /// (1024 shares, weight 100) correspond.
    pub fn set_cpu_shares(&self, shares: u64) -> Result<(), CgroupError> {
        let shares = shares.clamp(2, 262_144);
        match self {
            Cgroup::V1 { cpu, .. } => write(&cpu.join("cpu.shares"), &shares.to_string()),
            Cgroup::V2 { dir } => write(
                &dir.join("cpu.weight"),
                &(shares * 100 / 1024).clamp(1, 10_000).to_string(),
            ),
        }
    }
}

/// Whether `dir` is a directory of a cgroup (v1 or v2) file system.
fn on_cgroupfs(dir: &Path) -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    statfs(dir).is_ok_and(|s| {
        let t = s.filesystem_type();
        t == CGROUP_SUPER_MAGIC || t == CGROUP2_SUPER_MAGIC
    })
}

fn subtree_pids_in(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                subtree_pids_in(&e.path(), out);
            }
        }
    }
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|e| io_err(path, e))
}

/// v2: writes `+cpu +memory` into `dir`'s `cgroup.subtree_control` unless both are
/// already enabled there.
fn enable_v2_controllers(dir: &Path) -> Result<(), CgroupError> {
    let control = dir.join("cgroup.subtree_control");
    let current = fs::read_to_string(&control).map_err(|e| io_err(&control, e))?;
    let has = |c: &str| current.split_whitespace().any(|w| w == c);
    if has("cpu") && has("memory") {
        return Ok(());
    }
    fs::write(&control, "+cpu +memory").map_err(|source| {
        if source.kind() == io::ErrorKind::PermissionDenied {
            CgroupError::PermissionDenied { path: control }
        } else {
            CgroupError::Delegation {
                path: dir.to_path_buf(),
                source,
            }
        }
    })
}

/// Owns a created cgroup: [`CgroupGuard::remove`] (or dropping the guard) kills what
/// is left in it and below it and removes the directories, deepest first.
#[derive(Debug)]
pub struct CgroupGuard {
    cgroup: Option<Cgroup>,
}

impl CgroupGuard {
    /// The cgroup.
    pub fn cgroup(&self) -> &Cgroup {
        self.cgroup
            .as_ref()
            .expect("a guard holds its cgroup until removed")
    }

    /// Takes charge of an existing cgroup (one a killed process left behind, say), so
    /// that it is removed like one this process created; a missing one is fine.
    pub fn adopt(cgroup: Cgroup) -> CgroupGuard {
        CgroupGuard {
            cgroup: Some(cgroup),
        }
    }

    /// Kills everything in the cgroup and below it ([`Cgroup::kill_all`], waiting at
    /// most [`KILL_PATIENCE`]) and removes the directories, reporting failure (dropping
    /// the guard does the same and prints errors). A cgroup whose processes do not go
    /// is a [`CgroupError::Stuck`] and stays in place.
    pub fn remove(self) -> Result<(), CgroupError> {
        self.remove_within(KILL_PATIENCE)
    }

    /// [`CgroupGuard::remove`], except that a cgroup whose processes do not go
    /// ([`CgroupError::Stuck`]) is named in a warning on stderr and left for later
    /// removal instead of failing, so teardown goes on; other errors are returned.
    pub fn remove_or_leave(self) -> Result<(), CgroupError> {
        match self.remove() {
            Err(e @ CgroupError::Stuck { .. }) => {
                eprintln!("warning: {e}");
                Ok(())
            }
            other => other,
        }
    }

    /// [`CgroupGuard::remove`] with the patience given.
    pub fn remove_within(mut self, patience: Duration) -> Result<(), CgroupError> {
        match self.cgroup.take() {
            Some(cg) => remove_tree(&cg, patience),
            None => Ok(()),
        }
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = remove_tree(&cg, KILL_PATIENCE) {
                eprintln!("warning: leaving cgroup behind: {e}");
            }
        }
    }
}

/// How long teardown waits for SIGKILLed processes to leave their cgroup (or for a
/// task's leader to exit) before it reports them and leaves them behind.
pub const KILL_PATIENCE: Duration = Duration::from_secs(10);

/// How long removal keeps retrying a cgroup that is still busy once its processes are
/// gone (the kernel releases an emptied cgroup a moment later).
const REMOVE_PATIENCE: Duration = Duration::from_secs(5);

/// Kills everything in `cg` and removes every directory of it, children first. A
/// cgroup directory on cgroupfs is removed with `rmdir` although it lists control
/// files; `EBUSY` means something is still inside: it is sent SIGKILL and removal is
/// retried.
fn remove_tree(cg: &Cgroup, patience: Duration) -> Result<(), CgroupError> {
    cg.kill_all(patience)?;
    for dir in cg.dirs() {
        remove_dir_tree(dir)?;
    }
    Ok(())
}

fn remove_dir_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in &children {
        remove_dir_tree(child)?;
    }
    let start = Instant::now();
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) => {
                if start.elapsed() > REMOVE_PATIENCE {
                    return Err(CgroupError::Busy {
                        path: dir.to_path_buf(),
                    });
                }
                kill_procs_in(dir);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(io_err(dir, e)),
        }
    }
}

fn kill_procs_in(dir: &Path) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // Already gone is fine: we only want it out of the cgroup.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// One line of `/proc/self/mountinfo` that mounts a cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CgroupMount {
    /// The cgroup path mounted (`root` field, usually `/`).
    root: String,
    /// Where it is mounted.
    mount_point: PathBuf,
    /// v2 (`cgroup2`) or v1 (`cgroup`).
    v2: bool,
    /// v1: the controllers named in the super options (`cpu`, `cpuacct`, `name=...`).
    options: Vec<String>,
}

fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let v2 = match post[0] {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        out.push(CgroupMount {
            root: unescape(pre[3]),
            mount_point: PathBuf::from(unescape(pre[4])),
            v2,
            options: post[2].split(',').map(str::to_string).collect(),
        });
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The directory of this process's cgroup in `mount`, from `/proc/self/cgroup`'s path
/// for that hierarchy (made relative to the mount's root).
fn own_dir(mount: &CgroupMount, cgroup_path: &str) -> PathBuf {
    // Component-wise: a mount of `/kubepods` is not a prefix of `/kubepods2/x`.
    let path = Path::new(cgroup_path);
    let rel = path.strip_prefix(&mount.root).unwrap_or(path);
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    if rel.as_os_str().is_empty() {
        mount.mount_point.clone()
    } else {
        mount.mount_point.join(rel)
    }
}

/// Finds this process's own cgroup in the hierarchy (or hierarchies) carrying the cpu
/// and memory controllers, from the text of `/proc/self/mountinfo` and
/// `/proc/self/cgroup`. v2 is preferred when its `cgroup.controllers` (read through
/// `controllers`, given the directory) lists both; otherwise v1 needs both mounted.
pub fn detect(
    mountinfo: &str,
    self_cgroup: &str,
    controllers: impl Fn(&Path) -> Option<String>,
) -> Result<Cgroup, CgroupError> {
    let mounts = cgroup_mounts(mountinfo);
    let v2_path = self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::trim);
    let v1_path = |controller: &str| {
        self_cgroup.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            names
                .split(',')
                .any(|n| n == controller)
                .then(|| path.trim().to_string())
        })
    };
    let mut v2_found = Vec::new();
    if let (Some(mount), Some(path)) = (mounts.iter().find(|m| m.v2), v2_path) {
        let dir = own_dir(mount, path);
        let list = controllers(&dir).unwrap_or_default();
        let has = |c: &str| list.split_whitespace().any(|w| w == c);
        if has("cpu") && has("memory") {
            return Ok(Cgroup::V2 { dir });
        }
        v2_found.push(format!(
            "cgroup v2 at {} has: {}",
            mount.mount_point.display(),
            if list.trim().is_empty() {
                "none"
            } else {
                list.trim()
            }
        ));
    }
    let v1_mount = |c: &str| {
        mounts
            .iter()
            .find(|m| !m.v2 && m.options.iter().any(|o| o == c))
    };
    let cpu = v1_mount("cpu");
    let memory = v1_mount("memory");
    if let (Some(cpu_mount), Some(mem_mount)) = (cpu, memory) {
        let cpu_path = v1_path("cpu").ok_or_else(|| CgroupError::UnknownOwnCgroup("cpu".into()))?;
        let mem_path =
            v1_path("memory").ok_or_else(|| CgroupError::UnknownOwnCgroup("memory".into()))?;
        return Ok(Cgroup::V1 {
            cpu: own_dir(cpu_mount, &cpu_path),
            memory: own_dir(mem_mount, &mem_path),
        });
    }
    let missing = match (cpu.is_some(), memory.is_some()) {
        (false, false) => "cpu and memory",
        (true, false) => "memory",
        _ => "cpu",
    };
    let mut found = v2_found;
    let v1: Vec<&str> = ["cpu", "memory"]
        .into_iter()
        .filter(|c| v1_mount(c).is_some())
        .collect();
    found.push(format!(
        "cgroup v1 has: {}",
        if v1.is_empty() {
            "none".to_string()
        } else {
            v1.join(", ")
        }
    ));
    Err(CgroupError::MissingControllers {
        missing: missing.to_string(),
        found: found.join("; "),
    })
}

/// [`detect`] on this machine: reads `/proc/self/mountinfo`, `/proc/self/cgroup` and
/// the v2 `cgroup.controllers` file.
pub fn detect_host() -> Result<Cgroup, CgroupError> {
    let read = |p: &str| fs::read_to_string(p).map_err(|e| io_err(Path::new(p), e));
    let mountinfo = read("/proc/self/mountinfo")?;
    let self_cgroup = read("/proc/self/cgroup")?;
    detect(&mountinfo, &self_cgroup, |dir| {
        fs::read_to_string(dir.join("cgroup.controllers")).ok()
    })
}

/// Reads a cgroup control file.
pub fn read_control(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|e| io_err(path, e))
}

/// v1 with `cpuacct` mounted apart from `cpu`: this process's directory in the cpuacct
/// hierarchy (`None` when cpuacct is co-mounted with cpu, or absent).
pub fn detect_cpuacct(mountinfo: &str, self_cgroup: &str) -> Option<PathBuf> {
    let mounts = cgroup_mounts(mountinfo);
    let has = |m: &CgroupMount, c: &str| !m.v2 && m.options.iter().any(|o| o == c);
    let mount = mounts
        .iter()
        .find(|m| has(m, "cpuacct") && !has(m, "cpu"))?;
    let path = self_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        names
            .split(',')
            .any(|n| n == "cpuacct")
            .then(|| path.trim().to_string())
    })?;
    Some(own_dir(mount, &path))
}

/// [`detect_cpuacct`] on this machine.
pub fn detect_host_cpuacct() -> Result<Option<PathBuf>, CgroupError> {
    let mountinfo = read_control(Path::new("/proc/self/mountinfo"))?;
    let self_cgroup = read_control(Path::new("/proc/self/cgroup"))?;
    Ok(detect_cpuacct(&mountinfo, &self_cgroup))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's layout: v1 controllers, an empty cgroup2 at `unified`.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
4:memory:/process_api/abc
1:cpu,cpuacct:/
0::/
";

    #[test]
    fn hybrid_layout_uses_v1_when_v2_has_no_controllers() {
        let cg = detect(HYBRID, HYBRID_SELF, |_| Some(String::new())).unwrap();
        assert_eq!(
            cg,
            Cgroup::V1 {
                cpu: "/sys/fs/cgroup/cpu,cpuacct".into(),
                memory: "/sys/fs/cgroup/memory/process_api/abc".into(),
            }
        );
    }

    #[test]
    fn unified_layout_with_controllers_uses_v2() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let own = "0::/user.slice/session-1.scope\n";
        let cg = detect(mountinfo, own, |dir| {
            assert_eq!(dir, Path::new("/sys/fs/cgroup/user.slice/session-1.scope"));
            Some("cpuset cpu io memory pids\n".into())
        })
        .unwrap();
        assert_eq!(
            cg,
            Cgroup::V2 {
                dir: "/sys/fs/cgroup/user.slice/session-1.scope".into()
            }
        );
    }

    #[test]
    fn a_mount_of_a_subtree_is_resolved_against_its_root() {
        let mountinfo = "30 23 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let cg = detect(mountinfo, "0::/kubepods/pod1/c1\n", |_| {
            Some("cpu memory".into())
        })
        .unwrap();
        assert_eq!(
            cg,
            Cgroup::V2 {
                dir: "/sys/fs/cgroup/c1".into()
            }
        );
    }

    #[test]
    fn missing_controllers_are_named() {
        let mountinfo = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        let err = detect(mountinfo, "1:cpu:/\n0::/\n", |_| Some("pids\n".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no cgroup hierarchy provides the memory controller \
             (cgroup v2 at /sys/fs/cgroup/unified has: pids; cgroup v1 has: cpu)"
        );
        let err = detect("", "", |_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no cgroup hierarchy provides the cpu and memory controllers (cgroup v1 has: none)"
        );
    }

    /// A pure v1 host (no cgroup2 mount, no `0::` line): cpu and memory apart, each
    /// process cgroup resolved in its own hierarchy.
    #[test]
    fn pure_v1_layout_uses_the_cpu_and_memory_hierarchies() {
        let mountinfo = "\
25 20 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
";
        let own = "5:pids:/a\n3:memory:/m/x\n2:cpu,cpuacct:/c\n";
        let cg = detect(mountinfo, own, |_| panic!("no v2 to ask")).unwrap();
        assert_eq!(
            cg,
            Cgroup::V1 {
                cpu: "/sys/fs/cgroup/cpu,cpuacct/c".into(),
                memory: "/sys/fs/cgroup/memory/m/x".into(),
            }
        );
        // Mounted, but this process's line for it is missing: named, not guessed.
        let err = detect(mountinfo, "2:cpu,cpuacct:/c\n", |_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot tell this process's cgroup in the memory hierarchy from /proc/self/cgroup"
        );
    }

    /// A pure v2 host whose own cgroup was not given the cpu controller (systemd's
    /// default for user sessions): the error says what v2 offers and that v1 is absent.
    #[test]
    fn pure_v2_without_cpu_names_what_the_unified_hierarchy_has() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let err = detect(mountinfo, "0::/user.slice/s.scope\n", |dir| {
            assert_eq!(dir, Path::new("/sys/fs/cgroup/user.slice/s.scope"));
            Some("memory pids\n".into())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no cgroup hierarchy provides the cpu and memory controllers \
             (cgroup v2 at /sys/fs/cgroup has: memory pids; cgroup v1 has: none)"
        );
        // At the namespace root (`0::/`) the directory is the mount point itself.
        let cg = detect(mountinfo, "0::/\n", |_| Some("cpu memory".into())).unwrap();
        assert_eq!(
            cg,
            Cgroup::V2 {
                dir: "/sys/fs/cgroup".into()
            }
        );
    }

    /// A hybrid host whose v2 hierarchy did get both controllers (none left to v1):
    /// v2 is preferred.
    #[test]
    fn hybrid_layout_with_controllers_on_v2_uses_v2() {
        let mountinfo = "\
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        let own = "1:name=systemd:/x\n0::/x\n";
        let cg = detect(mountinfo, own, |_| Some("cpu io memory".into())).unwrap();
        assert_eq!(
            cg,
            Cgroup::V2 {
                dir: "/sys/fs/cgroup/unified/x".into()
            }
        );
    }

    #[test]
    fn a_mount_root_is_a_prefix_only_by_whole_components() {
        let mount = CgroupMount {
            root: "/kubepods".into(),
            mount_point: "/sys/fs/cgroup".into(),
            v2: true,
            options: Vec::new(),
        };
        assert_eq!(
            own_dir(&mount, "/kubepods/p1"),
            Path::new("/sys/fs/cgroup/p1")
        );
        assert_eq!(
            own_dir(&mount, "/kubepods2/p1"),
            Path::new("/sys/fs/cgroup/kubepods2/p1")
        );
        assert_eq!(own_dir(&mount, "/kubepods"), Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn a_busy_delegation_explains_the_no_internal_processes_rule() {
        let busy = CgroupError::Delegation {
            path: "/sys/fs/cgroup/user.slice/s.scope".into(),
            source: io::Error::from_raw_os_error(nix::libc::EBUSY),
        };
        let text = busy.to_string();
        assert!(
            text.contains("holds no processes itself") && text.contains("Delegate=yes"),
            "{text}"
        );
        let other = CgroupError::Delegation {
            path: "/x".into(),
            source: io::Error::from_raw_os_error(nix::libc::EINVAL),
        };
        assert!(!other.to_string().contains("Delegate"), "{other}");
    }

    #[test]
    fn mountinfo_octal_escapes_are_decoded() {
        assert_eq!(unescape(r"/mnt/a\040b"), "/mnt/a b");
        assert_eq!(unescape(r"/x\\"), r"/x\\");
    }

    #[test]
    fn quota_is_thousandths_of_the_period_with_the_kernel_minimum() {
        let l = |cpu_milli| Limits {
            cpu_milli,
            memory_bytes: 0,
        };
        assert_eq!(l(500).cpu_quota_us(), 50_000);
        assert_eq!(l(2000).cpu_quota_us(), 200_000);
        assert_eq!(l(1).cpu_quota_us(), MIN_CPU_QUOTA_US);
        // No overflow on absurd requests (a panic in debug builds before).
        assert_eq!(l(u64::MAX).cpu_quota_us(), u64::MAX);
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn v1_limits_go_to_the_cfs_and_memory_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Cgroup::V1 {
            cpu: tmp.path().join("cpu"),
            memory: tmp.path().join("memory"),
        };
        for d in root.dirs() {
            fs::create_dir_all(d).unwrap();
        }
        let guard = root.create_child("task-1").unwrap();
        let cg = guard.cgroup().clone();
        cg.set_limits(Limits {
            cpu_milli: 250,
            memory_bytes: 64 << 20,
        })
        .unwrap();
        let cpu = tmp.path().join("cpu/task-1");
        let mem = tmp.path().join("memory/task-1");
        assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "25000");
        assert_eq!(read(&mem.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(
            cg.procs_files(),
            [cpu.join("cgroup.procs"), mem.join("cgroup.procs")]
        );
        fs::write(cpu.join("cgroup.procs"), "12\n7\n").unwrap();
        fs::write(mem.join("cgroup.procs"), "7\n").unwrap();
        assert_eq!(cg.pids(), [7, 12]);
        // A temporary tree is not cgroupfs (the control files are real files), so only
        // the real-cgroup tests can see rmdir succeed; here the guard just lets go.
        drop(guard);
    }

    /// `--limit-swap`: v1 caps memory plus swap at the memory limit, v2 allows no swap;
    /// without the control file (no swap accounting) the error says what to do.
    #[test]
    fn the_swap_limit_goes_to_memsw_or_swap_max() {
        let tmp = tempfile::tempdir().unwrap();
        let v1 = Cgroup::V1 {
            cpu: tmp.path().join("cpu"),
            memory: tmp.path().join("memory"),
        };
        for d in v1.dirs() {
            fs::create_dir_all(d).unwrap();
        }
        let memsw = tmp.path().join("memory/memory.memsw.limit_in_bytes");
        let err = v1.check_swap_accounting().unwrap_err();
        assert!(
            err.to_string()
                .contains("memory.memsw.limit_in_bytes does not exist")
                && err.to_string().contains("swapaccount=1"),
            "{err}"
        );
        let err = v1.limit_swap(64 << 20).unwrap_err();
        assert!(matches!(err, CgroupError::NoSwapAccounting { .. }), "{err}");
        assert!(!memsw.exists(), "never created");
        fs::write(&memsw, "9223372036854771712").unwrap();
        v1.check_swap_accounting().unwrap();
        v1.limit_swap(64 << 20).unwrap();
        assert_eq!(read(&memsw), "67108864");

        let v2 = Cgroup::V2 {
            dir: tmp.path().join("v2"),
        };
        fs::create_dir(tmp.path().join("v2")).unwrap();
        assert!(v2.limit_swap(64 << 20).is_err());
        fs::write(tmp.path().join("v2/memory.swap.max"), "max").unwrap();
        v2.limit_swap(64 << 20).unwrap();
        assert_eq!(read(&tmp.path().join("v2/memory.swap.max")), "0");
    }

    #[test]
    fn v1_co_mounted_controllers_share_one_directory() {
        let cg = Cgroup::V1 {
            cpu: "/c/a".into(),
            memory: "/c/a".into(),
        };
        assert_eq!(cg.dirs(), [Path::new("/c/a")]);
        assert_eq!(cg.procs_files(), [PathBuf::from("/c/a/cgroup.procs")]);
    }

    #[test]
    fn v2_delegates_controllers_then_writes_cpu_max_and_memory_max() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Cgroup::V2 {
            dir: tmp.path().to_path_buf(),
        };
        fs::write(tmp.path().join("cgroup.subtree_control"), "").unwrap();
        let guard = root.create_child("agent-0").unwrap();
        assert_eq!(
            read(&tmp.path().join("cgroup.subtree_control")),
            "+cpu +memory"
        );
        let agent = guard.cgroup().clone();
        // Already enabled: left alone.
        fs::write(
            agent_dir(&agent).join("cgroup.subtree_control"),
            "cpu memory\n",
        )
        .unwrap();
        let task_guard = agent.create_child("task-3").unwrap();
        assert_eq!(
            read(&agent_dir(&agent).join("cgroup.subtree_control")),
            "cpu memory\n"
        );
        let task = task_guard.cgroup();
        task.set_limits(Limits {
            cpu_milli: 1500,
            memory_bytes: 1 << 30,
        })
        .unwrap();
        let dir = tmp.path().join("agent-0/task-3");
        assert_eq!(read(&dir.join("cpu.max")), "150000 100000");
        assert_eq!(read(&dir.join("memory.max")), "1073741824");
        assert_eq!(task.procs_files(), [dir.join("cgroup.procs")]);
        assert_eq!(task.version(), "v2");
    }

    fn agent_dir(cg: &Cgroup) -> PathBuf {
        match cg {
            Cgroup::V2 { dir } => dir.clone(),
            Cgroup::V1 { .. } => unreachable!("a v2 test"),
        }
    }

    #[test]
    fn creating_where_the_parent_is_missing_is_an_error_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Cgroup::V1 {
            cpu: tmp.path().join("nope"),
            memory: tmp.path().join("nope"),
        };
        let err = root.create_child("x").unwrap_err();
        assert!(err.to_string().contains("nope/x"), "{err}");
    }
}
