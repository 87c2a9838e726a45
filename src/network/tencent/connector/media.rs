//! Tencent attachments both ways.
//!
//! * Tencent → core: a message with one `TIMImageElem` / `TIMSoundElem` / `TIMFileElem` /
//!   `TIMVideoFileElem` becomes [`MessageContent::Media`] (its text elements as the caption)
//!   whose [`RemoteMedia::url`] is the element's download URL (an image's original, `Type`
//!   1; a video's snapshot as its [`RemoteMedia::thumbnail`]); the core fetches the bytes through
//!   [`NetworkLogin::download`](crate::core::connector::NetworkLogin::download), a bounded GET
//!   ([`crate::network::tencent::cos`]). Sizes, image dimensions and durations (`Second`,
//!   `VideoSecond`, seconds) come from the element.
//! * core → Tencent: [`MediaAbility::upload_media`] uploads the bytes as the SDK does
//!   (`im_cos_msg.simple_sig`, `PUT`, `get_imageinfo` for images) and hands back the element
//!   to send wrapped in a URL ([`UPLOADED`]): images (JPEG, GIF, PNG, BMP, WebP: the SDK's
//!   picture types) as `TIMImageElem`, audio as `TIMSoundElem`, MP4 / QuickTime video as
//!   `TIMVideoFileElem` (its snapshot the Matrix event's thumbnail, uploaded as an image;
//!   none without one: the bridge makes no thumbnails), the rest as
//!   `TIMFileElem`; `send_message` sends it, in a one-to-one chat or a group, then the
//!   caption as a text of its own.

use async_trait::async_trait;
use rand::Rng;

use super::{send_failure, TencentLogin};
use crate::core::connector::{
    ChatId, ChatKind, MediaAbility, MediaKind, MessageContent, RemoteMedia, RemoteThumbnail,
    SendFailure,
};
use crate::network::image_header::image_size;
use crate::network::tencent::cos::{FileType, MediaError};
use crate::network::tencent::elem::{
    Elem, FileElem, ImageElem, ImageInfo, RawElem, SoundElem, VideoFileElem,
};

/// The largest attachment bridged, bytes: 20 MiB, the SDK's limit for images and voice
/// (`UPLOAD_SIZE_LIMIT`; files and videos may be 100 MiB there) and the sandbox's.
pub const MAX_MEDIA_BYTES: u64 = 20 << 20;

/// The scheme of the [`RemoteMedia::url`] [`MediaAbility::upload_media`] returns:
/// `tencent-upload:{"MsgType": …, "MsgContent": {…}}`, the element to send.
pub const UPLOADED: &str = "tencent-upload:";

/// The extension at the end of a URL's path or a UUID (`….png` → `png`), lower case.
fn extension(s: &str) -> Option<String> {
    let path = s.split(['?', '#']).next().unwrap_or(s);
    let last = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = last.rsplit_once('.')?;
    (!ext.is_empty() && ext.len() <= 5 && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| ext.to_ascii_lowercase())
}

/// The MIME type of a file extension; `None` when unknown (the core then sniffs the bytes).
fn mime_of(ext: &str) -> Option<String> {
    Some(
        match ext {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "bmp" => "image/bmp",
            "webp" => "image/webp",
            "mp3" => "audio/mpeg",
            "m4a" | "aac" => "audio/mp4",
            "amr" => "audio/amr",
            "ogg" | "opus" => "audio/ogg",
            "wav" => "audio/wav",
            "mp4" => "video/mp4",
            "mov" => "video/quicktime",
            _ => return None,
        }
        .to_owned(),
    )
}

fn named(stem: &str, ext: Option<&str>) -> String {
    match ext {
        Some(e) => format!("{stem}.{e}"),
        None => stem.to_owned(),
    }
}

fn nonzero<T: Default + PartialEq>(v: T) -> Option<T> {
    (v != T::default()).then_some(v)
}

