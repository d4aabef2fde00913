"""Examples for store authors; see docs/write-your-own-store.md."""
