//! Executes a [`Plan`] through the Management API client and reports each action's outcome.
//!
//! Scheduling: actions are grouped into chains, one per target (a user, a connection's
//! settings, the login Action), in plan order. Chains are independent and run concurrently
//! (`concurrency` at a time); the actions of one chain run one after the other, so a user's
//! create comes before anything else done to that user. A failed action is reported and the
//! run continues. After [`Cancellation::cancel`] no new action starts, in-flight actions
//! finish, and the rest are reported as not started.
//!
//! The login gate goes first: the Action that denies unverified logins is deployed before
//! any other action runs. If that fails, nothing that would let someone new log in starts
//! (users are not created, imported or unblocked, signup is not opened) — those chains are reported as
//! failed with the reason — so a failed gate leaves the tenant no less safe than before;
//! actions on existing users (emails, marks verified) and closing signup still run.
//!
//! How each action is carried out (and kept safe to retry) lives in [`execute`].

mod execute;
mod imports;
pub mod password;
pub mod preflight;
mod settings;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::plan::{Action, ActionKind, Operation, Plan, Target};
use crate::tenant::{ApiError, CallStats, ManagementClient};

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutcome {
    pub kind: ActionKind,
    pub target: Target,
    pub status: OutcomeStatus,
    /// What happened, in words (the Auth0 error for failures).
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Succeeded,
    Failed,
    /// The run was interrupted before this action started.
    NotStarted,
}

impl OutcomeStatus {
    /// The mark every printer shows before an outcome: `✓`, `✗` or `·`.
    pub fn mark(self) -> &'static str {
        match self {
            OutcomeStatus::Succeeded => "✓",
            OutcomeStatus::Failed => "✗",
            OutcomeStatus::NotStarted => "·",
        }
    }

    /// The outcome in one word (or two) for listings: `done`, `FAILED`, `not started`.
    pub fn word(self) -> &'static str {
        match self {
            OutcomeStatus::Succeeded => "done",
            OutcomeStatus::Failed => "FAILED",
            OutcomeStatus::NotStarted => "not started",
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// One outcome per plan action, in plan order.
    pub outcomes: Vec<ActionOutcome>,
    /// Requests made during apply (lookups for recovery included).
    pub requests: CallStats,
    #[serde(serialize_with = "as_seconds")]
    pub elapsed: Duration,
    /// True when the run was interrupted (some actions did not start).
    pub interrupted: bool,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl ApplyReport {
    fn count(&self, status: OutcomeStatus) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    pub fn failed(&self) -> usize {
        self.count(OutcomeStatus::Failed)
    }

    pub fn succeeded(&self) -> usize {
        self.count(OutcomeStatus::Succeeded)
    }

    pub fn not_started(&self) -> usize {
        self.count(OutcomeStatus::NotStarted)
    }
}

/// How apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Chains (targets) worked on at once.
    pub concurrency: usize,
    /// Stops the run between actions when cancelled.
    pub cancellation: Cancellation,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 32,
            cancellation: Cancellation::default(),
        }
    }
}

/// A cancellation flag shared between the signal handler and the run.
#[derive(Debug, Clone, Default)]
pub struct Cancellation(Arc<CancellationInner>);

#[derive(Debug, Default)]
struct CancellationInner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl Cancellation {
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }
}

/// Applies `plan`. `on_outcome(done, total, outcome)` is called as each action ends, in
/// completion order (for progress output); the report lists outcomes in plan order.
pub async fn apply_plan(
    client: &ManagementClient,
    plan: &Plan,
    clock: &Clock,
    options: &ApplyOptions,
    on_outcome: &mut (dyn FnMut(usize, usize, &ActionOutcome) + Send),
) -> ApplyReport {
    let started = Instant::now();
    let before = client.stats();
    let total = plan.actions.len();
    let progress = Mutex::new((0usize, on_outcome));
    let no_imports = HashMap::new();
    let mut run = Run {
        executor: execute::Executor {
            client,
            clock,
            imports: &no_imports,
        },
        cancellation: &options.cancellation,
        actions: &plan.actions,
        progress: &progress,
        total,
        held: None,
    };
    let (gates, chains): (Vec<_>, Vec<_>) = chains(&plan.actions)
        .into_iter()
        .partition(|chain| plan.actions[chain[0]].kind() == ActionKind::DeployLoginAction);
    // The gate first, alone.
    let mut finished: Vec<Vec<(usize, ActionOutcome)>> = Vec::new();
    for chain in gates {
        finished.push(run_chain(&run, chain).await);
    }
    let gate_failed = finished
        .iter()
        .flatten()
        .any(|(_, outcome)| outcome.status == OutcomeStatus::Failed);
    // Imported users are created next, file by file; their chains then send the emails.
    let imports = if gate_failed {
        run.held = Some(GATE_FAILED);
        HashMap::new()
    } else {
        imports::run(client, &plan.actions, clock, &options.cancellation).await
    };
    run.executor.imports = &imports;
    let rest: Vec<Vec<(usize, ActionOutcome)>> = futures_util::stream::iter(chains)
        .map(|chain| run_chain(&run, chain))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    finished.extend(rest);
    let mut outcomes: Vec<(usize, ActionOutcome)> = finished.into_iter().flatten().collect();
    outcomes.sort_by_key(|(index, _)| *index);
    let outcomes: Vec<ActionOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let interrupted = outcomes
        .iter()
        .any(|o| o.status == OutcomeStatus::NotStarted);
    ApplyReport {
        outcomes,
        requests: client.stats().since(&before),
        elapsed: started.elapsed(),
        interrupted,
    }
}

