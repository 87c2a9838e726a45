//! The verdict: after the last fault, wait (bounded) until everything sent arrived or nothing
//! new arrives for a while; then per chat and way, from what the receiving side holds (the
//! portal's timeline, the peer's inbox): bridged (distinct numbers), lost, duplicated
//! (arrivals beyond the first), out of order (arrivals with a number below one already seen),
//! and refused: Matrix → IM messages of the login whose token expired that never arrived
//! and that the bridge answered with "⚠️ Your message was not delivered" in the portal
//! (it handled them while that login was out; at most one per such notice). Also apart:
//! "not pushed", Matrix → IM messages the homeserver accepted at most 10 s before its restart
//! (or while it was stopping) and never delivered to the bridge (the bridge's log, which records every Matrix event it
//! takes in, never names them): Synapse keeps events for an appservice that arrive while a
//! transaction is in flight only in memory, and a restart drops them
//! (element-hq/synapse#11637). And "doubled by the homeserver": IM → Matrix messages
//! Synapse stored twice under the same transaction id of the bridge (see
//! `Rig::homeserver_doubled`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::faults::{Outage, Timeline};
use crate::side::{Rig, I2M, M2I};
use crate::traffic::{chat_number, Chat, Sent, Way};

/// The start of the bridge's notice for a Matrix message it could not send.
pub const NOT_DELIVERED: &str = "Your message was not delivered";

/// Numbers that arrived, in arrival order, per (chat, way).
pub type Arrivals = HashMap<(Chat, Way), Vec<u64>>;

/// `"<prefix> c<chat> n<number>"` → (chat number, number).
fn parse(body: &str, prefix: &str) -> Option<(usize, u64)> {
    let mut words = body.strip_prefix(prefix)?.split_whitespace();
    let c = words.next()?.strip_prefix('c')?.parse().ok()?;
    let n = words.next()?.strip_prefix('n')?.parse().ok()?;
    Some((c, n))
}

/// What arrived so far on both receiving sides (a message in the wrong chat counts nowhere).
pub async fn arrivals(rig: &Rig) -> Arrivals {
    let mut out = Arrivals::new();
    for (chat, bodies) in rig.matrix_received().await {
        let c = chat_number(chat, rig.peer_count);
        let numbers = bodies.iter().filter_map(|b| parse(b, I2M));
        let list = out.entry((chat, Way::ToMatrix)).or_default();
        list.extend(numbers.filter(|(bc, _)| *bc == c).map(|(_, n)| n));
    }
    for r in rig.im_received() {
        let Some(i) = rig.logins.iter().position(|l| *l == r.from) else {
            continue;
        };
        let chat = (i, r.peer);
        match parse(&r.text, M2I) {
            Some((c, n)) if c == chat_number(chat, rig.peer_count) => {
                out.entry((chat, Way::ToIm)).or_default().push(n)
            }
            _ => {}
        }
    }
    out
}

fn distinct(a: &Arrivals) -> usize {
    a.values()
        .map(|v| v.iter().collect::<HashSet<_>>().len())
        .sum()
}

