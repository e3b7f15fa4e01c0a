//! Human-written durations in scenario files: `"500ms"`, `"1.5s"`, `"10m"`, `"2h"`,
//! `"1d"`, `"250us"`, `"100ns"`, converted exactly to integer nanoseconds.

use sim_core::time::SimDuration;

/// Parses a duration such as `"1.5s"`. Decimal fractions are converted exactly (no
/// floating point), and anything below a nanosecond is rejected rather than rounded.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit (use ns, us, ms, s, m, h or d)"))?;
    let (number, unit) = text.split_at(split);
    let unit_ns: u128 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ns, us, ms, s, m, h or d)"
            ))
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(format!("`{text}` has no number"));
    }
    let parse = |digits: &str| -> Result<u128, String> {
        if digits.is_empty() {
            Ok(0)
        } else {
            digits
                .parse::<u128>()
                .map_err(|_| format!("`{text}` is not a valid duration"))
        }
    };
    let scale = 10u128
        .checked_pow(fraction.len() as u32)
        .ok_or("too many decimals")?;
    let numerator = parse(whole)?
        .checked_mul(scale)
        .and_then(|w| w.checked_add(parse(fraction).ok()?))
        .and_then(|n| n.checked_mul(unit_ns))
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if numerator % scale != 0 {
        return Err(format!("`{text}` is finer than a nanosecond"));
    }
    let ns = u64::try_from(numerator / scale).map_err(|_| format!("`{text}` is too large"))?;
    Ok(SimDuration::from_nanos(ns))
}

/// Formats nanoseconds the way [`parse_duration`] reads them, choosing the largest
/// unit that represents the value exactly.
pub fn format_duration(d: SimDuration) -> String {
    let ns = d.as_nanos();
    for (unit, size) in [
        ("d", 86_400_000_000_000u64),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns >= size && ns % size == 0 {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> u64 {
        parse_duration(text).unwrap().as_nanos()
    }

    #[test]
    fn parses_units_exactly() {
        assert_eq!(ns("1s"), 1_000_000_000);
        assert_eq!(ns("1.5s"), 1_500_000_000);
        assert_eq!(ns("500ms"), 500_000_000);
        assert_eq!(ns("0.001ms"), 1_000);
        assert_eq!(ns("10m"), 600_000_000_000);
        assert_eq!(ns("1d"), 86_400_000_000_000);
        assert_eq!(ns(".5s"), 500_000_000);
        assert_eq!(ns("0s"), 0);
    }

    #[test]
    fn rejects_bad_text() {
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("0.5ns").unwrap_err().contains("finer"));
        assert!(parse_duration("s").unwrap_err().contains("no number"));
        assert!(parse_duration("99999999999d")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["1s", "1500ms", "2h", "7ns", "3d", "90us"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(parse_duration("90s").unwrap()), "90s");
    }
}
