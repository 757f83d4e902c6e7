//! `verifyctl export [DIR]`: policy files that describe a tenant as it is, to start managing
//! an existing tenant. It reads what `plan` reads (connections, applications, and the users
//! of the connections asked for, through search or a users-export job) and writes:
//!
//! - `connections.yaml`: every connection with `email_verification: off` (the one mode that
//!   changes nothing) and, for database connections, its signup state as it is;
//! - `applications.yaml`: every application (not the tenant's global client), `off` too;
//! - with `--users`, the users of the chosen connections: `users-NAME.yaml` for short lists,
//!   `users/NAME.csv` (named by the connection's `users_file`) for long ones.
//!
//! When the tenant runs verifyctl's own login Action (deployed and bound by an earlier
//! `apply`), the connections and applications it enforces are written so that the policies
//! generate the same Action, and `login.yaml` names it (`export_login.rs` decides how; a
//! blocked connection whose `required` mode would email anyone now is left out instead).
//!
//! Every file starts with the schema modeline and comments saying what to decide. The files
//! are validated in memory before anything is written, and existing files are overwritten
//! only with `--force`, so `plan` right after an export shows no changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::export_login::{self, Enforcement, LoginFound, Role};
use super::{CliError, CommandResult, EXIT_OK, clock_from_env, make_plan, open_session, plural};
use crate::auth0::StrategyKind;
use crate::cli::ExportArgs;
use crate::clock::Clock;
use crate::login_action::{self, ResendRule};
use crate::policy::{self, DesiredState, PolicySource, Scope, checks};
use crate::session::TenantSession;
use crate::tenant::{Client, Connection, LiveState, User};

/// Lists longer than this are written as CSV (`users_file`), shorter ones as YAML.
const CSV_FROM: usize = 50;

/// The modeline the example policies start with (editor completion from the schema).
const MODELINE: &str = "# yaml-language-server: $schema=../schemas/policy.schema.json\n";

/// What was read from the tenant.
struct Tenant {
    connections: Vec<Connection>,
    clients: Vec<Client>,
    /// Users of the connections asked for, by connection name.
    users: BTreeMap<String, Vec<User>>,
    /// verifyctl's login Action, as the tenant has it.
    login: LoginFound,
}

/// `verifyctl export`
pub async fn export(args: ExportArgs) -> CommandResult {
    let clock = clock_from_env()?;
    let session = open_session(&args.tenant, &clock).await?;
    let prepared = prepare(&session, &args, &clock).await;
    let requests = session.client().stats().total();
    session.close(false).await?;
    let (tenant, export) = prepared?;
    write_files(&args.dir, &export.files, args.force)?;
    for note in &export.notes {
        eprintln!("note: {note}");
    }
    for warning in &export.warnings {
        eprintln!("warning: {warning}");
    }
    let users: usize = export.listed.values().sum();
    eprintln!(
        "wrote {} file{} to {} ({} connection{}, {} application{}, {} user{}) after {} request{}; `verifyctl plan {}` shows {}",
        export.files.len(),
        plural(export.files.len()),
        args.dir.display(),
        tenant.connections.len(),
        plural(tenant.connections.len()),
        export.applications,
        plural(export.applications),
        users,
        plural(users),
        requests,
        plural(usize::try_from(requests).unwrap_or(usize::MAX)),
        args.dir.display(),
        if export.warnings.is_empty() {
            "no changes until you edit them"
        } else {
            "only the login Action change the warning names until you edit them"
        },
    );
    Ok(EXIT_OK)
}

