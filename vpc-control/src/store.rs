//! Durable state: the model in an embedded ACID store (redb) under the
//! daemon's `--state-dir`. A change is committed (fsync'd) before its reply
//! is sent; after a crash the store holds the last committed model whole.
use std::path::{Path, PathBuf};

use redb::{Database, TableDefinition};
use thiserror::Error;

use crate::model::Model;

/// The single table: key -> JSON.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// Key of the model.
const MODEL_KEY: &str = "model";
/// Key of the schema version.
const SCHEMA_KEY: &str = "schema";
/// Version of the stored model's layout.
const SCHEMA: &[u8] = b"1";

/// Why the state store failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    /// The database could not be opened (another daemon may hold it).
    #[error("cannot open state database {path}: {source}")]
    Open { path: PathBuf, source: redb::DatabaseError },
    /// A transaction failed.
    #[error("state database transaction failed: {0}")]
    Transaction(String),
    /// The stored model could not be decoded.
    #[error("stored state is unreadable: {0}")]
    Decode(String),
    /// The store was written by an incompatible version.
    #[error("stored state has schema {found}, this daemon reads schema {expected}")]
    Schema { found: String, expected: String },
}

fn tx<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Transaction(e.to_string())
}

/// The state database of one daemon.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) `dir/state.redb`. Only one process may hold it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir { path: dir.to_path_buf(), source })?;
        let path = dir.join("state.redb");
        let db = Database::create(&path).map_err(|source| StoreError::Open { path, source })?;
        Ok(Self { db })
    }

    /// The last committed model, if any.
    pub fn load(&self) -> Result<Option<Model>, StoreError> {
        let read = self.db.begin_read().map_err(tx)?;
        let table = match read.open_table(STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(tx(e)),
        };
        if let Some(v) = table.get(SCHEMA_KEY).map_err(tx)?
            && v.value() != SCHEMA
        {
            return Err(StoreError::Schema {
                found: String::from_utf8_lossy(v.value()).into_owned(),
                expected: String::from_utf8_lossy(SCHEMA).into_owned(),
            });
        }
        match table.get(MODEL_KEY).map_err(tx)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(|e| StoreError::Decode(e.to_string())),
        }
    }

    /// Commits `model` durably: when this returns Ok the model is on disk.
    pub fn save(&self, model: &Model) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(model).map_err(|e| StoreError::Decode(e.to_string()))?;
        let write = self.db.begin_write().map_err(tx)?;
        {
            let mut table = write.open_table(STATE).map_err(tx)?;
            table.insert(SCHEMA_KEY, SCHEMA).map_err(tx)?;
            table.insert(MODEL_KEY, bytes.as_slice()).map_err(tx)?;
        }
        write.commit().map_err(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpc_1_committed_model_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("vpc-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = crate::test_fixtures::lab();
        {
            let store = Store::open(&dir).unwrap();
            assert_eq!(store.load().unwrap(), None);
            store.save(&model).unwrap();
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Some(model));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn vpc_1_second_daemon_cannot_open_the_same_state() {
        let dir = std::env::temp_dir().join(format!("vpc-store-lock-{}", std::process::id()));
        let _first = Store::open(&dir).unwrap();
        assert!(matches!(Store::open(&dir), Err(StoreError::Open { .. })));
        drop(_first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
