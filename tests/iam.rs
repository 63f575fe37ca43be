//! What each function's role may do, derived from the code: every SDK operation each function
//! can reach from its `AwsWorld` (functions/<f>/src/aws.rs) through the adapters in
//! shared/src/aws, found by reading the sources, becomes the IAM action it needs; the Terraform
//! (infra/modules/control-plane/iam.tf, and the shared-services ECR role of the replication
//! module) must grant exactly those actions, each on the resources the code touches: there is no
//! hand-kept list to drift. `derived_grants_table` prints the table docs/RELIABILITY.md
//! ("Security") lists.
//!
//! The reading is deliberately small: Rust source with comments, strings and `#[cfg(test)]`
//! modules removed; `impl` blocks and their methods; struct fields and their types; method calls
//! resolved through `self.<field>`, a parameter's type, a local bound from `self.<field>`, or
//! `Type::constructor(..)`. An SDK operation is a call on a field whose type is an `aws_sdk_*`
//! client; every `.send()` in a reached body must belong to one, so an operation reached any
//! other way fails the test instead of being missed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use testkit::repo_root;

const FUNCTIONS: [&str; 3] = ["failover", "replication-monitor", "concurrency-scheduler"];

/// Grants that no SDK call of the function's code needs, but the function needs all the same.
const NOT_FROM_CALLS: [(&str, &str); 2] = [
    (
        "logs:CreateLogStream",
        "the Lambda service writes the function's logs with its execution role",
    ),
    (
        "logs:PutLogEvents",
        "the Lambda service writes the function's logs with its execution role",
    ),
];

// -- reading Rust source ----------------------------------------------------------------------

/// Source text with comments and the contents of string and char literals blanked (same
/// length, so positions survive) and `#[cfg(test)]` items removed.
fn clean(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend(b"  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // raw string r"..." / r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.extend(&b[i..=j]);
            j += 1;
            let closing: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&closing) {
                out.push(if b[j] == b'\n' { b'\n' } else { b' ' });
                j += 1;
            }
            out.extend(&closing);
            i = j + closing.len();
        } else if c == b'"' {
            out.push(b'"');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out.push(b' ');
                    i += 1;
                }
                out.push(if b.get(i) == Some(&b'\n') {
                    b'\n'
                } else {
                    b' '
                });
                i += 1;
            }
            out.push(b'"');
            i += 1;
        } else if c == b'\'' {
            // a char literal ('x', '\n', '\''), not a lifetime ('a)
            let end = if b.get(i + 1) == Some(&b'\\') {
                b.get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&x| x == b'\''))
                    .map(|p| i + 3 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push(b'\'');
                    out.extend(std::iter::repeat_n(b' ', e - i - 1));
                    out.push(b'\'');
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    let text = String::from_utf8(out).expect("ASCII-preserving");
    strip_cfg_test(&text)
}

fn strip_cfg_test(text: &str) -> String {
    let mut text = text.to_string();
    while let Some(at) = text.find("#[cfg(test)]") {
        let after = at + "#[cfg(test)]".len();
        let brace = text[after..].find('{').map(|p| after + p);
        let semi = text[after..].find(';').map(|p| after + p);
        let end = match (brace, semi) {
            (Some(b), Some(s)) if s < b => s + 1,
            (Some(b), _) => matching(&text, b, b'{', b'}') + 1,
            (None, Some(s)) => s + 1,
            (None, None) => text.len(),
        };
        text.replace_range(at..end, &" ".repeat(end - at));
    }
    text
}

