# facedep: `make demo` installs and runs the main job on demo data; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo_data
FOLDS ?= 5
export WANDB_SILENT ?= true

.PHONY: install install-dev demo demo-data demo-landmarks demo-images demo-compare demo-analysis demo-au-detector demo-atypicality demo-au-pipeline demo-severity demo-tune demo-fusion test test-slow test-gpu bench-gpu clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(DEMO_DIR)/manifest.csv: | install
	$(PY) scripts/make_demo_data.py --out $(DEMO_DIR) --subjects 60 --effect-size 1.5 --seed 0

demo-data: $(DEMO_DIR)/manifest.csv

demo: install demo-data
	$(PY) scripts/cross_validate.py --config configs/demo.yaml --folds $(FOLDS) --data.init_args.manifest $(DEMO_DIR)/manifest.csv

# PHQ-8 severity: synthetic AUs whose planted effects grow linearly with the score (0-24), then a 5-fold
# regression CV (CCC, MAE vs the training-mean baseline) and a 4-band ordinal (CORAL) CV (QWK).
SEVERITY_DIR ?= demo_severity
SEVERITY_DATA_ARGS := --subjects 80 --min-frames 300 --max-frames 600 --effect-size 1.5 --severity linear --seed 0

$(SEVERITY_DIR)/manifest.csv: | install
	$(PY) scripts/make_demo_data.py --out $(SEVERITY_DIR) $(SEVERITY_DATA_ARGS)

demo-severity: install $(SEVERITY_DIR)/manifest.csv
	$(PY) scripts/cross_validate.py --config configs/au/demo_severity.yaml --folds $(FOLDS) --data.init_args.manifest $(SEVERITY_DIR)/manifest.csv
	$(PY) scripts/cross_validate.py --config configs/au/demo_severity_ordinal.yaml --folds $(FOLDS) --data.init_args.manifest $(SEVERITY_DIR)/manifest.csv

# Nested cross-validation: every outer fold is tuned (Optuna, 3 inner subject folds, median pruning) on its
# training subjects only, then trained with the best values and tested once (docs/tuning.md).
TUNE_TRIALS ?= 8
demo-tune: install demo-data
	$(PY) scripts/cross_validate.py --config configs/demo.yaml --folds $(FOLDS) --tune configs/search/demo.yaml --trials $(TUNE_TRIALS) --inner-folds 3 --data.init_args.manifest $(DEMO_DIR)/manifest.csv --run.name demo-nested --trainer.max_epochs 10

demo_landmarks/manifest.csv: | install
	$(PY) scripts/make_demo_data.py --modality landmarks --out demo_landmarks --subjects 40 --min-frames 150 --max-frames 300 --effect-size 2.0 --seed 0

demo-landmarks: install demo_landmarks/manifest.csv
	$(PY) scripts/cross_validate.py --config configs/landmarks/demo.yaml --folds $(FOLDS) --data.init_args.manifest demo_landmarks/manifest.csv

demo_faces/manifest.csv: | install
	$(PY) scripts/make_demo_data.py --modality faces --out demo_faces --subjects 500 --seed 0

demo-images: install demo_faces/manifest.csv
	$(PY) scripts/cross_validate.py --config configs/images/demo.yaml --folds $(FOLDS) --data.init_args.manifest demo_faces/manifest.csv

demo_hrm/frames.csv: | install
	$(PY) scripts/make_demo_data.py --modality au-faces --out demo_hrm --subjects 60 --seed 0
	$(PY) scripts/make_au_manifest.py --format hrm demo_hrm --out demo_hrm/frames.csv

demo-au-detector: install demo_hrm/frames.csv
	$(PY) scripts/train.py --config configs/au/detector_demo.yaml --data.init_args.manifest demo_hrm/frames.csv

demo_hrm_seq/hrm_sequences.csv: | install
	$(PY) scripts/make_demo_data.py --modality au-faces --out demo_hrm_seq --subjects 60 --frames-per-subject 120 --seed 0
	$(PY) scripts/make_hrm_manifest.py --format hrm demo_hrm_seq --out demo_hrm_seq/hrm_sequences.csv

demo-atypicality: install demo_hrm_seq/hrm_sequences.csv
	$(PY) scripts/cross_validate.py --config configs/au/hrm_atypicality_gru.yaml --folds 3 --data.init_args.manifest demo_hrm_seq/hrm_sequences.csv

demo-au-pipeline: install
	$(PY) scripts/demo_au_pipeline.py --out runs/au-pipeline-demo

demo-compare: install demo-data
	$(PY) scripts/compare_models.py --config configs/demo.yaml --folds $(FOLDS) --data.init_args.manifest $(DEMO_DIR)/manifest.csv

# One subject, three views: synthetic OpenFace AU CSVs, landmark .npz files and aligned face crops whose planted
# signal is split across the views; each single view, late fusion (nested stacking) and intermediate fusion
# (cross-view attention) under the same subject folds, with explanations (docs/fusion.md).
demo_fusion/manifest.csv: | install
	$(PY) scripts/make_demo_data.py --modality fusion --out demo_fusion --seed 0

demo-fusion: install demo_fusion/manifest.csv
	$(PY) scripts/compare_models.py --config configs/fusion/demo.yaml --folds $(FOLDS) --inner-folds 2 --data.init_args.manifest demo_fusion/manifest.csv

demo-analysis: install demo-data
	$(PY) scripts/analyze_aus.py --manifest $(DEMO_DIR)/manifest.csv --out runs/analysis-demo

test: install-dev
	WANDB_MODE=offline $(PY) -m pytest -q

test-slow: install-dev
	WANDB_MODE=offline $(PY) -m pytest -q -m slow

test-gpu: install-dev
	WANDB_MODE=offline $(PY) -m pytest -q -m gpu

# every GPU figure of docs/benchmarks.md (four parts of < 10 minutes each; see the script's header)
bench-gpu: install-dev
	PYTHON=$(PY) bash scripts/gpu_benchmarks.sh all gpu_results

clean:
	rm -rf runs $(DEMO_DIR) $(SEVERITY_DIR) demo_landmarks demo_faces demo_hrm demo_hrm_seq demo_fusion .pytest_cache
