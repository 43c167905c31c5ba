//! Durable state: the model in an embedded ACID store (redb) under the
//! daemon's `--state-dir`, behind the [`StateStore`] interface (load, commit
//! a change, the durable sequence, idempotency records) so that another
//! store (a replicated one) could replace it without touching the service.
//!
//! **Group commit, off the caller's path.** [`StateStore::commit`] only
//! computes what a change writes (the model document if it changed, the
//! route entries that differ, the client token record), numbers it and
//! queues it for the committer thread: no database work, no lock of the
//! database, so the service's lock is not held for any of it. The
//! committer takes every change queued so far and writes them in one
//! [`redb::Durability::Immediate`] write transaction (one fsync for the
//! batch), then publishes the highest sequence on disk ([`Durable`]);
//! while it writes, the next changes queue up for the next batch. A reply
//! waits for its sequence (outside the service lock), so it still comes
//! only after its change is on disk. A crash leaves the last durable batch
//! whole: never part of a change. Until its batch is written, a change's
//! client token record is answered from memory, and [`StateStore::load`]
//! waits for the queue to be written.
//!
//! Layout (schema 3): the model without its route entries and security
//! group rules as one JSON document, each route entry under its own key
//! (route table id and destination), and each security group's rules under
//! the group's id, so a change writes what it changed, not 100,000 entries
//! or 10,000 rules.
//! A batch of changes is one write transaction: a crash leaves whole
//! changes, never part of one. Schema 1 (the whole model in one JSON
//! document) and schema 2 (rules in the document) are read, and rewritten
//! as schema 3 by the next save. Client
//! token records (idempotency) live in two more tables, written in the same
//! transaction as the change they answer.
//!
//! **A full disk.** A batch that fails (ENOSPC, EIO) marks the store
//! failed: every waiter of a change not yet durable gets the error, and
//! redb refuses every write until the database is reopened.
//! [`StateStore::recover`] does that (stop the committer, reopen, start a
//! new one); changes that were committed but not durable are then settled as
//! lost (their waiters fail, late ones too) and the service reloads the
//! model from what is durable. Nothing acknowledged is lost, and no restart
//! is needed once the disk has space again.
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;

use crate::model::{Model, RouteEntry, RouteTable, SecurityGroup, SecurityGroupRule};

/// Key -> JSON: the model (without route entries), the schema, counters.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// `{route table id}/{destination}` -> order (8 bytes, big-endian) + the
/// entry as JSON. A key keeps its order number while it exists (an entry
/// deleted and added again in one change keeps its place).
const ROUTE_ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("route_entries");
/// Security group id -> its rules (JSON list), schema 3.
const SECURITY_GROUP_RULES: TableDefinition<&str, &[u8]> =
    TableDefinition::new("security_group_rules");
/// Client token records: the JSON array `[account, action, token]` -> a
/// [`TokenRecord`] as JSON.
const CLIENT_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("client_tokens");
/// Expiry index of [`CLIENT_TOKENS`]: `{recorded at, 16 hex digits}/{key}`.
const CLIENT_TOKEN_TIMES: TableDefinition<&str, ()> = TableDefinition::new("client_token_times");
/// Key of the model.
const MODEL_KEY: &str = "model";
/// Key of the schema version.
const SCHEMA_KEY: &str = "schema";
/// Key of the next route entry order number (8 bytes, big-endian).
const ROUTE_SEQ_KEY: &str = "route_seq";
/// Version of the stored layout.
const SCHEMA: &[u8] = b"3";
/// The layout with the whole model in one document.
const SCHEMA_1: &[u8] = b"1";
/// Schema 2: security group rules in the model document.
const SCHEMA_2: &[u8] = b"2";

/// Why the state store failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database could not be opened (another daemon may hold it).
    #[error("cannot open state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    /// A transaction failed.
    #[error("state database transaction failed: {0}")]
    Transaction(String),
    /// The stored model could not be decoded.
    #[error("stored state is unreadable: {0}")]
    Decode(String),
    /// The store was written by an incompatible version.
    #[error("stored state has schema {found}, this daemon reads schema {expected}")]
    Schema { found: String, expected: String },
    /// Making committed changes durable failed: they may be lost, and the
    /// store takes no more changes until [`StateStore::recover`] reopened it.
    #[error("making changes durable failed: {0}")]
    Flush(String),
    /// Reopening the database after a failure failed (its disk may still
    /// be full): it takes no changes yet.
    #[error("reopening state database {path} failed: {source}")]
    Reopen {
        path: PathBuf,
        source: redb::DatabaseError,
    },
}

impl StoreError {
    /// True if the error comes from writing to the disk (full, failing):
    /// the store refuses changes until it is reopened.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            StoreError::Transaction(_) | StoreError::Flush(_) | StoreError::Reopen { .. }
        )
    }
}

/// Number of a committed change, from 1 (0: nothing committed since open).
pub type Seq = u64;

/// How long a client token is remembered (seconds).
pub const CLIENT_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Expired client token records removed by each change, at most: enough to
/// keep the table bounded (a change adds at most one record).
const PRUNE_PER_CHANGE: usize = 4;

/// Who used a client token for what: tokens are the caller's own, per
/// action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    /// The caller's account id.
    pub account: String,
    /// The action's name.
    pub action: String,
    /// The client token.
    pub token: String,
}

impl TokenKey {
    fn encode(&self) -> String {
        serde_json::json!([self.account, self.action, self.token]).to_string()
    }
}

/// What a successful call with a client token answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Digest of the call's parameters (see the service).
    pub digest: String,
    /// The answer (without its RequestId).
    pub body: serde_json::Value,
    /// When it was recorded (seconds since the Unix epoch).
    pub at: u64,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The state store as the service uses it. Implementations: [`Store`]
