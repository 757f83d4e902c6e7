//! User search: a parser and evaluator for the subset of Auth0's Lucene (v3) syntax that
//! matters here, and the `sort` parameter (reference §2.2).
//!
//! Supported: `field:value`, `field:"quoted value"`, dotted paths
//! (`identities.connection`, `app_metadata.a.b`), `email.domain`, `_exists_:field`,
//! `field:*`, suffix wildcards (`ali*`), ranges (`logins_count:[1 TO 5}`,
//! `created_at:[* TO 2026-01-01]`), `NOT`/`-`, `AND`, `OR` (AND binds tighter; terms
//! side by side are OR'ed: a choice, Lucene's default operator), parentheses and a bare
//! `*`. A term without a field is an error (choice: Auth0 would search default fields).
//! `email`, `name`, `given_name`, `family_name` and `nickname` match case-insensitively,
//! everything else exactly.

use std::cmp::Ordering;

use serde_json::Value;

use super::state::JsonObject;

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    All,
    Term {
        field: String,
        value: Term,
    },
    Exists(String),
    Range {
        field: String,
        lower: Bound,
        upper: Bound,
    },
    Not(Box<Query>),
    And(Vec<Query>),
    Or(Vec<Query>),
}

/// The value side of `field:value`.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Exact(String),
    Prefix(String),
}

/// One end of a range; `value: None` is `*`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    value: Option<String>,
    inclusive: bool,
}

