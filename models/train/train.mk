# SPDX-License-Identifier: GPL-3.0-or-later
# The offline trainer (cantus-train), its evaluator (cantus-eval), the
# measures-of-form tool (cantus-formstat), the metre tool (cantus-metre),
# the test runner's link of the trainer code, the shipped models (`make
# models`) and the training benchmark (`make bench-train`).  Included by the root Makefile.
# The trainer is the only code that links OpenBLAS.

OPENBLAS_CFLAGS := $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null)
OPENBLAS_LIBS := $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null)
ifeq ($(strip $(OPENBLAS_LIBS)),)
OPENBLAS_LIBS := -lopenblas
endif

TRAIN_MAINS := models/train/main.c models/train/eval.c models/train/formstat.c models/train/metre.c
TRAIN_LIB_SRC := $(filter-out $(TRAIN_MAINS),$(sort $(wildcard models/train/*.c)))
TRAIN_LIB_OBJ := $(TRAIN_LIB_SRC:%.c=$(B)/obj/%.o)
TRAIN_BINS := $(B)/bin/cantus-train $(B)/bin/cantus-eval

$(B)/obj/models/train/%.o: XCFLAGS += $(OPENBLAS_CFLAGS) -Imodels/train
$(B)/obj/tests/unit/test_train.o $(B)/obj/tests/unit/test_form.o: XCFLAGS += -Imodels/train
# The mains share the command-line parsing of plugin/cli (args.c); train.c
# finds the shipped folk model with it.
$(TRAIN_MAINS:%.c=$(B)/obj/%.o) $(B)/obj/models/train/train.o: XCFLAGS += -iquote plugin/cli

# The C test runner links the trainer code (minus its mains) and OpenBLAS.
TEST_EXTRA_SRC += $(TRAIN_LIB_SRC)
TEST_LIBS += $(OPENBLAS_LIBS)

all: $(TRAIN_BINS)
INSTALL_BINS += $(TRAIN_BINS)
MAN_PAGES += models/train/cantus-train.1 models/train/cantus-eval.1

.PHONY: need-openblas bench-train
need-openblas:
	$(call need_pkg,openblas,libopenblas-dev)

$(TRAIN_LIB_OBJ) $(TRAIN_MAINS:%.c=$(B)/obj/%.o): | need-openblas

$(B)/bin/cantus-train: $(B)/obj/models/train/main.o $(TRAIN_LIB_OBJ) $(CLI_ARGS_OBJ) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(OPENBLAS_LIBS) -lm -lpthread

$(B)/bin/cantus-eval: $(B)/obj/models/train/eval.o $(TRAIN_LIB_OBJ) $(CLI_ARGS_OBJ) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(OPENBLAS_LIBS) -lm -lpthread

# The measures of form of MIDI files (a development tool, not installed):
# form.c needs only dsp/, so no OpenBLAS.
$(B)/bin/cantus-formstat: $(B)/obj/models/train/formstat.o $(B)/obj/models/train/form.o $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ -lm

# Each style's usual metre from a corpus's training split, written into a
# model's metadata ("meter:" line; a development tool, not installed).
$(B)/bin/cantus-metre: $(B)/obj/models/train/metre.o $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ -lm

# ---- the shipped models ------------------------------------------------------
# `make models` retrains models/folk.cantus and models/chorales.cantus from
# $(CORPUS) with these exact commands and copies the folk model to
# models/default.cantus.  Seeds, epochs and the thread count (2) are fixed
# and nothing depends on the clock, so a run gives the same weights on any
# machine with the same OpenBLAS core and AVX-512 (a machine with one core
# runs the two threads' work on one; slower, same numbers).  Logs, CSV,
# SVG and checkpoints go to $(B)/models/.  It takes about half an hour on the
# 2-core development machine; the results are committed.
MODEL_NICE ?= nice -n 10
FOLK_CMD = $(B)/bin/cantus-train $(CORPUS)/nottingham $(CORPUS)/cre_irish -o models/folk.cantus \
  --name folk --pitch-range 28-96 --tpq 12 --beats 8 --layers 2 --hidden 256 --embed 64 \
  --style-dim 16 --batch 32 --bptt 64 --epochs 16 --lr 3e-3 --warmup 300 --dropout 0.1 \
  --weight-decay 0.01 --clip 1 --transpose -5,6 --patience 4 --seed 1 --default-style reel \
  --threads 2 --format 2 \
  -q --log $(B)/models/folk
# The chorales stay format 1: format 2 chorale models (four parts, or one
# part with --parts all) clashed far more often (models/README.md).
CHORALES_CMD = $(B)/bin/cantus-train $(CORPUS)/jsb_chorales -o models/chorales.cantus \
  --name chorales --pitch-range 28-96 --tpq 12 --beats 8 --layers 2 --hidden 256 --embed 64 \
  --style-dim 16 --batch 32 --bptt 64 --epochs 60 --lr 3e-3 --warmup 200 --dropout 0.3 \
  --weight-decay 0.01 --clip 1 --transpose -5,6 --patience 10 --seed 1 --threads 2 \
  -q --log $(B)/models/chorales

.PHONY: models models-folk models-chorales
# models/default.cantus (what the plugin, cantus-gen and cantus-jack load
# first) stays the format 1 folk model of 0.3.0 for now: with the format 2
# chord model as the default, chords on Cantus's own track in headless
# Ardour (t_lv2_ardour_chords) changed nothing, an open bug.  Copy
# models/folk.cantus over it once that is fixed.
models: models-folk models-chorales
models-folk: $(B)/bin/cantus-train $(B)/bin/cantus-metre
	@mkdir -p $(B)/models
	$(MODEL_NICE) $(FOLK_CMD) 2>&1 | tee $(B)/models/folk.log
	$(B)/bin/cantus-metre models/folk.cantus $(CORPUS)/nottingham $(CORPUS)/cre_irish -o models/folk.cantus
models-chorales: $(B)/bin/cantus-train
	@mkdir -p $(B)/models
	$(MODEL_NICE) $(CHORALES_CMD) 2>&1 | tee $(B)/models/chorales.log

# ---- benchmarks (informational, never a test) -----------------------------------
# Issue 11's chord following: the shipped folk model's reels over three
# progressions at chord strength 0 (CHORD_STRENGTH=X to change), beside the
# same pieces without chords.
CHORD_STRENGTH ?= 0
.PHONY: bench-chords
bench-chords: $(B)/bin/cantus-gen $(B)/bin/cantus-formstat
	@models/train/chordfit.sh $(B)/bin models/folk.cantus $(CHORD_STRENGTH)

# Tokens/s at hidden 256, 2 layers, batch 32, BPTT 64 against PyTorch CPU.
BENCH_TRAIN_STEPS ?= 40
bench-train: $(B)/bin/cantus-train
	@models/train/bench.sh $(B)/bin/cantus-train $(BENCH_TRAIN_STEPS)
