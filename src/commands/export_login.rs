//! `verifyctl export` and verifyctl's own post-login Action. When the tenant has the Action
//! deployed and bound (from an earlier `apply`), exported policies that asked for nothing at
//! login would make the next `apply` unbind it. This module reads the Action as `plan` finds
//! it (by name, with the post-login bindings), reads its rules back from the deployed code
//! (`login_action::read_rules`), and decides how each connection and application is written
//! so that the policies generate the same code ([`Enforcement`]); `export.rs` writes them.
//!
//! The rules come from the policies this way (`plan/login.rs`): a connection that is not
//! `required` is exempt; one with `block_unverified_login` (which needs `required`) is
//! blocked; an application that is `required` is required. So the exported settings are:
//!
//! - exempt connections: `off` (exempt like `trusted`, and the one mode that changes
//!   nothing);
//! - blocked connections: `required` with `block_unverified_login: true` (and
//!   `resend_on_login` with its `resend` as found). `required` applies to every user of the
//!   connection: unverified users who were never sent a verification email would be sent
//!   one. Export plans these connections as `plan` will and, where any email would be
//!   planned, leaves the connection out instead (never an email as a side effect of export;
//!   the Action then changes, which the next plan shows and the warning explains);
//! - connections the Action neither blocks nor exempts (`required` without blocking, or not
//!   in the policies): left out, since `off` would exempt them and `required` would email;
//! - applications it requires: `required`; `login` with the Action's name and deny message.

use std::collections::{BTreeMap, BTreeSet};

use crate::login_action::{self, LoginRules, ResendRule};
use crate::policy::LoginSpec;
use crate::tenant::types::Binding;
use crate::tenant::{ApiError, ManagementClient};

/// What the tenant has of verifyctl's login Action.
pub(super) enum LoginFound {
    /// No Action of the name, or it is not bound to post-login: nothing is enforced at
    /// login, and nothing is unbound by the next apply.
    NotBound,
    /// The credentials cannot read Actions (`read:actions`).
    Unreadable,
    /// Bound, but its code does not say what it enforces.
    Unparsed { name: String, why: String },
    /// Bound, enforcing these rules.
    Enforced(Enforcement),
}

/// The deployed Action's rules and how the export writes them.
pub(super) struct Enforcement {
    pub action_name: String,
    pub rules: LoginRules,
    /// The deployed code and the current draft (both must come out the same for `plan` to
    /// leave the Action alone).
    pub deployed_code: String,
    pub draft_code: String,
    /// Blocked connections left out, with why (e.g. `required` would email users now).
    pub left_out: BTreeMap<String, String>,
}

/// How the export writes one connection.
pub(super) enum Role<'a> {
    /// No Action to keep: `off`, as for any tenant.
    Plain,
    /// Exempt from the login check: `off`.
    Exempt,
    /// Blocked at login: `required` + `block_unverified_login`, re-sending as found.
    Blocked(Option<&'a ResendRule>),
    /// Left out of the policies (written as comments), and why.
    LeftOut(&'a str),
}

const NEITHER: &str = "the login Action neither blocks nor exempts this connection (it was `required` without `block_unverified_login`, or in no policy): as `off` its users would become exempt from the login check (a change to the Action), and as `required` its unverified users would be sent verification emails";

impl Enforcement {
    pub fn role(&self, connection: &str) -> Role<'_> {
        if let Some(why) = self.left_out.get(connection) {
            return Role::LeftOut(why);
        }
        if self.rules.blocked_connections.contains(connection) {
            return Role::Blocked(self.rules.resend_on_login.get(connection));
        }
        if self.rules.exempt_connections.contains(connection) {
            return Role::Exempt;
        }
        Role::LeftOut(NEITHER)
    }

    /// The blocked connections written `required`.
    pub fn required_connections(&self) -> Vec<String> {
        self.rules
            .blocked_connections
            .iter()
            .filter(|c| !self.left_out.contains_key(*c))
            .cloned()
            .collect()
    }

    /// Whether the code the exported policies generate is the code the tenant runs.
    pub fn keeps(&self, code: &str) -> bool {
        self.deployed_code == code && self.draft_code == code
    }
}

