//! Trace formats, their tables, and recognising a table from a file name.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::TraceError;

/// A trace format.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// Google clusterdata-2011-2 (headerless CSV parts, µs timestamps).
    Google2011,
    /// Google clusterdata-2019 (v3), exported JSON lines.
    Google2019,
    /// Alibaba cluster-trace-v2018 (headerless CSV).
    Alibaba2018,
    /// Standard Workload Format of the Parallel Workloads Archive.
    Swf,
    /// mesosim's own compact binary workload format (see `FORMAT.md`).
    Compact,
}

impl TraceFormat {
    /// Every format.
    pub const ALL: [TraceFormat; 5] = [
        TraceFormat::Google2011,
        TraceFormat::Google2019,
        TraceFormat::Alibaba2018,
        TraceFormat::Swf,
        TraceFormat::Compact,
    ];

    /// The name used on the command line (`google2011`, …).
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Google2011 => "google2011",
            TraceFormat::Google2019 => "google2019",
            TraceFormat::Alibaba2018 => "alibaba2018",
            TraceFormat::Swf => "swf",
            TraceFormat::Compact => "compact",
        }
    }

    /// The format's tables, in merge order (machines first, usage last).
    pub fn tables(self) -> &'static [Table] {
        use Table::*;
        match self {
            TraceFormat::Google2011 => &[
                Google2011MachineEvents,
                Google2011MachineAttributes,
                Google2011JobEvents,
                Google2011TaskEvents,
                Google2011TaskConstraints,
                Google2011TaskUsage,
            ],
            TraceFormat::Google2019 => &[
                Google2019MachineEvents,
                Google2019MachineAttributes,
                Google2019CollectionEvents,
                Google2019InstanceEvents,
                Google2019InstanceUsage,
            ],
            TraceFormat::Alibaba2018 => &[
                Alibaba2018MachineMeta,
                Alibaba2018BatchTask,
                Alibaba2018BatchInstance,
                Alibaba2018ContainerMeta,
                Alibaba2018MachineUsage,
                Alibaba2018ContainerUsage,
            ],
            TraceFormat::Swf => &[SwfJobs],
            TraceFormat::Compact => &[CompactRecords],
        }
    }

    fn known_tables(self) -> String {
        self.tables()
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The table called `name` in this format.
    pub fn table(self, name: &str) -> Result<Table, TraceError> {
        self.tables()
            .iter()
            .copied()
            .find(|t| t.name() == name)
            .ok_or_else(|| TraceError::UnknownTableName {
                name: name.to_string(),
                format: self.name(),
                known: self.known_tables(),
            })
    }

    /// Recognises the table a file holds from its name (or, for `part-…` files, its
    /// directory's name), as laid out in the official buckets. Suffixes such as
    /// `.head15000.csv` or `.rows1-8821.csv` are fine.
    pub fn recognise(self, path: &Path) -> Option<Table> {
        if matches!(self, TraceFormat::Swf | TraceFormat::Compact) {
            return Some(self.tables()[0]);
        }
        let file = path.file_name()?.to_str()?;
        if let Some(t) = self.match_prefix(file) {
            return Some(t);
        }
        if file.starts_with("part-") {
            let dir = path.parent()?.file_name()?.to_str()?;
            return self.match_prefix(dir);
        }
        None
    }

    /// The error for a file whose table is not recognised.
    pub(crate) fn unknown_table(self, path: &Path) -> TraceError {
        TraceError::UnknownTable {
            path: path.to_path_buf(),
            format: self.name(),
            known: self.known_tables(),
        }
    }

    fn match_prefix(self, name: &str) -> Option<Table> {
        self.tables().iter().copied().find(|t| {
            name.strip_prefix(t.name())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '_']))
        })
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = TraceError;

    fn from_str(s: &str) -> Result<TraceFormat, TraceError> {
        TraceFormat::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| TraceError::UnknownFormat(s.to_string()))
    }
}

/// One table of one format. The order of the variants is the merge order for
/// records of equal time: machines before jobs before tasks before usage.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Table {
    /// Google 2011 `machine_events`.
    Google2011MachineEvents,
    /// Google 2011 `machine_attributes`.
    Google2011MachineAttributes,
    /// Google 2011 `job_events`.
    Google2011JobEvents,
    /// Google 2011 `task_events`.
    Google2011TaskEvents,
    /// Google 2011 `task_constraints`.
    Google2011TaskConstraints,
    /// Google 2011 `task_usage`.
    Google2011TaskUsage,
    /// Google 2019 `machine_events`.
    Google2019MachineEvents,
    /// Google 2019 `machine_attributes`.
    Google2019MachineAttributes,
    /// Google 2019 `collection_events`.
    Google2019CollectionEvents,
    /// Google 2019 `instance_events`.
    Google2019InstanceEvents,
    /// Google 2019 `instance_usage`.
    Google2019InstanceUsage,
    /// Alibaba 2018 `machine_meta`.
    Alibaba2018MachineMeta,
    /// Alibaba 2018 `batch_task`.
    Alibaba2018BatchTask,
    /// Alibaba 2018 `batch_instance`.
    Alibaba2018BatchInstance,
    /// Alibaba 2018 `container_meta`.
    Alibaba2018ContainerMeta,
    /// Alibaba 2018 `machine_usage`.
    Alibaba2018MachineUsage,
    /// Alibaba 2018 `container_usage`.
    Alibaba2018ContainerUsage,
    /// SWF job log (`*.swf`).
    SwfJobs,
    /// A compact workload file.
    CompactRecords,
}

