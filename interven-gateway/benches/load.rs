//! Load: 32 concurrent keep-alive connections on 127.0.0.1 against an
//! in-process gateway. Measures `/health` requests/s, then `/v1/scan`
//! scans/s of a typical 1 KiB tool call, in the same run; prints the ratio
//! (goal: scans ≥ 40 % of health), p50/p99 latencies and the peak RSS of
//! the process (server and load generator together).
//!
//! `cargo bench -p interven-gateway --bench load` (5 rounds of 1 s a phase; `INTERVEN_BENCH_ROUNDS` sets the rounds).

use std::sync::Arc;
use std::time::{Duration, Instant};

use interven::engine::Engine;
use interven_gateway::store::Sync;
use interven_gateway::{AppState, Config, Store, auth};
use serde_json::json;

/// The allocator of the `interven-gateway` binary, so that the bench
/// measures the server as shipped (the load generator shares it).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 32;
const PHASE: Duration = Duration::from_secs(1);

fn body() -> String {
    json!({
        "method": "POST",
        "url": "https://api.github.com/repos/acme/shop/issues",
        "tool": "github",
        "operation": "create_issue",
        "agent_id": "load-agent",
        "runtime_type": "rust",
        "body": {
            "title": "Checkout fails with 500 when the cart holds more than 20 items",
            "body": "## Steps\n1. Add 21 items to the cart\n2. Click *Checkout*\n3. See a 500 from /api/v2/orders\n\n## Expected\nThe order is created.\n\n## Logs\n2024-11-24T19:20:24Z ERROR orders::create failed: too many line items (limit 20)\nrequest_id=req_01HZX3Q7YV5M2K8N4P6R9T0W1B\n\nReported by the support team.",
            "labels": ["bug", "checkout", "p1"],
            "comments": [
                {"author": "octo-dev", "text": "Reproduced on staging with 25 items; the limit comes from the pricing service."},
                {"author": "release-bot", "text": "Linked to deploy 2.14.3 (eu-west-1), rollback window closes at 18:00 UTC."}
            ],
            "assignees": ["octo-dev", "release-bot"],
            "metadata": {"source": "agent", "run_id": "550e8400-e29b-41d4-a716-446655440000", "attempt": 2, "version": "2.14.3"}
        }
    })
    .to_string()
}

struct Phase {
    requests: usize,
    errors: usize,
    /// Microseconds (4 bytes each, so that the generator's own memory stays
    /// small next to the server's in the RSS figure).
    latencies: Vec<u32>,
    elapsed: Duration,
    /// CPU time of the whole process (server and load generator) in the phase.
    cpu: Duration,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn merge(phases: &[Phase]) -> Phase {
        Phase {
            requests: phases.iter().map(|p| p.requests).sum(),
            errors: phases.iter().map(|p| p.errors).sum(),
            latencies: phases
                .iter()
                .flat_map(|p| p.latencies.iter().copied())
                .collect(),
            elapsed: phases.iter().map(|p| p.elapsed).sum(),
            cpu: phases.iter().map(|p| p.cpu).sum(),
        }
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let micros = l
            .get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default();
        Duration::from_micros(u64::from(micros))
    }
}

async fn phase(url: String, key: String, payload: Option<Arc<String>>) -> Phase {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let started = Instant::now();
    let cpu_before = process_cpu();
    let deadline = started + PHASE;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, url, key, payload) = (http.clone(), url.clone(), key.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0usize, 0usize, Vec::new());
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = match &payload {
                    Some(body) => {
                        http.post(&url)
                            .bearer_auth(&key)
                            .header("content-type", "application/json")
                            .body(body.as_str().to_owned())
                            .send()
                            .await
                    }
                    None => http.get(&url).send().await,
                };
                match r {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        ok += 1;
                        latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                    _ => errors += 1,
                }
            }
            (ok, errors, latencies)
        }));
    }
    let mut p = Phase {
        requests: 0,
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
        cpu: Duration::ZERO,
    };
    for t in tasks {
        let (ok, errors, latencies) = t.await.unwrap();
        p.requests += ok;
        p.errors += errors;
        p.latencies.extend(latencies);
    }
    p.elapsed = started.elapsed();
    p.cpu = process_cpu().saturating_sub(cpu_before);
    p
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// User and system CPU time of this process so far.
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.get(10)? + f.get(11)?)
        })
        .unwrap_or(0);
    // Linux reports these in USER_HZ, 100 a second.
    Duration::from_millis(ticks * 10)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less args; keep that quick.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let db = std::env::temp_dir().join(format!("interven-load-{}.db", std::process::id()));
    // INTERVEN_BENCH_SYNC=normal measures the `--sync normal` store.
    let sync = if std::env::var("INTERVEN_BENCH_SYNC").as_deref() == Ok("normal") {
        Sync::Normal
    } else {
        Sync::Full
    };
    let store = Store::open_with(&db, sync).unwrap();
    let key = auth::create_key(&store, "load", "bench", false).unwrap();
    let state = AppState::new(
        Engine::default(),
        store,
        Config {
            rate_per_second: 0.0,
            ..Config::default()
        },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(interven_gateway::serve(
            listener,
            state,
            std::future::pending(),
        ));
        let base = format!("http://{addr}");
        let payload = Arc::new(body());
        // INTERVEN_BENCH_ONLY=scan skips the health phases (to profile the scan path).
        let only_scan = std::env::var("INTERVEN_BENCH_ONLY").as_deref() == Ok("scan");
        let rounds: usize = std::env::var("INTERVEN_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(5)
            .max(1);
        // The phases alternate, so that a slow spell of a shared machine
        // hits both; the ratio is the median of the rounds' ratios.
        let (mut health, mut scans) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            if !only_scan {
                health.push(phase(format!("{base}/health"), key.clone(), None).await);
            }
            scans.push(phase(format!("{base}/v1/scan"), key.clone(), Some(payload.clone())).await);
        }
        // Read before the figures are merged and sorted below.
        let peak_rss = peak_rss_kib();
        println!(
            "connections: {CONNECTIONS}, {rounds} rounds of {}s a phase, body {} bytes, allocator: {}",
            PHASE.as_secs(),
            payload.len(),
            if cfg!(feature = "mimalloc") { "mimalloc" } else { "system" }
        );
        for (name, phases) in [("health", &health), ("scan", &scans)] {
            if phases.is_empty() {
                continue;
            }
            let all = Phase::merge(phases);
            let rates: Vec<String> = phases.iter().map(|p| format!("{:.0}", p.rate())).collect();
            println!(
                "{name:>7}: {:>9.0} req/s (median; rounds: {})  p50 {:>6.2} ms  p99 {:>6.2} ms  CPU {:.1} us/req  ({} ok, {} errors)",
                median(phases.iter().map(Phase::rate)),
                rates.join(", "),
                all.percentile(0.5).as_secs_f64() * 1000.0,
                all.percentile(0.99).as_secs_f64() * 1000.0,
                all.cpu.as_secs_f64() * 1e6 / all.requests.max(1) as f64,
                all.requests,
                all.errors
            );
        }
        if !only_scan {
            let ratios: Vec<f64> = health
                .iter()
                .zip(&scans)
                .map(|(h, s)| s.rate() / h.rate() * 100.0)
                .collect();
            println!(
                "scan/health ratio: {:.1} % (median of the rounds: {})",
                median(ratios.iter().copied()),
                ratios.iter().map(|r| format!("{r:.1} %")).collect::<Vec<_>>().join(", ")
            );
        }
        println!(
            "peak RSS (server + load generator): {} MiB",
            peak_rss / 1024
        );
    });
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
