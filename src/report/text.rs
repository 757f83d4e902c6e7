//! The human-readable printer: Terraform-like `+` (create) and `~` (change) lines grouped
//! by connection, field diffs (multi-line values diffed line by line with `similar`),
//! warnings, and a summary line. Colour only when asked for (a terminal without `NO_COLOR`).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{PlanContext, diff_lines, display_value};
use crate::apply::{ApplyReport, OutcomeStatus};
use crate::plan::{Action, ActionKind, ChangeSymbol, FieldChange, Plan, Target};

struct Palette {
    color: bool,
}

impl Palette {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
    fn green(&self, text: &str) -> String {
        self.paint(AnsiColor::Green.on_default(), text)
    }
    fn yellow(&self, text: &str) -> String {
        self.paint(AnsiColor::Yellow.on_default(), text)
    }
    fn red(&self, text: &str) -> String {
        self.paint(AnsiColor::Red.on_default(), text)
    }
    fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint(Style::new().dimmed(), text)
    }
}

/// How much a text plan says about each action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Everything up to [`COMPACT_ABOVE`] actions, one line each beyond.
    #[default]
    Auto,
    /// Reason, calls and field changes for every action.
    Full,
    /// One line per action.
    Compact,
}

/// Plans with more actions than this are shown one line per action unless asked otherwise.
pub const COMPACT_ABOVE: usize = 200;

impl Detail {
    fn compact(self, actions: usize) -> bool {
        match self {
            Detail::Auto => actions > COMPACT_ABOVE,
            Detail::Full => false,
            Detail::Compact => true,
        }
    }
}

