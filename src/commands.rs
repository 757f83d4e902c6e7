//! What each subcommand does, composed from the library layers: load policies, open a
//! tenant session, read the live state, plan, render, apply. Data goes to stdout; prompts,
//! progress and errors to stderr. Each function returns the process exit code.

use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::apply::{ActionOutcome, ApplyOptions, Cancellation, OutcomeStatus, apply_plan};
use crate::cli::{ApplyArgs, EmulatorArgs, FaultArgs, PlanArgs, RenderArgs, TenantArgs};
use crate::clock::{Clock, parse_timestamp};
use crate::emulator::{
    Emulator, EmulatorConfig, Fault, FaultConfig, RateLimit, RouteFilter, TenantState, Trigger,
    load_tenant_file, save_tenant_file,
};
use crate::login_action;
use crate::plan::{
    ActionKind, Operation, Plan, PlanError, Warning, WarningKind, build_plan, login_rules,
    login_rules_offline,
};
use crate::policy::{self, DesiredState, Diagnostics};
use crate::progress::Progress;
use crate::report::{self, Format, PlanContext};
use crate::secret::Secret;
use crate::session::{Pace, SessionError, TenantSession, TenantSource};
use crate::tenant::{ApiError, Credentials, LiveState, ManagementClient, read_live_state};

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

