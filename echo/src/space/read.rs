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

/// The ids of every object matching query `q` now, unordered. Walks only the objects of the
/// query's type, with no per-object index lookup; reads the document only for a filter.
pub(super) fn query_results<'a>(
    q: &'a Query,
    index: &'a Index,
    reader: &'a Reader,
) -> impl Iterator<Item = &'a ObjectId> + 'a {
    index.select(q.typename.as_deref(), q.include_deleted).filter(move |id| match &q.filter {
        None => true,
        Some(f) => f.matches(&mut |k| reader.prop(id, k)),
    })
}

/// Sorts ids as strings. Compares a cached 32-byte prefix first, so most comparisons of a
/// large result touch neither the ids' allocations nor `memcmp`; equal prefixes fall back to
/// the whole id.
pub(super) fn sort_ids(ids: &mut Vec<ObjectId>) {
    if ids.len() < 64 {
        ids.sort_unstable();
        return;
    }
    // Zero-padded big-endian prefix: ordered as the strings are, except that ties (one id a
    // prefix of another, or equal first 32 bytes) need the whole ids.
    let key = |id: &str| {
        let b = id.as_bytes();
        let (mut hi, mut lo) = ([0u8; 16], [0u8; 16]);
        let n = b.len().min(16);
        hi[..n].copy_from_slice(&b[..n]);
        if let Some(rest) = b.get(16..) {
            let m = rest.len().min(16);
            lo[..m].copy_from_slice(&rest[..m]);
        }
        (u128::from_be_bytes(hi), u128::from_be_bytes(lo))
    };
    let mut keyed: Vec<((u128, u128), ObjectId)> = ids.drain(..).map(|id| (key(&id), id)).collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    ids.extend(keyed.into_iter().map(|(_, id)| id));
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
            sort_ids(ids);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_ids_orders_as_strings() {
        // Ids sharing long prefixes, ids that are prefixes of others, NUL bytes, non-ASCII,
        // ids longer than the cached prefix that differ only past it.
        let long = "0".repeat(40);
        let mut raw: Vec<String> = vec![
            String::new(),
            "a".into(),
            "a\0".into(),
            "a\0\0".into(),
            "ab".into(),
            "é".into(),
            format!("{long}b"),
            format!("{long}a"),
            long.clone(),
            long[..32].to_owned(),
            long[..16].to_owned(),
            format!("{}x", &long[..16]),
        ];
        let mut seed = 7u64;
        for _ in 0..500 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (seed >> 59) as usize + 14;
            let s: String =
                (0..len).map(|i| if i < 12 { '0' } else { (b'0' + ((seed >> (i % 60)) & 3) as u8) as char }).collect();
            raw.push(s);
        }
        let mut ids: Vec<ObjectId> = raw.iter().map(|s| Arc::from(s.as_str())).collect();
        raw.sort();
        sort_ids(&mut ids);
        let got: Vec<&str> = ids.iter().map(|s| &**s).collect();
        assert_eq!(got, raw);
    }
}
