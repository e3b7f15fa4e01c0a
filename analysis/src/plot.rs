//! Line charts as self-contained SVG, for the HTML report: no plotting library, no
//! fonts to load, and the same bytes for the same data (coordinates are printed with a
//! fixed precision).
//!
//! Long series are thinned to at most [`MAX_POINTS_PER_SERIES`] points by keeping, for
//! each bucket of consecutive samples, its first, lowest and highest sample in time
//! order, so spikes survive the thinning (a month of 10-second samples is 250,000
//! points; a browser draws 1,000 as well and the peaks stay where they were).

use std::fmt::Write;

/// Upper bound on the points drawn per series.
pub const MAX_POINTS_PER_SERIES: usize = 1_200;

/// Colours that stay distinct for colour-blind readers (Okabe and Ito, 2008).
const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];

/// One named line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) in increasing x.
    pub points: Vec<(f64, f64)>,
}

/// A chart of lines over a shared x axis.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// The lines, drawn in order (the first on the bottom).
    pub series: Vec<Series>,
    /// A fixed y range (e.g. 0 to 1 for fractions); otherwise from the data and zero.
    pub y_range: Option<(f64, f64)>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

impl LineChart {
    /// The chart as an `<svg>` element.
    pub fn to_svg(&self) -> String {
        let finite = |v: f64| v.is_finite();
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .filter(|v| finite(*v));
        let (x_min, x_max) = bounds(xs).unwrap_or((0.0, 1.0));
        let (y_min, y_max) = self.y_range.unwrap_or_else(|| {
            let ys = self
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .filter(|v| finite(*v))
                .chain([0.0]);
            bounds(ys).unwrap_or((0.0, 1.0))
        });
        let x_ticks = nice_ticks(x_min, x_max, 8);
        let y_ticks = nice_ticks(y_min, y_max, 5);
        let (x_lo, x_hi) = span(&x_ticks, x_min, x_max, self.y_range.is_none());
        let (y_lo, y_hi) = span(&y_ticks, y_min, y_max, self.y_range.is_none());
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let px = |x: f64| LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w;
        let py = |y: f64| TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h;

        let mut svg = open_svg(WIDTH, HEIGHT, &self.title);
        y_grid(&mut svg, &y_ticks, (y_lo, y_hi), LEFT + plot_w, py);
        for &t in x_ticks.iter().filter(|t| **t >= x_lo && **t <= x_hi) {
            let x = px(t);
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                TOP + plot_h,
                TOP + plot_h + 4.0,
                TOP + plot_h + 16.0,
                tick_label(t, &x_ticks)
            );
        }
        let _ = write!(
            svg,
            "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#999\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            LEFT + plot_w / 2.0,
            HEIGHT - 8.0,
            escape(&self.x_label),
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        for (i, series) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let dash = if i >= PALETTE.len() {
                " stroke-dasharray=\"5 3\""
            } else {
                ""
            };
            let path: Vec<String> = thin(&series.points, MAX_POINTS_PER_SERIES)
                .into_iter()
                .filter(|(x, y)| finite(*x) && finite(*y))
                .map(|(x, y)| format!("{:.1},{:.1}", px(x), py(y.clamp(y_lo, y_hi))))
                .collect();
            let _ = write!(
                svg,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\"{}\"><title>{}</title></polyline>",
                path.join(" "),
                escape(&series.name)
            );
            let ly = TOP + 8.0 + 16.0 * i as f64;
            let lx = LEFT + plot_w + 12.0;
            let _ = write!(
                svg,
                "<line x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                lx + 18.0,
                lx + 22.0,
                ly + 4.0,
                escape(&series.name)
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

/// The `<svg>` start tag and the title line.
fn open_svg(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\" \
         role=\"img\" aria-label=\"{0}\">\
         <text x=\"{LEFT}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{0}</text>",
        escape(title)
    )
}

/// Horizontal grid lines with their labels at the ticks inside `[lo, hi]`.
fn y_grid(
    svg: &mut String,
    ticks: &[f64],
    (lo, hi): (f64, f64),
    right: f64,
    py: impl Fn(f64) -> f64,
) {
    for &t in ticks.iter().filter(|t| **t >= lo && **t <= hi) {
        let y = py(t);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{right:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y + 4.0,
            tick_label(t, ticks)
        );
    }
}

/// One bar: a mean, the half-width of its interval, and the samples behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height.
    pub value: f64,
    /// Half-width of the whisker drawn around the top (0 for none).
    pub whisker: f64,
    /// Individual values drawn as dots over the bar (e.g. one per seed).
    pub samples: Vec<f64>,
}

/// Bars side by side over a y axis from zero.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title above the plot.
    pub title: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
}

