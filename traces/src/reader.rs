//! Opening a trace: finding its files, chaining part files, merging tables by time,
//! strict and lenient handling of bad rows, and read statistics.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compact::CompactReader;
use crate::error::{BadRowKind, RowError, TraceError};
use crate::input::{display_name, Line, LineReader, Source};
use crate::record::{Nanos, WorkloadRecord};
use crate::swf::{HeaderParser, SwfHeader};
use crate::table::{part_number, Ordering, Table, TraceFormat};
use crate::{alibaba2018, google2011, google2019, swf};

/// How to read a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read every file as this table (its official name, e.g. `task_events`)
    /// instead of recognising tables from file names.
    pub table: Option<String>,
    /// Skip bad rows and count them (by kind, with the first few messages) instead of
    /// stopping at the first one. I/O errors and corrupt gzip stay fatal.
    pub lenient: bool,
}

impl ReadOptions {
    /// Strict reading with tables recognised from file names.
    pub fn strict() -> ReadOptions {
        ReadOptions::default()
    }

    /// Lenient reading with tables recognised from file names.
    pub fn lenient() -> ReadOptions {
        ReadOptions {
            table: None,
            lenient: true,
        }
    }
}

/// How many example messages are kept per kind of bad row.
pub const BAD_ROW_EXAMPLES: usize = 5;

/// Bad rows of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BadRows {
    /// How many.
    pub count: u64,
    /// The first few messages.
    pub examples: Vec<String>,
}

/// What was read from one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileStats {
    /// The file as shown in messages.
    pub file: String,
    /// Its table.
    pub table: Table,
    /// Data rows read (blank and comment lines excluded).
    pub rows: u64,
    /// Bytes read, after decompression (complete once the file has been read).
    pub bytes: u64,
    /// Whether it was gzip-compressed.
    pub gzip: bool,
}

/// Statistics of a read so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Files opened so far, in reading order.
    pub files: Vec<FileStats>,
    /// Data rows read, good and bad.
    pub rows: u64,
    /// Records produced.
    pub records: u64,
    /// Bad rows (skipped in lenient mode).
    pub bad_rows: u64,
    /// Bad rows by kind.
    pub bad_by_kind: BTreeMap<BadRowKind, BadRows>,
    /// Rows whose first record is earlier than the previous row's of the same table.
    pub out_of_order_rows: u64,
}

impl ReadStats {
    fn bad(&mut self, e: &RowError) {
        self.bad_rows += 1;
        let entry = self.bad_by_kind.entry(e.kind).or_default();
        entry.count += 1;
        if entry.examples.len() < BAD_ROW_EXAMPLES {
            entry.examples.push(e.to_string());
        }
    }
}

/// Where a table's bytes come from.
enum Input {
    Path(PathBuf),
    Reader(String, Box<dyn Read + Send>),
}

/// Per-table row parser state.
enum Parser {
    Google2011(Table),
    Google2019(Table),
    Alibaba(Table),
    Swf(Box<HeaderParser>),
}

impl Parser {
    fn new(table: Table) -> Parser {
        match table.format() {
            TraceFormat::Google2011 => Parser::Google2011(table),
            TraceFormat::Google2019 => Parser::Google2019(table),
            TraceFormat::Alibaba2018 => Parser::Alibaba(table),
            _ => Parser::Swf(Box::new(HeaderParser::new())),
        }
    }

    /// Parses a non-blank line: single-record rows come back directly, others are
    /// queued in `out`.
    #[inline]
    fn parse(
        &mut self,
        line: &[u8],
        out: &mut VecDeque<WorkloadRecord>,
    ) -> Result<Parsed, crate::error::FieldError> {
        match self {
            Parser::Google2011(t) => google2011::parse(*t, line).map(Parsed::One),
            Parser::Google2019(t) => google2019::parse(*t, line, out).map(|()| Parsed::Queued),
            Parser::Alibaba(t) => alibaba2018::parse(*t, line, out).map(|()| Parsed::Queued),
            Parser::Swf(h) => {
                if line[0] == b';' {
                    h.line(line);
                    Ok(Parsed::Comment)
                } else if line.iter().all(|b| b.is_ascii_whitespace()) {
                    Ok(Parsed::Comment)
                } else {
                    swf::parse(line, out).map(|()| Parsed::Queued)
                }
            }
        }
    }
}

