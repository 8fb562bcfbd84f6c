// SPDX-License-Identifier: GPL-3.0-or-later
// The training loop of cantus-train: epochs of shuffled, transposed pieces
// laid end to end into B streams, cut into BPTT chunks with the hidden
// state carried from chunk to chunk (a START resets a row), AdamW with
// global-norm clipping, warm-up and a cosine or plateau schedule, dropout,
// validation per epoch with early stopping on the best weights, progress
// output, checkpoints (on Ctrl-C, at every epoch end and at the time
// limit) that resume bit-exactly, and the outputs: the model file with its
// metadata, a CSV log and an SVG plot of the loss curves.  Also the
// add-style mode (--base/--add-style), which trains only a new style
// vector (and optionally the output layer) of an existing model.
// Determinism: every random choice comes from splitmix64 streams keyed by
// (seed, epoch) or (seed, step); with the same OpenBLAS thread count a run
// is bit-identical.  Non-RT.
#include "train.h"
#include "sample.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

volatile int cantus_train_interrupt;

CantusTrainConfig cantus_train_config_default(void)
{
  CantusTrainConfig c;
  memset(&c, 0, sizeof c);
  c.corpus = cantus_corpus_options_default();
  c.dims = (CantusDims){ .n_layers = 2,
                         .n_hidden = 256,
                         .n_embed = 64,
                         .n_style_dim = 16,
                         .n_styles = 1,
                         .n_pos_tick = 12,
                         .n_pos_beat = 8,
                         .vocab = c.corpus.vocab };
  c.batch = 32;
  c.bptt = 64;
  c.epochs = 20;
  c.lr = 2e-3f;
  c.lr_min_frac = 0.05f;
  c.dropout = 0.1f;
  c.weight_decay = 0.01f;
  c.clip = 1.0f;
  c.warmup_steps = 200;
  c.schedule = 0;
  c.patience = 3;
  c.transpose_lo = -5;
  c.transpose_hi = 6;
  c.threads = 0;
  c.seed = 1;
  c.model_name = "cantus";
  c.log = stderr;
  return c;
}

// ---- random numbers ----------------------------------------------------------------

// Uniform integer in [0, n).
static uint32_t rng_below(uint64_t *s, uint32_t n)
{
  return (uint32_t)((cantus_splitmix64_next(s) >> 32) * n >> 32);
}

