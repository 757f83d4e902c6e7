//! Masking for public outputs. Two facilities:
//!
//! - [`SecretMask`]: the values of secret policy variables (`VERIFYCTL_SECRET_VAR_NAME`)
//!   become `[secret ${NAME}]` in plans of every format and in saved plans, always; a saved
//!   plan's placeholders are put back from the same variables before it is applied.
//! - Email masking (`--mask-emails`), described below.
//!
//! Email masking: `alice@partner.example` becomes `a***@partner.example`. Works on rendered
//! output of any format (text, JSON, markdown), with a hand-written scanner.
//!
//! What counts as an address: a local part and a domain around one `@`.
//!
//! - The **domain** is a run of letters, digits, `-` and `.` right after the `@` (trailing
//!   dots and hyphens dropped, so a sentence's full stop stays outside); it must have at least two
//!   labels, no empty label, no label starting or ending with `-`, and a top-level label of
//!   at least two characters that starts with a letter. So `x@y` (no dot), `pkg@1.2.3`
//!   (numeric top-level label), `user@localhost` and the `@@` of diff hunk headers are left
//!   alone. Non-ASCII letters and digits count as letters and digits (internationalised
//!   domains).
//! - The **local part** is the run of characters allowed in an unquoted local part (letters,
//!   digits and ``!#$%&'*+/=?^_`{|}~.-``) right before the `@`, where a backslash-escaped
//!   punctuation character (markdown's `\|` in table cells, `\_`, `\*`) counts as part of it,
//!   so escaping never leaves a piece of an address visible. Leading characters that are not
//!   letters or digits are not part of it (the backtick of a code span, a quote, the `//` of
//!   a URL), and neither is a JSON escape right before the address (`\n`, `\t`, `\u001f`),
//!   so the character kept is always a letter or digit of the address.
//!
//! The local part is replaced by its first character and `***`; the domain stays, since
//! reviewers need it. Everything else is copied unchanged, so JSON stays valid: the
//! characters removed are address characters or whole backslash escapes, never a quote or
//! half of an escape, and `***` needs no escaping. Masking is idempotent.
//!
//! Decided edge cases: the user part of a URL (`https://alice@example.com/`, or the password
//! in `https://user:pass@example.com`) is masked like an address: it is personal data in
//! the same position, and over-masking a public report is the safe side. Quoted local parts
//! (`"john doe"@example.com`) are not recognised (verifyctl's policy checks reject them).
//! Auth0 user ids (`auth0|63d1…`), API paths (`/api/v2/users/{id}`) and hunk headers contain
//! no address and stay as they are.

/// Masks the local part of every email address in `text`; see the module documentation.
pub fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    // Characters before `copied` are already in `out`.
    let mut copied = 0;
    for at in 0..chars.len() {
        if chars[at] != '@' {
            continue;
        }
        let Some(domain_end) = domain_end(&chars, at + 1) else {
            continue;
        };
        let Some(start) = local_start(&chars, at, copied) else {
            continue;
        };
        out.extend(&chars[copied..=start]);
        out.push_str("***");
        out.extend(&chars[at..domain_end]);
        copied = domain_end;
    }
    out.extend(&chars[copied.min(chars.len())..]);
    out
}

/// A writer that masks every line written through it before passing it on (addresses
/// never span lines), so output of any size is masked without being held whole.
pub struct MaskingWriter<W: std::io::Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: std::io::Write> MaskingWriter<W> {
    pub fn new(inner: W) -> Self {
        MaskingWriter {
            inner,
            line: Vec::new(),
        }
    }

    /// Masks and writes what is left after the last newline.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.write_line()?;
        Ok(self.inner)
    }

    fn write_line(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.line);
        self.inner.write_all(mask_emails(&text).as_bytes())?;
        self.line.clear();
        Ok(())
    }
}