fn plan_errors(errors: Vec<PlanError>) -> CliError {
    let mut text = String::new();
    for error in &errors {
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

/// `verifyctl validate`
pub fn validate(policy_dir: &Path) -> CommandResult {
    let desired = policy::load_dir(policy_dir)?;
    println!(
        "{} policy file{} valid: {} connection{}, {} application{}, {} user{}.",
        desired.files.len(),
        plural(desired.files.len()),
        desired.connections.len(),
        plural(desired.connections.len()),
        desired.applications.len(),
        plural(desired.applications.len()),
        desired.users.len(),
        plural(desired.users.len()),
    );
    Ok(EXIT_OK)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `verifyctl schema`
pub fn schema() -> CommandResult {
    print!("{}", policy::schema::policy_schema_json());
    Ok(EXIT_OK)
}

/// `verifyctl action render`
pub async fn render_action(args: RenderArgs) -> CommandResult {
    let desired = policy::load_dir(&args.policy_dir)?;
    let has_tenant = args.tenant.tenant_file.is_some() || args.tenant.domain.is_some();
    let rules = match login_rules_offline(&desired) {
        Some(rules) if !has_tenant => rules,
        _ => {
            let source = tenant_source(&args.tenant).map_err(|_| {
                CliError::new(
                    "the policies name applications (or verification clients) whose client ids only the tenant knows",
                    Some("pass --tenant-file FILE or set AUTH0_DOMAIN and credentials; or name applications by client_id".into()),
                )
            })?;
            let clock = clock_from_env()?;
            let session =
                TenantSession::open(&source, emulator_config(&clock), pace(&args.tenant)).await?;
            let live = read_names(session.client()).await;
            session.close(false).await?;
            login_rules(&desired, &live?).map_err(plan_errors)?
        }
    };
    if !rules.enforces_anything() {
        eprintln!(
            "note: no policy blocks unverified logins (no `block_unverified_login: true` connection, no `required` application), so apply deploys no Action"
        );
    }
    print!("{}", login_action::render(&rules));
    Ok(EXIT_OK)
}

/// Just the connections and applications (what resolving policy names needs).
async fn read_names(client: &ManagementClient) -> Result<LiveState, CliError> {
    Ok(LiveState {
        connections: client
            .list_connections()
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect(),
        clients: client.list_clients().await?,
        ..LiveState::default()
    })
}

/// `verifyctl plan`
pub async fn plan(args: PlanArgs) -> CommandResult {
    let desired = policy::load_dir(&args.policy_dir)?;
    let clock = clock_from_env()?;
    let source = tenant_source(&args.tenant)?;
    let session = TenantSession::open(&source, emulator_config(&clock), pace(&args.tenant)).await?;
    let planned = make_plan(&session, &desired, &clock).await;
    session.close(false).await?;
    let (plan, context) = planned?;
    print!(
        "{}",
        report::render_plan(&plan, &context, args.format, stdout_color())
    );
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// `verifyctl apply`
pub async fn apply(args: ApplyArgs) -> CommandResult {
    let interactive = std::io::stdin().is_terminal();
    if !args.auto_approve && !interactive {
        return Err(CliError::new(
            "apply needs confirmation, but stdin is not a terminal",
            Some("review the plan, then run `verifyctl apply --auto-approve` (as CI does)".into()),
        ));
    }
    let desired = policy::load_dir(&args.policy_dir)?;
    let clock = clock_from_env()?;
    let source = tenant_source(&args.tenant)?;
    let session = TenantSession::open(&source, emulator_config(&clock), pace(&args.tenant)).await?;
    let result = apply_with_session(&session, &desired, &clock, &args).await;
    // The tenant file changed as soon as one action ran: write it back whatever happened.
    let wrote = session.close(true).await;
    let code = result?;
    wrote?;
    Ok(code)
}

async fn apply_with_session(
    session: &TenantSession,
    desired: &DesiredState,
    clock: &Clock,
    args: &ApplyArgs,
) -> CommandResult {
    let (plan, context) = make_plan(session, desired, clock).await?;
    let color = stdout_color();
    if args.format == Format::Text {
        print!(
            "{}",
            report::render_plan(&plan, &context, Format::Text, color)
        );
    }
    if plan.is_empty() {
        if args.format == Format::Json {
            print!(
                "{}",
                report::render_plan(&plan, &context, Format::Json, false)
            );
        }
        return Ok(EXIT_OK);
    }
    if !args.auto_approve && !confirm(&plan, session.label())? {
        return Err(CliError::new("apply cancelled; nothing was changed", None));
    }
    let text = args.format == Format::Text;
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
    let mut on_outcome = |done: usize, total: usize, outcome: &ActionOutcome| {
        if text {
            let mark = match outcome.status {
                OutcomeStatus::Succeeded => "✓",
                OutcomeStatus::Failed => "✗",
                OutcomeStatus::NotStarted => "·",
            };
            progress.println(&format!(
                "[{done}/{total}] {mark} {} {}: {}",
                outcome.kind.as_str(),
                outcome.target,
                outcome.detail
            ));
            if let Some(hint) = &outcome.hint
                && outcome.status == OutcomeStatus::Failed
            {
                progress.println(&format!("        hint: {hint}"));
            }
        }
        progress.advance(done, total, outcome.status == OutcomeStatus::Failed);
    };
    let report = apply_plan(session.client(), &plan, clock, &options, &mut on_outcome).await;
    signals.abort();
    progress.finish();
    match args.format {
        Format::Text => {
            let rendered = report::text::render_apply(&report, color);
            // Outcomes were streamed above; print only the summary block.
            let summary = rendered
                .split_once("\n\n")
                .map_or(rendered.as_str(), |(_, summary)| summary);
            print!("\n{summary}");
        }
        Format::Json => {
            print!("{}", report::json::render_apply(&report));
        }
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
        if !wait_for_signal().await {
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

/// Waits for SIGINT or SIGTERM; false when signals cannot be watched.
async fn wait_for_signal() -> bool {
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

/// Reads the live state and plans. Errors carry everything the user needs.
pub async fn make_plan(
    session: &TenantSession,
    desired: &DesiredState,
    clock: &Clock,
) -> Result<(Plan, PlanContext), CliError> {
    let before = session.client().stats().total();
    let live = read_live_state(session.client(), desired).await?;
    let requests = session.client().stats().total() - before;
    let mut plan = build_plan(desired, &live, clock.now()).map_err(plan_errors)?;
    warn_about_missing_action_secrets(&mut plan);
    Ok((
        plan,
        PlanContext {
            tenant: session.label().to_string(),
            requests,
        },
    ))
}

/// The one plan check that depends on the environment: a login Action that re-sends emails
/// needs its credentials at apply time.
fn warn_about_missing_action_secrets(plan: &mut Plan) {
    let needs_secrets = plan.actions.iter().any(|action| {
        action.kind == ActionKind::DeployLoginAction
            && matches!(&action.operation, Operation::DeployLoginAction(d) if !d.secret_names.is_empty())
    });
    let missing: Vec<&str> = [
        login_action::ENV_ACTION_CLIENT_ID,
        login_action::ENV_ACTION_CLIENT_SECRET,
    ]
    .into_iter()
    .filter(|variable| std::env::var(variable).map_or(true, |v| v.is_empty()))
    .collect();
    if needs_secrets && !missing.is_empty() {
        plan.warnings.push(Warning {
            kind: WarningKind::ActionSecretsMissing,
            connection: None,
            message: format!(
                "the login Action re-sends verification emails with its own Management API credentials, but {} {} not set here; apply will fail that action until {} set",
                missing.join(" and "),
                if missing.len() == 1 { "is" } else { "are" },
                if missing.len() == 1 { "it is" } else { "they are" }
            ),
            users: Vec::new(),
            user_count: 0,
        });
    }
}

fn pace(args: &TenantArgs) -> Pace {
    Pace {
        max_rps: args.max_rps,
        rate_share: args.rate_share,
    }
}

fn tenant_source(args: &TenantArgs) -> Result<TenantSource, CliError> {
    if let Some(file) = &args.tenant_file {
        return Ok(TenantSource::File(file.clone()));
    }
    let Some(domain) = args.domain.clone().filter(|d| !d.trim().is_empty()) else {
        return Err(CliError::new(
            "no tenant given",
            Some("set AUTH0_DOMAIN with AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET (or AUTH0_API_TOKEN), or try the example with --tenant-file examples/tenant.yaml".into()),
        ));
    };
    let credentials = if let Some(token) = &args.api_token {
        Credentials::Token(Secret::new(token.clone()))
    } else {
        match (&args.client_id, &args.client_secret) {
            (Some(client_id), Some(secret)) => Credentials::ClientCredentials {
                client_id: client_id.clone(),
                client_secret: Secret::new(secret.clone()),
            },
            _ => {
                return Err(CliError::new(
                    format!("no credentials for {domain}"),
                    Some("set AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET of a machine-to-machine application authorized for the Management API, or AUTH0_API_TOKEN".into()),
                ));
            }
        }
    };
    Ok(TenantSource::Live {
        domain,
        credentials,
    })
}

/// `VERIFYCTL_NOW` (RFC 3339) freezes the clock, for reproducible demos and tests.
fn clock_from_env() -> Result<Clock, CliError> {
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

fn emulator_config(clock: &Clock) -> EmulatorConfig {
    EmulatorConfig {
        clock: clock.clone(),
        ..EmulatorConfig::default()
    }
}

/// Colour on stdout: a terminal, and neither `NO_COLOR` nor `CLICOLOR=0`.
fn stdout_color() -> bool {
    !matches!(
        anstream::AutoStream::choice(&std::io::stdout()),
        anstream::ColorChoice::Never
    )
}

/// The faults `verifyctl emulator` flags ask for.
fn fault_config(args: &FaultArgs) -> Result<FaultConfig, CliError> {
    let route = match &args.fault_route {
        None => RouteFilter::All,
        Some(text) => {
            let (method, path) = text.trim().split_once(' ').ok_or_else(|| {
                CliError::new(
                    format!("--fault-route `{text}` needs a method and a path"),
                    Some("e.g. --fault-route 'POST /api/v2/users'".into()),
                )
            })?;
            RouteFilter::route(&method.to_uppercase(), path.trim())
        }
    };
    let mut faults = FaultConfig::none();
    if let Some((min, max)) = args.latency {
        faults = faults.with(
            route.clone(),
            Fault::Latency {
                min: std::time::Duration::from_millis(min),
                max: std::time::Duration::from_millis(max),
            },
        );
    }
    if args.throttle_rate > 0.0 {
        faults = faults.with(
            route.clone(),
            Fault::TooManyRequests {
                when: Trigger::Probability(args.throttle_rate),
            },
        );
    }
    if args.fail_rate > 0.0 {
        // The rules are tried in order: spread the rate evenly over the three statuses.
        let third = args.fail_rate / 3.0;
        for (index, status) in [500u16, 502, 503].into_iter().enumerate() {
            let taken = third * index as f64;
            let conditional = (third / (1.0 - taken)).min(1.0);
            faults = faults.with(
                route.clone(),
                Fault::ServerError {
                    status,
                    when: Trigger::Probability(conditional),
                },
            );
        }
    }
    if args.drop_rate > 0.0 {
        faults = faults.with(
            route,
            Fault::DropAfterApply {
                when: Trigger::Probability(args.drop_rate),
            },
        );
    }
    Ok(faults)
}

/// `verifyctl emulator`
pub async fn emulator(args: EmulatorArgs) -> CommandResult {
    let state = match &args.tenant_file {
        Some(path) => load_tenant_file(path).map_err(|e| CliError::new(e, None))?,
        None => TenantState::default(),
    };
    let clients: Vec<String> = state
        .clients
        .iter()
        .filter(|c| c.client_secret.is_some())
        .map(|c| format!("{} ({})", c.client_id, c.name))
        .collect();
    let emulator = Emulator::new(
        state,
        EmulatorConfig {
            clock: clock_from_env()?,
            seed: args.faults.seed,
            rate_limit: args.faults.rate_limit.map(|rps| RateLimit {
                burst: args.faults.burst.unwrap_or(rps.ceil().max(1.0) as u32),
                per_second: rps,
            }),
            faults: fault_config(&args.faults)?,
            capture_bodies: false,
        },
    );
    let running = emulator
        .spawn(args.listen)
        .await
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", args.listen), None))?;
    eprintln!("verifyctl emulator listening on {}", running.base_url());
    if clients.is_empty() {
        eprintln!(
            "  no client in the tenant file has a client_secret; add one (with `grants`) to get tokens at /oauth/token"
        );
    } else {
        eprintln!(
            "  clients that can get tokens at /oauth/token: {}",
            clients.join(", ")
        );
    }
    eprintln!(
        "  press Ctrl-C to stop{}",
        if args.save {
            " and save the tenant file"
        } else {
            ""
        }
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::new(format!("cannot wait for Ctrl-C: {e}"), None))?;
    running.shutdown().await;
    if let (true, Some(path)) = (args.save, &args.tenant_file) {
        save_tenant_file(path, &emulator.snapshot()).map_err(|e| CliError::new(e, None))?;
        eprintln!("saved {}", path.display());
    }
    Ok(EXIT_OK)
}
