//! auth_state encryption against tokens made by Python's `cryptography`
//! (Fernet/MultiFernet) with keys decoded the way JupyterHub does
//! (`data/fernet_vectors.json`; regenerate with the script in its
//! `generated_by` note).

use jhub_auth::{CryptError, CryptKeeper};
use jhub_core::Timestamp;
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let text = include_str!("data/fernet_vectors.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

#[test]
fn python_tokens_decrypt() {
    let all = vectors();
    assert_eq!(all.len(), 5);
    for vector in all {
        let keeper = CryptKeeper::from_env_value(vector["crypt_key"].as_str().unwrap()).unwrap();
        let token = vector["token"].as_str().unwrap();
        assert_eq!(keeper.decrypt(token.as_bytes()).unwrap(), vector["plaintext"], "{}", vector["comment"]);
    }
}

#[test]
fn rotation_old_key_decrypts_new_key_encrypts() {
    let all = vectors();
    let rotation = &all[3];
    let both = CryptKeeper::from_env_value(rotation["crypt_key"].as_str().unwrap()).unwrap();
    let (new_key, old_key) = rotation["crypt_key"].as_str().unwrap().split_once(';').unwrap();
    let old_only = CryptKeeper::from_env_value(old_key).unwrap();
    let new_only = CryptKeeper::from_env_value(new_key).unwrap();
    let python_token = rotation["token"].as_str().unwrap().as_bytes();
    assert!(both.decrypt(python_token).is_ok());
    assert!(old_only.decrypt(python_token).is_ok());
    assert_eq!(new_only.decrypt(python_token), Err(CryptError::InvalidToken));

    let ours = both.encrypt(&rotation["plaintext"], Timestamp::from_second(1_700_000_000).unwrap()).unwrap();
    assert_eq!(new_only.decrypt(&ours).unwrap(), rotation["plaintext"]);
    assert_eq!(old_only.decrypt(&ours), Err(CryptError::InvalidToken));
}

#[test]
fn ciphertext_does_not_contain_the_token() {
    let vector = &vectors()[0];
    let keeper = CryptKeeper::from_env_value(vector["crypt_key"].as_str().unwrap()).unwrap();
    let ours = keeper.encrypt(&vector["plaintext"], Timestamp::from_second(1_700_000_000).unwrap()).unwrap();
    let text = String::from_utf8(ours).unwrap();
    assert!(text.starts_with("gAAAAA"));
    assert!(!text.contains("glat-dave-secret") && !vector["token"].as_str().unwrap().contains("glat-dave-secret"));
}

#[test]
fn bad_key_strings_are_rejected_clearly() {
    let err = CryptKeeper::from_env_value("not-a-key").unwrap_err();
    assert_eq!(
        err.to_string(),
        "JUPYTERHUB_CRYPT_KEY key #1 is not valid: 9 characters that are neither 64 hex digits nor 32-byte base64; \
each key must be 32 bytes given as 64 hex characters or base64 (44 characters with padding, urlsafe or standard)"
    );
    let short_hex = "ab".repeat(20);
    let err = CryptKeeper::from_env_value(&format!("{};{short_hex}", "cd".repeat(32))).unwrap_err();
    assert!(matches!(err, CryptError::InvalidKey { position: 2, .. }), "{err:?}");
    assert!(!err.to_string().contains(&short_hex));
    assert_eq!(
        CryptKeeper::disabled().encrypt(&Value::Null, Timestamp::from_second(0).unwrap()),
        Err(CryptError::NoKey)
    );
}
