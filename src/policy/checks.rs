//! Value checks on single policy fields that serde cannot express: email syntax and
//! metadata keys Auth0 would reject.

use crate::auth0::RESERVED_APP_METADATA_KEYS;
use crate::ledger::LEDGER_KEY;

/// Checks an email address the way a careful administrator would expect: one `@`, a
/// plausible local part and a dotted domain. Returns what is wrong.
pub fn check_email(email: &str) -> Result<(), String> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("it has no `@`".into());
    };
    if local.is_empty() {
        return Err("the part before `@` is empty".into());
    }
    if local.len() > 64 {
        return Err("the part before `@` is longer than 64 characters".into());
    }
    if local.contains('@') {
        return Err("it has more than one `@`".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before `@` has a misplaced `.`".into());
    }
    if let Some(bad) = local
        .chars()
        .find(|c| !(c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(*c)))
    {
        return Err(format!("the part before `@` contains `{bad}`"));
    }
    if domain.is_empty() {
        return Err("the domain after `@` is empty".into());
    }
    if !domain.contains('.') {
        return Err(format!("the domain `{domain}` has no `.`"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(format!("the domain `{domain}` has an empty label"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the domain `{domain}` has a label starting or ending with `-`"
            ));
        }
        if let Some(bad) = label.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
            return Err(format!("the domain `{domain}` contains `{bad}`"));
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
        ];
        for (email, expected) in cases {
            let error = check_email(email).unwrap_err();
            assert!(error.contains(expected), "{email}: {error}");
        }
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
