//! A small walker over a JSON object that collects every problem (missing key,
//! wrong type, unknown key) with its path, so a bad config is reported whole.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;

#[derive(Default)]
pub(crate) struct Problems(RefCell<Vec<String>>);

impl Problems {
    pub fn push(&self, problem: impl Into<String>) {
        self.0.borrow_mut().push(problem.into());
    }
    pub fn into_vec(self) -> Vec<String> {
        self.0.into_inner()
    }
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

pub(crate) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    used: RefCell<BTreeSet<String>>,
    problems: &'a Problems,
}

impl<'a> Obj<'a> {
    pub fn root(value: &'a Value, problems: &'a Problems) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self::new(String::new(), map, problems)),
            _ => {
                problems.push("the configuration must be a JSON object");
                None
            }
        }
    }

    /// An object walker over a map the caller owns (e.g. an empty default section).
    pub fn root_of(map: &'a Map<String, Value>, problems: &'a Problems) -> Self {
        Self::new(String::new(), map, problems)
    }

    fn new(path: String, map: &'a Map<String, Value>, problems: &'a Problems) -> Self {
        Self {
            path,
            map,
            used: RefCell::default(),
            problems,
        }
    }

    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn problem(&self, key: &str, message: impl std::fmt::Display) {
        self.problems
            .push(format!("{}: {message}", self.path_of(key)));
    }

    fn take(&self, key: &str) -> Option<&'a Value> {
        self.used.borrow_mut().insert(key.to_string());
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A required value of any deserializable type.
    pub fn req<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.take(key) {
            None => {
                self.problem(key, "missing (required)");
                None
            }
            Some(v) => self.convert(key, v),
        }
    }

    /// An optional value; absent or null gives `None` without a problem.
    pub fn opt<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.take(key).and_then(|v| self.convert(key, v))
    }

    /// A required list whose elements are checked one by one, so one bad element
    /// does not hide the others (or the checks that use the good ones).
    pub fn req_each<T: DeserializeOwned>(&self, key: &str) -> Vec<T> {
        match self.take(key) {
            None => {
                self.problem(key, "missing (required list)");
                Vec::new()
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match T::deserialize(item) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        self.problems
                            .push(format!("{}[{i}]: {e}", self.path_of(key)));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.problem(key, "must be a list");
                Vec::new()
            }
        }
    }

    /// An optional value with a default.
    pub fn or<T: DeserializeOwned>(&self, key: &str, default: T) -> T {
        match self.take(key) {
            None => default,
            Some(v) => self.convert(key, v).unwrap_or(default),
        }
    }

    fn convert<T: DeserializeOwned>(&self, key: &str, v: &Value) -> Option<T> {
        match T::deserialize(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(key, e);
                None
            }
        }
    }

    /// A nested object; `required` decides whether absence is a problem.
    pub fn obj(&self, key: &str, required: bool) -> Option<Obj<'a>> {
        match self.take(key) {
            None => {
                if required {
                    self.problem(key, "missing (required object)");
                }
                None
            }
            Some(Value::Object(map)) => Some(Obj::new(self.path_of(key), map, self.problems)),
            Some(_) => {
                self.problem(key, "must be an object");
                None
            }
        }
    }

    /// A list of objects, each walked by `each`.
    pub fn list<T>(
        &self,
        key: &str,
        required: bool,
        mut each: impl FnMut(&Obj<'a>) -> Option<T>,
    ) -> Vec<T> {
        match self.take(key) {
            None => {
                if required {
                    self.problem(key, "missing (required list)");
                }
                Vec::new()
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    Value::Object(map) => {
                        let obj =
                            Obj::new(format!("{}[{i}]", self.path_of(key)), map, self.problems);
                        each(&obj)
                    }
                    _ => {
                        self.problems
                            .push(format!("{}[{i}]: must be an object", self.path_of(key)));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.problem(key, "must be a list");
                Vec::new()
            }
        }
    }
}

impl Drop for Obj<'_> {
    /// Reports keys that nobody asked for: typos must not pass silently.
    fn drop(&mut self) {
        let used = self.used.borrow();
        for key in self.map.keys() {
            if !used.contains(key) {
                self.problems
                    .push(format!("{}: unknown key", self.path_of(key)));
            }
        }
    }
}
