//! Kubernetes resource quantities (`resource.Quantity`): parsing with the apimachinery grammar and
//! the canonical form the API server writes back (`8.0` → `8`, `1.5Gi` → `1536Mi`, `1000` → `1k`).
//!
//! A parsed quantity remembers its suffix family (decimal SI, binary SI, decimal exponent) and is
//! re-emitted in that family, exactly like the API server: a plain byte count such as
//! `17179869184` therefore stays `17179869184` (it is decimal), while `16Gi` stays `16Gi`.
//! Values are kept exactly as integers of nano-units (the API server rounds anything finer up
//! to 1n), which is all the scheduler needs for its arithmetic.

use std::fmt;

/// The suffix family a quantity was written in; it decides how the canonical form is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `12e6`
    DecimalExponent,
    /// `12Mi` (binary multiples)
    BinarySI,
    /// `12M`, `500m`, or no suffix
    DecimalSI,
}

/// Why a string is not a quantity; the messages are the API server's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not have the `<number><suffix>` shape.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    FormatWrong,
    /// The suffix is not one of the known ones.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The number is too large for the simulator's exact arithmetic.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
}

/// A parsed quantity: an exact value in nano-units plus the format it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    nano: i128,
    format: Format,
}

/// The largest magnitude accepted, in nano-units (10^20 units); the real API server accepts larger
/// numbers through arbitrary precision, which no simulated resource needs.
const MAX_NANO: i128 = 100_000_000_000_000_000_000_000_000_000;
const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parses a quantity string with the apimachinery grammar.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        if text.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        let bytes = text.as_bytes();
        let mut pos = 0;
        let mut negative = false;
        if let Some(&c) = bytes.first()
            && (c == b'-' || c == b'+')
        {
            negative = c == b'-';
            pos = 1;
        }
        let num_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let num = &text[num_start..pos];
        let mut denom = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let denom_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            denom = &text[denom_start..pos];
        }
        if num.is_empty() && denom.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        let suffix = &text[pos..];
        check_suffix_shape(suffix)?;
        let (base, exponent, format) = interpret_suffix(suffix)?;

        let digits = format!("{num}{denom}");
        let mut mantissa: i128 = 0;
        for d in digits.bytes() {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(d - b'0')))
                .ok_or(QuantityError::Numeric)?;
        }
        let denom_len = i32::try_from(denom.len()).map_err(|_| QuantityError::Numeric)?;
        let nano = if base == 10 {
            scale_pow10(mantissa, exponent - denom_len + 9)?
        } else {
            let factor = 1i128.checked_shl(u32::try_from(exponent).map_err(|_| QuantityError::Suffix)?);
            let scaled = factor
                .and_then(|f| mantissa.checked_mul(f))
                .and_then(|m| m.checked_mul(NANO))
                .ok_or(QuantityError::Numeric)?;
            scale_pow10(scaled, -denom_len)?
        };
        if nano > MAX_NANO {
            return Err(QuantityError::Numeric);
        }
        let mut format = format;
        // A binary quantity below one unit cannot be written in binary suffixes.
        if format == Format::BinarySI && nano > 0 && nano < NANO {
            format = Format::DecimalSI;
        }
        Ok(Self { nano: if negative { -nano } else { nano }, format })
    }

    /// Parses a quantity given as JSON: a string, or a number (which the API server reads through
    /// its literal text, so `8.0` is the string `8.0`).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, QuantityError> {
        match value {
            serde_json::Value::String(s) => Self::parse(s.trim()),
            serde_json::Value::Number(n) => Self::parse(&n.to_string()),
            _ => Err(QuantityError::FormatWrong),
        }
    }

    /// A quantity of whole units in decimal format (`Quantity::from_units(8)` is `8`).
    pub fn from_units(units: i64) -> Self {
        Self { nano: i128::from(units) * NANO, format: Format::DecimalSI }
    }

    /// A quantity in nano-units with the given format.
    pub fn from_nano(nano: i128, format: Format) -> Self {
        Self { nano, format }
    }

    /// The exact value in nano-units.
    pub fn nano(&self) -> i128 {
        self.nano
    }

    /// The value in milli-units, rounded up (what the scheduler uses for cpu).
    pub fn milli(&self) -> i128 {
        ceil_div(self.nano, 1_000_000)
    }

    /// The value in whole units, rounded up (bytes for memory, devices for extended resources).
    pub fn units_ceil(&self) -> i128 {
        ceil_div(self.nano, NANO)
    }

    /// Whether the value is a whole number of units.
    pub fn is_integer(&self) -> bool {
        self.nano % NANO == 0
    }

    /// The suffix family.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The canonical string the API server stores and returns.
    pub fn canonical(&self) -> String {
        if self.nano == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySI && (self.nano.abs() < 1024 * NANO || self.nano % NANO != 0) {
            format = Format::DecimalSI;
        }
        if format == Format::BinarySI {
            let mut amount = self.nano / NANO;
            let mut exp = 0usize;
            while exp < 6 && amount % 1024 == 0 {
                amount /= 1024;
                exp += 1;
            }
            const BIN: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            return format!("{amount}{}", BIN.get(exp).copied().unwrap_or(""));
        }
        let mut mantissa = self.nano;
        let mut exp: i32 = -9;
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exp += 1;
        }
        let rem = exp.rem_euclid(3);
        for _ in 0..rem {
            mantissa *= 10;
        }
        exp -= rem;
        let suffix = match format {
            Format::DecimalExponent => {
                if exp == 0 {
                    String::new()
                } else {
                    format!("e{exp}")
                }
            }
            _ => match exp {
                -9 => "n".to_string(),
                -6 => "u".to_string(),
                -3 => "m".to_string(),
                0 => String::new(),
                3 => "k".to_string(),
                6 => "M".to_string(),
                9 => "G".to_string(),
                12 => "T".to_string(),
                15 => "P".to_string(),
                18 => "E".to_string(),
                other => format!("e{other}"),
            },
        };
        format!("{mantissa}{suffix}")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Canonicalises a JSON quantity in place; returns the parse error for the caller to report.