/// The attachment an element carries; `None` for non-media elements and media elements
/// without a URL.
pub fn media_of(e: &Elem) -> Option<RemoteMedia> {
    match e {
        Elem::Image(i) => {
            let best = i
                .image_info_array
                .iter()
                .filter(|x| !x.url.is_empty())
                .min_by_key(|x| x.kind)?;
            let ext = match i.image_format {
                1 => Some("jpg".to_owned()),
                2 => Some("gif".to_owned()),
                3 => Some("png".to_owned()),
                4 => Some("bmp".to_owned()),
                _ => extension(&i.uuid).or_else(|| extension(&best.url)),
            };
            Some(RemoteMedia {
                kind: MediaKind::Image,
                url: best.url.clone(),
                name: named("image", ext.as_deref()),
                mime: ext.as_deref().and_then(mime_of),
                size: nonzero(best.size),
                width: nonzero(best.width),
                height: nonzero(best.height),
                duration_ms: None,
                thumbnail: None,
            })
        }
        Elem::Sound(s) if !s.url.is_empty() => {
            let ext = extension(&s.uuid).or_else(|| extension(&s.url));
            Some(RemoteMedia {
                kind: MediaKind::Audio,
                url: s.url.clone(),
                name: named("voice", ext.as_deref()),
                mime: ext.as_deref().and_then(mime_of),
                size: nonzero(s.size),
                width: None,
                height: None,
                duration_ms: nonzero(u64::from(s.second) * 1000),
                thumbnail: None,
            })
        }
        Elem::File(f) if !f.url.is_empty() => {
            let name = if f.file_name.trim().is_empty() {
                named("file", extension(&f.url).as_deref())
            } else {
                f.file_name.clone()
            };
            Some(RemoteMedia {
                kind: MediaKind::File,
                mime: extension(&name).as_deref().and_then(mime_of),
                url: f.url.clone(),
                name,
                size: nonzero(f.file_size),
                width: None,
                height: None,
                duration_ms: None,
                thumbnail: None,
            })
        }
        Elem::VideoFile(v) if !v.video_url.is_empty() => {
            let ext = Some(v.video_format.to_ascii_lowercase())
                .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric()))
                .or_else(|| extension(&v.video_url));
            Some(RemoteMedia {
                kind: MediaKind::Video,
                url: v.video_url.clone(),
                name: named("video", ext.as_deref()),
                mime: ext.as_deref().and_then(mime_of),
                size: nonzero(v.video_size),
                width: None,
                height: None,
                duration_ms: nonzero(u64::from(v.video_second) * 1000),
                thumbnail: (!v.thumb_url.is_empty()).then(|| RemoteThumbnail {
                    url: v.thumb_url.clone(),
                    mime: mime_of(&v.thumb_format.to_ascii_lowercase()),
                    size: nonzero(v.thumb_size),
                    width: nonzero(v.thumb_width),
                    height: nonzero(v.thumb_height),
                }),
            })
        }
        _ => None,
    }
}

/// A message's elements as one attachment with its text as the caption, when it carries
/// exactly one attachment and otherwise only text.
pub fn media_content(elems: &[Elem]) -> Option<MessageContent> {
    let mut media = None;
    let mut text = String::new();
    for e in elems {
        match e {
            Elem::Text(t) => text.push_str(&t.text),
            other => {
                let m = media_of(other)?;
                if media.replace(m).is_some() {
                    return None;
                }
            }
        }
    }
    Some(MessageContent::Media {
        media: media?,
        caption: Some(text).filter(|t| !t.trim().is_empty()),
    })
}

/// How bytes of `mime` go out: the SDK's picture types as images, audio as voice, MP4 /
/// QuickTime as video (the SDK's `Vo` list), anything else as a file.
pub fn file_type_of(mime: &str) -> FileType {
    let mime = mime.to_ascii_lowercase();
    match mime.as_str() {
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/bmp" | "image/webp" => {
            FileType::Image
        }
        "video/mp4" | "video/quicktime" => FileType::Video,
        m if m.starts_with("audio/") => FileType::Sound,
        _ => FileType::File,
    }
}

/// The element's `UUID`, in the SDK's shape (`{SDKAppID}-{userID}-{32 random}.{ext}`).
fn new_uuid(sdk_app_id: u64, user: &str, ext: Option<&str>) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let random: String = (0..32)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect();
    named(&format!("{sdk_app_id}-{user}-{random}"), ext)
}

/// The element an upload is sent as. `info` is what `get_imageinfo` said (images); when it
/// said nothing, the original alone, sized from the bytes' header.
pub fn uploaded_elem(
    file_type: FileType,
    url: String,
    info: Vec<ImageInfo>,
    uuid: String,
    name: &str,
    bytes: &[u8],
) -> Elem {
    let size = bytes.len() as u64;
    let ext = extension(name);
    match file_type {
        FileType::Image => {
            let (w, h) = image_size(bytes).unwrap_or((0, 0));
            let mut info = info;
            if info.is_empty() {
                info.push(ImageInfo {
                    kind: 1,
                    size,
                    width: w,
                    height: h,
                    url,
                });
            }
            for i in info.iter_mut().filter(|i| i.width == 0 || i.height == 0) {
                i.width = w;
                i.height = h;
            }
            let format = match crate::network::image_header::image_format(bytes) {
                Some("jpg") => 1,
                Some("gif") => 2,
                Some("png") => 3,
                Some("bmp") => 4,
                _ => 255,
            };
            Elem::Image(ImageElem {
                uuid,
                image_format: format,
                image_info_array: info,
            })
        }
        FileType::Sound => Elem::Sound(SoundElem {
            url,
            uuid,
            size,
            second: 0,
            download_flag: 2,
        }),
        FileType::Video => Elem::VideoFile(VideoFileElem {
            video_url: url,
            video_uuid: uuid,
            video_size: size,
            video_second: 0,
            video_format: ext.unwrap_or_else(|| "mp4".into()),
            thumb_url: String::new(),
            thumb_uuid: String::new(),
            thumb_size: 0,
            thumb_width: 0,
            thumb_height: 0,
            thumb_format: String::new(),
        }),
        FileType::File => Elem::File(FileElem {
            url,
            uuid,
            file_size: size,
            file_name: name.to_owned(),
            download_flag: 2,
        }),
    }
}

