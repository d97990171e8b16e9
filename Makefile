# Two commands: `make run` starts the product, `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint install install-dev clean default-model bench translations screenshots

$(BIN)/python:
	@echo "==> creating virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file changed (the stamp is older than it).
$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	@echo "==> installing runtime requirements (first time: a few minutes for torch)"
	$(BIN)/pip install --disable-pip-version-check -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	@echo "==> installing test requirements"
	$(BIN)/pip install --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

# Web server (gunicorn), one RQ worker and, unless REDIS_URL is set, an embedded Redis; Ctrl-C stops all.
run: $(RUNTIME_STAMP)
	@echo "==> starting the web app on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(BIN)/python -m webapp.launch --host $(HOST) --port $(PORT)

# The import contracts (pyproject.toml [tool.importlinter]) first: a broken layer fails fast.
test: $(DEV_STAMP)
	@echo "==> checking the import contracts"
	$(BIN)/lint-imports --no-logo
	@echo "==> running the test suite"
	$(BIN)/python -m pytest

# The shipped default model: trained by the project's own commands on animals5 plus the
# animals5_more sources set aside for training; the other animals5_more sources never reach
# training and give the out-of-source figure; others/ gives the "none of my classes" figure.
SHARED_DATA   ?= ../shared/datasets
SCRATCH       := instance/scratch
DEFAULT_DIR   := models/default
DEFAULT_NAME  := animals5
DEFAULT_DATA  := $(SCRATCH)/animals5plus
TEST_SOURCES  := LTSACH/AILearningHub,jupyex/Cow-Sheep-Classification-using-DenseNet121,Chiirali/horse-category-classification
DEFAULT_TRAIN := --arch efficientnet_lite2 --pretrained imagenet --mode last_stages --seed 0
default-model: $(RUNTIME_STAMP)
	@echo "==> building $(DEFAULT_DATA): animals5 + animals5_more without the test sources (shared copies stay read-only)"
	rm -rf $(DEFAULT_DATA) $(SCRATCH)/models && mkdir -p $(SCRATCH)
	cp -r $(SHARED_DATA)/animals5 $(DEFAULT_DATA)
	$(BIN)/flask dataset add-from $(SHARED_DATA)/animals5_more $(DEFAULT_DATA) --exclude-sources $(TEST_SOURCES) --prefix more
	$(BIN)/flask dataset split $(DEFAULT_DATA) --test 0.2 --val 0.1 --seed 0
	@echo "==> training (a few minutes on 2 CPU cores)"
	@start=$$(date +%s); \
	$(BIN)/flask train $(DEFAULT_DATA) $(DEFAULT_TRAIN) --display-names $(DEFAULT_DIR)/display_names.json \
		--name $(DEFAULT_NAME) --out $(SCRATCH)/models && \
	echo $$(( $$(date +%s) - start )) > $(SCRATCH)/models/wall_seconds
	$(BIN)/flask export-onnx $(SCRATCH)/models/$(DEFAULT_NAME).pt
	$(BIN)/flask shrink-model $(SCRATCH)/models/$(DEFAULT_NAME).pt
	rm -f $(DEFAULT_DIR)/$(DEFAULT_NAME).*
	cp $(SCRATCH)/models/$(DEFAULT_NAME).pt $(SCRATCH)/models/$(DEFAULT_NAME).onnx $(SCRATCH)/models/$(DEFAULT_NAME).json $(DEFAULT_DIR)/
	@echo "==> scoring the shipped (float16) pair: in-source test split, out-of-source photos, others/"
	$(BIN)/flask evaluate $(DEFAULT_DIR)/$(DEFAULT_NAME).pt $(DEFAULT_DATA) --kind in_source
	$(BIN)/flask evaluate $(DEFAULT_DIR)/$(DEFAULT_NAME).pt $(SHARED_DATA)/animals5_more --only-sources $(TEST_SOURCES) \
		--kind out_of_source --tag out_of_source
	$(BIN)/flask evaluate $(DEFAULT_DIR)/$(DEFAULT_NAME).pt $(SHARED_DATA)/others --expect-unknown --tag others
	$(BIN)/flask model-card $(DEFAULT_DIR)/$(DEFAULT_NAME).pt --wall-seconds $$(cat $(SCRATCH)/models/wall_seconds) \
		--data-source "animals5 (750 web photos from the Animal-Pose Dataset, Cao et al., ICCV 2019) plus the animals5_more photos of EliSchwartz/imagenet-sample-images, 4GeeksAcademy/Deep-Learning-CarlosFS, sundram6452 (Indian cattle), shenshutao/image_segmentation and younisalazzeh/Sheep_Classification_Challenge; research data, licences as SOURCES.csv states" \
		--command "make default-model   # = flask dataset add-from (test sources excluded), split (seed 0), flask train $(DEFAULT_TRAIN), export-onnx, shrink-model, evaluate x3"
	@echo "==> $(DEFAULT_DIR) updated; see $(DEFAULT_DIR)/MODEL_CARD.md"

# Every benchmark, each comparing against its baseline in the same run; figures go to docs/benchmarks.md.
bench: $(DEV_STAMP)
	$(BIN)/python bench/predict.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/explain.py
	$(BIN)/python bench/report.py

# The offline desktop client (PyQt5). Its own small requirements file: no torch needed with ONNX models.
DESKTOP_STAMP := $(VENV)/.installed-desktop
.PHONY: desktop
$(DESKTOP_STAMP): requirements-desktop.txt | $(BIN)/python
	@echo "==> installing the desktop client's requirements"
	$(BIN)/pip install --disable-pip-version-check -r requirements-desktop.txt
	@touch $@

# First: are the system libraries Qt needs for a window here? (It names the packages when not.)
desktop: $(DESKTOP_STAMP)
	@$(BIN)/python -m desktop.qtlibs
	$(BIN)/python -m desktop

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Catalogues (translations/<lang>/LC_MESSAGES/messages.po, shared by the web app and the desktop):
# extract every marked string, merge new ones into zh and en, compile the .mo files (committed).
BABEL_KEYWORDS := lazy_gettext tr t
translations: $(RUNTIME_STAMP)
	$(BIN)/pybabel extract -F babel.cfg $(addprefix -k ,$(BABEL_KEYWORDS)) --no-wrap --sort-by-file -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-wrap --ignore-obsolete --no-fuzzy-matching
	$(BIN)/pybabel compile -d translations --statistics

# The screenshots in docs/pages.md (docs/img/*.png): the shipped model, generated pictures, English pages.
screenshots: $(DEV_STAMP)
	$(BIN)/python docs/screenshots.py --out docs/img
