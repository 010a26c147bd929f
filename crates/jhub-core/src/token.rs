//! API tokens in JupyterHub's storage format.
//!
//! A stored token is `sha512:<rounds>:<salt>:<hexdigest>`, where the digest is
//! one SHA-512 over the ASCII salt followed by the token bytes repeated
//! `rounds` times (JupyterHub `utils.hash_token`). Tokens the hub generates
//! use 1 round (they are 128 random bits); tokens supplied from outside
//! (config, services) use 16384. Lookup goes through the first four
//! characters, kept in an indexed `prefix` column, so no table is scanned.

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// Length of the indexed lookup prefix.
pub const PREFIX_LEN: usize = 4;
/// Rounds for tokens the hub generates.
pub const GENERATED_ROUNDS: u32 = 1;
/// Rounds for tokens supplied from outside the hub.
pub const SUPPLIED_ROUNDS: u32 = 16384;
/// JupyterHub 6.1 refuses longer tokens outright.
pub const MAX_TOKEN_LEN: usize = 64;
/// User-supplied tokens must be at least this long.
pub const MIN_SUPPLIED_LEN: usize = 8;

/// The operating system refused to give us randomness.
#[derive(Debug, thiserror::Error)]
#[error("no secure randomness available: {0}")]
pub struct RandomnessError(String);

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomnessError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| RandomnessError(e.to_string()))?;
    Ok(buf)
}

/// A new hub API token: 32 lowercase hex characters (like `uuid4().hex`, but
/// all 128 bits random).
pub fn new_token() -> Result<String, RandomnessError> {
    Ok(hex::encode(random_bytes::<16>()?))
}

/// `n` random characters from `[A-Za-z0-9]` (OAuth codes and access tokens).
pub fn random_alnum(n: usize) -> Result<String, RandomnessError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for byte in random_bytes::<32>()? {
            // Rejection sampling keeps the distribution uniform (62 * 4 = 248).
            if byte < 248 && out.len() < n {
                out.push(ALPHABET[usize::from(byte % 62)] as char);
            }
        }
    }
    Ok(out)
}

/// 8 random bytes as 16 hex characters, JupyterHub's salt.
pub fn new_salt() -> Result<String, RandomnessError> {
    Ok(hex::encode(random_bytes::<8>()?))
}

/// `sha512:<rounds>:<salt>:<hexdigest>` for `token`.
pub fn hash_token(token: &str, salt: &str, rounds: u32) -> String {
    format!("sha512:{rounds}:{salt}:{}", digest(token, salt, rounds))
}

/// Hashes with a fresh salt.
pub fn hash_new(token: &str, rounds: u32) -> Result<String, RandomnessError> {
    Ok(hash_token(token, &new_salt()?, rounds))
}

fn digest(token: &str, salt: &str, rounds: u32) -> String {
    let mut hasher = Sha512::new();
    hasher.update(salt.as_bytes());
    for _ in 0..rounds {
        hasher.update(token.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Checks `token` against a stored hash in constant time. Unknown algorithms
/// and malformed hashes never match.
pub fn verify_token(hashed: &str, token: &str) -> bool {
    let mut parts = hashed.splitn(4, ':');
    let (Some(algorithm), Some(rounds), Some(salt), Some(expected)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if algorithm != "sha512" {
        return false;
    }
    // Bound the work a corrupted row can cause.
    let Ok(rounds) = rounds.parse::<u32>() else { return false };
    if rounds == 0 || rounds > 1_000_000 {
        return false;
    }
    let actual = digest(token, salt, rounds);
    actual.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The indexed lookup prefix (first four characters).
pub fn prefix(token: &str) -> &str {
    match token.char_indices().nth(PREFIX_LEN) {
        Some((idx, _)) => &token[..idx],
        None => token,
    }
}

/// Whether a presented token is even worth looking up.
pub fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN
}

/// API token ids are exposed as `a<id>`.
pub fn format_token_id(id: i64) -> String {
    format!("a{id}")
}

/// Parses `a<id>`; anything else is not a token id.
pub fn parse_token_id(text: &str) -> Option<i64> {
    text.strip_prefix('a')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Digests computed with Python's hashlib exactly as JupyterHub 6.1.1 does.
    #[test]
    fn matches_jupyterhub_hash() {
        assert_eq!(
            hash_token("0123456789abcdef0123456789abcdef", "7f7040d9437e87fa", 1),
            "sha512:1:7f7040d9437e87fa:028ced86cfcf2a185244061868da49827334d7d01e2180d0e081f4d8af9abb60aea142844315dea5b8ba180a2f6d3b24daa3cb0a7a52ec9e42fa9c6b6034d42c"
        );
        let supplied = "sha512:16384:a1b2c3d4e5f60718:a1f00d21b7d6c4f1e68cfc944c042abb373090a8ea352148ab7594c87b3b303dadd416560c5e7e363ccffbd8f84551721b7ef64fe5235fc8e43dfb2e63747fdc";
        assert!(verify_token(supplied, "svc-secret-token-from-config"));
        assert!(!verify_token(supplied, "svc-secret-token-from-confiG"));
    }

    #[test]
    fn rejects_malformed_hashes() {
        assert!(!verify_token("", "x"));
        assert!(!verify_token("md5:1:aa:bb", "x"));
        assert!(!verify_token("sha512:zero:aa:bb", "x"));
        assert!(!verify_token("sha512:0:aa:bb", "x"));
    }

    #[test]
    fn new_tokens_round_trip() {
        let token = new_token().unwrap();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let hashed = hash_new(&token, GENERATED_ROUNDS).unwrap();
        assert!(hashed.starts_with("sha512:1:"));
        assert!(verify_token(&hashed, &token));
        assert_ne!(new_token().unwrap(), token);
        let code = random_alnum(30).unwrap();
        assert_eq!(code.len(), 30);
        assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn prefixes_and_ids() {
        assert_eq!(prefix("abcdef"), "abcd");
        assert_eq!(prefix("ab"), "ab");
        assert_eq!(prefix("日本語です"), "日本語で");
        assert_eq!(format_token_id(7), "a7");
        assert_eq!(parse_token_id("a7"), Some(7));
        assert_eq!(parse_token_id("7"), None);
        assert_eq!(parse_token_id("ax"), None);
        assert!(!plausible(&"x".repeat(65)));
    }
}
