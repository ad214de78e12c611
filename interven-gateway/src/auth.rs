//! API keys: generated from the OS's random source, shown once, stored as
//! SHA-256 hashes, compared in constant time.

use std::io::Read;

use anyhow::{Context as _, Result};
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
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read the OS random source")?;
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
///
/// # Errors
/// When the store fails.
pub fn authenticate(store: &Store, token: &str) -> Result<Option<Principal>> {
    let presented = hash_key(token);
    let Some(row): Option<KeyRow> = store.key_by_hash(&presented)? else {
        return Ok(None);
    };
    let equal: bool = row.hash.as_bytes().ct_eq(presented.as_bytes()).into();
    Ok((equal && !row.revoked).then_some(Principal {
        key_id: row.id,
        tenant: row.tenant,
        admin: row.admin,
    }))
}