/// The [`UPLOADED`] URL of `elem`.
pub fn uploaded_url(elem: &Elem) -> String {
    let raw = serde_json::to_string(&elem.to_raw()).unwrap_or_default();
    format!("{UPLOADED}{raw}")
}

/// The element an [`UPLOADED`] URL names, with what the core knows of the attachment
/// (durations) filled in; `None` for any other URL.
pub fn parse_uploaded(media: &RemoteMedia) -> Option<Elem> {
    let raw: RawElem = serde_json::from_str(media.url.strip_prefix(UPLOADED)?).ok()?;
    let mut elem = Elem::from_raw(&raw).ok()?;
    let seconds = media
        .duration_ms
        .map(|ms| u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX));
    match &mut elem {
        Elem::Sound(s) => s.second = seconds.unwrap_or(s.second),
        Elem::VideoFile(v) => {
            v.video_second = seconds.unwrap_or(v.video_second);
            if let Some(thumb) = media.thumbnail.as_ref() {
                set_snapshot(v, thumb);
            }
        }
        Elem::Image(_) | Elem::File(_) => {}
        _ => return None,
    }
    Some(elem)
}

/// Fills the video's snapshot (`Thumb*`) from its thumbnail, uploaded as an image (an
/// [`UPLOADED`] URL naming a `TIMImageElem`): the original's URL, size and dimensions, the
/// image's UUID and its format as a lowercase extension (the SDK writes `"jpg"`).
fn set_snapshot(v: &mut VideoFileElem, thumb: &RemoteThumbnail) {
    let Some(raw) = thumb.url.strip_prefix(UPLOADED) else {
        return;
    };
    let Some(Elem::Image(img)) = serde_json::from_str::<RawElem>(raw)
        .ok()
        .and_then(|r| Elem::from_raw(&r).ok())
    else {
        return;
    };
    let Some(orig) = img.image_info_array.iter().min_by_key(|i| i.kind) else {
        return;
    };
    v.thumb_url = orig.url.clone();
    v.thumb_uuid = img.uuid.clone();
    v.thumb_size = orig.size;
    v.thumb_width = orig.width;
    v.thumb_height = orig.height;
    v.thumb_format = match img.image_format {
        1 => "jpg",
        2 => "gif",
        3 => "png",
        4 => "bmp",
        _ => "jpg",
    }
    .into();
}

/// A media error in words for the Matrix side.
pub fn media_failure(e: MediaError) -> SendFailure {
    match e {
        MediaError::Call(e) => send_failure(e),
        MediaError::Http(e) => SendFailure::Permanent(format!("the Tencent media server: {e}")),
        MediaError::TooLarge(max) => {
            SendFailure::Permanent(format!("the attachment is larger than {max} bytes"))
        }
        MediaError::Malformed(m) => {
            SendFailure::Permanent(format!("Tencent did not sign the upload: {m}"))
        }
    }
}

