//! Reading a trace on a thread of its own, ahead of the replay that consumes it.
//!
//! Parsing (or generating) records and simulating them only meet where a record is
//! handed over, so a second core can do the first while the simulator does the
//! second. Records cross in batches over a bounded channel: their order is kept
//! exactly (a replay's outputs are the same bytes as when reading inline), memory
//! stays bounded (at most [`DEPTH`] batches of [`BATCH`] records ahead), and
//! dropping the consumer stops the producer at its next hand-over. A panic on the
//! producer's thread is raised again in the consumer instead of looking like the
//! end of the trace.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

/// Records per hand-over: large enough that the channel's cost per record is noise.
pub const BATCH: usize = 1024;

/// Batches the producer may run ahead of the consumer.
pub const DEPTH: usize = 8;

/// The items of an iterator produced on another thread; see [`ahead`].
pub struct Prefetched<T> {
    batches: Option<Receiver<Vec<T>>>,
    current: std::vec::IntoIter<T>,
    producer: Option<JoinHandle<()>>,
}

/// Runs `source` on a new thread and yields its items, in order, here.
pub fn ahead<I>(source: I) -> Prefetched<I::Item>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    let (sender, batches) = sync_channel(DEPTH);
    let producer = std::thread::Builder::new()
        .name("trace-reader".to_string())
        .spawn(move || {
            let mut source = source;
            loop {
                let batch: Vec<I::Item> = source.by_ref().take(BATCH).collect();
                let last = batch.len() < BATCH;
                // A send fails only when the consumer is gone: nobody wants the rest.
                if sender.send(batch).is_err() || last {
                    return;
                }
            }
        })
        .expect("the OS refused a thread for the trace reader");
    Prefetched {
        batches: Some(batches),
        current: Vec::new().into_iter(),
        producer: Some(producer),
    }
}

impl<T> Iterator for Prefetched<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            match self.batches.as_ref()?.recv() {
                Ok(batch) => self.current = batch.into_iter(),
                Err(_) => {
                    // The producer hung up: finished, or panicked mid-trace.
                    self.batches = None;
                    if let Some(Err(panic)) = self.producer.take().map(JoinHandle::join) {
                        std::panic::resume_unwind(panic);
                    }
                    return None;
                }
            }
        }
    }
}

impl<T> Drop for Prefetched<T> {
    fn drop(&mut self) {
        // Hang up first so a producer blocked on a full channel wakes and stops.
        self.batches = None;
        if let Some(producer) = self.producer.take() {
            // Its panic, if any, is of no interest once nobody reads the trace.
            let _ = producer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_every_item_in_order_across_batch_boundaries() {
        for n in [0, 1, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH * DEPTH + 7] {
            let got: Vec<usize> = ahead(0..n).collect();
            assert_eq!(got, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn a_dropped_consumer_stops_an_endless_producer() {
        let mut items = ahead(0u64..);
        assert_eq!(items.next(), Some(0));
        assert_eq!(items.nth(5 * BATCH), Some(5 * BATCH as u64 + 1));
        drop(items); // would hang here if the producer kept running
    }

    #[test]
    fn a_producer_panic_reaches_the_consumer() {
        let source = (0..BATCH * 2).inspect(|&i| assert!(i != BATCH + 3, "bad record {i}"));
        let mut items = ahead(source);
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| items.by_ref().count()));
        let panic = read.expect_err("the panic must not look like the trace's end");
        let message = panic.downcast_ref::<String>().expect("formatted message");
        assert!(message.contains("bad record"), "{message}");
    }
}
