//! Safe wrapper over one RKNN runtime context (librknnrt's C API through rknn-sys-rs).
//!
//! Why the raw API and not rknn-rs's `Rknn` for the calls: rknn-rs reports errors as text
//! ("rknn_init failed. exit code:-6"), and we need the runtime's numeric code to tell a
//! missing NPU from a bad model; its `outputs_get_by_index` makes one `rknn_outputs_get`
//! call per output (a multi-output model such as YOLOv8 split-head would be fetched and
//! converted N times per frame); and its context handle is private, so the two cannot be
//! mixed on one context. rknn-rs still decodes the tensor attributes (`RknnTensorAttr`).
//!
//! A `Context` is `Send` but not `Sync`: the runtime does not allow concurrent calls on one
//! context, and gozcu creates each context on the worker thread that uses it.

use rknn_rs::prelude::RknnTensorAttr;
use rknn_sys_rs as sys;
use std::cell::Cell;
use std::ffi::{CString, c_void};
use std::marker::PhantomData;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A failed runtime call: which function and the code it returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} returned {code} ({})", code_text(*code))]
pub struct CallError {
    pub call: &'static str,
    pub code: i32,
}

/// Name and meaning of an RKNN error code (rknn_api.h).
pub fn code_text(code: i32) -> &'static str {
    match code {
        sys::RKNN_ERR_FAIL => "RKNN_ERR_FAIL: execution failed",
        sys::RKNN_ERR_TIMEOUT => "RKNN_ERR_TIMEOUT: execution timed out",
        sys::RKNN_ERR_DEVICE_UNAVAILABLE => "RKNN_ERR_DEVICE_UNAVAILABLE: the NPU is unavailable",
        sys::RKNN_ERR_MALLOC_FAIL => "RKNN_ERR_MALLOC_FAIL: out of memory",
        sys::RKNN_ERR_PARAM_INVALID => "RKNN_ERR_PARAM_INVALID: invalid parameter",
        sys::RKNN_ERR_MODEL_INVALID => "RKNN_ERR_MODEL_INVALID: the model is invalid",
        sys::RKNN_ERR_CTX_INVALID => "RKNN_ERR_CTX_INVALID: invalid context",
        sys::RKNN_ERR_INPUT_INVALID => "RKNN_ERR_INPUT_INVALID: invalid input",
        sys::RKNN_ERR_OUTPUT_INVALID => "RKNN_ERR_OUTPUT_INVALID: invalid output",
        sys::RKNN_ERR_DEVICE_UNMATCH => {
            "RKNN_ERR_DEVICE_UNMATCH: the model does not match this device or runtime version"
        }
        sys::RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL => {
            "RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL: pre-compiled model incompatible with the driver"
        }
        sys::RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION => {
            "RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION: optimization level incompatible with the driver"
        }
        sys::RKNN_ERR_TARGET_PLATFORM_UNMATCH => {
            "RKNN_ERR_TARGET_PLATFORM_UNMATCH: the model was built for another SoC"
        }
        _ => "unknown RKNN error code",
    }
}

fn check(call: &'static str, code: i32) -> Result<(), CallError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CallError { call, code })
    }
}

/// SDK (librknnrt) and kernel driver versions as the runtime reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub api: String,
    pub driver: String,
}

/// One loaded model. See the module docs for the threading rules.
#[derive(Debug)]
pub struct Context {
    raw: sys::rknn_context,
    // Cell makes the type !Sync while keeping it Send.
    _not_sync: PhantomData<Cell<()>>,
}

impl Context {
    /// `rknn_init` on a model file (the runtime reads the file itself).
    pub fn init(model: &Path) -> Result<Self, CallError> {
        let path = CString::new(model.as_os_str().as_bytes()).map_err(|_| CallError {
            call: "rknn_init",
            code: sys::RKNN_ERR_PARAM_INVALID,
        })?;
        let mut raw: sys::rknn_context = 0;
        // SAFETY: size 0 means "model is a NUL-terminated path"; the runtime only reads it.
        // `raw` is written on success only.
        let code = unsafe {
            sys::rknn_init(
                &mut raw,
                path.as_ptr() as *mut c_void,
                0,
                0,
                std::ptr::null_mut(),
            )
        };
        check("rknn_init", code)?;
        Ok(Self {
            raw,
            _not_sync: PhantomData,
        })
    }

