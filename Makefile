# CoDEKit. Every entry point installs what it needs first (Debian 12, as root or with sudo).
SHELL := /bin/bash
APT_PACKAGES := pkg-config libopenblas-dev liblapacke-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libtiff-dev libopenmpi-dev openmpi-bin iproute2 libdnnl-dev
SWIFT ?= swift
# Release builds are plain `swift build -c release`, what SwiftPM builds for a package's users:
# the element-wise kernels (Sources/CKernels) choose AVX-512, AVX2+FMA or baseline x86-64 at run
# time, and a -target-cpu build measured level for the encoder and the training step
# (docs/performance.md, make bench-plain-vs-native). CPU=native (or any -target-cpu name) still
# tunes the Swift code for one CPU: the augmentation filters run about 15% faster with it.
CPU ?=
RELEASE := -c release $(if $(CPU),-Xswiftc -target-cpu -Xswiftc $(CPU))
BIN = $$($(SWIFT) build $(RELEASE) --show-bin-path)
PYTHON ?= python3
VENV ?= .venv
BENCH_DIR ?= bench-results
SAMPLES ?= .build/samples

.PHONY: deps test-deps test-browser serve-nginx-check bench-serve build test run samples bench bench-encoder bench-memory bench-detect bench-detect-scale bench-classifiers bench-images bench-augment bench-peers bench-versus bench-blas-versus bench-interleaved bench-distributed bench-plain-vs-native bench-bf16 bench-bf16-training test-mpi-hosts fixtures fuzz clean

# Installs the Debian packages that are missing (apt-get update first, only when something is missing).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# What make test needs beyond APT_PACKAGES: the browser for the web-page test, nginx for the
# scale-out check, wrk for bench-serve. Installed the same way as deps.
TEST_APT_PACKAGES := chromium chromium-driver nginx wrk curl python3 python3-venv
test-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(TEST_APT_PACKAGES)"

build: deps
	$(SWIFT) build $(RELEASE)

test: deps test-deps
	$(SWIFT) test
	$(MAKE) --no-print-directory test-browser serve-nginx-check

# The web page in a real browser (Debian chromium + chromium-driver, selenium from PyPI in
# .venv-browser): a debug code-serve on a free loopback port, a real and a broken image through
# the file input, verdicts compared with /v1/detect; screenshot in $(ARTIFACTS)/serve-page.png.
ARTIFACTS ?= .build/artifacts
BROWSER_VENV ?= .venv-browser
$(BROWSER_VENV)/.done: Tests/Browser/requirements.txt
	$(PYTHON) -m venv $(BROWSER_VENV)
	$(BROWSER_VENV)/bin/pip install -q -r Tests/Browser/requirements.txt
	touch $@

test-browser: deps test-deps $(BROWSER_VENV)/.done
	$(SWIFT) build --product code-serve
	tools/serve_checks.sh browser $$($(SWIFT) build --show-bin-path) $(BROWSER_VENV)/bin/python $(ARTIFACTS)/serve-page.png

# Two code-serve replicas behind nginx (a temporary nginx.conf, nginx -c/-p, not the system
# service) on loopback: requests through nginx, both replicas' /metrics must count some.
serve-nginx-check: deps test-deps
	$(SWIFT) build --product code-serve
	tools/serve_checks.sh nginx $$($(SWIFT) build --show-bin-path)

# Sample photographs: the real photos scikit-image's Debian package ships (astronaut, cat,
# coffee, rocket, ...), extracted from the .deb without installing it, plus its truncated JPEG.
samples:
	@if [ ! -f $(SAMPLES)/.done ]; then \
	  set -e; tmp=$$(mktemp -d); \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  (cd $$tmp && (apt-get download -qq python3-skimage 2>/dev/null || ($$SUDO apt-get update -qq && apt-get download -qq python3-skimage))); \
	  dpkg-deb -x $$tmp/python3-skimage_*.deb $$tmp/x; \
	  mkdir -p $(SAMPLES); d=$$tmp/x/usr/lib/python3/dist-packages/skimage/data; \
	  cp $$d/astronaut.png $$d/chelsea.png $$d/coffee.png $$d/camera.png $$d/motorcycle_left.png \
	     $$d/rocket.jpg $$d/hubble_deep_field.jpg $$d/retina.jpg $$d/truncated.jpg $(SAMPLES)/; \
	  rm -rf $$tmp; touch $(SAMPLES)/.done; \
	fi