/// What parsing one line gave.
// The record is returned by value on the hot path; boxing it would cost an
// allocation per row.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    /// A comment or blank line: no row.
    Comment,
    /// A row with exactly one record.
    One(WorkloadRecord),
    /// A row whose records were queued.
    Queued,
}

/// One table's records from its chain of files.
struct TableStream {
    table: Table,
    inputs: VecDeque<Input>,
    current: Option<LineReader>,
    /// Index of the current file in `ReadStats::files`.
    file_index: usize,
    parser: Parser,
    pending: VecDeque<WorkloadRecord>,
    last_row_time: Nanos,
    lenient: bool,
}

impl TableStream {
    fn open_next(&mut self, stats: &mut ReadStats) -> Result<bool, TraceError> {
        let Some(input) = self.inputs.pop_front() else {
            return Ok(false);
        };
        let (name, source) = match input {
            Input::Path(p) => (display_name(&p), Source::open(&p)?),
            Input::Reader(name, r) => {
                let source = Source::from_reader(r).map_err(|e| TraceError::Open {
                    path: PathBuf::from(&name),
                    source: e,
                })?;
                (name, source)
            }
        };
        stats.files.push(FileStats {
            file: name.clone(),
            table: self.table,
            rows: 0,
            bytes: 0,
            gzip: source.gzip,
        });
        self.file_index = stats.files.len() - 1;
        self.current = Some(LineReader::new(name, source));
        Ok(true)
    }

    /// Reads the SWF header of the first file (the leading `;` lines).
    fn read_swf_header(&mut self, stats: &mut ReadStats) -> Result<(), TraceError> {
        if self.current.is_none() && !self.open_next(stats)? {
            return Ok(());
        }
        let (Some(reader), Parser::Swf(header)) = (self.current.as_mut(), &mut self.parser) else {
            return Ok(());
        };
        while let Some(line) = reader.next_line()? {
            match line {
                Line::Text(_, l) if l.first() == Some(&b';') => header.line(l),
                Line::Text(_, l) if l.iter().all(|b| b.is_ascii_whitespace()) => {}
                _ => {
                    reader.unread();
                    break;
                }
            }
        }
        Ok(())
    }

    fn stop(&mut self, stats: &mut ReadStats) {
        self.close_file(stats);
        self.inputs.clear();
        self.pending.clear();
    }

    fn close_file(&mut self, stats: &mut ReadStats) {
        if let Some(r) = self.current.take() {
            if let Some(f) = stats.files.get_mut(self.file_index) {
                f.bytes = r.bytes;
            }
        }
    }

    fn next(&mut self, stats: &mut ReadStats) -> Option<Result<WorkloadRecord, TraceError>> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(Ok(r));
            }
            if self.current.is_none() {
                match self.open_next(stats) {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => {
                        self.stop(stats);
                        return Some(Err(e));
                    }
                }
            }
            let reader = self.current.as_mut()?;
            let line = match reader.next_line() {
                Err(e) => {
                    self.stop(stats);
                    return Some(Err(e));
                }
                Ok(None) => {
                    self.close_file(stats);
                    continue;
                }
                Ok(Some(line)) => line,
            };
            let (line_no, result) = match line {
                Line::TooLong(n, e) => (n, Err(e)),
                Line::Text(_, []) => continue,
                Line::Text(n, text) => (n, self.parser.parse(text, &mut self.pending)),
            };
            match result {
                Ok(Parsed::Comment) => {}
                Ok(parsed) => {
                    stats.rows += 1;
                    if let Some(f) = stats.files.get_mut(self.file_index) {
                        f.rows += 1;
                    }
                    let first = match &parsed {
                        Parsed::One(r) => Some(r.time()),
                        _ => self.pending.front().map(WorkloadRecord::time),
                    };
                    if let Some(t) = first {
                        if t < self.last_row_time {
                            stats.out_of_order_rows += 1;
                        }
                        self.last_row_time = t;
                    }
                    if let Parsed::One(r) = parsed {
                        return Some(Ok(r));
                    }
                }
                Err(fe) => {
                    self.pending.clear();
                    stats.rows += 1;
                    if let Some(f) = stats.files.get_mut(self.file_index) {
                        f.rows += 1;
                    }
                    let err = fe.at(reader.name(), line_no);
                    stats.bad(&err);
                    if !self.lenient {
                        self.stop(stats);
                        return Some(Err(err.into()));
                    }
                }
            }
        }
    }
}

