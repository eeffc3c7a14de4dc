# CoDEKit: every entry point installs what it needs first (Debian 12, run as root).
SHELL := /bin/bash
APT_PACKAGES := pkg-config libopenblas-dev liblapacke-dev libjpeg62-turbo-dev libpng-dev
SWIFT ?= swift
VENV ?= .venv

.PHONY: deps build test run bench fixtures clean

# Installs the Debian packages that are missing (apt-get update first, only when needed).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) test

clean:
	rm -rf .build

# Augmentation + view-sampler throughput on 1 and 2 threads (table on stdout, JSON in .build/bench/).
bench: bench-augment
.PHONY: bench-augment
bench-images: deps
	$(SWIFT) build $(RELEASE) --product code-bench-images
	$(BIN)/code-bench-images --make-inputs .build/bench-jpegs --count 64
	$(BIN)/code-bench-images --input .build/bench-jpegs --threads 1,2 --output $(BENCH_DIR)/images.json

bench-augment: deps
	$(SWIFT) build -c release --product code-bench-augment
	mkdir -p .build/bench
	$$($(SWIFT) build -c release --show-bin-path)/code-bench-augment --output .build/bench/augment.json

# libFuzzer targets for every image decoder, the tar reader and the safetensors reader, each run
# for FUZZ_SECONDS (default 30); crashing inputs land in Fuzz/.work/crashers/. See Fuzz/run.sh.
.PHONY: fuzz
fuzz: deps
	FUZZ_SECONDS=$${FUZZ_SECONDS:-30} Fuzz/run.sh
