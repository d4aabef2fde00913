"""The conformance suite: checks every EventStore must pass (pytest plugin and CLI)."""