/// Reads the tenant and renders the files, validated; where verifyctl's login Action is
/// enforced, plans the connections written `required` as `plan` will, and leaves out those
/// that would have emails planned (an export never causes an email).
async fn prepare(
    session: &TenantSession,
    args: &ExportArgs,
    clock: &Clock,
) -> Result<(Tenant, Export), CliError> {
    let mut tenant = read_tenant(session, &args.users).await?;
    let mut export = render(&tenant);
    let mut desired = check_valid(&args.dir, &export.files)?;
    let required = match &tenant.login {
        LoginFound::Enforced(enforcement) => enforcement.required_connections(),
        _ => Vec::new(),
    };
    if !required.is_empty() {
        let scope = Scope::new(&required, &[]);
        let (plan, _, _) = make_plan(session, &desired, &scope, clock).await?;
        let emails = export_login::emails_by_connection(&plan);
        if let LoginFound::Enforced(enforcement) = &mut tenant.login
            && !emails.is_empty()
        {
            for (connection, count) in emails {
                enforcement
                    .left_out
                    .insert(connection, export_login::emailing_reason(count));
            }
            export = render(&tenant);
            desired = check_valid(&args.dir, &export.files)?;
        }
    }
    match &tenant.login {
        LoginFound::Enforced(enforcement) => {
            check_action_kept(&tenant, enforcement, &desired, &mut export);
        }
        LoginFound::Unparsed { name, why } => export
            .warnings
            .push(export_login::unparsed_warning(name, why)),
        LoginFound::Unreadable => export.notes.push(format!(
            "the credentials cannot read Actions (read:actions), so export could not check whether verifyctl's login Action `{}` is bound; if it is, the next apply unbinds it: check with `verifyctl plan`",
            policy::LoginSpec::DEFAULT_ACTION_NAME
        )),
        LoginFound::NotBound => {}
    }
    Ok((tenant, export))
}

/// Warns when the exported policies generate other code than the tenant's Action runs
/// (the next apply then changes it), saying why.
fn check_action_kept(
    tenant: &Tenant,
    enforcement: &Enforcement,
    desired: &DesiredState,
    export: &mut Export,
) {
    let live = LiveState {
        connections: tenant
            .connections
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect(),
        clients: tenant.clients.clone(),
        ..LiveState::default()
    };
    let code = crate::plan::login_rules(desired, &live)
        .ok()
        .filter(login_action::LoginRules::enforces_anything)
        .map(|rules| login_action::render(&rules));
    if code.as_deref().is_some_and(|code| enforcement.keeps(code)) {
        return;
    }
    let connections: BTreeSet<&str> = tenant.connections.iter().map(|c| c.name.as_str()).collect();
    let client_ids: BTreeSet<&str> = tenant
        .clients
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    let mut why: Vec<String> = enforcement
        .left_out
        .iter()
        .filter(|(c, _)| enforcement.rules.blocked_connections.contains(*c))
        .map(|(c, _)| format!("`{c}` is left out (see connections.yaml)"))
        .collect();
    let missing = export_login::missing_from_tenant(&enforcement.rules, &connections, &client_ids);
    if !missing.is_empty() {
        why.push(format!(
            "it names what the tenant no longer has: {}",
            missing.join(", ")
        ));
    }
    if why.is_empty() {
        why.push(
            "its code is not what this verifyctl generates for its rules (another verifyctl version, or edited)".into(),
        );
    }
    let next = if code.is_some() {
        "the next `verifyctl apply` redeploys it with the code the exported policies generate"
    } else {
        "the exported policies enforce nothing at login, so the next `verifyctl apply` unbinds it (every other binding stays)"
    };
    export.warnings.push(format!(
        "the tenant's login Action `{}` cannot be kept exactly as it is: {}; {next}. `verifyctl plan` shows the change; no email is planned by the export's choices",
        enforcement.action_name,
        why.join("; ")
    ));
}