    /// Generic `rknn_query` into a plain C struct.
    fn query<T>(&self, cmd: sys::rknn_query_cmd, info: &mut T) -> Result<(), CallError> {
        // SAFETY: `info` is a valid, writable T of the size we pass, as the command expects.
        let code = unsafe {
            sys::rknn_query(
                self.raw,
                cmd,
                info as *mut T as *mut c_void,
                std::mem::size_of::<T>() as u32,
            )
        };
        check("rknn_query", code)
    }

    pub fn versions(&self) -> Result<Versions, CallError> {
        let mut v = sys::rknn_sdk_version {
            api_version: [0; 256],
            drv_version: [0; 256],
        };
        self.query(sys::_rknn_query_cmd_RKNN_QUERY_SDK_VERSION, &mut v)?;
        Ok(Versions {
            api: c_text(&v.api_version),
            driver: c_text(&v.drv_version),
        })
    }

    /// (inputs, outputs)
    pub fn io_num(&self) -> Result<(u32, u32), CallError> {
        let mut n = sys::rknn_input_output_num {
            n_input: 0,
            n_output: 0,
        };
        self.query(sys::_rknn_query_cmd_RKNN_QUERY_IN_OUT_NUM, &mut n)?;
        Ok((n.n_input, n.n_output))
    }

    pub fn input_attr(&self, index: u32) -> Result<RknnTensorAttr, CallError> {
        self.tensor_attr(sys::_rknn_query_cmd_RKNN_QUERY_INPUT_ATTR, index)
    }

    pub fn output_attr(&self, index: u32) -> Result<RknnTensorAttr, CallError> {
        self.tensor_attr(sys::_rknn_query_cmd_RKNN_QUERY_OUTPUT_ATTR, index)
    }

    fn tensor_attr(
        &self,
        cmd: sys::rknn_query_cmd,
        index: u32,
    ) -> Result<RknnTensorAttr, CallError> {
        // SAFETY: rknn_tensor_attr is plain data; all-zero is a valid value.
        let mut attr: sys::rknn_tensor_attr = unsafe { std::mem::zeroed() };
        attr.index = index;
        self.query(cmd, &mut attr)?;
        Ok(attr.into())
    }

    /// Pins the context to NPU cores (`RKNN_NPU_CORE_*` bit mask; 0 = let the runtime pick).
    pub fn set_core_mask(&self, mask: u32) -> Result<(), CallError> {
        // SAFETY: plain call on a live context.
        let code = unsafe { sys::rknn_set_core_mask(self.raw, mask as sys::rknn_core_mask) };
        check("rknn_set_core_mask", code)
    }

    /// Sets input 0 from u8 NHWC data; the runtime converts it to the model's own type and
    /// layout (mean/std and quantization were baked in at conversion).
    pub fn set_input_u8_nhwc(&self, data: &[u8]) -> Result<(), CallError> {
        let size = u32::try_from(data.len()).map_err(|_| CallError {
            call: "rknn_inputs_set",
            code: sys::RKNN_ERR_PARAM_INVALID,
        })?;
        let mut input = sys::rknn_input {
            index: 0,
            buf: data.as_ptr() as *mut c_void,
            size,
            pass_through: 0,
            type_: sys::_rknn_tensor_type_RKNN_TENSOR_UINT8,
            fmt: sys::_rknn_tensor_format_RKNN_TENSOR_NHWC,
        };
        // SAFETY: `input` points at `data`, which outlives the call; the runtime copies it
        // (it does not write through `buf` for an input).
        let code = unsafe { sys::rknn_inputs_set(self.raw, 1, &mut input) };
        check("rknn_inputs_set", code)
    }

