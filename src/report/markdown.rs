//! The pull-request printer: GitHub-flavoured markdown for a PR/MR comment (GitHub and
//! GitLab both render it).
//!
//! Layout: a hidden marker ([`COMMENT_MARKER`], for CI to find and update its previous
//! comment), a title with the tenant, the summary line, a table of action counts (one row
//! per connection and one for the login Action, one column per action kind present, a total
//! column and a totals row), each warning as a `> [!WARNING]` alert, then one collapsed
//! `<details>` section per connection / the login Action with every action: kind, target,
//! reason and field changes (a table of before/after values; multi-line values such as the
//! Action's code as a fenced `diff` block).
//!
//! Escaping: user-controlled text (names, emails, values) is put in code spans whose fence
//! is longer than any backtick run inside, with `|` written `\|` in table cells; prose
//! (reasons, warning messages) keeps its backtick code spans and has every other
//! markdown-significant character backslash-escaped, so `<`/`>` never open HTML; text inside
//! the HTML `<summary>` is HTML-escaped. Backslash escapes (unlike HTML entities) keep an
//! address contiguous for [`crate::mask::mask_emails`].
//!
//! Size: GitHub refuses comments over 65,536 characters, so the output is always shorter
//! than [`MAX_LEN`] (measured in UTF-8 bytes, which is never less than characters, and as if
//! every address were masked, so masking afterwards cannot push it over). When the full
//! rendering would be longer, the summary table and warnings stay, a note says how many
//! actions are shown, and each section lists as many of its actions as fit (in plan order)
//! and ends with "… and N more actions not shown". Space is shared fairly between sections:
//! sections that fit in an equal share are shown whole, the others split what is left
//! equally, and any remainder goes to their next actions, one section at a time. Elements
//! (an action with its table and diff blocks) are never cut.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::text::summary_line;
use super::{PlanContext, diff_lines, display_value};
use crate::mask::mask_emails;
use crate::plan::{Action, ActionKind, FieldChange, Plan, Target, Warning, WarningKind};

/// The hidden first line of every rendering: CI finds its previous comment by it.
pub const COMMENT_MARKER: &str = "<!-- verifyctl-plan -->";

/// The output is always shorter than this (GitHub's comment limit is 65,536).
pub const MAX_LEN: usize = 65_000;

/// The longest tenant name shown in the title.
const MAX_TENANT_CHARS: usize = 200;

/// Renders a plan as a pull-request comment, shorter than [`MAX_LEN`].
pub fn render_plan(plan: &Plan, context: &PlanContext) -> String {
    render_with_limit(plan, context, MAX_LEN)
}

/// Renders a plan shorter than `limit` bytes (even after masking).
fn render_with_limit(plan: &Plan, context: &PlanContext, limit: usize) -> String {
    let budget = limit.saturating_sub(1);
    let groups = group_actions(plan);
    let title = render_title(plan, context);
    let table = render_table(plan, &groups);
    let warnings: Vec<String> = plan.warnings.iter().map(render_warning).collect();
    let footer = render_footer(context);
    let sections: Vec<Section> = groups.iter().map(Section::new).collect();

    let fixed = measure(&title) + measure_all(&table) + measure_all(&warnings) + measure(&footer);
    let details: usize = sections.iter().map(Section::full_size).sum();
    if fixed + details <= budget {
        let mut out = title + &table.concat() + &warnings.concat();
        for section in &sections {
            section.render_into(&mut out, section.actions.len());
        }
        out.push_str(&footer);
        return out;
    }

    let total = plan.actions.len();
    let notice_size = measure(&truncation_notice(total, total));
    let overhead: usize = sections.iter().map(Section::overhead).sum();
    if fixed + notice_size + overhead > budget {
        return render_summary_only(&title, &table, &warnings, &footer, total, budget);
    }
    let sizes: Vec<Vec<usize>> = sections.iter().map(|s| s.sizes.clone()).collect();
    let shown = allocate(&sizes, budget - fixed - notice_size - overhead);
    let mut out = title + &table.concat() + &warnings.concat();
    out.push_str(&truncation_notice(shown.iter().sum(), total));
    for (section, shown) in sections.iter().zip(shown) {
        section.render_into(&mut out, shown);
    }
    out.push_str(&footer);
    out
}

