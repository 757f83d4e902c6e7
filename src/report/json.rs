//! The machine-readable printer: a versioned JSON document (`format_version`) with summary
//! counts, actions (kind, target, reason, changes, API calls) and warnings. Fields are only
//! ever added within a format version.

use std::collections::BTreeMap;

use serde::Serialize;

use super::PlanContext;
use crate::apply::ApplyReport;
use crate::plan::{Action, ActionKind, FieldChange, Plan, Target, Warning};

/// The version of the JSON plan and apply documents.
pub const FORMAT_VERSION: &str = "1";

#[derive(Serialize)]
struct PlanDocument<'a> {
    format_version: &'static str,
    tenant: &'a str,
    summary: Summary,
    actions: Vec<ActionEntry<'a>>,
    warnings: &'a [Warning],
    requests: u64,
}

#[derive(Serialize)]
struct Summary {
    total: usize,
    by_kind: BTreeMap<&'static str, usize>,
    warnings: usize,
}

#[derive(Serialize)]
struct ActionEntry<'a> {
    kind: ActionKind,
    target: &'a Target,
    reason: &'a str,
    changes: &'a [FieldChange],
    calls: Vec<&'static str>,
}

impl<'a> ActionEntry<'a> {
    fn new(action: &'a Action) -> Self {
        ActionEntry {
            kind: action.kind,
            target: &action.target,
            reason: &action.reason,
            changes: &action.changes,
            calls: action.calls(),
        }
    }
}

/// Renders a plan as pretty JSON with a trailing newline.
pub fn render_plan(plan: &Plan, context: &PlanContext) -> String {
    let document = PlanDocument {
        format_version: FORMAT_VERSION,
        tenant: &context.tenant,
        summary: Summary {
            total: plan.actions.len(),
            by_kind: plan
                .counts()
                .into_iter()
                .map(|(kind, count)| (kind.as_str(), count))
                .collect(),
            warnings: plan.warnings.len(),
        },
        actions: plan.actions.iter().map(ActionEntry::new).collect(),
        warnings: &plan.warnings,
        requests: context.requests,
    };
    to_pretty(&document)
}

#[derive(Serialize)]
struct ApplyDocument<'a> {
    format_version: &'static str,
    succeeded: usize,
    failed: usize,
    #[serde(flatten)]
    report: &'a ApplyReport,
}

/// Renders an apply report as pretty JSON with a trailing newline.
pub fn render_apply(report: &ApplyReport) -> String {
    to_pretty(&ApplyDocument {
        format_version: FORMAT_VERSION,
        succeeded: report.succeeded(),
        failed: report.failed(),
        report,
    })
}

fn to_pretty<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot render JSON: {e}\"}}"));
    text.push('\n');
    text
}
