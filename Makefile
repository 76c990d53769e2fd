# deepbrain: make activations WAV=x.wav MODEL=dir | make test | make venv
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WAV    ?=
MODEL  ?=
ENGINE ?= auto
OUT    ?= activations/$(basename $(notdir $(WAV)))
PYTEST_ARGS ?=

.PHONY: venv activations activations-args test bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

activations-args:
	@test -n "$(WAV)" || { echo "make activations: set WAV=path/to/audio.wav" >&2; exit 2; }
	@test -n "$(MODEL)" || { echo "make activations: set MODEL=path/to/model-dir (no demo model ships yet)" >&2; exit 2; }

activations: activations-args venv
	$(BIN)/deepbrain activations "$(WAV)" --model "$(MODEL)" --out "$(OUT)" --engine "$(ENGINE)" $(if $(FORCE),--force)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build app/*.egg-info .pytest_cache .hypothesis

bench: venv
	$(BIN)/python scripts/bench.py
