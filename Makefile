# Two commands set a fresh machine up: `make demo` and `make test`.
# Both build .venv once (a stamp file makes re-runs instant when nothing changed):
# torch==2.13.0 first (the CPU wheel this machine has), then the package with its extras,
# every install under constraints.txt so nothing replaces that torch.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt
STAMP := $(VENV)/.snapdeploy-installed

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile tools/install_lava.py tools/fetch_lava_dl.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[train,lava,fpga,nir,peers,synth,test]'
	# spikingjelly 2.0.0 (a benchmark peer) depends on CUDA-only torchvision/torchaudio builds;
	# its neuron modules need neither, so it goes in without its dependencies.
	$(PIP) --no-deps spikingjelly==2.0.0
	$(BIN)/python tools/install_lava.py
	# lava-dl's own netx reader, the outside oracle of the netx export tests (source only).
	$(BIN)/python tools/fetch_lava_dl.py
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snapdeploy demo

test: $(STAMP)
	# The report tests render report.html in headless Chromium (Debian's package).
	command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)
	# The rtl backend simulates its Verilog core in Verilator (Debian 12's 5.006).
	command -v verilator >/dev/null 2>&1 || (apt-get update && apt-get install -y verilator)
	# The SNAP evaluation's vision task and its tests read Fashion-MNIST (Debian's package).
	test -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz || (apt-get update && apt-get install -y dataset-fashion-mnist)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) snapdeploy-out
