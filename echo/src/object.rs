//! Object ids, the object read model, and typed objects (a serde struct with a typename).

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::error::{EchoError, Result};

/// An object id: an opaque string. Ours are ULIDs; ids written by other Yjs clients are kept as is.
pub type ObjectId = Arc<str>;

/// Reserved property: the object's typename.
pub const TYPE_KEY: &str = "@type";
/// Reserved property: true when the object is soft-deleted.
pub const DELETED_KEY: &str = "@deleted";
/// Reserved property: free metadata.
pub const META_KEY: &str = "@meta";

/// A fresh object id: a ULID, increasing within this process, so ids sort by creation time.
pub fn new_object_id() -> ObjectId {
    static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut g = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let id = g.generate().unwrap_or_else(|_| ulid::Ulid::generate());
    Arc::from(id.to_string())
}

/// A plain snapshot of one object, as queries and `get` return it.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object's id.
    pub id: ObjectId,
    /// Its typename (`@type`), if it has one.
    pub typename: Option<String>,
    /// True when soft-deleted.
    pub deleted: bool,
    /// Its properties, without the reserved `@` keys. Collaborative text reads as a string.
    pub data: Map<String, Value>,
}

impl Object {
    /// Reads the object as a typed struct (missing optional fields take their defaults).
    pub fn to_typed<T: TypedObject>(&self) -> Result<T> {
        if self.typename.as_deref() != Some(T::TYPENAME) {
            return Err(EchoError::WrongType {
                id: self.id.to_string(),
                expected: T::TYPENAME.to_owned(),
                actual: self.typename.clone().unwrap_or_else(|| "untyped".into()),
            });
        }
        serde_json::from_value(Value::Object(self.data.clone()))
            .map_err(|e| EchoError::InvalidValue(format!("object {} as {}: {e}", self.id, T::TYPENAME)))
    }
}

/// A Rust type stored as ECHO objects of one typename.
pub trait TypedObject: Serialize + DeserializeOwned {
    /// The typename written to `@type`, e.g. `dxos.org/type/Task`.
    const TYPENAME: &'static str;

    /// The struct's fields as yrs inputs, serialized straight to yrs values (no JSON detour).
    fn to_fields(&self) -> Result<Vec<(String, yrs::In)>> {
        crate::fields::to_fields(self).map_err(|e| EchoError::InvalidValue(format!("{}: {e}", Self::TYPENAME)))
    }

    /// The struct as a property map (for writing).
    fn to_data(&self) -> Result<Map<String, Value>> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(EchoError::InvalidValue(format!("{} serialized to {other}, not a map", Self::TYPENAME))),
            Err(e) => Err(EchoError::InvalidValue(e.to_string())),
        }
    }
}

/// A task (`dxos.org/type/Task`), as the Tasks and TodoMVC samples use it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Task {
    /// What is to be done.
    #[serde(default)]
    pub title: String,
    /// Whether it is done.
    #[serde(default)]
    pub completed: bool,
    /// Fractional-index position in the space's task order (see [`crate::order`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

impl TypedObject for Task {
    const TYPENAME: &'static str = "dxos.org/type/Task";
}

/// Is this value a reference to another object (`{"/": "<id>"}`)? Returns the id.
pub fn as_reference(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("/").and_then(Value::as_str),
        _ => None,
    }
}

/// A reference value to the object `id`.
pub fn reference(id: &str) -> Value {
    let mut m = Map::new();
    m.insert("/".into(), Value::String(id.to_owned()));
    Value::Object(m)
}
