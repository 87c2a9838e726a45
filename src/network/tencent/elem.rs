//! Message elements (`MsgBody[{MsgType, MsgContent}]`), in the REST-style keys the websocket,
//! the REST API and callbacks share (reference §A1 "Message elements"; Tencent REST docs).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `TIMTextElem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TextElem {
    pub text: String,
}

/// `TIMFaceElem`: an app-defined emoji.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceElem {
    pub index: i64,
    #[serde(default)]
    pub data: String,
}

/// `TIMLocationElem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LocationElem {
    #[serde(default)]
    pub desc: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// `TIMCustomElem`: app-defined payload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomElem {
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub ext: String,
    #[serde(default)]
    pub sound: String,
}

/// One size of an image: `Type` 1 original, 2 large, 3 thumbnail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInfo {
    #[serde(rename = "Type")]
    pub kind: u8,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(rename = "URL")]
    pub url: String,
}

/// `TIMImageElem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageElem {
    #[serde(rename = "UUID", default)]
    pub uuid: String,
    /// 1 JPG, 2 GIF, 3 PNG, 4 BMP, 255 other.
    #[serde(default)]
    pub image_format: u32,
    pub image_info_array: Vec<ImageInfo>,
}

/// `TIMSoundElem`: a voice message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SoundElem {
    pub url: String,
    #[serde(rename = "UUID", default)]
    pub uuid: String,
    #[serde(default)]
    pub size: u64,
    /// Duration in seconds.
    #[serde(default)]
    pub second: u32,
    #[serde(rename = "Download_Flag", default)]
    pub download_flag: u32,
}

/// `TIMFileElem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FileElem {
    pub url: String,
    #[serde(rename = "UUID", default)]
    pub uuid: String,
    #[serde(default)]
    pub file_size: u64,
    #[serde(default)]
    pub file_name: String,
    #[serde(rename = "Download_Flag", default)]
    pub download_flag: u32,
}

/// `TIMVideoFileElem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VideoFileElem {
    pub video_url: String,
    #[serde(rename = "VideoUUID", default)]
    pub video_uuid: String,
    #[serde(default)]
    pub video_size: u64,
    /// Duration in seconds.
    #[serde(default)]
    pub video_second: u32,
    #[serde(default)]
    pub video_format: String,
    #[serde(default)]
    pub thumb_url: String,
    #[serde(rename = "ThumbUUID", default)]
    pub thumb_uuid: String,
    #[serde(default)]
    pub thumb_size: u64,
    #[serde(default)]
    pub thumb_width: u32,
    #[serde(default)]
    pub thumb_height: u32,
    #[serde(default)]
    pub thumb_format: String,
}

/// One element of a message body. Unknown element types are kept as they came.
#[derive(Debug, Clone, PartialEq)]
pub enum Elem {
    Text(TextElem),
    Face(FaceElem),
    Location(LocationElem),
    Custom(CustomElem),
    Image(ImageElem),
    Sound(SoundElem),
    File(FileElem),
    VideoFile(VideoFileElem),
    /// Any other `MsgType` (relay, group tips, …), with its raw `MsgContent`.
    Other {
        msg_type: String,
        content: Value,
    },
}

/// The wire shape of one element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawElem {
    #[serde(rename = "MsgType")]
    pub msg_type: String,
    #[serde(rename = "MsgContent", default)]
    pub content: Value,
}

impl Elem {
    /// A text element.
    pub fn text(text: impl Into<String>) -> Self {
        Elem::Text(TextElem { text: text.into() })
    }

    /// The `MsgType` name.
    pub fn msg_type(&self) -> &str {
        match self {
            Elem::Text(_) => "TIMTextElem",
            Elem::Face(_) => "TIMFaceElem",
            Elem::Location(_) => "TIMLocationElem",
            Elem::Custom(_) => "TIMCustomElem",
            Elem::Image(_) => "TIMImageElem",
            Elem::Sound(_) => "TIMSoundElem",
            Elem::File(_) => "TIMFileElem",
            Elem::VideoFile(_) => "TIMVideoFileElem",
            Elem::Other { msg_type, .. } => msg_type,
        }
    }

