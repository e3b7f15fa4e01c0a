//! Time series sampled during a run, rendered as CSV for `metrics/*.csv`.

/// A CSV time series: a `t_ns` column followed by named value columns. Rows are
/// appended in time order; values are rendered with Rust's shortest round-trip float
/// formatting, which is deterministic.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    columns: Vec<String>,
    rows: Vec<(u64, Vec<f64>)>,
}

impl TimeSeries {
    /// A series with these value columns (after `t_ns`).
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends one sample; `values` must have one entry per column.
    pub fn push(&mut self, t_ns: u64, values: Vec<f64>) {
        assert_eq!(values.len(), self.columns.len(), "time series row width");
        self.rows.push((t_ns, values));
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no sample was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The series as CSV text with a header line.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("t_ns");
        for c in &self.columns {
            out.push(',');
            out.push_str(&csv_field(c));
        }
        out.push('\n');
        for (t, values) in &self.rows {
            out.push_str(&t.to_string());
            for v in values {
                out.push(',');
                out.push_str(&format_value(*v));
            }
            out.push('\n');
        }
        out
    }
}

/// Formats a float for CSV: integers without a fraction, others in shortest form.
pub fn format_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Quotes a CSV field when it contains a separator, quote or newline.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Splits one CSV line into its fields, undoing [`csv_field`]'s quoting; `None` when a
/// quote is left open or a quoted field runs into more text before its separator.
pub fn csv_split(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let field;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') if quoted[i + 1..].starts_with('"') => {
                        text.push('"');
                        chars.next();
                    }
                    (i, '"') => break i + 1,
                    (_, c) => text.push(c),
                }
            };
            field = text;
            rest = &quoted[end..];
            if !(rest.is_empty() || rest.starts_with(',')) {
                return None;
            }
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            field = rest[..end].to_string();
            rest = &rest[end..];
        }
        fields.push(field);
        match rest.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Some(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_undoes_field_quoting() {
        let names = ["plain", "with,comma", "say \"hi\"", "", "a\"\",b"];
        let line: Vec<String> = names.iter().map(|n| csv_field(n)).collect();
        let line = line.join(",");
        assert_eq!(csv_split(&line), Some(names.map(String::from).to_vec()));
        assert_eq!(
            csv_split("1,,2"),
            Some(vec!["1".into(), "".into(), "2".into()])
        );
        assert_eq!(csv_split("\"open,1"), None);
        assert_eq!(csv_split("\"a\"b,1"), None);
    }

    #[test]
    fn renders_csv() {
        let mut s = TimeSeries::new(["cpus", "role,x"]);
        s.push(0, vec![0.5, 2.0]);
        s.push(1_000, vec![0.25, 3.0]);
        assert_eq!(s.to_csv(), "t_ns,cpus,\"role,x\"\n0,0.5,2\n1000,0.25,3\n");
        assert_eq!(s.len(), 2);
    }
}
