"""Workload definitions: what the runner measures, as data."""
