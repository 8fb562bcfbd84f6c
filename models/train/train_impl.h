// SPDX-License-Identifier: GPL-3.0-or-later
// The trainer's private state and the helpers its files share: batch.c
// (pieces laid end to end into B streams, cut into BPTT chunks), checkpoint.c
// (save and resume), report.c (progress lines, the CSV log, the SVG plot,
// the model file with its metadata) and train.c (the loop).  Not part of
// train.h's API.  Non-RT.
//
// Allocation contract: a Trainer is one calloc'd object owned by
// cantus_train_run(); its buffers are freed by trainer_free() (train.c).
// A Plan owns its rows (train_plan_build / train_plan_free).
#ifndef CANTUS_TRAIN_IMPL_H
#define CANTUS_TRAIN_IMPL_H

#include "sample.h"
#include "train.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

// ---- batches (batch.c) --------------------------------------------------------------

typedef struct {
  int piece;
  int8_t transpose;
  bool no_end; // version 2: bars left "unknown" throughout (end dropout)
  // Chord dropout (n_chord = 13): no chord throughout, and otherwise the
  // seed of the spans without one (train_chord_dropped).
  bool no_chord;
  uint32_t chord_seed;
} Item;

// Chord dropout spans: CHORD_SPAN_TOKENS consecutive positions of a piece
// (about a bar of a Nottingham reel, melody and accompaniment) from its
// start; each is dropped with probability --chord-dropout / 2, as decided by
// a hash of the item's chord_seed and the span index.
enum { CHORD_SPAN_TOKENS = 64 };

typedef struct {
  int B;
  Item **row;    // [B] items in order
  int *n_items;  // [B]
  uint64_t *len; // [B] tokens
  uint64_t max_len;
  int n_chunks;
  // cursor per row: item index and token offset of the next input
  int *cur_item;
  uint32_t *cur_off;
} Plan;

// Uniform integer in [0, n) from a splitmix64 stream.
static inline uint32_t train_rng_below(uint64_t *s, uint32_t n)
{
  return (uint32_t)((cantus_splitmix64_next(s) >> 32) * n >> 32);
}

void train_plan_free(Plan *pl);
bool train_plan_build(Plan *pl, const CantusCorpus *c, const Item *order, int n, int B, int T);
void train_plan_seek(Plan *pl, const CantusCorpus *c, int k, int T);
void train_plan_fill(Plan *pl, const CantusCorpus *c, CantusChunk *ch, int T, float span_drop);
Item *train_epoch_order(const CantusCorpus *c, const CantusTrainConfig *cfg, int epoch, int *n_out);
Item *train_split_order(const CantusCorpus *c, int split, int *n_out);

// ---- the trainer state (everything a checkpoint holds) -----------------------------

enum { MAX_EPOCH_LOG = 4096 };

typedef struct {
  double train_loss, valid_loss, lr, tok_s, seconds;
  long steps;
  uint64_t tokens;
  float style_valid[CANTUS_MAX_STYLES];
} EpochLog;

typedef struct {
  // position
  int epoch;        // current epoch, 0-based
  int chunk;        // next chunk in the epoch
  long step;        // optimizer steps done
  float lr_plateau; // plateau schedule's current rate
  double best_valid;
  int best_epoch; // 1-based, 0 = none
  int bad_epochs;
  double ep_loss_sum; // current epoch accumulators
  uint64_t ep_scored;
  uint64_t tokens_total;
  double seconds; // training time before this process
  int n_log;
  EpochLog log[MAX_EPOCH_LOG];
} LoopState;

typedef struct {
  const CantusTrainConfig *cfg;
  CantusDims d;
  CantusCorpus corpus;
  size_t n_params;
  float *params, *grads, *m, *v, *best;
  CantusParams p, g;
  CantusTensorSpan spans[3 + 3 * CANTUS_MAX_LAYERS + 2];
  int n_spans;
  int what;
  CantusLstmTrain *net;
  LoopState ls;
  char style_names[CANTUS_MAX_STYLES][CANTUS_STYLE_NAME_LEN];
  char *base_meta;   // metadata of the --base model
  int new_style;     // add-style: index of the new style
  int planned_steps; // for the cosine schedule
  char log_prefix[4096];
  // The n-gram baseline on the validation pieces (train.c, recomputed at
  // every start, not checkpointed): NaN when validation is off.
  int ngram_order;
  double ngram_valid;
  double ngram_style[CANTUS_MAX_STYLES];
} Trainer;

// --dump-chunks (batch.c): the header (sizes, hyper-parameters, initial
// weights), then per chunk its inputs and per step (loss, lr) from the loop.
CantusStatus train_dump_open(const Trainer *tr, FILE **out, CantusError *err);
void train_dump_chunk(FILE *f, const CantusChunk *ch, size_t R);

// ---- checkpoints (checkpoint.c) ------------------------------------------------------

CantusStatus train_checkpoint_save(const Trainer *tr, const char *path, CantusError *err);
CantusStatus train_checkpoint_load(Trainer *tr, const char *path, CantusError *err);

// ---- reports and outputs (report.c) --------------------------------------------------

// The progress line's state: when it was last printed, and the rate then.
typedef struct {
  bool tty; // a terminal: one redrawn line twice a second, else a line a minute
  double t_start, last_print, last_rate;
  uint64_t tokens_at_print;
  long steps_this_run;
} TrainProgress;

void train_report_model(const Trainer *tr);
void train_report_progress(const Trainer *tr,
                           TrainProgress *pr,
                           int n_chunks,
                           float lr,
                           double t,
                           double elapsed,
                           bool stop);
void train_write_csv(const Trainer *tr);
void train_write_svg(const Trainer *tr);
int train_default_style_index(const Trainer *tr, const char *name);
CantusStatus train_write_model(const Trainer *tr, CantusError *err);

#endif