/// A compact reader over any byte source.
type BoxedCompact = CompactReader<Box<dyn Read + Send>>;

/// A stream of records from one table or one compact file chain.
enum Stream {
    Text(Box<TableStream>),
    Compact {
        readers: VecDeque<(PathBuf, Option<BoxedCompact>)>,
    },
}

impl Stream {
    fn next(&mut self, stats: &mut ReadStats) -> Option<Result<WorkloadRecord, TraceError>> {
        match self {
            Stream::Text(t) => t.next(stats),
            Stream::Compact { readers } => loop {
                let (path, reader) = readers.front_mut()?;
                if reader.is_none() {
                    match open_compact(path, stats) {
                        Ok(r) => *reader = Some(r),
                        Err(e) => {
                            readers.clear();
                            return Some(Err(e));
                        }
                    }
                }
                let r = reader.as_mut()?;
                match r.next() {
                    Some(Ok(rec)) => {
                        stats.rows += 1;
                        if let Some(f) = stats.files.last_mut() {
                            f.rows += 1;
                        }
                        return Some(Ok(rec));
                    }
                    Some(Err(e)) => {
                        readers.clear();
                        return Some(Err(e));
                    }
                    None => {
                        if let Some(f) = stats.files.last_mut() {
                            f.bytes = r.bytes_read();
                        }
                        readers.pop_front();
                    }
                }
            },
        }
    }
}

fn open_compact(
    path: &Path,
    stats: &mut ReadStats,
) -> Result<CompactReader<Box<dyn Read + Send>>, TraceError> {
    let source = Source::open(path)?;
    stats.files.push(FileStats {
        file: display_name(path),
        table: Table::CompactRecords,
        rows: 0,
        bytes: 0,
        gzip: source.gzip,
    });
    CompactReader::new(source.reader).map_err(|e| match e {
        TraceError::BadFile { message, .. } => TraceError::BadFile {
            path: path.to_path_buf(),
            message,
        },
        other => other,
    })
}

/// What a trace is: its format, tables, files and (for SWF) header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceMetadata {
    /// The format the records were read from (for a compact file: the format it
    /// was converted from, if it says).
    pub format: Option<TraceFormat>,
    /// The tables read, in merge order.
    pub tables: Vec<Table>,
    /// The order the reader guarantees (the weakest of its tables').
    pub ordering: Ordering,
    /// The SWF header, for SWF logs (or compact files converted from one).
    pub swf: Option<SwfHeader>,
}

/// A streaming reader over a whole trace: an iterator of records in time order
/// (see [`TraceMetadata::ordering`] for what is guaranteed) in constant memory.
///
/// Part files of one table are chained in part-number order; different tables are
/// merged by record time (ties: machines, then jobs, then tasks, then constraints,
/// then usage). After an error in strict mode the iterator ends.
pub struct TraceReader {
    streams: Vec<Stream>,
    heads: Vec<Option<WorkloadRecord>>,
    started: bool,
    failed: bool,
    pending_error: Option<TraceError>,
    stats: ReadStats,
    metadata: TraceMetadata,
}

impl std::fmt::Debug for TraceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceReader")
            .field("metadata", &self.metadata)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Lists the files under `dir` (two levels deep, sorted, hidden files skipped).
