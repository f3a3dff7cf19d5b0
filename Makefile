# SR Studio. `make run` and `make test` set everything up on first use (.venv).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench train-zoo install clean

# The CPU-trainable part of the zoo (issue: model zoo); GPU models are trained with the same
# commands on a GPU host. Each run is shipped (weights + log + card) when it ends; x2 comes
# first because the x3/x4 recipes start from the shipped x2 weights (model.init).
ZOO ?= espcn_x2 espcn_x3 espcn_x4 fsrcnn_x2 fsrcnn_x3 fsrcnn_x4 srcnn_x2 srcnn_x3 srcnn_x4

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: it is the CPU wheel found on disk (see README).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m webapp.run

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Quality (every model with weights, beside bicubic and the papers) and speed tables.
bench: $(STAMP)
	$(BIN)/sr-engine benchmark --out docs/RESULTS.md

train-zoo: $(STAMP)
	@for m in $(ZOO); do \
	  $(BIN)/sr-engine -q train sr_engine/recipes/$$m.toml --set train.out_dir="'runs/$$m'" \
	  && $(BIN)/sr-engine ship runs/$$m || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
