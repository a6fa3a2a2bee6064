"""The spool: records that could not reach their store wait here, one file each, until they can.

When a store write fails at a run's end (a PostgreSQL server away, a locked or full disk), the record is written
to ``<data dir>/spool/<run_id>.<target>.json`` (a temporary file, then ``os.replace``: a reader never sees half a
file) together with the store it was meant for. The next successful write to that store, by any run of any
process, delivers what waits for it; ``tracker sync`` delivers everything. Stores upsert by ``run_id``, so a record
delivered twice (two processes flushing at once, a crash between the write and the file's removal) is stored
once; a spool file is removed only after its store has taken the record.

A record a store refuses *as data* (a text SQLite cannot encode, a NUL byte PostgreSQL refuses: never an
outage, see :func:`refused_as_data`) would be refused again at every attempt and hold back the records behind
it: it is set aside in ``<data dir>/rejected/`` with the reason, and the others are delivered.

The common case must cost nothing: when the spool is empty its directory usually does not exist, and a
successful write costs one ``listdir`` that fails. A target whose spool was found empty is not looked at again for
``RECHECK_S`` unless this process has spooled a record since: a loop of short runs lists the directory once a
second, not once a run, and a record spooled by another process waits at most that long for the next run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.paths import data_dir, private_dir
from tracker.records.schema import RunRecord, iso

if TYPE_CHECKING:
    from tracker.stores.base import Store

logger = logging.getLogger(__name__)

FORMAT = 1
LEGACY_FILE = "unsaved-records.jsonl"  # the fallback file of tracker <= 0.1: migrated into the spool by sync
RUN_FLUSH_LIMIT = 1000  # records a run's end delivers at most; ``tracker sync`` has no limit
BATCH = 500
STALE_TEMPORARY_S = 60.0  # a spool write takes milliseconds: a temporary file older than this lost its writer
KINDS = ("store", "csv")  # "store": open_store(location); "csv": a CSV file whatever its extension (csv=)

RECHECK_S = 1.0  # a target's spool found empty is looked at again after this long, or after any put() here

_failing: set[tuple[str, str]] = set()  # targets whose last write failed in this process (log once, not per run)
_failing_lock = threading.RLock()  # re-entrant: a signal handler writing the last records may interrupt its holder
# Set by final_writes() when a signal ends the process: target -> the store opened afresh for it, or None once it
# failed (not tried again: the remaining records go straight to the spool).
_final: dict[tuple[str, str], Store | None] | None = None
_empty: dict[tuple[str, str], tuple[float, int]] = {}  # target -> (monotonic time found empty, _puts then)
_puts = 0  # records spooled by this process: each one makes every target look again


class SyncResult:
    """What one delivery attempt did for one target: records delivered, records still waiting, and why; records
    the store refused as data (``rejected``: where each one now is, and why).

    A plain class, not a dataclass: this module is imported by every first run, where building a dataclass
    costs ~1 ms.
    """

    __slots__ = ("delivered", "errors", "kind", "left", "location", "rejected")

    def __init__(
        self, kind: str, location: str, delivered: int = 0, left: int = 0, errors: list[str] | None = None
    ) -> None:
        self.kind = kind
        self.location = location
        self.delivered = delivered
        self.left = left
        self.errors = errors if errors is not None else []
        self.rejected: list[str] = []

    def __repr__(self) -> str:
        return (
            f"SyncResult({self.kind!r}, {self.location!r}, delivered={self.delivered}, left={self.left}, "
            f"errors={self.errors!r}, rejected={self.rejected!r})"
        )


def spool_dir() -> Path:
    """``<data dir>/spool``, following the environment (a run's end looks here at most once a second per store:
    ``RECHECK_S``)."""
    return data_dir() / "spool"


def rejected_dir() -> Path:
    """``<data dir>/rejected``: records a store refused as data, one file each with the reason."""
    return data_dir() / "rejected"


_DATA_ERRORS = frozenset({"DataError", "IntegrityError"})  # sqlite3's and psycopg's (DB-API) names


def refused_as_data(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says the record itself cannot be stored: text that cannot be
    encoded, a value the column refuses (DB-API ``DataError``/``IntegrityError``). A connection refused, a lock
    held, a full disk, a timeout are outages: the record waits and is tried again."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UnicodeError):
            return True
        kind = type(current)
        if kind.__module__.split(".")[0] in ("sqlite3", "psycopg") and _DATA_ERRORS & {
            k.__name__ for k in kind.__mro__
        }:
            return True
        current = current.__cause__ or current.__context__
    return False


def label(location: str) -> str:
    """A target as it may be shown: without a password."""
    if "://" in location and not location.lower().startswith("sqlite:"):
        from tracker.stores.locations import redact

        return redact(location)
    return location


def open_target(kind: str, location: str) -> Store:
    if kind == "csv":
        from tracker.stores.csv import CsvStore

        return CsvStore(location)
    from tracker.stores import open_store

    return open_store(location)


_hooked = False


def _hook_fork() -> None:
    global _hooked
    _hooked = True
    from tracker.forks import after_fork

    after_fork(_reset_after_fork)


def _reset_after_fork() -> None:
    """A forked child: the parent's threads may have held the lock at the fork; the child starts with its own."""
    global _failing_lock
    _failing_lock = threading.RLock()


