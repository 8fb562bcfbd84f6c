# SPDX-License-Identifier: GPL-3.0-or-later
# Cantus — GNU make only.  See README.md.  Fragments, one per program folder:
# plugin/lv2/lv2.mk (the LV2 bundle), plugin/jack/jack.mk (cantus-jack),
# plugin/cli/cli.mk (cantus-gen, cantus-info), models/train/train.mk (trainer
# and shipped models).  Everything builds under $(B) (default build/, build-san/
# with SAN=1).

# The one version of Cantus: every tool's --version ("cantus-gen 0.2.1")
# and the LV2 plugin's lv2:minorVersion/microVersion.  Odd numbers are
# development versions; a moved port index is a minor bump.
CANTUS_MINOR := 3
CANTUS_MICRO := 1
CANTUS_VERSION := 0.$(CANTUS_MINOR).$(CANTUS_MICRO)

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
CLANG ?= clang
CFLAGS ?= -O2 -g
LDFLAGS ?=
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LV2DIR ?= $(PREFIX)/lib/lv2
DATADIR ?= $(PREFIX)/share/cantus
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
PKG_CONFIG ?= pkg-config
SHARED ?= ../shared
CORPUS ?= $(SHARED)/corpus

ifeq ($(SAN),1)
B ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B ?= build
SANFLAGS :=
endif

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wdouble-promotion -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif
XCFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -fPIC -fvisibility=hidden -MMD -MP $(SANFLAGS) -Idsp
XLDFLAGS := $(SANFLAGS)

# $(call need_pkg,module,debian-package): stop with the package to install.
define need_pkg
	@$(PKG_CONFIG) --exists $(1) || { echo "error: pkg-config module '$(1)' not found; install it with: apt-get install $(2)" >&2; exit 1; }
endef

