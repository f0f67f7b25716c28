# image-server: the FastCGI responder, the command-line tools and tests.
#
#   make                  build bin/image-server
#   make test             unit tests, then end-to-end tests with real servers
#   make run              install what is missing, build, serve on :7000
#   make install          bin, man pages, deploy examples (PREFIX, DESTDIR)
#   make fuzz             libFuzzer on the URL parser, the sniffer, jpegdc
#   make soak             two minutes of mixed load through nginx
#   make bench            against plain nginx, sharp and image_filter
#   make SANITIZER=address|undefined|thread ...

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS    := MagickCore libcurl hiredis fcgi libcrypto libjpeg

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilib -Ifcgi -Icli \
           $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
# (-isystem: the libraries' own headers are not ours to keep warning-free)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

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

.PHONY: all test unit e2e run deps clean soak bench
all: bin/image-server $(if $(CLI_OBJ),bin/images)

# Everything is rebuilt when the flags change (say, SANITIZER=address
# after a plain build): objects depend on a file that records them.
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(LDFLAGS)
FLAGS_STAMP := $(BUILD)/flags
NO_BUILD_GOALS := install uninstall clean
ifneq ($(filter-out $(NO_BUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell cat $(FLAGS_STAMP) 2>/dev/null),$(FLAGS_NOW))
$(shell mkdir -p $(BUILD) && echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))
endif
endif

V ?= 0
Q := $(if $(filter 1,$(V)),,@)

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
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

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libimgsrv.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libimgsrv.a $(LDLIBS)

deps:
	@./deploy/install-deps.sh

# Unit tests: each program prints "NAME: N passed, N failed".
unit: $(TESTS)
	@fail=0; for t in $(TESTS); do $$t || fail=1; done; exit $$fail

# End-to-end: real nginx, spawn-fcgi, redis-server on loopback.
E2E := $(wildcard tests/e2e/test_*.sh)
e2e: all
	@fail=0; for t in $(E2E); do bash $$t || fail=1; done; exit $$fail

test: all unit e2e

run: deps all
	@bash deploy/run.sh $(ARGS)

# Fuzzing: libFuzzer (clang) on url_parse() and sniff(), built into
# build-fuzz/; `make fuzz FUZZ_SECONDS=300` for a long run.
FUZZ_SECONDS ?= 30
.PHONY: fuzz
fuzz:
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

# A bounded soak through nginx (not in `make test`): SOAK_SECONDS, SOAK_CONNS.
soak: deps all
	@bash tests/bench/soak.sh $(or $(SOAK_SECONDS),120) $(or $(SOAK_CONNS),64)

# image-server against plain nginx, sharp and nginx's image_filter on this
# machine (not in `make test`; about 3.5 minutes on 2 cores): hits, misses,
# latency, peak RSS, a 64-request herd and a PSNR check of our outputs;
# prints a markdown table (also in tests/out/bench/bench.md). BENCH_SECONDS
# (5 per run), BENCH_ROUNDS (3), BENCH_THREADS, BENCH_PERF=1 (perf profile).
bench: deps all
	@bash tests/bench/bench.sh

clean:
	rm -rf $(BUILD) bin build-fuzz

# Install what `make` built, the man pages, and deploy/'s examples (web
# servers, systemd, spawn-fcgi, logrotate, image-server.conf) under
# $(DESTDIR)$(PREFIX); `make uninstall` removes them. install builds
# nothing: run `make` first (as yourself), then `make install` (as root),
# so that root never compiles and a SANITIZER build is never replaced.
# Each example keeps its subdirectory under EXAMPLEDIR; scripts stay
# executable (0755), the rest is 0644.
BINDIR     := $(PREFIX)/bin
MANDIR     := $(PREFIX)/share/man
EXAMPLEDIR := $(PREFIX)/share/doc/image-server/examples
EXAMPLES   := $(sort $(wildcard $(addsuffix /*,$(addprefix deploy/, \
              nginx apache lighttpd systemd spawn-fcgi logrotate)))) \
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
