//! Labelled counter and histogram families over the Prometheus project's Rust client
//! (`prometheus-client`), and their rendering in the Prometheus text format 0.0.4. The
//! families keep the bridge's call shape (label values as a slice in the family's label
//! order) and metric names: a counter's name ends in `_total` here and in the output, as the
//! client library appends it. All are safe to update from any task. Label values must come
//! from small fixed sets (directions, kinds, reasons, endpoint names), never from user input,
//! so the series stay few.

use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Latency buckets in seconds, from 1 ms to 30 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One series' labels: `(label name, value)` pairs in the family's label order.
pub type Labels = Vec<(&'static str, String)>;

/// The labels for `values` under `names` (extra values are ignored, missing ones absent).
fn labels(names: &'static [&'static str], values: &[&str]) -> Labels {
    names
        .iter()
        .copied()
        .zip(values.iter().map(|v| (*v).to_owned()))
        .collect()
}

/// The name and help as `prometheus-client` wants them: counters without their `_total`
/// (the library appends it) and help without its final full stop (the library adds one).
fn registration(name: &str, help: &str, counter: bool) -> (String, String) {
    let name = match name.strip_suffix("_total") {
        Some(stem) if counter => stem,
        _ => name,
    };
    (name.to_owned(), help.trim_end_matches('.').to_owned())
}

/// Renders a registry in the Prometheus text format 0.0.4, appending to `out`.
pub fn render_registry(registry: &Registry, out: &mut String) {
    // Writing into a String cannot fail; an error would only mean a malformed family, which
    // leaves a partial scrape rather than none.
    let _ = prometheus_text::encode(out, registry);
}

/// A family of counters keyed by label values.
#[derive(Debug, Clone)]
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    family: Family<Labels, Counter>,
}

impl CounterVec {
    /// A family called `name` (ending in `_total`) with these label names.
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self {
            name,
            help,
            labels,
            family: Family::default(),
        }
    }

    /// Adds one to the counter with these label values (in the family's label order).
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    /// Adds `n` to the counter with these label values.
    pub fn add(&self, values: &[&str], n: u64) {
        self.family
            .get_or_create(&labels(self.labels, values))
            .inc_by(n);
    }

    /// The counter's value for these label values (0 if never touched).
    pub fn get(&self, values: &[&str]) -> u64 {
        self.family
            .get(&labels(self.labels, values))
            .map_or(0, |c| c.get())
    }

    /// Registers the family (shared, not copied) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let (name, help) = registration(self.name, self.help, true);
        registry.register(name, help, self.family.clone());
    }

    /// Renders the family alone.
    pub fn render(&self, out: &mut String) {
        let mut registry = Registry::default();
        self.register(&mut registry);
        render_registry(&registry, out);
    }
}

/// Makes a histogram with a family's bucket bounds.
#[derive(Debug, Clone, Copy)]
pub struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A family of histograms keyed by label values, with fixed upper bounds (seconds).
#[derive(Debug, Clone)]
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    family: Family<Labels, Histogram, Buckets>,
}

impl HistogramVec {
    /// A family called `name` (in seconds) with these label names and bucket bounds.
    pub fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        Self {
            name,
            help,
            labels,
            family: Family::new_with_constructor(Buckets(bounds)),
        }
    }

    /// Records one observation of `elapsed` under these label values.
    pub fn observe(&self, values: &[&str], elapsed: Duration) {
        self.family
            .get_or_create(&labels(self.labels, values))
            .observe(elapsed.as_secs_f64());
    }

    /// Registers the family (shared, not copied) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let (name, help) = registration(self.name, self.help, false);
        registry.register(name, help, self.family.clone());
    }

    /// Renders the family alone (cumulative buckets, `+Inf`, `_sum`, `_count`).
    pub fn render(&self, out: &mut String) {
        let mut registry = Registry::default();
        self.register(&mut registry);
        render_registry(&registry, out);
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
        assert!(out.contains("# HELP t_total Test.\n"), "{out}");
        assert!(out.contains("# TYPE t_total counter\n"), "{out}");
        assert!(out.contains("t_total{direction=\"to_matrix\",kind=\"text\"} 3\n"));
        assert!(out.contains("t_total{direction=\"to_network\",kind=\"image\"} 1\n"));
    }

    #[test]
    fn an_unlabelled_counter_renders_without_braces() {
        let c = CounterVec::new("u_total", "Unlabelled.", &[]);
        c.add(&[], 0);
        let mut out = String::new();
        c.render(&mut out);
        assert!(out.contains("\nu_total 0\n"), "{out}");
    }

    #[test]
    fn histograms_are_cumulative() {
        let h = HistogramVec::new("t_seconds", "Test.", &["endpoint"], &[0.01, 0.1, 1.0]);
        h.observe(&["send"], Duration::from_millis(5));
        h.observe(&["send"], Duration::from_millis(50));
        h.observe(&["send"], Duration::from_secs(5));
        let mut out = String::new();
        h.render(&mut out);
        assert!(out.contains("# TYPE t_seconds histogram\n"), "{out}");
        assert!(
            out.contains("t_seconds_bucket{endpoint=\"send\",le=\"0.01\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("t_seconds_bucket{endpoint=\"send\",le=\"0.1\"} 2\n"));
        assert!(
            out.contains("t_seconds_bucket{endpoint=\"send\",le=\"1\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("t_seconds_bucket{endpoint=\"send\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("t_seconds_count{endpoint=\"send\"} 3\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let c = CounterVec::new("m_total", "Escapes.", &["reason"]);
        c.inc(&["a\"b\\c\nd"]);
        let mut out = String::new();
        c.render(&mut out);
        assert!(
            out.contains("m_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"),
            "{out}"
        );
    }
}