/// Why a query could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Parses a `q` parameter; an empty query matches every user.
pub fn parse(text: &str) -> Result<Query, ParseError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    parser.skip_spaces();
    if parser.at_end() {
        return Ok(Query::All);
    }
    let query = parser.or()?;
    parser.skip_spaces();
    match parser.peek() {
        None => Ok(query),
        Some(c) => Err(parser.error(&format!("unexpected '{c}'"))),
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn or(&mut self) -> Result<Query, ParseError> {
        let mut alternatives = vec![self.and()?];
        loop {
            self.skip_spaces();
            match self.peek() {
                None | Some(')') => break,
                _ => {
                    self.keyword("OR");
                    alternatives.push(self.and()?);
                }
            }
        }
        Ok(flatten(alternatives, Query::Or))
    }

    fn and(&mut self) -> Result<Query, ParseError> {
        let mut all = vec![self.unary()?];
        while self.keyword("AND") {
            all.push(self.unary()?);
        }
        Ok(flatten(all, Query::And))
    }

    fn unary(&mut self) -> Result<Query, ParseError> {
        self.skip_spaces();
        if self.keyword("NOT") {
            return Ok(Query::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some('-') {
            self.pos += 1;
            return Ok(Query::Not(Box::new(self.primary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Query, ParseError> {
        self.skip_spaces();
        match self.peek() {
            None => Err(self.error("unexpected end of query")),
            Some('(') => {
                self.pos += 1;
                let inner = self.or()?;
                self.skip_spaces();
                if self.peek() != Some(')') {
                    return Err(self.error("missing ')'"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(_) => self.clause(),
        }
    }

    fn clause(&mut self) -> Result<Query, ParseError> {
        let field = self.bare_word(true);
        if self.peek() != Some(':') {
            if field == "*" {
                return Ok(Query::All);
            }
            return Err(self.error(&format!("expected 'field:value', found '{field}'")));
        }
        if field.is_empty() {
            return Err(self.error("missing field name before ':'"));
        }
        self.pos += 1;
        match self.peek() {
            Some('"') => {
                let value = self.quoted()?;
                Ok(term(field, Term::Exact(value)))
            }
            Some('[' | '{') => self.range(field),
            None | Some(' ' | '\t' | '\n' | ')') => {
                Err(self.error(&format!("missing value after '{field}:'")))
            }
            Some(_) => {
                let (value, wildcard) = self.value_word();
                if field == "_exists_" {
                    return Ok(Query::Exists(value));
                }
                Ok(match (value.as_str(), wildcard) {
                    ("", true) => Query::Exists(field),
                    (_, true) => term(field, Term::Prefix(value)),
                    (_, false) => term(field, Term::Exact(value)),
                })
            }
        }
    }

    fn range(&mut self, field: String) -> Result<Query, ParseError> {
        let lower_inclusive = self.peek() == Some('[');
        self.pos += 1;
        self.skip_spaces();
        let lower = self.range_value();
        self.skip_spaces();
        if !self.keyword("TO") {
            return Err(self.error("expected 'TO' in range"));
        }
        self.skip_spaces();
        let upper = self.range_value();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => return Err(self.error("missing ']' or '}' after range")),
        };
        self.pos += 1;
        Ok(Query::Range {
            field,
            lower: Bound {
                value: lower,
                inclusive: lower_inclusive,
            },
            upper: Bound {
                value: upper,
                inclusive: upper_inclusive,
            },
        })
    }

    fn range_value(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ']' | '}') {
                break;
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let text = text.trim_matches('"').to_owned();
        (text != "*").then_some(text)
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted value")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(value);
                }
                Some('\\') => {
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        value.push(c);
                        self.pos += 1;
                    }
                }
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A field name (stops at ':') or, with `stop_at_colon` false, a value.
    fn bare_word(&mut self, stop_at_colon: bool) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, '(' | ')') || (stop_at_colon && c == ':') {
                break;
            }
            if c == '\\' {
                self.pos += 1;
                if let Some(escaped) = self.peek() {
                    word.push(escaped);
                    self.pos += 1;
                }
                continue;
            }
            word.push(c);
            self.pos += 1;
        }
        word
    }

    /// An unquoted value and whether it ended with an (unescaped) `*` wildcard.
    fn value_word(&mut self) -> (String, bool) {
        let start = self.pos;
        let mut word = self.bare_word(false);
        let raw_end = &self.chars[start..self.pos];
        let wildcard = raw_end.last() == Some(&'*') && !raw_end.ends_with(&['\\', '*']);
        if wildcard {
            word.pop();
        }
        (word, wildcard)
    }

    /// Consumes `word` if it is next and stands alone (followed by a space, `(` or end).
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_spaces();
        let len = word.chars().count();
        let candidate: String = self.chars.iter().skip(self.pos).take(len).collect();
        let next = self.chars.get(self.pos + len).copied();
        let stands_alone = next.is_none_or(|c| c.is_whitespace() || c == '(');
        if candidate == word && stands_alone {
            self.pos += len;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn error(&self, message: &str) -> ParseError {
        ParseError(format!("{message} at position {}", self.pos))
    }
}

fn term(field: String, value: Term) -> Query {
    Query::Term { field, value }
}

fn flatten(mut parts: Vec<Query>, combine: fn(Vec<Query>) -> Query) -> Query {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        combine(parts)
    }
}

/// Fields Auth0 matches case-insensitively.
fn case_insensitive(field: &str) -> bool {
    matches!(
        field,
        "email" | "email.domain" | "name" | "given_name" | "family_name" | "nickname"
    )
}

/// Splits a query into the connection it is limited to (`identities.connection:"X"`
/// alone, or as one operand of a top-level `AND`) and what else it asks for. Without such
/// a term the scope is `None` and the rest is the whole query (`None` when it is `*`).
pub fn connection_scope(query: &Query) -> (Option<&str>, Option<Query>) {
    fn connection_of(query: &Query) -> Option<&str> {
        match query {
            Query::Term {
                field,
                value: Term::Exact(name),
            } if field == "identities.connection" => Some(name),
            _ => None,
        }
    }
    match query {
        Query::All => (None, None),
        Query::And(parts) => match parts.iter().position(|q| connection_of(q).is_some()) {
            Some(at) => {
                let mut rest: Vec<Query> = parts.clone();
                rest.remove(at);
                let rest = match rest.len() {
                    0 => None,
                    _ => Some(flatten(rest, Query::And)),
                };
                (connection_of(&parts[at]), rest)
            }
            None => (None, Some(query.clone())),
        },
        other => match connection_of(other) {
            Some(name) => (Some(name), None),
            None => (None, Some(other.clone())),
        },
    }
}

/// The address an `email:"x"` term (alone or `AND`ed at the top level) pins the query
/// to, so the email index can serve it.
pub fn pinned_email(query: &Query) -> Option<&str> {
    fn email_of(query: &Query) -> Option<&str> {
        match query {
            Query::Term {
                field,
                value: Term::Exact(address),
            } if field == "email" => Some(address),
            _ => None,
        }
    }
    match query {
        Query::And(parts) => parts.iter().find_map(email_of),
        other => email_of(other),
    }
}

impl Query {
    pub fn matches(&self, user: &JsonObject) -> bool {
        match self {
            Query::All => true,
            Query::Term { field, value } => values_at(user, field)
                .iter()
                .any(|v| term_matches(field, value, v)),
            Query::Exists(field) => values_at(user, field).iter().any(is_indexed),
            Query::Range {
                field,
                lower,
                upper,
            } => values_at(user, field)
                .iter()
                .any(|v| in_range(field, v, lower, upper)),
            Query::Not(inner) => !inner.matches(user),
            Query::And(all) => all.iter().all(|q| q.matches(user)),
            Query::Or(any) => any.iter().any(|q| q.matches(user)),
        }
    }
}

/// Every scalar at a dotted path; arrays on the way are searched element by element.
fn values_at(user: &JsonObject, field: &str) -> Vec<Value> {
    if field == "email.domain" {
        let domain = user
            .get("email")
            .and_then(Value::as_str)
            .and_then(|email| email.rsplit_once('@'))
            .map(|(_, domain)| Value::String(domain.to_owned()));
        return domain.into_iter().collect();
    }
    let mut parts = field.split('.');
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let mut current: Vec<&Value> = user.get(first).into_iter().collect();
    for part in parts {
        current = current
            .into_iter()
            .flat_map(|value| match value {
                Value::Array(items) => items.iter().filter_map(|i| i.get(part)).collect(),
                other => other.get(part).into_iter().collect::<Vec<_>>(),
            })
            .collect();
    }
    current
        .into_iter()
        .flat_map(|value| match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .collect()
}

/// Empty arrays, empty objects and null are not indexed (reference §2.2).
fn is_indexed(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Object(o) => !o.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn normalise(field: &str, text: &str) -> String {
    if case_insensitive(field) {
        text.to_lowercase()
    } else {
        text.to_owned()
    }
}

fn term_matches(field: &str, term: &Term, value: &Value) -> bool {
    let Some(text) = scalar_text(value) else {
        return false;
    };
    let text = normalise(field, &text);
    match term {
        Term::Exact(wanted) => {
            if let (Value::Number(n), Ok(wanted)) = (value, wanted.parse::<f64>()) {
                return n.as_f64() == Some(wanted);
            }
            date_prefix(field, &text, wanted) == normalise(field, wanted)
        }
        Term::Prefix(prefix) => value.is_string() && text.starts_with(&normalise(field, prefix)),
    }
}

fn in_range(field: &str, value: &Value, lower: &Bound, upper: &Bound) -> bool {
    let Some(text) = scalar_text(value) else {
        return false;
    };
    let within = |bound: &Bound, accept: fn(Ordering) -> bool| match &bound.value {
        None => true,
        Some(limit) => {
            let text = date_prefix(field, &text, limit);
            let ordering = compare_texts(&normalise(field, text), &normalise(field, limit));
            accept(ordering) || (bound.inclusive && ordering == Ordering::Equal)
        }
    };
    within(lower, Ordering::is_gt) && within(upper, Ordering::is_lt)
}

/// A log's `date` is compared at the precision the query gives (`date:2026-11-22`,
/// `date:[2026-11 TO 2026-12-01}`), as Auth0's log search does.
fn date_prefix<'a>(field: &str, text: &'a str, limit: &str) -> &'a str {
    match field {
        "date" => text.get(..limit.len()).unwrap_or(text),
        _ => text,
    }
}

/// Numbers compare numerically, everything else as text (ISO timestamps sort as text).
fn compare_texts(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

/// A `sort` parameter: `field:1` (ascending) or `field:-1` (descending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    field: String,
    descending: bool,
}

impl Sort {
    pub fn parse(text: &str) -> Option<Sort> {
        let (field, direction) = text.rsplit_once(':')?;
        let descending = match direction {
            "1" => false,
            "-1" => true,
            _ => return None,
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        (!field.is_empty() && field.chars().all(valid)).then(|| Sort {
            field: field.to_owned(),
            descending,
        })
    }

    pub fn is_descending(&self) -> bool {
        self.descending
    }

    /// Whether this is `created_at:1`, the order the indexes keep.
    pub fn is_created_at_ascending(&self) -> bool {
        self.field == "created_at" && !self.descending
    }

    /// Sorts stably (ties keep creation order); users without the field come last.
    pub fn apply(&self, users: &mut [JsonObject]) {
        users.sort_by(|a, b| {
            let a = values_at(a, &self.field).into_iter().next();
            let b = values_at(b, &self.field).into_iter().next();
            match (a, b) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => {
                    let ordering = compare_values(&a, &b);
                    if self.descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                }
            }
        });
    }
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => scalar_text(a).cmp(&scalar_text(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap()
    }

    fn alice() -> JsonObject {
        user(json!({
            "user_id": "auth0|63d17c4a8869daf88ed7db97",
            "email": "Alice@Partner.example",
            "email_verified": false,
            "name": "Alice Doe",
            "logins_count": 3,
            "created_at": "2026-10-01T09:00:00.000Z",
            "identities": [{"connection": "partner-db", "provider": "auth0"}],
            "app_metadata": {"verifyctl": {"sent": 2}, "tier": "gold"},
            "user_metadata": {}
        }))
    }

    fn matches(q: &str) -> bool {
        parse(q).unwrap().matches(&alice())
    }

    #[test]
    fn quoted_and_bare_values_match_fields() {
        assert!(matches(r#"identities.connection:"partner-db""#));
        assert!(matches("email_verified:false"));
        assert!(!matches("email_verified:true"));
        assert!(matches(r#"user_id:"auth0|63d17c4a8869daf88ed7db97""#));
        assert!(matches("logins_count:3"));
        assert!(matches(r#"name:"alice doe""#));
    }

    #[test]
    fn email_and_names_are_case_insensitive_other_fields_are_not() {
        assert!(matches(r#"email:"alice@partner.example""#));
        assert!(matches("email.domain:partner.example"));
        assert!(!matches(r#"identities.connection:"Partner-DB""#));
    }

    #[test]
    fn metadata_paths_wildcards_and_exists() {
        assert!(matches("app_metadata.tier:gold"));
        assert!(matches("app_metadata.verifyctl.sent:2"));
        assert!(matches("_exists_:app_metadata.verifyctl"));
        assert!(!matches("_exists_:user_metadata"));
        assert!(!matches("_exists_:last_login"));
        assert!(matches("email:ali*"));
        assert!(matches("app_metadata.tier:*"));
        assert!(!matches("email:bob*"));
    }

    #[test]
    fn boolean_operators_with_and_binding_tighter() {
        assert!(matches(
            "NOT _exists_:email_verified OR email_verified:false"
        ));
        assert!(matches(
            "email_verified:true OR logins_count:3 AND name:alice*"
        ));
        assert!(!matches(
            "(email_verified:true OR logins_count:3) AND name:bob"
        ));
        assert!(matches("NOT email_verified:true"));
        assert!(matches("-email_verified:true"));
        assert!(matches(
            r#"identities.connection:"partner-db" AND NOT app_metadata.tier:silver"#
        ));
        assert_eq!(
            parse("a:1 OR b:2 AND c:3").unwrap(),
            Query::Or(vec![
                term("a".into(), Term::Exact("1".into())),
                Query::And(vec![
                    term("b".into(), Term::Exact("2".into())),
                    term("c".into(), Term::Exact("3".into())),
                ]),
            ])
        );
    }

    #[test]
    fn ranges_compare_numbers_and_timestamps() {
        assert!(matches("logins_count:[1 TO 3]"));
        assert!(!matches("logins_count:[1 TO 3}"));
        assert!(matches("created_at:[* TO 2026-12-31]"));
        assert!(!matches("created_at:{2026-10-02 TO *]"));
    }

    #[test]
    fn escaped_spaces_and_empty_queries() {
        assert!(matches(r"name:Alice\ Doe"));
        assert_eq!(parse("  ").unwrap(), Query::All);
        assert!(parse("*").unwrap().matches(&alice()));
    }

    #[test]
    fn malformed_queries_are_errors() {
        for bad in [
            "email:",
            "(email:a",
            r#"email:"open"#,
            "justaword",
            "a:[1 2]",
            "a:1)",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn connection_scope_splits_off_the_connection_term() {
        let scoped = parse(r#"identities.connection:"partner-db""#).unwrap();
        assert_eq!(connection_scope(&scoped), (Some("partner-db"), None));
        let narrowed =
            parse(r#"identities.connection:"partner-db" AND email_verified:false"#).unwrap();
        let (scope, rest) = connection_scope(&narrowed);
        assert_eq!(scope, Some("partner-db"));
        assert_eq!(rest, Some(parse("email_verified:false").unwrap()));
        let either = parse(r#"identities.connection:"a" OR identities.connection:"b""#).unwrap();
        assert_eq!(connection_scope(&either).0, None);
        assert_eq!(connection_scope(&Query::All), (None, None));
        let prefix = parse("identities.connection:part*").unwrap();
        assert_eq!(connection_scope(&prefix).0, None);
    }

    #[test]
    fn sort_orders_with_missing_values_last() {
        let mut users = vec![
            user(json!({"email": "b@x", "n": 1})),
            user(json!({"email": "c@x"})),
            user(json!({"email": "a@x", "n": 2})),
        ];
        Sort::parse("n:-1").unwrap().apply(&mut users);
        let emails: Vec<_> = users.iter().map(|u| u["email"].clone()).collect();
        assert_eq!(emails, [json!("a@x"), json!("b@x"), json!("c@x")]);
        assert!(Sort::parse("email:2").is_none());
        assert!(Sort::parse("email").is_none());
    }
}