/// Reads verifyctl's Action (by its default name, as `plan` does without a `login` block)
/// and the post-login bindings.
pub(super) async fn read_login(client: &ManagementClient) -> Result<LoginFound, ApiError> {
    let name = LoginSpec::DEFAULT_ACTION_NAME;
    let read = async {
        let action = client.find_action(name).await?;
        let bindings = client.list_bindings(login_action::TRIGGER).await?;
        Ok::<_, ApiError>((action, bindings))
    };
    let (action, bindings) = match read.await {
        Ok(read) => read,
        Err(error) if error.status() == Some(403) => return Ok(LoginFound::Unreadable),
        Err(error) => return Err(error),
    };
    let Some(action) = action else {
        return Ok(LoginFound::NotBound);
    };
    let bound = bindings
        .iter()
        .any(|b: &Binding| b.action.id == action.id || b.action.name == name);
    if !bound {
        return Ok(LoginFound::NotBound);
    }
    let Some(deployed) = &action.deployed_version else {
        return Ok(LoginFound::Unparsed {
            name: name.to_string(),
            why: "it has no deployed version".into(),
        });
    };
    match login_action::read_rules(&deployed.code) {
        Ok(rules) => Ok(LoginFound::Enforced(Enforcement {
            action_name: name.to_string(),
            rules,
            deployed_code: deployed.code.clone(),
            draft_code: action.code.clone(),
            left_out: BTreeMap::new(),
        })),
        Err(error) => Ok(LoginFound::Unparsed {
            name: name.to_string(),
            why: error.to_string(),
        }),
    }
}

/// The warning for a bound Action whose rules cannot be read: what the next apply does,
/// and what to do about it.
pub(super) fn unparsed_warning(name: &str, why: &str) -> String {
    format!(
        "the tenant's login Action `{name}` is deployed and bound, but {why}. The exported policies ask for nothing at login, so the next `verifyctl apply` will unbind it (every other binding stays) unless the enforcement is written back: give the connections it blocks `email_verification: required` and `block_unverified_login: true` (a `required` connection's unverified users are sent verification emails), the applications it requires `email_verification: required`, and `login: {{ action_name: {name} }}`; `verifyctl plan` then shows whether the Action stays as it is"
    )
}

/// Connections by the number of emails a plan has for them.
pub(super) fn emails_by_connection(plan: &crate::plan::Plan) -> BTreeMap<String, usize> {
    use crate::plan::ActionKind;
    let mut emails = BTreeMap::new();
    for action in &plan.actions {
        let emails_someone = matches!(
            action.kind(),
            ActionKind::SendVerificationEmail
                | ActionKind::SendPasswordReset
                | ActionKind::CreateUser
        );
        if emails_someone && let Some(connection) = action.target.connection() {
            *emails.entry(connection.to_string()).or_insert(0) += 1;
        }
    }
    emails
}

/// Why a blocked connection is left out when `required` would plan `count` emails.
pub(super) fn emailing_reason(count: usize) -> String {
    format!(
        "the login Action blocks this connection's unverified users, which only `email_verification: required` with `block_unverified_login: true` asks for, and under `required` the next apply would send {count} email{} (to unverified users who were never sent one); left out, nothing is sent, and the next apply changes the Action to stop blocking this connection",
        if count == 1 { "" } else { "s" }
    )
}

/// The names in `rules` that the tenant does not have, which no policy can name.
pub(super) fn missing_from_tenant(
    rules: &LoginRules,
    connections: &BTreeSet<&str>,
    client_ids: &BTreeSet<&str>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for connection in rules
        .blocked_connections
        .iter()
        .chain(&rules.exempt_connections)
    {
        if !connections.contains(connection.as_str()) {
            missing.push(format!("connection `{connection}`"));
        }
    }
    for (client_id, name) in &rules.required_applications {
        if !client_ids.contains(client_id.as_str()) {
            missing.push(format!("application \"{name}\" ({client_id})"));
        }
    }
    missing
}
