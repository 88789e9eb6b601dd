"""`radio-controller keys certify-release`, `releases pack` and `releases add`: a release key from the
key ceremony signs a release where it is built; the controller verifies and keeps it."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any


def keys_certify_release(args: argparse.Namespace) -> int:
    """Make a release key certified by the root key."""
    from ..keyring import certify_release_key

    folder = Path(args.dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        kid = certify_release_key(folder, Path(args.root_key), args.days)
    except (OSError, ValueError) as exc:
        sys.exit(f"cannot certify a release key: {exc}")
    print(f"release key {kid} in {folder}; keep it where releases are built, not on the controller")
    return 0


def releases_pack(args: argparse.Namespace) -> int:
    """Sign a release of the given wheels with a release key."""
    from loalang_protocol.keys import KeyPair
    from loalang_protocol.releases import pack

    from ..keyring import RELEASE_CERT, RELEASE_KEY

    keys = Path(args.key_dir)
    try:
        key = KeyPair.load(keys / RELEASE_KEY)
        certificate: dict[str, Any] = json.loads((keys / RELEASE_CERT).read_text())
        manifest = pack([Path(w) for w in args.wheels], args.version, args.notes, key, certificate,
                        Path(args.out))
    except (OSError, ValueError) as exc:
        sys.exit(f"cannot pack the release: {exc}")
    print(f"release {manifest.version} ({len(manifest.wheels)} wheels) written to {args.out}")
    return 0


def releases_add(args: argparse.Namespace) -> int:
    """Verify a release and keep it, as the API's upload does; exit 1 when it is refused."""
    from ..cli import _settings
    from ..db.session import Database
    from ..errors import DomainError
    from .shelf import shelf_in

    settings = _settings()
    database = Database(settings.sqlalchemy_url())
    try:
        shelf = shelf_in(settings.data_dir, database)
        fd, copy = shelf.temporary_file()
        with open(fd, "wb") as out, open(args.file, "rb") as source:
            shutil.copyfileobj(source, out)
        release, new = shelf.add(copy, "cli")
    except DomainError as exc:
        print(f"{args.file}: refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot add {args.file}: {exc}", file=sys.stderr)
        return 2
    finally:
        database.engine.dispose()
    print(f"release {release.version} {'added' if new else 'was already held'} ({release.sha256})")
    return 0


def add_parsers(sub: Any, keys: Any) -> None:
    """The release commands, under `radio-controller` (sub) and `radio-controller keys` (keys)."""
    certify = keys.add_parser("certify-release", help="make a release key certified by the root key")
    certify.add_argument("--dir", required=True, help="where to write release.key and release.cert.json")
    certify.add_argument("--root-key", required=True, help="the root private key file")
    certify.add_argument("--days", type=int, default=365, help="validity of the release certificate")
    certify.set_defaults(func=keys_certify_release)
    releases = sub.add_parser("releases", help="signed agent releases").add_subparsers(
        dest="releases_command", required=True)
    packed = releases.add_parser("pack", help="sign a release of the agent's wheels with a release key")
    packed.add_argument("wheels", nargs="+", help="the loalang wheel and its dependencies' wheels")
    packed.add_argument("--version", required=True, help="the loalang wheel's version")
    packed.add_argument("--notes", default="", help="what changed, for the operators")
    packed.add_argument("--key-dir", required=True, help="the folder with release.key and release.cert.json")
    packed.add_argument("--out", required=True, help="the release file to write")
    packed.set_defaults(func=releases_pack)
    added = releases.add_parser("add", help="verify a release and keep it (exit 1 when refused)")
    added.add_argument("file")
    added.set_defaults(func=releases_add)
