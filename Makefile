# V2X-RT: one non-recursive Makefile.  `make help` lists the targets.
#
# Sources are found by convention, so adding a module needs no edit here:
#   rt/*.c trace/*.c firmware/{proto,hal,linux}/*.c firmware/apps/<app>/*.c vehicle/*.c stages/<stage>/*.c
#                                                             -> build/libv2x.a
#   programs/<program>/*.c (every folder with a main.c)        -> build/bin/<program>
#   tests/unit/test_*.c, tests/integration/test_*.c           -> build/tests/<name> (cmocka)
#   tests/integration/*.sh                                    -> run as they are
#   tests/fuzz/fuzz_*.c                                       -> build/fuzz/<name> (clang libFuzzer)
#   perf/bench_*.c                                            -> build/bin/<name>
# Multi-threaded tests are named test_mt_*: `make tsan` runs those under ThreadSanitizer.

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD    ?= build
PREFIX   ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# Where `make install` puts the systemd unit, the udev rules and the sysusers.d file (programs/v2xd/): under /usr for
# PREFIX=/usr, else where systemd and udev still look for local additions.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
UDEVRULESDIR   ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/udev/rules.d,/etc/udev/rules.d)
SYSUSERSDIR    ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,/etc/sysusers.d)
DOCDIR         ?= $(PREFIX)/share/doc/v2x-rt
DESTDIR  ?=
TRACE    ?= 1
WERROR   ?= 0
SANITIZE ?=
COVERAGE ?= 0
V        ?= 0
FUZZ_SECONDS ?= 20

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
FUZZ_CC ?= clang

ifeq ($(V),1)
Q :=
else
Q := @
endif

PROGRAMS := $(patsubst programs/%/main.c,%,$(wildcard programs/*/main.c))

PKGS := liburcu liburcu-cds libmosquitto inih libcjson libsystemd libmodbus
ifeq ($(TRACE),1)
PKGS += lttng-ust
endif

# Debian packages `make deps` installs: build, test and trace tooling.
DEB_PKGS := build-essential pkg-config liburcu-dev liblttng-ust-dev lttng-tools babeltrace2 python3-bt2 \
            libmosquitto-dev mosquitto mosquitto-clients libcmocka-dev clang libclang-rt-14-dev \
            libinih-dev libcjson-dev libsystemd-dev libmbedtls-dev libmodbus-dev gpsd-tools gpsd-clients \
            python3-matplotlib socat openssl systemd valgrind

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition \
        -Wpointer-arith -Wundef -Wvla -Wwrite-strings -Wcast-align -Wnull-dereference -Wdouble-promotion \
        -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -I. -Ifirmware/include -D_GNU_SOURCE -DV2X_TRACE=$(TRACE)
# OPT is the optimisation; CFLAGS given by the user are kept, and the project's flags are always added (override).
OPT      ?= -O2 -g
CFLAGS   ?=
override CFLAGS += $(OPT) -std=gnu11 -pthread -fno-strict-aliasing $(WARN)
LDLIBS   += -lmbedcrypto -pthread -lm -lutil
ifneq ($(SANITIZE),)
override CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=$(SANITIZE)
endif
ifeq ($(COVERAGE),1)
override CFLAGS  += --coverage
override LDFLAGS += --coverage
endif
ifeq ($(TRACE),1)
LDLIBS += -ldl
endif

# LIB_EXCLUDE: patterns of library sources to leave out (e.g. LIB_EXCLUDE='stages/uplink/%' while it is unfinished).
LIB_EXCLUDE ?=
# RING: the queue behind rt/ring.h: spsc (rt/ring.c, the lock-free ring; default) or mutex (rt/ring_mutex.c, a mutex +
# condition variable queue, for comparison: perf/bench_pipeline.sh).  Use a BUILD dir of its own for RING=mutex.
RING ?= spsc
ifeq ($(filter spsc mutex,$(RING)),)
$(error RING=$(RING): expected spsc or mutex)
endif
RING_OTHER := $(if $(filter mutex,$(RING)),rt/ring.c,rt/ring_mutex.c)
LIB_SRCS  := $(filter-out $(LIB_EXCLUDE) $(RING_OTHER),$(wildcard rt/*.c trace/*.c firmware/proto/*.c firmware/hal/*.c \
             firmware/apps/*/*.c firmware/linux/*.c vehicle/*.c stages/*/*.c))
ifneq ($(TRACE),1)
LIB_SRCS  := $(filter-out trace/v2x_tp.c,$(LIB_SRCS))
endif
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(if $(wildcard stages/decode/twizy.dbc),$(BUILD)/obj/gen/twizy_dbc.o)
LIB       := $(BUILD)/libv2x.a

