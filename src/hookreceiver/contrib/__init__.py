"""Modules above the :class:`~hookreceiver.Receiver` facade: they build receivers from a
framework's configuration (:mod:`.django`: the ``HOOKRECEIVER`` Django setting). Nothing in
the package imports them; a framework finds them by a dotted path in its settings."""
