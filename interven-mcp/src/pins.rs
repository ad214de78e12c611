//! Tool-definition pins: the SHA-256 of each tool's canonical definition,
//! recorded on first sight, so that a definition that changes later (a
//! "rug pull") is noticed and withheld until a human accepts it.
//!
//! The file is JSON, one entry per server and tool:
//!
//! ```json
//! { "version": 1,
//!   "servers": { "filesystem": { "read_file": {
//!       "sha256": "…", "pinned_at": 1733050000,
//!       "pending": { "sha256": "…", "seen_at": 1733090000 } } } } }
//! ```
//!
//! `pending` is the changed definition last seen, what `pins accept` pins.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One pinned tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// Hex SHA-256 of the canonical definition accepted.
    pub sha256: String,
    /// Unix seconds when it was pinned.
    #[serde(default)]
    pub pinned_at: u64,
    /// A different definition seen since, waiting for `pins accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// A changed definition that has not been accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Hex SHA-256 of the changed definition.
    pub sha256: String,
    /// Unix seconds when it was last seen.
    #[serde(default)]
    pub seen_at: u64,
}

/// The pin file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinFile {
    /// Format version, 1.
    #[serde(default = "one")]
    pub version: u32,
    /// Server name → tool name → pin.
    #[serde(default)]
    pub servers: BTreeMap<String, BTreeMap<String, Pin>>,
}

fn one() -> u32 {
    1
}

/// What a definition is, against the pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Seen for the first time: now pinned.
    New,
    /// The pinned definition.
    Same,
    /// Different from the pinned definition: withhold it.
    Changed,
}

/// The default pin file: `$XDG_CONFIG_HOME/interven/mcp-pins.json`, else
/// `~/.config/interven/mcp-pins.json` (`%APPDATA%` on Windows).
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("interven").join("mcp-pins.json")
}

/// JSON with object keys sorted and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Hex SHA-256 of a tool's canonical definition: its `name`, `description`,
/// `inputSchema` and `annotations` (absent ones as `null`).
pub fn definition_hash(tool: &Value) -> String {
    let mut def = serde_json::Map::new();
    for key in ["name", "description", "inputSchema", "annotations"] {
        def.insert(
            key.to_owned(),
            tool.get(key).cloned().unwrap_or(Value::Null),
        );
    }
    let digest = Sha256::digest(canonical_json(&Value::Object(def)).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl PinFile {
    /// Reads a pin file; a missing file is an empty one.
    ///
    /// # Errors
    /// When the file cannot be read or is not a pin file.
    pub fn load(path: &Path) -> anyhow::Result<PinFile> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not an interven pin file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PinFile {
                version: 1,
                ..PinFile::default()
            }),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file atomically (a temporary file renamed over it).
    ///
    /// # Errors
    /// When the directory or the file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Checks a definition hash against the pins, pinning a new tool and
    /// recording a changed definition as pending. Returns whether the file changed.
    pub fn check(&mut self, server: &str, tool: &str, sha256: &str) -> (Check, bool) {
        let tools = self.servers.entry(server.to_owned()).or_default();
        match tools.get_mut(tool) {
            None => {
                tools.insert(
                    tool.to_owned(),
                    Pin {
                        sha256: sha256.to_owned(),
                        pinned_at: now(),
                        pending: None,
                    },
                );
                (Check::New, true)
            }
            Some(pin) if pin.sha256 == sha256 => (Check::Same, false),
            Some(pin) => {
                let known = pin.pending.as_ref().is_some_and(|p| p.sha256 == sha256);
                if !known {
                    pin.pending = Some(Pending {
                        sha256: sha256.to_owned(),
                        seen_at: now(),
                    });
                }
                (Check::Changed, !known)
            }
        }
    }

    /// Accepts pending definitions: of `tool` (a tool name, or
    /// `server/tool`), or all of them. Returns the `server/tool`s accepted.
    pub fn accept(&mut self, tool: Option<&str>) -> Vec<String> {
        let mut accepted = Vec::new();
        for (server, tools) in &mut self.servers {
            for (name, pin) in tools.iter_mut() {
                let full = format!("{server}/{name}");
                let wanted = tool.is_none_or(|t| t == name || t == full);
                if !wanted {
                    continue;
                }
                if let Some(pending) = pin.pending.take() {
                    pin.sha256 = pending.sha256;
                    pin.pinned_at = now();
                    accepted.push(full);
                }
            }
        }
        accepted
    }

    /// The tool names pinned for servers other than `server` (for the
    /// shadowing check).
    pub fn other_tools(&self, server: &str) -> Vec<String> {
        self.servers
            .iter()
            .filter(|(s, _)| s.as_str() != server)
            .flat_map(|(_, tools)| tools.keys().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_covers_the_definition_and_ignores_key_order_and_other_fields() {
        let a = json!({"name": "t", "description": "d", "inputSchema": {"type": "object", "properties": {"a": {}, "b": {}}}});
        let b = json!({"inputSchema": {"properties": {"b": {}, "a": {}}, "type": "object"}, "description": "d", "name": "t", "title": "other"});
        assert_eq!(definition_hash(&a), definition_hash(&b));
        let c = json!({"name": "t", "description": "d!", "inputSchema": a["inputSchema"]});
        assert_ne!(definition_hash(&a), definition_hash(&c));
        let d = json!({"name": "t", "description": "d", "inputSchema": a["inputSchema"], "annotations": {"destructiveHint": true}});
        assert_ne!(definition_hash(&a), definition_hash(&d));
        assert_eq!(definition_hash(&a).len(), 64);
    }

    #[test]
    fn pin_on_first_sight_then_withhold_a_change_until_accepted() {
        let mut f = PinFile::default();
        assert_eq!(f.check("s", "t", "aa"), (Check::New, true));
        assert_eq!(f.check("s", "t", "aa"), (Check::Same, false));
        assert_eq!(f.check("s", "t", "bb"), (Check::Changed, true));
        assert_eq!(f.check("s", "t", "bb"), (Check::Changed, false));
        assert_eq!(f.accept(Some("other")), Vec::<String>::new());
        assert_eq!(f.accept(Some("s/t")), ["s/t"]);
        assert_eq!(f.check("s", "t", "bb"), (Check::Same, false));
        assert_eq!(f.check("s", "t", "aa"), (Check::Changed, true));
        assert_eq!(f.accept(None), ["s/t"]);
    }

    #[test]
    fn files_round_trip_and_a_missing_file_is_empty() {
        let dir = std::env::temp_dir().join(format!("interven-pins-{}", fastrand_id()));
        let path = dir.join("nested").join("pins.json");
        assert_eq!(PinFile::load(&path).unwrap().servers.len(), 0);
        let mut f = PinFile::load(&path).unwrap();
        f.check("s", "t", "aa");
        f.save(&path).unwrap();
        assert_eq!(PinFile::load(&path).unwrap(), f);
        std::fs::write(&path, "not json").unwrap();
        assert!(PinFile::load(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn fastrand_id() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }
}
