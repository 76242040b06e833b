//! Durations as people write and read them: `--timeout 1.5s`, `suspended for 14m`.

use std::time::Duration;

/// The shortest `--timeout`: below it, a healthy master on a busy machine could miss the
/// deadline and be taken for hung.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Parses `500ms`, `2s`, `1.5s`, `1m` or a bare number of seconds, from 10 ms to 1 hour.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_within(
        text,
        MIN_TIMEOUT,
        MAX_TIMEOUT,
        "a timeout is from 10ms to 1 hour",
    )
}

/// How long a server may be silent before `auto` proves the link (`MUXGUARD_PROBE_AFTER`):
/// from 1 second to a day.
pub fn parse_silence(text: &str) -> Result<Duration, String> {
    let day = Duration::from_secs(86400);
    parse_within(text, Duration::from_secs(1), day, "it is from 1s to 1440m")
}

/// A duration as `parse_timeout` reads it, within `min` and `max` (`range` says them).
fn parse_within(text: &str, min: Duration, max: Duration, range: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: use e.g. 500ms, 2s or 1.5s"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit '{unit}' in '{text}': use ms, s or m")),
    };
    let in_range =
        seconds.is_finite() && seconds >= min.as_secs_f64() && seconds <= max.as_secs_f64();
    if !in_range {
        return Err(format!("'{text}' is out of range: {range}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `42s`, `12m`, `5h`, `3d`: the largest unit, rounded down.
pub fn short(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("fast").is_err());
        assert!(parse_timeout("3h").is_err());
        assert!(parse_timeout("").is_err());
        assert_eq!(parse_timeout("10ms"), Ok(Duration::from_millis(10)));
        assert!(parse_timeout("9ms").is_err());
        assert!(parse_timeout("0.0000001ms").is_err());
        assert!(parse_timeout("0.001").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever the text: no panic, and what is accepted lies within the bounds.
        #[test]
        fn any_duration_text_is_parsed_or_refused(text in "\\PC{0,24}") {
            if let Ok(duration) = parse_timeout(&text) {
                proptest::prop_assert!(duration >= MIN_TIMEOUT && duration <= MAX_TIMEOUT);
            }
        }

        #[test]
        fn numbers_with_units_are_parsed_or_refused(
            number in "[0-9]{0,12}(\\.[0-9]{0,12})?",
            unit in proptest::sample::select(vec!["", "ms", "s", "m", "h", "µs"]),
        ) {
            if let Ok(duration) = parse_timeout(&format!("{number}{unit}")) {
                proptest::prop_assert!(duration >= MIN_TIMEOUT && duration <= MAX_TIMEOUT);
            }
        }
    }

    #[test]
    fn silences() {
        assert_eq!(parse_silence("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_silence("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_silence("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_silence("500ms").is_err());
        assert!(parse_silence("1441m").is_err());
    }

    #[test]
    fn short_durations() {
        assert_eq!(short(5), "5s");
        assert_eq!(short(600), "10m");
        assert_eq!(short(7200), "2h");
        assert_eq!(short(3 * 86400 + 5), "3d");
    }
}
