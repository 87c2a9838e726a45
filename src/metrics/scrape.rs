//! Values read at scrape time (service counters kept as atomics elsewhere, state gauges,
//! store figures), gathered into a throw-away `prometheus-client` registry and rendered in the
//! Prometheus text format 0.0.4 next to the long-lived families of [`super::Metrics`].

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use super::registry::{render_registry, Labels};
use super::GaugeFamily;

/// One scrape's worth of computed values. Names follow the bridge's metric names; a counter's
/// name ends in `_total` as it appears in the output.
#[derive(Debug, Default)]
pub struct Scrape {
    registry: Registry,
}

/// `help` without its final full stop (the client library adds one).
fn help(text: &str) -> String {
    text.trim_end_matches('.').to_owned()
}

impl Scrape {
    /// A counter read from elsewhere (`name` ends in `_total`).
    pub fn counter(&mut self, name: &str, help_text: &str, value: u64) {
        let stem = name.strip_suffix("_total").unwrap_or(name);
        self.registry
            .register(stem, help(help_text), ConstCounter::new(value));
    }

    /// An unlabelled gauge. Values beyond `i64::MAX` are clamped.
    pub fn gauge(&mut self, name: &str, help_text: &str, value: u64) {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        self.registry
            .register(name, help(help_text), ConstGauge::new(value));
    }

    /// A gauge family computed by a [`super::GaugeSource`].
    pub fn gauge_family(&mut self, family: &GaugeFamily) {
        let gauges: Family<Labels, Gauge<f64, AtomicU64>> = Family::default();
        for (labels, value) in &family.samples {
            gauges.get_or_create(labels).set(*value);
        }
        self.registry
            .register(family.name, help(family.help), gauges);
    }

    /// Appends the text rendering to `out`.
    pub fn render(&self, out: &mut String) {
        render_registry(&self.registry, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_families_render() {
        let mut scrape = Scrape::default();
        scrape.counter("s_events_total", "Events.", 7);
        scrape.gauge("s_ready", "Ready.", 1);
        scrape.gauge_family(&GaugeFamily {
            name: "s_logins",
            help: "Logins by state.",
            samples: vec![
                (vec![("state", "connected".to_owned())], 2.0),
                (vec![("state", "bad_credentials".to_owned())], 0.0),
            ],
        });
        let mut out = String::new();
        scrape.render(&mut out);
        assert!(
            out.contains("# TYPE s_events_total counter\ns_events_total 7\n"),
            "{out}"
        );
        assert!(
            out.contains("# HELP s_ready Ready.\n# TYPE s_ready gauge\ns_ready 1\n"),
            "{out}"
        );
        assert!(out.contains("s_logins{state=\"connected\"} 2.0\n"), "{out}");
        assert!(
            out.contains("s_logins{state=\"bad_credentials\"} 0.0\n"),
            "{out}"
        );
    }
}
