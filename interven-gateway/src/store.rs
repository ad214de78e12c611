//! The durable store: SQLite (bundled, WAL) holding API keys (hashes only),
//! traces (redacted bodies, hash-chained per tenant), response
//! classifications and approvals.
//!
//! Trace writes go through one writer thread that commits them in batches
//! (group commit); a scan is answered only after its batch is committed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One trace, as handed to [`Store::append_trace`]: never a raw body. The
/// store gives it its id and stores it, with the id, as canonical JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TraceRow<'a> {
    /// The tenant the trace belongs to.
    pub tenant: &'a str,
    /// When the scan was answered (RFC 3339).
    pub created_at: &'a str,
    /// The agent, if the client named one (redacted).
    pub agent_id: Option<&'a str>,
    /// The agent's display name, if the client named one (redacted).
    pub agent_name: Option<&'a str>,
    /// The id of the API key that asked.
    pub key_id: i64,
    /// The name of the API key that asked (never the key).
    pub key_name: &'a str,
    /// The tool, if named.
    pub tool: Option<&'a str>,
    /// The operation, if named.
    pub operation: Option<&'a str>,
    /// The HTTP method.
    pub method: &'a str,
    /// The URL without query, fragment and credentials, redacted.
    pub url: &'a str,
    /// The request's headers, redacted (credential headers masked whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<&'a std::collections::BTreeMap<String, String>>,
    /// The decision.
    pub decision: &'a str,
    /// The reason codes.
    pub reason_codes: &'a [String],
    /// The risk score.
    pub risk_score: f64,
    /// The risk band.
    pub risk_band: &'a str,
    /// The request body with every finding redacted.
    pub body: StoredBody<'a>,
    /// The approval: the pending one for REQUIRE_APPROVAL, the one used
    /// up for an ALLOW after an approval.
    pub approval_id: Option<&'a str>,
    /// `true` when this scan used up an approved approval.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub approval_executed: bool,
    /// The approval this scan created, chained with the trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalCreated>,
    /// How long the engine took, in microseconds.
    pub latency_us: u64,
    /// What the policy did beside the decision, merged into the record:
    /// `"monitored": true` and `"monitor": {"decision", "reason_codes"}`
    /// when monitor-mode rules matched, `"exempted"` findings (type, kind,
    /// path, exemption; never values).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'a Value>,
}

/// A trace's body: the redacted value, or the request's own JSON text when
/// nothing in it needed redacting (a clean body is stored without being
/// parsed).
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(untagged)]
pub enum StoredBody<'a> {
    /// A body as a value: the redacted body.
    Value(&'a Value),
    /// A body as JSON text, stored as it came.
    Text(&'a serde_json::value::RawValue),
}

/// What the chain records of an approval when a scan creates it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalCreated {
    /// `sha256:…` the approval is bound to.
    pub request_hash: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// The key that asked.
    pub key_id: i64,
}

/// An approval row.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    /// The id.
    pub approval_id: String,
    /// The tenant.
    pub tenant: String,
    /// `sha256:…` of the canonical request.
    pub request_hash: String,
    /// pending, approved, denied, expired or executed.
    pub status: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Decision time, Unix seconds.
    pub decided_at: Option<i64>,
    /// Who approved or denied it (a key's name, `cli`, a console user).
    pub decided_by: Option<String>,
    /// The id of the key whose scan created it.
    pub key_id: i64,
    /// What a human needs to decide, redacted: tool, operation, method,
    /// url, agent, reasons, risk and body.
    pub details: Value,
}

/// What [`Store::decide_approval`] did.
#[derive(Debug, Clone)]
pub enum Decided {
    /// The approval was pending and is now decided (the row after).
    Decided(ApprovalRow),
    /// The approval was no longer pending (the row as it is).
    NotPending(ApprovalRow),
    /// The tenant has no such approval.
    NotFound,
}

/// An API key's record (its hash only).
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// Row id.
    pub id: i64,
    /// A name for humans.
    pub name: String,
    /// The tenant the key belongs to.
    pub tenant: String,
    /// Whether the key may approve, deny and read traces.
    pub admin: bool,
    /// Whether the key was revoked.
    pub revoked: bool,
    /// `sha256` of the key, hex.
    pub hash: String,
}

/// The error of a store whose database file was deleted or replaced under
/// it: nothing can be read from or written to it (the server answers 503).
#[derive(Debug, Clone, Copy)]
pub struct StoreUnavailable;

impl std::fmt::Display for StoreUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the database file was deleted or replaced")
    }
}

impl std::error::Error for StoreUnavailable {}

/// Why the writer did not write a record.
#[derive(Debug, Clone)]
enum WriteError {
    /// The record's precondition did not hold (an approval no longer in the
    /// expected state, an unknown trace): nothing was written for it.
    Conflict,
    /// The batch failed.
    Failed(String),
}

type WriteResult = Result<String, WriteError>;

/// Where the writer sends its answer: a task awaiting it, or a thread.
enum Reply {
    Async(tokio::sync::oneshot::Sender<WriteResult>),
    Sync(mpsc::SyncSender<WriteResult>),
}

impl Reply {
    fn send(self, r: WriteResult) {
        match self {
            Reply::Async(tx) => {
                let _ = tx.send(r);
            }
            Reply::Sync(tx) => {
                let _ = tx.send(r);
            }
        }
    }
}

/// What a chained record changes in the other tables, in the same
/// transaction as the record.
enum Effect {
    /// A scan's trace.
    Trace {
        /// A pending approval the scan created.
        insert: Option<ApprovalRow>,
        /// An approved approval the scan uses up (`approved` → `executed`).
        consume: Option<String>,
    },
    /// A human's decision: `pending` → `approved`/`denied`.
    Decide {
        approval_id: String,
        to: &'static str,
        at: i64,
        decided_by: String,
    },
    /// A response classification for a trace.
    Response {
        trace_id: String,
        classification: String,
    },
}

/// A record on its way to the writer: serialized (by the request's task,
/// off the writer's serial path), without the id the writer gives it.
struct Pending {
    tenant: String,
    record: String,
    effect: Effect,
    reply: Reply,
}

/// What the store knows about its own health, shared by its threads.
#[derive(Debug, Default)]
struct Health {
    /// The database file at the path is no longer the one opened.
    replaced: AtomicBool,
    /// When the last write (the writer's batch or a probe) failed (Unix
    /// ms), 0 after a success.
    write_failed_at: std::sync::atomic::AtomicI64,
    /// When a write last succeeded (Unix ms).
    write_ok_at: std::sync::atomic::AtomicI64,
}

impl Health {
    fn write_succeeded(&self) {
        self.write_failed_at.store(0, Ordering::Relaxed);
        self.write_ok_at.store(now_millis(), Ordering::Relaxed);
    }

    fn write_failed(&self) {
        self.write_failed_at
            .store(now_millis().max(1), Ordering::Relaxed);
    }
}

/// The store: a reader/admin connection, the record writer and the checkpointer.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    writer: mpsc::Sender<Pending>,
    /// Dropped with the last clone of the store, which stops the checkpointer.
    _checkpointer: mpsc::Sender<()>,
    path: PathBuf,
    identity: FileId,
    health: Arc<Health>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How often the checkpointer tries a write while the last one failed: the
