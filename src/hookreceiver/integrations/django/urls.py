"""``include("hookreceiver.integrations.django.urls")``: one URL pattern per endpoint.

Each endpoint's path template (``/hooks/zipwhip/{event}``) becomes a pattern
(``hooks/zipwhip/<str:event>``) answered by :func:`.views.webhook`. Include it at ``""`` so
the patterns are the paths senders use; under a prefix the endpoints answer there instead,
and deliveries are still matched to their endpoint by the pattern.
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from ...delivery import PATH_PLACEHOLDER
from .conf import get_receiver
from .views import webhook

__all__ = ["app_name", "urlpatterns"]

app_name = "hookreceiver"


def _pattern(template: str) -> str:
    return PATH_PLACEHOLDER.sub(lambda m: f"<str:{m.group(1)}>", template.lstrip("/"))


urlpatterns: list[Any] = [
    path(
        _pattern(endpoint.path),
        webhook,
        {"hookreceiver_endpoint": endpoint.path},
        name=f"webhook {endpoint.path}",
    )
    for endpoint in get_receiver().router.endpoints
]
