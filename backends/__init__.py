"""Reference stores, one module each; each implements `harness.contract.EventStore`."""
