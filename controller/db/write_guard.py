"""A database write is never held across an await.

SQLite lets one connection write at a time, and the controller's sessions run on the event loop's
thread. A session that has written and then awaits (a Redis call, a broker's acknowledgement) keeps
the write lock while other tasks run. The next task that writes then waits for the lock on the
loop's own thread, so the holder can never resume to commit: the whole controller stops for the
busy timeout (15 s), the scheduler loses its lead, devices read as silent, and the waiting write
fails with `database is locked` (seen under load: a device's events refused while an airtime request
announced its broadcast to the event feed between its first write and its commit).

The guard keeps, for each session holding a write, its thread and where the write began. A write on
a thread where another session already holds one can never be granted (on the loop's thread the
holder cannot run; in plain code it is the same deadlock): it fails at once with WriteHeld, naming
where the holder began, instead of stopping the controller for the busy timeout. `held_on(thread)`
lets the loop watch (controller/loop_watch.py) name a write held while the loop runs other tasks.
Only SQLite has one writer: PostgreSQL's row locks need no guard.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

SITE_FRAMES = 40  # enough to reach, through SQLAlchemy's own frames, the code that wrote
SHOWN_FRAMES = 8


class WriteHeld(RuntimeError):
    """A write asked for while another session on the same thread holds one."""


@dataclass(frozen=True)
class Holder:
    """A session's write: on which thread, since when (monotonic), begun where."""

    thread: int
    since: float
    site: tuple[traceback.FrameSummary, ...]

    def where(self) -> str:
        """The holder's call stack where its write began, innermost last."""
        return "".join(traceback.format_list(list(self.site))).rstrip()


class WriteGuard:
    """The sessions of one sessionmaker that hold a write, and the rule that no two share a thread."""

    def __init__(self) -> None:
        self._holders: dict[int, Holder] = {}  # id(session) -> its write
        self._lock = threading.Lock()

    def attach(self, sessions: sessionmaker[Session]) -> None:
        """Watch every session this factory makes."""
        event.listen(sessions, "before_flush", self._before_flush)
        event.listen(sessions, "do_orm_execute", self._before_execute)
        event.listen(sessions, "after_transaction_end", self._after_transaction_end)

    def held_on(self, thread: int) -> list[Holder]:
        """The writes held now on a thread."""
        with self._lock:
            return [holder for holder in self._holders.values() if holder.thread == thread]

    def _before_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        self._writing(session)

    def _before_execute(self, state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            self._writing(state.session)

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            with self._lock:
                self._holders.pop(id(session), None)

    def _writing(self, session: Session) -> None:
        """session is about to write: refuse it when another session on this thread holds a write."""
        thread, key = threading.get_ident(), id(session)
        with self._lock:
            if key in self._holders:
                return
            other = next((h for k, h in self._holders.items() if h.thread == thread and k != key), None)
            if other is None:
                self._holders[key] = Holder(thread, time.monotonic(), _callers())
                return
        raise WriteHeld("another session on this thread holds a database write (held across an await?); "
                        f"it began at:\n{other.where()}")


def _callers() -> tuple[traceback.FrameSummary, ...]:
    """The frames that led to a write, without SQLAlchemy's and the guard's own. Taken at every write,
    so their source lines are read only when a holder is shown."""
    stack = traceback.StackSummary.extract(traceback.walk_stack(None), limit=SITE_FRAMES, lookup_lines=False)
    frames = [frame for frame in reversed(stack)
              if "/sqlalchemy/" not in frame.filename and frame.filename != __file__]
    return tuple(frames[-SHOWN_FRAMES:])
