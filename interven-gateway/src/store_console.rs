//! The store queries and tables of the console and the notifier: console
//! sessions (token hashes only), who decided an approval, which approvals
//! were notified, and read-only views of traces and keys scoped to a tenant.
//!
//! Kept apart from `store.rs` so that the trace writer's file stays about
//! the write path. Every query here takes the tenant: nothing crosses tenants.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Result;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;

use crate::store::{
    APPROVAL_FIELDS, ApprovalRow, GENESIS, KeyRow, Store, approval_from_row, chain_hash, seq_of,
};

const CONSOLE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash TEXT PRIMARY KEY,
    key_id INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_key ON console_sessions(key_id);
-- The pending list and the notifier read approvals by status.
CREATE INDEX IF NOT EXISTS approvals_status_created ON approvals(status, created_at);
CREATE TABLE IF NOT EXISTS notified_approvals (
    approval_id TEXT PRIMARY KEY,
    notified_at INTEGER NOT NULL
);
";

/// A signed-in console session, as the store knows it (the token itself is
/// never stored, only its SHA-256).
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The admin key the session was opened with.
    pub key_id: i64,
    /// The key's name (who decides, in the records).
    pub key_name: String,
    /// The key's tenant.
    pub tenant: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// Who decided an approval through the console, and when.
#[derive(Debug, Clone)]
pub struct DecisionRow {
    /// `approved` or `denied`.
    pub decision: String,
    /// The name of the admin key that decided.
    pub decided_by: String,
    /// Unix seconds.
    pub decided_at: i64,
}

/// One trace as the console lists it: its id and its record (redacted, as
/// stored).
#[derive(Debug, Clone)]
pub struct TraceSummary {
    /// The trace id.
    pub trace_id: String,
    /// The stored record (JSON).
    pub record: Value,
}

/// Filters of the activity list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// Exact decision (`ALLOW`, `SANITIZE`, `DENY`, `REQUIRE_APPROVAL`).
    pub decision: Option<String>,
    /// Exact tool name.
    pub tool: Option<String>,
    /// Exact agent id.
    pub agent: Option<String>,
    /// Traces at or after this time, Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Traces before this time, Unix milliseconds.
    pub until_ms: Option<i64>,
    /// Traces older than this one (the next page of a list).
    pub before: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// How far a tenant's hash chain verifies, up to one of its traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every trace from the first to this one links and matches its hash.
    Intact {
        /// How many traces were checked.
        traces: u64,
    },
    /// The first problem found.
    Broken(String),
}

impl Store {
    /// A read-only connection to the same database, for the console's
    /// longer reads.
    ///
    /// # Errors
    /// When the database cannot be opened again.
    pub fn console_reader(&self) -> Result<ConsoleReader> {
        let file: String = self.conn().query_row(
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
            [],
            |r| r.get(0),
        )?;
        anyhow::ensure!(
            !file.is_empty(),
            "an in-memory store has no second connection"
        );
        let conn = Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(ConsoleReader {
            conn: Mutex::new(conn),
        })
    }

    /// Creates the console's tables (idempotent).
    ///
    /// # Errors
    /// When the store fails.
    pub fn ensure_console_schema(&self) -> Result<()> {
        self.conn().execute_batch(CONSOLE_SCHEMA)?;
        Ok(())
    }

    /// Stores a new session by its token's hash.
    ///
    /// # Errors
    /// When the store fails.
    pub fn insert_session(
        &self,
        token_hash: &str,
        key_id: i64,
        tenant: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let conn = self.conn();
        // Sessions past their expiry go whenever a new one comes.
        conn.execute(
            "DELETE FROM console_sessions WHERE expires_at <= ?1",
            params![now],
        )?;
        conn.execute(
            "INSERT INTO console_sessions (token_hash, key_id, tenant, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_hash, key_id, tenant, now, expires_at],
        )?;
        Ok(())
    }

