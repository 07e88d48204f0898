# Build, run and test nmdb.
#
#   make            build every program into ./bin
#   make run        build, then run the daemon in the foreground on ./nmdb-data
#   make test       install missing Debian packages (scripts/deps.sh), then run
#                   every test (formatting, vet, staticcheck, go test -race,
#                   a short fuzz run, and every part listed in TEST_PARTS)
#   make install    install into $(DESTDIR)$(PREFIX) (default /usr/local)
#   make uninstall  remove what `make install` installed (same PREFIX, DESTDIR)
#   make install-service
#                   install the systemd unit, /etc/default/nmdb, the logrotate
#                   snippet and the sysusers.d file (opt-in; contrib/systemd)
#   make lib        build the C library (libnmdb.so.1, libnmdb.a) into ./bin/lib
#   make bench      compare nmdb with memcached and Redis (docs/BENCH.md)
#   make bench-tipc the C library against a plain C client over TIPC, in
#                   the test VM (docs/BENCH.md, row 7)
#   make clean      remove ./bin and ./nmdb-data
#
# A test part is a target below whose name is in TEST_PARTS; `make test`
# runs each part after the Go tests.

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
SYSCONFDIR  ?= /etc
SYSTEMDUNITDIR ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
LIBBUILD    := $(BINDIR)/lib
SONAME      := libnmdb.so.1
CORESONAME  := libnmdb-core.so.1
LIBOBJ      := $(LIBBUILD)/obj
CC          ?= cc
LIB_CFLAGS  ?= -O2 -g -Wall -Wextra -Werror
# The Go runtime's entry for a library, which libnmdb.a calls on first use.
GO_RT0      = _rt0_$(shell $(GO) env GOARCH)_$(shell $(GO) env GOOS)_lib

# The test parts `make test` runs after the Go tests.
TEST_PARTS  := bench-smoke test-man test-c test-service test-tipc test-powercut
.PHONY: all build run test deps test-go fmt-check vet staticcheck gotest fuzz \
	test-c test-man test-tipc test-powercut test-service bench bench-smoke bench-tipc install uninstall install-service uninstall-service clean lib

all: build

build:
	@mkdir -p $(BINDIR)
	$(GO) build -ldflags '$(GO_LDFLAGS)' -o $(BINDIR)/ ./cmd/...

run: build
	$(BINDIR)/nmdb -f -d ./nmdb-data

# A part that cannot run here (a tool missing) writes its name to
# $(SKIP_FILE); the last line says which parts passed and which were
# skipped, and a skipped part is never called passed.
SKIP_FILE   := $(BINDIR)/test-skipped
test: deps
	@mkdir -p $(BINDIR) && rm -f $(SKIP_FILE)
	@$(MAKE) test-go $(TEST_PARTS) SKIP_FILE=$(SKIP_FILE) || { echo "make test: FAILED (the first error is above)"; exit 1; }
	@bash scripts/test-summary.sh $(SKIP_FILE) go fuzz $(TEST_PARTS)

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

# Test parts of the C library, the tools and the man pages (cgo/,
# cmd/nmdb-stats, cmd/nmdb-cli, man/).
# test-c installs into a temporary PREFIX and builds C programs there with
# nothing but `cc prog.c -lnmdb`; see cgo/tests/run.sh.
test-c: lib
	MAKE="$(MAKE)" bash cgo/tests/run.sh

