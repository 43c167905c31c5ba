//! Buckets and objects on disk, under `<state dir>/object-store/`:
//!
//! ```text
//! buckets/<bucket>/bucket.json          the bucket (owner, ACL, policy, ...)
//! buckets/<bucket>/data/<id>            object contents, never modified once written
//! buckets/<bucket>/objects/<sha256(key)>.json   the object: key, data id, size, MD5, CRC-64, headers
//! ```
//!
//! A write is durable before it is answered and never seen half done: the
//! contents go to a new data file (fsync, directory fsync), then the
//! object's sidecar is written to a temporary name (fsync) and renamed over
//! the old one (directory fsync): the rename is the commit. After a crash a
//! data file no sidecar names is garbage, removed at the next start, as
//! are temporary sidecars. The index of every bucket and object is kept in
//! memory (listing is a walk of a sorted map) and rebuilt from the
//! sidecars at start.
use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::OssError;

/// Buckets one account may own (OSS's default quota).
pub const MAX_BUCKETS_PER_ACCOUNT: usize = 100;

/// A bucket as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketMeta {
    /// Bucket name (global).
    pub name: String,
    /// The account that owns it.
    pub owner: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// The region (`cn-hangzhou`): Location is `oss-<region>`.
    pub region: String,
    /// Storage class (only `Standard` is accepted).
    pub storage_class: String,
    /// Canned ACL: `private`, `public-read` or `public-read-write`.
    pub acl: String,
    /// The bucket policy document as it was put (validated then).
    #[serde(default)]
    pub policy: Option<String>,
}

/// An object as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Object key.
    pub key: String,
    /// Name of its data file under `data/`.
    pub data: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5 of the contents, lowercase hex (the ETag is its uppercase form).
    pub md5: String,
    /// CRC-64/ECMA-182 (as OSS and XZ compute it) of the contents.
    pub crc64: u64,
    /// Last modification, ms since the epoch.
    pub modified_ms: i64,
    /// Content-Type.
    pub content_type: String,
    /// Other standard headers kept (Content-Encoding, Content-Disposition,
    /// Cache-Control, Content-Language, Expires), lowercase names.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// `x-oss-meta-*` user metadata, lowercase names with the prefix.
    #[serde(default)]
    pub user_meta: Vec<(String, String)>,
    /// Parts of a multipart upload (0: one PutObject or CopyObject); then
    /// `md5` is the MD5 of the parts' MD5s, as OSS's ETag has it.
    #[serde(default)]
    pub parts: u32,
}

