//! Task helpers: the space's task order (fractional index in `order`) for the Tasks and
//! TodoMVC samples and `dxos task`. Tasks without `order` (written by other clients) sort after
//! ordered ones, by id.

use serde_json::{Map, Value};

use crate::error::{EchoError, Result};
use crate::object::{ObjectId, Task, TypedObject};
use crate::order::key_between;
use crate::query::{Direction, Query};
use crate::space::Space;

/// The query for a space's tasks, in task order.
pub fn task_query() -> Query {
    Query::typename(Task::TYPENAME).order_by("order", Direction::Ascending)
}

impl Space {
    /// The space's tasks in task order.
    pub fn tasks(&self) -> Vec<(ObjectId, Task)> {
        self.query_typed::<Task>(task_query())
    }

    /// Adds a task at the end of the task order.
    pub fn add_task(&self, title: &str) -> Result<(ObjectId, Task)> {
        let (mut last, missing) = self.max_string_prop(Task::TYPENAME, "order");
        if missing {
            last = self.order_all(&self.tasks())?;
        }
        let task = Task { title: title.to_owned(), completed: false, order: Some(key_between(last.as_deref(), None)) };
        let id = self.add_typed(&task)?;
        Ok((id, task))
    }

    /// Moves a task to position `to` of the task order (clamped to the end).
    pub fn move_task(&self, id: &str, to: usize) -> Result<()> {
        let tasks = self.tasks();
        if !tasks.iter().any(|(i, _)| &**i == id) {
            return Err(EchoError::ObjectNotFound(id.to_owned()));
        }
        self.order_all(&tasks)?;
        let rest: Vec<(ObjectId, Task)> = self.tasks().into_iter().filter(|(i, _)| &**i != id).collect();
        let to = to.min(rest.len());
        let before = to.checked_sub(1).and_then(|i| rest[i].1.order.clone());
        let after = rest.get(to).and_then(|(_, t)| t.order.clone());
        if let (Some(b), Some(a)) = (&before, &after)
            && b >= a
        {
            // Two tasks share a key (concurrent moves): give every task a fresh key, in order.
            let mut ids: Vec<ObjectId> = rest.iter().map(|(i, _)| i.clone()).collect();
            ids.insert(to, ObjectId::from(id));
            return self.renumber(&ids);
        }
        let key = key_between(before.as_deref(), after.as_deref());
        self.update(id, Map::from_iter([("order".to_owned(), Value::String(key))]))
    }

    /// Gives keys to tasks that have none (they sort last); returns the last key.
    fn order_all(&self, tasks: &[(ObjectId, Task)]) -> Result<Option<String>> {
        let mut last: Option<String> = None;
        for (id, t) in tasks {
            match &t.order {
                Some(o) => last = Some(o.clone()),
                None => {
                    let key = key_between(last.as_deref(), None);
                    self.update(id, Map::from_iter([("order".to_owned(), Value::String(key.clone()))]))?;
                    last = Some(key);
                }
            }
        }
        Ok(last)
    }

    fn renumber(&self, ids: &[ObjectId]) -> Result<()> {
        let mut last: Option<String> = None;
        for id in ids {
            let key = key_between(last.as_deref(), None);
            self.update(id, Map::from_iter([("order".to_owned(), Value::String(key.clone()))]))?;
            last = Some(key);
        }
        Ok(())
    }

    /// Sets a task's completed flag.
    pub fn set_task_completed(&self, id: &str, completed: bool) -> Result<Task> {
        self.get_typed::<Task>(id)?;
        self.update(id, Map::from_iter([("completed".to_owned(), Value::Bool(completed))]))?;
        self.get_typed(id)
    }

    /// Renames a task.
    pub fn rename_task(&self, id: &str, title: &str) -> Result<Task> {
        self.get_typed::<Task>(id)?;
        self.update(id, Map::from_iter([("title".to_owned(), Value::String(title.to_owned()))]))?;
        self.get_typed(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::tests::memory_space;

    fn titles(s: &Space) -> Vec<String> {
        s.tasks().into_iter().map(|(_, t)| t.title).collect()
    }

    #[test]
    fn add_and_reorder() -> Result<()> {
        let s = memory_space();
        let (a, _) = s.add_task("a")?;
        s.add_task("b")?;
        let (c, _) = s.add_task("c")?;
        assert_eq!(titles(&s), ["a", "b", "c"]);
        s.move_task(&c, 0)?;
        assert_eq!(titles(&s), ["c", "a", "b"]);
        s.move_task(&a, 99)?;
        assert_eq!(titles(&s), ["c", "b", "a"]);
        s.move_task(&a, 1)?;
        assert_eq!(titles(&s), ["c", "a", "b"]);
        assert!(matches!(s.move_task("nope", 0), Err(EchoError::ObjectNotFound(_))));
        Ok(())
    }

    #[test]
    fn unordered_tasks_sort_last_and_get_keys_when_needed() -> Result<()> {
        let s = memory_space();
        s.add_task("a")?;
        let x = s.add(Some(Task::TYPENAME), Map::from_iter([("title".to_owned(), Value::from("x"))]))?;
        assert_eq!(titles(&s), ["a", "x"]);
        s.add_task("b")?;
        assert_eq!(titles(&s), ["a", "x", "b"]);
        assert!(s.get_typed::<Task>(&x)?.order.is_some());
        Ok(())
    }

    #[test]
    fn tied_keys_are_renumbered() -> Result<()> {
        let s = memory_space();
        let (a, _) = s.add_task("a")?;
        let (b, _) = s.add_task("b")?;
        let (c, _) = s.add_task("c")?;
        let key = s.get_typed::<Task>(&a)?.order;
        s.update(&b, Map::from_iter([("order".to_owned(), Value::from(key))]))?;
        s.move_task(&c, 1)?;
        let t = titles(&s);
        assert_eq!(t[1], "c", "{t:?}");
        Ok(())
    }
}
