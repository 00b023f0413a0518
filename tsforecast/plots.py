"""Pictures a person looks at instead of numbers: the loss curve and the forecast."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in cron

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_history(history: pd.DataFrame, path: Path) -> None:
    """Training and validation loss per epoch (the curve plotted after every Keras fit)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    ax.plot(history["epoch"], history["val_loss"], marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (standardised units)")
    ax.set_title("Training history")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def interval_levels(forecast: pd.DataFrame) -> list[str]:
    """The levels with `y_hat-lo-<level>` and `y_hat-hi-<level>` columns, widest first."""
    found = [c.removeprefix("y_hat-lo-") for c in forecast.columns if c.startswith("y_hat-lo-")]
    return sorted(
        (name for name in found if f"y_hat-hi-{name}" in forecast.columns), key=float, reverse=True
    )


def plot_forecast(
    histories: dict[str, pd.Series], forecast: pd.DataFrame, path: Path, max_series: int = 12
) -> None:
    """The recent history of each series (a Series indexed by time) and its forecast
    (`unique_id, ds, y_hat` rows, and interval bounds when present, shaded widest palest), one
    small panel per series."""
    levels = interval_levels(forecast)
    ids = list(histories)[:max_series]
    cols = 1 if len(ids) == 1 else min(3, len(ids))
    rows = -(-len(ids) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(9 if cols == 1 else 4.5 * cols, 3.6 * rows), squeeze=False
    )
    for ax, series_id in zip(axes.flat, ids, strict=False):
        history = histories[series_id]
        ahead = forecast[forecast["unique_id"] == series_id]
        ax.plot(history.index, history.to_numpy(), color="tab:blue", lw=1, label="history")
        for k, level in enumerate(levels):
            ax.fill_between(
                ahead["ds"],
                ahead[f"y_hat-lo-{level}"],
                ahead[f"y_hat-hi-{level}"],
                color="tab:orange",
                alpha=0.15 + 0.2 * k / max(1, len(levels) - 1),
                lw=0,
                label=f"{level}% interval",
            )
        ax.plot(ahead["ds"], ahead["y_hat"], color="tab:orange", lw=1.5, label="forecast")
        ax.axvline(history.index[-1], color="grey", lw=0.8, ls="--")
        ax.set_title(str(series_id), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(ids) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_monitor(
    issues: pd.DataFrame, validation: dict[str, float], tolerance: float, path: Path
) -> None:
    """Realised MASE of every scored issue (`origin, version, mase, seasonal_naive_mase`
    rows) against its forecast origin, seasonal naive's at the same origins beside it, and
    each version's validation MASE as a line over its issues, with the degraded limit
    (validation x (1 + tolerance)) dashed."""
    fig, ax = plt.subplots(figsize=(9, 4))
    origins = pd.to_datetime(issues["origin"])
    ax.plot(
        origins, issues["mase"], marker="o", lw=1.2, color="tab:orange", label="served (realised)"
    )
    if "seasonal_naive_mase" in issues.columns:
        ax.plot(
            origins,
            issues["seasonal_naive_mase"],
            marker="s",
            ms=4,
            lw=0.8,
            color="tab:grey",
            label="seasonal naive",
        )
    labelled = False
    for version, mine in issues.groupby("version", sort=False):
        level = validation.get(version)
        if level is None or level != level:
            continue
        span = pd.to_datetime(mine["origin"])
        ends = [span.min(), span.max()]
        ax.plot(
            ends, [level] * 2, color="tab:blue", lw=1.5, label=None if labelled else "validation"
        )
        ax.plot(
            ends,
            [level * (1 + tolerance)] * 2,
            color="tab:blue",
            lw=1,
            ls="--",
            label=None if labelled else f"validation x {1 + tolerance:g} (degraded above)",
        )
        labelled = True
    ax.set_xlabel("forecast origin")
    ax.set_ylabel("MASE (mean over series)")
    ax.set_title("Realised MASE per issue")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_search(trials, path: Path) -> None:
    """A tuning run as Optuna draws one: each finished trial's validation MASE against its
    number (with the best so far) and against each searched setting."""
    done = [t for t in trials if t.state == "complete"]
    names = list(trials[0].options)
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(3.2 * (1 + len(names)), 3.4))
    numbers = [t.number for t in done]
    scores = [t.mase for t in done]
    axes[0].scatter(numbers, scores, s=14)
    axes[0].step(numbers, pd.Series(scores).cummin(), where="post", color="C1", label="best")
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel("validation MASE")
    axes[0].legend()
    for ax, name in zip(axes[1:], names, strict=True):
        values = [t.options[name] for t in done]
        if all(isinstance(v, str) for v in values):
            labels = sorted(set(values))
            values = [labels.index(v) for v in values]
            ax.set_xticks(range(len(labels)), labels, rotation=30)
        elif name == "lr":
            ax.set_xscale("log")
        ax.scatter(values, scores, s=14)
        ax.set_xlabel(name)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