/// store is ready again as soon as one succeeds.
const PROBE_WHILE_FAILING_MS: i64 = 1_000;

/// After how long without a successful write the checkpointer tries one, so
/// that a store that became unwritable is not ready before a scan fails.
const PROBE_WHEN_IDLE_MS: i64 = 5_000;

/// A write that changes nothing the gateway reads: one row of its own table,
/// committed like any other write (it fails where a trace would fail).
const PROBE: &str = "INSERT INTO write_probe (id, at) VALUES (1, ?1)
    ON CONFLICT (id) DO UPDATE SET at = excluded.at";

/// Tries a write. `Ok(false)` when the database was only busy (another
/// connection holds the write lock): that says nothing about whether it
/// can take writes.
fn probe_write(conn: &Connection) -> rusqlite::Result<bool> {
    match conn.execute(PROBE, [now_millis()]) {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A file's device and inode: what tells that the file at a path is still
/// the one that was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    #[cfg(unix)]
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(path).ok().map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    #[cfg(not(unix))]
    fn of(path: &Path) -> Option<FileId> {
        std::fs::metadata(path)
            .ok()
            .map(|_| FileId { dev: 0, ino: 0 })
    }
}

/// Whether the file at `path` is still `id`.
fn same_file(path: &Path, id: FileId) -> bool {
    FileId::of(path) == Some(id)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    tenant TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    admin INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS traces (
    seq INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    row TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_heads (
    tenant TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS responses (
    trace_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    classification TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    approval_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE INDEX IF NOT EXISTS approvals_hash ON approvals(tenant, request_hash);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status, expires_at);
CREATE INDEX IF NOT EXISTS approvals_expiry ON approvals(expires_at);
";

/// Columns added to `approvals` after its first release, added on open.
const APPROVAL_COLUMNS: &[(&str, &str)] = &[
    ("decided_by", "TEXT"),
    ("key_id", "INTEGER NOT NULL DEFAULT 0"),
    ("details", "TEXT NOT NULL DEFAULT '{}'"),
];

pub(crate) const APPROVAL_FIELDS: &str = "approval_id, tenant, request_hash, status, created_at, expires_at, decided_at, decided_by, key_id, details";

/// The hash that starts every tenant's chain.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Sync {
    /// Every commit is fsynced before the scan is answered: survives power loss. The default.
    #[default]
    Full,
    /// Commits reach the OS before the scan is answered, fsynced at checkpoints:
    /// survives a crash or kill of the gateway, not of the machine. Faster.
    Normal,
}

/// Creates the database file readable by its owner only (whatever the
/// umask), and takes the group's and others' access away from an existing
/// one and its `-wal` and `-shm` (SQLite creates those with the database
/// file's mode).
fn restrict_files(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Ok(std::fs::File::open(path)?)
                    } else {
                        Err(e)
                    }
                })
                .with_context(|| format!("cannot create database {}", path.display()))?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| {
                        format!("cannot restrict the permissions of {}", file.display())
                    })?;
            }
        }
    }
    Ok(())
}

fn open_conn(path: &Path, sync: Sync) -> Result<Connection> {
    restrict_files(path)?;
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open database {}", path.display()))?;
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        bail!("database {} is read-only", path.display());
    }
    conn.busy_handler(Some(busy_wait))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        if sync == Sync::Full { "FULL" } else { "NORMAL" },
    )?;
    // The store's own checkpointer moves the WAL into the database, off the
    // commit path (see `checkpointer`).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.execute_batch(SCHEMA)
        .context("cannot create the schema")?;
    let columns: HashSet<String> = conn
        .prepare("SELECT name FROM pragma_table_info('approvals')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, ty) in APPROVAL_COLUMNS {
        if !columns.contains(*name) {
            conn.execute_batch(&format!("ALTER TABLE approvals ADD COLUMN {name} {ty}"))
                .context("cannot upgrade the approvals table")?;
        }
    }
    Ok(conn)
}

/// How often the checkpointer looks for new commits to move into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The WAL length, in frames (about 4 KiB each, so 64 MiB), past which the
/// writer finishes a checkpoint so that the WAL starts again from its
/// beginning. That costs the writer an fsync of the database file, which
/// took 6 ms under load on a VM: rarely is better. (Smaller in unit tests,
/// which check that the WAL stays bounded.)
const RESTART_FRAMES: i64 = if cfg!(test) { 1024 } else { 16384 };

/// What the trace writer and the checkpointer tell each other.
#[derive(Default)]
struct WalState {
    /// Batches committed: the checkpointer runs only after new ones.
    batches: AtomicU64,
    /// Set by the checkpointer when the WAL is long: the writer should copy
    /// the last frames itself (see [`checkpointer`]).
    finish: AtomicBool,
}

