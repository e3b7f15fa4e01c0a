//! The clock the suite's same-run ratios are measured with: CPU time of the calling
//! thread where Linux reports it, wall time elsewhere.
//!
//! On a busy 2-core machine (CI, or a developer building beside the benchmark) a
//! wall-clock measurement also counts the time the thread spent preempted, which
//! moved the quick suite's ratios by up to half between back-to-back runs; the
//! thread's own CPU time does not count it. Every figure the suite measures runs on
//! the calling thread.

use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

/// CPU time of the calling thread in ns (`CLOCK_THREAD_CPUTIME_ID`, which, unlike
/// `/proc/thread-self/schedstat`, includes the running slice: schedstat only moves at
/// scheduler ticks, 4 ms apart, as coarse as the quick suite's shortest figure).
fn thread_cpu_ns() -> Option<u64> {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    u64::try_from(t.tv_sec())
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(t.tv_nsec()).ok()?)
}

/// Started before the measured work; [`Stopwatch::elapsed`] after it.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    cpu_ns: Option<u64>,
    wall: Instant,
}

impl Stopwatch {
    /// Starts measuring.
    pub fn start() -> Stopwatch {
        Stopwatch {
            cpu_ns: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }

    /// The thread's CPU time since [`Stopwatch::start`], or the wall time where the
    /// CPU time is unavailable (or did not advance: too coarse for the work).
    pub fn elapsed(&self) -> Duration {
        match (self.cpu_ns, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => Duration::from_nanos(b - a),
            _ => self.wall.elapsed(),
        }
    }

    /// Wall time since [`Stopwatch::start`], for budgets ("stop after 0.3 s").
    pub fn wall_elapsed(&self) -> Duration {
        self.wall.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_takes_cpu_time_and_sleeping_does_not() {
        let watch = Stopwatch::start();
        let mut x = 0u64;
        let give_up = Instant::now();
        while watch.elapsed() < Duration::from_millis(20) {
            assert!(
                give_up.elapsed() < Duration::from_secs(20),
                "CPU time stopped advancing"
            );
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let before_sleep = watch.elapsed();
        std::thread::sleep(Duration::from_millis(200));
        let slept = watch.elapsed() - before_sleep;
        if thread_cpu_ns().is_some() {
            assert!(
                slept < Duration::from_millis(100),
                "a 200 ms sleep counted {slept:?} of CPU time"
            );
        }
        assert!(watch.wall_elapsed() >= Duration::from_millis(220));
    }
}
