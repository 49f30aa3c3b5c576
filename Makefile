# ymir-executors: set-up, tests, demo, benchmarks and images.
#
# Two stacks, one code base:
#   .venv         the test stack: Python 3.11 (PYTHON), torch 2.14.1, constraints.txt
#   .venv-images  the images' stack: Python 3.8 (PYTHON38), torch 1.8.1, constraints-images.txt, and each
#                 cu102/cu111 image's pinned set from dockerfiles/pins/ as the Dockerfiles install it
# Each part is installed when a command needs it (stamps keyed on the files it is installed from): `make demo`
# installs the SDK and the demo executor's framework only; `make test` installs everything.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# one pip at a time in the venv: `make -j3` runs the yolov5 and OpenMMLab parts side by side, and two pips
# writing one site-packages at once fail (pip's "assert os.path.exists(pyc_path)", seen in a fresh-clone CI run)
PIP    := flock $(VENV)/.pip-lock $(PY) -m pip install -q -c constraints.txt
# the frameworks pull opencv-python(-headless); the contrib build (ximgproc superpixels) must own cv2
CONTRIB := --force-reinstall --no-deps opencv-contrib-python-headless
hash    = $(shell cat $(1) | sha1sum | cut -c1-12)

CORE_DEPS   := pyproject.toml constraints.txt
YOLOV5_DEPS := $(CORE_DEPS) executors/yolov5/requirements.txt
OPENMMLAB   := mmdet mmyolo mmrotate seg-in-one
MM_DEPS     := $(CORE_DEPS) scripts/build_mmcv.sh requirements-openmmlab.txt \
               $(foreach e,$(OPENMMLAB),executors/$(subst -,_,$(e))/requirements.txt)
CORE_STAMP  := $(VENV)/.core-$(call hash,$(CORE_DEPS))
YOLOV5_STAMP := $(VENV)/.yolov5-$(call hash,$(YOLOV5_DEPS))
MM_STAMP    := $(VENV)/.openmmlab-$(call hash,$(MM_DEPS))

