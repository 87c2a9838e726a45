//! The core's state gauges, computed at scrape time ([`GaugeSource`] for the `/metrics`
//! endpoint): logins by connection state, IM connections up, and the depth of every queue
//! (portal queues in memory, the Matrix inbox and the logins' remote inboxes on disk).

use async_trait::async_trait;

use super::connector::LoginState;
use super::{Bridge, MATRIX_INBOX};
use crate::metrics::{GaugeFamily, GaugeSource};

#[async_trait]
impl GaugeSource for Bridge {
    async fn gauges(&self) -> Vec<GaugeFamily> {
        let ctx = &self.ctx;
        let logins: Vec<_> = ctx.logins.read().await.values().cloned().collect();
        let mut by_state = [0u64; LoginState::KINDS.len()];
        let mut remote_inbox = 0usize;
        for login in &logins {
            let kind = login.state().await.kind();
            if let Some(i) = LoginState::KINDS.iter().position(|k| *k == kind) {
                by_state[i] += 1;
            }
            remote_inbox += ctx.store.pending_count(&login.queue()).await;
        }
        let (queues, portal_depth, portal_max) = ctx.portals.depths().await;
        let matrix_inbox = ctx.store.pending_count(MATRIX_INBOX).await;
        let label = |k: &'static str, v: &str| vec![(k, v.to_owned())];
        vec![
            GaugeFamily {
                name: "imbridge_logins",
                help: "Active logins by connection state.",
                samples: LoginState::KINDS
                    .iter()
                    .zip(by_state)
                    .map(|(s, n)| (label("state", s), n as f64))
                    .collect(),
            },
            GaugeFamily::single(
                "imbridge_im_connections",
                "IM sessions currently connected.",
                by_state[1] as f64,
            ),
            GaugeFamily::single(
                "imbridge_presence_subscriptions",
                "IM presence subscriptions the logins hold (within the IM service's limit).",
                ctx.presence.subscriptions().await as f64,
            ),
            GaugeFamily::single(
                "imbridge_portal_queues",
                "Portal queues (one per active portal).",
                queues as f64,
            ),
            GaugeFamily {
                name: "imbridge_queue_depth",
                help: "Items waiting: in all portal queues (portal), in the fullest one (portal_max), in the durable Matrix inbox (matrix_inbox) and in the logins' durable remote inboxes (remote_inbox).",
                samples: vec![
                    (label("queue", "portal"), portal_depth as f64),
                    (label("queue", "portal_max"), portal_max as f64),
                    (label("queue", "matrix_inbox"), matrix_inbox as f64),
                    (label("queue", "remote_inbox"), remote_inbox as f64),
                ],
            },
        ]
    }
}
