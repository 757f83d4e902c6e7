//! Request input shared by the Management API handlers: query strings (strict, repeated
//! parameters allowed), offset and checkpoint paging, `fields`/`include_fields`
//! projection, and JSON payload checks. Every rejection uses Auth0's validation wording
//! (`Query validation error: ...`, `Payload validation error: ...`, reference §0.1).

use serde_json::{Value, json};

use super::errors::ApiError;
use super::state::JsonObject;

/// The parsed query string of one request.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Parses `raw` and rejects parameters outside `allowed`, as the real API's strict
    /// query schemas do. (Choice: the exact wording for unknown query parameters is not
    /// in the reference; this mirrors its payload wording.)
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<QueryParams, ApiError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            return Err(ApiError::invalid_query(format!(
                "Query validation error: 'Additional properties not allowed: {name}'."
            )));
        }
        Ok(QueryParams { pairs })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter (`strategy=a&strategy=b`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An integer parameter within `min..=max`.
    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let value: i64 = text
            .parse()
            .map_err(|_| query_error(name, "Expected type integer but found type string"))?;
        if value > max {
            return Err(query_error(
                name,
                &format!("Value {value} is greater than maximum {max}"),
            ));
        }
        if value < min {
            return Err(query_error(
                name,
                &format!("Value {value} is less than minimum {min}"),
            ));
        }
        Ok(Some(value))
    }

    /// A `true`/`false` parameter.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(query_error(
                name,
                "Expected type boolean but found type string",
            )),
        }
    }
}

/// `Query validation error: '<detail>' on property <name> (<description>).`
pub fn query_error(name: &str, detail: &str) -> ApiError {
    let description = match name {
        "per_page" => " (Number of results per page. Defaults to 50)",
        "page" => " (Page index of the results to return. First page is 0.)",
        _ => "",
    };
    ApiError::invalid_query(format!(
        "Query validation error: '{detail}' on property {name}{description}."
    ))
}

/// How a list endpoint (connections, clients) pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// No paging parameter: every item as a bare array.
    All,
    /// `page`/`per_page`/`include_totals`.
    Offset {
        page: usize,
        per_page: usize,
        include_totals: bool,
    },
    /// `from`/`take`: `{items, next?}` whatever `include_totals` says (connections.json).
    Checkpoint { from: usize, take: usize },
}

/// Default `per_page` and `take` (reference §11.3).
pub const DEFAULT_PER_PAGE: usize = 50;
pub const MAX_PER_PAGE: i64 = 100;

impl Paging {
    /// Reads the paging parameters of a connections or clients list. Choice: without
    /// any paging parameter the whole list comes back (the legacy unpaged behaviour);
    /// the `from` token is the decimal offset of the next item.
    pub fn from_query(params: &QueryParams, min_per_page: i64) -> Result<Paging, ApiError> {
        if params.has("take") || params.has("from") {
            let take = params.integer("take", 1, MAX_PER_PAGE)?;
            let from = match params.get("from") {
                None => 0,
                Some(token) => token
                    .parse()
                    .map_err(|_| query_error("from", "Invalid checkpoint token"))?,
            };
            return Ok(Paging::Checkpoint {
                from,
                take: take.map_or(DEFAULT_PER_PAGE, to_usize),
            });
        }
        let include_totals = params.boolean("include_totals")?;
        let page = params.integer("page", 0, i64::MAX)?;
        let per_page = params.integer("per_page", min_per_page, MAX_PER_PAGE)?;
        if include_totals.is_none() && page.is_none() && per_page.is_none() {
            return Ok(Paging::All);
        }
        Ok(Paging::Offset {
            page: page.map_or(0, to_usize),
            per_page: per_page.map_or(DEFAULT_PER_PAGE, to_usize),
            include_totals: include_totals.unwrap_or(false),
        })
    }

    /// The response for `items` (already filtered) under this paging, listing them under
    /// `key` when the response is an object.
    pub fn respond(self, items: Vec<Value>, key: &str) -> Value {
        let total = items.len();
        match self {
            Paging::All => Value::Array(items),
            Paging::Offset {
                page,
                per_page,
                include_totals,
            } => {
                let start = page.saturating_mul(per_page);
                let slice = window(items, start, per_page);
                if include_totals {
                    json!({ "total": total, "start": start, "limit": per_page, key: slice })
                } else {
                    Value::Array(slice)
                }
            }
            Paging::Checkpoint { from, take } => {
                let slice = window(items, from, take);
                let mut body = json!({ key: slice });
                if from.saturating_add(take) < total {
                    body["next"] = json!((from + take).to_string());
                }
                body
            }
        }
    }
}

/// `items[start..start+len]`, clipped to the list.
pub fn window<T>(items: Vec<T>, start: usize, len: usize) -> Vec<T> {
    items.into_iter().skip(start).take(len).collect()
}

fn to_usize(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

/// `fields` + `include_fields`: which top-level keys of each item to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    fields: Vec<String>,
    include: bool,
}

impl Projection {
    /// `None` when no `fields` parameter was given (everything is returned).
    pub fn from_query(params: &QueryParams) -> Result<Option<Projection>, ApiError> {
        let include = params.boolean("include_fields")?.unwrap_or(true);
        let Some(fields) = params.get("fields").filter(|f| !f.is_empty()) else {
            return Ok(None);
        };
        let fields = fields.split(',').map(|f| f.trim().to_owned()).collect();
        Ok(Some(Projection { fields, include }))
    }

    pub fn apply(&self, mut object: JsonObject) -> JsonObject {
        object.retain(|key, _| self.fields.contains(key) == self.include);
        object
    }
}

