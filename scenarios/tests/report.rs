//! `report.html`: one chart per metrics file, every framework and role, feature
//! sections only for the features a scenario uses, and the same bytes every time.

mod support;

use scenarios::report::run_report;
use scenarios::sim::{self, RunOptions};
use support::library;

fn report_of(file: &str, overrides: &[&str]) -> (String, usize, Vec<String>) {
    let scenario = library(file, overrides);
    let out = sim::run(&scenario, RunOptions::default()).unwrap();
    let html = run_report(&out.summary, &out.metrics).to_html();
    let names = out
        .summary
        .frameworks
        .iter()
        .map(|f| f.name.clone())
        .collect();
    (html, out.metrics.len(), names)
}

#[test]
fn the_quickstart_report_charts_every_metrics_file_and_names_every_framework() {
    let (html, files, frameworks) = report_of("quickstart.toml", &["duration=\"5m\""]);
    assert_eq!(html.matches("<svg").count(), files);
    assert!(files >= 3, "utilization, dominant share, queue length");
    for name in frameworks {
        assert!(html.contains(&format!("<td>{name}</td>")), "{name}");
    }
    assert!(
        !html.contains("Feature:"),
        "the quickstart uses no optional feature"
    );
    assert!(html.contains("simulated minutes"));
    let (again, _, _) = report_of("quickstart.toml", &["duration=\"5m\""]);
    assert_eq!(html, again);
}

#[test]
fn a_feature_section_appears_with_its_figures() {
    let (html, _, _) = report_of("oversubscription.toml", &["duration=\"5m\""]);
    assert!(html.contains("<h2>Feature: oversubscription</h2>"));
    assert!(html.contains("<td>revocable_tasks_launched</td>"));
}

#[test]
fn the_compare_report_draws_one_bar_chart_per_figure_with_every_policy() {
    use scenarios::compare::{compare, CompareOptions};
    use scenarios::report::compare_report;
    let scenario = library("quickstart.toml", &["duration=\"2m\""]);
    let options = CompareOptions {
        policies: vec!["hdrf".into(), "bestfit".into()],
        seeds: 2,
        threads: 1,
    };
    let result = compare(&scenario, &options).unwrap();
    let html = compare_report(&result).to_html();
    let figures = result.policies[0].metrics.len();
    assert_eq!(html.matches("<span class=\"bar\">").count(), figures);
    // Every bar chart has a bar per policy and a dot per seed.
    assert_eq!(html.matches("<rect").count(), figures * 2);
    assert_eq!(html.matches("<circle").count(), figures * 2 * 2);
    assert!(html.contains("<th>hdrf</th><th>bestfit</th>"));
}
