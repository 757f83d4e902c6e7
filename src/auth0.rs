//! Facts about Auth0 itself that both sides of verifyctl rely on, the planning side and the
//! emulator: how each kind of connection strategy behaves, and which `app_metadata` keys
//! Auth0 reserves. One copy, so the emulator and the planner cannot disagree.

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
