"""Deliberately broken stores: the proof that the conformance suite catches bugs."""
