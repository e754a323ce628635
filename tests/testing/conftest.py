"""The hookreceiver pytest plugin's ``webhook_app``: a receiver serving all five providers."""

from __future__ import annotations

import pytest
from five_providers import SIGNING_KEY, Seen, build_receiver

from hookreceiver import Receiver
from hookreceiver.security import URLSigner
from hookreceiver.stores import MemoryStore
from hookreceiver.testing import FakeClock


@pytest.fixture
def signer(webhook_clock: FakeClock) -> URLSigner:
    return URLSigner([SIGNING_KEY], clock=webhook_clock)


@pytest.fixture
def receiver_and_seen(webhook_store: MemoryStore, signer: URLSigner) -> tuple[Receiver, Seen]:
    return build_receiver(webhook_store, signer)


@pytest.fixture
def hooks(receiver_and_seen: tuple[Receiver, Seen]) -> Receiver:
    return receiver_and_seen[0]


@pytest.fixture
def seen(receiver_and_seen: tuple[Receiver, Seen]) -> Seen:
    return receiver_and_seen[1]


@pytest.fixture
def webhook_app(hooks: Receiver) -> Receiver:
    """The plugin's target: these tests send to the five-provider receiver."""
    return hooks
