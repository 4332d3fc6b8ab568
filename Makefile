# Two commands on a fresh machine:  make demo  and  make test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= geo-output

.PHONY: demo test test-all bench clean venv browser fonts notebook

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when setup.cfg changes (stamp files).
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/geo demo --out $(OUT)

# The browser tests open the maps and the report in Debian's Chromium; install it when missing
# (needs root, as on CI). Without any browser those tests skip with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	        || echo "warning: could not install chromium; browser tests will skip"; \
	    else echo "note: chromium not found; browser tests will skip"; fi; }

# Chinese park and valley names need a CJK font in the figures (else they are drawn as boxes and
# the run warns); install Debian's Noto Sans CJK when fontconfig knows none (needs root, as on CI).
fonts:
	@fc-list 2>/dev/null | grep -qi -e cjk -e "wenquanyi" -e "source han" || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null) \
	        || echo "warning: could not install fonts-noto-cjk; the CJK figure test will skip"; \
	    else echo "note: no CJK font found (apt-get install fonts-noto-cjk); the CJK figure test will skip"; fi; }

test: $(VENV)/.installed-test browser fonts
	$(BIN)/python -m pytest

test-all: $(VENV)/.installed-test browser fonts
	$(BIN)/python -m pytest -m ""

# Re-execute the tutorial notebook in place (committed with its outputs; about a minute).
notebook: $(VENV)/.installed-test fonts
	$(BIN)/python notebooks/run_notebook.py

bench: $(VENV)/.installed-test
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(OUT) build *.egg-info .pytest_cache