def final_writes() -> None:
    """The process is ending on a signal: from here on each target is opened afresh, with its own connection and
    locks (the frame the signal interrupted may hold the cached store's, or be inside its connection), a target
    that fails is not tried again, and nothing spooled earlier is delivered (that waits for a later run or
    ``tracker sync``): the last records are written, or spooled, in bounded time."""
    global _final
    if _final is None:
        _final = {}


def _open_final(final: dict[tuple[str, str], Store | None], kind: str, location: str) -> Store:
    target = (kind, location)
    if target in final:
        store = final[target]
        if store is None:
            from tracker.errors import StoreError

            raise StoreError(f"{label(location)} already failed while the process ends; not tried again")
        return store
    final[target] = None  # until it is open: a failure to open is a failure
    if kind == "csv":
        from tracker.stores.csv import CsvStore

        store = CsvStore(location)
    else:
        from tracker.stores.factory import open_uncached

        store = open_uncached(location)
    final[target] = store
    return store


def deliver(record: RunRecord, kind: str, location: str) -> bool:
    """Write ``record`` to one target; on failure spool it (with a note on the record). Never raises.

    After a successful write, records spooled earlier for the same target are delivered too (not while the
    process ends on a signal: :func:`final_writes`).
    """
    if not _hooked:
        _hook_fork()
    final = _final
    try:
        store = open_target(kind, location) if final is None else _open_final(final, kind, location)
        store.write(record)
    except Exception as exc:
        if refused_as_data(exc):
            _refused(record, kind, location, exc)
        else:
            if final is not None:
                final[(kind, location)] = None
            _failed(record, kind, location, exc)
        return False
    if final is not None:
        return True
    target = (kind, location)
    with _failing_lock:
        recovered = target in _failing
        _failing.discard(target)
    empty = _empty.get(target)
    if not recovered and empty is not None and empty[1] == _puts and time.monotonic() - empty[0] < RECHECK_S:
        return True  # looked less than a second ago and found nothing; nothing spooled here since
    puts = _puts
    try:
        result = flush(kind, location, store, limit=RUN_FLUSH_LIMIT)
    except Exception as exc:  # e.g. a spool directory that cannot be listed: the run's own record is stored
        _empty.pop(target, None)
        logger.warning("could not deliver spooled records to %s: %s", label(location), exc)
        return True
    if result.left or result.errors:
        _empty.pop(target, None)
    else:
        _empty[target] = (time.monotonic(), puts)
    if recovered or result.delivered:
        logger.info("%s reachable again: %d spooled record(s) delivered", label(location), result.delivered)
    return True


def _failed(record: RunRecord, kind: str, location: str, exc: BaseException) -> None:
    with _failing_lock:
        first = (kind, location) not in _failing
        _failing.add((kind, location))
    from tracker.safetext import foreign_error
    from tracker.stores.locations import redact

    why = foreign_error(redact(str(exc)))  # a driver's message: no password, one line, capped
    record.notes.append(f"store {label(location)} failed: {why}; spooled for delivery by a later run or `tracker sync`")
    try:
        path = put(kind, location, record)
    except Exception as spool_exc:
        logger.critical(
            "run %s could not be written to %s (%s) nor spooled (%s); record: %s",
            record.run_id, label(location), exc, spool_exc, json.dumps(record.to_row()),
        )  # fmt: skip
        return
    log = logger.error if first else logger.debug
    log(
        "could not write run %s to %s: %s; it waits in %s (delivered by a later run or `tracker sync`)",
        record.run_id, label(location), exc, path,
    )  # fmt: skip


def _refused(record: RunRecord, kind: str, location: str, exc: BaseException) -> None:
    """The store refused the record itself: spooled, it would be refused for ever; set it aside instead."""
    from tracker.safetext import foreign_error

    why = foreign_error(str(exc))
    record.notes.append(f"store {label(location)} refused the record: {why}; kept in {rejected_dir()}")
    try:
        path = _write_payload(rejected_dir(), kind, location, record.to_row(), reason=why)
    except Exception as spool_exc:
        logger.critical(
            "run %s was refused by %s (%s) and could not be set aside (%s); record: %s",
            record.run_id, label(location), why, spool_exc, json.dumps(record.to_row()),
        )  # fmt: skip
        return
    logger.error("run %s was refused by %s as data (%s); kept in %s", record.run_id, label(location), why, path)