    /// To the wire shape.
    pub fn to_raw(&self) -> RawElem {
        let content = match self {
            Elem::Text(e) => serde_json::to_value(e),
            Elem::Face(e) => serde_json::to_value(e),
            Elem::Location(e) => serde_json::to_value(e),
            Elem::Custom(e) => serde_json::to_value(e),
            Elem::Image(e) => serde_json::to_value(e),
            Elem::Sound(e) => serde_json::to_value(e),
            Elem::File(e) => serde_json::to_value(e),
            Elem::VideoFile(e) => serde_json::to_value(e),
            Elem::Other { content, .. } => Ok(content.clone()),
        };
        RawElem {
            msg_type: self.msg_type().to_owned(),
            content: content.unwrap_or(Value::Null),
        }
    }

    /// From the wire shape. A known type whose content does not fit is an error.
    pub fn from_raw(raw: &RawElem) -> Result<Self, serde_json::Error> {
        let c = raw.content.clone();
        Ok(match raw.msg_type.as_str() {
            "TIMTextElem" => Elem::Text(serde_json::from_value(c)?),
            "TIMFaceElem" => Elem::Face(serde_json::from_value(c)?),
            "TIMLocationElem" => Elem::Location(serde_json::from_value(c)?),
            "TIMCustomElem" => Elem::Custom(serde_json::from_value(c)?),
            "TIMImageElem" => Elem::Image(serde_json::from_value(c)?),
            "TIMSoundElem" => Elem::Sound(serde_json::from_value(c)?),
            "TIMFileElem" => Elem::File(serde_json::from_value(c)?),
            "TIMVideoFileElem" => Elem::VideoFile(serde_json::from_value(c)?),
            other => Elem::Other {
                msg_type: other.to_owned(),
                content: c,
            },
        })
    }
}

/// Encodes a body as the `MsgBody` array.
pub fn to_msg_body(elems: &[Elem]) -> Value {
    Value::Array(
        elems
            .iter()
            .map(|e| serde_json::to_value(e.to_raw()).unwrap_or(Value::Null))
            .collect(),
    )
}

/// Decodes a `MsgBody` array; elements that do not parse are skipped (and counted).
pub fn from_msg_body(body: &Value) -> (Vec<Elem>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for v in body.as_array().map(Vec::as_slice).unwrap_or_default() {
        match serde_json::from_value::<RawElem>(v.clone())
            .ok()
            .and_then(|raw| Elem::from_raw(&raw).ok())
        {
            Some(e) => out.push(e),
            None => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rest_shapes_round_trip() {
        let body = json!([
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "smile"}},
            {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "here", "Latitude": 1.5, "Longitude": 2.5}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Desc": "", "Ext": "", "Sound": ""}},
            {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": [
                {"Type": 1, "Size": 10, "Width": 2, "Height": 3, "URL": "http://x/1"}]}},
            {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "http://x/s", "UUID": "s", "Size": 5, "Second": 2, "Download_Flag": 2}},
            {"MsgType": "TIMFileElem", "MsgContent": {"Url": "http://x/f", "UUID": "f", "FileSize": 9, "FileName": "a.txt", "Download_Flag": 2}},
            {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t"}},
        ]);
        let (elems, bad) = from_msg_body(&body);
        assert_eq!(bad, 0);
        assert_eq!(elems[0], Elem::text("hi"));
        assert!(matches!(&elems[4], Elem::Image(i) if i.image_info_array[0].url == "http://x/1"));
        assert!(matches!(&elems[7], Elem::Other { msg_type, .. } if msg_type == "TIMRelayElem"));
        assert_eq!(to_msg_body(&elems), body);
    }

    #[test]
    fn bad_elements_are_skipped() {
        let (elems, bad) =
            from_msg_body(&json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}, 3]));
        assert!(elems.is_empty());
        assert_eq!(bad, 2);
    }
}
