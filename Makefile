# Build, run and test nmdb.
#
#   make            build every program into ./bin
#   make run        build, then run the daemon in the foreground on ./nmdb-data
#   make test       install missing Debian packages (scripts/deps.sh), then run
#                   every test (formatting, vet, staticcheck, go test -race,
#                   a short fuzz run, and every part listed in TEST_PARTS)
#   make install    install into $(DESTDIR)$(PREFIX) (default /usr/local)
#   make lib        build the C library (libnmdb.so.1, libnmdb.a) into ./bin/lib
#   make bench      compare nmdb with memcached and Redis (docs/BENCH.md)
#   make clean      remove ./bin and ./nmdb-data
#
# Adding a test part: write a target below and add its name to TEST_PARTS
# (one-line edit). `make test` runs each part after the Go tests.

GO          ?= go
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      := $(CURDIR)/bin
# staticcheck is run from the module proxy at a pinned version (never in go.mod).
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
# Fuzzing runs a fixed number of executions per target (about 20 s each on
# 2 cores), not a duration: with a duration, the fuzzing coordinator of
# Go 1.26 can fail at the deadline with "context deadline exceeded" and no
# failing input (golang/go#75804).
FUZZ_WIRE   ?= 1500000x
FUZZ_HANDLE ?= 150000x
# Install layout and the C library (see `lib` and `install` below).
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LDCONFIG    ?= ldconfig
# The release comes from internal/version; the build is stamped from git
# (`git describe --always --dirty`) when this is a git checkout. Outside
# one, the programs fall back on what the Go toolchain recorded, or print
# the release alone.
NMDB_VERSION ?= $(shell sed -n 's/^const Release = "\(.*\)"/\1/p' internal/version/version.go)
VERSION_STAMP ?= $(shell [ -e .git ] && git describe --always --dirty 2>/dev/null)
GO_LDFLAGS  := $(if $(VERSION_STAMP),-X github.com/nmdb-go/nmdb/internal/version.build=$(VERSION_STAMP))
LIBBUILD    := $(BINDIR)/lib
SONAME      := libnmdb.so.1

# Extra test parts run by `make test`. Extend this line with your target.
TEST_PARTS  := bench-smoke test-man test-c test-tipc
.PHONY: all build run test deps test-go fmt-check vet staticcheck gotest fuzz \
	test-c test-man test-tipc bench bench-smoke install clean lib

all: build

build:
	@mkdir -p $(BINDIR)
	$(GO) build -ldflags '$(GO_LDFLAGS)' -o $(BINDIR)/ ./cmd/...

run: build
	$(BINDIR)/nmdb -f -d ./nmdb-data

test: deps
	$(MAKE) test-go $(TEST_PARTS)

# Debian packages the tests need (C compiler, mandoc, qemu, ...).
deps:
	bash scripts/deps.sh

test-go: fmt-check vet staticcheck gotest fuzz

fmt-check:
	@out="$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	@echo "gofmt: ok"

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

gotest:
	$(GO) test -race -count=1 ./...

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeRequest$$' -fuzztime=$(FUZZ_WIRE) ./nmdb/wire
	$(GO) test -run='^$$' -fuzz='^FuzzHandle$$' -fuzztime=$(FUZZ_HANDLE) ./nmdb

# Parts filled in by their owners; add the name to TEST_PARTS once it works.
# C library, tools and man pages (cgo/, cmd/nmdb-stats, cmd/nmdb-cli, man/).
# test-c installs into a temporary PREFIX and builds C programs there with
# nothing but `cc prog.c -lnmdb`; see cgo/tests/run.sh.
test-c: lib
	MAKE="$(MAKE)" bash cgo/tests/run.sh

test-man:
	mandoc -Tlint -W warning man/*.1 man/*.3

# libnmdb.so.1 (+ libnmdb.so link) and libnmdb.a in $(LIBBUILD). The header
# cgo generates is kept as cgo-export.h for the ABI check only: programs
# include cgo/nmdb.h.
lib:
	@mkdir -p $(LIBBUILD)
	$(GO) build -buildmode=c-shared -ldflags='-extldflags=-Wl,-soname,$(SONAME)' -o $(LIBBUILD)/$(SONAME) ./cgo
	ln -sf $(SONAME) $(LIBBUILD)/libnmdb.so
	$(GO) build -buildmode=c-archive -o $(LIBBUILD)/libnmdb.a ./cgo
	mv -f $(LIBBUILD)/libnmdb.h $(LIBBUILD)/cgo-export.h
	rm -f $(LIBBUILD)/libnmdb.so.h

# TIPC and SCTP scenarios in a qemu VM on a multi-node TIPC cluster
# (scripts/tipc-vm/README.md); the kernel is fetched once into ~/.cache.
test-tipc:
	GO="$(GO)" MAKE="$(MAKE)" bash scripts/tipc-vm/test.sh

# Benchmarks (cmd/nmdb-bench, docs/BENCH.md). bench-smoke builds the load
# generator and runs one tiny round against a real daemon (no speed checked);
# bench runs the whole comparison with memcached and Redis (installs them
# from Debian if missing; takes about ten minutes).
bench-smoke:
	bash scripts/bench-smoke.sh

bench:
	bash scripts/bench.sh

# ldconfig runs only for a real install: DESTDIR empty and run as root
# (LDCONFIG=: turns it off).
install: build lib
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINDIR)/nmdb $(DESTDIR)$(PREFIX)/bin/nmdb
	install -m 0755 $(BINDIR)/nmdb-stats $(BINDIR)/nmdb-cli $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 0755 $(LIBBUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libnmdb.so
	install -m 0644 $(LIBBUILD)/libnmdb.a $(DESTDIR)$(LIBDIR)/libnmdb.a
	install -m 0644 cgo/nmdb.h $(DESTDIR)$(INCLUDEDIR)/nmdb.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(NMDB_VERSION)|g' \
		cgo/nmdb.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/nmdb.pc
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.3 $(DESTDIR)$(MANDIR)/man3/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

clean:
	rm -rf $(BINDIR) ./nmdb-data
