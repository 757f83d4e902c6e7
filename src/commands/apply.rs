//! `verifyctl apply`: plan afresh (or load a saved plan and check it is still current),
//! confirm, execute with progress, report. Ctrl-C/SIGTERM stop it between actions.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::{
    CliError, CommandResult, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, clock_from_env, emit,
    emit_with, load_policies, make_plan, open_session, read_tenant, shown_plan, stdout_color,
};
use crate::apply::{
    ActionOutcome, ApplyOptions, Cancellation, OutcomeStatus, apply_plan, preflight,
};
use crate::cli::ApplyArgs;
use crate::clock::Clock;
use crate::mask::{SecretMask, mask_emails};
use crate::plan::saved::SavedPlan;
use crate::plan::{Plan, Scope};
use crate::policy::DesiredState;
use crate::progress::Progress;
use crate::report::json::{SavedPlanError, parse_saved};
use crate::report::{self, ApplyFormat, Detail, Format, PlanContext};
use crate::session::TenantSession;

/// `verifyctl apply`
pub async fn apply(args: ApplyArgs) -> CommandResult {
    let mut desired = load_policies(&args.policy_dir, &args.variables)?;
    let mask = SecretMask::new(
        desired
            .secrets
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose())),
    );
    let saved = args
        .plan
        .as_deref()
        .map(|path| read_saved_plan(path, &mask))
        .transpose()?;
    if let Some(budget) = args.max_emails {
        desired.max_emails_per_run = Some(budget);
    }
    desired.lifecycle = args.lifecycle.limits();
    if let Some(saved) = &saved {
        check_policies(saved, &desired)?;
        check_saved_deletes(&saved.plan, &desired.lifecycle)?;
        check_variables(saved, &desired)?;
    }
    let clock = clock_from_env()?;
    let mut session = open_session(&args.tenant, &clock).await?;
    session.track_changes();
    let planned = if let Some(saved) = saved {
        saved_plan(&session, &desired, saved, &clock).await
    } else {
        let scope = Scope::new(&args.target.connections, &args.target.users);
        make_plan(&session, &desired, &scope, &clock)
            .await
            .map(|(plan, context, _)| (plan, context))
    };
    let result = match planned {
        Ok((plan, context)) => match shown_plan(&plan, &mask) {
            Ok(shown) => {
                let plans = Plans {
                    run: &plan,
                    shown: &shown,
                    mask: &mask,
                };
                execute(&session, plans, &context, &clock, &args).await
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    // The tenant file changed as soon as one action ran: write it back whatever happened.
    let wrote = session.close(true).await;
    let code = result?;
    wrote?;
    Ok(code)
}

/// A saved plan's deletions need `--allow-delete` (and room under `--max-deletes`) at apply
/// time too: a plan made with the flag is never applied without it.
fn check_saved_deletes(
    plan: &Plan,
    limits: &crate::policy::LifecycleLimits,
) -> Result<(), CliError> {
    let deletes = plan
        .actions
        .iter()
        .filter(|a| a.kind() == crate::plan::ActionKind::DeleteUser)
        .count();
    if deletes == 0 {
        return Ok(());
    }
    if !limits.allow_delete {
        return Err(CliError::new(
            format!(
                "the saved plan deletes {deletes} user{} and --allow-delete was not given; nothing was changed",
                if deletes == 1 { "" } else { "s" }
            ),
            Some("review the deletions in the plan, then apply it with `--allow-delete`".into()),
        ));
    }
    if deletes > usize::try_from(limits.max_deletes).unwrap_or(usize::MAX) {
        return Err(CliError::new(
            format!(
                "the saved plan deletes {deletes} users, more than --max-deletes allows ({}); nothing was changed",
                limits.max_deletes
            ),
            Some(format!(
                "if these deletions are intended, apply it with `--allow-delete --max-deletes {deletes}`"
            )),
        ));
    }
    Ok(())
}

/// The plan to run, the same plan as it may be shown (secret variables masked), and the mask.
#[derive(Clone, Copy)]
struct Plans<'a> {
    run: &'a Plan,
    shown: &'a Plan,
    mask: &'a SecretMask,
}

/// Reads a file written by `plan --out`, putting back the values of the secret variables
/// it shows as placeholders.
fn read_saved_plan(path: &Path, mask: &SecretMask) -> Result<SavedPlan, CliError> {
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display()), None))?;
    if !mask.is_empty()
        && let Ok(mut document) = serde_json::from_str::<serde_json::Value>(&text)
    {
        mask.unmask_json(&mut document);
        text = document.to_string();
    }
    parse_saved(&text).map_err(|error| match error {
        SavedPlanError::Unreadable(e) => CliError::new(
            format!("{} is not a verifyctl plan file: {e}", path.display()),
            Some("write one with `verifyctl plan --out plan.json`".into()),
        ),
        SavedPlanError::OtherVersion { .. } => CliError::new(
            format!("{} has {error}", path.display()),
            Some("plan again with this verifyctl".into()),
        ),
        SavedPlanError::Report => CliError::new(
            format!("{} is {error}", path.display()),
            Some("save plans with `verifyctl plan --out plan.json` (not `--format json`)".into()),
        ),
        SavedPlanError::KindMismatch { .. } => CliError::new(
            format!(
                "{} is not a saved plan as verifyctl wrote it: {error}",
                path.display()
            ),
            Some(
                "plan again (`verifyctl plan --out plan.json`) instead of editing a saved plan"
                    .into(),
            ),
        ),
    })
}

