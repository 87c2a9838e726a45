//! Matrix text content (`m.text`, `m.notice`, `m.emote`) → the network's text, with its
//! mentions, and `m.location` → a location: the pure half of the portal's Matrix → network
//! conversion, kept apart so that it is tested and fuzzed without a portal.

use serde_json::Value;

use super::{html_to_text, matrix_mentions, strip_reply_fallback};
use crate::core::connector::MessageContent;

/// Matrix `content` → network content; `None` for kinds this function does not convert (media:
/// the portal handles those). An `m.location` becomes a [`MessageContent::Location`] described
/// by its body; one whose `geo_uri` does not parse ([`parse_geo_uri`]) goes as a text of its
/// body and `geo_uri`, so nothing is lost. Mentions are the pills in the HTML (both `matrix.to`
/// and `matrix:u/` forms) and the users and `@room` of `m.mentions`, each mapped to a remote id
/// by `remote_of` (`None`: not a user of the network, dropped). `edit`: `content` is an edit's
/// `m.new_content` (its plain body may still carry a reply fallback).
pub fn matrix_text_content(
    content: &Value,
    edit: bool,
    remote_of: &dyn Fn(&str) -> Option<String>,
) -> Option<MessageContent> {
    let body = content["body"].as_str().unwrap_or_default();
    let (listed, room) = matrix_mentions(content);
    let text = |body: &str| -> (String, Vec<String>) {
        let (text, pills) = match (
            content["format"].as_str(),
            content["formatted_body"].as_str(),
        ) {
            (Some("org.matrix.custom.html"), Some(html)) => {
                html_to_text(html, &|mxid| remote_of(mxid).map(|r| format!("@{r}")))
            }
            _ => {
                let is_reply = edit || content["m.relates_to"]["m.in_reply_to"].is_object();
                (strip_reply_fallback(body, is_reply).to_owned(), Vec::new())
            }
        };
        let mut remotes: Vec<String> = Vec::new();
        for mxid in pills.iter().chain(listed.iter()) {
            if let Some(r) = remote_of(mxid) {
                if !remotes.contains(&r) {
                    remotes.push(r);
                }
            }
        }
        (text, remotes)
    };
    match content["msgtype"].as_str()? {
        "m.text" | "m.notice" => {
            let (body, mentions) = text(body);
            Some(MessageContent::Text {
                body,
                html: None,
                mentions,
                mentions_room: room,
            })
        }
        "m.emote" => Some(MessageContent::Emote { body: text(body).0 }),
        "m.location" => {
            let uri = content["geo_uri"].as_str().unwrap_or_default();
            Some(match parse_geo_uri(uri) {
                Some((latitude, longitude)) => MessageContent::Location {
                    latitude,
                    longitude,
                    description: body.to_owned(),
                },
                None => MessageContent::text(format!("{body} ({uri})").trim().to_owned()),
            })
        }
        _ => None,
    }
}

/// The latitude and longitude of a `geo:` URI (RFC 5870, as Matrix `m.location` carries it:
/// `geo:48.8584,2.2945`, maybe with an altitude and `;u=…` / `;crs=…` parameters), in
/// degrees; `None` unless both are finite numbers in range (±90, ±180).
pub fn parse_geo_uri(uri: &str) -> Option<(f64, f64)> {
    let rest = uri.trim().strip_prefix("geo:")?;
    let coords = rest.split(';').next()?;
    let mut parts = coords.split(',').map(|p| p.trim().parse::<f64>().ok());
    let (lat, lon) = (parts.next()??, parts.next()??);
    let ok = lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
    ok.then_some((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn locations_come_from_the_geo_uri() {
        assert_eq!(parse_geo_uri("geo:48.8584,2.2945"), Some((48.8584, 2.2945)));
        assert_eq!(
            parse_geo_uri("geo:-33.86,151.2,30;u=35;crs=wgs84"),
            Some((-33.86, 151.2))
        );
        for bad in [
            "",
            "geo:",
            "geo:91,0",
            "geo:0,181",
            "geo:NaN,1",
            "geo:1",
            "http://x",
        ] {
            assert_eq!(parse_geo_uri(bad), None, "{bad}");
        }
        let none = |_: &str| None;
        let c = json!({"msgtype": "m.location", "body": "Eiffel tower",
            "geo_uri": "geo:48.8584,2.2945;u=10"});
        assert_eq!(
            matrix_text_content(&c, false, &none),
            Some(MessageContent::Location {
                latitude: 48.8584,
                longitude: 2.2945,
                description: "Eiffel tower".into(),
            })
        );
        let c = json!({"msgtype": "m.location", "body": "somewhere", "geo_uri": "geo:x,y"});
        assert_eq!(
            matrix_text_content(&c, false, &none),
            Some(MessageContent::text("somewhere (geo:x,y)"))
        );
    }
}
