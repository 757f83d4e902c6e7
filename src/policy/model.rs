//! The policy file format: the serde types a policy YAML file deserializes into, and from
//! which `schemas/policy.schema.json` is generated. Doc comments here become the schema's
//! descriptions, which editors show on hover, so they are written for policy authors.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checks::{EMAIL_MAX_OCTETS, EMAIL_PATTERN};
use super::duration::resend_after_pattern;

/// Text fields must not be blank: at least one character that is not a space (the schema's
/// `pattern`, checked the same way by `validate`).
pub const NOT_BLANK: &str = r"\S";
/// Auth0's limits on profile fields (`POST /api/v2/users`): `name` 1..300, `given_name` and
/// `family_name` 1..150 characters.
pub const NAME_MAX: usize = 300;
pub const GIVEN_NAME_MAX: usize = 150;
pub const FAMILY_NAME_MAX: usize = 150;
/// The longest `login.deny_message` (shown to the user on the login page).
pub const DENY_MESSAGE_MAX: usize = 500;
/// The longest `login.action_name`.
pub const ACTION_NAME_MAX: usize = 100;

/// A verifyctl policy file. All files of a policy directory are merged into one desired
/// state; each top-level list may appear in any file. A key with nothing under it
/// (`users:` with every entry commented out) is the same as an empty list.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "verifyctl policy file")]
// An empty file (or one holding only `~`) is an empty policy file.
#[schemars(extend("type" = ["object", "null"]))]
pub struct PolicyFile {
    /// Email-verification policy per Auth0 connection. It applies to every user of the
    /// connection, listed or not.
    #[serde(default)]
    #[schemars(extend("default" = []))]
    pub connections: Option<Vec<ConnectionPolicy>>,
    /// Applications (Auth0 clients) whose logins require a verified email.
    #[serde(default)]
    #[schemars(extend("default" = []))]
    pub applications: Option<Vec<ApplicationPolicy>>,
    /// Users that must exist, each in a connection defined under `connections`.
    #[serde(default)]
    #[schemars(extend("default" = []))]
    pub users: Option<Vec<UserPolicy>>,
    /// Settings of the post-login Action that enforces verification at login (at most one
    /// file may have this block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginPolicy>,
    /// Limits on the emails one `apply` sends (at most one file may have this block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<EmailsPolicy>,
}

/// The top-level keys of a policy file, in the order of [`PolicyFile`]'s fields.
pub const TOP_LEVEL_KEYS: [&str; 5] = ["connections", "applications", "users", "login", "emails"];

/// How many emails one run may send, so a first apply on a large tenant is spread over
/// several runs rather than sending everything at once (and getting the sender's domain
/// flagged). Emails over the budget are planned by later runs.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailsPolicy {
    /// The most verification and password-reset emails one apply sends (creates included).
    #[schemars(range(min = 1))]
    pub max_per_run: u32,
}

/// How the generated post-login Action behaves.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginPolicy {
    /// What a user whose login is denied is told (Auth0 shows it as the
    /// `error_description`). Keep it short and friendly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = DENY_MESSAGE_MAX), pattern(NOT_BLANK))]
    pub deny_message: Option<String>,
    /// Name of the Action in the tenant (default `verifyctl-email-verification`). verifyctl
    /// only ever changes, binds and unbinds the Action of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = ACTION_NAME_MAX), pattern(NOT_BLANK))]
    pub action_name: Option<String>,
}

/// Policy for one Auth0 connection.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// `resend`, `block_unverified_login` and `resend_on_login` need `email_verification: required`.
#[schemars(extend(
    "if" = {"properties": {"email_verification": {"const": "required"}}},
    "else" = {"properties": {
        "resend": {"type": "null"},
        "block_unverified_login": {"const": false},
        "resend_on_login": {"const": false}
    }}
))]
pub struct ConnectionPolicy {
    /// The Auth0 connection name (not its `con_` id), e.g. `Username-Password-Authentication`.
    #[schemars(length(min = 1), pattern(NOT_BLANK))]
    pub name: String,
    /// `required`: unverified users get verification emails (within `resend`); `trusted`:
    /// addresses are known good and are marked verified without any email; `off`: verifyctl
    /// sends nothing and changes no verification state.
    pub email_verification: VerificationMode,
    /// How often a user of a `required` connection may be sent a verification email. Without
    /// it, verifyctl sends each user at most one verification email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend: Option<ResendPolicy>,
    /// Name of the application (Auth0 client) whose branding and redirect the verification
    /// and password-reset emails use. Without it, Auth0 uses the tenant's global client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), pattern(NOT_BLANK))]
    pub verification_client: Option<String>,
    /// Whether the connection's signup form is open (`options.disable_signup`). The form
    /// sends a verification email to everyone who signs up, whatever this policy says.
    /// `unmanaged` (the default) leaves the setting alone. Database connections only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signup: Option<SignupMode>,
    /// Deny login to unverified users of this connection (enforced by the post-login
    /// Action verifyctl generates). Needs `email_verification: required`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub block_unverified_login: bool,
    /// When a login is denied for an unverified email, send a new verification email,
    /// within this connection's `resend` limits (tracked in the same ledger as `apply`).
    /// Needs `email_verification: required`, and the Action's Management API credentials in
    /// `VERIFYCTL_ACTION_CLIENT_ID`/`VERIFYCTL_ACTION_CLIENT_SECRET` at apply time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resend_on_login: bool,
    /// What happens to a user verifyctl manages (created, or reconciled while listed) once
    /// no policy lists it: `keep` (the default: it stays and gets no further email),
    /// `block` (`blocked: true`; listing it again unblocks it) or `delete` (only with
    /// `--allow-delete`, and at most `--max-deletes` users per run). Users verifyctl never
    /// managed are never blocked or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offboarding: Option<Offboarding>,
    /// A file of more users of this connection, relative to this policy file: `.csv` (a
    /// header row naming the columns `email`, `name`, `given_name`, `family_name`,
    /// `onboarding`, `email_verification`, `user_metadata.KEY`, `app_metadata.KEY`; an empty
    /// cell sets nothing) or `.json` (an array of user entries without `connection`). Its
    /// users join the ones listed under `users`, with the same checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), pattern(USERS_FILE_PATTERN))]
    pub users_file: Option<String>,
}

