//! Image preprocessing shared by the CNN workloads: decoding (JPEG, PNG),
//! an OpenCV-exact bilinear resize, Ultralytics' letterbox, and tensor
//! layout (HWC u8 -> NCHW f32).
//!
//! The resize reproduces `cv2.resize(..., interpolation=cv2.INTER_LINEAR)`
//! on 8-bit images bit for bit (11-bit fixed-point weights, and the
//! INTER_AREA shortcut OpenCV takes for an exact 2x downscale), so the
//! tensors match what Ultralytics and RapidOCR feed their models.

use std::path::Path;

use crate::engine::TensorF32;
use crate::error::AgentError;

/// An 8-bit, 3-channel image in row-major HWC order (RGB unless noted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

/// Decodes a JPEG or PNG held in memory to 8-bit RGB (grey is replicated,
/// alpha dropped, 16-bit samples rounded to 8 bits). `path` only names the
/// input in the error.
///
/// The decoders are the ones the `image` crate drives (zune-jpeg, png),
/// called directly with the same settings, so the pixels are those
/// `image::load_from_memory(..).into_rgb8()` gives; the `image` crate itself
/// (and its colour-management dependencies, ~40 s of a fresh build) is not
/// compiled.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Rgb8, AgentError> {
    let decoded = match sniff(bytes) {
        Some(Container::Jpeg) => decode_jpeg(bytes),
        Some(Container::Png) => decode_png(bytes),
        Some(Container::Other(name)) => {
            return Err(AgentError::input(
                path,
                format!("{name} images are not supported; convert it to JPEG or PNG"),
            ))
        }
        None => {
            return Err(AgentError::input(
                path,
                "not a JPEG or PNG image (unrecognised file header); remove it from the image folder or pass --images with real photos",
            ))
        }
    };
    let img = decoded.map_err(|e| {
        AgentError::input(
            path,
            format!("cannot decode the image ({e}); the file is damaged, replace it"),
        )
    })?;
    if img.width == 0 || img.height == 0 {
        return Err(AgentError::input(path, "image has no pixels"));
    }
    Ok(img)
}

/// What a file's first bytes say it is.
enum Container {
    Jpeg,
    Png,
    /// A known image format the agent does not decode.
    Other(&'static str),
}

/// Recognises JPEG and PNG by their signatures, and names the other common
/// image formats so that the error can say which one it got.
fn sniff(bytes: &[u8]) -> Option<Container> {
    const OTHERS: [(&[u8], &str); 7] = [
        (b"GIF87a", "Gif"),
        (b"GIF89a", "Gif"),
        (b"BM", "Bmp"),
        (b"II*\0", "Tiff"),
        (b"MM\0*", "Tiff"),
        (b"\0\0\x01\0", "Ico"),
        (b"qoif", "Qoi"),
    ];
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Container::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Container::Png);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(Container::Other("WebP"));
    }
    OTHERS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, name)| Container::Other(name))
}

/// JPEG through zune-jpeg, asked for RGB output (grey is replicated, CMYK
/// and YCCK converted), lenient as the `image` crate makes it.
fn decode_jpeg(bytes: &[u8]) -> Result<Rgb8, String> {
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(bytes),
        options,
    );
    let data = decoder.decode().map_err(|e| e.to_string())?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| "no frame header".to_string())?;
    if data.len() != width * height * 3 {
        return Err(format!(
            "{} bytes decoded for {width}x{height} RGB pixels",
            data.len()
        ));
    }
    Ok(Rgb8 {
        width,
        height,
        data,
    })
}

/// PNG through the png crate: palettes, bit depths below 8 and tRNS
/// expanded, then grey replicated, alpha dropped and 16-bit samples rounded
/// to 8 bits as `round(v * 255 / 65535)` (what `image`'s `into_rgb8` does).
fn decode_png(bytes: &[u8]) -> Result<Rgb8, String> {
    /// The largest decoded frame accepted (the png crate's default is 64 MiB).
    const MAX_DECODED_BYTES: usize = 1 << 30;
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: MAX_DECODED_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "the image is too large".to_string())?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(frame.buffer_size());
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("palette left unexpanded".to_string()),
    };
    let samples: Vec<u8> = match frame.bit_depth {
        png::BitDepth::Eight => buf,
        png::BitDepth::Sixteen => buf
            .chunks_exact(2)
            .map(|be| ((u32::from(u16::from_be_bytes([be[0], be[1]])) + 128) / 257) as u8)
            .collect(),
        other => return Err(format!("{other:?}-bit samples left unexpanded")),
    };
    if samples.len() != width * height * channels {
        return Err(format!(
            "{} samples decoded for {width}x{height} pixels of {channels} channel(s)",
            samples.len()
        ));
    }
    let data = match channels {
        1 | 2 => samples
            .chunks_exact(channels)
            .flat_map(|px| [px[0]; 3])
            .collect(),
        3 => samples,
        _ => samples
            .chunks_exact(4)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect(),
    };
    Ok(Rgb8 {
        width,
        height,
        data,
    })
}

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// OpenCV's `saturate_cast<short>(float)`: round half to even.
fn cv_round(v: f32) -> i32 {
    v.round_ties_even() as i32
}