impl TencentLogin {
    /// The bytes of an attachment (its element's URL), at most `max_bytes`.
    pub(super) async fn download_media(
        &self,
        media: &RemoteMedia,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SendFailure> {
        self.client
            .download(&media.url, max_bytes.min(MAX_MEDIA_BYTES))
            .await
            .map_err(media_failure)
    }
}

#[async_trait]
impl MediaAbility for TencentLogin {
    /// Uploads `data` as the element its `mime` calls for; returns the [`UPLOADED`] URL of
    /// the element to send.
    async fn upload_media(
        &self,
        chat: &ChatId,
        data: Vec<u8>,
        name: &str,
        mime: &str,
    ) -> Result<String, SendFailure> {
        if data.len() as u64 > MAX_MEDIA_BYTES {
            return Err(media_failure(MediaError::TooLarge(MAX_MEDIA_BYTES)));
        }
        let group = matches!(chat.kind, ChatKind::Group | ChatKind::Channel);
        let file_type = file_type_of(mime);
        let uuid = new_uuid(self.sdk_app_id, &self.own, extension(name).as_deref());
        let up = self
            .client
            .upload(group, file_type, name, data.clone())
            .await
            .map_err(media_failure)?;
        let elem = uploaded_elem(file_type, up.url, up.image_info, uuid, name, &data);
        Ok(uploaded_url(&elem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::elem::from_msg_body;
    use serde_json::json;

    #[test]
    fn elements_become_attachments() {
        let (elems, _) = from_msg_body(&json!([
            {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "1-a-x.png", "ImageFormat": 3,
                "ImageInfoArray": [
                    {"Type": 3, "Size": 1, "Width": 10, "Height": 5, "URL": "http://h/t"},
                    {"Type": 1, "Size": 300, "Width": 40, "Height": 20, "URL": "http://h/o"}]}},
            {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "http://h/v.m4a", "UUID": "s",
                "Size": 9, "Second": 3, "Download_Flag": 2}},
            {"MsgType": "TIMFileElem", "MsgContent": {"Url": "http://h/f", "UUID": "f",
                "FileSize": 7, "FileName": "notes.txt", "Download_Flag": 2}},
            {"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "http://h/v",
                "VideoSize": 70, "VideoSecond": 4, "VideoFormat": "mp4"}},
        ]));
        let img = media_of(&elems[0]).expect("an image");
        assert_eq!(
            (img.kind, img.url.as_str(), img.name.as_str()),
            (MediaKind::Image, "http://h/o", "image.png")
        );
        assert_eq!(
            (img.width, img.height, img.size),
            (Some(40), Some(20), Some(300))
        );
        assert_eq!(img.mime.as_deref(), Some("image/png"));
        let voice = media_of(&elems[1]).expect("a voice");
        assert_eq!(
            (voice.kind, voice.duration_ms, voice.name.as_str()),
            (MediaKind::Audio, Some(3000), "voice.m4a")
        );
        let file = media_of(&elems[2]).expect("a file");
        assert_eq!(
            (file.kind, file.name.as_str(), file.size),
            (MediaKind::File, "notes.txt", Some(7))
        );
        let video = media_of(&elems[3]).expect("a video");
        assert_eq!(
            (video.kind, video.duration_ms, video.mime.as_deref()),
            (MediaKind::Video, Some(4000), Some("video/mp4"))
        );
        // One attachment with text: a caption; two attachments or none: not media.
        let captioned = media_content(&[Elem::text("look"), elems[0].clone()]);
        assert!(
            matches!(captioned, Some(MessageContent::Media { caption: Some(c), .. }) if c == "look")
        );
        assert!(media_content(&elems[..2]).is_none());
        assert!(media_content(&[Elem::text("x")]).is_none());
        // No URL: not an attachment.
        let (empty, _) = from_msg_body(&json!([{"MsgType": "TIMImageElem",
            "MsgContent": {"ImageInfoArray": [{"Type": 1, "URL": ""}]}}]));
        assert!(media_of(&empty[0]).is_none());
    }

    #[test]
    fn uploads_round_trip_through_their_url() {
        assert_eq!(file_type_of("image/PNG"), FileType::Image);
        assert_eq!(file_type_of("audio/ogg"), FileType::Sound);
        assert_eq!(file_type_of("video/mp4"), FileType::Video);
        assert_eq!(file_type_of("video/webm"), FileType::File);
        assert_eq!(file_type_of("application/pdf"), FileType::File);
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&3u32.to_be_bytes());
        png.extend_from_slice(&2u32.to_be_bytes());
        let elem = uploaded_elem(
            FileType::Image,
            "http://h/o".into(),
            Vec::new(),
            new_uuid(1, "alice", Some("png")),
            "a.png",
            &png,
        );
        let Elem::Image(i) = &elem else {
            panic!("an image element")
        };
        assert_eq!(i.image_format, 3);
        assert!(i.uuid.starts_with("1-alice-") && i.uuid.ends_with(".png"));
        assert_eq!(
            (i.image_info_array[0].width, i.image_info_array[0].height),
            (3, 2)
        );
        let voice = uploaded_elem(
            FileType::Sound,
            "http://h/v".into(),
            Vec::new(),
            "u".into(),
            "v.ogg",
            b"abc",
        );
        let media = RemoteMedia {
            kind: MediaKind::Audio,
            url: uploaded_url(&voice),
            name: "v.ogg".into(),
            mime: None,
            size: None,
            width: None,
            height: None,
            duration_ms: Some(2500),
            thumbnail: None,
        };
        let Some(Elem::Sound(s)) = parse_uploaded(&media) else {
            panic!("a sound element")
        };
        assert_eq!((s.second, s.size, s.url.as_str()), (3, 3, "http://h/v"));
        let other = RemoteMedia {
            url: "mxc://x/y".into(),
            ..media
        };
        assert!(parse_uploaded(&other).is_none());
    }
}
