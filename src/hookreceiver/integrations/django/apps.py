"""The Django app's configuration."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["HookReceiverConfig"]


class HookReceiverConfig(AppConfig):
    """``hookreceiver.integrations.django`` in ``INSTALLED_APPS`` (label ``hookreceiver``)."""

    name = "hookreceiver.integrations.django"
    label = "hookreceiver"
    verbose_name = "Webhooks (hookreceiver)"
    default_auto_field = "django.db.models.AutoField"
