# Two commands: `make run` starts the product, `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint install install-dev clean

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

test: $(DEV_STAMP)
	@echo "==> running the test suite"
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
