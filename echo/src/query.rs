//! Queries: a typename, property predicates combined with and/or/not, an order and a limit.
//!
//! A query is plain data; [`Space::query`](crate::Space::query) runs it once and
//! [`Space::subscribe`](crate::Space::subscribe) keeps its result up to date.

use std::cmp::Ordering;

use serde_json::Value;

/// A predicate over an object's properties.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// The property equals the value (numbers compare by value; a missing property never equals).
    Eq(String, Value),
    /// The property does not equal the value (a missing property counts as not equal).
    Neq(String, Value),
    /// The property is less than the value (numbers with numbers, strings with strings).
    Lt(String, Value),
    /// The property is greater than the value.
    Gt(String, Value),
    /// A string property contains the substring, or an array property contains the element.
    Contains(String, Value),
    /// The property equals one of the values.
    In(String, Vec<Value>),
    /// All of these hold.
    And(Vec<Filter>),
    /// At least one of these holds.
    Or(Vec<Filter>),
    /// This does not hold.
    Not(Box<Filter>),
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Ascending,
    /// Largest first.
    Descending,
}

/// A query over one space's objects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// Only objects of this typename (answered from the type index).
    pub typename: Option<String>,
    /// Only objects for which this holds.
    pub filter: Option<Filter>,
    /// Sort by this property (objects without it come last); ties and the default order go by id.
    pub order_by: Option<(String, Direction)>,
    /// At most this many results.
    pub limit: Option<usize>,
    /// Include soft-deleted objects.
    pub include_deleted: bool,
}

impl Query {
    /// All objects (not deleted), in id order.
    pub fn all() -> Self {
        Self::default()
    }

    /// Objects of one typename.
    pub fn typename(t: impl Into<String>) -> Self {
        Self { typename: Some(t.into()), ..Self::default() }
    }

    /// Adds a predicate (and-ed with any already there).
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = Some(match self.filter.take() {
            None => f,
            Some(Filter::And(mut v)) => {
                v.push(f);
                Filter::And(v)
            }
            Some(prev) => Filter::And(vec![prev, f]),
        });
        self
    }

    /// Sorts by a property.
    pub fn order_by(mut self, key: impl Into<String>, dir: Direction) -> Self {
        self.order_by = Some((key.into(), dir));
        self
    }

    /// Caps the number of results.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Includes soft-deleted objects.
    pub fn include_deleted(mut self) -> Self {
        self.include_deleted = true;
        self
    }

    /// The property keys this query reads (filter and order).
    pub fn keys(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            f.collect_keys(&mut out);
        }
        if let Some((k, _)) = &self.order_by {
            out.push(k.as_str());
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Filter {
    fn collect_keys<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::Eq(k, _)
            | Filter::Neq(k, _)
            | Filter::Lt(k, _)
            | Filter::Gt(k, _)
            | Filter::Contains(k, _)
            | Filter::In(k, _) => out.push(k),
            Filter::And(v) | Filter::Or(v) => v.iter().for_each(|f| f.collect_keys(out)),
            Filter::Not(f) => f.collect_keys(out),
        }
    }

    /// Evaluates the predicate; `get` reads one property of the object.
    pub fn matches(&self, get: &mut dyn FnMut(&str) -> Option<Value>) -> bool {
        match self {
            Filter::Eq(k, v) => get(k).is_some_and(|x| json_eq(&x, v)),
            Filter::Neq(k, v) => !get(k).is_some_and(|x| json_eq(&x, v)),
            Filter::Lt(k, v) => get(k).and_then(|x| json_cmp(&x, v)) == Some(Ordering::Less),
            Filter::Gt(k, v) => get(k).and_then(|x| json_cmp(&x, v)) == Some(Ordering::Greater),
            Filter::Contains(k, v) => match (get(k), v) {
                (Some(Value::String(s)), Value::String(sub)) => s.contains(sub.as_str()),
                (Some(Value::Array(items)), v) => items.iter().any(|x| json_eq(x, v)),
                _ => false,
            },
            Filter::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| json_eq(&x, v))),
            Filter::And(fs) => fs.iter().all(|f| f.matches(get)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(get)),
            Filter::Not(f) => !f.matches(get),
        }
    }
}

/// JSON equality where numbers compare by value (3 == 3.0).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Ordering of two comparable JSON values (numbers, strings, bools); `None` when incomparable.
pub fn json_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Total order used to sort results by a property: present values first (numbers, then
/// strings, then bools, then anything else), missing last.
pub fn sort_cmp(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            Some(Value::Number(_)) => 0,
            Some(Value::String(_)) => 1,
            Some(Value::Bool(_)) => 2,
            Some(Value::Null) | None => 4,
            Some(_) => 3,
        }
    }
    match (a, b) {
        (Some(x), Some(y)) => json_cmp(x, y).unwrap_or_else(|| rank(a).cmp(&rank(b))),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(f: &Filter, obj: &Value) -> bool {
        f.matches(&mut |k| obj.get(k).cloned())
    }

    #[test]
    fn predicates() {
        let o = json!({"n": 3, "s": "hello", "a": [1, 2], "b": true});
        assert!(eval(&Filter::Eq("n".into(), json!(3.0)), &o));
        assert!(!eval(&Filter::Eq("missing".into(), json!(null)), &o));
        assert!(eval(&Filter::Neq("missing".into(), json!(1)), &o));
        assert!(eval(&Filter::Lt("n".into(), json!(4)), &o));
        assert!(!eval(&Filter::Lt("s".into(), json!(4)), &o));
        assert!(eval(&Filter::Gt("s".into(), json!("a")), &o));
        assert!(eval(&Filter::Contains("s".into(), json!("ell")), &o));
        assert!(eval(&Filter::Contains("a".into(), json!(2)), &o));
        assert!(eval(&Filter::In("n".into(), vec![json!(1), json!(3)]), &o));
        let f = Filter::And(vec![
            Filter::Eq("b".into(), json!(true)),
            Filter::Not(Box::new(Filter::Eq("n".into(), json!(4)))),
        ]);
        assert!(eval(&f, &o));
        assert!(eval(&Filter::Or(vec![Filter::Eq("n".into(), json!(9)), f]), &o));
    }

    #[test]
    fn missing_sorts_last() {
        let (one, two) = (json!(1), json!("x"));
        let mut v = [None, Some(&two), Some(&one)];
        v.sort_by(|a, b| sort_cmp(*a, *b));
        assert_eq!(v, [Some(&one), Some(&two), None]);
    }
}
