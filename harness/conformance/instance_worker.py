"""Another process racing on a store, for ``instances.multi-process``.

``python -m harness.conformance.instance_worker`` reads one JSON request line on stdin
(factory ``module:function``, ``location``, stream, writers, appends, timeout, tag,
sys_path), opens ``factory(location=...)``, prints ``ready``, waits for ``go`` on
stdin, races its writers through `race_one_stream` and prints one JSON answer line:
``{"outcomes": [[expected, version, position, event_id], ...]}`` or ``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from harness.conformance.core import ContractViolation, Recorder
from harness.conformance.runner import run_isolated
from harness.registry import Factory, load_factory, reopener


async def _race(request: dict[str, Any]) -> dict[str, Any]:
    from harness.conformance.checks.instances import race_one_stream

    factory: Factory | None = reopener(load_factory(request["factory"]))
    if factory is None:
        return {"error": f"{request['factory']} does not accept location="}
    timeout = float(request["timeout"])
    async with factory.reopen(request["location"]) as store:
        print("ready", flush=True)
        go = await asyncio.to_thread(sys.stdin.readline)
        if go.strip() != "go":
            return {"error": "stopped before the race"}
        rec = Recorder(store, timeout)
        try:
            outcomes = await race_one_stream(
                rec,
                [store],
                request["stream"],
                int(request["writers"]),
                int(request["appends"]),
                tag=str(request["tag"]),
            )
        except ContractViolation as exc:
            return {"error": exc.problem}
    return {"outcomes": [[o.expected, o.version, o.position, str(o.event_id)] for o in outcomes]}


def main() -> int:
    request = json.loads(sys.stdin.readline())
    for entry in reversed(request.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        answer = run_isolated(_race(request))
    except Exception as exc:
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
