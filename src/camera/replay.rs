//! Replayed camera (`device = "replay:<dir-or-file>"`): a folder of JPEG/PNG frames in file
//! name order, or one `.mjpeg`/`.mjpg` file (concatenated JPEGs), paced to the configured
//! fps and looped forever. JPEG frames are emitted as MJPEG untouched (the worker decodes
//! them like a webcam's); PNG frames are decoded to RGB24 here.

use super::pace::Pacer;
use super::{CameraError, Frame, FrameSource, PixelFormat, Plane};
use crate::vision::convert::{decode_png_rgb, jpeg_dimensions, split_jpegs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const HINT: &str = "replay: expects a folder of .jpg/.jpeg/.png frames or an .mjpeg/.mjpg file \
                    (relative paths resolve against the config file's folder)";

#[derive(Debug, Clone)]
enum Item {
    Jpeg(PathBuf),
    Png(PathBuf),
    /// A JPEG inside the loaded MJPEG file.
    Slice(Range<usize>),
}

pub struct ReplaySource {
    path: PathBuf,
    fps: u32,
    items: Vec<Item>,
    mjpeg: Vec<u8>,
    position: usize,
    sequence: u64,
    pacer: Pacer,
    corrupt: u64,
    /// The next frame, loaded before its slot so it is handed out on time.
    pending: Option<Frame>,
}

fn extension(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

impl ReplaySource {
    pub fn new(path: PathBuf, fps: u32) -> Self {
        ReplaySource {
            path,
            fps: fps.max(1),
            items: Vec::new(),
            mjpeg: Vec::new(),
            position: 0,
            sequence: 0,
            pacer: Pacer::new(fps),
            corrupt: 0,
            pending: None,
        }
    }

    /// Number of frames in one loop (after `open`).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn io(&self, context: &str, source: std::io::Error) -> CameraError {
        CameraError::Io {
            path: self.path.display().to_string(),
            context: context.to_string(),
            source,
        }
    }

    fn scan(&mut self) -> Result<(), CameraError> {
        let meta = std::fs::metadata(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CameraError::NotFound {
                    path: format!("replay:{}", self.path.display()),
                    hint: HINT.to_string(),
                }
            } else {
                self.io("read replay source", e)
            }
        })?;
        self.items.clear();
        self.mjpeg = Vec::new();
        if meta.is_dir() {
            let entries = std::fs::read_dir(&self.path).map_err(|e| self.io("list folder", e))?;
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                match extension(&f).as_str() {
                    "jpg" | "jpeg" => self.items.push(Item::Jpeg(f)),
                    "png" => self.items.push(Item::Png(f)),
                    _ => {}
                }
            }
        } else {
            match extension(&self.path).as_str() {
                "mjpeg" | "mjpg" => {
                    let data = std::fs::read(&self.path).map_err(|e| self.io("read file", e))?;
                    self.items = split_jpegs(&data).into_iter().map(Item::Slice).collect();
                    self.mjpeg = data;
                }
                "jpg" | "jpeg" => self.items.push(Item::Jpeg(self.path.clone())),
                "png" => self.items.push(Item::Png(self.path.clone())),
                _ => {}
            }
        }
        if self.items.is_empty() {
            return Err(CameraError::Unsupported {
                path: format!("replay:{}", self.path.display()),
                what: format!("no JPEG/PNG frames found; {HINT}"),
            });
        }
        Ok(())
    }

    /// The next readable frame in order; unreadable ones are skipped and counted, but a
    /// whole loop of them is an error.
    fn load_next(&mut self) -> Result<Frame, CameraError> {
        for _ in 0..self.items.len() {
            let i = self.position;
            self.position = (self.position + 1) % self.items.len();
            match self.load(i) {
                Ok(frame) => return Ok(frame),
                Err(msg) => {
                    self.corrupt += 1;
                    tracing::debug!("replay: skipping unreadable frame {msg}");
                }
            }
        }
        Err(CameraError::Unsupported {
            path: format!("replay:{}", self.path.display()),
            what: "no frame could be read".to_string(),
        })
    }

    /// Loads item `i` as a frame, or an error message when it is unreadable.
    fn load(&self, i: usize) -> Result<Frame, String> {
        let frame = |format, width, height, data: Vec<u8>, stride| Frame {
            format,
            width,
            height,
            planes: vec![Plane { data, stride }],
            timestamp: SystemTime::now(),
            sequence: self.sequence,
        };
        match self.items.get(i) {
            Some(Item::Jpeg(p)) => {
                let data = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let (w, h) = jpeg_dimensions(&data).map_err(|e| format!("{}: {e}", p.display()))?;
                Ok(frame(PixelFormat::Mjpeg, w, h, data, 0))
            }
            Some(Item::Slice(r)) => {
                let data = self.mjpeg.get(r.clone()).unwrap_or(&[]).to_vec();
                let (w, h) = jpeg_dimensions(&data).map_err(|e| format!("frame {i}: {e}"))?;
                Ok(frame(PixelFormat::Mjpeg, w, h, data, 0))
            }
            Some(Item::Png(p)) => {
                let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let img = decode_png_rgb(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
                let stride = img.width as usize * 3;
                Ok(frame(
                    PixelFormat::Rgb24,
                    img.width,
                    img.height,
                    img.data,
                    stride,
                ))
            }
            None => Err(format!("frame {i} out of range")),
        }
    }
}

impl FrameSource for ReplaySource {
    fn open(&mut self) -> Result<(), CameraError> {
        self.pending = None;
        self.scan()?;
        self.position = 0;
        self.pacer.reset();
        Ok(())
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, CameraError> {
        if self.items.is_empty() {
            return Err(CameraError::Other(format!(
                "replay:{} is not open",
                self.path.display()
            )));
        }
        let mut frame = match self.pending.take() {
            Some(f) => f,
            None => self.load_next()?,
        };
        if self.pacer.wait(timeout).is_none() {
            self.pending = Some(frame);
            return Err(CameraError::Timeout {
                path: format!("replay:{}", self.path.display()),
                timeout,
            });
        }
        frame.timestamp = SystemTime::now();
        frame.sequence = self.sequence;
        self.sequence += 1;
        Ok(frame)
    }

    fn close(&mut self) {
        self.pending = None;
        self.items.clear();
        self.mjpeg = Vec::new();
    }

    fn describe(&self) -> String {
        format!(
            "replay:{}: {} frame(s) looped at {} fps",
            self.path.display(),
            self.items.len(),
            self.fps
        )
    }

    fn corrupt_frames(&self) -> u64 {
        self.corrupt
    }
}
