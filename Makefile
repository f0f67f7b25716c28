# image-server: the FastCGI responder, the command-line tools and tests.
#
#   make                  build bin/image-server
#   make test             unit tests, then end-to-end tests with real servers
#   make run              install what is missing, build, serve on :7000
#   make SANITIZER=address|undefined|thread ...

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS    := MagickCore libcurl hiredis fcgi

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilib -Ifcgi \
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
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))

.PHONY: all test unit e2e run deps clean
all: bin/image-server

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libimgsrv.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

bin/image-server: $(FCGI_OBJ) $(BUILD)/libimgsrv.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(FCGI_OBJ) $(BUILD)/libimgsrv.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libimgsrv.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libimgsrv.a $(LDLIBS)

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

clean:
	rm -rf $(BUILD) bin

-include $(LIB_OBJ:.o=.d) $(FCGI_OBJ:.o=.d)
