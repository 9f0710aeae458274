# AWSS3 — build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo

CXXWARN ?=
export CXXWARN
RUSTLIB := target/release/libawss3.a
PLUGIN  := build/ha_awss3.so

.PHONY: help deps plugin header test test-rust test-mtr test-cluster difftest conformance demo up down bench lint clean deb deb-test

help:
	@echo "make deps    - install the pinned MariaDB packages, server headers and moto (Debian 12)"
	@echo "make plugin  - build $(PLUGIN)"
	@echo "make test    - Rust tests + the mysql-test-run suite against moto"
	@echo "make demo    - build, start moto + a throwaway mariadbd, run a short SQL session, stop"
	@echo "make up/down - keep a dev server (mariadbd + moto) running / stop it (AWSS3_SERVERS=N: N servers)"
	@echo "make difftest - AWSS3 vs InnoDB twins, random seeds, MINUTES=30 (make test: seeds 1-3)"
	@echo "make conformance - the store conformance suite against moto and Garage (in-memory: make test)"
	@echo "make test-cluster - 2 servers on a 3-node Garage cluster, a node crash, a check (not in make test)"
	@echo "make install - copy the plugin into the running server's plugin_dir"
	@echo "make lint    - cargo fmt --check, clippy -D warnings"
	@echo "make deb     - build/mariadb-plugin-awss3_<version>_amd64.deb (for the exact server version built against)"
	@echo "make deb-test - install that .deb, load the plugin into a throwaway server, remove it; then, in a"
	@echo "                throwaway Debian root: rebuild from the package, a server upgrade (root)"

deps: build/deps/.installed
build/deps/.installed: scripts/install-deps.sh scripts/requirements.txt
	bash scripts/install-deps.sh
	touch $@

$(RUSTLIB): $(wildcard src/*.rs) Cargo.toml Cargo.lock build.rs cpp_shim/awss3.h | deps
	$(CARGO) build --release --locked

# Compile and link flags live in scripts/build-shim.sh (awss3-rebuild, shipped in
# the .deb, builds the shim the same way).
build/ha_awss3.o: cpp_shim/ha_awss3.cc cpp_shim/ha_awss3.h cpp_shim/awss3.h scripts/build-shim.sh | deps
	@mkdir -p build
	bash scripts/build-shim.sh compile $@

$(PLUGIN): build/ha_awss3.o $(RUSTLIB) cpp_shim/exports.map
	bash scripts/build-shim.sh link $@ build/ha_awss3.o

plugin: $(PLUGIN)

# Regenerates cpp_shim/awss3.h from src/ffi.rs (commit the result).
header:
	AWSS3_BLESS_HEADER=1 $(CARGO) build --release

install: $(PLUGIN)
	bash scripts/install-plugin.sh

test: $(PLUGIN)
	bash scripts/test-deps.sh
	bash scripts/test-version-message.sh
	bash scripts/test.sh

# Random seeds for longer than `make test` (MINUTES=30, SEED=N to replay one).
difftest: $(PLUGIN)
	bash scripts/difftest.sh

# src/conformance.rs against real servers (BACKENDS="moto garage").
conformance: deps
	bash scripts/conformance.sh $(BACKENDS)

demo: $(PLUGIN)
	bash scripts/demo.sh

up: $(PLUGIN)
	bash scripts/devserver.sh up

down:
	bash scripts/devserver.sh down

# bench/: the round-trip proxy and the raw S3 client (Rust), not part of the
# engine. Linted here: its clippy builds the SDK once more (minutes), too long for CI.
BENCH_TOOLS := target/bench/release/rtt-proxy target/bench/release/raw-s3
$(BENCH_TOOLS) &: $(wildcard bench/src/*.rs) bench/Cargo.toml bench/Cargo.lock
	$(CARGO) clippy --release --locked --manifest-path bench/Cargo.toml --target-dir target/bench -- -D warnings
	$(CARGO) build --release --locked --manifest-path bench/Cargo.toml --target-dir target/bench

bench: $(PLUGIN) $(BENCH_TOOLS)
	bash scripts/bench.sh

# Not part of `make test` / CI: needs Garage (built into build/tools on first use).
test-cluster: $(PLUGIN)
	bash scripts/test-cluster.sh

deb: $(PLUGIN)
	bash scripts/make-deb.sh

# The package on this machine, then its life on a throwaway Debian root: rebuild
# from the package alone, a server upgrade (scripts/test-server-upgrade.sh).
deb-test: deb
	bash scripts/deb-smoke.sh $$(ls -t build/mariadb-plugin-awss3_*_amd64.deb | head -n1)
	bash scripts/test-server-upgrade.sh $$(ls -t build/mariadb-plugin-awss3_*_amd64.deb | head -n1)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) fmt --check --manifest-path bench/Cargo.toml

clean:
	rm -rf build/ha_awss3.* build/run target
