"""Finding stores by name: the reference backends and third-party ``module:function`` factories.

A *store factory* is what the conformance suite and the runner open stores with. It is
a callable taking no arguments that gives a fresh, empty, ready store, in any of
these forms (all are accepted, so a backend author writes whichever is natural):

* an async context manager factory (``@asynccontextmanager`` or a class), or an async
  generator function that yields the store once;
* a function returning an `EventStore` (or an awaitable of one), which is then opened
  with ``async with``.

A factory that also accepts ``location=`` opens another instance over the data of a
store that names its location: the two-instance hook, `harness.contract.SupportsReopen`.
`Factory.reopen` is that call, in the same wrapped form.

Each reference backend module (``backends/<name>.py``) offers:

* ``temporary_store(location=None)``: a fresh, empty, open store, removed on exit (the
  factory); with a location, another instance over that store's data;
* ``open_store(url)``: a store at a location given as a URL (not yet opened);
* ``availability()``: ``None`` when the backend can run here, else the reason it cannot
  and what to do about it.

On the command line a backend is named by a *spec*, optionally under a label
(``LABEL=SPEC``): a reference name (``postgres``), a ``module:function`` factory, or
a PostgreSQL store URL (``postgresql://user:pw@host/db``: each store is a fresh schema
in that database). `parse_backends` turns specs into `BackendRef` values: the label
is what tables, reports and results show; the spec, which may hold a password, is
only ever shown redacted.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.machinery
import inspect
import os
import re
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final, TypeAlias, cast

from harness.contract import EventStore
from harness.redact import redact
from harness.text import join_sentences

__all__ = [
    "REFERENCE_BACKENDS",
    "BackendInfo",
    "BackendRef",
    "Factory",
    "FactoryImportError",
    "InvalidBackendSpec",
    "StoreFactory",
    "UnknownBackend",
    "backend_info",
    "backend_module",
    "debug_enabled",
    "load_factory",
    "must_run",
    "parse_backend",
    "parse_backends",
    "reference_factory",
    "reopener",
    "shadowing_notes",
]

DEBUG_ENV: Final = "EVENTBENCH_DEBUG"

StoreFactory: TypeAlias = Callable[[], AbstractAsyncContextManager[EventStore]]


class UnknownBackend(LookupError):
    """A backend name or ``module:function`` could not be found."""


class FactoryImportError(UnknownBackend):
    """A ``module:function`` factory's module failed to import (for any reason).

    The message is short (the module, the error, what to do); ``details`` holds the
    full traceback, shown only with ``--debug`` (or ``EVENTBENCH_DEBUG=1``).
    """

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


class InvalidBackendSpec(ValueError):
    """A backend spec or label that cannot be used (bad characters, a duplicate...)."""


def debug_enabled() -> bool:
    """True with ``EVENTBENCH_DEBUG=1`` (what ``--debug`` sets): show full tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


@dataclass(frozen=True)
class BackendSpec:
    name: str
    module: str
    summary: str


REFERENCE_BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("memory", "backends.memory", "in-process, nothing persisted (the model)"),
        BackendSpec("sqlite", "backends.sqlite", "embedded SQLite file via aiosqlite (default)"),
        BackendSpec("postgres", "backends.postgres", "PostgreSQL server via asyncpg"),
    )
}


@dataclass(frozen=True)
class BackendInfo:
    """What `eventbench backends` shows for one backend."""

    name: str
    summary: str
    available: bool
    reason: str | None


def _import_reference(name: str) -> Any:
    spec = REFERENCE_BACKENDS[name]
    return importlib.import_module(spec.module)


def backend_info(name: str) -> BackendInfo:
    """Whether a reference backend can run here, and if not, why and what to do."""
    spec = REFERENCE_BACKENDS[name]
    try:
        module = _import_reference(name)
    except ImportError as exc:
        return BackendInfo(name, spec.summary, False, f"cannot import {spec.module}: {exc}")
    reason: str | None = module.availability() if hasattr(module, "availability") else None
    return BackendInfo(name, spec.summary, reason is None, reason)