/// (redb, embedded).
///
/// Contract: [`commit`](StateStore::commit) applies a change atomically
/// (with its client token record, if any) and makes it visible to
/// [`load`](StateStore::load) and [`token`](StateStore::token) at once, but
/// not necessarily durable; it is durable when [`Durable`] reports its
/// sequence (or a later one). Changes become durable in commit order, and
/// a crash keeps a prefix of them (every change durable before it, at
/// least).
pub trait StateStore: Send {
    /// The last committed model, if any.
    fn load(&self) -> Result<Option<Model>, StoreError>;
    /// Commits the change from `prev` (the model the store holds now) to
    /// `next`, with a client token record; returns its sequence.
    fn commit(
        &mut self,
        prev: &Model,
        next: &Model,
        token: Option<(&TokenKey, &TokenRecord)>,
    ) -> Result<Seq, StoreError>;
    /// The unexpired record of a client token.
    fn token(&self, key: &TokenKey) -> Result<Option<TokenRecord>, StoreError>;
    /// The sequence of the last commit.
    fn committed(&self) -> Seq;
    /// Where the durable sequence is published.
    fn durable(&self) -> Arc<Durable>;
    /// After a failed write or flush: reopens the store (what is durable
    /// is kept; changes committed but not yet durable are lost, and their
    /// waiters failed) so that it takes changes again. The caller reloads
    /// the model.
    fn recover(&mut self) -> Result<(), StoreError>;
}

/// What is on disk: the highest durable sequence, or the failure that
/// stopped the flushing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Every change up to this one is durable (but those in `lost`).
    pub seq: Seq,
    /// Flushing failed: changes after `seq` may be lost.
    pub failed: Option<String>,
    /// Ranges `(after, upto]` of changes lost to a failure the store
    /// recovered from: their waiters fail, even late ones.
    pub lost: Vec<(Seq, Seq)>,
}

/// The durable sequence, for threads (blocking) and tasks (async) waiting
/// for their change to be on disk.
pub struct Durable {
    state: Mutex<Flushed>,
    changed: Condvar,
    tx: watch::Sender<Flushed>,
}

impl Default for Durable {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            changed: Condvar::new(),
            tx: watch::Sender::new(Flushed::default()),
        }
    }
}

impl Durable {
    fn publish(&self, f: impl FnOnce(&mut Flushed)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state);
        let now = state.clone();
        drop(state);
        self.changed.notify_all();
        self.tx.send_replace(now);
    }

    /// Everything up to `seq` is on disk.
    pub fn flushed(&self, seq: Seq) {
        self.publish(|s| s.seq = s.seq.max(seq));
    }

    /// Flushing failed: every waiter gets the error.
    pub fn failed(&self, why: String) {
        self.publish(|s| s.failed = Some(why));
    }

    /// The current state.
    pub fn get(&self) -> Flushed {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The store was reopened after a failure: changes `(durable, upto]`
    /// were lost; everything up to `upto` is settled, and flushing goes on.
    fn recovered(&self, upto: Seq) {
        self.publish(|s| {
            if upto > s.seq {
                s.lost.push((s.seq, upto));
            }
            s.seq = upto;
            s.failed = None;
        });
    }

    fn outcome(f: &Flushed, seq: Seq) -> Option<Result<(), StoreError>> {
        if let Some((after, upto)) = f
            .lost
            .iter()
            .find(|(after, upto)| seq > *after && seq <= *upto)
        {
            let why = format!(
                "the change was lost to a storage failure (changes {} to {upto} were not kept)",
                after + 1
            );
            return Some(Err(StoreError::Flush(why)));
        }
        if f.seq >= seq {
            Some(Ok(()))
        } else {
            f.failed.as_ref().map(|e| Err(StoreError::Flush(e.clone())))
        }
    }

    /// Blocks until `seq` is on disk (or flushing failed).
    pub fn wait(&self, seq: Seq) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = Self::outcome(&state, seq) {
                return r;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until `seq` is on disk (or flushing failed).
    pub async fn wait_async(&self, seq: Seq) -> Result<(), StoreError> {
        let mut rx = self.tx.subscribe();
        let f = rx
            .wait_for(|f| Self::outcome(f, seq).is_some())
            .await
            .map_err(|e| StoreError::Flush(e.to_string()))?;
        Self::outcome(&f, seq).unwrap_or(Ok(()))
    }
}

fn tx<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Transaction(e.to_string())
}

fn decode<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Decode(e.to_string())
}

/// The key of a route entry.
fn entry_key(table: &RouteTable, entry: &RouteEntry) -> String {
    format!("{}/{}", table.id, entry.destination_text())
}

/// What tells two entries of a table apart: the destination, a CIDR block
/// or a prefix list.
fn dest_key(entry: &RouteEntry) -> (ipnet::Ipv4Net, Option<&str>) {
    (
        entry.destination_cidr_block,
        entry.destination_prefix_list_id.as_deref(),
    )
}

fn seq_of(value: &[u8]) -> Result<u64, StoreError> {
    let head: [u8; 8] = value
        .get(..8)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| decode("short route entry record"))?;
    Ok(u64::from_be_bytes(head))
}

/// The model without its route entries and security group rules (what the
/// model document holds).
fn without_route_entries(model: &Model) -> Model {
    let mut m = model.clone();
    for t in &mut m.route_tables {
        t.route_entries = Default::default();
    }
    for g in &mut m.security_groups {
        g.rules = Default::default();
    }
    m
}

