"""Simulated deliveries for testing webhook handlers (filled in by issue 6)."""
