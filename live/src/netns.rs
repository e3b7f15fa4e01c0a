//! Network namespaces, veth pairs between them, and a tc token-bucket (tbf) limit on a device's egress, driven through `ip` and `tc`.
//!
//! A [`Netns`] is a guard: dropping it deletes the namespace, and with it every device
//! inside (both ends of a veth pair go when either namespace does). [`veth_pair`]
//! creates both ends directly inside their namespaces, so no half of a pair is ever
//! left in the host's namespace. Rates are integers in bytes per second.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::process::Command;

use nix::sched::{setns, CloneFlags};
use thiserror::Error;

/// What went wrong with namespaces or traffic control.
#[derive(Debug, Error)]
pub enum NetError {
    /// `ip` or `tc` could not be run at all.
    #[error("cannot run `{tool}` (iproute2 is needed for network namespaces)")]
    Tool {
        /// The program.
        tool: String,
        /// Why.
        source: io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// Entering a namespace failed.
    #[error("cannot enter network namespace {name}")]
    Enter {
        /// The namespace.
        name: String,
        /// Why.
        source: io::Error,
    },
    /// A namespace or device name the kernel would refuse (or `ip` would misread).
    #[error("invalid {what} name `{name}`: {why}")]
    Name {
        /// `network namespace` or `network device`.
        what: &'static str,
        /// The name.
        name: String,
        /// The rule it breaks.
        why: String,
    },
}

/// The longest network device name (`IFNAMSIZ` is 16 with the terminating NUL).
pub const MAX_DEVICE_NAME: usize = 15;

/// The longest namespace name (a file name in /run/netns).
pub const MAX_NETNS_NAME: usize = 255;

/// Checks a name against the kernel's rules before `ip` sees it: not empty, at most
/// `max` bytes, no `/`, whitespace or control characters, not `.` or `..`.
fn check_name(what: &'static str, name: &str, max: usize) -> Result<(), NetError> {
    let why = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > max {
        Some(format!("{} bytes, at most {max} allowed", name.len()))
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not names".to_string())
    } else if name
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        Some("it may not contain `/`, whitespace or control characters".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Err(NetError::Name {
            what,
            name: name.escape_debug().to_string(),
            why,
        }),
        None => Ok(()),
    }
}

fn run(tool: &str, args: &[&str]) -> Result<(), NetError> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|source| NetError::Tool {
            tool: tool.into(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Command {
            command: format!("{tool} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// A named network namespace (`ip netns add`), deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
    deleted: bool,
}

impl Netns {
    /// Creates the namespace `name` with its loopback up.
    pub fn create(name: &str) -> Result<Netns, NetError> {
        check_name("network namespace", name, MAX_NETNS_NAME)?;
        run("ip", &["netns", "add", name])?;
        let ns = Netns {
            name: name.into(),
            deleted: false,
        };
        run("ip", &["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file that holds it (`/run/netns/<name>`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Moves the calling thread (only this thread) into the namespace: sockets it
    /// creates afterwards live there.
    pub fn enter_current_thread(&self) -> Result<(), NetError> {
        let enter = || -> io::Result<()> {
            let file = File::open(self.path())?;
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
        };
        enter().map_err(|source| NetError::Enter {
            name: self.name.clone(),
            source,
        })
    }

    /// Deletes the namespace, reporting failure (dropping does the same quietly).
    pub fn delete(mut self) -> Result<(), NetError> {
        self.deleted = true;
        run("ip", &["netns", "del", &self.name])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.deleted {
            if let Err(e) = run("ip", &["netns", "del", &self.name]) {
                eprintln!("warning: leaving network namespace behind: {e}");
            }
        }
    }
}

/// One end of a veth pair: its namespace, device name (at most 15 bytes) and address
/// in CIDR notation (`10.213.0.1/30`).
#[derive(Clone, Copy, Debug)]
pub struct End<'a> {
    /// The namespace it lives in.
    pub ns: &'a Netns,
    /// The device name.
    pub dev: &'a str,
    /// Its address with prefix length.
    pub cidr: &'a str,
}

/// Creates a veth pair with each end inside its namespace, addressed and up. Device
/// names are checked first; if addressing or raising an end fails, the pair is deleted
/// again before the error is returned.
pub fn veth_pair(a: End<'_>, b: End<'_>) -> Result<(), NetError> {
    for end in [a, b] {
        check_name("network device", end.dev, MAX_DEVICE_NAME)?;
    }
    run(
        "ip",
        &[
            "link",
            "add",
            "name",
            a.dev,
            "netns",
            a.ns.name(),
            "type",
            "veth",
            "peer",
            "name",
            b.dev,
            "netns",
            b.ns.name(),
        ],
    )?;
    let configure = || {
        for end in [a, b] {
            run(
                "ip",
                &["-n", end.ns.name(), "addr", "add", end.cidr, "dev", end.dev],
            )?;
            run("ip", &["-n", end.ns.name(), "link", "set", end.dev, "up"])?;
        }
        Ok(())
    };
    configure().inspect_err(|_| {
        // Deleting one end deletes its peer; the error to report is the first one.
        let _ = run("ip", &["-n", a.ns.name(), "link", "del", a.dev]);
    })
}

/// A token-bucket limit on a device's egress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained rate, bytes per second.
    pub bytes_per_sec: u64,
    /// Bucket size, bytes: how much may leave at line rate after an idle period.
    pub burst_bytes: u64,
}

impl RateLimit {
    /// `tc qdisc add ... tbf` arguments: rate in bits/s, burst in bytes, and a 100 ms
    /// queue (packets waiting longer are dropped; TCP backs off to the rate).
    fn tbf_args(&self) -> [String; 7] {
        [
            "tbf".into(),
            "rate".into(),
            // u128: no overflow for any u64 rate.
            format!("{}bit", u128::from(self.bytes_per_sec) * 8),
            "burst".into(),
            format!("{}b", self.burst_bytes),
            "latency".into(),
            "100ms".into(),
        ]
    }
}

/// Limits what `dev` in `ns` sends to `limit` (a tbf root qdisc).
pub fn limit_egress(ns: &Netns, dev: &str, limit: RateLimit) -> Result<(), NetError> {
    check_name("network device", dev, MAX_DEVICE_NAME)?;
    let tbf = limit.tbf_args();
    let mut args = vec!["-n", ns.name(), "qdisc", "add", "dev", dev, "root"];
    args.extend(tbf.iter().map(String::as_str));
    run("tc", &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_kernel_would_refuse_are_errors_before_ip_runs() {
        // A guard that is never created: only the checks before `ip` run.
        let ns = Netns {
            name: "mesosim-unit".into(),
            deleted: true,
        };
        let end = |dev| End {
            ns: &ns,
            dev,
            cidr: "10.213.0.1/30",
        };
        let err = veth_pair(end("sixteen-bytes-xx"), end("b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid network device name `sixteen-bytes-xx`: 16 bytes, at most 15 allowed"
        );
        assert!(matches!(
            veth_pair(end("a"), end("x y")),
            Err(NetError::Name { .. })
        ));
        let rate = RateLimit {
            bytes_per_sec: 1,
            burst_bytes: 1,
        };
        assert!(matches!(
            limit_egress(&ns, "", rate),
            Err(NetError::Name { .. })
        ));
        let err = Netns::create(&"n".repeat(256)).unwrap_err();
        assert!(err.to_string().contains("at most 255"), "{err}");
        assert!(Netns::create("a/b").is_err() && Netns::create("..").is_err());
        // Fifteen bytes is allowed.
        assert!(check_name("network device", "fifteen-bytes-x", MAX_DEVICE_NAME).is_ok());
    }

    #[test]
    fn tbf_rates_are_bits_and_bursts_are_bytes() {
        let l = RateLimit {
            bytes_per_sec: 1_250_000,
            burst_bytes: 32_768,
        };
        assert_eq!(
            l.tbf_args().join(" "),
            "tbf rate 10000000bit burst 32768b latency 100ms"
        );
        let huge = RateLimit {
            bytes_per_sec: u64::MAX,
            burst_bytes: 1,
        };
        assert_eq!(huge.tbf_args()[2], "147573952589676412920bit");
    }
}
