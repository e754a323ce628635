"""The inbox: lose nothing. Verified deliveries are stored, answered, then handled by workers.

An endpoint in ``inbox`` mode (the default for Wirecloud/Kazoo, which never retries) writes the
verified delivery, raw bytes and headers included, to the inbox and answers at once; a worker
then parses it and runs its handlers under the usual dedup rules, retrying failures with
backoff. A delivery that fails its last attempt stays as ``failed`` (``on_dead_letter`` hooks
are called); one that does not parse or validate is ``quarantined``. Both can be replayed::

    from hookreceiver import Receiver, providers
    from hookreceiver.inbox import InboxEntry, SQLiteInbox
    from hookreceiver.stores import SQLiteStore

    hooks = Receiver(store=SQLiteStore("hooks.db"), inbox=SQLiteInbox("hooks.db"))
    hooks.endpoint("/hooks/kazoo", providers.Wirecloud(allow_ips=[...]))   # ack="inbox"

    @hooks.on_dead_letter
    def alert(entry: InboxEntry) -> None: ...

Storage: :class:`SQLiteInbox` (one host) and :class:`PostgresInbox` (several hosts; workers
take deliveries with ``FOR UPDATE SKIP LOCKED``); :func:`open_inbox` builds either from a URL
(``sqlite:///hooks.db``, ``postgresql://...``), as ``hookreceiver inbox --inbox`` does.
Processing: the in-process worker started with the app, ``hookreceiver worker`` processes, or
your task queue (:class:`TaskQueue`). While the inbox is unreachable, a sender that never
retries (Kazoo) is kept in a local :class:`Journal` (``Receiver(journal_dir=...)``) that the
workers drain into the inbox later.
"""

from __future__ import annotations

from .base import Inbox
from .journal import Journal
from .listing import Attempt, InboxStats, Page, SearchQuery
from .postgres import PostgresInbox
from .queues import TaskQueue
from .records import InboxCounts, InboxEntry, InboxRecord, InboxState, StoredFile
from .replay import ReplayResult, areplay, replay, replay_many
from .retry import Retry
from .sqlite import SQLiteInbox
from .urls import open_inbox
from .worker import InboxWorker

__all__ = [
    "Attempt",
    "Inbox",
    "InboxCounts",
    "InboxEntry",
    "InboxRecord",
    "InboxState",
    "InboxStats",
    "InboxWorker",
    "Journal",
    "Page",
    "PostgresInbox",
    "ReplayResult",
    "Retry",
    "SQLiteInbox",
    "SearchQuery",
    "StoredFile",
    "TaskQueue",
    "areplay",
    "open_inbox",
    "replay",
    "replay_many",
]
