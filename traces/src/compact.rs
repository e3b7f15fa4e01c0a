//! mesosim's compact binary workload format: a writer and a streaming reader.
//!
//! The byte layout is specified in `traces/FORMAT.md`. In short: an 8-byte magic
//! (`\x89MSWL\r\n\x1a`), a version byte, a length-prefixed JSON metadata block,
//! then one record after another (a tag byte, the time as a zigzag varint delta from
//! the previous record, a varint bit set of the optional fields present, the fields
//! as varints), and an end marker with the record count, so truncation is detected.
//! Hashed names go through a 4096-entry direct-mapped cache shared by writer and
//! reader, so a repeated user costs two bytes instead of eight.
//!
//! ```
//! use traces::compact::{CompactReader, CompactWriter, CompactMetadata};
//! use traces::{JobEvent, JobId, LifecycleEvent, Nanos, WorkloadRecord};
//!
//! let rec = WorkloadRecord::Job(JobEvent::new(Nanos(5), JobId(7), LifecycleEvent::Submit));
//! let mut w = CompactWriter::new(Vec::new(), &CompactMetadata::default()).unwrap();
//! w.write(&rec).unwrap();
//! let bytes = w.finish().unwrap();
//! let back: Vec<_> = CompactReader::new(&bytes[..]).unwrap().map(Result::unwrap).collect();
//! assert_eq!(back, vec![rec]);
//! ```

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::TraceError;
use crate::reader::TraceReader;
use crate::record::*;
use crate::swf::SwfHeader;
use crate::table::{Ordering, TraceFormat};

/// The magic bytes that start a compact file.
pub const MAGIC: [u8; 8] = *b"\x89MSWL\r\n\x1a";
/// The format version this module writes and reads.
pub const VERSION: u8 = 1;

const SYMBOL_CACHE: usize = 4096;
/// The largest metadata block or list accepted when reading.
const MAX_META: u64 = 16 << 20;
const MAX_LIST: u64 = 1 << 20;

const TAG_END: u8 = 0;
const TAG_MACHINE: u8 = 1;
const TAG_ATTRIBUTE: u8 = 2;
const TAG_JOB: u8 = 3;
const TAG_TASK: u8 = 4;
const TAG_USAGE: u8 = 5;
const TAG_CONSTRAINT: u8 = 6;

/// What a compact file says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactMetadata {
    /// The format the records were converted from.
    pub format: Option<TraceFormat>,
    /// The order the records are in.
    pub ordering: Ordering,
    /// The SWF header, if converted from an SWF log.
    pub swf: Option<SwfHeader>,
}

impl Default for CompactMetadata {
    fn default() -> Self {
        CompactMetadata {
            format: None,
            ordering: Ordering::File,
            swf: None,
        }
    }
}

fn symbol_slot(s: Symbol) -> usize {
    ((s.0 ^ (s.0 >> 29) ^ (s.0 >> 47)) as usize) & (SYMBOL_CACHE - 1)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Writes records in the compact format.
pub struct CompactWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    prev_time: u64,
    symbols: Vec<Symbol>,
    count: u64,
}

