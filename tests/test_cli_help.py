"""The CLI surface: `-h` on every command, the examples the help ends with, and options read from
TSFORECAST_<COMMAND>_<OPTION> environment variables (click's auto_envvar_prefix)."""

from __future__ import annotations

import fcntl
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from tsforecast import errors
from tsforecast.cli import DEGRADED, EXIT_CODES, cli

README = Path(__file__).parent.parent / "README.md"

# Every command and group, as typed after `tsforecast`.
COMMANDS = [
    (),
    ("train",),
    ("predict",),
    ("backtest",),
    ("evaluate",),
    ("monitor",),
    ("tune",),
    ("models",),
    ("registry",),
    ("registry", "list"),
    ("registry", "promote"),
    ("registry", "rollback"),
]


def _help(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="tsforecast", terminal_width=100)


def _command(words: list[str]) -> click.Command:
    """The command a command line (without `tsforecast`) runs."""
    command = cli
    for word in words:
        if word not in getattr(command, "commands", {}):
            break
        command = command.commands[word]
    return command


def _examples(text: str) -> list[str]:
    """The command lines under "Examples:" at the end of a help text."""
    _, found, block = text.partition("\n  Examples:\n\n")
    assert found, text
    lines = []
    for line in block.splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return lines


def test_the_list_covers_every_command():
    def walk(command, path=()):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    assert sorted(walk(cli)) == sorted(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "tsforecast")
def test_help_shows_usage_and_ends_with_examples(path):
    result = _help(*path, "-h")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    usage = result.stdout.splitlines()[0]
    assert usage.startswith(" ".join(("Usage: tsforecast", *path, "[OPTIONS]"))), usage
    assert _help(*path, "--help").stdout == result.stdout
    # One style everywhere: an "Examples:" epilog, no "Example:" line in the description.
    assert "Example:" not in result.stdout
    examples = _examples(result.stdout)
    assert examples
    for line in examples:
        words = shlex.split(line, comments=True)
        assert words[: 1 + len(path)] == ["tsforecast", *path], line
        # Each example uses only options the command it runs has.
        command = _command(words[1:])
        known = {name for param in command.params for name in param.opts + param.secondary_opts}
        unknown = [word for word in words if word.startswith("-") and word not in known]
        assert unknown == [], line


def test_train_help_groups_its_options_and_lists_each_once():
    text = _help("train", "-h").stdout
    titles = [line[:-1] for line in text.splitlines() if re.fullmatch(r"[A-Z][\w ()-]*:", line)]
    assert titles == [
        "Reading DATA",
        "Data and features",
        "Windows",
        "Model",
        "Training",
        "Prediction intervals",
        "Registry (cron)",
        "Options",
    ]
    # Each option under the section of its Config part, and every option listed exactly once.
    sections = dict(zip(titles, re.split(r"\n[A-Z][\w ()-]*:\n", text)[1:], strict=True))
    assert "--holidays" in sections["Data and features"]
    assert "--horizon" in sections["Windows"]
    assert "--chunk" in sections["Model"]
    assert "--ensemble" in sections["Training"]
    assert "--interval-spread" in sections["Prediction intervals"]
    assert "--promote" in sections["Registry (cron)"]
    assert "--out" in sections["Options"]
    listed = re.findall(r"^  (?:-\w, )?(--[\w-]+)", text, flags=re.M)
    declared = [
        name
        for param in _command(["train"]).params
        if isinstance(param, click.Option)
        for name in param.opts
        if name.startswith("--")
    ]
    assert sorted(listed) == sorted([*declared, "--help"])


def test_the_group_help_keeps_the_exit_codes():
    text = _help("-h").stdout
    assert "Exit codes:" in text
    assert "TSFORECAST_<COMMAND>_<OPTION>" in text