fn preflight_error(problems: &[preflight::Problem]) -> CliError {
    let mut text = String::from("error: apply cannot start; nothing was changed\n");
    for problem in problems {
        text.push_str(&format!(
            "  - {}\n    hint: {}\n",
            problem.message, problem.hint
        ));
    }
    CliError(text)
}

fn refuse(what: &str, changes: &[String]) -> CliError {
    let mut text = format!("error: the saved plan is out of date ({what}); nothing was changed\n");
    for change in changes {
        text.push_str(&format!("  - {change}\n"));
    }
    text.push_str(
        "  hint: plan again (`verifyctl plan --out plan.json`), review the new plan, and apply that\n",
    );
    CliError(text)
}

fn check_policies(saved: &SavedPlan, desired: &DesiredState) -> Result<(), CliError> {
    let changes = saved.policy_changes(desired);
    if changes.is_empty() {
        Ok(())
    } else {
        Err(refuse("the policies changed since it was made", &changes))
    }
}

fn check_variables(saved: &SavedPlan, desired: &DesiredState) -> Result<(), CliError> {
    let changes = saved.variable_changes(desired);
    if changes.is_empty() {
        return Ok(());
    }
    let mut text = String::from(
        "error: the saved plan was made with other policy variables (another environment?); nothing was changed\n",
    );
    for change in &changes {
        text.push_str(&format!("  - {change}\n"));
    }
    text.push_str("  hint: apply it with the variables it was planned with (the same --var, --var-file and VERIFYCTL_VAR_*/VERIFYCTL_SECRET_VAR_* values), or plan again for this environment and review that plan\n");
    Err(CliError(text))
}

/// The saved plan, after checking that the tenant is the one it was made for and that
/// nothing its actions depend on moved since.
async fn saved_plan(
    session: &TenantSession,
    desired: &DesiredState,
    saved: SavedPlan,
    clock: &Clock,
) -> Result<(Plan, PlanContext), CliError> {
    if session.label() != saved.context.tenant {
        return Err(refuse(
            "it is for another tenant",
            &[format!(
                "it was made for {}, this is {}",
                saved.context.tenant,
                session.label()
            )],
        ));
    }
    let scope = saved.plan.scope.clone().unwrap_or_default();
    let targets = saved.target_user_ids();
    let (_, live, requests) = read_tenant(session, desired, &scope, &targets, clock.now()).await?;
    let changes = saved.live_changes(&live);
    if !changes.is_empty() {
        return Err(refuse("the tenant changed since it was made", &changes));
    }
    let context = PlanContext {
        tenant: saved.context.tenant,
        requests,
    };
    Ok((saved.plan, context))
}

