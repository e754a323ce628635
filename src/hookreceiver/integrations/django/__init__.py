"""hookreceiver as a Django app: settings-based configuration, a ``urls.py`` to include, the
inbox in the Django admin, and a Django signal per event.

::

    INSTALLED_APPS = [..., "django.contrib.admin", "hookreceiver.integrations.django"]
    HOOKRECEIVER = {
        "STORE": "sqlite:///hooks-dedup.db",
        "INBOX": "sqlite:///db.sqlite3",          # optional; the admin lists it
        "ENDPOINTS": [
            {"path": "/hooks/documo", "provider": "documo",
             "basic_auth": [("documo", os.environ["DOCUMO_PASSWORD"])]},
        ],
    }
    # urls.py
    urlpatterns = [path("", include("hookreceiver.integrations.django.urls")), ...]

    # anywhere loaded at start-up (an AppConfig.ready)
    from hookreceiver.integrations.django.signals import event_signal

    @receiver(event_signal("documo.fax.inbound"))
    def fax_in(sender, event, context, **kwargs): ...

Or name a ``Receiver`` of your own: ``HOOKRECEIVER = {"RECEIVER": "myproject.hooks.hooks"}``.
The modules: :mod:`.conf` (the receiver the settings name), :mod:`.views` and :mod:`.urls`
(an adapter: a Django request in, the engine's answer out), :mod:`.signals`, :mod:`.models`
and :mod:`.admin` (the inbox table, read-only).
"""