# The main job: label the sample photographs real/fake with the bundled model (linear classifier).
# Exit code 1 only means some inputs could not be read (the samples include a truncated JPEG).
run: build samples
	$(BIN)/code-detect --format table $(SAMPLES) || [ $$? = 1 ]

# Everything make bench measures is printed and written to $(BENCH_DIR)/*.json.
bench: bench-encoder bench-memory bench-detect bench-classifiers bench-images bench-augment

bench-encoder: deps
	$(SWIFT) build $(RELEASE) --product code-bench
	$(BIN)/code-bench --threads 2 --training --output $(BENCH_DIR)/encoder.json

# Peak memory of one CoDE step (micro-batch 32) at a logical batch of 64 and of 128 pairs.
bench-memory: deps
	$(SWIFT) build $(RELEASE) --product code-bench
	$(BIN)/code-bench --threads 2 --step-memory 64 --output $(BENCH_DIR)/step-memory-64.json
	$(BIN)/code-bench --threads 2 --step-memory 128 --output $(BENCH_DIR)/step-memory-128.json

# Files -> embeddings (what code-detect runs) on 1,000 640x480 JPEGs vs the batch-32 forward rate.
bench-detect: deps
	$(SWIFT) build $(RELEASE) --product code-bench
	$(SWIFT) build $(RELEASE) --product code-bench-images
	$(BIN)/code-bench-images --make-inputs .build/bench-jpegs-1000 --count 1000
	$(BIN)/code-bench --threads 2 --embed-dir .build/bench-jpegs-1000 --output $(BENCH_DIR)/detect.json
	$(BIN)/code-bench --threads 2 --embed-dir .build/bench-jpegs-1000 --crops five --output $(BENCH_DIR)/detect-five.json

# code-serve under wrk at 1, 8 and 32 connections (640x480 JPEGs, bundled model), with the
# batch-32 forward rate and a single-image code-detect in the same sitting. See docs/service.md.
BENCH_SERVE_SECONDS ?= 15
# code-detect's peak RSS (/usr/bin/time -v) and throughput on 1,000 and 100,000 generated 64x64
# JPEGs (tiny test encoder), and with the bundled model on 1,000 640x480 JPEGs (docs/performance.md).
bench-detect-scale: deps
	@command -v /usr/bin/time >/dev/null || $(MAKE) --no-print-directory deps APT_PACKAGES=time
	$(SWIFT) build $(RELEASE) --product code-detect
	$(SWIFT) build $(RELEASE) --product code-fit
	$(SWIFT) build $(RELEASE) --product code-bench-images
	tools/bench_detect_scale.sh $(BIN) $(BENCH_DIR)

bench-serve: deps test-deps
	$(SWIFT) build $(RELEASE) --product code-serve
	$(SWIFT) build $(RELEASE) --product code-bench
	$(SWIFT) build $(RELEASE) --product code-detect
	tools/bench_serve.sh $(BIN) $(BENCH_DIR)/serve $(BENCH_SERVE_SECONDS)

bench-classifiers: deps
	$(SWIFT) build $(RELEASE) --product code-bench-classifiers
	$(BIN)/code-bench-classifiers --output $(BENCH_DIR)/classifiers.json

bench-images: deps
	$(SWIFT) build $(RELEASE) --product code-bench-images
	$(BIN)/code-bench-images --make-inputs .build/bench-jpegs --count 64
	$(BIN)/code-bench-images --input .build/bench-jpegs --threads 1,2 --output $(BENCH_DIR)/images.json

bench-augment: deps
	$(SWIFT) build $(RELEASE) --product code-bench-augment
	$(BIN)/code-bench-augment --output $(BENCH_DIR)/augment.json