/// Waits until every sent message arrived or was refused (see the module docs), or nothing
/// new arrived for `quiet`, or `limit` passed.
pub async fn settle(
    rig: &Rig,
    sent: &Sent,
    outages: &[Outage],
    limit: Duration,
    quiet: Duration,
    t0: Instant,
) -> Arrivals {
    let deadline = Instant::now() + limit;
    let mut last = (0, Instant::now());
    loop {
        let got = arrivals(rig).await;
        let n = distinct(&got);
        let refused: usize = rig
            .portal_notices()
            .await
            .iter()
            .filter(|(chat, _)| outages.iter().any(|o| o.login == chat.0))
            .map(|(_, list)| list.iter().filter(|t| t.contains(NOT_DELIVERED)).count())
            .sum();
        if n != last.0 {
            last = (n, Instant::now());
        }
        let done = n + refused >= sent.total();
        if done || Instant::now() > deadline || last.1.elapsed() > quiet {
            say!(
                t0,
                "settled: {n} of {} arrived, {refused} refused",
                sent.total()
            );
            return got;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// One (chat, way)'s figures.
#[derive(Default, Clone)]
struct Figures {
    sent: usize,
    bridged: usize,
    refused: usize,
    /// Never pushed to the bridge by the homeserver (see the module docs).
    unpushed: usize,
    /// Stored twice by the homeserver under one transaction id (see the module docs).
    hs_doubled: usize,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
    /// The lost numbers and when they were sent.
    lost_list: Vec<(u64, Instant)>,
}

impl Figures {
    /// `refusals`: the bridge's "not delivered" notices in the chat, when they count;
    /// `unpushed`: whether a number never reached the bridge from the homeserver.
    fn of(
        sent: &[(u64, Instant)],
        got: &[u64],
        refusals: usize,
        unpushed: impl Fn(u64) -> bool,
        hs_doubled: impl Fn(u64) -> bool,
    ) -> Self {
        let mut seen = HashSet::new();
        let (mut duplicated, mut doubled, mut out_of_order, mut max) = (0, 0, 0, 0);
        for n in got {
            if !seen.insert(*n) {
                if hs_doubled(*n) {
                    doubled += 1;
                } else {
                    duplicated += 1;
                }
                continue;
            }
            if *n < max {
                out_of_order += 1;
            }
            max = max.max(*n);
        }
        let missing: Vec<(u64, Instant)> = sent
            .iter()
            .filter(|(n, _)| !seen.contains(n))
            .copied()
            .collect();
        let (not_pushed, missing): (Vec<_>, Vec<_>) =
            missing.into_iter().partition(|(n, _)| unpushed(*n));
        let refused = missing.len().min(refusals);
        // Which ones were refused is not said; the last ones are listed as lost.
        let lost_list = missing[refused..].to_vec();
        let lost = lost_list.len();
        let sent_numbers: HashSet<u64> = sent.iter().map(|(n, _)| *n).collect();
        Self {
            sent: sent.len(),
            bridged: seen.iter().filter(|n| sent_numbers.contains(n)).count(),
            refused,
            unpushed: not_pushed.len(),
            hs_doubled: doubled,
            lost,
            duplicated,
            out_of_order,
            lost_list,
        }
    }

    fn add(&mut self, o: &Figures) {
        self.sent += o.sent;
        self.bridged += o.bridged;
        self.refused += o.refused;
        self.unpushed += o.unpushed;
        self.hs_doubled += o.hs_doubled;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.out_of_order += o.out_of_order;
    }
}

/// The per-chat table and the totals.
pub struct Report {
    rows: Vec<(String, Figures, Figures)>,
    total: Figures,
    failed_sends: usize,
    /// When the first message was sent (lost messages are listed relative to it).
    start: Option<Instant>,
}

impl Report {
    pub fn new(
        rig: &Rig,
        sent: &Sent,
        got: &Arrivals,
        timeline: &Timeline,
        notices: &HashMap<Chat, Vec<String>>,
    ) -> Self {
        let outages = &timeline.outages;
        let doubled_bodies = rig.homeserver_doubled();
        let log = std::fs::read_to_string(&rig.log).unwrap_or_default();
        let unpushed = |chat: Chat, n: u64| {
            let Some((id, accepted)) = sent.events.get(&(chat, n)) else {
                return false;
            };
            let before_restart = timeline.homeserver_restarts.iter().any(|(began, back)| {
                *accepted <= *back && began.saturating_duration_since(*accepted).as_secs() < 10
            });
            before_restart && !id.is_empty() && !log.contains(&format!("\"{id}\""))
        };
        let mut chats: Vec<Chat> = rig.portals.keys().copied().collect();
        chats.sort();
        let mut rows = Vec::new();
        let mut total = Figures::default();
        for chat in chats {
            let figures = |way: Way| {
                let s = sent.streams.get(&(chat, way)).map(Vec::as_slice);
                let g = got.get(&(chat, way)).map(Vec::as_slice);
                // Only Matrix → IM messages of a login that was out can be refused.
                let out = way == Way::ToIm && outages.iter().any(|o| o.login == chat.0);
                let refusals = match notices.get(&chat) {
                    Some(list) if out => list.iter().filter(|n| n.contains(NOT_DELIVERED)).count(),
                    _ => 0,
                };
                let unpushed = |n| way == Way::ToIm && unpushed(chat, n);
                let c = chat_number(chat, rig.peer_count);
                let doubled = |n| {
                    way == Way::ToMatrix && doubled_bodies.contains(&format!("{I2M} c{c} n{n}"))
                };
                Figures::of(
                    s.unwrap_or_default(),
                    g.unwrap_or_default(),
                    refusals,
                    unpushed,
                    doubled,
                )
            };
            let (to_matrix, to_im) = (figures(Way::ToMatrix), figures(Way::ToIm));
            total.add(&to_matrix);
            total.add(&to_im);
            let name = format!("{} ↔ p{}", rig.logins[chat.0], chat.1);
            rows.push((name, to_matrix, to_im));
        }
        let start = sent.streams.values().flatten().map(|(_, at)| *at).min();
        Self {
            rows,
            total,
            failed_sends: sent.failed,
            start,
        }
    }

    /// No message lost, duplicated or out of order.
    pub fn clean(&self) -> bool {
        self.total.lost == 0 && self.total.duplicated == 0 && self.total.out_of_order == 0
    }

    /// `chaos: sent N, lost L, duplicated D, out of order O`.
    pub fn closing_line(&self) -> String {
        let t = &self.total;
        format!(
            "chaos: sent {}, lost {}, duplicated {}, out of order {}",
            t.sent, t.lost, t.duplicated, t.out_of_order
        )
    }

    pub fn print(&self) {
        println!(
            "| chat | IM→Matrix sent | bridged | lost | dup | out of order | Matrix→IM sent | bridged | refused | not pushed | lost | dup | out of order |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (name, a, b) in &self.rows {
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                a.sent,
                a.bridged,
                a.lost,
                a.duplicated,
                a.out_of_order,
                b.sent,
                b.bridged,
                b.refused,
                b.unpushed,
                b.lost,
                b.duplicated,
                b.out_of_order
            );
        }
        for (name, a, b) in &self.rows {
            for (way, f) in [("IM → Matrix", a), ("Matrix → IM", b)] {
                for (n, at) in &f.lost_list {
                    let since = self
                        .start
                        .map(|s| at.saturating_duration_since(s).as_secs_f64())
                        .unwrap_or_default();
                    println!("lost: {name} {way} n{n}, sent {since:.2} s into the run");
                }
            }
        }
        let t = &self.total;
        println!(
            "total: sent {}, bridged {}, doubled by the homeserver {} (IM → Matrix stored twice \
             by Synapse under one transaction id of the bridge, retried across its restart), \
             not pushed by the homeserver {} (accepted just before \
             its restart, never delivered to the bridge: element-hq/synapse#11637), refused {} \
             (Matrix → IM of the login whose token \
             expired, handled while it was out and answered with a \"not delivered\" notice: \
             counted apart, not as lost), sends refused by the sending side {}",
            t.sent, t.bridged, t.hs_doubled, t.unpushed, t.refused, self.failed_sends
        );
        println!("{}", self.closing_line());
    }
}

/// The bridge's notices in portals, counted by text (numbers and ids vary little here).
pub fn print_notices(notices: &HashMap<Chat, Vec<String>>) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for n in notices.values().flatten() {
        *counts.entry(n.as_str()).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    for (text, n) in counts {
        println!("notice in portals ×{n}: {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(numbers: std::ops::RangeInclusive<u64>) -> Vec<(u64, Instant)> {
        let now = Instant::now();
        numbers.map(|n| (n, now)).collect()
    }

    #[test]
    fn counts_lost_duplicated_and_out_of_order() {
        // 4 never came, 3 came twice, 2 came after 3.
        let f = Figures::of(&sent(1..=5), &[1, 3, 2, 3, 5], 0, |_| false, |_| false);
        assert_eq!(
            (f.sent, f.bridged, f.lost, f.duplicated, f.out_of_order),
            (5, 4, 1, 1, 1)
        );
        assert_eq!(f.lost_list.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn refused_unpushed_and_doubled_are_counted_apart() {
        // 2 and 4 missing: 4 never reached the bridge, 2 was refused (one notice); 5 was
        // stored twice by the homeserver.
        let f = Figures::of(&sent(1..=5), &[1, 3, 5, 5], 1, |n| n == 4, |n| n == 5);
        assert_eq!((f.refused, f.unpushed, f.lost), (1, 1, 0));
        assert_eq!((f.duplicated, f.hs_doubled), (0, 1));
        // More missing than notices: the rest is lost.
        let f = Figures::of(&sent(1..=3), &[], 1, |_| false, |_| false);
        assert_eq!((f.refused, f.lost), (1, 2));
    }

    #[test]
    fn parses_bodies() {
        assert_eq!(parse("chaos i2m c12 n7", I2M), Some((12, 7)));
        assert_eq!(parse("chaos m2i c1 n2", I2M), None);
        assert_eq!(parse("chaos i2m c1", I2M), None);
    }
}