impl<W: Write> CompactWriter<W> {
    /// Starts a file: writes the magic, version and metadata.
    pub fn new(mut out: W, metadata: &CompactMetadata) -> io::Result<Self> {
        let meta = serde_json::to_vec(metadata).map_err(io::Error::other)?;
        let mut head = Vec::with_capacity(meta.len() + 16);
        head.extend_from_slice(&MAGIC);
        head.push(VERSION);
        put_varint(&mut head, meta.len() as u64);
        head.extend_from_slice(&meta);
        out.write_all(&head)?;
        Ok(CompactWriter {
            out,
            buf: Vec::with_capacity(64 << 10),
            prev_time: 0,
            symbols: vec![Symbol(0); SYMBOL_CACHE],
            count: 0,
        })
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends one record.
    pub fn write(&mut self, rec: &WorkloadRecord) -> io::Result<()> {
        let mut e = Enc {
            buf: &mut self.buf,
            symbols: &mut self.symbols,
        };
        let time = rec.time().0;
        let delta = zigzag(time.wrapping_sub(self.prev_time) as i64);
        self.prev_time = time;
        match rec {
            WorkloadRecord::Machine(m) => {
                e.byte(TAG_MACHINE);
                e.varint(delta);
                let flags = bits(&[
                    m.snapshot,
                    m.platform.is_some(),
                    m.failure_domains[0].is_some(),
                    m.failure_domains[1].is_some(),
                    m.missing.is_some(),
                ]);
                e.varint(flags);
                e.varint(m.machine.0);
                e.byte(m.kind as u8);
                e.resources(&m.capacity);
                e.opt_symbol(m.platform);
                e.opt_symbol(m.failure_domains[0]);
                e.opt_symbol(m.failure_domains[1]);
                if let Some(x) = m.missing {
                    e.byte(x as u8);
                }
            }
            WorkloadRecord::MachineAttribute(a) => {
                e.byte(TAG_ATTRIBUTE);
                e.varint(delta);
                e.varint(bits(&[a.snapshot, a.deleted, a.value.is_some()]));
                e.varint(a.machine.0);
                e.symbol(a.name);
                if let Some(v) = a.value {
                    e.attr(v);
                }
            }
            WorkloadRecord::Job(j) => {
                e.byte(TAG_JOB);
                e.varint(delta);
                let flags = bits(&[
                    j.snapshot,
                    j.user.is_some(),
                    j.group.is_some(),
                    j.scheduling_class.is_some(),
                    j.priority.is_some(),
                    j.name.is_some(),
                    j.logical_name.is_some(),
                    j.collection_type.is_some(),
                    j.parent.is_some(),
                    j.alloc.is_some(),
                    !j.depends_on.is_empty(),
                    j.queue.is_some(),
                    j.missing.is_some(),
                ]);
                e.varint(flags);
                e.varint(j.job.0);
                e.byte(j.kind as u8);
                e.opt_symbol(j.user);
                e.opt_symbol(j.group);
                if let Some(c) = j.scheduling_class {
                    e.byte(c);
                }
                if let Some(p) = j.priority {
                    e.priority(p);
                }
                e.opt_symbol(j.name);
                e.opt_symbol(j.logical_name);
                if let Some(c) = j.collection_type {
                    e.byte(c as u8);
                }
                if let Some(p) = j.parent {
                    e.varint(p.0);
                }
                if let Some(a) = j.alloc {
                    e.varint(a.0);
                }
                if !j.depends_on.is_empty() {
                    e.varint(j.depends_on.len() as u64);
                    for d in &j.depends_on {
                        e.varint(d.0);
                    }
                }
                if let Some(q) = j.queue {
                    e.varint(u64::from(q));
                }
                if let Some(m) = j.missing {
                    e.byte(m as u8);
                }
            }
            WorkloadRecord::Task(t) => {
                e.byte(TAG_TASK);
                e.varint(delta);
                let flags = bits(&[
                    t.snapshot,
                    t.instance.is_some(),
                    t.replicas != 1,
                    t.machine.is_some(),
                    t.user.is_some(),
                    t.scheduling_class.is_some(),
                    t.priority.is_some(),
                    !t.limit.is_empty(),
                    t.different_machines.is_some(),
                    t.different_machines == Some(true),
                    t.alloc.is_some(),
                    t.task_type.is_some(),
                    !t.depends_on.is_empty(),
                    t.runtime_limit.is_some(),
                    t.missing.is_some(),
                ]);
                e.varint(flags);
                e.varint(t.task.job.0);
                e.varint(t.task.index);
                e.byte(t.kind as u8);
                e.resources(&t.request);
                if let Some(i) = t.instance {
                    e.varint(i);
                }
                if t.replicas != 1 {
                    e.varint(u64::from(t.replicas));
                }
                if let Some(m) = t.machine {
                    e.varint(m.0);
                }
                e.opt_symbol(t.user);
                if let Some(c) = t.scheduling_class {
                    e.byte(c);
                }
                if let Some(p) = t.priority {
                    e.priority(p);
                }
                if !t.limit.is_empty() {
                    e.resources(&t.limit);
                }
                if let Some(a) = t.alloc {
                    e.varint(a.job.0);
                    e.varint(a.index);
                }
                if let Some(x) = t.task_type {
                    e.varint(u64::from(x));
                }
                if !t.depends_on.is_empty() {
                    e.varint(t.depends_on.len() as u64);
                    for d in &t.depends_on {
                        e.varint(*d);
                    }
                }
                if let Some(l) = t.runtime_limit {
                    e.varint(l.0);
                }
                if let Some(m) = t.missing {
                    e.byte(m as u8);
                }
            }
            WorkloadRecord::Usage(u) => {
                e.byte(TAG_USAGE);
                e.varint(delta);
                let amounts = usage_amounts(u);
                let micros = [u.cpi, u.mai, u.mpki, u.sample_portion];
                let mut present: Vec<bool> = vec![
                    u.machine.is_some(),
                    u.aggregated.is_some(),
                    u.aggregated == Some(true),
                ];
                present.extend(amounts.iter().map(Option::is_some));
                present.extend(micros.iter().map(Option::is_some));
                e.varint(bits(&present));
                e.varint(zigzag(u.end.0.wrapping_sub(u.start.0) as i64));
                match u.subject {
                    UsageSubject::Task { task, instance } => {
                        e.byte(if instance.is_some() { 1 } else { 0 });
                        e.varint(task.job.0);
                        e.varint(task.index);
                        if let Some(i) = instance {
                            e.varint(i);
                        }
                    }
                    UsageSubject::Container(c) => {
                        e.byte(2);
                        e.varint(c);
                    }
                    UsageSubject::Machine(m) => {
                        e.byte(3);
                        e.varint(m.0);
                    }
                }
                if let Some(m) = u.machine {
                    e.varint(m.0);
                }
                for a in amounts.into_iter().flatten() {
                    e.amount(a);
                }
                for m in micros.into_iter().flatten() {
                    e.varint(m.0);
                }
            }
            WorkloadRecord::Constraint(c) => {
                e.byte(TAG_CONSTRAINT);
                e.varint(delta);
                e.varint(bits(&[c.snapshot, c.value.is_some()]));
                e.varint(c.task.job.0);
                e.varint(c.task.index);
                e.byte(c.op as u8);
                e.symbol(c.attribute);
                if let Some(v) = c.value {
                    e.attr(v);
                }
            }
        }
        self.count += 1;
        if self.buf.len() >= 60 << 10 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes the end marker and record count, flushes, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(TAG_END);
        put_varint(&mut self.buf, self.count);
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn usage_amounts(u: &UsageSample) -> [Option<Amount>; 14] {
    [
        u.cpu,
        u.cpu_max,
        u.cpu_sample,
        u.mem,
        u.mem_max,
        u.mem_assigned,
        u.page_cache,
        u.page_cache_unmapped,
        u.disk_io,
        u.disk_io_max,
        u.disk_space,
        u.mem_bandwidth,
        u.net_in,
        u.net_out,
    ]
}

fn bits(flags: &[bool]) -> u64 {
    flags
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &b)| acc | (u64::from(b) << i))
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

struct Enc<'a> {
    buf: &'a mut Vec<u8>,
    symbols: &'a mut [Symbol],
}

impl Enc<'_> {
    fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    fn varint(&mut self, v: u64) {
        put_varint(self.buf, v);
    }

