"""Plain-text helpers for messages people read."""

from __future__ import annotations

__all__ = ["join_sentences"]

_ENDS = (".", "?", "!", ":", "…")


def join_sentences(*parts: str) -> str:
    """Sentences joined by one space, each ending with exactly one stop.

    A part that already ends in ``.``, ``?``, ``!`` or ``:`` gets no other, so a message
    built from pieces (an exception's text, then a hint) never reads ``?.`` or ``..``.
    Empty parts are left out.
    """
    out: list[str] = []
    for part in parts:
        text = part.strip()
        if not text:
            continue
        while text.endswith("..") and not text.endswith("..."):
            text = text[:-1]
        if not text.endswith(_ENDS):
            text += "."
        out.append(text)
    return " ".join(out)
