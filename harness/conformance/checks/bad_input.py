"""Bad and awkward input: each is stored and read back exactly, or refused with the
contract's typed error and nothing written."""

from __future__ import annotations

import uuid
from typing import Any

from harness.conformance import rules
from harness.conformance.core import CheckContext, Recorder, check, new_events
from harness.contract import (
    ANY,
    MAX_EVENT_TYPE_LENGTH,
    MAX_STREAM_ID_LENGTH,
    NO_STREAM,
    InvalidEvent,
    InvalidStreamId,
    NewEvent,
    StreamWrite,
)

MIB = 1024 * 1024

# One character from each Unicode plane in use, plus the ones that trip encoders:
# combining marks, right-to-left text, joiners, the BOM, a noncharacter, separators.
EVERY_PLANE = (
    "A\u00e9\u0416\u05d0\u0627\u4e2d\u00a0"  # BMP: Latin, Cyrillic, Hebrew, Arabic, CJK, NBSP
    "\U0001f600\U0001d11e\U00010348"  # plane 1: emoji, musical symbol, Gothic
    "\U00020000\U0002a6d6"  # plane 2: CJK extension B
    "\U00030000"  # plane 3: CJK extension G
    "\U000e0001\U000e0100"  # plane 14: tags, variation selectors
    "\U000f0000\U0010fffd"  # planes 15 and 16: private use
    "e\u0301\u200d\ufeff\uffff\u2028\u2029\u202e"  # combining, ZWJ, BOM, nonchar, separators, RLO
)

METACHARACTERS = [
    "'; DROP TABLE events; --",
    "a' OR '1'='1",
    '"quoted" \\backslash\\',
    "100%",
    "%",
    "_",
    "a_c",
    "a%c",
    "[a-z]*?",
    "$1 :name %s {} ?",
    "`tick`",
    "\\%\\_",
    "*",
    ".*",
    "..",
    "/etc/passwd",
    "NULL",
    "null",
    " ",
]


async def _rejected(rec: Recorder, error: type[Exception], rule: str, *writes: StreamWrite) -> None:
    await rec.append_rejected(error, *writes, rule=rule)


@check(
    "input.invalid-stream-ids",
    "empty, over-long, control-character, surrogate and non-str ids raise InvalidStreamId, "
    "in condition-only writes too",
    rules.STREAM_ID,
)
async def invalid_stream_ids(ctx: CheckContext) -> None:
    bad: list[Any] = [
        "",
        "x" * (MAX_STREAM_ID_LENGTH + 1),
        "\U0001f600" * (MAX_STREAM_ID_LENGTH + 1),
        "nul\x00inside",
        "line\nbreak",
        "tab\there",
        "\x1b[31m",
        "del\x7f",
        "c1\x85control",
        "lone\ud800surrogate",
        "\udfff",
        42,
        None,
        b"bytes",
        ("tuple",),
    ]
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("ok", NO_STREAM, new_events(1)))
        for stream_id in bad:
            rec.case(f"stream id {stream_id!r}")
            await _rejected(
                rec, InvalidStreamId, rules.STREAM_ID, StreamWrite(stream_id, ANY, new_events(1))
            )
            await _rejected(
                rec,
                InvalidStreamId,
                rules.STREAM_ID,
                StreamWrite("ok", 1, new_events(1)),
                StreamWrite(stream_id, ANY, new_events(1)),
            )
            rec.note("the same id in a condition-only write (no events) is refused too:")
            await _rejected(
                rec,
                InvalidStreamId,
                rules.STREAM_ID,
                StreamWrite(stream_id, NO_STREAM),
                StreamWrite("ok", 1, new_events(1)),
            )


@check(
    "input.valid-stream-ids",
    "ids at the length limit, of every plane and of odd characters are stored exactly",
    rules.STREAM_ID,
)
async def valid_stream_ids(ctx: CheckContext) -> None:
    good = [
        "x",
        "x" * MAX_STREAM_ID_LENGTH,
        "\U0001f600" * MAX_STREAM_ID_LENGTH,
        "\u4e2d" * MAX_STREAM_ID_LENGTH,
        EVERY_PLANE,
        " leading and trailing ",
        "\u00a0",
        "emoji-\U0001f469\u200d\U0001f4bb",
    ]
    async with ctx.store() as rec:
        for stream_id in good:
            rec.case(f"stream id {stream_id[:20]!r}... ({len(stream_id)} characters)")
            await rec.append_ok(StreamWrite(stream_id, NO_STREAM, new_events(2)))
            await rec.verify_stream(stream_id, rule=rules.STREAM_ID)
            await rec.verify_stream(stream_id, form="stream", batch_size=1, rule=rules.STREAM_ID)
            await rec.append_ok(StreamWrite(stream_id, 2, new_events(1)))
        await rec.verify_all(rule=rules.STREAM_ID)


