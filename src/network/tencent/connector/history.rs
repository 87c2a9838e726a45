//! Backfill for Tencent ([`HistoryAbility`]): a new portal's latest messages, read as the
//! SDK's `getMessageList` reads them — C2C pages of `openim.getroammsg` before a `MsgKey`,
//! group and topic pages of `group_msg_get` below a `MsgSeq` ([`session::history`]).
//! Live rooms (AVChatRoom) keep no history: they backfill nothing.
//!
//! [`session::history`]: crate::network::tencent::session::history

use async_trait::async_trait;

use super::{fidelity, groups, send_failure, translate_message, TencentLogin};
use crate::core::connector::{ChatId, ChatKind, HistoryAbility, RemoteMessage, SendFailure};
use crate::network::tencent::session::history::{self, PAGE};
use crate::network::tencent::session::GroupMessage;

#[async_trait]
impl HistoryAbility for TencentLogin {
    /// The newest pages first until `limit` messages or the start of the conversation;
    /// typing notifications and recalled placeholders are skipped.
    async fn history(&self, chat: &ChatId, limit: u32) -> Result<Vec<RemoteMessage>, SendFailure> {
        let limit = limit as usize;
        // Bounded: at most twice the pages `limit` needs, whatever the server answers.
        let max_pages = limit.div_ceil(PAGE as usize).max(1) * 2;
        let mut out = match chat.kind {
            ChatKind::Direct => self.c2c_history(&chat.id, limit, max_pages).await?,
            ChatKind::Group => self.group_history(&chat.id, limit, max_pages).await?,
            ChatKind::Channel => return Ok(Vec::new()),
        };
        // Oldest first already (pages reversed, each in send order); the stable sort only
        // fixes what a page boundary got wrong, keeping send order within a second.
        out.sort_by_key(|m| m.timestamp_ms);
        let mut seen = std::collections::HashSet::new();
        out.retain(|m| seen.insert(m.id.clone()));
        let excess = out.len().saturating_sub(limit);
        out.drain(..excess);
        Ok(out)
    }
}

impl TencentLogin {
    /// C2C pages with `peer`, fetched newest first, returned oldest first.
    async fn c2c_history(
        &self,
        peer: &str,
        limit: usize,
        max_pages: usize,
    ) -> Result<Vec<RemoteMessage>, SendFailure> {
        let mut pages: Vec<Vec<RemoteMessage>> = Vec::new();
        let (mut count, mut key) = (0usize, String::new());
        for _ in 0..max_pages {
            let want = limit.saturating_sub(count).min(PAGE as usize) as u64;
            if want == 0 {
                break;
            }
            let reply = self
                .client
                .call(
                    history::GETROAMMSG,
                    history::c2c_page_body(peer, &key, want),
                )
                .await
                .map_err(send_failure)?;
            let (msgs, complete, next) = history::c2c_page(&reply);
            let page: Vec<RemoteMessage> = msgs
                .iter()
                .filter(|m| !m.revoked && fidelity::typing_event(&self.own, m).is_none())
                .map(|m| {
                    let mut message = translate_message(&self.own, m);
                    self.memory.received(m, &mut message);
                    message
                })
                .collect();
            count += page.len();
            pages.push(page);
            if complete || msgs.is_empty() || next.is_empty() || next == key {
                break;
            }
            key = next;
        }
        Ok(pages.into_iter().rev().flatten().collect())
    }

    /// Group (or topic) pages of `group_id`, fetched newest first, returned oldest first.
    async fn group_history(
        &self,
        group_id: &str,
        limit: usize,
        max_pages: usize,
    ) -> Result<Vec<RemoteMessage>, SendFailure> {
        let mut pages: Vec<Vec<GroupMessage>> = Vec::new();
        let (mut count, mut upper) = (0usize, None::<u64>);
        for _ in 0..max_pages {
            let want = (limit - count.min(limit)).min(PAGE as usize) as u64;
            if want == 0 {
                break;
            }
            let (cmd, body) = history::group_page_request(group_id, upper, want);
            let reply = self.client.call(&cmd, body).await.map_err(send_failure)?;
            let (msgs, lowest) = history::group_page(group_id, &reply);
            count += msgs.len();
            pages.push(msgs);
            // `MsgSeq` starts at 1: below the lowest of this page, or the start was reached.
            match lowest {
                0 | 1 => break,
                l if upper.is_some_and(|u| l > u) => break,
                l => upper = Some(l - 1),
            }
        }
        // Oldest first, so a reply's quoted message is known when the reply is read.
        Ok(pages
            .into_iter()
            .rev()
            .flatten()
            .map(|m| {
                let mut message = groups::translate_group_message(&self.own, &m);
                self.memory.received_group(&m, &mut message);
                message
            })
            .collect())
    }
}
