//! Reading a space: where reads come from (the document, or the materialized objects while it
//! loads), objects and properties read out of yrs, query matching and ordering.

use super::*;

pub(super) fn object_map<T: ReadTxn>(txn: &T, objects: &MapRef, id: &str) -> Option<MapRef> {
    match objects.get(txn, id) {
        Some(Out::YMap(m)) => Some(m),
        _ => None,
    }
}

/// An object's typename and deleted flag, if it exists as a map.
pub(super) fn read_meta<T: ReadTxn>(txn: &T, objects: &MapRef, id: &str) -> Option<(Option<String>, bool)> {
    let m = object_map(txn, objects, id)?;
    let typename = match m.get(txn, TYPE_KEY) {
        Some(Out::Any(Any::String(s))) => Some(s.to_string()),
        _ => None,
    };
    let deleted = matches!(m.get(txn, DELETED_KEY), Some(Out::Any(Any::Bool(true))));
    Some((typename, deleted))
}

pub(super) fn read_prop<T: ReadTxn>(txn: &T, map: &MapRef, key: &str) -> Option<Value> {
    map.get(txn, key).map(|v| out_to_json(txn, &v))
}

pub(super) fn read_object<T: ReadTxn>(txn: &T, objects: &MapRef, id: &ObjectId) -> Option<Object> {
    let m = object_map(txn, objects, id)?;
    let mut data = map_to_json(txn, &m);
    let typename = match data.remove(TYPE_KEY) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let deleted = matches!(data.remove(DELETED_KEY), Some(Value::Bool(true)));
    data.retain(|k, _| !k.starts_with('@'));
    Some(Object { id: id.clone(), typename, deleted, data })
}

/// Objects as stored materialized (typename and deleted flag live in the index), answering
/// reads while the document loads.
pub(crate) type Preview = foldhash::HashMap<ObjectId, Map<String, Value>>;

/// Where reads come from: the document, or, while it loads, the materialized objects.
pub(crate) enum Reader<'a> {
    /// The loaded document.
    Doc(yrs::Transaction<'a>, &'a MapRef),
    /// The stored materialized objects.
    Preview(&'a Preview),
}

impl Reader<'_> {
    pub(super) fn prop(&self, id: &str, key: &str) -> Option<Value> {
        match self {
            Reader::Doc(txn, objects) => object_map(txn, objects, id).and_then(|m| read_prop(txn, &m, key)),
            Reader::Preview(p) => p.get(id).and_then(|m| m.get(key).cloned()),
        }
    }

    pub(super) fn object(&self, index: &Index, id: &ObjectId) -> Option<Object> {
        match self {
            Reader::Doc(txn, objects) => read_object(txn, objects, id),
            Reader::Preview(p) => {
                let meta = index.get(id)?;
                let data = p.get(id)?.clone();
                let typename = index.typename(meta).map(str::to_owned);
                Some(Object { id: id.clone(), typename, deleted: meta.deleted, data })
            }
        }
    }
}

impl State {
    pub(super) fn reader(&self) -> Reader<'_> {
        match &self.preview {
            Some(p) => Reader::Preview(p),
            None => Reader::Doc(self.doc.transact(), &self.objects),
        }
    }
}

/// Does object `id` match query `q` now?
pub(crate) fn query_matches(q: &Query, index: &Index, reader: &Reader, id: &str) -> bool {
    let Some(meta) = index.get(id) else {
        return false;
    };
    if (meta.deleted && !q.include_deleted) || !index.is_type(meta, q.typename.as_deref()) {
        return false;
    }
    match &q.filter {
        None => true,
        Some(f) => f.matches(&mut |k| reader.prop(id, k)),
    }
}

/// Puts ids in the query's order, then applies its limit (selecting the first `limit` before
/// sorting them, so a page of a large result costs linear time).
pub(super) fn sort_and_limit(reader: &Reader, q: &Query, ids: &mut Vec<ObjectId>) {
    match &q.order_by {
        None => {
            if let Some(n) = q.limit.filter(|&n| n < ids.len()) {
                ids.select_nth_unstable(n);
                ids.truncate(n);
            }
            ids.sort_unstable();
        }
        Some((key, dir)) => {
            let mut keyed: Vec<(Option<Value>, ObjectId)> =
                ids.drain(..).map(|id| (reader.prop(&id, key), id)).collect();
            let cmp = |a: &(Option<Value>, ObjectId), b: &(Option<Value>, ObjectId)| {
                let by_value = match (dir, a.0.is_some(), b.0.is_some()) {
                    (Direction::Descending, true, true) => sort_cmp(b.0.as_ref(), a.0.as_ref()),
                    _ => sort_cmp(a.0.as_ref(), b.0.as_ref()),
                };
                by_value.then_with(|| a.1.cmp(&b.1))
            };
            if let Some(n) = q.limit.filter(|&n| n < keyed.len()) {
                keyed.select_nth_unstable_by(n, cmp);
                keyed.truncate(n);
            }
            keyed.sort_by(cmp);
            ids.extend(keyed.into_iter().map(|(_, id)| id));
        }
    }
    if let Some(n) = q.limit {
        ids.truncate(n);
    }
}
