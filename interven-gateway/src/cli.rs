//! The command line: `serve`, `keys`, `scan`, `approvals`, `traces`, `policy`.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use interven::engine::{Engine, Policy};
use serde_json::json;

use crate::server::{AppState, Config, serve};
use crate::store::{Store, Sync};

/// The self-hosted interven gateway.
#[derive(Debug, Parser)]
#[command(
    name = "interven-gateway",
    version,
    about = "Self-hosted interven gateway: the wire protocol over the embedded engine"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the protocol over HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// SQLite database file (created if missing).
        #[arg(long, default_value = "interven.db")]
        db: PathBuf,
        /// TOML policy file (default: the built-in policy). Reloaded on SIGHUP
        /// and when it changes; a file that does not load or check is refused
        /// and the previous policy stays in force.
        #[arg(long, env = "INTERVEN_POLICY")]
        policy: Option<PathBuf>,
        /// Largest request body in bytes.
        #[arg(long, default_value_t = 256 * 1024)]
        body_limit: usize,
        /// Scans per second per key (0 disables the limit).
        #[arg(long, default_value_t = 100.0)]
        rate_limit: f64,
        /// Burst of the per-key rate limit.
        #[arg(long, default_value_t = 200.0)]
        burst: f64,
        /// Seconds a pending approval lives.
        #[arg(long, default_value_t = 3600)]
        approval_ttl: u64,
        /// Seconds after an approval during which the identical request is allowed.
        #[arg(long, default_value_t = 600)]
        approval_grace: u64,
        /// `full`: fsync every commit before answering (default); `normal`: survive a
        /// gateway crash but not a machine crash, faster.
        #[arg(long, value_enum, default_value_t = Sync::Full)]
        sync: Sync,
        /// Reads (approval status and list, traces) per second per key (0 disables).
        #[arg(long, default_value_t = 50.0)]
        read_rate_limit: f64,
        /// Failed authentications per second per client address and per key
        /// prefix before 429 (0 disables).
        #[arg(long, default_value_t = 5.0)]
        auth_failure_rate: f64,
        /// Days an approval is kept after it expires; then it is pruned.
        #[arg(long, default_value_t = 7)]
        approval_retention_days: u64,
        /// Connections served at once; more wait in the listen backlog.
        #[arg(long, default_value_t = 1024)]
        max_connections: usize,
        /// Seconds a connection may take to send a request head, and may idle
        /// between two requests.
        #[arg(long, default_value_t = 10)]
        header_timeout: u64,
        /// Seconds a request may take to send its body (then 408).
        #[arg(long, default_value_t = 10)]
        body_timeout: u64,
        /// Seconds a stopping server waits for requests in flight.
        #[arg(long, default_value_t = 10)]
        shutdown_timeout: u64,
        /// The console's and the notifications' flags.
        #[command(flatten)]
        console: crate::console::ConsoleArgs,
    },
    /// Manage API keys.
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Scan JSON Lines requests from stdin; write one verdict per line (no server).
    Scan {
        /// TOML policy file (default: the built-in policy).
        #[arg(long, env = "INTERVEN_POLICY")]
        policy: Option<PathBuf>,
    },
    /// List and decide approvals.
    Approvals {
        /// What to do with approvals.
        #[command(subcommand)]
        action: ApprovalsAction,
    },
    /// Read and verify traces.
    Traces {
        /// What to do with traces.
        #[command(subcommand)]
        action: TracesAction,
    },
    /// Test, lint and digest policies (exit 0 ok, 1 a mismatch or error, 2 an unreadable file).
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: crate::policy_cmd::PolicyAction,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key; prints it, alone, on stdout (it is not stored).
    Create {
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
        /// A name for the key.
        #[arg(long)]
        name: String,
        /// The tenant the key belongs to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Let the key approve, deny and read traces.
        #[arg(long)]
        admin: bool,
    },
    /// List keys (never the keys themselves).
    List {
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
    /// Revoke a key by id or name. A running server refuses it within a second.
    Revoke {
        /// The key's id or name.
        key: String,
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
}

/// `approvals` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApprovalsAction {
    /// List pending approvals.
    List {
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
    /// Approve a pending approval.
    Approve {
        /// The approval id.
        id: String,
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
    /// Deny a pending approval.
    Deny {
        /// The approval id.
        id: String,
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
}

/// `traces` subcommands.
#[derive(Debug, Subcommand)]
pub enum TracesAction {
    /// Print a trace.
    Show {
        /// The trace id.
        trace_id: String,
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
    /// List the latest traces that monitor-mode rules matched: what
    /// monitoring would have done (one JSON line each, newest first).
    List {
        /// Only monitored traces (required: the list is for monitoring).
        #[arg(long)]
        monitored: bool,
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
    /// Check every tenant's hash chain; non-zero exit when anything was edited.
    Verify {
        /// SQLite database file.
        #[arg(long)]
        db: PathBuf,
    },
}

fn existing(db: &PathBuf) -> Result<Store> {
    if !db.exists() {
        bail!("database {} does not exist", db.display());
    }
    Store::open(db)
}

fn engine(policy: Option<&PathBuf>) -> Result<Engine> {
    let policy = match policy {
        Some(p) => Policy::from_file(p).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Policy::default(),
    };
    Ok(Engine::new(policy))
}

/// Runs a command line.
///
/// # Errors
/// Any failure, with a message for the user.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            bind,
            db,
            policy,
            body_limit,
            rate_limit,
            burst,
            approval_ttl,
            approval_grace,
            sync,
            read_rate_limit,
            auth_failure_rate,
            approval_retention_days,
            max_connections,
            header_timeout,
            body_timeout,
            shutdown_timeout,
            console,
        } => {
            let (engine, loaded) = match &policy {
                Some(path) => {
                    let (p, text) = crate::policy_cmd::load_checked(path)
                        .map_err(|e| anyhow::anyhow!("the policy is refused:\n{e}"))?;
                    (Engine::new(p), Some(text))
                }
                None => (Engine::default(), None),
            };
            let store = Store::open_with(&db, sync)?;
            let config = Config {
                body_limit,
                rate_per_second: rate_limit,
                burst,
                read_rate_per_second: read_rate_limit,
                read_burst: read_rate_limit * 2.0,
                auth_failure_rate,
                auth_failure_burst: (auth_failure_rate * 4.0).max(1.0),
                approval_ttl: Duration::from_secs(approval_ttl),
                approval_grace: Duration::from_secs(approval_grace),
                approval_retention: Duration::from_secs(
                    approval_retention_days.saturating_mul(86_400),
                ),
                max_connections,
                header_timeout: Duration::from_secs(header_timeout.max(1)),
                body_timeout: Duration::from_secs(body_timeout.max(1)),
                shutdown_timeout: Duration::from_secs(shutdown_timeout),
                console: console.into_config()?,
                ..Config::default()
            };
            let state = AppState::new(engine, store, config);
            let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            if let (Some(path), Some(text)) = (policy, loaded) {
                let reloader =
                    crate::reload::Reloader::new(std::sync::Arc::clone(&state), path, &text);
                rt.spawn(reloader.run());
            }
            let result = rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
                tracing::info!(addr = %listener.local_addr()?, db = %db.display(), "interven-gateway listening");
                serve(listener, state, shutdown_signal()).await.context("server failed")?;
                Ok(())
            });
            // Connections still open past the shutdown timeout are dropped here.
            rt.shutdown_timeout(Duration::from_millis(500));
            tracing::info!("interven-gateway stopped");
            result
        }
        Command::Keys { action } => match action {
            KeysAction::Create {
                db,
                name,
                tenant,
                admin,
            } => {
                let key = crate::auth::create_key(&Store::open(&db)?, &name, &tenant, admin)?;
                println!("{key}");
                Ok(())
            }
            KeysAction::List { db } => {
                for k in existing(&db)?.keys()? {
                    println!(
                        "{}\t{}\ttenant={}\t{}\t{}",
                        k.id,
                        k.name,
                        k.tenant,
                        if k.admin { "admin" } else { "agent" },
                        if k.revoked { "revoked" } else { "active" }
                    );
                }
                Ok(())
            }
            KeysAction::Revoke { key, db } => {
                if !existing(&db)?.revoke_key(&key)? {
                    bail!("no key with id or name `{key}`");
                }
                println!("revoked {key}");
                Ok(())
            }
        },
        Command::Scan { policy } => {
            let engine = engine(policy.as_ref())?;
            match map_stdin() {
                Some(map) => scan_slice(&engine, &map, std::io::stdout().lock()),
                None => scan_lines(&engine, std::io::stdin().lock(), std::io::stdout().lock()),
            }
        }
        Command::Policy { action } => {
            let code = crate::policy_cmd::run(
                &action,
                std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            if code == 0 {
                Ok(())
            } else {
                Err(crate::policy_cmd::Exit(code).into())
            }
        }
        Command::Approvals { action } => match action {
            ApprovalsAction::List { db } => {
                let store = existing(&db)?;
                store.expire(now())?;
                for a in store.pending_approvals()? {
                    println!(
                        "{}\ttenant={}\texpires_in={}s",
                        a.approval_id,
                        a.tenant,
                        (a.expires_at - now()).max(0)
                    );
                }
                Ok(())
            }
            ApprovalsAction::Approve { id, db } => decide(&db, &id, "approved"),
            ApprovalsAction::Deny { id, db } => decide(&db, &id, "denied"),
        },
        Command::Traces { action } => match action {
            TracesAction::Show { trace_id, db } => {
                let store = existing(&db)?;
                let tenant = store
                    .trace_tenant(&trace_id)?
                    .with_context(|| format!("no trace `{trace_id}`"))?;
                let trace = store
                    .trace(&tenant, &trace_id)?
                    .with_context(|| format!("no trace `{trace_id}`"))?;
                println!("{}", serde_json::to_string_pretty(&trace)?);
                Ok(())
            }
            TracesAction::List {
                monitored,
                tenant,
                limit,
                db,
            } => {
                if !monitored {
                    bail!("only monitored traces are listed: add --monitored");
                }
                for t in existing(&db)?.monitored_traces(tenant.as_deref(), limit)? {
                    println!("{t}");
                }
                Ok(())
            }
            TracesAction::Verify { db } => {
                let problems = existing(&db)?.verify()?;
                if problems.is_empty() {
                    println!("ok: every trace chain is intact");
                    Ok(())
                } else {
                    for p in &problems {
                        println!("{p}");
                    }
                    bail!("{} problem(s): the trace store was edited", problems.len())
                }
            }
        },
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn decide(db: &PathBuf, id: &str, to: &str) -> Result<()> {
    let store = existing(db)?;
    let tenant = store
        .approval_tenant(id)?
        .with_context(|| format!("no approval `{id}`"))?;
    match store.decide_approval(&tenant, id, to == "approved", "cli", now())? {
        crate::store::Decided::Decided(_) => {}
        crate::store::Decided::NotPending(a) => {
            bail!("approval `{id}` is {}, not pending", a.status)
        }
        crate::store::Decided::NotFound => bail!("no approval `{id}`"),
    }
    println!("{id} {to}");
    Ok(())
}

/// The `scan` command: one verdict (or `{"error": ...}`) per input line, in order.
///
/// # Errors
/// When stdin or stdout fails.
pub fn scan_lines(engine: &Engine, mut input: impl BufRead, output: impl Write) -> Result<()> {
    let mut out = Verdicts::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .context("cannot read stdin")?
            == 0
        {
            break;
        }
        out.line(engine, &line)?;
    }
    out.finish()
}

/// [`scan_lines`] over input already in memory: each line is scanned where
/// it lies, not copied.
fn scan_slice(engine: &Engine, input: &[u8], output: impl Write) -> Result<()> {
    let mut out = Verdicts::new(output);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', input).chain([input.len()]) {
        let line = &input[start..end];
        start = end + 1;
        // The empty rest after a final line feed is no line.
        if end == input.len() && line.is_empty() {
            break;
        }
        out.line(engine, line)?;
    }
    out.finish()
}

/// Where the verdicts go, one line each, and the count of input lines.
struct Verdicts<W: Write> {
    output: std::io::BufWriter<W>,
    n: usize,
}

impl<W: Write> Verdicts<W> {
    fn new(output: W) -> Self {
        Verdicts {
            output: std::io::BufWriter::with_capacity(64 * 1024, output),
            n: 0,
        }
    }

    /// One input line (its line feed included or not): skipped when blank.
    fn line(&mut self, engine: &Engine, line: &[u8]) -> Result<()> {
        self.n += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let n = self.n;
        match scan_line(engine, line) {
            Ok(verdict) => serde_json::to_writer(&mut self.output, &verdict)?,
            Err(e) => serde_json::to_writer(
                &mut self.output,
                &json!({ "error": format!("line {n}: {e}") }),
            )?,
        }
        writeln!(self.output).context("cannot write stdout")
    }

    fn finish(mut self) -> Result<()> {
        self.output.flush().context("cannot write stdout")
    }
}

/// Stdin mapped into memory when it is a non-empty regular file
/// (`scan < requests.jsonl`); else `None`, and stdin is read as a stream.
///
/// A file read into a buffer is copied into fresh pages, which the kernel
/// zeroes first: on a 100 MB request that took longer than parsing it. A map
/// shares the page cache's pages instead.
fn map_stdin() -> Option<memmap2::Mmap> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let file = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned().ok()?);
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        // SAFETY: the map is read-only and private to this process. As with
        // any program that maps its input (ripgrep does), the file must not
        // be truncated while it is scanned (the process would end with
        // SIGBUS); a file changed meanwhile is scanned as it then reads.
        // Mapped from stdin's own offset on, it is what a read would return.
        let offset = {
            use std::io::Seek;
            let mut f = &file;
            f.stream_position().ok()?
        };
        if offset >= meta.len() {
            return None;
        }
        unsafe { memmap2::MmapOptions::new().offset(offset).map(&file) }.ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// One scan request of a JSON Lines input: its body is scanned from the