    fn symbol(&mut self, s: Symbol) {
        let slot = symbol_slot(s);
        if self.symbols[slot] == s {
            self.varint(((slot as u64) << 1) | 1);
        } else {
            self.symbols[slot] = s;
            self.byte(0);
            self.buf.extend_from_slice(&s.0.to_le_bytes());
        }
    }

    fn opt_symbol(&mut self, s: Option<Symbol>) {
        if let Some(s) = s {
            self.symbol(s);
        }
    }

    fn amount(&mut self, a: Amount) {
        let (tag, v) = match a {
            Amount::Normalized(f) => (0, f.0),
            Amount::OfCapacity(f) => (1, f.0),
            Amount::MilliCpus(v) => (2, v),
            Amount::Kib(v) => (3, v),
        };
        self.byte(tag);
        self.varint(v);
    }

    /// A presence byte (bits: cpus, mem, disk) and the present amounts.
    fn resources(&mut self, r: &Resources) {
        self.byte(bits(&[r.cpus.is_some(), r.mem.is_some(), r.disk.is_some()]) as u8);
        for a in [r.cpus, r.mem, r.disk].into_iter().flatten() {
            self.amount(a);
        }
    }

    fn priority(&mut self, p: Priority) {
        self.varint(u64::from(p.value));
        self.byte(p.band as u8);
    }