PROG_BINS := $(PROGRAMS:%=$(BUILD)/bin/%)
TEST_SRCS := $(wildcard tests/unit/test_*.c tests/integration/test_*.c)
TEST_BINS := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRCS)))
TEST_SUPPORT_SRCS := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/obj/%.o)
MT_TESTS  := $(filter $(BUILD)/tests/test_mt_%,$(TEST_BINS))
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
BENCH_SRCS := $(wildcard perf/bench_*.c)
BENCH_BINS := $(patsubst perf/%.c,$(BUILD)/bin/%,$(BENCH_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

DEPFILES := $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

.PHONY: all deps test check tsan bench fuzz install install-service clean help coverage demo tests programs \
        profile valgrind callgrind helgrind
.SECONDARY:

all: $(PROG_BINS)

programs: $(PROG_BINS)

help:
	@echo 'V2X-RT make targets:'
	@echo '  deps      install the missing Debian packages (apt-get; needs root)'
	@echo '  all       build the programs into $(BUILD)/bin (default)'
	@echo '  test      build and run the whole test suite (depends on deps)'
	@echo '  check     the suite under AddressSanitizer + UndefinedBehaviorSanitizer (build/asan)'
	@echo '  tsan      the multi-threaded tests (test_mt_*) under ThreadSanitizer (build/tsan)'
	@echo '  bench     build the benchmarks into $(BUILD)/bin (run them by hand, see perf/README.md)'
	@echo '  fuzz      build the libFuzzer targets with clang and run each for FUZZ_SECONDS (default 20)'
	@echo '  coverage  the suite with gcov instrumentation, then a per-file line coverage summary'
	@echo '  profile   perf record -g of v2xd at bus and max rate: reports + flame graphs (build/profile, perf/README.md)'
	@echo '  valgrind  v2xd and v2xd decode under memcheck (0 errors, 0 definite leaks)'
	@echo '  callgrind instructions per CAN frame on a 200,000-frame replay, top functions'
	@echo '  helgrind  the test_mt_* tests under helgrind with tests/helgrind.supp (build/helgrind, TRACE=0)'
	@echo '  demo      the whole system on the built-in simulator (v2xsim, v2xd, a local broker), with a summary'
	@echo '  install   install programs into $$(DESTDIR)$$(PREFIX)/bin (PREFIX=$(PREFIX))'
	@echo '  install-service  only the systemd unit, udev rules and sysusers.d file (also done by install)'
	@echo '  clean     remove build output'
	@echo 'Variables: V=1 full commands, WERROR=1 warnings are errors, TRACE=0 no LTTng tracepoints, RING=mutex'
	@echo '           a mutex + condvar queue in place of the lock-free rings (rt/ring_mutex.c, own BUILD dir),'
	@echo '           SANITIZE=address,undefined|thread, OPT="-O2 -g" optimisation, BUILD=dir, CC=compiler.'

deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	echo "deps: installing:" $$missing; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: not root: run as root, or install: apt-get install $$missing" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q || { echo "deps: apt-get update failed" >&2; exit 1; }; \
	apt-get install -y -q --no-install-recommends $$missing || { echo "deps: apt-get install failed for:" $$missing >&2; exit 1; }

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# The shipped DBC is compiled in, so the programs need no data file at run time (--dbc overrides it).
$(BUILD)/gen/twizy_dbc.c: stages/decode/twizy.dbc
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q){ echo '/* Generated from stages/decode/twizy.dbc by the Makefile. */'; \
	  echo '#include <stddef.h>'; \
	  echo 'extern const char twizy_dbc_text[]; extern const size_t twizy_dbc_len;'; \
	  echo 'const char twizy_dbc_text[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00 };'; echo 'const size_t twizy_dbc_len = sizeof(twizy_dbc_text) - 1;'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The archive is rebuilt when RING changes: $(BUILD)/ring.choice is rewritten (made newer) only then.
RING_CHOICE := $(BUILD)/ring.choice
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(RING_CHOICE) 2>/dev/null)" = $(RING) ] || echo $(RING) >$(RING_CHOICE); })

$(LIB): $(LIB_OBJS) $(RING_CHOICE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJS)

# Each program: every .c in programs/<program>/.
define program_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard programs/$(1)/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) $$(CFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rule,$(p))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(TEST_SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka $(LDLIBS)

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(TEST_SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bin/bench_%: $(BUILD)/obj/perf/bench_%.o $(TEST_SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

tests: $(TEST_BINS) $(TOOL_BINS) $(PROG_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)BUILD=$(BUILD) tests/run $(TEST_BINS) $(wildcard tests/integration/*.sh)

check: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=address,undefined OPT='-O1 -g' tests
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  BUILD=build/asan tests/run $(patsubst $(BUILD)/%,build/asan/%,$(TEST_BINS)) $(wildcard tests/integration/*.sh)

# ThreadSanitizer: LTTng-UST's and liburcu's own threads are not instrumented, so the tsan build has no tracepoints.
tsan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/tsan SANITIZE=thread TRACE=0 OPT='-O1 -g' \
	  $(patsubst $(BUILD)/%,build/tsan/%,$(MT_TESTS))
	$(Q)TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp BUILD=build/tsan \
	  tests/run $(patsubst $(BUILD)/%,build/tsan/%,$(MT_TESTS))

bench: $(BENCH_BINS) $(TOOL_BINS) $(PROG_BINS)

# libFuzzer targets link the library's sources directly (built again with clang and the fuzzer's instrumentation).
FUZZ_PKGS := $(filter-out lttng-ust,$(PKGS))
FUZZ_LIB_SRCS := $(filter-out trace/% firmware/hal/% firmware/apps/% firmware/linux/%,$(LIB_SRCS))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) $(if $(wildcard stages/decode/twizy.dbc),$(BUILD)/gen/twizy_dbc.c)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ-CC $@")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -UV2X_TRACE -DV2X_TRACE=0 $(shell pkg-config --cflags $(FUZZ_PKGS)) -std=gnu11 -g -O1 \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $^ $(shell pkg-config --libs $(FUZZ_PKGS)) -lmbedcrypto -pthread -lm -lutil

fuzz: $(FUZZ_BINS)
	$(Q)set -o pipefail; for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); corpus=tests/fuzz/corpus/$${name#fuzz_}; work=$(BUILD)/fuzz/work-$$name; \
	  mkdir -p $$work; [ -d $$corpus ] && cp -n $$corpus/* $$work/ 2>/dev/null; \
	  echo "== $$name ($(FUZZ_SECONDS) s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$name- $$work 2>&1 \
	    | grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done' || exit 1; \
	done

coverage:
	$(Q)$(MAKE) --no-print-directory BUILD=build/cov COVERAGE=1 OPT='-O0 -g' tests
	$(Q)BUILD=build/cov tests/run $(patsubst $(BUILD)/%,build/cov/%,$(TEST_BINS)) $(wildcard tests/integration/*.sh) || true
	$(Q)echo "line coverage (gcov), lowest first:"; \
	for f in $(LIB_SRCS); do \
	  gcov -n -o build/cov/obj/$$(dirname $$f) $$f 2>/dev/null | \
	    awk -v f="$$f" '$$1 == "File" { ok = ($$2 == "'"'"'" f "'"'"'") } ok && /^Lines executed/ { sub("Lines executed:", ""); print $$1, $$3, f; exit }'; \
	done | sort -n | awk '{ printf "  %8s of %5s lines  %s\n", $$1, $$2, $$3; n += $$2; c += $$2 * $$1 / 100 } \
	  END { if (n) printf "  total: %.1f%% of %d lines\n", 100 * c / n, n }'

# perf and valgrind workflows (perf/README.md): perf/profile.sh and perf/valgrind.sh do the work.
PROFILE_BUILD  ?= build/profile
HELGRIND_BUILD ?= build/helgrind
profile:
	$(Q)$(MAKE) --no-print-directory BUILD=$(PROFILE_BUILD) OPT='-O2 -g -fno-omit-frame-pointer' \
	  $(PROFILE_BUILD)/bin/v2xd $(PROFILE_BUILD)/bin/v2xsim
	$(Q)perf/profile.sh $(PROFILE_BUILD)

valgrind: $(BUILD)/bin/v2xd $(BUILD)/tests/tools/pty_feed
	$(Q)perf/valgrind.sh memcheck $(BUILD)

# The same replay with TRACE=0 in NOTRACE_BUILD gives the cost of tracepoints compiled in without a session.
NOTRACE_BUILD ?= $(BUILD)/notrace
callgrind: $(BUILD)/bin/v2xd $(BUILD)/tests/tools/v2_replay
	$(Q)$(MAKE) --no-print-directory BUILD=$(NOTRACE_BUILD) TRACE=0 $(NOTRACE_BUILD)/bin/v2xd
	$(Q)NOTRACE_BUILD=$(NOTRACE_BUILD) perf/valgrind.sh callgrind $(BUILD)

helgrind:
	$(Q)$(MAKE) --no-print-directory BUILD=$(HELGRIND_BUILD) TRACE=0 OPT='-O1 -g' \
	  $(patsubst $(BUILD)/%,$(HELGRIND_BUILD)/%,$(MT_TESTS))
	$(Q)perf/valgrind.sh helgrind $(HELGRIND_BUILD)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) programs/v2xsim/demo.sh

# The service files need no build: a test installs them alone into a DESTDIR.
install-service:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR)
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	  programs/v2xd/v2xd.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/v2xd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/v2xd.service
	install -m 0644 programs/v2xd/60-v2x-esp32.rules $(DESTDIR)$(UDEVRULESDIR)/60-v2x-esp32.rules
	install -m 0644 programs/v2xd/v2x-rt.sysusers $(DESTDIR)$(SYSUSERSDIR)/v2x-rt.conf
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md

install: $(PROG_BINS) install-service
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/v2x-rt
	install -m 0755 $(PROG_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 stages/decode/twizy.dbc $(DESTDIR)$(PREFIX)/share/v2x-rt/
	install -d $(DESTDIR)$(SYSCONFDIR)/v2x-rt
	install -m 0644 v2xd.ini $(DESTDIR)$(SYSCONFDIR)/v2x-rt/v2xd.ini.example

clean:
	rm -rf build

-include $(DEPFILES)
