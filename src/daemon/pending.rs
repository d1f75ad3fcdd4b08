//! Bookkeeping for event messages published while the database could not commit them: the
//! seq counter that continues the database's sequence, and the bounded queue of messages
//! waiting to be committed with exactly the seq they were sent with. Pure; the store writer
//! (writer.rs) does the I/O.

use crate::server::hub::LiveEvent;
use crate::server::protocol::EventData;
use std::collections::VecDeque;

/// A message sent to clients but not yet stored.
#[derive(Debug, Clone)]
pub struct Held {
    /// The event data, its `seq` set.
    pub event: EventData,
    /// The text clients got; the commit stores the same.
    pub live: LiveEvent,
}

#[derive(Debug)]
pub struct Pending {
    queue: VecDeque<Held>,
    max: usize,
    /// Highest seq handed out, committed or held.
    last_seq: i64,
    dropped: u64,
}

impl Pending {
    /// `last_seq`: the database's highest seq; `max`: messages held at most.
    pub fn new(last_seq: i64, max: usize) -> Pending {
        Pending {
            queue: VecDeque::new(),
            max: max.max(1),
            last_seq,
            dropped: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Messages dropped from the full queue so far (sent, never stored).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The seq the next held message gets.
    pub fn next_seq(&self) -> i64 {
        self.last_seq + 1
    }

    /// The database committed a message with `seq` on the normal path.
    pub fn committed(&mut self, seq: i64) {
        self.last_seq = self.last_seq.max(seq);
    }

    /// Queues a message made with [`Pending::next_seq`]. When the queue is full the oldest
    /// message is dropped and returned: order is kept, memory stays bounded, and live
    /// delivery goes on (clients already have the dropped one).
    pub fn hold(&mut self, held: Held) -> Option<Held> {
        debug_assert_eq!(held.live.seq, self.next_seq());
        self.last_seq = self.last_seq.max(held.live.seq);
        let dropped = if self.queue.len() >= self.max {
            self.dropped += 1;
            self.queue.pop_front()
        } else {
            None
        };
        self.queue.push_back(held);
        dropped
    }

    /// Held messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Held> {
        self.queue.iter()
    }

    /// The oldest held message: the next to commit.
    pub fn front(&self) -> Option<&Held> {
        self.queue.front()
    }

    pub fn pop_front(&mut self) -> Option<Held> {
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::protocol::Phase;
    use std::sync::Arc;

    fn held(seq: i64) -> Held {
        Held {
            event: EventData {
                id: format!("evt-{seq}"),
                camera_id: "cam-1".into(),
                event_type: "motion".into(),
                timestamp: "2024-01-01T00:00:00Z".into(),
                confidence: 1.0,
                seq,
                phase: Phase::Start,
                camera_name: "Cam".into(),
                end_timestamp: None,
                bbox: None,
                snapshot_url: None,
                end_reason: None,
            },
            live: LiveEvent {
                seq,
                camera_id: Arc::from("cam-1"),
                text: format!("{{\"seq\":{seq}}}").into(),
            },
        }
    }

    #[test]
    fn seqs_continue_the_database_and_survive_commits() {
        let mut p = Pending::new(41, 10);
        assert_eq!(p.next_seq(), 42);
        p.committed(42);
        assert_eq!(p.next_seq(), 43);
        assert!(p.hold(held(43)).is_none());
        assert!(p.hold(held(44)).is_none());
        assert_eq!(p.len(), 2);
        assert_eq!(p.next_seq(), 45);
        // Committing the held ones does not move the counter back.
        assert_eq!(p.pop_front().map(|h| h.live.seq), Some(43));
        p.committed(43);
        assert_eq!(p.next_seq(), 45);
        assert_eq!(p.front().map(|h| h.event.seq), Some(44));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let mut p = Pending::new(0, 2);
        assert!(p.hold(held(1)).is_none());
        assert!(p.hold(held(2)).is_none());
        assert_eq!(p.hold(held(3)).map(|h| h.live.seq), Some(1));
        assert_eq!(p.dropped(), 1);
        assert_eq!(p.len(), 2);
        let left: Vec<i64> = std::iter::from_fn(|| p.pop_front().map(|h| h.live.seq)).collect();
        assert_eq!(left, [2, 3]);
        assert!(p.is_empty());
        assert_eq!(p.next_seq(), 4);
    }
}
