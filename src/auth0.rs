//! Facts about Auth0 itself that both sides of verifyctl rely on, the planning side and the
//! emulator: how each kind of connection strategy behaves, which `app_metadata` keys Auth0
//! reserves, and the user profile fields a reconciler can own ([`Profile`], shared by the
//! policies, the client's request bodies and the plan). One copy, so the emulator and the
//! planner cannot disagree.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Connection strategies grouped by how the Management API treats their users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    /// `auth0`: users with passwords Auth0 stores; created with a password, `email_verified`
    /// settable, password resets by email.
    Database,
    /// `email`: passwordless by email link or code; created without a password.
    PasswordlessEmail,
    /// `sms`: passwordless by phone; users have phone numbers, and `email_verified` cannot
    /// be set (reference §4.1).
    PasswordlessSms,
    /// Social providers (google-oauth2, github, ...): the provider asserts `email_verified`
    /// and overwrites it at each login (reference §12.7).
    Social,
    /// Enterprise federation (SAML, Azure AD, OIDC, ...): `email_verified` cannot be set.
    Enterprise,
}

/// Enterprise strategy names (everything neither database, passwordless nor listed here is
/// a social provider).
const ENTERPRISE_STRATEGIES: [&str; 12] = [
    "ad",
    "adfs",
    "auth0-oidc",
    "google-apps",
    "ip",
    "office365",
    "oidc",
    "okta",
    "pingfederate",
    "samlp",
    "sharepoint",
    "waad",
];

impl StrategyKind {
    pub fn of(strategy: &str) -> StrategyKind {
        match strategy {
            "auth0" => StrategyKind::Database,
            "email" => StrategyKind::PasswordlessEmail,
            "sms" => StrategyKind::PasswordlessSms,
            s if ENTERPRISE_STRATEGIES.contains(&s) => StrategyKind::Enterprise,
            _ => StrategyKind::Social,
        }
    }

    /// `POST /api/v2/users` accepts only database and passwordless connections.
    pub fn can_create_users(self) -> bool {
        matches!(
            self,
            StrategyKind::Database
                | StrategyKind::PasswordlessEmail
                | StrategyKind::PasswordlessSms
        )
    }

    /// Whether `PATCH email_verified` is accepted and sticks.
    pub fn can_set_email_verified(self) -> bool {
        matches!(
            self,
            StrategyKind::Database | StrategyKind::PasswordlessEmail
        )
    }
}

/// `app_metadata` keys Auth0 refuses (reference §9.1).
pub const RESERVED_APP_METADATA_KEYS: [&str; 18] = [
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
];