impl ObjectMeta {
    /// The ETag as OSS writes it, quotes included (`"<MD5>-<parts>"` for a
    /// multipart object).
    pub fn etag(&self) -> String {
        match self.parts {
            0 => format!("\"{}\"", self.md5.to_uppercase()),
            n => format!("\"{}-{n}\"", self.md5.to_uppercase()),
        }
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadMeta {
    /// The object key it makes.
    pub key: String,
    /// Its UploadId (32 uppercase hex digits).
    pub id: String,
    /// When it was initiated, ms since the epoch.
    pub initiated_ms: i64,
    /// The object's Content-Type.
    pub content_type: String,
    /// The object's kept standard headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The object's user metadata.
    #[serde(default)]
    pub user_meta: Vec<(String, String)>,
}

/// One uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartMeta {
    /// PartNumber, 1 to 10,000.
    pub number: u32,
    /// Size in bytes.
    pub size: u64,
    /// MD5, lowercase hex (the part's ETag).
    pub md5: String,
    /// CRC-64 of the part.
    pub crc64: u64,
    /// When it was uploaded, ms since the epoch.
    pub modified_ms: i64,
}

/// Whether `id` has the form of an UploadId this service gives (so that it
/// can name a directory).
pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

fn no_such_upload() -> OssError {
    OssError::new(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

/// One bucket and its objects (the in-memory index).
#[derive(Debug, Clone)]
pub struct Bucket {
    /// The bucket.
    pub meta: BucketMeta,
    /// Its objects by key.
    pub objects: BTreeMap<String, Arc<ObjectMeta>>,
}

/// The storage of every bucket.
pub struct Storage {
    root: PathBuf,
    buckets: Mutex<BTreeMap<String, Bucket>>,
}

/// What PutBucket did.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// A new bucket.
    New,
    /// The caller already owned it: nothing changed.
    AlreadyOwned,
}

/// A new data file being written; removed when dropped unless committed.
pub struct Upload {
    /// The data file's id.
    pub id: String,
    path: PathBuf,
    dir: PathBuf,
    /// The open file.
    pub file: Option<fs::File>,
    committed: bool,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A unique id for a data file or a temporary name.
fn new_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}-{:016x}", now.as_nanos(), fastrand::u64(..))
}

/// The sidecar file name of `key`.
fn sidecar_name(key: &str) -> String {
    format!("{}.json", hex::encode(Sha256::digest(key.as_bytes())))
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` through a temporary file in the same
/// directory: fsync, rename, directory fsync.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("a file in a directory");
    let tmp = dir.join(format!(".tmp-{}", new_id()));
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    fsync_dir(dir)
}

impl Storage {
    /// Opens (creating) the storage under `root`, rebuilding the index and
    /// removing what a crash left half done.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let buckets_dir = root.join("buckets");
        fs::create_dir_all(&buckets_dir)?;
        let mut buckets = BTreeMap::new();
        for entry in fs::read_dir(&buckets_dir)? {
            let dir = entry?.path();
            let meta_file = dir.join("bucket.json");
            let meta: Option<BucketMeta> = fs::read(&meta_file)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let Some(meta) = meta else {
                // A bucket deleted (its bucket.json went first) or never
                // finished: nothing of it is visible.
                tracing::info!(dir = %dir.display(), "removing an incomplete bucket directory");
                let _ = fs::remove_dir_all(&dir);
                continue;
            };
            let mut objects = BTreeMap::new();
            let objects_dir = dir.join("objects");
            let data_dir = dir.join("data");
            fs::create_dir_all(&objects_dir)?;
            fs::create_dir_all(&data_dir)?;
            for e in fs::read_dir(&objects_dir)? {
                let p = e?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with(".tmp-") {
                    let _ = fs::remove_file(&p);
                    continue;
                }
                match fs::read(&p)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<ObjectMeta>(&b).ok())
                {
                    Some(o) if data_dir.join(&o.data).exists() => {
                        objects.insert(o.key.clone(), Arc::new(o));
                    }
                    _ => {
                        tracing::warn!(file = %p.display(), "removing an unreadable object sidecar");
                        let _ = fs::remove_file(&p);
                    }
                }
            }
            let referenced: std::collections::HashSet<&str> =
                objects.values().map(|o| o.data.as_str()).collect();
            for e in fs::read_dir(&data_dir)? {
                let p = e?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !referenced.contains(name) {
                    let _ = fs::remove_file(&p);
                }
            }
            // Parts half written by a crash.
            if let Ok(uploads) = fs::read_dir(dir.join("uploads")) {
                for u in uploads.flatten() {
                    for f in fs::read_dir(u.path()).into_iter().flatten().flatten() {
                        if f.file_name().to_string_lossy().starts_with(".tmp-") {
                            let _ = fs::remove_file(f.path());
                        }
                    }
                }
            }
            buckets.insert(meta.name.clone(), Bucket { meta, objects });
        }
        Ok(Self {
            root: root.to_path_buf(),
            buckets: Mutex::new(buckets),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Bucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bucket_dir(&self, name: &str) -> PathBuf {
        self.root.join("buckets").join(name)
    }

    /// Runs `f` on the index (read only).
    pub fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, Bucket>) -> T) -> T {
        f(&self.lock())
    }

    /// The bucket `name`.
    pub fn bucket(&self, name: &str) -> Option<BucketMeta> {
        self.lock().get(name).map(|b| b.meta.clone())
    }

    /// Creates a bucket (names are global).
    pub fn create_bucket(&self, meta: BucketMeta) -> Result<Created, OssError> {
        let mut buckets = self.lock();
        if let Some(b) = buckets.get(&meta.name) {
            if b.meta.owner == meta.owner {
                return Ok(Created::AlreadyOwned);
            }
            return Err(OssError::new(
                409,
                "BucketAlreadyExists",
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            )
            .with_bucket(&meta.name));
        }
        let owned = buckets
            .values()
            .filter(|b| b.meta.owner == meta.owner)
            .count();
        if owned >= MAX_BUCKETS_PER_ACCOUNT {
            return Err(OssError::new(
                400,
                "TooManyBuckets",
                format!("You have attempted to create more buckets than allowed ({MAX_BUCKETS_PER_ACCOUNT} per account)."),
            )
            .with_bucket(&meta.name));
        }
        let dir = self.bucket_dir(&meta.name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("data"))?;
        fs::create_dir_all(dir.join("objects"))?;
        write_atomically(
            &dir.join("bucket.json"),
            &serde_json::to_vec_pretty(&meta).expect("serializable"),
        )?;
        fsync_dir(&self.root.join("buckets"))?;
        buckets.insert(
            meta.name.clone(),
            Bucket {
                meta,
                objects: BTreeMap::new(),
            },
        );
        Ok(Created::New)
    }

    /// Rewrites a bucket's record (its policy).
    pub fn update_bucket(
        &self,
        name: &str,
        f: impl FnOnce(&mut BucketMeta),
    ) -> Result<BucketMeta, OssError> {
        let mut buckets = self.lock();
        let b = buckets
            .get_mut(name)
            .ok_or_else(|| OssError::no_such_bucket(name))?;
        let mut meta = b.meta.clone();
        f(&mut meta);
        write_atomically(
            &self.bucket_dir(name).join("bucket.json"),
            &serde_json::to_vec_pretty(&meta).expect("serializable"),
        )?;
        b.meta = meta.clone();
        Ok(meta)
    }

    /// Deletes an empty bucket.
    pub fn delete_bucket(&self, name: &str) -> Result<(), OssError> {
        let mut buckets = self.lock();
        let b = buckets
            .get(name)
            .ok_or_else(|| OssError::no_such_bucket(name))?;
        let uploads = fs::read_dir(self.bucket_dir(name).join("uploads"))
            .map(|d| d.count())
            .unwrap_or(0);
        if !b.objects.is_empty() || uploads > 0 {
            return Err(OssError::new(
                409,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty (objects or multipart uploads).",
            )
            .with_bucket(name));
        }
        let dir = self.bucket_dir(name);
        // bucket.json goes first: the commit.
        fs::remove_file(dir.join("bucket.json"))?;
        fsync_dir(&dir)?;
        buckets.remove(name);
        drop(buckets);
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }

    /// A new data file in `bucket`.
    pub fn begin_upload(&self, bucket: &str) -> Result<Upload, OssError> {
        if !self.lock().contains_key(bucket) {
            return Err(OssError::no_such_bucket(bucket));
        }
        let dir = self.bucket_dir(bucket).join("data");
        let id = new_id();
        let path = dir.join(&id);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Upload {
            id,
            path,
            dir,
            file: Some(file),
            committed: false,
        })
    }

    /// A new data file in `bucket` with the contents of `src`'s data
    /// (a hard link: data files never change).
    pub fn link_upload(
        &self,
        src_bucket: &str,
        src: &ObjectMeta,
        bucket: &str,
    ) -> Result<Upload, OssError> {
        if !self.lock().contains_key(bucket) {
            return Err(OssError::no_such_bucket(bucket));
        }
        let dir = self.bucket_dir(bucket).join("data");
        let id = new_id();
        let path = dir.join(&id);
        fs::hard_link(
            self.bucket_dir(src_bucket).join("data").join(&src.data),
            &path,
        )
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => OssError::no_such_key(),
            _ => OssError::internal(e),
        })?;
        Ok(Upload {
            id,
            path,
            dir,
            file: None,
            committed: false,
        })
    }

    /// Makes `upload` the object `meta.key` of `bucket` (its `data` is set
    /// here): durable when this returns. `check` runs on the current object
    /// (if any) under the index lock, and may refuse (x-oss-forbid-overwrite).
    pub fn commit(
        &self,
        bucket: &str,
        mut upload: Upload,
        mut meta: ObjectMeta,
        check: impl FnOnce(Option<&ObjectMeta>) -> Result<(), OssError>,
    ) -> Result<Arc<ObjectMeta>, OssError> {
        if let Some(f) = upload.file.take() {
            f.sync_all()?;
        }
        fsync_dir(&upload.dir)?;
        meta.data = upload.id.clone();
        let objects_dir = self.bucket_dir(bucket).join("objects");
        let tmp = objects_dir.join(format!(".tmp-{}", new_id()));
        let wrote = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&meta).expect("serializable"))?;
            f.sync_all()
        })();
        if let Err(e) = wrote {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        let meta = Arc::new(meta);
        let old = {
            let mut buckets = self.lock();
            let Some(b) = buckets.get_mut(bucket) else {
                let _ = fs::remove_file(&tmp);
                return Err(OssError::no_such_bucket(bucket));
            };
            if let Err(e) = check(b.objects.get(&meta.key).map(|o| o.as_ref())) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            if let Err(e) = fs::rename(&tmp, objects_dir.join(sidecar_name(&meta.key))) {
                let _ = fs::remove_file(&tmp);
                return Err(e.into());
            }
            upload.committed = true;
            b.objects.insert(meta.key.clone(), meta.clone())
        };
        fsync_dir(&objects_dir)?;
        if let Some(old) = old {
            let _ = fs::remove_file(self.bucket_dir(bucket).join("data").join(&old.data));
        }
        Ok(meta)
    }

    /// The object `key` of `bucket` and its open data file.
    pub fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Arc<ObjectMeta>, fs::File), OssError> {
        // A concurrent overwrite may remove the data file between the index
        // and the open: the index is read again then.
        for _ in 0..3 {
            let meta = self.object(bucket, key)?;
            match fs::File::open(self.bucket_dir(bucket).join("data").join(&meta.data)) {
                Ok(f) => return Ok((meta, f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OssError::internal("the object changed while it was opened"))
    }

    /// The object `key` of `bucket`.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Arc<ObjectMeta>, OssError> {
        let buckets = self.lock();
        let b = buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        b.objects
            .get(key)
            .cloned()
            .ok_or_else(OssError::no_such_key)
    }

    /// Deletes an object; whether it existed.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, OssError> {
        let objects_dir = self.bucket_dir(bucket).join("objects");
        let old = {
            let mut buckets = self.lock();
            let b = buckets
                .get_mut(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            if !b.objects.contains_key(key) {
                return Ok(false);
            }
            fs::remove_file(objects_dir.join(sidecar_name(key)))?;
            b.objects.remove(key)
        };
        fsync_dir(&objects_dir)?;
        if let Some(old) = old {
            let _ = fs::remove_file(self.bucket_dir(bucket).join("data").join(&old.data));
        }
        Ok(true)
    }
}

impl Storage {
    fn upload_dir(&self, bucket: &str, id: &str) -> PathBuf {
        self.bucket_dir(bucket).join("uploads").join(id)
    }

    /// Starts a multipart upload (its id is chosen here and set in `meta`).
    pub fn create_multipart(
        &self,
        bucket: &str,
        mut meta: UploadMeta,
    ) -> Result<UploadMeta, OssError> {
        if !self.lock().contains_key(bucket) {
            return Err(OssError::no_such_bucket(bucket));
        }
        meta.id = format!("{:032X}", fastrand::u128(..));
        let dir = self.upload_dir(bucket, &meta.id);
        fs::create_dir_all(&dir)?;
        write_atomically(
            &dir.join("upload.json"),
            &serde_json::to_vec(&meta).expect("serializable"),
        )?;
        fsync_dir(&self.bucket_dir(bucket).join("uploads"))?;
        Ok(meta)
    }

    /// The upload `id` of `bucket`.
    pub fn multipart(&self, bucket: &str, id: &str) -> Result<UploadMeta, OssError> {
        if !valid_upload_id(id) {
            return Err(no_such_upload());
        }
        let bytes = fs::read(self.upload_dir(bucket, id).join("upload.json"))
            .map_err(|_| no_such_upload())?;
        serde_json::from_slice(&bytes).map_err(|_| no_such_upload())
    }

    /// A temporary file for a part of upload `id`.
    pub fn begin_part(&self, bucket: &str, id: &str) -> Result<(fs::File, PathBuf), OssError> {
        self.multipart(bucket, id)?;
        let tmp = self
            .upload_dir(bucket, id)
            .join(format!(".tmp-{}", new_id()));
        Ok((fs::File::create(&tmp)?, tmp))
    }

    /// Makes the written (and synced) `tmp` part `part.number` of upload `id`.
    pub fn commit_part(
        &self,
        bucket: &str,
        id: &str,
        tmp: &Path,
        part: &PartMeta,
    ) -> Result<(), OssError> {
        let dir = self.upload_dir(bucket, id);
        let done = (|| {
            fs::rename(tmp, dir.join(part.number.to_string()))?;
            fsync_dir(&dir)?;
            write_atomically(
                &dir.join(format!("{}.json", part.number)),
                &serde_json::to_vec(part).expect("serializable"),
            )
        })();
        if done.is_err() {
            let _ = fs::remove_file(tmp);
        }
        Ok(done?)
    }

    /// The parts of upload `id`, by number.
    pub fn parts(&self, bucket: &str, id: &str) -> Result<Vec<PartMeta>, OssError> {
        self.multipart(bucket, id)?;
        let mut parts: Vec<PartMeta> = fs::read_dir(self.upload_dir(bucket, id))?
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.ends_with(".json") && n != "upload.json"
            })
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// The data file of part `n` of upload `id`.
    pub fn part_path(&self, bucket: &str, id: &str, n: u32) -> PathBuf {
        self.upload_dir(bucket, id).join(n.to_string())
    }

    /// Ends upload `id` (aborted, or completed).
    pub fn remove_multipart(&self, bucket: &str, id: &str) -> Result<(), OssError> {
        self.multipart(bucket, id)?;
        fs::remove_dir_all(self.upload_dir(bucket, id))?;
        Ok(())
    }

    /// The uploads in progress in `bucket`, by key then initiation.
    pub fn multiparts(&self, bucket: &str) -> Vec<UploadMeta> {
        let mut all: Vec<UploadMeta> = fs::read_dir(self.bucket_dir(bucket).join("uploads"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| fs::read(e.path().join("upload.json")).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        all.sort_by(|a, b| (&a.key, a.initiated_ms, &a.id).cmp(&(&b.key, b.initiated_ms, &b.id)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, owner: &str) -> BucketMeta {
        BucketMeta {
            name: name.into(),
            owner: owner.into(),
            created_ms: 0,
            region: "cn-hangzhou".into(),
            storage_class: "Standard".into(),
            acl: "private".into(),
            policy: None,
        }
    }

    fn put(s: &Storage, bucket: &str, key: &str, body: &[u8]) {
        let mut u = s.begin_upload(bucket).unwrap();
        u.file.as_mut().unwrap().write_all(body).unwrap();
        let m = ObjectMeta {
            key: key.into(),
            data: String::new(),
            size: body.len() as u64,
            md5: String::new(),
            crc64: 0,
            modified_ms: 0,
            content_type: "application/octet-stream".into(),
            headers: vec![],
            user_meta: vec![],
            parts: 0,
        };
        s.commit(bucket, u, m, |_| Ok(())).unwrap();
    }

    #[test]
    fn objects_survive_a_reopen_and_orphans_go() {
        let dir = std::env::temp_dir().join(format!("oss-storage-{}", new_id()));
        let s = Storage::open(&dir).unwrap();
        assert_eq!(s.create_bucket(meta("b1", "1")).unwrap(), Created::New);
        assert_eq!(
            s.create_bucket(meta("b1", "1")).unwrap(),
            Created::AlreadyOwned
        );
        assert_eq!(
            s.create_bucket(meta("b1", "2")).unwrap_err().code,
            "BucketAlreadyExists"
        );
        for i in 0..MAX_BUCKETS_PER_ACCOUNT {
            s.create_bucket(meta(&format!("q{i}"), "3")).unwrap();
        }
        assert_eq!(
            s.create_bucket(meta("one-more", "3")).unwrap_err().code,
            "TooManyBuckets"
        );
        put(&s, "b1", "a/b", b"hello");
        put(&s, "b1", "a/b", b"hello again");
        // An upload never committed (a crash mid-write) leaves a data file.
        let mut orphan = s.begin_upload("b1").unwrap();
        orphan.file.as_mut().unwrap().write_all(b"half").unwrap();
        orphan.committed = true; // as if the process died: Drop does not clean up
        let orphan_path = orphan.path.clone();
        drop(orphan);
        drop(s);
        let s = Storage::open(&dir).unwrap();
        let (m, f) = s.open_object("b1", "a/b").unwrap();
        assert_eq!(m.size, 11);
        assert_eq!(f.metadata().unwrap().len(), 11);
        assert!(
            !orphan_path.exists(),
            "the orphan data file was not removed"
        );
        assert_eq!(
            fs::read_dir(dir.join("buckets/b1/data")).unwrap().count(),
            1
        );
        assert_eq!(s.delete_bucket("b1").unwrap_err().code, "BucketNotEmpty");
        assert!(s.delete_object("b1", "a/b").unwrap());
        assert!(!s.delete_object("b1", "a/b").unwrap());
        s.delete_bucket("b1").unwrap();
        drop(s);
        let s = Storage::open(&dir).unwrap();
        assert!(s.bucket("b1").is_none());
        let _ = fs::remove_dir_all(&dir);
    }
}
