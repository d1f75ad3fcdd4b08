//! Pool behaviour with a scripted backend (the pool is what is under test here; the real CPU
//! backend is exercised in tests/detect_*.rs).

use super::*;
use crate::config::ModelFamily;
use crate::detect::decode::DecodeParams;
use crate::detect::labels::Labels;
use crate::detect::{ChannelOrder, InputType, Layout, RawTensor, TensorData};
use std::sync::mpsc::Receiver;

const SIZE: u32 = 32;

/// Backend that optionally waits for a gate per request; input byte 0 selects the outcome:
/// 1 = error, 2 = panic, anything else = one "bicycle" detection.
struct Scripted {
    spec: InputSpec,
    gate: Option<Receiver<()>>,
    dims: Vec<Vec<usize>>,
}

impl Detector for Scripted {
    fn input_spec(&self) -> &InputSpec {
        &self.spec
    }
    fn infer(&mut self, input: &PreparedInput) -> Result<Vec<RawTensor>, DetectError> {
        if let Some(g) = &self.gate {
            let _ = g.recv();
        }
        let first = match input {
            PreparedInput::U8(v) => v.first().copied(),
            PreparedInput::F32(_) => None,
        };
        match first {
            Some(1) => Err(DetectError::Inference("scripted failure".into())),
            Some(2) => panic!("scripted panic"),
            _ => {
                let k = 7;
                let mut d = vec![0f32; 21 * k];
                d[19 * k..20 * k].copy_from_slice(&[0.5, 0.25, 0.0, 0.0, 0.8, 0.3, 0.9]);
                Ok(vec![RawTensor {
                    dims: vec![1, 21, 7],
                    data: TensorData::F32(d),
                }])
            }
        }
    }
    fn backend_name(&self) -> &'static str {
        "scripted"
    }
    fn output_dims(&self) -> Option<Vec<Vec<usize>>> {
        Some(self.dims.clone())
    }
}

fn spec() -> InputSpec {
    InputSpec {
        width: SIZE,
        height: SIZE,
        channels: ChannelOrder::Rgb,
        layout: Layout::Nhwc,
        dtype: InputType::U8,
        pad_value: 114,
    }
}

fn decoder() -> Decoder {
    // Deliberately the wrong size: the pool must take it from the detector's spec.
    Decoder::new(
        ModelFamily::Yolox,
        DecodeParams::new(999, 999),
        Labels::coco(),
    )
}

/// Starts a pool whose workers each wait on their own gate; returns the gate senders.
fn gated_pool(workers: usize) -> (DetectorPool, Vec<mpsc::Sender<()>>) {
    let mut senders = Vec::new();
    let mut gates = Vec::new();
    for _ in 0..workers {
        let (tx, rx) = mpsc::channel();
        senders.push(tx);
        gates.push(Some(rx));
    }
    let gates = Arc::new(Mutex::new(gates));
    let factory: Factory = Arc::new(move |i| {
        let gate = gates.lock().unwrap()[i].take();
        Ok(Box::new(Scripted {
            spec: spec(),
            gate,
            dims: vec![vec![1, 21, 7]],
        }) as Box<dyn Detector>)
    });
    (
        DetectorPool::start(workers, factory, decoder()).unwrap(),
        senders,
    )
}

fn input(marker: u8) -> DetectInput {
    let mut v = vec![0u8; (SIZE * SIZE * 3) as usize];
    v[0] = marker;
    DetectInput::Prepared {
        input: PreparedInput::U8(v),
        letterbox: Letterbox {
            scale: 1.0,
            pad_x: 0.0,
            pad_y: 0.0,
            src_width: SIZE,
            src_height: SIZE,
        },
    }
}

type Rx = Receiver<Result<DetectOutput, DetectError>>;