class _NotJson:
    def __repr__(self) -> str:
        return "<object>"


@check(
    "input.not-json",
    "data or metadata that is not a JSON object raises InvalidEvent, nothing written",
    rules.EVENT_DATA,
)
async def not_json(ctx: CheckContext) -> None:
    bad_data: list[tuple[str, Any]] = [
        ("an object()", {"x": _NotJson()}),
        ("NaN", {"x": float("nan")}),
        ("infinity", {"x": [1.0, float("inf")]}),
        ("an int key", {1: "one"}),
        ("a tuple key", {("a",): 1}),
        ("a set", {"x": {1, 2}}),
        ("bytes", {"x": b"raw"}),
        ("a list, not an object", [1, 2]),
        ("a str, not an object", "text"),
        ("None", None),
        ("an int too large for JSON", {"x": 2**70}),
    ]
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("a", NO_STREAM, new_events(1)))
        for label, value in bad_data:
            for where in ("data", "metadata"):
                rec.case(f"{where} is {label}, in the second stream of the append")
                event = NewEvent("E", value) if where == "data" else NewEvent("E", {}, value)
                await _rejected(
                    rec,
                    InvalidEvent,
                    rules.EVENT_DATA,
                    StreamWrite("a", 1, new_events(1)),
                    StreamWrite("b", ANY, [NewEvent("E"), event]),
                )


@check(
    "input.invalid-event",
    "an empty, over-long or control-character type, or a non-UUID id, raises InvalidEvent",
    rules.EVENT_SHAPE,
)
async def invalid_event(ctx: CheckContext) -> None:
    bad: list[tuple[str, Any]] = [
        ("an empty type", NewEvent("")),
        ("a type too long", NewEvent("T" * (MAX_EVENT_TYPE_LENGTH + 1))),
        ("a type with NUL", NewEvent("Bad\x00Type")),
        ("a type with a newline", NewEvent("Bad\nType")),
        ("a non-str type", NewEvent(7)),  # type: ignore[arg-type]
        ("a str id", NewEvent("E", id=str(uuid.uuid4()))),  # type: ignore[arg-type]
        ("not a NewEvent", {"type": "E", "data": {}}),
    ]
    async with ctx.store() as rec:
        for label, event in bad:
            rec.case(f"an event with {label}")
            await _rejected(
                rec,
                InvalidEvent,
                rules.EVENT_SHAPE,
                StreamWrite("ok", ANY, new_events(1)),
                StreamWrite("s", ANY, [event]),
            )
        rec.case("a type of exactly the maximum length is stored")
        await rec.append_ok(StreamWrite("s", ANY, [NewEvent("T" * MAX_EVENT_TYPE_LENGTH)]))
        await rec.verify_stream("s", rule=rules.EVENT_SHAPE)


@check(
    "input.nul",
    "NUL characters in data, keys and metadata are stored exactly or refused, per the capability",
    rules.NUL,
)
async def nul_characters(ctx: CheckContext) -> None:
    samples: list[dict[str, Any]] = [
        {"s": "a\x00b"},
        {"s": "\x00"},
        {"key\x00": "v"},
        {"deep": [{"x": "end\x00"}]},
    ]
    async with ctx.store() as rec:
        stores_nul = rec.store.capabilities.nul_in_strings
        await rec.append_ok(StreamWrite("a", NO_STREAM, new_events(1)))
        for index, data in enumerate(samples):
            for where in ("data", "metadata"):
                rec.case(f"{where} {data!r} (capabilities.nul_in_strings={stores_nul})")
                event = NewEvent("E", data) if where == "data" else NewEvent("E", {}, data)
                writes = (
                    StreamWrite("a", ANY, new_events(1)),
                    StreamWrite(f"nul-{index}-{where}", ANY, [event]),
                )
                if stores_nul:
                    await rec.append_ok(*writes)
                    await rec.verify_stream(f"nul-{index}-{where}", rule=rules.NUL)
                    await rec.verify_stream(f"nul-{index}-{where}", form="stream", rule=rules.NUL)
                else:
                    await _rejected(rec, InvalidEvent, rules.NUL, *writes)


