# SPDX-License-Identifier: GPL-3.0-or-later
# cantus-jack, the live-performance JACK client (included by the root
# Makefile).  Needs libjack (pkg-config jack) and PortMidi (libportmidi-dev,
# which ships no .pc file).  Test helpers (TEST_HELPERS: built by `make test`
# after it has installed the packages): $(B)/tests/jack_capture,
# $(B)/tests/jack_send (MIDI sender), $(B)/tests/libpmfake.so (a PortMidi
# stand-in for machines without ALSA), $(B)/tests/jack_mkmodel (a second test
# model for the hot swap), used by tests/hosts/t_jack_*.sh (jack_capture by
# tests/hosts/t_lv2_jalv.sh too).

JACK_APP_SRC := $(addprefix plugin/jack/,jack.c jack_rt.c jack_pm.c jack_ui.c jack_rec.c \
                  midibridge.c ctlmap.c jackclock.c loader.c)
JACK_APP_OBJ := $(JACK_APP_SRC:%.c=$(B)/obj/%.o)
JACK_BIN := $(B)/bin/cantus-jack
JACK_TEST_HELPERS := $(B)/tests/jack_capture $(B)/tests/jack_send $(B)/tests/libpmfake.so \
                     $(B)/tests/jack_mkmodel
JACK_CFLAGS := $(shell $(PKG_CONFIG) --cflags jack 2>/dev/null)

.PHONY: jack jack-test-helpers jack-check-deps
jack: $(JACK_BIN)
jack-test-helpers: $(JACK_TEST_HELPERS)
all: $(JACK_BIN)
INSTALL_BINS += $(JACK_BIN)
MAN_PAGES += plugin/jack/cantus-jack.1
TEST_HELPERS += $(JACK_TEST_HELPERS)

jack-check-deps:
	$(call need_pkg,jack,libjack-jackd2-dev)
	@test -f /usr/include/portmidi.h || { echo "error: portmidi.h not found; install it with: apt-get install libportmidi-dev" >&2; exit 1; }

$(JACK_APP_OBJ): | jack-check-deps
$(JACK_APP_OBJ): XCFLAGS += $(JACK_CFLAGS)
$(B)/obj/tests/unit/test_jack_bridge.o $(B)/obj/tests/unit/test_jack_loader.o: \
  XCFLAGS += $(JACK_CFLAGS) -Iplugin/jack
$(B)/obj/plugin/jack/jack.o: XCFLAGS += -iquote plugin/cli

# The option parsing shared with the command-line tools (plugin/cli/cli.mk).
$(JACK_BIN): $(JACK_APP_OBJ) $(CLI_ARGS_OBJ) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $(JACK_APP_OBJ) $(CLI_ARGS_OBJ) $(LIBDSP) \
	  $$($(PKG_CONFIG) --libs jack) -lportmidi -lpthread -lm

$(B)/tests/jack_capture: tests/hosts/jack_capture.c | jack-check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(JACK_CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $< $$($(PKG_CONFIG) --libs jack)

$(B)/tests/jack_send: tests/hosts/jack_send.c | jack-check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(JACK_CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $< $$($(PKG_CONFIG) --libs jack)

$(B)/tests/jack_mkmodel: $(B)/obj/tests/hosts/jack_mkmodel.o $(B)/obj/tests/unit/fixtures.o $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ -lm

# No sanitizers: it is LD_PRELOADed into cantus-jack.
$(B)/tests/libpmfake.so: tests/hosts/jack_pm_fake.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE $(WARN) -shared -fPIC -o $@ $<

# The C runner's bridge, CC map, clock and model hand-over cases
# (tests/unit/test_jack_bridge.c, test_jack_loader.c; jack_rt.c links libjack but
# needs no server).
TEST_EXTRA_SRC += $(addprefix plugin/jack/,midibridge.c ctlmap.c jackclock.c jack_rt.c loader.c)
TEST_LIBS += $(shell $(PKG_CONFIG) --libs jack 2>/dev/null)
