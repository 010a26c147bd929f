//! auth_state encryption with JupyterHub's `JUPYTERHUB_CRYPT_KEY` semantics
//! (jupyterhub `crypto.py`, auth-culler-proxy §1.11): `;`-separated 32-byte
//! keys forming a MultiFernet (the first key encrypts, every key decrypts),
//! plaintext = JSON in UTF-8, ciphertext = standard Fernet tokens, so a
//! database written by JupyterHub can be read and vice versa.
//!
//! Fernet (spec: github.com/fernet/spec): `0x80 ‖ timestamp (u64 BE) ‖ IV
//! (16) ‖ AES-128-CBC/PKCS7 ciphertext ‖ HMAC-SHA256 (32)` over everything
//! before the MAC, urlsafe base64 with padding. A Fernet key is 32 bytes:
//! the first 16 sign, the last 16 encrypt. JupyterHub sets no TTL, so the
//! timestamp is written but never checked.

use aes::Aes128;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use jhub_core::Timestamp;
use serde_json::Value;
use sha2::Sha256;
use std::fmt;

/// The environment variable JupyterHub reads the keys from.
pub const CRYPT_KEY_ENV: &str = "JUPYTERHUB_CRYPT_KEY";

const VERSION: u8 = 0x80;
const HEADER: usize = 1 + 8 + 16;
const MAC_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why keys, encryption or decryption failed. Never contains key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptError {
    /// Encryption was asked for with no key configured.
    #[error(
        "encryption is not available: {CRYPT_KEY_ENV} is not set (it needs one or more 32-byte keys, e.g. `openssl rand -hex 32`)"
    )]
    NoKey,
    #[error(
        "{CRYPT_KEY_ENV} key #{position} is not valid: {reason}; each key must be 32 bytes given as 64 hex characters or base64 (44 characters with padding, urlsafe or standard)"
    )]
    InvalidKey { position: usize, reason: String },
    #[error("cannot get random bytes from the operating system")]
    Random,
    /// Not a Fernet token of any configured key (wrong key, tampered, truncated).
    #[error("auth state cannot be decrypted with any configured key")]
    InvalidToken,
    #[error("internal cipher error")]
    Cipher,
    #[error("decrypted auth state is not JSON: {0}")]
    NotJson(String),
}

struct FernetKey {
    signing: [u8; 16],
    encryption: [u8; 16],
}

/// The configured keys. `Debug` shows only how many there are.
pub struct CryptKeeper {
    keys: Vec<FernetKey>,
}

impl fmt::Debug for CryptKeeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptKeeper").field("keys", &self.keys.len()).finish()
    }
}

impl CryptKeeper {
    /// No keys: [`CryptKeeper::encrypt`] fails with [`CryptError::NoKey`].
    pub fn disabled() -> Self {
        Self { keys: Vec::new() }
    }

    /// Parses the value of `JUPYTERHUB_CRYPT_KEY`: keys separated by `;`,
    /// empty entries ignored, surrounding whitespace trimmed. Each key is 64
    /// hex characters, or base64 of 32 bytes (urlsafe or standard alphabet,
    /// with or without padding), or (as JupyterHub accepts) exactly 32 raw
    /// ASCII characters. An empty value gives a disabled keeper.
    pub fn from_env_value(value: &str) -> Result<Self, CryptError> {
        let mut keys = Vec::new();
        for (index, entry) in value.split(';').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let raw = parse_key(entry).map_err(|reason| CryptError::InvalidKey { position: index + 1, reason })?;
            let mut signing = [0u8; 16];
            let mut encryption = [0u8; 16];
            signing.copy_from_slice(&raw[..16]);
            encryption.copy_from_slice(&raw[16..]);
            keys.push(FernetKey { signing, encryption });
        }
        Ok(Self { keys })
    }

    pub fn is_enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Encrypts `json.dumps(value)` with the first key; returns the Fernet
    /// token as ASCII bytes (what JupyterHub stores in
    /// `users.encrypted_auth_state`). `now` is the token timestamp.
    pub fn encrypt(&self, value: &Value, now: Timestamp) -> Result<Vec<u8>, CryptError> {
        let plaintext = serde_json::to_vec(value).map_err(|e| CryptError::NotJson(e.to_string()))?;
        self.encrypt_bytes(&plaintext, now)
    }

    /// Decrypts a token made by any configured key and parses the JSON.
    pub fn decrypt(&self, token: &[u8]) -> Result<Value, CryptError> {
        let plaintext = self.decrypt_bytes(token)?;
        serde_json::from_slice(&plaintext).map_err(|e| CryptError::NotJson(e.to_string()))
    }

    /// Fernet-encrypts raw bytes with the first key.
    pub fn encrypt_bytes(&self, plaintext: &[u8], now: Timestamp) -> Result<Vec<u8>, CryptError> {
        let key = self.keys.first().ok_or(CryptError::NoKey)?;
        let mut iv = [0u8; 16];
        getrandom::fill(&mut iv).map_err(|_| CryptError::Random)?;
        seal(key, plaintext, u64::try_from(now.as_second()).unwrap_or(0), &iv)
    }

    /// Decrypts raw bytes, trying each key in order (MultiFernet).
    pub fn decrypt_bytes(&self, token: &[u8]) -> Result<Vec<u8>, CryptError> {
        if self.keys.is_empty() {
            return Err(CryptError::NoKey);
        }
        let text = std::str::from_utf8(token).map_err(|_| CryptError::InvalidToken)?.trim();
        let data = URL_SAFE.decode(text).map_err(|_| CryptError::InvalidToken)?;
        if data.len() < HEADER + 16 + MAC_LEN
            || data[0] != VERSION
            || !(data.len() - HEADER - MAC_LEN).is_multiple_of(16)
        {
            return Err(CryptError::InvalidToken);
        }
        self.keys.iter().find_map(|key| open(key, &data)).ok_or(CryptError::InvalidToken)
    }
}

