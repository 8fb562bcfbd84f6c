# SPDX-License-Identifier: GPL-3.0-or-later
# The LV2 bundle, included by the root Makefile:
#   $(B)/cantus.lv2/ = cantus.so (exports only lv2_descriptor; links neither
#   JACK nor OpenBLAS), manifest.ttl, cantus.ttl, presets/*.ttl,
#   models/default.cantus (models/default.cantus when the trainer has shipped
#   it, else the test fixture tests/data/tiny.cantus) and any other shipped
#   models/*.cantus.  Usable in place: LV2_PATH=$PWD/$(B) (or $PWD/$(B)/lv2,
#   a folder with only a link to the bundle).
# Also the plugin's test helpers: tests/hosts/lv2_host.c joins the C runner (with
# lilv), $(B)/tests/lilv_host serves the shell suites (TEST_HELPERS: built by
# `make test` after it has installed the packages; the jalv suite's JACK capture
# client is plugin/jack/jack.mk's $(B)/tests/jack_capture).

LV2_BUNDLE := $(B)/cantus.lv2
LV2_LIB_EXT := .so
# The plugin's version is Cantus's (the root Makefile's CANTUS_VERSION).
LV2_MINOR := $(CANTUS_MINOR)
LV2_MICRO := $(CANTUS_MICRO)
LV2_MODEL := $(firstword $(wildcard models/default.cantus) tests/data/tiny.cantus)
LV2_MORE_MODELS := $(filter-out models/default.cantus,$(wildcard models/*.cantus))
LV2_PRESETS := $(sort $(wildcard presets/*.ttl))
LV2_PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags lv2 2>/dev/null)
LILV_CFLAGS := $(shell $(PKG_CONFIG) --cflags lilv-0 2>/dev/null)
LILV_LIBS := $(shell $(PKG_CONFIG) --libs lilv-0 2>/dev/null)
# clang does not link the sanitizer runtime into shared objects.
LV2_NO_UNDEFINED := $(if $(filter 1,$(SAN)),,-Wl,--no-undefined)

LV2_FILES := $(LV2_BUNDLE)/cantus$(LV2_LIB_EXT) $(LV2_BUNDLE)/manifest.ttl \
             $(LV2_BUNDLE)/cantus.ttl $(LV2_BUNDLE)/models/default.cantus \
             $(LV2_PRESETS:%=$(LV2_BUNDLE)/%) $(LV2_MORE_MODELS:%=$(LV2_BUNDLE)/%)

.PHONY: plugin lv2-check-pkg
all: plugin
plugin: $(LV2_FILES) $(B)/lv2/cantus.lv2

# $(B)/lv2/ holds only the bundle (a link to it), for a clean
# LV2_PATH=$PWD/$(B)/lv2: lilv reads every folder of an LV2_PATH entry as a
# bundle and complains about $(B)/obj, $(B)/bin ...
$(B)/lv2/cantus.lv2:
	@mkdir -p $(dir $@)
	ln -sfn ../cantus.lv2 $@

lv2-check-pkg:
	$(call need_pkg,lv2,lv2-dev)

$(B)/obj/plugin/lv2/lv2.o: XCFLAGS += $(LV2_PKG_CFLAGS)
$(B)/obj/plugin/lv2/lv2.o: | lv2-check-pkg

$(LV2_BUNDLE)/cantus$(LV2_LIB_EXT): $(B)/obj/plugin/lv2/lv2.o $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -shared $(LV2_NO_UNDEFINED) -Wl,--exclude-libs,ALL \
	  -o $@ $< $(LIBDSP) -lm

# The control ports come from the control table (dsp/controls.c, in
# $(LIBDSP)); the style ports' scale points name the default model's styles.
$(B)/obj/plugin/lv2/lv2-ttl: $(B)/obj/plugin/lv2/lv2_ttl.o $(LIBDSP)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ -lm

$(B)/obj/plugin/lv2/control_ports.ttl: $(LV2_MODEL) $(B)/obj/plugin/lv2/lv2-ttl
	$(B)/obj/plugin/lv2/lv2-ttl $< >$@.tmp && mv $@.tmp $@

$(LV2_BUNDLE)/cantus.ttl: ttl/cantus.ttl.in $(B)/obj/plugin/lv2/control_ports.ttl plugin/lv2/lv2.mk
	@mkdir -p $(dir $@)
	sed -e 's/@LV2_MINOR@/$(LV2_MINOR)/g' -e 's/@LV2_MICRO@/$(LV2_MICRO)/g' \
	  -e 's/@LIB_EXT@/$(LV2_LIB_EXT)/g' \
	  -e '/@CONTROL_PORTS@/{' -e 'r $(B)/obj/plugin/lv2/control_ports.ttl' -e 'd' -e '}' $< >$@.tmp
	mv $@.tmp $@

$(LV2_BUNDLE)/manifest.ttl: ttl/manifest.ttl.in plugin/lv2/lv2.mk
	@mkdir -p $(dir $@)
	sed -e 's/@LIB_EXT@/$(LV2_LIB_EXT)/g' $< >$@.tmp && mv $@.tmp $@

$(LV2_BUNDLE)/presets/%.ttl: presets/%.ttl
	@mkdir -p $(dir $@)
	cp $< $@

$(LV2_BUNDLE)/models/default.cantus: $(LV2_MODEL) plugin/lv2/lv2.mk
	@mkdir -p $(dir $@)
	cp $< $@

$(LV2_BUNDLE)/models/%.cantus: models/%.cantus
	@mkdir -p $(dir $@)
	cp $< $@

# ---- tests ---------------------------------------------------------------------
TEST_EXTRA_SRC += tests/hosts/lv2_host.c
TEST_LIBS += $(LILV_LIBS)
$(B)/obj/tests/unit/test_lv2.o $(B)/obj/tests/unit/test_lv2_chords.o $(B)/obj/tests/unit/test_controls.o $(B)/obj/tests/hosts/lv2_host.o $(B)/obj/tests/hosts/lilv_host.o: \
  XCFLAGS += $(LILV_CFLAGS) -Iplugin/lv2 -Itests/hosts
# The C runner's plugin cases load the built bundle.
$(TEST_BIN): | $(LV2_FILES)
# The allocation/lock interposer must be visible to the dlopen'ed plugin:
# default visibility for it (the project compiles everything hidden) and an
# exported dynamic symbol table, else only the runner's own calls count.
$(B)/obj/tests/unit/alloc_guard.o: XCFLAGS += -fvisibility=default
TEST_LIBS += -rdynamic

LV2_TEST_HOST := $(B)/tests/lilv_host
$(LV2_TEST_HOST): $(B)/obj/tests/hosts/lilv_host.o $(B)/obj/tests/hosts/lv2_host.o $(B)/obj/tests/unit/fixtures.o \
                  $(LIBDSP) | $(LV2_FILES)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LILV_LIBS) -lm -ldl

TEST_HELPERS += $(LV2_TEST_HOST)