/// The index of the bracket closing the one at `open`.
fn matching(text: &str, open: usize, o: u8, c: u8) -> usize {
    let b = text.as_bytes();
    let mut depth = 0;
    for (i, &x) in b.iter().enumerate().skip(open) {
        if x == o {
            depth += 1;
        } else if x == c {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    panic!("unbalanced {} at {open}", o as char)
}

/// The index of the bracket opening the one closing at `close` (scanning backwards).
fn matching_back(text: &str, close: usize, o: u8, c: u8) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0;
    for i in (0..=close).rev() {
        if b[i] == c {
            depth += 1;
        } else if b[i] == o {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whole-word occurrences of `word` in `text`.
fn words(text: &str, word: &str) -> Vec<usize> {
    let b = text.as_bytes();
    text.match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| {
            (i == 0 || !is_ident(b[i - 1])) && b.get(i + word.len()).is_none_or(|&c| !is_ident(c))
        })
        .collect()
}

/// The identifier ending just before `end` (exclusive), skipping whitespace: (start, ident).
fn ident_before(text: &str, end: usize) -> Option<(usize, &str)> {
    let b = text.as_bytes();
    let mut e = end;
    while e > 0 && b[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    let mut s = e;
    while s > 0 && is_ident(b[s - 1]) {
        s -= 1;
    }
    (s < e).then(|| (s, &text[s..e]))
}

fn prev_non_space(text: &str, end: usize) -> Option<(usize, u8)> {
    let b = text.as_bytes();
    (0..end)
        .rev()
        .find(|&i| !b[i].is_ascii_whitespace())
        .map(|i| (i, b[i]))
}

/// The last path segment of a type, without generics or references: `&'a mut Foo<T>` -> `Foo`.
fn type_name(t: &str) -> String {
    let t = t.split('<').next().unwrap_or(t);
    let t = t.trim().trim_start_matches('&').trim();
    let t = t.strip_prefix("mut ").unwrap_or(t).trim();
    t.rsplit("::").next().unwrap_or(t).trim().to_string()
}

/// Every identifier in a type expression: `Vec<(Region, Lambda)>` -> {Vec, Region, Lambda}.
fn type_idents(t: &str) -> BTreeSet<String> {
    t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug)]
struct Method {
    file: String,
    ty: String,
    name: String,
    params: BTreeMap<String, String>,
    body: String,
}

#[derive(Default)]
struct Code {
    methods: Vec<Method>,
    /// type -> field -> field type (text)
    fields: BTreeMap<String, BTreeMap<String, String>>,
    /// trait -> types implementing it
    implementors: BTreeMap<String, BTreeSet<String>>,
    /// file -> `use aws_sdk_<service>::Client` of that file, if any
    client_import: BTreeMap<String, String>,
    /// file of each type's definition
    type_file: BTreeMap<String, String>,
}

fn split_top(text: &str, sep: u8) -> Vec<&str> {
    let b = text.as_bytes();
    let mut depth = 0i32;
    let mut start = 0;
    let mut out = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' | b'<' | b'[' | b'{' => depth += 1,
            b')' | b'>' | b']' | b'}' => depth -= 1,
            _ if c == sep && depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        // `->` is not a closing angle bracket
        if c == b'>' && i > 0 && b[i - 1] == b'-' {
            depth += 1;
        }
    }
    out.push(&text[start..]);
    out
}

impl Code {
    fn read(files: &[&str]) -> Code {
        let mut code = Code::default();
        for rel in files {
            let raw = std::fs::read_to_string(repo_root().join(rel))
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
            let text = clean(&raw);
            for line in text.lines().map(str::trim) {
                if let Some(krate) = line
                    .strip_prefix("use ")
                    .and_then(|l| l.strip_suffix("::Client;"))
                    .filter(|k| k.starts_with("aws_sdk_") && !k.contains("::"))
                {
                    code.client_import
                        .insert(rel.to_string(), krate.to_string());
                }
            }
            code.read_items(rel, &text, "");
        }
        code
    }

    /// Top-level items of `text` (or of an impl body when `ty` is set).
    fn read_items(&mut self, file: &str, text: &str, ty: &str) {
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'{' {
                i = matching(text, i, b'{', b'}') + 1;
                continue;
            }
            let at_word = |w: &str| {
                text[i..].starts_with(w)
                    && (i == 0 || !is_ident(b[i - 1]))
                    && b.get(i + w.len()).is_some_and(|&c| !is_ident(c))
            };
            if at_word("impl") && ty.is_empty() {
                let open = i + text[i..].find('{').expect("impl body");
                let header = &text[i + 4..open];
                // drop `impl<...>` generics
                let header = if header.trim_start().starts_with('<') {
                    let start = i + 4 + header.find('<').unwrap();
                    let end = matching(text, start, b'<', b'>');
                    &text[end + 1..open]
                } else {
                    header
                };
                let header = header.split(" where ").next().unwrap_or(header);
                let (trait_, target) = match header.find(" for ") {
                    Some(f) => (Some(type_name(&header[..f])), type_name(&header[f + 5..])),
                    None => (None, type_name(header)),
                };
                if let Some(t) = trait_ {
                    self.implementors
                        .entry(t)
                        .or_default()
                        .insert(target.clone());
                }
                let close = matching(text, open, b'{', b'}');
                self.read_items(file, &text[open + 1..close], &target);
                i = close + 1;
            } else if at_word("struct") && ty.is_empty() {
                let (_, name) = ident_before(text, {
                    let mut e = i + 6;
                    while b[e].is_ascii_whitespace() {
                        e += 1;
                    }
                    while is_ident(b[e]) {
                        e += 1;
                    }
                    e
                })
                .expect("struct name");
                let name = name.to_string();
                let rest = &text[i..];
                let brace = rest.find('{');
                let semi = rest.find(';');
                if let Some(br) = brace.filter(|br| semi.is_none_or(|s| *br < s)) {
                    let open = i + br;
                    let close = matching(text, open, b'{', b'}');
                    let mut fields = BTreeMap::new();
                    for field in split_top(&text[open + 1..close], b',') {
                        let field = field.trim();
                        let field = field.strip_prefix("pub ").unwrap_or(field);
                        if let Some((n, t)) = field.split_once(':') {
                            fields.insert(n.trim().to_string(), t.trim().to_string());
                        }
                    }
                    self.fields.insert(name.clone(), fields);
                    self.type_file.insert(name, file.to_string());
                    i = close + 1;
                } else {
                    i += 6;
                }
            } else if at_word("fn") {
                let mut e = i + 2;
                while b[e].is_ascii_whitespace() {
                    e += 1;
                }
                let start = e;
                while is_ident(b[e]) {
                    e += 1;
                }
                if start == e {
                    i += 2; // a `fn(..)` pointer type
                    continue;
                }
                let name = text[start..e].to_string();
                let paren = e + text[e..].find('(').expect("fn params");
                let close_paren = matching(text, paren, b'(', b')');
                let mut params = BTreeMap::new();
                for p in split_top(&text[paren + 1..close_paren], b',') {
                    if let Some((n, t)) = p.split_once(':') {
                        let n = n.trim().trim_start_matches("mut ").trim();
                        params.insert(n.to_string(), t.trim().to_string());
                    }
                }
                let rest = &text[close_paren..];
                let brace = rest.find('{');
                let semi = rest.find(';');
                match brace.filter(|br| semi.is_none_or(|s| *br < s)) {
                    Some(br) => {
                        let open = close_paren + br;
                        let close = matching(text, open, b'{', b'}');
                        self.methods.push(Method {
                            file: file.to_string(),
                            ty: if ty.is_empty() {
                                Path::new(file)
                                    .file_stem()
                                    .unwrap()
                                    .to_string_lossy()
                                    .to_string()
                            } else {
                                ty.to_string()
                            },
                            name,
                            params,
                            body: text[open..=close].to_string(),
                        });
                        i = close + 1;
                    }
                    None => i = close_paren + semi.unwrap_or(1),
                }
            } else {
                i += 1;
            }
        }
    }

    fn method(&self, ty: &str, name: &str) -> Option<&Method> {
        self.methods.iter().find(|m| m.ty == ty && m.name == name)
    }

    fn has_method(&self, ty: &str, name: &str) -> bool {
        self.method(ty, name).is_some()
    }

    /// The types a type expression names that this code defines (traits -> implementors).
    fn known_types(&self, t: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for id in type_idents(t) {
            if self.fields.contains_key(&id) || self.methods.iter().any(|m| m.ty == id) {
                out.insert(id.clone());
            }
            if let Some(types) = self.implementors.get(&id) {
                out.extend(types.iter().cloned());
            }
        }
        out
    }

    /// The AWS SDK service crate of a field type, if it is an SDK client.
    fn sdk_client(&self, ty: &str, field_type: &str) -> Option<String> {
        let t = field_type.trim();
        if let Some(krate) = t.strip_suffix("::Client") {
            return Some(krate.trim().to_string());
        }
        if t == "Client" {
            let file = self.type_file.get(ty)?;
            return self.client_import.get(file).cloned();
        }
        None
    }
}

/// What a reached body does: SDK operations (service crate, op, the body calling it) and the
/// methods it calls.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Op {
    krate: String,
    op: String,
    at: String,
}

#[derive(Default, Debug)]
struct Reach {
    /// ops made with the execution role's credentials
    role_ops: BTreeSet<Op>,
    /// ops made with credentials of a role the code assumes (adapter type -> ops)
    assumed_ops: BTreeMap<String, BTreeSet<Op>>,
    /// adapters whose constructor assumes a role (sts:AssumeRole)
    assumes: BTreeSet<String>,
    /// operations whose request names a role the service will use (iam:PassRole)
    passes_role: BTreeSet<Op>,
    unresolved: Vec<String>,
    reached: BTreeSet<(String, String)>,
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

impl Code {
    /// Follows every call from `entries`.
    fn reach(&self, entries: &[(String, String)]) -> Reach {
        let adapter_methods: BTreeSet<&str> = self
            .methods
            .iter()
            .filter(|m| self.fields.contains_key(&m.ty))
            .map(|m| m.name.as_str())
            .collect();
        let mut reach = Reach::default();
        let mut queue: Vec<(String, String)> = entries.to_vec();
        while let Some((ty, name)) = queue.pop() {
            if !reach.reached.insert((ty.clone(), name.clone())) {
                continue;
            }
            let Some(m) = self.method(&ty, &name) else {
                continue;
            };
            let body = &m.body;
            let assumed = self
                .method(&ty, "new")
                .is_some_and(|n| n.body.contains("AssumeRoleProvider"));
            if name == "new" && body.contains("AssumeRoleProvider") {
                reach.assumes.insert(ty.clone());
            }
            let mut ops_here = 0;
            let b = body.as_bytes();
            // method calls `<recv>.name(`
            for (dot, _) in body.match_indices('.') {
                let mut e = dot + 1;
                while e < b.len() && is_ident(b[e]) {
                    e += 1;
                }
                let call = &body[dot + 1..e];
                let mut p = e;
                while p < b.len() && b[p].is_ascii_whitespace() {
                    p += 1;
                }
                if call.is_empty() || b.get(p) != Some(&b'(') || call == "await" {
                    continue;
                }
                let receivers = self.receiver(m, dot);
                match receivers {
                    Recv::Types(types) => {
                        for t in types {
                            queue.push((t, call.to_string()));
                        }
                    }
                    Recv::Client(krate) => {
                        // an operation is a fluent builder that is sent; anything else done
                        // with a client (cloning it, reading its config) hides what it calls
                        let statement = body[e..].split(';').next().unwrap_or_default();
                        if !statement.contains(".send()") {
                            reach.unresolved.push(format!(
                                "{}: {}::{}: the client is used by .{call}(, not by an operation",
                                m.file, m.ty, m.name
                            ));
                            continue;
                        }
                        ops_here += 1;
                        let op = Op {
                            krate,
                            op: pascal(call),
                            at: format!("{}::{}", m.ty, m.name),
                        };
                        if op.op == "CreateSchedule" && body.contains(".role_arn(") {
                            reach.passes_role.insert(op.clone());
                        }
                        if assumed {
                            reach.assumed_ops.entry(ty.clone()).or_default().insert(op);
                        } else {
                            reach.role_ops.insert(op);
                        }
                    }
                    Recv::Unknown(what) => {
                        if adapter_methods.contains(call) {
                            reach
                                .unresolved
                                .push(format!("{}: {}::{}: {what}.{call}(", m.file, m.ty, m.name));
                        }
                    }
                    Recv::Other => {}
                }
            }
            // path calls `Type::name(` and `Self::name(`, and free calls `name(`
            for (i, _) in body.match_indices('(') {
                let Some((s, name)) = ident_before(body, i) else {
                    continue;
                };
                let before = prev_non_space(body, s);
                if before.is_some_and(|(_, c)| c == b'.') {
                    continue;
                }
                if s >= 2 && &body[s - 2..s] == "::" {
                    if let Some((_, t)) = ident_before(body, s - 2) {
                        let t = if t == "Self" { ty.as_str() } else { t };
                        if self.has_method(t, name) {
                            queue.push((t.to_string(), name.to_string()));
                        }
                    }
                } else {
                    let stem = Path::new(&m.file)
                        .file_stem()
                        .unwrap()
                        .to_string_lossy()
                        .to_string();
                    if self.has_method(&stem, name) {
                        queue.push((stem, name.to_string()));
                    }
                }
            }
            let sends = words(body, "send").len();
            assert_eq!(
                sends, ops_here,
                "{}: {}::{} sends {sends} request(s) but {ops_here} SDK operation call(s) were \
                 recognised: make the operation a call on an `aws_sdk_*` client field",
                m.file, m.ty, m.name
            );
        }
        reach
    }

    /// What the receiver of the call whose `.` is at `dot` is.
    fn receiver(&self, m: &Method, dot: usize) -> Recv {
        let body = &m.body;
        let Some((end, c)) = prev_non_space(body, dot) else {
            return Recv::Other;
        };
        if c == b')' || c == b'?' {
            // `self.accessor()?.x(` or `Type::ctor(..).x(`
            let close = if c == b'?' {
                match prev_non_space(body, end) {
                    Some((e, b')')) => e,
                    _ => return Recv::Other,
                }
            } else {
                end
            };
            let Some(open) = matching_back(body, close, b'(', b')') else {
                return Recv::Other;
            };
            let Some((s, name)) = ident_before(body, open) else {
                return Recv::Other;
            };
            match prev_non_space(body, s) {
                Some((d, b'.')) => {
                    if ident_before(body, d).map(|(_, r)| r) == Some("self") {
                        // an accessor of self: the types its return type names
                        let ret = self.return_types(&m.ty, name);
                        if !ret.is_empty() {
                            return Recv::Types(ret);
                        }
                    }
                    Recv::Other
                }
                Some((d, b':')) if d >= 1 && &body[d - 1..=d] == "::" => {
                    match ident_before(body, d - 1) {
                        Some((_, t)) if self.fields.contains_key(t) => {
                            Recv::Types(BTreeSet::from([t.to_string()]))
                        }
                        _ => Recv::Other,
                    }
                }
                _ => Recv::Other,
            }
        } else if is_ident(c) {
            let Some((s, ident)) = ident_before(body, end + 1) else {
                return Recv::Other;
            };
            match prev_non_space(body, s) {
                Some((d, b'.')) => {
                    // `<root>.field.x(`: only `self.field` is followed
                    let Some((rs, root)) = ident_before(body, d) else {
                        return Recv::Other;
                    };
                    let chained = prev_non_space(body, rs).is_some_and(|(_, c)| c == b'.');
                    if root == "self" && !chained {
                        self.field_recv(&m.ty, ident)
                    } else {
                        Recv::Other
                    }
                }
                _ if ident == "self" => Recv::Types(BTreeSet::from([m.ty.clone()])),
                _ => {
                    if let Some(t) = m.params.get(ident) {
                        let types = self.known_types(t);
                        return if types.is_empty() {
                            Recv::Other
                        } else {
                            Recv::Types(types)
                        };
                    }
                    // a local bound from `self.<field>` (let / match / for pattern)
                    match self.binding(m, ident, s) {
                        Binding::Field(field) => self.field_recv(&m.ty, &field),
                        Binding::Elsewhere => Recv::Other,
                        Binding::Unfollowed => Recv::Unknown(ident.to_string()),
                    }
                }
            }
        } else {
            Recv::Other
        }
    }

    fn field_recv(&self, ty: &str, field: &str) -> Recv {
        let Some(field_type) = self.fields.get(ty).and_then(|f| f.get(field)) else {
            return Recv::Other;
        };
        if let Some(krate) = self.sdk_client(ty, field_type) {
            return Recv::Client(krate);
        }
        let types = self.known_types(field_type);
        if types.is_empty() {
            Recv::Other
        } else {
            Recv::Types(types)
        }
    }

    /// The types named by the return type of `ty::name` (an accessor such as `fn ecr(&self) ->
    /// Result<&Ecr>`), read from the source text of its signature.
    fn return_types(&self, ty: &str, name: &str) -> BTreeSet<String> {
        let Some(file) = self
            .methods
            .iter()
            .find(|m| m.ty == ty && m.name == name)
            .map(|m| &m.file)
        else {
            return BTreeSet::new();
        };
        let text = clean(&std::fs::read_to_string(repo_root().join(file)).unwrap());
        let sig = format!("fn {name}(");
        let Some(at) = text.find(&sig) else {
            return BTreeSet::new();
        };
        let open = at + sig.len() - 1;
        let close = matching(&text, open, b'(', b')');
        let rest = &text[close + 1..];
        let ret = rest[..rest.find('{').unwrap_or(0)].trim();
        match ret.strip_prefix("->") {
            Some(r) => self
                .known_types(r)
                .into_iter()
                .filter(|t| t != "Result" && t != "Error")
                .collect(),
            None => BTreeSet::new(),
        }
    }

    /// How a local named `ident` (used at `use_at`) is bound: from an element of a field of
    /// `self` (`let`, `match` or `for` over `self.<field>`), from something else, or from a
    /// field holding an adapter or a client in a way this reader does not follow.
    fn binding(&self, m: &Method, ident: &str, use_at: usize) -> Binding {
        let body = &m.body;
        let Some(&first) = words(body, ident).iter().find(|&&p| p < use_at) else {
            return Binding::Elsewhere;
        };
        // a closure's parameter (`|x|`, `|(a, x)|`) is bound by whoever calls the closure
        let closure_param = match prev_non_space(body, first) {
            Some((_, b'|')) => true,
            Some((p, b'(' | b',')) => {
                body[..p].trim_end().ends_with('|') || {
                    let line_start = body[..p].rfind('\n').unwrap_or(0);
                    body[line_start..p].matches('|').count() % 2 == 1
                }
            }
            _ => false,
        };
        if closure_param {
            return Binding::Elsewhere;
        }
        let Some((starts, keyword)) = ["let ", "match ", "for "]
            .iter()
            .filter_map(|k| body[..first].rfind(k).map(|p| (p, *k)))
            .max()
        else {
            return Binding::Elsewhere;
        };
        // `let` and `for` bind in their own statement
        if keyword != "match " && body[starts..first].contains(';') {
            return Binding::Elsewhere;
        }
        // the statement: up to the first `;` or `=>` after the binding
        let tail = &body[first..];
        let end = first
            + [tail.find(';'), tail.find("=>")]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(tail.len());
        let window = &body[starts..end];
        let Some(at) = window.find("self.") else {
            return Binding::Elsewhere;
        };
        let rest = &window[at + 5..];
        let field: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = rest[field.len()..].trim_start();
        // the local is the field itself or one of its elements, not a call's result
        let element = [
            ".iter()",
            ".get(",
            "{",
            ".as_ref()",
            ".first()",
            ".values()",
        ]
        .iter()
        .any(|p| after.starts_with(p));
        if element {
            Binding::Field(field)
        } else if matches!(self.field_recv(&m.ty, &field), Recv::Other) {
            Binding::Elsewhere
        } else {
            Binding::Unfollowed
        }
    }
}

enum Binding {
    Field(String),
    Elsewhere,
    Unfollowed,
}

enum Recv {
    Types(BTreeSet<String>),
    Client(String),
    Unknown(String),
    Other,
}

/// IAM's service prefix of an SDK crate.
fn service_prefix(krate: &str) -> &'static str {
    match krate {
        "aws_sdk_route53" => "route53",
        "aws_sdk_lambda" => "lambda",
        "aws_sdk_ssm" => "ssm",
        "aws_sdk_eventbridge" => "events",
        "aws_sdk_secretsmanager" => "secretsmanager",
        "aws_sdk_resourcegroupstagging" => "tag",
        "aws_sdk_sns" => "sns",
        "aws_sdk_cloudwatch" => "cloudwatch",
        "aws_sdk_ecr" => "ecr",
        "aws_sdk_scheduler" => "scheduler",
        "aws_sdk_sts" => "sts",
        "aws_sdk_dynamodb" => "dynamodb",
        other => panic!("no IAM service prefix known for {other}: add it here"),
    }
}

fn action(op: &Op) -> String {
    format!("{}:{}", service_prefix(&op.krate), op.op)
}

/// The sources a function's code is read from: its AWS world, the shared adapters, the shared
/// metric batch and the shared `main`.
fn sources(function: &str) -> Vec<String> {
    let mut files = vec![
        format!("functions/{function}/src/aws.rs"),
        "shared/src/metrics.rs".to_string(),
        "shared/src/runtime.rs".to_string(),
    ];
    let mut adapters: Vec<String> = std::fs::read_dir(repo_root().join("shared/src/aws"))
        .expect("shared/src/aws")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            format!(
                "shared/src/aws/{}",
                p.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    adapters.sort();
    files.extend(adapters);
    files
}

/// A function's grants as derived from its code.
struct Derived {
    /// action -> the adapter methods calling it (for the role)
    role: BTreeMap<String, BTreeSet<String>>,
    /// adapter type (its constructor assumes a role) -> actions made with that role's credentials
    assumed: BTreeMap<String, BTreeSet<String>>,
    /// actions reached only from the shared `main` (reading the config from SSM)
    config_only: BTreeSet<String>,
}

fn derive(function: &str) -> Derived {
    let files = sources(function);
    let code = Code::read(&files.iter().map(String::as_str).collect::<Vec<_>>());
    let world: Vec<(String, String)> = code
        .methods
        .iter()
        .filter(|m| m.ty == "AwsWorld" && m.file.starts_with("functions/"))
        .map(|m| (m.ty.clone(), m.name.clone()))
        .collect();
    assert!(
        world.len() >= 5,
        "{function}: AwsWorld's methods not found: {world:?}"
    );
    let reach = code.reach(&world);
    assert!(
        reach.unresolved.is_empty(),
        "{function}: calls whose receiver could not be followed: {:#?}",
        reach.unresolved
    );
    let mut role: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for op in &reach.role_ops {
        role.entry(action(op)).or_default().insert(op.at.clone());
    }
    for ty in &reach.assumes {
        role.entry("sts:AssumeRole".into())
            .or_default()
            .insert(format!("{ty}::new (aws_config::sts::AssumeRoleProvider)"));
    }
    for op in &reach.passes_role {
        role.entry("iam:PassRole".into())
            .or_default()
            .insert(format!("{} (the schedule's target role_arn)", op.at));
    }
    let assumed = reach
        .assumed_ops
        .iter()
        .map(|(t, ops)| (t.clone(), ops.iter().map(action).collect()))
        .collect();

    let main = code.reach(&[("runtime".to_string(), "start".to_string())]);
    let config_only = main
        .role_ops
        .iter()
        .map(action)
        .filter(|a| !role.contains_key(a))
        .collect();
    Derived {
        role,
        assumed,
        config_only,
    }
}

// -- reading the Terraform ----------------------------------------------------------------------

use hcl::{Block, Body, Expression};

fn tf_blocks(dir: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    entries.sort();
    for path in entries {
        let body: Body = hcl::parse(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.extend(body.blocks().cloned());
    }
    out
}

fn find<'a>(blocks: &'a [Block], kind: &str, l0: &str, l1: &str) -> &'a Block {
    blocks
        .iter()
        .find(|b| {
            b.identifier.as_str() == kind
                && b.labels.first().map(|l| l.as_str()) == Some(l0)
                && b.labels.get(1).map(|l| l.as_str()) == Some(l1)
        })
        .unwrap_or_else(|| panic!("{kind} \"{l0}\" \"{l1}\" not found"))
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key.as_str() == key)
        .map(|a| &a.expr)
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn local<'a>(blocks: &'a [Block], name: &str) -> &'a Expression {
    blocks
        .iter()
        .filter(|b| b.identifier.as_str() == "locals")
        .find_map(|b| attr(&b.body, name))
        .unwrap_or_else(|| panic!("local.{name} not found"))
}

