//! Passwords for users verifyctl creates: drawn from the operating system's CSPRNG and
//! shaped to pass Auth0's strictest password policy ("excellent": at least 10 characters,
//! all four character classes, no character three times in a row) and the newer
//! `password_options` rules (no runs like `abc` or `321`, no personal information). Nobody
//! ever sees them: the user sets their own through a password-reset email.

use rand::TryRng;
use rand::rngs::SysRng;

use crate::secret::Secret;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#%+-.:=?@^_~";

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct PasswordError(String);

/// A random password of `length` characters (at least 12) that contains none of `avoid`
/// (compared case-insensitively; pass the email's local part and the user's names).
pub fn generate_password(length: usize, avoid: &[&str]) -> Result<Secret, PasswordError> {
    let length = length.max(12);
    let avoid: Vec<String> = avoid
        .iter()
        .filter(|word| word.chars().count() >= 2)
        .map(|word| word.to_lowercase())
        .collect();
    loop {
        let candidate = random_candidate(length)?;
        if acceptable(&candidate, &avoid) {
            return Ok(Secret::new(candidate));
        }
    }
}

fn random_candidate(length: usize) -> Result<String, PasswordError> {
    let classes = [LOWER, UPPER, DIGITS, SYMBOLS];
    let alphabet: Vec<u8> = classes.concat();
    let mut chars: Vec<u8> = Vec::with_capacity(length);
    // One of each class first, then the rest from the whole alphabet, then shuffle.
    for class in classes {
        chars.push(class[uniform(class.len())?]);
    }
    while chars.len() < length {
        chars.push(alphabet[uniform(alphabet.len())?]);
    }
    for i in (1..chars.len()).rev() {
        let j = uniform(i + 1)?;
        chars.swap(i, j);
    }
    Ok(chars.into_iter().map(char::from).collect())
}

/// A uniform index below `bound` (rejection sampling, no modulo bias).
fn uniform(bound: usize) -> Result<usize, PasswordError> {
    let bound = u32::try_from(bound).unwrap_or(u32::MAX);
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut bytes = [0u8; 4];
        SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| PasswordError(e.to_string()))?;
        let value = u32::from_le_bytes(bytes);
        if value < zone {
            return Ok((value % bound) as usize);
        }
    }
}

fn acceptable(candidate: &str, avoid: &[String]) -> bool {
    let bytes = candidate.as_bytes();
    let has = |class: &[u8]| bytes.iter().any(|b| class.contains(b));
    if !(has(LOWER) && has(UPPER) && has(DIGITS) && has(SYMBOLS)) {
        return false;
    }
    for window in bytes.windows(3) {
        let (a, b, c) = (
            i16::from(window[0]),
            i16::from(window[1]),
            i16::from(window[2]),
        );
        let identical = a == b && b == c;
        let sequential = (b - a == 1 && c - b == 1) || (a - b == 1 && b - c == 1);
        if identical || sequential {
            return false;
        }
    }
    let lower = candidate.to_lowercase();
    !avoid.iter().any(|word| lower.contains(word.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_meet_the_strictest_policy_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let password = generate_password(40, &["alice", "doe"]).unwrap();
            let text = password.expose();
            assert_eq!(text.len(), 40);
            assert!(acceptable(text, &["alice".into(), "doe".into()]), "{text}");
            assert!(seen.insert(text.to_string()), "repeated password");
        }
    }

    #[test]
    fn rejects_runs_repeats_missing_classes_and_personal_data() {
        assert!(acceptable("aB3!xY7?", &[]));
        assert!(!acceptable("aaaB3!xY", &[]), "three identical");
        assert!(!acceptable("abcB3!xY", &[]), "ascending run");
        assert!(!acceptable("aB3!987x", &[]), "descending run");
        assert!(!acceptable("abxyzqwe", &[]), "classes missing");
        assert!(!acceptable("aB3!AliCe", &["alice".into()]), "personal data");
    }

    #[test]
    fn short_requests_are_raised_to_a_safe_minimum() {
        assert_eq!(generate_password(4, &[]).unwrap().expose().len(), 12);
    }
}
