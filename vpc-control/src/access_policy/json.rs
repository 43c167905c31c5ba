//! A JSON tree that keeps every key of an object in order and refuses a key
//! given twice (`serde_json::Value` keeps the last one silently, which would
//! let `{"Effect": "Deny", "Effect": "Allow"}` mean Allow).
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value of a policy document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A number, as serde_json printed it back.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// The members in document order; keys are unique.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The JSON type, for error messages ("expected a string, found a list").
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "a list",
            Json::Object(_) => "an object",
        }
    }
}

impl Json {
    /// The length in bytes of the value written as compact JSON.
    pub(crate) fn compact_len(&self) -> usize {
        fn quoted(s: &str) -> usize {
            serde_json::to_string(s).map_or(s.len() + 2, |q| q.len())
        }
        match self {
            Json::Null => 4,
            Json::Bool(b) => b.to_string().len(),
            Json::Number(n) => n.len(),
            Json::String(s) => quoted(s),
            Json::Array(items) => {
                2 + items.iter().map(Json::compact_len).sum::<usize>()
                    + items.len().saturating_sub(1)
            }
            Json::Object(members) => {
                2 + members
                    .iter()
                    .map(|(k, v)| quoted(k) + 1 + v.compact_len())
                    .sum::<usize>()
                    + members.len().saturating_sub(1)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value()?;
            out.push((key, value));
        }
        Ok(Json::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_refuses_duplicate_keys() {
        let v: Json = serde_json::from_str(r#"{"b": [1, true, null], "a": "x"}"#).unwrap();
        let Json::Object(members) = v else {
            panic!("not an object")
        };
        assert_eq!(members[0].0, "b");
        assert_eq!(
            members[0].1,
            Json::Array(vec![Json::Number("1".into()), Json::Bool(true), Json::Null])
        );
        assert_eq!(members[1], ("a".to_string(), Json::String("x".into())));
        let text = r#"{"b":[1,true,null],"a":"x\"y","c":{}}"#;
        let compact: Json = serde_json::from_str(text).unwrap();
        assert_eq!(compact.compact_len(), text.len());
        let err = serde_json::from_str::<Json>(r#"{"a": 1, "a": 2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate key \"a\""), "{err}");
    }
}
