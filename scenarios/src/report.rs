//! What a run's summary says, as rows for the terminal table and as `report.html`: the
//! headline figures, the frameworks and roles, one chart per `metrics/*.csv` and every
//! feature section of `summary.json` flattened into a table; and `compare.html`, one bar
//! chart per compared figure.

use analysis::plot::{Bar, BarChart, LineChart};
use analysis::report::{series_from_csv, Block, Report};
use serde_json::Value;

use crate::compare::CompareResult;
use crate::summary::Summary;

/// Seconds with millisecond precision, as the tables print durations.
pub fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// The headline figures as (figure, value) rows.
pub fn headline(s: &Summary) -> Vec<[String; 2]> {
    let mut rows = vec![
        ["agents".to_string(), s.cluster.agents.to_string()],
        [
            "tasks submitted / launched / finished".to_string(),
            format!(
                "{} / {} / {}",
                s.tasks.submitted, s.tasks.launched, s.tasks.finished
            ),
        ],
        [
            "tasks failed / killed / lost".to_string(),
            format!("{} / {} / {}", s.tasks.failed, s.tasks.killed, s.tasks.lost),
        ],
    ];
    for (name, u) in &s.utilization {
        rows.push([
            format!("{name} allocated (mean)"),
            format!("{:.1}%", u.allocated * 100.0),
        ]);
    }
    rows.push([
        "fairness (Jain, dominant shares)".to_string(),
        format!("{:.3}", s.fairness),
    ]);
    rows.push([
        "wait p50 / p95 / p99".to_string(),
        format!(
            "{} / {} / {}",
            secs(s.wait_ns.p50),
            secs(s.wait_ns.p95),
            secs(s.wait_ns.p99)
        ),
    ]);
    rows.push([
        "allocation cycles / offers / declines".to_string(),
        format!(
            "{} / {} / {}",
            s.allocator.cycles, s.allocator.offers, s.allocator.declines
        ),
    ]);
    rows
}

/// The frameworks table: header and one row per framework.
pub fn frameworks(s: &Summary) -> (Vec<String>, Vec<Vec<String>>) {
    let header = [
        "framework",
        "role",
        "launched",
        "finished",
        "running max",
        "dominant share",
    ]
    .map(String::from)
    .to_vec();
    let rows = s
        .frameworks
        .iter()
        .map(|fw| {
            vec![
                fw.name.clone(),
                fw.role.clone(),
                fw.tasks_launched.to_string(),
                fw.tasks_finished.to_string(),
                fw.tasks_running_max.to_string(),
                format!("{:.3}", fw.dominant_share_mean),
            ]
        })
        .collect();
    (header, rows)
}

/// The sections of `summary.json` every run has; the others belong to features.
const CORE_SECTIONS: [&str; 16] = [
    "mesosim_version",
    "scenario",
    "scenario_sha256",
    "seed",
    "policy",
    "sim_end_ns",
    "events",
    "cluster",
    "tasks",
    "utilization",
    "fairness",
    "wait_ns",
    "makespan_ns",
    "allocator",
    "frameworks",
    "roles",
];