fn walk(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> Result<(), TraceError> {
    let open_err = |source| TraceError::Open {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(open_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(open_err)?;
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            if depth > 0 {
                walk(&p, depth - 1, out)?;
            }
        } else {
            out.push(p);
        }
    }
    Ok(())
}

impl TraceReader {
    /// Opens a trace: files and directories (searched two levels deep for files whose
    /// names are tables of `format`). See [`crate::open`].
    pub fn open(
        format: TraceFormat,
        paths: &[PathBuf],
        options: &ReadOptions,
    ) -> Result<TraceReader, TraceError> {
        if paths.is_empty() {
            return Err(TraceError::NoInput(String::new()));
        }
        let explicit = options
            .table
            .as_deref()
            .map(|name| format.table(name))
            .transpose()?;
        let mut by_table: BTreeMap<Table, Vec<(u64, PathBuf)>> = BTreeMap::new();
        for path in paths {
            if path.is_dir() {
                let mut files = Vec::new();
                walk(path, 2, &mut files)?;
                let before: usize = by_table.values().map(Vec::len).sum();
                for f in files {
                    if let Some(t) = explicit.or_else(|| format.recognise(&f)) {
                        by_table
                            .entry(t)
                            .or_default()
                            .push((part_number(&f).unwrap_or(0), f));
                    }
                }
                let after: usize = by_table.values().map(Vec::len).sum();
                if after == before {
                    return Err(TraceError::NoInput(format!(
                        ": {} holds no {} table files",
                        path.display(),
                        format.name()
                    )));
                }
            } else {
                let t = explicit
                    .or_else(|| format.recognise(path))
                    .ok_or_else(|| format.unknown_table(path))?;
                by_table
                    .entry(t)
                    .or_default()
                    .push((part_number(path).unwrap_or(0), path.clone()));
            }
        }
        let mut tables = Vec::new();
        let mut streams = Vec::new();
        let mut stats = ReadStats::default();
        let mut swf_header = None;
        for (table, mut files) in by_table {
            files.sort();
            files.dedup();
            tables.push(table);
            if table == Table::CompactRecords {
                streams.push(Stream::Compact {
                    readers: files.into_iter().map(|(_, p)| (p, None)).collect(),
                });
                continue;
            }
            let mut s = TableStream {
                table,
                inputs: files.into_iter().map(|(_, p)| Input::Path(p)).collect(),
                current: None,
                file_index: 0,
                parser: Parser::new(table),
                pending: VecDeque::new(),
                last_row_time: Nanos::ZERO,
                lenient: options.lenient,
            };
            if table == Table::SwfJobs {
                s.read_swf_header(&mut stats)?;
                if let Parser::Swf(h) = &s.parser {
                    swf_header = Some(h.header.clone());
                }
            }
            streams.push(Stream::Text(Box::new(s)));
        }
        let mut reader = TraceReader::assemble(format, tables, streams, stats, swf_header);
        if format == TraceFormat::Compact {
            reader.read_compact_metadata()?;
        }
        Ok(reader)
    }

    /// Reads one table from any byte stream (plain or gzip), e.g. bytes in memory.
    /// `name` is used in messages.
    pub fn from_reader(
        table: Table,
        name: &str,
        reader: Box<dyn Read + Send>,
        options: &ReadOptions,
    ) -> Result<TraceReader, TraceError> {
        let mut stats = ReadStats::default();
        let stream = if table == Table::CompactRecords {
            let source = Source::from_reader(reader).map_err(|e| TraceError::Open {
                path: PathBuf::from(name),
                source: e,
            })?;
            stats.files.push(FileStats {
                file: name.to_string(),
                table,
                rows: 0,
                bytes: 0,
                gzip: source.gzip,
            });
            let r = CompactReader::new(source.reader)?;
            Stream::Compact {
                readers: VecDeque::from([(PathBuf::from(name), Some(r))]),
            }
        } else {
            let mut s = TableStream {
                table,
                inputs: VecDeque::from([Input::Reader(name.to_string(), reader)]),
                current: None,
                file_index: 0,
                parser: Parser::new(table),
                pending: VecDeque::new(),
                last_row_time: Nanos::ZERO,
                lenient: options.lenient,
            };
            if table == Table::SwfJobs {
                s.read_swf_header(&mut stats)?;
            }
            Stream::Text(Box::new(s))
        };
        let swf_header = match &stream {
            Stream::Text(s) => match &s.parser {
                Parser::Swf(h) => Some(h.header.clone()),
                _ => None,
            },
            Stream::Compact { .. } => None,
        };
        let mut r =
            TraceReader::assemble(table.format(), vec![table], vec![stream], stats, swf_header);
        if table == Table::CompactRecords {
            r.read_compact_metadata()?;
        }
        Ok(r)
    }

    fn assemble(
        format: TraceFormat,
        tables: Vec<Table>,
        streams: Vec<Stream>,
        stats: ReadStats,
        swf: Option<SwfHeader>,
    ) -> TraceReader {
        let ordering = if tables.len() > 1 && tables.iter().any(|t| t.ordering() != Ordering::Time)
        {
            Ordering::File
        } else {
            tables
                .iter()
                .map(|t| t.ordering())
                .max()
                .unwrap_or(Ordering::Time)
        };
        TraceReader {
            heads: streams.iter().map(|_| None).collect(),
            streams,
            started: false,
            failed: false,
            pending_error: None,
            stats,
            metadata: TraceMetadata {
                format: (format != TraceFormat::Compact).then_some(format),
                tables,
                ordering,
                swf,
            },
        }
    }

    /// For compact input: opens the first file now so its stored metadata is known.
    fn read_compact_metadata(&mut self) -> Result<(), TraceError> {
        if let Some(Stream::Compact { readers }) = self.streams.first_mut() {
            if let Some((path, slot)) = readers.front_mut() {
                if slot.is_none() {
                    *slot = Some(open_compact(path, &mut self.stats)?);
                }
                if let Some(r) = slot {
                    let m = r.metadata();
                    self.metadata.format = m.format;
                    self.metadata.ordering = m.ordering;
                    self.metadata.swf = m.swf.clone();
                }
            }
        }
        Ok(())
    }

    /// Statistics so far: rows, records, bad rows by kind, files.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// The trace's format, tables, ordering and SWF header.
    pub fn metadata(&self) -> &TraceMetadata {
        &self.metadata
    }

    fn fail(&mut self, e: TraceError) -> Option<Result<WorkloadRecord, TraceError>> {
        self.failed = true;
        self.heads.iter_mut().for_each(|h| *h = None);
        Some(Err(e))
    }
}

impl Iterator for TraceReader {
    type Item = Result<WorkloadRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending_error.take() {
            return self.fail(e);
        }
        if self.failed {
            return None;
        }
        if self.streams.len() == 1 {
            return match self.streams[0].next(&mut self.stats) {
                Some(Ok(rec)) => {
                    self.stats.records += 1;
                    Some(Ok(rec))
                }
                Some(Err(e)) => self.fail(e),
                None => None,
            };
        }
        if !self.started {
            self.started = true;
            for i in 0..self.streams.len() {
                match self.streams[i].next(&mut self.stats) {
                    Some(Ok(rec)) => self.heads[i] = Some(rec),
                    Some(Err(e)) => return self.fail(e),
                    None => {}
                }
            }
        }
        let mut best: Option<(Nanos, usize)> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(rec) = h {
                let t = rec.time();
                if !matches!(best, Some((bt, _)) if bt <= t) {
                    best = Some((t, i));
                }
            }
        }
        let (_, i) = best?;
        let rec = self.heads[i].take()?;
        match self.streams[i].next(&mut self.stats) {
            Some(Ok(next)) => self.heads[i] = Some(next),
            // Hand out the record already taken; the error comes next.
            Some(Err(e)) => self.pending_error = Some(e),
            None => {}
        }
        self.stats.records += 1;
        Some(Ok(rec))
    }
}
