//! Bilinear resize that reproduces Pillow's `Image.resize(..., BILINEAR)` bit for bit: a
//! separable convolution whose support widens with the downscale factor, 22-bit fixed-point
//! coefficients, horizontal pass first (rounded to u8), then vertical.
//!
//! Why not a SIMD resizer: the reference pipeline (and so the golden detections) uses Pillow,
//! and YOLOX-Nano is sensitive enough that the ±1 rounding differences of other bilinear
//! implementations move borderline detections by more than the golden tolerance.

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first input index, tap count, and fixed-point weights (`ksize` each).
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the box [0, in_size).
fn coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support 1.0 * filterscale
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C casts truncate toward zero; negative values are clamped to 0 right after.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = bilinear((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..xx * ksize + n];
        for (dst, &w) in row.iter_mut().zip(&k[..n]) {
            let w = if ww != 0.0 { w / ww } else { w };
            let f = w * f64::from(1u32 << PRECISION_BITS);
            *dst = if w < 0.0 {
                (f - 0.5) as i32
            } else {
                (f + 0.5) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Coeffs {
        ksize,
        bounds,
        weights,
    }
}

#[inline]
fn clip8(v: i32) -> u8 {
    if v >= 1 << (PRECISION_BITS + 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes packed RGB `src` (`sw` x `sh`) to `dw` x `dh`.
pub fn resize_rgb(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    let half = 1i32 << (PRECISION_BITS - 1);
    let need_h = dw != sw;
    let need_v = dh != sh;
    let cv = coeffs(sh, dh);
    // Rows the vertical pass reads; the horizontal pass only produces those.
    let (y_first, y_last) = if need_v {
        let first = cv.bounds.first().map_or(0, |b| b.0);
        let last = cv.bounds.last().map_or(sh, |b| b.0 + b.1);
        (first, last)
    } else {
        (0, sh)
    };
    let tmp: std::borrow::Cow<'_, [u8]> = if need_h {
        let ch = coeffs(sw, dw);
        let mut out = vec![0u8; (y_last - y_first) * dw * 3];
        for (ty, y) in (y_first..y_last).enumerate() {
            let srow = &src[y * sw * 3..(y + 1) * sw * 3];
            let orow = &mut out[ty * dw * 3..(ty + 1) * dw * 3];
            for (xx, px) in orow.chunks_exact_mut(3).enumerate() {
                let (xmin, n) = ch.bounds[xx];
                let k = &ch.weights[xx * ch.ksize..xx * ch.ksize + n];
                let (mut s0, mut s1, mut s2) = (half, half, half);
                for (i, &w) in k.iter().enumerate() {
                    let p = &srow[(xmin + i) * 3..(xmin + i) * 3 + 3];
                    s0 += i32::from(p[0]) * w;
                    s1 += i32::from(p[1]) * w;
                    s2 += i32::from(p[2]) * w;
                }
                px.copy_from_slice(&[clip8(s0), clip8(s1), clip8(s2)]);
            }
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(&src[y_first * sw * 3..y_last * sw * 3])
    };
    if !need_v {
        return tmp.into_owned();
    }
    let w3 = dw * 3;
    let mut out = vec![0u8; dh * w3];
    let mut acc = vec![0i32; w3];
    for (yy, orow) in out.chunks_exact_mut(w3).enumerate() {
        let (ymin, n) = cv.bounds[yy];
        let ymin = ymin - y_first;
        let k = &cv.weights[yy * cv.ksize..yy * cv.ksize + n];
        acc.iter_mut().for_each(|a| *a = half);
        // Row-at-a-time accumulation: contiguous, so the compiler vectorises it.
        for (i, &w) in k.iter().enumerate() {
            let irow = &tmp[(ymin + i) * w3..(ymin + i + 1) * w3];
            for (a, &p) in acc.iter_mut().zip(irow) {
                *a += i32::from(p) * w;
            }
        }
        for (o, &a) in orow.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::resize_rgb;

    /// Deterministic test pattern; the expected outputs below come from Pillow 13
    /// (`Image.fromarray(src).resize((w, h), Image.BILINEAR)`).
    fn pattern(w: usize, h: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                v.push(((x * 37 + y * 91) % 256) as u8);
                v.push(((x * x * 13 + y * 7) % 256) as u8);
                v.push((255 - (x * 23 + y * 11) as i64).rem_euclid(256) as u8);
            }
        }
        v
    }

    #[test]
    fn matches_pillow_downscale_both_axes() {
        let out = resize_rgb(&pattern(11, 7), 11, 7, 4, 3);
        assert_eq!(
            out,
            [
                102, 34, 220, 133, 136, 162, 112, 142, 100, 113, 50, 42, 109, 49, 196, 116, 151,
                138, 129, 157, 76, 114, 65, 75, 126, 64, 172, 113, 166, 114, 119, 172, 56, 119, 80,
                144
            ]
        );
    }

    #[test]
    fn matches_pillow_single_axis() {
        let out = resize_rgb(&pattern(11, 7), 11, 7, 11, 3);
        assert_eq!(
            &out[..24],
            [
                78, 6, 246, 115, 19, 223, 97, 58, 200, 134, 123, 177, 171, 214, 154, 98, 75, 131,
                135, 218, 108, 81, 131, 85
            ]
        );
        assert_eq!(&out[out.len() - 6..], [88, 65, 193, 125, 56, 224]);
        let out = resize_rgb(&pattern(11, 7), 11, 7, 5, 7);
        assert_eq!(
            &out[..15],
            [
                30, 15, 236, 102, 108, 192, 175, 141, 140, 66, 117, 88, 84, 32, 44
            ]
        );
        assert_eq!(&out[out.len() - 6..], [46, 159, 44, 118, 74, 185]);
    }

    #[test]
    fn matches_pillow_upscale() {
        let out = resize_rgb(&pattern(3, 2), 3, 2, 5, 3);
        assert_eq!(
            out,
            [
                0, 0, 255, 15, 5, 246, 37, 13, 232, 59, 36, 218, 74, 52, 209, 46, 4, 250, 61, 9,
                241, 83, 17, 227, 105, 40, 213, 120, 56, 204, 91, 7, 244, 106, 12, 235, 128, 20,
                221, 150, 43, 207, 165, 59, 198
            ]
        );
    }
}
