# ymir-executors: set-up, tests, demo, benchmarks and images.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
REQS   := requirements-openmmlab.txt $(wildcard executors/*/requirements.txt)
DEPS   := pyproject.toml constraints.txt scripts/build_mmcv.sh $(REQS)
STAMP  := $(VENV)/.setup-$(shell cat $(DEPS) | sha1sum | cut -c1-12)
CUDA   ?= cu111
TAG    ?= latest

.PHONY: setup test demo bench check-images lint-docker clean

setup: $(STAMP)

$(STAMP): $(DEPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "torch==2.14.1" "torchvision==0.29.1"
	# mmcv with ops, built once per machine (~11 min on 2 cores) and reused from ~/.cache/ymir-executors
	scripts/build_mmcv.sh $(PY) > $(VENV)/.mmcv-wheel
	$(PIP) "$$(cat $(VENV)/.mmcv-wheel)" -e ".[seg,mining,test]" $(addprefix -r ,$(REQS))
	# the frameworks pull opencv-python(-headless); the contrib build (ximgproc superpixels) must own cv2
	$(PIP) --force-reinstall --no-deps opencv-contrib-python-headless
	rm -f $(VENV)/.setup-* && touch $@

test: setup
	$(PY) -m pytest -q tests

demo: setup
	$(PY) scripts/demo.py

bench: setup
	$(PY) benchmarks/convert.py

check-images: setup
	for d in executors/*/; do $(VENV)/bin/ymir-sdk check-image $$d || exit 1; done

build-%:
	docker build -f dockerfiles/Dockerfile.$(CUDA) --build-arg EXECUTOR=$* -t ymir-executors/$*:$(CUDA)-$(TAG) .

clean:
	rm -rf $(VENV) .pytest_cache demo-work