/// Decodes one key as JupyterHub's `_validate_key` does, a little more
/// leniently (whitespace, unpadded base64).
fn parse_key(entry: &str) -> Result<Vec<u8>, String> {
    let length = entry.chars().count();
    let decoded = if length == 64 && entry.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex_decode(entry)
    } else if length == 43 || length == 44 {
        let standard: String = entry
            .chars()
            .map(|c| {
                if c == '-' {
                    '+'
                } else if c == '_' {
                    '/'
                } else {
                    c
                }
            })
            .collect();
        let unpadded = standard.trim_end_matches('=');
        STANDARD_NO_PAD.decode(unpadded).or_else(|_| STANDARD.decode(&standard)).ok()
    } else if entry.len() == 32 && entry.is_ascii() {
        Some(entry.as_bytes().to_vec())
    } else {
        None
    };
    match decoded {
        Some(bytes) if bytes.len() == 32 => Ok(bytes),
        Some(bytes) => Err(format!("it decodes to {} bytes", bytes.len())),
        None => Err(format!("{length} characters that are neither 64 hex digits nor 32-byte base64")),
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let nibble = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    bytes.chunks(2).map(|pair| Some(nibble(*pair.first()?)? << 4 | nibble(*pair.get(1)?)?)).collect()
}

fn mac(key: &FernetKey) -> Result<HmacSha256, CryptError> {
    <HmacSha256 as KeyInit>::new_from_slice(&key.signing).map_err(|_| CryptError::Cipher)
}

fn seal(key: &FernetKey, plaintext: &[u8], timestamp: u64, iv: &[u8; 16]) -> Result<Vec<u8>, CryptError> {
    // Room for a full padding block, which PKCS7 may add.
    let mut buffer = vec![0u8; plaintext.len() + 16];
    buffer[..plaintext.len()].copy_from_slice(plaintext);
    let encryptor = cbc::Encryptor::<Aes128>::new(&key.encryption.into(), iv.into());
    let ciphertext_len =
        encryptor.encrypt_padded_mut::<Pkcs7>(&mut buffer, plaintext.len()).map_err(|_| CryptError::Cipher)?.len();
    buffer.truncate(ciphertext_len);

    let mut token = Vec::with_capacity(HEADER + buffer.len() + MAC_LEN);
    token.push(VERSION);
    token.extend_from_slice(&timestamp.to_be_bytes());
    token.extend_from_slice(iv);
    token.extend_from_slice(&buffer);
    let mut signer = mac(key)?;
    signer.update(&token);
    token.extend_from_slice(&signer.finalize().into_bytes());
    Ok(URL_SAFE.encode(token).into_bytes())
}

