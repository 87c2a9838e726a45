//! Media over COS, as the official SDK does it with `tim-upload-plugin` registered
//! (`@tencentcloud/chat` 3.6.6 `_uploadWithPreSigUrl`; plugin 1.4.3 `WebRequest`):
//!
//! 1. `im_cos_msg.simple_sig` over the websocket with the file's type (1 image, 2 video,
//!    3 voice, 255 file: the SDK's `_setUploadFileType`) and name gives a pre-signed
//!    `str_upload_url` and the `str_download_url` the message will carry ([`simple_sig_body`],
//!    [`parse_pre_sig`]);
//! 2. `PUT {upload_url}` with the raw bytes (the plugin's XMLHttpRequest; any 200 is success);
//! 3. for images, `im_cos_msg.get_imageinfo {str_image_url}` names the original, large and
//!    thumbnail URLs and sizes (types 3, 2, 1 there; [`parse_image_info`] turns them into
//!    the message's `ImageInfoArray`, types 1 original, 2 large, 3 thumbnail).
//!
//! Downloads are a GET of the element's URL, bounded. The sandbox serves plain HTTP on
//! loopback while the SDK writes file URLs as `https://` (its `yt()`): when the client's
//! server is `ws://` (never the real service), an `https://` URL naming the server's own
//! host and port is fetched over `http://` ([`fetch_url`]). Downloads (and their redirects)
//! never go to this machine or a private network but the client's own server ([`may_fetch`]).
//! Not done: the `authKey` the SDK appends to `rich.my-imcloud.com` / `imrich.qcloud.com`
//! download URLs (from the login's `RichMsgAuthKey`), the `cos-js-sdk` path with temporary
//! credentials (`im_cos_sign_svr.cos`), upload proxies.

use std::time::Duration;

use serde_json::{json, Value};

use super::client::Client;
use super::elem::ImageInfo;
use super::session::SendError;
use crate::config::Secret;

/// What a file is uploaded as (`uint32_file_type`, the SDK's `_setUploadFileType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// An image (`TIMImageElem`).
    Image = 1,
    /// A video (`TIMVideoFileElem`).
    Video = 2,
    /// A voice message (`TIMSoundElem`).
    Sound = 3,
    /// Any file (`TIMFileElem`).
    File = 255,
}

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A websocket call (signing, image info) failed.
    #[error(transparent)]
    Call(#[from] SendError),
    /// The HTTP upload or download failed (status, or the transport error).
    #[error("media HTTP: {0}")]
    Http(String),
    /// The file is larger than the limit given (bytes).
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// A signing reply without the URLs.
    #[error("unexpected signing reply: {0}")]
    Malformed(String),
}

/// A pre-signed upload (`rpt_pre_sig[0]` of `simple_sig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreSig {
    /// Where to `PUT` the bytes.
    pub upload_url: String,
    /// Where the file will be downloaded from (the message's URL).
    pub download_url: String,
    /// The COS object key.
    pub file_key: String,
    /// 1 when the server already has these bytes (no upload needed).
    pub exist_flag: u64,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// The download URL.
    pub url: String,
    /// For images: original, large, thumbnail (types 1, 2, 3), as `get_imageinfo` named
    /// them; empty when it did not answer (then only the download URL is known).
    pub image_info: Vec<ImageInfo>,
}

/// The `im_cos_msg.simple_sig` body for one file `file_name` of `file_type` sent by
/// `user` in a one-to-one chat (`scene` 1) or a group (2), as the SDK's
/// `_getCosPreSigUrl` fills it (`uploadMethod` 0: a browser `File`).
pub fn simple_sig_body(
    sdk_app_id: u64,
    platform: u32,
    user: &str,
    group: bool,
    file_type: FileType,
    file_name: &str,
) -> Value {
    json!({
        "uint32_upload_method": 0, "uint32_platform": platform, "uint32_sdkappid": sdk_app_id,
        "str_user_id": user, "uint32_scene": if group { 2 } else { 1 },
        "rpt_upload_object": [{"uint32_file_id": 1, "uint32_file_type": file_type as u32,
            "str_file_name": file_name}],
    })
}