@check(
    "input.large-payload",
    "events of 1 MiB and more (within max_event_bytes) are stored and read back exactly",
    rules.SIZE,
)
async def large_payload(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        limit = rec.store.capabilities.max_event_bytes
        for size in (MIB, 3 * MIB):
            rec.case(f"one event with a {size // MIB} MiB string (max_event_bytes={limit})")
            # Encoded as {"blob":"..."} plus empty metadata: 13 bytes of overhead.
            event = NewEvent("Large", {"blob": "\u00e9x" * (size // 3)})
            encoded = size // 3 * 3 + 13
            if encoded > limit:
                await _rejected(
                    rec, InvalidEvent, rules.SIZE, StreamWrite(f"large-{size}", ANY, [event])
                )
                continue
            await rec.append_ok(StreamWrite(f"large-{size}", NO_STREAM, [event, NewEvent("After")]))
            await rec.verify_stream(f"large-{size}", rule=rules.SIZE)
            await rec.verify_stream(f"large-{size}", form="stream", batch_size=1, rule=rules.SIZE)
        rec.case("many 64 KiB events in one append, read in batches")
        await rec.append_ok(
            StreamWrite(
                "wide",
                NO_STREAM,
                [NewEvent("Wide", {"i": i, "blob": "y" * 65536}) for i in range(24)],
            )
        )
        await rec.verify_stream("wide", form="batches", batch_size=5, rule=rules.SIZE)


@check(
    "input.size-limit",
    "an event of exactly max_event_bytes is stored; one byte more raises InvalidEvent",
    rules.SIZE,
)
async def size_limit(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        limit = rec.store.capabilities.max_event_bytes
        overhead = len('{"blob":""}') + len("{}")
        rec.case(f"an event of max_event_bytes + 1 = {limit + 1} encoded bytes")
        over = NewEvent("TooLarge", {"blob": "z" * (limit + 1 - overhead)})
        await _rejected(
            rec,
            InvalidEvent,
            rules.SIZE,
            StreamWrite("ok", ANY, new_events(1)),
            StreamWrite("big", ANY, [over]),
        )
        rec.case(f"an event of exactly max_event_bytes = {limit} encoded bytes")
        exact = NewEvent("AtLimit", {"blob": "z" * (limit - overhead)})
        await rec.append_ok(StreamWrite("big", NO_STREAM, [exact]))
        await rec.verify_stream("big", rule=rules.SIZE)


@check(
    "input.unicode",
    "text from every Unicode plane in data, keys, metadata, types and ids round-trips",
    rules.EVENT_DATA,
)
async def unicode_everywhere(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        for index, char in enumerate(EVERY_PLANE):
            rec.case(f"character U+{ord(char):04X} in the stream id, type, data, keys and metadata")
            stream = f"u-{index}-{char}"
            event = NewEvent(f"Type{char}", {char: char, "text": f"<{char}>"}, {"m": char})
            await rec.append_ok(StreamWrite(stream, NO_STREAM, [event]))
            await rec.verify_stream(stream, rule=rules.EVENT_DATA)
        rec.case("all of them in one string")
        await rec.append_ok(
            StreamWrite(
                EVERY_PLANE,
                NO_STREAM,
                [NewEvent(EVERY_PLANE[:200], {EVERY_PLANE: EVERY_PLANE}, {"all": EVERY_PLANE})],
            )
        )
        await rec.verify_stream(EVERY_PLANE, form="stream", rule=rules.EVENT_DATA)
        await rec.verify_all(form="stream", batch_size=7, rule=rules.EVENT_DATA)


@check(
    "input.metacharacters",
    "SQL and pattern metacharacters in ids and data are stored exactly and match nothing else",
    rules.ISOLATION,
)
async def metacharacters(ctx: CheckContext) -> None:
    # Every stream gets its own length, the plain ones the longest: a lookup that also
    # matches a look-alike ('a_c' LIKE 'abc', '%' LIKE anything) then answers with
    # another stream's version, whether it takes the first match, the largest or a count.
    plain = {"abc": 30, "aXc": 31, "a": 32, "100": 33, "100x": 34}
    async with ctx.store() as rec:
        rec.case(f"streams {list(plain)} first, of {min(plain.values())}+ events each")
        for name, length in plain.items():
            await rec.append_ok(StreamWrite(name, NO_STREAM, new_events(length, plain=name)))
        for index, text in enumerate(METACHARACTERS):
            length = index % 4 + 1
            rec.case(f"stream id, type and data {text!r} ({length} events)")
            events = [NewEvent(text, {text: text, "n": n}, {"m": text}) for n in range(length)]
            await rec.append_ok(StreamWrite(text, NO_STREAM, events))
            await rec.verify_stream(text, rule=rules.ISOLATION)
            await rec.verify_stream(text, form="stream", rule=rules.ISOLATION)
            version = await rec.stream_version(text)
            rec.require(
                version == length,
                f"stream_version({text!r}) is {version}, expected {length}",
                rules.ISOLATION,
            )
            rec.note("an exact-version append on it, guarded by its version")
            await rec.append_ok(StreamWrite(text, length, new_events(1)))
        rec.case("the plain streams and their versions, after the others")
        for name, length in plain.items():
            await rec.verify_stream(name, rule=rules.ISOLATION)
            version = await rec.stream_version(name)
            rec.require(
                version == length,
                f"stream_version({name!r}) is {version}, expected {length}",
                rules.ISOLATION,
            )
        await rec.verify_all(rule=rules.ISOLATION)


@check(
    "input.json-fidelity",
    "JSON values keep their type and value (bools, u64 ints, floats 1e16, -0.0, 17 digits, "
    "$ keys), through read_stream and read_all",
    rules.EVENT_DATA,
)
async def json_fidelity(ctx: CheckContext) -> None:
    values: list[tuple[str, dict[str, Any]]] = [
        ("booleans are not numbers", {"t": True, "f": False, "one": 1, "zero": 0}),
        (
            "ints at the 64-bit limits",
            {"max": 2**63 - 1, "min": -(2**63), "js": 2**53 + 1, "u64": 2**64 - 1},
        ),
        ("an unsigned 64-bit int", {"u64": 2**64 - 1, "above_i64": 2**63, "list": [2**64 - 2]}),
        (
            "floats",
            {"tenth": 0.1, "half": 1.5, "neg": -2.25, "one": 1.0, "tiny": 5e-324, "big": 1.5e300},
        ),
        # Numbers that stores commonly change. No capability excuses changing them: the
        # contract promises data back exactly, a consumer sees int vs float and the sign
        # of zero, and a json or text column keeps them (the reference stores use one).
        # Binary JSON columns turn integral floats into integers (1e16 ->
        # 10000000000000000) and drop the sign of -0.0; stores that hold every number as
        # a double round integers beyond 2**53; C libraries printing "%.15g" drop the
        # 16th and 17th digits a double needs.
        (
            "large integral floats",
            {"e16": 1e16, "e17": 1.2345678901234568e17, "e19": 1e19, "neg": -1e16, "e22": 1e22},
        ),
        ("negative zero", {"float": -0.0, "list": [-0.0, 0.0], "nested": {"z": -0.0}}),
        (
            "integers beyond 2**53",
            {"above": 2**53 + 1, "below": -(2**53 + 1), "big": 2**62 + 3, "neg": -(2**62) - 3},
        ),
        (
            "decimals that need 17 digits",
            {
                "sum": 0.1 + 0.2,
                "third": 1 / 3,
                "two_thirds": 2 / 3,
                "pi": 3.141592653589793,
                "e": 2.718281828459045,
                "max": 1.7976931348623157e308,
                "min_normal": 2.2250738585072014e-308,
                "small": 1e-7,
                "long": 123456.78901234567,
            },
        ),
        ("null and empties", {"none": None, "empty_str": "", "empty_list": [], "empty_obj": {}}),
        ("nesting", {"a": [[[[{"b": [1, "two", None, 3.5, {"c": []}]}]]]]}),
        ("escapes", {"quote": '"', "backslash": "\\", "slash": "/", "controls": "\t\n\r\b\f\x01"}),
        ("keys that look like other things", {"": 0, "1": 1, "null": None, "true": True, " ": " "}),
        ("many keys", {f"k{i}": i for i in range(300)}),
        # Keys some stores reserve for themselves (EventStoreDB's "$correlationId"); the
        # user's own must come back.
        (
            "keys starting with $ or @",
            {"$correlationId": "c-1", "$causationId": "c-0", "$": 1, "@type": "t", "$$": {}},
        ),
    ]
    async with ctx.store() as rec:
        for index, (label, data) in enumerate(values):
            rec.case(f"data with {label}")
            await rec.append_ok(
                StreamWrite(f"json-{index}", NO_STREAM, [NewEvent("E", data, data)])
            )
            await rec.verify_stream(f"json-{index}", rule=rules.EVENT_DATA)
            await rec.verify_stream(f"json-{index}", form="stream", rule=rules.EVENT_DATA)
        # A store may read read_all from another column or path than read_stream.
        rec.case("all of the above through read_all, collected and streamed")
        await rec.verify_all(rule=rules.EVENT_DATA)
        await rec.verify_all(form="stream", batch_size=5, rule=rules.EVENT_DATA)


NESTING_DEPTHS = (150, 250, 1000)
"""Levels of nesting tried: past MySQL's 100, around orjson's 255, far beyond."""


def _nested(depth: int) -> dict[str, Any]:
    """``{"d": [{"d": [... {"leaf": depth} ...]}]}``: ``depth`` levels of objects and lists."""
    value: Any = {"leaf": depth}
    for level in range(depth - 1):
        value = {"d": value} if level % 2 else [value]
    return value if isinstance(value, dict) else {"d": value}


def _same_nested(got: Any, want: Any) -> bool:
    """Compare two deeply nested JSON values without recursion (1000 levels would hit
    Python's recursion limit in ``==``)."""
    pairs = [(got, want)]
    while pairs:
        a, b = pairs.pop()
        if isinstance(b, dict):
            if not isinstance(a, dict) or a.keys() != b.keys():
                return False
            pairs.extend((a[k], b[k]) for k in b)
        elif isinstance(b, list):
            if not isinstance(a, list) or len(a) != len(b):
                return False
            pairs.extend(zip(a, b, strict=True))
        elif type(a) is not type(b) or a != b:
            return False
    return True


@check(
    "input.deep-nesting",
    "data nested 150, 250 and 1000 levels deep is stored exactly or raises InvalidEvent, "
    "nothing written; never another error",
    rules.EVENT_DATA,
)
async def deep_nesting(ctx: CheckContext) -> None:
    async with ctx.store() as rec:
        await rec.append_ok(StreamWrite("ok", NO_STREAM, new_events(1)))
        for depth in NESTING_DEPTHS:
            for where in ("data", "metadata"):
                rec.case(f"{where} nested {depth} levels deep (objects and lists)")
                nested = _nested(depth)
                event = (
                    NewEvent("Deep", nested) if where == "data" else NewEvent("Deep", {}, nested)
                )
                stream = f"deep-{depth}-{where}"
                writes = (StreamWrite("ok", ANY, new_events(1)), StreamWrite(stream, ANY, [event]))
                # Not rec.append: showing the event in the example would recurse too deep.
                rec.note(
                    f"await store.append(StreamWrite('ok', ANY, [...]), StreamWrite({stream!r}, "
                    f"ANY, [NewEvent('Deep', {where}=<{depth} levels>)]))"
                )
                try:
                    result = await rec.within(rec.store.append(*writes), "append")
                except InvalidEvent:
                    await rec.verify_nothing_written(writes, rules.EVENT_DATA)
                    continue
                except Exception as exc:
                    rec.fail(
                        f"the append raised {type(exc).__name__}: {exc}; data nested {depth} "
                        "levels deep must be stored exactly or refused with InvalidEvent "
                        "(a limit of the storage is the store's to translate)",
                        rules.EVENT_DATA,
                    )
                rec.model.apply(writes, result.positions)
                deepest = depth == NESTING_DEPTHS[-1]
                for form in ("collect", "stream"):
                    read = rec.read_stream(stream)
                    events = await rec.consume(read, form, None)
                    got = getattr(events[0], where) if len(events) == 1 else None
                    rec.require(
                        got is not None and _same_nested(got, nested),
                        f"read_stream({stream!r}) [{form}] did not return the event nested "
                        f"{depth} levels deep exactly as appended ({len(events)} events read)",
                        rules.EVENT_DATA,
                    )
                if deepest:
                    # The model's comparisons recurse: with an event this deep stored,
                    # the walk above is the last comparison.
                    return
