# deepbrain: make activations WAV=x.wav [MODEL=dir] | make test | make venv | make demo-model
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WAV    ?=
MODEL  ?= models/demo
ENGINE ?= auto
OUT    ?= activations/$(basename $(notdir $(WAV)))
PYTEST_ARGS ?=
EXTRAS ?= dev,gui
# The window's benchmarks (a display, or Xvfb): bench/gui.md, bench/window.md (long audio, live)
GUI_BENCHES := scripts/bench_gui.py scripts/bench_window.py

.PHONY: venv activations activations-args test bench clean demo-model gui

venv: $(VENV)/.installed

# Debian's python3 without python3-venv has no ensurepip: the venv is then made without pip
# and pip fetched from the package index (scripts/bootstrap_pip.py, sha256 checked).
$(VENV)/.installed: setup.cfg pyproject.toml setup.py
	@$(PYTHON) -c "import venv" 2>/dev/null || { echo "make: $(PYTHON) not found or has no venv module; install Python >= 3.9 (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
	@if ! $(PYTHON) -m venv $(VENV) 2>/dev/null; then rm -rf $(VENV); \
	  echo "make: $(PYTHON) -m venv failed (no ensurepip? Debian: apt-get install python3-venv); making $(VENV) without pip and fetching pip" >&2; \
	  $(PYTHON) -m venv --without-pip $(VENV) && $(BIN)/python scripts/bootstrap_pip.py; fi
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

activations-args:
	@test -n "$(WAV)" || { echo "make activations: set WAV=path/to/audio.wav" >&2; exit 2; }

activations: activations-args venv
	$(BIN)/deepbrain activations "$(WAV)" --model "$(MODEL)" --out "$(OUT)" --engine "$(ENGINE)" $(if $(FORCE),--force)

# Qt's pytest plugin loads Qt's GUI library at start-up: where it cannot load (a minimal
# Debian has no libGL or xcb libraries) the plugin stays off and the GUI tests skip.
test: venv
	@if $(BIN)/python -c "from PyQt5 import QtWidgets" 2>/dev/null; then qt=; else \
	  qt="-p no:pytest-qt -p no:xvfb"; echo "make test: Qt cannot load here (apt-get install libgl1 libxkbcommon-x11-0 libxcb-icccm4 ... as README.md lists them): the GUI tests are skipped" >&2; fi; \
	$(BIN)/python -m pytest $$qt $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist app/*.egg-info .pytest_cache .hypothesis

bench: venv
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_stream.py
	@for s in $(GUI_BENCHES); do \
	  if [ -n "$$DISPLAY" ]; then $(BIN)/python $$s || exit 1; \
	  elif command -v xvfb-run >/dev/null; then \
	    xvfb-run -a -s "-screen 0 1920x1080x24" $(BIN)/python $$s || exit 1; \
	  else echo "make bench: no display and no xvfb-run (apt-get install xvfb xauth): $$s skipped" >&2; fi; \
	done

# The window: make gui [MODEL=dir] [WAV=file]. Recording and sound need pyaudio (the record
# extra), built against portaudio19-dev; without it the GUI still runs and plays silently.
gui: venv
	@$(BIN)/python -c "import pyaudio" 2>/dev/null || $(BIN)/pip install --quiet -e '.[record]' || \
	  echo "make gui: no pyaudio (apt-get install portaudio19-dev): no recording, silent playback" >&2
	$(BIN)/deepbrain gui $(if $(MODEL),--model "$(MODEL)") $(if $(WAV),--wav "$(WAV)")

# Regenerate models/demo from nothing (time on 2 busy cores: see README.md). The trainer is
# PyTorch on the CPU (the train extra, torch 2.13.0), one thread, like the BLAS: the same
# machine then gives byte-identical model files. Needs Debian's espeak-ng libespeak-ng1
# wordnet-base wamerican festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
# festvox-rablpc16k flite ffmpeg, from the non-free section rhvoice rhvoice-english
# libttspico-utils (used when installed), pocketsphinx (the align extra: the corpus's labels),
# and for the real-speech figures alsa-utils klettres-data ktuberling-data (evaluation only).
# The maps (lda/K) are then built by deepbrain build-map on every 3rd training utterance.
DEMO_WORK ?= build/demo-work
demo-model: venv
	@$(BIN)/python -c "import torch, pocketsphinx" 2>/dev/null || $(BIN)/pip install --quiet -e '.[train,align]'
	rm -rf "$(DEMO_WORK)"
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/python scripts/make_demo_model.py --out models/demo --work "$(DEMO_WORK)"
	$(BIN)/deepbrain build-map --model models/demo --data "$(DEMO_WORK)/maps-data" \
	  --labels "$(DEMO_WORK)/maps-data/phones.scp" --phones models/demo/phones.txt \
	  --out models/demo --engine numpy --nj 2 --seed 0 --plot --force