async fn read_tenant(session: &TenantSession, wanted: &[String]) -> Result<Tenant, CliError> {
    let client = session.client();
    let mut connections = client.list_connections().await?;
    connections.sort_by(|a, b| a.name.cmp(&b.name));
    let mut clients = client.list_clients().await?;
    clients.retain(|c| c.global != Some(true));
    clients.sort_by(|a, b| (&a.name, &a.client_id).cmp(&(&b.name, &b.client_id)));
    let all = wanted.iter().any(String::is_empty);
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    for name in wanted.iter().filter(|n| !n.is_empty()) {
        if !connections.iter().any(|c| c.name == *name) {
            let hint = match checks::suggest(name, connections.iter().map(|c| c.name.as_str())) {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => format!(
                    "the tenant's connections: {}; put DIR before a bare `--users`",
                    connections
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(CliError::new(
                format!(
                    "`--users {name}`: the tenant has no connection `{name}`; nothing was written"
                ),
                Some(hint),
            ));
        }
        chosen.insert(name);
    }
    let mut users = BTreeMap::new();
    for connection in &connections {
        if all || chosen.contains(connection.name.as_str()) {
            let list = client.users_of_connection(connection).await?;
            users.insert(connection.name.clone(), list);
        }
    }
    let login = export_login::read_login(client).await?;
    Ok(Tenant {
        connections,
        clients,
        users,
        login,
    })
}

/// The files of an export, by path relative to DIR, and what to tell the user.
struct Export {
    files: Vec<(PathBuf, String)>,
    notes: Vec<String>,
    /// What the user must act on (the login Action would change).
    warnings: Vec<String>,
    applications: usize,
    /// Users listed per connection.
    listed: BTreeMap<String, usize>,
}

/// A user as exported: the address and the profile names that are set.
struct Listed<'a> {
    email: String,
    name: Option<&'a str>,
    given_name: Option<&'a str>,
    family_name: Option<&'a str>,
}

fn render(tenant: &Tenant) -> Export {
    let mut export = Export {
        files: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
        applications: 0,
        listed: BTreeMap::new(),
    };
    let enforcement = match &tenant.login {
        LoginFound::Enforced(enforcement) => Some(enforcement),
        _ => None,
    };
    let mut file_names = BTreeSet::new();
    let mut connections = String::from(MODELINE);
    connections.push_str(CONNECTIONS_HEADER);
    if let Some(enforcement) = enforcement {
        let _ = write!(
            connections,
            "#
# The tenant runs verifyctl's post-login Action (`{}`, see
# login.yaml). So that these policies generate the same Action, the connections it blocks
# are `required` with `block_unverified_login: true`, the ones it lets pass are `off`, and
# the others are left out (commented out below, with why). A `required` connection's
# unverified users are sent verification emails: export planned each one and leaves it out
# where any email would be planned now, so that the export sends nothing.
",
            enforcement.action_name
        );
    }
    connections.push_str(if tenant.connections.is_empty() {
        "connections: []\n"
    } else {
        "connections:\n"
    });
    for connection in &tenant.connections {
        let kind = StrategyKind::of(&connection.strategy);
        let role = enforcement.map_or(Role::Plain, |e| e.role(&connection.name));
        if let Role::LeftOut(why) = role {
            let blocked =
                enforcement.is_some_and(|e| e.rules.blocked_connections.contains(&connection.name));
            left_out(&mut connections, connection, kind, why, blocked);
            if tenant.users.contains_key(&connection.name) {
                export.notes.push(format!(
                    "the users of `{}` are not listed: the connection is left out of the policies (see connections.yaml)",
                    connection.name
                ));
            }
            continue;
        }
        let users = tenant
            .users
            .get(&connection.name)
            .map(|users| listed_users(connection, users, &mut export.notes));
        let _ = writeln!(
            connections,
            "\n  # {} ({}){}",
            describe_kind(kind),
            connection.strategy,
            match &users {
                Some(users) => format!("; {} user{} listed", users.len(), plural(users.len())),
                None => String::new(),
            }
        );
        let _ = writeln!(connections, "  - name: {}", scalar(&connection.name));
        match role {
            Role::Blocked(resend) => {
                blocked_settings(&mut connections, &connection.name, resend, tenant, &mut export.warnings);
            }
            Role::Exempt => connections.push_str(
                "    email_verification: off        # the login Action lets its users pass, as `off` (and `trusted`) ask; decide: required | trusted | off\n",
            ),
            Role::Plain | Role::LeftOut(_) => connections.push_str(
                "    email_verification: off        # decide: required | trusted | off (off changes nothing)\n",
            ),
        }
        connections.push_str(
            "    offboarding: keep              # decide: keep | block | delete, for managed users no policy lists any more\n",
        );
        if kind == StrategyKind::Database {
            match &connection.options {
                Some(options) => {
                    let disabled = options
                        .get("disable_signup")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false);
                    connections.push_str(if disabled {
                        "    signup: disabled               # as it is: users come from the API only\n"
                    } else {
                        "    signup: enabled                # as it is; the signup form sends its own verification email to everyone, so `required` usually goes with `disabled`\n"
                    });
                }
                None => connections.push_str(
                    "    # signup: disabled | enabled    # its options could not be read (read:connections_options)\n",
                ),
            }
        }
        let Some(users) = users else {
            continue;
        };
        export.listed.insert(connection.name.clone(), users.len());
        if users.is_empty() {
            continue;
        }
        let stem = unique_stem(&connection.name, &mut file_names);
        if users.len() > CSV_FROM {
            let path = format!("users/{stem}.csv");
            let _ = writeln!(connections, "    users_file: {}", scalar(&path));
            export.files.push((PathBuf::from(path), users_csv(&users)));
        } else {
            export.files.push((
                PathBuf::from(format!("users-{stem}.yaml")),
                users_yaml(&connection.name, &users),
            ));
        }
    }
    export
        .files
        .insert(0, (PathBuf::from("connections.yaml"), connections));
    let (applications, count) = applications_yaml(&tenant.clients, enforcement);
    export.applications = count;
    if count > 0 {
        export
            .files
            .insert(1, (PathBuf::from("applications.yaml"), applications));
    }
    if let Some(enforcement) = enforcement {
        export
            .files
            .push((PathBuf::from("login.yaml"), login_yaml(enforcement)));
    }
    export
}

