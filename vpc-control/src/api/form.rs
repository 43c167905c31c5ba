//! The RPC style's flat parameters decoded into typed requests by serde.
//!
//! A call's parameters arrive flat: `CidrBlock=10.0.0.0/16`, lists as
//! `Name.1`, `Name.2`, objects in lists as `Name.1.Field`. [`Form`] holds
//! them once, as decoded from the bytes the signature covered; [`Form::decode`]
//! reads them into any `#[derive(Deserialize)]` type:
//!
//! * a field's name is the parameter's (`#[serde(rename_all = "PascalCase")]`
//!   on the request type gives the cloud's spelling);
//! * numbers and booleans are parsed from their text (`true`/`false` in any
//!   case); a value that does not parse is `InvalidParameter` naming it;
//! * a `Vec` is `Name.1..Name.N` (indexes from 1, no gaps), or one JSON
//!   array in `Name` as some SDK models send lists (`InstanceIds=["i-1"]`);
//! * a missing required field is `MissingParameter` naming it (with its
//!   path, `Tag.2.Key`);
//! * a parameter the type does not have is not an error here: it is
//!   collected in [`Decoded::unknown`] (the caller logs it, or refuses it in
//!   strict mode).
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use serde::{
    Deserialize,
    de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor},
    forward_to_deserialize_any,
};

use super::ApiError;

/// The parameters of one call, by name.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pairs: BTreeMap<String, String>,
}

/// A decoded request and the parameters it did not have.
#[derive(Debug)]
pub struct Decoded<T> {
    /// The typed request.
    pub request: T,
    /// Parameters (full names, `Tag.1.Key`) the type has no field for.
    pub unknown: BTreeSet<String>,
}

impl Form {
    /// Parameters from decoded name/value pairs (query string and form body
    /// together). A name given twice, or empty, is refused; so are control
    /// characters (in a value, all but tab, line feed and carriage return)
    /// and U+FFFD, which is what a lossy decoder made of bytes that were not
    /// UTF-8: nothing the cloud takes has them.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Result<Self, ApiError> {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if k.is_empty() {
                return Err(ApiError::bad("InvalidParameter", "A parameter has an empty name."));
            }
            if let Some(c) = k.chars().find(|c| c.is_control() || *c == char::REPLACEMENT_CHARACTER) {
                return Err(ApiError::bad(
                    "InvalidParameter",
                    format!("A parameter name {k:?} has the character {c:?}: names are printable UTF-8."),
                ));
            }
            if let Some(c) = v.chars().find(|c| forbidden_in_value(*c)) {
                return Err(ApiError::invalid(&k, format!("the character {c:?} is not allowed (control characters, invalid UTF-8)")));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::invalid(&k, "it is given more than once"));
            }
        }
        Ok(Self { pairs: map })
    }

    /// The raw value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.get(name).map(String::as_str)
    }

    /// Removes `name` and returns its value.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.pairs.remove(name)
    }

    /// Every parameter name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.keys().map(String::as_str)
    }

    /// Name/value pairs in name order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Decodes the parameters into `T`, leaving out the names in `skip`
    /// (parameters of the envelope: Action, Version...).
    pub fn decode<T: DeserializeOwned>(&self, skip: &[&str]) -> Result<Decoded<T>, ApiError> {
        let tree = Node::tree(self.pairs.iter().filter(|(k, _)| !skip.contains(&k.as_str())))?;
        let unknown = RefCell::new(BTreeSet::new());
        let request = T::deserialize(NodeDe { node: &tree, path: String::new(), unknown: &unknown })
            .map_err(FormError::into_api)?;
        Ok(Decoded { request, unknown: unknown.into_inner() })
    }
}

/// The parameter names a request type has, in declaration order (from its
/// derived `Deserialize`): what `vpc <Action> --help` lists and the SDK
/// conformance test compares with the SDK models.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe;
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Fields(&[])
        }
    }
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Fields(f)) => f,
        Ok(_) => &[],
    }
}

/// A parameter tree: `Tag.1.Key=a` is `Tag -> 1 -> Key -> "a"`.
#[derive(Debug)]
enum Node<'a> {
    Leaf(&'a str),
    Branch(BTreeMap<&'a str, Node<'a>>),
}

