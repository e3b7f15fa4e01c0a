//! Byte input: opening files (plain or gzip, detected by magic bytes) and splitting
//! them into lines in a fixed-size buffer.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::error::{BadRowKind, FieldError, Found, TraceError};

/// The longest line accepted; longer lines are bad rows (`line_too_long`).
pub const MAX_LINE: usize = 1 << 20;

/// Read chunk size.
const CHUNK: usize = 256 << 10;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How a path is shown in messages: its parent directory and its name
/// (`task_events/part-00000-of-00500.csv.gz`), which is what identifies a trace part.
pub fn display_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match path.parent().and_then(|p| p.file_name()) {
        Some(dir) => format!("{}/{}", dir.to_string_lossy(), file),
        None => file,
    }
}

/// A byte source, decompressed if it starts with the gzip magic bytes.
pub(crate) struct Source {
    pub reader: Box<dyn Read + Send>,
    pub gzip: bool,
}

impl Source {
    /// Wraps any reader, sniffing its first bytes for gzip.
    pub fn from_reader(reader: Box<dyn Read + Send>) -> io::Result<Source> {
        let mut br = BufReader::with_capacity(64 << 10, reader);
        let head = loop {
            match br.fill_buf() {
                Ok(h) => break h,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let gzip = head.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(br))
        } else {
            Box::new(br)
        };
        Ok(Source { reader, gzip })
    }

    /// Opens a file.
    pub fn open(path: &Path) -> Result<Source, TraceError> {
        let open_err = |source| TraceError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        Source::from_reader(Box::new(file)).map_err(open_err)
    }
}

/// A line-splitting reader over one source with a bounded buffer.
pub(crate) struct LineReader {
    src: Box<dyn Read + Send>,
    gzip: bool,
    name: String,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of `buf[start..scanned]` are known to hold no newline.
    scanned: usize,
    eof: bool,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    line_no: u64,
    /// Start offset and number of the line returned last, for `unread`.
    last: Option<(usize, u64)>,
    /// Bytes consumed so far (decompressed).
    pub bytes: u64,
}

/// What `next_line` yields.
pub(crate) enum Line<'a> {
    /// A line without its terminator (`\n` or `\r\n`).
    Text(u64, &'a [u8]),
    /// A line over [`MAX_LINE`]; the reader skips the rest of it.
    TooLong(u64, FieldError),
}

impl LineReader {
    pub fn new(name: String, source: Source) -> LineReader {
        LineReader {
            src: source.reader,
            gzip: source.gzip,
            name,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            scanned: 0,
            eof: false,
            skipping: false,
            line_no: 0,
            last: None,
            bytes: 0,
        }
    }

    /// The file name shown in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn read_error(&self, e: io::Error) -> TraceError {
        let message = if self.gzip {
            match e.kind() {
                io::ErrorKind::UnexpectedEof => "gzip stream is truncated".to_string(),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                    format!("corrupt gzip stream: {e}")
                }
                _ => format!("read error: {e}"),
            }
        } else {
            format!("read error: {e}")
        };
        TraceError::Read {
            file: self.name.clone(),
            line: self.line_no + 1,
            message,
            source: e,
        }
    }

    /// Fills the buffer after `end`; returns false at end of input.
    fn fill(&mut self) -> Result<bool, TraceError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
            self.last = None;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(MAX_LINE + CHUNK);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    self.bytes += n as u64;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e)),
            }
        }
    }

    /// Puts the line returned last back, so the next call returns it again.
    pub fn unread(&mut self) {
        if let Some((start, no)) = self.last.take() {
            self.start = start;
            self.scanned = start;
            self.line_no = no - 1;
        }
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, TraceError> {
        loop {
            if let Some(i) = find_byte(&self.buf[self.scanned..self.end], b'\n') {
                let nl = self.scanned + i;
                let line_start = self.start;
                self.start = nl + 1;
                self.scanned = self.start;
                if self.skipping {
                    self.skipping = false;
                    continue;
                }
                self.line_no += 1;
                if nl - line_start > MAX_LINE {
                    self.last = None;
                    return Ok(Some(Line::TooLong(self.line_no, too_long())));
                }
                self.last = Some((line_start, self.line_no));
                let mut line = &self.buf[line_start..nl];
                if let [rest @ .., b'\r'] = line {
                    line = rest;
                }
                return Ok(Some(Line::Text(self.line_no, line)));
            }
            self.scanned = self.end;
            if self.end - self.start > MAX_LINE && !self.skipping {
                // Report the long line once and drop what is buffered of it.
                self.skipping = true;
                self.line_no += 1;
                self.start = self.end;
                self.scanned = self.end;
                self.last = None;
                return Ok(Some(Line::TooLong(self.line_no, too_long())));
            }
            if self.skipping {
                self.start = self.end;
                self.scanned = self.end;
            }
            if self.eof || !self.fill()? {
                if self.start < self.end && !self.skipping {
                    let line_start = self.start;
                    self.start = self.end;
                    self.scanned = self.end;
                    self.line_no += 1;
                    self.last = Some((line_start, self.line_no));
                    let mut line = &self.buf[line_start..self.end];
                    if let [rest @ .., b'\r'] = line {
                        line = rest;
                    }
                    return Ok(Some(Line::Text(self.line_no, line)));
                }
                return Ok(None);
            }
        }
    }
}

fn too_long() -> FieldError {
    FieldError::new(
        None,
        BadRowKind::LineTooLong,
        format!("a line of at most {MAX_LINE} bytes"),
        Found::Plain("a longer line".to_string()),
    )
}

/// The index of the first `needle` in `hay`, eight bytes at a time.
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_matches_position() {
        let hay = b"abc,defghijklmnop,q\nrstuvwxyz0123456789\n,";
        for start in 0..hay.len() {
            for needle in [b',', b'\n', b'z', b'#'] {
                assert_eq!(
                    find_byte(&hay[start..], needle),
                    hay[start..].iter().position(|&b| b == needle)
                );
            }
        }
    }

    fn lines_of(data: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let src = Source::from_reader(Box::new(io::Cursor::new(data.to_vec()))).unwrap();
        let mut r = LineReader::new("x".into(), src);
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            match line {
                Line::Text(n, l) => out.push((n, l.to_vec())),
                Line::TooLong(n, _) => out.push((n, b"<long>".to_vec())),
            }
        }
        out
    }

    #[test]
    fn splits_lines_with_and_without_final_newline() {
        assert_eq!(
            lines_of(b"a,b\r\nc\n\nd"),
            vec![
                (1, b"a,b".to_vec()),
                (2, b"c".to_vec()),
                (3, b"".to_vec()),
                (4, b"d".to_vec())
            ]
        );
        assert_eq!(lines_of(b""), vec![]);
    }

    #[test]
    fn long_lines_are_reported_once_and_skipped() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.extend_from_slice(b"\nok\n");
        assert_eq!(
            lines_of(&data),
            vec![(1, b"<long>".to_vec()), (2, b"ok".to_vec())]
        );
    }
}
