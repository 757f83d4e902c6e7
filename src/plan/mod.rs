//! The plan: what `apply` would do, as data.
//!
//! [`build_plan`] is a pure function of the desired state, the live state and "now"; the
//! same inputs always give the same [`Plan`], in a stable order (connection, then user,
//! then action kind). Each [`Action`] names its target, its reason, its field changes and
//! the [`Operation`] it sends (from which its kind, its API calls and its headline follow),
//! except the generated password, which only exists inside `apply`.

mod action;
mod budget;
mod build;
mod login;
mod operation;
pub mod resend;
pub mod saved;
mod signup;
#[cfg(test)]
mod tests;
mod users;
mod warnings;

use serde::{Deserialize, Serialize};

pub use crate::ledger::{Ledger, SendKind};
pub use crate::policy::ListedUser;
pub use crate::policy::Scope;
pub(crate) use action::sort_actions;
pub use action::{Action, ActionKind, ChangeSymbol, FieldChange, Headline, Target};
pub use build::{ConnectionContext, build_plan, build_plan_in};
pub use login::{login_rules, login_rules_offline};
pub use operation::{CreateEmail, LoginActionDeployment, NewUser, Operation};
pub use users::replan_existing_user;

/// Everything a plan run found: the actions to take and what the user should know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub warnings: Vec<Warning>,
    /// Set when the plan covers only part of the policies (`--connection`, `--user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Number of actions of each kind, in kind order.
    pub fn counts(&self) -> Vec<(ActionKind, usize)> {
        ActionKind::ALL
            .iter()
            .map(|kind| {
                (
                    *kind,
                    self.actions.iter().filter(|a| a.kind() == *kind).count(),
                )
            })
            .collect()
    }
}

/// Facts about the run that reports show next to the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanContext {
    /// The tenant the plan was made against (domain or tenant file).
    pub tenant: String,
    /// Management API requests the plan needed.
    pub requests: u64,
}

/// Something the user should know that is not an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Warning {
    pub kind: WarningKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    pub message: String,
    /// The users concerned (emails, or ids for users without one), at most
    /// [`WARNING_EXAMPLES`]; `user_count` has the full number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    pub user_count: usize,
}

/// How many users a warning names before it only counts them.
pub const WARNING_EXAMPLES: usize = 10;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The identity provider controls `email_verified`; the API cannot set it.
    ProviderControlsVerification,
    /// Users cannot be created through the API in this kind of connection.
    CannotCreateInConnection,
    /// Profile fields of these users come from their identity provider.
    ProviderControlsProfile,
    /// The connection's users have no email address to verify.
    NoEmail,
    /// A previous apply stopped between recording and confirming a send, and the logs
    /// cannot tell whether it went out.
    InterruptedSend,
    /// Sends started in the last minutes are not in the tenant's logs yet; the next plan
    /// checks them again.
    SendNotLoggedYet,
    /// Sends the logs show never went out, and that the policy does not send again now.
    SendNeverWentOut,
    /// `app_metadata.verifyctl` exists but cannot be read; nothing is sent to these users.
    UnreadableLedger,
    /// Blocked users are not emailed.
    BlockedUsers,
    /// Users whose primary identity is elsewhere (linked accounts) are left alone.
    LinkedIdentity,
    /// A required connection keeps its signup form open, which emails everyone who signs up.
    SignupSendsEmails,
    /// The credentials cannot read Actions, so a login Action deployed earlier was not
    /// checked for.
    LoginActionUnchecked,
    /// The login Action re-sends emails, but its credentials are not in the environment.
    ActionSecretsMissing,
    /// The email budget defers some of the plan's emails to later runs.
    EmailBudget,
    /// Managed users no policy lists any more, kept as they are (`offboarding: keep`):
    /// verifyctl sends them no further email. Informational.
    NoLongerListed,
    /// Managed users that `offboarding: delete` would delete, refused without
    /// `--allow-delete`.
    DeletionRefused,
    /// Some listed users are marked as managed in later runs (`--max-marks`).
    MarkBudget,
}

/// A policy that cannot be planned against this tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({origin})")]
pub struct PlanError {
    pub message: String,
    /// Where the policy names the missing thing.
    pub origin: String,
    pub hint: String,
}
