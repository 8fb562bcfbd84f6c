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
MAN_PAGES += plugin/cli/cantus-gen.1 plugin/cli/cantus-info.1

# args.o: the option parsing every program shares (also cantus-jack,
# cantus-train and cantus-eval).
CLI_ARGS_OBJ := $(B)/obj/plugin/cli/args.o
# It holds the version every tool prints (--version) and the data folder
# compiled in (DATADIR, the last resort of cantus_args_datadir()): rebuilt
# when the Makefile changes.
$(CLI_ARGS_OBJ): XCFLAGS += -DCANTUS_VERSION='"$(CANTUS_VERSION)"' -DCANTUS_DATADIR='"$(DATADIR)"'
$(CLI_ARGS_OBJ): Makefile
# The trainer's advice names the shipped folk model in the data folder, so
# the C runner, which links the trainer code, links args.c too.
TEST_EXTRA_SRC += plugin/cli/args.c

# The build tree is laid out as an install is: $(B)/bin/PROG finds its data
# folder in $(B)/share/cantus, whose models/ is the source tree's.
CLI_DATA_LINK := $(B)/share/cantus/models
all: $(CLI_DATA_LINK)
$(CLI_DATA_LINK):
	@mkdir -p $(dir $@)
	ln -sfn $(CURDIR)/models $@

$(B)/bin/cantus-%: $(B)/obj/plugin/cli/cantus-%.o $(CLI_ARGS_OBJ) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ -lm
