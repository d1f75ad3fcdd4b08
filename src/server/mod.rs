//! HTTP + WebSocket server: protocol v1 (docs/protocol.md), REST, the dashboard, metrics.
//!
//! Layout: `http` (listeners, connections, lifecycle) -> `routes` (security checks, REST,
//! dashboard, upgrade) -> `ws` (one WebSocket connection; `writer` is its sending half).
//! `hub` fans events and status out; `archive` reads history from the store. Pure rules live
//! in `security`, `session`, `query`, `upgrade` and `limits`.

pub mod archive;
pub mod assets;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod protocol;
pub mod query;
pub mod routes;
pub mod security;
pub mod session;
pub mod settings;
pub mod upgrade;
pub mod writer;
pub mod ws;

use std::net::SocketAddr;

pub use archive::{Archive, ArchiveError};
pub use http::{ServerHandle, serve};
pub use hub::{ClientId, Hub, HubOptions, SendError, StatusChange, classify_change};
pub use metrics::Metrics;
pub use settings::{ServerSettings, Token};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("server.listen is empty: list at least one address, e.g. listen = [\"0.0.0.0:8080\"]")]
    NoListenAddress,
    #[error(
        "cannot listen on {addr} (server.listen): {source}; is another program using the port, or is the address not on this machine?"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
