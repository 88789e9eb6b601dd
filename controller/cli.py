"""`radio-controller`: serve the API, manage keys, initialise the broker's account file, import the
areas' outlines for the map."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .releases import cli as release_commands

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger("controller")


def _settings() -> Settings:
    from .settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        sys.exit("configuration error:\n" + "\n".join(_error_line(error) for error in exc.errors()))


def _error_line(error: ErrorDetails) -> str:
    """One configuration error: the field when there is one, and the message (never the value)."""
    field = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"  {field}: {message}" if field else f"  {message}"


def serve(args: argparse.Namespace) -> int:
    """Run the API (migrating the database first)."""
    settings = _settings()  # before the application's imports: a wrong setting is told in a moment
    from .app import create_app
    from .server import serve as run_server

    run_server(create_app(settings), settings, args.log_level.lower())
    return 0


def migrate_db(args: argparse.Namespace) -> int:
    """Bring the database schema up to date."""
    from .db.session import migrate

    migrate(_settings().sqlalchemy_url())
    print("database is up to date")
    return 0


def keys_init(args: argparse.Namespace) -> int:
    """Make a root key and a first signing key."""
    from .keyring import KeyringError, init_keys

    try:
        root = init_keys(Path(args.dir), args.days, keep_root=not args.remove_root)
    except KeyringError as exc:
        sys.exit(str(exc))
    if args.remove_root:
        print(f"signing key made in {args.dir}; the root private key was not kept")
    else:
        print(f"root key: {root}\nmove it to offline storage; the controller needs only root.pub, "
              "signing.key and signing.cert.json")
    return 0


def keys_certify(args: argparse.Namespace) -> int:
    """Rotate the signing key: make a new one certified by the root key (and revoke the previous one)."""
    from loalang_protocol.keys import KeyPair

    from .keyring import KeyringError, certify_new_signing_key

    folder = Path(args.dir)
    try:
        previous = KeyPair.load(folder / "signing.key").kid if args.revoke_previous else None
        kid = certify_new_signing_key(folder, Path(args.root_key), args.days)
    except (KeyringError, OSError, ValueError) as exc:
        sys.exit(f"cannot certify a new signing key: {exc}")
    print(f"new signing key {kid}; restart the controller to use it")
    if previous is not None:
        _revoke(folder, Path(args.root_key), previous)
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    """Add a signing key to the root-signed revocation list in the key folder."""
    _revoke(Path(args.dir), Path(args.root_key), args.kid)
    return 0


def _revoke(folder: Path, root_key: Path, kid: str) -> None:
    from .keyring import REVOKED_LIST, KeyringError, revoke_key

    try:
        revocations = revoke_key(folder, root_key, kid)
    except (KeyringError, OSError, ValueError) as exc:
        sys.exit(f"cannot revoke {kid}: {exc}")
    print(f"{kid} revoked: {folder / REVOKED_LIST} is list {revocations.serial} "
          f"({len(revocations.revoked)} key(s)); send it to the controller with "
          "PUT /api/v1/system/keys/revocations, or install it in the controller's key folder and restart it")


def broker_init(args: argparse.Namespace) -> int:
    """Write the broker's first account file (controller account), unless it exists."""
    from .broker_accounts.dynsec_file import write_initial

    path = Path(args.dynsec_file)
    if path.exists():
        print(f"{path} exists; left as it is")
        return 0
    password = os.environ.get("LOALANG_MQTT_PASSWORD") or getpass.getpass("controller broker password: ")
    health = os.environ.get("LOALANG_MQTT_HEALTHCHECK_PASSWORD")
    write_initial(path, os.environ.get("LOALANG_MQTT_USERNAME", "loalang-controller"), password,
                  os.environ.get("LOALANG_MQTT_HEALTHCHECK_USERNAME", "loalang-healthcheck"), health)
    print(f"wrote {path}")
    return 0


def nats_init(args: argparse.Namespace) -> int:
    """Write a new NATS trust set (docs/nats.md says where each folder goes)."""
    from .broker_accounts.nats_trust import make_trust

    folder = Path(args.folder)
    try:
        make_trust(folder, os.environ.get("LOALANG_MQTT_USERNAME", "loalang-controller"))
    except FileExistsError as exc:
        print(exc)
        return 1
    print(f"wrote {folder}/server (every node includes trust.conf), {folder}/controller (the controller's "
          f"LOALANG_NATS_TRUST_DIR) and {folder}/offline (keep it off the servers)")
    return 0