def must_run(name: str) -> bool:
    """Whether a backend that cannot run here fails the command even when the user asked
    to skip unavailable backends: PostgreSQL under ``EVENTBENCH_REQUIRE_POSTGRES=1``
    (as CI sets it), so that a missing server never passes as a shorter run."""
    if name != "postgres":
        return False
    from harness.provision import postgres_required  # imports asyncpg: only when asked

    return postgres_required()


def reference_factory(name: str) -> StoreFactory:
    if name not in REFERENCE_BACKENDS:
        known = ", ".join(REFERENCE_BACKENDS)
        raise UnknownBackend(
            f"no reference backend named {name!r}; known: {known} (or name a factory as "
            "module:function, or a postgresql:// URL)"
        )
    module = _import_reference(name)
    return as_store_factory(module.temporary_store)


# --------------------------------------------------------------------------- specs and labels

_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")


def is_store_url(spec: str) -> bool:
    """True for a ``scheme://...`` spec (or one that looks like a mistyped URL)."""
    return "://" in spec or "//" in spec or "@" in spec


@dataclass(frozen=True)
class BackendRef:
    """A backend as the user named it: ``label`` for every table, report and result,
    ``spec`` to load it with (it may hold a password, so it is kept out of ``repr``)."""

    label: str
    spec: str = field(repr=False)

    @property
    def shown(self) -> str:
        """The spec fit to show (any password masked)."""
        return redact(self.spec)

    @property
    def is_reference(self) -> bool:
        return self.spec in REFERENCE_BACKENDS


def parse_backend(text: str) -> BackendRef:
    """``LABEL=SPEC`` or ``SPEC``; without a label, a spec labels itself (a store URL
    by its redacted form). Raises `InvalidBackendSpec` for a bad label."""
    text = text.strip()
    head, eq, rest = text.partition("=")
    # "postgresql://h/db?schema=x" holds "=" too: a label never holds ":", "/" or "@".
    if eq and not any(c in head for c in ":/@?"):
        label, spec = head.strip(), rest.strip()
        if not _LABEL.fullmatch(label):
            raise InvalidBackendSpec(
                f"backend label {label!r} is not usable: a label starts with a letter and "
                "holds only letters, digits, '_', '.' and '-' (at most 40), as in "
                "mystore=mypackage.store:make_store"
            )
        if not spec:
            raise InvalidBackendSpec(f"backend label {label!r} names nothing after '='")
        if label in REFERENCE_BACKENDS and spec != label:
            raise InvalidBackendSpec(
                f"backend label {label!r} is the name of a reference backend; choose "
                f"another label for {redact(spec)!r}"
            )
        return BackendRef(label, spec)
    if not text:
        raise InvalidBackendSpec("an empty backend name")
    return BackendRef(redact(text), text)


def parse_backends(texts: Iterable[str]) -> list[BackendRef]:
    """`parse_backend` for each; two backends under one label are refused."""
    refs = [parse_backend(t) for t in texts]
    seen: dict[str, BackendRef] = {}
    for ref in refs:
        if ref.label in seen:
            raise InvalidBackendSpec(
                f"two backends are labelled {ref.label!r}; give each its own label "
                "(LABEL=SPEC, e.g. a=mypkg.store:make_a,b=mypkg.store:make_b)"
            )
        seen[ref.label] = ref
    return refs


def load_factory(spec: str) -> StoreFactory:
    """Resolve a reference backend name, a PostgreSQL store URL or a ``module:function``
    string to a factory. Messages show the spec redacted."""
    module_name, colon, attr = spec.partition(":")
    if colon and module_name in ("sqlite", "memory"):
        raise UnknownBackend(
            f"{redact(spec)!r} is a store URL, which names one store; checks and runs need a "
            f"fresh store each time: name the backend {module_name!r} instead"
        )
    if is_store_url(spec):
        return _url_factory(spec)
    if ":" not in spec:
        return reference_factory(spec)
    if not _MODULE.fullmatch(module_name) or not _ATTRIBUTE.fullmatch(attr):
        raise UnknownBackend(
            f"{redact(spec)!r} is neither a backend name nor module:function (e.g. "
            "mypackage.store:make_store) nor a postgresql:// store URL"
        )
    module = import_factory_module(module_name, spec)
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UnknownBackend(
                f"module {module_name!r} ({_where(module)}) has no attribute {attr!r}; "
                "name the function that gives a store"
            ) from None
    if not callable(target):
        raise UnknownBackend(
            f"{spec!r} is a {type(target).__name__}, not callable; name a function that "
            "gives a store"
        )
    return as_store_factory(target)


