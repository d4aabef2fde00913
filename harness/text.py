"""Plain-text helpers for messages people read."""

from __future__ import annotations

__all__ = ["about_duration", "join_sentences"]

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


def about_duration(seconds: float) -> str:
    """A rough duration for a person: "40 s", "12 min", "5 h 24 min"."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
