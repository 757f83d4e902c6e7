//! What each subcommand does, composed from the library layers: load policies, open a
//! tenant session, read the live state, plan, render, apply. Data goes to stdout; prompts,
//! progress and errors to stderr. Each command returns the process exit code. One module
//! per command, like cargo's `commands/*`; this one holds what they share.

mod action;
mod apply;
mod emulator;
mod export;
mod export_login;
mod plan;
mod validate;

use std::fmt;

pub use action::render_action;
pub use apply::apply;
pub use emulator::emulator;
pub use export::export;
pub use plan::plan;
pub use validate::{completions, schema, validate};

use crate::cli::{TenantArgs, VarArgs};
use crate::clock::{Clock, parse_timestamp};
use crate::emulator::EmulatorConfig;
use crate::mask::{MaskingWriter, SecretMask};
use crate::plan::{Plan, PlanError, Scope, Warning, WarningKind, build_plan_in};
use crate::policy::{self, DesiredState, Diagnostics, Variables};
use crate::report::PlanContext;
use crate::session::{SessionError, TenantSession, TenantSource};
use crate::tenant::{
    ApiError, Credentials, ExportProgress, LiveState, PacingConfig, ProgressHook,
    read_live_state_keeping,
};

/// Exit code for success (and "no changes" with `--detailed-exitcode`).
pub const EXIT_OK: u8 = 0;
/// Exit code for errors and failed actions.
pub const EXIT_ERROR: u8 = 1;
/// Exit code for "changes present" with `--detailed-exitcode`.
pub const EXIT_CHANGES: u8 = 2;
/// Exit code of an apply stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// An error already rendered for the terminal (`error: …` lines, with hints).
#[derive(Debug)]
pub struct CliError(String);