# the spool itself -------------------------------------------------------------------------------------------------


def _target_digest(kind: str, location: str) -> str:
    import hashlib

    return hashlib.blake2b(f"{kind}\0{location}".encode(), digest_size=6).hexdigest()


def put(kind: str, location: str, record: RunRecord) -> Path:
    """Spool one record for one target (atomically; the same run for the same target is one file)."""
    if kind not in KINDS:
        raise ValueError(f"unknown target kind {kind!r}")
    path = _write_payload(spool_dir(), kind, location, record.to_row())
    _count_put()
    return path


def _write_payload(
    directory: Path, kind: str, location: str, row: dict[str, Any], reason: str | None = None
) -> Path:
    """One record for one target in ``directory`` (the spool, or ``rejected/`` with the reason), atomically."""
    private_dir(directory)  # 0700, and the data directory above it when this creates it
    safe_id = re.sub(r"[^A-Za-z0-9_-]", "_", str(row.get("run_id")))[:100]
    path = directory / f"{safe_id}.{_target_digest(kind, location)}.json"
    payload = {
        "format": FORMAT,
        "kind": kind,
        "location": location,
        "spooled_at": iso(datetime.now(timezone.utc)),
        "row": row,
    }
    if reason is not None:
        payload["rejected"] = {"at": payload["spooled_at"], "reason": reason}
    temporary = directory / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the location may hold a password
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _count_put() -> None:
    """Once the file is in place: a run's end that listed the spool before it read the old count, and looks
    again at its next write (counted under a lock: threads may spool at once)."""
    global _puts
    with _failing_lock:
        _puts += 1


def _names(suffix: str = ".json") -> list[str]:
    try:
        names = os.listdir(spool_dir())
    except (FileNotFoundError, NotADirectoryError):  # the common case: no spool; a permission error is raised
        return []
    return sorted(n for n in names if n.endswith(suffix) and not n.startswith("."))