/// Bytes of `text`, or of its masked form when masking makes it longer (short local parts).
fn measure(text: &str) -> usize {
    text.len().max(mask_emails(text).len())
}

fn measure_all(parts: &[String]) -> usize {
    parts.iter().map(|part| measure(part)).sum()
}

/// How many actions of each section to show within `budget`: sections whose actions fit in
/// an equal share are shown whole (repeatedly, as the share grows), the others get an
/// equal share each for a prefix of their actions, and what is left over extends those
/// prefixes one action per section in turn.
fn allocate(sizes: &[Vec<usize>], budget: usize) -> Vec<usize> {
    let mut shown = vec![0; sizes.len()];
    let mut remaining = budget;
    let mut open: Vec<usize> = (0..sizes.len()).filter(|&g| !sizes[g].is_empty()).collect();
    while !open.is_empty() {
        let share = remaining / open.len();
        let (whole, rest): (Vec<usize>, Vec<usize>) = open
            .iter()
            .partition(|&&g| sizes[g].iter().sum::<usize>() <= share);
        if whole.is_empty() {
            break;
        }
        for g in whole {
            remaining -= sizes[g].iter().sum::<usize>();
            shown[g] = sizes[g].len();
        }
        open = rest;
    }
    if open.is_empty() {
        return shown;
    }
    let share = remaining / open.len();
    for &g in &open {
        let mut used = 0;
        while shown[g] < sizes[g].len() && used + sizes[g][shown[g]] <= share {
            used += sizes[g][shown[g]];
            shown[g] += 1;
        }
        remaining -= used;
    }
    // Leftovers: one more action per section in turn, while any fits.
    let mut progress = true;
    while progress {
        progress = false;
        for &g in &open {
            if shown[g] < sizes[g].len() && sizes[g][shown[g]] <= remaining {
                remaining -= sizes[g][shown[g]];
                shown[g] += 1;
                progress = true;
            }
        }
    }
    shown
}

/// When even the summary does not leave room for the sections: as many table rows and
/// warnings as fit, each list ending with how many were left out.
fn render_summary_only(
    title: &str,
    table: &[String],
    warnings: &[String],
    footer: &str,
    total: usize,
    budget: usize,
) -> String {
    let notice = format!(
        "> [!NOTE]\n> This plan is too large for one comment: none of its {total} actions are \
         shown. `verifyctl plan` shows them all.\n\n"
    );
    let mut out = format!("{title}{notice}");
    // Header rows, then group rows, then the totals row and the blank line after it.
    let (header, rest) = table.split_at(table.len().min(2));
    let (rows, closing) = rest.split_at(rest.len().saturating_sub(2));
    let more_rows = |n: usize| format!("| … and {n} more |\n");
    let more_warnings = |n: usize| format!("_… and {n} more warnings not shown._\n\n");
    let mut used = measure(&out) + measure_all(header) + measure_all(closing) + measure(footer);
    used += measure(&more_rows(rows.len())) + measure(&more_warnings(warnings.len()));
    let mut kept_rows = 0;
    for row in rows {
        if used + measure(row) > budget {
            break;
        }
        used += measure(row);
        kept_rows += 1;
    }
    let mut kept_warnings = 0;
    for warning in warnings {
        if used + measure(warning) > budget {
            break;
        }
        used += measure(warning);
        kept_warnings += 1;
    }
    if used <= budget {
        out.push_str(&header.concat());
        out.push_str(&rows[..kept_rows].concat());
        if kept_rows < rows.len() {
            out.push_str(&more_rows(rows.len() - kept_rows));
        }
        out.push_str(&closing.concat());
        out.push_str(&warnings[..kept_warnings].concat());
        if kept_warnings < warnings.len() {
            out.push_str(&more_warnings(warnings.len() - kept_warnings));
        }
    }
    out.push_str(footer);
    out
}

