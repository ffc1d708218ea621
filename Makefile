# Caliper: the two set-up commands of the README are `make demo` and `make test`.
# Both work on a fresh machine: they install the system tools the suite calls
# (dcm2niix, dciodvfy, Xvfb + Mesa for napari) when missing, create .venv and
# install the project into it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.caliper-installed
SAMPLE ?= sample_dicom/out
OUT    ?= out/demo

# Debian packages the tests and the review need; each entry is "command-or-file:package".
# Orthanc is the real PACS the `caliper fetch` tests query and retrieve from; DCMTK's getscu
# is the peer in its benchmark.
SYSTEM_DEPS := dcm2niix:dcm2niix dciodvfy:dicom3tools xvfb-run:xvfb xauth:xauth \
	/usr/sbin/Orthanc:orthanc getscu:dcmtk \
	/usr/lib/x86_64-linux-gnu/dri/swrast_dri.so:libgl1-mesa-dri \
	/usr/lib/x86_64-linux-gnu/libGL.so.1:libgl1 /usr/lib/x86_64-linux-gnu/libEGL.so.1:libegl1 \
	/usr/lib/x86_64-linux-gnu/libxkbcommon-x11.so.0:libxkbcommon-x11-0 \
	/usr/lib/x86_64-linux-gnu/libxcb-cursor.so.0:libxcb-cursor0 \
	/usr/lib/x86_64-linux-gnu/libxcb-icccm.so.4:libxcb-icccm4 \
	/usr/lib/x86_64-linux-gnu/libxcb-image.so.0:libxcb-image0 \
	/usr/lib/x86_64-linux-gnu/libxcb-keysyms.so.1:libxcb-keysyms1 \
	/usr/lib/x86_64-linux-gnu/libxcb-render-util.so.0:libxcb-render-util0 \
	/usr/lib/x86_64-linux-gnu/libxcb-xinerama.so.0:libxcb-xinerama0 \
	/usr/lib/x86_64-linux-gnu/libxcb-shape.so.0:libxcb-shape0 \
	/usr/lib/x86_64-linux-gnu/libdbus-1.so.3:libdbus-1-3 \
	/usr/lib/x86_64-linux-gnu/libfontconfig.so.1:libfontconfig1

.PHONY: demo test lint bench system-deps venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,distributed,review]'
	touch $(STAMP)

system-deps:
	@missing=""; for dep in $(SYSTEM_DEPS); do \
		what=$${dep%%:*}; pkg=$${dep##*:}; \
		if [ "$${what#/}" != "$$what" ]; then [ -e "$$what" ] || missing="$$missing $$pkg"; \
		else command -v "$$what" >/dev/null 2>&1 || missing="$$missing $$pkg"; fi; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# napari needs an OpenGL context: the suite runs under Xvfb with Mesa's software renderer
test: system-deps $(STAMP)
	$(VENV)/bin/ruff check .
	LIBGL_ALWAYS_SOFTWARE=1 xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m pytest

# The main job on the sample cohort: generate it (once, deterministic), then `caliper run`
# (segment, follow, measure, score, export, report). A rerun resumes from OUT/state.sqlite.
demo: $(STAMP)
	@[ -f $(SAMPLE)/truth.json ] || $(VENV)/bin/caliper sample $(SAMPLE) --preview >/dev/null
	@mkdir -p $(OUT)
	@$(VENV)/bin/caliper run $(SAMPLE)/dicom --prompts $(SAMPLE)/prompts.csv \
		--clinical $(SAMPLE)/clinical.csv --out $(OUT) > $(OUT).json || [ $$? = 2 ]
	@echo "sample cohort:      $(SAMPLE)/dicom (preview: $(SAMPLE)/preview.png)"
	@echo "measurements:       $(OUT)/measurements.csv (and .parquet)"
	@echo "RECIST results:     $(OUT)/recist/   cohort end points: $(OUT)/cohort/"
	@echo "DICOM SEG and SR:   $(OUT)/dicom/"
	@echo "review flags:       $(OUT)/errors.csv"
	@echo "report:             $(OUT)/report.html"

bench: system-deps $(STAMP)
	$(PY) benchmarks/load_series.py
	$(PY) benchmarks/fetch_speed.py
	$(PY) benchmarks/measure_speed.py
	$(PY) benchmarks/segment_speed.py
	$(PY) benchmarks/segment_accuracy.py
	$(PY) benchmarks/segment_sweep.py
	$(PY) benchmarks/batch.py

clean:
	rm -rf $(VENV) out $(SAMPLE) .pytest_cache