/// A blocked connection's settings: what the Action enforces for it.
fn blocked_settings(
    out: &mut String,
    connection: &str,
    resend: Option<&ResendRule>,
    tenant: &Tenant,
    warnings: &mut Vec<String>,
) {
    out.push_str(
        "    # The login Action denies this connection's unverified users, which only `required` with
    # `block_unverified_login` asks for. `required` sends a verification email to each
    # unverified user who was never sent one (within `resend`); export planned this
    # connection and no email is due now.
    email_verification: required
    block_unverified_login: true
",
    );
    let Some(resend) = resend else {
        return;
    };
    out.push_str(
        "    resend_on_login: true          # the Action re-sends the email on a denied login\n",
    );
    if (resend.after_seconds, resend.max) != (0, 1) {
        let after =
            policy::duration::format_duration(time::Duration::seconds(resend.after_seconds));
        if policy::duration::parse_resend_after(&after).is_ok() && resend.max > 0 {
            let _ = writeln!(out, "    resend: {{ after: {after}, max: {} }}", resend.max);
        } else {
            warnings.push(format!(
                "the login Action re-sends for `{connection}` every {} seconds at most {} times, which no policy can say; the next apply changes it",
                resend.after_seconds, resend.max
            ));
        }
    }
    if let Some(client_id) = &resend.client_id {
        let named: Vec<&Client> = tenant
            .clients
            .iter()
            .filter(|c| c.client_id == *client_id)
            .collect();
        let unique = named.first().filter(|c| {
            tenant.clients.iter().filter(|o| o.name == c.name).count() == 1
                && !c.name.trim().is_empty()
        });
        match unique {
            Some(client) => {
                let _ = writeln!(out, "    verification_client: {}", scalar(&client.name));
            }
            None => warnings.push(format!(
                "the login Action's re-sent emails for `{connection}` use the application {client_id}, which no unique application name names (`verification_client` takes a name); the next apply changes it"
            )),
        }
    }
}

/// A connection left out of the policies, as comments saying why and what to write.
fn left_out(
    out: &mut String,
    connection: &Connection,
    kind: StrategyKind,
    why: &str,
    blocked: bool,
) {
    let _ = writeln!(
        out,
        "\n  # {} ({}): left out of the policies.",
        describe_kind(kind),
        connection.strategy
    );
    for line in wrap(&format!("Why: {why}."), 86) {
        let _ = writeln!(out, "  # {line}");
    }
    out.push_str("  # To manage it, decide and uncomment:\n");
    let _ = writeln!(out, "  # - name: {}", scalar(&connection.name));
    if blocked {
        out.push_str("  #   email_verification: required\n  #   block_unverified_login: true\n");
    } else {
        out.push_str("  #   email_verification: off\n");
    }
}

/// `text` in lines of at most `width` characters (words longer than that stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `login.yaml`: the Action's name and deny message, as the tenant runs it.
fn login_yaml(enforcement: &Enforcement) -> String {
    let mut out = String::from(MODELINE);
    let _ = write!(
        out,
        "#
# Written by `verifyctl export`: verifyctl's post-login Action as the tenant runs it. The
# connections it blocks and the applications it requires are in connections.yaml and
# applications.yaml; while any policy asks for enforcement, `apply` keeps this Action
# deployed and bound, and when none does any more, it unbinds it.
login:
  action_name: {}
  deny_message: {}
",
        scalar(&enforcement.action_name),
        scalar(&enforcement.rules.deny_message)
    );
    out
}

const CONNECTIONS_HEADER: &str = "#
# Written by `verifyctl export`: the tenant's connections as they are. Every connection is
# `email_verification: off`, which changes nothing, so `verifyctl plan` shows no changes
# until you edit this file. For each connection, decide:
#   email_verification: required   unverified users get verification emails (add
#                                  `resend: { after: 72h, max: 3 }` to send more than one),
#                                  optionally `block_unverified_login: true`;
#                       trusted    addresses are known good: marked verified, no email;
#                       off        verifyctl sends nothing and changes no verification state.
#   signup (database connections): disabled (users come only from the API and verifyctl) or
#                                  enabled; remove the line to leave it unmanaged.
# Connections verifyctl should not look at can be removed. Listed users are in users-*.yaml
# and in the CSV files named by `users_file`.
";