def _url_factory(spec: str) -> StoreFactory:
    if not spec.startswith(_POSTGRES_SCHEMES):
        raise UnknownBackend(
            f"{redact(spec)!r} is not a store URL eventbench can open: write a PostgreSQL "
            "server as postgresql://USER:PASSWORD@HOST:5432/DATABASE (percent-encode special "
            "characters in the password), or name a backend (memory, sqlite, postgres)"
        )
    module = _import_reference("postgres")
    try:
        module.open_store(spec)  # checks the URL now, before any connection is tried
    except ValueError as exc:
        raise UnknownBackend(redact(str(exc))) from None
    return as_store_factory(functools.partial(module.temporary_store, server=spec))


def _where(module: Any) -> str:
    return str(getattr(module, "__file__", None) or "a namespace package")


def import_factory_module(module_name: str, spec: str) -> Any:
    """Import a factory's module; any failure becomes a short `FactoryImportError`."""
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # a module body may fail in any way at all
        details = redact("".join(traceback.format_exception(exc)))
        error = redact(_one_line(exc))
        notes = shadowing_notes([module_name, *_names_in(exc)], Path.cwd())
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        if missing and module_name.startswith(missing.split(".")[0]):
            hint = (
                "Is it on sys.path? Run from your project root, or pip install the package "
                "that provides it."
            )
        elif missing:
            hint = (
                f"It needs {missing.split('.')[0]!r}, which is not installed for "
                f"{sys.executable}: pip install it there."
            )
        else:
            hint = f"Fix the module (`python -c 'import {module_name}'` shows where it fails)."
        message = f"cannot import {module_name!r} for the store factory {redact(spec)!r}: {error}"
        message = join_sentences(
            message, *notes, hint, "--debug (or EVENTBENCH_DEBUG=1) shows the traceback."
        )
        raise FactoryImportError(message, details) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, SyntaxError) and exc.filename:
        text = f"{exc.msg} ({exc.filename}, line {exc.lineno})"
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _names_in(exc: BaseException) -> list[str]:
    """Top-level module names an import error mentions (to look for shadowing folders)."""
    names: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        name = getattr(seen, "name", None)
        if isinstance(name, str) and name:
            names.append(name)
        seen = seen.__cause__ or seen.__context__
    return names


OWN_PACKAGES: Final = ("eventbench", "harness", "backends", "scenarios")


def _installed_elsewhere(top: str, directory: Path) -> Path | None:
    """Where ``top`` would be imported from if ``directory`` were not on sys.path."""
    local = directory.resolve()
    others = [p for p in sys.path if p and Path(p).resolve() != local]
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            if finder is importlib.machinery.PathFinder:
                spec = importlib.machinery.PathFinder.find_spec(top, others)
            else:
                spec = find(top, None)
        except (ImportError, ValueError, AttributeError):
            continue
        if spec is None:
            continue
        where = spec.origin if spec.origin not in (None, "namespace") else None
        where = where or next(iter(spec.submodule_search_locations or []), None)
        if where and not Path(where).resolve().is_relative_to(local / top):
            return Path(where).resolve()
    return None


