"""SIGKILL at every phase of a training run, and at random moments, for `train --out` and
`train --registry`, with real processes killed for real. After each kill `predict` gives
exactly the forecast it gave before the killed run (or, once the run got past its swap or its
switch of `current`, exactly the new model's), `registry list` shows no half-promoted version
and only complete ones, and the next run removes every leftover. And `predict --registry` never
fails while five promotions happen.

Two lanes run side by side, one process per core: a `--out` model directory and a registry.
Every killed run trains the other of two models (seeds 0 and 1) than the one in place, and the
module fixture knows both models' forecasts, so each forecast after a kill is compared with a
known one and a premature swap shows.

The runs are forked from a server that has imported tsforecast and its libraries once (and
never touched a device, with one thread, so forking is safe); each is a fresh process that runs
`tsforecast.cli.main` as `python -m tsforecast` does, without its 2 s of imports.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from tsforecast import artifacts
from tsforecast.cli import cli

# Trains networks of its own (through the CLI): left out of `make test-fast`.
pytestmark = pytest.mark.slow

# The session model's shapes (conftest TRAIN_ARGS), so that the compilation cache has them.
ARGS = (
    "--hidden 16 --lookback 48 --horizon 12 --batch-size 32 --lr 0.003 --epochs 2 --ensemble 1"
    " --no-fallback -q"
).split()
FILES = (
    artifacts.CONFIG_FILE,
    artifacts.PARAMS_FILE,
    artifacts.SCALER_FILE,
    artifacts.HISTORY_FILE,
    artifacts.METRICS_FILE,
    artifacts.CONFORMAL_FILE,
    artifacts.SERIES_METRICS_FILE,
    artifacts.HISTORY_PLOT,
)
TRAINING = ("read", "epoch:1", "epoch:2", *(f"write:{name}" for name in FILES), "fsync")
# In the order a run passes them; `sweep` follows `fsync`, whose kill leaves a staging
# directory for it to remove.
OUT_PHASES = (*TRAINING, "sweep", "swap", "swapped")
REGISTRY_PHASES = (*TRAINING, "sweep", "swapped", "switch", "record", "prune")
# Phases after which the killed run's new model is what predict serves.
OUT_REPLACED = {"swapped"}
REGISTRY_PROMOTED = {"record", "prune"}
VERSION = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}(?:-\d+)?")
RANDOM, FINISH = "random", "finish"  # a run killed at a random moment; the last run, unkilled
PAUSE_TIMEOUT = 300

# The fork server. Reads JSON lines from stdin: {"runs": [[args], ...], "env": {...}, "log":
# path, "no_exchange": bool} forks a process that makes these runs one after the other until one
# fails (stderr to `log`; no_exchange: as where renameat2's RENAME_EXCHANGE is missing) and
# answers `started PID`; {"kill": PID} SIGKILLs a process not yet reaped. Writes `exited PID
# CODE` (-9: killed) when a process ends.
SERVER = r"""
import json, os, select, signal, sys
import matplotlib.pyplot
import tsforecast.atomic, tsforecast.cli, tsforecast.plots, tsforecast.registry
import tsforecast.training
threads = os.listdir("/proc/self/task")
assert len(threads) == 1, f"{len(threads)} threads: forking them would not be safe"
children, pending = set(), b""

def say(*words):
    os.write(1, (" ".join(map(str, words)) + "\n").encode())

