# Riffle: a Kafka-wire-compatible event streaming broker.
#
#   make run      broker on localhost:9092, data in ./data
#   make test     unit, integration and fuzz-seed tests of the root module
#   make compat   the client × scenario compat matrix against a fresh broker
#   make compat-docker   the same matrix in containers (docker/compat.sh)
#   make chaos    fault injection against the three-node cluster in containers
#
# Every target is plain shell around the go tool; see README.md.

GO        ?= go
CONFIG    ?= config/server.properties
DATA      ?= data
BIN       ?= riffle
TIMEOUT   ?= 25m
FUZZTIME  ?= 10s
# The black-box wire fuzzer's run (fuzz mode), its memory mode, and extra
# flags, e.g. WIREFUZZ_ARGS='-seed 7 -allow corrupt-accepted'.
WIREFUZZ_TIME ?= 60s
WIREFUZZ_MEMORY_TIME ?= 60s
WIREFUZZ_ARGS ?=
# Extra arguments for the broker, e.g. RIFFLE_ARGS='--override num.partitions=3'.
RIFFLE_ARGS ?=

.PHONY: all run build test compat compat-docker chaos bench lint readme fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/riffle

# The data directory is ./data unless config or RIFFLE_ARGS say otherwise.
run: build
	mkdir -p $(DATA)
	./$(BIN) --config $(CONFIG) --override log.dirs=$(abspath $(DATA)) $(RIFFLE_ARGS)

# Root-module tests, then a compile-and-vet of the compat module (its tests
# need a running broker; `make compat` provides one) and the runner's own
# unit tests.
test:
	$(GO) test -timeout $(TIMEOUT) ./...
	cd compat-tests && $(GO) vet ./... && $(GO) test -timeout 2m ./matrix/... ./cmd/... ./chaos/...

compat:
	bash compat-tests/run.sh

# The same matrix in containers: the broker image, a runner image (a Debian
# base made with debootstrap + docker import, cached by its package list),
# the compose project, the matrix run from the runner over the internal
# listener; everything is torn down on exit, failure and Ctrl-C included.
compat-docker:
	bash docker/compat.sh

# Fault injection (docker/chaos.sh): the cluster of CHAOS_COMPOSE
# (default docker/docker-compose.3.yml) under idempotent, transactional and
# exactly-once load while leaders are killed, isolated and paused and the
# nodes restarted; then the checker judges everything read back. Flags for
# compat-tests/cmd/chaos in CHAOS_ARGS, e.g. CHAOS_ARGS=-short (60 s of kills).
CHAOS_ARGS ?=
chaos:
	bash docker/chaos.sh $(CHAOS_ARGS)

bench:
	bash bench/run.sh

lint:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd compat-tests && $(GO) vet ./...

# Regenerates the supported-API table in README.md from the broker's own API
# table, between the apis:begin and apis:end markers.
readme:
	$(GO) run ./cmd/riffle api-versions --markdown > .readme-apis.tmp
	awk 'FNR == NR { table = table $$0 "\n"; next } \
		/<!-- apis:begin -->/ { print; printf "%s", table; skip = 1; next } \
		/<!-- apis:end -->/ { skip = 0 } \
		!skip { print }' .readme-apis.tmp README.md > .readme.tmp
	mv .readme.tmp README.md
	rm -f .readme-apis.tmp

# Short runs of every fuzz target (go test -fuzz takes one target at a time),
# then compat-tests/cmd/wirefuzz against a fresh broker (compat-tests/wirefuzz.sh).
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./compat-tests/'); do \
		pkg=./$$(dirname $${f#./}); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== fuzz $$pkg $$name ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done
	RIFFLE_ARGS='$(RIFFLE_ARGS)' WIREFUZZ_TIME=$(WIREFUZZ_TIME) WIREFUZZ_MEMORY_TIME=$(WIREFUZZ_MEMORY_TIME) bash compat-tests/wirefuzz.sh $(WIREFUZZ_ARGS)

clean:
	rm -f $(BIN)
