# image-server: the FastCGI responder, the command-line tools and tests.
#
#   make                  build bin/image-server and bin/images
#   make run              install what is missing, build, serve on :7000
#   make test             install what is missing, build, the whole suite
#   make check            the whole suite, installing nothing
#   make deps             install what building needs (deps-run, deps-test,
#                         deps-bench: what those need)
#   make install          bin, man pages, deploy examples (PREFIX, DESTDIR)
#   make fuzz             libFuzzer on the URL parser, the sniffer, jpegdc
#   make soak             two minutes of mixed load through nginx
#   make bench            against plain nginx, sharp and image_filter
#   make bench-photos     against sharp on real photographs (Debian's)
#   make fresh-check      make run and make test as first commands on a
#                         new Debian 12 root (debootstrap; root, ~30 min)
#   make SANITIZER=address|undefined|thread ...

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
# The Debian packages of each use, and the pkg-config names of the
# libraries, are kept in one place: deploy/install-deps.sh.
INSTALL_DEPS ?= ./deploy/install-deps.sh
PKGS    := $(shell sh deploy/install-deps.sh --pkg-config)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Werror
CFLAGS  ?= -O2 -g

# Goals that compile nothing in this make: they install packages first and
# then run make again, which reads pkg-config afresh (on a new machine the
# libraries are not there while this Makefile is read).
WRAPPER_GOALS := run test soak bench bench-photos deps deps-run deps-test deps-bench \
           fresh-check fuzz install uninstall clean
BUILDING := $(filter-out $(WRAPPER_GOALS),$(or $(MAKECMDGOALS),all))

ifneq ($(BUILDING),)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
endif
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilib -Ifcgi -Icli \
           $(patsubst -I%,-isystem %,$(PKG_CFLAGS))
# (-isystem: the libraries' own headers are not ours to keep warning-free)
LDLIBS  := $(PKG_LIBS) -lpthread -lm

ifneq ($(SANITIZER),)
ALL_CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=$(SANITIZER)
endif

