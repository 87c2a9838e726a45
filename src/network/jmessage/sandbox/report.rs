//! The sandbox's IM REST Report v2 (the shape of `https://report.im.jpush.cn/v2`, reference
//! §B2; the client side is [`crate::network::jmessage::report`]):
//! `GET /v2/users/{username}/messages?count=N&begin_time=T&end_time=T` and then
//! `?cursor=C`, with `Authorization: Basic base64(appKey:masterSecret)`: the messages
//! `username` sent or received (single and group) that the ledger still holds, oldest first,
//! `count` (1 to 1000) per page, times `yyyy-MM-dd HH:mm:ss` in Beijing time, at most 7 days
//! apart; `{total, cursor?, count, messages:[…]}` in the documented message shape.
//!
//! What the docs leave open, chosen here: the time zone (UTC+8), the error codes (`899003`
//! bad parameter, `899002` unknown user: the server error table's "参数错误" / "用户不存在"),
//! and the cursor, which encodes the query and the position and expires after 120 s as the
//! docs say.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::state::{now_ms, Sandbox};
use crate::network::jmessage::report::{parse_beijing_time, MAX_WINDOW_MS};

/// "参数错误" (invalid parameter), as the sandbox answers it.
const BAD_PARAMETER: i64 = 899003;
/// "用户不存在" (user not exist).
const NO_SUCH_USER: i64 = 899002;
/// How long a cursor stays valid (the docs: 120 s).
const CURSOR_TTL_MS: i64 = 120_000;
/// The most messages one page gives (the docs: "一次最多1000").
const MAX_COUNT: usize = 1000;

/// The query string.
#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    count: Option<String>,
    begin_time: Option<String>,
    end_time: Option<String>,
    cursor: Option<String>,
}

/// Where a query stands: its window, page size and position.
#[derive(Debug, PartialEq)]
struct Position {
    begin_ms: i64,
    end_ms: i64,
    count: usize,
    offset: usize,
    /// When the first page was asked for (ms).
    issued_ms: i64,
}

impl Position {
    fn cursor(&self) -> String {
        let raw = format!(
            "{}|{}|{}|{}|{}",
            self.begin_ms, self.end_ms, self.count, self.offset, self.issued_ms
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    fn from_cursor(cursor: &str) -> Option<Self> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut it = raw.split('|');
        let mut next = || it.next()?.parse::<i64>().ok();
        Some(Self {
            begin_ms: next()?,
            end_ms: next()?,
            count: usize::try_from(next()?).ok()?,
            offset: usize::try_from(next()?).ok()?,
            issued_ms: next()?,
        })
    }
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The position a query asks for, or the refusal's words.
fn position_of(q: &ReportQuery, now: i64) -> Result<Position, String> {
    if let Some(cursor) = q.cursor.as_deref().filter(|c| !c.is_empty()) {
        let p = Position::from_cursor(cursor).ok_or("cursor is not valid")?;
        if now - p.issued_ms > CURSOR_TTL_MS {
            return Err("cursor expired".into());
        }
        return Ok(p);
    }
    let count: usize = q
        .count
        .as_deref()
        .ok_or("count is required")?
        .trim()
        .parse()
        .map_err(|_| "count is not a number")?;
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(format!("count must be 1 to {MAX_COUNT}"));
    }
    let time = |v: &Option<String>, name: &str| {
        v.as_deref()
            .and_then(parse_beijing_time)
            .ok_or(format!("{name} must be yyyy-MM-dd HH:mm:ss"))
    };
    let begin_ms = time(&q.begin_time, "begin_time")?;
    let end_ms = time(&q.end_time, "end_time")?;
    if end_ms < begin_ms || end_ms - begin_ms > MAX_WINDOW_MS {
        return Err("begin_time and end_time must be at most 7 days apart, in order".into());
    }
    Ok(Position {
        begin_ms,
        end_ms: end_ms + 999, // the end second is taken whole
        count,
        offset: 0,
        issued_ms: now,
    })
}

/// `GET /v2/users/{username}/messages`.
pub async fn user_messages(
    State(sandbox): State<Arc<Sandbox>>,
    Path(username): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ReportQuery>,
) -> Response {
    let Some(sandbox) = super::rest::authorized(&sandbox, &headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            super::rest::AUTH_FAILED,
            "Basic authentication failed",
        );
    };
    if !sandbox.has_user(&username) {
        return error(StatusCode::FORBIDDEN, NO_SUCH_USER, "user not exist");
    }
    let p = match position_of(&query, now_ms()) {
        Ok(p) => p,
        Err(why) => return error(StatusCode::BAD_REQUEST, BAD_PARAMETER, &why),
    };
    let all = sandbox.report_of(&username, p.begin_ms, p.end_ms);
    let page: Vec<Value> = all.iter().skip(p.offset).take(p.count).cloned().collect();
    let next = p.offset + page.len();
    let mut body = json!({"total": all.len(), "count": page.len(), "messages": page});
    if next < all.len() {
        body["cursor"] = json!(Position { offset: next, ..p }.cursor());
    }
    Json(body).into_response()
}

