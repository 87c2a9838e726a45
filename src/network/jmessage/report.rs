//! The JMessage IM REST Report v2 client: a user's messages of a time window, read with the
//! app's credentials (reference §B2; "IM REST Report V2", docs.jiguang.cn/jmessage/server/
//! rest_api_im_report_v2, and its source jpush/jpush-docs `zh/JMessage/docs/server/
//! rest_api_im_report_v2.md`):
//!
//! `GET {base}/v2/users/{username}/messages?count=N&begin_time=T&end_time=T` with
//! `Authorization: Basic base64(appKey:masterSecret)`, then `?cursor=C` for the next pages.
//! - `count`: at most 1000 per page; `begin_time` / `end_time`: `yyyy-MM-dd HH:mm:ss`, at
//!   most 7 days apart. The docs give no time zone; the service is in China, so the bridge
//!   writes Beijing time (UTC+8), widens every window by [`CLOCK_SLACK_MS`] either side and
//!   starts it [`ZONE_DOUBT_MS`] earlier still, so the window holds what it asks for whether
//!   the server reads the times as Beijing time or as UTC.
//! - Reply: `{total, cursor?, count, messages: [{target_type, msg_type, target_id, from_id,
//!   from_appkey, target_appkey, msg_body, create_time (s), msgid, msg_level, msg_ctime
//!   (ms)}]}`, oldest first; `cursor` while more follow (valid 120 s).
//! - Only the last 60 days are kept.
//!
//! The Web SDK has no history call, so this is how the bridge looks up what a login sent
//! (the at-most-once send of a message replayed after a crash, `connector::send`).

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::config::Secret;

/// The widest window one query may span (the docs: "不得超过7天").
pub const MAX_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;
/// Added to both ends of a window: the bridge's, the homeserver's and the service's clocks
/// may disagree, and the docs leave the time zone unsaid.
pub const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;
/// Added before a window's start: the 8 hours between Beijing time and UTC. Written in
/// Beijing time, a start this much earlier is the intended start if the server reads UTC;
/// the end, read as UTC, only comes later than intended.
pub const ZONE_DOUBT_MS: i64 = 8 * 3600 * 1000;
/// Messages per page asked for (the most the service gives).
pub const PAGE_SIZE: u32 = 1000;
/// How long one page may take.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// One message of the report, as far as the bridge reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReportedMessage {
    /// The message id (`msgid`; the same id the socket protocol uses).
    #[serde(rename = "msgid", deserialize_with = "int_or_string")]
    pub msg_id: i64,
    /// `"single"` or `"group"`.
    #[serde(default)]
    pub target_type: String,
    /// The receiver: a username, or a group's gid.
    #[serde(default, deserialize_with = "string_or_int")]
    pub target_id: String,
    /// The receiver's app (another app's user for a cross-app message).
    #[serde(default)]
    pub target_appkey: Option<String>,
    /// The sender's username.
    #[serde(default)]
    pub from_id: String,
    /// `text`, `image`, …
    #[serde(default)]
    pub msg_type: String,
    /// The body as sent (`{text, extras}` for a text).
    #[serde(default)]
    pub msg_body: Value,
    /// When the server took it, ms since the epoch.
    #[serde(default)]
    pub msg_ctime: i64,
}

impl ReportedMessage {
    /// The message's `extras[key]` when it is a string.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.msg_body.get("extras")?.get(key)?.as_str()
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    messages: Vec<ReportedMessage>,
}

/// Why a report query failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request did not get an answer (connection, timeout).
    #[error("report request failed: {0}")]
    Http(String),
    /// The service answered with an error status (`{error:{code, message}}` when it says).
    #[error("report refused: HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    /// The answer was not the documented JSON.
    #[error("report answer unreadable: {0}")]
    Malformed(String),
}

/// The Report v2 API of one app.
#[derive(Clone)]
pub struct ReportApi {
    http: reqwest::Client,
    base: String,
    /// `Basic base64(appKey:masterSecret)`, never logged.
    auth: Secret,
}

