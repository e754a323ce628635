"""Example apps: run from the repository root (see each module)."""