    fn attr(&mut self, v: AttrValue) {
        match v {
            AttrValue::Int(i) => {
                self.byte(0);
                self.varint(zigzag(i));
            }
            AttrValue::Symbol(s) => {
                self.byte(1);
                self.symbol(s);
            }
        }
    }
}

/// Reads records from a compact file, in constant memory.
pub struct CompactReader<R: Read> {
    src: R,
    name: String,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    consumed: u64,
    prev_time: u64,
    symbols: Vec<Symbol>,
    metadata: CompactMetadata,
    count: u64,
    done: bool,
}

/// A decoding failure before the record number is attached.
enum DecodeError {
    Truncated,
    Io(io::Error),
    Bad(String),
}

type Dec<T> = Result<T, DecodeError>;

impl<R: Read> CompactReader<R> {
    /// Reads the header (magic, version, metadata) of a compact stream.
    pub fn new(src: R) -> Result<Self, TraceError> {
        CompactReader::named(src, "compact input")
    }

    /// Like [`CompactReader::new`], naming the input in messages.
    pub fn named(src: R, name: &str) -> Result<Self, TraceError> {
        let mut r = CompactReader {
            src,
            name: name.to_string(),
            buf: vec![0; 64 << 10],
            pos: 0,
            len: 0,
            consumed: 0,
            prev_time: 0,
            symbols: vec![Symbol(0); SYMBOL_CACHE],
            metadata: CompactMetadata::default(),
            count: 0,
            done: false,
        };
        let head = (|| -> Dec<CompactMetadata> {
            let mut magic = [0u8; 8];
            for m in &mut magic {
                *m = r.byte()?;
            }
            if magic != MAGIC {
                return Err(DecodeError::Bad(
                    "not a mesosim compact workload file (bad magic bytes)".to_string(),
                ));
            }
            let version = r.byte()?;
            if version != VERSION {
                return Err(DecodeError::Bad(format!(
                    "compact format version {version} is not supported (this reader knows version {VERSION})"
                )));
            }
            let n = r.varint()?;
            if n > MAX_META {
                return Err(DecodeError::Bad("metadata block too large".to_string()));
            }
            let mut meta = Vec::new();
            for _ in 0..n {
                meta.push(r.byte()?);
            }
            serde_json::from_slice(&meta)
                .map_err(|e| DecodeError::Bad(format!("bad metadata block: {e}")))
        })();
        match head {
            Ok(m) => {
                r.metadata = m;
                Ok(r)
            }
            Err(e) => Err(r.error(e, "header")),
        }
    }

    /// The metadata stored in the file.
    pub fn metadata(&self) -> &CompactMetadata {
        &self.metadata
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.consumed + self.pos as u64
    }

    fn error(&self, e: DecodeError, at: &str) -> TraceError {
        let message = match e {
            DecodeError::Truncated => format!("{at}: compact stream is truncated"),
            DecodeError::Io(e) => format!("{at}: read error: {e}"),
            DecodeError::Bad(m) => format!("{at}: {m}"),
        };
        TraceError::BadFile {
            path: PathBuf::from(&self.name),
            message,
        }
    }