impl Sandbox {
    /// The ledger's messages that `user` sent or received between `begin_ms` and `end_ms`
    /// (inclusive), oldest first, in the Report v2 message shape.
    /// A cross-app message is in its sender's app's ledger, so the other apps of the
    /// federation are read too.
    pub fn report_of(&self, user: &str, begin_ms: i64, end_ms: i64) -> Vec<Value> {
        let mut hits = self.ledger_report(user, begin_ms, end_ms);
        for app in self.peer_apps() {
            let there = app.name_of(user, &self.cfg.app_key);
            hits.extend(app.ledger_report(&there, begin_ms, end_ms));
        }
        hits.sort_by_key(|(t, id, _)| (*t, *id));
        hits.into_iter().map(|(_, _, m)| m).collect()
    }

    /// This app's ledger's part of [`Sandbox::report_of`], as `(ctime_ms, msg_id, message)`.
    fn ledger_report(&self, user: &str, begin_ms: i64, end_ms: i64) -> Vec<(i64, i64, Value)> {
        let book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        book
            .sent
            .iter()
            .filter(|(_, s)| s.ctime_ms >= begin_ms && s.ctime_ms <= end_ms)
            .filter(|(_, s)| s.from == user || s.receivers.iter().any(|r| r == user))
            .filter_map(|(id, s)| {
                let c = s.content.as_ref()?;
                let m = json!({
                    "target_type": c.target_type, "msg_type": c.msg_type,
                    "target_name": c.target_name.clone().unwrap_or_default(),
                    "target_id": c.target_id, "from_id": c.from_id,
                    "from_name": c.from_name.clone().unwrap_or_default(),
                    "from_type": c.from_type.clone().unwrap_or_else(|| "user".into()),
                    "from_platform": c.from_platform,
                    "from_appkey": c.from_appkey.clone().unwrap_or_else(|| self.cfg.app_key.clone()),
                    "target_appkey": c.target_appkey.clone().unwrap_or_else(|| self.cfg.app_key.clone()),
                    "msg_body": c.msg_body, "create_time": s.ctime_ms / 1000, "version": c.version,
                    "msgid": id, "msg_level": 0, "msg_ctime": s.ctime_ms,
                });
                Some((s.ctime_ms, *id, m))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_expire() {
        let q = ReportQuery {
            count: Some("2".into()),
            begin_time: Some("2015-11-02 10:10:10".into()),
            end_time: Some("2015-11-03 10:10:10".into()),
            cursor: None,
        };
        let p = position_of(&q, 5_000).expect("a good query");
        assert_eq!(p.count, 2);
        let next = Position { offset: 2, ..p };
        let cursor = ReportQuery {
            cursor: Some(next.cursor()),
            ..ReportQuery::default()
        };
        assert_eq!(
            position_of(&cursor, 6_000),
            Ok(Position { offset: 2, ..next })
        );
        assert!(position_of(&cursor, 5_000 + CURSOR_TTL_MS + 1).is_err());
        assert!(position_of(
            &ReportQuery {
                cursor: Some("!!".into()),
                ..ReportQuery::default()
            },
            0
        )
        .is_err());
    }

    #[test]
    fn refuses_bad_windows() {
        let q = |count: &str, begin: &str, end: &str| ReportQuery {
            count: Some(count.into()),
            begin_time: Some(begin.into()),
            end_time: Some(end.into()),
            cursor: None,
        };
        assert!(position_of(&q("0", "2015-11-02 10:10:10", "2015-11-02 10:10:12"), 0).is_err());
        assert!(position_of(&q("1001", "2015-11-02 10:10:10", "2015-11-02 10:10:12"), 0).is_err());
        assert!(position_of(&q("5", "2015-11-02 10:10:10", "2015-11-12 10:10:12"), 0).is_err());
        assert!(position_of(&q("5", "2015-11-03 10:10:10", "2015-11-02 10:10:12"), 0).is_err());
        assert!(position_of(&q("5", "yesterday", "2015-11-02 10:10:12"), 0).is_err());
    }
}
