//! A self-contained HTML report: headings, paragraphs, tables and SVG charts in one file
//! with its own small stylesheet, readable offline and the same bytes for the same
//! content (no timestamps, no scripts).

use std::fmt::Write;

use crate::plot::{escape, BarChart, LineChart, Series};
use crate::timeseries::csv_split;

/// One piece of a report, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading.
    Heading(String),
    /// A paragraph of plain text.
    Paragraph(String),
    /// A table; numeric-looking cells are right-aligned.
    Table {
        /// Column names.
        header: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
    },
    /// A line chart.
    Chart(LineChart),
    /// A bar chart; consecutive ones sit side by side when the page is wide enough.
    BarChart(BarChart),
}

/// A report page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// The page title (also the first heading).
    pub title: String,
    /// A line under the title.
    pub subtitle: String,
    /// The content.
    pub blocks: Vec<Block>,
}

const STYLE: &str = "body{font-family:sans-serif;max-width:800px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}\
.sub{color:#666;margin-top:.3em}table{border-collapse:collapse;margin:.5em 0}\
td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
svg{display:block;margin:.5em 0;max-width:100%;height:auto}.bar{display:inline-block;vertical-align:top}";

impl Report {
    /// The page as HTML.
    pub fn to_html(&self) -> String {
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1><p class=\"sub\">{}</p>\n",
            escape(&self.title),
            escape(&self.title),
            escape(&self.subtitle)
        );
        for block in &self.blocks {
            match block {
                Block::Heading(text) => {
                    let _ = writeln!(html, "<h2>{}</h2>", escape(text));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(html, "<p>{}</p>", escape(text));
                }
                Block::Table { header, rows } => {
                    html.push_str("<table><tr>");
                    for h in header {
                        let _ = write!(html, "<th>{}</th>", escape(h));
                    }
                    html.push_str("</tr>\n");
                    for row in rows {
                        html.push_str("<tr>");
                        for cell in row {
                            let class = if looks_numeric(cell) {
                                " class=\"n\""
                            } else {
                                ""
                            };
                            let _ = write!(html, "<td{class}>{}</td>", escape(cell));
                        }
                        html.push_str("</tr>\n");
                    }
                    html.push_str("</table>\n");
                }
                Block::Chart(chart) => {
                    html.push_str(&chart.to_svg());
                    html.push('\n');
                }
                Block::BarChart(chart) => {
                    html.push_str("<span class=\"bar\">");
                    html.push_str(&chart.to_svg());
                    html.push_str("</span>\n");
                }
            }
        }
        html.push_str("</body></html>\n");
        html
    }
}

fn looks_numeric(cell: &str) -> bool {
    let first = cell.trim_start_matches(['-', '+']).chars().next();
    first.is_some_and(|c| c.is_ascii_digit())
}

/// The columns of a metrics CSV (`t_ns` or `t_s` first, then one number per column) as
/// series over x = nanoseconds / `x_divisor`. Columns that are not numbers are left out;
/// `None` when the text is not such a table. Names may be quoted (names with commas).
pub fn series_from_csv(csv: &str, x_divisor: f64) -> Option<Vec<Series>> {
    let mut lines = csv.lines();
    let header = csv_split(lines.next()?)?;
    let x_divisor = match header.first().map(String::as_str) {
        Some("t_ns") => x_divisor,
        Some("t_s") => x_divisor / 1e9,
        _ => return None,
    };
    if header.len() < 2 {
        return None;
    }
    let mut series: Vec<Series> = header
        .into_iter()
        .skip(1)
        .map(|name| Series {
            name,
            points: Vec::new(),
        })
        .collect();
    let mut numeric = vec![true; series.len()];
    for line in lines.filter(|l| !l.is_empty()) {
        let cells = csv_split(line)?;
        let mut cells = cells.iter();
        let Some(Ok(t)) = cells.next().map(|c| c.parse::<f64>()) else {
            return None;
        };
        for (i, cell) in cells.enumerate().take(series.len()) {
            match cell.parse::<f64>() {
                Ok(v) => series[i].points.push((t / x_divisor, v)),
                Err(_) => numeric[i] = false,
            }
        }
    }
    Some(
        series
            .into_iter()
            .zip(numeric)
            .filter(|(_, ok)| *ok)
            .map(|(s, _)| s)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_and_align_and_charts_inline() {
        let report = Report {
            title: "run <x>".into(),
            subtitle: "seed 1".into(),
            blocks: vec![
                Block::Heading("Tasks".into()),
                Block::Table {
                    header: vec!["framework".into(), "launched".into()],
                    rows: vec![vec!["a&b".into(), "12".into()]],
                },
                Block::Chart(LineChart {
                    title: "u".into(),
                    x_label: "m".into(),
                    y_label: "f".into(),
                    series: Vec::new(),
                    y_range: None,
                }),
            ],
        };
        let html = report.to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>run &lt;x&gt;</title>"));
        assert!(html.contains("<td>a&amp;b</td><td class=\"n\">12</td>"));
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn metrics_csv_becomes_series_in_x_units() {
        let csv = "t_ns,cpus,label\n0,0.5,x\n60000000000,0.75,y\n";
        let series = series_from_csv(csv, 60e9).unwrap();
        assert_eq!(series.len(), 1, "the text column is left out");
        assert_eq!(series[0].name, "cpus");
        assert_eq!(series[0].points, vec![(0.0, 0.5), (1.0, 0.75)]);
        assert_eq!(series_from_csv("time,cpus\n0,1\n", 1.0), None);
        let quoted = series_from_csv("t_ns,\"a,b\",c\n0,1,2\n", 1.0).unwrap();
        let names: Vec<&str> = quoted.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a,b", "c"]);
        assert_eq!(quoted[1].points, [(0.0, 2.0)]);
        let seconds = series_from_csv("t_s,x\n120,1\n", 60e9).unwrap();
        assert_eq!(seconds[0].points, vec![(2.0, 1.0)]);
        assert_eq!(series_from_csv("t_ns,cpus\nnope,1\n", 1.0), None);
    }
}