/// What order a table's records come in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Non-decreasing time, across part files too (Google 2011: parts are
    /// consecutive windows, rows time-ordered within a part).
    Time,
    /// Rows come in non-decreasing time of their first record; the later records a
    /// row expands to (schedule, finish…) follow it directly, with later times. A
    /// replayer that reads one row ahead of its clock and queues the rest sees every
    /// record in time.
    RowStart,
    /// File order, which is not time order (Google 2019 shards are ordered by event
    /// type; Alibaba tables by machine or not at all). Sort before replaying.
    File,
}

impl Table {
    /// The table's official name (`task_events`, `batch_task`, …).
    pub fn name(self) -> &'static str {
        use Table::*;
        match self {
            Google2011MachineEvents | Google2019MachineEvents => "machine_events",
            Google2011MachineAttributes | Google2019MachineAttributes => "machine_attributes",
            Google2011JobEvents => "job_events",
            Google2011TaskEvents => "task_events",
            Google2011TaskConstraints => "task_constraints",
            Google2011TaskUsage => "task_usage",
            Google2019CollectionEvents => "collection_events",
            Google2019InstanceEvents => "instance_events",
            Google2019InstanceUsage => "instance_usage",
            Alibaba2018MachineMeta => "machine_meta",
            Alibaba2018MachineUsage => "machine_usage",
            Alibaba2018BatchTask => "batch_task",
            Alibaba2018BatchInstance => "batch_instance",
            Alibaba2018ContainerMeta => "container_meta",
            Alibaba2018ContainerUsage => "container_usage",
            SwfJobs => "jobs",
            CompactRecords => "records",
        }
    }

    /// The format the table belongs to.
    pub fn format(self) -> TraceFormat {
        use Table::*;
        match self {
            Google2011MachineEvents
            | Google2011MachineAttributes
            | Google2011JobEvents
            | Google2011TaskEvents
            | Google2011TaskConstraints
            | Google2011TaskUsage => TraceFormat::Google2011,
            Google2019MachineEvents
            | Google2019MachineAttributes
            | Google2019CollectionEvents
            | Google2019InstanceEvents
            | Google2019InstanceUsage => TraceFormat::Google2019,
            Alibaba2018MachineMeta
            | Alibaba2018MachineUsage
            | Alibaba2018BatchTask
            | Alibaba2018BatchInstance
            | Alibaba2018ContainerMeta
            | Alibaba2018ContainerUsage => TraceFormat::Alibaba2018,
            SwfJobs => TraceFormat::Swf,
            CompactRecords => TraceFormat::Compact,
        }
    }

    /// The order the reader guarantees for this table's records.
    pub fn ordering(self) -> Ordering {
        use Table::*;
        match self {
            Google2011MachineEvents
            | Google2011MachineAttributes
            | Google2011JobEvents
            | Google2011TaskEvents
            | Google2011TaskConstraints
            | Google2011TaskUsage => Ordering::Time,
            SwfJobs => Ordering::RowStart,
            _ => Ordering::File,
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.format().name(), self.name())
    }
}

/// The sort key of a part file: its part number (`part-00042-of-00500` → 42,
/// 2019 `instance_events-000000000042.json.gz` → 42), if it has one.
pub(crate) fn part_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits_after = |i: usize| -> Option<u64> {
        let d: String = name[i..].chars().take_while(char::is_ascii_digit).collect();
        if d.is_empty() || d.len() > 18 {
            None
        } else {
            d.parse().ok()
        }
    };
    if let Some(i) = name.find("part-") {
        return digits_after(i + 5);
    }
    let i = name.find('-')?;
    digits_after(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_official_and_sample_names() {
        let g = TraceFormat::Google2011;
        let cases = [
            (
                "x/task_events/part-00000-of-00500.csv.gz",
                Some(Table::Google2011TaskEvents),
            ),
            (
                "task_events/part-00000-of-00500.head10000.csv",
                Some(Table::Google2011TaskEvents),
            ),
            (
                "machine_events/part-00000-of-00001.head15000.csv",
                Some(Table::Google2011MachineEvents),
            ),
            ("task_usage-part-3.csv", Some(Table::Google2011TaskUsage)),
            ("schema.csv", None),
            ("x/part-00000-of-00500.csv.gz", None),
        ];
        for (p, want) in cases {
            assert_eq!(g.recognise(Path::new(p)), want, "{p}");
        }
        let a = TraceFormat::Alibaba2018;
        assert_eq!(
            a.recognise(Path::new("machine_meta.rows1-8821.csv")),
            Some(Table::Alibaba2018MachineMeta)
        );
        assert_eq!(
            a.recognise(Path::new("batch_task.csv")),
            Some(Table::Alibaba2018BatchTask)
        );
        assert_eq!(a.recognise(Path::new("batch_taskx.csv")), None);
        let n = TraceFormat::Google2019;
        assert_eq!(
            n.recognise(Path::new(
                "machine_events-000000000000.cell-a.lines1-8000+27778-31777+45719-45968.json"
            )),
            Some(Table::Google2019MachineEvents)
        );
        assert_eq!(
            n.recognise(Path::new("instance_events-000000000012.json.gz")),
            Some(Table::Google2019InstanceEvents)
        );
    }

    #[test]
    fn part_numbers() {
        assert_eq!(
            part_number(Path::new("a/part-00042-of-00500.csv.gz")),
            Some(42)
        );
        assert_eq!(
            part_number(Path::new("instance_events-000000000012.json.gz")),
            Some(12)
        );
        assert_eq!(part_number(Path::new("batch_task.csv")), None);
    }

    #[test]
    fn format_names_round_trip() {
        for f in TraceFormat::ALL {
            assert_eq!(f.name().parse::<TraceFormat>().unwrap(), f);
        }
        assert!("google".parse::<TraceFormat>().is_err());
    }
}
