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
/// alpha dropped). `path` only names the input in the error.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Rgb8, AgentError> {
    let format = image::guess_format(bytes).map_err(|_| {
        AgentError::input(
            path,
            "not a JPEG or PNG image (unrecognised file header); remove it from the image folder or pass --images with real photos",
        )
    })?;
    if !matches!(format, image::ImageFormat::Jpeg | image::ImageFormat::Png) {
        return Err(AgentError::input(
            path,
            format!("{format:?} images are not supported; convert it to JPEG or PNG"),
        ));
    }
    let img = image::load_from_memory_with_format(bytes, format).map_err(|e| {
        AgentError::input(
            path,
            format!("cannot decode the image ({e}); the file is damaged, replace it"),
        )
    })?;
    let rgb = img.into_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    if width == 0 || height == 0 {
        return Err(AgentError::input(path, "image has no pixels"));
    }
    Ok(Rgb8 {
        width,
        height,
        data: rgb.into_raw(),
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
}