    pub fn run(&self) -> Result<(), CallError> {
        // SAFETY: plain blocking call on a live context.
        let code = unsafe { sys::rknn_run(self.raw, std::ptr::null_mut()) };
        check("rknn_run", code)
    }

    /// Fetches every output in one `rknn_outputs_get` call. `want_float[i]` asks the runtime
    /// to convert output i to f32; otherwise it comes in the model's own type (int8 for a
    /// quantized model). The buffers are released when the returned value is dropped.
    pub fn outputs(&self, want_float: &[bool]) -> Result<Outputs<'_>, CallError> {
        let n = u32::try_from(want_float.len()).map_err(|_| CallError {
            call: "rknn_outputs_get",
            code: sys::RKNN_ERR_PARAM_INVALID,
        })?;
        let mut raws: Vec<sys::rknn_output> = want_float
            .iter()
            .enumerate()
            .map(|(i, &f)| sys::rknn_output {
                want_float: u8::from(f),
                is_prealloc: 0,
                index: i as u32,
                buf: std::ptr::null_mut(),
                size: 0,
            })
            .collect();
        // SAFETY: `raws` holds `n` initialized structs; the runtime fills buf/size and owns
        // the buffers until rknn_outputs_release (Outputs::drop).
        let code =
            unsafe { sys::rknn_outputs_get(self.raw, n, raws.as_mut_ptr(), std::ptr::null_mut()) };
        check("rknn_outputs_get", code)?;
        Ok(Outputs { ctx: self, raws })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context is live and no Outputs borrow it any more (they borrow self).
        unsafe {
            sys::rknn_destroy(self.raw);
        }
    }
}

/// Output buffers owned by the runtime until drop.
pub struct Outputs<'a> {
    ctx: &'a Context,
    raws: Vec<sys::rknn_output>,
}

impl Outputs<'_> {
    /// Bytes of output `i` (empty if the runtime returned no buffer).
    pub fn bytes(&self, i: usize) -> &[u8] {
        match self.raws.get(i) {
            Some(o) if !o.buf.is_null() => {
                // SAFETY: the runtime returned `size` readable bytes at `buf`, valid until
                // rknn_outputs_release in drop, which cannot run while this borrow lives.
                unsafe { std::slice::from_raw_parts(o.buf as *const u8, o.size as usize) }
            }
            _ => &[],
        }
    }
}

impl Drop for Outputs<'_> {
    fn drop(&mut self) {
        // SAFETY: releases exactly the buffers rknn_outputs_get returned on this context.
        unsafe {
            sys::rknn_outputs_release(self.ctx.raw, self.raws.len() as u32, self.raws.as_mut_ptr());
        }
    }
}

fn c_text(chars: &[std::os::raw::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stub runtime (tests/rknn-stub) declares the same struct sizes; a mismatch would
    /// make the stub tests meaningless, so pin them here too.
    #[test]
    fn abi_sizes_match_the_stub() {
        assert_eq!(std::mem::size_of::<sys::rknn_tensor_attr>(), 376);
        assert_eq!(std::mem::size_of::<sys::rknn_input>(), 32);
        assert_eq!(std::mem::size_of::<sys::rknn_output>(), 24);
    }

    #[test]
    fn error_text_names_the_code() {
        let e = CallError {
            call: "rknn_init",
            code: -13,
        };
        assert_eq!(
            e.to_string(),
            "rknn_init returned -13 (RKNN_ERR_TARGET_PLATFORM_UNMATCH: the model was built for another SoC)"
        );
        assert_eq!(code_text(-99), "unknown RKNN error code");
    }

    #[test]
    fn c_text_stops_at_nul() {
        let mut buf = [0 as std::os::raw::c_char; 8];
        for (d, s) in buf.iter_mut().zip(b"2.3.2\0xy") {
            *d = *s as std::os::raw::c_char;
        }
        assert_eq!(c_text(&buf), "2.3.2");
    }
}
