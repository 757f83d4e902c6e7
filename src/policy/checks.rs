//! Value checks on single policy fields that serde cannot express: email syntax and
//! metadata keys Auth0 would reject.

use crate::auth0::RESERVED_APP_METADATA_KEYS;
use crate::ledger::LEDGER_KEY;

/// The longest address, in octets (RFC 5321 §4.5.3.1.3 allows a 256-octet path, `<` and `>`
/// included).
pub const EMAIL_MAX_OCTETS: usize = 254;
/// The longest part before `@`, in octets (RFC 5321 §4.5.3.1.1).
pub const EMAIL_LOCAL_MAX_OCTETS: usize = 64;
/// The longest domain label, in octets (RFC 1035 §2.3.4, RFC 5321 §4.5.3.1.2).
pub const EMAIL_LABEL_MAX_OCTETS: usize = 63;

/// The schema's pattern for an email address, the same rules as [`check_email`] (which
/// counts octets where the pattern counts characters: the two differ only for non-ASCII
/// addresses near a length limit). A character of the part before `@` is an RFC 5322
/// `atext` character or any non-ASCII character that is neither a space nor a control
/// character (RFC 6531); a domain label is letters, digits and inner hyphens, non-ASCII
/// letters allowed (internationalised domains).
pub const EMAIL_PATTERN: &str = concat!(
    r"^(?=[^@]{1,64}@)",
    r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x9F\s])+",
    r"(?:\.(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x9F\s])+)*",
    r"@",
    r"(?:[A-Za-z0-9]|[^\x00-\x9F\s])(?:(?:[A-Za-z0-9-]|[^\x00-\x9F\s]){0,61}(?:[A-Za-z0-9]|[^\x00-\x9F\s]))?",
    r"(?:\.(?:[A-Za-z0-9]|[^\x00-\x9F\s])(?:(?:[A-Za-z0-9-]|[^\x00-\x9F\s]){0,61}(?:[A-Za-z0-9]|[^\x00-\x9F\s]))?)+",
    r"$",
);

/// A non-ASCII character allowed in an address: not a space, not a control character.
fn other_letter(c: char) -> bool {
    !c.is_ascii() && !c.is_whitespace() && !c.is_control()
}

/// Checks an email address the way a careful administrator would expect: one `@`, a
/// plausible local part and a dotted domain, within RFC 5321's lengths. Returns what is
/// wrong.
pub fn check_email(email: &str) -> Result<(), String> {
    if email.len() > EMAIL_MAX_OCTETS {
        return Err(format!(
            "it is {} octets long, and an address has at most {EMAIL_MAX_OCTETS} (RFC 5321)",
            email.len()
        ));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("it has no `@`".into());
    };
    if local.is_empty() {
        return Err("the part before `@` is empty".into());
    }
    if local.contains('@') {
        return Err("it has more than one `@`".into());
    }
    if local.len() > EMAIL_LOCAL_MAX_OCTETS {
        return Err(format!(
            "the part before `@` is {} octets long, and it has at most {EMAIL_LOCAL_MAX_OCTETS} (RFC 5321)",
            local.len()
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before `@` has a misplaced `.`".into());
    }
    if let Some(bad) = local.chars().find(|&c| {
        !(c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c) || other_letter(c))
    }) {
        return Err(format!(
            "the part before `@` contains `{}`",
            bad.escape_default()
        ));
    }
    if domain.is_empty() {
        return Err("the domain after `@` is empty".into());
    }
    // Only a problem shows the domain: an excerpt costs an allocation per address.
    let shown = || super::diag::excerpt(domain);
    if !domain.contains('.') {
        return Err(format!("the domain `{}` has no `.`", shown()));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(format!("the domain `{}` has an empty label", shown()));
        }
        if label.len() > EMAIL_LABEL_MAX_OCTETS {
            return Err(format!(
                "the domain label `{}` is {} octets long, and a label has at most {EMAIL_LABEL_MAX_OCTETS} (RFC 1035)",
                super::diag::excerpt(label),
                label.len()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the domain `{}` has a label starting or ending with `-`",
                shown()
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || other_letter(c)))
        {
            return Err(format!(
                "the domain `{}` contains `{}`",
                shown(),
                bad.escape_default()
            ));
        }
    }
    Ok(())
}

/// Checks a text field the way the schema does: not blank (`\S`), and at most `max`
/// characters when the field has a limit. Returns what is wrong, naming the field.
pub fn check_text(field: &str, value: &str, max: Option<usize>) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("`{field}` is empty"));
    }
    if let Some(max) = max {
        let length = value.chars().count();
        if length > max {
            return Err(format!(
                "`{field}` is {length} characters long, and at most {max} are allowed"
            ));
        }
    }
    Ok(())
}

