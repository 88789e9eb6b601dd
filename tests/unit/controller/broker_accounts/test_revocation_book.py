"""The devices' account's revocations are kept in the database: what a node answers is only ever
merged in, so an account read from a node that has not applied the last update loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.broker_accounts.nats import LOGIN_LIFETIME_S
from controller.broker_accounts.nats_revocations import AccountVersion, RevocationBook
from controller.db.session import Database, open_database

pytestmark = pytest.mark.unit

NOW = 1_800_000_000
ACCOUNT = "ADEVICES"


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'book.sqlite3'}")
    yield database
    database.engine.dispose()


def test_each_revocation_is_a_newer_version_that_keeps_the_ones_before(db: Database) -> None:
    book = RevocationBook(db, ACCOUNT)
    first = book.revoke("U1", NOW, LOGIN_LIFETIME_S, for_good=False)
    second = book.revoke("U2", NOW, LOGIN_LIFETIME_S, for_good=True)
    assert first.until == NOW and second.until == NOW + LOGIN_LIFETIME_S
    assert second.version.revocations == {"U1": NOW, "U2": NOW + LOGIN_LIFETIME_S}
    assert second.version.issued_at > first.version.issued_at, "the nodes keep only a newer account"
    assert book.is_listed("U1") and not book.is_listed("U3")


def test_two_controllers_on_one_database_see_each_others_revocations(db: Database) -> None:
    one, other = RevocationBook(db, ACCOUNT), RevocationBook(db, ACCOUNT)
    for n in range(6):
        (one if n % 2 else other).revoke(f"U{n}", NOW + n, LOGIN_LIFETIME_S, for_good=False)
    last = one.revoke("U6", NOW + 6, LOGIN_LIFETIME_S, for_good=False)
    assert sorted(last.version.revocations) == [f"U{n}" for n in range(7)]


def test_a_first_start_takes_up_what_the_nodes_list(db: Database) -> None:
    book = RevocationBook(db, ACCOUNT)
    assert not book.knows_the_account()
    on_nodes = AccountVersion({"UOLD": NOW - 10}, issued_at=NOW + 5)  # signed by nats-init, say
    assert book.take_up(on_nodes, NOW, LOGIN_LIFETIME_S) is None, "the nodes hold all there is"
    assert book.knows_the_account() and book.is_listed("UOLD")
    after = book.revoke("UNEW", NOW, LOGIN_LIFETIME_S, for_good=False)
    assert after.version.issued_at == NOW + 6, "issued after the nodes' version, or they would refuse it"
    assert set(after.version.revocations) == {"UOLD", "UNEW"}


def test_a_node_answering_with_an_older_account_is_sent_the_newest(db: Database) -> None:
    book = RevocationBook(db, ACCOUNT)
    book.take_up(AccountVersion({}, NOW), NOW, LOGIN_LIFETIME_S)
    book.revoke("U1", NOW + 1, LOGIN_LIFETIME_S, for_good=False)
    newest = book.revoke("U2", NOW + 2, LOGIN_LIFETIME_S, for_good=False).version
    stale = AccountVersion({"U1": NOW + 1}, newest.issued_at - 1)  # the update with U2 not applied there
    sent = book.take_up(stale, NOW + 3, LOGIN_LIFETIME_S)
    assert sent is not None and sent.revocations == newest.revocations
    assert sent.issued_at > newest.issued_at
    assert book.take_up(sent, NOW + 4, LOGIN_LIFETIME_S) is None


def test_what_no_login_can_need_any_more_leaves_the_book(db: Database) -> None:
    book = RevocationBook(db, ACCOUNT)
    book.revoke("UGONE", NOW, LOGIN_LIFETIME_S, for_good=False)
    later = NOW + LOGIN_LIFETIME_S + 60
    assert book.revoke("UNEW", later, LOGIN_LIFETIME_S, for_good=False).version.revocations == {"UNEW": later}
    assert not book.is_listed("UGONE")


def test_sent_again_the_account_is_a_newer_version_with_the_same_list(db: Database) -> None:
    book = RevocationBook(db, ACCOUNT)
    last = book.revoke("U1", NOW, LOGIN_LIFETIME_S, for_good=False).version
    again = book.reissue(NOW, LOGIN_LIFETIME_S)
    assert again.revocations == last.revocations and again.issued_at > last.issued_at
