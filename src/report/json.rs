//! The machine-readable printer and the JSON plan document.
//!
//! [`PlanDocument`] is versioned (`format_version`), described by
//! `schemas/plan.schema.json` (generated from these types and checked current by a test),
//! and only ever gains fields within a version. It is a view: it borrows the plan and
//! derives each action's kind and calls from its operation. `plan --format json` prints it;
//! a saved plan ([`SavedPlan`], `plan --out`) is the same document with each action's
//! `operation` and a `saved` section, written by [`render_saved`] and read back by
//! [`parse_saved`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Serialize};

use super::PlanContext;
use crate::apply::ApplyReport;
use crate::plan::saved::{SavedPlan, SavedState};
use crate::plan::{Action, ActionKind, FieldChange, Operation, Plan, Scope, Target, Warning};

/// The version of the JSON plan and apply documents.
pub const FORMAT_VERSION: &str = "1";

/// Where the checked-in plan schema lives, relative to the repository root.
pub const PLAN_SCHEMA_PATH: &str = "schemas/plan.schema.json";

/// A plan as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "verifyctl JSON plan")]
pub struct PlanDocument<'a> {
    /// `"1"`.
    pub format_version: &'static str,
    /// The tenant the plan was made against (its domain, or `tenant file PATH`).
    pub tenant: &'a str,
    /// Present when the plan covers only some connections or users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'a Scope>,
    pub summary: Summary,
    #[schemars(with = "Vec<ActionEntry<'static>>")]
    pub actions: ActionEntries<'a>,
    pub warnings: &'a [Warning],
    /// Management API requests it took to read the tenant.
    pub requests: u64,
    /// Only in saved plans (`plan --out`): what `apply --plan` checks before applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<&'a SavedState>,
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
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ActionEntry<'a> {
    pub kind: ActionKind,
    pub target: &'a Target,
    pub reason: &'a str,
    pub changes: &'a [FieldChange],
    /// The Management API calls it makes, in order.
    pub calls: Vec<&'static str>,
    /// Only in saved plans: exactly what apply sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'a Operation>,
}

/// The actions of a document, each turned into its [`ActionEntry`] as it is written (a
/// plan of any size is never copied into a second list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActionEntries<'a> {
    actions: &'a [Action],
    with_operations: bool,
}

impl Serialize for ActionEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.actions.len()))?;
        for action in self.actions {
            seq.serialize_element(&ActionEntry::new(action, self.with_operations))?;
        }
        seq.end()
    }
}

impl<'a> ActionEntry<'a> {
    fn new(action: &'a Action, with_operation: bool) -> Self {
        ActionEntry {
            kind: action.kind(),
            target: &action.target,
            reason: &action.reason,
            changes: &action.changes,
            calls: action.calls(),
            operation: with_operation.then_some(&action.operation),
        }
    }
}

impl<'a> PlanDocument<'a> {
    /// The document for `plan`; `saved` adds operations and the saved section.
    pub fn new(
        plan: &'a Plan,
        context: &'a PlanContext,
        saved: Option<&'a SavedState>,
    ) -> PlanDocument<'a> {
        let with_operations = saved.is_some();
        PlanDocument {
            format_version: FORMAT_VERSION,
            tenant: &context.tenant,
            scope: plan.scope.as_ref(),
            summary: Summary {
                total: plan.actions.len(),
                by_kind: plan
                    .counts()
                    .into_iter()
                    .map(|(kind, count)| (kind.as_str().to_string(), count))
                    .collect(),
                warnings: plan.warnings.len(),
            },
            actions: ActionEntries {
                actions: &plan.actions,
                with_operations,
            },
            warnings: &plan.warnings,
            requests: context.requests,
            saved,
        }
    }
}

/// Why a file is not a saved plan this verifyctl can apply.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// Not JSON, or not shaped like a plan document.
    #[error("{0}")]
    Unreadable(serde_json::Error),
    /// Written by a verifyctl with another format.
    #[error("plan format {found}, this verifyctl reads {FORMAT_VERSION}")]
    OtherVersion { found: String },
    /// A `--format json` report: no operations, no `saved` section.
    #[error("a JSON plan report, not a saved plan")]
    Report,
    /// An action's `kind` disagrees with its operation (the file was edited).
    #[error(
        "action {number} says it is `{stated}` but its operation is `{derived}`; the file was edited after it was saved"
    )]
    KindMismatch {
        number: usize,
        stated: &'static str,
        derived: &'static str,
    },
}

/// Writes a saved plan: the plan document with operations and the `saved` section.
pub fn render_saved(saved: &SavedPlan) -> String {
    to_pretty(&PlanDocument::new(
        &saved.plan,
        &saved.context,
        Some(&saved.state),
    ))
}