    #[inline(always)]
    fn byte(&mut self) -> Dec<u8> {
        if let Some(&b) = self.buf.get(self.pos) {
            if self.pos < self.len {
                self.pos += 1;
                return Ok(b);
            }
        }
        self.refill()?;
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn refill(&mut self) -> Dec<()> {
        loop {
            match self.src.read(&mut self.buf) {
                Ok(0) => return Err(DecodeError::Truncated),
                Ok(n) => {
                    self.consumed += self.len as u64;
                    self.pos = 0;
                    self.len = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(DecodeError::Truncated)
                }
                Err(e) => return Err(DecodeError::Io(e)),
            }
        }
    }

    #[inline(always)]
    fn varint(&mut self) -> Dec<u64> {
        // Fast path: ten bytes (the longest varint) are buffered.
        if self.pos + 10 <= self.len {
            let mut v: u64 = 0;
            for i in 0..10 {
                let b = self.buf[self.pos + i];
                v |= u64::from(b & 0x7f) << (7 * i);
                if b < 0x80 {
                    if i == 9 && b > 1 {
                        break;
                    }
                    self.pos += i + 1;
                    return Ok(v);
                }
            }
            return Err(DecodeError::Bad("varint overflows 64 bits".to_string()));
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Dec<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::Bad("varint overflows 64 bits".to_string()));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::Bad("varint overflows 64 bits".to_string()));
            }
        }
    }

    fn u32(&mut self) -> Dec<u32> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| DecodeError::Bad(format!("{v} does not fit 32 bits")))
    }

    fn symbol(&mut self) -> Dec<Symbol> {
        let v = self.varint()?;
        if v == 0 {
            let mut b = [0u8; 8];
            for x in &mut b {
                *x = self.byte()?;
            }
            let s = Symbol(u64::from_le_bytes(b));
            self.symbols[symbol_slot(s)] = s;
            Ok(s)
        } else if v & 1 == 1 && (v >> 1) < SYMBOL_CACHE as u64 {
            Ok(self.symbols[(v >> 1) as usize])
        } else {
            Err(DecodeError::Bad(format!("bad symbol reference {v}")))
        }
    }

    fn opt_symbol(&mut self, present: bool) -> Dec<Option<Symbol>> {
        if present {
            self.symbol().map(Some)
        } else {
            Ok(None)
        }
    }

    fn amount(&mut self) -> Dec<Amount> {
        let tag = self.byte()?;
        let v = self.varint()?;
        Ok(match tag {
            0 => Amount::Normalized(NormalizedFraction(v)),
            1 => Amount::OfCapacity(NormalizedFraction(v)),
            2 => Amount::MilliCpus(v),
            3 => Amount::Kib(v),
            t => return Err(DecodeError::Bad(format!("unknown amount unit {t}"))),
        })
    }

    fn resources(&mut self) -> Dec<Resources> {
        let b = self.byte()?;
        if b > 7 {
            return Err(DecodeError::Bad(format!("bad resource flags {b}")));
        }
        let mut r = Resources::default();
        if b & 1 != 0 {
            r.cpus = Some(self.amount()?);
        }
        if b & 2 != 0 {
            r.mem = Some(self.amount()?);
        }
        if b & 4 != 0 {
            r.disk = Some(self.amount()?);
        }
        Ok(r)
    }

    fn priority(&mut self) -> Dec<Priority> {
        let value = self.u32()?;
        let band = match self.byte()? {
            0 => PriorityBand::Free,
            1 => PriorityBand::BestEffort,
            2 => PriorityBand::Mid,
            3 => PriorityBand::Production,
            4 => PriorityBand::Monitoring,
            b => return Err(DecodeError::Bad(format!("unknown priority band {b}"))),
        };
        Ok(Priority { value, band })
    }

    fn attr(&mut self) -> Dec<AttrValue> {
        match self.byte()? {
            0 => Ok(AttrValue::Int(unzigzag(self.varint()?))),
            1 => Ok(AttrValue::Symbol(self.symbol()?)),
            b => Err(DecodeError::Bad(format!("unknown attribute value tag {b}"))),
        }
    }

    fn missing(&mut self) -> Dec<MissingInfo> {
        Ok(match self.byte()? {
            0 => MissingInfo::SnapshotButNoTransition,
            1 => MissingInfo::NoSnapshotOrTransition,
            2 => MissingInfo::ExistsButNoCreation,
            3 => MissingInfo::TransitionMissingStep,
            4 => MissingInfo::TooManyEvents,
            b => return Err(DecodeError::Bad(format!("unknown missing-info code {b}"))),
        })
    }

    fn lifecycle(&mut self) -> Dec<LifecycleEvent> {
        let b = self.byte()?;
        LifecycleEvent::ALL
            .get(usize::from(b))
            .copied()
            .ok_or_else(|| DecodeError::Bad(format!("unknown lifecycle event {b}")))
    }

    fn list_len(&mut self) -> Dec<u64> {
        let n = self.varint()?;
        if n > MAX_LIST {
            return Err(DecodeError::Bad(format!("list of {n} items is too long")));
        }
        Ok(n)
    }

    fn record(&mut self, tag: u8) -> Dec<WorkloadRecord> {
        let delta = unzigzag(self.varint()?);
        let time = Nanos(self.prev_time.wrapping_add(delta as u64));
        self.prev_time = time.0;
        let flags = self.varint()?;
        let has = |i: u32| flags & (1 << i) != 0;
        Ok(match tag {
            TAG_MACHINE => {
                let machine = MachineId(self.varint()?);
                let kind = match self.byte()? {
                    0 => MachineEventKind::Add,
                    1 => MachineEventKind::Remove,
                    2 => MachineEventKind::Update,
                    b => return Err(DecodeError::Bad(format!("unknown machine event {b}"))),
                };
                let mut m = MachineEvent::new(time, machine, kind);
                m.snapshot = has(0);
                m.capacity = self.resources()?;
                m.platform = self.opt_symbol(has(1))?;
                m.failure_domains[0] = self.opt_symbol(has(2))?;
                m.failure_domains[1] = self.opt_symbol(has(3))?;
                if has(4) {
                    m.missing = Some(self.missing()?);
                }
                WorkloadRecord::Machine(m)
            }
            TAG_ATTRIBUTE => {
                let machine = MachineId(self.varint()?);
                let name = self.symbol()?;
                let value = if has(2) { Some(self.attr()?) } else { None };
                WorkloadRecord::MachineAttribute(MachineAttribute {
                    time,
                    machine,
                    name,
                    value,
                    deleted: has(1),
                    snapshot: has(0),
                })
            }
            TAG_JOB => {
                let job = JobId(self.varint()?);
                let kind = self.lifecycle()?;
                let mut j = JobEvent::new(time, job, kind);
                j.snapshot = has(0);
                j.user = self.opt_symbol(has(1))?;
                j.group = self.opt_symbol(has(2))?;
                if has(3) {
                    j.scheduling_class = Some(self.byte()?);
                }
                if has(4) {
                    j.priority = Some(self.priority()?);
                }
                j.name = self.opt_symbol(has(5))?;
                j.logical_name = self.opt_symbol(has(6))?;
                if has(7) {
                    j.collection_type = Some(match self.byte()? {
                        0 => CollectionType::Job,
                        1 => CollectionType::AllocSet,
                        b => return Err(DecodeError::Bad(format!("unknown collection type {b}"))),
                    });
                }
                if has(8) {
                    j.parent = Some(JobId(self.varint()?));
                }
                if has(9) {
                    j.alloc = Some(JobId(self.varint()?));
                }
                if has(10) {
                    for _ in 0..self.list_len()? {
                        j.depends_on.push(JobId(self.varint()?));
                    }
                }
                if has(11) {
                    j.queue = Some(self.u32()?);
                }
                if has(12) {
                    j.missing = Some(self.missing()?);
                }
                WorkloadRecord::Job(j)
            }
            TAG_TASK => {
                let job = JobId(self.varint()?);
                let index = self.varint()?;
                let kind = self.lifecycle()?;
                let mut t = TaskEvent::new(time, TaskId { job, index }, kind);
                t.snapshot = has(0);
                t.request = self.resources()?;
                if has(1) {
                    t.instance = Some(self.varint()?);
                }
                if has(2) {
                    t.replicas = self.u32()?;
                }
                if has(3) {
                    t.machine = Some(MachineId(self.varint()?));
                }
                t.user = self.opt_symbol(has(4))?;
                if has(5) {
                    t.scheduling_class = Some(self.byte()?);
                }
                if has(6) {
                    t.priority = Some(self.priority()?);
                }
                if has(7) {
                    t.limit = self.resources()?;
                }
                if has(8) {
                    t.different_machines = Some(has(9));
                }
                if has(10) {
                    let job = JobId(self.varint()?);
                    let index = self.varint()?;
                    t.alloc = Some(TaskId { job, index });
                }
                if has(11) {
                    t.task_type = Some(self.u32()?);
                }
                if has(12) {
                    for _ in 0..self.list_len()? {
                        t.depends_on.push(self.varint()?);
                    }
                }
                if has(13) {
                    t.runtime_limit = Some(Nanos(self.varint()?));
                }
                if has(14) {
                    t.missing = Some(self.missing()?);
                }
                WorkloadRecord::Task(t)
            }
            TAG_USAGE => {
                let len = unzigzag(self.varint()?);
                let end = Nanos(time.0.wrapping_add(len as u64));
                let subject = match self.byte()? {
                    b @ (0 | 1) => {
                        let job = JobId(self.varint()?);
                        let index = self.varint()?;
                        let instance = if b == 1 { Some(self.varint()?) } else { None };
                        UsageSubject::Task {
                            task: TaskId { job, index },
                            instance,
                        }
                    }
                    2 => UsageSubject::Container(self.varint()?),
                    3 => UsageSubject::Machine(MachineId(self.varint()?)),
                    b => return Err(DecodeError::Bad(format!("unknown usage subject {b}"))),
                };
                let mut u = UsageSample::new(time, end, subject);
                if has(0) {
                    u.machine = Some(MachineId(self.varint()?));
                }
                if has(1) {
                    u.aggregated = Some(has(2));
                }
                let mut a = [None; 14];
                for (i, slot) in a.iter_mut().enumerate() {
                    if has(3 + i as u32) {
                        *slot = Some(self.amount()?);
                    }
                }
                [
                    u.cpu,
                    u.cpu_max,
                    u.cpu_sample,
                    u.mem,
                    u.mem_max,
                    u.mem_assigned,
                    u.page_cache,
                    u.page_cache_unmapped,
                    u.disk_io,
                    u.disk_io_max,
                    u.disk_space,
                    u.mem_bandwidth,
                    u.net_in,
                    u.net_out,
                ] = a;
                let mut m = [None; 4];
                for (i, slot) in m.iter_mut().enumerate() {
                    if has(17 + i as u32) {
                        *slot = Some(Micro(self.varint()?));
                    }
                }
                [u.cpi, u.mai, u.mpki, u.sample_portion] = m;
                WorkloadRecord::Usage(u)
            }
            TAG_CONSTRAINT => {
                let job = JobId(self.varint()?);
                let index = self.varint()?;
                let op = match self.byte()? {
                    b @ 0..=7 => crate::google2011::constraint_op(b),
                    b => return Err(DecodeError::Bad(format!("unknown constraint operator {b}"))),
                };
                let attribute = self.symbol()?;
                let value = if has(1) { Some(self.attr()?) } else { None };
                WorkloadRecord::Constraint(TaskConstraint {
                    time,
                    task: TaskId { job, index },
                    op,
                    attribute,
                    value,
                    snapshot: has(0),
                })
            }
            t => return Err(DecodeError::Bad(format!("unknown record tag {t}"))),
        })
    }
}

