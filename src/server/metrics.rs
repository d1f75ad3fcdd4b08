//! Prometheus metrics (`GET /metrics`, OpenMetrics text via `prometheus-client`).
//!
//! The server updates client, message and eviction counts; the daemon updates the camera,
//! inference and event metrics through the methods below. Every handle is an `Arc` inside,
//! so updates are lock-free atomics (families take a short read lock).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Camera states exported as a one-hot `gozcu_camera_state{camera,state}` gauge.
pub const CAMERA_STATES: [&str; 5] = ["starting", "online", "retrying", "down", "disabled"];

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    clients: Gauge,
    messages_sent: Counter,
    evictions: Family<Labels, Counter>,
    rejections: Family<Labels, Counter>,
    events_published: Counter,
    camera_fps: Family<Labels, Gauge<f64, AtomicU64>>,
    camera_state: Family<Labels, Gauge>,
    inference: Histogram,
    events_created: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn label(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("gozcu");
        let m = Metrics {
            registry: Registry::default(),
            clients: Gauge::default(),
            messages_sent: Counter::default(),
            evictions: Family::default(),
            rejections: Family::default(),
            events_published: Counter::default(),
            camera_fps: Family::default(),
            camera_state: Family::default(),
            // 1 ms .. ~4 s
            inference: Histogram::new(exponential_buckets(0.001, 2.0, 13)),
            events_created: Family::default(),
        };
        registry.register(
            "ws_clients",
            "WebSocket clients connected",
            m.clients.clone(),
        );
        registry.register(
            "ws_messages_sent",
            "WebSocket messages written to clients",
            m.messages_sent.clone(),
        );
        registry.register(
            "ws_evictions",
            "WebSocket clients closed with 1013 (reason: slow = queue full, lagged = fell behind the broadcast)",
            m.evictions.clone(),
        );
        registry.register(
            "http_rejections",
            "Requests refused, by reason (host, origin, token, limit)",
            m.rejections.clone(),
        );
        registry.register(
            "events_published",
            "Event messages broadcast by the hub",
            m.events_published.clone(),
        );
        registry.register(
            "camera_fps",
            "Frames per second captured, per camera",
            m.camera_fps.clone(),
        );
        registry.register(
            "camera_state",
            "1 for the camera's current state, 0 for the others",
            m.camera_state.clone(),
        );
        registry.register(
            "inference_seconds",
            "Detector inference time",
            m.inference.clone(),
        );
        registry.register(
            "events_created",
            "Events started, per camera and event type",
            m.events_created.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    // --- updated by the daemon ---

    /// Sets a camera's fps and its one-hot state (one of [`CAMERA_STATES`]).
    pub fn set_camera(&self, camera_id: &str, state: &str, fps: f64) {
        self.camera_fps
            .get_or_create(&vec![label("camera", camera_id)])
            .set(fps);
        for s in CAMERA_STATES {
            let v = i64::from(s == state);
            self.camera_state
                .get_or_create(&vec![label("camera", camera_id), label("state", s)])
                .set(v);
        }
    }

    /// Drops a camera that was removed from the config.
    pub fn remove_camera(&self, camera_id: &str) {
        self.camera_fps.remove(&vec![label("camera", camera_id)]);
        for s in CAMERA_STATES {
            self.camera_state
                .remove(&vec![label("camera", camera_id), label("state", s)]);
        }
    }

    pub fn observe_inference(&self, took: Duration) {
        self.inference.observe(took.as_secs_f64());
    }

    /// Counts an event's `start`.
    pub fn event_created(&self, camera_id: &str, event_type: &str) {
        self.events_created
            .get_or_create(&vec![
                label("camera", camera_id),
                label("event_type", event_type),
            ])
            .inc();
    }

    // --- updated by the server ---

    pub(crate) fn set_clients(&self, n: usize) {
        self.clients.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn message_sent(&self, n: u64) {
        self.messages_sent.inc_by(n);
    }

    pub(crate) fn evicted(&self, reason: &str) {
        self.evictions
            .get_or_create(&vec![label("reason", reason)])
            .inc();
    }

    pub(crate) fn rejected(&self, reason: &str) {
        self.rejections
            .get_or_create(&vec![label("reason", reason)])
            .inc();
    }

    pub(crate) fn event_published(&self) {
        self.events_published.inc();
    }

    /// Clients evicted so far for `reason` (`slow` or `lagged`).
    pub fn evictions(&self, reason: &str) -> u64 {
        self.evictions
            .get(&vec![label("reason", reason)])
            .map(|c| c.get())
            .unwrap_or(0)
    }

    pub fn messages_sent(&self) -> u64 {
        self.messages_sent.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::new();
        m.set_clients(3);
        m.message_sent(5);
        m.evicted("slow");
        m.set_camera("cam-1", "online", 14.5);
        m.observe_inference(Duration::from_millis(20));
        m.event_created("cam-1", "person");
        let text = m.render();
        for line in [
            "gozcu_ws_clients 3",
            "gozcu_ws_messages_sent_total 5",
            "gozcu_ws_evictions_total{reason=\"slow\"} 1",
            "gozcu_camera_fps{camera=\"cam-1\"} 14.5",
            "gozcu_camera_state{camera=\"cam-1\",state=\"online\"} 1",
            "gozcu_camera_state{camera=\"cam-1\",state=\"down\"} 0",
            "gozcu_inference_seconds_count 1",
            "gozcu_events_created_total{camera=\"cam-1\",event_type=\"person\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(m.evictions("slow"), 1);
        assert_eq!(m.evictions("lagged"), 0);
        m.remove_camera("cam-1");
        assert!(!m.render().contains("cam-1\",state"), "camera not removed");
    }
}