/// (actions, resources as written, the statement's HCL) of each statement of a policy document.
fn statements(doc: &Block) -> Vec<(Vec<String>, String, String)> {
    doc.body
        .blocks()
        .filter(|b| b.identifier.as_str() == "statement")
        .map(|s| {
            let actions = match attr(&s.body, "actions") {
                Some(Expression::Array(items)) => items
                    .iter()
                    .map(|i| match i {
                        Expression::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let resources = attr(&s.body, "resources")
                .map(|e| compact(&e.to_string()))
                .unwrap_or_default();
            (
                actions,
                resources,
                hcl::format::to_string(&s.body).unwrap_or_default(),
            )
        })
        .collect()
}

/// Where each action of each role may act: the resource expression of iam.tf and why that is
/// what the code touches.
fn expected_resources(function: &str, action: &str) -> (&'static str, &'static str) {
    const STAR: &str = "[\"*\"]";
    match (function, action) {
        (_, "cloudwatch:PutMetricData") => (
            STAR,
            "no resource type; narrowed by the cloudwatch:namespace condition to the config's metrics_namespace",
        ),
        (_, "cloudwatch:GetMetricData") => (STAR, "no resource type and no condition key"),
        (_, "sns:Publish") => (
            "[local.alerts_topic_arns[var.region]]",
            "Sns::new(home_sdk, alerts_topic_arns[home]): this region's topic",
        ),
        (f, "logs:CreateLogStream" | "logs:PutLogEvents") => match f {
            "failover" => ("[local.log_stream_arns[\"failover\"]]", "its own log group"),
            "replication-monitor" => (
                "[local.log_stream_arns[\"replication-monitor\"]]",
                "its own log group",
            ),
            _ => (
                "[local.log_stream_arns[\"concurrency-scheduler\"]]",
                "its own log group",
            ),
        },
        ("failover", "route53:GetHealthCheck" | "route53:UpdateHealthCheck") => (
            "local.route53_gate_arns",
            "Route53::status / set_threshold on failover.gate_health_checks",
        ),
        (_, "route53:ListResourceRecordSets" | "route53:ChangeResourceRecordSets") => (
            "[local.state_zone_arn]",
            "Route53::read / swap on failover.state_zone_id, the private zone holding the state record",
        ),
        ("failover", "cloudwatch:DescribeAlarms") => (
            "keys(var.region_alarms)",
            "CloudWatch::alarm_states on failover.region_alarms, each in its region",
        ),
        ("failover", "events:PutEvents") => (
            "[local.default_bus_arns[var.region]]",
            "EventBus::new(home_sdk, event_bus_name): this region's default bus",
        ),
        ("failover", "scheduler:CreateSchedule" | "scheduler:DeleteSchedule") => (
            "[local.drill_schedule_arn]",
            "DrillSchedules::new(home_sdk, failover.drill.schedule_group): controlplane-end-* there",
        ),
        ("failover", "iam:PassRole") => (
            "[local.drill_role_arns[var.region]]",
            "failover.drill.scheduler_role_arns[home], passed to scheduler.amazonaws.com only",
        ),
        ("failover", "lambda:GetProvisionedConcurrencyConfig") => (
            "local.managed_alias_arns_everywhere",
            "Lambda::get(target, alias) for the peer's targets: alias `live` of concurrency.targets, their regions",
        ),
        ("replication-monitor", "sts:AssumeRole") => (
            "[var.replication.ecr.role_arn]",
            "Ecr::new assumes replication.ecr.role",
        ),
        ("replication-monitor", "secretsmanager:DescribeSecret") => (
            "local.secret_arns",
            "SecretsManager::new(source_region): replication.secrets.secret_ids there",
        ),
        ("replication-monitor", "ssm:GetParameter" | "ssm:PutParameter") => (
            "[local.alert_state_parameter_arn]",
            "Ssm::get/put of replication.alert_state_parameter, this region",
        ),
        (
            "concurrency-scheduler",
            "lambda:GetProvisionedConcurrencyConfig"
            | "lambda:PutProvisionedConcurrencyConfig"
            | "lambda:GetAlias",
        ) => (
            "local.managed_alias_arns_here",
            "Lambda::new(home_sdk) get/put/alias: alias `live` of concurrency.targets in this region",
        ),
        ("failover", "dynamodb:GetItem" | "dynamodb:PutItem") => (
            "[local.local_store_table_arn]",
            "LocalStore::new(home_sdk, failover.data_plane.table): read and conditional write of this region's table",
        ),
        ("concurrency-scheduler", "dynamodb:GetItem") => (
            "[local.local_store_table_arn]",
            "LocalStore::new(home_sdk, failover.data_plane.table): read of this region's table",
        ),
        ("concurrency-scheduler", "lambda:GetAccountSettings") => (STAR, "no resource type"),
        ("concurrency-scheduler", "tag:GetResources") => (STAR, "no resource type"),
        ("concurrency-scheduler", "ssm:GetParameter" | "ssm:PutParameter") => (
            "[local.concurrency_state_parameter_arn]",
            "Ssm::get/put of concurrency.state_parameter, this region",
        ),
        (f, a) => panic!(
            "{f}: no resource decided for {a}: add it to expected_resources with the ARNs the code touches"
        ),
    }
}

// -- the tests ------------------------------------------------------------------------------------

/// The derivation itself finds what the code calls: a few anchors that must be there, and
/// calls that must not be attributed to the wrong function (failover reads provisioned
/// concurrency but never sets it; only failover describes alarms).
#[test]
fn iam_derivation_follows_the_calls() {
    let failover = derive("failover");
    let scheduler = derive("concurrency-scheduler");
    let monitor = derive("replication-monitor");
    for a in [
        "route53:UpdateHealthCheck",
        "route53:ChangeResourceRecordSets",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricData",
        "scheduler:CreateSchedule",
        "iam:PassRole",
        "lambda:GetProvisionedConcurrencyConfig",
    ] {
        assert!(
            failover.role.contains_key(a),
            "failover: {a} not derived: {:?}",
            failover.role.keys()
        );
    }
    assert!(!failover
        .role
        .contains_key("lambda:PutProvisionedConcurrencyConfig"));
    assert!(!scheduler.role.contains_key("cloudwatch:DescribeAlarms"));
    assert!(!scheduler
        .role
        .contains_key("route53:ChangeResourceRecordSets"));
    assert!(scheduler
        .role
        .contains_key("lambda:PutProvisionedConcurrencyConfig"));
    assert!(monitor.role.contains_key("sts:AssumeRole"));
    assert_eq!(
        monitor.assumed.get("Ecr"),
        Some(&BTreeSet::from([
            "ecr:DescribeImageReplicationStatus".to_string(),
            "ecr:DescribeImages".to_string()
        ])),
        "ECR is read with the assumed role's credentials"
    );
    assert!(!monitor.role.keys().any(|a| a.starts_with("ecr:")));

    // The reader itself: comments and strings are not code.
    let cleaned = clean("let a = \"self.client.x()\"; // self.client.y()\nlet b = 'c';");
    assert!(!cleaned.contains("client"), "{cleaned}");
}

/// Each function's role grants exactly the actions its code's SDK calls need (plus the log
/// writes the Lambda service makes with it), each statement on the resources the code touches.
#[test]
fn iam_each_role_grants_exactly_the_derived_calls_resource_by_resource() {
    let cp = tf_blocks("infra/modules/control-plane");
    for function in FUNCTIONS {
        let derived = derive(function);
        let mut needed: BTreeSet<String> = derived.role.keys().cloned().collect();
        needed.extend(NOT_FROM_CALLS.iter().map(|(a, _)| a.to_string()));

        let doc = find(&cp, "data", "aws_iam_policy_document", function);
        let mut granted = BTreeSet::new();
        for (actions, resources, text) in statements(doc) {
            for a in &actions {
                granted.insert(a.clone());
                let (expected, why) = expected_resources(function, a);
                assert_eq!(
                    resources, expected,
                    "{function}: {a} must be granted on {expected} ({why}), not {resources}"
                );
                if a == "cloudwatch:PutMetricData" {
                    assert!(text.contains("cloudwatch:namespace"), "{function}: {text}");
                }
                if a == "iam:PassRole" {
                    assert!(
                        text.contains("scheduler.amazonaws.com"),
                        "{function}: {text}"
                    );
                }
            }
        }
        assert_eq!(
            granted, needed,
            "{function}: iam.tf grants vs the calls derived from the code (+ {NOT_FROM_CALLS:?})"
        );
    }

    // Nothing else is attached to the function roles: their documents above, and the
    // on-failure destination's sqs:SendMessage (Lambda delivers with the execution role;
    // tests/infra.rs, infra_failed_async_invocations_reach_an_alarmed_queue).
    let attached: BTreeSet<String> = cp
        .iter()
        .filter(|b| {
            b.identifier.as_str() == "resource"
                && matches!(
                    b.labels.first().map(|l| l.as_str()),
                    Some("aws_iam_role_policy" | "aws_iam_role_policy_attachment")
                )
                && attr(&b.body, "role")
                    .is_some_and(|r| r.to_string().contains("aws_iam_role.function"))
        })
        .map(|b| b.labels[1].as_str().to_string())
        .collect();
    assert_eq!(
        attached,
        BTreeSet::from(["async_destination".to_string(), "function".to_string()]),
        "policies on the function roles"
    );

    // The resources themselves are what the code touches, and no wider.
    let text = |name: &str| compact(&local(&cp, name).to_string());
    let here = text("managed_alias_arns_here");
    for needle in [
        "fortinvar.concurrency.targets",
        ":lambda:${var.region}:",
        ":function:${t.function}:${var.concurrency.alias}",
        "ifcontains(t.regions,var.region)",
    ] {
        assert!(
            here.contains(needle),
            "managed_alias_arns_here lacks {needle}: {here}"
        );
    }
    let everywhere = text("managed_alias_arns_everywhere");
    assert!(
        everywhere.contains(":function:${t.function}:${var.concurrency.alias}")
            && everywhere.contains("forrint.regions"),
        "{everywhere}"
    );
    for (name, needle) in [
        ("alert_state_parameter_arn", ":ssm:${var.region}:${local.account_id}:parameter${local.alert_state_parameter}"),
        ("concurrency_state_parameter_arn", ":ssm:${var.region}:${local.account_id}:parameter${local.concurrency_state_parameter}"),
        ("drill_schedule_arn", ":scheduler:${var.region}:${local.account_id}:schedule/${local.drill_schedule_group}/controlplane-end-*"),
        ("secret_arns", ":secretsmanager:${var.replication.secrets.source_region}:"),
        ("state_zone_arn", ":route53:::hostedzone/${var.state_zone_id}"),
        ("local_store_table_arn", ":dynamodb:${var.region}:${local.account_id}:table/${var.data_plane.table}"),
    ] {
        let value = text(name);
        assert!(value.contains(needle), "local.{name} must contain {needle}: {value}");
    }
    // The parameters the ARNs name are the ones the config hands the code.
    let config = compact(&local(&cp, "config").to_string());
    for key in [
        "alert_state_parameter=local.alert_state_parameter",
        "state_parameter=local.concurrency_state_parameter",
        "table=var.data_plane.table",
    ] {
        assert!(config.contains(key), "local.config lacks {key}");
    }
    // DrillSchedules names every schedule controlplane-end-<drill id>.
    assert!(shared::aws::scheduler::DrillSchedules::name("x").starts_with("controlplane-end-"));
    // Nothing in any resource of a function role is a wildcard function or parameter path.
    for function in FUNCTIONS {
        let doc = find(&cp, "data", "aws_iam_policy_document", function);
        let body = compact(&hcl::format::to_string(&doc.body).unwrap());
        assert!(!body.contains("function:*"), "{function}: {body}");
    }
}

/// The shared `main` reads the config from SSM only when CONTROL_PLANE_CONFIG_SSM is set;
/// Terraform renders the config inline (CONTROL_PLANE_CONFIG) and never sets it, so no role
/// is granted that read.
#[test]
fn iam_the_config_read_from_ssm_is_not_granted_because_terraform_never_uses_it() {
    for function in FUNCTIONS {
        let derived = derive(function);
        if function == "failover" {
            assert_eq!(
                derived.config_only,
                BTreeSet::from(["ssm:GetParameter".to_string()]),
                "failover: what only the shared main's config read calls"
            );
        }
        if function == "failover" {
            assert!(
                !derived.role.contains_key("ssm:GetParameter"),
                "failover reads no SSM parameter of its own"
            );
        } else {
            assert!(
                derived.config_only.is_empty(),
                "{function}: {:?}",
                derived.config_only
            );
        }
    }
    let cp = tf_blocks("infra/modules/control-plane");
    let lambda = find(&cp, "resource", "aws_lambda_function", "this");
    let env = lambda
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "environment")
        .expect("environment block");
    let keys: BTreeSet<String> = match attr(&env.body, "variables") {
        Some(Expression::Object(obj)) => obj.keys().map(|k| k.to_string()).collect(),
        other => panic!("environment.variables: {other:?}"),
    };
    assert!(keys.contains("CONTROL_PLANE_CONFIG"), "{keys:?}");
    assert!(!keys.contains("CONTROL_PLANE_CONFIG_SSM"), "{keys:?}");
}

/// ECR is read with the shared-services role's credentials: that role (replication module)
/// grants exactly the ECR calls the adapter makes, on the repositories in the registry's
/// region, and the config always names the role.
#[test]
fn iam_the_ecr_read_role_grants_exactly_the_calls_made_with_it() {
    let monitor = derive("replication-monitor");
    let calls = monitor
        .assumed
        .get("Ecr")
        .expect("Ecr calls through the role");
    let replication = tf_blocks("infra/modules/replication");
    let doc = find(&replication, "data", "aws_iam_policy_document", "ecr_read");
    let mut granted = BTreeSet::new();
    for (actions, resources, _) in statements(doc) {
        granted.extend(actions);
        assert!(
            resources.contains(
                ":ecr:${var.primary_region}:${local.shared_account_id}:repository/${repo}"
            ) && !resources.contains("secondary_region"),
            "the ECR read role acts in the registry's region only: {resources}"
        );
    }
    assert_eq!(
        &granted, calls,
        "ecr_read role vs the ECR calls of shared::aws::ecr"
    );

    // The config always hands the code the role (a required variable, not optional).
    let cp = tf_blocks("infra/modules/control-plane");
    let config = compact(&local(&cp, "config").to_string());
    assert!(
        config.contains("role_arn=var.replication.ecr.role_arn"),
        "{config}"
    );
    let var = find_var(&cp, "replication");
    let ty = compact(&attr(&var.body, "type").unwrap().to_string());
    assert!(
        ty.contains("role_arn=string"),
        "replication.ecr.role_arn must be required: {ty}"
    );
}

fn find_var<'a>(blocks: &'a [Block], name: &str) -> &'a Block {
    blocks
        .iter()
        .find(|b| {
            b.identifier.as_str() == "variable"
                && b.labels.first().map(|l| l.as_str()) == Some(name)
        })
        .unwrap_or_else(|| panic!("variable {name}"))
}

