//! Errors: every bad row names its file, line, column (field number) and field.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

/// Everything that can go wrong while opening or reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A file could not be opened or listed.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Reading a file failed part-way (I/O error, truncated or corrupt gzip).
    /// Always fatal, in lenient mode too: the rest of the file cannot be trusted.
    #[error("{file}:{line}: {message}")]
    Read {
        /// The file, as shown in messages (its table directory and name).
        file: String,
        /// The line being read when it failed (1-based).
        line: u64,
        /// What went wrong, e.g. `gzip stream is truncated`.
        message: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A row did not parse (strict mode).
    #[error("{0}")]
    Row(Box<RowError>),
    /// A file's table could not be recognised from its name.
    #[error("cannot tell which {format} table {} holds (name the table explicitly; {format} tables: {known})", path.display())]
    UnknownTable {
        /// The file.
        path: PathBuf,
        /// The format's name.
        format: &'static str,
        /// The table names of the format, comma-separated.
        known: String,
    },
    /// A table name given explicitly is not one of the format's.
    #[error("unknown {format} table {name:?} ({format} tables: {known})")]
    UnknownTableName {
        /// The name given.
        name: String,
        /// The format's name.
        format: &'static str,
        /// The table names of the format, comma-separated.
        known: String,
    },
    /// A format name is not one of the known ones.
    #[error("unknown trace format {0:?} (expected one of google2011, google2019, alibaba2018, swf, compact)")]
    UnknownFormat(String),
    /// No input files were given, or the directories given hold none.
    #[error("no input files{0}")]
    NoInput(String),
    /// A file is not in the format it was opened as (e.g. a compact file's magic).
    #[error("{}: {message}", path.display())]
    BadFile {
        /// The file, as shown in messages.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl From<RowError> for TraceError {
    fn from(e: RowError) -> TraceError {
        TraceError::Row(Box::new(e))
    }
}

/// The kinds of bad rows, counted separately in lenient mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRowKind {
    /// Fewer columns than the table has.
    MissingColumn,
    /// More columns than the table has.
    ExtraColumn,
    /// A required field is empty.
    MissingValue,
    /// A field that should be a number is not one.
    NotANumber,
    /// A number outside its field's range.
    OutOfRange,
    /// An enumeration code or status the format does not define.
    UnknownCode,
    /// A line that is not valid JSON (or not a JSON object).
    BadJson,
    /// A line longer than the reader's limit (1 MiB).
    LineTooLong,
}

impl BadRowKind {
    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            BadRowKind::MissingColumn => "missing_column",
            BadRowKind::ExtraColumn => "extra_column",
            BadRowKind::MissingValue => "missing_value",
            BadRowKind::NotANumber => "not_a_number",
            BadRowKind::OutOfRange => "out_of_range",
            BadRowKind::UnknownCode => "unknown_code",
            BadRowKind::BadJson => "bad_json",
            BadRowKind::LineTooLong => "line_too_long",
        }
    }
}

/// Where in a row a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// A CSV or whitespace-separated field: its 1-based number and its schema name.
    Field {
        /// 1-based field number, as in the official schemas.
        number: u32,
        /// The field's name in the schema.
        name: &'static str,
    },
    /// A JSON key (nested keys joined with `.`, e.g. `capacity.cpus`).
    Key(Cow<'static, str>),
}

/// What was found instead of what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// Text from the file, shown quoted (and cut at 60 characters).
    Text(String),
    /// A description, shown as is (e.g. `12 columns`).
    Plain(String),
}

/// A bad row: file, line, column, field and what was expected.
///
/// Displays as `task_events/part-00000-of-00500.csv.gz:17: column 6 (event type):
/// expected an integer 0-8, found "x"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The file, as shown in messages (its table directory and name).
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The column, if the problem is in one.
    pub column: Option<Column>,
    /// The kind of problem.
    pub kind: BadRowKind,
    /// What the field should hold.
    pub expected: Cow<'static, str>,
    /// What it holds.
    pub found: Found,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match &self.column {
            Some(Column::Field { number, name }) => write!(f, "column {number} ({name}): ")?,
            Some(Column::Key(key)) => write!(f, "field {key:?}: ")?,
            None => {}
        }
        write!(f, "expected {}, found ", self.expected)?;
        match &self.found {
            Found::Text(t) => write!(f, "{t:?}"),
            Found::Plain(p) => f.write_str(p),
        }
    }
}

impl std::error::Error for RowError {}

/// A row problem before the file and line are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub column: Option<Column>,
    pub kind: BadRowKind,
    pub expected: Cow<'static, str>,
    pub found: Found,
}

impl FieldError {
    pub(crate) fn new(
        column: Option<Column>,
        kind: BadRowKind,
        expected: impl Into<Cow<'static, str>>,
        found: Found,
    ) -> FieldError {
        FieldError {
            column,
            kind,
            expected: expected.into(),
            found,
        }
    }

    pub(crate) fn at(self, file: &str, line: u64) -> RowError {
        RowError {
            file: file.to_string(),
            line,
            column: self.column,
            kind: self.kind,
            expected: self.expected,
            found: self.found,
        }
    }
}

/// Quote raw bytes for a message: lossy UTF-8, cut at 60 characters.
pub(crate) fn found_text(bytes: &[u8]) -> Found {
    let s = String::from_utf8_lossy(bytes);
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    Found::Text(out)
}
