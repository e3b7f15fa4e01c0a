//! Scenario errors that name the file, line, column and field, as users need to fix them.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// Where in a scenario a problem sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A position in a file (1-based line and column).
    File {
        /// The scenario file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A `--set key=value` override from the command line.
    Override(String),
    /// The file as a whole (e.g. it could not be read).
    Whole(PathBuf),
}

/// A scenario could not be loaded or is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where the problem is.
    pub location: Location,
    /// The dotted path of the field, e.g. `frameworks[1].roles`, when known.
    pub field: Option<String>,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File { path, line, column } => {
                write!(f, "{}:{line}:{column}: ", path.display())?
            }
            Location::Override(text) => write!(f, "--set {text}: ")?,
            Location::Whole(path) => write!(f, "{}: ", path.display())?,
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Maps byte offsets of a source text to 1-based line and column numbers.
#[derive(Debug, Clone)]
pub struct SourceMap {
    path: PathBuf,
    line_starts: Vec<usize>,
    text_len: usize,
}

impl SourceMap {
    /// Indexes `text`, which was read from `path`.
    pub fn new(path: PathBuf, text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            path,
            line_starts,
            text_len: text.len(),
        }
    }

    /// The file this map describes.
    pub fn path(&self) -> &PathBuf {
        &self.path
    }

    /// The location of the byte offset `offset`.
    pub fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text_len);
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let column = offset - self.line_starts[line - 1] + 1;
        Location::File {
            path: self.path.clone(),
            line,
            column,
        }
    }

    /// An error at the start of `span`.
    pub fn error(
        &self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            location: self.locate(span.start),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_columns() {
        let map = SourceMap::new("s.toml".into(), "a = 1\nbb = 2\n");
        assert_eq!(
            map.locate(0),
            Location::File {
                path: "s.toml".into(),
                line: 1,
                column: 1
            }
        );
        assert_eq!(
            map.locate(6),
            Location::File {
                path: "s.toml".into(),
                line: 2,
                column: 1
            }
        );
        assert_eq!(
            map.locate(11),
            Location::File {
                path: "s.toml".into(),
                line: 2,
                column: 6
            }
        );
        let e = map.error(6..8, "bb", "must be positive");
        assert_eq!(e.to_string(), "s.toml:2:1: field `bb`: must be positive");
    }
}