/// What happens to a managed user no policy lists any more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Offboarding {
    /// The user stays as it is; verifyctl sends it no further email.
    #[default]
    Keep,
    /// The user is blocked (`blocked: true`); listing it again unblocks it.
    Block,
    /// The user is deleted (only with `--allow-delete`, within `--max-deletes`).
    Delete,
}

impl Offboarding {
    pub fn as_str(self) -> &'static str {
        match self {
            Offboarding::Keep => "keep",
            Offboarding::Block => "block",
            Offboarding::Delete => "delete",
        }
    }
}

/// The schema's pattern for `users_file`: a relative path ending in `.csv` or `.json` (any
/// case). `lists.rs` checks the same.
pub const USERS_FILE_PATTERN: &str = r"^[^/\\].*\.([cC][sS][vV]|[jJ][sS][oO][nN])$";

/// The signup setting of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    /// Self-service signup is closed (`disable_signup: true`); users come from the API.
    Disabled,
    /// Self-service signup is open (`disable_signup: false`).
    Enabled,
    /// verifyctl leaves the connection's signup setting as it is.
    Unmanaged,
}

/// What email verification means for a connection or a user.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum VerificationMode {
    /// Users must verify their address; verifyctl sends verification emails.
    Required,
    /// Addresses are known to be correct; verifyctl marks them verified, sending nothing.
    Trusted,
    /// verifyctl sends no verification email and never touches `email_verified`.
    Off,
}

impl VerificationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationMode::Required => "required",
            VerificationMode::Trusted => "trusted",
            VerificationMode::Off => "off",
        }
    }
}

/// Limits on re-sending verification emails to one user.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendPolicy {
    /// Minimum time between two emails to the same user, e.g. `72h`, `3d`, `90m`, `1w`: a
    /// whole number and one unit (s, m, h, d, w), from 1 hour to 365 days.
    #[schemars(pattern(resend_after_pattern()))]
    pub after: String,
    /// Maximum number of verification emails one user ever gets from verifyctl, counting
    /// the first.
    #[schemars(range(min = 1, max = u32::MAX))]
    pub max: u32,
}

/// An application (Auth0 client) named by `name` or by `client_id` (exactly one of them).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["name"], "properties": {"name": {"type": "string"}}},
    {"required": ["client_id"], "properties": {"client_id": {"type": "string"}}}
]))]
pub struct ApplicationPolicy {
    /// The application's name as shown in the Auth0 dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), pattern(NOT_BLANK))]
    pub name: Option<String>,
    /// The application's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), pattern(NOT_BLANK))]
    pub client_id: Option<String>,
    /// `required`: users logging in to this application must have a verified email
    /// (enforced at login). `off`: no requirement. (`trusted` is a connection's mode, which
    /// marks its users verified; an application cannot vouch for an address.)
    #[schemars(extend("enum" = ["required", "off"]))]
    pub email_verification: VerificationMode,
}

/// A user that must exist in a connection.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPolicy {
    /// Name of a connection defined under `connections`.
    #[schemars(length(min = 1), pattern(NOT_BLANK))]
    pub connection: String,
    /// The user's email address (compared case-insensitively; Auth0 stores it lower-cased):
    /// at most 64 characters before `@`, 63 per domain label, 254 in all (RFC 5321).
    #[schemars(length(max = EMAIL_MAX_OCTETS), pattern(EMAIL_PATTERN))]
    pub email: String,
    /// Full name. When set, verifyctl keeps the Auth0 profile equal to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = NAME_MAX), pattern(NOT_BLANK))]
    pub name: Option<String>,
    /// Given name. When set, verifyctl keeps the Auth0 profile equal to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = GIVEN_NAME_MAX), pattern(NOT_BLANK))]
    pub given_name: Option<String>,
    /// Family name. When set, verifyctl keeps the Auth0 profile equal to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = FAMILY_NAME_MAX), pattern(NOT_BLANK))]
    pub family_name: Option<String>,
    /// `user_metadata` keys verifyctl owns. Each listed top-level key is kept equal to its
    /// value; keys not listed are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `app_metadata` keys verifyctl owns, like `user_metadata`. The key `verifyctl` is
    /// reserved for verifyctl's send ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides the connection's `email_verification` for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verification: Option<VerificationMode>,
    /// What the user is sent when verifyctl creates them. Defaults to `verification-email`
    /// when verification is `required`, otherwise `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding: Option<Onboarding>,
}

/// How a provisioned user is brought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Onboarding {
    /// Send verification emails (created with one; more within the connection's `resend`).
    VerificationEmail,
    /// Send one password-reset email so the user sets their own password; once they have
    /// logged in, their address is proven and verifyctl marks it verified.
    PasswordReset,
    /// Send nothing.
    None,
}

impl Onboarding {
    pub fn as_str(self) -> &'static str {
        match self {
            Onboarding::VerificationEmail => "verification-email",
            Onboarding::PasswordReset => "password-reset",
            Onboarding::None => "none",
        }
    }
}