fn submit(pool: &DetectorPool, marker: u8) -> Result<Rx, PoolError> {
    let (tx, rx) = mpsc::channel();
    pool.try_detect(
        input(marker),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    )?;
    Ok(rx)
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn busy_worker_drops_the_frame_and_recovers() {
    let (pool, gates) = gated_pool(1);
    assert_eq!(pool.backend(), "scripted");
    let rx = submit(&pool, 0).unwrap();
    assert!(matches!(submit(&pool, 0), Err(PoolError::Busy)));
    assert!(matches!(submit(&pool, 0), Err(PoolError::Busy)));
    let st = pool.worker_status();
    assert!(st[0].busy_since.is_some());
    std::thread::sleep(Duration::from_millis(2));
    assert!(pool.is_stuck(Duration::from_millis(1)));
    gates[0].send(()).unwrap();
    let out = rx.recv_timeout(WAIT).unwrap().unwrap();
    assert_eq!(out.detections.len(), 1);
    assert_eq!(out.detections[0].label, "bicycle");
    // Decoded at the detector's 32x32, not the decoder's placeholder size.
    assert_eq!(
        out.detections[0].bbox,
        [24.0 - 8.0, 20.0 - 8.0, 24.0 + 8.0, 20.0 + 8.0]
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.accepted, stats.dropped_busy, stats.completed),
        (1, 2, 1)
    );
    // Idle again right after the reply.
    assert!(pool.worker_status()[0].busy_since.is_none());
    assert!(!pool.is_stuck(Duration::ZERO));
    let rx = submit(&pool, 0).unwrap();
    gates[0].send(()).unwrap();
    assert!(rx.recv_timeout(WAIT).unwrap().is_ok());
    assert!(pool.shutdown(WAIT));
}

#[test]
fn two_workers_take_two_requests() {
    let (pool, gates) = gated_pool(2);
    let a = submit(&pool, 0).unwrap();
    let b = submit(&pool, 0).unwrap();
    assert!(matches!(submit(&pool, 0), Err(PoolError::Busy)));
    for g in &gates {
        g.send(()).unwrap();
    }
    let wa = a.recv_timeout(WAIT).unwrap().unwrap().worker;
    let wb = b.recv_timeout(WAIT).unwrap().unwrap().worker;
    assert_ne!(wa, wb);
    assert_eq!(pool.stats().completed, 2);
}

#[test]
fn errors_and_panics_are_counted_and_the_worker_continues() {
    let (pool, gates) = gated_pool(1);
    let rx = submit(&pool, 1).unwrap();
    gates[0].send(()).unwrap();
    let e = rx.recv_timeout(WAIT).unwrap().unwrap_err();
    assert_eq!(e.to_string(), "inference failed: scripted failure");
    let rx = submit(&pool, 2).unwrap();
    gates[0].send(()).unwrap();
    let e = rx.recv_timeout(WAIT).unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        "inference failed: the backend panicked: scripted panic"
    );
    let rx = submit(&pool, 0).unwrap();
    gates[0].send(()).unwrap();
    assert!(rx.recv_timeout(WAIT).unwrap().is_ok());
    let s = pool.stats();
    assert_eq!((s.errors, s.completed), (2, 1));
    let w = pool.worker_status()[0];
    assert_eq!((w.errors, w.completed), (2, 1));
}

#[test]
fn factory_error_fails_start() {
    let factory: Factory = Arc::new(|_| {
        Err(DetectError::NoModel {
            path: "/x.onnx".into(),
        })
    });
    let e = DetectorPool::start(2, factory, decoder()).unwrap_err();
    assert_eq!(e.reason_code(), "no_model");
}

#[test]
fn output_shape_is_checked_at_start() {
    let factory: Factory = Arc::new(|_| {
        Ok(Box::new(Scripted {
            spec: spec(),
            gate: None,
            dims: vec![vec![1, 20, 7]],
        }) as Box<dyn Detector>)
    });
    let e = DetectorPool::start(1, factory, decoder()).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    assert!(
        e.to_string()
            .contains("yolox expects N = 21 rows (strides 8, 16, 32 over 32x32), got 20"),
        "{e}"
    );
}

#[test]
fn image_input_is_letterboxed_on_the_worker() {
    let (pool, gates) = gated_pool(1);
    gates[0].send(()).unwrap();
    let img = Arc::new(RgbImage {
        width: 64,
        height: 32,
        data: vec![7; 64 * 32 * 3],
    });
    let out = pool.detect_wait(DetectInput::Image(img), WAIT).unwrap();
    // Scale 0.5: input box [16, 12, 32, 28] -> source [32, 24, 64, 56].
    assert_eq!(out.detections[0].bbox, [32.0, 24.0, 64.0, 56.0]);
}
