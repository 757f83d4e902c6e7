//! The policy JSON Schema, generated from [`super::model::PolicyFile`] with schemars, pinned
//! to draft 2020-12. `verifyctl schema` prints it and a test keeps
//! `schemas/policy.schema.json` equal to it.

use schemars::generate::SchemaSettings;

use super::model::PolicyFile;

/// Where the checked-in copy lives, relative to the repository root.
pub const POLICY_SCHEMA_PATH: &str = "schemas/policy.schema.json";

/// The policy schema as pretty JSON with a trailing newline.
pub fn policy_schema_json() -> String {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<PolicyFile>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|e| {
        // Serializing a schemars schema (a JSON value) cannot fail; keep the error visible anyway.
        format!("{{\"error\": \"{e}\"}}")
    });
    text.push('\n');
    text
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