    /// The live session with this token hash: not expired, and its key
    /// still an unrevoked admin key of the same tenant.
    ///
    /// # Errors
    /// When the store fails.
    pub fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT s.key_id, k.name, s.tenant, s.expires_at FROM console_sessions s
                 JOIN keys k ON k.id = s.key_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2
                   AND k.revoked = 0 AND k.admin = 1 AND k.tenant = s.tenant",
                params![token_hash, now],
                |r| {
                    Ok(SessionRow {
                        key_id: r.get(0)?,
                        key_name: r.get(1)?,
                        tenant: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Ends a session.
    ///
    /// # Errors
    /// When the store fails.
    pub fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM console_sessions WHERE token_hash = ?1",
            params![token_hash],
        )?;
        Ok(())
    }

    /// A tenant's keys (never the keys themselves).
    ///
    /// # Errors
    /// When the store fails.
    pub fn tenant_keys(&self, tenant: &str) -> Result<Vec<KeyRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, tenant, admin, revoked, hash FROM keys WHERE tenant = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![tenant], |r| {
            Ok(KeyRow {
                id: r.get(0)?,
                name: r.get(1)?,
                tenant: r.get(2)?,
                admin: r.get(3)?,
                revoked: r.get(4)?,
                hash: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Revokes a key of a tenant by id, and ends its console sessions;
    /// `false` when the tenant has no such key.
    ///
    /// # Errors
    /// When the store fails.
    pub fn revoke_tenant_key(&self, tenant: &str, key_id: i64) -> Result<bool> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE keys SET revoked = 1 WHERE id = ?1 AND tenant = ?2",
            params![key_id, tenant],
        )?;
        if n == 1 {
            conn.execute(
                "DELETE FROM console_sessions WHERE key_id = ?1",
                params![key_id],
            )?;
        }
        Ok(n == 1)
    }

    /// A tenant's approvals with a status, newest first.
    ///
    /// # Errors
    /// When the store fails.
    pub fn approvals_newest_first(&self, tenant: &str, status: &str) -> Result<Vec<ApprovalRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {APPROVAL_FIELDS} FROM approvals
             WHERE tenant = ?1 AND status = ?2 ORDER BY created_at DESC, rowid DESC LIMIT 500"
        ))?;
        let rows = stmt.query_map(params![tenant, status], approval_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- who decided ----

    /// Who decided an approval of a tenant (in the console, the API or the
    /// CLI), once it was decided.
    ///
    /// # Errors
    /// When the store fails.
    pub fn decision(&self, tenant: &str, approval_id: &str) -> Result<Option<DecisionRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT status, decided_by, decided_at FROM approvals
                 WHERE tenant = ?1 AND approval_id = ?2 AND decided_by IS NOT NULL AND decided_at IS NOT NULL",
                params![tenant, approval_id],
                |r| {
                    Ok(DecisionRow {
                        decision: r.get(0)?,
                        decided_by: r.get(1)?,
                        decided_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    // ---- notifications ----

    /// Pending approvals (every tenant) not yet handed to the notifier,
    /// oldest first, at most `limit`.
    ///
    /// # Errors
    /// When the store fails.
    pub fn unnotified_pending(&self, now: i64, limit: usize) -> Result<Vec<ApprovalRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT a.approval_id, a.tenant, a.request_hash, a.status, a.created_at, a.expires_at,
                    a.decided_at, a.decided_by, a.key_id, a.details
             FROM approvals a LEFT JOIN notified_approvals n ON n.approval_id = a.approval_id
             WHERE a.status = 'pending' AND a.expires_at > ?1 AND n.approval_id IS NULL
             ORDER BY a.created_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit as i64], approval_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Claims an approval for notification; `false` when it was claimed
    /// already (by this or another gateway on the same database).
    ///
    /// # Errors
    /// When the store fails.
    pub fn claim_notification(&self, approval_id: &str, now: i64) -> Result<bool> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO notified_approvals (approval_id, notified_at) VALUES (?1, ?2)",
            params![approval_id, now],
        )?;
        Ok(n == 1)
    }
}

/// A read-only connection of the console's own, for its longer reads
/// (activity filters, chain checks, an approval's traces): they never hold
/// the store's shared connection, which the scan path uses for approvals
/// and key lookups. SQLite's WAL lets it read while the writer writes.
pub struct ConsoleReader {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for ConsoleReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleReader").finish_non_exhaustive()
    }
}

impl ConsoleReader {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first trace that asked for an approval: what the request was
    /// (tool, operation, method, URL, agent, reasons, risk, redacted body).
    /// Looked up from the approval's creation time on, along the traces'
    /// key (a trace's id carries its time), so it reads a few rows.
    ///
    /// # Errors
    /// When the store fails.
    pub fn approval_trace(&self, approval: &ApprovalRow) -> Result<Option<TraceSummary>> {
        // The trace is written just after the approval: a second of slack
        // before (clocks read on either side of a second's edge), a minute
        // after (a slow commit), never the whole table.
        let from = seq_at(approval.created_at.saturating_sub(1));
        let to = seq_at(approval.created_at.saturating_add(60));
        let conn = self.lock();
        let found: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT trace_id, row FROM traces WHERE seq >= ?1 AND seq < ?4 AND tenant = ?2
                 AND json_extract(row, '$.approval_id') = ?3 ORDER BY seq LIMIT 1",
            )?
            .query_row(
                params![from, approval.tenant, approval.approval_id, to],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(found.and_then(|(trace_id, row)| {
            serde_json::from_str(&row)
                .ok()
                .map(|record| TraceSummary { trace_id, record })
        }))
    }

