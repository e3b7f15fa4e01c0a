//! Regression gates: the suite's figures that do not depend on the machine (each
//! a ratio against a baseline measured in the same run) compared with the same
//! figures of an earlier run, for CI to fail on a slowdown.
//!
//! A ratio such as "hold-model events/s over a plain binary heap's" moves little
//! between a laptop and a CI runner, where events/s alone moves by several times.
//! Each side of a ratio is the best of interleaved repetitions timed by the thread's
//! CPU time ([`crate::timing`]), so that other work on the machine moves it little.
//! Not gated: the allocator (its only baseline is Mesos's published seconds, from
//! another machine) and the replay (its same-run baseline, generating the records,
//! takes ~20 ms in the ci suite and overlaps the replay: too short to divide by).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::engine::EngineBenchRecord;
use crate::network::NetworkBenchRecord;
use crate::traces::TracesBenchRecord;
use crate::usage::UsageBenchRecord;

/// One gated figure: a speedup over a baseline measured in the same run (higher is
/// better).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateFigure {
    /// Stable name, `target/what/scale`.
    pub name: String,
    /// The speedup.
    pub value: f64,
}

/// The engine's ratios to the binary-heap baseline (the baseline rows themselves
/// are 1 by definition and left out).
pub fn engine_figures(records: &[EngineBenchRecord]) -> Vec<GateFigure> {
    records
        .iter()
        .filter(|r| r.name != crate::engine::BASELINE_NAME)
        .map(|r| GateFigure {
            name: format!("engine/{}/{}", r.name, r.pending),
            value: r.ratio_to_baseline,
        })
        .collect()
}

/// Trace parsing against the csv crate's untyped reader (the baseline row left out).
pub fn traces_figures(records: &[TracesBenchRecord]) -> Vec<GateFigure> {
    records
        .iter()
        .filter(|r| r.name != crate::traces::BASELINE_NAME)
        .map(|r| GateFigure {
            name: format!("traces/{}", r.name),
            value: r.ratio_to_baseline,
        })
        .collect()
}

/// The usage model's simulated seconds per CPU second over its baseline's.
pub fn usage_figures(records: &[UsageBenchRecord]) -> Vec<GateFigure> {
    records
        .iter()
        .map(|r| GateFigure {
            name: format!("usage/{}x{}", r.agents, r.tasks_per_agent),
            value: r.ratio_to_baseline,
        })
        .collect()
}

/// Incremental fair-share updates over full recomputation.
pub fn network_figures(records: &[NetworkBenchRecord]) -> Vec<GateFigure> {
    records
        .iter()
        .map(|r| GateFigure {
            name: format!("network/{}/{}x{}", r.pattern, r.agents, r.flows),
            value: r.speedup,
        })
        .collect()
}

/// What the comparison of one figure found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the allowed regression (or better).
    Pass,
    /// Worse than the baseline by more than the allowed fraction.
    Regressed,
    /// Not in the baseline (a new benchmark): reported, not judged.
    New,
    /// In the baseline but not measured now: reported, not judged.
    Missing,
}

/// One row of a gate comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct GateRow {
    /// Figure name.
    pub name: String,
    /// The earlier run's value.
    pub baseline: Option<f64>,
    /// This run's value.
    pub now: Option<f64>,
    /// How much worse this run is, as a fraction of the baseline (negative: better).
    pub worse_by: Option<f64>,
    /// The judgement.
    pub verdict: Verdict,
}

/// Compares `now` with `baseline` by name, in the baseline's order followed by the
/// new figures; a figure regresses when it is worse by more than `max_regression`
/// (a fraction: 0.25 allows a 25% slowdown).
pub fn compare(baseline: &[GateFigure], now: &[GateFigure], max_regression: f64) -> Vec<GateRow> {
    let mut rows: Vec<GateRow> = baseline
        .iter()
        .map(|b| match now.iter().find(|n| n.name == b.name) {
            None => GateRow {
                name: b.name.clone(),
                baseline: Some(b.value),
                now: None,
                worse_by: None,
                verdict: Verdict::Missing,
            },
            Some(n) => {
                let worse_by = 1.0 - n.value / b.value;
                GateRow {
                    name: b.name.clone(),
                    baseline: Some(b.value),
                    now: Some(n.value),
                    worse_by: Some(worse_by),
                    verdict: if worse_by > max_regression {
                        Verdict::Regressed
                    } else {
                        Verdict::Pass
                    },
                }
            }
        })
        .collect();
    rows.extend(
        now.iter()
            .filter(|n| !baseline.iter().any(|b| b.name == n.name))
            .map(|n| GateRow {
                name: n.name.clone(),
                baseline: None,
                now: Some(n.value),
                worse_by: None,
                verdict: Verdict::New,
            }),
    );
    rows
}

/// The comparison as a text table.
pub fn render_table(rows: &[GateRow]) -> String {
    let value = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(6);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<width$} {:>10} {:>10} {:>9}  verdict",
        "figure", "baseline", "now", "worse by"
    );
    for r in rows {
        let worse = r
            .worse_by
            .map_or("-".to_string(), |w| format!("{:+.1}%", w * 100.0));
        let verdict = match r.verdict {
            Verdict::Pass => "ok",
            Verdict::Regressed => "REGRESSED",
            Verdict::New => "new (not judged)",
            Verdict::Missing => "not measured (not judged)",
        };
        let _ = writeln!(
            s,
            "{:<width$} {:>10} {:>10} {:>9}  {verdict}",
            r.name,
            value(r.baseline),
            value(r.now),
            worse
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(name: &str, value: f64) -> GateFigure {
        GateFigure {
            name: name.to_string(),
            value,
        }
    }

    #[test]
    fn judges_each_figure_against_the_allowed_fraction() {
        let baseline = [
            figure("held", 4.0),
            figure("lost", 4.0),
            figure("gained", 2.0),
            figure("gone", 1.0),
        ];
        let now = [
            figure("gained", 3.0), // 50% better
            figure("lost", 2.9),   // 27.5% worse
            figure("held", 3.2),   // 20% worse
            figure("fresh", 9.0),
        ];
        let rows = compare(&baseline, &now, 0.25);
        let got: Vec<(&str, Verdict)> = rows.iter().map(|r| (r.name.as_str(), r.verdict)).collect();
        assert_eq!(
            got,
            [
                ("held", Verdict::Pass),
                ("lost", Verdict::Regressed),
                ("gained", Verdict::Pass),
                ("gone", Verdict::Missing),
                ("fresh", Verdict::New),
            ]
        );
        let worse: Vec<Option<f64>> = rows.iter().map(|r| r.worse_by).collect();
        let expected = [Some(0.2), Some(0.275), Some(-0.5), None, None];
        for (w, e) in worse.iter().zip(expected) {
            match (w, e) {
                (Some(w), Some(e)) => assert!((w - e).abs() < 1e-12, "{w} vs {e}"),
                _ => assert_eq!(*w, e),
            }
        }
        let table = render_table(&rows);
        assert_eq!(table.matches("REGRESSED").count(), 1, "{table}");
        assert!(table.contains("+27.5%"), "{table}");
    }

    #[test]
    fn figures_round_trip_through_json() {
        let figures = vec![figure("engine/hold/1000", 2.5)];
        let text = serde_json::to_string(&figures).expect("serialise");
        assert_eq!(text, r#"[{"name":"engine/hold/1000","value":2.5}]"#);
        let back: Vec<GateFigure> = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, figures);
    }
}