# One MPI job across two hosts made of network namespaces (veth pair, TCP transport; needs root).
# Also part of make test (DistributedTests "two hosts").
test-mpi-hosts: deps
	$(SWIFT) build --product code-bench-distributed
	tools/mpi_two_hosts.sh $$($(SWIFT) build --show-bin-path)/code-bench-distributed --self-test --threads 1
	tools/mpi_two_hosts.sh $$($(SWIFT) build --show-bin-path)/code-bench-distributed --steps 5 --batch 7 --micro-batch 3 --threads 1

# 1 rank with 2 threads against 2 ranks with 1 thread each (mpirun on loopback), at the same
# logical batch of full-size ViT-Tiny CoDE steps, in alternating rounds (ROUNDS, default 5).
# DIST_BATCH pairs per step (default 16). See docs/distributed.md.
DIST_BATCH ?= 16
MPIRUN := mpirun --allow-run-as-root --oversubscribe --mca btl self,vader,tcp
bench-distributed: deps
	$(SWIFT) build $(RELEASE) --product code-bench-distributed
	rm -rf $(BENCH_DIR)/distributed && mkdir -p $(BENCH_DIR)/distributed
	for r in $$(seq 1 $(ROUNDS)); do \
	  $(BIN)/code-bench-distributed --bench --config tiny --batch $(DIST_BATCH) --micro-batch $(DIST_BATCH) --keep-activations --threads 2 \
	    --output $(BENCH_DIR)/distributed/one-$$r.json > /dev/null && \
	  $(MPIRUN) -np 2 $(BIN)/code-bench-distributed --bench --config tiny --batch $(DIST_BATCH) --micro-batch $(DIST_BATCH) --keep-activations --threads 1 \
	    --output $(BENCH_DIR)/distributed/two-$$r.json > /dev/null || exit 1; \
	  echo "round $$r of $(ROUNDS) done"; \
	done
	$(BIN)/code-bench-distributed --summarise $(BENCH_DIR)/distributed --output $(BENCH_DIR)/distributed.json

# The Python peers (PyTorch eager, ONNX Runtime, scikit-learn, Pillow) in a venv; separate from
# `make bench` because they download about 1 GB of wheels. Run after bench-images (its JPEGs).
bench-peers: $(VENV)/.done
	$(VENV)/bin/python Benchmarks/peers/vit_peers.py --threads 2 --output $(BENCH_DIR)/peers.json
	$(VENV)/bin/python Benchmarks/classifiers/sklearn_peer.py --output $(BENCH_DIR)/sklearn.json
	$(VENV)/bin/python Benchmarks/images/pillow_peer.py .build/bench-jpegs --output $(BENCH_DIR)/pillow.json

# CoDEKit and the PyTorch / ONNX Runtime peers in alternating rounds (ROUNDS, default 5): each
# round's figures share one machine state; the summary gives medians of figures and of ratios.
ROUNDS ?= 5
bench-versus: deps $(VENV)/.done
	$(SWIFT) build $(RELEASE) --product code-bench
	rm -rf $(BENCH_DIR)/versus && mkdir -p $(BENCH_DIR)/versus
	for r in $$(seq 1 $(ROUNDS)); do \
	  $(BIN)/code-bench --threads 2 --repeats 5 --training --output $(BENCH_DIR)/versus/codekit-$$r.json > /dev/null && \
	  $(BIN)/code-bench --threads 2 --repeats 3 --precisions --output $(BENCH_DIR)/versus/codekit-prec-$$r.json > /dev/null && \
	  $(BIN)/code-bench --threads 2 --repeats 3 --bf16-training --output $(BENCH_DIR)/versus/codekit-bf16train-$$r.json > /dev/null && \
	  $(VENV)/bin/python Benchmarks/peers/vit_peers.py --threads 2 --repeats 5 --output $(BENCH_DIR)/versus/peers-$$r.json > /dev/null 2>&1 || exit 1; \
	  echo "round $$r of $(ROUNDS) done"; \
	done
	$(VENV)/bin/python Benchmarks/peers/versus.py $(BENCH_DIR)/versus --output $(BENCH_DIR)/versus.json

