"""The keys and JWTs of a NATS broker in operator mode, made once by `radio-controller nats-init`.

Three folders, each for whoever needs it and no more:

- `server/trust.conf`, included by every node: the operator's JWT, the system account and the two
  account JWTs the nodes start with (later versions reach them through the resolver).
- `controller/`: what the controller signs with. The operator's signing key (to sign the devices'
  account again when a device's older logins are revoked), the account's signing key (to sign a
  login for each device), the system user's credentials (to hand a new account JWT to the nodes)
  and the controller's own MQTT login.
- `offline/`: the operator's and the accounts' identity seeds. Nothing running needs them; they sign
  new signing keys if one ever leaks. Keep them off the servers, as the root control key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from loalang_protocol import topics
from loalang_protocol.files import write_atomic

from . import nats_jwt
from .nats_subjects import MQTT_DELIVERY_SUBJECTS, topic_subjects

OPERATOR_NAME = "loalang"
ACCOUNT_NAME = "LOA"  # the controller and the devices: MQTT's streams belong to one account
SYSTEM_ACCOUNT_NAME = "SYS"
SYSTEM_USER_SUBJECTS = ("$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE", "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP")
INBOX = "_INBOX.>"
TRUST_FILE = "trust.json"


@dataclass(frozen=True)
class ControllerTrust:
    """The controller's part: signing seeds, public keys and where its system credentials are."""

    folder: Path
    operator_public: str
    operator_signing_seed: str
    account_public: str
    account_signing_seed: str
    system_account_public: str

    @property
    def system_creds(self) -> Path:
        """The system user's credentials (nats-py's user_credentials)."""
        return self.folder / "system.creds"

    def account_jwt(self, revocations: dict[str, int], issued_at: int | None = None) -> str:
        """The devices' account, signed again with the given revocations."""
        claims = nats_jwt.account_claims(ACCOUNT_NAME, self.account_public,
                                         [nats_jwt.public_key(self.account_signing_seed)], True, revocations)
        return nats_jwt.encode(claims, self.operator_signing_seed, issued_at)

    def trusted_account_issuers(self) -> set[str]:
        """Who may sign the devices' account: the operator and its signing key."""
        return {self.operator_public, nats_jwt.public_key(self.operator_signing_seed)}

    @classmethod
    def load(cls, folder: Path) -> ControllerTrust:
        """Read the controller's folder written by make_trust."""
        keys = json.loads((folder / TRUST_FILE).read_text())
        return cls(folder=folder, operator_public=keys["operator"], account_public=keys["account"],
                   system_account_public=keys["system_account"],
                   operator_signing_seed=(folder / "operator-signing.seed").read_text().strip(),
                   account_signing_seed=(folder / "account-signing.seed").read_text().strip())


def mqtt_login(account_signing_seed: str, account_public: str, key_label: str, name: str,
               publish: list[str], subscribe: list[str], issued_at: int | None = None,
               expires_at: int | None = None) -> str:
    """A bearer login of the devices' account for MQTT only, with the user key derived from
    key_label (the same key for the same label) and exactly these subjects."""
    seed = nats_jwt.derive_user_seed(account_signing_seed, key_label)
    claims = nats_jwt.user_claims(name, nats_jwt.public_key(seed), publish, subscribe, mqtt_only=True,
                                  bearer=True, issuer_account=account_public)
    return nats_jwt.encode(claims, account_signing_seed, issued_at, expires_at)


def controller_login(account_signing_seed: str, account_public: str, username: str) -> str:
    """The controller's own MQTT login: every protocol topic, on MQTT only."""
    subjects = topic_subjects(f"{topics.PREFIX}/#")
    return mqtt_login(account_signing_seed, account_public, f"controller:{username}", username, subjects,
                      [*subjects, MQTT_DELIVERY_SUBJECTS])


def make_trust(folder: Path, controller_username: str) -> None:
    """Write a new operator, its system and devices' accounts and the controller's keys under folder
    (server/, controller/, offline/). Refuses to replace an existing set."""
    if (folder / "controller" / TRUST_FILE).exists():
        raise FileExistsError(f"{folder} already holds a NATS trust set")
    seeds = {name: nats_jwt.new_seed("operator") for name in ("operator", "operator-signing")}
    seeds |= {name: nats_jwt.new_seed("account") for name in ("account", "account-signing", "system-account")}
    public = {name: nats_jwt.public_key(seed) for name, seed in seeds.items()}
    operator_jwt = nats_jwt.encode(nats_jwt.operator_claims(
        OPERATOR_NAME, public["operator"], public["system-account"], [public["operator-signing"]]),
        seeds["operator"])
    system_jwt = nats_jwt.encode(nats_jwt.account_claims(
        SYSTEM_ACCOUNT_NAME, public["system-account"], [], jetstream=False), seeds["operator-signing"])
    trust = ControllerTrust(folder / "controller", public["operator"], seeds["operator-signing"],
                            public["account"], seeds["account-signing"], public["system-account"])
    account_jwt = trust.account_jwt({})
    _write_server(folder / "server", operator_jwt, {public["system-account"]: system_jwt,
                                                    public["account"]: account_jwt}, public["system-account"])
    _write_controller(trust, seeds["system-account"], controller_username)
    for name in ("operator", "account", "system-account"):
        write_atomic(folder / "offline" / f"{name}.seed", seeds[name].encode() + b"\n")


def _write_server(folder: Path, operator_jwt: str, accounts: dict[str, str], system_account: str) -> None:
    preload = "\n".join(f"  {public}: {json.dumps(token)}" for public, token in accounts.items())
    text = (f"# Written by radio-controller nats-init: the operator every node trusts.\n"
            f"operator: {json.dumps(operator_jwt)}\nsystem_account: {system_account}\n"
            f"resolver_preload: {{\n{preload}\n}}\n")
    write_atomic(folder / "trust.conf", text.encode(), mode=0o644)


def _write_controller(trust: ControllerTrust, system_account_seed: str, controller_username: str) -> None:
    folder = trust.folder
    write_atomic(folder / "operator-signing.seed", trust.operator_signing_seed.encode() + b"\n")
    write_atomic(folder / "account-signing.seed", trust.account_signing_seed.encode() + b"\n")
    user_seed = nats_jwt.new_seed("user")
    system_user = nats_jwt.encode(nats_jwt.user_claims(
        "loalang-controller-system", nats_jwt.public_key(user_seed), list(SYSTEM_USER_SUBJECTS), [INBOX],
        mqtt_only=False, bearer=False), system_account_seed)
    write_atomic(folder / "system.creds", nats_jwt.creds_file(system_user, user_seed).encode())
    login = controller_login(trust.account_signing_seed, trust.account_public, controller_username)
    write_atomic(folder / "controller.jwt", login.encode() + b"\n")
    keys = {"operator": trust.operator_public, "account": trust.account_public,
            "system_account": trust.system_account_public}
    write_atomic(folder / TRUST_FILE, json.dumps(keys, indent=2).encode() + b"\n", mode=0o644)