/// Copies committed WAL frames into the database file, on its own
/// connection and thread, so that no scan waits for the copy (SQLite's
/// automatic checkpoint runs inside a commit, every 1000 pages, and stalls
/// every scan of that batch for milliseconds). Passive: it never blocks the
/// writer, and never waits for a reader.
///
/// Under steady load a checkpoint on another connection never catches up
/// with the writer, and SQLite reuses the WAL from its start only once one
/// has: the WAL would grow for as long as the load lasts (by some 55 MB/s
/// in the load bench), and every commit would pay the file system for new
/// blocks. So once the WAL is past [`RESTART_FRAMES`], the checkpointer asks
/// the writer to copy, between two batches, the few frames it left; the
/// writer's next commit then starts the WAL again. (A restarting checkpoint
/// from here would hold the writer back just as long, and also for as long
/// as any reader kept an older snapshot.)
///
/// Each round it also checks that the file at the store's path is still the
/// one opened (see [`Store::ready`]).
fn checkpointer(
    conn: Connection,
    wal: &WalState,
    stop: &mpsc::Receiver<()>,
    watch: &(PathBuf, FileId, Arc<Health>),
) {
    let mut done = wal.batches.load(Ordering::Relaxed);
    let mut idle = 0u32;
    let mut last_probe = now_millis();
    loop {
        let stopping = !matches!(
            stop.recv_timeout(CHECKPOINT_EVERY),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let (path, identity, health) = watch;
        if !same_file(path, *identity) && !health.replaced.swap(true, Ordering::Relaxed) {
            tracing::error!(path = %path.display(), "the database file was deleted or replaced; failing closed");
        }
        let now = wal.batches.load(Ordering::Relaxed);
        idle += 1;
        // After new traces, and now and then for the other tables' writes.
        if now != done || idle >= 50 || stopping {
            idle = 0;
            match checkpoint(&conn) {
                Ok(frames) => {
                    done = now;
                    if frames >= RESTART_FRAMES {
                        wal.finish.store(true, Ordering::Relaxed);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "checkpoint failed; will retry"),
            }
        }
        if stopping {
            return;
        }
        probe_if_due(&conn, health, &mut last_probe);
    }
}

/// Tries a write when the last one failed (every second) or none succeeded
/// for a while, and records what it found (see [`Store::ready`]).
fn probe_if_due(conn: &Connection, health: &Health, last_probe: &mut i64) {
    let now = now_millis();
    let failing = health.write_failed_at.load(Ordering::Relaxed) != 0;
    let due = if failing {
        now - *last_probe >= PROBE_WHILE_FAILING_MS
    } else {
        now - health.write_ok_at.load(Ordering::Relaxed) >= PROBE_WHEN_IDLE_MS
            && now - *last_probe >= PROBE_WHEN_IDLE_MS
    };
    if !due {
        return;
    }
    *last_probe = now;
    match probe_write(conn) {
        Ok(true) => {
            if failing {
                tracing::info!("the database takes writes again");
            }
            health.write_succeeded();
        }
        Ok(false) => {}
        Err(e) => {
            if !failing {
                tracing::error!(error = %e, "the database cannot take writes; not ready");
            }
            health.write_failed();
        }
    }
}

/// Runs a passive checkpoint; returns the length of the WAL, in frames.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
}

/// How long a connection waits for a lock held by another one.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's own busy handler sleeps a millisecond, then two, then five:
/// far too long for the trace writer when another connection (the admin
/// one storing a response classification, a CLI command) holds the write
/// lock for the few hundred microseconds of its commit. This one polls
/// every 100 µs for its first 50 tries, then every millisecond, and gives
/// up after [`BUSY_TIMEOUT`].
fn busy_wait(attempt: i32) -> bool {
    const FAST: u32 = 50;
    let attempt = u32::try_from(attempt).unwrap_or(0);
    let (poll, waited) = if attempt < FAST {
        (
            Duration::from_micros(100),
            Duration::from_micros(100) * attempt,
        )
    } else {
        (
            Duration::from_millis(1),
            Duration::from_micros(100) * FAST + Duration::from_millis(1) * (attempt - FAST),
        )
    };
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(poll);
    true
}

pub(crate) fn chain_hash(prev: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    format!("sha256:{}", hex(&h.finalize()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Store {
    /// Opens (or creates) the database and starts the trace writer.
    ///
    /// # Errors
    /// When the file cannot be opened or is not an interven database.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, Sync::Full)
    }

    /// Opens the database with a chosen [`Sync`] level.
    ///
    /// # Errors
    /// When the file cannot be opened or is not an interven database.
    pub fn open_with(path: impl AsRef<Path>, sync: Sync) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let conn = open_conn(&path, sync)?;
        // A file that opens read-write can still refuse every write (a full
        // disk, a file-size limit, an I/O error): find out now, not at the
        // first scan, and refuse to start.
        probe_write(&conn)
            .with_context(|| format!("database {} cannot take writes", path.display()))?;
        let identity = FileId::of(&path)
            .with_context(|| format!("cannot read the metadata of {}", path.display()))?;
        let health = Arc::new(Health::default());
        health.write_succeeded();
        let wal = Arc::new(WalState::default());
        let writer = Writer::open(
            open_conn(&path, sync)?,
            wal.clone(),
            (path.clone(), identity, health.clone()),
        )?;
        let checkpoint_conn = open_conn(&path, sync)?;
        let (tx, rx) = mpsc::channel::<Pending>();
        std::thread::Builder::new()
            .name("interven-trace-writer".to_owned())
            .spawn(move || writer.run(&rx))
            .context("cannot start the trace writer")?;
        let (stop, stopped) = mpsc::channel::<()>();
        let watch = (path.clone(), identity, health.clone());
        std::thread::Builder::new()
            .name("interven-checkpointer".to_owned())
            .spawn(move || checkpointer(checkpoint_conn, &wal, &stopped, &watch))
            .context("cannot start the checkpointer")?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            writer: tx,
            _checkpointer: stop,
            path,
            identity,
            health,
        })
    }

    /// Whether the store can take writes: `Err` with the reason when the
    /// database file was deleted or replaced under the server (checked every
    /// 100 ms and before every write), or the last write failed and none
    /// succeeded since. While writes fail, the store tries one every
    /// second, and after 5 s without a successful write it tries one too,
    /// so a store that became unwritable is reported before a scan fails.
    /// (A write that waits for another connection's lock proves nothing
    /// either way.) Cheap: it reads flags and one `stat`, never the database.
    ///
    /// # Errors
    /// The reason the store is not ready.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.health.replaced.load(Ordering::Relaxed) || !same_file(&self.path, self.identity) {
            self.health.replaced.store(true, Ordering::Relaxed);
            return Err("the database file was deleted or replaced");
        }
        if self.health.write_failed_at.load(Ordering::Relaxed) != 0 {
            return Err("the last write to the database failed");
        }
        Ok(())
    }

    /// Fails when the database file is no longer the one opened: nothing
    /// may be answered from, or written into, a deleted file.
    fn check_file(&self) -> Result<()> {
        if self.health.replaced.load(Ordering::Relaxed) || !same_file(&self.path, self.identity) {
            self.health.replaced.store(true, Ordering::Relaxed);
            return Err(StoreUnavailable.into());
        }
        Ok(())
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&self, tenant: &str, record: String, effect: Effect, reply: Reply) -> Result<()> {
        self.check_file()?;
        self.writer
            .send(Pending {
                tenant: tenant.to_owned(),
                record,
                effect,
                reply,
            })
            .map_err(|_| anyhow::anyhow!("the trace writer stopped"))
    }

    /// Sends a record to the writer and waits for it on this thread.
    fn write_blocking(&self, tenant: &str, record: String, effect: Effect) -> Result<WriteResult> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(tenant, record, effect, Reply::Sync(tx))?;
        rx.recv()
            .map_err(|_| anyhow::anyhow!("the trace writer stopped"))
    }

    /// Appends a trace; returns its id once it is committed.
    ///
    /// Ids are `tr_` and 32 hex digits: the trace's place in the store
    /// (increasing with time), then 64 bits from the OS's random source.
    ///
    /// # Errors
    /// When the write failed: the caller must not answer 200.
    pub async fn append_trace(&self, row: &TraceRow<'_>) -> Result<String> {
        match self.append_scan(row, None, None).await? {
            Some(id) => Ok(id),
            None => bail!("the trace's approval was already used"),
        }
    }

    /// Appends a scan's trace, in one transaction with the approval it
    /// creates (`insert`, pending) or uses up (`consume`: `approved` →
    /// `executed`). `Ok(None)` when the approval to use up was no longer
    /// approved (another scan used it first): nothing was written. A failed
    /// write uses up nothing.
    ///
    /// # Errors
    /// When the write failed: the caller must not answer 200.
    pub async fn append_scan(
        &self,
        row: &TraceRow<'_>,
        insert: Option<ApprovalRow>,
        consume: Option<&str>,
    ) -> Result<Option<String>> {
        let record = if insert.is_none() && consume.is_none() {
            serde_json::to_string(row).context("cannot serialize the trace")?
        } else {
            // The chain records the approval the trace creates or uses up,
            // whatever the caller put in the row.
            let mut v = serde_json::to_value(row).context("cannot serialize the trace")?;
            if let Some(r) = &insert {
                v["approval_id"] = json!(r.approval_id);
                v["approval"] = serde_json::to_value(ApprovalCreated {
                    request_hash: r.request_hash.clone(),
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                    key_id: r.key_id,
                })?;
            }
            if let Some(id) = consume {
                v["approval_id"] = json!(id);
                v["approval_executed"] = json!(true);
            }
            v.to_string()
        };
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.submit(
            row.tenant,
            record,
            Effect::Trace {
                insert,
                consume: consume.map(str::to_owned),
            },
            Reply::Async(reply),
        )?;
        match rx.await {
            Ok(Ok(id)) => Ok(Some(id)),
            Ok(Err(WriteError::Conflict)) => Ok(None),
            Ok(Err(WriteError::Failed(_))) if self.health.replaced.load(Ordering::Relaxed) => {
                Err(StoreUnavailable.into())
            }
            Ok(Err(WriteError::Failed(e))) => bail!("trace write failed: {e}"),
            Err(_) => bail!("the trace writer stopped"),
        }
    }

    /// Approves (`approve`) or denies a pending approval of `tenant`,
    /// recording who decided (`decided_by`: a key's name, `cli`, a console
    /// user) and when (`now`, Unix seconds). The decision is appended to the
    /// tenant's hash chain in the same transaction, so `traces verify`
    /// detects a later edit of the approval. Blocks the calling thread until
    /// the write is committed: call it from a blocking context
    /// (`tokio::task::spawn_blocking`).
    ///
    /// # Errors
    /// When the store fails.
    pub fn decide_approval(
        &self,
        tenant: &str,
        id: &str,
        approve: bool,
        decided_by: &str,
        now: i64,
    ) -> Result<Decided> {
        self.expire(now)?;
        let Some(row) = self.approval(tenant, id)? else {
            return Ok(Decided::NotFound);
        };
        if row.status != "pending" {
            return Ok(Decided::NotPending(row));
        }
        let to = if approve { "approved" } else { "denied" };
        let record = serde_json::to_string(&json!({
            "tenant": tenant,
            "event": "approval_decided",
            "approval_id": id,
            "status": to,
            "decided_by": decided_by,
            "decided_at": now,
        }))?;
        let effect = Effect::Decide {
            approval_id: id.to_owned(),
            to,
            at: now,
            decided_by: decided_by.to_owned(),
        };
        let written = self.write_blocking(tenant, record, effect)?;
        let after = self.approval(tenant, id)?;
        match (written, after) {
            (Ok(_), Some(row)) => Ok(Decided::Decided(row)),
            (Err(WriteError::Conflict), Some(row)) => Ok(Decided::NotPending(row)),
            (Err(WriteError::Failed(e)), _) => bail!("approval write failed: {e}"),
            (_, None) => Ok(Decided::NotFound),
        }
    }

    /// The stored trace of a tenant, with its response classification.
    ///
    /// # Errors
    /// When the store fails.
    pub fn trace(&self, tenant: &str, trace_id: &str) -> Result<Option<Value>> {
        self.check_file()?;
        let conn = self.conn();
        let Some((row, hash)) = stored_trace(&conn, trace_id, tenant)? else {
            return Ok(None);
        };
        let mut v: Value = serde_json::from_str(&row)?;
        let response: Option<String> = conn
            .query_row(
                "SELECT classification FROM responses WHERE trace_id = ?1 AND tenant = ?2",
                params![trace_id, tenant],
                |r| r.get(0),
            )
            .optional()?;
        v["response"] = response
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or(Value::Null);
        v["hash"] = json!(hash);
        Ok(Some(v))
    }

    /// The latest traces monitor-mode rules matched (newest first, at most
    /// `limit`), of one tenant or all: what monitoring would have done.
    pub fn monitored_traces(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<Value>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT row FROM traces WHERE (?1 IS NULL OR tenant = ?1)
             AND json_extract(row, '$.monitored') = 1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![tenant, limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// A trace's agent (to scope a response scan): `None` when the tenant
    /// has no such trace, `Some(None)` when the trace named no agent.
    ///
    /// # Errors
    /// When the store fails.
    pub fn trace_agent(&self, tenant: &str, trace_id: &str) -> Result<Option<Option<String>>> {
        self.check_file()?;
        let Some((row, _)) = stored_trace(&self.conn(), trace_id, tenant)? else {
            return Ok(None);
        };
        let v: TraceAgent = serde_json::from_str(&row)?;
        Ok(Some(v.agent_id))
    }

    /// Stores a response classification for a trace, appended to the
    /// tenant's hash chain in the same transaction. Blocks until committed
    /// (call it from a blocking context). `false` when the tenant has no
    /// such trace.
    ///
    /// # Errors
    /// When the store fails.
    pub fn put_response(
        &self,
        tenant: &str,
        trace_id: &str,
        classification: &Value,
    ) -> Result<bool> {
        let classification = classification.to_string();
        let record = serde_json::to_string(&json!({
            "tenant": tenant,
            "event": "response",
            "for_trace": trace_id,
            "classification": classification,
        }))?;
        let effect = Effect::Response {
            trace_id: trace_id.to_owned(),
            classification,
        };
        match self.write_blocking(tenant, record, effect)? {
            Ok(_) => Ok(true),
            Err(WriteError::Conflict) => Ok(false),
            Err(WriteError::Failed(e)) => bail!("response write failed: {e}"),
        }
    }

    /// Checks every tenant's chain, and that the approvals and response
    /// classifications are those the chain recorded. Returns the problems
    /// found (empty: intact).
    ///
    /// # Errors
    /// When the store fails.
    pub fn verify(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, tenant, trace_id, row, prev_hash, hash FROM traces ORDER BY seq",
        )?;
        let mut last: HashMap<String, String> = HashMap::new();
        let mut problems = Vec::new();
        // What the chain says of each approval and response.
        let mut approvals: HashMap<(String, String), ChainedApproval> = HashMap::new();
        let mut responses: HashMap<(String, String), String> = HashMap::new();
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        for row in rows {
            let (seq, tenant, trace_id, text, prev, hash) = row?;
            let expected_prev = last
                .get(&tenant)
                .cloned()
                .unwrap_or_else(|| GENESIS.to_owned());
            if prev != expected_prev {
                problems.push(format!("trace {trace_id} (row {seq}, tenant {tenant}): broken link to the previous trace"));
            }
            let intact = chain_hash(&prev, &text) == hash;
            if !intact {
                problems.push(format!("trace {trace_id} (row {seq}, tenant {tenant}): contents do not match their hash"));
            }
            let stored: Option<TraceRowCheck> = serde_json::from_str(&text).ok();
            match stored {
                Some(s) if s.trace_id == trace_id && s.tenant == tenant => {
                    if intact {
                        s.record_into(&tenant, &mut approvals, &mut responses);
                    }
                }
                _ => problems.push(format!(
                    "trace {trace_id} (row {seq}): columns do not match the hashed record"
                )),
            }
            last.insert(tenant, hash);
        }
        drop(stmt);
        let now = now_millis() / 1000;
        let mut stmt = conn.prepare(&format!("SELECT {APPROVAL_FIELDS} FROM approvals"))?;
        for row in stmt.query_map([], approval_from_row)? {
            let row = row?;
            let key = (row.tenant.clone(), row.approval_id.clone());
            let Some(chained) = approvals.get(&key) else {
                problems.push(format!(
                    "approval {} (tenant {}): not in the chain",
                    row.approval_id, row.tenant
                ));
                continue;
            };
            let status_ok = row.status == chained.status
                || (chained.status == "pending"
                    && row.status == "expired"
                    && chained.created.expires_at <= now);
            if !status_ok
                || row.request_hash != chained.created.request_hash
                || row.expires_at != chained.created.expires_at
                || row.created_at != chained.created.created_at
                || row.key_id != chained.created.key_id
                || row.decided_by != chained.decided_by
                || row.decided_at != chained.decided_at
            {
                problems.push(format!(
                    "approval {} (tenant {}): does not match the chain",
                    row.approval_id, row.tenant
                ));
            }
        }
        drop(stmt);
        let mut stmt = conn.prepare("SELECT tenant, trace_id, classification FROM responses")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (tenant, trace_id, classification) = row?;
            if responses.get(&(tenant.clone(), trace_id.clone())) != Some(&classification) {
                problems.push(format!(
                    "response of trace {trace_id} (tenant {tenant}): does not match the chain"
                ));
            }
        }
        Ok(problems)
    }

    // ---- approvals ----

    /// The approvals of a tenant for a request hash, most recent first.
    ///
    /// # Errors
    /// When the store fails.
    pub fn approvals_for_hash(&self, tenant: &str, request_hash: &str) -> Result<Vec<ApprovalRow>> {
        self.check_file()?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {APPROVAL_FIELDS} FROM approvals
             WHERE tenant = ?1 AND request_hash = ?2 ORDER BY created_at DESC LIMIT 64"
        ))?;
        let rows = stmt.query_map(params![tenant, request_hash], approval_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One approval of a tenant.
    ///
    /// # Errors
    /// When the store fails.
    pub fn approval(&self, tenant: &str, id: &str) -> Result<Option<ApprovalRow>> {
        self.check_file()?;
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {APPROVAL_FIELDS} FROM approvals WHERE tenant = ?1 AND approval_id = ?2"
            ))?
            .query_row(params![tenant, id], approval_from_row)
            .optional()?)
    }

    /// A tenant's approvals with a status, oldest first, at most `limit`.
    ///
    /// # Errors
    /// When the store fails.
    pub fn approvals_with_status(&self, tenant: &str, status: &str) -> Result<Vec<ApprovalRow>> {
        self.check_file()?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {APPROVAL_FIELDS} FROM approvals
             WHERE tenant = ?1 AND status = ?2 ORDER BY created_at LIMIT 1000"
        ))?;
        let rows = stmt.query_map(params![tenant, status], approval_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The tenant of an approval (for the local admin CLI, which spans tenants).
    pub fn approval_tenant(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT tenant FROM approvals WHERE approval_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The tenant of a trace (for the local admin CLI).
    pub fn trace_tenant(&self, trace_id: &str) -> Result<Option<String>> {
        let Some(seq) = seq_of(trace_id) else {
            return Ok(None);
        };
        Ok(self
            .conn()
            .query_row(
                "SELECT tenant FROM traces WHERE seq = ?1 AND trace_id = ?2",
                params![seq, trace_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every pending approval of every tenant.
    ///
    /// # Errors
    /// When the store fails.
    pub fn pending_approvals(&self) -> Result<Vec<ApprovalRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {APPROVAL_FIELDS} FROM approvals WHERE status = 'pending' ORDER BY created_at"
        ))?;
        let rows = stmt.query_map([], approval_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks pending approvals past their expiry as expired, at most
    /// [`EXPIRE_BATCH`] of them a call (through the `(status, expires_at)`
    /// index: the cost does not grow with the table).
    ///
    /// # Errors
    /// When the store fails.
    pub fn expire(&self, now: i64) -> Result<usize> {
        self.check_file()?;
        Ok(self
            .conn()
            .prepare_cached(
                "UPDATE approvals SET status = 'expired' WHERE rowid IN
             (SELECT rowid FROM approvals WHERE status = 'pending' AND expires_at <= ?1 LIMIT ?2)",
            )?
            .execute(params![now, EXPIRE_BATCH as i64])?)
    }

    /// Deletes approvals that expired before `before` (Unix seconds): every
    /// one of them is decided, expired or used up by then. At most
    /// [`EXPIRE_BATCH`] a call; returns how many went.
    ///
    /// # Errors
    /// When the store fails.
    pub fn prune_approvals(&self, before: i64) -> Result<usize> {
        self.check_file()?;
        Ok(self
            .conn()
            .prepare_cached(
                "DELETE FROM approvals WHERE rowid IN
             (SELECT rowid FROM approvals WHERE expires_at < ?1 AND status != 'pending' LIMIT ?2)",
            )?
            .execute(params![before, EXPIRE_BATCH as i64])?)
    }

    // ---- keys ----

    /// Stores a key's hash.
    pub fn insert_key(
        &self,
        name: &str,
        tenant: &str,
        hash: &str,
        admin: bool,
        created_at: &str,
    ) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO keys (name, tenant, hash, admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, tenant, hash, admin, created_at],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The key with this hash, if any.
    ///
    /// # Errors
    /// When the store fails.
    pub fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRow>> {
        self.check_file()?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, tenant, admin, revoked, hash FROM keys WHERE hash = ?1",
        )?;
        Ok(stmt.query_row(params![hash], key_from_row).optional()?)
    }

    /// Every key.
    pub fn keys(&self) -> Result<Vec<KeyRow>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, name, tenant, admin, revoked, hash FROM keys ORDER BY id")?;
        let rows = stmt.query_map([], key_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Revokes a key by id or name; `false` when none matched.
    pub fn revoke_key(&self, id_or_name: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE keys SET revoked = 1 WHERE CAST(id AS TEXT) = ?1 OR name = ?1",
            params![id_or_name],
        )?;
        Ok(n > 0)
    }
}

/// The fields of a chained record that `verify` reads.
#[derive(serde::Deserialize)]
struct TraceRowCheck {
    tenant: String,
    trace_id: String,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    approval_id: Option<String>,
    #[serde(default)]
    approval: Option<ApprovalCreated>,
    #[serde(default)]
    approval_executed: bool,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    decided_by: Option<String>,
    #[serde(default)]
    decided_at: Option<i64>,
    #[serde(default)]
    for_trace: Option<String>,
    #[serde(default)]
    classification: Option<String>,
}

/// An approval as the chain tells it.
struct ChainedApproval {
    created: ApprovalCreated,
    status: String,
    decided_by: Option<String>,
    decided_at: Option<i64>,
}

impl TraceRowCheck {
    /// Folds this record into what the chain says of approvals and responses.
    fn record_into(
        self,
        tenant: &str,
        approvals: &mut HashMap<(String, String), ChainedApproval>,
        responses: &mut HashMap<(String, String), String>,
    ) {
        let key = |id: &str| (tenant.to_owned(), id.to_owned());
        match self.event.as_deref() {
            Some("approval_decided") => {
                if let (Some(id), Some(status)) = (self.approval_id, self.status)
                    && let Some(a) = approvals.get_mut(&key(&id))
                {
                    a.status = status;
                    a.decided_by = self.decided_by;
                    a.decided_at = self.decided_at;
                }
            }
            Some("response") => {
                if let (Some(t), Some(c)) = (self.for_trace, self.classification) {
                    responses.insert(key(&t), c);
                }
            }
            _ => {
                let Some(id) = self.approval_id else { return };
                if let Some(created) = self.approval {
                    approvals.insert(
                        key(&id),
                        ChainedApproval {
                            created,
                            status: "pending".to_owned(),
                            decided_by: None,
                            decided_at: None,
                        },
                    );
                } else if self.approval_executed
                    && let Some(a) = approvals.get_mut(&key(&id))
                {
                    a.status = "executed".to_owned();
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct TraceAgent {
    agent_id: Option<String>,
}

/// A tenant's stored trace record and its chain hash, found by the
/// position its id carries; `None` for an id of another form.
fn stored_trace(
    conn: &Connection,
    trace_id: &str,
    tenant: &str,
) -> rusqlite::Result<Option<(String, String)>> {
    let Some(seq) = seq_of(trace_id) else {
        return Ok(None);
    };
    conn.prepare_cached(
        "SELECT row, hash FROM traces WHERE seq = ?1 AND trace_id = ?2 AND tenant = ?3",
    )?
    .query_row(params![seq, trace_id, tenant], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .optional()
}

/// The store position a trace id carries (see [`Store::append_trace`]).
pub(crate) fn seq_of(trace_id: &str) -> Option<i64> {
    let hex = trace_id.strip_prefix("tr_")?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(&hex[..16], 16).ok()
}

pub(crate) fn approval_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    let details: String = r.get(9)?;
    Ok(ApprovalRow {
        approval_id: r.get(0)?,
        tenant: r.get(1)?,
        request_hash: r.get(2)?,
        status: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        decided_at: r.get(6)?,
        decided_by: r.get(7)?,
        key_id: r.get(8)?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
    })
}

/// Approvals expired or pruned per call of [`Store::expire`] and [`Store::prune_approvals`].
pub const EXPIRE_BATCH: usize = 500;

/// `(tenant, seq, hash)`: a chain head, saved or read off a trace.
fn head_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        tenant: r.get(2)?,
        admin: r.get(3)?,
        revoked: r.get(4)?,
        hash: r.get(5)?,
    })
}

/// How many batches the writer commits between two saves of the chain heads.
const HEADS_EVERY: u32 = 64;

/// The trace writer: one connection, the head of every tenant's chain, and
/// the last position given.
struct Writer {
    conn: Connection,
    /// Tenant → (position, hash) of its last trace.
    heads: HashMap<String, (i64, String)>,
    /// Tenants whose head moved since `chain_heads` was last saved.
    dirty: HashSet<String>,
    last_seq: i64,
    batches: u32,
    /// Whether this writer wrote a trace: a store opened only to read (the
    /// CLI's) never saves heads.
    wrote: bool,
    /// Shared with the checkpointer.
    wal: Arc<WalState>,
    /// Set when a write failed: the heads must be read again first.
    stale: bool,
    /// The database's path, the file opened, and the store's health flags.
    watch: (PathBuf, FileId, Arc<Health>),
}

impl Writer {
    fn open(
        conn: Connection,
        wal: Arc<WalState>,
        watch: (PathBuf, FileId, Arc<Health>),
    ) -> Result<Writer> {
        let mut w = Writer {
            conn,
            heads: HashMap::new(),
            dirty: HashSet::new(),
            last_seq: 0,
            batches: 0,
            wrote: false,
            wal,
            stale: false,
            watch,
        };
        w.load().context("cannot read the trace chains")?;
        Ok(w)
    }

    /// Reads the chain heads: those saved in `chain_heads`, then the traces
    /// written after that save (a short range of the table's key, not a scan).
    fn load(&mut self) -> rusqlite::Result<()> {
        self.heads.clear();
        self.dirty.clear();
        let mut saved_to = 0i64;
        {
            let mut stmt = self
                .conn
                .prepare("SELECT tenant, seq, hash FROM chain_heads")?;
            let rows = stmt.query_map([], head_from_row)?;
            for row in rows {
                let (tenant, seq, hash) = row?;
                saved_to = saved_to.max(seq);
                self.heads.insert(tenant, (seq, hash));
            }
            let mut stmt = self
                .conn
                .prepare("SELECT tenant, seq, hash FROM traces WHERE seq > ?1 ORDER BY seq")?;
            let rows = stmt.query_map([saved_to], head_from_row)?;
            for row in rows {
                let (tenant, seq, hash) = row?;
                self.heads.insert(tenant.clone(), (seq, hash));
                self.dirty.insert(tenant);
            }
        }
        self.last_seq =
            self.conn
                .query_row("SELECT coalesce(max(seq), 0) FROM traces", [], |r| r.get(0))?;
        Ok(())
    }

    /// The group-commit loop: waits for one trace, takes every other one
    /// already queued (up to a batch), writes them in one transaction, replies.
    fn run(mut self, rx: &mpsc::Receiver<Pending>) {
        while let Some(first) = next(rx) {
            let mut batch = vec![first];
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            let (path, identity, health) = &self.watch;
            if !same_file(path, *identity) {
                // Never commit into a deleted file: the answer would be a
                // 200 for a record nobody will ever read.
                health.replaced.store(true, Ordering::Relaxed);
                for p in batch {
                    p.reply.send(Err(WriteError::Failed(
                        "the database file was deleted or replaced".to_owned(),
                    )));
                }
                continue;
            }
            match self.write(&batch) {
                Ok(ids) => {
                    self.watch.2.write_succeeded();
                    for (p, id) in batch.into_iter().zip(ids) {
                        p.reply.send(id.ok_or(WriteError::Conflict));
                    }
                }
                Err(e) => {
                    // The heads in memory may be ahead of the database now:
                    // read them again before the next write.
                    self.stale = true;
                    self.watch.2.write_failed();
                    let e = e.to_string();
                    for p in batch {
                        p.reply.send(Err(WriteError::Failed(e.clone())));
                    }
                }
            }
            if self.wal.finish.swap(false, Ordering::Relaxed) {
                // The checkpointer copied most of a long WAL; the rest is
                // the few frames committed since, and with them copied the
                // next commit starts the WAL again. Passive: if a reader
                // still needs old frames, this copies what it can and the
                // checkpointer asks again later.
                if let Err(e) = checkpoint(&self.conn) {
                    tracing::warn!(error = %e, "checkpoint failed; will retry");
                }
            }
        }
        // The server is stopping: save the heads so the next start reads no tail.
        if self.wrote
            && !self.dirty.is_empty()
            && let Ok(tx) = self.conn.transaction()
            && save_heads(&tx, &self.heads, &self.dirty).is_ok()
        {
            let _ = tx.commit();
        }
    }

    /// Writes a batch in one transaction: each record's effect, then the
    /// record, chained. A record whose effect's precondition fails is not
    /// written (`None`). On an error the caller reloads the heads, which
    /// this may have moved ahead of the database.
    fn write(&mut self, batch: &[Pending]) -> rusqlite::Result<Vec<Option<String>>> {
        if self.stale {
            // Until the heads are known again, every write fails: a trace
            // chained to a wrong head would break the chain for good.
            self.load()?;
            self.stale = false;
        }
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(batch.len());
        let mut seq = self.last_seq;
        for p in batch {
            if !apply(&tx, &p.tenant, &p.effect)? {
                ids.push(None);
                continue;
            }
            // Increasing, and roughly the time: milliseconds shifted left 20 bits.
            seq = (seq + 1).max(now_millis() << 20);
            let prefix = if matches!(p.effect, Effect::Trace { .. }) {
                "tr"
            } else {
                "ev"
            };
            let random = random_u64().map_err(|e| {
                rusqlite::Error::ToSqlConversionFailure(format!("no OS randomness: {e}").into())
            })?;
            let id = format!("{prefix}_{seq:016x}{random:016x}");
            // The canonical record: the id first, then the record as serialized.
            let text = format!("{{\"trace_id\":\"{id}\",{}", &p.record[1..]);
            let head = self.heads.get_mut(&p.tenant);
            let prev = head.as_ref().map_or(GENESIS, |(_, h)| h.as_str());
            let hash = chain_hash(prev, &text);
            tx.prepare_cached(
                "INSERT INTO traces (seq, tenant, trace_id, row, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![seq, p.tenant, id, text, prev, hash])?;
            match head {
                Some(h) => *h = (seq, hash),
                None => {
                    self.heads.insert(p.tenant.clone(), (seq, hash));
                }
            }
            if !self.dirty.contains(&p.tenant) {
                self.dirty.insert(p.tenant.clone());
            }
            ids.push(Some(id));
        }
        self.batches = self.batches.wrapping_add(1);
        let save = self.batches.is_multiple_of(HEADS_EVERY);
        if save {
            save_heads(&tx, &self.heads, &self.dirty)?;
        }
        tx.commit()?;
        self.wrote = true;
        self.wal.batches.fetch_add(1, Ordering::Relaxed);
        if save {
            self.dirty.clear();
        }
        self.last_seq = seq;
        Ok(ids)
    }
}

/// Applies a record's effect inside the writer's transaction; `false` when
/// its precondition does not hold (then neither it nor its record is written).
fn apply(tx: &rusqlite::Transaction<'_>, tenant: &str, effect: &Effect) -> rusqlite::Result<bool> {
    match effect {
        Effect::Trace { insert, consume } => {
            if let Some(id) = consume {
                let n = tx
                    .prepare_cached(
                        "UPDATE approvals SET status = 'executed'
                         WHERE tenant = ?1 AND approval_id = ?2 AND status = 'approved'",
                    )?
                    .execute(params![tenant, id])?;
                if n != 1 {
                    return Ok(false);
                }
            }
            if let Some(row) = insert {
                tx.prepare_cached(&format!(
                    "INSERT INTO approvals ({APPROVAL_FIELDS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))?
                .execute(params![
                    row.approval_id,
                    row.tenant,
                    row.request_hash,
                    row.status,
                    row.created_at,
                    row.expires_at,
                    row.decided_at,
                    row.decided_by,
                    row.key_id,
                    row.details.to_string()
                ])?;
            }
            Ok(true)
        }
        Effect::Decide {
            approval_id,
            to,
            at,
            decided_by,
        } => Ok(tx
            .prepare_cached(
                "UPDATE approvals SET status = ?3, decided_at = ?4, decided_by = ?5
                 WHERE tenant = ?1 AND approval_id = ?2 AND status = 'pending' AND expires_at > ?4",
            )?
            .execute(params![tenant, approval_id, to, at, decided_by])?
            == 1),
        Effect::Response {
            trace_id,
            classification,
        } => {
            let Some(seq) = seq_of(trace_id) else {
                return Ok(false);
            };
            let exists = tx
                .prepare_cached(
                    "SELECT 1 FROM traces WHERE seq = ?1 AND trace_id = ?2 AND tenant = ?3",
                )?
                .exists(params![seq, trace_id, tenant])?;
            if exists {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO responses (trace_id, tenant, classification) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![trace_id, tenant, classification])?;
            }
            Ok(exists)
        }
    }
}

/// 64 bits from the OS's random source (`getrandom`).
///
/// # Errors
/// When the OS cannot provide randomness.
pub fn random_u64() -> Result<u64> {
    getrandom::u64().map_err(|e| anyhow::anyhow!("cannot read the OS random source: {e}"))
}

/// 128 bits from the OS's random source, as 32 hex digits.
///
/// # Errors
/// When the OS cannot provide randomness.
pub fn random_hex128() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot read the OS random source: {e}"))?;
    Ok(hex(&bytes))
}

/// The next trace to write, `None` once every sender is gone. Under load
/// the next one is usually a few microseconds away: yielding the CPU a few
/// times before sleeping on the channel saves a sleep and a wake-up (two
/// context switches, costly on a VM) per batch, and costs nothing when the
/// other threads have work.
fn next(rx: &mpsc::Receiver<Pending>) -> Option<Pending> {
    for _ in 0..20 {
        match rx.try_recv() {
            Ok(p) => return Some(p),
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Disconnected) => return None,
        }
    }
    rx.recv().ok()
}

fn save_heads(
    tx: &rusqlite::Transaction<'_>,
    heads: &HashMap<String, (i64, String)>,
    dirty: &HashSet<String>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO chain_heads (tenant, seq, hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
         WHERE excluded.seq > chain_heads.seq",
    )?;
    for tenant in dirty {
        if let Some((seq, hash)) = heads.get(tenant) {
            stmt.execute(params![tenant, seq, hash])?;
        }
    }
    Ok(())
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(tenant: &'a str, body: &'a Value) -> TraceRow<'a> {
        let body = StoredBody::Value(body);
        TraceRow {
            tenant,
            created_at: "2026-01-01T00:00:00Z",
            agent_id: None,
            agent_name: None,
            key_id: 1,
            key_name: "k",
            tool: Some("t"),
            operation: None,
            method: "POST",
            url: "https://x.io/",
            headers: None,
            decision: "ALLOW",
            reason_codes: &[],
            risk_score: 0.0,
            risk_band: "LOW",
            body,
            approval_id: None,
            approval_executed: false,
            approval: None,
            latency_us: 1,
            policy: None,
        }
    }

    /// A store in a fresh directory of its own: `(directory, file, store)`.
    fn temp_store(name: &str) -> (PathBuf, PathBuf, Store) {
        let dir =
            std::env::temp_dir().join(format!("interven-store-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let store = Store::open(&path).unwrap();
        (dir, path, store)
    }

    #[tokio::test]
    async fn ids_locate_traces_and_the_checkpointer_moves_the_wal() {
        let (dir, path, store) = temp_store("ids");
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        let body = json!({ "text": "x".repeat(1000) });
        let mut ids = Vec::new();
        for i in 0..200 {
            let tenant = if i % 2 == 0 { "a" } else { "b" };
            ids.push(store.append_trace(&row(tenant, &body)).await.unwrap());
        }
        // Ids increase, carry their place, and find their trace in their tenant only.
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(store.trace("a", &ids[0]).unwrap().is_some());
        assert!(store.trace("b", &ids[0]).unwrap().is_none());
        // Right place, wrong random part.
        let mut forged = ids[0].clone();
        let last = if forged.ends_with('0') { "1" } else { "0" };
        forged.replace_range(34.., last);
        assert!(store.trace("a", &forged).unwrap().is_none());
        assert!(store.trace("a", "tr_nothex").unwrap().is_none());
        assert!(store.verify().unwrap().is_empty());
        // No commit checkpoints; the checkpointer soon moves the pages into the file.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while size() < before + 150_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was not checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_busy_handler_waits_five_seconds_then_gives_up() {
        assert!(busy_wait(0));
        assert!(busy_wait(60));
        assert!(busy_wait(50 + 4994)); // 4.999 s
        assert!(!busy_wait(50 + 4995));
        assert!(!busy_wait(i32::MAX));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_steady_writes() {
        let (dir, _, store) = temp_store("wal");
        let wal = dir.join("t.db-wal");
        // A row of about one page: the writers below append some 60 MiB
        // of pages without a pause, far past RESTART_FRAMES (4 MiB here).
        let body = Arc::new(json!({ "text": "x".repeat(3500) }));
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let (store, body, wal) = (store.clone(), body.clone(), wal.clone());
                tokio::spawn(async move {
                    let mut largest = 0;
                    for _ in 0..1000 {
                        store.append_trace(&row("a", &body)).await.unwrap();
                        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                    }
                    largest
                })
            })
            .collect();
        let mut largest = 0;
        for w in writers {
            largest = largest.max(w.await.unwrap());
        }
        // The WAL starts again past 4 MiB; a checkpointer alone never
        // catches up with writers that do not pause, and the WAL would
        // hold every page written.
        assert!(largest < 16 << 20, "the WAL grew to {largest} bytes");
        assert!(store.verify().unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_reader_never_holds_the_writer_up() {
        let (dir, path, store) = temp_store("rd");
        // A reader (say `traces verify` on a large file) keeps its snapshot
        // while the WAL passes RESTART_FRAMES: no checkpoint can copy the
        // frames it may need, and none may hold the writer up meanwhile (a
        // restarting one did: writes failed with "database is locked").
        let reader = Connection::open(&path).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM traces;")
            .unwrap();
        let body = Arc::new(json!({ "text": "x".repeat(3500) }));
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let (store, body) = (store.clone(), body.clone());
                tokio::spawn(async move {
                    let mut slowest = Duration::ZERO;
                    for _ in 0..800 {
                        let t = std::time::Instant::now();
                        store.append_trace(&row("a", &body)).await.unwrap();
                        slowest = slowest.max(t.elapsed());
                    }
                    slowest
                })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        for w in writers {
            slowest = slowest.max(w.await.unwrap());
        }
        reader.execute_batch("COMMIT;").unwrap();
        assert!(slowest < Duration::from_secs(1), "a write took {slowest:?}");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_failed_batch_is_an_error_for_all_and_the_chains_go_on() {
        let (dir, path, store) = temp_store("fail");
        let body = json!({ "n": 1 });
        store.append_trace(&row("a", &body)).await.unwrap();
        // Another connection makes tenant b's inserts fail, and holds the
        // write lock while a batch of a's and b's queues up behind it.
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch(
                "CREATE TRIGGER fail BEFORE INSERT ON traces WHEN NEW.tenant = 'b'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
                 BEGIN IMMEDIATE;",
            )
            .unwrap();
        let blocked = tokio::spawn({
            let store = store.clone();
            async move { store.append_trace(&row("a", &json!({"n": 2}))).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let batch: Vec<_> = (0..6)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let tenant = if i % 2 == 0 { "a" } else { "b" };
                    store.append_trace(&row(tenant, &json!({"i": i}))).await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        other.execute_batch("COMMIT;").unwrap();
        blocked.await.unwrap().unwrap();
        // One batch: tenant a's rows went in before b's failed, then all rolled back.
        for t in batch {
            let err = t.await.unwrap().unwrap_err();
            assert!(err.to_string().contains("injected failure"), "{err}");
        }
        other.execute_batch("DROP TRIGGER fail;").unwrap();
        for tenant in ["a", "b", "a"] {
            store.append_trace(&row(tenant, &body)).await.unwrap();
        }
        assert_eq!(store.verify().unwrap(), Vec::<String>::new());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    fn approval_row(id: &str, status: &str, expires_at: i64) -> ApprovalRow {
        ApprovalRow {
            approval_id: id.to_owned(),
            tenant: "a".to_owned(),
            request_hash: format!("sha256:{id}"),
            status: status.to_owned(),
            created_at: expires_at - 60,
            expires_at,
            decided_at: None,
            decided_by: None,
            key_id: 1,
            details: json!({"method": "DELETE"}),
        }
    }

    #[tokio::test]
    async fn approvals_expire_incrementally_and_are_pruned_after_retention() {
        let (dir, _, store) = temp_store("prune");
        let body = json!({});
        let now = 1_000_000;
        // Pending and past expiry, pending and live, and long expired.
        for (i, expires) in [(0, now - 10), (1, now + 3600), (2, now - 100_000)] {
            let row = approval_row(&format!("apr_{i}"), "pending", expires);
            store
                .append_scan(&self::row("a", &body), Some(row), None)
                .await
                .unwrap();
        }
        // Expiry and pruning go through the (status, expires_at) and
        // expires_at indexes, never a scan of the table.
        let conn = store.conn();
        for sql in [
            "EXPLAIN QUERY PLAN SELECT rowid FROM approvals WHERE status = 'pending' AND expires_at <= 1 LIMIT 5",
            "EXPLAIN QUERY PLAN SELECT rowid FROM approvals WHERE expires_at < 1 AND status != 'pending' LIMIT 5",
        ] {
            let plan: Vec<String> = conn
                .prepare(sql)
                .unwrap()
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.iter().any(|p| p.contains("USING INDEX approvals_")
                    || p.contains("USING COVERING INDEX approvals_")),
                "{sql}: {plan:?}"
            );
        }
        drop(conn);
        assert_eq!(store.expire(now).unwrap(), 2);
        assert_eq!(store.expire(now).unwrap(), 0, "incremental: nothing left");
        // Retention of one day: only the approval expired before it goes.
        assert_eq!(store.prune_approvals(now - 86_400).unwrap(), 1);
        assert!(store.approval("a", "apr_2").unwrap().is_none());
        assert_eq!(
            store.approval("a", "apr_0").unwrap().unwrap().status,
            "expired"
        );
        assert_eq!(
            store.approval("a", "apr_1").unwrap().unwrap().status,
            "pending"
        );
        // A pruned approval leaves the chain intact.
        assert_eq!(store.verify().unwrap(), Vec::<String>::new());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_decision_is_chained_and_a_deleted_file_fails_closed() {
        let (dir, path, store) = temp_store("decide");
        let body = json!({});
        let now = now_millis() / 1000;
        let row = approval_row("apr_x", "pending", now + 600);
        store
            .append_scan(&self::row("a", &body), Some(row), None)
            .await
            .unwrap();
        let s = store.clone();
        let decided = tokio::task::spawn_blocking(move || {
            s.decide_approval("a", "apr_x", true, "alice", now)
        })
        .await
        .unwrap()
        .unwrap();
        let Decided::Decided(row) = decided else {
            panic!("{decided:?}")
        };
        assert_eq!(
            (row.status.as_str(), row.decided_by.as_deref()),
            ("approved", Some("alice"))
        );
        let s = store.clone();
        let again =
            tokio::task::spawn_blocking(move || s.decide_approval("a", "apr_x", false, "bob", now))
                .await
                .unwrap()
                .unwrap();
        assert!(matches!(again, Decided::NotPending(_)), "{again:?}");
        assert!(store.verify().unwrap().is_empty());
        assert!(store.ready().is_ok());
        std::fs::remove_file(&path).unwrap();
        assert!(store.ready().is_err());
        let err = store
            .append_trace(&self::row("a", &body))
            .await
            .unwrap_err();
        assert!(err.downcast_ref::<StoreUnavailable>().is_some(), "{err}");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
