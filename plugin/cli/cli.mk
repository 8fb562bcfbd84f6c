# SPDX-License-Identifier: GPL-3.0-or-later
# The command-line tools (included by the root Makefile): cantus-gen (offline
# generation through the engine's block loop) and cantus-info (what a .cantus
# file holds).  They link only dsp/ (libcantus.a), the shared option
# parsing (args.c) and libm.

TOOLS := $(B)/bin/cantus-gen $(B)/bin/cantus-info

.PHONY: tools
all: tools
tools: $(TOOLS)
INSTALL_BINS += $(TOOLS)

# args.o: the option parsing every program shares (also cantus-jack,
# cantus-train and cantus-eval).
CLI_ARGS_OBJ := $(B)/obj/plugin/cli/args.o
# It holds the version every tool prints (--version): rebuilt when it changes.
$(CLI_ARGS_OBJ): XCFLAGS += -DCANTUS_VERSION='"$(CANTUS_VERSION)"'
$(CLI_ARGS_OBJ): Makefile

$(B)/bin/cantus-%: $(B)/obj/plugin/cli/cantus-%.o $(CLI_ARGS_OBJ) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ -lm