/// `report.html` of one run: `metrics` are the `metrics/*.csv` files as (name, text).
pub fn run_report(s: &Summary, metrics: &[(String, String)]) -> Report {
    let (unit, divisor) = time_unit(s.sim_end_ns);
    let mut blocks = vec![
        Block::Heading("Summary".into()),
        Block::Table {
            header: vec!["figure".into(), "value".into()],
            rows: headline(s).into_iter().map(Vec::from).collect(),
        },
    ];
    let (header, rows) = frameworks(s);
    blocks.push(Block::Heading("Frameworks".into()));
    blocks.push(Block::Table { header, rows });
    blocks.push(Block::Heading("Roles".into()));
    blocks.push(Block::Table {
        header: ["role", "weight", "frameworks", "launched", "dominant share"]
            .map(String::from)
            .to_vec(),
        rows: s
            .roles
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    format!("{}", r.weight),
                    r.frameworks.to_string(),
                    r.tasks_launched.to_string(),
                    format!("{:.3}", r.dominant_share_mean),
                ]
            })
            .collect(),
    });

    blocks.push(Block::Heading("Over time".into()));
    for (file, csv) in metrics {
        let Some(series) = series_from_csv(csv, divisor) else {
            continue;
        };
        let stem = file.trim_end_matches(".csv");
        let fractions = matches!(stem, "utilization" | "dominant_share");
        blocks.push(Block::Chart(LineChart {
            title: format!("metrics/{file}"),
            x_label: format!("simulated {unit}"),
            y_label: stem.replace('_', " "),
            series,
            y_range: fractions.then_some((0.0, 1.0)),
        }));
    }

    if let Ok(Value::Object(sections)) = serde_json::to_value(s) {
        for (name, value) in sections
            .iter()
            .filter(|(k, _)| !CORE_SECTIONS.contains(&k.as_str()))
        {
            let mut rows = Vec::new();
            flatten("", value, &mut rows);
            blocks.push(Block::Heading(format!("Feature: {name}")));
            blocks.push(Block::Table {
                header: vec!["figure".into(), "value".into()],
                rows: rows.into_iter().map(|(k, v)| vec![k, v]).collect(),
            });
        }
    }

    Report {
        title: format!("mesosim: {}", s.scenario),
        subtitle: format!(
            "policy {}, seed {}, {} simulated, {} events, mesosim {} (scenario sha256 {})",
            s.policy,
            s.seed,
            secs(s.sim_end_ns),
            s.events,
            s.mesosim_version,
            s.scenario_sha256.get(..12).unwrap_or(&s.scenario_sha256)
        ),
        blocks,
    }
}

/// Minutes for runs up to two hours, hours up to three days, days beyond.
fn time_unit(end_ns: u64) -> (&'static str, f64) {
    const MINUTE: f64 = 60e9;
    match end_ns as f64 / MINUTE {
        m if m <= 120.0 => ("minutes", MINUTE),
        m if m <= 3.0 * 24.0 * 60.0 => ("hours", 60.0 * MINUTE),
        _ => ("days", 24.0 * 60.0 * MINUTE),
    }
}

/// Leaf values of a JSON tree as (dotted path, text) rows; array items by index.
fn flatten(path: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&join(k), v, rows)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&join(&i.to_string()), v, rows)),
        Value::String(text) => rows.push((path.to_string(), text.clone())),
        other => rows.push((path.to_string(), other.to_string())),
    }
}

/// `compare.html`: the side-by-side table, then one bar chart per figure with the mean
/// over seeds, its 95% interval and each seed's value (durations in seconds).
pub fn compare_report(result: &CompareResult) -> Report {
    let (header, rows) = result.table_rows();
    let mut blocks = vec![
        Block::Heading("Mean ± 95% interval over seeds".into()),
        Block::Table { header, rows },
        Block::Heading("Per figure".into()),
    ];
    let names: Vec<&String> = result
        .policies
        .first()
        .map(|p| p.metrics.keys().collect())
        .unwrap_or_default();
    for name in names {
        let seconds = name.ends_with("_ns") || name.contains("_ns.");
        let scale = if seconds { 1e-9 } else { 1.0 };
        let bars = result
            .policies
            .iter()
            .filter_map(|p| {
                p.metrics.get(name).map(|a| Bar {
                    label: p.policy.clone(),
                    value: a.mean * scale,
                    whisker: a.ci95 * scale,
                    samples: a.values.iter().map(|v| v * scale).collect(),
                })
            })
            .collect();
        blocks.push(Block::BarChart(BarChart {
            title: name.clone(),
            y_label: if seconds { "seconds" } else { "" }.into(),
            bars,
        }));
    }
    Report {
        title: format!("mesosim compare: {}", result.scenario),
        subtitle: format!(
            "policies {}; seeds {}",
            result
                .policies
                .iter()
                .map(|p| p.policy.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            result
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        blocks,
    }
}
