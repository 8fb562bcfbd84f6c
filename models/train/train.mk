# SPDX-License-Identifier: GPL-3.0-or-later
# The offline trainer (cantus-train), its evaluator (cantus-eval), the test
# runner's link of the trainer code, the shipped models (`make models`) and
# the training benchmark (`make bench-train`).  Included by the root Makefile.
# The trainer is the only code that links OpenBLAS.

OPENBLAS_CFLAGS := $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null)
OPENBLAS_LIBS := $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null)
ifeq ($(strip $(OPENBLAS_LIBS)),)
OPENBLAS_LIBS := -lopenblas
endif

TRAIN_MAINS := models/train/main.c models/train/eval.c
TRAIN_LIB_SRC := $(filter-out $(TRAIN_MAINS),$(sort $(wildcard models/train/*.c)))
TRAIN_LIB_OBJ := $(TRAIN_LIB_SRC:%.c=$(B)/obj/%.o)
TRAIN_BINS := $(patsubst models/train/%.c,$(B)/bin/cantus-%,$(patsubst models/train/main.c,models/train/train.c,$(wildcard $(TRAIN_MAINS))))

# -iquote instead of -I for dsp/: dsp/sched.h must not shadow the system
# <sched.h> that <pthread.h> and OpenBLAS's cblas.h rely on.
$(B)/obj/models/train/%.o: XCFLAGS := $(filter-out -Idsp,$(XCFLAGS)) -iquote dsp $(OPENBLAS_CFLAGS) -Imodels/train
$(B)/obj/tests/test_train.o: XCFLAGS += -Imodels/train

# The C test runner links the trainer code (minus its mains) and OpenBLAS.
TEST_EXTRA_SRC += $(TRAIN_LIB_SRC)
TEST_LIBS += $(OPENBLAS_LIBS)

all: $(TRAIN_BINS)

.PHONY: need-openblas bench-train
need-openblas:
	$(call need_pkg,openblas,libopenblas-dev)

$(TRAIN_LIB_OBJ) $(TRAIN_MAINS:%.c=$(B)/obj/%.o): | need-openblas

$(B)/bin/cantus-train: $(B)/obj/models/train/main.o $(TRAIN_LIB_OBJ) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(OPENBLAS_LIBS) -lm -lpthread

$(B)/bin/cantus-eval: $(B)/obj/models/train/eval.o $(TRAIN_LIB_OBJ) $(LIBDSP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(OPENBLAS_LIBS) -lm -lpthread
