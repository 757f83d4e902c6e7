//! `verifyctl plan`: read the tenant, print what apply would change, optionally save it.

use std::io::Write;

use super::{
    CliError, CommandResult, EXIT_CHANGES, EXIT_OK, check_no_placeholders, clock_from_env,
    emit_with, load_policies, make_plan, open_session, shown_plan, stdout_color,
};
use crate::cli::PlanArgs;
use crate::mask::SecretMask;
use crate::plan::Scope;
use crate::plan::saved::SavedPlan;
use crate::report;

/// `verifyctl plan`
pub async fn plan(args: PlanArgs) -> CommandResult {
    let mut desired = load_policies(&args.policy_dir, &args.variables)?;
    if let Some(budget) = args.max_emails {
        desired.max_emails_per_run = Some(budget);
    }
    desired.lifecycle = args.lifecycle.limits();
    let scope = Scope::new(&args.target.connections, &args.target.users);
    let clock = clock_from_env()?;
    let session = open_session(&args.tenant, &clock).await?;
    let planned = make_plan(&session, &desired, &scope, &clock).await;
    session.close(false).await?;
    let (plan, context, live) = planned?;
    let mask = SecretMask::new(
        desired
            .secrets
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose())),
    );
    let shown = shown_plan(&plan, &mask)?;
    if let Some(path) = &args.out {
        let saved = SavedPlan::new(
            plan,
            context.clone(),
            &desired,
            &live,
            crate::clock::format_timestamp(clock.now()),
        );
        let written = if mask.is_empty() {
            write_atomically(path, |out| report::json::write_saved(out, &saved))
        } else {
            // The file holds placeholders; `apply --plan` puts the values back.
            let mut document: serde_json::Value =
                serde_json::from_str(&report::json::render_saved(&saved))
                    .map_err(|e| CliError::new(format!("cannot save the plan: {e}"), None))?;
            check_no_placeholders(&document, &mask)?;
            mask.mask_json(&mut document);
            write_atomically(path, |out| {
                serde_json::to_writer_pretty(&mut *out, &document)?;
                out.write_all(b"\n")
            })
        };
        written.map_err(|e| {
            CliError::new(
                format!("cannot write the plan to {}: {e}", path.display()),
                None,
            )
        })?;
    }
    let plan = shown;
    let color = stdout_color() && !args.mask_emails;
    emit_with(args.mask_emails, |out| {
        report::write_plan(out, &plan, &context, args.format, color, args.detail)
    });
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

/// Writes to `path` through a temporary file renamed over it.
fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let file = tempfile::NamedTempFile::new_in(dir)?;
    let mut out = std::io::BufWriter::new(file);
    write(&mut out)?;
    let file = out
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
