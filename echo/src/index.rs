//! The in-memory object index of one space: id -> (typename, deleted), and ids by typename.
//!
//! Kept up to date incrementally from yrs events (see `space.rs`), so a query by type and a
//! subscription update cost what changed, not the size of the space. Never reads the document.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use crate::object::ObjectId;

/// What the index knows of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Index into the typename table, or `UNTYPED`.
    pub ty: u32,
    /// Soft-deleted.
    pub deleted: bool,
}

const UNTYPED: u32 = u32::MAX;

/// Object ids by typename, with each object's deleted flag.
pub(crate) struct Index {
    objects: HashMap<ObjectId, Meta>,
    types: Vec<Arc<str>>,
    type_ids: HashMap<Arc<str>, u32>,
    /// Per typename: its objects and whether each is deleted, so a query by type walks one
    /// bucket without a lookup per object.
    by_type: Vec<HashMap<ObjectId, bool>>,
    untyped: HashMap<ObjectId, bool>,
    live: usize,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            objects: HashMap::new(),
            types: Vec::new(),
            type_ids: HashMap::new(),
            by_type: Vec::new(),
            untyped: HashMap::new(),
            live: 0,
        }
    }
}

impl Index {
    fn type_id(&mut self, typename: Option<&str>) -> u32 {
        let Some(t) = typename else { return UNTYPED };
        if let Some(&i) = self.type_ids.get(t) {
            return i;
        }
        let i = self.types.len() as u32;
        let t: Arc<str> = Arc::from(t);
        self.types.push(t.clone());
        self.type_ids.insert(t, i);
        self.by_type.push(HashMap::new());
        i
    }

    fn bucket(&mut self, ty: u32) -> &mut HashMap<ObjectId, bool> {
        match self.by_type.get_mut(ty as usize) {
            Some(b) => b,
            None => &mut self.untyped,
        }
    }

    /// Records an object's current state (`None`: it no longer exists). Returns the previous.
    pub fn set(&mut self, id: &ObjectId, now: Option<(Option<&str>, bool)>) -> Option<Meta> {
        let new = now.map(|(t, deleted)| Meta { ty: self.type_id(t), deleted });
        let old = match new {
            Some(m) => self.objects.insert(id.clone(), m),
            None => self.objects.remove(id),
        };
        if old == new {
            return old;
        }
        if let Some(o) = old {
            if new.map(|n| n.ty) != Some(o.ty) {
                self.bucket(o.ty).remove(id);
            }
            if !o.deleted {
                self.live -= 1;
            }
        }
        if let Some(n) = new {
            if old.map(|o| o.ty) != Some(n.ty) {
                self.bucket(n.ty).insert(id.clone(), n.deleted);
            } else if let Some(flag) = self.bucket(n.ty).get_mut(id) {
                *flag = n.deleted;
            }
            if !n.deleted {
                self.live += 1;
            }
        }
        old
    }

    /// Marks an existing object deleted or not (its type is kept).
    pub fn set_deleted(&mut self, id: &ObjectId, deleted: bool) {
        if let Some(m) = self.objects.get_mut(id)
            && m.deleted != deleted
        {
            m.deleted = deleted;
            let ty = m.ty;
            if let Some(flag) = self.bucket(ty).get_mut(id) {
                *flag = deleted;
            }
            if deleted {
                self.live -= 1;
            } else {
                self.live += 1;
            }
        }
    }

    /// What the index knows of `id`.
    pub fn get(&self, id: &str) -> Option<Meta> {
        self.objects.get(id).copied()
    }

    /// The shared id for `id`, if the object exists.
    pub fn key(&self, id: &str) -> Option<&ObjectId> {
        self.objects.get_key_value(id).map(|(k, _)| k)
    }

    /// The typename of an indexed object.
    pub fn typename(&self, m: Meta) -> Option<&str> {
        self.types.get(m.ty as usize).map(|t| &**t)
    }

    /// Does `m` have typename `t`?
    pub fn is_type(&self, m: Meta, t: Option<&str>) -> bool {
        match t {
            None => true,
            Some(t) => self.type_ids.get(t) == Some(&m.ty),
        }
    }

    /// The ids that may match a query for `typename` (all objects when `None`).
    pub fn candidates(&self, typename: Option<&str>) -> Box<dyn Iterator<Item = &ObjectId> + '_> {
        match typename {
            None => Box::new(self.objects.keys()),
            Some(t) => match self.type_ids.get(t) {
                Some(&i) => Box::new(self.by_type[i as usize].keys()),
                None => Box::new(std::iter::empty()),
            },
        }
    }

    /// The ids of objects of `typename` (all objects when `None`), without the deleted ones
    /// unless `include_deleted`. Resolves the typename once, and reads no per-object entry.
    pub fn select(&self, typename: Option<&str>, include_deleted: bool) -> Box<dyn Iterator<Item = &ObjectId> + '_> {
        match typename {
            None => Box::new(self.objects.iter().filter(move |(_, m)| include_deleted || !m.deleted).map(|(id, _)| id)),
            Some(t) => match self.type_ids.get(t) {
                Some(&i) => Box::new(
                    self.by_type[i as usize].iter().filter(move |(_, d)| include_deleted || !**d).map(|(id, _)| id),
                ),
                None => Box::new(std::iter::empty()),
            },
        }
    }

    /// Number of objects not deleted.
    pub fn live(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_types_and_deletes() {
        let mut ix = Index::default();
        let a: ObjectId = Arc::from("a");
        let b: ObjectId = Arc::from("b");
        ix.set(&a, Some((Some("T"), false)));
        ix.set(&b, Some((None, false)));
        assert_eq!(ix.candidates(Some("T")).count(), 1);
        assert_eq!(ix.live(), 2);
        ix.set(&a, Some((Some("T"), true)));
        assert_eq!(ix.live(), 1);
        ix.set(&a, Some((Some("U"), true)));
        assert_eq!(ix.candidates(Some("T")).count(), 0);
        assert_eq!(ix.candidates(Some("U")).count(), 1);
        ix.set(&b, None);
        assert_eq!(ix.live(), 0);
        assert_eq!(ix.candidates(None).count(), 1);
    }

    #[test]
    fn select_follows_deletes_and_type_changes() {
        let mut ix = Index::default();
        let ids: Vec<ObjectId> = ["a", "b", "c"].into_iter().map(Arc::from).collect();
        for id in &ids {
            ix.set(id, Some((Some("T"), false)));
        }
        let sel = |ix: &Index, t: Option<&str>, all: bool| {
            let mut v: Vec<String> = ix.select(t, all).map(|id| id.to_string()).collect();
            v.sort();
            v
        };
        ix.set_deleted(&ids[0], true);
        assert_eq!(sel(&ix, Some("T"), false), ["b", "c"]);
        assert_eq!(sel(&ix, Some("T"), true), ["a", "b", "c"]);
        ix.set(&ids[1], Some((Some("T"), true)));
        assert_eq!(sel(&ix, Some("T"), false), ["c"]);
        ix.set(&ids[0], Some((Some("T"), false)));
        assert_eq!(sel(&ix, Some("T"), false), ["a", "c"]);
        ix.set(&ids[2], Some((Some("U"), true)));
        assert_eq!(sel(&ix, Some("U"), false), Vec::<String>::new());
        assert_eq!(sel(&ix, Some("U"), true), ["c"]);
        ix.set_deleted(&ids[2], false);
        assert_eq!(sel(&ix, Some("U"), false), ["c"]);
        assert_eq!(sel(&ix, None, false), ["a", "c"]);
        assert_eq!(sel(&ix, Some("V"), true), Vec::<String>::new());
    }
}
