//! Exact nearest-rank percentiles of many integer samples in little memory.
//!
//! A long run measures one wait per task: 25 million `u64`s are 200 MB, twice that
//! while sorting a copy. [`CompactSamples`] keeps the same numbers exactly, but sorted
//! in blocks and delta-encoded as LEB128 varints (a sorted block's gaps are small: 1 to
//! 3 bytes a sample), and answers percentiles by merging the blocks. The answers are
//! those of [`crate::stats::percentile_sorted`] on all the samples sorted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Samples gathered before they are sorted and encoded as one block.
const BLOCK: usize = 1 << 16;

/// A multiset of `u64` samples with exact percentiles; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct CompactSamples {
    /// Samples not encoded yet, in arrival order.
    buffer: Vec<u64>,
    /// Sorted blocks: the first value, then the gaps, as LEB128 varints.
    blocks: Vec<Block>,
    count: u64,
}

#[derive(Debug, Clone)]
struct Block {
    bytes: Vec<u8>,
    len: usize,
}

/// Reads a block's values back in ascending order.
struct BlockIter<'a> {
    bytes: &'a [u8],
    at: usize,
    left: usize,
    last: u64,
}

impl Iterator for BlockIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.left == 0 {
            return None;
        }
        let mut gap = 0u64;
        let mut shift = 0;
        loop {
            let b = self.bytes[self.at];
            self.at += 1;
            gap |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        self.left -= 1;
        self.last += gap;
        Some(self.last)
    }
}

impl Block {
    fn encode(sorted: &[u64]) -> Block {
        let mut bytes = Vec::with_capacity(sorted.len() * 2);
        let mut last = 0u64;
        for &v in sorted {
            let mut gap = v - last;
            last = v;
            loop {
                let low = (gap & 0x7f) as u8;
                gap >>= 7;
                if gap == 0 {
                    bytes.push(low);
                    break;
                }
                bytes.push(low | 0x80);
            }
        }
        bytes.shrink_to_fit();
        Block {
            bytes,
            len: sorted.len(),
        }
    }

    fn iter(&self) -> BlockIter<'_> {
        BlockIter {
            bytes: &self.bytes,
            at: 0,
            left: self.len,
            last: 0,
        }
    }
}

impl CompactSamples {
    /// No samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    pub fn push(&mut self, value: u64) {
        self.buffer.push(value);
        self.count += 1;
        if self.buffer.len() >= BLOCK {
            self.buffer.sort_unstable();
            self.blocks.push(Block::encode(&self.buffer));
            self.buffer.clear();
        }
    }

    /// How many samples there are.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes held (encoded blocks and the buffer's capacity).
    pub fn heap_bytes(&self) -> usize {
        self.buffer.capacity() * 8
            + self
                .blocks
                .iter()
                .map(|b| b.bytes.capacity())
                .sum::<usize>()
    }

    /// Nearest-rank percentiles, one per entry of `ps` (in percent), as
    /// [`crate::stats::percentile_sorted`] gives them on all samples sorted; `None`
    /// when there are no samples.
    pub fn percentiles(&self, ps: &[f64]) -> Option<Vec<u64>> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as usize;
        // The same rank arithmetic as `percentile_sorted`.
        let ranks: Vec<usize> = ps
            .iter()
            .map(|p| {
                let p = p.clamp(0.0, 100.0);
                let rank = ((p / 100.0) * n as f64).ceil() as usize;
                rank.clamp(1, n)
            })
            .collect();
        let mut order: Vec<usize> = (0..ranks.len()).collect();
        order.sort_by_key(|i| ranks[*i]);
        let mut out = vec![0; ranks.len()];
        let mut tail = self.buffer.clone();
        tail.sort_unstable();
        let mut sources: Vec<Box<dyn Iterator<Item = u64> + '_>> = self
            .blocks
            .iter()
            .map(|b| Box::new(b.iter()) as Box<dyn Iterator<Item = u64>>)
            .collect();
        sources.push(Box::new(tail.into_iter()));
        let mut heap = BinaryHeap::new();
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(v) = s.next() {
                heap.push(Reverse((v, i)));
            }
        }
        let mut seen = 0usize;
        let mut next = order.iter().peekable();
        while let Some(Reverse((v, i))) = heap.pop() {
            seen += 1;
            while let Some(&&k) = next.peek() {
                if ranks[k] != seen {
                    break;
                }
                out[k] = v;
                next.next();
            }
            if next.peek().is_none() {
                break;
            }
            if let Some(w) = sources[i].next() {
                heap.push(Reverse((w, i)));
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::percentile_sorted;

    #[test]
    fn percentiles_match_sorting_everything() {
        // A spread of magnitudes, duplicates and an unsorted arrival order, over
        // several blocks and a partial buffer.
        let mut x: u64 = 12345;
        let mut all = Vec::new();
        let mut s = CompactSamples::new();
        for i in 0..(3 * BLOCK + 777) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = match i % 4 {
                0 => 3_000_000,
                1 => x >> 40,
                2 => x >> 20,
                _ => x,
            };
            all.push(v);
            s.push(v);
        }
        all.sort_unstable();
        let ps = [0.0, 0.001, 1.0, 50.0, 95.0, 99.0, 99.999, 100.0];
        let got = s.percentiles(&ps).unwrap();
        for (p, g) in ps.iter().zip(&got) {
            assert_eq!(Some(*g), percentile_sorted(&all, *p), "p{p}");
        }
        assert_eq!(s.len(), all.len() as u64);
        assert_eq!(s.percentiles(&[100.0]), all.last().map(|m| vec![*m]));
        let small = CompactSamples::new();
        assert_eq!(small.percentiles(&[50.0]), None);
    }

    #[test]
    fn sorted_gaps_take_a_byte_or_two() {
        let mut s = CompactSamples::new();
        for i in 0..(4 * BLOCK as u64) {
            // Waits of a few milliseconds, in nanoseconds, spread over 0..65 ms.
            s.push(3_000_000 + (i * 7919) % 65_536_000);
        }
        // Gaps of about 250 ns: two bytes a sample (plus the reusable buffer), not 8.
        let bound = 4 * BLOCK * 2 + BLOCK * 8 + 4 * 8; // each block starts with a full value
        assert!(s.heap_bytes() <= bound, "{} bytes", s.heap_bytes());
        assert_eq!(s.percentiles(&[50.0, 100.0]).unwrap().len(), 2);
    }
}