static float rng_uniform(uint64_t *s, float a)
{
  return ((float)(cantus_splitmix64_next(s) >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * a;
}

void cantus_train_init_params(const CantusDims *d, uint64_t seed, float *flat)
{
  CantusParams p;
  cantus_model_layout(d, flat, &p);
  uint64_t s = cantus_splitmix64_mix(seed ^ 0x5eedf00dull);
  const size_t V = (size_t)cantus_vocab_size(&d->vocab), H = d->n_hidden, G = 4 * H;
  const float k = 1.0f / sqrtf((float)H);
  for (size_t i = 0; i < V * d->n_embed; i++) {
    p.tok_emb[i] = rng_uniform(&s, 1.0f);
  }
  for (size_t i = 0; i < (size_t)d->n_styles * d->n_style_dim; i++) {
    p.style_emb[i] = rng_uniform(&s, 1.0f);
  }
  for (uint32_t l = 0; l < d->n_layers; l++) {
    size_t in = cantus_dims_input(d, l);
    for (size_t i = 0; i < G * in; i++) {
      p.layer[l].w_ih[i] = rng_uniform(&s, k);
    }
    for (size_t i = 0; i < G * H; i++) {
      p.layer[l].w_hh[i] = rng_uniform(&s, k);
    }
    for (size_t i = 0; i < G; i++) {
      // b_ih + b_hh as PyTorch draws them, and a forget-gate bias of 1.
      p.layer[l].b[i] =
        rng_uniform(&s, k) + rng_uniform(&s, k) + (i >= H && i < 2 * H ? 1.0f : 0.0f);
    }
  }
  for (size_t i = 0; i < V * H; i++) {
    p.w_out[i] = rng_uniform(&s, k);
  }
  memset(p.b_out, 0, V * sizeof(float));
}

void cantus_train_blas_info(char *buf, size_t n)
{
  snprintf(
    buf, n, "OpenBLAS %s core, %d thread(s)", openblas_get_corename(), openblas_get_num_threads());
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

CantusStatus cantus_train_bench(const CantusDims *d,
                                int batch,
                                int bptt,
                                float dropout,
                                int steps,
                                int threads,
                                double *tok_s,
                                CantusError *err)
{
  if (threads > 0) {
    openblas_set_num_threads(threads);
  }
  size_t np = cantus_model_param_count(d);
  float *p = calloc(np, sizeof(float)), *g = calloc(np, sizeof(float));
  float *m = calloc(np, sizeof(float)), *v = calloc(np, sizeof(float));
  CantusLstmTrain *net = NULL;
  CantusStatus st = cantus_lstm_train_new(d, batch, bptt, &net, err);
  if (!st && (!p || !g || !m || !v)) {
    st = cantus_error(err, CANTUS_ERR_NO_MEMORY, "bench: out of memory");
  }
  if (!st) {
    cantus_train_init_params(d, 1, p);
    CantusParams P, Gp;
    cantus_model_layout(d, p, &P);
    cantus_model_layout(d, g, &Gp);
    CantusTensorSpan spans[3 + 3 * CANTUS_MAX_LAYERS + 2];
    int ns = cantus_adamw_spans(d, CANTUS_GRAD_ALL, spans);
    CantusAdamW opt = {
      .lr = 2e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f
    };
    CantusChunk *ch = cantus_lstm_train_chunk(net);
    const int V = cantus_vocab_size(&d->vocab);
    uint64_t s = 42;
    double t0 = 0.0;
    for (int k = 0; k < steps + 2; k++) {
      if (k == 2) {
        t0 = now_s();
      }
      for (size_t r = 0; r < (size_t)batch * (size_t)bptt; r++) {
        ch->tok[r] = 1 + (int)rng_below(&s, (uint32_t)(V - 1));
        ch->tgt[r] = 1 + (int)rng_below(&s, (uint32_t)(V - 1));
        ch->style[r] = (int16_t)rng_below(&s, d->n_styles);
        ch->pos_tick[r] = (uint8_t)rng_below(&s, d->n_pos_tick);
        ch->pos_beat[r] = (uint8_t)rng_below(&s, d->n_pos_beat);
      }
      memset(g, 0, np * sizeof(float));
      cantus_lstm_train_forward(net, &P, dropout, (uint64_t)k, NULL, NULL);
      cantus_lstm_train_backward(net, &P, &Gp, CANTUS_GRAD_ALL);
      double norm = cantus_adamw_grad_norm(g, spans, ns);
      float scale = norm > 1.0 ? (float)(1.0 / norm) : 1.0f;
      cantus_adamw_step(&opt, opt.lr, k + 1, scale, p, g, m, v, spans, ns);
    }
    *tok_s = (double)steps * batch * bptt / (now_s() - t0);
  }
  cantus_lstm_train_free(net);
  free(p);
  free(g);
  free(m);
  free(v);
  return st;
}

// ---- streams: pieces laid end to end in B rows --------------------------------------

typedef struct {
  int piece;
  int8_t transpose;
} Item;

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

static void plan_free(Plan *pl)
{
  if (pl->row) {
    for (int b = 0; b < pl->B; b++) {
      free(pl->row[b]);
    }
  }
  free(pl->row);
  free(pl->n_items);
  free(pl->len);
  free(pl->cur_item);
  free(pl->cur_off);
  memset(pl, 0, sizeof *pl);
}

// Lays `order` (piece indices with transpositions) into B rows: each piece
// goes to the currently shortest row (lowest index on ties).
static bool plan_build(Plan *pl, const CantusCorpus *c, const Item *order, int n, int B, int T)
{
  memset(pl, 0, sizeof *pl);
  pl->B = B;
  pl->row = calloc((size_t)B, sizeof *pl->row);
  pl->n_items = calloc((size_t)B, sizeof *pl->n_items);
  pl->len = calloc((size_t)B, sizeof *pl->len);
  pl->cur_item = calloc((size_t)B, sizeof *pl->cur_item);
  pl->cur_off = calloc((size_t)B, sizeof *pl->cur_off);
  int *cap = calloc((size_t)B, sizeof *cap);
  if (!pl->row || !pl->n_items || !pl->len || !pl->cur_item || !pl->cur_off || !cap) {
    free(cap);
    plan_free(pl);
    return false;
  }
  for (int i = 0; i < n; i++) {
    int best = 0;
    for (int b = 1; b < B; b++) {
      best = pl->len[b] < pl->len[best] ? b : best;
    }
    if (pl->n_items[best] == cap[best]) {
      cap[best] = cap[best] ? 2 * cap[best] : 16;
      Item *nr = realloc(pl->row[best], (size_t)cap[best] * sizeof *nr);
      if (!nr) {
        free(cap);
        plan_free(pl);
        return false;
      }
      pl->row[best] = nr;
    }
    pl->row[best][pl->n_items[best]++] = order[i];
    pl->len[best] += c->pieces[order[i].piece].n_tok;
  }
  free(cap);
  for (int b = 0; b < B; b++) {
    pl->max_len = pl->len[b] > pl->max_len ? pl->len[b] : pl->max_len;
  }
  // The last input of a stream is its final END, which has no target.
  pl->n_chunks = pl->max_len > 1 ? (int)((pl->max_len - 1 + (uint64_t)T - 1) / (uint64_t)T) : 0;
  return true;
}

// Moves every row's cursor to the start of chunk k.
static void plan_seek(Plan *pl, const CantusCorpus *c, int k, int T)
{
  for (int b = 0; b < pl->B; b++) {
    uint64_t skip = (uint64_t)k * (uint64_t)T;
    int it = 0;
    while (it < pl->n_items[b] && skip >= c->pieces[pl->row[b][it].piece].n_tok) {
      skip -= c->pieces[pl->row[b][it].piece].n_tok;
      it++;
    }
    pl->cur_item[b] = it;
    pl->cur_off[b] = it < pl->n_items[b] ? (uint32_t)skip : 0;
  }
}

static int transpose_token(const CantusVocab *v, int tok, int d)
{
  if (d == 0 || tok < CANTUS_TOK_FIRST_NOTE || tok >= cantus_vocab_shift_base(v)) {
    return tok;
  }
  return tok + d; // NOTE_ON and NOTE_OFF blocks both shift by d
}

// Fills the next chunk from the cursors and advances them.
static void plan_fill(Plan *pl, const CantusCorpus *c, CantusChunk *ch, int T)
{
  const int B = pl->B;
  for (int b = 0; b < B; b++) {
    int it = pl->cur_item[b];
    uint32_t off = pl->cur_off[b];
    for (int t = 0; t < T; t++) {
      size_t r = (size_t)t * (size_t)B + (size_t)b;
      if (it >= pl->n_items[b]) {
        ch->tok[r] = CANTUS_TOK_START; // padding: a reset row that scores nothing
        ch->tgt[r] = -1;
        ch->style[r] = 0;
        ch->pos_tick[r] = 0;
        ch->pos_beat[r] = 0;
        continue;
      }
      const CantusPiece *pc = &c->pieces[pl->row[b][it].piece];
      int d = pl->row[b][it].transpose;
      ch->tok[r] = transpose_token(&c->vocab, pc->tok[off], d);
      ch->tgt[r] = off + 1 < pc->n_tok ? transpose_token(&c->vocab, pc->tok[off + 1], d) : -1;
      ch->style[r] = (int16_t)pc->style;
      ch->pos_tick[r] = pc->pos_tick[off];
      ch->pos_beat[r] = pc->pos_beat[off];
      if (++off >= pc->n_tok) {
        off = 0;
        it++;
      }
    }
    pl->cur_item[b] = it;
    pl->cur_off[b] = off;
  }
}

// Training order of an epoch: a seeded shuffle with a transposition per piece.
static Item *epoch_order(const CantusCorpus *c, const CantusTrainConfig *cfg, int epoch, int *n_out)
{
  int n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    n += c->pieces[i].split == CANTUS_SPLIT_TRAIN;
  }
  Item *o = malloc((size_t)(n ? n : 1) * sizeof *o);
  if (!o) {
    return NULL;
  }
  n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    if (c->pieces[i].split == CANTUS_SPLIT_TRAIN) {
      o[n++] = (Item){ i, 0 };
    }
  }
  uint64_t s = cantus_splitmix64_mix(cfg->seed * 0x2545f4914f6cdd1dull + (uint64_t)epoch + 1);
  for (int i = n - 1; i > 0; i--) {
    int j = (int)rng_below(&s, (uint32_t)(i + 1));
    Item t = o[i];
    o[i] = o[j];
    o[j] = t;
  }
  for (int i = 0; i < n; i++) {
    const CantusPiece *pc = &c->pieces[o[i].piece];
    int lo = cfg->transpose_lo, hi = cfg->transpose_hi;
    lo = lo > c->vocab.pitch_lo - pc->pitch_min ? lo : c->vocab.pitch_lo - pc->pitch_min;
    hi = hi < c->vocab.pitch_hi - pc->pitch_max ? hi : c->vocab.pitch_hi - pc->pitch_max;
    o[i].transpose = (int8_t)(lo <= hi ? lo + (int)rng_below(&s, (uint32_t)(hi - lo + 1)) : 0);
  }
  *n_out = n;
  return o;
}

// Pieces of one split, longest first (rows balance better).
static Item *split_order(const CantusCorpus *c, int split, int *n_out)
{
  int n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    n += c->pieces[i].split == split;
  }
  Item *o = malloc((size_t)(n ? n : 1) * sizeof *o);
  if (!o) {
    return NULL;
  }
  n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    if (c->pieces[i].split == split) {
      o[n++] = (Item){ i, 0 };
    }
  }
  // insertion sort by length, descending; stable, so ties keep corpus order
  for (int i = 1; i < n; i++) {
    Item x = o[i];
    int j = i - 1;
    while (j >= 0 && c->pieces[o[j].piece].n_tok < c->pieces[x.piece].n_tok) {
      o[j + 1] = o[j];
      j--;
    }
    o[j + 1] = x;
  }
  *n_out = n;
  return o;
}

