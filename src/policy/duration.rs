//! Durations in policy files: a whole number and one unit, `90s`, `30m`, `72h`, `3d`, `1w`,
//! and the bounds of `resend.after`.
//!
//! `resend.after` is at least [`MIN_RESEND_AFTER`] (1 hour: verification emails minutes apart
//! are never what an administrator wants, and mail providers read them as spam) and at most
//! [`MAX_RESEND_AFTER`] (365 days: a longer wait means no further email in practice; to send
//! fewer emails, lower `resend.max`). The schema says the same with a pattern generated from
//! these bounds ([`resend_after_pattern`]), so editors and `validate` agree.

use time::Duration;

/// The shortest `resend.after`.
pub const MIN_RESEND_AFTER: Duration = Duration::hours(1);
/// The longest `resend.after`.
pub const MAX_RESEND_AFTER: Duration = Duration::days(365);

const ACCEPTED: &str = "write a whole number followed by one unit: s, m, h, d or w (e.g. `72h`)";

/// The units, with their length in seconds.
const UNITS: [(char, i64); 5] = [
    ('s', 1),
    ('m', 60),
    ('h', 3_600),
    ('d', 86_400),
    ('w', 604_800),
];

/// Parses `72h`-style durations (exactly that: no spaces, no sign, one unit). The error says
/// what is accepted. An amount too large to represent is reported as such.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let shown = super::diag::excerpt(text);
    if text.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{shown}` contains spaces; {ACCEPTED}, without spaces"
        ));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{shown}` has no unit; {ACCEPTED}"))?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "`{shown}` does not start with a number; {ACCEPTED}"
        ));
    }
    let mut unit_chars = unit.chars();
    let seconds_per_unit = match (unit_chars.next(), unit_chars.next()) {
        (Some(u), None) => UNITS.iter().find(|(name, _)| *name == u).map(|(_, s)| *s),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "`{shown}` has an unknown unit `{}`; {ACCEPTED}",
            super::diag::excerpt(unit)
        )
    })?;
    digits
        .parse::<i64>()
        .ok()
        .and_then(|amount| amount.checked_mul(seconds_per_unit))
        .map(Duration::seconds)
        .ok_or_else(|| format!("`{shown}` is too large to be a duration"))
}

/// Parses a `resend.after` and checks its bounds; the error says why the bound exists.
pub fn parse_resend_after(text: &str) -> Result<Duration, (String, &'static str)> {
    let too_long = || {
        (
            format!(
                "`resend.after` is `{}`, longer than a year ({})",
                super::diag::excerpt(text),
                format_duration(MAX_RESEND_AFTER)
            ),
            "a longer wait means no further email in practice; to send fewer emails, lower `resend.max`",
        )
    };
    let after = match parse_duration(text) {
        Ok(after) => after,
        Err(message) if message.ends_with("too large to be a duration") => return Err(too_long()),
        Err(message) => {
            return Err((
                format!("invalid `resend.after`: {message}"),
                "e.g. `resend: { after: 72h, max: 3 }`",
            ));
        }
    };
    if after < MIN_RESEND_AFTER {
        return Err((
            format!(
                "`resend.after` is `{}`, shorter than the minimum of {}",
                super::diag::excerpt(text),
                format_duration(MIN_RESEND_AFTER)
            ),
            "verification emails minutes apart only annoy users and look like spam to mail providers; 24h to 72h is usual",
        ));
    }
    if after > MAX_RESEND_AFTER {
        return Err(too_long());
    }
    Ok(after)
}

/// The schema's pattern for `resend.after`: exactly the texts [`parse_resend_after`]
/// accepts (leading zeros included), one alternative per unit.
pub fn resend_after_pattern() -> String {
    let min = MIN_RESEND_AFTER.whole_seconds();
    let max = MAX_RESEND_AFTER.whole_seconds();
    let alternatives: Vec<String> = UNITS
        .iter()
        .filter_map(|&(unit, seconds)| {
            let low = (min + seconds - 1) / seconds;
            let high = max / seconds;
            (low <= high).then(|| {
                format!(
                    "(?:{}){unit}",
                    number_range_pattern(low as u64, high as u64)
                )
            })
        })
        .collect();
    format!("^0*(?:{})$", alternatives.join("|"))
}

