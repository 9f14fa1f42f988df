# `make run` starts the app; `make serve` runs it on every core behind HAProxy; `make dev`
# reloads it on every edit; `make test` runs every test. All set up .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# make serve: app servers behind the balancer (0: one per core).
WORKERS ?= 0
# TORCH_INDEX=https://download.pytorch.org/whl/cpu: take torch from that index first (on Linux,
# PyPI's torch is the CUDA build; the app runs on the CPU).
TORCH_INDEX ?=

.PHONY: run dev serve test bench chromium haproxy clean

# Two malloc arenas: a server of many short sessions otherwise holds ~150 MB more at peak.
# NUMPY_MADVISE_HUGEPAGE=0: NumPy asks for transparent huge pages for arrays of 4 MB and more;
# where the kernel compacts memory to find them (defrag=madvise, as on this project's machines)
# a fresh 25 MB array took up to 230 ms instead of 15, and the Sampling page builds several.
# MADE_VIZ_WARM_UP=1: once the first page is drawn, load the Sampling page's model in the
# background (made_viz/ui/server.py).
# MALLOC_MMAP_THRESHOLD_=4 MB: memory blocks of 4 MB and more (an uploaded photo being
# decoded, up to 320 MB at 40 megapixels) go back to the system when freed, instead of staying
# in whichever of the two arenas the session's thread used.
SERVER_ENV := MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=4194304 NUMPY_MADVISE_HUGEPAGE=0 MADE_VIZ_WARM_UP=1
STREAMLIT := $(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Served: no file watcher (with one, every new session checked some 2,000 module paths).
run: $(VENV)/.installed
	$(SERVER_ENV) $(STREAMLIT) --server.fileWatcherType none

# Development: the page reruns itself when a file it uses is saved.
dev: $(VENV)/.installed
	$(SERVER_ENV) $(STREAMLIT) --server.fileWatcherType auto --server.runOnSave true

# Every core: WORKERS app servers behind HAProxy, with cookie affinity (made_viz/serve.py).
serve: $(VENV)/.installed haproxy
	$(SERVER_ENV) $(PY) -m made_viz.serve --port $(PORT) --workers $(WORKERS)

test: $(VENV)/.dev-installed chromium haproxy
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m made_viz.bench

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet --disable-pip-version-check --index-url $(TORCH_INDEX) "$$(grep '^torch==' requirements.txt)")
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Browser tests drive Debian's Chromium; make serve and its tests run Debian's HAProxy. Each is
# installed when missing and we may (root); otherwise one line says what to install.
NEEDED_BY_chromium := browser tests need it
NEEDED_BY_haproxy := make serve and its tests need it
chromium haproxy:
	@if ! command -v $@ >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $@; \
		else \
			echo "$@ is missing: install Debian's '$@' package ($(NEEDED_BY_$@))"; \
		fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
