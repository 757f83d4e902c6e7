//! The policy JSON Schema, generated from [`super::model::PolicyFile`] with schemars, pinned
//! to draft 2020-12. `verifyctl schema` prints it and a test keeps
//! `schemas/policy.schema.json` equal to it. Every property also accepts a text holding a
//! `${NAME}` variable (`$defs/Variable`), since the value's type is only known once the
//! variables are resolved (`validate` with the variables checks it then).

use schemars::generate::SchemaSettings;

use super::model::PolicyFile;

/// Where the checked-in copy lives, relative to the repository root.
pub const POLICY_SCHEMA_PATH: &str = "schemas/policy.schema.json";

/// The policy schema as pretty JSON with a trailing newline.
pub fn policy_schema_json() -> String {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<PolicyFile>();
    let mut schema = schema.to_value();
    allow_variables(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|e| {
        // Serializing a schemars schema (a JSON value) cannot fail; keep the error visible anyway.
        format!("{{\"error\": \"{e}\"}}")
    });
    text.push('\n');
    text
}

/// The schema of a text holding a `${NAME}` reference.
const VARIABLE_DEF: &str = "Variable";

/// Lets every property (at any depth, also in `if`/`else`) be a `${NAME}` text.
fn allow_variables(schema: &mut serde_json::Value) {
    use serde_json::{Value, json};
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get_mut("properties") {
                    for property in properties.values_mut() {
                        walk(property);
                        let mut original = std::mem::take(property);
                        let description = original
                            .as_object_mut()
                            .and_then(|o| o.remove("description"));
                        let mut wrapped = serde_json::Map::new();
                        if let Some(description) = description {
                            wrapped.insert("description".into(), description);
                        }
                        wrapped.insert(
                            "anyOf".into(),
                            json!([original, {"$ref": format!("#/$defs/{VARIABLE_DEF}")}]),
                        );
                        *property = Value::Object(wrapped);
                    }
                }
                for (key, child) in map.iter_mut() {
                    if key != "properties" {
                        walk(child);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(schema);
    if let Some(Value::Object(defs)) = schema.get_mut("$defs") {
        defs.insert(
            VARIABLE_DEF.into(),
            json!({
                "description": "A `${NAME}` policy variable, resolved from `--var NAME=VALUE`, `--var-file FILE` or `VERIFYCTL_VAR_NAME` (`$${` is a literal `${`).",
                "type": "string",
                "pattern": "\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}"
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::TOP_LEVEL_KEYS;

    #[test]
    fn is_draft_2020_12_and_closed() {
        let schema: serde_json::Value = serde_json::from_str(&policy_schema_json()).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["UserPolicy"]["additionalProperties"], false);
    }

    #[test]
    fn top_level_keys_match_the_loader() {
        let schema: serde_json::Value = serde_json::from_str(&policy_schema_json()).unwrap();
        let keys: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = TOP_LEVEL_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }
}
