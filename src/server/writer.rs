//! The writer half of a WebSocket connection: drains the connection's queue into the socket,
//! batching frames per flush, and sends the close frame (queued after everything else, or
//! out of band when the client has stopped reading).

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::hub::{Hub, Outgoing};
use super::ws::Ws;

/// Queued frames written per flush.
const WRITE_BATCH: usize = 64;

fn to_message(item: Outgoing) -> Message {
    match item {
        Outgoing::Text(t) => Message::Text(t),
        Outgoing::Ping => Message::Ping(Default::default()),
        Outgoing::Close(frame) => Message::Close(Some(frame)),
    }
}

enum WriteStep {
    Close(Result<CloseFrame, oneshot::error::RecvError>),
    /// Frames written, and whether the last was a close frame.
    Wrote(Result<(u64, bool), WsError>),
}

/// Drains the queue into the socket until the queue closes, a write fails or a close is
/// requested (a dropped close sender means: stop without a close frame).
pub(crate) async fn write_loop(
    mut sink: SplitSink<Ws, Message>,
    mut queue: mpsc::Receiver<Outgoing>,
    mut close: oneshot::Receiver<CloseFrame>,
    hub: Hub,
    grace: std::time::Duration,
) {
    loop {
        let step = tokio::select! {
            biased;
            frame = &mut close => WriteStep::Close(frame),
            item = queue.recv() => {
                let Some(item) = item else { return };
                let batch = async {
                    let mut n = 1u64;
                    let mut closed = matches!(item, Outgoing::Close(_));
                    sink.feed(to_message(item)).await?;
                    while !closed && n < WRITE_BATCH as u64 {
                        match queue.try_recv() {
                            Ok(item) => {
                                closed = matches!(item, Outgoing::Close(_));
                                sink.feed(to_message(item)).await?;
                                n += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    sink.flush().await?;
                    Ok((n, closed))
                };
                tokio::select! {
                    biased;
                    frame = &mut close => WriteStep::Close(frame),
                    r = batch => WriteStep::Wrote(r),
                }
            }
        };
        match step {
            WriteStep::Wrote(Ok((n, closed))) => {
                hub.metrics().message_sent(n);
                if closed {
                    return;
                }
            }
            WriteStep::Wrote(Err(_)) => return,
            WriteStep::Close(Ok(frame)) => {
                let _ = tokio::time::timeout(grace, sink.send(Message::Close(Some(frame)))).await;
                return;
            }
            WriteStep::Close(Err(_)) => return,
        }
    }
}