fn truncation_notice(shown: usize, total: usize) -> String {
    format!(
        "> [!NOTE]\n> This plan is too large for one comment: {shown} of its {total} actions are \
         shown below, and every section says how many it leaves out. `verifyctl plan` shows \
         them all.\n\n"
    )
}

/// Where actions are listed: a connection (its settings and its users) or the login Action.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    Connection(String),
    LoginAction(String),
}

struct Group<'a> {
    key: GroupKey,
    actions: Vec<&'a Action>,
}

/// Actions grouped by connection / login Action, groups in order of first appearance.
fn group_actions(plan: &Plan) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: BTreeMap<GroupKey, usize> = BTreeMap::new();
    for action in &plan.actions {
        let key = match &action.target {
            Target::LoginAction { name } => GroupKey::LoginAction(name.clone()),
            other => GroupKey::Connection(other.connection().unwrap_or_default().to_string()),
        };
        let position = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group {
                key,
                actions: Vec::new(),
            });
            groups.len() - 1
        });
        groups[position].actions.push(action);
    }
    groups
}

fn render_title(plan: &Plan, context: &PlanContext) -> String {
    let mut tenant: String = context.tenant.chars().take(MAX_TENANT_CHARS).collect();
    if tenant.len() < context.tenant.len() {
        tenant.push('…');
    }
    let mut out = String::new();
    let _ = writeln!(out, "{COMMENT_MARKER}");
    let _ = writeln!(
        out,
        "### verifyctl plan for {}\n",
        code_span(&tenant, false)
    );
    let _ = writeln!(out, "**{}**\n", prose(&summary_line(plan)));
    if let Some(scope) = &plan.scope {
        let _ = writeln!(out, "> [!NOTE]\n> {}\n", prose(&scope.describe()));
    }
    out
}

fn render_footer(context: &PlanContext) -> String {
    format!(
        "_{} Management API requests to read the tenant._\n",
        context.requests
    )
}

/// The summary table as lines: two header lines, one row per group, the totals row and a
/// blank line. Empty for a plan without actions.
fn render_table(plan: &Plan, groups: &[Group<'_>]) -> Vec<String> {
    if plan.is_empty() {
        return Vec::new();
    }
    let kinds: Vec<ActionKind> = plan
        .counts()
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(kind, _)| kind)
        .collect();
    let mut lines = Vec::new();
    let mut header = String::from("| |");
    let mut rule = String::from("|---|");
    for kind in &kinds {
        let _ = write!(header, " {} |", kind.column_title());
        rule.push_str("--:|");
    }
    header.push_str(" total |\n");
    rule.push_str("--:|\n");
    lines.push(header);
    lines.push(rule);
    for group in groups {
        let mut row = format!("| {} |", group_label(&group.key, true));
        for kind in &kinds {
            let count = group.actions.iter().filter(|a| a.kind() == *kind).count();
            row.push_str(&count_cell(count));
        }
        let _ = writeln!(row, " {} |", group.actions.len());
        lines.push(row);
    }
    let mut totals = String::from("| **total** |");
    for (kind, count) in plan.counts() {
        if kinds.contains(&kind) {
            totals.push_str(&count_cell(count));
        }
    }
    let _ = writeln!(totals, " **{}** |", plan.actions.len());
    lines.push(totals);
    lines.push("\n".to_string());
    lines
}

fn count_cell(count: usize) -> String {
    if count == 0 {
        " |".to_string()
    } else {
        format!(" {count} |")
    }
}

/// `connection `name`` (markdown) for table cells.
fn group_label(key: &GroupKey, in_table: bool) -> String {
    match key {
        GroupKey::Connection(name) => format!("connection {}", code_span(name, in_table)),
        GroupKey::LoginAction(name) => format!("login Action {}", code_span(name, in_table)),
    }
}