/// The profile fields verifyctl can own: root name fields and top-level metadata keys
/// (Auth0 shallow-merges metadata on PATCH, so a partial object changes only its keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<Map<String, Value>>,
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    /// Sets one field named as [`Profile::fields`] names it (non-string values for the
    /// name fields and unknown field names are ignored).
    pub fn set(&mut self, field: &str, value: Value) {
        let text = || value.as_str().map(str::to_string);
        match field.split_once('.') {
            None => match field {
                "name" => self.name = text(),
                "given_name" => self.given_name = text(),
                "family_name" => self.family_name = text(),
                _ => {}
            },
            Some(("user_metadata", key)) => {
                self.user_metadata
                    .get_or_insert_default()
                    .insert(key.into(), value);
            }
            Some(("app_metadata", key)) => {
                self.app_metadata
                    .get_or_insert_default()
                    .insert(key.into(), value);
            }
            Some(_) => {}
        }
    }

    /// Every set field as (`name` | `user_metadata.key` | …, value), in a fixed order.
    pub fn fields(&self) -> Vec<(String, Value)> {
        let mut fields = Vec::new();
        for (field, value) in [
            ("name", &self.name),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
        ] {
            if let Some(value) = value {
                fields.push((field.to_string(), Value::String(value.clone())));
            }
        }
        for (prefix, map) in [
            ("user_metadata", &self.user_metadata),
            ("app_metadata", &self.app_metadata),
        ] {
            for (key, value) in map.iter().flatten() {
                fields.push((format!("{prefix}.{key}"), value.clone()));
            }
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_fall_into_their_kinds() {
        assert_eq!(StrategyKind::of("auth0"), StrategyKind::Database);
        assert_eq!(StrategyKind::of("email"), StrategyKind::PasswordlessEmail);
        assert_eq!(StrategyKind::of("sms"), StrategyKind::PasswordlessSms);
        assert_eq!(StrategyKind::of("samlp"), StrategyKind::Enterprise);
        assert_eq!(StrategyKind::of("waad"), StrategyKind::Enterprise);
        assert_eq!(StrategyKind::of("google-oauth2"), StrategyKind::Social);
        assert_eq!(StrategyKind::of("github"), StrategyKind::Social);
        assert!(StrategyKind::PasswordlessSms.can_create_users());
        assert!(!StrategyKind::PasswordlessSms.can_set_email_verified());
        assert!(!StrategyKind::Social.can_set_email_verified());
    }
}

/// The Management API scopes a call needs, any one of them (`[]` for calls that need none:
/// the Authentication API's `/dbconnections/change_password`). `call` is `METHOD /path` as
/// [`crate::plan::Operation::calls`] names it. From the OpenAPI spec's `security` entries
/// (reference §2-§10); the emulator answers 403 `insufficient_scope` for the same calls.
pub fn scopes_for_call(call: &str) -> &'static [&'static str] {
    let (method, path) = call.split_once(' ').unwrap_or(("", call));
    let path = path.split(' ').next().unwrap_or(path);
    match (method, path) {
        ("POST", "/api/v2/users" | "/api/v2/jobs/users-imports") => &["create:users"],
        ("PATCH", p) if p.starts_with("/api/v2/users/") => {
            &["update:users", "update:users_app_metadata"]
        }
        ("GET", p) if p.starts_with("/api/v2/users") => &["read:users"],
        ("DELETE", p) if p.starts_with("/api/v2/users/") => &["delete:users"],
        ("POST", "/api/v2/jobs/verification-email") => &["update:users"],
        ("POST", "/api/v2/jobs/users-exports") => &["read:users"],
        ("GET", p) if p.starts_with("/api/v2/jobs/") => &["create:users", "read:users"],
        ("GET", p) if p.starts_with("/api/v2/connections") => &["read:connections"],
        ("PATCH", p) if p.starts_with("/api/v2/connections") => &["update:connections"],
        ("GET", p) if p.starts_with("/api/v2/actions/") => &["read:actions"],
        // Deploying is a POST under the action and needs `create:actions` too (§10).
        ("POST", p) if p.starts_with("/api/v2/actions/") => &["create:actions"],
        ("PATCH", p) if p.starts_with("/api/v2/actions/") => &["update:actions"],
        ("GET", p) if p.starts_with("/api/v2/logs") => &["read:logs"],
        ("GET", p) if p.starts_with("/api/v2/clients") => &["read:clients"],
        _ => &[],
    }
}

#[cfg(test)]
mod scope_tests {
    use super::scopes_for_call;

    #[test]
    fn every_call_a_plan_makes_names_its_scopes() {
        assert_eq!(scopes_for_call("POST /api/v2/users"), ["create:users"]);
        assert_eq!(
            scopes_for_call("PATCH /api/v2/users/{id}"),
            ["update:users", "update:users_app_metadata"]
        );
        assert_eq!(
            scopes_for_call(
                "POST /api/v2/jobs/users-imports (one file for up to about 2,000 users, then GET /api/v2/jobs/{id} and /errors)"
            ),
            ["create:users"]
        );
        assert_eq!(
            scopes_for_call("POST /api/v2/actions/actions/{id}/deploy"),
            ["create:actions"]
        );
        assert_eq!(
            scopes_for_call("PATCH /api/v2/actions/triggers/post-login/bindings"),
            ["update:actions"]
        );
        assert_eq!(
            scopes_for_call("DELETE /api/v2/users/{id}"),
            ["delete:users"]
        );
        assert!(scopes_for_call("POST /dbconnections/change_password").is_empty());
    }
}
