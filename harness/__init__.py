"""eventbench's machinery: the contract, the conformance suite, the runner, statistics."""
