//! The command line and nothing else: clap definitions of every subcommand, flag and value
//! (uv's `uv-cli` split). What the commands do lives in [`crate::commands`]; parsing,
//! logging, the runtime and dispatch live in [`crate::run`]. Nothing here reads the
//! environment beyond clap's documented `env` fallbacks; secrets are never flags.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand};

use crate::report::{ApplyFormat, Detail, Format};

/// Reconcile email-verification policy for Auth0 tenants from YAML files.
///
/// Exit codes: 0 success (and no changes, with --detailed-exitcode), 1 error or failed
/// actions, 2 changes present (plan --detailed-exitcode).
#[derive(Debug, Parser)]
#[command(
    name = "verifyctl",
    version,
    about,
    long_about = None,
    max_term_width = 100,
    after_help = "Tenant: AUTH0_DOMAIN with AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET, or AUTH0_CLIENT_ID and AUTH0_CLIENT_ASSERTION_PRIVATE_KEY (PEM or a path; AUTH0_CLIENT_ASSERTION_SIGNING_ALG RS256|RS384|PS256, VERIFYCTL_CLIENT_ASSERTION_KEY_ID), or AUTH0_API_TOKEN; AUTH0_AUDIENCE for a custom domain. Or --tenant-file FILE.\nExit codes: 0 success, 1 error or failed actions, 2 changes present (plan --detailed-exitcode)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policy files offline: syntax, types, unknown keys, emails, duplicates.
    Validate(ValidateArgs),
    /// Show what apply would change in the tenant.
    Plan(PlanArgs),
    /// Make the tenant match the policies.
    Apply(ApplyArgs),
    /// Print the JSON Schema of policy files.
    Schema,
    /// Work with the post-login Action verifyctl generates.
    #[command(subcommand)]
    Action(ActionCommand),
    /// Write policy files describing the tenant as it is, to start managing it (`plan` right
    /// after shows no changes).
    Export(ExportArgs),
    /// Serve the built-in Auth0 Management API emulator.
    Emulator(EmulatorArgs),
    /// Print a shell completion script (e.g. `verifyctl completions bash > /etc/bash_completion.d/verifyctl`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Directory of policy files (*.yaml, *.yml).
    #[arg(default_value = "policies")]
    pub policy_dir: PathBuf,
    #[command(flatten)]
    pub variables: VarArgs,
    /// How to report problems.
    #[arg(long, value_enum, default_value_t = DiagnosticsFormat::Human)]
    pub format: DiagnosticsFormat,
}

/// How `validate` reports problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticsFormat {
    /// file:line:col, a source snippet and a hint per problem.
    Human,
    /// GitHub Actions workflow commands (`::error file=…,line=…,col=…::…`).
    Github,
}

/// Which part of the policies a plan covers.
/// `${NAME}` policy variables (see `policy::vars`).
#[derive(Debug, Args, Default)]
pub struct VarArgs {
    /// Set the policy variable `${NAME}` (repeatable; wins over --var-file and the
    /// environment). Secret values go in VERIFYCTL_SECRET_VAR_NAME, never in a flag.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read policy variables from a YAML mapping, e.g. environments/prod.yaml (repeatable;
    /// a later file wins; wins over VERIFYCTL_VAR_NAME in the environment).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Only this connection (repeatable); the plan says it is partial.
    #[arg(long = "connection", value_name = "NAME")]
    pub connections: Vec<String>,
    /// Only the user with this email (repeatable); the plan says it is partial.
    #[arg(long = "user", value_name = "EMAIL")]
    pub users: Vec<String>,
}

