//! Conversions between JSON values (the public value model) and yrs values.
//!
//! JSON objects become nested `Y.Map`s and arrays `Y.Array`s, so their parts merge; a reference
//! `{"/": id}` is stored whole (an atomic value). Collaborative text (`Y.Text`) reads as a string.
//! Integers are stored as Yjs integers and other numbers as floats, as Yjs in JavaScript does.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use yrs::any::Number as YNumber;
use yrs::types::ToJson;
use yrs::{Any, ArrayPrelim, ArrayRef, GetString, In, MapPrelim, MapRef, Out, ReadTxn};
use yrs::{Array, Map as _};

use crate::object::as_reference;

const MAX_SAFE_INT: i64 = (1 << 53) - 1;

/// A JSON number as a yrs value: a JS number where exact, else a big integer.
fn number_any(n: &Number) -> Any {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => Any::Number(YNumber::Int(i)),
        (None, Some(u)) => Any::Number(YNumber::Float(u as f64)),
        _ => Any::Number(YNumber::Float(n.as_f64().unwrap_or(0.0))),
    }
}

/// A JSON value as an atomic yrs value (no nested shared types).
pub fn json_to_any(v: &Value) -> Any {
    match v {
        Value::Null => Any::Null,
        Value::Bool(b) => Any::Bool(*b),
        Value::Number(n) => number_any(n),
        Value::String(s) => Any::String(Arc::from(s.as_str())),
        Value::Array(a) => Any::Array(a.iter().map(json_to_any).collect::<Vec<_>>().into()),
        Value::Object(m) => {
            let map: HashMap<String, Any> = m.iter().map(|(k, v)| (k.clone(), json_to_any(v))).collect();
            Any::Map(Arc::new(map))
        }
    }
}

/// A JSON value as a yrs input: objects and arrays become shared types, references stay whole.
pub fn json_to_in(v: &Value) -> In {
    match v {
        Value::Array(a) => In::Array(ArrayPrelim::from_iter(a.iter().map(json_to_in))),
        Value::Object(m) if as_reference(v).is_none() => {
            In::Map(MapPrelim::from_iter(m.iter().map(|(k, v)| (k.as_str(), json_to_in(v)))))
        }
        other => In::Any(json_to_any(other)),
    }
}

/// An atomic yrs value as a yrs input with the same layout [`json_to_in`] gives: maps and
/// arrays become shared types, references stay whole.
pub fn any_to_in(a: Any) -> In {
    match a {
        Any::Array(items) => In::Array(ArrayPrelim::from_iter(items.iter().cloned().map(any_to_in))),
        Any::Map(m) if !(m.len() == 1 && matches!(m.get("/"), Some(Any::String(_)))) => {
            In::Map(MapPrelim::from_iter(m.iter().map(|(k, v)| (k.as_str(), any_to_in(v.clone())))))
        }
        other => In::Any(other),
    }
}

/// A yrs atomic value as JSON.
pub fn any_to_json(a: &Any) -> Value {
    match a {
        Any::Null | Any::Undefined => Value::Null,
        Any::Bool(b) => Value::Bool(*b),
        Any::Number(YNumber::Int(i)) => Value::Number(Number::from(*i)),
        Any::Number(YNumber::Float(f)) => {
            if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INT as f64 {
                Value::Number(Number::from(*f as i64))
            } else {
                Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null)
            }
        }
        Any::String(s) => Value::String(s.to_string()),
        Any::Buffer(b) => Value::Array(b.iter().map(|x| Value::Number(Number::from(*x))).collect()),
        Any::Array(items) => Value::Array(items.iter().map(any_to_json).collect()),
        Any::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), any_to_json(v))).collect()),
    }
}

/// Any yrs output value as JSON (text as its string, nested types recursively).
pub fn out_to_json<T: ReadTxn>(txn: &T, out: &Out) -> Value {
    match out {
        Out::Any(a) => any_to_json(a),
        Out::YText(t) => Value::String(t.get_string(txn)),
        Out::YMap(m) => Value::Object(map_to_json(txn, m)),
        Out::YArray(a) => array_to_json(txn, a),
        Out::YXmlText(t) => Value::String(t.get_string(txn)),
        Out::YXmlElement(x) => Value::String(x.get_string(txn)),
        Out::YXmlFragment(x) => Value::String(x.get_string(txn)),
        other => any_to_json(&other.to_json(txn)),
    }
}

/// A `Y.Map` as a JSON object.
pub fn map_to_json<T: ReadTxn>(txn: &T, m: &MapRef) -> Map<String, Value> {
    m.iter(txn).map(|(k, v)| (k.to_owned(), out_to_json(txn, &v))).collect()
}

fn array_to_json<T: ReadTxn>(txn: &T, a: &ArrayRef) -> Value {
    Value::Array(a.iter(txn).map(|v| out_to_json(txn, &v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use yrs::{Doc, Transact};

    #[test]
    fn json_round_trips_through_yrs() {
        let doc = Doc::new();
        let root = doc.get_or_insert_map("r");
        let v = json!({"s": "x", "n": 3, "f": 1.5, "b": true, "z": null, "big": 9007199254740993i64,
                        "arr": [1, "two", {"k": [3]}], "nested": {"a": {"b": "c"}}, "ref": {"/": "01ABC"}});
        let mut txn = doc.transact_mut();
        for (k, v) in v.as_object().into_iter().flatten() {
            root.insert(&mut txn, k.as_str(), json_to_in(v));
        }
        drop(txn);
        let txn = doc.transact();
        assert_eq!(Value::Object(map_to_json(&txn, &root)), v);
        // References are stored whole, nested maps as shared maps.
        assert!(matches!(root.get(&txn, "ref"), Some(Out::Any(Any::Map(_)))));
        assert!(matches!(root.get(&txn, "nested"), Some(Out::YMap(_))));
    }
}