impl<W: std::io::Write> std::io::Write for MaskingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..=newline]);
            self.write_line()?;
            rest = &rest[newline + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Letters and digits, ASCII or not.
fn is_alnum(c: char) -> bool {
    c.is_alphanumeric()
}

/// Characters of an unquoted local part (RFC 5322 `atext` and `.`, plus non-ASCII letters).
fn is_local_char(c: char) -> bool {
    is_alnum(c) || "!#$%&'*+/=?^_`{|}~.-".contains(c)
}

fn is_local_punct(c: char) -> bool {
    is_local_char(c) && !is_alnum(c)
}

/// Where the local part ending right before `at` starts (the index of its first character,
/// a letter or digit), or `None` when there is none. Never reaches before `floor`.
fn local_start(chars: &[char], at: usize, floor: usize) -> Option<usize> {
    let mut start = at;
    while start > floor {
        let c = chars[start - 1];
        if !is_local_char(c) {
            break;
        }
        // `\|`: an escaped punctuation character belongs to the address when the backslash
        // is itself unescaped (an odd run of backslashes).
        if is_local_punct(c) && start - 1 > floor && is_escape(chars, floor, start - 2) {
            start -= 2;
        } else {
            start -= 1;
        }
    }
    let mut first = start;
    // A JSON escape right before the address (`\n`, `\t`, `\u001f`) is not part of it.
    if first > floor && is_escape(chars, floor, first - 1) {
        match chars.get(first) {
            Some('b' | 'f' | 'n' | 'r' | 't') => first += 1,
            Some('u')
                if chars.len() > first + 4
                    && chars[first + 1..first + 5]
                        .iter()
                        .all(char::is_ascii_hexdigit) =>
            {
                first += 5;
            }
            _ => {}
        }
    }
    // Leading non-alphanumerics (a code span's backtick, the `//` of a URL) stay outside.
    (first..at).find(|&i| is_alnum(chars[i]))
}

/// Whether `chars[index]` is a backslash that escapes the next character: the last of an
/// odd run of backslashes (counted no further back than `floor`).
fn is_escape(chars: &[char], floor: usize, index: usize) -> bool {
    chars[index] == '\\'
        && chars[floor..=index]
            .iter()
            .rev()
            .take_while(|&&c| c == '\\')
            .count()
            % 2
            == 1
}

/// The end (exclusive) of a valid domain starting at `from`, or `None`.
fn domain_end(chars: &[char], from: usize) -> Option<usize> {
    let mut end = from;
    while end < chars.len() && (is_alnum(chars[end]) || chars[end] == '-' || chars[end] == '.') {
        end += 1;
    }
    while end > from && matches!(chars[end - 1], '.' | '-') {
        end -= 1;
    }
    let domain: String = chars[from..end].iter().collect();
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    let valid_label =
        |label: &str| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-');
    if !labels.iter().all(|label| valid_label(label)) {
        return None;
    }
    let top = labels.last()?;
    let starts_with_letter = top.chars().next().is_some_and(char::is_alphabetic);
    if top.chars().count() < 2 || !starts_with_letter {
        return None;
    }
    Some(end)
}

/// The values of secret variables and the placeholder shown for each. Secrets are replaced
/// wherever they occur (also inside a longer text), longest first; an empty value masks
/// nothing.
#[derive(Clone, Default)]
pub struct SecretMask {
    /// (placeholder, value), longest value first.
    secrets: Vec<(String, Hidden)>,
}

/// A secret value (its `Debug` shows nothing).
#[derive(Clone)]
struct Hidden(String);

impl Hidden {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.secrets.iter().map(|(p, _)| p.as_str()).collect();
        write!(f, "SecretMask({names:?})")
    }
}

