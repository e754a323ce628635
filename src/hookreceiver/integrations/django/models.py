"""The inbox table as a read-only, unmanaged Django model, for the admin.

Django creates and migrates nothing here: the inbox (``SQLiteInbox`` / ``PostgresInbox``)
owns its table. The model reads it from the database alias ``HOOKRECEIVER["ADMIN_DATABASE"]``
(``"default"``), table ``HOOKRECEIVER["INBOX_TABLE"]`` (``"hookreceiver_inbox"``): point
one of your ``DATABASES`` at the inbox's database (the same PostgreSQL database, or the SQLite
file) to see it in the admin.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.db import models

__all__ = ["InboxDelivery", "admin_database"]


def _options() -> dict[str, Any]:
    value = getattr(settings, "HOOKRECEIVER", None)
    return value if isinstance(value, dict) else {}


def admin_database() -> str:
    """The database alias the admin reads the inbox from."""
    return str(_options().get("ADMIN_DATABASE", "default"))


class InboxDelivery(models.Model):
    """One delivery kept in the inbox (read-only)."""

    id = models.TextField(primary_key=True)
    state = models.TextField()
    endpoint = models.TextField()
    provider = models.TextField()
    event_name = models.TextField(null=True)
    event_key = models.TextField(null=True)
    received_at = models.FloatField()
    updated_at = models.FloatField()
    attempts = models.IntegerField()
    next_attempt_at = models.FloatField()
    last_error = models.TextField(null=True)
    size = models.BigIntegerField()
    lock_token = models.TextField(null=True)
    meta = models.TextField()
    payload = models.BinaryField()

    class Meta:
        managed = False
        db_table = str(_options().get("INBOX_TABLE", "hookreceiver_inbox"))
        ordering = ("-received_at",)
        verbose_name = "inbox delivery"
        verbose_name_plural = "inbox deliveries"

    def __str__(self) -> str:
        return f"{self.id} {self.event_name or self.provider} ({self.state})"

    @property
    def received(self) -> datetime:
        """When it was received, as an aware datetime."""
        return datetime.fromtimestamp(self.received_at, timezone.utc)

    def request(self) -> dict[str, Any]:
        """The stored request details (method, path, headers...; no credential is stored)."""
        data: dict[str, Any] = json.loads(self.meta)
        return data

    def body_preview(self, limit: int = 4000) -> str:
        """The start of the stored body as text (multipart files are not shown)."""
        size = int(self.request().get("body_size", 0))
        data = bytes(self.payload)[: min(size, limit)]
        text = data.decode("utf-8", "replace")
        return text + ("…" if size > limit else "")