impl<'a> Node<'a> {
    fn tree(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> Result<Self, ApiError> {
        let mut root = BTreeMap::new();
        for (name, value) in pairs {
            let mut parts = name.split('.').peekable();
            let mut level = &mut root;
            while let Some(part) = parts.next() {
                if part.is_empty() {
                    return Err(ApiError::invalid(name, "a parameter name has an empty part"));
                }
                if parts.peek().is_none() {
                    if level.insert(part, Node::Leaf(value)).is_some() {
                        return Err(conflict(name));
                    }
                    break;
                }
                match level.entry(part).or_insert_with(|| Node::Branch(BTreeMap::new())) {
                    Node::Branch(next) => level = next,
                    Node::Leaf(_) => return Err(conflict(name)),
                }
            }
        }
        Ok(Node::Branch(root))
    }

    /// Every leaf's full name under this node.
    fn leaf_names(&self, path: &str, out: &mut BTreeSet<String>) {
        match self {
            Node::Leaf(_) => {
                out.insert(path.to_string());
            }
            Node::Branch(children) => {
                for (k, child) in children {
                    child.leaf_names(&join(path, k), out);
                }
            }
        }
    }
}

/// A character no parameter value may hold: a control character (but tab,
/// line feed, carriage return: a JSON policy may be laid out on lines) or
/// U+FFFD (bytes that were not UTF-8, decoded lossily).
fn forbidden_in_value(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == char::REPLACEMENT_CHARACTER
}

/// True if `k` is a canonical list index: 1, 2, ... in decimal, without a
/// sign or leading zeros (`01` and `+1` would alias `1`).
fn is_list_index(k: &str) -> bool {
    !k.is_empty() && k.len() <= 9 && k.bytes().all(|b| b.is_ascii_digit()) && !k.starts_with('0')
}

fn conflict(name: &str) -> ApiError {
    ApiError::invalid(name, "a parameter cannot be both a value and a list or object")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Why decoding failed, with the parameter's path built up as the error
/// travels out of the nested values.
#[derive(Debug)]
enum FormError {
    /// A required parameter is not given.
    Missing { path: Vec<String> },
    /// A parameter's value is not what the field takes.
    Invalid { path: Vec<String>, why: String },
    /// A parameter of the SDK model this router does not implement.
    Unsupported { path: Vec<String> },
}

impl FormError {
    fn within(mut self, key: &str) -> Self {
        match &mut self {
            FormError::Missing { path } | FormError::Invalid { path, .. } | FormError::Unsupported { path } => {
                path.insert(0, key.to_string())
            }
        }
        self
    }

    fn into_api(self) -> ApiError {
        match self {
            FormError::Missing { path } => ApiError::missing(&path.join(".")),
            FormError::Invalid { path, why } if path.is_empty() => ApiError::bad("InvalidParameter", why),
            FormError::Invalid { path, why } => ApiError::invalid(&path.join("."), why),
            FormError::Unsupported { path } => ApiError::unsupported(&path.join(".")),
        }
    }

    fn invalid(why: impl fmt::Display) -> Self {
        FormError::Invalid { path: Vec::new(), why: why.to_string() }
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::Missing { path } => write!(f, "{} is missing", path.join(".")),
            FormError::Invalid { path, why } => write!(f, "{}: {why}", path.join(".")),
            FormError::Unsupported { path } => write!(f, "{} is not supported", path.join(".")),
        }
    }
}

impl std::error::Error for FormError {}

impl de::Error for FormError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        let msg = msg.to_string();
        if msg == UNSUPPORTED {
            return FormError::Unsupported { path: Vec::new() };
        }
        FormError::invalid(msg)
    }

    fn missing_field(field: &'static str) -> Self {
        FormError::Missing { path: vec![field.to_string()] }
    }
}

/// Deserializes one node of the tree.
struct NodeDe<'a, 'u> {
    node: &'a Node<'a>,
    /// Full name of this node, for the unknown-parameter report.
    path: String,
    unknown: &'u RefCell<BTreeSet<String>>,
}

