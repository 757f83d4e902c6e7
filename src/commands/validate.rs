//! `verifyctl validate`, `verifyctl schema` and `verifyctl completions`: the offline commands.

use clap::CommandFactory;

use super::{CliError, CommandResult, EXIT_ERROR, EXIT_OK, load_policies, plural};
use crate::cli::{Cli, DiagnosticsFormat, ValidateArgs};
use crate::policy;

/// `verifyctl validate`
pub fn validate(args: &ValidateArgs) -> CommandResult {
    let desired = match load_policies(&args.policy_dir, &args.variables) {
        Ok(desired) => desired,
        Err(diagnostics) => {
            return match args.format {
                DiagnosticsFormat::Human => Err(diagnostics.into()),
                DiagnosticsFormat::Github => {
                    // Workflow commands are read from stdout.
                    print!("{}", diagnostics.render_github());
                    eprintln!(
                        "error: found {} problem{} in the policies",
                        diagnostics.len(),
                        plural(diagnostics.len())
                    );
                    Ok(EXIT_ERROR)
                }
            };
        }
    };
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
    // The process ends now: freeing every user one by one (100,000 of them from a list
    // take a tenth of the run) would only delay the exit.
    std::mem::forget(desired);
    Ok(EXIT_OK)
}

/// `verifyctl schema`
pub fn schema() -> CommandResult {
    print!("{}", policy::schema::policy_schema_json());
    Ok(EXIT_OK)
}

/// `verifyctl completions SHELL`
pub fn completions(shell: clap_complete::Shell) -> CommandResult {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "verifyctl", &mut script);
    let text = String::from_utf8(script)
        .map_err(|e| CliError::new(format!("cannot print the completion script: {e}"), None))?;
    print!("{text}");
    Ok(EXIT_OK)
}
