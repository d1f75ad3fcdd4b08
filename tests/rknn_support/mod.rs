//! Helpers for the `rknn` feature tests: stub-runtime fixtures (tests/rknn-stub/README.md has
//! the format), realistic int8 quantization, and reading what the stub recorded.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One tensor line group of a fixture.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<usize>,
    pub fmt: &'static str,
    pub dtype: &'static str,
    pub qnt: &'static str,
    pub zp: i32,
    pub scale: f32,
}

impl Tensor {
    /// u8 NHWC image input, as rknn-toolkit2 reports a quantized model's input.
    pub fn image_input(w: usize, h: usize) -> Self {
        Tensor {
            name: "images".into(),
            dims: vec![1, h, w, 3],
            fmt: "nhwc",
            dtype: "int8",
            qnt: "affine",
            zp: -128,
            scale: 1.0 / 255.0,
        }
    }

    pub fn int8_output(name: &str, dims: &[usize], zp: i32, scale: f32) -> Self {
        Tensor {
            name: name.into(),
            dims: dims.to_vec(),
            fmt: "nchw",
            dtype: "int8",
            qnt: "affine",
            zp,
            scale,
        }
    }

    pub fn f32_output(name: &str, dims: &[usize]) -> Self {
        Tensor {
            name: name.into(),
            dims: dims.to_vec(),
            fmt: "nchw",
            dtype: "float32",
            qnt: "none",
            zp: 0,
            scale: 1.0,
        }
    }
}

/// A stub "model": `<dir>/model.rknn` is the fixture text; the stub reads outputs from and
/// records inputs into `<dir>`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    pub extra: Vec<(String, String)>,
}

impl Fixture {
    pub fn new(inputs: Vec<Tensor>, outputs: Vec<Tensor>) -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            inputs,
            outputs,
            extra: Vec::new(),
        }
    }

    /// A YOLOX-Nano-416-like model: int8 input, one int8 output [1, 3549, 85].
    pub fn yolox(zp: i32, scale: f32) -> Self {
        Self::new(
            vec![Tensor::image_input(416, 416)],
            vec![Tensor::int8_output("output", &[1, 3549, 85], zp, scale)],
        )
    }

    /// Adds a `key=value` switch (init_error, run_error, core_mask_error, sdk_version ...).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("model.rknn")
    }

    /// Writes model.rknn and returns its path.
    pub fn write(&self) -> PathBuf {
        let mut s = String::from("gozcu-rknn-stub 1\n");
        writeln!(s, "inputs={}", self.inputs.len()).unwrap();
        writeln!(s, "outputs={}", self.outputs.len()).unwrap();
        for (prefix, list) in [("in", &self.inputs), ("out", &self.outputs)] {
            for (i, t) in list.iter().enumerate() {
                let dims: Vec<String> = t.dims.iter().map(|d| d.to_string()).collect();
                writeln!(s, "{prefix}{i}.name={}", t.name).unwrap();
                writeln!(s, "{prefix}{i}.dims={}", dims.join(",")).unwrap();
                writeln!(s, "{prefix}{i}.fmt={}", t.fmt).unwrap();
                writeln!(s, "{prefix}{i}.type={}", t.dtype).unwrap();
                writeln!(s, "{prefix}{i}.qnt={}", t.qnt).unwrap();
                writeln!(s, "{prefix}{i}.zp={}", t.zp).unwrap();
                writeln!(s, "{prefix}{i}.scale={:e}", t.scale).unwrap();
            }
        }
        for (k, v) in &self.extra {
            writeln!(s, "{k}={v}").unwrap();
        }
        std::fs::write(self.path(), s).unwrap();
        self.path()
    }

    /// The output returned for any input without its own (by_input) file.
    pub fn write_default_output(&self, index: usize, bytes: &[u8]) {
        std::fs::write(self.dir.path().join(format!("output{index}.bin")), bytes).unwrap();
    }

    /// The output returned when the runtime receives exactly `input`.
    pub fn write_output_for_input(&self, input: &[u8], index: usize, bytes: &[u8]) {
        let d = self
            .dir
            .path()
            .join("by_input")
            .join(format!("{:016x}", fnv1a64(input)));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("output{index}.bin")), bytes).unwrap();
    }

    pub fn last_input(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("last_input.bin")).unwrap()
    }

    pub fn last_input_meta(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("last_input.txt")).unwrap()
    }

    /// Makes every rknn_run fail with `code` until `clear_fail_run`.
    pub fn fail_run(&self, code: i32) {
        std::fs::write(self.dir.path().join("fail_run"), code.to_string()).unwrap();
    }

    pub fn clear_fail_run(&self) {
        std::fs::remove_file(self.dir.path().join("fail_run")).unwrap();
    }

    pub fn calls(&self) -> Vec<Call> {
        read_calls(self.dir.path())
    }
}

/// One line of the stub's calls.log.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub op: String,
    pub fields: BTreeMap<String, String>,
}

impl Call {
    pub fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or("")
    }
}

pub fn read_calls(dir: &Path) -> Vec<Call> {
    let text = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let op = it.next().unwrap_or("").to_string();
            let fields = it
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Call { op, fields }
        })
        .collect()
}

/// FNV-1a 64, as the stub keys per-input outputs.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Per-tensor asymmetric int8 quantization from the tensor's min/max, as rknn-toolkit2 does
/// for an output (the range always includes 0). Returns (data, zero point, scale).
pub fn quantize(values: &[f32]) -> (Vec<i8>, i32, f32) {
    let min = values.iter().copied().fold(0.0f32, f32::min);
    let max = values.iter().copied().fold(0.0f32, f32::max);
    let scale = ((max - min) / 255.0).max(f32::MIN_POSITIVE);
    let zp = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i32;
    let data = values
        .iter()
        .map(|&x| ((x / scale).round() as i32 + zp).clamp(-128, 127) as i8)
        .collect();
    (data, zp, scale)
}

pub fn i8_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
