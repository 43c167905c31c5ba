//! Durable state: the model in an embedded ACID store (redb) under the
//! daemon's `--state-dir`. A change is committed (fsync'd) before its reply
//! is sent; after a crash the store holds the last committed model whole.
//!
//! Layout (schema 2): the model without its route entries as one JSON
//! document, and each route entry under its own key (route table id and
//! destination), so a change writes what it changed, not 100,000 entries.
//! Each save is one write transaction: a crash leaves the previous change
//! or this one, never part of it. Schema 1 (the whole model in one JSON
//! document) is read, and rewritten as schema 2 by the next save.
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
};

use redb::{Database, ReadableTable, TableDefinition};
use thiserror::Error;

use crate::model::{Model, RouteEntry, RouteTable};

/// Key -> JSON: the model (without route entries), the schema, counters.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// `{route table id}/{destination}` -> order (8 bytes, big-endian) + the
/// entry as JSON. A key keeps its order number while it exists (an entry
/// deleted and added again in one change keeps its place).
const ROUTE_ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("route_entries");
/// Key of the model.
const MODEL_KEY: &str = "model";
/// Key of the schema version.
const SCHEMA_KEY: &str = "schema";
/// Key of the next route entry order number (8 bytes, big-endian).
const ROUTE_SEQ_KEY: &str = "route_seq";
/// Version of the stored layout.
const SCHEMA: &[u8] = b"2";
/// The layout with the whole model in one document.
const SCHEMA_1: &[u8] = b"1";

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

fn decode<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Decode(e.to_string())
}

/// The key of a route entry.
fn entry_key(table: &RouteTable, entry: &RouteEntry) -> String {
    format!("{}/{}", table.id, entry.destination_cidr_block)
}

/// A route entry's stored value: its order, then its JSON.
fn entry_value(seq: u64, entry: &RouteEntry) -> Result<Vec<u8>, StoreError> {
    let mut v = seq.to_be_bytes().to_vec();
    serde_json::to_writer(&mut v, entry).map_err(decode)?;
    Ok(v)
}

fn seq_of(value: &[u8]) -> Result<u64, StoreError> {
    let head: [u8; 8] = value.get(..8).and_then(|h| h.try_into().ok()).ok_or_else(|| decode("short route entry record"))?;
    Ok(u64::from_be_bytes(head))
}

/// The model without its route entries (what the model document holds).
fn without_route_entries(model: &Model) -> Model {
    let mut m = model.clone();
    for t in &mut m.route_tables {
        t.route_entries = Vec::new();
    }
    m
}

/// Removed entries in a row the walk in [`route_entry_changes`] skips
/// without an index (a batch call removes at most 50).
const REMOVED_RUN: usize = 64;

/// The writes turning the stored entries of `prev` into those of `next`:
/// (upserts, keys removed). Entries shared with `prev` (the same `Arc`, or
/// equal) are not written.
fn route_entry_changes<'a>(prev: &'a Model, next: &'a Model) -> (Vec<(String, &'a RouteEntry)>, Vec<String>) {
    let (mut upserts, mut removals) = (Vec::new(), Vec::new());
    let before: HashMap<&str, &RouteTable> = prev.route_tables.iter().map(|t| (t.id.as_str(), t)).collect();
    for t in &next.route_tables {
        let old: &[Arc<RouteEntry>] = before.get(t.id.as_str()).map_or(&[], |o| &o.route_entries);
        if old.len() == t.route_entries.len() && old.iter().zip(&t.route_entries).all(|(a, b)| Arc::ptr_eq(a, b)) {
            continue;
        }
        // Entries keep their order across changes: walk both lists while they
        // share entries (appends and removals cost no lookup), then compare
        // what is left by destination.
        let new = &t.route_entries;
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            if Arc::ptr_eq(&old[i], &new[j]) {
                i += 1;
                j += 1;
            } else if old[i].destination_cidr_block == new[j].destination_cidr_block {
                // Changed in place.
                if *old[i] != *new[j] {
                    upserts.push((entry_key(t, &new[j]), new[j].as_ref()));
                }
                i += 1;
                j += 1;
            } else if let Some(k) = old[i..].iter().take(REMOVED_RUN).position(|o| Arc::ptr_eq(o, &new[j])) {
                // A run of removed entries (an entry moved later in the list
                // is removed here and written again below: same result).
                removals.extend(old[i..i + k].iter().map(|e| entry_key(t, e)));
                i += k;
            } else {
                break;
            }
        }
        if j == new.len() {
            removals.extend(old[i..].iter().map(|e| entry_key(t, e)));
            i = old.len();
        }
        let mut old_by_dest: HashMap<ipnet::Ipv4Net, &Arc<RouteEntry>> =
            old[i..].iter().map(|e| (e.destination_cidr_block, e)).collect();
        for e in &new[j..] {
            match old_by_dest.remove(&e.destination_cidr_block) {
                Some(o) if Arc::ptr_eq(o, e) || o == e => {}
                _ => upserts.push((entry_key(t, e), e.as_ref())),
            }
        }
        removals.extend(old_by_dest.values().map(|e| entry_key(t, e)));
    }
    let after: HashMap<&str, ()> = next.route_tables.iter().map(|t| (t.id.as_str(), ())).collect();
    for t in prev.route_tables.iter().filter(|t| !after.contains_key(t.id.as_str())) {
        removals.extend(t.route_entries.iter().map(|e| entry_key(t, e)));
    }
    (upserts, removals)
}

