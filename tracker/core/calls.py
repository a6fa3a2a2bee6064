"""Wrapping calls: ``@track``, ``track(...)`` blocks, ``task(...)`` spans, and ``propagate`` for other threads.

Which run a call belongs to is decided by its context (``contextvars``), never by what else runs in the process:

- inside a run of its context, ``@track`` (without labels, or with the same labels as that run) and ``task`` open
  a span of it; with other labels (``@track(project="billing")`` inside a ``vision`` run) ``@track`` starts a run
  of its own, nested in the other;
- with no run in its context, ``@track`` starts its own run, in any thread or asyncio task, whatever other runs
  are active elsewhere; ``task`` does nothing (the code still runs);
- an asyncio task inherits the run of the task that created it (``asyncio.gather``, ``create_task``,
  ``asyncio.to_thread`` copy the context); plain threads and ``loop.run_in_executor`` do not, so work handed to
  them joins the caller's run through :func:`propagate`.

Every kind of callable is covered for the whole of its work: a coroutine until it returns, a generator or an async
generator for the whole iteration, including when the consumer stops early (``break``, ``close()``,
``aclose()``). A run started by a generator is the current run only while the generator's own code runs, not in
the consumer's code between items. A block (or span) left from another context than the one that entered it (an
``ExitStack`` closed by another thread, an async-generator fixture finalised by another task) stops its own run.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

from tracker.core.run import Run, Tracker, _current, current_run, outcome
from tracker.records.schema import LABELS

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_perf_ns = time.perf_counter_ns


def _joins(run: Run, labels: dict[str, str]) -> bool:
    """Whether a call with these explicit labels is a span of ``run`` (the same labels) or a run of its own."""
    config = run.config
    return all(getattr(config, key) == value for key, value in labels.items())


def _end_span(run: Run, name: str, start: int, end: int) -> None:
    """Add a finished span; one that ends after its run was recorded is logged (once per name), never silent."""
    run.profile.spans.append((name, start, end))
    if not run.active:
        run.profile.late((name, start, end), run.run_id)


class _Open:
    """What one object (a ``track(...)`` or a ``task``) has open, per context and in all contexts.

    The context's stack says which entry a normal exit closes; the object-wide list says which entries are still
    open anywhere, so that an exit from another context closes its own (the newest still open) and an entry
    closed elsewhere is skipped by its own context later. ``list.append`` / ``remove`` / ``pop`` are atomic.
    """

    __slots__ = ("live", "stack")

    def __init__(self, name: str) -> None:
        self.stack: ContextVar[tuple[Any, ...]] = ContextVar(name, default=())
        self.live: list[Any] = []

    def push(self, entry: Any) -> None:
        self.stack.set((*self.stack.get(), entry))
        self.live.append(entry)

    def pop(self) -> Any | None:
        """The entry this exit closes: this context's newest still open, else (another context) the newest open
        anywhere; ``None`` when nothing is open."""
        stack = self.stack.get()
        while stack:
            *rest, entry = stack
            stack = tuple(rest)
            try:
                self.live.remove(entry)
            except ValueError:  # closed from another context already: skip it
                continue
            self.stack.set(stack)
            return entry
        self.stack.set(())
        try:
            return self.live.pop()
        except IndexError:
            return None


class _Track:
    """What ``track(...)`` returns: a decorator and a context manager, re-entrant and safe to share.

    Open blocks are kept per context (thread, asyncio task), so one ``track(...)`` object used by several threads
    at once stops each thread's own run, and a block left from another context stops its own run.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.labels = {key: str(settings[key]) for key in LABELS if settings.get(key) is not None}
        self._open = _Open(f"tracker_track_{id(self)}")

    # context manager: always a new run
    def __enter__(self) -> Run:
        tracker = Tracker(**self.settings)
        run = tracker.start()
        self._open.push(tracker)
        return run

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tracker = self._open.pop()
        if tracker is None:
            logger.warning("a track() block was left that was never entered; nothing to stop")
            return
        tracker.stop(*outcome(exc))

    # decorator: a span inside a run of the same labels, else a new run named after the function
    def __call__(self, fn: F) -> F:
        return _wrap(fn, _name(fn), self.settings, self.labels, runs=True)


