"""Masking secrets: the one function every store URL, DSN or message passes through
before it becomes text a person or a file can see.

`redact` masks, in any text:

* the password of every URL-like ``scheme://user:password@host`` (also a malformed
  one such as ``postgres//user:pw@@host``, and a password holding ``@``, ``/`` or
  ``:``): everything between the first ``:`` of the user info and its last ``@``;
* ``password=...``-like pairs, in query strings (``?password=x``) and in libpq
  ``key=value`` DSNs (``password='a b'``, ``sslpassword=``, ``PGPASSWORD=``);
* every secret seen so far in this process (`remember` learns them from the DSNs and
  backend specs it is given, and `redact` from every URL it masks), wherever it
  appears, verbatim or percent-encoded: a driver that echoes a password in its own
  words is masked too. Secrets shorter than `MIN_REMEMBERED` characters are masked
  only where the patterns above find them (masking every "x" would ruin the text).

The CLI sends everything it prints through `RedactingStream`, and results and reports
are redacted before they are written, so a secret that slipped past a message still
never reaches the terminal or a file.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any, Final, TextIO
from urllib.parse import quote, unquote

__all__ = [
    "MASK",
    "RedactingStream",
    "redact",
    "redact_dsn",
    "redact_json",
    "remember",
    "remember_environment",
]

MASK: Final = "***"
MIN_REMEMBERED: Final = 4
SECRET_ENV: Final = ("EVENTBENCH_PG_DSN", "PGPASSWORD", "DATABASE_URL")
"""Environment variables whose secrets are remembered by `remember_environment`."""

_SECRET_KEYS = r"(?:[A-Za-z_]*password|passwd|pwd|secret|token)"
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?<![A-Za-z0-9_])({_SECRET_KEYS}\s*=\s*)    # password= , sslpassword = , PGPASSWORD=
    ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,'"]+)
    """
)
# A token that may hold user info: runs of characters that can appear in a URL.
_TOKEN = re.compile(r"""[^\s'"<>`|()\[\]{}]+""")

_PLACEHOLDERS: Final = (MASK, "PASSWORD", "")
"""Passwords that are not secrets: already masked, or a placeholder in a help text."""

_known: set[str] = set()
_lock = threading.Lock()


def _mask_userinfo(token: str) -> tuple[str, str | None]:
    """``token`` with the password of its user info masked, and that password."""
    if "@" not in token or ":" not in token:
        return token, None
    slashes = token.find("//")
    start = slashes + 2 if slashes >= 0 else 0
    # The authority ends where the query or fragment begins; a host never holds "@",
    # so the user info runs to the authority's last "@".
    ends = [i for i in (token.find("?", start), token.find("#", start)) if i >= 0]
    end = min(ends) if ends else len(token)
    at = token.rfind("@", start, end)
    if at < 0:
        return token, None
    colon = token.find(":", start, at)
    if colon < 0 or token[colon + 1 : at] in _PLACEHOLDERS:
        return token, None
    password = token[colon + 1 : at]
    if slashes < 0 and "/" in password:
        return token, None  # "sqlite:/home/me@corp/x.db" is a path, not user info
    return token[: colon + 1] + MASK + token[at:], password


def _learn(secret: str) -> None:
    if len(secret) < MIN_REMEMBERED or secret == MASK:
        return
    forms = {secret, unquote(secret), quote(secret, safe=""), quote(unquote(secret), safe="")}
    with _lock:
        _known.update(f for f in forms if len(f) >= MIN_REMEMBERED)


def _value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def remember(*texts: str | None) -> None:
    """Learn the secrets in these DSNs / specs, so that `redact` masks them anywhere."""
    for text in texts:
        if not text:
            continue
        for match in _TOKEN.finditer(text):
            _, password = _mask_userinfo(match.group())
            if password:
                _learn(password)
        for match in _KEY_VALUE.finditer(text):
            _learn(_value(match.group(2)))


def remember_environment() -> None:
    """Learn the secrets of `SECRET_ENV` variables (a bare ``PGPASSWORD`` too)."""
    for name in SECRET_ENV:
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if name == "PGPASSWORD":
            _learn(value)
        else:
            remember(value)


def redact(text: str) -> str:
    """``text`` with every secret it holds replaced by ``***`` (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"redact() takes text, not {type(text).__name__}")
    found: list[str] = []

    def userinfo(match: re.Match[str]) -> str:
        masked, password = _mask_userinfo(match.group())
        if password:
            found.append(password)
        return masked

    def key_value(match: re.Match[str]) -> str:
        if match.group(2) != MASK:
            found.append(_value(match.group(2)))
        return match.group(1) + MASK

    out = _TOKEN.sub(userinfo, text) if "@" in text else text
    out = _KEY_VALUE.sub(key_value, out)
    for secret in found:
        _learn(secret)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in out:
            out = out.replace(secret, MASK)
    return out


def redact_dsn(dsn: str) -> str:
    """A DSN or store URL fit to show: its password (in any form) is ``***``."""
    return redact(dsn)


def redact_json(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings...) with every string redacted, keys too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_json(k): redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value


class RedactingStream:
    """A text stream that redacts everything written to it, then passes it on.

    It forwards what terminals and click ask of a stream (``isatty``, ``fileno``,
    ``encoding``), but has no ``buffer``, so nothing can write around it.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    @property
    def inner(self) -> TextIO:
        return self._inner

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._inner.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self._inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self._inner, "errors", None)

    @property
    def closed(self) -> bool:
        return bool(getattr(self._inner, "closed", False))

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self._inner, name)
