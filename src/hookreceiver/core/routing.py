"""Endpoints and their path templates (``/hooks/zipwhip/{event}``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..delivery import PATH_PLACEHOLDER as _PLACEHOLDER
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from .provider import ProviderProtocol

__all__ = ["Endpoint", "Route", "Router"]

_EMPTY: Mapping[str, str] = MappingProxyType({})  # shared by every exact route: read-only


@dataclass(slots=True)
class Endpoint:
    """One path template served for one provider.

    Attributes:
        path: the template, e.g. ``/hooks/zipwhip/{event}``.
        provider: the provider instance (its security, limits and policies).
        methods: the accepted HTTP methods.
        ack: ``"sync"`` (handlers run before the answer) or ``"inbox"`` (the delivery is
            stored in the receiver's inbox, answered at once, and handled by a worker).
    """

    path: str
    provider: ProviderProtocol
    methods: frozenset[str]
    ack: str = "sync"
    allow_header: tuple[tuple[str, str], ...] = field(init=False)
    pattern: re.Pattern[str] | None = field(init=False)

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ConfigurationError(f"endpoint path must start with '/': {self.path!r}")
        self.allow_header = (("allow", ", ".join(sorted(self.methods))),)
        names = _PLACEHOLDER.findall(self.path)
        if len(set(names)) != len(names):
            raise ConfigurationError(f"endpoint path repeats a placeholder: {self.path!r}")
        if not names:
            self.pattern = None
            return
        regex, position = "", 0
        for match in _PLACEHOLDER.finditer(self.path):
            regex += re.escape(self.path[position : match.start()])
            regex += f"(?P<{match.group(1)}>[^/]+)"
            position = match.end()
        regex += re.escape(self.path[position:])
        self.pattern = re.compile(regex)


@dataclass(frozen=True, slots=True)
class Route:
    """A matched endpoint with the values of its placeholders."""

    endpoint: Endpoint
    params: Mapping[str, str]


class Router:
    """Matches paths to endpoints: exact paths by dict look-up, templates in registration order."""

    def __init__(self) -> None:
        # Exact paths map to their (immutable) route, built once.
        self._exact: dict[str, Route] = {}
        self._templates: list[Endpoint] = []
        self._prefixes: tuple[str, ...] = ()

    def add(self, endpoint: Endpoint) -> None:
        """Register an endpoint; a path already served raises ``ConfigurationError``."""
        if self.endpoint(endpoint.path) is not None:
            raise ConfigurationError(f"endpoint path registered twice: {endpoint.path!r}")
        if endpoint.pattern is None:
            self._exact[endpoint.path] = Route(endpoint, _EMPTY)
        else:
            self._templates.append(endpoint)
            self._prefixes = tuple({e.path.split("{", 1)[0] for e in self._templates})

    def match(self, path: str) -> Route | None:
        """The route for ``path``, or ``None`` (the request passes through)."""
        route = self._exact.get(path)
        if route is not None:
            return route
        if not path.startswith(self._prefixes):
            return None
        for endpoint in self._templates:
            assert endpoint.pattern is not None
            found = endpoint.pattern.fullmatch(path)
            if found is not None:
                return Route(endpoint, found.groupdict())
        return None

    def endpoint(self, template: str) -> Endpoint | None:
        """The endpoint registered with exactly this path template, or ``None``."""
        route = self._exact.get(template)
        if route is not None:
            return route.endpoint
        return next((e for e in self._templates if e.path == template), None)

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, exact paths first."""
        return [*(route.endpoint for route in self._exact.values()), *self._templates]
