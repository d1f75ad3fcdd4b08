//! Pure conversions between RKNN tensor attributes and gozcu's tensor types: the input spec a
//! model takes, whether an output is fetched raw or as float, and output bytes -> `RawTensor`.
//!
//! Quantized outputs stay quantized: int8 with affine quantization becomes `TensorData::I8`
//! with the runtime's zero point and scale, so the decoders threshold in the quantized domain
//! and dequantize only candidates. uint8 and DFP (fixed point) outputs are mapped exactly
//! onto the same int8 affine form; other types are fetched as f32 by the runtime.

use crate::detect::{ChannelOrder, InputSpec, InputType, Layout, RawTensor, TensorData};
use rknn_rs::prelude::{RknnTensorAttr, RknnTensorFormat, RknnTensorQntType, RknnTensorType};

/// The model's input size from its input attribute: NHWC u8 at that size, in `channels`
/// order (the order the network was trained with; conversion does not reorder channels).
pub fn input_spec(attr: &RknnTensorAttr, channels: ChannelOrder) -> Result<InputSpec, String> {
    let d = &attr.dims;
    let (n, h, w, c) = match (attr.fmt, d.as_slice()) {
        (RknnTensorFormat::NHWC, [n, h, w, c]) => (*n, *h, *w, *c),
        (RknnTensorFormat::NCHW, [n, c, h, w]) => (*n, *h, *w, *c),
        // Undefined layout: the 3-channel axis tells.
        (_, [n, h, w, 3]) => (*n, *h, *w, 3),
        (_, [n, 3, h, w]) => (*n, *h, *w, 3),
        _ => {
            return Err(format!(
                "its input `{}` has dims {:?} ({}); gozcu feeds one 3-channel image [1, H, W, 3]",
                attr.name,
                d,
                rknn_rs::prelude::get_format_string(attr.fmt)
            ));
        }
    };
    if n != 1 || c != 3 || h == 0 || w == 0 {
        return Err(format!(
            "its input `{}` has dims {:?}; gozcu feeds one 3-channel image (batch 1, 3 channels)",
            attr.name, d
        ));
    }
    Ok(InputSpec {
        width: w,
        height: h,
        channels,
        layout: Layout::Nhwc,
        dtype: InputType::U8,
        // YOLOX and Ultralytics models are trained with grey (114) letterbox padding.
        pad_value: 114,
    })
}

/// How an output is fetched and turned into a `RawTensor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputKind {
    /// int8 as the runtime produced it: real = (q - zero_point) * scale.
    I8 { zero_point: i32, scale: f32 },
    /// uint8 affine: shifted by 128 into int8 (exact).
    U8 { zero_point: i32, scale: f32 },
    /// f32, native or converted by the runtime (`want_float`).
    F32 { converted: bool },
}

impl OutputKind {
    pub fn of(attr: &RknnTensorAttr) -> Self {
        match (attr.type_, attr.qnt_type) {
            (RknnTensorType::Int8, RknnTensorQntType::AffineAsymmetric) => OutputKind::I8 {
                zero_point: attr.zp,
                scale: attr.scale,
            },
            // Dynamic fixed point: real = q / 2^fl, i.e. affine with zp 0.
            (RknnTensorType::Int8, RknnTensorQntType::Dfp) => OutputKind::I8 {
                zero_point: 0,
                scale: (-f32::from(attr.fl)).exp2(),
            },
            (RknnTensorType::Int8, RknnTensorQntType::None) => OutputKind::I8 {
                zero_point: 0,
                scale: 1.0,
            },
            (RknnTensorType::Uint8, RknnTensorQntType::AffineAsymmetric) => OutputKind::U8 {
                zero_point: attr.zp,
                scale: attr.scale,
            },
            (RknnTensorType::Uint8, RknnTensorQntType::None) => OutputKind::U8 {
                zero_point: 0,
                scale: 1.0,
            },
            (RknnTensorType::Float32, _) => OutputKind::F32 { converted: false },
            // fp16, int16, DFP uint8 ...: let the runtime convert.
            _ => OutputKind::F32 { converted: true },
        }
    }

    /// The `want_float` flag for `rknn_outputs_get`.
    pub fn want_float(self) -> bool {
        matches!(self, OutputKind::F32 { converted: true })
    }
}