fn open(key: &FernetKey, data: &[u8]) -> Option<Vec<u8>> {
    let (signed, tag) = data.split_at(data.len() - MAC_LEN);
    let mut verifier = mac(key).ok()?;
    verifier.update(signed);
    verifier.verify_slice(tag).ok()?;
    let iv: [u8; 16] = signed.get(9..HEADER)?.try_into().ok()?;
    let mut buffer = signed.get(HEADER..)?.to_vec();
    let decryptor = cbc::Decryptor::<Aes128>::new(&key.encryption.into(), &iv.into());
    decryptor.decrypt_padded_mut::<Pkcs7>(&mut buffer).ok().map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }

    const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn known_answer_from_the_fernet_spec() {
        // github.com/fernet/spec generate.json
        let keeper = CryptKeeper::from_env_value("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=").unwrap();
        let key = &keeper.keys[0];
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let token = seal(key, b"hello", 499_162_800, &iv).unwrap();
        assert_eq!(
            String::from_utf8(token).unwrap(),
            "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="
        );
    }

    #[test]
    fn round_trip_and_ciphertext_hides_the_plaintext() {
        let keeper = CryptKeeper::from_env_value(HEX_KEY).unwrap();
        let state = json!({"access_token": "glat-secret-value", "refresh_token": "glrt-x"});
        let token = keeper.encrypt(&state, now()).unwrap();
        assert!(token.starts_with(b"gAAAAA"));
        let text = String::from_utf8(token.clone()).unwrap();
        assert!(!text.contains("glat-secret-value"));
        assert_eq!(keeper.decrypt(&token).unwrap(), state);
    }

    #[test]
    fn tampering_is_detected() {
        let keeper = CryptKeeper::from_env_value(HEX_KEY).unwrap();
        let token = keeper.encrypt(&json!({"a": 1}), now()).unwrap();
        let mut raw = URL_SAFE.decode(&token).unwrap();
        raw[HEADER] ^= 1;
        assert_eq!(keeper.decrypt(URL_SAFE.encode(raw).as_bytes()), Err(CryptError::InvalidToken));
        assert_eq!(keeper.decrypt(b"gAAAAA"), Err(CryptError::InvalidToken));
        assert_eq!(keeper.decrypt(b"\xff\xfe"), Err(CryptError::InvalidToken));
    }

    #[test]
    fn multifernet_rotation() {
        let old = CryptKeeper::from_env_value(HEX_KEY).unwrap();
        let new_key = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
        let rotated = CryptKeeper::from_env_value(&format!("{new_key};{HEX_KEY}")).unwrap();
        assert_eq!(rotated.key_count(), 2);
        let old_token = old.encrypt(&json!({"v": "old"}), now()).unwrap();
        assert_eq!(rotated.decrypt(&old_token).unwrap(), json!({"v": "old"}), "old key still decrypts");
        let new_token = rotated.encrypt(&json!({"v": "new"}), now()).unwrap();
        assert_eq!(old.decrypt(&new_token), Err(CryptError::InvalidToken), "the first key encrypts");
        let only_new = CryptKeeper::from_env_value(new_key).unwrap();
        assert_eq!(only_new.decrypt(&new_token).unwrap(), json!({"v": "new"}));
    }

    #[test]
    fn key_formats() {
        let standard = STANDARD.encode([7u8; 32]);
        let urlsafe = URL_SAFE.encode([0xfbu8; 32]);
        assert!(urlsafe.contains('_') || urlsafe.contains('-'));
        let unpadded = standard.trim_end_matches('=').to_string();
        for value in [HEX_KEY.to_uppercase(), standard, urlsafe, unpadded, "a".repeat(32), format!(" {HEX_KEY} ;; ")] {
            let keeper = CryptKeeper::from_env_value(&value).unwrap();
            assert_eq!(keeper.key_count(), 1, "{value}");
        }
        let disabled = CryptKeeper::from_env_value("  ").unwrap();
        assert!(!disabled.is_enabled());
        assert_eq!(disabled.encrypt(&json!({}), now()), Err(CryptError::NoKey));
    }

    #[test]
    fn bad_keys_are_rejected_with_position_and_without_echoing_them() {
        let cases = [
            ("tooshort", 1, "8 characters"),
            (&format!("{HEX_KEY};{}", "z".repeat(64)) as &str, 2, "64 characters"),
            (&STANDARD.encode([1u8; 33]), 1, "decodes to 33 bytes"),
            (&"é".repeat(32), 1, "32 characters"),
        ];
        for (value, position, reason) in cases {
            let err = CryptKeeper::from_env_value(value).unwrap_err();
            let CryptError::InvalidKey { position: got, .. } = &err else { panic!("{err:?}") };
            assert_eq!(*got, position, "{value}");
            let message = err.to_string();
            assert!(message.contains(reason), "{message}");
            assert!(message.contains("JUPYTERHUB_CRYPT_KEY key #"), "{message}");
            assert!(!message.contains("zzzz") && !message.contains("tooshort"), "{message}");
        }
    }
}