/// How to reach the tenant.
#[derive(Debug, Args)]
pub struct TenantArgs {
    /// Work on a tenant stored in a file (YAML or JSON), served by the built-in emulator
    /// in this process; no Auth0 account needed. Takes precedence over AUTH0_* settings.
    #[arg(long, value_name = "FILE")]
    pub tenant_file: Option<PathBuf>,
    /// The tenant's domain, e.g. acme.eu.auth0.com.
    #[arg(long, env = "AUTH0_DOMAIN", value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Client id of a machine-to-machine application authorized for the Management API.
    #[arg(long, env = "AUTH0_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    // Its secret (AUTH0_CLIENT_SECRET), private key (AUTH0_CLIENT_ASSERTION_PRIVATE_KEY,
    // AUTH0_CLIENT_ASSERTION_SIGNING_ALG) or a token (AUTH0_API_TOKEN) is read from the
    // environment only, by `tenant::Credentials::from_env`: never a flag.
    /// The Management API audience, when AUTH0_DOMAIN is a custom domain: the tenant's
    /// canonical https://TENANT.REGION.auth0.com/api/v2/ [default: https://DOMAIN/api/v2/].
    #[arg(long, env = "AUTH0_AUDIENCE", value_name = "URL")]
    pub audience: Option<String>,
    /// A hard cap in requests per second [default: none: the tenant's own rate-limit headers
    /// set the pace].
    #[arg(long, env = "VERIFYCTL_MAX_RPS", value_name = "RPS", value_parser = positive_rate)]
    pub max_rps: Option<f64>,
    /// Share of the tenant's sustained Management API rate (measured from its x-ratelimit
    /// headers) verifyctl may use; the rest is left for the tenant's other tools.
    #[arg(long, env = "VERIFYCTL_RATE_SHARE", value_name = "SHARE", default_value_t = 1.0, value_parser = share)]
    pub rate_share: f64,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err("expected a positive number of requests per second, e.g. 2 or 0.5".into()),
    }
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if share > 0.0 && share <= 1.0 => Ok(share),
        _ => Err("expected a share between 0 (exclusive) and 1, e.g. 0.5".into()),
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Directory of policy files.
    #[arg(default_value = "policies")]
    pub policy_dir: PathBuf,
    #[command(flatten)]
    pub variables: VarArgs,
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 2 when the plan has changes, 0 when it has none (1 on errors).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also save the plan to FILE, for `apply --plan FILE` (JSON, no secrets).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Mask the local part of every email address in the output (a***@example.com).
    #[arg(long)]
    pub mask_emails: bool,
    /// How much the text format says per action [default: auto: everything up to 200
    /// actions, one line each beyond].
    #[arg(long, value_enum, default_value_t = Detail::Auto, hide_default_value = true)]
    pub detail: Detail,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The most emails this run sends (overrides the policies' `emails.max_per_run`); the
    /// rest wait for later runs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_emails: Option<u32>,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
}

/// Offboarding and managed-mark limits (`plan` and `apply`).
#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// Let `offboarding: delete` delete managed users no policy lists any more (without it
    /// the plan shows those deletions as refused and nothing is deleted).
    #[arg(long)]
    pub allow_delete: bool,
    /// Refuse the whole plan, before any change, when it would delete more users than this.
    #[arg(long, value_name = "N", default_value_t = crate::policy::LifecycleLimits::DEFAULT_MAX_DELETES)]
    pub max_deletes: u32,
    /// The most listed users marked as managed by a PATCH of their own in one run; the rest
    /// are marked by later runs (marks that ride on another change are free).
    #[arg(long, value_name = "N", default_value_t = crate::policy::LifecycleLimits::DEFAULT_MAX_MARKS)]
    pub max_marks: u32,
}