/// Output dims in the order the decoders expect: NCHW for 4-D outputs (an NHWC output is
/// transposed by `to_raw_tensor`), as reported otherwise.
pub fn output_dims(attr: &RknnTensorAttr) -> Vec<usize> {
    let d: Vec<usize> = attr.dims.iter().map(|&x| x as usize).collect();
    match (attr.fmt, d.as_slice()) {
        (RknnTensorFormat::NHWC, [n, h, w, c]) => vec![*n, *c, *h, *w],
        _ => d,
    }
}

/// Output bytes from `rknn_outputs_get` -> tensor. Errors name the output and the sizes.
pub fn to_raw_tensor(
    attr: &RknnTensorAttr,
    kind: OutputKind,
    bytes: &[u8],
) -> Result<RawTensor, String> {
    let n: usize = attr.dims.iter().map(|&x| x as usize).product();
    let elem = match kind {
        OutputKind::I8 { .. } | OutputKind::U8 { .. } => 1,
        OutputKind::F32 { .. } => 4,
    };
    if bytes.len() != n * elem {
        return Err(format!(
            "output {} (`{}`, dims {:?}) came back with {} bytes instead of {}",
            attr.index,
            attr.name,
            attr.dims,
            bytes.len(),
            n * elem
        ));
    }
    let data = match kind {
        OutputKind::I8 { zero_point, scale } => TensorData::I8 {
            data: bytes.iter().map(|&b| b as i8).collect(),
            zero_point,
            scale,
        },
        // q - 128 keeps q - zp unchanged when zp moves by 128 too.
        OutputKind::U8 { zero_point, scale } => TensorData::I8 {
            data: bytes.iter().map(|&b| (i16::from(b) - 128) as i8).collect(),
            zero_point: zero_point - 128,
            scale,
        },
        OutputKind::F32 { .. } => TensorData::F32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
    };
    let dims = output_dims(attr);
    let data = match (attr.fmt, attr.dims.as_slice()) {
        (RknnTensorFormat::NHWC, &[_, h, w, c]) => {
            nhwc_to_nchw(data, h as usize, w as usize, c as usize)
        }
        _ => data,
    };
    Ok(RawTensor { dims, data })
}