/// The state database of one daemon.
pub struct Store {
    db: Database,
    /// The model document as last written (unchanged documents are not
    /// written again).
    last_document: Option<Vec<u8>>,
}

impl Store {
    /// Opens (or creates) `dir/state.redb`. Only one process may hold it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir { path: dir.to_path_buf(), source })?;
        let path = dir.join("state.redb");
        let db = Database::create(&path).map_err(|source| StoreError::Open { path, source })?;
        Ok(Self { db, last_document: None })
    }

    /// The last committed model, if any.
    pub fn load(&self) -> Result<Option<Model>, StoreError> {
        let read = self.db.begin_read().map_err(tx)?;
        let table = match read.open_table(STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(tx(e)),
        };
        let schema = table.get(SCHEMA_KEY).map_err(tx)?.map(|v| v.value().to_vec());
        let schema = schema.as_deref().unwrap_or(SCHEMA_1);
        if schema != SCHEMA && schema != SCHEMA_1 {
            return Err(StoreError::Schema {
                found: String::from_utf8_lossy(schema).into_owned(),
                expected: String::from_utf8_lossy(SCHEMA).into_owned(),
            });
        }
        let mut model: Model = match table.get(MODEL_KEY).map_err(tx)? {
            None => return Ok(None),
            Some(v) => serde_json::from_slice(v.value()).map_err(decode)?,
        };
        if schema == SCHEMA_1 {
            return Ok(Some(model));
        }
        let entries = match read.open_table(ROUTE_ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Some(model)),
            Err(e) => return Err(tx(e)),
        };
        let mut by_table: BTreeMap<String, Vec<(u64, Arc<RouteEntry>)>> = BTreeMap::new();
        for kv in entries.iter().map_err(tx)? {
            let (k, v) = kv.map_err(tx)?;
            let (table_id, _) = k.value().split_once('/').ok_or_else(|| decode(format!("route entry key {:?}", k.value())))?;
            let entry: RouteEntry = serde_json::from_slice(&v.value()[8..]).map_err(decode)?;
            by_table.entry(table_id.to_string()).or_default().push((seq_of(v.value())?, Arc::new(entry)));
        }
        for t in &mut model.route_tables {
            if let Some(mut entries) = by_table.remove(&t.id) {
                entries.sort_by_key(|(seq, _)| *seq);
                t.route_entries = entries.into_iter().map(|(_, e)| e).collect();
            }
        }
        if let Some(id) = by_table.keys().next() {
            return Err(decode(format!("route entries of route table {id}, which the model lacks")));
        }
        Ok(Some(model))
    }

    /// Commits `next` durably, in one transaction, writing only what differs
    /// from `prev` (the model this store holds now): when this returns Ok
    /// the model is on disk.
    pub fn save(&mut self, prev: &Model, next: &Model) -> Result<(), StoreError> {
        let document = serde_json::to_vec(&without_route_entries(next)).map_err(decode)?;
        let empty = Model::default();
        let write = self.db.begin_write().map_err(tx)?;
        {
            let mut state = write.open_table(STATE).map_err(tx)?;
            let mut entries = write.open_table(ROUTE_ENTRIES).map_err(tx)?;
            let migrated = state.get(SCHEMA_KEY).map_err(tx)?.is_some_and(|v| v.value() == SCHEMA);
            let mut seq = match state.get(ROUTE_SEQ_KEY).map_err(tx)? {
                Some(v) => seq_of(v.value())?,
                None => 0,
            };
            let (upserts, removals) = if migrated {
                route_entry_changes(prev, next)
            } else {
                // First save in this layout: every entry, whatever was there.
                entries.retain(|_, _| false).map_err(tx)?;
                route_entry_changes(&empty, next)
            };
            for k in &removals {
                entries.remove(k.as_str()).map_err(tx)?;
            }
            for (k, e) in &upserts {
                let order = match entries.get(k.as_str()).map_err(tx)? {
                    Some(v) => seq_of(v.value())?,
                    None => {
                        seq += 1;
                        seq
                    }
                };
                entries.insert(k.as_str(), entry_value(order, e)?.as_slice()).map_err(tx)?;
            }
            state.insert(ROUTE_SEQ_KEY, seq.to_be_bytes().as_slice()).map_err(tx)?;
            if !migrated {
                state.insert(SCHEMA_KEY, SCHEMA).map_err(tx)?;
            }
            if !migrated || self.last_document.as_deref() != Some(document.as_slice()) {
                state.insert(MODEL_KEY, document.as_slice()).map_err(tx)?;
            }
        }
        write.commit().map_err(tx)?;
        self.last_document = Some(document);
        Ok(())
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
            let mut store = Store::open(&dir).unwrap();
            assert_eq!(store.load().unwrap(), None);
            store.save(&Model::default(), &model).unwrap();
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Some(model));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn entry(dest: &str) -> Arc<RouteEntry> {
        Arc::new(RouteEntry {
            id: format!("rte-{dest}"),
            name: None,
            destination_cidr_block: dest.parse().unwrap(),
            next_hop_type: crate::model::NextHopType::Instance,
            next_hop_id: "i-fw".into(),
            meta: Default::default(),
        })
    }

    #[test]
    fn vpc_1_route_entries_are_written_one_by_one_and_keep_their_order() {
        let dir = std::env::temp_dir().join(format!("vpc-store-entries-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = crate::test_fixtures::lab();
        let t = a.route_tables.iter().position(|t| t.id == "vtb-custom").unwrap();
        for d in ["10.9.0.0/16", "10.8.0.0/16", "10.7.0.0/16"] {
            a.route_tables[t].route_entries.push(entry(d));
        }
        let mut store = Store::open(&dir).unwrap();
        store.save(&Model::default(), &a).unwrap();
        // Remove one in the middle, change one in place, append two.
        let mut b = a.clone();
        b.route_tables[t].route_entries.remove(2);
        Arc::make_mut(&mut b.route_tables[t].route_entries[1]).next_hop_id = "i-1".into();
        b.route_tables[t].route_entries.push(entry("10.6.0.0/16"));
        b.route_tables[t].route_entries.push(entry("10.5.0.0/16"));
        store.save(&a, &b).unwrap();
        assert_eq!(store.load().unwrap().as_ref(), Some(&b));
        // A table gone takes its entries along.
        let mut c = b.clone();
        c.vswitches.iter_mut().for_each(|v| v.route_table_id = None);
        c.route_tables.remove(t);
        store.save(&b, &c).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Some(c));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn vpc_1_a_schema_1_store_is_read_and_rewritten() {
        let dir = std::env::temp_dir().join(format!("vpc-store-schema1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = crate::test_fixtures::lab();
        {
            let store = Store::open(&dir).unwrap();
            let write = store.db.begin_write().unwrap();
            {
                let mut table = write.open_table(STATE).unwrap();
                table.insert(SCHEMA_KEY, SCHEMA_1).unwrap();
                table.insert(MODEL_KEY, serde_json::to_vec(&model).unwrap().as_slice()).unwrap();
            }
            write.commit().unwrap();
        }
        let mut store = Store::open(&dir).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded, model);
        let mut next = loaded.clone();
        next.route_tables.iter_mut().find(|t| t.id == "vtb-custom").unwrap().route_entries.push(entry("10.9.0.0/16"));
        store.save(&loaded, &next).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Some(next));
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
