# samsa developer targets. `make test` is what CI runs (scripts/test).
GO ?= go

.PHONY: build run test unit bench bench-compare fuzz lint interop image docker-test chaos clean

# One static binary, as the README promises (no cgo: the pure-Go resolver).
build:
	CGO_ENABLED=0 $(GO) build -o bin/samsa ./cmd/samsa

run: build
	./bin/samsa

test:
	./scripts/test

unit:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/... ./client/... ./tunnel/...

fuzz:
	./scripts/fuzz 60s

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

interop:
	./scripts/interop

# The container image (Dockerfile): FROM scratch around the static binary,
# built here (stripped), so no base image is pulled. IMAGE names it.
IMAGE ?= samsa:latest
image:
	rm -rf bin/image
	mkdir -p bin/image/root/etc/samsa/docker bin/image/root/tmp bin/image/data/var/lib/kafka/data bin/image/data/mnt/shared/config
	chmod 1777 bin/image/root/tmp
	cp deploy/docker/server.properties bin/image/root/etc/samsa/docker/
	printf 'root:x:0:0:root:/:/sbin/nologin\nsamsa:x:1000:1000:samsa:/var/lib/kafka:/sbin/nologin\n' >bin/image/root/etc/passwd
	printf 'root:x:0:\nsamsa:x:1000:\n' >bin/image/root/etc/group
	CGO_ENABLED=0 $(GO) build -buildvcs=false -trimpath -ldflags='-s -w' -o bin/image/samsa ./cmd/samsa
	docker build -t $(IMAGE) .

# The Docker stage of CI: the image, the compose files, host and container clients.
docker-test:
	./scripts/docker-test

# samsa vs Apache Kafka side by side (about 25 minutes; not in CI).
bench-compare:
	./scripts/bench-compare

# Fault-injection runs (chaos/harness, as root): RUNS seeds from SEED on a
# three-node samsa cluster in network namespaces, each judged by chaos/checker
# (a verdict line per seed; history.jsonl and results.json in chaos-out/seed-N),
# then the reliability report of those seeds written to docs/reliability.md
# (chaos/report; regenerate it with go run ./chaos/cmd/report -in chaos-out
# -out docs/reliability.md). TARGET=kafka runs them against three Apache
# Kafka nodes (the reference).
RUNS ?= 200
SEED ?= 1
LAYOUT ?= combined
TARGET ?= samsa
DURATION ?= 60s
QUIET ?= 10s
CHAOS_OUT ?= chaos-out
RELIABILITY ?= docs/reliability.md
chaos:
	$(GO) run ./chaos/cmd/chaos -seed $(SEED) -runs $(RUNS) -layout $(LAYOUT) -target $(TARGET) -duration $(DURATION) -quiet $(QUIET) -out $(CHAOS_OUT) -q -report $(RELIABILITY)

clean:
	rm -rf bin samsa-data chaos-out