CantusStatus cantus_train_evaluate(const CantusDims *d,
                                   const float *flat,
                                   const CantusCorpus *c,
                                   int split,
                                   int batch,
                                   int bptt,
                                   double *nll_style,
                                   uint64_t *n_style,
                                   uint64_t *correct_style,
                                   CantusError *err)
{
  for (uint32_t s = 0; s < d->n_styles; s++) {
    nll_style[s] = 0.0;
    n_style[s] = 0;
    if (correct_style) {
      correct_style[s] = 0;
    }
  }
  int n = 0;
  Item *order = split_order(c, split, &n);
  if (!order) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "evaluation: out of memory");
  }
  if (n == 0) {
    free(order);
    return CANTUS_OK;
  }
  int B = batch < n ? batch : n;
  Plan pl;
  CantusLstmTrain *net = NULL;
  CantusStatus st = cantus_lstm_train_new(d, B, bptt, &net, err);
  double *nll = malloc((size_t)B * (size_t)bptt * sizeof *nll);
  if (st != CANTUS_OK || !nll || !plan_build(&pl, c, order, n, B, bptt)) {
    free(order);
    free(nll);
    cantus_lstm_train_free(net);
    return st != CANTUS_OK ? st
                           : cantus_error(err, CANTUS_ERR_NO_MEMORY, "evaluation: out of memory");
  }
  CantusParams p;
  cantus_model_layout(d, (float *)flat, &p);
  const int V = cantus_vocab_size(&d->vocab);
  CantusChunk *ch = cantus_lstm_train_chunk(net);
  cantus_lstm_train_reset(net);
  for (int k = 0; k < pl.n_chunks; k++) {
    plan_fill(&pl, c, ch, bptt);
    cantus_lstm_train_forward(net, &p, 0.0f, 0, nll, NULL);
    const float *lg = cantus_lstm_train_logits(net);
    for (size_t r = 0; r < (size_t)B * (size_t)bptt; r++) {
      if (ch->tgt[r] < 0) {
        continue;
      }
      int s = ch->style[r];
      nll_style[s] += nll[r];
      n_style[s]++;
      if (correct_style) {
        const float *l = lg + r * (size_t)V;
        int best = 0;
        for (int v = 1; v < V; v++) {
          best = l[v] > l[best] ? v : best;
        }
        correct_style[s] += best == ch->tgt[r];
      }
    }
  }
  plan_free(&pl);
  free(order);
  free(nll);
  cantus_lstm_train_free(net);
  return CANTUS_OK;
}

// One chunk for --dump-chunks: tok, tgt, style, pos_tick, pos_beat as int32.
static void dump_chunk(FILE *f, const CantusChunk *ch, size_t R)
{
  for (size_t r = 0; r < R; r++) {
    const int32_t v[5] = { ch->tok[r], ch->tgt[r], ch->style[r], ch->pos_tick[r], ch->pos_beat[r] };
    fwrite(v, sizeof v, 1, f);
  }
}

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
} Trainer;

static const char CKPT_MAGIC[8] = { 'C', 'A', 'N', 'T', 'C', 'K', 'P', '1' };

typedef struct {
  char magic[8];
  uint32_t n_params, state_floats;
  CantusDims dims;
  int32_t batch, bptt;
  uint64_t seed;
  uint32_t n_pieces, pad;
  uint64_t corpus_tokens;
} CkptHeader;

static uint64_t corpus_tokens(const CantusCorpus *c)
{
  uint64_t n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    n += c->pieces[i].n_tok;
  }
  return n;
}

static CantusStatus write_all(FILE *f, const void *p, size_t n, const char *path, CantusError *err)
{
  if (fwrite(p, 1, n, f) != n) {
    return cantus_error(err, CANTUS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  }
  return CANTUS_OK;
}

// The checkpoint: header, the original command line, loop state, params,
// Adam moments, best weights, carried hidden state.  Written to path.tmp and
// renamed, so a crash never leaves half a checkpoint.
static CantusStatus save_checkpoint(const Trainer *tr, const char *path, CantusError *err)
{
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    return cantus_error(
      err, CANTUS_ERR_IO, "%s: cannot write checkpoint: %s", tmp, strerror(errno));
  }
  CkptHeader h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, CKPT_MAGIC, 8);
  h.n_params = (uint32_t)tr->n_params;
  h.state_floats = (uint32_t)cantus_lstm_train_state_floats(tr->net);
  h.dims = tr->d;
  h.batch = tr->cfg->batch;
  h.bptt = tr->cfg->bptt;
  h.seed = tr->cfg->seed;
  h.n_pieces = (uint32_t)tr->corpus.n_pieces;
  h.corpus_tokens = corpus_tokens(&tr->corpus);
  const char *cmd = tr->cfg->argv_packed ? tr->cfg->argv_packed : "";
  uint32_t cmd_len = (uint32_t)strlen(cmd);
  CantusStatus s = write_all(f, &h, sizeof h, tmp, err);
  if (!s)
    s = write_all(f, &cmd_len, 4, tmp, err);
  if (!s)
    s = write_all(f, cmd, cmd_len, tmp, err);
  if (!s)
    s = write_all(f, &tr->ls, sizeof tr->ls, tmp, err);
  size_t pb = tr->n_params * sizeof(float);
  if (!s)
    s = write_all(f, tr->params, pb, tmp, err);
  if (!s)
    s = write_all(f, tr->m, pb, tmp, err);
  if (!s)
    s = write_all(f, tr->v, pb, tmp, err);
  if (!s)
    s = write_all(f, tr->best, pb, tmp, err);
  if (!s)
    s = write_all(f, cantus_lstm_train_state(tr->net), h.state_floats * sizeof(float), tmp, err);
  if (fclose(f) != 0 && !s) {
    s = cantus_error(err, CANTUS_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
  }
  if (!s && rename(tmp, path) != 0) {
    s = cantus_error(err, CANTUS_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
  }
  if (s) {
    remove(tmp);
  }
  return s;
}

static CantusStatus load_checkpoint(Trainer *tr, const char *path, CantusError *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    return cantus_error(
      err, CANTUS_ERR_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
  }
  CkptHeader h;
  uint32_t cmd_len = 0;
  CantusStatus s = CANTUS_OK;
  if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, CKPT_MAGIC, 8) != 0) {
    s = cantus_error(err, CANTUS_ERR_BAD_MAGIC, "%s: not a cantus-train checkpoint", path);
  } else if (h.n_params != tr->n_params || memcmp(&h.dims, &tr->d, sizeof h.dims) != 0 ||
             h.batch != tr->cfg->batch || h.bptt != tr->cfg->bptt || h.seed != tr->cfg->seed ||
             h.state_floats != cantus_lstm_train_state_floats(tr->net)) {
    s = cantus_error(err,
                     CANTUS_ERR_FORMAT,
                     "%s: checkpoint was made with other sizes, batch, BPTT or seed than this run",
                     path);
  } else if (h.n_pieces != (uint32_t)tr->corpus.n_pieces ||
             h.corpus_tokens != corpus_tokens(&tr->corpus)) {
    s = cantus_error(
      err,
      CANTUS_ERR_FORMAT,
      "%s: checkpoint was made on another corpus (%u pieces, %llu tokens; now %d, %llu)",
      path,
      h.n_pieces,
      (unsigned long long)h.corpus_tokens,
      tr->corpus.n_pieces,
      (unsigned long long)corpus_tokens(&tr->corpus));
  } else if (fread(&cmd_len, 4, 1, f) != 1 || fseek(f, cmd_len, SEEK_CUR) != 0) {
    s = cantus_error(err, CANTUS_ERR_TRUNCATED, "%s: truncated checkpoint", path);
  } else {
    size_t pb = tr->n_params * sizeof(float);
    bool ok = fread(&tr->ls, sizeof tr->ls, 1, f) == 1 && fread(tr->params, pb, 1, f) == 1 &&
              fread(tr->m, pb, 1, f) == 1 && fread(tr->v, pb, 1, f) == 1 &&
              fread(tr->best, pb, 1, f) == 1 &&
              fread(cantus_lstm_train_state(tr->net), h.state_floats * sizeof(float), 1, f) == 1;
    char extra;
    if (!ok || fread(&extra, 1, 1, f) != 0) {
      s = cantus_error(err, CANTUS_ERR_TRUNCATED, "%s: truncated or damaged checkpoint", path);
    } else if (tr->ls.n_log < 0 || tr->ls.n_log > MAX_EPOCH_LOG || tr->ls.epoch < 0 ||
               tr->ls.chunk < 0) {
      s = cantus_error(err, CANTUS_ERR_FORMAT, "%s: damaged checkpoint state", path);
    }
  }
  fclose(f);
  return s;
}