impl LifecycleArgs {
    pub fn limits(&self) -> crate::policy::LifecycleLimits {
        crate::policy::LifecycleLimits {
            allow_delete: self.allow_delete,
            max_deletes: self.max_deletes,
            max_marks: self.max_marks,
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Directory of policy files.
    #[arg(default_value = "policies")]
    pub policy_dir: PathBuf,
    #[command(flatten)]
    pub variables: VarArgs,
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Apply without asking (required when stdin is not a terminal, e.g. in CI).
    #[arg(long)]
    pub auto_approve: bool,
    /// Output format of the plan and the apply report.
    #[arg(long, value_enum, default_value_t = ApplyFormat::Text)]
    pub format: ApplyFormat,
    /// Apply exactly this saved plan (from `plan --out`); refused when the policies or the
    /// tenant changed since. POLICY_DIR is then only used to check the policies.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["connections", "users"])]
    pub plan: Option<PathBuf>,
    /// Mask the local part of every email address in the output.
    #[arg(long)]
    pub mask_emails: bool,
    /// How much the printed plan says per action [default: auto].
    #[arg(long, value_enum, default_value_t = Detail::Auto, hide_default_value = true)]
    pub detail: Detail,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The most emails this run sends (overrides the policies' `emails.max_per_run`); the
    /// rest wait for later runs.
    #[arg(long, value_name = "N", conflicts_with = "plan", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_emails: Option<u32>,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    /// Users (and other targets) worked on at once; one target's actions stay in order
    /// [default: 32: enough to keep a high-limit tenant busy whatever the latency, while
    /// the rate itself is the pacer's].
    #[arg(long, value_name = "N", default_value_t = 32, hide_default_value = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// No progress bar or progress lines on stderr.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Directory to write the policy files to (created when missing).
    #[arg(default_value = "policies")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Also list the users of this connection (repeatable); `--users` alone lists those of
    /// every connection. Put DIR before a bare `--users`.
    #[arg(long = "users", value_name = "CONNECTION", num_args = 0..=1, default_missing_value = "", action = clap::ArgAction::Append)]
    pub users: Vec<String>,
    /// Overwrite policy files that exist (without it, nothing is written when one does).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Print the Action's JavaScript for the policies (resolving application names needs
    /// the tenant).
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory of policy files.
    #[arg(default_value = "policies")]
    pub policy_dir: PathBuf,
    #[command(flatten)]
    pub variables: VarArgs,
    #[command(flatten)]
    pub tenant: TenantArgs,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:4010", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Tenant to serve; without it, an empty tenant.
    #[arg(long, value_name = "FILE")]
    pub tenant_file: Option<PathBuf>,
    /// Write the tenant (and its outbox) back to --tenant-file when stopped (Ctrl-C or SIGTERM).
    #[arg(long, requires = "tenant_file")]
    pub save: bool,
    #[command(flatten)]
    pub faults: FaultArgs,
}

/// Rate limiting and faults the emulator injects, to see how clients cope.
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// Management API rate limit in requests per second (token bucket; overrides the
    /// tenant file's `settings.rate_limit`).
    #[arg(long, value_name = "RPS", value_parser = positive_rate)]
    pub rate_limit: Option<f64>,
    /// Bucket size of --rate-limit [default: one second's worth].
    #[arg(long, value_name = "N", requires = "rate_limit")]
    pub burst: Option<u32>,
    /// Probability that a request is answered 500, 502 or 503 (a third each) without
    /// being applied.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub fail_rate: f64,
    /// Probability that a request is applied and its connection then dropped unanswered.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub drop_rate: f64,
    /// Probability of a 429 answer (nothing applied).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub throttle_rate: f64,
    /// Added latency per request in milliseconds: `50`, or a range `20..200`.
    #[arg(long, value_name = "MS[..MS]", value_parser = latency)]
    pub latency: Option<(u64, u64)>,
    /// Apply the faults only to this route, e.g. `POST /api/v2/users` or
    /// `PATCH /api/v2/users/{id}` [default: every route].
    #[arg(long, value_name = "ROUTE")]
    pub fault_route: Option<String>,
    /// Seed for ids and fault sampling, so a run can be reproduced.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// The report formats as the command line spells them (the help text is the variants' doc).
impl clap::ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Text, Format::Json, Format::Markdown]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Format::Text => PossibleValue::new("text").help("Human-readable, Terraform-like"),
            Format::Json => PossibleValue::new("json")
                .help("A versioned JSON document for machines (schemas/plan.schema.json)"),
            Format::Markdown => PossibleValue::new("markdown")
                .help("A pull-request comment (GitHub/GitLab), under 65,000 characters"),
        })
    }
}

impl clap::ValueEnum for ApplyFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[ApplyFormat::Text, ApplyFormat::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            ApplyFormat::Text => PossibleValue::new("text")
                .help("The plan, each action's outcome as it ends, and a summary"),
            ApplyFormat::Json => PossibleValue::new("json")
                .help("One JSON document with every outcome and the request figures"),
        })
    }
}

impl clap::ValueEnum for Detail {
    fn value_variants<'a>() -> &'a [Self] {
        &[Detail::Auto, Detail::Full, Detail::Compact]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Detail::Auto => PossibleValue::new("auto")
                .help("Everything up to 200 actions, one line each beyond"),
            Detail::Full => {
                PossibleValue::new("full").help("Reason, calls and field changes for every action")
            }
            Detail::Compact => PossibleValue::new("compact").help("One line per action"),
        })
    }
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err("expected a probability between 0 and 1, e.g. 0.05".into()),
    }
}

fn latency(text: &str) -> Result<(u64, u64), String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{t}` is not a number of milliseconds"))
    };
    if let Some((min, max)) = text.split_once("..") {
        let (min, max) = (parse(min)?, parse(max)?);
        if min > max {
            return Err("the range's minimum is above its maximum".into());
        }
        Ok((min, max))
    } else {
        let fixed = parse(text)?;
        Ok((fixed, fixed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
