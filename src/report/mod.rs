//! Renderers: one module per output format, each turning a [`Plan`] (or an apply report)
//! into text. Rendering is deterministic: the same plan gives the same bytes.

pub mod json;
pub mod markdown;
pub mod mask;
pub mod text;

use crate::plan::Plan;

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, Terraform-like.
    Text,
    /// A versioned JSON document for machines (schemas/plan.schema.json).
    Json,
    /// A pull-request comment (GitHub/GitLab), under 65,000 characters.
    Markdown,
}

/// Output formats of `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyFormat {
    /// The plan, each action's outcome as it ends, and a summary.
    Text,
    /// One JSON document with every outcome and the request figures.
    Json,
}

/// Facts about the run that reports show next to the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlanContext {
    /// The tenant the plan was made against (domain or tenant file).
    pub tenant: String,
    /// Management API requests the plan needed.
    pub requests: u64,
}

/// Renders `plan` in `format`.
pub fn render_plan(plan: &Plan, context: &PlanContext, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render_plan(plan, context, color),
        Format::Json => json::render_plan(plan, context),
        Format::Markdown => markdown::render_plan(plan, context),
    }
}