fn render_warning(warning: &Warning) -> String {
    // Users who left the policies and are kept are information, not a problem.
    let alert = if warning.kind == WarningKind::NoLongerListed {
        "NOTE"
    } else {
        "WARNING"
    };
    let mut out = format!("> [!{alert}]\n> {}\n", prose(&warning.message));
    if !warning.users.is_empty() {
        let users: Vec<String> = warning.users.iter().map(|u| code_span(u, false)).collect();
        let mut list = users.join(", ");
        let more = warning.user_count.saturating_sub(warning.users.len());
        if more > 0 {
            let _ = write!(list, " and {more} more");
        }
        let _ = writeln!(out, ">\n> {list}");
    }
    out.push('\n');
    out
}

/// One `<details>` section: its fixed parts and each action's rendering and size.
struct Section {
    open: String,
    actions: Vec<String>,
    sizes: Vec<usize>,
}

impl Section {
    fn new(group: &Group<'_>) -> Section {
        let mut phrases = Vec::new();
        for kind in ActionKind::ALL {
            let count = group.actions.iter().filter(|a| a.kind() == kind).count();
            if count > 0 {
                phrases.push(kind.count_phrase(count));
            }
        }
        let count = group.actions.len();
        let (word, name) = match &group.key {
            GroupKey::Connection(name) => ("connection", name),
            GroupKey::LoginAction(name) => ("login Action", name),
        };
        let open = format!(
            "<details>\n<summary><strong>{word} <code>{}</code></strong>: {count} action{} ({})</summary>\n\n",
            html_escape(name),
            if count == 1 { "" } else { "s" },
            html_escape(&phrases.join(", ")),
        );
        let actions: Vec<String> = group.actions.iter().map(|a| render_action(a)).collect();
        let sizes = actions.iter().map(|a| measure(a)).collect();
        Section {
            open,
            actions,
            sizes,
        }
    }

    const CLOSE: &'static str = "</details>\n\n";

    fn omission_note(omitted: usize) -> String {
        format!(
            "… and {omitted} more action{} not shown (`verifyctl plan` shows them all)\n\n",
            if omitted == 1 { "" } else { "s" }
        )
    }

    /// Everything but the actions, with room for the longest omission note.
    fn overhead(&self) -> usize {
        measure(&self.open) + Self::CLOSE.len() + measure(&Self::omission_note(self.actions.len()))
    }

    fn full_size(&self) -> usize {
        measure(&self.open) + Self::CLOSE.len() + self.sizes.iter().sum::<usize>()
    }

    fn render_into(&self, out: &mut String, shown: usize) {
        out.push_str(&self.open);
        for action in &self.actions[..shown] {
            out.push_str(action);
        }
        if shown < self.actions.len() {
            out.push_str(&Self::omission_note(self.actions.len() - shown));
        }
        out.push_str(Self::CLOSE);
    }
}

/// One action: headline with its target, reason, a table of single-line changes and a
/// diff block per multi-line change; ends with a blank line.
fn render_action(action: &Action) -> String {
    let headline = action.headline();
    let (symbol, verb) = (headline.symbol.as_char(), headline.short());
    let target = match &action.target {
        Target::Connection { name } | Target::LoginAction { name } => name.clone(),
        user @ Target::User { .. } => user.to_string(),
    };
    let mut out = format!(
        "**{symbol} {verb}** {}\\\nreason: {}\n\n",
        code_span(&target, false),
        prose(&action.reason)
    );
    let (single, multi): (Vec<&FieldChange>, Vec<&FieldChange>) =
        action.changes.iter().partition(|change| {
            [&change.before, &change.after]
                .iter()
                .all(|v| v.as_ref().is_none_or(|v| !display_value(v).contains('\n')))
        });
    if !single.is_empty() {
        out.push_str("| field | before | after |\n|---|---|---|\n");
        for change in single {
            let cell = |value: &Option<Value>| match value {
                Some(value) => code_span(&display_value(value), true),
                None => "_(none)_".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                code_span(&change.field, true),
                cell(&change.before),
                cell(&change.after)
            );
        }
        out.push('\n');
    }
    for change in multi {
        let _ = writeln!(out, "{}:\n", code_span(&change.field, false));
        out.push_str(&diff_block(change));
    }
    out
}

