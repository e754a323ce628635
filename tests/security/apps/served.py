"""The app the real-server security tests run under uvicorn and gunicorn, set up the way the
README says: access logs redacted, no proxies trusted unless ``SERVED_TRUSTED_PROXIES`` names
some. Each handled event prints one JSON line ``{"handled": name, "peer": address}``."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from hookreceiver import Receiver, TrustedProxies, URLSigner, providers
from hookreceiver.security import redact_access_logs

if os.environ.get("SERVED_REDACT", "1") == "1":
    redact_access_logs()
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

_proxies = [p for p in os.environ.get("SERVED_TRUSTED_PROXIES", "").split(",") if p]
hooks = Receiver(
    proxies=TrustedProxies(_proxies) if _proxies else None,
    public_base_url="http://127.0.0.1:8000",
)
_signer = URLSigner(os.environ["SERVED_URL_KEY"], expires_in=None)
hooks.endpoint("/hooks/faxplus", providers.FaxPlus())
hooks.endpoint("/hooks/zipwhip/{event}", providers.Zipwhip())
hooks.endpoint("/hooks/kazoo/{event}/{token}", providers.Wirecloud(signed_urls=_signer))
hooks.endpoint("/hooks/updox/{event}", providers.Updox(signed_urls=_signer))


@hooks.on("*")
def handled(event: Any, ctx: Any) -> None:
    print(json.dumps({"handled": ctx.event_name, "peer": ctx.client}), flush=True)


app = hooks.asgi_app
wsgi = hooks.wsgi_app