/// Action indexes grouped by target, each chain in plan order, chains in order of their
/// first action.
fn chains(actions: &[Action]) -> Vec<Vec<usize>> {
    let mut by_target: BTreeMap<String, usize> = BTreeMap::new();
    let mut chains: Vec<Vec<usize>> = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        let key = action.target.key();
        if let Some(&chain) = by_target.get(&key) {
            chains[chain].push(index);
        } else {
            by_target.insert(key, chains.len());
            chains.push(vec![index]);
        }
    }
    chains
}

type Progress<'p> = Mutex<(
    usize,
    &'p mut (dyn FnMut(usize, usize, &ActionOutcome) + Send),
)>;

/// Why chains that would let someone new log in are held back when the gate failed.
const GATE_FAILED: &str = "not started: the login Action failed above, and it must be in place before users it protects exist or signup opens";

/// What every chain of one run shares.
struct Run<'a, 'p> {
    executor: execute::Executor<'a>,
    cancellation: &'a Cancellation,
    actions: &'a [Action],
    progress: &'a Progress<'p>,
    total: usize,
    /// Set when the login gate failed: chains that let someone new log in do not start.
    held: Option<&'static str>,
}

/// Whether a chain starting with `action` would let someone log in who could not before
/// (a new user, a blocked one unblocked, or signup opened).
fn opens_logins(action: &Action) -> bool {
    matches!(
        action.operation,
        Operation::CreateUser { .. }
            | Operation::ImportUser { .. }
            | Operation::UnblockUser { .. }
            | Operation::SetSignup {
                disable_signup: false,
                ..
            }
    )
}

async fn run_chain(run: &Run<'_, '_>, chain: Vec<usize>) -> Vec<(usize, ActionOutcome)> {
    let Run {
        executor,
        cancellation,
        actions,
        progress,
        total,
        held,
    } = run;
    let held = held.filter(|_| opens_logins(&actions[chain[0]]));
    let mut outcomes = Vec::with_capacity(chain.len());
    for index in chain {
        let action = &actions[index];
        let outcome = if let Some(reason) = held {
            ActionOutcome {
                kind: action.kind(),
                target: action.target.clone(),
                status: OutcomeStatus::Failed,
                detail: reason.into(),
                hint: Some("fix the login Action's failure, then apply again".into()),
            }
        } else if cancellation.is_cancelled() {
            if let Some(imported) = executor.imported_before_interruption(action) {
                imported
            } else {
                ActionOutcome {
                    kind: action.kind(),
                    target: action.target.clone(),
                    status: OutcomeStatus::NotStarted,
                    detail: "not started: the run was interrupted".into(),
                    hint: Some("run apply again; it continues from the tenant's state".into()),
                }
            }
        } else {
            match executor.run(action).await {
                Ok(detail) => ActionOutcome {
                    kind: action.kind(),
                    target: action.target.clone(),
                    status: OutcomeStatus::Succeeded,
                    detail,
                    hint: None,
                },
                Err(failure) => ActionOutcome {
                    kind: action.kind(),
                    target: action.target.clone(),
                    status: OutcomeStatus::Failed,
                    detail: failure.message,
                    hint: failure.hint,
                },
            }
        };
        if let Ok(mut progress) = progress.lock() {
            progress.0 += 1;
            let done = progress.0;
            (progress.1)(done, *total, &outcome);
        }
        outcomes.push((index, outcome));
    }
    outcomes
}

/// Why an action failed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub(crate) fn api(context: &str, error: &ApiError) -> Failure {
        Failure {
            message: format!("{context}: {error}"),
            hint: error.hint(),
        }
    }

    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            hint: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Operation, Target};

    fn action(target: Target) -> Action {
        Action {
            target,
            reason: String::new(),
            changes: Vec::new(),
            operation: Operation::MarkEmailVerified {
                user_id: "x".into(),
                ledger: None,
            },
        }
    }

    #[test]
    fn actions_of_one_target_form_one_chain_in_plan_order() {
        let user = |email: &str| Target::user("db", Some(email.into()), None);
        let actions = vec![
            action(Target::Connection { name: "db".into() }),
            action(user("a@x.example")),
            action(user("a@x.example")),
            action(user("b@x.example")),
            action(Target::LoginAction { name: "l".into() }),
            action(user("a@x.example")),
        ];
        assert_eq!(chains(&actions), [vec![0], vec![1, 2, 5], vec![3], vec![4]]);
    }
}
