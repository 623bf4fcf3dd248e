# samsa developer targets. `make test` is what CI runs (scripts/test).
GO ?= go

.PHONY: build run test unit bench bench-compare fuzz lint interop clean

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

# samsa vs Apache Kafka side by side (about 25 minutes; not in CI).
bench-compare:
	./scripts/bench-compare

clean:
	rm -rf bin samsa-data
