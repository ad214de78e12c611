//! The scan pool: a few long-lived threads (one per core by default) that
//! run the engine, fed from one queue per tenant, taken in turn.
//!
//! Scans are CPU work: on tokio's async workers they stall every other
//! request, and on tokio's blocking pool (hundreds of short-lived threads)
//! they run as many at once as arrive, which only slows each of them, and
//! defeats the per-thread caches of the detectors' regexes. Here at most
//! one scan a thread runs, and tenants take turns: a tenant with eight huge
//! scans queued delays its own, not another tenant's next scan by more than
//! one scan per thread.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queues {
    by_tenant: HashMap<String, VecDeque<Job>>,
    /// Tenants with queued jobs, in turn order.
    turn: VecDeque<String>,
    stopped: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    max_queued: usize,
}

/// A pool of scan threads with a queue per tenant.
pub struct ScanPool {
    shared: Arc<Shared>,
    threads: usize,
}

impl std::fmt::Debug for ScanPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanPool")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The tenant already has as many scans queued as allowed.
    QueueFull,
    /// The pool stopped, or the job panicked.
    Failed,
}

impl ScanPool {
    /// A pool of `threads` threads (0: one per core), with at most
    /// `max_queued` jobs waiting per tenant. A thread that cannot be started
    /// is logged; a pool with none refuses every job (fail closed).
    pub fn new(threads: usize, max_queued: usize) -> ScanPool {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        } else {
            threads
        };
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            max_queued: max_queued.max(1),
        });
        let mut started = 0;
        for i in 0..threads {
            let shared = shared.clone();
            match std::thread::Builder::new()
                .name(format!("interven-scan-{i}"))
                .spawn(move || work(&shared))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a scan thread"),
            }
        }
        if started == 0 {
            shared
                .queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .stopped = true;
        }
        ScanPool {
            shared,
            threads: started,
        }
    }

    /// Runs `f` on the pool in `tenant`'s turn and waits for its result.
    ///
    /// # Errors
    /// [`Refused::QueueFull`] when the tenant has too many scans waiting,
    /// [`Refused::Failed`] when the pool stopped or `f` panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refused> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if let Ok(v) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        });
        {
            let mut q = self.lock();
            if q.stopped {
                return Err(Refused::Failed);
            }
            let queue = q.by_tenant.entry(tenant.to_owned()).or_default();
            if queue.len() >= self.shared.max_queued {
                return Err(Refused::QueueFull);
            }
            queue.push_back(job);
            if queue.len() == 1 {
                q.turn.push_back(tenant.to_owned());
            }
        }
        self.shared.ready.notify_one();
        rx.await.map_err(|_| Refused::Failed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.shared
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ScanPool {
    fn drop(&mut self) {
        self.lock().stopped = true;
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared) {
    loop {
        let job = {
            let mut q = shared.queues.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if q.stopped {
                    return;
                }
                if let Some(tenant) = q.turn.pop_front() {
                    let job = q.by_tenant.get_mut(&tenant).and_then(VecDeque::pop_front);
                    if q.by_tenant.get(&tenant).is_some_and(|j| !j.is_empty()) {
                        q.turn.push_back(tenant);
                    } else {
                        q.by_tenant.remove(&tenant);
                    }
                    if let Some(job) = job {
                        break job;
                    }
                    continue;
                }
                q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn tenants_take_turns_and_queues_are_bounded() {
        let pool = Arc::new(ScanPool::new(1, 4));
        let order = Arc::new(Mutex::new(Vec::new()));
        // Tenant a has one slow job running and four queued; b queues one after them.
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (pool, order) = (pool.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pool.run("a", move || {
                    std::thread::sleep(Duration::from_millis(50));
                    order.lock().unwrap().push(format!("a{i}"));
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            pool.run("a", || ()).await,
            Err(Refused::QueueFull),
            "a's queue is full"
        );
        let o = order.clone();
        pool.run("b", move || o.lock().unwrap().push("b".to_owned()))
            .await
            .unwrap();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        let b = order.iter().position(|x| x == "b").unwrap();
        assert!(
            b <= 2,
            "b waited for at most the running job and one turn of a: {order:?}"
        );
        // A panicking job is an error, and the pool goes on.
        assert_eq!(pool.run("a", || panic!("boom")).await, Err(Refused::Failed));
        assert_eq!(pool.run("a", || 7).await, Ok(7));
    }
}
