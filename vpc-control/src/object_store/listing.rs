//! ListObjects (`GET /bucket`) and ListObjectsV2 (`list-type=2`): keys in
//! order after a marker (or start-after / continuation token), filtered by
//! prefix, grouped by delimiter into CommonPrefixes, at most max-keys
//! entries (objects and prefixes together), as OSS answers them.
use std::{collections::BTreeMap, ops::Bound, sync::Arc};

use super::{error::OssError, storage::ObjectMeta};

/// What one listing asks.
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys by what follows the prefix up to this (empty: no grouping).
    pub delimiter: String,
    /// Only keys after this (marker, start-after, or the continuation token's key).
    pub after: String,
    /// At most this many entries (objects and common prefixes).
    pub max_keys: usize,
}

/// One page.
#[derive(Debug, Default)]
pub struct Page {
    /// Objects.
    pub objects: Vec<Arc<ObjectMeta>>,
    /// Common prefixes, in order.
    pub prefixes: Vec<String>,
    /// More follow.
    pub truncated: bool,
    /// The last key or prefix of this page (where the next one starts).
    pub next: String,
}

/// `max-keys`: 1..=1000, 100 when absent.
pub fn max_keys(v: Option<&str>) -> Result<usize, OssError> {
    match v {
        None => Ok(100),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(OssError::invalid_argument(format!(
                "Argument max-keys {s:?} must be an integer from 1 to 1000."
            ))
            .with("ArgumentName", "max-keys")
            .with("ArgumentValue", s)),
        },
    }
}

/// A page of `objects` for `q`.
pub fn list(objects: &BTreeMap<String, Arc<ObjectMeta>>, q: &Query) -> Page {
    let mut page = Page::default();
    let start = if q.after.as_str() >= q.prefix.as_str() {
        Bound::Excluded(q.after.clone())
    } else {
        Bound::Included(q.prefix.clone())
    };
    for (key, meta) in objects.range((start, Bound::Unbounded)) {
        if !key.starts_with(&q.prefix) {
            break;
        }
        let common = (!q.delimiter.is_empty())
            .then(|| {
                key[q.prefix.len()..]
                    .find(&q.delimiter)
                    .map(|i| key[..q.prefix.len() + i + q.delimiter.len()].to_string())
            })
            .flatten();
        match common {
            Some(cp) => {
                // Already given (on this page or as the previous page's marker).
                if cp.as_str() <= q.after.as_str() || page.prefixes.last() == Some(&cp) {
                    continue;
                }
                if page.objects.len() + page.prefixes.len() == q.max_keys {
                    page.truncated = true;
                    break;
                }
                page.next = cp.clone();
                page.prefixes.push(cp);
            }
            None => {
                if page.objects.len() + page.prefixes.len() == q.max_keys {
                    page.truncated = true;
                    break;
                }
                page.next = key.clone();
                page.objects.push(meta.clone());
            }
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> BTreeMap<String, Arc<ObjectMeta>> {
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    Arc::new(ObjectMeta {
                        key: k.to_string(),
                        data: String::new(),
                        size: 0,
                        md5: String::new(),
                        crc64: 0,
                        modified_ms: 0,
                        content_type: String::new(),
                        headers: vec![],
                        user_meta: vec![],
                        parts: 0,
                    }),
                )
            })
            .collect()
    }

    fn names(p: &Page) -> (Vec<&str>, Vec<&str>) {
        (
            p.objects.iter().map(|o| o.key.as_str()).collect(),
            p.prefixes.iter().map(String::as_str).collect(),
        )
    }

    #[test]
    fn delimiter_groups_and_pages_never_repeat_a_prefix() {
        let o = objects(&["a", "b/1", "b/2", "b/3", "c/1", "d"]);
        let mut q = Query {
            delimiter: "/".into(),
            max_keys: 2,
            ..Default::default()
        };
        let p1 = list(&o, &q);
        assert_eq!(names(&p1), (vec!["a"], vec!["b/"]));
        assert!(p1.truncated);
        q.after = p1.next.clone();
        let p2 = list(&o, &q);
        assert_eq!(names(&p2), (vec!["d"], vec!["c/"]));
        assert!(!p2.truncated, "exactly max-keys left is not truncated");
        let q = Query {
            prefix: "b/".into(),
            max_keys: 100,
            ..Default::default()
        };
        assert_eq!(names(&list(&o, &q)).0, ["b/1", "b/2", "b/3"]);
        let q = Query {
            prefix: "b/".into(),
            after: "b/1".into(),
            max_keys: 1,
            ..Default::default()
        };
        let p = list(&o, &q);
        assert_eq!(
            (names(&p).0, p.truncated, p.next.as_str()),
            (vec!["b/2"], true, "b/2")
        );
    }

    #[test]
    fn max_keys_bounds() {
        assert_eq!(max_keys(None).unwrap(), 100);
        assert_eq!(max_keys(Some("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "x"] {
            assert_eq!(max_keys(Some(bad)).unwrap_err().code, "InvalidArgument");
        }
    }
}
