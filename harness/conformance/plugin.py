"""pytest plugin entry point for the conformance suite (registered as ``pytest11``)."""
