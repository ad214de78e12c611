//! The optional audit sink: one JSON line per verdict, bodies redacted.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct AuditLog {
    file: Mutex<BufWriter<File>>,
}

impl AuditLog {
    pub(crate) fn open(path: &Path) -> Result<AuditLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::Config {
                message: format!("cannot open audit log {}", path.display()),
                source: Some(Box::new(e)),
            })?;
        Ok(AuditLog {
            file: Mutex::new(BufWriter::new(file)),
        })
    }

    /// Appends one record. A write failure is logged, not raised: the
    /// verdict stands, and the log says the audit trail has a gap.
    pub(crate) fn write(&self, record: &Value) {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let result = serde_json::to_writer(&mut *file, record)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.flush());
        if let Err(e) = result {
            tracing::error!(error = %e, "interven: could not write the audit log");
        }
    }
}