fn nhwc_to_nchw(data: TensorData, h: usize, w: usize, c: usize) -> TensorData {
    fn tr<T: Copy>(v: &[T], h: usize, w: usize, c: usize) -> Vec<T> {
        let plane = h * w;
        let mut out = Vec::with_capacity(v.len());
        for b in v.chunks_exact((plane * c).max(1)) {
            for ch in 0..c {
                out.extend((0..plane).map(|p| b[p * c + ch]));
            }
        }
        out
    }
    match data {
        TensorData::F32(v) => TensorData::F32(tr(&v, h, w, c)),
        TensorData::I8 {
            data,
            zero_point,
            scale,
        } => TensorData::I8 {
            data: tr(&data, h, w, c),
            zero_point,
            scale,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(dims: &[u32], fmt: RknnTensorFormat, ty: RknnTensorType) -> RknnTensorAttr {
        RknnTensorAttr {
            index: 0,
            n_dims: dims.len() as u32,
            dims: dims.to_vec(),
            name: "t".to_string(),
            n_elems: dims.iter().product(),
            size: 0,
            fmt,
            type_: ty,
            qnt_type: RknnTensorQntType::AffineAsymmetric,
            fl: 0,
            zp: -5,
            scale: 0.5,
            w_stride: 0,
            size_with_stride: 0,
            pass_through: false,
            h_stride: 0,
        }
    }

    #[test]
    fn input_spec_from_nhwc_and_nchw() {
        let a = attr(
            &[1, 480, 640, 3],
            RknnTensorFormat::NHWC,
            RknnTensorType::Int8,
        );
        let s = input_spec(&a, ChannelOrder::Bgr).unwrap();
        assert_eq!((s.width, s.height), (640, 480));
        assert_eq!(
            (s.layout, s.dtype, s.channels),
            (Layout::Nhwc, InputType::U8, ChannelOrder::Bgr)
        );
        let a = attr(
            &[1, 3, 416, 320],
            RknnTensorFormat::NCHW,
            RknnTensorType::Uint8,
        );
        let s = input_spec(&a, ChannelOrder::Rgb).unwrap();
        assert_eq!((s.width, s.height), (320, 416));
        let a = attr(
            &[1, 3, 416, 416],
            RknnTensorFormat::Undefined,
            RknnTensorType::Uint8,
        );
        assert_eq!(input_spec(&a, ChannelOrder::Rgb).unwrap().width, 416);
    }

    #[test]
    fn input_spec_rejects_non_images() {
        let a = attr(
            &[1, 416, 416, 1],
            RknnTensorFormat::NHWC,
            RknnTensorType::Int8,
        );
        let e = input_spec(&a, ChannelOrder::Rgb).unwrap_err();
        assert!(
            e.contains("[1, 416, 416, 1]") && e.contains("3 channels"),
            "{e}"
        );
        let a = attr(
            &[2, 416, 416, 3],
            RknnTensorFormat::NHWC,
            RknnTensorType::Int8,
        );
        assert!(
            input_spec(&a, ChannelOrder::Rgb)
                .unwrap_err()
                .contains("batch 1")
        );
        let a = attr(&[1, 100], RknnTensorFormat::NCHW, RknnTensorType::Int8);
        let e = input_spec(&a, ChannelOrder::Rgb).unwrap_err();
        assert!(e.contains("[1, 100]") && e.contains("NCHW"), "{e}");
    }

    #[test]
    fn output_kinds() {
        let mut a = attr(&[1, 10, 6], RknnTensorFormat::NCHW, RknnTensorType::Int8);
        assert_eq!(
            OutputKind::of(&a),
            OutputKind::I8 {
                zero_point: -5,
                scale: 0.5
            }
        );
        assert!(!OutputKind::of(&a).want_float());
        a.qnt_type = RknnTensorQntType::Dfp;
        a.fl = 3;
        assert_eq!(
            OutputKind::of(&a),
            OutputKind::I8 {
                zero_point: 0,
                scale: 0.125
            }
        );
        a.type_ = RknnTensorType::Float16;
        assert!(OutputKind::of(&a).want_float());
        a.type_ = RknnTensorType::Float32;
        assert_eq!(OutputKind::of(&a), OutputKind::F32 { converted: false });
        assert!(!OutputKind::of(&a).want_float());
    }

    #[test]
    fn int8_keeps_quantization() {
        let a = attr(&[1, 2, 2], RknnTensorFormat::NCHW, RknnTensorType::Int8);
        let t = to_raw_tensor(&a, OutputKind::of(&a), &[0x80, 0xff, 0, 0x7f]).unwrap();
        assert_eq!(t.dims, vec![1, 2, 2]);
        assert_eq!(
            t.data,
            TensorData::I8 {
                data: vec![-128, -1, 0, 127],
                zero_point: -5,
                scale: 0.5
            }
        );
    }

    #[test]
    fn uint8_maps_exactly_to_int8() {
        let mut a = attr(&[1, 3], RknnTensorFormat::NCHW, RknnTensorType::Uint8);
        a.zp = 10;
        let t = to_raw_tensor(&a, OutputKind::of(&a), &[0, 10, 255]).unwrap();
        let TensorData::I8 {
            data,
            zero_point,
            scale,
        } = t.data
        else {
            panic!("not int8")
        };
        let real: Vec<f32> = data
            .iter()
            .map(|&q| (i32::from(q) - zero_point) as f32 * scale)
            .collect();
        assert_eq!(real, vec![-5.0, 0.0, 122.5]);
    }

    #[test]
    fn nhwc_output_is_transposed_to_nchw() {
        // h=1, w=2, c=3: pixels (a0 a1 a2) (b0 b1 b2) -> channels (a0 b0) (a1 b1) (a2 b2)
        let a = attr(
            &[1, 1, 2, 3],
            RknnTensorFormat::NHWC,
            RknnTensorType::Float32,
        );
        let bytes: Vec<u8> = [0.0f32, 1.0, 2.0, 10.0, 11.0, 12.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let t = to_raw_tensor(&a, OutputKind::of(&a), &bytes).unwrap();
        assert_eq!(t.dims, vec![1, 3, 1, 2]);
        assert_eq!(
            t.data,
            TensorData::F32(vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0])
        );
    }

    #[test]
    fn wrong_size_is_an_error_naming_the_output() {
        let a = attr(&[1, 4], RknnTensorFormat::NCHW, RknnTensorType::Float32);
        let e = to_raw_tensor(&a, OutputKind::of(&a), &[0; 15]).unwrap_err();
        assert_eq!(
            e,
            "output 0 (`t`, dims [1, 4]) came back with 15 bytes instead of 16"
        );
    }
}