# OpenBLAS against the BLAS inside PyTorch's wheel (MKL on x86) at CoDEKit's own GEMM shapes, and
# PyTorch eager's training step, in alternating rounds (ROUNDS): how much of PyTorch's speed is
# its BLAS. See docs/performance.md.
bench-blas-versus: deps $(VENV)/.done
	$(SWIFT) build $(RELEASE) --product code-bench
	rm -rf $(BENCH_DIR)/blas-versus && mkdir -p $(BENCH_DIR)/blas-versus
	for r in $$(seq 1 $(ROUNDS)); do \
	  $(BIN)/code-bench --threads 2 --repeats 5 --batches 32 --training --output $(BENCH_DIR)/blas-versus/codekit-$$r.json > /dev/null && \
	  $(VENV)/bin/python Benchmarks/peers/gemm_peer.py $(BENCH_DIR)/blas-versus/codekit-$$r.json --threads 2 \
	    --output $(BENCH_DIR)/blas-versus/gemm-$$r.json > /dev/null 2>&1 || exit 1; \
	  echo "round $$r of $(ROUNDS) done"; \
	done
	$(VENV)/bin/python Benchmarks/peers/gemm_peer.py --summarise $(BENCH_DIR)/blas-versus --output $(BENCH_DIR)/blas-versus.json

# CoDEKit's and PyTorch eager's training steps taking turns in short bursts (CYCLES cycles of STEPS
# steps per side) from two warm processes: one ratio per cycle, so drift of the VM cancels.
CYCLES ?= 30
STEPS ?= 5
bench-interleaved: deps $(VENV)/.done
	$(SWIFT) build $(RELEASE) --product code-bench
	$(VENV)/bin/python Benchmarks/peers/interleaved.py --bin "$(BIN)/code-bench" --threads 2 \
	  --cycles $(CYCLES) --steps $(STEPS) --output $(BENCH_DIR)/interleaved.json

# The plain build (swift build -c release, scratch .build-plain) against -target-cpu native
# (.build-native) in alternating rounds (ROUNDS): code-embed images/s on 64 JPEGs of PHOTOS and
# the training step; medians of the per-round ratios. See tools/bench_plain_vs_native.sh.
PHOTOS ?= ../shared/data/photos/val
bench-plain-vs-native: deps
	ROUNDS=$(ROUNDS) tools/bench_plain_vs_native.sh $(PHOTOS) $(BENCH_DIR)/plain-vs-native.json

# oneDNN bf16 matmul (weights reordered once, fp32 accumulation) against OpenBLAS sgemm on the
# four ViT-Tiny block GEMM shapes at batch 32 (issue 24 item 2, benchmark only).
bench-bf16: deps
	$(SWIFT) build $(RELEASE) --product code-bench-bf16
	$(BIN)/code-bench-bf16 --threads 2 --repeats 9

# bf16 mixed-precision training step against fp32 (ViT-Tiny, micro-batch 32), alternating rounds.
bench-bf16-training: deps
	$(SWIFT) build $(RELEASE) --product code-bench
	$(BIN)/code-bench --bf16-training --threads 2 --repeats 9 --output bench-results/bf16-training.json

# Pinned: the versions the committed fixtures were generated with (Tests/Fixtures/requirements.txt).
$(VENV)/.done: Tests/Fixtures/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r Tests/Fixtures/requirements.txt
	touch $@

# Regenerates every committed test fixture (needs the venv).
fixtures: $(VENV)/.done
	$(VENV)/bin/python Tests/Fixtures/make_model_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_precision_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_bf16_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_contrastive_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_classifier_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_augment_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_image_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_eval_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_objective_fixtures.py
	$(VENV)/bin/python Tests/Fixtures/make_calibration_fixtures.py

# libFuzzer targets for every image decoder, the tar reader and the safetensors reader, each run
# for FUZZ_SECONDS (default 30); crashing inputs land in Fuzz/.work/crashers/. See Fuzz/run.sh.
fuzz: deps
	FUZZ_SECONDS=$${FUZZ_SECONDS:-30} Fuzz/run.sh

clean:
	rm -rf .build