/// True if `a` and `b` have the same model document (all but the route
/// entries and the security groups' rules), found without serialising
/// either: a change of route entries or rules writes no document. Every
/// field is named, so that one added to the model is compared too.
fn same_document(a: &Model, b: &Model) -> bool {
    let Model {
        router,
        vpcs,
        vswitches,
        route_tables,
        instances,
        security_groups,
        network_acls,
        eips,
        ipv4_gateways,
        nat_gateways,
        prefix_lists,
        gateway_endpoints,
        load_balancers,
        server_groups,
        listeners,
        nlb_jobs,
        endpoint_services,
        vpc_endpoints,
        private_zones,
        numeric_ids,
        lb_ring_slots,
    } = a;
    let same_table = |x: &RouteTable, y: &RouteTable| {
        let RouteTable { id, vpc_id, name, route_table_type, associate_type, generation, route_entries: _, meta } = x;
        *id == y.id
            && *vpc_id == y.vpc_id
            && *name == y.name
            && *route_table_type == y.route_table_type
            && *associate_type == y.associate_type
            && *generation == y.generation
            && *meta == y.meta
    };
    let same_group = |x: &SecurityGroup, y: &SecurityGroup| {
        let SecurityGroup { id, vpc_id, name, security_group_type, inner_access, rules: _, meta } = x;
        *id == y.id
            && *vpc_id == y.vpc_id
            && *name == y.name
            && *security_group_type == y.security_group_type
            && *inner_access == y.inner_access
            && *meta == y.meta
    };
    *router == b.router
        && *vpcs == b.vpcs
        && *vswitches == b.vswitches
        && route_tables.len() == b.route_tables.len()
        && route_tables.iter().zip(&b.route_tables).all(|(x, y)| same_table(x, y))
        && *instances == b.instances
        && security_groups.len() == b.security_groups.len()
        && security_groups.iter().zip(&b.security_groups).all(|(x, y)| same_group(x, y))
        && *network_acls == b.network_acls
        && *eips == b.eips
        && *ipv4_gateways == b.ipv4_gateways
        && *nat_gateways == b.nat_gateways
        && *prefix_lists == b.prefix_lists
        && *gateway_endpoints == b.gateway_endpoints
        && *load_balancers == b.load_balancers
        && *server_groups == b.server_groups
        && *listeners == b.listeners
        && (Arc::ptr_eq(nlb_jobs, &b.nlb_jobs) || *nlb_jobs == b.nlb_jobs)
        && *endpoint_services == b.endpoint_services
        && *vpc_endpoints == b.vpc_endpoints
        && *private_zones == b.private_zones
        && *numeric_ids == b.numeric_ids
        && *lb_ring_slots == b.lb_ring_slots
}

/// The groups of `next` whose rules differ from those of `prev` (not the
/// same list, nor equal), and the ids of the groups `prev` had and `next`
/// lacks.
fn security_group_rule_changes<'a>(
    prev: &'a Model,
    next: &'a Model,
) -> (Vec<&'a SecurityGroup>, Vec<String>) {
    let before: HashMap<&str, &SecurityGroup> = prev
        .security_groups
        .iter()
        .map(|g| (g.id.as_str(), g))
        .collect();
    let changed = next
        .security_groups
        .iter()
        .filter(|g| before.get(g.id.as_str()).is_none_or(|o| o.rules != g.rules))
        .collect();
    let after: HashMap<&str, ()> = next
        .security_groups
        .iter()
        .map(|g| (g.id.as_str(), ()))
        .collect();
    let removed = prev
        .security_groups
        .iter()
        .filter(|g| !after.contains_key(g.id.as_str()))
        .map(|g| g.id.clone())
        .collect();
    (changed, removed)
}

/// Removed entries in a row the walk in [`route_entry_changes`] skips
/// without an index (a batch call removes at most 50).
const REMOVED_RUN: usize = 64;