/// A regular expression (no anchors, no leading zeros) matching the decimal numbers from
/// `low` to `high`.
fn number_range_pattern(low: u64, high: u64) -> String {
    let mut parts = Vec::new();
    range_parts(low, high, &mut parts);
    parts.join("|")
}

/// Splits `[low, high]` into ranges of equal length whose digits vary independently, and
/// writes each as a pattern.
fn range_parts(low: u64, high: u64, out: &mut Vec<String>) {
    if low > high {
        return;
    }
    let (low_text, high_text) = (low.to_string(), high.to_string());
    if low_text.len() < high_text.len() {
        // Up to the largest number with as many digits as `low`, then the rest.
        let top = 10u64.pow(low_text.len() as u32) - 1;
        range_parts(low, top, out);
        range_parts(top + 1, high, out);
        return;
    }
    // Same length: find the first digit where they differ.
    let common = low_text
        .bytes()
        .zip(high_text.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    if common == low_text.len() {
        out.push(low_text);
        return;
    }
    let rest = low_text.len() - common - 1;
    let step = 10u64.pow(rest as u32);
    // Whole blocks `prefix d x…x` (every tail) fit when low's tail is all zeros and high's is
    // all nines; otherwise peel off the partial first and last blocks.
    let low_tail = low % step;
    let high_tail = high % step;
    if low_tail != 0 {
        let first_block_end = low - low_tail + step - 1;
        range_parts(low, first_block_end, out);
        range_parts(first_block_end + 1, high, out);
        return;
    }
    if high_tail != step - 1 {
        let last_block_start = high - high_tail;
        range_parts(low, last_block_start - 1, out);
        range_parts(last_block_start, high, out);
        return;
    }
    let prefix = &low_text[..common];
    let (a, b) = (
        low_text.as_bytes()[common] as char,
        high_text.as_bytes()[common] as char,
    );
    let digit = if a == b {
        a.to_string()
    } else {
        format!("[{a}-{b}]")
    };
    let tail = if rest == 0 {
        String::new()
    } else if rest == 1 {
        "[0-9]".to_string()
    } else {
        format!("[0-9]{{{rest}}}")
    };
    out.push(format!("{prefix}{digit}{tail}"));
}

/// Formats a duration the way people write resend intervals: hours below a week (`72h`),
/// otherwise the largest unit that divides it exactly (`2w`, `10d`).
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.whole_seconds();
    let units: &[(&str, i64)] = if seconds < 604_800 {
        &[("h", 3_600), ("m", 60)]
    } else {
        &[("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)]
    };
    for &(unit, size) in units {
        if seconds != 0 && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("90s"), Ok(Duration::seconds(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::minutes(30)));
        assert_eq!(parse_duration("72h"), Ok(Duration::hours(72)));
        assert_eq!(parse_duration("3d"), Ok(Duration::days(3)));
        assert_eq!(parse_duration("1w"), Ok(Duration::weeks(1)));
        assert_eq!(parse_duration("072h"), Ok(Duration::hours(72)));
    }

    #[test]
    fn rejects_missing_or_unknown_units_spaces_and_overflow() {
        assert!(parse_duration("72").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("h")
                .unwrap_err()
                .contains("does not start with a number")
        );
        assert!(
            parse_duration("3days")
                .unwrap_err()
                .contains("unknown unit `days`")
        );
        assert!(
            parse_duration("3 days")
                .unwrap_err()
                .contains("contains spaces")
        );
        assert!(
            parse_duration(" 72h")
                .unwrap_err()
                .contains("contains spaces")
        );
        assert!(
            parse_duration("72h ")
                .unwrap_err()
                .contains("contains spaces")
        );
        assert!(
            parse_duration("-1h")
                .unwrap_err()
                .contains("does not start with a number")
        );
        assert!(
            parse_duration("72hh")
                .unwrap_err()
                .contains("unknown unit `hh`")
        );
        assert!(
            parse_duration("99999999999999999999h")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn resend_after_is_between_an_hour_and_a_year() {
        assert_eq!(parse_resend_after("1h"), Ok(Duration::hours(1)));
        assert_eq!(parse_resend_after("3600s"), Ok(Duration::hours(1)));
        assert_eq!(parse_resend_after("365d"), Ok(Duration::days(365)));
        assert_eq!(parse_resend_after("52w"), Ok(Duration::weeks(52)));
        for short in ["0s", "3599s", "59m", "0h", "0d", "0w"] {
            let (message, _) = parse_resend_after(short).unwrap_err();
            assert!(
                message.contains("shorter than the minimum of 1h"),
                "{short}: {message}"
            );
        }
        for long in [
            "366d",
            "53w",
            "8761h",
            "9223372036854775807s",
            "70000000h",
            "99999999999999999999w",
        ] {
            let (message, _) = parse_resend_after(long).unwrap_err();
            assert!(
                message.contains("longer than a year (365d)"),
                "{long}: {message}"
            );
        }
    }

    /// The generated pattern, checked by brute force against the parser on every amount up
    /// to past each unit's bound (a tiny matcher for this pattern language is not needed: the
    /// parts are checked against the numbers they claim to cover).
    #[test]
    fn range_patterns_cover_exactly_the_range() {
        fn matches(part: &str, number: &str) -> bool {
            // Parts are digit literals, `[a-b]` classes and `[0-9]{n}` repetitions.
            let mut chars = number.chars();
            let mut rest = part;
            while !rest.is_empty() {
                let (class, after) = if let Some(inner) = rest.strip_prefix('[') {
                    let end = inner.find(']').unwrap();
                    let bytes = inner.as_bytes();
                    ((bytes[0] as char, bytes[2] as char), &inner[end + 1..])
                } else {
                    let c = rest.chars().next().unwrap();
                    ((c, c), &rest[1..])
                };
                let (count, after) = if let Some(inner) = after.strip_prefix('{') {
                    let end = inner.find('}').unwrap();
                    (inner[..end].parse::<usize>().unwrap(), &inner[end + 1..])
                } else {
                    (1, after)
                };
                for _ in 0..count {
                    match chars.next() {
                        Some(c) if c >= class.0 && c <= class.1 => {}
                        _ => return false,
                    }
                }
                rest = after;
            }
            chars.next().is_none()
        }
        for (low, high) in [
            (1, 8760),
            (60, 525_600),
            (3600, 31_536_000),
            (1, 52),
            (1, 365),
            (7, 7),
            (10, 99),
            (5, 1000),
        ] {
            let pattern = number_range_pattern(low, high);
            let limit = (high + 2).min(200_000);
            for n in 0..=limit {
                let text = n.to_string();
                let matched = pattern.split('|').any(|part| matches(part, &text));
                assert_eq!(matched, (low..=high).contains(&n), "{n} against {pattern}");
            }
            // Beyond the brute-forced part, spot checks around the top.
            for n in [high - 1, high, high + 1, high * 10] {
                let matched = pattern.split('|').any(|part| matches(part, &n.to_string()));
                assert_eq!(matched, (low..=high).contains(&n), "{n} against {pattern}");
            }
        }
        assert!(resend_after_pattern().starts_with("^0*(?:"));
    }

    #[test]
    fn formats_with_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::hours(72)), "72h");
        assert_eq!(format_duration(Duration::days(10)), "10d");
        assert_eq!(format_duration(Duration::hours(36)), "36h");
        assert_eq!(format_duration(Duration::seconds(90)), "90s");
        assert_eq!(format_duration(Duration::weeks(2)), "2w");
        assert_eq!(format_duration(MAX_RESEND_AFTER), "365d");
    }
}
