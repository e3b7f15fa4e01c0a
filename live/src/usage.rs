//! Real CPU and memory usage of task cgroups: parsing the kernel's accounting files and turning two samples into milli-CPUs.
//!
//! | what              | v1                                            | v2                         |
//! |-------------------|-----------------------------------------------|----------------------------|
//! | CPU time          | `cpuacct.usage` (ns)                          | `cpu.stat` `usage_usec`    |
//! | throttled periods | `cpu.stat` `nr_throttled`                     | `cpu.stat` `nr_throttled`  |
//! | memory            | `memory.usage_in_bytes`                       | `memory.current`           |
//!
//! On v1 `cpuacct` is often mounted with `cpu` (`cpu,cpuacct`), so `cpuacct.usage`
//! sits in the task's cpu directory; where it is a hierarchy of its own the run mirrors
//! the task cgroups there ([`crate::cgroup::detect_host_cpuacct`]) and the task joins
//! that cgroup too. The parsers are pure functions of the files' text; the reads go
//! through [`crate::cgroup::read_control`].

use std::io;
use std::path::Path;

use crate::cgroup::{read_control, Cgroup, CgroupError};

/// Cumulative CPU counters of one cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuSample {
    /// CPU time used by everything that ran in it, ns.
    pub usage_ns: u64,
    /// CFS periods in which it was held at its quota.
    pub nr_throttled: u64,
}

/// One reading of a task cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerSample {
    /// Its CPU counters.
    pub cpu: CpuSample,
    /// Memory charged to it now, bytes.
    pub memory_bytes: u64,
}

/// The value of `key` in a flat keyed file (`key value` per line, as `cpu.stat`).
fn keyed(text: &str, key: &str) -> Result<Option<u64>, String> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(key) {
            let value = words.next().unwrap_or("");
            return value
                .parse()
                .map(Some)
                .map_err(|_| format!("`{key}` is `{value}`, not a count"));
        }
    }
    Ok(None)
}

/// v2 `cpu.stat`: `usage_usec` (required) as ns and `nr_throttled` (0 when the cpu
/// controller is not enabled and the file has only the usage lines).
pub fn parse_cpu_stat_v2(text: &str) -> Result<CpuSample, String> {
    let usage_usec = keyed(text, "usage_usec")?.ok_or("no `usage_usec` line")?;
    Ok(CpuSample {
        usage_ns: usage_usec.saturating_mul(1000),
        nr_throttled: keyed(text, "nr_throttled")?.unwrap_or(0),
    })
}

/// v1 `cpu.stat`: `nr_throttled` (required).
pub fn parse_nr_throttled_v1(text: &str) -> Result<u64, String> {
    keyed(text, "nr_throttled")?.ok_or_else(|| "no `nr_throttled` line".to_string())
}

/// A file holding one count: `cpuacct.usage`, `memory.current`,
/// `memory.usage_in_bytes`.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    t.parse().map_err(|_| format!("`{t}` is not a count"))
}

/// CPU time `usage_ns` used over `wall_ns` of wall time, in milli-CPUs (0 over no
/// time).
pub fn milli_cpus(usage_ns: u64, wall_ns: u64) -> u64 {
    if wall_ns == 0 {
        return 0;
    }
    let m = u128::from(usage_ns) * 1000 / u128::from(wall_ns);
    u64::try_from(m).unwrap_or(u64::MAX)
}

/// What a task did over one measuring interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// CPU it used, milli-CPUs.
    pub used: u64,
    /// It was held at its quota at least once.
    pub throttled: bool,
}

impl Interval {
    /// What it wanted, as far as the counters tell: what it used, or its quota `cap`
    /// when it was held there (it wanted at least that). Time spent waiting for a CPU
    /// without being throttled does not show, so this is a lower bound.
    pub fn demand(&self, cap: u64) -> u64 {
        if self.throttled {
            self.used.max(cap)
        } else {
            self.used
        }
    }
}

/// Turns successive samples of one cgroup into [`Interval`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meter {
    last_ns: u64,
    last: CpuSample,
}

impl Meter {
    /// A meter whose first interval starts at `t_ns` from zero counters (a cgroup
    /// created then).
    pub fn starting_at(t_ns: u64) -> Meter {
        Meter {
            last_ns: t_ns,
            last: CpuSample::default(),
        }
    }