fn describe_kind(kind: StrategyKind) -> &'static str {
    match kind {
        StrategyKind::Database => "Database connection",
        StrategyKind::PasswordlessEmail => "Passwordless email connection",
        StrategyKind::PasswordlessSms => "Passwordless SMS connection (users have phone numbers)",
        StrategyKind::Social => "Social connection, whose provider sets email_verified",
        StrategyKind::Enterprise => {
            "Enterprise connection, whose identity provider sets email_verified"
        }
    }
}

/// The users of `connection` a policy can list: those whose primary identity it is, with an
/// address the policies accept, each once. What is left out is said in a note.
fn listed_users<'a>(
    connection: &Connection,
    users: &'a [User],
    notes: &mut Vec<String>,
) -> Vec<Listed<'a>> {
    let mut seen = BTreeSet::new();
    let mut listed = Vec::new();
    let (mut linked, mut no_email, mut invalid) = (0, 0, 0);
    for user in users {
        if user
            .identities
            .first()
            .is_some_and(|identity| identity.connection != connection.name)
        {
            linked += 1;
            continue;
        }
        let Some(email) = user.email.as_deref() else {
            no_email += 1;
            continue;
        };
        if checks::check_email(email).is_err() {
            invalid += 1;
            continue;
        }
        let email = email.to_lowercase();
        if !seen.insert(email.clone()) {
            continue;
        }
        let text = |value: &'a Option<String>, max: usize| {
            value
                .as_deref()
                .filter(|v| checks::check_text("", v, Some(max)).is_ok())
        };
        listed.push(Listed {
            name: text(&user.name, policy::model::NAME_MAX)
                .filter(|name| !name.eq_ignore_ascii_case(&email)),
            given_name: text(&user.given_name, policy::model::GIVEN_NAME_MAX),
            family_name: text(&user.family_name, policy::model::FAMILY_NAME_MAX),
            email,
        });
    }
    listed.sort_by(|a, b| a.email.cmp(&b.email));
    for (count, why) in [
        (linked, "are linked to another primary account"),
        (no_email, "have no email address"),
        (invalid, "have an address the policies refuse"),
    ] {
        if count > 0 {
            notes.push(format!(
                "{count} user{} of `{}` {why}, and {} not listed",
                plural(count),
                connection.name,
                if count == 1 { "is" } else { "are" }
            ));
        }
    }
    listed
}

