//! API keys: generated from the OS's random source, shown once, stored as
//! SHA-256 hashes, compared in constant time.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{KeyRow, Store, hex};

/// The prefix of every key this gateway issues.
pub const KEY_PREFIX: &str = "ivk_";

/// Who a request comes from.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's row id.
    pub key_id: i64,
    /// The key's name (what traces and decisions record; never the key).
    pub key_name: String,
    /// The tenant the key belongs to.
    pub tenant: String,
    /// Whether the key may approve, deny and read traces.
    pub admin: bool,
}

/// `sha256` of a key, hex.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// A new random key: the prefix and 32 bytes from the OS, hex.
///
/// # Errors
/// When the OS's random source cannot be read.
pub fn generate_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot read the OS random source: {e}"))?;
    Ok(format!("{KEY_PREFIX}{}", hex(&bytes)))
}

/// Creates a key and stores its hash; returns the key (shown once).
///
/// # Errors
/// When the store fails or the name is empty.
pub fn create_key(store: &Store, name: &str, tenant: &str, admin: bool) -> Result<String> {
    anyhow::ensure!(!name.trim().is_empty(), "a key needs a non-empty --name");
    anyhow::ensure!(
        !tenant.trim().is_empty(),
        "a key needs a non-empty --tenant"
    );
    let key = generate_key()?;
    store.insert_key(
        name,
        tenant,
        &hash_key(&key),
        admin,
        &interven::engine::rfc3339(std::time::SystemTime::now()),
    )?;
    Ok(key)
}

/// The principal of a bearer token, `None` for an unknown or revoked key.
/// Asks the store every time; a server uses a [`KeyCache`].
///
/// # Errors
/// When the store fails.
pub fn authenticate(store: &Store, token: &str) -> Result<Option<Principal>> {
    authenticate_hash(store, &hash_key(token))
}

fn authenticate_hash(store: &Store, presented: &str) -> Result<Option<Principal>> {
    let Some(row): Option<KeyRow> = store.key_by_hash(presented)? else {
        return Ok(None);
    };
    let equal: bool = row.hash.as_bytes().ct_eq(presented.as_bytes()).into();
    Ok((equal && !row.revoked).then_some(Principal {
        key_id: row.id,
        key_name: row.name,
        tenant: row.tenant,
        admin: row.admin,
    }))
}

/// How long a server trusts a key it has looked up before asking the store
/// again. A key revoked from another process (`interven-gateway keys
/// revoke`) stops working within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Valid keys looked up in the last [`KEY_CACHE_TTL`], by hash, so that a
/// busy server does not query the store on every request. Unknown and
/// revoked keys are never cached: a new key works at once, and the cache
/// holds no more entries than the store has keys.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Instant, Principal)>>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    /// [`authenticate`], answered from the cache when the key was found
    /// valid less than [`KEY_CACHE_TTL`] ago.
    ///
    /// # Errors
    /// When the store fails.
    pub fn authenticate(&self, store: &Store, token: &str) -> Result<Option<Principal>> {
        let hash = hash_key(token);
        if let Some(p) = self.cached(&hash) {
            return Ok(Some(p));
        }
        self.lookup(store, hash)
    }

    /// The principal of a key hash found valid less than [`KEY_CACHE_TTL`]
    /// ago: memory only, never the store.
    pub fn cached(&self, hash: &str) -> Option<Principal> {
        match self.lock().get(hash) {
            Some((at, principal)) if at.elapsed() < KEY_CACHE_TTL => Some(principal.clone()),
            _ => None,
        }
    }

    /// Asks the store about a key hash and caches a valid answer (blocking:
    /// call it off the async workers).
    ///
    /// # Errors
    /// When the store fails.
    pub fn lookup(&self, store: &Store, hash: String) -> Result<Option<Principal>> {
        let found = authenticate_hash(store, &hash)?;
        let mut entries = self.lock();
        match &found {
            Some(p) => {
                entries.insert(hash, (Instant::now(), p.clone()));
            }
            None => {
                entries.remove(&hash);
            }
        }
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Principal)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
