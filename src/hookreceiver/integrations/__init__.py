"""Integrations with the frameworks and tools around a receiver: a FastAPI router
(:mod:`.fastapi`) and a Django app (:mod:`.django`); task queues beside them.

Each types the receiver it is handed with a protocol, never the ``Receiver`` facade, and
imports its framework only inside its own module: the core never needs them.
"""