impl SecretMask {
    /// A mask for (name, value) pairs.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> SecretMask {
        let mut secrets: Vec<(String, Hidden)> = secrets
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (SecretMask::placeholder(name), Hidden(value.to_string())))
            .collect();
        secrets.sort_by_key(|(_, value)| std::cmp::Reverse(value.expose().len()));
        SecretMask { secrets }
    }

    /// What a secret variable's value is shown as.
    pub fn placeholder(name: &str) -> String {
        format!("[secret ${{{name}}}]")
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret value replaced by its placeholder (also in its JSON-escaped
    /// form, for rendered JSON), in one pass: a placeholder is never masked again.
    pub fn mask_text(&self, text: &str) -> String {
        let mut pairs: Vec<(String, &str)> = Vec::new();
        for (placeholder, value) in &self.secrets {
            let value = value.expose();
            pairs.push((value.to_string(), placeholder));
            let escaped = serde_json::to_string(value).unwrap_or_default();
            let escaped = escaped
                .get(1..escaped.len().saturating_sub(1))
                .unwrap_or_default()
                .to_string();
            if escaped != value && !escaped.is_empty() {
                pairs.push((escaped, placeholder));
            }
        }
        pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        replace_all(text, &pairs)
    }

    /// Masks every text (keys included) of a JSON document.
    pub fn mask_json(&self, value: &mut serde_json::Value) {
        walk(value, &|text| self.mask_text(text));
    }

    /// Puts the secret values back where `mask_json` left placeholders.
    pub fn unmask_json(&self, value: &mut serde_json::Value) {
        let pairs: Vec<(String, &str)> = self
            .secrets
            .iter()
            .map(|(placeholder, value)| (placeholder.clone(), value.expose()))
            .collect();
        walk(value, &|text| replace_all(text, &pairs));
    }

    /// Whether `text` holds a placeholder of one of these secrets (so that unmasking it would
    /// change a text that never held the secret).
    pub fn has_placeholder(&self, value: &serde_json::Value) -> bool {
        let found = std::cell::Cell::new(false);
        let mut copy = value.clone();
        walk(&mut copy, &|text| {
            if self.secrets.iter().any(|(p, _)| text.contains(p.as_str())) {
                found.set(true);
            }
            text.to_string()
        });
        found.get()
    }
}

/// Applies `change` to every text (keys included) of a JSON document.
fn walk(value: &mut serde_json::Value, change: &dyn Fn(&str) -> String) {
    use serde_json::Value;
    match value {
        Value::String(text) => *text = change(text),
        Value::Array(items) => {
            for item in items {
                walk(item, change);
            }
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                walk(&mut item, change);
                map.insert(change(&key), item);
            }
        }
        _ => {}
    }
}