/// Renders a plan for people.
pub fn render_plan(plan: &Plan, context: &PlanContext, color: bool) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_plan(&mut out, plan, context, color, Detail::Auto);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes a plan for people to `out`, action by action (a plan of any size is never held
/// as one string).
pub fn write_plan(
    out: &mut dyn std::io::Write,
    plan: &Plan,
    context: &PlanContext,
    color: bool,
    detail: Detail,
) -> std::io::Result<()> {
    let palette = Palette { color };
    let compact = detail.compact(plan.actions.len());
    writeln!(
        out,
        "{}",
        palette.bold(&format!("verifyctl plan for {}", context.tenant))
    )?;
    if let Some(scope) = &plan.scope {
        writeln!(
            out,
            "{}",
            palette.yellow(&format!("({})", scope.describe()))
        )?;
    }
    if compact && detail == Detail::Auto {
        writeln!(
            out,
            "{}",
            palette.dim(&format!(
                "({} actions, one line each; `--detail full` shows every reason, call and field change, `--format json` everything)",
                plan.actions.len()
            ))
        )?;
    }
    let mut current_group: Option<String> = None;
    let mut block = String::new();
    for action in &plan.actions {
        let group = group_title(&action.target);
        if current_group.as_ref() != Some(&group) {
            writeln!(out, "\n{}", palette.bold(&group))?;
            current_group = Some(group);
        }
        block.clear();
        if compact {
            render_headline(&mut block, action, &palette);
        } else {
            render_action(&mut block, action, &palette);
        }
        out.write_all(block.as_bytes())?;
    }
    if !plan.warnings.is_empty() {
        writeln!(out, "\n{}", palette.bold("Warnings:"))?;
        for warning in &plan.warnings {
            writeln!(out, "  {} {}", palette.yellow("!"), warning.message)?;
            if !warning.users.is_empty() {
                let more = warning.user_count.saturating_sub(warning.users.len());
                let mut list = warning.users.join(", ");
                if more > 0 {
                    let _ = write!(list, " and {more} more");
                }
                writeln!(out, "    {}", palette.dim(&list))?;
            }
        }
    }
    writeln!(out, "\n{}", summary_line(plan))?;
    writeln!(
        out,
        "{}",
        palette.dim(&format!(
            "({} Management API requests to read the tenant)",
            context.requests
        ))
    )
}

/// `Plan: 5 actions (2 to create, 3 verification emails to send).` or `No changes. …`
pub fn summary_line(plan: &Plan) -> String {
    if plan.is_empty() {
        return "No changes. The tenant matches the policies.".to_string();
    }
    let parts: Vec<String> = plan
        .counts()
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(kind, count)| kind.count_phrase(count))
        .collect();
    let total = plan.actions.len();
    format!(
        "Plan: {total} action{} ({}).",
        if total == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

/// The heading actions are listed under.
fn group_title(target: &Target) -> String {
    match target {
        Target::LoginAction { name } => format!("login Action {name}"),
        other => format!("connection {}", other.connection().unwrap_or_default()),
    }
}

/// `  ~ send verification email to a@x.example (auth0|1)`
fn render_headline(out: &mut String, action: &Action, palette: &Palette) {
    let headline = action.headline();
    let symbol = headline.symbol.as_char().to_string();
    let symbol = match headline.symbol {
        ChangeSymbol::Create => palette.green(&symbol),
        ChangeSymbol::Update => palette.yellow(&symbol),
        ChangeSymbol::Remove => palette.red(&symbol),
    };
    let _ = writeln!(out, "  {symbol} {}", headline.with_target(&action.target));
}

fn render_action(out: &mut String, action: &Action, palette: &Palette) {
    render_headline(out, action, palette);
    let _ = writeln!(
        out,
        "      {}",
        palette.dim(&format!("reason: {}", action.reason))
    );
    let _ = writeln!(
        out,
        "      {}",
        palette.dim(&format!("calls: {}", action.calls().join(", ")))
    );
    let width = action
        .changes
        .iter()
        .map(|c| c.field.chars().count())
        .max()
        .unwrap_or(0);
    for change in &action.changes {
        render_change(out, change, width, palette);
    }
}

fn render_change(out: &mut String, change: &FieldChange, width: usize, palette: &Palette) {
    let before = change.before.as_ref().map(display_value);
    let after = change.after.as_ref().map(display_value);
    let label = format!("{:width$}", format!("{}:", change.field), width = width + 1);
    let multi_line = before.iter().chain(after.iter()).any(|v| v.contains('\n'));
    match (before, after) {
        (None, Some(after)) if !multi_line => {
            let _ = writeln!(out, "      {} {label} {after}", palette.green("+"));
        }
        (Some(before), None) if !multi_line => {
            let _ = writeln!(out, "      {} {label} {before}", palette.red("-"));
        }
        (Some(before), Some(after)) if !multi_line => {
            let _ = writeln!(
                out,
                "      {} {label} {before} -> {after}",
                palette.yellow("~")
            );
        }
        _ => {
            let _ = writeln!(out, "      {} {}:", palette.yellow("~"), change.field);
            for line in diff_lines(change) {
                let rendered = if ["+++", "---", "@@"].iter().any(|h| line.starts_with(h)) {
                    palette.dim(&line)
                } else if line.starts_with('+') {
                    palette.green(&line)
                } else if line.starts_with('-') {
                    palette.red(&line)
                } else {
                    line
                };
                let _ = writeln!(out, "          {rendered}");
            }
        }
    }
}

/// Renders the outcome of an apply: every action's outcome, a blank line, the summary.
pub fn render_apply(report: &ApplyReport, color: bool) -> String {
    format!(
        "{}\n{}",
        render_outcomes(report, color),
        render_apply_summary(report, color)
    )
}

/// One line per action's outcome (with its hint), in plan order.
pub fn render_outcomes(report: &ApplyReport, color: bool) -> String {
    let palette = Palette { color };
    let mut out = String::new();
    for outcome in &report.outcomes {
        let mark = outcome.status.mark();
        let mark = match outcome.status {
            OutcomeStatus::Succeeded => palette.green(mark),
            OutcomeStatus::Failed => palette.red(mark),
            OutcomeStatus::NotStarted => palette.dim(mark),
        };
        let word = outcome.status.word();
        let _ = writeln!(
            out,
            "{mark} {} {}: {word}: {}",
            outcome.kind.as_str(),
            outcome.target,
            outcome.detail
        );
        if let Some(hint) = &outcome.hint {
            let _ = writeln!(out, "    hint: {hint}");
        }
    }
    out
}

/// The summary of an apply: a headline, counts per kind, the failures again with their
/// messages and hints, and the request figures.
pub fn render_apply_summary(report: &ApplyReport, color: bool) -> String {
    let palette = Palette { color };
    let mut out = String::new();
    let failed = report.failed();
    let headline = if report.interrupted {
        palette.yellow(&format!(
            "Apply interrupted: {} succeeded, {failed} failed, {} not started; apply again to continue.",
            report.succeeded(),
            report.not_started()
        ))
    } else if failed == 0 {
        let succeeded = report.succeeded();
        palette.green(&format!(
            "Apply complete: {succeeded} {} succeeded.",
            if succeeded == 1 { "action" } else { "actions" }
        ))
    } else {
        palette.red(&format!(
            "Apply finished with errors: {} succeeded, {failed} failed.",
            report.succeeded()
        ))
    };
    let _ = writeln!(out, "{headline}");
    let mut per_kind: Vec<String> = Vec::new();
    for kind in ActionKind::ALL {
        let of_kind: Vec<_> = report.outcomes.iter().filter(|o| o.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let count = |status| of_kind.iter().filter(|o| o.status == status).count();
        let mut parts = vec![format!("{} ok", count(OutcomeStatus::Succeeded))];
        for (status, word) in [
            (OutcomeStatus::Failed, "failed"),
            (OutcomeStatus::NotStarted, "not started"),
        ] {
            if count(status) > 0 {
                parts.push(format!("{} {word}", count(status)));
            }
        }
        per_kind.push(format!("{}: {}", kind.as_str(), parts.join(", ")));
    }
    if !per_kind.is_empty() {
        let _ = writeln!(out, "  {}", per_kind.join("; "));
    }
    let failures: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Failed)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "  failed:");
        for failure in failures {
            let _ = writeln!(
                out,
                "    {} {} {}: {}",
                palette.red(OutcomeStatus::Failed.mark()),
                failure.kind.as_str(),
                failure.target,
                failure.detail
            );
            if let Some(hint) = &failure.hint {
                let _ = writeln!(out, "      hint: {hint}");
            }
        }
    }
    let _ = writeln!(
        out,
        "  {} requests ({} rate-limited responses waited out, {} retries) in {:.1}s",
        report.requests.total(),
        report.requests.throttled,
        report.requests.retries,
        report.elapsed.as_secs_f64()
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::apply::ActionOutcome;
    use crate::tenant::CallStats;

    #[test]
    fn the_apply_summary_lists_failures_with_their_messages() {
        let outcome = |status, detail: &str| ActionOutcome {
            kind: ActionKind::SendVerificationEmail,
            target: Target::user("db", Some("a@x.example".into()), Some("auth0|1".into())),
            status,
            detail: detail.into(),
            hint: (status == OutcomeStatus::Failed).then(|| "check the scopes".to_string()),
        };
        let report = ApplyReport {
            outcomes: vec![
                outcome(OutcomeStatus::Succeeded, "sent"),
                outcome(
                    OutcomeStatus::Failed,
                    "sending the verification email: HTTP 403: Insufficient scope",
                ),
            ],
            requests: CallStats::default(),
            elapsed: Duration::from_secs(2),
            interrupted: false,
        };
        let text = render_apply(&report, false);
        let summary = text.split_once("\n\n").map(|(_, s)| s).unwrap_or_default();
        assert!(
            summary.starts_with("Apply finished with errors: 1 succeeded, 1 failed."),
            "{summary}"
        );
        assert!(summary.contains("send_verification_email: 1 ok, 1 failed"));
        assert!(summary.contains(
            "  failed:\n    ✗ send_verification_email a@x.example (auth0|1): sending the verification email: HTTP 403: Insufficient scope\n      hint: check the scopes\n"
        ), "{summary}");
    }

    #[test]
    fn one_action_is_counted_in_the_singular() {
        let outcome = ActionOutcome {
            kind: ActionKind::SendVerificationEmail,
            target: Target::user("db", Some("a@x.example".into()), Some("auth0|1".into())),
            status: OutcomeStatus::Succeeded,
            detail: "sent".into(),
            hint: None,
        };
        let mut report = ApplyReport {
            outcomes: vec![outcome.clone()],
            requests: CallStats::default(),
            elapsed: Duration::from_secs(1),
            interrupted: false,
        };
        let summary = render_apply_summary(&report, false);
        assert!(
            summary.starts_with("Apply complete: 1 action succeeded."),
            "{summary}"
        );
        report.outcomes.push(outcome);
        let summary = render_apply_summary(&report, false);
        assert!(
            summary.starts_with("Apply complete: 2 actions succeeded."),
            "{summary}"
        );
    }
}
