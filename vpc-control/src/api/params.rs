//! Request parameters as the cloud's RPC style sends them: flat names,
//! lists as `Name.1`, `Name.2`, nested fields as `Name.1.Field`. Every
//! parameter an action reads is marked; [`Params::finish`] refuses the
//! ones no action knows, so a typo is an error rather than silently ignored.
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    str::FromStr,
};

use super::ApiError;

/// Parameters that describe the call itself, not the action.
const ENVELOPE: &[&str] = &["Action", "Version", "Format"];

/// The parameters of one call.
#[derive(Debug, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
}

impl Params {
    /// Parameters from decoded name/value pairs (query string and form body
    /// together). A name given twice is refused.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Result<Self, ApiError> {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if k.is_empty() {
                return Err(ApiError::bad("InvalidParameter", "A parameter has an empty name."));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::invalid(&k, "it is given more than once"));
            }
        }
        let p = Self { map, used: RefCell::default() };
        for e in ENVELOPE {
            p.mark(e);
        }
        Ok(p)
    }

    fn mark(&self, name: &str) {
        self.used.borrow_mut().insert(name.to_string());
    }

    /// The raw value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.mark(name);
        self.map.get(name).map(String::as_str)
    }

    /// The value of `name`, if given and not empty.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The value of `name`, or `MissingParameter`.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.str(name).ok_or_else(|| ApiError::missing(name))
    }

    /// `name` parsed, or `InvalidParameter` naming it.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.str(name).map(|v| v.parse::<T>().map_err(|e| ApiError::invalid(name, format!("{v:?}: {e}")))).transpose()
    }

    /// `name` as a boolean (`true`/`false`, any case).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.str(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(name, format!("{v:?} is not true or false"))),
            })
            .transpose()
    }

    /// `name` as an integer within `range`, or `default`.
    pub fn int_in(&self, name: &str, range: std::ops::RangeInclusive<u64>, default: u64) -> Result<u64, ApiError> {
        match self.parse::<u64>(name)? {
            None => Ok(default),
            Some(v) if range.contains(&v) => Ok(v),
            Some(v) => Err(ApiError::invalid(name, format!("{v} is outside {}..={}", range.start(), range.end()))),
        }
    }

    /// The list `name.1`, `name.2`, ... in index order. Indexes must start at
    /// 1 and have no gaps.
    pub fn list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let prefix = format!("{name}.");
        let mut items = BTreeMap::new();
        for (k, v) in self.map.range(prefix.clone()..) {
            let Some(rest) = k.strip_prefix(&prefix) else { break };
            if rest.contains('.') {
                continue;
            }
            let n: usize = rest.parse().map_err(|_| ApiError::invalid(k, "a list index must be a number"))?;
            items.insert(n, v.clone());
            self.mark(k);
        }
        if items.keys().copied().ne(1..=items.len()) {
            return Err(ApiError::invalid(name, "list indexes must run 1, 2, 3, ... without gaps"));
        }
        Ok(items.into_values().collect())
    }

    /// A list given either as `name.N` or, as some actions take it, as one
    /// JSON array string in `name` (`InstanceIds=["i-1","i-2"]`).
    pub fn list_or_json(&self, name: &str) -> Result<Vec<String>, ApiError> {
        if let Some(v) = self.str(name) {
            return serde_json::from_str::<Vec<String>>(v)
                .map_err(|e| ApiError::invalid(name, format!("expected a JSON array of strings: {e}")));
        }
        self.list(name)
    }

    /// True if any parameter starts with `prefix` (e.g. `Permissions.3.`).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.map.range(prefix.to_string()..).next().is_some_and(|(k, _)| k.starts_with(prefix))
    }

    /// Marks parameters the action accepts and ignores (image, type, client
    /// token...). A name ending in `.` accepts every parameter under it.
    pub fn accept(&self, names: &[&str]) {
        for n in names {
            if n.ends_with('.') {
                let keys: Vec<String> = self.map.keys().filter(|k| k.starts_with(n)).cloned().collect();
                for k in keys {
                    self.mark(&k);
                }
            } else {
                self.mark(n);
            }
        }
    }

    /// The parameters the action did not read or accept.
    pub fn unread(&self) -> std::collections::BTreeSet<String> {
        let used = self.used.borrow();
        self.map.keys().filter(|k| !used.contains(*k)).cloned().collect()
    }

    /// Refuses any parameter the action did not read or accept.
    pub fn finish(&self, action: &str) -> Result<(), ApiError> {
        let used = self.used.borrow();
        match self.map.keys().find(|k| !used.contains(*k)) {
            None => Ok(()),
            Some(k) => Err(ApiError::bad(
                "InvalidParameter",
                format!("The parameter \"{k}\" is not recognized by {action}."),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn lists_are_read_in_index_order() {
        let q = p(&[("Id.2", "b"), ("Id.10", "j"), ("Id.1", "a"), ("Id.3", "c"), ("Id.4", "d"), ("Id.5", "e"),
            ("Id.6", "f"), ("Id.7", "g"), ("Id.8", "h"), ("Id.9", "i"), ("Id.1.Key", "nested")]);
        assert_eq!(q.list("Id").unwrap(), ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        assert_eq!(q.finish("X").unwrap_err().code, "InvalidParameter", "Id.1.Key was not read");
    }

    #[test]
    fn gaps_and_bad_indexes_are_refused() {
        assert!(p(&[("Id.1", "a"), ("Id.3", "c")]).list("Id").is_err());
        assert!(p(&[("Id.x", "a")]).list("Id").is_err());
    }

    #[test]
    fn json_lists_are_read() {
        assert_eq!(p(&[("InstanceIds", r#"["i-1","i-2"]"#)]).list_or_json("InstanceIds").unwrap(), ["i-1", "i-2"]);
        assert_eq!(p(&[("InstanceIds", "i-1")]).list_or_json("InstanceIds").unwrap_err().code, "InvalidParameter");
    }

    #[test]
    fn missing_and_unknown_parameters_are_errors() {
        let q = p(&[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/8"), ("Bogus", "1")]);
        assert_eq!(q.required("VpcName").unwrap_err().code, "MissingParameter");
        q.required("CidrBlock").unwrap();
        let e = q.finish("CreateVpc").unwrap_err();
        assert!(e.message.contains("Bogus"), "{e:?}");
        q.accept(&["Bogus"]);
        q.finish("CreateVpc").unwrap();
    }

    #[test]
    fn typed_values_are_checked() {
        let q = p(&[("DryRun", "TRUE"), ("Amount", "0"), ("PageSize", "x")]);
        assert_eq!(q.bool("DryRun").unwrap(), Some(true));
        assert!(q.int_in("Amount", 1..=100, 1).is_err());
        assert!(q.parse::<u32>("PageSize").is_err());
        assert_eq!(q.int_in("PageNumber", 1..=1000, 1).unwrap(), 1);
    }
}