// The command line stored in a checkpoint (for `--resume` without the
// original arguments).  Returns a malloc'd string or NULL.
char *cantus_train_checkpoint_command(const char *path, CantusError *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    cantus_error(err, CANTUS_ERR_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    return NULL;
  }
  CkptHeader h;
  uint32_t n = 0;
  char *cmd = NULL;
  if (fread(&h, sizeof h, 1, f) == 1 && memcmp(h.magic, CKPT_MAGIC, 8) == 0 &&
      fread(&n, 4, 1, f) == 1 && n < (1u << 20) && (cmd = malloc(n + 1)) != NULL) {
    if (fread(cmd, 1, n, f) != n) {
      free(cmd);
      cmd = NULL;
    } else {
      cmd[n] = 0;
    }
  }
  fclose(f);
  if (!cmd) {
    cantus_error(err, CANTUS_ERR_FORMAT, "%s: not a cantus-train checkpoint", path);
  }
  return cmd;
}

// ---- outputs ---------------------------------------------------------------------------

static void write_csv(const Trainer *tr)
{
  char path[4200];
  snprintf(path, sizeof path, "%s.csv", tr->log_prefix);
  FILE *f = fopen(path, "w");
  if (!f) {
    if (tr->cfg->log) {
      fprintf(tr->cfg->log, "warning: cannot write %s: %s\n", path, strerror(errno));
    }
    return;
  }
  fprintf(f, "epoch,steps,tokens,seconds,lr,train_loss,valid_loss,tokens_per_s");
  for (uint32_t s = 0; s < tr->d.n_styles; s++) {
    fprintf(f, ",valid_%s", tr->style_names[s]);
  }
  fprintf(f, "\n");
  for (int e = 0; e < tr->ls.n_log; e++) {
    const EpochLog *l = &tr->ls.log[e];
    fprintf(f,
            "%d,%ld,%llu,%.1f,%.6g,%.5f,%.5f,%.0f",
            e + 1,
            l->steps,
            (unsigned long long)l->tokens,
            l->seconds,
            l->lr,
            l->train_loss,
            l->valid_loss,
            l->tok_s);
    for (uint32_t s = 0; s < tr->d.n_styles; s++) {
      fprintf(f, ",%.5f", (double)l->style_valid[s]);
    }
    fprintf(f, "\n");
  }
  fclose(f);
}

static void write_svg(const Trainer *tr)
{
  char path[4200];
  snprintf(path, sizeof path, "%s.svg", tr->log_prefix);
  FILE *f = fopen(path, "w");
  if (!f) {
    return;
  }
  const int W = 640, Hh = 400, x0 = 60, y0 = 20, pw = 550, ph = 320;
  int n = tr->ls.n_log;
  double lo = INFINITY, hi = -INFINITY;
  for (int e = 0; e < n; e++) {
    const double vals[2] = { tr->ls.log[e].train_loss, tr->ls.log[e].valid_loss };
    for (int j = 0; j < 2; j++) {
      if (isfinite(vals[j])) {
        lo = vals[j] < lo ? vals[j] : lo;
        hi = vals[j] > hi ? vals[j] : hi;
      }
    }
  }
  if (!(hi > lo)) {
    lo = isfinite(lo) ? lo - 0.5 : 0.0;
    hi = lo + 1.0;
  }
  double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
          "<text x=\"%d\" y=\"14\">%s: loss (nats/token) per epoch</text>\n"
          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
          W,
          Hh,
          x0,
          tr->cfg->model_name,
          x0,
          y0,
          pw,
          ph);
  for (int i = 0; i <= 4; i++) {
    double v = lo + (hi - lo) * i / 4.0;
    double y = y0 + ph - (v - lo) / (hi - lo) * ph;
    fprintf(f,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n",
            x0,
            y,
            x0 + pw,
            y,
            x0 - 4,
            y + 4,
            v);
  }
  int xt = n > 1 ? n : 1;
  for (int e = 0; e < n; e += (n > 10 ? n / 10 : 1)) {
    double x = x0 + (n > 1 ? (double)e / (n - 1) * pw : pw / 2.0);
    fprintf(
      f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, y0 + ph + 16, e + 1);
  }
  (void)xt;
  fprintf(
    f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", x0 + pw / 2, y0 + ph + 34);
  static const char *colors[2] = { "#1f77b4", "#ff7f0e" };
  static const char *labels[2] = { "train", "validation" };
  for (int j = 0; j < 2; j++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[j]);
    for (int e = 0; e < n; e++) {
      double v = j == 0 ? tr->ls.log[e].train_loss : tr->ls.log[e].valid_loss;
      if (!isfinite(v)) {
        continue;
      }
      double x = x0 + (n > 1 ? (double)e / (n - 1) * pw : pw / 2.0);
      double y = y0 + ph - (v - lo) / (hi - lo) * ph;
      fprintf(f, "%.1f,%.1f ", x, y);
    }
    fprintf(f,
            "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n",
            x0 + pw - 90,
            y0 + 18 + 16 * j,
            colors[j],
            labels[j]);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
}

// The style named (case-insensitive) by --default-style, or -1.
static int default_style_index(const Trainer *tr, const char *name)
{
  for (uint32_t i = 0; i < tr->d.n_styles; i++) {
    if (!strcasecmp(tr->style_names[i], name)) {
      return (int)i;
    }
  }
  return -1;
}

