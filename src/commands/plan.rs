//! `verifyctl plan`: read the tenant, print what apply would change, optionally save it.

use std::io::Write;

use super::{
    CliError, CommandResult, EXIT_CHANGES, EXIT_OK, clock_from_env, emit, make_plan, open_session,
    stdout_color,
};
use crate::cli::PlanArgs;
use crate::plan::Scope;
use crate::plan::saved::SavedPlan;
use crate::policy;
use crate::report;

/// `verifyctl plan`
pub async fn plan(args: PlanArgs) -> CommandResult {
    let desired = policy::load_dir(&args.policy_dir)?;
    let scope = Scope::new(&args.target.connections, &args.target.users);
    let clock = clock_from_env()?;
    let session = open_session(&args.tenant, &clock).await?;
    let planned = make_plan(&session, &desired, &scope, &clock).await;
    session.close(false).await?;
    let (plan, context, live) = planned?;
    let (plan, context) = match &args.out {
        Some(path) => {
            let saved = SavedPlan::new(
                plan,
                context,
                &desired,
                &live,
                crate::clock::format_timestamp(clock.now()),
            );
            write_atomically(path, &report::json::render_saved(&saved)).map_err(|e| {
                CliError::new(
                    format!("cannot write the plan to {}: {e}", path.display()),
                    None,
                )
            })?;
            (saved.plan, saved.context)
        }
        None => (plan, context),
    };
    let color = stdout_color() && !args.mask_emails;
    emit(
        &report::render_plan(&plan, &context, args.format, color),
        args.mask_emails,
    );
    if let Some(path) = &args.out {
        eprintln!(
            "saved the plan to {}; `verifyctl apply --plan {}` applies exactly it",
            path.display(),
            path.display()
        );
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// Writes `text` to `path` through a temporary file renamed over it.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
