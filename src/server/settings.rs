//! Server settings: what `[server]` in the config becomes, plus the fixed protocol limits.
//!
//! Everything except `listen` can change on a reload (`ServerHandle::update_limits`): new
//! values apply to connections accepted afterwards; open connections keep the timers and
//! queue size they started with.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::ServerConfig;

/// The bearer token. `Debug` never prints it, so settings can be logged safely.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// Authentication is off when the token is empty.
    pub fn is_enabled(&self) -> bool {
        !self.0.is_empty()
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_enabled() {
            f.write_str("Token(<redacted>)")
        } else {
            f.write_str("Token(<none>)")
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Every address gets its own listener (IPv6 ones are v6-only, so `0.0.0.0:p` and
    /// `[::]:p` can both be listed).
    pub listen: Vec<SocketAddr>,
    pub token: Token,
    /// Origins allowed besides the device's own (`scheme://host[:port]`, compared exactly,
    /// case-insensitively, trailing `/` ignored).
    pub allowed_origins: Vec<String>,
    /// Host names accepted in `Host` besides listen addresses, localhost and this machine's
    /// hostname (and `<hostname>.local`).
    pub hostnames: Vec<String>,
    pub max_clients: usize,
    pub max_clients_per_ip: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// Outgoing messages buffered per client before it is evicted as a slow consumer.
    pub client_queue: usize,
    /// The HTTP request head (and so the WebSocket handshake) must arrive within this.
    pub handshake_timeout: Duration,
    /// Largest client message / frame accepted (bytes); larger closes with 1009.
    pub max_message_bytes: usize,
    /// More client messages than this in any one second closes with 1008.
    pub max_messages_per_s: usize,
    /// How long a closing connection may take to deliver its close frame and hear the
    /// answer; shutdown closes every client within about this long.
    pub close_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings::from_config(&ServerConfig::default())
    }
}

impl ServerSettings {
    pub fn from_config(cfg: &ServerConfig) -> ServerSettings {
        ServerSettings {
            listen: cfg.listen.clone(),
            token: Token::new(cfg.token.clone()),
            allowed_origins: cfg.allowed_origins.clone(),
            hostnames: cfg.hostnames.clone(),
            max_clients: cfg.max_clients,
            max_clients_per_ip: cfg.max_clients_per_ip,
            ping_interval: Duration::from_secs(cfg.ping_interval_s.max(1)),
            idle_timeout: Duration::from_secs(cfg.idle_timeout_s.max(1)),
            client_queue: cfg.client_queue.max(1),
            handshake_timeout: Duration::from_secs(5),
            max_message_bytes: 4096,
            max_messages_per_s: 20,
            close_grace: Duration::from_millis(1500),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let s = ServerSettings {
            token: Token::new("hunter2-secret"),
            ..ServerSettings::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("Token(<redacted>)"), "{text}");
        assert_eq!(format!("{:?}", Token::default()), "Token(<none>)");
    }

    #[test]
    fn from_config_maps_every_key() {
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:9000".parse().unwrap()],
            token: "t".into(),
            allowed_origins: vec!["http://a".into()],
            hostnames: vec!["cam.lan".into()],
            max_clients: 3,
            max_clients_per_ip: 2,
            ping_interval_s: 7,
            idle_timeout_s: 9,
            client_queue: 11,
        };
        let s = ServerSettings::from_config(&cfg);
        assert_eq!(s.listen, cfg.listen);
        assert_eq!(s.token, Token::new("t"));
        assert_eq!(s.allowed_origins, vec!["http://a".to_string()]);
        assert_eq!(s.hostnames, vec!["cam.lan".to_string()]);
        assert_eq!((s.max_clients, s.max_clients_per_ip), (3, 2));
        assert_eq!(s.ping_interval, Duration::from_secs(7));
        assert_eq!(s.idle_timeout, Duration::from_secs(9));
        assert_eq!(s.client_queue, 11);
        assert_eq!(s.handshake_timeout, Duration::from_secs(5));
        assert_eq!(s.max_message_bytes, 4096);
    }
}