def receipts_verify(args: argparse.Namespace) -> int:
    """Check the stored device events of a period against the keys the devices held then; exit 1 when
    any fails, 2 when the check cannot run."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db.session import Database
    from .reports.evidence import render, verify_receipts

    since, until = _moment(args.since, "--since"), _moment(args.until, "--until")
    if since is not None and until is not None and since >= until:
        return _cannot_check("--since must come before --until")
    database = Database(_settings().sqlalchemy_url())
    try:
        summary = verify_receipts(database, since, until, args.device)
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]  # not the SQL, not the URL
        return _cannot_check(f"cannot read the database ({cause}); is LOALANG_DATABASE_URL right, and "
                             "was `radio-controller migrate` run?")
    finally:
        database.engine.dispose()
    print("\n".join(render(summary, since, until)))
    return 1 if summary.failed else 0


def outlines_import(args: argparse.Namespace) -> int:
    """Set the outlines of the areas a GeoJSON file names, as an admin of the whole tree would; exit 1
    when the file is refused (nothing is stored then), 2 when the import cannot run."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db.session import Database
    from .errors import DomainError
    from .fleet.outline_file import MAX_FILE_BYTES
    from .fleet.outlines import import_file

    try:
        with open(args.file, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # one byte more is enough to refuse a larger file
    except OSError as exc:
        return _cannot_check(f"cannot read {args.file}: {exc.strerror}")
    database = Database(_settings().sqlalchemy_url())
    try:
        imported = import_file(database, "cli", raw, None)
    except DomainError as exc:
        print(f"{args.file}: refused ({exc.code}) at {exc.field}: {exc.message}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        return _cannot_check(f"cannot write the database ({cause}); was `radio-controller migrate` run?")
    finally:
        database.engine.dispose()
    print(f"outlines set for {len(imported.area_ids)} areas ({imported.vertices} positions): "
          + ", ".join(imported.area_ids))
    return 0


def _cannot_check(reason: str) -> int:
    print(reason, file=sys.stderr)
    return 2  # 1 means that a receipt failed its check


def _moment(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time from the command line; without an offset it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        sys.exit(_cannot_check(f"{option}: {text!r} is not an ISO 8601 time such as 2026-12-01 or "
                               "2026-12-01T07:00+07:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="radio-controller", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("LOALANG_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the API and console").set_defaults(func=serve)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=migrate_db)
    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    init = keys.add_parser("init", help="make a root key and a first signing key")
    init.add_argument("--dir", required=True, help="key folder (the controller uses DATA_DIR/keys)")
    init.add_argument("--days", type=int, default=90, help="validity of the signing certificate")
    init.add_argument("--remove-root", action="store_true", help="do not keep the root private key")
    init.set_defaults(func=keys_init)
    certify = keys.add_parser("certify", help="rotate: a new signing key certified by the root")
    certify.add_argument("--dir", required=True)
    certify.add_argument("--root-key", required=True, help="the root private key file")
    certify.add_argument("--days", type=int, default=90)
    certify.add_argument("--revoke-previous", action="store_true",
                         help="also revoke the signing key being replaced")
    certify.set_defaults(func=keys_certify)
    receipts = sub.add_parser("receipts", help="device receipts as evidence").add_subparsers(
        dest="receipts_command", required=True)
    check = receipts.add_parser("verify", help="check stored receipts against the keys the devices held "
                                "then; exit 1 when any fails")
    check.add_argument("--since", help="first time (ISO 8601; UTC without an offset), by when it occurred")
    check.add_argument("--until", help="end of the period (excluded)")
    check.add_argument("--device", help="one device's receipts only")
    check.set_defaults(func=receipts_verify)
    revoke = keys.add_parser("revoke", help="add a signing key to the root-signed revocation list")
    revoke.add_argument("kid", help="the key id to revoke (16 hex digits)")
    revoke.add_argument("--root-key", required=True, help="the root private key file")
    default_keys = Path(os.environ.get("LOALANG_DATA_DIR", "data/controller")) / "keys"
    revoke.add_argument("--dir", default=str(default_keys),
                        help="key folder holding root.pub and signing.cert.json (default: DATA_DIR/keys)")
    revoke.set_defaults(func=keys_revoke)
    outlines = sub.add_parser("outlines", help="areas' administrative outlines for the map").add_subparsers(
        dest="outlines_command", required=True)
    imported = outlines.add_parser("import", help="set the outlines of the areas a GeoJSON FeatureCollection "
                                   "names (properties area_id, or name)")
    imported.add_argument("file", help="the GeoJSON file (at most 5 MB)")
    imported.set_defaults(func=outlines_import)
    binit = sub.add_parser("broker-init", help="write the broker's first dynamic-security file")
    binit.add_argument("--dynsec-file", required=True)
    binit.set_defaults(func=broker_init)
    ninit = sub.add_parser("nats-init", help="make a NATS operator, its accounts and the "
                           "controller's signing keys (server/, controller/, offline/ under FOLDER)")
    ninit.add_argument("folder")
    ninit.set_defaults(func=nats_init)
    release_commands.add_parsers(sub, keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `radio-controller`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