/// Bilinear resize of an HWC u8 image with `channels` channels, bit-exact
/// with OpenCV's `cv2.resize(src, (dst_w, dst_h), cv2.INTER_LINEAR)`.
pub fn resize_linear(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    channels: usize,
    dst_w: usize,
    dst_h: usize,
) -> Vec<u8> {
    assert_eq!(src.len(), src_w * src_h * channels, "source size mismatch");
    assert!(src_w > 0 && src_h > 0 && dst_w > 0 && dst_h > 0);
    if dst_w == src_w && dst_h == src_h {
        return src.to_vec();
    }
    let scale_x = 1.0 / (dst_w as f64 / src_w as f64);
    let scale_y = 1.0 / (dst_h as f64 / src_h as f64);
    // OpenCV turns an exact 2x downscale into INTER_AREA (2x2 average).
    if scale_x == 2.0 && scale_y == 2.0 {
        return halve(src, src_w, channels, dst_w, dst_h);
    }

    // Horizontal taps.
    let mut xofs = Vec::with_capacity(dst_w);
    let mut alpha = Vec::with_capacity(dst_w);
    for dx in 0..dst_w {
        let f = ((dx as f64 + 0.5) * scale_x - 0.5) as f32;
        let mut sx = f.floor() as i64;
        let mut fx = f - sx as f32;
        if sx < 0 {
            fx = 0.0;
            sx = 0;
        }
        if sx >= src_w as i64 - 1 {
            fx = 0.0;
            sx = src_w as i64 - 1;
        }
        xofs.push(sx as usize);
        alpha.push((cv_round((1.0 - fx) * COEF_SCALE), cv_round(fx * COEF_SCALE)));
    }
    // Vertical taps.
    let mut yofs = Vec::with_capacity(dst_h);
    for dy in 0..dst_h {
        let f = ((dy as f64 + 0.5) * scale_y - 0.5) as f32;
        let sy = f.floor() as i64;
        let fy = f - sy as f32;
        let clamp = |v: i64| v.clamp(0, src_h as i64 - 1) as usize;
        yofs.push((
            clamp(sy),
            clamp(sy + 1),
            cv_round((1.0 - fy) * COEF_SCALE),
            cv_round(fy * COEF_SCALE),
        ));
    }

    let row_len = dst_w * channels;
    let hresize = |y: usize, out: &mut Vec<i32>| {
        let row = &src[y * src_w * channels..(y + 1) * src_w * channels];
        out.clear();
        for (dx, &sx) in xofs.iter().enumerate() {
            let (a0, a1) = alpha[dx];
            let sx1 = (sx + 1).min(src_w - 1);
            for c in 0..channels {
                let p0 = i32::from(row[sx * channels + c]);
                let p1 = i32::from(row[sx1 * channels + c]);
                out.push(p0 * a0 + p1 * a1);
            }
        }
    };
    let mut dst = vec![0u8; dst_h * row_len];
    let (mut row0, mut row1) = (Vec::with_capacity(row_len), Vec::with_capacity(row_len));
    let mut cached: (usize, usize) = (usize::MAX, usize::MAX);
    for (dy, &(y0, y1, b0, b1)) in yofs.iter().enumerate() {
        if cached.0 != y0 {
            if cached.1 == y0 {
                std::mem::swap(&mut row0, &mut row1);
                cached.1 = usize::MAX;
            } else {
                hresize(y0, &mut row0);
            }
            cached.0 = y0;
        }
        if cached.1 != y1 {
            hresize(y1, &mut row1);
            cached.1 = y1;
        }
        let out = &mut dst[dy * row_len..(dy + 1) * row_len];
        for ((o, &s0), &s1) in out.iter_mut().zip(&row0).zip(&row1) {
            let v = (((b0 * (s0 >> 4)) >> 16) + ((b1 * (s1 >> 4)) >> 16) + 2) >> 2;
            *o = v.clamp(0, 255) as u8;
        }
    }
    dst
}