/// The grants, one line each, as docs/RELIABILITY.md ("Security") lists them:
/// `cargo test -p tests --test tests -- iam::derived_grants_table --nocapture`.
#[test]
fn derived_grants_table() {
    let mut lines = Vec::new();
    for function in FUNCTIONS {
        let derived = derive(function);
        for (action, at) in &derived.role {
            let (resources, why) = expected_resources(function, action);
            lines.push(format!(
                "| {function} | `{action}` | {} | `{resources}`: {why} |",
                at.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        for (action, why) in NOT_FROM_CALLS {
            lines.push(format!(
                "| {function} | `{action}` | (Lambda service) {why} | |"
            ));
        }
        for (ty, actions) in &derived.assumed {
            for a in actions {
                lines.push(format!(
                    "| {function} via {ty}'s assumed role | `{a}` | {ty} | |"
                ));
            }
        }
    }
    assert!(lines.len() > 30);
    println!("{}", lines.join("\n"));
}

// -- audit: what reaches public DNS and logs ------------------------------------------------------

/// Nothing of the control plane's reaches the service's public zone, which anyone can query:
/// its records there are the latency aliases alone (no value text at all), the routing state
/// (which names operators, accounts and alarms) lives in a private zone, and the functions
/// keep it there.
#[test]
fn audit_public_dns_carries_no_account_arn_or_identity() {
    let routing = tf_blocks("infra/modules/global-routing");
    let records: Vec<&Block> = routing
        .iter()
        .filter(|b| {
            b.identifier.as_str() == "resource"
                && b.labels.first().map(|l| l.as_str()) == Some("aws_route53_record")
        })
        .collect();
    assert!(records.len() >= 3, "records not found");
    let mut public = 0;
    for record in &records {
        let name = record.labels[1].as_str();
        let zone = compact(&attr(&record.body, "zone_id").expect("zone_id").to_string());
        if zone == "var.hosted_zone_id" {
            public += 1;
            assert!(
                attr(&record.body, "records").is_none()
                    && record
                        .body
                        .blocks()
                        .any(|b| b.identifier.as_str() == "alias"),
                "aws_route53_record.{name} in the public zone must be an alias with no value text"
            );
        }
        if name == "routing_state" {
            assert_ne!(
                zone, "var.hosted_zone_id",
                "the routing state (operators, accounts, alarms) is in the public zone"
            );
            let zone_name = zone
                .strip_prefix("aws_route53_zone.")
                .and_then(|z| z.strip_suffix(".zone_id"))
                .unwrap_or_else(|| panic!("the state zone must be this module's own: {zone}"));
            let state_zone = find(&routing, "resource", "aws_route53_zone", zone_name);
            assert!(
                state_zone
                    .body
                    .blocks()
                    .any(|b| b.identifier.as_str() == "vpc"),
                "aws_route53_zone.{zone_name} must be private (a vpc block)"
            );
        }
    }
    assert!(public >= 2, "the public latency records were not checked");

    // The functions write and read the state in the zone the config names for it.
    for function in ["failover", "concurrency-scheduler"] {
        let path = format!("functions/{function}/src/aws.rs");
        let text = clean(&std::fs::read_to_string(repo_root().join(&path)).unwrap());
        let calls: Vec<usize> = text
            .match_indices("Route53::new(")
            .map(|(i, _)| i)
            .collect();
        assert!(!calls.is_empty(), "{path}: Route53::new not found");
        for at in calls {
            let open = at + "Route53::new".len();
            let args = &text[open..=matching(&text, open, b'(', b')')];
            assert!(
                args.contains("state_zone_id") && !args.contains("hosted_zone_id"),
                "{path}: the routing state must be kept in failover.state_zone_id: {args}"
            );
        }
    }
}

/// No secret value, token or credential is ever an argument of a log statement (tracing
/// macros, print macros, `#[instrument]` fields) in the code that runs in the functions and
/// in ctl. Read from the source, including the format strings.
#[test]
fn audit_logs_carry_no_secret_token_or_credential() {
    const DENIED: [&str; 12] = [
        "secret_string",
        "secret_binary",
        "secret_value",
        "SecretString",
        "session_token",
        "access_key_id",
        "secret_access_key",
        "credentials",
        "Credentials",
        "external_id",
        "password",
        "authorization",
    ];
    const MACROS: [&str; 9] = [
        "trace!",
        "debug!",
        "info!",
        "warn!",
        "error!",
        "event!",
        "println!",
        "eprintln!",
        "instrument(",
    ];
    let mut files = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "tests" {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                out.push(path);
            }
        }
    }
    for dir in [
        "functions/failover/src",
        "functions/replication-monitor/src",
        "functions/concurrency-scheduler/src",
        "shared/src",
        "ctl/src",
    ] {
        walk(&repo_root().join(dir), &mut files);
    }
    let mut statements = 0;
    let mut found = Vec::new();
    for file in &files {
        let raw = std::fs::read_to_string(file).unwrap();
        let code = clean(&raw);
        for m in MACROS {
            for (at, _) in code.match_indices(m) {
                if at > 0 && is_ident(code.as_bytes()[at - 1]) && m != "instrument(" {
                    continue;
                }
                let Some(open) = code[at..].find('(').map(|p| at + p) else {
                    continue;
                };
                let close = matching(&code, open, b'(', b')');
                statements += 1;
                let args = &raw[open..=close];
                for word in DENIED {
                    if !words(args, word).is_empty() {
                        found.push(format!("{}: {word} in {m}{}", file.display(), args));
                    }
                }
            }
        }
    }
    assert!(statements >= 10, "log statements not found ({statements})");
    assert!(
        found.is_empty(),
        "secrets or credentials logged: {found:#?}"
    );
}
