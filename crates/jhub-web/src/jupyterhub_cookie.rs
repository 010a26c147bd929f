//! Reading the login cookie JupyterHub set before the switch to jhub, so that
//! browsers stay logged in across it (same `hub.cookieSecret`, users' cookie
//! ids carried over by `jhub import-jupyterhub`).
//!
//! JupyterHub sets `jupyterhub-hub-login` with tornado's `set_secure_cookie`:
//! a version-2 signed value
//! `2|1:0|<len>:<unix time>|<len>:<cookie name>|<len>:<base64(cookie_id)>|<hex hmac>`
//! where the HMAC-SHA256 (key: the cookie secret bytes) covers everything up
//! to and including the last `|`. Only reading is supported: jhub issues its
//! own cookie format at the next login. A value is accepted for the same
//! lifetime JupyterHub gives it (`cookie_max_age_days`), counted from when
//! JupyterHub signed it, and never when signed in the future (tornado allows
//! 31 days of clock skew; jhub allows none beyond a minute).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Clock skew tolerated for a timestamp from the future.
const FUTURE_SKEW_SECS: i64 = 60;

/// Splits `<len>:<field>|` off the front of `rest`.
fn field(rest: &str) -> Option<(&str, &str)> {
    let (len, tail) = rest.split_once(':')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: usize = len.parse().ok()?;
    let value = tail.get(..len)?;
    let after = tail.get(len..)?.strip_prefix('|')?;
    Some((value, after))
}

/// The `cookie_id` inside a JupyterHub (tornado v2) signed cookie named
/// `name`, if the signature verifies with `secret` and the value is younger
/// than `max_age_secs` at `now_secs`.
pub fn verify(secret: &[u8], name: &str, raw: &str, now_secs: i64, max_age_secs: i64) -> Option<String> {
    // Python's cookie module double-quotes values with `=` (base64 padding).
    let raw = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
    let rest = raw.strip_prefix("2|")?;
    let (_key_version, rest) = field(rest)?;
    let (timestamp, rest) = field(rest)?;
    let (cookie_name, rest) = field(rest)?;
    let (value, signature) = field(rest)?;
    let signed = raw.get(..raw.len() - signature.len())?;
    let expected = hex::decode(signature).ok()?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(signed.as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&expected).ok()?;
    if cookie_name != name {
        return None;
    }
    let issued: i64 = timestamp.parse().ok()?;
    if issued > now_secs.saturating_add(FUTURE_SKEW_SECS) || now_secs.saturating_sub(issued) > max_age_secs {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
    let cookie_id = String::from_utf8(decoded).ok()?;
    (!cookie_id.is_empty()).then_some(cookie_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signs like tornado's `create_signed_value(secret, name, value, version=2)`.
    fn sign(secret: &[u8], name: &str, value: &str, at: i64) -> String {
        let f = |s: &str| format!("{}:{s}", s.len());
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        let to_sign = format!("2|{}|{}|{}|{}|", f("0"), f(&at.to_string()), f(name), f(&encoded));
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(to_sign.as_bytes());
        format!("{to_sign}{}", hex::encode(mac.finalize().into_bytes()))
    }

    const NAME: &str = "jupyterhub-hub-login";
    const DAY: i64 = 86_400;

    #[test]
    fn accepts_a_valid_cookie_and_rejects_tampering() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let now = 1_800_000_000;
        let good = sign(secret, NAME, "3f2a9c", now - 10);
        assert_eq!(verify(secret, NAME, &good, now, 14 * DAY).as_deref(), Some("3f2a9c"));
        assert_eq!(verify(secret, NAME, &format!("\"{good}\""), now, 14 * DAY).as_deref(), Some("3f2a9c"));
        // Another secret, another cookie name, an old or future stamp, a flipped bit.
        assert_eq!(verify(b"another secret", NAME, &good, now, 14 * DAY), None);
        assert_eq!(verify(secret, NAME, &sign(secret, "other", "3f2a9c", now), now, 14 * DAY), None);
        assert_eq!(verify(secret, NAME, &sign(secret, NAME, "3f2a9c", now - 15 * DAY), now, 14 * DAY), None);
        assert_eq!(verify(secret, NAME, &sign(secret, NAME, "3f2a9c", now + DAY), now, 14 * DAY), None);
        let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        let tampered = good.replacen(&b64("3f2a9c"), &b64("3f2a9d"), 1);
        assert_ne!(tampered, good);
        assert_eq!(verify(secret, NAME, &tampered, now, 14 * DAY), None);
        assert_eq!(verify(secret, NAME, "garbage", now, 14 * DAY), None);
        assert_eq!(verify(secret, NAME, "2|1:0|999:x|", now, 14 * DAY), None);
    }
}
