"""NATS JWTs as the controller signs them: readable by their trusted issuer only."""

from __future__ import annotations

import base64
import json

import pytest

from controller.broker_accounts import nats_jwt

pytestmark = pytest.mark.unit


def _claims(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def test_keys_carry_their_kind() -> None:
    assert nats_jwt.public_key(nats_jwt.new_seed("operator")).startswith("O")
    assert nats_jwt.public_key(nats_jwt.new_seed("account")).startswith("A")
    assert nats_jwt.public_key(nats_jwt.new_seed("user")).startswith("U")


def test_a_derived_user_key_is_the_same_for_a_label_and_differs_between_labels() -> None:
    secret = nats_jwt.new_seed("account")
    assert nats_jwt.derive_user_seed(secret, "device:d1") == nats_jwt.derive_user_seed(secret, "device:d1")
    assert nats_jwt.derive_user_seed(secret, "device:d1") != nats_jwt.derive_user_seed(secret, "device:d2")
    assert nats_jwt.derive_user_seed(nats_jwt.new_seed("account"), "device:d1") != \
        nats_jwt.derive_user_seed(secret, "device:d1")


def test_a_signed_jwt_reads_back_with_its_issuer_and_time() -> None:
    signer = nats_jwt.new_seed("account")
    user = nats_jwt.public_key(nats_jwt.new_seed("user"))
    claims = nats_jwt.user_claims("dev-d1", user, ["loa.v1.dev.d1.status"], [], mqtt_only=True, bearer=True)
    token = nats_jwt.encode(claims, signer, issued_at=1_700_000_000)
    read = nats_jwt.decode_claims(token, {nats_jwt.public_key(signer)})
    assert read["sub"] == user and read["iat"] == 1_700_000_000
    assert read["nats"]["bearer_token"] is True
    assert read["nats"]["sub"] == {"deny": [">"]}  # no topic: nothing, never everything
    assert read["nats"]["allowed_connection_types"] == ["MQTT"]
    assert len(str(read["jti"])) == 52


def test_a_jwt_of_an_untrusted_issuer_or_altered_is_refused() -> None:
    signer = nats_jwt.new_seed("account")
    token = nats_jwt.encode(nats_jwt.account_claims("LOA", nats_jwt.public_key(signer), [], True), signer)
    with pytest.raises(ValueError, match="not trusted"):
        nats_jwt.decode_claims(token, {nats_jwt.public_key(nats_jwt.new_seed("account"))})
    header, _body, signature = token.split(".")
    claims = _claims(token)
    claims["name"] = "OTHER"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(ValueError, match="not a valid"):
        nats_jwt.decode_claims(f"{header}.{forged_body}.{signature}", {nats_jwt.public_key(signer)})


def test_an_account_lists_its_revocations_and_jetstream() -> None:
    account = nats_jwt.new_seed("account")
    claims = nats_jwt.account_claims("LOA", nats_jwt.public_key(account), [], True, {"UB": 2, "UA": 1})
    assert claims["nats"]["revocations"] == {"UA": 1, "UB": 2}
    assert claims["nats"]["limits"]["disk_storage"] == -1
    assert "disk_storage" not in nats_jwt.account_claims("SYS", "A", [], False)["nats"]["limits"]
