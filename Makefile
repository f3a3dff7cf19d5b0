# SR Studio. `make run` and `make test` set everything up on first use (.venv).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench train-zoo install clean

# The whole zoo (issue: model zoo), each run shipped (weights + log + card) when it ends; x2
# comes first in each family because x3/x4 start from the shipped x2 weights (model.init).
# The *_cpu recipes are CPU cuts of the GPU-class papers; on a GPU host train the paper recipes
# instead: make train-zoo ZOO="vdsr_x2 vdsr_x3 vdsr_x4 edsr_x2 edsr_x3 edsr_x4 srresnet_x4".
ZOO ?= espcn_x2 espcn_x2_stage2 \
	espcn_x3 espcn_x3_stage2 espcn_x3_stage3 espcn_x3_stage4 espcn_x3_stage5 espcn_x3_stage6 \
	espcn_x3_stage7 \
	espcn_x4 espcn_x4_stage2 espcn_x4_stage3 espcn_x4_stage4 espcn_x4_stage5 espcn_x4_stage6 \
	espcn_x4_stage7 \
	fsrcnn_x2 fsrcnn_x2_stage2 fsrcnn_x2_stage3 fsrcnn_x2_stage4 fsrcnn_x2_stage5 \
	fsrcnn_x3 fsrcnn_x3_stage2 fsrcnn_x3_stage3 fsrcnn_x3_stage4 fsrcnn_x3_stage5 fsrcnn_x3_stage6 \
	fsrcnn_x3_stage7 \
	fsrcnn_x4 fsrcnn_x4_stage2 fsrcnn_x4_stage3 fsrcnn_x4_stage4 fsrcnn_x4_stage5 \
	srcnn_x2 srcnn_x2_stage2 srcnn_x2_stage3 srcnn_x2_stage4 srcnn_x2_stage5 \
	srcnn_x2_stage6 srcnn_x2_stage7 srcnn_x2_stage8 \
	srcnn_x3 srcnn_x3_stage2 srcnn_x3_stage3 srcnn_x3_stage4 srcnn_x3_stage5 \
	srcnn_x3_stage6 srcnn_x3_stage7 \
	srcnn_x4 srcnn_x4_stage2 srcnn_x4_stage3 srcnn_x4_stage4 srcnn_x4_stage5 srcnn_x4_stage6 \
	vdsr_x2_cpu vdsr_x2_stage2 vdsr_x2_stage3 vdsr_x2_stage4 vdsr_x2_stage5 vdsr_x2_stage6 \
	vdsr_x2_stage7 vdsr_x2_stage8 \
	vdsr_x3_cpu vdsr_x3_stage2 vdsr_x3_stage3 vdsr_x3_stage4 vdsr_x3_stage5 vdsr_x3_stage6 \
	vdsr_x3_stage7 vdsr_x3_stage8 vdsr_x3_stage9 \
	vdsr_x4_cpu vdsr_x4_stage2 vdsr_x4_stage3 vdsr_x4_stage4 vdsr_x4_stage5 \
	vdsr_x4_stage6 vdsr_x4_stage7 vdsr_x4_stage8 vdsr_x4_stage9 \
	edsr_x2_cpu edsr_x2_stage2 edsr_x2_stage3 edsr_x2_stage4 edsr_x2_stage5 \
	edsr_x3_cpu edsr_x3_stage2 edsr_x3_stage3 edsr_x3_stage4 \
	edsr_x4_cpu edsr_x4_stage2 edsr_x4_stage3 edsr_x4_stage4 edsr_x4_stage5 \
	edsr_x4_stage6 \
	srresnet_x4_cpu srresnet_x4_stage2 srresnet_x4_stage3 srresnet_x4_stage4 \
	srresnet_x4_stage5 srresnet_x4_stage6 srresnet_x4_stage7 srresnet_x4_stage8 srresnet_x4_stage9 \
	srresnet_x4_stage10 \
	srgan_x4_cpu johnson_x4_cpu vespcn_x4 deepsr_x4

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

# One run: docs/RESULTS.md (quality of every shipped model beside bicubic and the papers; what
# reduced precision costs each, into precision.json, which precision "auto" reads; the
# side-by-side performance table: engine vs a plain forward and Real-ESRGAN's loop beside the
# conv roofline, its ratios kept per CPU in docs/bench/perf.json, a run over 1.5x worse fails),
# then docs/bench/: the web's per-job overhead (50 jobs), a web EDSR x4 job on a 250x361
# upload, and training throughput (train-bench). drcn and johnson ship no weights yet.
BENCH_MODELS ?= bicubic srcnn fsrcnn espcn vdsr edsr srresnet srgan johnson
bench: $(STAMP)
	@mkdir -p docs/bench
	$(BIN)/sr-engine -q benchmark --models $(BENCH_MODELS) --out docs/RESULTS.md \
	  --precision-file sr_engine/weights/precision.json \
	  --perf --perf-json docs/bench/perf.json
	$(BIN)/python -m webapp.bench_web --jobs 50 --json docs/bench/web.json --md docs/bench/web.md
	$(BIN)/python -m webapp.bench_web --model edsr_x4 --scale 4 --size 250x361 --jobs 5 \
	  --json docs/bench/web-edsr.json --md docs/bench/web-edsr.md
	$(BIN)/sr-engine -q train-bench --json docs/bench/train.json --out docs/bench/train.md

train-zoo: $(STAMP)
	@for m in $(ZOO); do \
	  $(BIN)/sr-engine -q train sr_engine/recipes/$$m.toml --set train.out_dir=runs/$$m \
	  && $(BIN)/sr-engine ship runs/$$m || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