test-man:
	mandoc -Tlint -W warning man/*.1 man/*.3

# The C library in $(LIBBUILD) (see cgo/nmdb.go and cgo/shim/nmdb.c):
#   libnmdb.so.1 (+ libnmdb.so link)  the C layer, which loads on first use
#   nmdb/$(CORESONAME)          the Go core, a c-shared library
#   libnmdb.a                          the C layer and the Go core, whose
#                                      runtime starts on first use too
# obj/ keeps the intermediate files; obj/core.h, the header cgo generates
# for the core, is what the C layer is compiled against.
lib:
	@rm -rf $(LIBOBJ)
	@mkdir -p $(LIBBUILD)/nmdb $(LIBOBJ)/ar
	$(GO) build -buildmode=c-shared -ldflags='-extldflags=-Wl,-soname,$(CORESONAME)' \
		-o $(LIBBUILD)/nmdb/$(CORESONAME) ./cgo
	rm -f $(LIBBUILD)/nmdb/*.h
	$(GO) build -buildmode=c-archive -o $(LIBOBJ)/core.a ./cgo
	$(CC) $(LIB_CFLAGS) -fPIC -fvisibility=hidden -shared -Wl,-soname,$(SONAME) \
		-Icgo -I$(LIBOBJ) -o $(LIBBUILD)/$(SONAME) cgo/shim/nmdb.c -ldl -lpthread
	ln -sf $(SONAME) $(LIBBUILD)/libnmdb.so
	$(CC) $(LIB_CFLAGS) -fPIC -DNMDB_STATIC -DNMDB_GO_RT0=$(GO_RT0) -Icgo -I$(LIBOBJ) \
		-c -o $(LIBOBJ)/shim.o cgo/shim/nmdb.c
	cd $(LIBOBJ)/ar && ar x ../core.a && \
		nm go.o | grep -q ' [Tt] $(GO_RT0)$$' && \
		objcopy --remove-section=.init_array --remove-section=.rela.init_array \
			--globalize-symbol=$(GO_RT0) go.o && \
		! readelf -S go.o | grep -q init_array
	rm -f $(LIBBUILD)/libnmdb.a
	ar rcs $(LIBBUILD)/libnmdb.a $(LIBOBJ)/shim.o $(LIBOBJ)/ar/*.o

# The service files of contrib/systemd: installed into a temporary DESTDIR,
# the unit checked with systemd-analyze verify (skipped, and said so, when
# that is missing).
test-service:
	GO="$(GO)" MAKE="$(MAKE)" SKIP_FILE="$(SKIP_FILE)" bash contrib/systemd/test.sh

# TIPC and SCTP scenarios in a qemu VM on a multi-node TIPC cluster
# (scripts/tipc-vm/README.md); the kernel is fetched once into ~/.cache.
test-tipc:
	GO="$(GO)" MAKE="$(MAKE)" SKIP_FILE="$(SKIP_FILE)" bash scripts/tipc-vm/test.sh

# The power-cut test in the same VM: qemu killed during a stream of sync
# writes to a store on a virtio disk, every acknowledged one checked on a
# second boot (scripts/tipc-vm/README.md).
test-powercut:
	GO="$(GO)" bash scripts/tipc-vm/powercut.sh

# Benchmarks (cmd/nmdb-bench, docs/BENCH.md). bench-smoke builds the load
# generator and runs one tiny round against a real daemon (no speed checked);
# bench runs the whole comparison with memcached and Redis (installs them
# from Debian if missing; takes about ten minutes).
bench-smoke:
	bash scripts/bench-smoke.sh

bench:
	bash scripts/bench.sh

# The C library against a plain blocking C client over TIPC, in the test VM
# (scripts/tipc-vm/bench.sh; row 7 of make bench when BENCH_ROWS names it).
bench-tipc:
	GO="$(GO)" MAKE="$(MAKE)" bash scripts/tipc-vm/bench.sh

# ldconfig runs only for a real install: DESTDIR empty and run as root
# (LDCONFIG=: turns it off).
install: build lib
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINDIR)/nmdb $(DESTDIR)$(PREFIX)/bin/nmdb
	install -m 0755 $(BINDIR)/nmdb-stats $(BINDIR)/nmdb-cli $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -d $(DESTDIR)$(LIBDIR)/nmdb
	install -m 0755 $(LIBBUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	install -m 0755 $(LIBBUILD)/nmdb/$(CORESONAME) $(DESTDIR)$(LIBDIR)/nmdb/$(CORESONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libnmdb.so
	install -m 0644 $(LIBBUILD)/libnmdb.a $(DESTDIR)$(LIBDIR)/libnmdb.a
	install -m 0644 cgo/nmdb.h $(DESTDIR)$(INCLUDEDIR)/nmdb.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(NMDB_VERSION)|g' \
		cgo/nmdb.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/nmdb.pc
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.3 $(DESTDIR)$(MANDIR)/man3/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

# uninstall removes exactly the files install puts there (keep the two in
# step), then the library's private directory if it is empty.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nmdb $(DESTDIR)$(PREFIX)/bin/nmdb-stats \
		$(DESTDIR)$(PREFIX)/bin/nmdb-cli
	rm -f $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libnmdb.so \
		$(DESTDIR)$(LIBDIR)/libnmdb.a $(DESTDIR)$(LIBDIR)/nmdb/$(CORESONAME) \
		$(DESTDIR)$(INCLUDEDIR)/nmdb.h $(DESTDIR)$(PKGCONFIGDIR)/nmdb.pc
	-rmdir $(DESTDIR)$(LIBDIR)/nmdb 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/*.1))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(wildcard man/*.3)))
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

# The service files, opt-in: the unit (with the installed program's path),
# /etc/default/nmdb (kept if it exists: the operator's flags), the logrotate
# snippet and the sysusers.d file that creates the nmdb user. For a real
# install (DESTDIR empty, as root) the user is created and systemd reloads.
install-service:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' contrib/systemd/nmdb.service > $(DESTDIR)$(SYSTEMDUNITDIR)/nmdb.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/nmdb.service
	install -m 0644 contrib/systemd/nmdb.sysusers $(DESTDIR)$(SYSUSERSDIR)/nmdb.conf
	install -m 0644 contrib/systemd/nmdb.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/nmdb
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/default/nmdb ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/default/nmdb"; \
	else install -m 0644 contrib/systemd/nmdb.default $(DESTDIR)$(SYSCONFDIR)/default/nmdb; fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemctl >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/nmdb.conf && systemctl daemon-reload; fi

# Removes what install-service installed, except /etc/default/nmdb (the
# operator's flags) and the nmdb user.
uninstall-service:
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/nmdb.service $(DESTDIR)$(SYSUSERSDIR)/nmdb.conf \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d/nmdb
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemctl >/dev/null; then \
		systemctl daemon-reload; fi

clean:
	rm -rf $(BINDIR) ./nmdb-data