/// Replaces every `from` of `pairs` (tried in order at each position) in one pass.
fn replace_all(text: &str, pairs: &[(String, &str)]) -> String {
    if pairs.is_empty() || !pairs.iter().any(|(from, _)| text.contains(from.as_str())) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while let Some(c) = rest.chars().next() {
        for (from, to) in pairs {
            if !from.is_empty() && rest.starts_with(from.as_str()) {
                out.push_str(to);
                rest = &rest[from.len()..];
                continue 'outer;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{MaskingWriter, mask_emails};

    #[test]
    fn the_masking_writer_masks_lines_split_across_writes() {
        use std::io::Write;
        let mut writer = MaskingWriter::new(Vec::new());
        writer.write_all(b"to alice@part").unwrap();
        writer.write_all(b"ner.example\nand bob@x.example").unwrap();
        let out = writer.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "to a***@partner.example\nand b***@x.example"
        );
    }

    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(mask_emails(input), expected, "input: {input:?}");
        assert_eq!(mask_emails(expected), expected, "idempotent: {expected:?}");
    }

    #[test]
    fn masks_the_local_part_and_keeps_the_domain() {
        check("alice@partner.example", "a***@partner.example");
        check(
            "send to bob.smith+tag@corp.example.",
            "send to b***@corp.example.",
        );
        check("a@x.io", "a***@x.io");
        check(
            "never-sent@required.example (auth0|000000000000000000000102)",
            "n***@required.example (auth0|000000000000000000000102)",
        );
        check(
            "x, y: one@a.example,two@b.example",
            "x, y: o***@a.example,t***@b.example",
        );
    }

    #[test]
    fn leaves_things_that_are_not_addresses() {
        for text in [
            "calls: PATCH /api/v2/users/{id}, POST /api/v2/jobs/verification-email",
            "x@y",
            "user@localhost",
            "@@ -26,7 +26,7 @@",
            "@@ -1 +1 @@ const a = 1;",
            "auth0|63d1a2b3c4d5e6f7a8b9c0d1",
            "google-oauth2|108000000000000000001",
            "npm install left-pad@1.3.0",
            "@scope/pkg@2.0.1-beta",
            " * @param {string} name",
            "a@-bad.example",
            "a@bad-.example",
            "a@x..example",
            "a@x.e",
            "...@example.com",
            "",
            "no at sign at all",
        ] {
            assert_eq!(mask_emails(text), text);
        }
    }

    #[test]
    fn surrounding_punctuation_stays() {
        check("<alice@x.example>", "<a***@x.example>");
        check("(alice@x.example)", "(a***@x.example)");
        check("`alice@x.example`", "`a***@x.example`");
        check("'alice@x.example'", "'a***@x.example'");
        check("\"alice@x.example\"", "\"a***@x.example\"");
        check("mailto:alice@x.example", "mailto:a***@x.example");
        check("alice@x.example-", "a***@x.example-");
    }

    #[test]
    fn urls_with_a_user_part_are_masked() {
        check(
            "https://alice@example.com/path",
            "https://a***@example.com/path",
        );
        check(
            "https://user:secret@example.com",
            "https://user:s***@example.com",
        );
        // No dot in the host: not an address.
        check("https://user@host/x", "https://user@host/x");
    }

    #[test]
    fn markdown_escapes_do_not_leave_pieces_visible() {
        check("`a\\|b@x.example`", "`a***@x.example`");
        check("never\\_sent@x.example", "n***@x.example");
        check("\\*star@x.example", "\\*s***@x.example");
        // An escaped backslash is not an escape of what follows.
        check("a\\\\|b@x.example", "a\\\\|b***@x.example");
    }

    #[test]
    fn unicode_addresses() {
        check("jörg@beispiel.de", "j***@beispiel.de");
        check("élodie@exemple.fr", "é***@exemple.fr");
        check("user@bücher.example", "u***@bücher.example");
        check("用户@例子.广告", "用***@例子.广告");
    }

    #[test]
    fn several_at_signs() {
        check("a@b@c.example", "a@b***@c.example");
        check("alice@x.example@y.example", "a***@x.example@y.example");
    }

    #[test]
    fn json_stays_valid() {
        let value = serde_json::json!({
            "email": "alice@partner.example",
            "list": ["bob@corp.example", "c\"d@x.example", "back\\slash@x.example", "e\\|f@x.example"],
            "multi": "line one\nzed@x.example\tend",
            "control": "\u{1f}yan@x.example",
            "path": "/api/v2/users/{id}",
        });
        for text in [
            serde_json::to_string(&value).expect("json"),
            serde_json::to_string_pretty(&value).expect("json"),
        ] {
            let masked = mask_emails(&text);
            let parsed: serde_json::Value = serde_json::from_str(&masked).expect("still JSON");
            assert_eq!(parsed["email"], "a***@partner.example");
            assert_eq!(parsed["list"][0], "b***@corp.example");
            assert_eq!(parsed["list"][1], "c\"d***@x.example");
            assert_eq!(parsed["list"][2], "back\\s***@x.example");
            assert_eq!(parsed["multi"], "line one\nz***@x.example\tend");
            assert_eq!(parsed["control"], "\u{1f}y***@x.example");
            assert_eq!(parsed["path"], "/api/v2/users/{id}");
            assert!(!masked.contains("alice@"));
        }
    }
}
