//! A small Prometheus text-format (0.0.4) parser for tests that scrape `/metrics`: samples by
//! `name{labels}` with labels sorted, so lookups do not depend on label order.

use std::collections::BTreeMap;

/// A Prometheus text scrape: the samples by `name{labels}` (labels sorted by name) and the
/// text itself, printed whenever a lookup fails.
pub struct Scrape {
    pub text: String,
    pub samples: BTreeMap<String, f64>,
}

/// Splits `name{labels}` into the name and its labels sorted by label name, `{...}` included
/// (empty without labels). Label values may hold `,`, `}`, `=`, spaces and `\"` escapes.
pub fn split_series(series: &str) -> Option<(String, String)> {
    let Some(open) = series.find('{') else {
        return Some((series.trim().to_owned(), String::new()));
    };
    let name = series[..open].trim().to_owned();
    let inner = series[open + 1..].trim_end().strip_suffix('}')?;
    let mut labels = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_owned();
        let after = rest[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push('\\');
                        value.push(e);
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((key, value));
        rest = after[end? + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    labels.sort();
    if labels.is_empty() {
        return Some((name, String::new()));
    }
    let joined: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    Some((name, format!("{{{}}}", joined.join(","))))
}

/// The end of the `{...}` part of a sample line starting at `open` (quotes respected).
pub fn labels_end(line: &str, open: usize) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in line[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => return Some(open + i),
            _ => {}
        }
    }
    None
}

pub fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        v => v.parse().ok(),
    }
}

/// Parses the Prometheus text format: `# HELP` / `# TYPE` and other comments are skipped,
/// every sample (histogram `_bucket{le=..}`, `_sum` and `_count` series too) becomes
/// `name{labels} → value`; an optional timestamp after the value is ignored.
pub fn parse_prometheus(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first_space = line.find(char::is_whitespace).unwrap_or(line.len());
        let (series, rest) = match line.find('{') {
            Some(open) if open < first_space => {
                let close =
                    labels_end(line, open).ok_or_else(|| format!("line {}: {line}", n + 1))?;
                (&line[..=close], &line[close + 1..])
            }
            _ => (&line[..first_space], &line[first_space..]),
        };
        let (name, labels) =
            split_series(series).ok_or_else(|| format!("line {}: bad labels: {line}", n + 1))?;
        let value = rest
            .split_whitespace()
            .next()
            .and_then(parse_value)
            .ok_or_else(|| format!("line {}: bad value: {line}", n + 1))?;
        out.insert(format!("{name}{labels}"), value);
    }
    Ok(out)
}

impl Scrape {
    pub fn parse(text: String) -> Self {
        let samples = parse_prometheus(&text)
            .unwrap_or_else(|e| panic!("unparsable /metrics ({e}):\n{text}"));
        Self { text, samples }
    }

    /// The sample `key` (`name` or `name{label="value",...}`, labels in any order).
    pub fn value(&self, key: &str) -> Option<f64> {
        let (name, labels) = split_series(key)?;
        self.samples.get(&format!("{name}{labels}")).copied()
    }

    /// Like [`Scrape::value`], but a missing sample fails the test with the whole scrape.
    pub fn get(&self, key: &str) -> f64 {
        self.value(key).unwrap_or_else(|| {
            panic!(
                "metric {key} missing from /metrics; the whole scrape:\n{}",
                self.text
            )
        })
    }

    /// The sum of every series named `name` (any labels); `None` when there is none.
    pub fn sum(&self, name: &str) -> Option<f64> {
        let mut found = None;
        for (key, v) in &self.samples {
            let series_name = key.split('{').next().unwrap_or_default();
            if series_name == name {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }
}

/// The health and metrics listener of a running bridge.
pub struct MetricsClient {
    base: String,
    http: reqwest::Client,
}

impl MetricsClient {
    /// A client of the listener on `127.0.0.1:port`.
    pub fn new(port: u16) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("http client"),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// [`MetricsClient::get`], with a listener that is not up (yet) as an error.
    pub async fn try_get(&self, path: &str) -> Result<(u16, String), reqwest::Error> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    pub async fn scrape(&self) -> Scrape {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200, "/metrics: {text}");
        Scrape::parse(text)
    }
}
