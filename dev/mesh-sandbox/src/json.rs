//! Case-insensitive reading of request JSON, the way Mesh's ASP.NET binder reads it.
//!
//! Mesh matches request property names case-insensitively at every nesting level (its own samples send
//! `"UserId"`), tolerates unknown properties, and lets the last of two same-named properties win. We parse
//! into a [`serde_json::Value`], lower-case every object key, and read fields through [`Obj`], whose
//! errors name the field in its documented camelCase spelling.

use serde_json::{Map, Value};

/// Why a field could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FieldError {
    #[error("{0} is required")]
    Missing(String),
    #[error("{field} {reason}")]
    Invalid { field: String, reason: String },
}

impl FieldError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError::Invalid { field: field.into(), reason: reason.into() }
    }

    pub fn field(&self) -> &str {
        match self {
            FieldError::Missing(f) => f,
            FieldError::Invalid { field, .. } => field,
        }
    }
}

/// Why a body is not a JSON object.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("a non-empty request body is required")]
    Empty,
    #[error("the request body is not valid JSON: {0}")]
    Syntax(String),
    #[error("the request body must be a JSON object")]
    NotAnObject,
}

/// Parses a body into a JSON object with lower-cased keys (at every level). An empty body is an error.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    let Folded(value) = serde_json::from_slice(body).map_err(|e| BodyError::Syntax(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(BodyError::NotAnObject),
    }
}

/// A JSON value read with lower-cased object keys, in document order, so that of two keys equal up to
/// case the later one wins (as in Mesh's binder).
struct Folded(Value);

impl<'de> serde::Deserialize<'de> for Folded {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FoldVisitor)
    }
}

struct FoldVisitor;

impl<'de> serde::de::Visitor<'de> for FoldVisitor {
    type Value = Folded;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Folded, E> {
        Ok(Folded(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Folded, E> {
        Ok(Folded(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Folded, E> {
        Ok(Folded(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Folded, E> {
        Ok(Folded(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Folded, E> {
        Ok(Folded(Value::String(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Folded, E> {
        Ok(Folded(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Folded, E> {
        Ok(Folded(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Folded, E> {
        Ok(Folded(Value::Null))
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Folded, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Folded, A::Error> {
        let mut items = Vec::new();
        while let Some(Folded(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Folded(Value::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Folded, A::Error> {
        let mut out = Map::new();
        while let Some((key, Folded(value))) = map.next_entry::<String, Folded>()? {
            out.insert(key.to_lowercase(), value);
        }
        Ok(Folded(Value::Object(out)))
    }
}

/// Like [`parse_object`] but an empty body reads as `{}` (for the sandbox's own control API).
pub fn parse_object_or_empty(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    match parse_object(body) {
        Err(BodyError::Empty) => Ok(Map::new()),
        other => other,
    }
}

/// Lower-cases every object key of an already-parsed value, recursively.
pub fn lowercase_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.to_lowercase(), lowercase_keys(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(lowercase_keys).collect()),
        other => other,
    }
}

/// A borrowed JSON object whose keys are already lower-cased, read by camelCase field names.
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    /// Dotted path of this object for error messages ("" at the top level).
    prefix: &'a str,
}

impl<'a> Obj<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Obj { map, prefix: "" }
    }

    pub fn with_prefix(map: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Obj { map, prefix }
    }

    /// The path used in messages for `name` inside this object.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}.{}", self.prefix, name) }
    }

    /// The raw value, `None` when absent or `null`.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(&name.to_lowercase()) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// Whether the key is present at all (even as `null`).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(&name.to_lowercase())
    }

    pub fn str(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(FieldError::invalid(self.path(name), "must be a string")),
        }
    }

    pub fn f64(&self, name: &str) -> Result<Option<f64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(FieldError::invalid(self.path(name), "must be a finite number")),
            },
            Some(_) => Err(FieldError::invalid(self.path(name), "must be a number")),
        }
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => Err(FieldError::invalid(self.path(name), "must be an integer")),
            },
            Some(_) => Err(FieldError::invalid(self.path(name), "must be an integer")),
        }
    }

    /// A non-negative integer that fits in `u64`.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(i) => Ok(Some(i)),
                None => Err(FieldError::invalid(self.path(name), "must be a non-negative integer")),
            },
            Some(_) => Err(FieldError::invalid(self.path(name), "must be a non-negative integer")),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(FieldError::invalid(self.path(name), "must be true or false")),
        }
    }

    pub fn obj(&self, name: &str) -> Result<Option<&'a Map<String, Value>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(FieldError::invalid(self.path(name), "must be an object")),
        }
    }

    pub fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(FieldError::invalid(self.path(name), "must be an array")),
        }
    }

    /// A UUID in any of the textual forms `uuid` accepts (hyphenated, simple, braced, urn).
    pub fn uuid(&self, name: &str) -> Result<Option<uuid::Uuid>, FieldError> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) => uuid::Uuid::parse_str(s.trim())
                .map(Some)
                .map_err(|_| FieldError::invalid(self.path(name), "must be a UUID")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_fold_at_every_level_and_last_wins() {
        let v = lowercase_keys(json!({"UserId": "a", "TRANSFEROPTIONS": {"ToAddresses": [{"NetworkId": "x"}]}}));
        assert_eq!(v, json!({"userid": "a", "transferoptions": {"toaddresses": [{"networkid": "x"}]}}));
        let map = parse_object(br#"{"userId":"first","USERID":"second"}"#).expect("object");
        assert_eq!(Obj::new(&map).str("userId"), Ok(Some("second")));
        let map = parse_object(br#"{"USERID":"first","userId":"second","A":{"B":[{"C":1}]}}"#).expect("object");
        assert_eq!(Obj::new(&map).str("userId"), Ok(Some("second")));
        assert_eq!(map.get("a"), Some(&json!({"b": [{"c": 1}]})));
    }

    #[test]
    fn body_errors() {
        assert!(matches!(parse_object(b""), Err(BodyError::Empty)));
        assert!(matches!(parse_object(b"  \n"), Err(BodyError::Empty)));
        assert!(matches!(parse_object(b"{"), Err(BodyError::Syntax(_))));
        assert!(matches!(parse_object(b"[1]"), Err(BodyError::NotAnObject)));
        assert!(parse_object_or_empty(b"").expect("empty is ok").is_empty());
    }

    #[test]
    fn typed_reads() {
        let map = parse_object(br#"{"a":"s","n":1.5,"i":-3,"b":true,"o":{"X":1},"l":[1],"z":null,"u":"e3c7fdd8-b1fc-4e51-85ae-bb276e075611"}"#)
            .expect("object");
        let o = Obj::new(&map);
        assert_eq!(o.str("A"), Ok(Some("s")));
        assert_eq!(o.f64("n"), Ok(Some(1.5)));
        assert_eq!(o.i64("i"), Ok(Some(-3)));
        assert!(o.u64("i").is_err());
        assert_eq!(o.bool("b"), Ok(Some(true)));
        assert!(o.obj("o").expect("obj").is_some());
        assert!(o.array("l").expect("arr").is_some());
        assert_eq!(o.str("z"), Ok(None));
        assert!(o.has("z"));
        assert!(o.uuid("u").expect("uuid").is_some());
        assert_eq!(o.str("n"), Err(FieldError::invalid("n", "must be a string")));
        assert!(o.uuid("a").is_err());
        let inner = o.obj("o").expect("obj").expect("present");
        let nested = Obj::with_prefix(inner, "o");
        assert_eq!(nested.path("x"), "o.x");
    }
}
