//! The post-login Action verifyctl generates to enforce verification at login.
//!
//! [`LoginRules`] is what the policies ask for at login, with application names already
//! resolved to client ids; [`render`] turns it into the Action's JavaScript by filling one
//! JSON literal into `template.js`. The output is deterministic: the same rules give the
//! same bytes, so the plan can diff it against the deployed version.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The trigger the Action is bound to.
pub const TRIGGER: &str = "post-login";
/// The trigger version the Action is written for.
pub const TRIGGER_VERSION: &str = "v3";
/// The Actions runtime.
pub const RUNTIME: &str = "node22";

/// Action secrets the re-send code reads (values are set at apply time, never shown).
pub const SECRET_DOMAIN: &str = "VERIFYCTL_DOMAIN";
pub const SECRET_CLIENT_ID: &str = "VERIFYCTL_CLIENT_ID";
pub const SECRET_CLIENT_SECRET: &str = "VERIFYCTL_CLIENT_SECRET";
/// Environment variables holding the credentials the Action uses to re-send emails: a
/// machine-to-machine application with `update:users` (keep it separate from verifyctl's).
pub const ENV_ACTION_CLIENT_ID: &str = "VERIFYCTL_ACTION_CLIENT_ID";
pub const ENV_ACTION_CLIENT_SECRET: &str = "VERIFYCTL_ACTION_CLIENT_SECRET";

const TEMPLATE: &str = include_str!("template.js");
const PLACEHOLDER: &str = "/*POLICY*/";

/// What the Action enforces, as the JavaScript reads it (`POLICY`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRules {
    /// Connections whose unverified users are denied.
    pub blocked_connections: BTreeSet<String>,
    /// Connections never stopped (`trusted` or `off`).
    pub exempt_connections: BTreeSet<String>,
    /// Client id → application name, for applications requiring a verified email.
    pub required_applications: BTreeMap<String, String>,
    /// Connections that re-send a verification email on a denied login.
    pub resend_on_login: BTreeMap<String, ResendRule>,
    pub deny_message: String,
}

/// Limits on re-sending from the Action (the connection's `resend` policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendRule {
    pub after_seconds: i64,
    pub max: u32,
    /// The connection's `verification_client`; without it, the application being logged
    /// into brands the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl LoginRules {
    /// Whether any login can be denied (otherwise no Action is needed).
    pub fn enforces_anything(&self) -> bool {
        !self.blocked_connections.is_empty() || !self.required_applications.is_empty()
    }

    /// The Action secrets the code needs (none unless something re-sends).
    pub fn secret_names(&self) -> Vec<String> {
        if self.resend_on_login.is_empty() {
            Vec::new()
        } else {
            [SECRET_CLIENT_ID, SECRET_CLIENT_SECRET, SECRET_DOMAIN]
                .map(String::from)
                .to_vec()
        }
    }
}

/// The Action's JavaScript for `rules`.
pub fn render(rules: &LoginRules) -> String {
    let policy = serde_json::to_string_pretty(rules).unwrap_or_else(|_| "{}".to_string());
    TEMPLATE.replacen(PLACEHOLDER, &policy, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LoginRules {
        LoginRules {
            blocked_connections: ["partner-db".to_string()].into(),
            exempt_connections: ["staff".to_string()].into(),
            required_applications: [("abc123".to_string(), "Portal".to_string())].into(),
            resend_on_login: [(
                "partner-db".to_string(),
                ResendRule {
                    after_seconds: 259_200,
                    max: 3,
                    client_id: None,
                },
            )]
            .into(),
            deny_message: "Verify \"your\" email".into(),
        }
    }

    #[test]
    fn renders_the_rules_into_the_template_once() {
        let code = render(&rules());
        assert!(!code.contains(PLACEHOLDER));
        assert!(code.contains("exports.onExecutePostLogin = async (event, api) =>"));
        assert!(code.contains("\"blockedConnections\": [\n    \"partner-db\"\n  ]"));
        assert!(code.contains("\"denyMessage\": \"Verify \\\"your\\\" email\""));
        assert_eq!(code, render(&rules()), "deterministic");
    }

    #[test]
    fn secrets_are_needed_only_for_resends() {
        assert_eq!(rules().secret_names().len(), 3);
        let quiet = LoginRules {
            resend_on_login: BTreeMap::new(),
            ..rules()
        };
        assert!(quiet.secret_names().is_empty());
        assert!(quiet.enforces_anything());
        assert!(!LoginRules::default().enforces_anything());
    }
}
