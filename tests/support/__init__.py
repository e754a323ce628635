"""Helpers shared by the test suite (payload builders, real servers)."""