impl std::fmt::Debug for ReportApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ReportApi {
    /// The API at `base` (`https://report.im.jpush.cn`, or a sandbox's `http://host:port`;
    /// `/v2/…` is appended) for app `app_key` with its masterSecret.
    pub fn new(base: &str, app_key: &str, master_secret: &Secret) -> Self {
        let pair = format!("{app_key}:{}", master_secret.expose());
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            auth: Secret::new(auth),
        }
    }

    /// `user`'s messages (sent and received) between `begin_ms` and `end_ms` (ms since the
    /// epoch; both widened by [`CLOCK_SLACK_MS`], the start by [`ZONE_DOUBT_MS`] too, the span
    /// cut to [`MAX_WINDOW_MS`] back from the end), oldest first, reading at most `max_pages`
    /// pages of [`PAGE_SIZE`].
    pub async fn user_messages(
        &self,
        user: &str,
        begin_ms: i64,
        end_ms: i64,
        max_pages: usize,
    ) -> Result<Vec<ReportedMessage>, ReportError> {
        let end = end_ms.saturating_add(CLOCK_SLACK_MS);
        let begin = begin_ms
            .saturating_sub(CLOCK_SLACK_MS + ZONE_DOUBT_MS)
            .max(end - MAX_WINDOW_MS + 1000);
        let mut url =
            url::Url::parse(&self.base).map_err(|e| ReportError::Http(format!("base URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| ReportError::Http("base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["v2", "users", user, "messages"]);
        let url = url.to_string();
        let first = [
            ("count", PAGE_SIZE.to_string()),
            ("begin_time", beijing_time(begin)),
            ("end_time", beijing_time(end)),
        ];
        let mut out = Vec::new();
        let mut page = self.page(&url, &first).await?;
        for _ in 1..max_pages.max(1) {
            out.append(&mut page.messages);
            match page.cursor.take().filter(|c| !c.is_empty()) {
                Some(cursor) => page = self.page(&url, &[("cursor", cursor)]).await?,
                None => return Ok(out),
            }
        }
        out.append(&mut page.messages);
        Ok(out)
    }

    async fn page(&self, url: &str, query: &[(&str, String)]) -> Result<Page, ReportError> {
        let resp = self
            .http
            .get(url)
            .query(query)
            .header(reqwest::header::AUTHORIZATION, self.auth.expose())
            .timeout(PAGE_TIMEOUT)
            .send()
            .await
            .map_err(|e| ReportError::Http(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ReportError::Http(e.without_url().to_string()))?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(ReportError::Refused {
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_slice(&body).map_err(|e| ReportError::Malformed(e.to_string()))
    }
}

/// `ms` (since the epoch) as the report's `yyyy-MM-dd HH:mm:ss`, in Beijing time (UTC+8).
pub fn beijing_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let t = time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(BEIJING);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Milliseconds since the epoch of a report time `yyyy-MM-dd HH:mm:ss` in Beijing time; `None`
/// when it is not one (for the sandbox, which reads what [`beijing_time`] writes).
pub fn parse_beijing_time(s: &str) -> Option<i64> {
    let (date, clock) = s.trim().split_once(' ')?;
    let mut d = date.split('-').map(str::parse::<i64>);
    let (y, mo, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut c = clock.split(':').map(str::parse::<u8>);
    let (h, mi, sec) = (c.next()?.ok()?, c.next()?.ok()?, c.next()?.ok()?);
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let t = time::Time::from_hms(h, mi, sec).ok()?;
    let at = time::PrimitiveDateTime::new(date, t).assume_offset(BEIJING);
    Some(at.unix_timestamp() * 1000)
}

/// UTC+8.
const BEIJING: time::UtcOffset = match time::UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => time::UtcOffset::UTC,
};

fn int_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("msgid is not an integer")),
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!("msgid is {other}"))),
    }
}

fn string_or_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_times_are_beijing_time_both_ways() {
        // 2015-11-02 02:10:10 UTC is 10:10:10 in Beijing (the docs' example time).
        let ms = 1_446_430_210_000;
        assert_eq!(beijing_time(ms), "2015-11-02 10:10:10");
        assert_eq!(parse_beijing_time("2015-11-02 10:10:10"), Some(ms));
        assert_eq!(parse_beijing_time("2015-11-02T10:10:10"), None);
        assert_eq!(parse_beijing_time("2015-13-02 10:10:10"), None);
        assert_eq!(parse_beijing_time(""), None);
    }

    #[test]
    fn reads_the_documented_page() {
        // The docs' example answer (GetUserMessage).
        let page: Page = serde_json::from_str(
            r#"{"total": 3000, "cursor":"APSK234ASDKQWE", "count": 1, "messages": [
              {"target_type": "single", "msg_type": "text", "target_name": "",
               "target_id": "10010648", "from_id": "868802000386631", "from_name": "x",
               "from_type": "user", "from_platform": "a",
               "from_appkey": "4f7aef34fb361292c566a1cd", "target_appkey": "4f7aef34fb361292c566a1cd",
               "msg_body": {"text": "text", "extras": {"imbridge_txn": "mx1"}},
               "create_time": 1446016259, "version": 1, "msgid": 13242735, "msg_level": 0,
               "msg_ctime": 1466866468352}]}"#,
        )
        .expect("the documented shape");
        assert_eq!(page.cursor.as_deref(), Some("APSK234ASDKQWE"));
        let m = &page.messages[0];
        assert_eq!(m.msg_id, 13_242_735);
        assert_eq!(m.from_id, "868802000386631");
        assert_eq!(m.target_id, "10010648");
        assert_eq!(m.msg_ctime, 1_466_866_468_352);
        assert_eq!(m.extra_str("imbridge_txn"), Some("mx1"));
        assert_eq!(m.extra_str("other"), None);
    }
}
