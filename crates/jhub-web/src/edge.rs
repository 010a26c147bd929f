//! The server edge: accepting TCP connections and speaking HTTP/1.1 on them
//! with limits a hostile client cannot stretch (issue 11 item 5).
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never ran
//! and a client sending half a request header kept its connection (and a
//! task) forever. Here every connection gets:
//! - a header read timeout: a request head must be complete within it,
//!   counted from the connection's start for its first request and from
//!   the first byte of each later one;
//! - an idle timeout: no byte read or written for that long while no
//!   handler is working on a response closes the connection. This is also
//!   the keep-alive limit between requests, kept long on purpose:
//!   configurable-http-proxy keeps its sockets to the hub alive without a
//!   timeout of its own, and a server that closes idle sockets early races
//!   with the proxy reusing them (the proxy then answers 503). Request
//!   bodies also time out per frame after it;
//! - header size limits: at most `max_header_bytes` of request head and
//!   `max_headers` fields (hyper answers 431 beyond them);
//! - a connection limit: at `max_connections` open connections the hub
//!   stops accepting until one closes (newcomers wait in the kernel's
//!   backlog) instead of running out of file descriptors.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Limits of the HTTP server edge (`hub.config.JhubSecurity`, see
/// docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_connections: 4096,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
        }
    }
}

/// hyper's smallest read buffer; a smaller header limit cannot be enforced.
const MIN_HEADER_BYTES: usize = 8192;

/// `head_ms` when no request head is being waited for.
const NO_HEAD: u64 = u64::MAX;

/// Activity of one connection, shared by its I/O and its service.
struct Activity {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last byte moved or handler finished.
    last_ms: AtomicU64,
    /// Milliseconds since `epoch` when the request head now arriving began
    /// (the connection's start for its first request), or [`NO_HEAD`].
    head_ms: AtomicU64,
    /// Handlers working on a response right now.
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            head_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NO_HEAD - 1)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Bytes arrived: between requests they start the next request head.
    fn bytes_in(&self) {
        self.touch();
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ = self.head_ms.compare_exchange(NO_HEAD, self.now_ms(), Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// When the head now arriving must be complete.
    fn head_deadline(&self, limit: Duration) -> Option<Instant> {
        match self.head_ms.load(Ordering::Relaxed) {
            NO_HEAD => None,
            ms => Some(self.epoch + Duration::from_millis(ms) + limit),
        }
    }
}

/// Ends a handler's in-flight mark however its future ends (done or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    /// A request head is complete: its handler starts.
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.head_ms.store(NO_HEAD, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that records when bytes move.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_in();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Errors of `accept` that concern one connection, not the listener.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves,
/// then lets in-flight requests finish (kept-alive connections are closed
/// after their current response).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.idle_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The per-head limit is enforced below (hyper's timer also runs
        // between kept-alive requests); hyper's bounds the idle wait.
        .header_read_timeout(limits.idle_timeout.max(limits.header_read_timeout))
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES))
        .max_headers(limits.max_headers);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::error!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
        let service = {
            let router = router.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                let router = router.clone();
                let mark = InFlight::start(&activity);
                request.extensions_mut().insert(ConnectInfo(peer));
                async move {
                    let response = router.oneshot(request.map(axum::body::Body::new)).await;
                    drop(mark);
                    response
                }
            })
        };
        let builder = builder.clone();
        let stop = stop.clone();
        let (idle, head_limit) = (limits.idle_timeout, limits.header_read_timeout);
        tracker.spawn(async move {
            let _permit = permit;
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            let mut draining = false;
            loop {
                let idle_at = activity.last() + idle;
                let head_at = activity.head_deadline(head_limit);
                let deadline = tokio::time::Instant::from_std(head_at.map_or(idle_at, |h| h.min(idle_at)));
                tokio::select! {
                    _ = connection.as_mut() => break,
                    () = stop.cancelled(), if !draining => {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        if activity.head_deadline(head_limit).is_some_and(|at| Instant::now() >= at) {
                            tracing::info!(%peer, "closing a connection whose request head did not arrive in time");
                            break;
                        }
                        let busy = activity.in_flight.load(Ordering::Relaxed) > 0;
                        if !busy && activity.last().elapsed() >= idle {
                            tracing::debug!(%peer, "closing an idle connection");
                            break;
                        }
                        if busy {
                            activity.touch();
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}