const BAR_WIDTH: f64 = 380.0;
const BAR_HEIGHT: f64 = 260.0;

impl BarChart {
    /// The chart as an `<svg>` element.
    pub fn to_svg(&self) -> String {
        let values = self.bars.iter().flat_map(|b| {
            [b.value - b.whisker, b.value + b.whisker, b.value]
                .into_iter()
                .chain(b.samples.iter().copied())
        });
        let (lo, hi) = bounds(values.filter(|v| v.is_finite()).chain([0.0])).unwrap_or((0.0, 1.0));
        let ticks = nice_ticks(lo, hi, 5);
        let (y_lo, y_hi) = span(&ticks, lo, hi, true);
        let right = BAR_WIDTH - 16.0;
        let plot_w = right - LEFT;
        let plot_h = BAR_HEIGHT - TOP - BOTTOM;
        let py = |y: f64| TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h;
        let mut svg = open_svg(BAR_WIDTH, BAR_HEIGHT, &self.title);
        y_grid(&mut svg, &ticks, (y_lo, y_hi), right, py);
        let _ = write!(
            svg,
            "<text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        let slot = plot_w / self.bars.len().max(1) as f64;
        for (i, bar) in self.bars.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let centre = LEFT + slot * (i as f64 + 0.5);
            let (top, base) = (py(bar.value.max(y_lo)), py(0f64.clamp(y_lo, y_hi)));
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" fill-opacity=\"0.75\"><title>{}: {}</title></rect>\
                 <text x=\"{centre:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                centre - slot * 0.3,
                top.min(base),
                slot * 0.6,
                (base - top).abs(),
                escape(&bar.label),
                bar.value,
                TOP + plot_h + 16.0,
                escape(&bar.label)
            );
            if bar.whisker > 0.0 {
                let (y1, y2) = (py(bar.value - bar.whisker), py(bar.value + bar.whisker));
                let _ = write!(
                    svg,
                    "<path d=\"M{:.1} {y1:.1}H{:.1}M{centre:.1} {y1:.1}V{y2:.1}M{:.1} {y2:.1}H{:.1}\" stroke=\"#222\" fill=\"none\"/>",
                    centre - 6.0,
                    centre + 6.0,
                    centre - 6.0,
                    centre + 6.0
                );
            }
            for v in bar.samples.iter().filter(|v| v.is_finite()) {
                let _ = write!(
                    svg,
                    "<circle cx=\"{centre:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#222\"/>",
                    py(*v)
                );
            }
        }
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{right:.1}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#999\"/></svg>",
            py(0f64.clamp(y_lo, y_hi))
        );
        svg
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// The drawn range: the data's range widened to the outer ticks when `snap`, and never
/// empty.
fn span(ticks: &[f64], lo: f64, hi: f64, snap: bool) -> (f64, f64) {
    let (mut lo, mut hi) = if snap {
        (
            ticks.first().copied().unwrap_or(lo).min(lo),
            ticks.last().copied().unwrap_or(hi).max(hi),
        )
    } else {
        (lo, hi)
    };
    if hi <= lo {
        lo -= 0.5;
        hi += 0.5;
    }
    (lo, hi)
}

/// Round tick values (1, 2 or 5 times a power of ten apart) covering `[lo, hi]` with
/// about `target` intervals.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || target == 0 {
        return Vec::new();
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let raw = (hi - lo) / target as f64;
    let exponent = raw.log10().floor() as i32;
    let magnitude = 10f64.powi(exponent);
    let multiple = [1i64, 2, 5, 10]
        .into_iter()
        .find(|m| *m as f64 * magnitude >= raw)
        .unwrap_or(10);
    // k·multiple·10^exponent, divided by an exact power of ten when the exponent is
    // negative, so 3 × 0.2 prints as 0.6 and not 0.6000000000000001.
    let value = |k: i64| {
        let units = (k * multiple) as f64;
        if exponent < 0 {
            units / 10f64.powi(-exponent)
        } else {
            units * magnitude
        }
    };
    let step = multiple as f64 * magnitude;
    // More than a million ticks away from zero (a tiny span far out): no round ticks.
    if (lo / step).abs().max((hi / step).abs()) > 1e6 {
        return Vec::new();
    }
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(value).collect()
}