static CantusStatus write_model(const Trainer *tr, CantusError *err)
{
  const CantusTrainConfig *cfg = tr->cfg;
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  CantusStatus s = cantus_model_create(&tr->d, &mo, &m, err);
  if (s) {
    return s;
  }
  memcpy(m->p.tok_emb, tr->best, tr->n_params * sizeof(float));
  snprintf(m->name, sizeof m->name, "%s", cfg->model_name);
  for (uint32_t i = 0; i < tr->d.n_styles; i++) {
    cantus_model_set_style_name(m, (int)i, tr->style_names[i]);
  }
  size_t cap = CANTUS_META_MAX;
  char *meta = malloc(cap);
  if (!meta) {
    cantus_model_free(m);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  size_t at = 0;
#define META(...)                                          \
  do {                                                     \
    if (at < cap) {                                        \
      int w_ = snprintf(meta + at, cap - at, __VA_ARGS__); \
      at += w_ > 0 ? (size_t)w_ : 0;                       \
    }                                                      \
  } while (0)
  time_t now = time(NULL);
  struct tm tmv;
  gmtime_r(&now, &tmv);
  char date[64];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  META("model: %s\n", cfg->model_name);
  META("corpus:");
  for (int i = 0; i < cfg->n_corpus_dirs; i++) {
    META(" %s", cfg->corpus_dirs[i]);
  }
  META("\n");
  int np[3] = { 0 };
  for (int i = 0; i < tr->corpus.n_pieces; i++) {
    np[tr->corpus.pieces[i].split]++;
  }
  META("corpus_pieces: train %d, valid %d, test %d\n", np[0], np[1], np[2]);
  META("tracks: %s\n", cfg->corpus.tracks && *cfg->corpus.tracks ? cfg->corpus.tracks : "all");
  META("drums: %s\n", cfg->corpus.keep_drums ? "kept" : "skipped");
  META("position: input token's tick; tick-in-quarter %u classes, quarter-in-bar %u classes\n",
       tr->d.n_pos_tick,
       tr->d.n_pos_beat);
  META("command: %s\n", cfg->command_line ? cfg->command_line : "(library call)");
  char blas[128];
  cantus_train_blas_info(blas, sizeof blas);
  META("trainer: cantus-train, %s\n", blas);
  META("seed: %llu\n", (unsigned long long)cfg->seed);
  META("epochs: %d (best %d)\n", tr->ls.n_log, tr->ls.best_epoch);
  META("steps: %ld\n", tr->ls.step);
  META("tokens_trained: %llu\n", (unsigned long long)tr->ls.tokens_total);
  META("train_seconds: %.0f\n", tr->ls.seconds);
  META("valid_loss: %.4f\n", tr->ls.best_valid);
  if (tr->ls.best_epoch > 0) {
    const EpochLog *l = &tr->ls.log[tr->ls.best_epoch - 1];
    for (uint32_t s2 = 0; s2 < tr->d.n_styles; s2++) {
      if (isfinite(l->style_valid[s2])) {
        META("valid_loss.%s: %.4f\n", tr->style_names[s2], (double)l->style_valid[s2]);
      }
    }
  }
  for (int s2 = 0; s2 < tr->corpus.n_styles; s2++) {
    int idx = tr->base_meta ? tr->new_style : s2;
    META("metre.%s: %u/%u\n",
         tr->style_names[idx],
         tr->corpus.styles[s2].ts_num,
         tr->corpus.styles[s2].ts_den);
  }
  META("date: %s\n", date);
  if (cfg->default_style) {
    // The style players hear first (cantus_model_default_style()).
    META("default_style: %s\n", tr->style_names[default_style_index(tr, cfg->default_style)]);
  }
  if (tr->base_meta) {
    META("base_model: %s\n", cfg->base_path);
    META("added_style: %s (%s)\n",
         tr->style_names[tr->new_style],
         cfg->add_style_output ? "style vector and output layer" : "style vector only");
    // Keep the base model's history (its own metre lines etc.), prefixed.
    const char *q = tr->base_meta;
    while (*q && at + 8 < cap) {
      const char *e = strchr(q, '\n');
      size_t len = e ? (size_t)(e - q) : strlen(q);
      if (strncmp(q, "metre.", 6) == 0 ||
          (strncmp(q, "default_style:", 14) == 0 && !cfg->default_style)) {
        META("%.*s\n", (int)len, q);
      } else if (len > 0) {
        META("base.%.*s\n", (int)len, q);
      }
      q += len + (e ? 1 : 0);
    }
  }
#undef META
  meta[cap - 1] = 0;
  s = cantus_model_set_meta(m, meta, err);
  free(meta);
  if (!s) {
    cantus_model_finish(m);
    s = cantus_model_save(m, cfg->out_path, err);
  }
  cantus_model_free(m);
  return s;
}

// ---- the loop ------------------------------------------------------------------------

static float lr_at(const Trainer *tr)
{
  const CantusTrainConfig *cfg = tr->cfg;
  double lr = cfg->lr;
  if (cfg->schedule == 0 && tr->planned_steps > 0) {
    double prog = (double)tr->ls.step / (double)tr->planned_steps;
    prog = prog > 1.0 ? 1.0 : prog;
    double lo = cfg->lr * cfg->lr_min_frac;
    lr = lo + ((double)cfg->lr - lo) * 0.5 * (1.0 + cos(M_PI * prog));
  } else if (cfg->schedule == 1) {
    lr = tr->ls.lr_plateau;
  }
  if (cfg->warmup_steps > 0 && tr->ls.step < cfg->warmup_steps) {
    lr *= (double)(tr->ls.step + 1) / (double)cfg->warmup_steps;
  }
  return (float)lr;
}

static void fmt_time(char *b, size_t n, double s)
{
  if (!isfinite(s) || s < 0) {
    snprintf(b, n, "--:--");
  } else if (s >= 3600) {
    snprintf(b, n, "%d:%02d:%02d", (int)(s / 3600), (int)(s / 60) % 60, (int)s % 60);
  } else {
    snprintf(b, n, "%d:%02d", (int)(s / 60), (int)s % 60);
  }
}

static void trainer_free(Trainer *tr)
{
  free(tr->params);
  free(tr->grads);
  free(tr->m);
  free(tr->v);
  free(tr->best);
  free(tr->base_meta);
  cantus_lstm_train_free(tr->net);
  cantus_corpus_free(&tr->corpus);
}

// Validation of the current parameters: mean over the split and per style.
static double validate(Trainer *tr, int split, float *style_out, CantusError *err, bool *ok)
{
  double nll[CANTUS_MAX_STYLES];
  uint64_t cnt[CANTUS_MAX_STYLES];
  *ok =
    cantus_train_evaluate(
      &tr->d, tr->params, &tr->corpus, split, tr->cfg->batch, tr->cfg->bptt, nll, cnt, NULL, err) ==
    CANTUS_OK;
  double sum = 0.0;
  uint64_t n = 0;
  for (uint32_t s = 0; s < tr->d.n_styles; s++) {
    style_out[s] = cnt[s] ? (float)(nll[s] / (double)cnt[s]) : NAN;
    sum += nll[s];
    n += cnt[s];
  }
  return n ? sum / (double)n : (double)NAN;
}

static CantusStatus setup(Trainer *tr, const CantusTrainConfig *cfg, CantusError *err)
{
  FILE *log = cfg->log;
  CantusCorpusOptions co = cfg->corpus;
  CantusModel *base = NULL;
  if (cfg->base_path) {
    if (!cfg->add_style || !*cfg->add_style) {
      return cantus_error(err, CANTUS_ERR_ARGUMENT, "--base needs --add-style NAME DIR");
    }
    CantusModelOptions mo = cantus_model_options_default();
    CantusStatus s = cantus_model_load(cfg->base_path, &mo, &base, err);
    if (s) {
      return s;
    }
    if (base->dims.n_styles >= CANTUS_MAX_STYLES) {
      cantus_model_free(base);
      return cantus_error(
        err, CANTUS_ERR_TOO_LARGE, "%s: already has %d styles", cfg->base_path, CANTUS_MAX_STYLES);
    }
    if (cantus_model_find_style(base, cfg->add_style) >= 0) {
      cantus_model_free(base);
      return cantus_error(err,
                          CANTUS_ERR_ARGUMENT,
                          "%s: already has a style named '%s'",
                          cfg->base_path,
                          cfg->add_style);
    }
    co.vocab = base->dims.vocab;
    co.n_pos_beat = (int)base->dims.n_pos_beat;
    co.styles = NULL;
  }
  CantusStatus s =
    cantus_corpus_load(&tr->corpus, cfg->corpus_dirs, cfg->n_corpus_dirs, &co, log, err);
  if (s) {
    cantus_model_free(base);
    return s;
  }
  if (base) {
    // Every piece of the folder belongs to the one new style.
    CantusStyleStats merged;
    memset(&merged, 0, sizeof merged);
    snprintf(merged.name, sizeof merged.name, "%s", cfg->add_style);
    for (int i = 0; i < tr->corpus.n_styles; i++) {
      const CantusStyleStats *st = &tr->corpus.styles[i];
      for (int j = 0; j < 3; j++) {
        merged.n_pieces[j] += st->n_pieces[j];
        merged.n_tokens[j] += st->n_tokens[j];
      }
      for (int j = 0; j < 8; j++) {
        merged.ts_count[j] += st->ts_count[j];
      }
      merged.n_unreadable += st->n_unreadable;
      merged.n_empty += st->n_empty;
      merged.n_too_long += st->n_too_long;
      if (i == 0 || st->n_pieces[0] > tr->corpus.styles[0].n_pieces[0]) {
        merged.ts_num = st->ts_num;
        merged.ts_den = st->ts_den;
      }
    }
    tr->corpus.styles[0] = merged;
    tr->corpus.n_styles = 1;
    tr->new_style = (int)base->dims.n_styles;
    for (int i = 0; i < tr->corpus.n_pieces; i++) {
      tr->corpus.pieces[i].style = tr->new_style;
    }
    tr->d = base->dims;
    tr->d.n_styles = base->dims.n_styles + 1;
    for (uint32_t i = 0; i < base->dims.n_styles; i++) {
      snprintf(tr->style_names[i], CANTUS_STYLE_NAME_LEN, "%s", base->style_names[i]);
    }
    snprintf(tr->style_names[tr->new_style], CANTUS_STYLE_NAME_LEN, "%s", cfg->add_style);
    tr->what = CANTUS_GRAD_STYLE | (cfg->add_style_output ? CANTUS_GRAD_OUT : 0);
    tr->base_meta = strdup(base->meta ? base->meta : "");
  } else {
    tr->d = cfg->dims;
    tr->d.vocab = co.vocab;
    tr->d.n_pos_tick = co.vocab.tpq;
    tr->d.n_pos_beat = (uint32_t)co.n_pos_beat;
    tr->d.n_styles = (uint32_t)tr->corpus.n_styles;
    for (int i = 0; i < tr->corpus.n_styles; i++) {
      snprintf(tr->style_names[i], CANTUS_STYLE_NAME_LEN, "%s", tr->corpus.styles[i].name);
    }
    tr->what = CANTUS_GRAD_ALL;
  }
  if (log) {
    cantus_corpus_print(&tr->corpus, log);
  }
  s = cantus_model_check_dims(&tr->d, err);
  if (!s && cfg->default_style && default_style_index(tr, cfg->default_style) < 0) {
    char names[CANTUS_MAX_STYLES * (CANTUS_STYLE_NAME_LEN + 2)] = "";
    for (uint32_t i = 0; i < tr->d.n_styles; i++) {
      strcat(names, i ? ", " : "");
      strcat(names, tr->style_names[i]);
    }
    s = cantus_error(err,
                     CANTUS_ERR_ARGUMENT,
                     "--default-style '%s' is not one of the styles (%s)",
                     cfg->default_style,
                     names);
  }
  if (s) {
    cantus_model_free(base);
    return s;
  }
  tr->n_params = cantus_model_param_count(&tr->d);
  size_t pb = tr->n_params * sizeof(float);
  tr->params = calloc(1, pb);
  tr->grads = calloc(1, pb);
  tr->m = calloc(1, pb);
  tr->v = calloc(1, pb);
  tr->best = calloc(1, pb);
  if (!tr->params || !tr->grads || !tr->m || !tr->v || !tr->best) {
    cantus_model_free(base);
    return cantus_error(
      err, CANTUS_ERR_NO_MEMORY, "out of memory for %zu parameters", tr->n_params);
  }
  cantus_model_layout(&tr->d, tr->params, &tr->p);
  cantus_model_layout(&tr->d, tr->grads, &tr->g);
  if (base) {
    // Copy tensor by tensor (the style table grows by one row); the new style
    // vector starts at the mean of the others.
    CantusParams bp = base->p;
    const size_t V = (size_t)cantus_vocab_size(&tr->d.vocab), H = tr->d.n_hidden, G = 4 * H;
    const size_t S = tr->d.n_style_dim, NS = base->dims.n_styles;
    memcpy(tr->p.tok_emb, bp.tok_emb, V * tr->d.n_embed * sizeof(float));
    memcpy(tr->p.style_emb, bp.style_emb, NS * S * sizeof(float));
    for (size_t j = 0; j < S; j++) {
      double sum = 0.0;
      for (size_t i = 0; i < NS; i++) {
        sum += (double)bp.style_emb[i * S + j];
      }
      tr->p.style_emb[NS * S + j] = (float)(sum / (double)NS);
    }
    for (uint32_t k = 0; k < tr->d.n_layers; k++) {
      memcpy(
        tr->p.layer[k].w_ih, bp.layer[k].w_ih, G * cantus_dims_input(&tr->d, k) * sizeof(float));
      memcpy(tr->p.layer[k].w_hh, bp.layer[k].w_hh, G * H * sizeof(float));
      memcpy(tr->p.layer[k].b, bp.layer[k].b, G * sizeof(float));
    }
    memcpy(tr->p.w_out, bp.w_out, V * H * sizeof(float));
    memcpy(tr->p.b_out, bp.b_out, V * sizeof(float));
    cantus_model_free(base);
  } else {
    cantus_train_init_params(&tr->d, cfg->seed, tr->params);
  }
  memcpy(tr->best, tr->params, pb);
  tr->n_spans = cantus_adamw_spans(&tr->d, tr->what, tr->spans);
  s = cantus_lstm_train_new(&tr->d, cfg->batch, cfg->bptt, &tr->net, err);
  if (s) {
    return s;
  }
  tr->ls.best_valid = INFINITY;
  tr->ls.lr_plateau = cfg->lr;
  return CANTUS_OK;
}

CantusStatus cantus_train_run(const CantusTrainConfig *cfg,
                              CantusTrainResult *res,
                              CantusError *err)
{
  memset(res, 0, sizeof *res);
  FILE *log = cfg->log;
  if (cfg->dump_path && (cfg->dropout > 0 || cfg->resume_path || cfg->base_path)) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "--dump-chunks needs --dropout 0 and a fresh run (no --resume, no --base)");
  }
  if (cfg->batch < 1 || cfg->bptt < 2 || cfg->epochs < 1 || !(cfg->lr > 0) || cfg->dropout < 0 ||
      cfg->dropout >= 1 || cfg->transpose_lo > cfg->transpose_hi || !cfg->out_path) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "invalid options (need batch >= 1, bptt >= 2, epochs >= 1, lr > 0, "
                        "0 <= dropout < 1, an output path)");
  }
  if (cfg->threads > 0) {
    openblas_set_num_threads(cfg->threads);
  } else if (!getenv("OPENBLAS_NUM_THREADS")) {
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    openblas_set_num_threads(nc > 0 ? (int)nc : 1);
  }
  Trainer *tr = calloc(1, sizeof *tr);
  if (!tr) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  tr->cfg = cfg;
  if (cfg->log_prefix) {
    snprintf(tr->log_prefix, sizeof tr->log_prefix, "%s", cfg->log_prefix);
  } else {
    const char *o = cfg->out_path;
    size_t l = strlen(o);
    if (l > 7 && strcmp(o + l - 7, ".cantus") == 0) {
      l -= 7;
    }
    snprintf(tr->log_prefix, sizeof tr->log_prefix, "%.*s", (int)l, o);
  }
  CantusStatus s = setup(tr, cfg, err);
  if (s) {
    trainer_free(tr);
    free(tr);
    return s;
  }
  char ckpt[4200];
  snprintf(ckpt, sizeof ckpt, "%s.ckpt", tr->log_prefix);
  if (cfg->resume_path) {
    s = load_checkpoint(tr, cfg->resume_path, err);
    if (s) {
      trainer_free(tr);
      free(tr);
      return s;
    }
    if (log) {
      fprintf(log,
              "resuming from %s: epoch %d, chunk %d, step %ld\n",
              cfg->resume_path,
              tr->ls.epoch + 1,
              tr->ls.chunk,
              tr->ls.step);
    }
  }
  bool have_valid = false;
  for (int i = 0; i < tr->corpus.n_pieces; i++) {
    have_valid |= tr->corpus.pieces[i].split == CANTUS_SPLIT_VALID;
  }
  const int val_split = have_valid ? CANTUS_SPLIT_VALID : CANTUS_SPLIT_TRAIN;
  if (!have_valid && log) {
    fprintf(log, "warning: no validation pieces; early stopping uses the training split\n");
  }
  char blas[128];
  cantus_train_blas_info(blas, sizeof blas);
  if (log) {
    fprintf(log,
            "model: %u layers x %u hidden, embed %u, style %u x %u, vocab %d, %zu parameters "
            "(%.1f MB)\n%s; lstm kernels: %s\n",
            tr->d.n_layers,
            tr->d.n_hidden,
            tr->d.n_embed,
            tr->d.n_styles,
            tr->d.n_style_dim,
            cantus_vocab_size(&tr->d.vocab),
            tr->n_params,
            (double)tr->n_params * 4.0 / 1e6,
            blas,
            cantus_lstm_isa_name(cantus_lstm_isa()));
  }

  const int B = cfg->batch, T = cfg->bptt;
  double *nll_row = malloc((size_t)B * (size_t)T * sizeof *nll_row);
  if (!nll_row) {
    trainer_free(tr);
    free(tr);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  // Planned length for the cosine schedule: epochs x chunks of epoch 1.
  {
    int n0 = 0;
    Item *o0 = epoch_order(&tr->corpus, cfg, 0, &n0);
    Plan p0;
    if (o0 && plan_build(&p0, &tr->corpus, o0, n0, B, T)) {
      tr->planned_steps = p0.n_chunks * cfg->epochs;
      plan_free(&p0);
    }
    free(o0);
  }
  // --dump-chunks: everything a PyTorch replay needs (tests/ref/replay_train.py).
  FILE *dump = NULL;
  if (cfg->dump_path) {
    dump = fopen(cfg->dump_path, "wb");
    if (!dump) {
      free(nll_row);
      trainer_free(tr);
      free(tr);
      return cantus_error(
        err, CANTUS_ERR_IO, "%s: cannot write: %s", cfg->dump_path, strerror(errno));
    }
    const CantusDims *d = &tr->d;
    const int32_t hdr[16] = { 0x48435443,
                              1,
                              (int32_t)d->n_layers,
                              (int32_t)d->n_hidden,
                              (int32_t)d->n_embed,
                              (int32_t)d->n_style_dim,
                              (int32_t)d->n_styles,
                              d->vocab.pitch_lo,
                              d->vocab.pitch_hi,
                              d->vocab.n_shift,
                              d->vocab.tpq,
                              (int32_t)d->n_pos_beat,
                              B,
                              T,
                              (int32_t)tr->n_params,
                              0 };
    const float hyper[4] = { cfg->clip, cfg->weight_decay, 0.9f, 0.999f };
    fwrite(hdr, sizeof hdr, 1, dump);
    fwrite(hyper, sizeof hyper, 1, dump);
    fwrite(tr->params, sizeof(float), tr->n_params, dump);
  }
  const bool tty = cfg->progress_tty;
  const double t_start = now_s();
  double last_print = t_start;
  uint64_t tokens_at_print = tr->ls.tokens_total;
  double last_rate = 0.0;
  bool stop = false, time_up = false;
  CantusChunk *ch = cantus_lstm_train_chunk(tr->net);
  long steps_this_run = 0;

  while (!stop && tr->ls.epoch < cfg->epochs) {
    int n_order = 0;
    Item *order = epoch_order(&tr->corpus, cfg, tr->ls.epoch, &n_order);
    Plan pl;
    if (!order || !plan_build(&pl, &tr->corpus, order, n_order, B, T)) {
      free(order);
      s = cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
      break;
    }
    free(order);
    if (tr->ls.chunk == 0) {
      cantus_lstm_train_reset(tr->net);
      tr->ls.ep_loss_sum = 0.0;
      tr->ls.ep_scored = 0;
    }
    plan_seek(&pl, &tr->corpus, tr->ls.chunk, T);
    double ep_start = now_s();
    uint64_t ep_tokens0 = tr->ls.tokens_total;
    while (tr->ls.chunk < pl.n_chunks) {
      plan_fill(&pl, &tr->corpus, ch, T);
      if (dump) {
        dump_chunk(dump, ch, (size_t)B * (size_t)T);
      }
      memset(tr->grads, 0, tr->n_params * sizeof(float));
      int scored = 0;
      double sum = cantus_lstm_train_forward(
        tr->net,
        &tr->p,
        cfg->dropout,
        cantus_splitmix64_mix(cfg->seed ^ (uint64_t)tr->ls.step * 0x9e37ull),
        NULL,
        &scored);
      cantus_lstm_train_backward(tr->net, &tr->p, &tr->g, tr->what);
      double norm = cantus_adamw_grad_norm(tr->grads, tr->spans, tr->n_spans);
      float scale =
        (cfg->clip > 0 && norm > (double)cfg->clip) ? (float)((double)cfg->clip / norm) : 1.0f;
      if (!isfinite(norm)) {
        scale = 0.0f; // a non-finite gradient skips the update
      }
      float lr = lr_at(tr);
      CantusAdamW opt = { .lr = cfg->lr,
                          .beta1 = 0.9f,
                          .beta2 = 0.999f,
                          .eps = 1e-8f,
                          .weight_decay = cfg->weight_decay };
      if (dump) {
        const double rec[2] = { scored ? sum / scored : 0.0, (double)lr };
        fwrite(rec, sizeof rec, 1, dump);
      }
      tr->ls.step++;
      cantus_adamw_step(
        &opt, lr, tr->ls.step, scale, tr->params, tr->grads, tr->m, tr->v, tr->spans, tr->n_spans);
      tr->ls.chunk++;
      tr->ls.ep_loss_sum += sum;
      tr->ls.ep_scored += (uint64_t)scored;
      tr->ls.tokens_total += (uint64_t)scored;
      steps_this_run++;
      double t = now_s();
      double elapsed = tr->ls.seconds + (t - t_start);
      if (cfg->max_minutes > 0 && elapsed >= cfg->max_minutes * 60.0) {
        time_up = stop = true;
      }
      if (cantus_train_interrupt || (cfg->max_steps > 0 && steps_this_run >= cfg->max_steps)) {
        stop = true;
      }
      if (log && (t - last_print >= (tty ? 0.5 : 60.0) || stop)) {
        last_rate = (double)(tr->ls.tokens_total - tokens_at_print) / (t - last_print + 1e-9);
        tokens_at_print = tr->ls.tokens_total;
        last_print = t;
        double ep_frac = (double)tr->ls.chunk / pl.n_chunks;
        double rate_steps = (double)steps_this_run / (t - t_start + 1e-9);
        double left = ((double)(cfg->epochs - tr->ls.epoch) - ep_frac) * pl.n_chunks / rate_steps;
        if (cfg->max_minutes > 0 && cfg->max_minutes * 60.0 - elapsed < left) {
          left = cfg->max_minutes * 60.0 - elapsed;
        }
        char eta[32];
        fmt_time(eta, sizeof eta, left);
        char vbuf[24] = "-"; // no validation before the first epoch ends
        if (tr->ls.n_log && isfinite(tr->ls.log[tr->ls.n_log - 1].valid_loss)) {
          snprintf(vbuf, sizeof vbuf, "%.4f", tr->ls.log[tr->ls.n_log - 1].valid_loss);
        }
        double tl = tr->ls.ep_scored ? tr->ls.ep_loss_sum / (double)tr->ls.ep_scored : (double)NAN;
        if (tty) {
          char bar[21];
          int fill = (int)(ep_frac * 20);
          for (int i = 0; i < 20; i++) {
            bar[i] = i < fill ? '#' : '.';
          }
          bar[20] = 0;
          fprintf(log,
                  "\repoch %d/%d [%s] %3.0f%% train %.4f valid %s  %.0f tok/s  left %s   ",
                  tr->ls.epoch + 1,
                  cfg->epochs,
                  bar,
                  100 * ep_frac,
                  tl,
                  vbuf,
                  last_rate,
                  eta);
        } else {
          fprintf(log,
                  "epoch %d/%d %.0f%% step %ld train %.4f valid %s lr %.2g %.0f tok/s left %s\n",
                  tr->ls.epoch + 1,
                  cfg->epochs,
                  100 * ep_frac,
                  tr->ls.step,
                  tl,
                  vbuf,
                  (double)lr,
                  last_rate,
                  eta);
        }
        fflush(log);
      }
      if (stop) {
        break;
      }
    }
    bool epoch_done = tr->ls.chunk >= pl.n_chunks;
    double ep_secs = now_s() - ep_start;
    plan_free(&pl);
    if (!epoch_done && !time_up) {
      break; // interrupted or step-limited mid-epoch: checkpoint below
    }
    // End of epoch (or the time limit): validate, keep the best, log.
    bool ok = true;
    float style_v[CANTUS_MAX_STYLES];
    double vl = validate(tr, val_split, style_v, err, &ok);
    if (!ok) {
      s = CANTUS_ERR_NO_MEMORY;
      break;
    }
    if (tty && log) {
      fprintf(log, "\n");
    }
    if (tr->ls.n_log < MAX_EPOCH_LOG) {
      EpochLog *l = &tr->ls.log[tr->ls.n_log++];
      l->train_loss =
        tr->ls.ep_scored ? tr->ls.ep_loss_sum / (double)tr->ls.ep_scored : (double)NAN;
      l->valid_loss = vl;
      l->lr = lr_at(tr);
      l->tok_s = ep_secs > 0 ? (double)(tr->ls.tokens_total - ep_tokens0) / ep_secs : 0.0;
      l->seconds = tr->ls.seconds + (now_s() - t_start);
      l->steps = tr->ls.step;
      l->tokens = tr->ls.tokens_total;
      memcpy(l->style_valid, style_v, sizeof style_v);
    }
    bool improved = vl < tr->ls.best_valid - 1e-5;
    if (improved) {
      tr->ls.best_valid = vl;
      tr->ls.best_epoch = tr->ls.n_log;
      tr->ls.bad_epochs = 0;
      memcpy(tr->best, tr->params, tr->n_params * sizeof(float));
    } else {
      tr->ls.bad_epochs++;
      if (cfg->schedule == 1) {
        tr->ls.lr_plateau *= 0.5f;
      }
    }
    if (log) {
      fprintf(log,
              "epoch %d%s: train %.4f  valid %.4f%s  (%.0f tok/s, %.0f s)\n",
              tr->ls.n_log,
              epoch_done ? "" : " (partial, time limit)",
              tr->ls.log[tr->ls.n_log - 1].train_loss,
              vl,
              improved ? "  best" : "",
              tr->ls.log[tr->ls.n_log - 1].tok_s,
              ep_secs);
      fflush(log);
    }
    if (epoch_done) {
      tr->ls.epoch++;
      tr->ls.chunk = 0;
    }
    write_csv(tr);
    write_svg(tr);
    if (epoch_done && tr->ls.epoch < cfg->epochs) {
      // Every finished epoch leaves a checkpoint, so a crash loses at most one.
      const double so_far = now_s() - t_start;
      tr->ls.seconds += so_far;
      s = save_checkpoint(tr, ckpt, err);
      tr->ls.seconds -= so_far;
      if (s) {
        break;
      }
    }
    if (cfg->patience > 0 && tr->ls.bad_epochs >= cfg->patience) {
      if (log) {
        fprintf(log, "early stop: no validation improvement for %d epochs\n", tr->ls.bad_epochs);
      }
      res->stopped_early = true;
      stop = true;
    }
    if (time_up && log) {
      fprintf(log, "time limit of %.1f minutes reached\n", cfg->max_minutes);
    }
  }
  free(nll_row);
  if (dump) {
    fclose(dump);
  }
  tr->ls.seconds += now_s() - t_start;
  if (!s) {
    // The checkpoint lets a later --resume continue exactly here.
    s = save_checkpoint(tr, ckpt, err);
    if (!s && log && (cantus_train_interrupt || time_up)) {
      fprintf(log, "checkpoint: %s (continue with --resume %s)\n", ckpt, ckpt);
    }
  }
  res->interrupted = cantus_train_interrupt != 0;
  if (!s && tr->ls.best_epoch == 0 && !res->interrupted) {
    // No finished epoch (a step-limited run): the current weights stand.
    float style_v[CANTUS_MAX_STYLES];
    bool ok = true;
    double vl = validate(tr, val_split, style_v, err, &ok);
    tr->ls.best_valid = vl;
    memcpy(tr->best, tr->params, tr->n_params * sizeof(float));
    for (uint32_t i = 0; i < tr->d.n_styles; i++) {
      res->style_valid[i] = style_v[i];
    }
    s = ok ? CANTUS_OK : CANTUS_ERR_NO_MEMORY;
  } else if (tr->ls.best_epoch > 0) {
    for (uint32_t i = 0; i < tr->d.n_styles; i++) {
      res->style_valid[i] = tr->ls.log[tr->ls.best_epoch - 1].style_valid[i];
    }
  }
  if (!s && (!res->interrupted || tr->ls.best_epoch > 0)) {
    s = write_model(tr, err);
    if (!s && log) {
      fprintf(
        log,
        "wrote %s (best validation loss %.4f nats/token, epoch %d); log %s.csv, plot %s.svg\n",
        cfg->out_path,
        tr->ls.best_valid,
        tr->ls.best_epoch,
        tr->log_prefix,
        tr->log_prefix);
    }
  }
  res->epochs_done = tr->ls.n_log;
  res->steps = tr->ls.step;
  res->best_valid = tr->ls.best_valid;
  res->n_styles = (int)tr->d.n_styles;
  res->train_loss = tr->ls.n_log ? tr->ls.log[tr->ls.n_log - 1].train_loss : (double)NAN;
  res->seconds = tr->ls.seconds;
  res->tokens_per_s = tr->ls.seconds > 0 ? (double)tr->ls.tokens_total / tr->ls.seconds : 0;
  trainer_free(tr);
  free(tr);
  return s;
}
