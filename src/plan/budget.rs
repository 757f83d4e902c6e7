//! The email budget (`emails: { max_per_run: N }`, or `--max-emails N`): a plan sends at most
//! N emails, the first N in plan order. Sends beyond it are left for later runs; a create
//! beyond it still creates the user, without its first email, which a later run sends (the
//! user is then an existing, unverified user with nothing sent, or one who never logged in
//! after a password reset).

use super::warnings::WarningSink;
use super::{Action, CreateEmail, Operation, WarningKind};

/// Whether an action sends an email, and if it is a create, takes its email away.
fn defer(action: &mut Action) -> bool {
    match &mut action.operation {
        Operation::SendVerificationEmail { .. } | Operation::SendPasswordReset { .. } => true,
        Operation::CreateUser {
            user,
            onboarding_email,
            ..
        }
        | Operation::ImportUser {
            user,
            onboarding_email,
            ..
        } => {
            *onboarding_email = CreateEmail::None;
            user.verify_email = false;
            action.reason.push_str(
                "; its first email waits for a later run (the email budget of this run is spent)",
            );
            false
        }
        _ => false,
    }
}

fn sends(action: &Action) -> bool {
    match &action.operation {
        Operation::SendVerificationEmail { .. } | Operation::SendPasswordReset { .. } => true,
        Operation::CreateUser {
            onboarding_email, ..
        }
        | Operation::ImportUser {
            onboarding_email, ..
        } => *onboarding_email != CreateEmail::None,
        _ => false,
    }
}

/// Keeps the first `budget` emails of `actions` (in plan order) and defers the rest.
pub(super) fn apply_email_budget(
    actions: &mut Vec<Action>,
    budget: Option<u32>,
    warnings: &mut WarningSink,
) {
    let Some(budget) = budget else { return };
    let total = actions.iter().filter(|a| sends(a)).count();
    let budget = usize::try_from(budget).unwrap_or(usize::MAX);
    if total <= budget {
        return;
    }
    let mut seen = 0usize;
    actions.retain_mut(|action| {
        if !sends(action) {
            return true;
        }
        seen += 1;
        if seen <= budget {
            return true;
        }
        // A send is dropped; a create stays, without its email.
        !defer(action)
    });
    let deferred = total - budget;
    warnings.note(
        None,
        WarningKind::EmailBudget,
        format!(
            "the email budget ({budget} per run) defers {deferred} of this plan's {total} emails to later runs; each run sends the next {budget}"
        ),
    );
}

/// Keeps the first `max` standalone managed marks (a PATCH of their own) of `actions` and
/// leaves the rest to later runs, so adopting verifyctl on a large tenant is spread over
/// runs instead of one PATCH per listed user at once. Marks folded into another PATCH are
/// free and never deferred.
pub(super) fn apply_mark_budget(actions: &mut Vec<Action>, max: u32, warnings: &mut WarningSink) {
    let is_mark = |a: &Action| matches!(a.operation, Operation::MarkManaged { .. });
    let total = actions.iter().filter(|a| is_mark(a)).count();
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if total <= max {
        return;
    }
    let mut seen = 0usize;
    actions.retain(|action| {
        if !is_mark(action) {
            return true;
        }
        seen += 1;
        seen <= max
    });
    warnings.note(
        None,
        WarningKind::MarkBudget,
        format!(
            "{} of this plan's {total} listed users to mark as managed wait for later runs (at most {max} per run; raise it with --max-marks N); until marked, a user who leaves the policies is treated as never managed",
            total - max
        ),
    );
}