impl<'a> NodeDe<'a, '_> {
    fn leaf(&self) -> Result<&'a str, FormError> {
        match self.node {
            Node::Leaf(v) => Ok(v),
            Node::Branch(_) => Err(FormError::invalid("expected one value, found a list or object")),
        }
    }

    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, FormError> {
        let v = self.leaf()?;
        v.trim().parse::<T>().map_err(|_| FormError::invalid(format!("{v:?} is not {what}")))
    }

    /// The list items of a branch whose keys are 1..=N, in index order.
    fn items(&self) -> Result<Vec<(String, &'a Node<'a>)>, FormError> {
        let Node::Branch(children) = self.node else { unreachable!("items of a leaf") };
        let mut items = BTreeMap::new();
        for (k, child) in children {
            if !is_list_index(k) {
                return Err(FormError::invalid(format!("{k:?} is not a list index (1, 2, 3... without leading zeros or sign)")));
            }
            let n: usize = k.parse().map_err(|_| FormError::invalid(format!("{k:?} is not a list index")))?;
            items.insert(n, (k.to_string(), child));
        }
        if items.keys().copied().ne(1..=items.len()) {
            return Err(FormError::invalid("list indexes must run 1, 2, 3, ... without gaps"));
        }
        Ok(items.into_values().collect())
    }
}

macro_rules! parse_number {
    ($($method:ident $visit:ident $ty:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
            visitor.$visit(self.parse::<$ty>(concat!("a number (", stringify!($ty), ")"))?)
        }
    )*};
}

impl<'de, 'a, 'u> de::Deserializer<'de> for NodeDe<'a, 'u> {
    type Error = FormError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        match self.node {
            Node::Leaf(v) => visitor.visit_str(v),
            Node::Branch(children) if children.keys().all(|k| k.bytes().all(|b| b.is_ascii_digit())) => {
                self.deserialize_seq(visitor)
            }
            Node::Branch(_) => self.deserialize_map(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        let v = self.leaf()?;
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(FormError::invalid(format!("{v:?} is not true or false"))),
        }
    }

