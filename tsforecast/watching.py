"""`monitor`'s work at the file edge: the forecast log and the model it is scored for (a
registry's current version, or the log's own model), DATA read with that model's schema, the
report, the recalibration the next `predict --registry` applies, and the realised scores kept in
the registry for `registry list`."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from . import forecast_log, recalibration
from . import monitor as monitoring
from .data import Panel, load_panel
from .logs import emit
from .registry import Registry


@dataclass(frozen=True)
class Watched:
    report: monitoring.Report
    log: forecast_log.ForecastLog
    observed: Panel
    window: int
    registry: Registry | None
    recalibrated: recalibration.State | None

    def record_realised(self) -> None:
        """Keep the realised scores in the registry; one that cannot be written is a warning
        (the report was made)."""
        observed = self.observed
        until = max(observed.last_timestamp(i) for i in range(len(observed.ids)))
        try:
            self.registry.record_realised(
                {
                    "monitored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "data_until": str(until),
                    "window": self.window,
                    "versions": monitoring.realised(self.report),
                }
            )
        except OSError as exc:
            emit("not_recorded", f"realised scores not recorded in the registry: {exc}")


def watch(
    data: str, registry_dir: str | None, log_dir: str | None, window: int, reading
) -> Watched:
    """The forecasts logged in `registry_dir` (scored for its current version) or `log_dir`,
    scored against DATA read with the model's schema and the --date-format and --encoding given
    (`reading`)."""
    registry = None
    if registry_dir:
        registry = Registry(registry_dir)
        current = registry.current_path()
        log = forecast_log.read(registry.root / forecast_log.LOG_DIR)
        reference = forecast_log.Reference.of_model(
            current, current.name, f"the registry's current version {current.name}"
        )
    else:
        log = forecast_log.read(log_dir)
        reference = forecast_log.Reference.of_log(log)
    forecast_log.check_compatible(log, reference)
    given = {name: value for name, value in reading.items() if value is not None}
    data_cfg = dataclasses.replace(reference.data, path=data, **given)
    observed, data_cfg = load_panel(data_cfg, fill=False)
    report = monitoring.monitor(
        log, observed, observed.filled(data_cfg.fill), reference.version, window
    )
    recalibrated = None
    if registry is not None:
        # What the next `predict --registry` applies, from the actuals that have arrived.
        recalibrated = recalibration.fit(log, observed, reference.version, reference.lookback or 0)
        report = dataclasses.replace(report, recalibration=recalibrated.to_dict())
    return Watched(report, log, observed, window, registry, recalibrated)