BUILD   := build
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
FCGI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard fcgi/*.c))
CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))

.PHONY: all check unit e2e run test deps deps-run deps-test deps-bench \
        libs build-tests clean soak bench bench-photos fresh-check
all: bin/image-server bin/images

# Everything is rebuilt when the flags change (say, SANITIZER=address
# after a plain build): objects depend on a file that records them.
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(LDFLAGS) $(LDLIBS)
FLAGS_STAMP := $(BUILD)/flags
ifneq ($(BUILDING),)
ifneq ($(shell cat $(FLAGS_STAMP) 2>/dev/null),$(FLAGS_NOW))
$(shell mkdir -p $(BUILD) && echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))
endif
endif

V ?= 0
Q := $(if $(filter 1,$(V)),,@)

# Every compile waits for this check: a missing library is one line that
# names its Debian package, not a compiler error about a header.
libs:
	@sh deploy/install-deps.sh --check-libs

$(BUILD)/%.o: %.c $(FLAGS_STAMP) | libs
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libimgsrv.a: $(LIB_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

bin/image-server: $(FCGI_OBJ) $(BUILD)/libimgsrv.a
	@mkdir -p bin
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(FCGI_OBJ) $(BUILD)/libimgsrv.a $(LDLIBS)

bin/images: $(CLI_OBJ) $(BUILD)/libimgsrv.a
	@mkdir -p bin
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libimgsrv.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/libimgsrv.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libimgsrv.a $(LDLIBS)

deps:
	@$(INSTALL_DEPS) build
deps-run:
	@$(INSTALL_DEPS) run
deps-test:
	@$(INSTALL_DEPS) test
deps-bench:
	@$(INSTALL_DEPS) bench

# Unit tests: each program prints "NAME: N passed, N failed".
build-tests: $(TESTS)
unit: $(TESTS)
	@fail=0; for t in $(TESTS); do $$t || fail=1; done; exit $$fail

# End-to-end: real nginx, spawn-fcgi, redis-server on loopback.
E2E := $(wildcard tests/e2e/test_*.sh)
e2e: all
	@fail=0; for t in $(E2E); do bash $$t || fail=1; done; exit $$fail

# The suite on what is installed.
check: all unit e2e

# run and test install first, then build in a make of their own (see
# WRAPPER_GOALS).  RUN_STACK and TEST_GOALS are there for the test of
# this very path (tests/e2e/test_firstrun.sh).
RUN_STACK  ?= bash deploy/run.sh
TEST_GOALS ?= check
test:
	@$(INSTALL_DEPS) test
	@$(MAKE) --no-print-directory $(TEST_GOALS)

# PORT (7000) for nginx, REDIS_PORT (PORT+1) for Redis; ARGS go to
# image-server after run.sh's own flags.
run:
	@$(INSTALL_DEPS) run
	@$(MAKE) --no-print-directory all
	@PORT=$(PORT) REDIS_PORT=$(REDIS_PORT) $(RUN_STACK) $(ARGS)

# Fuzzing: libFuzzer (clang) on url_parse() and sniff(), built into
# build-fuzz/; `make fuzz FUZZ_SECONDS=300` for a long run.
FUZZ_SECONDS ?= 30
.PHONY: fuzz
fuzz:
	@$(INSTALL_DEPS) test
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

# A bounded soak through nginx (not in `make test`): SOAK_SECONDS, SOAK_CONNS.
soak:
	@$(INSTALL_DEPS) run
	@$(MAKE) --no-print-directory all
	@bash tests/bench/soak.sh $(or $(SOAK_SECONDS),120) $(or $(SOAK_CONNS),64)

# image-server against plain nginx, sharp and nginx's image_filter on this
# machine (not in `make test`; about 3.5 minutes on 2 cores): hits, misses,
# latency, peak RSS, a 64-request herd and a PSNR check of our outputs;
# prints a markdown table (also in tests/out/bench/bench.md). BENCH_SECONDS
# (5 per run), BENCH_ROUNDS (3), BENCH_THREADS, BENCH_PERF=1 (perf profile).
# Then bench-photos' table (4 more minutes; BENCH_PHOTOS=0: without it).
bench:
	@$(INSTALL_DEPS) bench
	@$(MAKE) --no-print-directory all
	@bash tests/bench/bench.sh

# bench's last table alone: real photographs from Debian packages (fetched
# with apt-get download into tests/out/), one class a row, against sharp:
# p50 latency, peak RSS of 8 concurrent misses, PSNR (tests/bench/photos.sh;
# about 4 minutes on 2 cores).
bench-photos:
	@$(INSTALL_DEPS) bench
	@$(MAKE) --no-print-directory all
	@bash tests/bench/photos.sh

# The first-run path for real: a Debian 12 root from debootstrap with only
# make and git, this repository cloned into it, then `make run` and `make
# test` as its first commands (tests/fresh/fresh-check.sh; root, network).
fresh-check:
	@bash tests/fresh/fresh-check.sh

clean:
	rm -rf $(BUILD) bin build-fuzz

# Install what `make` built, the man pages, and deploy/'s examples (web
# servers, systemd, spawn-fcgi, logrotate, the Grafana dashboard,
# image-server.conf) under
# $(DESTDIR)$(PREFIX); `make uninstall` removes them. install builds
# nothing: run `make` first (as yourself), then `make install` (as root),
# so that root never compiles and a SANITIZER build is never replaced.
# Each example keeps its subdirectory under EXAMPLEDIR; scripts stay
# executable (0755), the rest is 0644.
BINDIR     := $(PREFIX)/bin
MANDIR     := $(PREFIX)/share/man
EXAMPLEDIR := $(PREFIX)/share/doc/image-server/examples
EXAMPLES   := $(sort $(wildcard $(addsuffix /*,$(addprefix deploy/, \
              nginx apache lighttpd systemd spawn-fcgi logrotate grafana)))) \
              deploy/image-server.conf

.PHONY: install uninstall
install:
	@test -x bin/image-server || { echo "install: no bin/image-server; run make first" >&2; exit 1; }
	@test -x bin/images || { echo "install: no bin/images; run make first" >&2; exit 1; }
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man8" "$(DESTDIR)$(MANDIR)/man5" "$(DESTDIR)$(MANDIR)/man1"
	install -m 0755 bin/image-server "$(DESTDIR)$(BINDIR)/image-server"
	install -m 0755 bin/images "$(DESTDIR)$(BINDIR)/images"
	install -m 0644 man/images.1 "$(DESTDIR)$(MANDIR)/man1/images.1"
	install -m 0644 man/image-server.8 "$(DESTDIR)$(MANDIR)/man8/image-server.8"
	install -m 0644 man/image-server.conf.5 "$(DESTDIR)$(MANDIR)/man5/image-server.conf.5"
	@for f in $(EXAMPLES); do \
		to="$(DESTDIR)$(EXAMPLEDIR)/$${f#deploy/}"; \
		mode=0644; [ -x "$$f" ] && mode=0755; \
		echo "install -m $$mode $$f $$to"; \
		install -d "$${to%/*}" && install -m $$mode "$$f" "$$to" || exit 1; \
	done

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/image-server" "$(DESTDIR)$(BINDIR)/images" \
	      "$(DESTDIR)$(MANDIR)/man1/images.1" \
	      "$(DESTDIR)$(MANDIR)/man8/image-server.8" \
	      "$(DESTDIR)$(MANDIR)/man5/image-server.conf.5"
	rm -rf "$(DESTDIR)$(PREFIX)/share/doc/image-server"


-include $(LIB_OBJ:.o=.d) $(FCGI_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