    /// The interval from the previous sample to `sample`, taken at `t_ns`. Counters
    /// that went backwards (they never should) count as no progress.
    pub fn interval(&mut self, t_ns: u64, sample: CpuSample) -> Interval {
        let used_ns = sample.usage_ns.saturating_sub(self.last.usage_ns);
        let wall_ns = t_ns.saturating_sub(self.last_ns);
        let throttled = sample.nr_throttled > self.last.nr_throttled;
        self.last_ns = t_ns;
        self.last = sample;
        Interval {
            used: milli_cpus(used_ns, wall_ns),
            throttled,
        }
    }
}

fn invalid(path: &Path, message: String) -> CgroupError {
    CgroupError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    }
}

fn read_parsed<T>(
    path: &Path,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, CgroupError> {
    let text = read_control(path)?;
    parse(&text).map_err(|m| invalid(path, m))
}

/// Reads `task`'s counters; on v1 its CPU time comes from `cpuacct` (its own cgroup in
/// a separate cpuacct hierarchy when given, else its cpu directory).
pub fn sample(task: &Cgroup, cpuacct: Option<&Cgroup>) -> Result<ContainerSample, CgroupError> {
    match task {
        Cgroup::V2 { .. } => Ok(ContainerSample {
            cpu: read_parsed(&task.cpu_file("cpu.stat"), parse_cpu_stat_v2)?,
            memory_bytes: read_parsed(&task.memory_file("memory.current"), parse_count)?,
        }),
        Cgroup::V1 { .. } => {
            let acct = cpuacct.unwrap_or(task);
            Ok(ContainerSample {
                cpu: CpuSample {
                    usage_ns: read_parsed(&acct.cpu_file("cpuacct.usage"), parse_count)?,
                    nr_throttled: read_parsed(&task.cpu_file("cpu.stat"), parse_nr_throttled_v1)?,
                },
                memory_bytes: read_parsed(&task.memory_file("memory.usage_in_bytes"), parse_count)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_STAT: &str = "\
usage_usec 2500000
user_usec 2000000
system_usec 500000
core_sched.force_idle_usec 0
nr_periods 40
nr_throttled 12
throttled_usec 800000
nr_bursts 0
burst_usec 0
";

    #[test]
    fn v2_cpu_stat_gives_usage_in_ns_and_throttled_periods() {
        assert_eq!(
            parse_cpu_stat_v2(V2_STAT),
            Ok(CpuSample {
                usage_ns: 2_500_000_000,
                nr_throttled: 12
            })
        );
        // Without the cpu controller enabled only the usage lines are there.
        assert_eq!(
            parse_cpu_stat_v2("usage_usec 7\nuser_usec 7\nsystem_usec 0\n"),
            Ok(CpuSample {
                usage_ns: 7000,
                nr_throttled: 0
            })
        );
        assert!(parse_cpu_stat_v2("user_usec 7\n").is_err());
        assert!(parse_cpu_stat_v2("usage_usec lots\n").is_err());
    }

    #[test]
    fn v1_files_parse() {
        let stat = "nr_periods 5\nnr_throttled 3\nthrottled_time 123456\nnr_bursts 0\n";
        assert_eq!(parse_nr_throttled_v1(stat), Ok(3));
        assert!(parse_nr_throttled_v1("nr_periods 5\n").is_err());
        assert_eq!(parse_count("1234567890\n"), Ok(1_234_567_890));
        assert_eq!(parse_count("  42 "), Ok(42));
        assert!(parse_count("max\n").is_err());
        assert!(parse_count("").is_err());
    }

    #[test]
    fn a_key_is_matched_whole() {
        // `nr_throttled` must not be read from a longer key that starts with it.
        assert_eq!(
            keyed("nr_throttled_x 9\nnr_throttled 2\n", "nr_throttled"),
            Ok(Some(2))
        );
    }

    #[test]
    fn milli_cpus_is_cpu_time_over_wall_time() {
        // Half a second of CPU in a second: 500 milli-CPUs; 3 s in 2 s: 1.5 CPUs.
        assert_eq!(milli_cpus(500_000_000, 1_000_000_000), 500);
        assert_eq!(milli_cpus(3_000_000_000, 2_000_000_000), 1500);
        assert_eq!(milli_cpus(1, 0), 0);
        // No overflow with counters near the top of u64.
        assert_eq!(milli_cpus(u64::MAX, u64::MAX), 1000);
    }

    #[test]
    fn samples_read_the_files_of_each_version() {
        let tmp = tempfile::tempdir().unwrap();
        let p = |rel: &str| tmp.path().join(rel);
        for d in ["cpu", "memory", "acct", "v2"] {
            std::fs::create_dir(p(d)).unwrap();
        }
        std::fs::write(
            p("cpu/cpu.stat"),
            "nr_periods 9\nnr_throttled 4\nthrottled_time 1\n",
        )
        .unwrap();
        std::fs::write(p("cpu/cpuacct.usage"), "111\n").unwrap();
        std::fs::write(p("acct/cpuacct.usage"), "222\n").unwrap();
        std::fs::write(p("memory/memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(p("v2/cpu.stat"), V2_STAT).unwrap();
        std::fs::write(p("v2/memory.current"), "8192\n").unwrap();
        let v1 = Cgroup::V1 {
            cpu: p("cpu"),
            memory: p("memory"),
        };
        let acct = Cgroup::V1 {
            cpu: p("acct"),
            memory: p("acct"),
        };
        let want = |usage_ns, nr_throttled, memory_bytes| ContainerSample {
            cpu: CpuSample {
                usage_ns,
                nr_throttled,
            },
            memory_bytes,
        };
        // cpuacct co-mounted with cpu, or in a hierarchy of its own.
        assert_eq!(sample(&v1, None).unwrap(), want(111, 4, 4096));
        assert_eq!(sample(&v1, Some(&acct)).unwrap(), want(222, 4, 4096));
        let v2 = Cgroup::V2 { dir: p("v2") };
        assert_eq!(sample(&v2, None).unwrap(), want(2_500_000_000, 12, 8192));
        // A file with garbage is an error naming it.
        std::fs::write(p("v2/memory.current"), "lots\n").unwrap();
        let err = sample(&v2, None).unwrap_err();
        // The message names the file; its source says what was wrong (the CLI prints both).
        let source = std::error::Error::source(&err).map(ToString::to_string);
        let e = format!("{err}: {}", source.unwrap_or_default());
        assert!(
            e.contains("memory.current") && e.contains("not a count"),
            "{e}"
        );
    }

    #[test]
    fn cpu_shares_become_v1_shares_or_a_v2_weight() {
        let tmp = tempfile::tempdir().unwrap();
        let v1 = Cgroup::V1 {
            cpu: tmp.path().to_path_buf(),
            memory: tmp.path().to_path_buf(),
        };
        let v2 = Cgroup::V2 {
            dir: tmp.path().to_path_buf(),
        };
        let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
        v1.set_cpu_shares(5).unwrap();
        assert_eq!(read("cpu.shares"), "5");
        v1.set_cpu_shares(0).unwrap();
        assert_eq!(read("cpu.shares"), "2");
        // The defaults correspond (1024 shares, weight 100); low shares floor at 1.
        for (shares, weight) in [(1024, "100"), (5, "1"), (2048, "200"), (1 << 20, "10000")] {
            v2.set_cpu_shares(shares).unwrap();
            assert_eq!(read("cpu.weight"), weight);
        }
    }

    #[test]
    fn a_separate_cpuacct_hierarchy_is_found() {
        // This machine's layout: cpu and cpuacct mounted apart.
        let apart = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
";
        let own = "4:memory:/a\n2:cpuacct:/b/c\n1:cpu:/\n0::/\n";
        assert_eq!(
            crate::cgroup::detect_cpuacct(apart, own),
            Some("/sys/fs/cgroup/cpuacct/b/c".into())
        );
        // Co-mounted (`cpu,cpuacct`): the cpu directory has it, nothing extra.
        let together =
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        assert_eq!(
            crate::cgroup::detect_cpuacct(together, "1:cpu,cpuacct:/\n"),
            None
        );
        assert_eq!(crate::cgroup::detect_cpuacct("", ""), None);
    }

    #[test]
    fn a_meter_measures_between_samples() {
        let s = |usage_ns, nr_throttled| CpuSample {
            usage_ns,
            nr_throttled,
        };
        let mut m = Meter::starting_at(1_000_000_000);
        // 0.2 s of CPU in the first 0.5 s; then 0.25 s in 0.5 s while throttled.
        let a = m.interval(1_500_000_000, s(200_000_000, 0));
        assert_eq!((a.used, a.throttled), (400, false));
        let b = m.interval(2_000_000_000, s(450_000_000, 4));
        assert_eq!((b.used, b.throttled), (500, true));
        // Held at a 0.5 quota it wanted at least that; unthrottled, what it used.
        assert_eq!(b.demand(500), 500);
        assert_eq!(b.demand(300), 500);
        assert_eq!(a.demand(900), 400);
        assert_eq!(
            Interval {
                used: 100,
                throttled: true
            }
            .demand(500),
            500
        );
        // A counter that went backwards is no progress, not a huge number.
        let c = m.interval(2_500_000_000, s(10, 4));
        assert_eq!((c.used, c.throttled), (0, false));
    }
}