/// The candidate closest to a misspelt word, if one is close enough to suggest (at most two
/// edits, or a quarter of the word). Long words get no suggestion: comparing them would cost
/// more than it helps.
pub fn suggest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    if wanted.len() > 128 {
        return None;
    }
    candidates
        .filter(|name| name.len() <= 128 && *name != wanted)
        .map(|name| (edit_distance(wanted, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.chars().count() / 4))
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Problems with the top-level keys of a metadata object, as (key, reason) pairs.
pub fn metadata_key_problems(
    map: &serde_json::Map<String, serde_json::Value>,
    is_app_metadata: bool,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for key in map.keys() {
        if key.contains('.') || key.contains('$') {
            problems.push((
                key.clone(),
                "Auth0 refuses metadata keys containing `.` or `$`".into(),
            ));
        } else if is_app_metadata && key == LEDGER_KEY {
            problems.push((
                key.clone(),
                "`verifyctl` is reserved for verifyctl's send ledger".into(),
            ));
        } else if is_app_metadata && RESERVED_APP_METADATA_KEYS.contains(&key.as_str()) {
            problems.push((key.clone(), "Auth0 reserves this app_metadata key".into()));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "alice@partner.example",
            "Bob.Smith+tag@corp.example.co.uk",
            "o'neil@x-y.example",
            "jose@exämple.example",
        ] {
            assert_eq!(check_email(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn explains_what_is_wrong_with_bad_addresses() {
        let cases = [
            ("bob", "no `@`"),
            ("@corp.example", "before `@` is empty"),
            ("bob@", "domain after `@` is empty"),
            ("bob@localhost", "has no `.`"),
            ("bob@corp..example", "empty label"),
            ("bo b@corp.example", "contains ` `"),
            ("bob@-corp.example", "starting or ending with `-`"),
            (".bob@corp.example", "misplaced `.`"),
            ("a@b@corp.example", "more than one `@`"),
            ("bob@corp.example.", "empty label"),
            ("b\u{a0}ob@corp.example", "contains `\\u{a0}`"),
        ];
        for (email, expected) in cases {
            let error = check_email(email).unwrap_err();
            assert!(error.contains(expected), "{email}: {error}");
        }
    }

    #[test]
    fn enforces_rfc_5321_lengths() {
        let local64 = "a".repeat(64);
        let label63 = "b".repeat(63);
        assert_eq!(check_email(&format!("{local64}@{label63}.example")), Ok(()));
        let error = check_email(&format!("{local64}a@corp.example")).unwrap_err();
        assert!(error.contains("65 octets long"), "{error}");
        let error = check_email(&format!("bob@{label63}b.example")).unwrap_err();
        assert!(error.contains("64 octets long"), "{error}");
        // 254 octets in all is the most.
        let domain = format!("{label63}.{label63}.{label63}.{}", "c".repeat(57));
        let at_limit = format!("{}@{domain}", "a".repeat(4));
        assert_eq!(at_limit.len(), 254);
        assert_eq!(check_email(&at_limit), Ok(()));
        let over = format!("{}@{domain}", "a".repeat(5));
        assert!(check_email(&over).unwrap_err().contains("255 octets long"));
        let long = format!("{}@corp.example", "a".repeat(300));
        assert!(check_email(&long).unwrap_err().contains("at most 254"));
        // Octets, not characters: 32 two-octet letters are 64 octets.
        assert_eq!(
            check_email(&format!("{}@corp.example", "é".repeat(32))),
            Ok(())
        );
        assert!(check_email(&format!("{}@corp.example", "é".repeat(33))).is_err());
    }

    #[test]
    fn text_fields_are_not_blank_and_within_auth0_limits() {
        assert_eq!(check_text("name", "Alice", Some(300)), Ok(()));
        assert_eq!(
            check_text("name", " ", Some(300)).unwrap_err(),
            "`name` is empty"
        );
        assert_eq!(check_text("name", "", None).unwrap_err(), "`name` is empty");
        assert_eq!(
            check_text("name", &"é".repeat(301), Some(300)).unwrap_err(),
            "`name` is 301 characters long, and at most 300 are allowed"
        );
        assert_eq!(check_text("name", &"é".repeat(300), Some(300)), Ok(()));
    }

    #[test]
    fn flags_reserved_and_unstorable_metadata_keys() {
        let map = serde_json::json!({"team": 1, "a.b": 2, "verifyctl": {}, "email": "x", "$x": 0});
        let problems = metadata_key_problems(map.as_object().unwrap(), true);
        let keys: Vec<_> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["$x", "a.b", "email", "verifyctl"]);
        let user = metadata_key_problems(map.as_object().unwrap(), false);
        let keys: Vec<_> = user.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["$x", "a.b"]);
    }
}
