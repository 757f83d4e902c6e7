//! Renderers: one module per output format, each turning a [`Plan`] (or an apply report)
//! into text. Rendering is deterministic: the same plan gives the same bytes.

pub mod json;
pub mod markdown;
pub mod text;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

pub use crate::mask;
pub use crate::plan::PlanContext;
use crate::plan::{FieldChange, Plan};

/// Output formats of `plan` (how the command line spells them is `cli.rs`'s business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable, Terraform-like.
    Text,
    /// A versioned JSON document for machines (schemas/plan.schema.json).
    Json,
    /// A pull-request comment (GitHub/GitLab), under 65,000 characters.
    Markdown,
}

/// Output formats of `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyFormat {
    /// The plan, each action's outcome as it ends, and a summary.
    Text,
    /// One JSON document with every outcome and the request figures.
    Json,
}

pub use text::Detail;

/// Renders `plan` in `format`.
pub fn render_plan(plan: &Plan, context: &PlanContext, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render_plan(plan, context, color),
        Format::Json => json::render_plan(plan, context),
        Format::Markdown => markdown::render_plan(plan, context),
    }
}

/// Writes `plan` in `format` to `out` as it is rendered (text and JSON stream; markdown is
/// bounded to a comment's size anyway). `detail` only concerns text.
pub fn write_plan(
    out: &mut dyn std::io::Write,
    plan: &Plan,
    context: &PlanContext,
    format: Format,
    color: bool,
    detail: Detail,
) -> std::io::Result<()> {
    match format {
        Format::Text => text::write_plan(out, plan, context, color, detail),
        Format::Json => json::write_plan(out, plan, context),
        Format::Markdown => out.write_all(markdown::render_plan(plan, context).as_bytes()),
    }
}

/// Scalars as JSON (`"text"`, `true`, `3`); objects and arrays as pretty JSON; multi-line
/// strings (code) as their text. Shared by the printers, so they show values alike.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::String(text) if text.contains('\n') => text.clone(),
        Value::Object(map) if !map.is_empty() => {
            serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
        }
        Value::Array(items) if !items.is_empty() => {
            serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
        }
        other => other.to_string(),
    }
}

/// The lines of a multi-line field change, each starting with its diff mark: a unified
/// diff (hunks with three lines of context, `--- deployed`/`+++ planned` headers) for text
/// such as Action code, every line marked (`+ `, `- `, `  `) for JSON values, where the
/// context is the point.
pub(crate) fn diff_lines(change: &FieldChange) -> Vec<String> {
    let old = change
        .before
        .as_ref()
        .map(display_value)
        .unwrap_or_default();
    let new = change.after.as_ref().map(display_value).unwrap_or_default();
    let is_text = [&change.before, &change.after]
        .iter()
        .all(|v| v.as_ref().is_none_or(Value::is_string));
    let diff = TextDiff::from_lines(&old, &new);
    if is_text {
        diff.unified_diff()
            .context_radius(3)
            .header("deployed", "planned")
            .to_string()
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        diff.iter_all_changes()
            .map(|line| {
                let mark = match line.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                format!("{mark} {}", line.value().trim_end_matches('\n'))
            })
            .collect()
    }
}
