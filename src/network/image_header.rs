//! Image headers: the width and height of PNG, GIF and JPEG files, read from their first
//! bytes (shared by the sandboxes, which answer with an upload's dimensions, and the
//! connectors, which tell Matrix an image's size).

/// Width and height of a PNG, GIF or JPEG from its header.
pub fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() >= 24 && b.starts_with(b"\x89PNG\r\n\x1a\n") {
        let w = u32::from_be_bytes(b[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(b[20..24].try_into().ok()?);
        return Some((w, h));
    }
    if b.len() >= 10 && (b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")) {
        let w = u16::from_le_bytes([b[6], b[7]]);
        let h = u16::from_le_bytes([b[8], b[9]]);
        return Some((u32::from(w), u32::from(h)));
    }
    if b.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xFF {
                return None;
            }
            let marker = b[i + 1];
            let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
            // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC).
            if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
                let h = u16::from_be_bytes([b[i + 5], b[i + 6]]);
                let w = u16::from_be_bytes([b[i + 7], b[i + 8]]);
                return Some((u32::from(w), u32::from(h)));
            }
            i += 2 + len;
        }
    }
    None
}

/// The format of a PNG, GIF, JPEG, BMP or WebP file from its magic bytes: `png`, `gif`, `jpg`,
/// `bmp`, `webp`; `None` otherwise.
pub fn image_format(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG") {
        Some("png")
    } else if b.starts_with(b"GIF8") {
        Some("gif")
    } else if b.starts_with(&[0xFF, 0xD8]) {
        Some("jpg")
    } else if b.starts_with(b"BM") {
        Some("bmp")
    } else if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_gif_and_junk() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&3u32.to_be_bytes());
        png.extend_from_slice(&2u32.to_be_bytes());
        assert_eq!(image_size(&png), Some((3, 2)));
        assert_eq!(image_format(&png), Some("png"));
        assert_eq!(image_size(b"GIF89a\x05\0\x07\0"), Some((5, 7)));
        assert_eq!(image_size(b"nope"), None);
        assert_eq!(image_format(b"nope"), None);
        // A JPEG cut short is no panic.
        assert_eq!(image_size(&[0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8]), None);
    }
}