def _readme_exit_codes() -> dict[int, str]:
    """README's "## Exit codes" table: each code (a row may hold `130 / 143`) with its row's
    meaning."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    codes = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and re.fullmatch(r"\d+( / \d+)*", cells[0]):
            for code in cells[0].split(" / "):
                codes[int(code)] = cells[1]
    return codes


def _help_exit_codes() -> dict[int, str]:
    """cli.EXIT_CODES, the `tsforecast -h` text: each code with the words after it up to the
    next code of its line (`130  interrupted (Ctrl-C); 143 terminated (SIGTERM): ...`)."""
    lines = EXIT_CODES.split("Exit codes:\n", 1)[1].splitlines()
    codes = {}
    for line in lines:
        if not re.match(r"^\s+\d+\s", line):
            continue
        for code, meaning in re.findall(r"(?:^|; )\s*(\d+)\s+(.*?)(?=; \d+\s|$)", line):
            codes[int(code)] = meaning
    return codes


# What each exit code means, in words that both the README's table and `tsforecast -h` use.
EXIT_CODE_WORDS = {
    0: "ok",
    1: "internal error",
    2: "bad input",
    3: "not promoted",
    4: "degraded",
    75: "locked",
    130: "Ctrl-C",
    143: "SIGTERM",
}


def test_the_readme_exit_code_table_matches_the_help_and_the_errors():
    readme, help_text = _readme_exit_codes(), _help_exit_codes()
    assert sorted(readme) == sorted(EXIT_CODE_WORDS)
    assert sorted(help_text) == sorted(EXIT_CODE_WORDS)
    for code, words in EXIT_CODE_WORDS.items():
        assert words in readme[code], (code, readme[code])
        assert words in help_text[code], (code, help_text[code])
    # Every code the library exits with is documented.
    raised = {
        kind.exit_code
        for kind in vars(errors).values()
        if isinstance(kind, type) and isinstance(getattr(kind, "exit_code", None), int)
    }
    assert raised | {DEGRADED, 130} <= set(readme), raised


# --- TSFORECAST_<COMMAND>_<OPTION> ----------------------------------------------------------------


def test_an_option_from_the_environment_is_checked_like_the_flag(run_cli, tmp_path, monkeypatch):
    data = tmp_path / "data.csv"
    data.write_text("ds,y\n2024-01-01 00:00:00,1\n")
    monkeypatch.setenv("TSFORECAST_TRAIN_EPOCHS", "0")
    result = run_cli("train", data, "--out", tmp_path / "model")
    assert (result.exit_code, result.stderr) == (
        2,
        "tsforecast: error: Invalid value for '--epochs': 0 is not in the range x>=1.\n",
    )


def test_the_variable_is_named_after_the_parameter(run_cli, tmp_path, monkeypatch):
    """click names the variable after the parameter, not the flag: --model's is MODEL_NAME."""
    data = tmp_path / "data.csv"
    data.write_text("ds,y\n2024-01-01 00:00:00,1\n")
    monkeypatch.setenv("TSFORECAST_TRAIN_MODEL_NAME", "tcn")
    result = run_cli("train", data, "--out", tmp_path / "model")
    assert result.exit_code == 2
    assert result.stderr.startswith("tsforecast: error: Invalid value for '--model': 'tcn'")


def test_a_subcommand_option_reads_group_subcommand_option(run_cli, tmp_path, monkeypatch):
    """Nested groups chain their names: registry promote's --lock-timeout is
    TSFORECAST_REGISTRY_PROMOTE_LOCK_TIMEOUT, checked before the registry is looked at."""
    reg = tmp_path / "reg"
    # The group's name alone, or the other subcommand's, are not promote's.
    monkeypatch.setenv("TSFORECAST_REGISTRY_LOCK_TIMEOUT", "-1")
    monkeypatch.setenv("TSFORECAST_REGISTRY_ROLLBACK_LOCK_TIMEOUT", "-1")
    result = run_cli("registry", "promote", reg, "v1")
    assert (result.exit_code, result.stderr) == (
        2,
        f"tsforecast: error: no registry at {reg}; create one with: tsforecast train DATA "
        f"--registry {reg}\n",
    )
    monkeypatch.setenv("TSFORECAST_REGISTRY_PROMOTE_LOCK_TIMEOUT", "-1")
    result = run_cli("registry", "promote", reg, "v1")
    assert (result.exit_code, result.stderr) == (
        2,
        "tsforecast: error: Invalid value for '--lock-timeout': -1.0 is not in the range x>=0.\n",
    )