    /// Every trace of a tenant that carries this approval, oldest first
    /// (the request while it waited), at most 50.
    ///
    /// # Errors
    /// When the store fails.
    pub fn approval_traces(&self, approval: &ApprovalRow) -> Result<Vec<TraceSummary>> {
        // Asked while pending: between its creation and its expiry.
        let from = seq_at(approval.created_at.saturating_sub(1));
        let to = seq_at(approval.expires_at.saturating_add(60));
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT trace_id, row FROM traces WHERE seq >= ?1 AND seq < ?4 AND tenant = ?2
             AND json_extract(row, '$.approval_id') = ?3 ORDER BY seq LIMIT 50",
        )?;
        let rows = stmt.query_map(
            params![from, approval.tenant, approval.approval_id, to],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (trace_id, row) = row?;
            if let Ok(record) = serde_json::from_str(&row) {
                out.push(TraceSummary { trace_id, record });
            }
        }
        Ok(out)
    }

    /// A tenant's traces matching `filter`, newest first.
    ///
    /// # Errors
    /// When the store fails.
    pub fn list_traces(&self, tenant: &str, filter: &TraceFilter) -> Result<Vec<TraceSummary>> {
        let from = filter
            .since_ms
            .map_or(0, |ms| ms.max(0).saturating_mul(1 << 20));
        let to = filter
            .until_ms
            .map_or(i64::MAX, |ms| ms.max(0).saturating_mul(1 << 20))
            .min(
                filter
                    .before
                    .as_deref()
                    .and_then(seq_of)
                    .unwrap_or(i64::MAX),
            );
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT trace_id, row FROM traces
             WHERE seq >= ?1 AND seq < ?2 AND tenant = ?3
               AND (?4 IS NULL OR json_extract(row, '$.decision') = ?4)
               AND (?5 IS NULL OR json_extract(row, '$.tool') = ?5)
               AND (?6 IS NULL OR json_extract(row, '$.agent_id') = ?6)
             ORDER BY seq DESC LIMIT ?7",
        )?;
        let rows = stmt.query_map(
            params![
                from,
                to,
                tenant,
                filter.decision,
                filter.tool,
                filter.agent,
                filter.limit.clamp(1, 1000) as i64
            ],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (trace_id, row) = row?;
            if let Ok(record) = serde_json::from_str(&row) {
                out.push(TraceSummary { trace_id, record });
            }
        }
        Ok(out)
    }

    /// Checks a tenant's chain from its first trace up to `trace_id`:
    /// each trace links to the one before and matches its hash. `None`
    /// when the tenant has no such trace. Reads the tenant's traces up to
    /// that one (linear in their number).
    ///
    /// # Errors
    /// When the store fails.
    pub fn verify_up_to(&self, tenant: &str, trace_id: &str) -> Result<Option<ChainCheck>> {
        let Some(seq) = seq_of(trace_id) else {
            return Ok(None);
        };
        let conn = self.lock();
        let exists: Option<i64> = conn
            .query_row(
                "SELECT seq FROM traces WHERE seq = ?1 AND trace_id = ?2 AND tenant = ?3",
                params![seq, trace_id, tenant],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Ok(None);
        }
        let mut stmt = conn.prepare(
            "SELECT trace_id, row, prev_hash, hash FROM traces WHERE tenant = ?1 AND seq <= ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![tenant, seq], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut last = GENESIS.to_owned();
        let mut traces = 0u64;
        for row in rows {
            let (id, text, prev, hash) = row?;
            if prev != last {
                return Ok(Some(ChainCheck::Broken(format!(
                    "trace {id}: broken link to the trace before it"
                ))));
            }
            if chain_hash(&prev, &text) != hash {
                return Ok(Some(ChainCheck::Broken(format!(
                    "trace {id}: contents do not match their hash"
                ))));
            }
            last = hash;
            traces += 1;
        }
        Ok(Some(ChainCheck::Intact { traces }))
    }
}

/// The first trace position of a second (a trace id carries its time in
/// milliseconds, shifted left 20 bits; see `Store::append_trace`).
fn seq_at(unix_secs: i64) -> i64 {
    unix_secs.clamp(0, i64::MAX >> 31).saturating_mul(1000) << 20
}
