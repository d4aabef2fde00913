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
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeAlias, cast

from harness.contract import EventStore

__all__ = [
    "REFERENCE_BACKENDS",
    "BackendInfo",
    "Factory",
    "StoreFactory",
    "UnknownBackend",
    "backend_info",
    "backend_module",
    "load_factory",
    "must_run",
    "reference_factory",
    "reopener",
]

StoreFactory: TypeAlias = Callable[[], AbstractAsyncContextManager[EventStore]]


class UnknownBackend(LookupError):
    """A backend name or ``module:function`` could not be found."""


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
        raise UnknownBackend(f"no reference backend named {name!r}; known: {known}")
    module = _import_reference(name)
    return as_store_factory(module.temporary_store)


def load_factory(spec: str) -> StoreFactory:
    """Resolve a reference backend name or a ``module:function`` string to a factory."""
    if ":" not in spec:
        return reference_factory(spec)
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownBackend(
            f"cannot import {module_name!r} for factory {spec!r}: {exc}. Is the module on "
            "sys.path (run from your project root, or pip install it)?"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UnknownBackend(f"{module_name!r} has no attribute {attr!r}") from None
    if not callable(target):
        raise UnknownBackend(f"{spec!r} is not callable; name a function that gives a store")
    return as_store_factory(target)


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
        raise TypeError(
            f"the factory gave a {type(store).__name__}, which does not implement the "
            "EventStore protocol (see harness.contract.EventStore)"
        )
    return store