def start(run):
    pid = os.fork()
    if pid:
        children.add(pid)
        return say("started", pid)
    os.environ.update(run["env"])
    null = os.open(os.devnull, os.O_RDWR)
    log = os.open(run["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    if run["no_exchange"]:
        tsforecast.atomic._exchange = lambda new, target: False
    code = 1
    try:
        for args in run["runs"]:
            sys.argv = ["tsforecast", *args]
            try:
                tsforecast.cli.main()
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
            if code:
                break
    finally:
        sys.stderr.flush()
        os._exit(code)

say("ready")
while True:
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            say("exited", pid, os.waitstatus_to_exitcode(status))
    if not select.select([0], [], [], 0.01)[0]:
        continue
    chunk = os.read(0, 65536)
    if not chunk:
        break
    pending += chunk
    while b"\n" in pending:
        line, pending = pending.split(b"\n", 1)
        command = json.loads(line)
        if "kill" in command:
            if command["kill"] in children:
                os.kill(command["kill"], signal.SIGKILL)
        else:
            start(command)
for pid in children:  # a failed test's runs, paused or not: none outlives the server
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def forecast(*args) -> str:
    result = invoke("predict", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


class Server:
    """The fork server and the runs it started."""

    def __init__(self, logs: Path) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        env["JE_ARROW_MALLOC_CONF"] = "background_thread:false"  # pyarrow's allocator thread
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.logs, self.count, self.exits, self.pending = logs, 0, {}, b""
        assert self.line(timeout=120) == ["ready"]

    def line(self, timeout: float) -> list[str] | None:
        """The server's next line, or None after `timeout` seconds without one."""
        while b"\n" not in self.pending:
            if not select.select([self.process.stdout], [], [], timeout)[0]:
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536)
            assert chunk, f"the fork server died (exit {self.process.wait()})"
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        words = line.decode().split()
        if words[0] == "exited":
            self.exits[int(words[1])] = int(words[2])
        return words

    def send(self, command: dict) -> None:
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()

    def start(self, *runs, pause_at: str | None = None, no_exchange: bool = False) -> Run:
        """A process making `runs` (lists of arguments to tsforecast) one after the other."""
        self.count += 1
        log = self.logs / f"run-{self.count}.log"
        log.touch()
        env = {"TSFORECAST_TEST_PAUSE_AT": pause_at or ""}
        self.send(
            {
                "runs": [[str(a) for a in args] for args in runs],
                "env": env,
                "log": str(log),
                "no_exchange": no_exchange,
            }
        )
        while (words := self.line(timeout=30)) is not None and words[0] != "started":
            pass
        assert words, "the fork server did not start the run"
        return Run(self, int(words[1]), log)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@dataclass
class Run:
    server: Server
    pid: int
    log: Path
    began: float = field(default_factory=time.monotonic)

    def exited(self) -> int | None:
        while self.pid not in self.server.exits and self.server.line(timeout=0) is not None:
            pass
        return self.server.exits.get(self.pid)

    def paused_at(self, point: str) -> bool:
        return f"test pause at {point}" in self.log.read_text()

    def kill(self) -> None:
        self.server.send({"kill": self.pid})

    def wait(self) -> int:
        deadline = time.monotonic() + PAUSE_TIMEOUT
        while (code := self.exited()) is None:
            assert time.monotonic() < deadline, f"run {self.pid} did not end: {self.stderr()}"
            self.server.line(timeout=0.05)
        return code

    def stderr(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    server = Server(tmp_path_factory.mktemp("runs"))
    yield server
    server.close()


@dataclass(frozen=True)
class Baseline:
    data: Path
    registry: Path  # two versions, trained with seeds 0 (current) and 1
    versions: dict[int, str]  # seed -> version
    forecasts: dict[int, str]  # seed -> the forecast of its model
    seconds: float  # one whole unkilled run


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, make_series, server) -> Baseline:
    root = tmp_path_factory.mktemp("kills")
    data = root / "series.csv"
    make_series(600).to_csv(data, index=False)
    registry = root / "registry"
    assert invoke("train", data, *ARGS, "--seed", 0, "--registry", registry).exit_code == 0
    run = server.start(["train", data, *ARGS, "--seed", 1, "--registry", registry])
    assert run.wait() == 0, run.stderr()
    seconds = time.monotonic() - run.began
    versions = dict(enumerate(sorted(p.name for p in (registry / "versions").iterdir())))
    assert invoke("registry", "promote", registry, versions[0]).exit_code == 0
    forecasts = {
        seed: forecast(data, "--model", registry / "versions" / name)
        for seed, name in versions.items()
    }
    assert forecasts[0] != forecasts[1], "the two models must forecast apart to be told apart"
    return Baseline(data, registry, versions, forecasts, seconds)


class Lane:
    """A place runs write to (a --out model directory or a registry), the run writing there
    now, what predict serves there, and what the last kill left. Subclasses say what counts as
    a leftover (`found`) and what must hold after a run (`check`)."""

    target_args: tuple = ()
    after_sweep: frozenset = frozenset()  # the phases a run reaches after its sweep

    def __init__(self, base: Baseline, server: Server, root: Path, plan: list[str]) -> None:
        self.base, self.server, self.root = base, server, root
        root.mkdir()
        self.plan = [*plan, FINISH]  # phases, RANDOM and FINISH: the runs to make, in order
        self.serving = 0  # the seed of the model that predict serves
        self.leftovers: set[str] = set()
        self.history: list[str] = []
        self.run: Run | None = None

    def start(self, rng: random.Random, longest: float) -> None:
        """The plan's next run, which trains the other model: paused at its phase and killed
        there, killed at a random moment in [0, longest] seconds, or (FINISH) not killed."""
        item = self.plan.pop(0)
        self.phase = item if item not in (RANDOM, FINISH) else None
        self.finishing = item == FINISH
        self.moment = rng.uniform(0, longest) if item == RANDOM else None
        # Whether predict must serve the new model afterwards; None: either, as it happened.
        self.expect_new = True if self.finishing else None
        if self.phase is not None:
            self.expect_new = self.phase in self.replaced
        self.killed = False
        args = ["train", self.base.data, *ARGS, "--seed", 1 - self.serving, *self.target_args]
        self.run = self.server.start(args, pause_at=self.phase, no_exchange=self.phase == "swap")

    def due(self) -> bool:
        """Kill the run if its moment has come; whether it is over (killed or ended)."""
        if self.finishing:
            return self.run.exited() is not None
        if not self.killed:
            if self.phase is not None:
                if self.run.paused_at(self.phase):
                    if self.phase in self.after_sweep:
                        left = self.leftovers & self.found()
                        assert not left, f"a run at {self.phase} finds {left}: {self.history}"
                    self.run.kill()
                    self.killed = True
                else:
                    code = self.run.exited()
                    assert code is None, f"exit {code} before {self.phase}: {self.run.stderr()}"
            elif time.monotonic() >= self.run.began + self.moment or self.run.exited() is not None:
                self.run.kill()
                self.killed = True
        return self.killed

    def settle(self) -> None:
        """After the run: what predict serves, consistency, what is left over."""
        code = self.run.wait()
        self.check()
        self.leftovers = self.found()
        when = self.phase or (f"{self.moment:.2f}s" if self.moment is not None else "finish")
        self.history.append(f"{when}: exit {code}, left {sorted(self.leftovers)}")
        if self.finishing:
            assert code == 0, self.run.stderr()
            assert self.leftovers == set(), self.history
        self.run = None


class OutLane(Lane):
    replaced = OUT_REPLACED

    def __init__(self, base: Baseline, server: Server, root: Path, plan: list[str]) -> None:
        super().__init__(base, server, root, plan)
        self.model = root / "model"
        shutil.copytree(base.registry / "versions" / base.versions[0], self.model)
        self.target_args = ("--out", self.model)
        self.after_sweep = frozenset(OUT_PHASES) - {"sweep"}

    def found(self) -> set[str]:
        return {p.name for p in self.root.iterdir() if p.name.startswith(".")}

    def check(self) -> None:
        output = forecast(self.base.data, "--model", self.model)
        new = 1 - self.serving
        if self.expect_new is None:
            assert output in (self.base.forecasts[self.serving], self.base.forecasts[new])
            self.serving = new if output == self.base.forecasts[new] else self.serving
        else:
            self.serving = new if self.expect_new else self.serving
            assert output == self.base.forecasts[self.serving], f"after a kill at {self.phase}"


class RegistryLane(Lane):
    replaced = REGISTRY_PROMOTED

    def __init__(self, base: Baseline, server: Server, root: Path, plan: list[str]) -> None:
        super().__init__(base, server, root, plan)
        self.registry = root / "registry"
        shutil.copytree(base.registry, self.registry, symlinks=True)
        self.target_args = ("--registry", self.registry, "--keep", 2)
        self.after_sweep = frozenset(REGISTRY_PHASES) - {"read", "sweep"}
        self.ever_current = {self.current()}

    def current(self) -> str:
        return Path(os.readlink(self.registry / "current")).name

    def directories(self) -> set[str]:
        return {p.name for p in (self.registry / "versions").iterdir()}

    def listed(self) -> dict[str, bool]:
        """`registry list`: version -> whether it is marked current."""
        result = invoke("registry", "list", self.registry)
        assert result.exit_code == 0, result.output
        rows = {}
        for line in result.stdout.splitlines():
            match = VERSION.search(line)
            if match:
                rows[match.group()] = "*" in line[: match.start()]
        return rows

    def found(self) -> set[str]:
        """Dot-names, unrenamed links, and versions on disk that `registry list` leaves out."""
        hidden = {name for name in self.directories() if name.startswith(".")}
        links = {p.name for p in self.registry.glob(".current.tmp-*")}
        unlisted = self.directories() - hidden - set(self.listed())
        return hidden | links | unlisted

    def start(self, rng: random.Random, longest: float) -> None:
        self.rows_before, self.dirs_before = self.listed(), self.directories()
        super().start(rng, longest)

    def check(self) -> None:
        rows, current = self.listed(), self.current()
        made = sorted(n for n in self.directories() - self.dirs_before if not n.startswith("."))
        assert [name for name, marked in rows.items() if marked] == [current]
        for name in rows:
            artifacts.load(self.registry / "versions" / name)  # every listed version is whole
        promoted = current not in self.rows_before
        if self.expect_new is not None:
            assert promoted == self.expect_new, f"after a kill at {self.phase}"
        if promoted:
            # The new version, and no other; --keep may have removed old ones.
            assert made == [current] and set(rows) - set(self.rows_before) == {current}
            self.serving = 1 - self.serving
            self.ever_current.add(current)
        else:
            # No half-promoted version: the listing is the one from before the run.
            assert rows == self.rows_before, f"after a kill at {self.phase}: made {made}"
            if self.phase is not None:
                # Killed between writing the version and switching `current` to it: on disk,
                # not shown (`found` counts it as a leftover).
                assert len(made) == (1 if self.phase in ("swapped", "switch") else 0), made
        output = forecast(self.base.data, "--registry", self.registry)
        assert output == self.base.forecasts[self.serving], f"after a kill at {self.phase}"

    def settle(self) -> None:
        super().settle()
        if self.finishing:
            lines = (self.registry / "promotions.jsonl").read_text().splitlines()
            entries = [json.loads(line) for line in lines]
            # Every version that was current is in the log, the one killed before its line too.
            promoted = {e["version"] for e in entries if e["action"] == "promote"}
            assert self.ever_current <= promoted
            assert any(e.get("recovered") for e in entries)


def test_sigkill_at_every_phase_and_at_random_moments(tmp_path, baseline, server):
    # The --out lane has fewer phases, so more random kills: the lanes take about as long.
    lanes = [
        OutLane(baseline, server, tmp_path / "out", [*OUT_PHASES, *[RANDOM] * 4]),
        RegistryLane(baseline, server, tmp_path / "reg", [*REGISTRY_PHASES, *[RANDOM] * 2]),
    ]
    rng = random.Random(19)
    # A random kill falls anywhere in a whole run: in [0, the longest run measured], unkilled
    # (the fixture's) or paused at its last phase beside the other lane.
    longest = baseline.seconds
    for lane in lanes:
        lane.start(rng, longest)
    while any(lane.run for lane in lanes):
        for lane in (lane for lane in lanes if lane.run and lane.due()):
            if lane.phase is not None:
                longest = max(longest, time.monotonic() - lane.run.began)
            lane.settle()
            if lane.plan:
                lane.start(rng, longest)
        for lane in (lane for lane in lanes if lane.run):
            elapsed = time.monotonic() - lane.run.began
            assert elapsed < PAUSE_TIMEOUT, lane.run.stderr()
        time.sleep(0.01)


def test_predict_never_fails_while_five_promotions_happen(tmp_path, baseline, server):
    registry = tmp_path / "registry"
    shutil.copytree(baseline.registry, registry, symlinks=True)
    # Five runs in one process, each promoted over the other model (seeds 1, 0, 1, 0, 1);
    # --keep 2 removes the version before last at each, maybe while predict reads it.
    runs = [
        ["train", baseline.data, *ARGS, "--registry", registry, "--keep", 2, "--seed", seed % 2]
        for seed in range(1, 6)
    ]
    promoter = server.start(*runs)
    outputs = []
    while promoter.exited() is None:
        result = invoke("predict", baseline.data, "--registry", registry)
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert promoter.wait() == 0, promoter.stderr()
    assert promoter.stderr().count("is now current") == 5
    assert set(outputs) <= set(baseline.forecasts.values())
    # The reads spanned the promotions: both models' forecasts were served.
    assert set(outputs) == set(baseline.forecasts.values()), len(outputs)
    assert forecast(baseline.data, "--registry", registry) == baseline.forecasts[1]


def test_a_line_torn_in_the_promotions_log_does_not_swallow_the_next(tmp_path, baseline):
    registry = tmp_path / "registry"
    shutil.copytree(baseline.registry, registry, symlinks=True)
    log = registry / "promotions.jsonl"
    with open(log, "a") as handle:
        handle.write('{"timestamp": "2026-12-01T02:3')  # the write a crash cut short
    assert invoke("registry", "promote", registry, baseline.versions[1]).exit_code == 0
    lines = log.read_text().splitlines()
    assert lines[-2] == '{"timestamp": "2026-12-01T02:3'
    assert json.loads(lines[-1])["version"] == baseline.versions[1]


def test_a_lost_log_makes_no_version_count_as_unfinished(tmp_path, baseline):
    # The newest version was written to be promoted and is not current; only the log told
    # that it had been current once. Without it nothing may be taken for a killed run's version,
    # neither while the log is missing nor once commands have written a new one.
    registry = tmp_path / "registry"
    shutil.copytree(baseline.registry, registry, symlinks=True)
    (registry / "promotions.jsonl").unlink()
    for _ in range(2):
        assert invoke("registry", "promote", registry, baseline.versions[0]).exit_code == 0
        assert sorted(p.name for p in (registry / "versions").iterdir()) == sorted(
            baseline.versions.values()
        )
        listing = invoke("registry", "list", registry).stdout
        assert all(name in listing for name in baseline.versions.values())
