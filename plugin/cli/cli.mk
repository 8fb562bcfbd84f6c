# SPDX-License-Identifier: GPL-3.0-or-later
# The command-line tools (included by the root Makefile): cantus-gen (offline
# generation through the engine's block loop) and cantus-info (what a .cantus
# file holds).  They link only dsp/ (libcantus.a) and libm.

TOOLS := $(B)/bin/cantus-gen $(B)/bin/cantus-info

.PHONY: tools
all: tools
tools: $(TOOLS)
INSTALL_BINS += $(TOOLS)

$(B)/bin/cantus-%: $(B)/obj/plugin/cli/cantus-%.o $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ -lm
