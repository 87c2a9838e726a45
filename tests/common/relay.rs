//! A loopback TCP relay in front of a server, to make network faults on purpose: `cut()`
//! drops every relayed connection (the peers see a reset / EOF), `freeze()` keeps them open
//! but stops passing bytes (a silent link: only heartbeats can notice), `thaw()` lets bytes
//! through again (for new connections too).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running relay; stops with the test's runtime.
pub struct Relay {
    pub addr: SocketAddr,
    frozen: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    generation: Arc<AtomicU64>,
}

impl Relay {
    /// Relays 127.0.0.1:<free port> to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let frozen = Arc::new(AtomicBool::new(false));
        let (cut, cut_rx) = watch::channel(0u64);
        let generation = Arc::new(AtomicU64::new(0));
        let f = frozen.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let Ok(up) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let _ = down.set_nodelay(true);
                let _ = up.set_nodelay(true);
                let mut cut_rx = cut_rx.clone();
                cut_rx.borrow_and_update();
                let f = f.clone();
                tokio::spawn(async move {
                    let (dr, dw) = down.into_split();
                    let (ur, uw) = up.into_split();
                    tokio::select! {
                        _ = pipe(dr, uw, f.clone()) => {}
                        _ = pipe(ur, dw, f) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            frozen,
            cut,
            generation,
        }
    }

    /// Drops every connection relayed so far.
    pub fn cut(&self) {
        let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.cut.send(g);
    }

    /// Stops passing bytes (connections stay open).
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Passes bytes again.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