/// line's bytes, and parsed only when the verdict needs it.
fn scan_line(engine: &Engine, line: &[u8]) -> Result<interven::Verdict> {
    /// The size from which a request is first cut at a trailing body.
    const CUT_MIN_BYTES: usize = 1 << 20;
    let text = std::str::from_utf8(line).context("not UTF-8")?;
    // A big request whose body comes last: the other members are parsed
    // alone and the body only once, by the scan. The cut is right when the
    // body text scans to its end; anything else (a member after the body,
    // a body nested too deep to be read to its end, an error) goes the
    // whole way below, whose verdict or error is the one given.
    if text.len() >= CUT_MIN_BYTES
        && let Some((head, body)) = crate::json::split_trailing_body(text)
        && let Ok(parsed) = serde_json::from_str::<crate::json::ScanEnvelope<'_>>(&head)
        && parsed.body.is_none()
        && !parsed.request.method().is_empty()
        && let Ok(verdict) = engine.scan_json(parsed.request, body.as_bytes())
        && !verdict.has_reason("BODY_TOO_DEEP")
    {
        return Ok(verdict);
    }
    let parsed: crate::json::ScanEnvelope<'_> = serde_json::from_str(text)?;
    if parsed.request.method().is_empty() {
        bail!("empty method");
    }
    let body = parsed.body.map_or("{}", |b| b.get());
    Ok(engine.scan_json(parsed.request, body.as_bytes())?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}
