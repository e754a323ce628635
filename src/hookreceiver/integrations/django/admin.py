"""The inbox in the Django admin: a read-only list (state, provider, event filters; search by
id, event or key) and a page per delivery with its request and body. Nothing can be added,
changed or deleted here; replay with ``hookreceiver inbox replay``."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .models import InboxDelivery, admin_database

__all__ = ["InboxDeliveryAdmin"]


@admin.register(InboxDelivery)
class InboxDeliveryAdmin(admin.ModelAdmin):
    """Read-only over the inbox table."""

    list_display = ("id", "state", "event_name", "provider", "received", "attempts", "last_error")
    list_filter = ("state", "provider")
    search_fields = ("id", "event_name", "event_key")
    fields = (
        "id", "state", "provider", "endpoint", "event_name", "event_key", "received",
        "attempts", "last_error", "size", "request_details", "body",
    )  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboxDelivery]:
        return super().get_queryset(request).using(admin_database())

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="request")
    def request_details(self, obj: InboxDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.request(), indent=2))

    @admin.display(description="body")
    def body(self, obj: InboxDelivery) -> str:
        return format_html("<pre>{}</pre>", obj.body_preview())