/// A fenced `diff` block: a unified diff for text (code), every line marked for JSON values.
fn diff_block(change: &FieldChange) -> String {
    let mut body = String::new();
    for line in diff_lines(change) {
        let _ = writeln!(body, "{line}");
    }
    let fence = "`".repeat(longest_run(&body, '`').max(2) + 1);
    format!("{fence}diff\n{body}{fence}\n\n")
}

fn longest_run(text: &str, c: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        if ch == c {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// `text` as an inline code span, whatever it contains: the fence is longer than any
/// backtick run inside, newlines become spaces, and in table cells `|` is written `\|`.
fn code_span(text: &str, in_table: bool) -> String {
    let mut content = text.replace(['\n', '\r'], " ");
    if in_table {
        content = content.replace('|', "\\|");
    }
    if content.is_empty() {
        return "` `".to_string();
    }
    let fence = "`".repeat(longest_run(&content, '`') + 1);
    // CommonMark strips one space at each end when both are spaces, and a backtick at an
    // end would join the fence: pad those cases.
    let pad = content.starts_with('`')
        || content.ends_with('`')
        || (content.starts_with(' ') && content.ends_with(' ') && content.trim() != "");
    if pad {
        format!("{fence} {content} {fence}")
    } else {
        format!("{fence}{content}{fence}")
    }
}

/// Generated prose with `code spans` in backticks: the spans are kept (re-fenced safely),
/// everything else has its markdown-significant characters backslash-escaped. A backtick
/// without a partner is escaped like the rest.
fn prose(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let segments: Vec<&str> = text.split('`').collect();
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        // Odd segments follow an opening backtick; they are code when a closing one follows.
        let inside = i % 2 == 1;
        let closed = i + 1 < segments.len();
        if inside && closed && !segment.is_empty() {
            out.push_str(&code_span(segment, false));
        } else if inside && closed {
            out.push_str("\\`\\`");
        } else {
            if inside {
                out.push_str("\\`");
            }
            escape_prose_into(&mut out, segment);
        }
    }
    out
}

fn escape_prose_into(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '$' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Text for HTML (`<summary>`).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{LoginActionDeployment, Operation, WarningKind};

    fn mark_verified(connection: &str, email: &str, id: &str) -> Action {
        Action {
            target: Target::user(connection, Some(email.into()), Some(id.into())),
            reason: format!("connection `{connection}` is trusted: the address is known"),
            changes: vec![FieldChange {
                field: "email_verified".into(),
                before: Some(json!(false)),
                after: Some(json!(true)),
            }],
            operation: Operation::MarkEmailVerified {
                user_id: id.into(),
                ledger: None,
            },
        }
    }

    fn context() -> PlanContext {
        PlanContext {
            tenant: "t.example".into(),
            requests: 3,
        }
    }

    /// `sizes` actions per connection, with one-letter local parts (masking lengthens them).
    fn big_plan(sizes: &[usize]) -> Plan {
        let mut actions = Vec::new();
        for (c, &count) in sizes.iter().enumerate() {
            for i in 0..count {
                actions.push(mark_verified(
                    &format!("db-{c}"),
                    &format!("u@{i}.example"),
                    &format!("auth0|{c}-{i}"),
                ));
            }
        }
        Plan {
            actions,
            warnings: vec![],
            scope: None,
        }
    }

    fn omitted(text: &str) -> Vec<usize> {
        text.lines()
            .filter_map(|line| line.strip_prefix("… and "))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .collect()
    }

    fn shown(text: &str) -> usize {
        text.lines()
            .filter(|l| l.starts_with("**~ ") || l.starts_with("**+ ") || l.starts_with("**- "))
            .count()
    }

    #[test]
    fn code_spans_survive_backticks_pipes_and_newlines() {
        assert_eq!(code_span("a|b", false), "`a|b`");
        assert_eq!(code_span("a|b", true), "`a\\|b`");
        assert_eq!(code_span("x`y", false), "``x`y``");
        assert_eq!(code_span("`start", false), "`` `start ``");
        assert_eq!(code_span("two\nlines", false), "`two lines`");
        assert_eq!(code_span(" padded ", false), "`  padded  `");
        assert_eq!(code_span("", false), "` `");
        assert_eq!(code_span("<b>", false), "`<b>`");
    }

    #[test]
    fn prose_keeps_code_spans_and_escapes_the_rest() {
        assert_eq!(
            prose("connection `trusted-db` is trusted"),
            "connection `trusted-db` is trusted"
        );
        assert_eq!(
            prose("<script>alert(1)</script> a|b *x* [l](u) `<i>`"),
            "\\<script\\>alert(1)\\</script\\> a\\|b \\*x\\* \\[l\\](u) `<i>`"
        );
        assert_eq!(prose("odd ` tick"), "odd \\` tick");
        assert_eq!(prose("`a` and `b"), "`a` and \\`b");
        assert_eq!(prose("empty `` pair"), "empty \\`\\` pair");
        assert_eq!(prose("line\nbreak"), "line break");
    }

    #[test]
    fn html_is_escaped_in_summaries() {
        assert_eq!(
            html_escape("<img src=x onerror=\"a&b\">"),
            "&lt;img src=x onerror=&quot;a&amp;b&quot;&gt;"
        );
    }

    #[test]
    fn escaping_keeps_addresses_maskable() {
        let tricky = "o'neil|x_y*z@x.example";
        let mut action = mark_verified("db", tricky, "auth0|1");
        action.reason = format!("user {tricky} <b>is</b> listed | twice");
        action.changes[0].field = format!("email {tricky}");
        action.changes[0].after = Some(json!(tricky));
        let plan = Plan {
            actions: vec![action],
            warnings: vec![],
            scope: None,
        };
        let text = render_plan(&plan, &context());
        assert!(text.contains("`o'neil|x_y*z@x.example (auth0|1)`"));
        assert!(text.contains(
            "reason: user o'neil\\|x\\_y\\*z@x.example \\<b\\>is\\</b\\> listed \\| twice"
        ));
        assert!(text.contains(
            "| `email o'neil\\|x_y*z@x.example` | `false` | `\"o'neil\\|x_y*z@x.example\"` |"
        ));
        let masked = mask_emails(&text);
        for piece in ["neil", "x_y", "y*z", "y\\*z"] {
            assert!(!masked.contains(piece), "{piece} in {masked}");
        }
        assert_eq!(masked.matches("o***@x.example").count(), 4, "{masked}");
    }

    #[test]
    fn allocation_is_fair() {
        // Small sections whole, the big ones share what is left equally.
        assert_eq!(
            allocate(&[vec![10; 100], vec![10; 2], vec![10; 100]], 220),
            [10, 2, 10]
        );
        assert_eq!(allocate(&[vec![30, 30, 30], vec![50, 50]], 100), [1, 1]);
        // Leftovers extend prefixes.
        assert_eq!(
            allocate(&[vec![40, 10, 10], vec![10, 10, 10, 40]], 100),
            [3, 3]
        );
        assert_eq!(allocate(&[vec![5; 3], vec![]], 1000), [3, 0]);
        assert_eq!(allocate(&[vec![500], vec![5]], 100), [0, 1]);
    }

    #[test]
    fn small_plan_is_complete() {
        let mut plan = big_plan(&[2, 1]);
        plan.warnings.push(Warning {
            kind: WarningKind::BlockedUsers,
            connection: Some("db-0".into()),
            message: "2 users of `db-0` are blocked <b>".into(),
            users: vec!["x@y.example".into(), "z|w@y.example".into()],
            user_count: 5,
        });
        let text = render_plan(&plan, &context());
        assert!(text.starts_with(COMMENT_MARKER));
        assert!(text.contains("| connection `db-0` | 2 | 2 |\n"));
        assert!(text.contains("| **total** | 3 | **3** |\n"));
        assert!(text.contains(
            "> [!WARNING]\n> 2 users of `db-0` are blocked \\<b\\>\n>\n> `x@y.example`, `z|w@y.example` and 3 more\n"
        ));
        assert_eq!(shown(&text), 3);
        assert!(omitted(&text).is_empty());
        assert!(!text.contains("[!NOTE]"));
    }

    #[test]
    fn no_changes_is_said_plainly() {
        let text = render_plan(&Plan::default(), &context());
        assert_eq!(
            text,
            "<!-- verifyctl-plan -->\n### verifyctl plan for `t.example`\n\n**No changes. The tenant matches the policies.**\n\n_3 Management API requests to read the tenant._\n"
        );
    }

    #[test]
    fn large_plans_are_cut_between_actions_within_the_limit() {
        for limit in [3_000, 10_000, 40_000] {
            let plan = big_plan(&[400, 3, 150]);
            let text = render_with_limit(&plan, &context(), limit);
            assert!(text.len() < limit, "{} >= {limit}", text.len());
            assert!(mask_emails(&text).len() < limit);
            assert_eq!(shown(&text) + omitted(&text).iter().sum::<usize>(), 553);
            assert!(text.contains(&format!("{} of its 553 actions are shown", shown(&text))));
            assert_eq!(text.matches("<details>").count(), 3);
            assert_eq!(text.matches("</details>").count(), 3);
            // The small section is shown whole.
            assert!(text.contains("db-1</code></strong>: 3 actions"));
            assert_eq!(omitted(&text).len(), 2);
        }
    }

    #[test]
    fn a_summary_larger_than_the_limit_keeps_what_fits() {
        let plan = big_plan(&[1; 300]);
        let text = render_with_limit(&plan, &context(), 4_000);
        assert!(text.len() < 4_000);
        assert!(text.contains("none of its 300 actions are shown"));
        assert!(text.contains("| **total** | 300 | **300** |"));
        assert!(text.contains("more |\n"));
        assert!(!text.contains("<details>"));
    }

    #[test]
    fn code_changes_are_unified_diffs_in_a_safe_fence() {
        let before = "a\n```\nb\nc\n";
        let after = "a\n```\nb\nC\n";
        let action = Action {
            target: Target::LoginAction {
                name: "verifyctl-email-verification".into(),
            },
            reason: "the code differs".into(),
            changes: vec![FieldChange {
                field: "code".into(),
                before: Some(json!(before)),
                after: Some(json!(after)),
            }],
            operation: Operation::DeployLoginAction(LoginActionDeployment {
                name: "verifyctl-email-verification".into(),
                code: after.into(),
                secret_names: vec![],
                action_id: Some("act_1".into()),
                update: true,
                deploy: true,
                bind: false,
            }),
        };
        let text = render_action(&action);
        assert_eq!(
            text,
            "**~ update and deploy** `verifyctl-email-verification`\\\nreason: the code differs\n\n`code`:\n\n````diff\n--- deployed\n+++ planned\n@@ -1,4 +1,4 @@\n a\n ```\n b\n-c\n+C\n````\n\n"
        );
    }

    #[test]
    fn json_values_are_diffed_line_by_line() {
        let mut action = mark_verified("db", "a@b.example", "auth0|1");
        action.operation = Operation::UpdateProfile {
            user_id: "auth0|1".into(),
            patch: crate::tenant::types::UserPatch::default(),
        };
        action.changes = vec![
            FieldChange {
                field: "user_metadata.prefs".into(),
                before: Some(json!({"a": 1})),
                after: Some(json!({"a": 2})),
            },
            FieldChange {
                field: "name|x".into(),
                before: None,
                after: Some(json!("A|B")),
            },
        ];
        let text = render_action(&action);
        assert!(
            text.contains("| `name\\|x` | _(none)_ | `\"A\\|B\"` |\n"),
            "{text}"
        );
        assert!(
            text.contains("```diff\n  {\n-   \"a\": 1\n+   \"a\": 2\n  }\n```\n"),
            "{text}"
        );
    }
}
