//! Serializes a typed object's top-level fields straight into yrs inputs: a serde serializer
//! that accepts a struct (or map) and hands each field's value to yrs' own `to_any`. Saves
//! building an intermediate map on every write of a typed object. `None` fields are skipped.

use serde::Serialize;
use serde::ser::{self, Impossible};
use yrs::{Any, In};

use crate::value::any_to_in;

/// Why a value could not be written as an object's fields.
#[derive(Debug)]
pub struct FieldsError(String);

impl std::fmt::Display for FieldsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FieldsError {}

impl ser::Error for FieldsError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        FieldsError(msg.to_string())
    }
}

/// The fields of `value` (a struct or a map with string keys) as yrs inputs.
pub fn to_fields<T: Serialize + ?Sized>(value: &T) -> Result<Vec<(String, In)>, FieldsError> {
    value.serialize(Fields)
}

struct Fields;

/// Collects fields.
pub struct Collect {
    out: Vec<(String, In)>,
    key: Option<String>,
}

impl Collect {
    fn push<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), FieldsError> {
        match yrs::encoding::serde::to_any(&Ref(value)).map_err(|e| FieldsError(e.to_string()))? {
            Any::Null | Any::Undefined => {}
            any => self.out.push((key, any_to_in(any))),
        }
        Ok(())
    }
}

/// A sized stand-in for an unsized value, so yrs' `to_any` (which needs `Sized`) takes it.
struct Ref<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Ref<'_, T> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

fn not_an_object<T>() -> Result<T, FieldsError> {
    Err(FieldsError("a typed object must serialize to a struct or a map".into()))
}

macro_rules! refuse {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> { not_an_object() })*
    };
}

impl ser::Serializer for Fields {
    type Ok = Vec<(String, In)>;
    type Error = FieldsError;
    type SerializeSeq = Impossible<Self::Ok, FieldsError>;
    type SerializeTuple = Impossible<Self::Ok, FieldsError>;
    type SerializeTupleStruct = Impossible<Self::Ok, FieldsError>;
    type SerializeTupleVariant = Impossible<Self::Ok, FieldsError>;
    type SerializeMap = Collect;
    type SerializeStruct = Collect;
    type SerializeStructVariant = Impossible<Self::Ok, FieldsError>;

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Self::Error> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Self::Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Self::Error> {
        not_an_object()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        not_an_object()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
        not_an_object()
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Self::Error> {
        not_an_object()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        not_an_object()
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Ok(Collect { out: Vec::with_capacity(len.unwrap_or(4) + 1), key: None })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Self::SerializeStruct, Self::Error> {
        Ok(Collect { out: Vec::with_capacity(len + 1), key: None })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        not_an_object()
    }
}

impl ser::SerializeStruct for Collect {
    type Ok = Vec<(String, In)>;
    type Error = FieldsError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), FieldsError> {
        self.push(key.to_owned(), value)
    }
    fn end(self) -> Result<Self::Ok, FieldsError> {
        Ok(self.out)
    }
}

impl ser::SerializeMap for Collect {
    type Ok = Vec<(String, In)>;
    type Error = FieldsError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), FieldsError> {
        match yrs::encoding::serde::to_any(&Ref(key)).map_err(|e| FieldsError(e.to_string()))? {
            Any::String(s) => {
                self.key = Some(s.to_string());
                Ok(())
            }
            _ => Err(FieldsError("map keys must be strings".into())),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), FieldsError> {
        let key = self.key.take().ok_or_else(|| FieldsError("a map value without a key".into()))?;
        self.push(key, value)
    }
    fn end(self) -> Result<Self::Ok, FieldsError> {
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct S {
        a: String,
        b: Option<u8>,
        c: Option<u8>,
        nested: BTreeMap<String, i32>,
    }

    #[test]
    fn structs_and_maps_become_fields() {
        let s = S { a: "x".into(), b: None, c: Some(2), nested: BTreeMap::from([("k".into(), 1)]) };
        let fields = to_fields(&s).unwrap_or_default();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "c", "nested"]);
        assert!(matches!(fields[2].1, In::Map(_)), "nested maps become shared maps");
        assert_eq!(to_fields(&BTreeMap::from([("m", 1)])).map(|f| f.len()).unwrap_or(0), 1);
        assert!(to_fields(&5u8).is_err());
        assert!(to_fields(&vec![1]).is_err());
    }
}
