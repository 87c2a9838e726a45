//! Metric primitives and their Prometheus text rendering (format 0.0.4), without a dependency:
//! labelled counters and labelled histograms with fixed buckets, all safe to update from any
//! task. Label values must come from small fixed sets (directions, kinds, reasons, endpoint
//! names), never from user input, so the series stay few.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets in seconds, from 1 ms to 30 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line: `name{k="v",...} value`.
pub fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label(val));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value (backslash, quote, newline).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A family of counters keyed by label values.
#[derive(Debug)]
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl CounterVec {
    /// A family called `name` with these label names.
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds one to the counter with these label values (in the family's label order).
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    /// Adds `n` to the counter with these label values.
    pub fn add(&self, values: &[&str], n: u64) {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let mut map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let slot = map.entry(key).or_insert(0);
        *slot = slot.saturating_add(n);
    }

    /// The counter's value for these label values (0 if never touched).
    pub fn get(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key).copied().unwrap_or(0)
    }

    /// Renders the family.
    pub fn render(&self, out: &mut String) {
        write_header(out, self.name, "counter", self.help);
        let map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        for (values, count) in map.iter() {
            let labels: Vec<(&str, &str)> = self
                .labels
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            write_sample(out, self.name, &labels, count);
        }
    }
}

/// Bucket counts, sum and count of one histogram series.
#[derive(Debug, Clone, Default)]
struct Series {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

/// A family of histograms keyed by label values, with fixed upper bounds.
#[derive(Debug)]
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    bounds: &'static [f64],
    series: Mutex<BTreeMap<Vec<String>, Series>>,
}

impl HistogramVec {
    /// A family called `name` (in seconds) with these label names and bucket bounds.
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        Self {
            name,
            help,
            labels,
            bounds,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one observation of `elapsed` under these label values.
    pub fn observe(&self, values: &[&str], elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let series = map.entry(key).or_insert_with(|| Series {
            buckets: vec![0; self.bounds.len()],
            ..Series::default()
        });
        for (bound, bucket) in self.bounds.iter().zip(series.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        series.sum += seconds;
        series.count += 1;
    }

    /// How many observations were recorded under these label values.
    pub fn count(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key).map_or(0, |s| s.count)
    }

    /// Renders the family (cumulative buckets, `+Inf`, `_sum`, `_count`).
    pub fn render(&self, out: &mut String) {
        write_header(out, self.name, "histogram", self.help);
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let bucket_name = format!("{}_bucket", self.name);
        let sum_name = format!("{}_sum", self.name);
        let count_name = format!("{}_count", self.name);
        for (values, series) in map.iter() {
            let labels: Vec<(&str, &str)> = self
                .labels
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            for (bound, bucket) in self.bounds.iter().zip(&series.buckets) {
                let le = bound.to_string();
                let mut with_le = labels.clone();
                with_le.push(("le", &le));
                write_sample(out, &bucket_name, &with_le, bucket);
            }
            let mut with_le = labels.clone();
            with_le.push(("le", "+Inf"));
            write_sample(out, &bucket_name, &with_le, series.count);
            write_sample(out, &sum_name, &labels, series.sum);
            write_sample(out, &count_name, &labels, series.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_labels_in_family_order() {
        let c = CounterVec::new("t_total", "Test.", &["direction", "kind"]);
        c.inc(&["to_matrix", "text"]);
        c.add(&["to_matrix", "text"], 2);
        c.inc(&["to_network", "image"]);
        assert_eq!(c.get(&["to_matrix", "text"]), 3);
        assert_eq!(c.get(&["to_network", "text"]), 0);
        let mut out = String::new();
        c.render(&mut out);
        assert!(out.contains("# TYPE t_total counter\n"));
        assert!(out.contains("t_total{direction=\"to_matrix\",kind=\"text\"} 3\n"));
        assert!(out.contains("t_total{direction=\"to_network\",kind=\"image\"} 1\n"));
    }

    #[test]
    fn histograms_are_cumulative() {
        let h = HistogramVec::new("t_seconds", "Test.", &["endpoint"], &[0.01, 0.1, 1.0]);
        h.observe(&["send"], Duration::from_millis(5));
        h.observe(&["send"], Duration::from_millis(50));
        h.observe(&["send"], Duration::from_secs(5));
        assert_eq!(h.count(&["send"]), 3);
        let mut out = String::new();
        h.render(&mut out);
        assert!(out.contains("t_seconds_bucket{endpoint=\"send\",le=\"0.01\"} 1\n"));
        assert!(out.contains("t_seconds_bucket{endpoint=\"send\",le=\"0.1\"} 2\n"));
        assert!(out.contains("t_seconds_bucket{endpoint=\"send\",le=\"1\"} 2\n"));
        assert!(out.contains("t_seconds_bucket{endpoint=\"send\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("t_seconds_count{endpoint=\"send\"} 3\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        write_sample(&mut out, "m", &[("reason", "a\"b\\c\nd")], 1);
        assert_eq!(out, "m{reason=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
