//! The machine-readable printer and the JSON plan document.
//!
//! [`PlanDocument`] is versioned (`format_version`), described by
//! `schemas/plan.schema.json` (generated from these types and checked current by a test),
//! and only ever gains fields within a version. `plan --format json` prints it; `plan --out`
//! writes the same document with each action's `operation` and a `saved` section, which is
//! what `apply --plan` reads back.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Serialize};

use super::PlanContext;
use crate::apply::ApplyReport;
use crate::plan::{Action, ActionKind, FieldChange, Operation, Plan, Scope, Target, Warning};
use crate::saved::SavedState;

/// The version of the JSON plan and apply documents.
pub const FORMAT_VERSION: &str = "1";

/// Where the checked-in plan schema lives, relative to the repository root.
pub const PLAN_SCHEMA_PATH: &str = "schemas/plan.schema.json";

/// A plan as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "verifyctl JSON plan")]
pub struct PlanDocument {
    /// `"1"`.
    pub format_version: String,
    /// The tenant the plan was made against (its domain, or `tenant file PATH`).
    pub tenant: String,
    /// Present when the plan covers only some connections or users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    pub summary: Summary,
    pub actions: Vec<ActionEntry>,
    pub warnings: Vec<Warning>,
    /// Management API requests it took to read the tenant.
    pub requests: u64,
    /// Only in saved plans (`plan --out`): what `apply --plan` checks before applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<SavedState>,
}

/// Counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub total: usize,
    /// Action kind → number of actions (every kind, zeros included).
    pub by_kind: BTreeMap<String, usize>,
    pub warnings: usize,
}

/// One action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionEntry {
    pub kind: ActionKind,
    pub target: Target,
    pub reason: String,
    pub changes: Vec<FieldChange>,
    /// The Management API calls it makes, in order.
    pub calls: Vec<String>,
    /// Only in saved plans: exactly what apply sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

impl ActionEntry {
    fn new(action: &Action, with_operation: bool) -> Self {
        ActionEntry {
            kind: action.kind,
            target: action.target.clone(),
            reason: action.reason.clone(),
            changes: action.changes.clone(),
            calls: action.calls().into_iter().map(String::from).collect(),
            operation: with_operation.then(|| action.operation.clone()),
        }
    }
}

impl PlanDocument {
    /// The document for `plan`; `saved` adds operations and the saved section.
    pub fn new(plan: &Plan, context: &PlanContext, saved: Option<SavedState>) -> PlanDocument {
        let with_operations = saved.is_some();
        PlanDocument {
            format_version: FORMAT_VERSION.to_string(),
            tenant: context.tenant.clone(),
            scope: plan.scope.clone(),
            summary: Summary {
                total: plan.actions.len(),
                by_kind: plan
                    .counts()
                    .into_iter()
                    .map(|(kind, count)| (kind.as_str().to_string(), count))
                    .collect(),
                warnings: plan.warnings.len(),
            },
            actions: plan
                .actions
                .iter()
                .map(|a| ActionEntry::new(a, with_operations))
                .collect(),
            warnings: plan.warnings.clone(),
            requests: context.requests,
            saved,
        }
    }

    /// The plan back from a saved document; `None` when an action lacks its operation
    /// (a `--format json` document, not a saved plan).
    pub fn to_plan(&self) -> Option<Plan> {
        let actions = self
            .actions
            .iter()
            .map(|entry| {
                Some(Action {
                    kind: entry.kind,
                    target: entry.target.clone(),
                    reason: entry.reason.clone(),
                    changes: entry.changes.clone(),
                    operation: entry.operation.clone()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Plan {
            actions,
            warnings: self.warnings.clone(),
            scope: self.scope.clone(),
        })
    }
}

/// Renders a plan as pretty JSON with a trailing newline.
pub fn render_plan(plan: &Plan, context: &PlanContext) -> String {
    to_pretty(&PlanDocument::new(plan, context, None))
}

/// The plan schema as pretty JSON with a trailing newline (draft 2020-12).
pub fn plan_schema_json() -> String {
    let generator = SchemaSettings::draft2020_12().into_generator();
    to_pretty(&generator.into_root_schema_for::<PlanDocument>())
}

#[derive(Serialize)]
struct ApplyDocument<'a> {
    format_version: &'static str,
    succeeded: usize,
    failed: usize,
    not_started: usize,
    #[serde(flatten)]
    report: &'a ApplyReport,
}

/// Renders an apply report as pretty JSON with a trailing newline.
pub fn render_apply(report: &ApplyReport) -> String {
    to_pretty(&ApplyDocument {
        format_version: FORMAT_VERSION,
        succeeded: report.succeeded(),
        failed: report.failed(),
        not_started: report.not_started(),
        report,
    })
}

pub(crate) fn to_pretty<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot render JSON: {e}\"}}"));
    text.push('\n');
    text
}