class task:
    """A named span of the current run: ``with task("load"):`` or ``@task("load")``. Spans nest.

    Outside any run it does nothing (the code still runs). One ``task`` object may be reused and shared: open
    spans are kept per context (thread, asyncio task), and a span left from another context ends its own span.
    """

    __slots__ = ("_open", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._open = _Open("tracker_task")

    def __enter__(self) -> task:
        self._open.push((current_run(), _perf_ns()))
        return self

    def __exit__(self, *exc: object) -> None:
        end = _perf_ns()
        entry = self._open.pop()
        if entry is not None and entry[0] is not None:
            _end_span(entry[0], self.name, entry[1], end)

    def __call__(self, fn: F) -> F:
        return _wrap(fn, self.name, {}, {}, runs=False)


def track(func: Callable[..., Any] | None = None, /, **settings: Any) -> Any:
    """Track a function (``@track``, ``@track(project="x")``) or a block (``with track(project="x") as run:``).

    On a function called inside a run of its context (with the same labels, if it names any), it opens a span
    of that run instead of a new run. Functions, coroutines, generators and async generators are all covered for
    the whole of their work.
    """
    if func is not None:
        if settings or not callable(func):
            raise TypeError("use @track, @track(key=value, ...) or with track(key=value, ...)")
        return _Track({})(func)
    return _Track(settings)


def propagate(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to the current run: call it in another thread and its spans (and ``@track`` calls) join the
    caller's run. Wrap where the work is handed over::

        pool.submit(tracker.propagate(work), item)
        threading.Thread(target=tracker.propagate(work)).start()
        await loop.run_in_executor(None, tracker.propagate(work))

    (``asyncio.to_thread`` copies the context itself.) Safe to call from many threads at once.
    """
    run = current_run()

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> T:
        token = _current.set(run)
        try:
            return fn(*args, **kwargs)
        finally:
            _current.reset(token)

    return bound


# -- the wrappers ---------------------------------------------------------------------------------------------


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))


def _wrap(fn: F, name: str, settings: dict[str, Any], labels: dict[str, str], *, runs: bool) -> F:
    """The wrapper for any callable: a span of the current run, else (``runs``) a run of its own."""
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_generator(fn, name, settings, labels, runs)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(fn):
        return _wrap_generator(fn, name, settings, labels, runs)  # type: ignore[return-value]
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(fn, name, settings, labels, runs)  # type: ignore[return-value]
    return _wrap_function(fn, name, settings, labels, runs)  # type: ignore[return-value]


def _span_run(labels: dict[str, str]) -> Run | None:
    """The run a call here is a span of, if any."""
    run = current_run()
    return run if run is not None and (not labels or _joins(run, labels)) else None


def _wrap_function(fn: Callable[..., Any], name: str, settings: dict[str, Any], labels: dict[str, str], runs: bool):
    current, perf, slow = _current, _perf_ns, current_run

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # the hot path (a decorated function called inside a run), written out: ~0.4 µs a call
        run = current.get()
        if run is None or not run.active:
            run = slow()
        if run is not None and (not labels or _joins(run, labels)):
            t0 = perf()
            try:
                return fn(*args, **kwargs)
            finally:
                end = perf()
                run.profile.spans.append((name, t0, end))
                if not run.active:
                    run.profile.late((name, t0, end), run.run_id)
        if not runs:
            return fn(*args, **kwargs)
        with Tracker(name=name, **settings):
            return fn(*args, **kwargs)

    return wrapper


def _wrap_coroutine(fn: Callable[..., Any], name: str, settings: dict[str, Any], labels: dict[str, str], runs: bool):
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _span_run(labels)
        if run is not None:
            t0 = _perf_ns()
            try:
                return await fn(*args, **kwargs)
            finally:
                _end_span(run, name, t0, _perf_ns())
        if not runs:
            return await fn(*args, **kwargs)
        with Tracker(name=name, **settings):  # this task's context: its own copy, set and reset here
            return await fn(*args, **kwargs)

    return wrapper


def _wrap_generator(fn: Callable[..., Any], name: str, settings: dict[str, Any], labels: dict[str, str], runs: bool):
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        run = _span_run(labels)
        if run is not None or not runs:
            t0 = _perf_ns()
            try:
                return (yield from fn(*args, **kwargs))
            finally:
                if run is not None:
                    _end_span(run, name, t0, _perf_ns())
        own = Tracker(name=name, **settings)
        started = own.start_detached()
        try:
            result = yield from _resumed_in(started, fn(*args, **kwargs))
        except BaseException as exc:
            own.stop(*outcome(exc))
            raise
        own.stop()
        return result

    return wrapper


def _resumed_in(run: Run, gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """``yield from gen`` with ``run`` as the current run while ``gen``'s code runs (not the consumer's)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        token = _current.set(run)
        try:
            item = gen.send(value) if error is None else gen.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            _current.reset(token)
        try:
            value, error = (yield item), None
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:  # thrown in by the consumer: pass it on
            value, error = None, exc


def _wrap_async_generator(
    fn: Callable[..., Any], name: str, settings: dict[str, Any], labels: dict[str, str], runs: bool
):
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        run = _span_run(labels)
        own = Tracker(name=name, **settings) if run is None and runs else None
        started = own.start_detached() if own is not None else None
        t0 = _perf_ns()
        agen = fn(*args, **kwargs)
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                token = _current.set(started) if started is not None else None
                try:
                    item = await (agen.asend(value) if error is None else agen.athrow(error))
                except StopAsyncIteration:
                    break
                finally:
                    if token is not None:
                        _current.reset(token)
                try:
                    value, error = (yield item), None
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:
                    value, error = None, exc
        except BaseException as exc:
            if own is not None:
                own.stop(*outcome(exc))
            elif run is not None:
                _end_span(run, name, t0, _perf_ns())
            raise
        if own is not None:
            own.stop()
        elif run is not None:
            _end_span(run, name, t0, _perf_ns())

    return wrapper
