//! The source factory: turns a camera's `device` string into a [`FrameSource`]. V4L2 paths
//! get a [`V4l2Source`] that decides on every open, from the node's capabilities, between
//! single-planar (uvc.rs) and multi-planar (mplane.rs) capture, since a replugged or
//! reloaded device may come back different.

use super::negotiate::Request;
use super::replay::ReplaySource;
use super::testsrc::TestSource;
use super::uvc::UvcSource;
use super::{CameraError, Frame, FrameSource, classify_open_error, mplane::MplaneSource, v4l2};
use crate::config::{CameraConfig, DeviceKind};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

/// The source for a camera's config. Nothing is opened yet: call `open()` (the runner does,
/// and reopens after failures), so this never fails.
pub fn open_source(cfg: &CameraConfig) -> Box<dyn FrameSource> {
    match cfg.device_kind() {
        DeviceKind::TestSrc => Box::new(TestSource::new(cfg)),
        DeviceKind::Replay(path) => Box::new(ReplaySource::new(path, cfg.fps)),
        DeviceKind::V4l2(path) => Box::new(V4l2Source::new(
            path,
            Request::new(&cfg.format, cfg.width, cfg.height, cfg.fps, false),
        )),
    }
}

/// A V4L2 node, captured single- or multi-planar depending on what it supports.
pub struct V4l2Source {
    path: PathBuf,
    request: Request,
    inner: Option<Box<dyn FrameSource>>,
    /// Corrupt counts of sources replaced by a reopen, so the total never goes backwards.
    corrupt_before: u64,
}

impl V4l2Source {
    pub fn new(path: PathBuf, request: Request) -> Self {
        V4l2Source {
            path,
            request,
            inner: None,
            corrupt_before: 0,
        }
    }
}

impl FrameSource for V4l2Source {
    fn open(&mut self) -> Result<(), CameraError> {
        self.close();
        let path = self.path.display().to_string();
        let caps = {
            let fd = v4l2::open_device(&self.path).map_err(|e| classify_open_error(&path, e))?;
            v4l2::query_caps(fd.as_fd()).map_err(|source| CameraError::Io {
                path: path.clone(),
                context: "query capabilities".to_string(),
                source,
            })?
        };
        let mut inner: Box<dyn FrameSource> = if caps.single_planar() {
            Box::new(UvcSource::new(self.path.clone(), self.request.clone()))
        } else if caps.multi_planar() {
            Box::new(MplaneSource::new(self.path.clone(), self.request.clone()))
        } else {
            return Err(CameraError::Unsupported {
                path,
                what: format!(
                    "{} ({}) has no video capture capability{}; pick another node with `gozcu devices`",
                    caps.card,
                    caps.driver,
                    if caps.metadata() {
                        " (it is a metadata node)"
                    } else {
                        ""
                    }
                ),
            });
        };
        inner.open()?;
        self.inner = Some(inner);
        Ok(())
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, CameraError> {
        match self.inner.as_mut() {
            Some(s) => s.next_frame(timeout),
            None => Err(CameraError::Other(format!(
                "device {} is not open",
                self.path.display()
            ))),
        }
    }

    fn close(&mut self) {
        if let Some(mut s) = self.inner.take() {
            self.corrupt_before += s.corrupt_frames();
            s.close();
        }
    }

    fn describe(&self) -> String {
        self.inner.as_ref().map_or_else(
            || format!("{} (not open)", self.path.display()),
            |s| s.describe(),
        )
    }

    fn corrupt_frames(&self) -> u64 {
        self.corrupt_before + self.inner.as_ref().map_or(0, |s| s.corrupt_frames())
    }
}
