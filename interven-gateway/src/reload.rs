//! Live policy reload for `serve --policy FILE`: on SIGHUP, and when the
//! file changes (its modification time, size and content are polled every
//! second). The new policy replaces the old atomically; a file that does
//! not parse or has a `policy check` error keeps the old policy in force,
//! and the log says why. Never the built-in default.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::policy_cmd::check_text;
use crate::server::AppState;

/// How often the file is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What the watcher knows of the file: what it last looked like and the
/// content last loaded (or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    digest: [u8; 32],
}

fn stat(path: &Path) -> Option<(Option<SystemTime>, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok(), meta.len()))
}

/// The policy watcher of one file.
#[derive(Debug)]
pub struct Reloader {
    state: Arc<AppState>,
    path: PathBuf,
    seen: Option<Seen>,
}

/// What one look at the file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Nothing changed.
    Unchanged,
    /// The new policy is in force.
    Loaded,
    /// The file changed but was refused; the old policy stays. The reasons.
    Refused(String),
}

impl Reloader {
    /// A watcher of `path`; `loaded` is the text of the policy in force
    /// (what `serve` loaded at start), so a change made since is picked up.
    pub fn new(state: Arc<AppState>, path: PathBuf, loaded: &str) -> Reloader {
        let seen = stat(&path).map(|(modified, len)| Seen {
            modified,
            len,
            digest: Sha256::digest(loaded.as_bytes()).into(),
        });
        Reloader { state, path, seen }
    }

    /// Looks at the file: reloads it when `force` (SIGHUP) or when its
    /// time, size or content changed since the last look.
    pub fn poll(&mut self, force: bool) -> Reload {
        let Some((modified, len)) = stat(&self.path) else {
            if force {
                let why = format!("cannot read {}", self.path.display());
                tracing::error!(path = %self.path.display(), reason = %why, "policy reload refused; the previous policy stays in force");
                return Reload::Refused(why);
            }
            return Reload::Unchanged;
        };
        if !force
            && self
                .seen
                .as_ref()
                .is_some_and(|s| s.modified == modified && s.len == len)
        {
            return Reload::Unchanged;
        }
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Reload::Unchanged;
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let same_content = self.seen.as_ref().is_some_and(|s| s.digest == digest);
        self.seen = Some(Seen {
            modified,
            len,
            digest,
        });
        if same_content && !force {
            return Reload::Unchanged;
        }
        let loaded = String::from_utf8(bytes)
            .map_err(|_| format!("{} is not UTF-8 text", self.path.display()))
            .and_then(|text| check_text(&self.path, &text));
        match loaded {
            Ok(policy) => {
                let rules = policy.rules().len();
                self.state.engine().set_policy(policy);
                tracing::info!(path = %self.path.display(), rules, "policy reloaded");
                Reload::Loaded
            }
            Err(why) => {
                tracing::error!(path = %self.path.display(), reason = %why, "policy reload refused; the previous policy stays in force");
                Reload::Refused(why)
            }
        }
    }

    /// Watches until the process ends: SIGHUP and a poll every second.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let force = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            };
            #[cfg(not(unix))]
            let force = {
                tick.tick().await;
                false
            };
            if force {
                tracing::info!(path = %self.path.display(), "SIGHUP: reloading the policy");
            }
            // Reading and compiling a policy is blocking work, but small and rare.
            self.poll(force);
        }
    }
}