/// A tick's text with as many decimals as the tick step needs.
fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => 1.0,
    };
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let text = format!("{value:.decimals$}");
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        "0".into()
    } else {
        text
    }
}

/// At most about `max` points: each bucket of consecutive points keeps its first,
/// lowest and highest (in time order, without repeats). Short series come back whole.
pub fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 3 {
        return points.to_vec();
    }
    let buckets = max / 3;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for bucket in points.chunks(size) {
        let mut keep = vec![0];
        let lowest = (0..bucket.len())
            .min_by(|a, b| bucket[*a].1.total_cmp(&bucket[*b].1))
            .unwrap_or(0);
        let highest = (0..bucket.len())
            .max_by(|a, b| bucket[*a].1.total_cmp(&bucket[*b].1))
            .unwrap_or(0);
        keep.extend([lowest, highest]);
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|i| bucket[i]));
    }
    out
}

/// Text made safe inside XML/HTML elements and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(0.0, 30.0, 8),
            vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
        assert_eq!(
            nice_ticks(3.0, 97.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        // An empty range still gets ticks around the value.
        assert_eq!(
            nice_ticks(2.0, 2.0, 5),
            vec![1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6]
        );
        assert_eq!(tick_label(0.6, &[0.0, 0.2]), "0.6");
        assert!(
            nice_ticks(1e18, 1e18 + 1e3, 5).is_empty(),
            "no overflow far from zero"
        );
        assert_eq!(tick_label(-0.0, &[0.0, 0.2]), "0");
        assert_eq!(tick_label(25.0, &[0.0, 5.0]), "25");
    }

    #[test]
    fn thinning_keeps_every_buckets_extremes() {
        let points: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, ((i * 7919) % 1000) as f64))
            .collect();
        let thinned = thin(&points, 300);
        assert!(thinned.len() <= 300, "{}", thinned.len());
        assert!(
            thinned.windows(2).all(|w| w[0].0 < w[1].0),
            "time order kept"
        );
        let size = points.len().div_ceil(100);
        for bucket in points.chunks(size) {
            let lo = bucket.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            let hi = bucket.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            let kept: Vec<f64> = thinned
                .iter()
                .filter(|p| p.0 >= bucket[0].0 && p.0 <= bucket[bucket.len() - 1].0)
                .map(|p| p.1)
                .collect();
            assert!(kept.contains(&lo) && kept.contains(&hi));
        }
        assert_eq!(thin(&points[..50], 300), points[..50].to_vec());
    }

    #[test]
    fn data_corners_land_on_the_plot_corners() {
        let chart = LineChart {
            title: "a <b> & c".into(),
            x_label: "minutes".into(),
            y_label: "fraction".into(),
            series: vec![Series {
                name: "cpus".into(),
                points: vec![(0.0, 0.0), (30.0, 1.0)],
            }],
            y_range: Some((0.0, 1.0)),
        };
        let svg = chart.to_svg();
        // x 0..30 is the tick range exactly, y is fixed at 0..1: the line runs from the
        // plot's bottom-left corner (64, 300 - 44) to its top-right one (760 - 180, 28).
        assert!(svg.contains("points=\"64.0,256.0 580.0,28.0\""), "{svg}");
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(!svg.contains("<b>"));
        assert_eq!(svg, chart.to_svg(), "same bytes every time");
    }

    #[test]
    fn bars_stand_on_zero_with_their_whiskers_and_samples() {
        let chart = BarChart {
            title: "wait".into(),
            y_label: "s".into(),
            bars: vec![
                Bar {
                    label: "hdrf".into(),
                    value: 2.0,
                    whisker: 1.0,
                    samples: vec![1.0, 3.0],
                },
                Bar {
                    label: "fifo".into(),
                    value: 4.0,
                    whisker: 0.0,
                    samples: Vec::new(),
                },
            ],
        };
        let svg = chart.to_svg();
        // y runs 0..4 over the plot's 260 - 28 - 44 = 188 px, so 1 unit is 47 px and
        // zero sits at 28 + 188 = 216: the first bar (2) rises to 122, the second (4)
        // to 28; the first's whisker spans 1..3, i.e. y 169 to 75.
        assert!(
            svg.contains("y=\"122.0\" width=\"90.0\" height=\"94.0\""),
            "{svg}"
        );
        assert!(
            svg.contains("y=\"28.0\" width=\"90.0\" height=\"188.0\""),
            "{svg}"
        );
        assert!(svg.contains("V75.0"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(
            svg.matches("<path").count(),
            1,
            "no whisker for a zero interval"
        );
    }
}