def shadowing_notes(names: Iterable[str], directory: Path) -> list[str]:
    """Notes for each folder (or ``.py`` file) in ``directory`` that shadows a package
    of the same name installed elsewhere (eventbench's own packages are always checked).

    A clone named ``eventbench`` beside a user's store module is the classic case:
    ``import eventbench`` then finds the folder, not the installed package.
    """
    notes: list[str] = []
    tops = dict.fromkeys([n.split(".")[0] for n in names if n] + list(OWN_PACKAGES))
    for top in tops:
        local = directory / top
        is_dir = local.is_dir()
        if not (is_dir or local.with_suffix(".py").is_file()):
            continue
        installed = _installed_elsewhere(top, directory)
        if installed is None:
            continue
        where = installed.parent if installed.name == "__init__.py" else installed
        kind, shown = ("folder", f"./{top}/") if is_dir else ("file", f"./{top}.py")
        notes.append(
            f"The {kind} {shown} in the working directory shadows the installed {top!r} "
            f"({where}): run from another directory, or rename it."
        )
    return notes


@dataclass(frozen=True)
class Factory:
    """A store factory in any accepted form, called one way: ``async with factory() as s``.

    ``reopen(location)`` opens another instance over the data of a store whose
    ``location`` is given (the two-instance hook); ``reopenable`` says whether the
    wrapped callable takes ``location=``.
    """

    func: Callable[..., Any]

    def __call__(self) -> AbstractAsyncContextManager[EventStore]:
        return _opened(self.func, {})

    @property
    def reopenable(self) -> bool:
        try:
            parameters = inspect.signature(self.func).parameters
        except (TypeError, ValueError):
            return False
        return "location" in parameters

    def reopen(self, location: str) -> AbstractAsyncContextManager[EventStore]:
        """Another instance over the data at ``location``, opened on entry, closed on exit."""
        if not self.reopenable:
            raise TypeError(f"{self.spec or self.func!r} does not accept location=")
        return _opened(self.func, {"location": location})

    @property
    def spec(self) -> str | None:
        """``module:qualname`` if another process can import the callable by that name."""
        module = getattr(self.func, "__module__", None)
        name = getattr(self.func, "__qualname__", "")
        if not module or not name or "<" in name or module == "__main__":
            return None
        return f"{module}:{name}"


def reopener(factory: StoreFactory) -> Factory | None:
    """``factory`` if it can open another instance at a location (see `Factory`), else None."""
    return factory if isinstance(factory, Factory) and factory.reopenable else None


@contextlib.asynccontextmanager
async def _opened(func: Callable[..., Any], kwargs: dict[str, Any]) -> AsyncIterator[EventStore]:
    if inspect.isasyncgenfunction(func):
        async with contextlib.asynccontextmanager(func)(**kwargs) as store:
            yield _checked(store)
        return
    made = func(**kwargs)
    if isinstance(made, AbstractAsyncContextManager) and not isinstance(made, EventStore):
        async with made as store:
            yield _checked(store)
        return
    if inspect.isawaitable(made):
        made = await made
    store = _checked(made)
    async with store:
        yield store


def backend_module(spec: str) -> ModuleType:
    """The module a backend's factory lives in: a reference backend's module, or the
    module of ``module:function``. It may offer ``server_version()`` (sync or async),
    which results record."""
    if ":" not in spec:
        if spec not in REFERENCE_BACKENDS:
            raise UnknownBackend(f"no reference backend named {spec!r}")
        return cast("ModuleType", _import_reference(spec))
    return importlib.import_module(spec.partition(":")[0])


def as_store_factory(func: Callable[..., Any]) -> StoreFactory:
    """Wrap any of the accepted factory forms (see the module docstring) into one."""
    if isinstance(func, Factory):
        return func
    return Factory(func)


def _checked(store: object) -> EventStore:
    if not isinstance(store, EventStore):
        missing = [name for name in _protocol_members() if not hasattr(store, name)]
        lacks = f": it has no {', '.join(missing)}" if missing else ""
        raise TypeError(
            f"the factory gave a {type(store).__name__}, which does not implement the "
            f"EventStore protocol (see harness.contract.EventStore){lacks}"
        )
    return store


def _protocol_members() -> list[str]:
    """What `EventStore` asks of a store, in the order it declares them."""
    dunders = {"__aenter__", "__aexit__"}
    return [
        name
        for name in vars(EventStore)
        if (not name.startswith("_") or name in dunders) and name != "_is_protocol"
    ]
