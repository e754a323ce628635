"""hookreceiver mounted in a Flask app, as WSGI middleware.

Run from the repository root::

    DOCUMO_BASIC_AUTH=documo:change-me \
    UPDOX_URL_KEYS=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') \
    WIRECLOUD_URL_KEYS=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') \
    flask --app examples/flask_app.py run

or in production ``gunicorn --access-logfile - examples.flask_app:app`` (gunicorn never takes the
sender's address from ``X-Forwarded-For``; its ``forwarded_allow_ips`` only decides which peers
may set the scheme headers). Neither server's access log shows signed URLs' tokens: they
read ``[redacted]``.

Environment variables: the same as ``examples/starlette_app.py`` (``DOCUMO_BASIC_AUTH``,
``UPDOX_URL_KEYS`` and ``WIRECLOUD_URL_KEYS`` required; ``HOOKRECEIVER_STORE``,
``HOOKRECEIVER_INBOX``, ``HOOKRECEIVER_ALLOW_IPS``, ``HOOKRECEIVER_TRUSTED_PROXIES`` and
``HOOKRECEIVER_PUBLIC_URL`` optional). Under WSGI the inbox worker runs in a background thread.

Each handled event is logged as one JSON line on stdout. With ``hookreceiver[prometheus]``
installed the app serves its metrics at ``/metrics`` (see ``examples/starlette_app.py``).
"""

from __future__ import annotations

from flask import Flask

from examples.webhooks import build_receiver, observe

hooks = build_receiver()
app = Flask(__name__)


@app.get("/health")
def health() -> dict[str, bool]:
    """The app's own routes are untouched by the middleware."""
    return {"ok": True}


if observe(hooks):
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/metrics": hooks.metrics_wsgi_app()}
    )
app.wsgi_app = hooks.wsgi_middleware(app.wsgi_app)  # type: ignore[method-assign]