/// OpenCV's fast INTER_AREA path for an exact 2x downscale.
fn halve(src: &[u8], src_w: usize, channels: usize, dst_w: usize, dst_h: usize) -> Vec<u8> {
    let stride = src_w * channels;
    let mut dst = Vec::with_capacity(dst_w * dst_h * channels);
    for dy in 0..dst_h {
        let r0 = &src[2 * dy * stride..];
        let r1 = &src[(2 * dy + 1) * stride..];
        for dx in 0..dst_w {
            for c in 0..channels {
                let i = 2 * dx * channels + c;
                let sum = u32::from(r0[i])
                    + u32::from(r0[i + channels])
                    + u32::from(r1[i])
                    + u32::from(r1[i + channels]);
                dst.push(((sum + 2) >> 2) as u8);
            }
        }
    }
    dst
}

/// Geometry of a letterbox: how model-input coordinates map back to the
/// original image (`orig = (model - pad) / gain`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxGeometry {
    /// Original image width.
    pub orig_w: usize,
    /// Original image height.
    pub orig_h: usize,
    /// Horizontal scale (resized width / original width).
    pub gain_x: f32,
    /// Vertical scale (resized height / original height).
    pub gain_y: f32,
    /// Left padding in model pixels.
    pub pad_x: f32,
    /// Top padding in model pixels.
    pub pad_y: f32,
}

impl LetterboxGeometry {
    /// Maps a box (x1, y1, x2, y2) from model input pixels back to original
    /// image pixels, clipped to the image (Ultralytics `scale_boxes`).
    pub fn to_original(&self, b: [f32; 4]) -> [f32; 4] {
        let (w, h) = (self.orig_w as f32, self.orig_h as f32);
        [
            ((b[0] - self.pad_x) / self.gain_x).clamp(0.0, w),
            ((b[1] - self.pad_y) / self.gain_y).clamp(0.0, h),
            ((b[2] - self.pad_x) / self.gain_x).clamp(0.0, w),
            ((b[3] - self.pad_y) / self.gain_y).clamp(0.0, h),
        ]
    }
}