pub fn canonicalize_json(value: &mut serde_json::Value) -> Result<Quantity, QuantityError> {
    let q = Quantity::from_json(value)?;
    *value = serde_json::Value::String(q.canonical());
    Ok(q)
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

/// Multiplies by 10^exp, or divides rounding away from zero when exp is negative (the API server
/// rounds anything finer than 1n up).
fn scale_pow10(value: i128, exp: i32) -> Result<i128, QuantityError> {
    if exp >= 0 {
        let mut v = value;
        for _ in 0..exp {
            v = v.checked_mul(10).ok_or(QuantityError::Numeric)?;
            if v > MAX_NANO * 10 {
                return Err(QuantityError::Numeric);
            }
        }
        Ok(v)
    } else {
        let mut divisor: i128 = 1;
        for _ in 0..(-exp) {
            divisor = match divisor.checked_mul(10) {
                Some(d) => d,
                // Anything non-zero this small rounds up to one nano-unit.
                None => return Ok(if value == 0 { 0 } else { 1 }),
            };
        }
        Ok(ceil_div(value, divisor))
    }
}

fn check_suffix_shape(suffix: &str) -> Result<(), QuantityError> {
    let bytes = suffix.as_bytes();
    let mut i = 0;
    while i < bytes.len() && b"eEinumkKMGTP".contains(&bytes[i]) {
        i += 1;
    }
    if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
        i += 1;
    }
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i == bytes.len() { Ok(()) } else { Err(QuantityError::FormatWrong) }
}

fn interpret_suffix(suffix: &str) -> Result<(u32, i32, Format), QuantityError> {
    let decimal = |e| Ok((10, e, Format::DecimalSI));
    let binary = |e| Ok((2, e, Format::BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            let exp: i32 = s[1..].parse().map_err(|_| QuantityError::Suffix)?;
            if exp.abs() > 60 {
                return Err(QuantityError::Numeric);
            }
            Ok((10, exp, Format::DecimalExponent))
        }
        _ => Err(QuantityError::Suffix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Quantity::parse(s).map(|q| q.canonical()).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn canonical_forms_match_the_api_server() {
        assert_eq!(canon("8.0"), "8");
        assert_eq!(canon("1.5"), "1500m");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1000"), "1k");
        assert_eq!(canon("17179869184"), "17179869184");
        assert_eq!(canon("1073741824"), "1073741824");
        assert_eq!(canon("16Gi"), "16Gi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("0.5Ki"), "512");
        assert_eq!(canon("100Gi"), "100Gi");
        assert_eq!(canon("16G"), "16G");
        assert_eq!(canon("16000M"), "16G");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("100m"), "100m");
        assert_eq!(canon("0.1m"), "100u");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("-1.5"), "-1500m");
        assert_eq!(canon("+2"), "2");
        assert_eq!(canon("1"), "1");
        assert_eq!(canon(".5"), "500m");
        assert_eq!(canon("0.0000000001"), "1n");
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in ["", "abc", "16g", "1.2.3", "Gi", "5 Gi", "1Xi", "--1", "e3"] {
            assert!(Quantity::parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(Quantity::parse("999999999999999999999999999999999999999").is_err());
    }

    #[test]
    fn json_numbers_parse_through_their_text() {
        let q = Quantity::from_json(&serde_json::json!(8.0)).map(|q| q.canonical());
        assert_eq!(q, Ok("8".to_string()));
        let q = Quantity::from_json(&serde_json::json!(17179869184u64)).map(|q| q.canonical());
        assert_eq!(q, Ok("17179869184".to_string()));
        assert!(Quantity::from_json(&serde_json::json!(null)).is_err());
    }

    #[test]
    fn arithmetic_views() {
        let cpu = Quantity::parse("1500m").map(|q| q.milli());
        assert_eq!(cpu, Ok(1500));
        let mem = Quantity::parse("1Gi").map(|q| q.units_ceil());
        assert_eq!(mem, Ok(1_073_741_824));
        let tiny = Quantity::parse("1n").map(|q| q.milli());
        assert_eq!(tiny, Ok(1));
        assert_eq!(Quantity::parse("2").map(|q| q.is_integer()), Ok(true));
        assert_eq!(Quantity::parse("2.5").map(|q| q.is_integer()), Ok(false));
    }
}
