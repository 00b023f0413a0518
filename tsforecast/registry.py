"""A model registry for unattended retraining: versions, an atomic `current`, a lock.

Layout of a registry directory:

    versions/<UTC timestamp>-<data hash>/   complete model directories (artifacts.save)
    current -> versions/<name>              a relative symlink, the promoted version
    promotions.jsonl                        one line per promotion or rollback
    forecasts/                              what `predict --registry` served (forecast_log)
    monitor.json                            the last `tsforecast monitor`'s realised scores
    recalibration.json                      the interval multipliers the last predict applied
    .lock                                   flock'ed for the whole of a run

`current` is a symlink rather than a pointer file because a symlink is replaced by one
rename(2) just as atomically, and it stays readable by every tool: `ls -l` shows the promoted
version and `tsforecast predict --model DIR/current` works without the registry. A version is
written with artifacts.save (staging directory, fsync, rename), so a run killed at any moment
leaves `current` pointing at a complete version. What a killed run leaves is swept by the next
run while it holds the lock: hidden dot-names (staging directories, half-deleted versions,
unrenamed links), and the version it wrote to promote but had not made current yet, which no
command shows in the meantime (`names`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import artifacts, atomic, jsontext
from .artifacts import ModelArtifact
from .errors import ArtifactError, StateError, StorageError
from .runtime import test_pause

log = logging.getLogger(__name__)

VERSIONS = artifacts.REGISTRY_VERSIONS
CURRENT = "current"
LOCK = ".lock"
PROMOTIONS = "promotions.jsonl"
MONITOR = "monitor.json"
RECALIBRATION = "recalibration.json"

T = TypeVar("T")


@dataclass(frozen=True)
class VersionInfo:
    """One version as `tsforecast registry list` shows it."""

    name: str
    created_at: str
    data_hash: str
    last_timestamp: str
    metrics: dict[str, Any]
    current: bool
    # Its realised scores as the last `tsforecast monitor` found them (Registry.realised).
    realised: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The recalibration of its intervals the last `predict --registry` applied, when that was
    # this version (Registry.recalibration).
    recalibration: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Its last head-to-head with the version then current (`--promote if-better`): the
    # promotions.jsonl line, with its action (promote or candidate), previous and comparison.
    compared: dict[str, Any] = dataclasses.field(default_factory=dict)


def storage_error(action: str, exc: OSError) -> StorageError:
    return StorageError(
        f"cannot {action}: {exc.strerror or exc} ({exc.filename or ''}); current is unchanged"
    )


class Registry:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.versions = self.root / VERSIONS

    # Reading.

    def require(self) -> Registry:
        if not self.versions.is_dir():
            if (self.root / artifacts.CONFIG_FILE).is_file():
                raise ArtifactError(
                    f"{self.root} is a model directory, not a registry: use --model {self.root}"
                )
            raise ArtifactError(
                f"no registry at {self.root}; create one with: tsforecast train DATA --registry "
                f"{self.root}"
            )
        return self

    def current(self) -> str | None:
        try:
            return Path(os.readlink(self.root / CURRENT)).name
        except FileNotFoundError:
            return None
        except OSError:
            raise ArtifactError(f"{self.root / CURRENT} is not a link made by tsforecast") from None

    def current_path(self) -> Path:
        name = self.require().current()
        if name is None:
            raise ArtifactError(
                f"registry {self.root} has no current version; train one with --registry "
                f"{self.root}"
            )
        return self.versions / name

    def load_current(self) -> tuple[str, ModelArtifact]:
        """The current version's name and model. A version removed while it is read (a run
        promoted another and --keep removed this one) is read again as the new current."""
        for _ in range(atomic.READ_ATTEMPTS):
            path = self.current_path()
            try:
                return path.name, artifacts.load(path)
            except ArtifactError:
                if self.current() == path.name:
                    raise
        raise ArtifactError(f"current of {self.root} changed too often while being read; try again")

    def _directories(self) -> list[str]:
        if not self.versions.is_dir():
            return []
        return sorted(
            p.name for p in self.versions.iterdir() if not p.name.startswith(".") and p.is_dir()
        )

    def names(self) -> list[str]:
        """Version names, oldest first (names start with their UTC creation time), without
        the one a killed run left unfinished (`unfinished`)."""
        names, unfinished = self._directories(), self.unfinished()
        return [name for name in names if name != unfinished]

    def unfinished(self) -> str | None:
        """The version a run wrote to promote and was killed before making current: the
        newest directory, not current, written with decision "promote", and written after
        every line of promotions.jsonl, none of which names it. None when there is none, or
        when the log does not name the current version (lost, or from before there was a log):
        then it tells nothing."""
        names, current = self._directories(), self.current()
        if not names or names[-1] == current:
            return None
        newest, entries = names[-1], self._entries()
        logged = {e.get(key) for e in entries for key in ("version", "previous")}
        trustworthy = current in logged if current is not None else not entries
        if not trustworthy or newest in logged:
            return None
        try:
            # Modification times, finer than the log's timestamps: a version written less than
            # a second after a promotion is still told apart.
            written = (self.versions / newest).stat().st_mtime_ns
            if entries and written <= (self.root / PROMOTIONS).stat().st_mtime_ns:
                return None
        except OSError:
            return None
        record = artifacts.read_record(self.versions / newest)
        return newest if record is not None and record.decision == "promote" else None

    def describe(self) -> list[VersionInfo]:
        current = self.require().current()
        realised = self.realised().get("versions", {})
        recalibration = self.recalibration()
        compared = {e["version"]: e for e in self._entries() if "comparison" in e}
        rows = []
        for name in self.names():
            record = artifacts.read_record(self.versions / name)
            if record is None:
                continue  # not a model directory: somebody else's file, ignored
            rows.append(
                VersionInfo(
                    name=name,
                    created_at=record.created_at,
                    data_hash=record.data_hash or "",
                    last_timestamp=record.last_timestamp,
                    metrics=record.metrics,
                    current=name == current,
                    realised=realised.get(name, {}),
                    recalibration=recalibration if recalibration.get("version") == name else {},
                    compared=compared.get(name, {}),
                )
            )
        return rows

    def realised(self) -> dict[str, Any]:
        """What the last `tsforecast monitor --registry` recorded (`record_realised`); {} when
        none has run or its file cannot be read."""
        return _json_object(self.root / MONITOR)

    def record_realised(self, recorded: dict[str, Any]) -> None:
        """Replace monitor.json in one rename (no lock: a training run never reads it, and of
        two monitors the later one wins). OSError when the registry cannot be written."""
        text = jsontext.dumps(recorded, indent=2) + "\n"
        atomic.write_file(self.root / MONITOR, lambda path: path.write_text(text))

    def recalibration(self) -> dict[str, Any]:
        """The recalibration the last `predict --registry` applied (`record_recalibration`);
        {} when none has or its file cannot be read."""
        return _json_object(self.root / RECALIBRATION)

    def record_recalibration(self, recorded: dict[str, Any]) -> None:
        """Replace recalibration.json in one rename (no lock, as monitor.json: the state is
        replayed from the forecast log each time, so the file only reports it). OSError when
        the registry cannot be written."""
        text = jsontext.dumps(recorded, indent=2) + "\n"
        atomic.write_file(self.root / RECALIBRATION, lambda path: path.write_text(text))

    def data_hash_of(self, name: str) -> str | None:
        record = artifacts.read_record(self.versions / name)
        return None if record is None else record.data_hash

    # Writing: only while holding the lock.

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """Hold an exclusive flock on `.lock`; the kernel drops it when the process dies, so a
        killed run never leaves the registry locked. Waits up to `timeout` seconds."""
        path = self.root / LOCK
        try:
            self.versions.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
        except OSError as exc:
            raise storage_error(f"use registry {self.root}", exc) from None
        with atomic.held_lock(path, timeout, f"registry {self.root}"):
            yield

    def change(self, timeout: float, step: Callable[[Registry], T]) -> T:
        """`step(self)` under the lock (waiting up to `timeout` seconds), after finishing what
        killed runs left: how `registry promote` and `rollback` change an existing registry."""
        self.require()
        with self.locked(timeout):
            self.sweep()
            return step(self)

    def sweep(self) -> None:
        """Finish what killed runs left: remove staging directories, half-deleted versions and
        unrenamed links (all dot-names), remove the version a run was killed promoting
        (`unfinished`), and log the promotion of a run killed between switching `current` and
        logging it. Call with the lock held."""
        unfinished = self.unfinished()
        if unfinished is not None:
            # Hidden first, so that a kill halfway through deleting it leaves only a dot-name.
            test_pause("sweep")
            os.replace(self.versions / unfinished, self.versions / f".{unfinished}.unfinished")
        for leftover in list(self.versions.glob(".*")) + list(self.root.glob(f".{CURRENT}.tmp-*")):
            test_pause("sweep")
            if leftover.is_symlink() or leftover.is_file():
                leftover.unlink(missing_ok=True)
            else:
                shutil.rmtree(leftover, ignore_errors=True)
        current = self.current()
        logged = {e.get(key) for e in self._entries() for key in ("version", "previous")}
        if current is not None and current not in logged:
            stack = self._promotion_stack()
            entry = {
                "timestamp": _now(),
                "action": "promote",
                "version": current,
                "previous": stack[-1] if stack else None,
                "recovered": True,
            }
            try:
                self._append(entry)
            except OSError as exc:
                raise storage_error(
                    f"record the promotion of {current} in {PROMOTIONS}", exc
                ) from None

    def new_name(self, digest: str) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name, n = f"{stamp}-{digest[:8]}", 1
        while (self.versions / name).exists():
            n += 1
            name = f"{stamp}-{digest[:8]}-{n}"
        return name

    def switch(self, name: str) -> None:
        """Point `current` at version `name` in one rename: readers see the old or the new."""
        link = self.root / f".{CURRENT}.tmp-{os.getpid()}"
        try:
            link.unlink(missing_ok=True)
            os.symlink(Path(VERSIONS) / name, link)
            test_pause("switch")
            os.replace(link, self.root / CURRENT)
            atomic.fsync_dir(self.root)
        except OSError as exc:
            link.unlink(missing_ok=True)
            raise storage_error(f"switch {self.root / CURRENT} to {name}", exc) from None
        except BaseException:
            link.unlink(missing_ok=True)
            raise

    def _append(self, entry: dict[str, Any]) -> None:
        with open(self.root / PROMOTIONS, "a+b") as handle:
            # After a line torn by a crash, on a line of its own rather than glued to it.
            torn = handle.tell() > 0 and os.pread(handle.fileno(), 1, handle.tell() - 1) != b"\n"
            handle.write(b"\n" * torn + jsontext.dumps(entry).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _entries(self) -> list[dict[str, Any]]:
        """The lines of promotions.jsonl; the last may be torn by a crash and is then left out."""
        try:
            lines = (self.root / PROMOTIONS).read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

    def record(self, action: str, version: str, previous: str | None, **details: Any) -> None:
        """A line of promotions.jsonl: `promote` and `rollback` move `current`; `candidate`
        (a version --promote if-better kept out) only records its comparison."""
        test_pause("record")
        entry = {"timestamp": _now(), "action": action, "version": version, "previous": previous}
        entry.update(details)
        try:
            self._append(entry)
        except OSError as exc:
            # `current` has moved already; the next run's sweep writes the line.
            log.warning("could not record the %s of %s in %s: %s", action, version, PROMOTIONS, exc)

    def promote(self, name: str) -> str | None:
        """Make `name` current (after checking it loads); returns the previous current."""
        if not _is_version_name(name):
            raise ArtifactError(
                f"{name!r} is not a version name: give the name of a directory in "
                f"{self.versions} (as `tsforecast registry list` shows), not a path"
            )
        path = self.versions / name
        if not path.is_dir():
            known = ", ".join(self.names()[-5:]) or "none"
            raise ArtifactError(f"no version {name!r} in {self.root}; recent versions: {known}")
        artifacts.load(path)
        previous = self.current()
        self.switch(name)
        self.record("promote", name, previous)
        return previous

    def _promotion_stack(self) -> list[str]:
        """Versions promoted one over the other, replayed from promotions.jsonl."""
        stack: list[str] = []
        for entry in self._entries():
            if entry.get("action") == "promote":
                stack.append(entry["version"])
            elif entry.get("action") == "rollback":
                while stack and stack[-1] != entry["version"]:
                    stack.pop()
                if not stack:
                    stack.append(entry["version"])
        return stack

    def rollback(self) -> tuple[str, str]:
        """Make the version promoted before the current one current again (skipping versions
        --keep has removed); returns (from, to)."""
        current = self.current()
        if current is None:
            raise ArtifactError(f"registry {self.root} has no current version to roll back from")
        stack = self._promotion_stack()
        while stack and (stack[-1] == current or not (self.versions / stack[-1]).is_dir()):
            stack.pop()
        if not stack:
            raise StateError(
                f"nothing to roll back to: no version promoted before {current} is left in "
                f"{self.root}"
            )
        target = stack[-1]
        artifacts.load(self.versions / target)
        self.switch(target)
        self.record("rollback", target, current)
        return current, target

    def prune(self, keep: int) -> list[str]:
        """Remove the oldest versions other than `current` until `keep` remain."""
        names, current = self.names(), self.current()
        doomed = [name for name in names if name != current][: max(0, len(names) - keep)]
        for name in doomed:
            # Renamed to a dot-name first, so a kill halfway through deleting leaves no
            # version that looks complete but is not; the next sweep finishes the job.
            trash = self.versions / f".{name}.removed-{os.getpid()}"
            try:
                os.replace(self.versions / name, trash)
            except OSError as exc:
                log.warning("could not remove old version %s: %s", name, exc)
                continue
            test_pause("prune")
            shutil.rmtree(trash, ignore_errors=True)
        return doomed


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _is_version_name(name: str) -> bool:
    """A plain name of a directory under versions/: joined with pathlib, an absolute path or
    `..` would point `current` outside the registry, and dot-names are versions being removed."""
    return bool(name) and Path(name).name == name and not name.startswith(".") and "\\" not in name


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; {} when there is none or it cannot be read: these files only
    report, and a lost report must not stop a run."""
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}