/// Applies an optional projection.
pub fn project(projection: Option<&Projection>, object: JsonObject) -> JsonObject {
    match projection {
        Some(projection) => projection.apply(object),
        None => object,
    }
}

/// Parses a JSON object body, with hapi's wording for bad JSON.
pub fn json_object(body: &[u8]) -> Result<JsonObject, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("Invalid request payload JSON format"))?;
    match value {
        Value::Object(object) => Ok(object),
        other => Err(ApiError::invalid_body(format!(
            "Payload validation error: 'Expected type object but found type {}'.",
            json_type(&other)
        ))),
    }
}

/// A body schema: each allowed property, its JSON type, and whether `null` is allowed.
pub type Schema = [(&'static str, Expect, bool)];

/// Rejects properties the schema does not list and properties of the wrong type.
pub fn check_payload(body: &JsonObject, schema: &Schema) -> Result<(), ApiError> {
    let allowed = |key: &str| schema.iter().any(|(name, _, _)| *name == key);
    if let Some(key) = body.keys().find(|k| !allowed(k)) {
        return Err(ApiError::invalid_body(format!(
            "Payload validation error: 'Additional properties not allowed: {key}'."
        )));
    }
    check_types(body, schema)
}

/// The JSON type a body property must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    String,
    Boolean,
    Object,
    Array,
    Integer,
}

impl Expect {
    fn name(self) -> &'static str {
        match self {
            Expect::String => "string",
            Expect::Boolean => "boolean",
            Expect::Object => "object",
            Expect::Array => "array",
            Expect::Integer => "integer",
        }
    }

    fn accepts(self, value: &Value) -> bool {
        matches!(
            (self, value),
            (Expect::String, Value::String(_))
                | (Expect::Boolean, Value::Bool(_))
                | (Expect::Object, Value::Object(_))
                | (Expect::Array, Value::Array(_))
        ) || matches!((self, value), (Expect::Integer, Value::Number(n)) if !n.is_f64())
    }
}

/// Checks the type of each present property; `null` passes where `nullable` says so.
fn check_types(body: &JsonObject, schema: &Schema) -> Result<(), ApiError> {
    for (name, expect, nullable) in schema {
        let Some(value) = body.get(*name) else {
            continue;
        };
        if expect.accepts(value) || (*nullable && value.is_null()) {
            continue;
        }
        return Err(ApiError::invalid_body(format!(
            "Payload validation error: 'Expected type {} but found type {}' on property {name}.",
            expect.name(),
            json_type(value)
        )));
    }
    Ok(())
}

/// `Payload validation error: 'Missing required property: <name>'.`
pub fn missing_property(name: &str) -> ApiError {
    ApiError::invalid_body(format!(
        "Payload validation error: 'Missing required property: {name}'."
    ))
}

/// The JSON-schema name of a value's type, as Auth0's validator prints it.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A string property, when present and a string.
pub fn string_field<'a>(body: &'a JsonObject, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// A boolean property, when present and a boolean.
pub fn bool_field(body: &JsonObject, name: &str) -> Option<bool> {
    body.get(name).and_then(Value::as_bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> QueryParams {
        QueryParams::parse(
            Some(raw),
            &[
                "page",
                "per_page",
                "include_totals",
                "take",
                "from",
                "strategy",
            ],
        )
        .unwrap()
    }

    #[test]
    fn per_page_above_100_uses_the_real_wording() {
        let err = Paging::from_query(&params("per_page=101"), 1).unwrap_err();
        assert_eq!(
            err.message,
            "Query validation error: 'Value 101 is greater than maximum 100' on property \
             per_page (Number of results per page. Defaults to 50)."
        );
        assert_eq!(err.error_code, Some("invalid_query_string"));
    }

    #[test]
    fn unknown_parameters_are_rejected() {
        let err = QueryParams::parse(Some("pgae=1"), &["page"]).unwrap_err();
        assert!(
            err.message
                .contains("Additional properties not allowed: pgae")
        );
    }

    #[test]
    fn repeated_parameters_are_all_kept() {
        assert_eq!(params("strategy=a&strategy=b").all("strategy"), ["a", "b"]);
    }

    #[test]
    fn checkpoint_paging_wins_over_include_totals() {
        let paging = Paging::from_query(&params("include_totals=true&take=2"), 1).unwrap();
        let items = (0..5).map(|i| json!(i)).collect();
        assert_eq!(
            paging.respond(items, "things"),
            json!({"things":[0,1],"next":"2"})
        );
    }

    #[test]
    fn checkpoint_paging_has_no_next_on_the_last_page() {
        let paging = Paging::from_query(&params("take=2&from=4"), 1).unwrap();
        let items = (0..5).map(|i| json!(i)).collect();
        assert_eq!(paging.respond(items, "things"), json!({"things":[4]}));
    }

    #[test]
    fn offset_paging_with_totals_wraps_the_page() {
        let paging =
            Paging::from_query(&params("page=1&per_page=2&include_totals=true"), 1).unwrap();
        let items = (0..5).map(|i| json!(i)).collect();
        assert_eq!(
            paging.respond(items, "things"),
            json!({"total":5,"start":2,"limit":2,"things":[2,3]})
        );
    }

    #[test]
    fn projection_includes_or_excludes_top_level_keys() {
        let object = json!({"a":1,"b":2,"c":3}).as_object().cloned().unwrap();
        let keep = Projection {
            fields: vec!["a".into(), "c".into()],
            include: true,
        };
        let drop = Projection {
            include: false,
            ..keep.clone()
        };
        assert_eq!(
            Value::Object(keep.apply(object.clone())),
            json!({"a":1,"c":3})
        );
        assert_eq!(Value::Object(drop.apply(object)), json!({"b":2}));
    }
}