async fn execute(
    session: &TenantSession,
    plans: Plans<'_>,
    context: &PlanContext,
    clock: &Clock,
    args: &ApplyArgs,
) -> CommandResult {
    let Plans {
        run: plan,
        shown,
        mask: secrets,
    } = plans;
    let mask = args.mask_emails;
    let color = stdout_color() && !mask;
    let text = args.format == ApplyFormat::Text;
    if text {
        emit_with(mask, |out| {
            report::write_plan(out, shown, context, Format::Text, color, args.detail)
        });
    }
    if plan.is_empty() {
        if !text {
            emit_with(mask, |out| {
                report::write_plan(out, shown, context, Format::Json, false, Detail::Auto)
            });
        }
        return Ok(EXIT_OK);
    }
    // Everything knowable before the first write is checked before it (and before asking).
    let granted = session.granted_scopes().await?;
    preflight::check(plan, granted.as_ref(), |name| std::env::var(name).ok())
        .map_err(|problems| preflight_error(&problems))?;
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            // Repeat the command as given (a saved plan stays the saved plan).
            let command = match &args.plan {
                Some(path) => format!("verifyctl apply --plan {} --auto-approve", path.display()),
                None => "verifyctl apply --auto-approve".to_string(),
            };
            return Err(CliError::new(
                "apply needs confirmation, but stdin is not a terminal; nothing was changed",
                Some(format!(
                    "review the plan above, then run `{command}` (as CI does)"
                )),
            ));
        }
        if !confirm(plan, session.label())? {
            return Err(CliError::new("apply cancelled; nothing was changed", None));
        }
    }
    if text {
        println!();
    }
    let cancellation = Cancellation::default();
    let signals = tokio::spawn(stop_on_signals(cancellation.clone()));
    let options = ApplyOptions {
        concurrency: usize::from(args.concurrency),
        cancellation: cancellation.clone(),
    };
    let mut progress = Progress::new(plan.actions.len(), !args.no_progress);
    let mut on_outcome = |_: usize, total: usize, outcome: &ActionOutcome| {
        if outcome.status == OutcomeStatus::NotStarted {
            // Counted in the summary; thousands of "not started" lines would bury it.
            progress.not_started();
            return;
        }
        let done = progress.finished(outcome.status == OutcomeStatus::Failed);
        if text {
            let mut line = format!(
                "[{done}/{total}] {} {} {}: {}",
                outcome.status.mark(),
                outcome.kind.as_str(),
                outcome.target,
                outcome.detail
            );
            if let Some(hint) = &outcome.hint
                && outcome.status == OutcomeStatus::Failed
            {
                line.push_str(&format!("\n        hint: {hint}"));
            }
            let line = secrets.mask_text(&line);
            progress.println(&if mask { mask_emails(&line) } else { line });
        }
    };
    let report = apply_plan(session.client(), plan, clock, &options, &mut on_outcome).await;
    signals.abort();
    progress.finish();
    match args.format {
        ApplyFormat::Text => {
            // Outcomes were streamed above; print only the summary.
            let summary = report::text::render_apply_summary(&report, color);
            emit(&secrets.mask_text(&format!("\n{summary}")), mask);
        }
        ApplyFormat::Json => emit(
            &secrets.mask_text(&report::json::render_apply(&report)),
            mask,
        ),
    }
    if report.interrupted {
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(if report.failed() > 0 {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// The first Ctrl-C or SIGTERM stops the run between actions (in-flight ones finish); a
/// second one exits at once.
async fn stop_on_signals(cancellation: Cancellation) {
    let mut signals = 0;
    loop {
        if !super::wait_for_signal().await {
            return;
        }
        signals += 1;
        if signals == 1 {
            cancellation.cancel();
            eprintln!(
                "\nstopping: no new actions start, the ones in flight finish (press Ctrl-C again to quit at once; apply again later to continue)"
            );
        } else {
            eprintln!("quitting at once; run plan to see what is left");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    }
}

fn confirm(plan: &Plan, tenant: &str) -> Result<bool, CliError> {
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "\nApply these {} actions to {tenant}?\n  Only 'yes' will be accepted: ",
        plan.actions.len()
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::new(format!("cannot read the answer: {e}"), None))?;
    Ok(answer.trim() == "yes")
}
