//! What every connector's client task does the same way with its websocket: connecting with
//! small buffers and a message cap (a bridge holds thousands of idle sessions: 4 KiB read and
//! write buffers each, frames and messages at most [`MAX_MESSAGE`]), and the delay before the
//! next attempt after the link is lost.

use std::time::Duration;

use rand::Rng;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Largest websocket message (and frame) accepted from a server, in bytes.
pub const MAX_MESSAGE: usize = 4 << 20;

/// The longest a websocket connect (TCP, TLS and the HTTP upgrade) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client websocket.
pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `url` (ws or wss) with 4 KiB buffers, the [`MAX_MESSAGE`] cap and TCP_NODELAY
/// (frames are small and latency-bound: Nagle adds ~40 ms), within [`CONNECT_TIMEOUT`]. The
/// error is a sentence for logs and login states.
pub async fn connect(url: &str) -> Result<WsStream, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Err(_) => Err("connection timeout".into()),
        Ok(Err(e)) => Err(format!("connection failed: {e}")),
        Ok(Ok((ws, _))) => Ok(ws),
    }
}

/// The wait before reconnect attempt number `attempt` (0 for the first), between `min` and
/// `max`: uniform between the floor and twice the exponential step (capped), so sessions that
/// lost their server together (a restart) spread their retries instead of all coming back
/// after exactly `min`.
pub fn reconnect_delay(min: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = min.saturating_mul(1u32 << attempt.min(16)).min(max);
    let upper = exp.saturating_mul(2).min(max).max(min);
    min + (upper.saturating_sub(min)).mul_f64(rand::rng().random_range(0.0..1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_the_floor_and_the_cap_and_grow() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 0..40 {
            let d = reconnect_delay(min, max, attempt);
            assert!(d >= min && d <= max, "attempt {attempt}: {d:?}");
        }
        // From attempt 6 on the step is capped: every delay lies in [min, max], and the first
        // attempt's in [min, 2 min].
        assert!(reconnect_delay(min, max, 0) <= min * 2);
        let same = reconnect_delay(max, max, 3);
        assert_eq!(same, max, "a floor equal to the cap leaves no spread");
    }
}
