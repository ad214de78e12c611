//! Running the async client from sync code, anywhere.
//!
//! `reqwest::blocking` and `Handle::block_on` panic when called on a thread
//! that drives a tokio runtime. Instead, the future runs on a small
//! multi-thread runtime owned by interven, and the calling thread waits on a
//! channel. That works on plain threads and inside any runtime: the caller's
//! runtime is never asked to block on itself, so nothing can deadlock on it.
//! (A blocking call made on a current-thread runtime does stall that
//! runtime's other tasks while it waits, as any blocking call does.)

use std::future::Future;
use std::sync::OnceLock;
use std::sync::mpsc;

use crate::error::{Error, Result};

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("interven-blocking")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::config(format!("could not start interven's blocking runtime: {e}")))
}

/// Runs `future` to completion on interven's own runtime and waits for it.
pub(crate) fn run<F, T>(future: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        // The receiver only goes away if the caller's thread died; nothing to do then.
        let _ = tx.send(future.await);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(Error::Transport {
            source: "interven's blocking runtime dropped the request before it finished".into(),
        })
    })
}
