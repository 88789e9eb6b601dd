"""The devices' account's revocation list, kept in the controller's database.

The nodes are told the list, never asked for it. A look-up is answered by the first node to reply,
which may not have applied the last update yet: a list read back from it and sent again with one
more entry would drop the entry before, and let that device in again. Here every change is made
in one transaction on the account's row, so the versions the controller instances sign are ordered
by their issue time, and the nodes keep only the newest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db.models import BrokerAccountIssue, BrokerLoginRevocation
from ..db.session import Database


@dataclass(frozen=True)
class AccountVersion:
    """One version of the devices' account: its revocation list and its issue time (JWT seconds)."""

    revocations: dict[str, int]
    issued_at: int


@dataclass(frozen=True)
class Revocation:
    """A key's logins revoked: the account version that says so, and the time they are revoked up to."""

    version: AccountVersion
    until: int


def revoked_up_to(revocations: dict[str, int], key: str, now: int, lifetime_s: int, for_good: bool
                  ) -> tuple[dict[str, int], int]:
    """The account's revocation list with key's logins revoked, and the time they are revoked up to
    (a new login must be issued after it). JWT times are whole seconds and a login may have been
    issued the second after its own revocation, so the time covers the one listed before, plus one.

    Deleted for good: up to a lifetime ahead, which also covers a login signed for a renewal under
    way as the device was deleted. A device enrolled again after that is revoked up to now instead:
    every login it had was issued before.

    Entries older than a lifetime are dropped: every login they revoke has expired. The list, which
    the nodes take up to 1 MB of, holds only what a lifetime revoked."""
    kept = still_revoking(revocations, now, lifetime_s)
    listed = kept.get(key, 0)
    if for_good:
        until = now + lifetime_s
    elif listed > now:
        until = now
    else:
        until = max(now, listed + 1)
    kept[key] = until
    return kept, until


def still_revoking(revocations: dict[str, int], now: int, lifetime_s: int) -> dict[str, int]:
    """The entries that may still refuse a login that has not expired."""
    return {key: until for key, until in revocations.items() if until >= now - lifetime_s}


class RevocationBook:
    """The devices' account's revocations and last issue time, for one account, in the database."""

    def __init__(self, db: Database, account: str) -> None:
        self.db = db
        self.account = account

    def knows_the_account(self) -> bool:
        """Whether this book has recorded a version of the account (else the nodes' comes first)."""
        with self.db.session() as session:
            return session.get(BrokerAccountIssue, self.account) is not None

    def is_listed(self, key: str) -> bool:
        """Whether the account revokes some of the key's logins."""
        with self.db.session() as session:
            return session.get(BrokerLoginRevocation, (self.account, key)) is not None

    def revoke(self, key: str, now: int, lifetime_s: int, for_good: bool) -> Revocation:
        """Revoke the key's logins issued up to now (revoked_up_to) in a new version of the account."""
        with self.db.session() as session:
            issue = self._locked_issue(session, now)
            rows = self._rows(session)
            revocations, until = revoked_up_to(_times(rows), key, now, lifetime_s, for_good)
            version = self._store(session, issue, rows, revocations, max(now, issue.issued_at + 1))
        return Revocation(version, until)

    def reissue(self, now: int, lifetime_s: int) -> AccountVersion:
        """The book's account as a new version (issued after every earlier one), what no login
        needs any more left out."""
        with self.db.session() as session:
            issue = self._locked_issue(session, now)
            rows = self._rows(session)
            kept = still_revoking(_times(rows), now, lifetime_s)
            return self._store(session, issue, rows, kept, max(now, issue.issued_at + 1))

    def take_up(self, on_nodes: AccountVersion, now: int, lifetime_s: int) -> AccountVersion | None:
        """Merge what the nodes hold into the book (the first start after an upgrade, or an account
        sent by another tool); returns the version the nodes must be sent when they lack part of the
        book, None when they hold it all."""
        with self.db.session() as session:
            issue = self._locked_issue(session, on_nodes.issued_at)
            rows = self._rows(session)
            merged = dict(on_nodes.revocations)
            for key, until in _times(rows).items():
                merged[key] = max(until, merged.get(key, 0))
            merged = still_revoking(merged, now, lifetime_s)
            nodes_hold_all = merged == still_revoking(on_nodes.revocations, now, lifetime_s)
            if nodes_hold_all and on_nodes.issued_at >= issue.issued_at:
                self._store(session, issue, rows, merged, on_nodes.issued_at)
                return None
            issued_at = max(now, on_nodes.issued_at + 1, issue.issued_at + 1)
            return self._store(session, issue, rows, merged, issued_at)

    def _locked_issue(self, session: Session, first_issued_at: int) -> BrokerAccountIssue:
        """The account's row, locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
        query = select(BrokerAccountIssue).where(BrokerAccountIssue.account == self.account)
        issue = session.scalars(query.with_for_update()).one_or_none()
        if issue is None:
            issue = BrokerAccountIssue(account=self.account, issued_at=first_issued_at - 1)
            session.add(issue)
            session.flush()
        return issue

    def _rows(self, session: Session) -> dict[str, BrokerLoginRevocation]:
        rows = session.scalars(select(BrokerLoginRevocation).where(
            BrokerLoginRevocation.account == self.account))
        return {row.user_key: row for row in rows}

    def _store(self, session: Session, issue: BrokerAccountIssue, rows: dict[str, BrokerLoginRevocation],
               revocations: dict[str, int], issued_at: int) -> AccountVersion:
        """Make the rows say revocations: the loaded rows are changed in place, new ones added (no
        look-up per key), the ones left out deleted in one statement."""
        gone = [key for key in rows if key not in revocations]
        if gone:
            session.execute(delete(BrokerLoginRevocation).where(
                BrokerLoginRevocation.account == self.account, BrokerLoginRevocation.user_key.in_(gone)),
                execution_options={"synchronize_session": False})
        for key, until in revocations.items():
            row = rows.get(key)
            if row is None:
                session.add(BrokerLoginRevocation(account=self.account, user_key=key, revoked_until=until))
            elif row.revoked_until != until:
                row.revoked_until = until
        issue.issued_at = issued_at
        return AccountVersion(dict(revocations), issued_at)


def _times(rows: dict[str, BrokerLoginRevocation]) -> dict[str, int]:
    return {key: row.revoked_until for key, row in rows.items()}