    parse_number! {
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16, deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64, deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64, deserialize_f32 visit_f32 f32,
        deserialize_f64 visit_f64 f64
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        visitor.visit_str(self.leaf()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, FormError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        match self.node {
            // One JSON array, as SDK models with a string-typed list send it.
            Node::Leaf(v) => {
                let mut json = serde_json::Deserializer::from_reader(v.as_bytes());
                de::Deserializer::deserialize_seq(&mut json, visitor)
                    .map_err(|e| FormError::invalid(format!("expected a list (Name.1, Name.2...) or a JSON array: {e}")))
            }
            Node::Branch(_) => {
                let items = self.items()?;
                visitor.visit_seq(Items { items: items.into_iter(), path: self.path, unknown: self.unknown })
            }
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        match self.node {
            Node::Leaf(v) => Err(FormError::invalid(format!("expected fields (Name.Field), found the value {v:?}"))),
            Node::Branch(children) => visitor.visit_map(Fields {
                entries: children.iter(),
                value: None,
                path: self.path,
                unknown: self.unknown,
            }),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FormError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FormError> {
        let v: de::value::StrDeserializer<'_, FormError> = self.leaf()?.into_deserializer();
        visitor.visit_enum(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FormError> {
        self.node.leaf_names(&self.path, &mut self.unknown.borrow_mut());
        visitor.visit_unit()
    }

    forward_to_deserialize_any! { i128 u128 char bytes byte_buf unit unit_struct tuple tuple_struct identifier }
}

/// The fields of an object (or of the whole request).
struct Fields<'a, 'u, I> {
    entries: I,
    value: Option<(&'a str, &'a Node<'a>)>,
    path: String,
    unknown: &'u RefCell<BTreeSet<String>>,
}

impl<'de, 'a, 'u, I: Iterator<Item = (&'a &'a str, &'a Node<'a>)>> MapAccess<'de> for Fields<'a, 'u, I> {
    type Error = FormError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, FormError> {
        let Some((k, v)) = self.entries.next() else { return Ok(None) };
        self.value = Some((k, v));
        seed.deserialize(k.into_deserializer()).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, FormError> {
        let (k, node) = self.value.take().expect("next_value_seed after next_key_seed");
        seed.deserialize(NodeDe { node, path: join(&self.path, k), unknown: self.unknown }).map_err(|e| e.within(k))
    }
}

/// The items of a list.
struct Items<'u, I> {
    items: I,
    path: String,
    unknown: &'u RefCell<BTreeSet<String>>,
}

impl<'de, 'a, 'u, I: Iterator<Item = (String, &'a Node<'a>)>> SeqAccess<'de> for Items<'u, I> {
    type Error = FormError;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, FormError> {
        let Some((k, node)) = self.items.next() else { return Ok(None) };
        seed.deserialize(NodeDe { node, path: join(&self.path, &k), unknown: self.unknown })
            .map(Some)
            .map_err(|e| e.within(&k))
    }
}

/// What [`Unsupported`] says to the deserializer.
const UNSUPPORTED: &str = "\u{0}unsupported parameter";

/// A parameter of the action's SDK model that this router does not
/// implement (IPv6, IPAM pools, prefix lists, passwords...): given with a
/// value, the call is refused with `UnsupportedParameter` naming it, never
/// accepted and ignored. Given empty it says "none", which is what holds
/// here, as clients that send back every field they described do (footmark,
/// under Ansible's modules, revokes a rule with `Ipv6SourceCidrIp=`,
/// `SourcePrefixListId=`..., and modifies an instance with `Password=`).
/// Declared `Option<Unsupported>` so that leaving it out is fine too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

impl<'de> Deserialize<'de> for Unsupported {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d) {
            Ok(v) if v.is_empty() => Ok(Unsupported),
            _ => Err(de::Error::custom(UNSUPPORTED)),
        }
    }
}

/// A string list given as `Name.N` or a JSON array, or as one
/// comma-separated value (as DescribeVpcs takes `VpcId=vpc-1,vpc-2`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommaList(pub Vec<String>);

impl<'de> Deserialize<'de> for CommaList {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(CommaList(s.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Tag {
        key: String,
        value: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Request {
        cidr_block: String,
        dry_run: Option<bool>,
        page_size: Option<u32>,
        #[serde(default)]
        tag: Vec<Tag>,
        #[serde(default)]
        instance_ids: Vec<String>,
    }

    #[test]
    fn fields_lists_and_objects_are_decoded() {
        let f = form(&[
            ("CidrBlock", "10.0.0.0/16"),
            ("DryRun", "TRUE"),
            ("PageSize", "50"),
            ("Tag.2.Key", "b"),
            ("Tag.1.Key", "a"),
            ("Tag.1.Value", "x"),
            ("InstanceIds", r#"["i-1","i-2"]"#),
            ("on", "CreateVpc"),
            ("Tag.1.Colour", "red"),
        ]);
        let d: Decoded<Request> = f.decode(&[]).unwrap();
        assert_eq!(
            d.request,
            Request {
                cidr_block: "10.0.0.0/16".into(),
                dry_run: Some(true),
                page_size: Some(50),
                tag: vec![Tag { key: "a".into(), value: Some("x".into()) }, Tag { key: "b".into(), value: None }],
                instance_ids: vec!["i-1".into(), "i-2".into()],
            }
        );
        assert_eq!(d.unknown.into_iter().collect::<Vec<_>>(), ["Tag.1.Colour", "on"]);
    }

    #[test]
    fn lists_run_in_index_order_and_without_gaps() {
        #[derive(Debug, Deserialize)]
        struct L {
            #[serde(rename = "Id")]
            id: Vec<String>,
        }
        let pairs: Vec<(String, String)> = (1..=12).rev().map(|n| (format!("Id.{n}"), n.to_string())).collect();
        let f = Form::from_pairs(pairs).unwrap();
        let l: L = f.decode(&[]).unwrap().request;
        assert_eq!(l.id, (1..=12).map(|n| n.to_string()).collect::<Vec<_>>());
        let e = form(&[("Id.1", "a"), ("Id.3", "c")]).decode::<L>(&[]).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        assert!(e.message.contains("\"Id\""), "{e:?}");
        assert!(form(&[("Id.x", "a")]).decode::<L>(&[]).is_err());
    }

    #[test]
    fn hardening_list_indexes_are_canonical_only() {
        #[derive(Debug, Deserialize)]
        struct L {
            #[serde(rename = "Id")]
            id: Vec<String>,
        }
        for bad in ["01", "+1", "0", "-1", " 1", "1 ", "00000000001", "1e0"] {
            let e = form(&[(&format!("Id.{bad}"), "a")]).decode::<L>(&[]).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "InvalidParameter"), "Id.{bad}: {e:?}");
        }
        // "01" next to "1" would have aliased it.
        assert!(form(&[("Id.1", "a"), ("Id.01", "b")]).decode::<L>(&[]).is_err());
        assert_eq!(form(&[("Id.1", "a"), ("Id.2", "b")]).decode::<L>(&[]).unwrap().request.id, ["a", "b"]);
        assert_eq!(form(&[("Id.10", "a")]).decode::<L>(&[]).unwrap_err().code, "InvalidParameter", "a gap");
    }

    #[test]
    fn hardening_control_characters_and_invalid_utf8_are_refused() {
        let pairs = |k: &str, v: &str| Form::from_pairs([(k.to_string(), v.to_string())]);
        for bad in ["a\0b", "\u{1}", "x\u{7f}", "\u{9b}", "bad \u{fffd} bytes"] {
            let e = pairs("VpcName", bad).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "InvalidParameter"), "{bad:?}");
            assert!(e.message.contains("VpcName"), "{e:?}");
            assert!(pairs(&format!("Vpc{bad}Name"), "x").is_err(), "in a name: {bad:?}");
        }
        // What form_urlencoded makes of %FF: U+FFFD.
        let lossy: Vec<(String, String)> = form_urlencoded_like(b"VpcName=%FF%FE");
        assert!(Form::from_pairs(lossy).is_err());
        for ok in ["lab vpc", "a\tb", "{\n  \"Version\": \"1\"\n}", "中文é"] {
            pairs("PolicyDocument", ok).unwrap();
        }
    }

    /// Percent-decodes `name=value` lossily (as the daemon's decoder does).
    fn form_urlencoded_like(raw: &[u8]) -> Vec<(String, String)> {
        let text = String::from_utf8_lossy(raw);
        let (k, v) = text.split_once('=').unwrap();
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(v).collect();
        vec![(k.to_string(), String::from_utf8_lossy(&bytes).into_owned())]
    }

    #[test]
    fn missing_and_invalid_values_name_their_parameter() {
        let e = form(&[("PageSize", "10")]).decode::<Request>(&[]).unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        assert!(e.message.contains("\"CidrBlock\""), "{e:?}");
        let e = form(&[("CidrBlock", "x"), ("PageSize", "ten")]).decode::<Request>(&[]).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        assert!(e.message.contains("\"PageSize\""), "{e:?}");
        let e = form(&[("CidrBlock", "x"), ("Tag.1.Value", "v")]).decode::<Request>(&[]).unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        assert!(e.message.contains("\"Tag.1.Key\""), "{e:?}");
        let e = form(&[("CidrBlock", "x"), ("DryRun", "yes")]).decode::<Request>(&[]).unwrap_err();
        assert!(e.message.contains("DryRun"), "{e:?}");
    }

    #[test]
    fn skipped_names_are_neither_fields_nor_unknown() {
        let d: Decoded<Request> = form(&[("CidrBlock", "x"), ("Action", "CreateVpc")]).decode(&["Action"]).unwrap();
        assert!(d.unknown.is_empty());
    }

    #[test]
    fn a_value_and_a_list_under_one_name_are_refused() {
        let pairs = [("Tag.1", "a".to_string()), ("Tag.1.Key", "b".to_string())];
        let f = Form::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.clone()))).unwrap();
        assert_eq!(f.decode::<Request>(&[]).unwrap_err().code, "InvalidParameter");
    }

    #[test]
    fn field_names_come_from_the_type() {
        assert_eq!(field_names::<Request>(), ["CidrBlock", "DryRun", "PageSize", "Tag", "InstanceIds"]);
    }

    #[test]
    fn unsupported_parameters_are_refused_by_name() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct U {
            #[allow(dead_code)]
            ipv6_cidr_block: Option<Unsupported>,
        }
        assert!(form(&[]).decode::<U>(&[]).is_ok());
        assert!(form(&[("Ipv6CidrBlock", "")]).decode::<U>(&[]).is_ok(), "empty says none");
        let e = form(&[("Ipv6CidrBlock", "2001:db8::/56")]).decode::<U>(&[]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "UnsupportedParameter"));
        assert!(e.message.contains("\"Ipv6CidrBlock\""), "{e:?}");
    }

    #[test]
    fn comma_lists_split() {
        #[derive(Deserialize)]
        struct C {
            #[serde(rename = "VpcId")]
            vpc_id: Option<CommaList>,
        }
        let c: C = form(&[("VpcId", "vpc-1, vpc-2,")]).decode(&[]).unwrap().request;
        assert_eq!(c.vpc_id.unwrap().0, ["vpc-1", "vpc-2"]);
    }
}