def test_registry_promote_takes_its_lock_timeout_from_the_environment(
    run_cli, tmp_path, monkeypatch
):
    reg = tmp_path / "reg"
    (reg / "versions").mkdir(parents=True)
    monkeypatch.setenv("TSFORECAST_REGISTRY_PROMOTE_LOCK_TIMEOUT", "0.2")
    with open(reg / ".lock", "w") as holder:
        holder.write("4242\n")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX)
        result = run_cli("registry", "promote", reg, "v1")
    assert result.exit_code == 75, result.output
    assert result.stderr == (
        f"tsforecast: error: registry {reg} is locked by another run (pid 4242); gave up after "
        "0.2s (--lock-timeout)\n"
    )


@pytest.mark.slow
def test_train_epochs_from_the_environment(run_cli, write_series, tmp_path, monkeypatch):
    data = write_series(n=200)
    monkeypatch.setenv("TSFORECAST_TRAIN_EPOCHS", "1")
    # The model and data of the first training in tests/test_reads.py: in the whole suite their
    # programs compile once, in the session's compilation cache.
    options = shlex.split("--hidden 4 --lookback 24 --horizon 6 -q")
    result = run_cli("train", data, *options, "--out", tmp_path / "model")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "model" / "history.csv")) == 1


def _readme_command_lines() -> list[str]:
    """Every `tsforecast` command in README.md's sh and cron blocks, continuation lines joined
    and pipelines split, from `tsforecast` (or cron's `$TSF`) on."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"^```(?:sh|cron)\n(.*?)^```", text, flags=re.S | re.M)
    found = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            for segment in re.split(r"\|\||&&|\||;", line.split("2>>")[0]):
                words = shlex.split(segment, comments=True)
                starts = [k for k, word in enumerate(words) if word in ("tsforecast", "$TSF")]
                if starts:
                    found.append(" ".join(["tsforecast", *words[starts[0] + 1 :]]))
    return found


def test_every_readme_command_exists_with_its_options():
    lines = _readme_command_lines()
    assert len(lines) >= 20  # the blocks were found: quick start, commands, cron, intervals
    for line in lines:
        words = shlex.split(line)[1:]
        command = cli
        for word in words:  # values of the group's own options come before the command's name
            if isinstance(command, click.Group) and word in command.commands:
                command = command.commands[word]
        assert not isinstance(command, click.Group), f"{line}: no such command"
        # Options of the group itself (`--log-format`) come before the command's name.
        known = {
            name
            for owner in (cli, command)
            for param in owner.params
            for name in param.opts + param.secondary_opts
        }
        options = [w.split("=")[0] for w in words if w.startswith("-") and w != "-"]
        assert [o for o in options if o not in known] == [], line


@pytest.mark.slow
def test_the_readme_cron_line_runs_as_cron_runs_it(tmp_path, make_series):
    """The README's crontab, run as cron runs it: `env -i` with cron's PATH (no tsforecast on
    it) and no HOME, through /bin/sh, with its paths moved into tmp_path and $TSF set to this
    checkout's installed command."""
    text = README.read_text(encoding="utf-8")
    (block,) = re.findall(r"^```cron\n(.*?)^```", text, flags=re.S | re.M)
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    settings = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    (entry,) = [line for line in lines if not re.match(r"^[A-Z_]+=", line)]
    command = entry.split(None, 5)[5]  # after minute, hour, day, month, weekday
    assert command.startswith("$TSF ") and settings["TSF"].startswith("/")
    make_series(300).to_csv(tmp_path / "sales.csv", index=False)
    for path in ("/data/sales.csv", "/srv/models/sales", "/var/log/tsforecast.jsonl"):
        command = command.replace(path, str(tmp_path / Path(path).name))
    env = {
        "PATH": "/usr/bin:/bin",
        "TSF": str(Path(sys.executable).with_name("tsforecast")),
        "TSFORECAST_CACHE_DIR": str(tmp_path / "cache"),
    }
    cron = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), "/bin/sh", "-c"]
    run = subprocess.run([*cron, command], capture_output=True, text=True, check=False)
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert (tmp_path / "sales" / "current").is_symlink()
    logged = [json.loads(line) for line in (tmp_path / "tsforecast.jsonl").read_text().splitlines()]
    assert logged[-1]["event"] == "promoted"
    # Without $TSF the same line is what cron would run with a bare `tsforecast`: not found.
    bare = subprocess.run(
        ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "/bin/sh", "-c", "tsforecast --help"],
        capture_output=True,
        check=False,
    )
    assert bare.returncode == 127