/// The writes turning the stored entries of `prev` into those of `next`:
/// (upserts, keys removed). Entries shared with `prev` (the same `Arc`, or
/// equal) are not written.
fn route_entry_changes<'a>(
    prev: &'a Model,
    next: &'a Model,
) -> (Vec<(String, &'a RouteEntry)>, Vec<String>) {
    let (mut upserts, mut removals) = (Vec::new(), Vec::new());
    let before: HashMap<&str, &RouteTable> = prev
        .route_tables
        .iter()
        .map(|t| (t.id.as_str(), t))
        .collect();
    for t in &next.route_tables {
        if let Some(o) = before.get(t.id.as_str())
            && o.route_entries.shares_all(&t.route_entries)
        {
            continue;
        }
        // What a call does to a table (some entries removed, some
        // appended), found without reading the chunks both share.
        if let Some(o) = before.get(t.id.as_str())
            && let Some((gone, added)) = t.route_entries.changes_from(&o.route_entries)
        {
            removals.extend(gone.iter().map(|e| entry_key(t, e)));
            upserts.extend(added.into_iter().map(|e| (entry_key(t, e), e.as_ref())));
            continue;
        }
        let old: Vec<&Arc<RouteEntry>> = before.get(t.id.as_str()).map_or(Vec::new(), |o| o.route_entries.iter().collect());
        let new: Vec<&Arc<RouteEntry>> = t.route_entries.iter().collect();
        // Entries keep their order across changes: walk both lists while they
        // share entries (appends and removals cost no lookup), then compare
        // what is left by destination.
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            if Arc::ptr_eq(old[i], new[j]) {
                i += 1;
                j += 1;
            } else if dest_key(old[i]) == dest_key(new[j]) {
                // Changed in place.
                if *old[i] != *new[j] {
                    upserts.push((entry_key(t, &new[j]), new[j].as_ref()));
                }
                i += 1;
                j += 1;
            } else if let Some(k) = old[i..]
                .iter()
                .take(REMOVED_RUN)
                .position(|o| Arc::ptr_eq(o, new[j]))
            {
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
        let mut old_by_dest: HashMap<(ipnet::Ipv4Net, Option<&str>), &Arc<RouteEntry>> =
            old[i..].iter().map(|e| (dest_key(e), *e)).collect();
        for e in new[j..].iter().copied() {
            match old_by_dest.remove(&dest_key(e)) {
                Some(o) if Arc::ptr_eq(o, e) || o == e => {}
                _ => upserts.push((entry_key(t, e), e.as_ref())),
            }
        }
        removals.extend(old_by_dest.values().map(|e| entry_key(t, e)));
    }
    let after: HashMap<&str, ()> = next
        .route_tables
        .iter()
        .map(|t| (t.id.as_str(), ()))
        .collect();
    for t in prev
        .route_tables
        .iter()
        .filter(|t| !after.contains_key(t.id.as_str()))
    {
        removals.extend(t.route_entries.iter().map(|e| entry_key(t, e)));
    }
    (upserts, removals)
}

/// The state database of one daemon (redb), with its committer thread.
pub struct Store {
    db: Arc<Database>,
    /// The database file (reopened by [`StateStore::recover`]).
    path: PathBuf,
    /// The model document as last queued (unchanged documents are not
    /// written again).
    last_document: Option<Vec<u8>>,
    /// The stored layout is schema 3 (else the next change rewrites it whole).
    migrated: bool,
    /// The last commit's sequence.
    seq: Seq,
    /// Client token records of changes that may not be written yet, by
    /// encoded key: (the change's sequence, the record).
    unwritten_tokens: HashMap<String, (Seq, TokenRecord)>,
    /// Changes for the committer, and its stop flag.
    queue: Arc<(Mutex<Queue>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    durable: Arc<Durable>,
}

/// What one change writes, computed when it is committed (from the models)
/// and written by the committer.
struct Change {
    seq: Seq,
    /// The model document, when it differs from the last one queued.
    document: Option<Vec<u8>>,
    /// First write in schema 3: the stored entries are dropped, `upserts`
    /// holds them all, and the schema is written.
    migrate: bool,
    /// Route entries written: key, entry as JSON (without its order).
    upserts: Vec<(String, Vec<u8>)>,
    /// Route entry keys removed.
    removals: Vec<String>,
    /// Security groups whose rules are written: id, rules as JSON.
    rule_upserts: Vec<(String, Vec<u8>)>,
    /// Security groups whose rules are removed.
    rule_removals: Vec<String>,
    /// A client token record: encoded key, when it was recorded, JSON.
    token: Option<(String, u64, Vec<u8>)>,
}

/// The committer's queue.
#[derive(Default)]
struct Queue {
    changes: Vec<Change>,
    stop: bool,
}

impl Store {
    /// Opens (or creates) `dir/state.redb`. Only one process may hold it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("state.redb");
        let db = Arc::new(Database::create(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?);
        let migrated = is_migrated(&db)?;
        let queue = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let durable = Arc::new(Durable::default());
        let thread = spawn_committer(&db, &queue, &durable).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            db,
            path,
            last_document: None,
            migrated,
            seq: 0,
            unwritten_tokens: HashMap::new(),
            queue,
            thread: Some(thread),
            durable,
        })
    }

    /// Stops the committer thread (after it wrote what it could).
    fn stop_committer(&mut self) {
        self.queue.0.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        self.queue.1.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// The last committed model, if any.
    fn load_model(&self) -> Result<Option<Model>, StoreError> {
        let read = self.db.begin_read().map_err(tx)?;
        let table = match read.open_table(STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(tx(e)),
        };
        let schema = table
            .get(SCHEMA_KEY)
            .map_err(tx)?
            .map(|v| v.value().to_vec());
        let schema = schema.as_deref().unwrap_or(SCHEMA_1);
        if schema != SCHEMA && schema != SCHEMA_1 && schema != SCHEMA_2 {
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
        if schema == SCHEMA {
            let rules = match read.open_table(SECURITY_GROUP_RULES) {
                Ok(t) => Some(t),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(tx(e)),
            };
            if let Some(rules) = rules {
                let mut by_group: HashMap<String, Vec<SecurityGroupRule>> = HashMap::new();
                for kv in rules.iter().map_err(tx)? {
                    let (k, v) = kv.map_err(tx)?;
                    by_group.insert(
                        k.value().to_string(),
                        serde_json::from_slice(v.value()).map_err(decode)?,
                    );
                }
                for g in &mut model.security_groups {
                    if let Some(r) = by_group.remove(&g.id) {
                        g.rules = r.into();
                    }
                }
                if let Some(id) = by_group.keys().next() {
                    return Err(decode(format!(
                        "rules of security group {id}, which the model lacks"
                    )));
                }
            }
        }
        let entries = match read.open_table(ROUTE_ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Some(model)),
            Err(e) => return Err(tx(e)),
        };
        let mut by_table: BTreeMap<String, Vec<(u64, Arc<RouteEntry>)>> = BTreeMap::new();
        for kv in entries.iter().map_err(tx)? {
            let (k, v) = kv.map_err(tx)?;
            let (table_id, _) = k
                .value()
                .split_once('/')
                .ok_or_else(|| decode(format!("route entry key {:?}", k.value())))?;
            let entry: RouteEntry = serde_json::from_slice(&v.value()[8..]).map_err(decode)?;
            by_table
                .entry(table_id.to_string())
                .or_default()
                .push((seq_of(v.value())?, Arc::new(entry)));
        }
        for t in &mut model.route_tables {
            if let Some(mut entries) = by_table.remove(&t.id) {
                entries.sort_by_key(|(seq, _)| *seq);
                t.route_entries = entries.into_iter().map(|(_, e)| e).collect();
            }
        }
        if let Some(id) = by_table.keys().next() {
            return Err(decode(format!(
                "route entries of route table {id}, which the model lacks"
            )));
        }
        Ok(Some(model))
    }

    /// Commits the change durably and waits for it (tests, tools).
    pub fn save(&mut self, prev: &Model, next: &Model) -> Result<(), StoreError> {
        let seq = self.commit(prev, next, None)?;
        self.durable.wait(seq)
    }

    /// What the change from `prev` to `next` writes: the document if it
    /// changed, the route entries that differ, the token record.
    fn change(
        &mut self,
        prev: &Model,
        next: &Model,
        token: Option<(&TokenKey, &TokenRecord)>,
    ) -> Result<Change, StoreError> {
        let migrate = !self.migrated;
        // `prev` is what the store holds: its document is the last one.
        let unchanged = !migrate && self.last_document.is_some() && same_document(prev, next);
        let document = if unchanged {
            None
        } else {
            Some(serde_json::to_vec(&without_route_entries(next)).map_err(decode)?)
        };
        let empty = Model::default();
        // First save in this layout: every entry, whatever was there.
        let (upserts, removals) = route_entry_changes(if migrate { &empty } else { prev }, next);
        let upserts = upserts
            .into_iter()
            .map(|(k, e)| Ok((k, serde_json::to_vec(e).map_err(decode)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (rule_upserts, rule_removals) =
            security_group_rule_changes(if migrate { &empty } else { prev }, next);
        let rule_upserts = rule_upserts
            .into_iter()
            .map(|g| Ok((g.id.clone(), serde_json::to_vec(&g.rules).map_err(decode)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let token = match token {
            Some((key, record)) => Some((
                key.encode(),
                record.at,
                serde_json::to_vec(record).map_err(decode)?,
            )),
            None => None,
        };
        let document = match document {
            Some(d) if migrate || self.last_document.as_deref() != Some(d.as_slice()) => {
                self.last_document = Some(d.clone());
                Some(d)
            }
            _ => None,
        };
        Ok(Change {
            seq: 0,
            document,
            migrate,
            upserts,
            removals,
            rule_upserts,
            rule_removals,
            token,
        })
    }
}

/// True if the stored layout is schema 3.
fn is_migrated(db: &Database) -> Result<bool, StoreError> {
    let read = db.begin_read().map_err(tx)?;
    let table = match read.open_table(STATE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err(tx(e)),
    };
    Ok(table
        .get(SCHEMA_KEY)
        .map_err(tx)?
        .is_some_and(|v| v.value() == SCHEMA))
}

/// Writes `batch` in one durable write transaction (one fsync).
fn write_batch(db: &Database, batch: &[Change]) -> Result<(), StoreError> {
    let mut write = db.begin_write().map_err(tx)?;
    write.set_durability(redb::Durability::Immediate);
    {
        let mut state = write.open_table(STATE).map_err(tx)?;
        let mut entries = write.open_table(ROUTE_ENTRIES).map_err(tx)?;
        let mut rules = write.open_table(SECURITY_GROUP_RULES).map_err(tx)?;
        let mut tokens = write.open_table(CLIENT_TOKENS).map_err(tx)?;
        let mut times = write.open_table(CLIENT_TOKEN_TIMES).map_err(tx)?;
        let mut seq = match state.get(ROUTE_SEQ_KEY).map_err(tx)? {
            Some(v) => seq_of(v.value())?,
            None => 0,
        };
        let cutoff = unix_now().saturating_sub(CLIENT_TOKEN_TTL_SECS);
        for change in batch {
            if change.migrate {
                entries.retain(|_, _| false).map_err(tx)?;
                rules.retain(|_, _| false).map_err(tx)?;
            }
            for id in &change.rule_removals {
                rules.remove(id.as_str()).map_err(tx)?;
            }
            for (id, json) in &change.rule_upserts {
                rules.insert(id.as_str(), json.as_slice()).map_err(tx)?;
            }
            for k in &change.removals {
                entries.remove(k.as_str()).map_err(tx)?;
            }
            for (k, json) in &change.upserts {
                let order = match entries.get(k.as_str()).map_err(tx)? {
                    Some(v) => seq_of(v.value())?,
                    None => {
                        seq += 1;
                        seq
                    }
                };
                let mut value = order.to_be_bytes().to_vec();
                value.extend_from_slice(json);
                entries.insert(k.as_str(), value.as_slice()).map_err(tx)?;
            }
            if change.migrate {
                state.insert(SCHEMA_KEY, SCHEMA).map_err(tx)?;
            }
            if let Some(document) = &change.document {
                state.insert(MODEL_KEY, document.as_slice()).map_err(tx)?;
            }
            prune_tokens(&mut tokens, &mut times, cutoff)?;
            if let Some((key, at, record)) = &change.token {
                let old = tokens
                    .get(key.as_str())
                    .map_err(tx)?
                    .map(|v| serde_json::from_slice::<TokenRecord>(v.value()));
                if let Some(Ok(old)) = old {
                    times.remove(time_key(old.at, key).as_str()).map_err(tx)?;
                }
                tokens.insert(key.as_str(), record.as_slice()).map_err(tx)?;
                times.insert(time_key(*at, key).as_str(), ()).map_err(tx)?;
            }
        }
        state
            .insert(ROUTE_SEQ_KEY, seq.to_be_bytes().as_slice())
            .map_err(tx)?;
    }
    write.commit().map_err(tx)
}

/// The expiry index key of a token record.
fn time_key(at: u64, key: &str) -> String {
    format!("{at:016x}/{key}")
}

/// Removes up to [`PRUNE_PER_CHANGE`] records older than `cutoff`.
fn prune_tokens(
    tokens: &mut redb::Table<&str, &[u8]>,
    times: &mut redb::Table<&str, ()>,
    cutoff: u64,
) -> Result<(), StoreError> {
    let end = format!("{cutoff:016x}");
    let expired: Vec<String> = times
        .range::<&str>(..end.as_str())
        .map_err(tx)?
        .take(PRUNE_PER_CHANGE)
        .map(|kv| kv.map(|(k, _)| k.value().to_string()))
        .collect::<Result<_, _>>()
        .map_err(tx)?;
    for t in expired {
        times.remove(t.as_str()).map_err(tx)?;
        let Some((at, key)) = t.split_once('/') else {
            continue;
        };
        let recorded = tokens
            .get(key)
            .map_err(tx)?
            .map(|v| serde_json::from_slice::<TokenRecord>(v.value()));
        // The token may have been recorded again since (a newer time).
        if recorded.is_some_and(|r| r.is_err() || r.is_ok_and(|r| format!("{:016x}", r.at) == at)) {
            tokens.remove(key).map_err(tx)?;
        }
    }
    Ok(())
}

/// Starts a committer thread.
fn spawn_committer(
    db: &Arc<Database>,
    queue: &Arc<(Mutex<Queue>, Condvar)>,
    durable: &Arc<Durable>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (db, queue, durable) = (db.clone(), queue.clone(), durable.clone());
    std::thread::Builder::new()
        .name("store-commit".into())
        .spawn(move || commit_loop(&db, &queue, &durable))
}

/// The committer: writes every change queued so far in one durable
/// transaction, publishes the last one's sequence, and again while changes
/// come in; at stop, writes what is queued first. A failure is published
/// to every waiter and ends this committer (redb refuses further writes
/// after an I/O error): [`StateStore::recover`] reopens the database and
/// starts another.
fn commit_loop(db: &Database, queue: &(Mutex<Queue>, Condvar), durable: &Durable) {
    loop {
        let batch = {
            let mut q = queue.0.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if !q.changes.is_empty() {
                    break std::mem::take(&mut q.changes);
                }
                if q.stop {
                    return;
                }
                q = queue.1.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(last) = batch.last().map(|c| c.seq) else {
            continue;
        };
        let started = std::time::Instant::now();
        match write_batch(db, &batch) {
            Ok(()) => {
                tracing::trace!(
                    changes = batch.len(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "batch durable"
                );
                durable.flushed(last);
            }
            Err(e) => {
                tracing::error!(error = %e, "writing committed changes failed; the store takes no changes until it is reopened");
                durable.failed(e.to_string());
                return;
            }
        }
    }
}

impl StateStore for Store {
    fn load(&self) -> Result<Option<Model>, StoreError> {
        // What was committed is visible once written (or lost, if writing
        // failed: then what is on disk is what there is).
        let _ = self.durable.wait(self.seq);
        self.load_model()
    }

    fn commit(
        &mut self,
        prev: &Model,
        next: &Model,
        token: Option<(&TokenKey, &TokenRecord)>,
    ) -> Result<Seq, StoreError> {
        if let Some(e) = self.durable.get().failed {
            return Err(StoreError::Flush(e));
        }
        let mut change = self.change(prev, next, token)?;
        self.seq += 1;
        self.migrated = true;
        change.seq = self.seq;
        if !self.unwritten_tokens.is_empty() {
            let written = self.durable.get().seq;
            self.unwritten_tokens.retain(|_, (seq, _)| *seq > written);
        }
        if let Some((key, record)) = token {
            self.unwritten_tokens
                .insert(key.encode(), (self.seq, record.clone()));
        }
        let (lock, wake) = &*self.queue;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .changes
            .push(change);
        wake.notify_one();
        Ok(self.seq)
    }

    fn token(&self, key: &TokenKey) -> Result<Option<TokenRecord>, StoreError> {
        let encoded = key.encode();
        let record = match self.unwritten_tokens.get(&encoded) {
            Some((_, record)) => record.clone(),
            None => {
                let read = self.db.begin_read().map_err(tx)?;
                let table = match read.open_table(CLIENT_TOKENS) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(tx(e)),
                };
                let Some(v) = table.get(encoded.as_str()).map_err(tx)? else {
                    return Ok(None);
                };
                serde_json::from_slice(v.value()).map_err(decode)?
            }
        };
        Ok((record.at + CLIENT_TOKEN_TTL_SECS > unix_now()).then_some(record))
    }

    fn committed(&self) -> Seq {
        self.seq
    }

    fn durable(&self) -> Arc<Durable> {
        self.durable.clone()
    }

    fn recover(&mut self) -> Result<(), StoreError> {
        self.stop_committer();
        // Whatever is still queued is lost with the failed batch.
        let mut q = self.queue.0.lock().unwrap_or_else(|e| e.into_inner());
        q.changes.clear();
        q.stop = false;
        drop(q);
        self.unwritten_tokens.clear();
        // The only other handle was the committer's: the file is closed once
        // this one goes (an empty in-memory database stands in meanwhile;
        // nothing reads it: the store refuses everything while failed).
        // redb repairs the file on open if it must.
        let stand_in = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|source| StoreError::Reopen {
                path: self.path.clone(),
                source,
            })?;
        drop(std::mem::replace(&mut self.db, Arc::new(stand_in)));
        let db = Arc::new(
            Database::create(&self.path).map_err(|source| StoreError::Reopen {
                path: self.path.clone(),
                source,
            })?,
        );
        self.migrated = is_migrated(&db)?;
        self.db = db;
        self.last_document = None;
        // Every change committed so far is durable or lost: settled.
        self.durable.recovered(self.seq);
        self.thread = Some(
            spawn_committer(&self.db, &self.queue, &self.durable)
                .map_err(|e| StoreError::Flush(format!("starting the committer: {e}")))?,
        );
        tracing::info!(path = %self.path.display(), "state database reopened: it takes changes again");
        Ok(())
    }
}

impl Drop for Store {
    /// Writes what is committed, then stops the committer (which releases
    /// the database).
    fn drop(&mut self) {
        self.stop_committer();
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata;

    use super::*;

    #[test]
    fn store_committed_model_survives_reopen() {
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
            destination_prefix_list_id: None,
            next_hop_id: "i-fw".into(),
            meta: Default::default(),
        })
    }

    #[test]
    fn store_route_entries_are_written_one_by_one_and_keep_their_order() {
        let dir = std::env::temp_dir().join(format!("vpc-store-entries-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = crate::test_fixtures::lab();
        let t = a
            .route_tables
            .iter()
            .position(|t| t.id == "vtb-custom")
            .unwrap();
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
    fn store_prefix_list_routes_of_one_table_are_kept_apart() {
        let dir = std::env::temp_dir().join(format!("vpc-store-pl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = crate::test_fixtures::lab();
        let t = a
            .route_tables
            .iter()
            .position(|t| t.id == "vtb-custom")
            .unwrap();
        a.route_tables[t].generation = 3;
        for pl in ["pl-1", "pl-2"] {
            let mut e = (*entry("10.9.0.0/16")).clone();
            e.id = format!("rte-{pl}");
            e.destination_cidr_block = crate::model::PREFIX_LIST_DESTINATION;
            e.destination_prefix_list_id = Some(pl.into());
            a.route_tables[t].route_entries.push(Arc::new(e));
        }
        let mut store = Store::open(&dir).unwrap();
        store.save(&Model::default(), &a).unwrap();
        let mut b = a.clone();
        b.route_tables[t].route_entries.remove(1);
        store.save(&a, &b).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded, b);
        assert_eq!(loaded.route_tables[t].route_entries.len(), 2);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A model with two security groups of a few rules each.
    fn with_groups() -> Model {
        let mut model = crate::test_fixtures::lab();
        let vpc = model.vpcs[0].id.clone();
        for (g, n) in [("sg-a", 3u16), ("sg-b", 2)] {
            model.security_groups.push(SecurityGroup {
                id: g.into(),
                vpc_id: vpc.clone(),
                name: None,
                security_group_type: Default::default(),
                inner_access: true,
                rules: (0..n)
                    .map(|k| SecurityGroupRule {
                        id: format!("sgr-{g}-{k}"),
                        direction: crate::model::Direction::Ingress,
                        ip_protocol: crate::model::IpProtocol::Tcp,
                        port_range: (1000 + k, 1000 + k),
                        peer: crate::model::Peer::Cidr("10.9.0.0/16".parse().unwrap()),
                        policy: Default::default(),
                        priority: 1,
                        description: String::new(),
                        creation_time: String::new(),
                    })
                    .collect(),
                meta: Default::default(),
            });
        }
        model
    }

    #[test]
    fn store_security_group_rules_are_written_per_group_and_only_when_changed() {
        let dir = std::env::temp_dir().join(format!("vpc-store-rules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = with_groups();
        // A schema 2 store: the rules inside the model document.
        {
            let store = Store::open(&dir).unwrap();
            let write = store.db.begin_write().unwrap();
            {
                let mut table = write.open_table(STATE).unwrap();
                table.insert(SCHEMA_KEY, SCHEMA_2).unwrap();
                table
                    .insert(MODEL_KEY, serde_json::to_vec(&model).unwrap().as_slice())
                    .unwrap();
            }
            write.commit().unwrap();
        }
        let mut store = Store::open(&dir).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded, model);
        // The first save rewrites it as schema 3: every group's rules.
        let mut next = loaded.clone();
        next.route_tables[0]
            .route_entries
            .push(entry("10.9.0.0/16"));
        let change = store.change(&loaded, &next, None).unwrap();
        store.last_document = None; // what save computes again
        assert_eq!(change.rule_upserts.len(), 2);
        store.save(&loaded, &next).unwrap();
        // A change that touches no group writes no rule, and the document
        // holds none.
        let mut third = next.clone();
        third.route_tables[0]
            .route_entries
            .push(entry("10.10.0.0/16"));
        let change = store.change(&next, &third, None).unwrap();
        store.last_document = None; // what save computes again
        assert!(change.rule_upserts.is_empty() && change.rule_removals.is_empty());
        store.save(&next, &third).unwrap();
        let read = store.db.begin_read().unwrap();
        let document: Model = serde_json::from_slice(
            read.open_table(STATE)
                .unwrap()
                .get(MODEL_KEY)
                .unwrap()
                .unwrap()
                .value(),
        )
        .unwrap();
        drop(read);
        assert_eq!(document.security_groups.len(), 2);
        assert!(document.security_groups.iter().all(|g| g.rules.is_empty()));
        // One group's rules changed, the other group deleted.
        let mut fourth = third.clone();
        fourth.security_groups[0].rules.pop();
        fourth.security_groups.retain(|g| g.id != "sg-b");
        let change = store.change(&third, &fourth, None).unwrap();
        store.last_document = None; // what save computes again
        assert_eq!(change.rule_upserts.len(), 1);
        assert_eq!(change.rule_removals, vec!["sg-b".to_string()]);
        store.save(&third, &fourth).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Some(fourth));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_a_change_of_route_entries_or_rules_alone_writes_no_document() {
        let dir = std::env::temp_dir().join(format!("vpc-store-document-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir).unwrap();
        let first = with_groups();
        store.save(&Model::default(), &first).unwrap();
        let mut routes = first.clone();
        routes.route_tables[0].route_entries.push(entry("10.9.0.0/16"));
        let change = store.change(&first, &routes, None).unwrap();
        assert!(change.document.is_none() && change.upserts.len() == 1);
        store.save(&first, &routes).unwrap();
        let mut rules = routes.clone();
        rules.security_groups[0].rules.pop();
        let change = store.change(&routes, &rules, None).unwrap();
        assert!(change.document.is_none() && change.rule_upserts.len() == 1);
        store.save(&routes, &rules).unwrap();
        // Anything else of a table or a group is in the document.
        let mut renamed = rules.clone();
        renamed.route_tables[0].name = Some("renamed".into());
        let change = store.change(&rules, &renamed, None).unwrap();
        store.last_document = None; // what save computes again
        assert!(change.document.is_some());
        store.save(&rules, &renamed).unwrap();
        let mut group = renamed.clone();
        group.security_groups[1].inner_access = !group.security_groups[1].inner_access;
        store.save(&renamed, &group).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Some(group));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_a_schema_1_store_is_read_and_rewritten() {
        let dir = std::env::temp_dir().join(format!("vpc-store-schema1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = crate::test_fixtures::lab();
        {
            let store = Store::open(&dir).unwrap();
            let write = store.db.begin_write().unwrap();
            {
                let mut table = write.open_table(STATE).unwrap();
                table.insert(SCHEMA_KEY, SCHEMA_1).unwrap();
                table
                    .insert(MODEL_KEY, serde_json::to_vec(&model).unwrap().as_slice())
                    .unwrap();
            }
            write.commit().unwrap();
        }
        let mut store = Store::open(&dir).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded, model);
        let mut next = loaded.clone();
        next.route_tables
            .iter_mut()
            .find(|t| t.id == "vtb-custom")
            .unwrap()
            .route_entries
            .push(entry("10.9.0.0/16"));
        store.save(&loaded, &next).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Some(next));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Changes committed by several threads (behind one lock, as the
    /// service commits them) are each durable when their wait returns: a
    /// copy of the database file taken then (what a kill -9 leaves) holds
    /// them all.
    #[test]
    fn store_group_committed_changes_are_durable_when_acknowledged() {
        let dir = std::env::temp_dir().join(format!("vpc-store-group-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let base = crate::test_fixtures::lab();
        let t = base
            .route_tables
            .iter()
            .position(|t| t.id == "vtb-custom")
            .unwrap();
        let already = base.route_tables[t].route_entries.len();
        let mut store = Store::open(&dir).unwrap();
        store.save(&Model::default(), &base).unwrap();
        let durable = store.durable();
        let shared = Mutex::new((store, base));
        const THREADS: usize = 4;
        const EACH: usize = 50;
        std::thread::scope(|s| {
            for w in 0..THREADS {
                let (shared, durable) = (&shared, durable.clone());
                s.spawn(move || {
                    for k in 0..EACH {
                        let seq = {
                            let mut g = shared.lock().unwrap();
                            let (store, model) = &mut *g;
                            let mut next = model.clone();
                            next.route_tables[t].route_entries.push(entry(&format!(
                                "10.{}.{}.0/24",
                                100 + w,
                                k
                            )));
                            let seq = store.commit(model, &next, None).unwrap();
                            *model = next;
                            seq
                        };
                        durable.wait(seq).unwrap();
                    }
                });
            }
        });
        let (store, model) = shared.into_inner().unwrap();
        assert!(durable.get().seq >= (THREADS * EACH) as u64 + 1);
        // The file as it is now, while the daemon still holds it.
        let copy = dir.join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(dir.join("state.redb"), copy.join("state.redb")).unwrap();
        drop(store);
        let reopened = Store::open(&copy).unwrap();
        let loaded = reopened.load().unwrap().unwrap();
        assert_eq!(
            loaded.route_tables[t].route_entries.len(),
            already + THREADS * EACH
        );
        assert_eq!(loaded, model);
        drop(reopened);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_client_tokens_are_kept_with_their_change_and_expire() {
        let dir = std::env::temp_dir().join(format!("vpc-store-tokens-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = crate::test_fixtures::lab();
        let key = |token: &str| TokenKey {
            account: "1".into(),
            action: "CreateVpc".into(),
            token: token.into(),
        };
        let record = |at: u64| TokenRecord {
            digest: "d".into(),
            body: serde_json::json!({"VpcId": "vpc-1"}),
            at,
        };
        let now = unix_now();
        {
            let mut store = Store::open(&dir).unwrap();
            let seq = store
                .commit(
                    &Model::default(),
                    &model,
                    Some((&key("old"), &record(now - CLIENT_TOKEN_TTL_SECS - 10))),
                )
                .unwrap();
            store.durable().wait(seq).unwrap();
            assert_eq!(
                store.token(&key("old")).unwrap(),
                None,
                "an expired record is not answered"
            );
            let seq = store
                .commit(&model, &model, Some((&key("new"), &record(now))))
                .unwrap();
            store.durable().wait(seq).unwrap();
            assert_eq!(store.token(&key("new")).unwrap(), Some(record(now)));
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.token(&key("new")).unwrap(), Some(record(now)));
        assert_eq!(
            store
                .token(&TokenKey {
                    account: "2".into(),
                    ..key("new")
                })
                .unwrap(),
            None
        );
        // The expired record was pruned by the second change.
        let read = store.db.begin_read().unwrap();
        assert_eq!(read.open_table(CLIENT_TOKENS).unwrap().len().unwrap(), 1);
        assert_eq!(
            read.open_table(CLIENT_TOKEN_TIMES).unwrap().len().unwrap(),
            1
        );
        drop(read);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A change's client token record is answered as soon as the change
    /// is committed (before its batch is written), and after it is on disk
    /// from there; the model is loaded with every committed change.
    #[test]
    fn store_a_committed_change_is_seen_before_its_batch_is_written() {
        let dir = std::env::temp_dir().join(format!("vpc-store-queued-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = crate::test_fixtures::lab();
        let key = TokenKey {
            account: "1".into(),
            action: "CreateVpc".into(),
            token: "t".into(),
        };
        let record = TokenRecord {
            digest: "d".into(),
            body: serde_json::json!({"VpcId": "vpc-1"}),
            at: unix_now(),
        };
        let mut store = Store::open(&dir).unwrap();
        let mut seqs = Vec::new();
        let mut prev = Model::default();
        for n in 0..20 {
            let mut next = model.clone();
            next.vpcs[0].name = Some(format!("change {n}"));
            let token = (n == 10).then_some((&key, &record));
            seqs.push(store.commit(&prev, &next, token).unwrap());
            if n == 10 {
                assert_eq!(store.token(&key).unwrap(), Some(record.clone()));
            }
            prev = next;
        }
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        assert_eq!(store.load().unwrap().as_ref(), Some(&prev));
        store.durable().wait(20).unwrap();
        assert_eq!(store.token(&key).unwrap(), Some(record.clone()));
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.token(&key).unwrap(), Some(record));
        assert_eq!(store.load().unwrap(), Some(prev));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_a_failed_flush_fails_every_waiter() {
        let d = Arc::new(Durable::default());
        d.flushed(3);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || d.wait(5))
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        d.failed("disk full".into());
        for w in waiters {
            assert!(matches!(w.join().unwrap(), Err(StoreError::Flush(_))));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(matches!(
            rt.block_on(d.wait_async(4)),
            Err(StoreError::Flush(_))
        ));
        // What was durable before the failure stays acknowledged.
        assert!(d.wait(3).is_ok() && rt.block_on(d.wait_async(2)).is_ok());
    }

    /// After the store recovered from a failure, a change lost to it fails
    /// its waiter even when the wait starts late; earlier and later ones
    /// succeed.
    #[test]
    fn hardening_a_change_lost_to_a_recovered_failure_fails_even_a_late_waiter() {
        let d = Durable::default();
        d.flushed(3);
        d.failed("disk full".into());
        d.recovered(5);
        assert!(d.wait(3).is_ok());
        assert!(matches!(d.wait(4), Err(StoreError::Flush(_))));
        assert!(matches!(d.wait(5), Err(StoreError::Flush(_))));
        d.flushed(6);
        assert!(d.wait(6).is_ok(), "a change after the recovery");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(matches!(
            rt.block_on(d.wait_async(4)),
            Err(StoreError::Flush(_))
        ));
    }

    #[test]
    fn store_a_second_daemon_cannot_open_the_same_state() {
        let dir = std::env::temp_dir().join(format!("vpc-store-lock-{}", std::process::id()));
        let _first = Store::open(&dir).unwrap();
        assert!(matches!(Store::open(&dir), Err(StoreError::Open { .. })));
        drop(_first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