def pending(kind: str | None = None, location: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Spooled files and their contents, for one target or all (unreadable files come with ``{}``)."""
    names = _names()
    if kind is not None and location is not None and names:
        suffix = f".{_target_digest(kind, location)}.json"
        names = [n for n in names if n.endswith(suffix)]
    items = []
    for name in names:
        path = spool_dir() / name
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue  # delivered meanwhile by another process
        except (OSError, ValueError) as exc:
            logger.error("spooled file %s cannot be read: %s", path, exc)
            payload = {}
        if location is not None and payload and (payload.get("kind"), payload.get("location")) != (kind, location):
            continue
        items.append((path, payload))
    return items


def flush(kind: str, location: str, store: Store, limit: int | None = None) -> SyncResult:
    """Deliver the records spooled for one target to ``store``; never raises. Files go only once written."""
    result = SyncResult(kind, location)
    if not _names():  # the common case: no spool directory at all
        return result
    try:
        items = pending(kind, location)
    except Exception as exc:  # the spool directory itself unreadable
        result.errors.append(f"cannot read the spool: {exc}")
        return result
    todo = items if limit is None else items[:limit]
    result.left = len(items) - len(todo)
    records: list[tuple[Path, RunRecord]] = []
    for path, payload in todo:
        try:
            records.append((path, RunRecord.from_row(payload["row"])))
        except Exception as exc:
            result.left += 1
            result.errors.append(f"{path.name}: not a spooled record ({exc!r}); left in place")
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        try:
            store.write_many(r for _, r in batch)
        except Exception as exc:
            if refused_as_data(exc):  # one record (or more) the store will never take: find it, go on
                done = _one_by_one(batch, store, result)
                if done:
                    continue
                result.left += len(records) - start - len(batch)
                break
            result.left += len(records) - start
            result.errors.append(f"cannot deliver to {label(location)}: {exc}")
            logger.warning("spooled records for %s not delivered: %s", label(location), exc)
            break
        for path, _ in batch:
            _delivered(path, result)
    return result


def _delivered(path: Path, result: SyncResult) -> None:
    try:
        path.unlink()
    except FileNotFoundError:  # another process (a second `tracker sync`) delivered it meanwhile: the store holds
        return  # it once (upsert by run_id), and that process counts it
    result.delivered += 1


def _one_by_one(batch: list[tuple[Path, RunRecord]], store: Store, result: SyncResult) -> bool:
    """Deliver a batch the store refused record by record: those refused as data are moved to ``rejected/``
    with the reason. False (and the rest of the batch counted as left) when the store goes away meanwhile."""
    for index, (path, record) in enumerate(batch):
        try:
            store.write(record)
        except Exception as exc:
            if not refused_as_data(exc):
                result.left += len(batch) - index
                result.errors.append(f"cannot deliver to {label(result.location)}: {exc}")
                return False
            _set_aside(path, exc, result)
            continue
        _delivered(path, result)
    return True


def _set_aside(path: Path, exc: BaseException, result: SyncResult) -> None:
    """Move a spooled record its store refused as data to ``rejected/``, the reason written into it."""
    from tracker.safetext import foreign_error

    why = foreign_error(str(exc))
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        target = _write_payload(rejected_dir(), payload["kind"], payload["location"], payload["row"], reason=why)
        path.unlink()
    except FileNotFoundError:
        return  # another `tracker sync` set it aside meanwhile
    except Exception as move_exc:  # left in the spool, and said so: never lost
        result.left += 1
        result.errors.append(f"{path.name}: refused by the store ({why}); could not be set aside: {move_exc}")
        return
    result.rejected.append(f"{target}: {why}")
    where = label(result.location)
    logger.error("spooled record %s refused by %s as data (%s); moved to %s", path.name, where, why, target)


# tracker sync -----------------------------------------------------------------------------------------------------


def migrate_legacy(location: str) -> int:
    """Move the records of the old ``unsaved-records.jsonl`` fallback file into the spool, for ``location``.

    That file did not say which store a record was meant for; the caller's store is the best answer. Lines that
    cannot be read stay in the file (renamed ``.unreadable``) so that nothing is thrown away.
    """
    legacy = data_dir() / LEGACY_FILE
    try:
        lines = legacy.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    moved, unreadable = 0, []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = RunRecord.from_row(json.loads(line))
        except Exception:
            unreadable.append(line)
            continue
        put("store", location, record)
        moved += 1
    if unreadable:
        bad = legacy.with_name(LEGACY_FILE + ".unreadable")
        with bad.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(unreadable) + "\n")
        logger.error("%d line(s) of %s could not be read; kept in %s", len(unreadable), legacy, bad)
    legacy.unlink()
    return moved


def recover_temporaries() -> list[Path]:
    """Finish the spool writes of processes killed between writing and renaming (``kill -9``).

    A temporary file older than ``STALE_TEMPORARY_S`` holding a whole payload (it is fsynced before the rename)
    is moved into place; one cut short is left where it is and returned, to be reported, never deleted.
    """
    directory = spool_dir()
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and n.endswith(".tmp")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    now = time.time()
    partial: list[Path] = []
    for name in names:
        temporary = directory / name
        try:
            if now - temporary.stat().st_mtime < STALE_TEMPORARY_S:
                continue  # a write may still be under way
            payload = json.loads(temporary.read_text(encoding="utf-8"))
            final = directory / name[1:].rsplit(".", 3)[0]  # put(): ".{final name}.{pid}.{thread}.tmp"
            if not isinstance(payload, dict) or "row" not in payload or not final.name.endswith(".json"):
                raise ValueError("not a whole spool payload")
        except FileNotFoundError:
            continue  # renamed or removed meanwhile
        except (OSError, ValueError) as exc:
            logger.error("spool file %s was cut short (%s); left in place", temporary, exc)
            partial.append(temporary)
            continue
        try:
            os.replace(temporary, final)
        except FileNotFoundError:  # a second `tracker sync` recovered it between our read and here
            continue
        logger.info("recovered spool file %s of an interrupted process", final.name)
    return partial


def sync(location: str | None = None, legacy_location: str | None = None, to: str | None = None) -> list[SyncResult]:
    """Deliver every spooled record (only those for ``location`` when given). One result per target.

    ``to``: deliver them to this store instead of their own (a store that moved or is gone for good); the
    records keep their note saying where they first failed."""
    if legacy_location is not None:
        migrate_legacy(legacy_location)
    unreadable: list[Path] = recover_temporaries()
    targets: dict[tuple[str, str], int] = {}
    for path, payload in pending():
        if not payload:
            unreadable.append(path)
            continue
        key = (str(payload.get("kind", "store")), str(payload.get("location")))
        if location is None or key[1] == location:
            targets[key] = targets.get(key, 0) + 1
    results = []
    for (kind, target), count in sorted(targets.items()):
        destination = (kind, target) if to is None else ("store", to)
        try:
            store = open_target(*destination)
        except Exception as exc:
            where = label(destination[1])
            results.append(SyncResult(kind, target, left=count, errors=[f"cannot open {where}: {exc}"]))
            continue
        results.append(flush(kind, target, store))
    if unreadable and location is None:
        results.append(SyncResult("?", "unreadable spool files", left=len(unreadable), errors=_paths(unreadable)))
    return results


def _paths(paths: Iterable[Path]) -> list[str]:
    return [str(p) for p in paths]
