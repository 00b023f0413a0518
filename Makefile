PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-fast fuzz lint bench bench-speed bench-accuracy bench-intervals bench-multiseasonal bench-serving bench-monitor bench-cold-start bench-memory bench-gpu clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,baselines,tune]'
	touch $(STAMP)

demo: install
	$(BIN)/tsforecast train sample_data/hourly.csv --out .demo-model --epochs 15
	$(BIN)/tsforecast predict --model .demo-model --level 80 --level 95 --plot .demo-model/forecast.png

# Two workers, one per core of CI's machine; each test file stays on one worker, so its module
# fixtures train once. `make test WORKERS=1` runs the suite in one process.
WORKERS ?= 2

test: install lint
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile

# The suite without the tests marked slow (those that train networks of their own): the library
# on hand-made inputs, the CLI's refusals, and what conftest's one session model supports. Under
# 2 minutes on 2 cores; CI runs `make test`.
test-fast: install lint
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile -m "not slow"

# The property tests of tests/test_fuzz.py at length (2,250 examples; about 20 minutes on 2 cores).
fuzz: install
	TSFORECAST_FUZZ=long $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

bench: bench-speed bench-accuracy

bench-speed: install
	$(BIN)/python benchmarks/speed.py

bench-accuracy: install
	$(BIN)/python benchmarks/m4_baselines.py

bench-intervals: install
	$(BIN)/python benchmarks/intervals_m4.py

# ETTh1/ETTh2 load against MSTL and seasonal naive, through `tsforecast backtest` (needs ../shared).
bench-multiseasonal: install
	$(BIN)/python benchmarks/multiseasonal.py

# The serving rule on ETTh1/ETTh2's validation months only (needs ../shared).
bench-serving: install
	$(BIN)/python benchmarks/serving_rules.py

# A registry model monitored over 28 replayed days of ETTh1/ETTh2 load (needs ../shared).
bench-monitor: install
	$(BIN)/python benchmarks/monitor_replay.py

bench-cold-start: install
	$(BIN)/python benchmarks/cold_start.py

# Peak memory of train and predict on panels of 1, 3 and 10 million rows (about 20 min on 2 cores).
bench-memory: install
	$(BIN)/python benchmarks/memory.py

# On a machine with an NVIDIA GPU (no .venv needed): its own .venv-gpu, the device checks, then
# speed.py beside the peers, to benchmarks/results/speed-gpu.json. See benchmarks/bench_gpu.sh.
bench-gpu:
	PYTHON=$(PYTHON) bash benchmarks/bench_gpu.sh

clean:
	rm -rf $(VENV) .demo-model .pytest_cache build *.egg-info