/// Python's `round()` (half to even) on an f64.
fn py_round(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// Ultralytics' `LetterBox(new_shape, auto=False, scaleup=True,
/// center=True)`: resize keeping the aspect ratio (INTER_LINEAR), pad with
/// grey 114 to `dst_w` x `dst_h`, then scale to 0..1 and lay out as a
/// 1x3xHxW RGB tensor.
pub fn letterbox(img: &Rgb8, dst_w: usize, dst_h: usize) -> (TensorF32, LetterboxGeometry) {
    let (w, h) = (img.width as f64, img.height as f64);
    let r = (dst_h as f64 / h).min(dst_w as f64 / w);
    let new_w = py_round(w * r).max(1) as usize;
    let new_h = py_round(h * r).max(1) as usize;
    let dw = (dst_w as f64 - new_w as f64) / 2.0;
    let dh = (dst_h as f64 - new_h as f64) / 2.0;
    let top = py_round(dh - 0.1).max(0) as usize;
    let left = py_round(dw - 0.1).max(0) as usize;
    let resized = resize_linear(&img.data, img.width, img.height, 3, new_w, new_h);

    let plane = dst_w * dst_h;
    let mut data = vec![114.0 / 255.0; 3 * plane];
    for y in 0..new_h.min(dst_h - top) {
        let src_row = &resized[y * new_w * 3..(y + 1) * new_w * 3];
        let base = (y + top) * dst_w + left;
        for x in 0..new_w.min(dst_w - left) {
            for c in 0..3 {
                data[c * plane + base + x] = f32::from(src_row[x * 3 + c]) / 255.0;
            }
        }
    }
    let geometry = LetterboxGeometry {
        orig_w: img.width,
        orig_h: img.height,
        gain_x: new_w as f32 / img.width as f32,
        gain_y: new_h as f32 / img.height as f32,
        pad_x: left as f32,
        pad_y: top as f32,
    };
    (
        TensorF32 {
            shape: vec![1, 3, dst_h, dst_w],
            data,
        },
        geometry,
    )
}

/// Normalises an HWC u8 image into a 1x3xHxW tensor:
/// `(pixel / 255 - mean[c]) / std[c]`, channel order as stored.
pub fn normalize_chw(
    data: &[u8],
    width: usize,
    height: usize,
    mean: [f32; 3],
    std: [f32; 3],
) -> TensorF32 {
    let plane = width * height;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, px) in data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - mean[c]) / std[c];
        }
    }
    TensorF32 {
        shape: vec![1, 3, height, width],
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_geometry_matches_ultralytics() {
        // bus.jpg is 810x1080: r = 640/1080, resized 480x640, 80 px left pad.
        let img = Rgb8 {
            width: 810,
            height: 1080,
            data: vec![200; 810 * 1080 * 3],
        };
        let (t, g) = letterbox(&img, 640, 640);
        assert_eq!(t.shape, vec![1, 3, 640, 640]);
        assert_eq!((g.pad_x, g.pad_y), (80.0, 0.0));
        assert!((t.data[0] - 114.0 / 255.0).abs() < 1e-7);
        assert!((t.data[80] - 200.0 / 255.0).abs() < 1e-7);
        assert!((t.data[80 + 480] - 114.0 / 255.0).abs() < 1e-7);
        let b = g.to_original([80.0, 0.0, 560.0, 640.0]);
        for (got, want) in b.iter().zip([0.0, 0.0, 810.0, 1080.0]) {
            assert!((got - want).abs() < 1e-3, "{b:?}");
        }
    }

    #[test]
    fn resize_matches_opencv_on_a_known_pattern() {
        // cv2.resize(np.array([[0, 100, 200, 50]], np.uint8).reshape(1, 4, 1), (7, 1))
        // -> [0, 36, 93, 150, 189, 104, 50]
        let src = [0u8, 100, 200, 50];
        let out = resize_linear(&src, 4, 1, 1, 7, 1);
        assert_eq!(out, vec![0, 36, 93, 150, 189, 104, 50]);
        // Exact 2x downscale: 2x2 averages with +2 rounding.
        let src = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(resize_linear(&src, 4, 2, 1, 2, 1), vec![4, 6]);
    }

    #[test]
    fn garbage_is_an_input_error() {
        let err = decode(b"definitely not an image", Path::new("x.jpg")).unwrap_err();
        assert_eq!(err.kind(), "input");
        assert!(err.to_string().contains("x.jpg"));
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        png.extend_from_slice(&[0; 16]);
        let err = decode(&png, Path::new("broken.png")).unwrap_err();
        assert_eq!(err.kind(), "input");
    }

    /// Encodes one PNG with the png crate.
    fn png_bytes(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        palette: Option<&[u8]>,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if let Some(palette) = palette {
            encoder.set_palette(palette.to_vec());
        }
        encoder
            .write_header()
            .unwrap()
            .write_image_data(data)
            .unwrap();
        out
    }

    #[test]
    fn png_pixels_become_8_bit_rgb_as_the_image_crate_made_them() {
        use png::{BitDepth, ColorType};
        let rgb = |bytes: Vec<u8>| decode(&bytes, Path::new("t.png")).unwrap().data;
        // Grey is replicated, alpha dropped.
        let grey = png_bytes(2, 1, ColorType::Grayscale, BitDepth::Eight, None, &[7, 200]);
        assert_eq!(rgb(grey), vec![7, 7, 7, 200, 200, 200]);
        let grey_alpha = png_bytes(
            1,
            1,
            ColorType::GrayscaleAlpha,
            BitDepth::Eight,
            None,
            &[9, 0],
        );
        assert_eq!(rgb(grey_alpha), vec![9, 9, 9]);
        let rgba = png_bytes(1, 1, ColorType::Rgba, BitDepth::Eight, None, &[1, 2, 3, 4]);
        assert_eq!(rgb(rgba), vec![1, 2, 3]);
        // 16-bit samples round: round(v * 255 / 65535).
        let wide: Vec<u8> = [0u16, 128, 129, 65535, 32896, 32639]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let rgb16 = png_bytes(2, 1, ColorType::Rgb, BitDepth::Sixteen, None, &wide);
        assert_eq!(rgb(rgb16), vec![0, 0, 1, 255, 128, 127]);
        // Palettes and 1-bit grey expand.
        let indexed = png_bytes(
            2,
            1,
            ColorType::Indexed,
            BitDepth::Eight,
            Some(&[10, 20, 30, 40, 50, 60]),
            &[1, 0],
        );
        assert_eq!(rgb(indexed), vec![40, 50, 60, 10, 20, 30]);
        let bits = png_bytes(
            3,
            1,
            ColorType::Grayscale,
            BitDepth::One,
            None,
            &[0b1010_0000],
        );
        assert_eq!(rgb(bits), vec![255, 255, 255, 0, 0, 0, 255, 255, 255]);
    }

    #[test]
    fn other_image_formats_are_named_in_the_error() {
        let cases: [(&[u8], &str); 3] = [
            (b"GIF89a\x01\x00\x01\x00", "Gif"),
            (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WebP"),
            (b"BM\x3a\x00\x00\x00", "Bmp"),
        ];
        for (bytes, name) in cases {
            let err = decode(bytes, Path::new("p.img")).unwrap_err();
            assert_eq!(err.kind(), "input");
            assert!(
                err.to_string()
                    .contains(&format!("{name} images are not supported")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_truncated_jpeg_is_an_input_error_naming_the_file() {
        let bytes = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F'];
        let err = decode(&bytes, Path::new("cut.jpg")).unwrap_err();
        assert_eq!(err.kind(), "input");
        assert!(err.to_string().contains("cut.jpg"), "{err}");
        assert!(err.to_string().contains("cannot decode"), "{err}");
    }
}
