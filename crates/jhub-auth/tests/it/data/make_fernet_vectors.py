"""Regenerates fernet_vectors.json with Python's `cryptography` (Fernet,
MultiFernet), decoding keys as JupyterHub's crypto.py does. Tokens carry a
random IV and the current time, so every run gives new (equally valid) tokens.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install cryptography
    /tmp/v/bin/python make_fernet_vectors.py
"""
import base64
import binascii
import json

import cryptography
from cryptography.fernet import Fernet, MultiFernet

HEX_KEY = "3f1c9a7e5b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60"
B64_KEY = "qVQHNmmMdmbPzS8K2R2bv1kGLA4cFkTq0zZx5aN3mOY="
STD_KEY = base64.b64encode(bytes(range(200, 232))).decode()  # has '+' and '/'


def fernet(raw):
    return Fernet(base64.urlsafe_b64encode(raw))


hex_raw = binascii.a2b_hex(HEX_KEY)
b64_raw = base64.urlsafe_b64decode(B64_KEY)
std_raw = base64.b64decode(STD_KEY)
state = {
    "access_token": "glat-dave-secret", "refresh_token": "glrt-dave", "id_token": None, "scope": ["read_user"],
    "token_response": {"access_token": "glat-dave-secret", "token_type": "Bearer", "expires_in": 7200,
                       "refresh_token": "glrt-dave", "scope": "read_user", "created_at": 1700000000},
    "gitlab_user": {"id": 103, "username": "dave", "name": "Dav\u00e9 \u2603", "state": "active"},
}
plain = json.dumps(state).encode("utf8")
rotated = MultiFernet([fernet(b64_raw), fernet(hex_raw)])
vectors = [
    {"comment": "hex key (openssl rand -hex 32)", "crypt_key": HEX_KEY,
     "token": fernet(hex_raw).encrypt(plain).decode(), "plaintext": state},
    {"comment": "urlsafe base64 key (Fernet.generate_key())", "crypt_key": B64_KEY,
     "token": fernet(b64_raw).encrypt(plain).decode(), "plaintext": state},
    {"comment": "standard-alphabet base64 key", "crypt_key": STD_KEY,
     "token": fernet(std_raw).encrypt(plain).decode(), "plaintext": state},
    {"comment": "rotation: token made with the OLD (second) key, read with 'new;old'",
     "crypt_key": B64_KEY + ";" + HEX_KEY, "token": fernet(hex_raw).encrypt(plain).decode(), "plaintext": state},
    {"comment": "MultiFernet encrypts with the first key", "crypt_key": B64_KEY + ";" + HEX_KEY,
     "token": rotated.encrypt(b'{"v": 1}').decode(), "plaintext": {"v": 1}},
]
doc = {
    "generated_by": "python3 cryptography %s (Fernet/MultiFernet), keys decoded as jupyterhub crypto.py _validate_key does; script: make_fernet_vectors.py" % cryptography.__version__,
    "vectors": vectors,
}
with open("fernet_vectors.json", "w") as out:
    json.dump(doc, out, indent=1, ensure_ascii=False)
