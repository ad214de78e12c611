//! The connection loop: HTTP/1.1 over TCP with the limits a server exposed
//! to strangers needs. A connection cap, a header read timeout that also
//! closes idle kept-alive connections, and a bounded graceful shutdown
//! (the body read timeout is the handlers', see
//! [`Config::body_timeout`](crate::Config::body_timeout)).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};

/// The peer of a request's connection, as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// What bounds connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a connection may take to send a complete request head,
    /// counted from when it opens or its previous response was sent: so also
    /// how long a kept-alive connection may sit idle.
    pub header_timeout: Duration,
    /// How long the server waits, once asked to stop, for requests in flight.
    pub shutdown_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown`, then stops accepting,
/// asks every connection to close after its request in flight, and waits at
/// most `shutdown_timeout` for them.
///
/// # Errors
/// Never for a failed accept (logged, retried); only when the listener is unusable.
pub async fn run(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, a reset before accept…: wait a
                    // little and go on, never spin and never stop serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ClientAddr(addr));
                let mut router = router.clone();
                async move {
                    tower_service::Service::call(&mut router, req.map(axum::body::Body::new)).await
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_s = limits.shutdown_timeout.as_secs_f64(),
            "connections still open at the shutdown timeout; closing them"
        );
    }
    Ok(())
}