impl<R: Read> Iterator for CompactReader<R> {
    type Item = Result<WorkloadRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let n = self.count + 1;
        let result = self.byte().and_then(|tag| {
            if tag == TAG_END {
                let count = self.varint()?;
                if count != self.count {
                    return Err(DecodeError::Bad(format!(
                        "end marker counts {count} records but {} were read",
                        self.count
                    )));
                }
                Ok(None)
            } else {
                self.record(tag).map(Some)
            }
        });
        match result {
            Ok(Some(rec)) => {
                self.count += 1;
                Some(Ok(rec))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.error(e, &format!("record {n}"))))
            }
        }
    }
}

/// What [`convert`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConvertSummary {
    /// Records written.
    pub records: u64,
}

/// Streams a whole trace into a compact file, in time order: a trace whose files are
/// not in time order is sorted on the way (see [`crate::sort`]), so the compact file
/// replays without sorting again. Stops at the reader's first error.
pub fn convert<W: Write>(reader: TraceReader, out: W) -> Result<(W, ConvertSummary), TraceError> {
    let md = reader.metadata();
    let meta = CompactMetadata {
        format: md.format,
        ordering: match md.ordering {
            Ordering::File => Ordering::Time,
            kept => kept,
        },
        swf: md.swf.clone(),
    };
    let io_err = |e: io::Error| TraceError::BadFile {
        path: PathBuf::from("compact output"),
        message: format!("write error: {e}"),
    };
    let mut w = CompactWriter::new(out, &meta).map_err(io_err)?;
    for rec in crate::sort::time_ordered(reader, &crate::sort::SortOptions::default())? {
        w.write(&rec?).map_err(io_err)?;
    }
    let records = w.count();
    let out = w.finish().map_err(io_err)?;
    Ok((out, ConvertSummary { records }))
}