impl CliError {
    fn new(message: impl fmt::Display, hint: Option<String>) -> CliError {
        let mut text = format!("error: {message}\n");
        if let Some(hint) = hint {
            text.push_str(&format!("  hint: {hint}\n"));
        }
        CliError(text)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Diagnostics> for CliError {
    fn from(diagnostics: Diagnostics) -> CliError {
        CliError(diagnostics.render_human())
    }
}

impl From<ApiError> for CliError {
    fn from(error: ApiError) -> CliError {
        let hint = error.hint();
        CliError::new(error, hint)
    }
}

impl From<SessionError> for CliError {
    fn from(error: SessionError) -> CliError {
        match error {
            SessionError::Api(error) => error.into(),
            other => CliError::new(other, None),
        }
    }
}

pub(super) fn plan_errors(errors: &[PlanError]) -> CliError {
    let mut text = String::new();
    for error in errors {
        text.push_str(&format!(
            "error: {}\n  --> {}\n  hint: {}\n\n",
            error.message, error.origin, error.hint
        ));
    }
    text.push_str(&format!(
        "error: the policies do not match the tenant ({} problem{}); nothing was changed\n",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    ));
    CliError(text)
}

pub type CommandResult = Result<u8, CliError>;

/// The policies of `dir`, with the run's `${NAME}` variables (`--var`, `--var-file`, and
/// only the `VERIFYCTL_VAR_`/`VERIFYCTL_SECRET_VAR_` part of the environment).
pub(super) fn load_policies(
    dir: &std::path::Path,
    args: &VarArgs,
) -> Result<DesiredState, Diagnostics> {
    let vars = Variables::collect(&args.vars, &args.var_files, std::env::vars_os())?;
    policy::load_dir_with(dir, &vars)
}

/// `plan` as it may be shown: the values of secret variables replaced by placeholders.
pub(super) fn shown_plan(plan: &Plan, mask: &SecretMask) -> Result<Plan, CliError> {
    if mask.is_empty() {
        return Ok(plan.clone());
    }
    let mut value = serde_json::to_value(plan).map_err(|e| {
        CliError::new(
            format!("cannot mask the secret variables in the plan: {e}"),
            None,
        )
    })?;
    check_no_placeholders(&value, mask)?;
    mask.mask_json(&mut value);
    serde_json::from_value(value).map_err(|_| {
        CliError::new(
            "a secret variable's value also occurs in verifyctl's own words in the plan (an action kind, a mode), so it cannot be masked; nothing was changed",
            Some("use a longer, random secret value".into()),
        )
    })
}

/// Refuses a plan that already holds a secret placeholder's text (a saved plan's
/// placeholders are put back on apply, which would change that text).
pub(super) fn check_no_placeholders(
    value: &serde_json::Value,
    mask: &SecretMask,
) -> Result<(), CliError> {
    if mask.has_placeholder(value) {
        return Err(CliError::new(
            "a policy value contains the text `[secret ${…}]` that verifyctl shows in place of a secret variable; nothing was changed",
            Some("write that text differently (it is reserved for masking secrets)".into()),
        ));
    }
    Ok(())
}

/// Opens the tenant the arguments name, reporting long reads on stderr.
pub(super) async fn open_session(
    args: &TenantArgs,
    clock: &Clock,
) -> Result<TenantSession, CliError> {
    let source = tenant_source(args)?;
    let session = TenantSession::open(&source, emulator_config(clock), pace(args)).await?;
    Ok(session.with_read_progress(export_progress_on_stderr()))
}

/// A line on stderr about an export job that takes a while: after two seconds, then every
/// ten, so a long read of a large connection never looks hung.
fn export_progress_on_stderr() -> ProgressHook {
    let last = std::sync::Mutex::new(None::<std::time::Duration>);
    std::sync::Arc::new(move |progress: &ExportProgress| {
        if progress.waited < std::time::Duration::from_secs(2) {
            return;
        }
        let Ok(mut last) = last.lock() else { return };
        if last.is_some_and(|at| progress.waited < at + std::time::Duration::from_secs(10)) {
            return;
        }
        *last = Some(progress.waited);
        let mut line = format!(
            "reading connection `{}`: users-export job {} is {}",
            progress.connection, progress.job_id, progress.status
        );
        if let Some(done) = progress.percentage_done {
            line.push_str(&format!(", {done}% done"));
        }
        if let Some(left) = progress.time_left_seconds {
            line.push_str(&format!(", about {left}s left"));
        }
        eprintln!("{line} (waited {}s)", progress.waited.as_secs());
    })
}

/// The policies restricted to `scope` and the tenant read for them, with the number of
/// Management API requests the read took.
pub(super) async fn read_tenant(
    session: &TenantSession,
    desired: &DesiredState,
    scope: &Scope,
    keep_ids: &std::collections::HashSet<String>,
    now: time::OffsetDateTime,
) -> Result<(DesiredState, LiveState, u64), CliError> {
    let before = session.client().stats().total();
    let restricted = scope.restrict(desired).map_err(|message| {
        CliError::new(message, Some("name connections the policies define".into()))
    })?;
    let live = read_live_state_keeping(session.client(), &restricted, scope, keep_ids, now).await?;
    scope
        .check_users(desired, |email| {
            live.users.values().flatten().any(|user| {
                user.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
        })
        .map_err(|message| {
            CliError::new(
                message,
                Some("check the address; `--user` takes users the policies list or the tenant has in a policy connection".into()),
            )
        })?;
    let requests = session.client().stats().total() - before;
    Ok((restricted, live, requests))
}

/// Reads the live state and plans. Errors carry everything the user needs.
pub(super) async fn make_plan(
    session: &TenantSession,
    desired: &DesiredState,
    scope: &Scope,
    clock: &Clock,
) -> Result<(Plan, PlanContext, LiveState), CliError> {
    let (restricted, live, requests) = read_tenant(
        session,
        desired,
        scope,
        &std::collections::HashSet::new(),
        clock.now(),
    )
    .await?;
    let mut plan = build_plan_in(&restricted, &live, scope, clock.now())
        .map_err(|errors| plan_errors(&errors))?;
    warn_about_missing_action_secrets(&mut plan);
    Ok((
        plan,
        PlanContext {
            tenant: session.label().to_string(),
            requests,
        },
        live,
    ))
}

/// The one plan check that depends on the environment: a login Action that re-sends emails
/// needs its credentials at apply time (the same check apply's preflight refuses with).
fn warn_about_missing_action_secrets(plan: &mut Plan) {
    let missing =
        crate::apply::preflight::missing_action_secrets(plan, |name| std::env::var(name).ok());
    if missing.is_empty() {
        return;
    }
    plan.warnings.push(Warning {
        kind: WarningKind::ActionSecretsMissing,
        connection: None,
        message: format!(
            "the login Action re-sends verification emails with its own Management API credentials, but {} {} not set here; apply will refuse to start until {} set",
            missing.join(" and "),
            if missing.len() == 1 { "is" } else { "are" },
            if missing.len() == 1 { "it is" } else { "they are" }
        ),
        users: Vec::new(),
        user_count: 0,
    });
}

/// The pacing the operator asked for (`--max-rps`, `--rate-share`).
pub(super) fn pace(args: &TenantArgs) -> PacingConfig {
    PacingConfig {
        max_rps: args.max_rps,
        rate_share: args.rate_share,
    }
}

pub(super) fn tenant_source(args: &TenantArgs) -> Result<TenantSource, CliError> {
    if let Some(file) = &args.tenant_file {
        return Ok(TenantSource::File(file.clone()));
    }
    let Some(domain) = args.domain.clone().filter(|d| !d.trim().is_empty()) else {
        return Err(CliError::new(
            "no tenant given",
            Some("set AUTH0_DOMAIN with AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET or AUTH0_CLIENT_ASSERTION_PRIVATE_KEY (or AUTH0_API_TOKEN), or try the example with --tenant-file examples/tenant.yaml".into()),
        ));
    };
    let credentials =
        Credentials::from_env(args.client_id.as_deref(), |name| std::env::var(name).ok()).map_err(
            |error| {
                CliError::new(
                    format!("credentials for {domain}: {error}"),
                    Some(error.hint),
                )
            },
        )?;
    Ok(TenantSource::Live {
        domain,
        audience: args.audience.clone(),
        credentials,
    })
}

/// `VERIFYCTL_NOW` (RFC 3339) freezes the clock, for reproducible demos and tests.
pub(super) fn clock_from_env() -> Result<Clock, CliError> {
    match std::env::var("VERIFYCTL_NOW") {
        Ok(text) if !text.is_empty() => parse_timestamp(&text).map(Clock::fixed).map_err(|e| {
            CliError::new(
                format!("VERIFYCTL_NOW `{text}` is not an RFC 3339 timestamp: {e}"),
                Some("use e.g. 2026-11-22T10:00:00Z, or unset it".into()),
            )
        }),
        _ => Ok(Clock::System),
    }
}

pub(super) fn emulator_config(clock: &Clock) -> EmulatorConfig {
    EmulatorConfig {
        clock: clock.clone(),
        ..EmulatorConfig::default()
    }
}

/// Colour on stdout: a terminal, and neither `NO_COLOR` nor `CLICOLOR=0`.
pub(super) fn stdout_color() -> bool {
    !matches!(
        anstream::AutoStream::choice(&std::io::stdout()),
        anstream::ColorChoice::Never
    )
}

/// Prints report text on stdout, with email local parts masked when asked.
pub(super) fn emit(text: &str, mask: bool) {
    emit_with(mask, |out| out.write_all(text.as_bytes()));
}

/// Streams report output to stdout (buffered), masking email local parts line by line when
/// asked. A closed stdout (`verifyctl plan | head`) ends the output quietly, as a reader that
/// stopped reading is not an error.
pub(super) fn emit_with(
    mask: bool,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) {
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if mask {
        let mut masking = MaskingWriter::new(&mut out);
        write(&mut masking).and_then(|()| masking.finish().map(|_| ()))
    } else {
        write(&mut out)
    };
    match written.and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to stdout: {error}");
        }
        _ => {}
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Waits for SIGINT or SIGTERM; false when signals cannot be watched.
pub(super) async fn wait_for_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return false;
        };
        tokio::select! {
            _ = interrupt.recv() => true,
            _ = terminate.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