DSP_SRC := $(sort $(wildcard dsp/*.c))
DSP_OBJ := $(DSP_SRC:%.c=$(B)/obj/%.o)
LIBDSP := $(B)/libcantus.a

TEST_SRC = tests/unit/main.c $(sort $(wildcard tests/unit/test_*.c)) tests/unit/alloc_guard.c \
           tests/unit/fixtures.c $(TEST_EXTRA_SRC)
TEST_OBJ = $(TEST_SRC:%.c=$(B)/obj/%.o)
TEST_LIBS :=
TEST_DEPS :=
TEST_BIN := $(B)/bin/cantus-tests
BENCH_BIN := $(B)/bin/cantus-bench
# Programs the shell suites run besides the installed ones (fragments add
# theirs); `make test-build` builds them with `all` and the C runner.
TEST_HELPERS :=
# What `make install` puts in $(BINDIR) (fragments add theirs; all of `all`),
# and the programs' man pages (beside their sources) it puts in $(MANDIR)/man1.
INSTALL_BINS :=
MAN_PAGES :=

.PHONY: all tools test test-build check-tests bench run fuzz lint install uninstall install-user \
        uninstall-user clean deps \
        deps-run deps-test plugin jack models memcheck
.DEFAULT_GOAL := all
.SECONDARY:

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -c $< -o $@

$(LIBDSP): $(DSP_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Test, benchmark and host-helper objects find the harness headers.
$(B)/obj/tests/%.o: XCFLAGS += -Itests/unit

include plugin/cli/cli.mk
include plugin/lv2/lv2.mk
include plugin/jack/jack.mk
include models/train/train.mk

# ---- tests ---------------------------------------------------------------
$(TEST_BIN): $(TEST_OBJ) $(LIBDSP) $(TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJ) $(TEST_DEPS) $(LIBDSP) $(TEST_LIBS) -lm -lpthread -ldl

# The shell suites (tests/*/t_*.sh) run first, the C runner last; run.sh
# prints the closing "tests: N passed, N failed, N skipped" over both
# (CANTUS_REQUIRE=all: a skip fails; see tests/run.sh).
# Packages first (installed when root, else the apt-get line), then the
# build in a fresh make that sees them: this make read the pkg-config flags
# before the packages were there, so `test` and `run` depend on nothing but
# their deps-* target and everything they build is built by the sub-make.
# Fragments add to TEST_HELPERS, never to `test:` itself.
test: deps-test
	@$(MAKE) --no-print-directory test-build
	@B=$(B) CANTUS_BUILD=$(B) CANTUS_CORPUS=$(CORPUS) CANTUS_SAN=$(SAN) SHARED=$(SHARED) tests/run.sh

test-build: all $(TEST_BIN) $(TEST_HELPERS)

check-tests: $(TEST_BIN)
	CANTUS_BUILD=$(B) CANTUS_CORPUS=$(CORPUS) $(TEST_BIN) $(T)

memcheck: $(TEST_BIN)
	CANTUS_BUILD=$(B) CANTUS_CORPUS=$(CORPUS) valgrind -q --error-exitcode=1 --leak-check=full \
	  --trace-children=yes $(TEST_BIN) --no-fork $(T)

# ---- benchmarks (informational, never pass/fail) --------------------------
# bench_peers.c times OpenBLAS sgemv beside Cantus: the bench (never dsp/)
# links OpenBLAS.
BENCH_SRC := $(sort $(wildcard tests/bench/*.c)) tests/unit/fixtures.c
$(B)/obj/tests/bench/bench_peers.o: XCFLAGS += $(OPENBLAS_CFLAGS)
$(B)/obj/tests/bench/bench_peers.o: | need-openblas
$(BENCH_BIN): $(BENCH_SRC:%.c=$(B)/obj/%.o) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(OPENBLAS_LIBS) -lm -lpthread

bench: $(BENCH_BIN)
	$(BENCH_BIN)
	tests/bench/peers.sh $(BENCH_BIN)

# ---- fuzzing (clang libFuzzer) --------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,$(B)/fuzz/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(DSP_SRC)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c11 -D_GNU_SOURCE -O1 -g -Idsp -fsanitize=fuzzer,address,undefined \
	  -o $@ $< $(DSP_SRC) -lm

fuzz: $(FUZZ_TARGETS)
	@for f in $(FUZZ_TARGETS); do \
	  n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    $(B)/fuzz/corpus-$$n tests/data/fuzz-seeds/$$n 2>$(B)/fuzz/$$n.log \
	    || { tail -40 $(B)/fuzz/$$n.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|Done" $(B)/fuzz/$$n.log | head -2; \
	done

# ---- running ---------------------------------------------------------------
# exec: the shell between make and run.sh would die of Ctrl-C's SIGINT
# (make then prints "*** [run] Interrupt"); run.sh ends quietly itself.
run: deps-run
	@$(MAKE) --no-print-directory all
	@B=$(B) exec plugin/run.sh

# ---- dependencies: install when root, else print the apt-get line ----------
deps deps-run:
	@.ci/deps.sh run
deps-test:
	@.ci/deps.sh test

# ---- lint -------------------------------------------------------------------
LINT_SRC := $(wildcard dsp/*.c dsp/*.h plugin/*/*.c plugin/*/*.h models/train/*.c models/train/*.h)
lint:
	clang-format --dry-run --Werror $(LINT_SRC)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
	  --suppress=missingIncludeSystem -Idsp -Iplugin/cli dsp plugin models/train
	clang-tidy --quiet $(filter %.c,$(LINT_SRC)) -- -std=c11 -D_GNU_SOURCE -Idsp -Iplugin/cli \
	  $$($(PKG_CONFIG) --cflags lv2 jack 2>/dev/null)

# ---- install ------------------------------------------------------------------
# Exactly what `all` builds: the programs, the LV2 bundle file by file, the
# bundle's models (the same default.cantus cantus-jack falls back to) in
# $(DATADIR)/models, and the man pages in $(MANDIR)/man1.  A missing file
# stops the install.  The programs find their data folder at run time beside
# them (BINDIR/../share/cantus), so a build installs under any PREFIX.
# `make uninstall` with the same variables removes what `install` put there:
# the files, the bundle, and the data folder when nothing else is in it.
# A folder it cannot write stops it before it writes anything, naming
# `make install-user`.
# For one user, no root needed: `make install-user` is `make install
# PREFIX=$$HOME/.local LV2DIR=$$HOME/.lv2` (~/.local/bin is on PATH,
# ~/.local/share/man on man's path, ~/.lv2 on every LV2 host's).
INSTALL_LV2 := $(LV2_FILES:$(LV2_BUNDLE)/%=%)
INSTALL_MODELS := $(filter models/%.cantus,$(INSTALL_LV2))
install: all
	@for d in $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(LV2DIR); do \
	  p=$$d; while [ ! -e "$$p" ]; do p=$$(dirname "$$p"); done; \
	  [ -w "$$p" ] || { echo "error: cannot write to $$p; run this as root, or install for yourself" \
	    "with \`make install-user\` (PREFIX=\$$HOME/.local LV2DIR=\$$HOME/.lv2)" >&2; exit 1; }; \
	done
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/models $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	@set -e; for f in $(INSTALL_LV2); do \
	  m=644; case $$f in *$(LV2_LIB_EXT)) m=755;; esac; \
	  echo "install -D -m $$m $(LV2_BUNDLE)/$$f $(DESTDIR)$(LV2DIR)/cantus.lv2/$$f"; \
	  install -D -m $$m $(LV2_BUNDLE)/$$f $(DESTDIR)$(LV2DIR)/cantus.lv2/$$f; \
	done
	install -m 644 $(INSTALL_MODELS:%=$(LV2_BUNDLE)/%) $(DESTDIR)$(DATADIR)/models/
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_BINS)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN_PAGES)))
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/,$(INSTALL_MODELS))
	rm -rf $(DESTDIR)$(LV2DIR)/cantus.lv2
	@for d in $(DESTDIR)$(DATADIR)/models $(DESTDIR)$(DATADIR); do \
	  [ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; \
	done

install-user uninstall-user:
	@$(MAKE) --no-print-directory $(@:-user=) PREFIX="$(HOME)/.local" LV2DIR="$(HOME)/.lv2"

# Only this build's directory: `make clean SAN=1` for build-san, B=dir for dir.
clean:
	@[ -n "$(strip $(B))" ] && [ "$(abspath $(B))" != "$(abspath .)" ] && [ "$(abspath $(B))" != / ] \
	  || { echo "error: refusing to remove B='$(B)'" >&2; exit 1; }
	rm -rf -- '$(B)'

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
