//! SIGINT and SIGTERM during a live run: turned into a flag the master polls, so an interrupted run still kills its tasks and removes its cgroups and namespaces.
//!
//! Without this, Ctrl-C would end mesosim at once (no destructors run) while the tasks,
//! each in a process group of its own, kept running in cgroups nobody removes. The
//! signals are blocked on the calling thread and received by a waiter thread with
//! `sigwait` (no `unsafe` signal handler). Children do not inherit the blocked mask:
//! the standard library resets it in every process it spawns.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sys::pthread::{pthread_kill, pthread_self, Pthread};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

/// The signal that wakes the waiter when the run ends (blocked only during a run).
const WAKE: Signal = Signal::SIGUSR1;

/// Receives SIGINT and SIGTERM while it lives; restores the signal mask on drop.
pub struct Interrupts {
    received: Arc<AtomicI32>,
    /// Set just before the wake-up signal is sent: a SIGUSR1 from anyone else (while
    /// this is false) is ignored, so it cannot end the waiter and leave SIGINT and
    /// SIGTERM blocked with nobody receiving them.
    stopping: Arc<AtomicBool>,
    waiter: Option<(Pthread, JoinHandle<()>)>,
    old_mask: SigSet,
}

impl Interrupts {
    /// Blocks SIGINT, SIGTERM (and the internal wake-up signal) on this thread and
    /// starts the waiter.
    pub fn install() -> std::io::Result<Interrupts> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.add(WAKE);
        let old_mask = set
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(std::io::Error::from)?;
        // From here on an early return drops `interrupts`, which restores the mask: a
        // failed start must not leave SIGINT and SIGTERM blocked with nobody waiting.
        let mut interrupts = Interrupts {
            received: Arc::new(AtomicI32::new(0)),
            stopping: Arc::new(AtomicBool::new(false)),
            waiter: None,
            old_mask,
        };
        let flag = interrupts.received.clone();
        let stop = interrupts.stopping.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("mesosim-signals".into())
            .spawn(move || {
                let _ = tx.send(pthread_self());
                loop {
                    match set.wait() {
                        Ok(WAKE) if stop.load(Ordering::SeqCst) => return,
                        Ok(WAKE) => {}
                        Ok(sig) => flag.store(sig as i32, Ordering::SeqCst),
                        Err(_) => return,
                    }
                }
            })?;
        let thread = rx
            .recv()
            .map_err(|_| std::io::Error::other("signal waiter did not start"))?;
        interrupts.waiter = Some((thread, handle));
        Ok(interrupts)
    }

    /// The latest SIGINT or SIGTERM received, if any.
    pub fn received(&self) -> Option<Signal> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            n => Signal::try_from(n).ok(),
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        if let Some((thread, handle)) = self.waiter.take() {
            self.stopping.store(true, Ordering::SeqCst);
            if pthread_kill(thread, WAKE).is_ok() {
                let _ = handle.join();
            }
        }
        let _ = self.old_mask.thread_set_mask();
    }
}