fn users_yaml(connection: &str, users: &[Listed<'_>]) -> String {
    let mut out = String::from(MODELINE);
    let _ = write!(
        out,
        "#
# Written by `verifyctl export`: the users of `{connection}` as they are. verifyctl keeps each
# listed user's `name`, `given_name` and `family_name` equal to what is written here (remove
# a field to leave it alone). Decide for new users their `onboarding`
# (verification-email | password-reset | none); users you remove are no longer listed.
users:
"
    );
    for user in users {
        let _ = writeln!(out, "  - connection: {}", scalar(connection));
        let _ = writeln!(out, "    email: {}", scalar(&user.email));
        for (field, value) in [
            ("name", user.name),
            ("given_name", user.given_name),
            ("family_name", user.family_name),
        ] {
            if let Some(value) = value {
                let _ = writeln!(out, "    {field}: {}", scalar(value));
            }
        }
    }
    out
}

fn users_csv(users: &[Listed<'_>]) -> String {
    let mut columns = vec!["email"];
    for (field, used) in [
        ("name", users.iter().any(|u| u.name.is_some())),
        ("given_name", users.iter().any(|u| u.given_name.is_some())),
        ("family_name", users.iter().any(|u| u.family_name.is_some())),
    ] {
        if used {
            columns.push(field);
        }
    }
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(&columns);
    for user in users {
        let row: Vec<&str> = columns
            .iter()
            .map(|column| match *column {
                "email" => user.email.as_str(),
                "name" => user.name.unwrap_or(""),
                "given_name" => user.given_name.unwrap_or(""),
                _ => user.family_name.unwrap_or(""),
            })
            .collect();
        let _ = writer.write_record(&row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// `applications.yaml`, and how many applications it names.
fn applications_yaml(clients: &[Client], enforcement: Option<&Enforcement>) -> (String, usize) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for client in clients {
        *names.entry(client.name.as_str()).or_insert(0) += 1;
    }
    let mut out = String::from(MODELINE);
    out.push_str(
        "#
# Written by `verifyctl export`: the tenant's applications, each `email_verification: off`
# (no requirement at login). `required` makes verifyctl's post-login Action deny users with
# an unverified address logging in to that application. Remove the ones that need nothing.
applications:
",
    );
    for client in clients {
        let _ = writeln!(
            out,
            "\n  # {} ({})",
            if client.name.trim().is_empty() {
                "An application without a name"
            } else {
                client.name.as_str()
            },
            client.app_type.as_deref().unwrap_or("application")
        );
        if names.get(client.name.as_str()) == Some(&1) && !client.name.trim().is_empty() {
            let _ = writeln!(out, "  - name: {}", scalar(&client.name));
        } else {
            // A name another application shares cannot name one of them.
            let _ = writeln!(out, "  - client_id: {}", scalar(&client.client_id));
        }
        let required = enforcement.is_some_and(|e| {
            e.rules
                .required_applications
                .contains_key(&client.client_id)
        });
        out.push_str(if required {
            "    email_verification: required   # as the login Action enforces: it denies unverified users logging in to it; decide: required | off\n"
        } else {
            "    email_verification: off        # decide: required | off\n"
        });
    }
    (out, clients.len())
}

/// A file name for a connection: its name with anything unusual replaced, made unique.
fn unique_stem(name: &str, taken: &mut BTreeSet<String>) -> String {
    let base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut stem = base.clone();
    let mut n = 2;
    while !taken.insert(stem.to_ascii_lowercase()) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    stem
}

/// A YAML scalar for `text`: plain when that reads back as the same text, otherwise
/// double-quoted (a JSON string is a valid YAML double-quoted scalar).
fn scalar(text: &str) -> String {
    let plain = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !text.ends_with(' ')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " @._+-/".contains(c))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
    }
}

/// Loads the files as `plan` will, before anything is written: an export that would not
/// validate is a bug, never a half-written policy directory.
fn check_valid(dir: &Path, files: &[(PathBuf, String)]) -> Result<DesiredState, CliError> {
    let mut sources = Vec::new();
    let mut lists = Vec::new();
    for (path, text) in files {
        let source = PolicySource {
            file: Arc::from(dir.join(path).display().to_string()),
            text: Arc::from(text.as_str()),
        };
        if path.extension().is_some_and(|e| e == "csv") {
            lists.push(source);
        } else {
            sources.push(source);
        }
    }
    policy::load_sources_with_lists(sources, lists).map_err(|diagnostics| {
        CliError::new(
            format!(
                "the exported policies do not validate, so nothing was written:\n{}",
                diagnostics.render_human()
            ),
            Some("this is a verifyctl bug: please report it with the messages above".into()),
        )
    })
}

fn write_files(dir: &Path, files: &[(PathBuf, String)], force: bool) -> Result<(), CliError> {
    let existing: Vec<String> = files
        .iter()
        .map(|(path, _)| dir.join(path))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        return Err(CliError::new(
            format!(
                "{} already exist{}: {}; nothing was written",
                if existing.len() == 1 {
                    "a file"
                } else {
                    "files"
                },
                if existing.len() == 1 { "s" } else { "" },
                existing.join(", ")
            ),
            Some("export into a new directory, or add `--force` to overwrite them".into()),
        ));
    }
    for (path, text) in files {
        let path = dir.join(path);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let parent = path.parent().unwrap_or(Path::new("."));
                let mut file = tempfile::NamedTempFile::new_in(parent)?;
                std::io::Write::write_all(&mut file, text.as_bytes())?;
                file.persist(&path).map_err(|e| e.error)?;
                Ok(())
            });
        written.map_err(|error| {
            CliError::new(
                format!("cannot write {}: {error}", path.display()),
                Some("check that the directory is writable".into()),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_the_same_text() {
        assert_eq!(scalar("partner-db"), "partner-db");
        assert_eq!(scalar("Alice Doe"), "Alice Doe");
        assert_eq!(scalar("off"), "\"off\"");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("José: #1"), "\"José: #1\"");
        assert_eq!(scalar("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn file_names_are_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique_stem("partner-db", &mut taken), "partner-db");
        assert_eq!(unique_stem("partner db", &mut taken), "partner_db");
        assert_eq!(unique_stem("partner_db", &mut taken), "partner_db-2");
    }
}