# The images' stacks, one venv each: torch 1.8.1 (the cu102 and cu111 images) and torch 1.11.0 (cu113)
IVENV   ?= .venv-images
IPY     := $(IVENV)/bin/python
IPINS   := $(sort $(wildcard dockerfiles/pins/*-cu102.txt dockerfiles/pins/*-cu111.txt))
I_DEPS  := pyproject.toml constraints-images.txt scripts/build_mmcv.sh scripts/find_python.sh $(IPINS)
I_STAMP := $(IVENV)/.images-$(call hash,$(I_DEPS))
CVENV   ?= .venv-cu113
CPY     := $(CVENV)/bin/python
CPINS   := $(sort $(wildcard dockerfiles/pins/*-cu113.txt))
C_DEPS  := pyproject.toml constraints-cu113.txt scripts/build_mmcv.sh scripts/find_python.sh $(CPINS)
C_STAMP := $(CVENV)/.images-$(call hash,$(C_DEPS))
# the executors each images' stack tests (the others' tests are skipped there: tests/conftest.py)
I_EXECUTORS := yolov5,mmdet,seg-in-one
C_EXECUTORS := mmyolo,mmrotate

EXECUTOR ?= yolov5
DEMO_SET := $(if $(filter seg-in-one,$(EXECUTOR)),setup,$(if $(filter $(OPENMMLAB),$(EXECUTOR)),setup-openmmlab,$(if $(filter yolov5,$(EXECUTOR)),setup-yolov5,setup-core)))
TAG    ?= latest
# each image's CUDA (override with CUDA=...): mmyolo and mmrotate are built on torch 1.11.0 / CUDA 11.3
IMAGE_CUDA_mmyolo := cu113
IMAGE_CUDA_mmrotate := cu113
image_cuda = $(or $(CUDA),$(IMAGE_CUDA_$(1)),cu111)

.PHONY: setup setup-core setup-yolov5 setup-openmmlab setup-images test test-images test-gpu demo bench check-images \
        clean

setup: setup-yolov5 setup-openmmlab
setup-core: $(CORE_STAMP)
setup-yolov5: $(YOLOV5_STAMP)
setup-openmmlab: $(MM_STAMP)
setup-images: $(I_STAMP) $(C_STAMP)

$(CORE_STAMP): $(CORE_DEPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) -e ".[seg,mining,test]"
	$(PIP) $(CONTRIB)
	rm -f $(VENV)/.core-* && touch $@

$(YOLOV5_STAMP): $(YOLOV5_DEPS) $(CORE_STAMP)
	$(PIP) -r executors/yolov5/requirements.txt
	$(PIP) $(CONTRIB)
	rm -f $(VENV)/.yolov5-* && touch $@

$(MM_STAMP): $(MM_DEPS) $(CORE_STAMP)
	# mmcv with ops, built once per machine (scripts/build_mmcv.sh) and reused from ~/.cache/ymir-executors
	scripts/build_mmcv.sh $(PY) constraints.txt > $(VENV)/.mmcv-wheel
	$(PIP) "$$(cat $(VENV)/.mmcv-wheel)" -r requirements-openmmlab.txt \
	    $(foreach e,$(OPENMMLAB),-r executors/$(subst -,_,$(e))/requirements.txt)
	$(PIP) $(CONTRIB)
	rm -f $(VENV)/.openmmlab-* && touch $@

# An images' stack: what the Dockerfiles install on pytorch/pytorch:<torch>-* (its Python 3.8 and torch, each
# image's pins, the SDK without dependencies), with mmcv built from source instead of OpenMMLab's CUDA wheel index
# (cached like the test stack's). A pin that does not install is a failure.
#   $(call image_stack,VENV,CONSTRAINTS,PINS)   torch and torchvision: the constraints file's pins
define image_stack
	test -x $(1)/bin/python || "$$(scripts/find_python.sh 3.8)" -m venv $(1)
	$(1)/bin/python -m pip install -q -c $(2) -U pip
	$(1)/bin/python -m pip install -q -c $(2) $$(grep -E '^torch(vision)?==' $(2))
	scripts/build_mmcv.sh $(1)/bin/python $(2) > $(1)/.mmcv-wheel
	grep -hv -e '^--find-links' $(3) > $(1)/pins.txt
	$(1)/bin/python -m pip install -q -c $(2) "$$(cat $(1)/.mmcv-wheel)" -r $(1)/pins.txt pytest hypothesis pytest-xdist
	! grep -q '^opencv-contrib' $(1)/pins.txt || $(1)/bin/python -m pip install -q -c $(2) --force-reinstall \
	    --no-deps $$(grep '^opencv-contrib' $(1)/pins.txt | sort -u)
	$(1)/bin/python -m pip install -q -c $(2) --no-deps -e .
	rm -f $(1)/.images-* && touch $@
endef

$(I_STAMP): $(I_DEPS)
	$(call image_stack,$(IVENV),constraints-images.txt,$(IPINS))

$(C_STAMP): $(C_DEPS)
	$(call image_stack,$(CVENV),constraints-cu113.txt,$(CPINS))

# every lane: every test on the test stack; on the images' stacks the tests marked `images` (the SDK core's and
# the executors' end to end: everything but the static image checks and the not-yet-imaged frameworks).
# -n $(TEST_WORKERS): pytest-xdist workers (the subprocesses the tests start - imports, trainings - overlap on the
# two cores; each generated dataset and trained model is made once for all workers: tests/conftest.py `once`),
# one BLAS/OpenMP thread each (several threads per worker fight for the two cores). Three workers on two cores:
# the images' lane took 435 s at 188% CPU, 500 s with two (a worker waiting on a shared training or a process
# start leaves a core idle).
# --durations: every run's log names its slowest tests; each lane's wall time is printed at the end.
TEST_WORKERS ?= 3
PYTEST = env OMP_NUM_THREADS=1 $(1) -m pytest -q -n $(TEST_WORKERS) --durations=$(2)
test: setup setup-images
	@rm -f .lane-times
	scripts/lane.sh "test stack (Python 3.11, torch 2.14.1)" $(call PYTEST,$(PY),15) tests; \
	status=$$?; [ $$status -ne 0 ] || $(MAKE) --no-print-directory test-images || status=$$?; \
	echo "== lane times"; cat .lane-times; exit $$status

test-images: setup-images
	YMIR_TEST_EXECUTORS=$(I_EXECUTORS) scripts/lane.sh "images (Python 3.8, torch 1.8.1)" \
	    $(call PYTEST,$(IPY),15) -m images tests
	YMIR_TEST_LANE=cu113 YMIR_TEST_EXECUTORS=$(C_EXECUTORS) scripts/lane.sh "cu113 (Python 3.8, torch 1.11.0)" \
	    $(call PYTEST,$(CPY),15) -m images tests

# the GPU lane: the tests marked gpu (skipped without a CUDA device), then the GPU benchmark
test-gpu: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m gpu --durations=15 tests
	PYTHONPATH=$(CURDIR) $(PY) benchmarks/gpu.py

demo: $(DEMO_SET)
	EXECUTOR=$(EXECUTOR) $(PY) scripts/demo.py

bench: setup
	$(PY) benchmarks/convert.py

check-images: setup
	for d in executors/*/; do $(VENV)/bin/ymir-sdk check-image $$d || exit 1; done

build-%:
	docker build -f dockerfiles/Dockerfile.$(call image_cuda,$*) --build-arg EXECUTOR=$* --build-arg PACKAGE=$(subst -,_,$*) \
	    -t ymir-executors/$*:$(call image_cuda,$*)-$(TAG) .

clean:
	rm -rf $(VENV) $(IVENV) $(CVENV) .pytest_cache demo-work .lane-times
