"""A worker process for the multi-process tests: one receiver, one store, real HTTP.

``--kind asgi`` serves ``receiver.asgi_app`` with uvicorn (the store's async methods);
``--kind wsgi`` serves ``receiver.wsgi_app`` with a threading WSGI server (the sync methods).
The handler records each run by appending the event's key to ``<dir>/handled.log`` with one
``O_APPEND`` write, so the count is kept outside every worker. While ``<dir>/block`` exists the
handler first notes ``<dir>/started.log`` and then waits: the crash test kills it there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from store_kit import store_from_spec

from hookreceiver import DeliveryContext, Receiver, providers


def build(args: argparse.Namespace) -> Receiver:
    workdir = Path(args.dir)
    hooks = Receiver(store=store_from_spec(json.loads(args.store)), lease=args.lease)
    hooks.endpoint("/hooks/faxplus", providers.FaxPlus(allow_ips=["127.0.0.1"]))
    handled = os.open(workdir / "handled.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    started = os.open(workdir / "started.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    block = workdir / "block"

    @hooks.on("faxplus.*")
    async def record(event: Any, ctx: DeliveryContext) -> None:
        line = f"{ctx.idempotency_key}\n".encode()
        if block.exists():
            os.write(started, line)
            while block.exists():
                await asyncio.sleep(0.02)
        if args.delay:
            await asyncio.sleep(args.delay)
        os.write(handled, line)

    return hooks


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["asgi", "wsgi"], required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--lease", type=float, default=300.0)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    hooks = build(args)
    # The worker binds a port of its own choosing and tells the test: no race for free ports
    # with whatever else runs on the machine.
    if args.kind == "asgi":
        import uvicorn

        sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
        print(sock.getsockname()[1], flush=True)
        config = uvicorn.Config(hooks.asgi_app, log_level="warning", lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])
    else:
        server = make_server(
            "127.0.0.1", 0, hooks.wsgi_app, server_class=_Server, handler_class=_Quiet
        )
        print(server.server_port, flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
