//! The agent's memory as the cgroups memory isolator and the kernel OOM killer treat
//! it (mesos-semantics.md §4.3): a container above its hard limit is destroyed
//! (`TASK_FAILED`, `REASON_CONTAINER_LIMITATION_MEMORY`); when the host runs out, the
//! OOM killer picks victims until usage fits, revocable containers first, then by
//! badness (share of host memory used plus `oom_score_adj`).
//!
//! Quantities are milli-MB, as in [`crate::resources`].

use super::Limit;

/// The cgroup minimum for soft and hard limits: 32 MB.
pub const MIN_LIMIT: i64 = 32 * 1000;

/// One container's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemContainer {
    /// Memory it uses now.
    pub usage: i64,
    /// Its request (the soft limit).
    pub request: i64,
    /// Its limit, if any.
    pub limit: Option<Limit>,
    /// Whether any of its resources is revocable.
    pub revocable: bool,
}

impl MemContainer {
    /// `limit_in_bytes`: the limit, unlimited when infinite, else the request.
    pub fn hard_limit(&self) -> Option<i64> {
        match self.limit {
            Some(Limit::Finite(l)) => Some(l.max(MIN_LIMIT)),
            Some(Limit::Infinite) => None,
            None => Some(self.request.max(MIN_LIMIT)),
        }
    }

    /// Burstable: the hard limit is above the soft limit.
    pub fn burstable(&self) -> bool {
        self.hard_limit()
            .is_none_or(|h| h > self.request.max(MIN_LIMIT))
    }

    /// `oom_score_adj`: `1000 − 1000 × request / host` for burstable containers, else 0.
    pub fn oom_score_adj(&self, host: i64) -> i64 {
        if self.burstable() && host > 0 {
            1000 - (1000 * self.request as i128 / host as i128) as i64
        } else {
            0
        }
    }

    /// The kernel's badness: per-mille of host memory used plus `oom_score_adj`.
    pub fn badness(&self, host: i64) -> i64 {
        let used = if host > 0 {
            (1000 * self.usage.max(0) as i128 / host as i128) as i64
        } else {
            0
        };
        used + self.oom_score_adj(host)
    }
}

/// Why a container was killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKill {
    /// It went over its own hard limit: `REASON_CONTAINER_LIMITATION_MEMORY`.
    Limit,
    /// The host ran out of memory and the OOM killer chose it.
    Oom,
}

/// The containers (by index) that die now, in kill order. First every container above
/// its hard limit; then, while the survivors use more than `host` milli-MB, the OOM
/// killer's victim: a revocable container before any other, the highest badness among
/// them, ties to the lower index.
pub fn kills(host: i64, containers: &[MemContainer]) -> Vec<(usize, MemKill)> {
    // The usual case, without allocating: everyone within limits and the host.
    let within = containers
        .iter()
        .all(|c| c.hard_limit().is_none_or(|h| c.usage <= h));
    if within && containers.iter().map(|c| c.usage.max(0)).sum::<i64>() <= host {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut alive: Vec<usize> = Vec::with_capacity(containers.len());
    for (i, c) in containers.iter().enumerate() {
        if c.hard_limit().is_some_and(|h| c.usage > h) {
            out.push((i, MemKill::Limit));
        } else {
            alive.push(i);
        }
    }
    let mut used: i64 = alive.iter().map(|&i| containers[i].usage.max(0)).sum();
    while used > host && !alive.is_empty() {
        let (pos, &victim) = alive
            .iter()
            .enumerate()
            .max_by(|(_, &a), (_, &b)| {
                let (ca, cb) = (&containers[a], &containers[b]);
                ca.revocable
                    .cmp(&cb.revocable)
                    .then(ca.badness(host).cmp(&cb.badness(host)))
                    .then(b.cmp(&a))
            })
            .expect("alive is not empty");
        used -= containers[victim].usage.max(0);
        alive.remove(pos);
        out.push((victim, MemKill::Oom));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: i64 = 1024 * 1000;

    fn c(usage: i64, request: i64, limit: Option<Limit>, revocable: bool) -> MemContainer {
        MemContainer {
            usage,
            request,
            limit,
            revocable,
        }
    }

    #[test]
    fn over_the_request_without_a_limit_is_a_limitation() {
        let k = kills(16 * GB, &[c(2 * GB + 1, 2 * GB, None, false)]);
        assert_eq!(k, [(0, MemKill::Limit)]);
    }

    #[test]
    fn a_limit_lets_a_task_burst_up_to_it() {
        let cs = [
            c(3 * GB, 2 * GB, Some(Limit::Finite(4 * GB)), false),
            c(5 * GB, 2 * GB, Some(Limit::Finite(4 * GB)), false),
            c(50 * GB, 2 * GB, Some(Limit::Infinite), false),
        ];
        assert_eq!(kills(100 * GB, &cs), [(1, MemKill::Limit)]);
    }

    #[test]
    fn small_requests_get_the_32mb_floor() {
        assert_eq!(kills(GB, &[c(30_000, 10_000, None, false)]), []);
    }

    #[test]
    fn oom_kills_revocable_first_even_if_smaller() {
        // Host 10 GB; a 6 GB burstable regular task and a 2 GB revocable one use 11 GB
        // with a 3 GB regular task: the revocable one dies first (then 9 GB fits).
        let cs = [
            c(6 * GB, 2 * GB, Some(Limit::Finite(8 * GB)), false),
            c(2 * GB, 2 * GB, None, true),
            c(3 * GB, 3 * GB, None, false),
        ];
        assert_eq!(kills(10 * GB, &cs), [(1, MemKill::Oom)]);
    }

    #[test]
    fn oom_then_picks_the_highest_badness() {
        // Host 10 GB, 12 GB used. Badness: burstable A (req 1 GB, uses 4 GB) =
        // 400 + 900 = 1300; burstable B (req 4 GB, uses 5 GB) = 500 + 600 = 1100;
        // plain C (uses 3 GB) = 300. A dies: 8 GB fits.
        let cs = [
            c(4 * GB, GB, Some(Limit::Finite(6 * GB)), false),
            c(5 * GB, 4 * GB, Some(Limit::Finite(6 * GB)), false),
            c(3 * GB, 3 * GB, None, false),
        ];
        assert_eq!(cs[0].badness(10 * GB), 1300);
        assert_eq!(cs[1].badness(10 * GB), 1100);
        assert_eq!(cs[2].badness(10 * GB), 300);
        assert_eq!(kills(10 * GB, &cs), [(0, MemKill::Oom)]);
    }

    #[test]
    fn limit_kills_come_before_and_can_spare_the_oom_killer() {
        // B over its limit frees 5 GB: the rest (7 GB) fits in 8 GB.
        let cs = [
            c(4 * GB, GB, Some(Limit::Finite(6 * GB)), false),
            c(5 * GB, 4 * GB, Some(Limit::Finite(4 * GB)), false),
            c(3 * GB, 3 * GB, None, false),
        ];
        assert_eq!(kills(8 * GB, &cs), [(1, MemKill::Limit)]);
    }

    #[test]
    fn several_victims_until_it_fits() {
        let cs = [
            c(3 * GB, 3 * GB, None, false),
            c(3 * GB, 3 * GB, None, false),
            c(3 * GB, 3 * GB, None, false),
        ];
        // Equal badness: lower index first.
        assert_eq!(kills(4 * GB, &cs), [(0, MemKill::Oom), (1, MemKill::Oom)]);
    }
}