/// The first pre-signed upload of a `simple_sig` reply.
pub fn parse_pre_sig(reply: &Value) -> Result<PreSig, MediaError> {
    let p = &reply["rpt_pre_sig"][0];
    let s = |k: &str| p[k].as_str().filter(|v| !v.is_empty()).map(str::to_owned);
    let (Some(upload_url), Some(download_url)) = (s("str_upload_url"), s("str_download_url"))
    else {
        return Err(MediaError::Malformed(
            "no str_upload_url / str_download_url".into(),
        ));
    };
    Ok(PreSig {
        upload_url,
        download_url,
        file_key: s("str_file_key").unwrap_or_default(),
        exist_flag: p["uint32_exist_flag"].as_u64().unwrap_or(0),
    })
}

/// The `ImageInfoArray` of a `get_imageinfo` reply, original first: its types 3 (original),
/// 2 (large), 1 (thumbnail) become 1, 2, 3 (the message's numbering). `size` is the
/// original's byte size (the reply has none).
pub fn parse_image_info(reply: &Value, size: u64) -> Vec<ImageInfo> {
    let list = reply["rpt_msg_image_info"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out: Vec<ImageInfo> = list
        .iter()
        .filter_map(|i| {
            let kind = match i["uint32_image_type"].as_u64()? {
                3 => 1,
                2 => 2,
                1 => 3,
                _ => return None,
            };
            let url = i["str_url"].as_str().filter(|u| !u.is_empty())?;
            let dim = |k: &str| i[k].as_u64().and_then(|n| u32::try_from(n).ok());
            Some(ImageInfo {
                kind,
                size: if kind == 1 { size } else { 0 },
                width: dim("uint32_width").unwrap_or(0),
                height: dim("uint32_height").unwrap_or(0),
                url: url.to_owned(),
            })
        })
        .collect();
    out.sort_by_key(|i| i.kind);
    out.dedup_by_key(|i| i.kind);
    out
}

/// The URL to GET for `url` when the client talks to `server`: `url` itself, except that on
/// a plain `ws://` server (the sandbox) an `https://` URL of the same host and port is
/// fetched as `http://` (the SDK writes file URLs as `https://` whatever the server gave).
pub fn fetch_url(server: &str, url: &str) -> String {
    if let (Some(host), Some(rest)) = (server.strip_prefix("ws://"), url.strip_prefix("https://")) {
        let host = host.split('/').next().unwrap_or(host);
        if rest.split('/').next() == Some(host) {
            return format!("http://{rest}");
        }
    }
    url.to_owned()
}

/// The `host[:port]` of the client's server URL (`ws://127.0.0.1:9/…` → `127.0.0.1:9`).
fn server_host(server: &str) -> Option<String> {
    let u = url::Url::parse(server).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// Whether a download may go to `url`: HTTP(S) only, and never to this machine or a private
/// network (an element's URL is written by the sender's client, so a crafted one could make
/// the bridge fetch an internal service and post the answer to Matrix) — except the client's
/// own server (the sandbox on loopback). Names are not resolved: a public name pointing at a
/// private address is not caught here.
pub fn may_fetch(server: &str, url: &url::Url) -> bool {
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let Some(host) = url.host() else {
        return false;
    };
    let with_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    if server_host(server).is_some_and(|s| s == with_port || s == host.to_string()) {
        return true;
    }
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d != "localhost" && !d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => {
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        url::Host::Ipv6(ip) => {
            let first = ip.segments()[0];
            !(ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local()))
        }
    }
}

/// The hosts whose media URLs the SDK signs with the login's `RichMsgAuthKey`: its built-in
/// list in `@tencentcloud/chat` 3.6.6 (`Fi`), to which it adds the cloud config's
/// `file_dn_list`.
pub const FILE_DN_LIST: [&str; 2] = ["rich.my-imcloud.com", "imrich.qcloud.com"];

/// `url` with the download key `auth_key` appended as `authKey`, as the SDK's URL fixer
/// (`l(url, fileDownloadProxy, authKey, fileDNList)` in `@tencentcloud/chat` 3.6.6) does for
/// every media URL it hands out: only when the URL's host (less a leading `N.`) contains
/// `rich-dev` or ends with one of `dn_list`, the key is not empty, and the URL has no
/// `authKey=` yet; `?authKey=` or `&authKey=` as the URL has a query or not.
pub fn with_auth_key(url: &str, auth_key: &str, dn_list: &[String]) -> String {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let host = match host.split_once('.') {
        Some((digit, rest)) if digit.len() == 1 && digit.as_bytes()[0].is_ascii_digit() => rest,
        _ => &host,
    };
    let listed = host.contains("rich-dev") || dn_list.iter().any(|d| host.ends_with(d.as_str()));
    if !listed || auth_key.is_empty() || url.contains("authKey=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}authKey={auth_key}")
}

/// What the media calls need to know about the client: who it is and where.
#[derive(Debug)]
pub(super) struct MediaContext {
    pub(super) server: String,
    pub(super) sdk_app_id: u64,
    pub(super) identifier: String,
    pub(super) platform: u32,
    /// The hosts whose downloads carry the auth key ([`with_auth_key`]).
    dn_list: Vec<String>,
    /// The last login's `RichMsgAuthKey` (empty before the first login).
    auth_key: std::sync::Mutex<Secret>,
    http: reqwest::Client,
}

impl MediaContext {
    /// Keeps the download key of the login that just succeeded (`RichMsgAuthKey`).
    pub(super) fn set_auth_key(&self, key: Secret) {
        if let Ok(mut k) = self.auth_key.lock() {
            *k = key;
        }
    }

    pub(super) fn new(
        server: &str,
        sdk_app_id: u64,
        identifier: &str,
        platform: u32,
        dn_list: Vec<String>,
    ) -> Self {
        let own = server.to_owned();
        // Redirects are followed only where a download may go in the first place.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 || !may_fetch(&own, attempt.url()) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(300))
            .redirect(redirects)
            .build()
            .unwrap_or_default();
        Self {
            server: server.to_owned(),
            sdk_app_id,
            identifier: identifier.to_owned(),
            platform,
            dn_list,
            auth_key: std::sync::Mutex::new(Secret::new("")),
            http,
        }
    }
}

fn http(e: impl std::fmt::Display) -> MediaError {
    MediaError::Http(e.to_string())
}

impl Client {
    /// Uploads `bytes` as `file_name` of `file_type` for a message in a one-to-one chat or a
    /// group: signing, `PUT`, and for images `get_imageinfo`.
    pub async fn upload(
        &self,
        group: bool,
        file_type: FileType,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<Uploaded, MediaError> {
        let ctx = self.media_context();
        let size = bytes.len() as u64;
        let body = simple_sig_body(
            ctx.sdk_app_id,
            ctx.platform,
            &ctx.identifier,
            group,
            file_type,
            file_name,
        );
        let pre = parse_pre_sig(&self.call("im_cos_msg.simple_sig", body).await?)?;
        if pre.exist_flag != 1 {
            let resp = ctx
                .http
                .put(&pre.upload_url)
                .body(bytes)
                .send()
                .await
                .map_err(http)?;
            if !resp.status().is_success() {
                return Err(MediaError::Http(format!("upload: {}", resp.status())));
            }
        }
        let mut image_info = Vec::new();
        if file_type == FileType::Image {
            // The SDK carries on without the sizes when this fails; so do we.
            let body = json!({"str_image_url": pre.download_url});
            if let Ok(reply) = self.call("im_cos_msg.get_imageinfo", body).await {
                image_info = parse_image_info(&reply, size);
            }
        }
        Ok(Uploaded {
            url: pre.download_url,
            image_info,
        })
    }

    /// The bytes at `url` (an element's URL), refused with [`MediaError::TooLarge`] once
    /// more than `max_bytes` are announced or arrive.
    pub async fn download(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, MediaError> {
        let ctx = self.media_context();
        let key = ctx
            .auth_key
            .lock()
            .map(|k| k.expose().to_owned())
            .unwrap_or_default();
        let url = fetch_url(&ctx.server, &with_auth_key(url, &key, &ctx.dn_list));
        let parsed = url::Url::parse(&url).map_err(|e| MediaError::Http(format!("{url}: {e}")))?;
        if !may_fetch(&ctx.server, &parsed) {
            return Err(MediaError::Http(format!(
                "{url} is not a public HTTP(S) address: not fetched"
            )));
        }
        let mut resp = ctx.http.get(parsed).send().await.map_err(http)?;
        if !resp.status().is_success() {
            return Err(MediaError::Http(format!("download: {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(MediaError::TooLarge(max_bytes));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(MediaError::TooLarge(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_key_goes_on_urls_of_the_listed_hosts_only_as_the_sdk_adds_it() {
        let list: Vec<String> = FILE_DN_LIST.map(str::to_owned).to_vec();
        let add = |url: &str| with_auth_key(url, "K", &list);
        assert_eq!(
            add("https://cos.ap-shanghai.myqcloud.com.rich.my-imcloud.com/a.png"),
            "https://cos.ap-shanghai.myqcloud.com.rich.my-imcloud.com/a.png?authKey=K"
        );
        assert_eq!(
            add("https://3.imrich.qcloud.com/a?x=1"),
            "https://3.imrich.qcloud.com/a?x=1&authKey=K"
        );
        assert_eq!(
            add("https://rich-dev.example.com/a"),
            "https://rich-dev.example.com/a?authKey=K"
        );
        // Not listed, already carrying a key, or no key: as it is.
        for url in [
            "https://cos.example.com/a.png",
            "https://rich.my-imcloud.com/a?authKey=old",
            "not a url",
        ] {
            assert_eq!(add(url), url);
        }
        assert_eq!(
            with_auth_key("https://rich.my-imcloud.com/a", "", &list),
            "https://rich.my-imcloud.com/a"
        );
    }

    #[test]
    fn signing_bodies_and_replies() {
        let b = simple_sig_body(1400000001, 2, "alice", true, FileType::Image, "a.png");
        assert_eq!(b["uint32_scene"], 2);
        assert_eq!(b["rpt_upload_object"][0]["uint32_file_type"], 1);
        assert_eq!(b["rpt_upload_object"][0]["str_file_name"], "a.png");
        let reply = json!({"rpt_pre_sig": [{"uint32_file_id": 1, "str_upload_url": "http://h/u",
            "str_download_url": "http://h/d", "str_file_key": "k", "uint32_exist_flag": 0}]});
        let pre = parse_pre_sig(&reply).expect("a pre-signed upload");
        assert_eq!(
            (pre.upload_url.as_str(), pre.download_url.as_str()),
            ("http://h/u", "http://h/d")
        );
        assert!(parse_pre_sig(&json!({"rpt_pre_sig": []})).is_err());
        assert!(parse_pre_sig(&json!({"rpt_pre_sig": [{"str_upload_url": 5}]})).is_err());
    }

    #[test]
    fn image_info_is_renumbered_original_first() {
        let reply = json!({"rpt_msg_image_info": [
            {"uint32_image_type": 1, "str_url": "t", "uint32_width": 1, "uint32_height": 1},
            {"uint32_image_type": 2, "str_url": "l", "uint32_width": 2, "uint32_height": 2},
            {"uint32_image_type": 3, "str_url": "o", "uint32_width": 3, "uint32_height": 4},
            {"uint32_image_type": 9, "str_url": "x"},
            {"uint32_image_type": 3, "str_url": ""},
        ]});
        let info = parse_image_info(&reply, 99);
        let urls: Vec<_> = info.iter().map(|i| (i.kind, i.url.as_str())).collect();
        assert_eq!(urls, [(1, "o"), (2, "l"), (3, "t")]);
        assert_eq!((info[0].width, info[0].height, info[0].size), (3, 4, 99));
        assert!(parse_image_info(&json!({}), 1).is_empty());
    }

    #[test]
    fn downloads_never_go_to_private_addresses_but_the_own_server() {
        let ok = |server: &str, u: &str| may_fetch(server, &url::Url::parse(u).expect("a URL"));
        let real = "wss://wss.im.qcloud.com";
        assert!(ok(real, "https://cos.ap-shanghai.myqcloud.com/a.png"));
        assert!(ok(real, "http://8.8.8.8/x"));
        for bad in [
            "http://127.0.0.1:8008/x",
            "http://localhost/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://[fd00::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "file:///etc/passwd",
            "ftp://example.org/x",
        ] {
            assert!(!ok(real, bad), "{bad}");
        }
        // The sandbox on loopback: its own address only.
        let sandbox = "ws://127.0.0.1:18090";
        assert!(ok(sandbox, "http://127.0.0.1:18090/cos/k"));
        assert!(!ok(sandbox, "http://127.0.0.1:8008/_synapse/admin"));
    }

    #[test]
    fn https_urls_of_a_plain_sandbox_are_fetched_over_http() {
        assert_eq!(
            fetch_url("ws://127.0.0.1:9", "https://127.0.0.1:9/cos/k"),
            "http://127.0.0.1:9/cos/k"
        );
        // Another host, or the real (wss) service: untouched.
        assert_eq!(
            fetch_url("ws://127.0.0.1:9", "https://cos.example/k"),
            "https://cos.example/k"
        );
        assert_eq!(
            fetch_url("wss://wss.im.qcloud.com", "https://wss.im.qcloud.com/k"),
            "https://wss.im.qcloud.com/k"
        );
    }
}
