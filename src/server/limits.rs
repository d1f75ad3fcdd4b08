//! Connection limits, total and per client IP: WebSocket clients, and TCP connections that
//! have not (yet) become WebSocket clients. A permit is held for the life of a connection
//! and released on drop, so a crashed task cannot leak a slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectionLimiter {
    counts: Arc<Mutex<Counts>>,
}

/// Why a connection was refused (503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitRejection {
    Total { max: usize },
    PerIp { ip: IpAddr, max: usize },
}

impl LimitRejection {
    pub fn message(&self) -> String {
        match self {
            LimitRejection::Total { max } => format!(
                "the server already has {max} WebSocket clients (server.max_clients); try again later"
            ),
            LimitRejection::PerIp { ip, max } => format!(
                "{ip} already has {max} WebSocket connections (server.max_clients_per_ip); close one first"
            ),
        }
    }
}

/// Caps on open TCP connections that are not WebSocket clients (HTTP requests, handshakes in
/// progress, idle keep-alive), as `(total, per_ip)`, from the WebSocket limits.
///
/// Such connections are cheap but not free, so the total sits well above the WebSocket limit.
/// The per-IP cap is what keeps one address from holding every slot with connections that
/// never finish a request (slowloris) until other addresses cannot connect at all; it still
/// leaves a browser behind one address room for its parallel page loads.
pub fn open_connection_caps(max_clients: usize, max_clients_per_ip: usize) -> (usize, usize) {
    let total = max_clients.saturating_mul(2).saturating_add(64);
    let per_ip = max_clients_per_ip.saturating_mul(2).max(16).min(total);
    (total, per_ip)
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    limiter: ConnectionLimiter,
    ip: IpAddr,
}

impl ConnectionLimiter {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Counts are updated in single statements; a poisoned lock still holds valid numbers.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn try_acquire(
        &self,
        ip: IpAddr,
        max_total: usize,
        max_per_ip: usize,
    ) -> Result<Permit, LimitRejection> {
        let ip = ip.to_canonical();
        let mut c = self.lock();
        if c.total >= max_total {
            return Err(LimitRejection::Total { max: max_total });
        }
        let n = c.per_ip.get(&ip).copied().unwrap_or(0);
        if n >= max_per_ip {
            return Err(LimitRejection::PerIp {
                ip,
                max: max_per_ip,
            });
        }
        c.total += 1;
        c.per_ip.insert(ip, n + 1);
        Ok(Permit {
            limiter: self.clone(),
            ip,
        })
    }

    pub fn total(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.limiter.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_and_per_ip_limits() {
        let l = ConnectionLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = l.try_acquire(a, 3, 2).unwrap();
        let _p2 = l.try_acquire(a, 3, 2).unwrap();
        let err = l.try_acquire(a, 3, 2).unwrap_err();
        assert_eq!(err, LimitRejection::PerIp { ip: a, max: 2 });
        assert_eq!(
            err.message(),
            "10.0.0.1 already has 2 WebSocket connections (server.max_clients_per_ip); close one first"
        );
        let _p3 = l.try_acquire(b, 3, 2).unwrap();
        let err = l.try_acquire(b, 3, 2).unwrap_err();
        assert_eq!(err, LimitRejection::Total { max: 3 });
        drop(p1);
        assert_eq!(l.total(), 2);
        assert!(l.try_acquire(a, 3, 2).is_ok());
    }

    #[test]
    fn open_connection_caps_leave_room_for_other_addresses() {
        assert_eq!(open_connection_caps(256, 32), (576, 64));
        assert_eq!(open_connection_caps(64, 16), (192, 32));
        // Small WebSocket limits still allow a browser's parallel requests.
        assert_eq!(open_connection_caps(1, 1), (66, 16));
        assert_eq!(
            open_connection_caps(usize::MAX, usize::MAX),
            (usize::MAX, usize::MAX)
        );
    }

    #[test]
    fn ipv4_mapped_counts_as_ipv4() {
        let l = ConnectionLimiter::default();
        let _p = l.try_acquire("10.0.0.1".parse().unwrap(), 9, 1).unwrap();
        assert!(
            l.try_acquire("::ffff:10.0.0.1".parse().unwrap(), 9, 1)
                .is_err()
        );
    }
}