/// [`render_saved`], written to `out` as it is serialized.
pub fn write_saved(out: &mut dyn std::io::Write, saved: &SavedPlan) -> std::io::Result<()> {
    write_pretty(
        out,
        &PlanDocument::new(&saved.plan, &saved.context, Some(&saved.state)),
    )
}

/// [`render_plan`], written to `out` as it is serialized.
pub fn write_plan(
    out: &mut dyn std::io::Write,
    plan: &Plan,
    context: &PlanContext,
) -> std::io::Result<()> {
    write_pretty(out, &PlanDocument::new(plan, context, None))
}

fn write_pretty<T: Serialize>(out: &mut dyn std::io::Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Reads a file written by [`render_saved`]. Each action's kind is derived from its
/// operation; a stated kind that disagrees is refused.
pub fn parse_saved(text: &str) -> Result<SavedPlan, SavedPlanError> {
    #[derive(Deserialize)]
    struct Header {
        format_version: String,
        #[serde(default)]
        saved: Option<serde::de::IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct SavedFile {
        tenant: String,
        #[serde(default)]
        scope: Option<Scope>,
        actions: Vec<SavedAction>,
        warnings: Vec<Warning>,
        requests: u64,
        saved: SavedState,
    }
    #[derive(Deserialize)]
    struct SavedAction {
        kind: ActionKind,
        #[serde(flatten)]
        action: Action,
    }
    let header: Header = serde_json::from_str(text).map_err(SavedPlanError::Unreadable)?;
    if header.format_version != FORMAT_VERSION {
        return Err(SavedPlanError::OtherVersion {
            found: header.format_version,
        });
    }
    if header.saved.is_none() {
        return Err(SavedPlanError::Report);
    }
    let file: SavedFile = serde_json::from_str(text).map_err(SavedPlanError::Unreadable)?;
    let mut actions = Vec::with_capacity(file.actions.len());
    for (index, entry) in file.actions.into_iter().enumerate() {
        let derived = entry.action.kind();
        if entry.kind != derived {
            return Err(SavedPlanError::KindMismatch {
                number: index + 1,
                stated: entry.kind.as_str(),
                derived: derived.as_str(),
            });
        }
        actions.push(entry.action);
    }
    Ok(SavedPlan {
        plan: Plan {
            actions,
            warnings: file.warnings,
            scope: file.scope,
        },
        context: PlanContext {
            tenant: file.tenant,
            requests: file.requests,
        },
        state: file.saved,
    })
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::saved::PolicyDigest;

    fn saved_plan() -> SavedPlan {
        SavedPlan {
            plan: Plan {
                actions: vec![Action {
                    target: Target::user("db", Some("a@x.example".into()), Some("auth0|1".into())),
                    reason: "trusted".into(),
                    changes: Vec::new(),
                    operation: Operation::MarkEmailVerified {
                        user_id: "auth0|1".into(),
                        ledger: None,
                    },
                }],
                warnings: Vec::new(),
                scope: None,
            },
            context: PlanContext {
                tenant: "acme.example".into(),
                requests: 3,
            },
            state: SavedState {
                created_at: "2026-11-22T10:00:00.000Z".into(),
                policies: PolicyDigest {
                    digest: "d".into(),
                    files: BTreeMap::new(),
                },
                variables: BTreeMap::new(),
                observed: BTreeMap::new(),
            },
        }
    }

    #[test]
    fn saved_plans_read_back_as_written() {
        let saved = saved_plan();
        let text = render_saved(&saved);
        assert!(text.contains("\"kind\": \"mark_email_verified\""), "{text}");
        assert_eq!(parse_saved(&text).expect("reads back"), saved);
    }

    #[test]
    fn a_kind_edited_away_from_its_operation_is_refused() {
        let text = render_saved(&saved_plan()).replace(
            "\"kind\": \"mark_email_verified\"",
            "\"kind\": \"update_profile\"",
        );
        let error = parse_saved(&text).expect_err("edited");
        assert_eq!(
            error.to_string(),
            "action 1 says it is `update_profile` but its operation is `mark_email_verified`; the file was edited after it was saved"
        );
    }

    #[test]
    fn reports_and_other_versions_are_not_saved_plans() {
        let saved = saved_plan();
        let report = render_plan(&saved.plan, &saved.context);
        assert!(matches!(parse_saved(&report), Err(SavedPlanError::Report)));
        let other =
            render_saved(&saved).replace("\"format_version\": \"1\"", "\"format_version\": \"9\"");
        assert!(matches!(
            parse_saved(&other),
            Err(SavedPlanError::OtherVersion { found }) if found == "9"
        ));
        assert!(matches!(
            parse_saved("{"),
            Err(SavedPlanError::Unreadable(_))
        ));
    }
}
