"""The Documo endpoint of the multipart benchmark: ``providers.Documo`` behind basic auth."""

from __future__ import annotations

from hookreceiver import providers

__all__ = ["DOCUMO_CREDENTIALS", "documo_provider"]

#: The basic-auth pair the Documo webhook is configured with in the benchmark.
DOCUMO_CREDENTIALS = ("documo", "bench-secret")


def documo_provider() -> providers.Documo:
    """Documo as a user configures it: basic auth, plus 127.0.0.1 allowed to send."""
    return providers.Documo(allow_ips=["127.0.0.1"], basic_auth=[DOCUMO_CREDENTIALS])
