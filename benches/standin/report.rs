//! The result table: one row per store and phase, the targets printed beside the figures
//! (not asserted), then the homeserver requests per message by endpoint (the cheap profile).

use crate::phases::Measured;
use crate::setup::Shape;

/// One measured phase of one store.
pub struct Row {
    store: String,
    what: String,
    portals: usize,
    target: String,
    m: Measured,
}

impl Row {
    pub fn new(store: &str, what: &str, portals: usize, target: &str, m: Measured) -> Self {
        Self {
            store: store.to_owned(),
            what: what.to_owned(),
            portals,
            target: target.to_owned(),
            m,
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints the table (stdout).
pub fn print(rows: &[Row], skipped: &[String], shape: &Shape) {
    println!();
    println!(
        "stand-in homeserver benchmark: {} bridge users × {} IM peers = {} portals, echoes {}",
        shape.logins,
        shape.peers,
        shape.logins * shape.peers,
        if shape.echo { "on" } else { "off" }
    );
    println!(
        "{:<8} {:<24} {:>7} {:>11} {:>9} {:>8} {:>8} {:>9} {:>6} {:>6} {:>8} {:>6}  target",
        "store",
        "phase",
        "portals",
        "arrived",
        "msg/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/m",
        "cores",
        "others",
        "HS req/m",
        "txns"
    );
    for r in rows {
        let o = &r.m.outcome;
        println!(
            "{:<8} {:<24} {:>7} {:>11} {:>9.0} {:>8.2} {:>8.2} {:>9.0} {:>6.2} {:>6.2} {:>8.2} {:>6}  {}",
            r.store,
            r.what,
            r.portals,
            format!("{}/{}", o.arrived, o.sent),
            o.rate(),
            ms(o.percentile(0.50)),
            ms(o.percentile(0.99)),
            r.m.cpu_per_msg_us(),
            r.m.cpu.as_secs_f64() / r.m.wall.as_secs_f64().max(1e-9),
            r.m.others_cpu.as_secs_f64() / r.m.wall.as_secs_f64().max(1e-9),
            r.m.requests_per_msg(),
            r.m.txns,
            r.target
        );
    }
    for why in skipped {
        println!("{why}");
    }
    println!();
    println!(
        "homeserver requests per message, by endpoint (echoes pushed back count as transactions):"
    );
    for r in rows {
        let n = r.m.outcome.arrived.max(1) as f64;
        let mut by: Vec<(&&str, &u64)> = r.m.requests.iter().collect();
        by.sort();
        let list: Vec<String> = by
            .iter()
            .map(|(k, v)| format!("{k} {:.2}", **v as f64 / n))
            .collect();
        let mut notes = Vec::new();
        if r.m.txn_failures > 0 {
            notes.push(format!("{} failed transaction attempts", r.m.txn_failures));
        }
        if r.m.send_failures > 0 {
            notes.push(format!("{} IM sends failed", r.m.send_failures));
        }
        println!(
            "  {:<8} {:<24} × {:>3}: {}{}",
            r.store,
            r.what,
            r.portals,
            list.join(", "),
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            }
        );
    }
    println!(
        "CPU µs/m: bridge CPU (user + system, /proc/<pid>/stat) per message; cores: bridge CPU / \
         wall time; others: the sandbox's and this process's (stand-in homeserver, IM peers) \
         cores over the same time, all on the same machine."
    );
    println!(
        "latency: IM → Matrix from the peer's send to the stand-in receiving the event; Matrix → IM \
         from the event entering the stand-in's transaction queue to the peer receiving it \
         (both include the sandbox's relay); in the burst rows it is mostly queueing."
    );
}
