"""NATS's decentralised security: nkeys and the JWTs an operator, its accounts and their users carry.

A NATS server in operator mode knows no user: it trusts the operator's public key, learns account
JWTs (signed by the operator or one of its signing keys) from its resolver, and admits a client that
presents a user JWT signed by the account (or one of the account's signing keys). MQTT clients send
the user JWT as their password; the JWT then carries `bearer_token`, since MQTT has no way to sign
the server's nonce. The claims follow NATS's JWT version 2 (`nats-io/jwt`), which Debian's
nats-server 2.9 reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import nkeys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
UNLIMITED = -1
NATS_LIMITS = {"subs": UNLIMITED, "data": UNLIMITED, "payload": UNLIMITED}
ACCOUNT_LIMITS = {**NATS_LIMITS, "imports": UNLIMITED, "exports": UNLIMITED, "wildcards": True,
                  "conn": UNLIMITED, "leaf": UNLIMITED}
JETSTREAM_LIMITS = {"mem_storage": UNLIMITED, "disk_storage": UNLIMITED, "streams": UNLIMITED,
                    "consumer": UNLIMITED}
NOTHING = ">"  # denied for a direction with no subject: an empty allow list allows every subject

KEY_PREFIXES = {"operator": nkeys.PREFIX_BYTE_OPERATOR, "account": nkeys.PREFIX_BYTE_ACCOUNT,
                "user": nkeys.PREFIX_BYTE_USER}


def new_seed(kind: str) -> str:
    """A new nkey seed ('SO...', 'SA...' or 'SU...') for an operator, account or user."""
    return derived_seed(kind, secrets.token_bytes(32))


def derived_seed(kind: str, raw: bytes) -> str:
    """The nkey seed of kind whose private key is the 32 bytes raw."""
    return str(nkeys.encode_seed(raw[:32], KEY_PREFIXES[kind]).decode())


def derive_user_seed(secret_seed: str, label: str) -> str:
    """A user seed that is always the same for label under one secret: a device keeps one user key
    for its whole life, so revoking that key's older JWTs by time needs one entry per device."""
    return derived_seed("user", hmac.digest(secret_seed.encode(), label.encode(), hashlib.sha256))


def public_key(seed: str) -> str:
    """The public key ('O...', 'A...' or 'U...') of a seed."""
    return str(nkeys.from_seed(seed.encode()).public_key.decode())


def _verifier(public: str) -> Ed25519PublicKey:
    """The Ed25519 key of an nkey public key: base32 of a prefix byte, 32 key bytes and a CRC."""
    raw = base64.b32decode(public + "=" * (-len(public) % 8))
    if len(raw) != 35:
        raise binascii.Error(f"{public[:8]}... is not a public nkey")
    return Ed25519PublicKey.from_public_bytes(raw[1:33])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], signer_seed: str, issued_at: int | None = None,
           expires_at: int | None = None) -> str:
    """Sign claims (given without `iss`, `iat`, `exp` or `jti`) with signer_seed as a NATS JWT, valid
    until expires_at when given (the nodes refuse it after, and close a connection made with it)."""
    issued_at = int(time.time()) if issued_at is None else issued_at
    body = {**claims, "iss": public_key(signer_seed), "iat": issued_at}
    if expires_at is not None:
        body["exp"] = expires_at
    body["jti"] = ""
    digest = hashlib.sha512(json.dumps(body, sort_keys=True).encode()).digest()[:32]
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    signing_input = f"{_b64(json.dumps(HEADER).encode())}.{_b64(json.dumps(body).encode())}"
    signature = nkeys.from_seed(signer_seed.encode()).sign(signing_input.encode())
    return f"{signing_input}.{_b64(signature)}"


def decode_claims(token: str, trusted_issuers: set[str]) -> dict[str, Any]:
    """The claims of token after checking its signature by one of trusted_issuers; ValueError if not."""
    try:
        header, body, signature = token.split(".")
        claims: dict[str, Any] = json.loads(_unb64(body))
        issuer = str(claims["iss"])
        if issuer not in trusted_issuers:
            raise ValueError(f"issuer {issuer} not trusted")
        _verifier(issuer).verify(_unb64(signature), f"{header}.{body}".encode())
    except (KeyError, TypeError, binascii.Error, InvalidSignature) as exc:
        raise ValueError(f"not a valid NATS JWT: {exc}") from None
    return claims


def operator_claims(name: str, operator_public: str, system_account: str,
                    signing_keys: list[str]) -> dict[str, Any]:
    """An operator naming its system account and the keys that may sign accounts for it."""
    return {"sub": operator_public, "name": name,
            "nats": {"system_account": system_account, "signing_keys": signing_keys, "type": "operator",
                     "version": 2}}


def account_claims(name: str, account_public: str, signing_keys: list[str], jetstream: bool,
                   revocations: dict[str, int] | None = None) -> dict[str, Any]:
    """An account, its user-signing keys, JetStream (which MQTT needs) and the user keys whose JWTs
    issued at or before a time are refused."""
    limits = {**ACCOUNT_LIMITS, **(JETSTREAM_LIMITS if jetstream else {})}
    nats: dict[str, Any] = {"limits": limits, "signing_keys": signing_keys,
                            "default_permissions": {"pub": {}, "sub": {}}, "type": "account", "version": 2}
    if revocations:
        nats["revocations"] = dict(sorted(revocations.items()))
    return {"sub": account_public, "name": name, "nats": nats}


def user_claims(name: str, user_public: str, publish: list[str], subscribe: list[str], mqtt_only: bool,
                bearer: bool, issuer_account: str | None = None) -> dict[str, Any]:
    """A user allowed exactly the subjects given (nothing in a direction left empty)."""
    nats: dict[str, Any] = {
        "pub": {"allow": publish} if publish else {"deny": [NOTHING]},
        "sub": {"allow": subscribe} if subscribe else {"deny": [NOTHING]},
        **NATS_LIMITS, "bearer_token": bearer, "type": "user", "version": 2,
    }
    if issuer_account is not None:  # signed by one of the account's signing keys, not the account
        nats["issuer_account"] = issuer_account
    if mqtt_only:
        nats["allowed_connection_types"] = ["MQTT"]
    return {"sub": user_public, "name": name, "nats": nats}


def creds_file(user_jwt: str, user_seed: str) -> str:
    """The `.creds` text a NATS client (nats-py's user_credentials) reads: the JWT and its seed."""
    return (f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{user_seed}\n------END USER NKEY SEED------\n")
