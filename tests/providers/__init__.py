"""Provider tests: one shared conformance suite (conformance.py), one module per provider."""
