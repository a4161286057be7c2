//! Documents (`dxos.org/type/Document`): a name and collaborative text (`content`, a
//! `Y.Text`), written together in Composer. See `LAYOUT.md` for the layout other Yjs clients
//! read and write.

use std::sync::Arc;

use yrs::{Any, In, TextPrelim};

use crate::error::Result;
use crate::object::ObjectId;
use crate::space::Space;

/// The typename of documents.
pub const DOCUMENT_TYPE: &str = "dxos.org/type/Document";
/// The property holding a document's name (a string).
pub const DOCUMENT_NAME: &str = "name";
/// The property holding a document's text (a `Y.Text`).
pub const DOCUMENT_CONTENT: &str = "content";

/// What a list of documents shows of one: no content (that is read by an editor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// The document's object id.
    pub id: ObjectId,
    /// Its name; empty when it has none.
    pub name: String,
    /// True when soft-deleted (restorable).
    pub deleted: bool,
}

impl Space {
    /// Adds a document named `name` whose text is `content`; returns its id.
    pub fn add_document(&self, name: &str, content: &str) -> Result<ObjectId> {
        self.add_raw(
            Some(DOCUMENT_TYPE),
            vec![
                (DOCUMENT_NAME.to_owned(), In::Any(Any::String(Arc::from(name)))),
                (DOCUMENT_CONTENT.to_owned(), In::from(TextPrelim::new(content))),
            ],
        )
    }

    /// The space's documents (soft-deleted ones too when `include_deleted`), in id order
    /// (creation order for ours). Reads names only, never the text.
    pub fn documents(&self, include_deleted: bool) -> Vec<DocumentInfo> {
        self.string_prop_of_type(DOCUMENT_TYPE, DOCUMENT_NAME, include_deleted)
            .into_iter()
            .map(|(id, name, deleted)| DocumentInfo { id, name: name.unwrap_or_default(), deleted })
            .collect()
    }

    /// Renames a document (any object with a `name`, in fact).
    pub fn rename_document(&self, id: &str, name: &str) -> Result<()> {
        self.update(id, serde_json::Map::from_iter([(DOCUMENT_NAME.to_owned(), serde_json::Value::from(name))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::tests::memory_space;

    #[test]
    fn documents_are_listed_by_name_and_keep_their_text() {
        let s = memory_space();
        let a = s.add_document("Notes", "# Hello").unwrap_or_else(|e| panic!("{e}"));
        let b = s.add_document("Plan", "").unwrap_or_else(|e| panic!("{e}"));
        s.add_task("not a document").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.text(&a, DOCUMENT_CONTENT).unwrap_or_default(), "# Hello");
        s.delete(&b).unwrap_or_else(|e| panic!("{e}"));
        let live: Vec<String> = s.documents(false).into_iter().map(|d| d.name).collect();
        assert_eq!(live, ["Notes"]);
        let all = s.documents(true);
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|d| d.id == b && d.deleted));
        s.rename_document(&a, "Renamed").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.documents(false)[0].name, "Renamed");
    }
}
