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

import contextlib
import functools
import inspect
import logging
import sys
import threading
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


#: what this context has open, across every ``track(...)`` and ``task`` object: (owner, entry) pairs, newest last.
#: One variable for all of them: a ``ContextVar`` per object would add a key to every context it is ever set in,
#: and ``with task("step"):`` in a loop makes a new object each time.
_OPEN: ContextVar[tuple[tuple[Any, Any], ...]] = ContextVar("tracker_open", default=())


class _Entry:
    """One open block or span: what it holds, and the thread and asyncio task that opened it."""

    __slots__ = ("task", "thread", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.thread = threading.current_thread()
        self.task: Any = None
        aio = sys.modules.get("asyncio")  # never imported here: a program without asyncio has no task
        if aio is not None:
            with contextlib.suppress(RuntimeError):  # no running event loop in this thread
                self.task = aio.current_task()

    def opener_gone(self) -> bool:
        """Whether the thread or task that opened this has finished (so it cannot leave the block itself)."""
        return not self.thread.is_alive() or (self.task is not None and self.task.done())


class _Open:
    """What one object (a ``track(...)`` or a ``task``) has open, per context and in all contexts.

    The context's pairs in :data:`_OPEN` say which entry a normal exit closes; the object-wide list says which
    entries are still open anywhere. An exit from a context that opened none of this object's entries (an
    ``ExitStack`` closed by another thread, an async-generator fixture finalised by another task) closes one
    opened elsewhere: preferably one whose opener has finished, else the oldest (the usual hand-over), with a
    debug log when there was a choice. An entry closed that way is skipped when its own context exits later, and
    that exit closes nothing else. ``list.append`` / ``remove`` are atomic.
    """

    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live: list[_Entry] = []

    def push(self, value: Any) -> None:
        entry = _Entry(value)
        _OPEN.set((*_OPEN.get(), (self, entry)))
        self.live.append(entry)

    def pop(self) -> Any | None:
        """The value this exit closes (see the class); ``None`` when it closes nothing."""
        pairs = _OPEN.get()
        skipped = False
        for i in range(len(pairs) - 1, -1, -1):
            owner, entry = pairs[i]
            if owner is not self:
                continue
            _OPEN.set(pairs[:i] + pairs[i + 1 :])
            pairs = _OPEN.get()
            try:
                self.live.remove(entry)
            except ValueError:  # closed from another context already
                skipped = True
                continue
            return entry.value
        if skipped:  # this context's own entries were all closed elsewhere: closing another would be a guess
            return None
        return self._from_elsewhere()

    def _from_elsewhere(self) -> Any | None:
        live = list(self.live)
        if not live:
            return None
        gone = [entry for entry in live if entry.opener_gone()]
        chosen = (gone or live)[0]
        if len(live) > 1:
            logger.debug("left from another context with %d open; closing the %s", len(live),
                         "one whose opener has finished" if gone else "oldest")  # fmt: skip
        try:
            self.live.remove(chosen)
        except ValueError:  # another thread closed it meanwhile: try again
            return self._from_elsewhere()
        return chosen.value


class _Track:
    """What ``track(...)`` returns: a decorator and a context manager, re-entrant and safe to share.

    Open blocks are kept per context (thread, asyncio task), so one ``track(...)`` object used by several threads
    at once stops each thread's own run, and a block left from another context stops its own run.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.labels = {key: str(settings[key]) for key in LABELS if settings.get(key) is not None}
        self._open = _Open()

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
        settings = dict(self.settings)
        name = settings.pop("name", None) or _name(fn)  # @track(name="x") names the runs; default: the function
        return _wrap(fn, name, settings, self.labels, runs=True)


class task:
    """A named span of the current run: ``with task("load"):`` or ``@task("load")``. Spans nest.

    Outside any run it does nothing (the code still runs). One ``task`` object may be reused and shared: open
    spans are kept per context (thread, asyncio task), and a span left from another context ends its own span.
    """

    __slots__ = ("_open", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._open = _Open()

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
    last: list[tuple[str, bool]] = [("", False)]  # (run id, joins it?) of the last run seen: labels are compared once

    def joins(run: Run) -> bool:
        seen = last[0]  # one tuple, swapped whole: threads never see a run id with another run's answer
        if seen[0] is not run.run_id:
            seen = last[0] = (run.run_id, _joins(run, labels))
        return seen[1]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # the hot path (a decorated function called inside a run), written out: ~0.4 µs a call
        run = current.get()
        if run is None or not run.active:
            run = slow()
        if run is not None and (not labels or joins(run)):
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
    """``yield from gen`` with ``run`` as the current run while ``gen``'s code runs (not the consumer's).

    What the generator's own code makes current (a ``with track(...)`` around a ``yield``) is what it finds
    again when resumed, cleanup at ``close()`` included: its context is kept between steps, like a task's."""
    inside: Run | None = run  # the generator's current run, as it left it
    value: Any = None
    error: BaseException | None = None
    while True:
        token = _current.set(inside)
        try:
            item = gen.send(value) if error is None else gen.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            inside = _current.get()
            _current.reset(token)
        try:
            value, error = (yield item), None
        except GeneratorExit:
            token = _current.set(inside)
            try:
                gen.close()
            finally:
                _current.reset(token)
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
        inside: Run | None = started  # the generator's own current run, kept between its steps
        try:
            while True:
                token = _current.set(inside) if started is not None else None
                try:
                    item = await (agen.asend(value) if error is None else agen.athrow(error))
                except StopAsyncIteration:
                    break
                finally:
                    if token is not None:
                        inside = _current.get()
                        _current.reset(token)
                try:
                    value, error = (yield item), None
                except GeneratorExit:
                    token = _current.set(inside) if started is not None else None
                    try:
                        await agen.aclose()
                    finally:
                        if token is not None:
                            _current.reset(token)
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
