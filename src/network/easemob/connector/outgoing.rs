//! Core → Easemob: message contents and ids in the form the Easemob client sends.

use super::incoming::split_media_url;
use crate::core::connector::{MediaKind, MessageContent, RemoteMedia, SendFailure};
use crate::network::easemob::message::{Content, FileRef};

pub(super) fn parse_id(id: &str) -> Result<u64, SendFailure> {
    id.parse()
        .map_err(|_| SendFailure::Permanent(format!("not an Easemob message id: {id}")))
}

/// `MessageContent` → Easemob content. Media must have been uploaded first (its `url` is what
/// [`super::EasemobLogin`]'s upload returned); a caption is not part of it.
pub fn outgoing_content(content: &MessageContent) -> Result<Content, SendFailure> {
    Ok(match content {
        MessageContent::Text { body, .. } => Content::Text { text: body.clone() },
        MessageContent::Emote { body } => Content::Text {
            text: format!("* {body}"),
        },
        MessageContent::Location {
            latitude,
            longitude,
            description,
        } => Content::Location {
            latitude: *latitude,
            longitude: *longitude,
            address: description.clone(),
            building: String::new(),
        },
        MessageContent::Media { media, .. } => media_content(media),
        MessageContent::Notice { body } => Content::Text { text: body.clone() },
        MessageContent::Unsupported { description } => {
            return Err(SendFailure::Permanent(format!(
                "unsupported: {description}"
            )))
        }
    })
}

/// An uploaded attachment as an image, video, voice or file message.
fn media_content(media: &RemoteMedia) -> Content {
    let (url, secret) = split_media_url(&media.url);
    let file = FileRef {
        url,
        secret,
        name: media.name.clone(),
        length: media.size,
    };
    let seconds = media
        .duration_ms
        .map(|ms| i32::try_from(ms.div_ceil(1000)).unwrap_or(i32::MAX));
    match media.kind {
        MediaKind::Image => Content::Image {
            file,
            width: media.width.map(f64::from),
            height: media.height.map(f64::from),
            is_gif: media.mime.as_deref() == Some("image/gif"),
            thumbnail: None,
        },
        MediaKind::Video => Content::Video {
            file,
            duration: seconds,
            // A thumbnail uploaded through `upload_media`: its URL and secret, as the file's.
            thumbnail: media.thumbnail.as_ref().map(|t| {
                let (url, secret) = split_media_url(&t.url);
                FileRef {
                    url,
                    secret,
                    name: "thumbnail".into(),
                    length: t.size,
                }
            }),
        },
        MediaKind::Audio => Content::Voice {
            file,
            duration: seconds,
        },
        MediaKind::File => Content::File { file },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_media_becomes_the_matching_content() {
        let media = RemoteMedia {
            kind: MediaKind::Audio,
            url: super::super::incoming::media_url(&FileRef {
                url: "http://x/org/app/chatfiles/u1".into(),
                secret: "s1".into(),
                name: String::new(),
                length: None,
            }),
            name: "voice.ogg".into(),
            mime: Some("audio/ogg".into()),
            size: Some(1234),
            width: None,
            height: None,
            duration_ms: Some(2500),
            thumbnail: None,
        };
        let content = outgoing_content(&MessageContent::Media {
            media,
            caption: None,
        });
        assert_eq!(
            content.ok(),
            Some(Content::Voice {
                file: FileRef {
                    url: "http://x/org/app/chatfiles/u1".into(),
                    secret: "s1".into(),
                    name: "voice.ogg".into(),
                    length: Some(1234),
                },
                duration: Some(3),
            })
        );
    }

    #[test]
    fn a_video_thumbnail_goes_both_ways_as_a_file_ref() {
        let file = |url: &str, secret: &str, name: &str, length| FileRef {
            url: url.into(),
            secret: secret.into(),
            name: name.into(),
            length,
        };
        let video = Content::Video {
            file: file("http://x/v", "sv", "clip.mp4", Some(9)),
            duration: Some(4),
            thumbnail: Some(file("http://x/t", "st", "thumbnail", Some(3))),
        };
        let Some(MessageContent::Media { media, .. }) =
            super::super::incoming::incoming_content(&video)
        else {
            panic!("media");
        };
        let thumb = media.thumbnail.clone().expect("the thumbnail");
        assert_eq!(
            super::super::incoming::split_media_url(&thumb.url),
            ("http://x/t".to_owned(), "st".to_owned())
        );
        assert_eq!(thumb.size, Some(3));
        let back = outgoing_content(&MessageContent::Media {
            media,
            caption: None,
        });
        assert_eq!(back.ok(), Some(video));
    }
}
