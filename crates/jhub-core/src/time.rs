//! Timestamps as JupyterHub writes and reads them.
//!
//! JupyterHub stores naive UTC and emits Python `isoformat()` plus `Z`:
//! microsecond precision, with the fraction dropped when it is zero
//! (`2026-11-27T02:00:22.369791Z`, `2026-11-27T02:00:22Z`). The database keeps
//! microseconds since the epoch so values round-trip exactly.

pub use jiff::Timestamp;

/// Formats like JupyterHub's `isoformat(dt) + "Z"`.
pub fn isoformat(ts: Timestamp) -> String {
    // Civil time in UTC: its sub-second part is never negative, also before 1970.
    let civil = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let micros = civil.subsec_nanosecond() / 1_000;
    let base = civil.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if micros == 0 { format!("{base}Z") } else { format!("{base}.{micros:06}Z") }
}

/// Serde helpers: `Option<Timestamp>` as JupyterHub isoformat or `null`.
pub mod iso_opt {
    use super::{Timestamp, isoformat, parse};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ts) => s.serialize_str(&isoformat(*ts)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        match raw {
            None => Ok(None),
            Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// Why a timestamp could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid timestamp {input:?}: expected ISO 8601, e.g. 2026-11-27T02:00:22.369791Z")]
pub struct ParseTimestampError {
    pub input: String,
}

/// Parses the ISO 8601 forms clients send (what `dateutil` accepts in
/// practice): `Z`, `+00:00`/`+0000` offsets, a space instead of `T`, any
/// fraction length, and naive values, which JupyterHub treats as UTC.
pub fn parse(input: &str) -> Result<Timestamp, ParseTimestampError> {
    let err = || ParseTimestampError { input: input.to_string() };
    let text = input.trim();
    if text.is_empty() {
        return Err(err());
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let normalized = text.replacen(' ', "T", 1);
    if let Ok(ts) = normalized.parse::<Timestamp>() {
        return Ok(ts);
    }
    // `+0000` style offsets.
    if normalized.len() > 5 && normalized.is_char_boundary(normalized.len() - 5) {
        let (head, tail) = normalized.split_at(normalized.len() - 5);
        let bytes = tail.as_bytes();
        if (bytes[0] == b'+' || bytes[0] == b'-') && tail[1..].bytes().all(|b| b.is_ascii_digit()) {
            let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
            if let Ok(ts) = fixed.parse::<Timestamp>() {
                return Ok(ts);
            }
        }
    }
    // Naive: treat as UTC.
    if let Ok(dt) = normalized.parse::<jiff::civil::DateTime>() {
        return dt.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).map_err(|_| err());
    }
    if let Ok(date) = normalized.parse::<jiff::civil::Date>() {
        return date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).map_err(|_| err());
    }
    Err(err())
}

/// Microseconds since the Unix epoch, the storage representation.
pub fn to_micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

/// Inverse of [`to_micros`]; out-of-range values clamp to the epoch bounds.
pub fn from_micros(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(if micros < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        let ts: Timestamp = "2026-11-27T02:00:22.369791Z".parse().unwrap();
        assert_eq!(isoformat(ts), "2026-11-27T02:00:22.369791Z");
        let whole: Timestamp = "2026-11-27T02:00:22Z".parse().unwrap();
        assert_eq!(isoformat(whole), "2026-11-27T02:00:22Z");
        let millis: Timestamp = "2026-11-27T02:00:22.5Z".parse().unwrap();
        assert_eq!(isoformat(millis), "2026-11-27T02:00:22.500000Z");
        // Nanoseconds below a microsecond are not shown (Python has none).
        let nanos: Timestamp = "2026-11-27T02:00:22.000000700Z".parse().unwrap();
        assert_eq!(isoformat(nanos), "2026-11-27T02:00:22Z");
        // Before 1970 the fraction is still positive (Python prints 1969-12-31T23:59:59.200000).
        let before: Timestamp = "1969-12-31T23:59:59.2Z".parse().unwrap();
        assert_eq!(isoformat(before), "1969-12-31T23:59:59.200000Z");
    }

    #[test]
    fn parses_client_forms() {
        let expect: Timestamp = "2026-11-27T02:00:22Z".parse().unwrap();
        for text in [
            "2026-11-27T02:00:22Z",
            "2026-11-27T02:00:22+00:00",
            "2026-11-27T02:00:22+0000",
            "2026-11-27 02:00:22",
            "2026-11-27T02:00:22",
            "2026-11-27T04:00:22+02:00",
        ] {
            assert_eq!(parse(text), Ok(expect), "{text}");
        }
        assert!(parse("yesterday").is_err());
        assert!(parse("").is_err());
        // Multi-byte characters where an offset would be: an error, not a panic.
        assert!(parse("2026-11-27T02:00:22日本語").is_err());
        assert!(parse("é1234").is_err());
    }

    #[test]
    fn micros_round_trip() {
        let ts: Timestamp = "2026-11-27T02:00:22.369791Z".parse().unwrap();
        assert_eq!(from_micros(to_micros(ts)), ts);
    }
}
