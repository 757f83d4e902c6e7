//! Durations in policy files: a whole number and one unit, `90s`, `30m`, `72h`, `3d`, `1w`.

use time::Duration;

/// Parses `72h`-style durations. The error says what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let accepted = "write a whole number followed by one unit: s, m, h, d or w (e.g. `72h`)";
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit; {accepted}"))?;
    let (digits, unit) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{text}` does not start with a number; {accepted}"));
    }
    let amount: i64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is too large; {accepted}"))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("`{text}` has an unknown unit `{unit}`; {accepted}")),
    };
    amount
        .checked_mul(seconds_per_unit)
        .map(Duration::seconds)
        .ok_or_else(|| format!("`{text}` is too large; {accepted}"))
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
    }

    #[test]
    fn rejects_missing_or_unknown_units_and_overflow() {
        assert!(parse_duration("72").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("h")
                .unwrap_err()
                .contains("does not start with a number")
        );
        assert!(
            parse_duration("3 days")
                .unwrap_err()
                .contains("unknown unit ` days`")
        );
        assert!(
            parse_duration("99999999999999999999h")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn formats_with_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::hours(72)), "72h");
        assert_eq!(format_duration(Duration::days(10)), "10d");
        assert_eq!(format_duration(Duration::hours(36)), "36h");
        assert_eq!(format_duration(Duration::seconds(90)), "90s");
        assert_eq!(format_duration(Duration::weeks(2)), "2w");
    }
}
