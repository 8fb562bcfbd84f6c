// SPDX-License-Identifier: GPL-3.0-or-later
// The training loop of cantus-train: epochs of shuffled, transposed pieces
// laid end to end into B streams (batch.c), cut into BPTT chunks with the
// hidden state carried from chunk to chunk (a START resets a row), AdamW
// with global-norm clipping, warm-up and a cosine or plateau schedule,
// dropout, validation per epoch with early stopping on the best weights,
// checkpoints (checkpoint.c: on Ctrl-C, at every epoch end and at the time
// limit) that resume bit-exactly, and the outputs (report.c: progress, the
// model file with its metadata, a CSV log and an SVG plot of the loss
// curves).  Also the add-style mode (--base/--add-style), which trains only
// a new style vector (and optionally the output layer) of an existing model.
// Determinism: every random choice comes from splitmix64 streams keyed by
// (seed, epoch) or (seed, step); with the same OpenBLAS thread count a run
// is bit-identical.  Non-RT.
#include "train_impl.h"

#include "args.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
  c.end_dropout = 0.3f;
  c.chords = CANTUS_TRAIN_CHORDS_AUTO;
  c.chord_dropout = 0.3f;
  c.threads = 0;
  c.seed = 1;
  c.model_name = "cantus";
  c.log = stderr;
  return c;
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
  for (size_t i = 0; i < (size_t)cantus_dims_lb_rows(d) * d->n_embed; i++) {
    p.lb_emb[i] = rng_uniform(&s, 1.0f); // version 2 lookback embedding
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
        ch->tok[r] = 1 + (int)train_rng_below(&s, (uint32_t)(V - 1));
        ch->tgt[r] = 1 + (int)train_rng_below(&s, (uint32_t)(V - 1));
        ch->style[r] = (int16_t)train_rng_below(&s, d->n_styles);
        ch->pos_tick[r] = (uint8_t)train_rng_below(&s, d->n_pos_tick);
        ch->pos_beat[r] = (uint8_t)train_rng_below(&s, d->n_pos_beat);
        if (cantus_dims_is_v2(d)) {
          for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
            ch->look[r * CANTUS_LOOKBACK_N_LAGS + (size_t)i] =
              (uint16_t)train_rng_below(&s, (uint32_t)V + 1u);
          }
          ch->phrase[r] = (uint8_t)train_rng_below(&s, CANTUS_PHRASE_BARS);
          ch->bars_left[r] = (uint8_t)train_rng_below(&s, CANTUS_BARS_LEFT_CLASSES);
          ch->chord[r] = d->n_chord ? (uint16_t)train_rng_below(&s, 4096) : 0;
        }
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
  Item *order = train_split_order(c, split, &n);
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
  if (st != CANTUS_OK || !nll || !train_plan_build(&pl, c, order, n, B, bptt)) {
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
    train_plan_fill(&pl, c, ch, bptt, 0.0f);
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
  train_plan_free(&pl);
  free(order);
  free(nll);
  cantus_lstm_train_free(net);
  return CANTUS_OK;
}

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

// ---- set-up --------------------------------------------------------------------------

// --base/--add-style: loads the base model, whose vocabulary and metric
// sizes the corpus is then read with.  *base stays NULL without --base.
static CantusStatus load_base(const CantusTrainConfig *cfg,
                              CantusCorpusOptions *co,
                              CantusModel **base,
                              CantusError *err)
{
  *base = NULL;
  if (!cfg->base_path) {
    return CANTUS_OK;
  }
  if (!cfg->add_style || !*cfg->add_style) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "--base needs --add-style NAME DIR");
  }
  CantusModel *b = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  CantusStatus s = cantus_model_load(cfg->base_path, &mo, &b, err);
  if (s) {
    return s;
  }
  if (b->dims.n_styles >= CANTUS_MAX_STYLES) {
    cantus_model_free(b);
    return cantus_error(
      err, CANTUS_ERR_TOO_LARGE, "%s: already has %d styles", cfg->base_path, CANTUS_MAX_STYLES);
  }
  if (cantus_model_find_style(b, cfg->add_style) >= 0) {
    cantus_model_free(b);
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "%s: already has a style named '%s'",
                        cfg->base_path,
                        cfg->add_style);
  }
  co->vocab = b->dims.vocab;
  co->n_pos_beat = (int)b->dims.n_pos_beat;
  co->styles = NULL;
  if (cantus_dims_is_v2(&b->dims)) {
    // The base model's parts, in its order (a version 1 base stays version 1).
    static char parts[CANTUS_MAX_PARTS * (CANTUS_STYLE_NAME_LEN + 1)];
    parts[0] = '\0';
    for (int k = 0; k < b->dims.vocab.n_parts; k++) {
      strcat(parts, k ? "," : "");
      strcat(parts, b->part_names[k]);
    }
    co->parts = parts;
  }
  *base = b;
  return CANTUS_OK;
}

// Add-style: every piece of the folder belongs to the one new style, which
// follows the base model's styles; only the style vector (and optionally
// the output layer) trains.
static void adopt_base(Trainer *tr, const CantusModel *base, const CantusTrainConfig *cfg)
{
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
      merged.meter_bars[j] += st->meter_bars[j];
    }
    merged.n_unreadable += st->n_unreadable;
    merged.n_empty += st->n_empty;
    merged.n_too_long += st->n_too_long;
    if (i == 0 || st->n_pieces[0] > tr->corpus.styles[0].n_pieces[0]) {
      merged.ts_num = st->ts_num;
      merged.ts_den = st->ts_den;
    }
  }
  // The new style's usual metre: most bars of all its folders' training pieces.
  merged.meter_num = tr->corpus.styles[0].meter_num;
  merged.meter_den = tr->corpus.styles[0].meter_den;
  double most = 0.0;
  for (int i = 0; i < tr->corpus.n_styles; i++) {
    double bars = 0.0;
    for (int j = 0; j < 8; j++) {
      bars = tr->corpus.styles[i].meter_bars[j] > bars ? tr->corpus.styles[i].meter_bars[j] : bars;
    }
    if (bars > most) {
      most = bars;
      merged.meter_num = tr->corpus.styles[i].meter_num;
      merged.meter_den = tr->corpus.styles[i].meter_den;
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
  for (int k = 0; k < base->dims.vocab.n_parts; k++) {
    snprintf(tr->corpus.part_names[k], CANTUS_STYLE_NAME_LEN, "%s", base->part_names[k]);
  }
  for (uint32_t i = 0; i < base->dims.n_styles; i++) {
    snprintf(tr->style_names[i], CANTUS_STYLE_NAME_LEN, "%s", base->style_names[i]);
  }
  snprintf(tr->style_names[tr->new_style], CANTUS_STYLE_NAME_LEN, "%s", cfg->add_style);
  tr->what = CANTUS_GRAD_STYLE | (cfg->add_style_output ? CANTUS_GRAD_OUT : 0);
  tr->base_meta = strdup(base->meta ? base->meta : "");
}

// A fresh model: the configured sizes, the corpus's vocabulary and styles.
static void fresh_dims(Trainer *tr, const CantusTrainConfig *cfg, const CantusCorpusOptions *co)
{
  tr->d = cfg->dims;
  tr->d.vocab = tr->corpus.vocab; // version 2: n_parts from the corpus's part list
  if (cantus_dims_is_v2(&tr->d)) {
    // Every form input of lookback.h (FORMAT.md version 2).
    tr->d.lookback_lags = (1u << CANTUS_LOOKBACK_N_LAGS) - 1u;
    tr->d.n_phrase = CANTUS_PHRASE_BARS;
    tr->d.n_bars_left = CANTUS_BARS_LEFT_CLASSES;
    // The chord input when the corpus has chord parts (issue 11).
    const int chorded = tr->corpus.n_chord_pieces[0] + tr->corpus.n_chord_pieces[1];
    tr->d.n_chord =
      cfg->chords == CANTUS_TRAIN_CHORDS_AUTO && chorded > 0 ? CANTUS_CHORD_INPUTS : 0;
  } else {
    tr->d.lookback_lags = tr->d.n_phrase = tr->d.n_bars_left = tr->d.n_chord = 0;
  }
  tr->d.n_pos_tick = co->vocab.tpq;
  tr->d.n_pos_beat = (uint32_t)co->n_pos_beat;
  tr->d.n_styles = (uint32_t)tr->corpus.n_styles;
  for (int i = 0; i < tr->corpus.n_styles; i++) {
    snprintf(tr->style_names[i], CANTUS_STYLE_NAME_LEN, "%s", tr->corpus.styles[i].name);
  }
  tr->what = CANTUS_GRAD_ALL;
}

// The sizes are within the format's caps and --default-style names a style.
static CantusStatus check_dims_and_styles(const Trainer *tr,
                                          const CantusTrainConfig *cfg,
                                          CantusError *err)
{
  CantusStatus s = cantus_model_check_dims(&tr->d, err);
  if (!s && cfg->default_style && train_default_style_index(tr, cfg->default_style) < 0) {
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
  return s;
}

// The flat parameter, gradient, Adam moment and best-weight buffers.
static CantusStatus alloc_params(Trainer *tr, CantusError *err)
{
  tr->n_params = cantus_model_param_count(&tr->d);
  size_t pb = tr->n_params * sizeof(float);
  tr->params = calloc(1, pb);
  tr->grads = calloc(1, pb);
  tr->m = calloc(1, pb);
  tr->v = calloc(1, pb);
  tr->best = calloc(1, pb);
  if (!tr->params || !tr->grads || !tr->m || !tr->v || !tr->best) {
    return cantus_error(
      err, CANTUS_ERR_NO_MEMORY, "out of memory for %zu parameters", tr->n_params);
  }
  cantus_model_layout(&tr->d, tr->params, &tr->p);
  cantus_model_layout(&tr->d, tr->grads, &tr->g);
  return CANTUS_OK;
}

// Copies the base model tensor by tensor (the style table grows by one
// row); the new style vector starts at the mean of the others.
static void copy_base_params(Trainer *tr, const CantusModel *base)
{
  CantusParams bp = base->p;
  const size_t V = (size_t)cantus_vocab_size(&tr->d.vocab), H = tr->d.n_hidden, G = 4 * H;
  const size_t S = tr->d.n_style_dim, NS = base->dims.n_styles;
  memcpy(tr->p.tok_emb, bp.tok_emb, V * tr->d.n_embed * sizeof(float));
  memcpy(tr->p.style_emb, bp.style_emb, NS * S * sizeof(float));
  if (tr->d.lookback_lags) {
    memcpy(tr->p.lb_emb, bp.lb_emb, cantus_dims_lb_rows(&tr->d) * tr->d.n_embed * sizeof(float));
  }
  for (size_t j = 0; j < S; j++) {
    double sum = 0.0;
    for (size_t i = 0; i < NS; i++) {
      sum += (double)bp.style_emb[i * S + j];
    }
    tr->p.style_emb[NS * S + j] = (float)(sum / (double)NS);
  }
  for (uint32_t k = 0; k < tr->d.n_layers; k++) {
    memcpy(tr->p.layer[k].w_ih, bp.layer[k].w_ih, G * cantus_dims_input(&tr->d, k) * sizeof(float));
    memcpy(tr->p.layer[k].w_hh, bp.layer[k].w_hh, G * H * sizeof(float));
    memcpy(tr->p.layer[k].b, bp.layer[k].b, G * sizeof(float));
  }
  memcpy(tr->p.w_out, bp.w_out, V * H * sizeof(float));
  memcpy(tr->p.b_out, bp.b_out, V * sizeof(float));
}

// The corpus, the sizes, the parameters (initial or from --base) and the
// training network.
static CantusStatus setup(Trainer *tr, const CantusTrainConfig *cfg, CantusError *err)
{
  FILE *log = cfg->log;
  CantusCorpusOptions co = cfg->corpus;
  CantusModel *base = NULL;
  CantusStatus s = load_base(cfg, &co, &base, err);
  if (s) {
    return s;
  }
  s = cantus_corpus_load(&tr->corpus, cfg->corpus_dirs, cfg->n_corpus_dirs, &co, log, err);
  if (s) {
    cantus_model_free(base);
    return s;
  }
  if (base) {
    adopt_base(tr, base, cfg);
  } else {
    fresh_dims(tr, cfg, &co);
  }
  if (log) {
    cantus_corpus_print(&tr->corpus, log);
  }
  s = check_dims_and_styles(tr, cfg, err);
  if (!s) {
    s = alloc_params(tr, err);
  }
  if (s) {
    cantus_model_free(base);
    return s;
  }
  if (base) {
    copy_base_params(tr, base);
    cantus_model_free(base);
  } else {
    cantus_train_init_params(&tr->d, cfg->seed, tr->params);
  }
  memcpy(tr->best, tr->params, tr->n_params * sizeof(float));
  tr->n_spans = cantus_adamw_spans(&tr->d, tr->what, tr->spans);
  s = cantus_lstm_train_new(&tr->d, cfg->batch, cfg->bptt, &tr->net, err);
  if (s) {
    return s;
  }
  tr->ls.best_valid = INFINITY;
  tr->ls.lr_plateau = cfg->lr;
  return CANTUS_OK;
}

// ---- the run -------------------------------------------------------------------------

// What one cantus_train_run() keeps besides the trainer (which a
// checkpoint holds).
typedef struct {
  int B, T;
  int val_split; // the split early stopping watches
  char ckpt[4200];
  FILE *dump; // --dump-chunks, or NULL
  CantusChunk *ch;
  TrainProgress pr;
  bool stop, time_up;
} Run;

static CantusStatus check_config(const CantusTrainConfig *cfg, CantusError *err)
{
  if (cfg->dump_path && (cfg->dropout > 0 || cfg->resume_path || cfg->base_path)) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "--dump-chunks needs --dropout 0 and a fresh run (no --resume, no --base)");
  }
  if (cfg->dump_path && cantus_vocab_is_v2(&cfg->corpus.vocab)) {
    // tests/ref/replay_train.py replays the version 1 network only.
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "--dump-chunks needs --format 1");
  }
  if (!(cfg->end_dropout >= 0.0f && cfg->end_dropout <= 1.0f)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "--end-dropout must be within 0..1");
  }
  if (!(cfg->chord_dropout >= 0.0f && cfg->chord_dropout <= 1.0f)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "--chord-dropout must be within 0..1");
  }
  if (cfg->batch < 1 || cfg->bptt < 2 || cfg->epochs < 1 || !(cfg->lr > 0) || cfg->dropout < 0 ||
      cfg->dropout >= 1 || cfg->transpose_lo > cfg->transpose_hi || !cfg->out_path) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "invalid options (need batch >= 1, bptt >= 2, epochs >= 1, lr > 0, "
                        "0 <= dropout < 1, an output path)");
  }
  return CANTUS_OK;
}

static void set_threads(const CantusTrainConfig *cfg)
{
  if (cfg->threads > 0) {
    openblas_set_num_threads(cfg->threads);
  } else if (!getenv("OPENBLAS_NUM_THREADS")) {
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    openblas_set_num_threads(nc > 0 ? (int)nc : 1);
  }
}

// The log and checkpoint prefix: --log-prefix, else the output path
// without ".cantus".
static void set_log_prefix(Trainer *tr, const CantusTrainConfig *cfg)
{
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
}

static CantusStatus resume(Trainer *tr, const CantusTrainConfig *cfg, CantusError *err)
{
  CantusStatus s = train_checkpoint_load(tr, cfg->resume_path, err);
  if (!s && cfg->log) {
    fprintf(cfg->log,
            "resuming from %s: epoch %d, chunk %d, step %ld\n",
            cfg->resume_path,
            tr->ls.epoch + 1,
            tr->ls.chunk,
            tr->ls.step);
  }
  return s;
}

// Early stopping watches the validation split when it holds at least
// CANTUS_MIN_VALID_PIECES pieces (one piece alone says more about itself
// than about the style); otherwise validation is off and the training
// split stands in, which the log says in plain words.
static int validation_split(const Trainer *tr, FILE *log)
{
  int n_valid = 0;
  for (int i = 0; i < tr->corpus.n_pieces; i++) {
    n_valid += tr->corpus.pieces[i].split == CANTUS_SPLIT_VALID;
  }
  if (n_valid >= CANTUS_MIN_VALID_PIECES) {
    return CANTUS_SPLIT_VALID;
  }
  if (log) {
    fprintf(log,
            "validation: off (%d validation piece%s; at least %d are needed).\n"
            "  The model is kept by its loss on the pieces it trains on, which rewards "
            "memorising them\n"
            "  rather than learning the style, and no figure below tells how it plays new "
            "music. Give it\n"
            "  more pieces (with %d or more and no split.tsv, %d are set aside "
            "automatically) or mark %d\n"
            "  or more 'valid' in split.tsv.\n",
            n_valid,
            n_valid == 1 ? "" : "s",
            CANTUS_MIN_VALID_PIECES,
            CANTUS_MIN_VALID_PIECES + CANTUS_MIN_TRAIN_PIECES,
            CANTUS_MIN_VALID_PIECES,
            CANTUS_MIN_VALID_PIECES);
  }
  return CANTUS_SPLIT_TRAIN;
}

// The simple baseline the network has to beat, as cantus-eval's: an
// interpolated Kneser-Ney n-gram counted on the training pieces
// (untransposed), its order (1..8) chosen on the validation pieces, and
// its loss there, overall and per style.  Costs a second or two on the
// shipped corpora.  NaN when validation is off.
enum { BASELINE_MAX_ORDER = 8 };

static void ngram_baseline(Trainer *tr, int val_split, FILE *log)
{
  const CantusCorpus *c = &tr->corpus;
  tr->ngram_order = 0;
  tr->ngram_valid = NAN;
  for (int s = 0; s < CANTUS_MAX_STYLES; s++) {
    tr->ngram_style[s] = NAN;
  }
  CantusNgram *ng = NULL;
  CantusError e;
  if (val_split != CANTUS_SPLIT_VALID ||
      cantus_ngram_new(BASELINE_MAX_ORDER, cantus_vocab_size(&c->vocab), &ng, &e) != CANTUS_OK) {
    return;
  }
  for (int i = 0; i < c->n_pieces; i++) {
    if (c->pieces[i].split == CANTUS_SPLIT_TRAIN) {
      cantus_ngram_add(ng, c->pieces[i].tok, c->pieces[i].n_tok);
    }
  }
  cantus_ngram_finish(ng);
  for (int o = 1; o <= BASELINE_MAX_ORDER; o++) {
    double sum = 0.0, sum_style[CANTUS_MAX_STYLES] = { 0 };
    uint64_t n = 0, n_style[CANTUS_MAX_STYLES] = { 0 };
    for (int i = 0; i < c->n_pieces; i++) {
      const CantusPiece *pc = &c->pieces[i];
      if (pc->split == CANTUS_SPLIT_VALID) {
        uint64_t k = 0;
        const double l = cantus_ngram_nll(ng, o, pc->tok, pc->n_tok, &k);
        sum += l;
        n += k;
        sum_style[pc->style] += l;
        n_style[pc->style] += k;
      }
    }
    const double v = n ? sum / (double)n : (double)NAN;
    if (isfinite(v) && !(v >= tr->ngram_valid)) {
      tr->ngram_valid = v;
      tr->ngram_order = o;
      for (int s = 0; s < CANTUS_MAX_STYLES; s++) { // model style indices (add-style too)
        tr->ngram_style[s] = n_style[s] ? sum_style[s] / (double)n_style[s] : (double)NAN;
      }
    }
  }
  cantus_ngram_free(ng);
  if (log && tr->ngram_order > 0) {
    fprintf(log,
            "baseline: a simple note-statistics model (an n-gram of order %d: which notes "
            "follow which)\n"
            "  scores %.4f nats/token on the validation pieces; the network has learnt "
            "something of the\n"
            "  style only when its validation loss gets below that.\n",
            tr->ngram_order,
            tr->ngram_valid);
  }
}

// The shipped folk model, for the advice to add a small collection to it:
// models/folk.cantus here, else in the data folder, else NULL.
static const char *folk_model_path(char *buf, size_t n)
{
  return cantus_args_data_file("models/folk.cantus", buf, n);
}

// The measurement behind CANTUS_TRAIN_ADVICE_TOKENS (models/README.md).
#define CANTUS_TRAIN_ADVICE_MEASURED                                                         \
  "  Measured on Nottingham reels, 3 minutes of training each: a network trained from "      \
  "scratch\n"                                                                                \
  "  stayed worse than a simple note-statistics model with 10 or 30 tunes and beat it with " \
  "100\n"                                                                                    \
  "  tunes (124,000 tokens) or more, at --hidden 96 --embed 32; the default size needs "     \
  "much longer.\n"

// Before a model is trained from scratch on a small collection: how much
// music that takes (measured, models/README.md "How much music") and the
// way that works with little, --add-style onto the shipped folk model.
static void advise_data(const Trainer *tr, const CantusTrainConfig *cfg, FILE *log)
{
  if (!log || cfg->base_path) {
    return;
  }
  int n_train = 0;
  uint64_t n_tok = 0;
  for (int s = 0; s < tr->corpus.n_styles; s++) {
    n_train += tr->corpus.styles[s].n_pieces[CANTUS_SPLIT_TRAIN];
    n_tok += tr->corpus.styles[s].n_tokens[CANTUS_SPLIT_TRAIN];
  }
  if (n_tok >= CANTUS_TRAIN_ADVICE_TOKENS) {
    return;
  }
  char buf[PATH_MAX + 64];
  const char *folk = folk_model_path(buf, sizeof buf);
  const bool one = tr->corpus.n_styles == 1 && cfg->n_corpus_dirs == 1;
  const char *name = one ? tr->corpus.styles[0].name : "NAME";
  const char *dir = one ? cfg->corpus_dirs[0] : "FOLDER";
#define Q(x) (strpbrk((x), " \t'\"&;()") ? "'" : "") // quoted for a shell when needed
  fprintf(log,
          "advice: %d training piece%s (%llu tokens): too little music for a model trained from "
          "scratch.\n" CANTUS_TRAIN_ADVICE_MEASURED
          "  With a small collection of tunes, teach the shipped folk model your style "
          "instead (it\n"
          "  already knows melody, harmony and metre; minutes of training; see "
          "models/README.md):\n"
          "    cantus-train --base %s --add-style %s%s%s %s%s%s -o %s%s.cantus%s\n",
          n_train,
          n_train == 1 ? "" : "s",
          (unsigned long long)n_tok,
          folk ? folk : "PATH/TO/folk.cantus",
          Q(name),
          name,
          Q(name),
          Q(dir),
          dir,
          Q(dir),
          Q(name),
          name,
          Q(name));
#undef Q
}

// The output file's folder and the --log prefix's exist and are writable,
// checked before the corpus is read so that a typo costs no training.  A
// MIDI file name for the model is refused (cantus-gen makes MIDI); any
// other name without .cantus gets a note.
static CantusStatus check_path(const char *path, const char *what, CantusError *err)
{
  char dir[4200];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, sizeof dir, ".");
  } else if (slash == path) {
    snprintf(dir, sizeof dir, "/");
  } else {
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  }
  struct stat st;
  if (!path[0] || (slash && !slash[1]) || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "%s '%s' is a folder; give a file name in it, e.g. %s%smine",
                        what,
                        path,
                        path,
                        slash && !slash[1] ? "" : "/");
  }
  if (stat(dir, &st) != 0) {
    return cantus_error(err,
                        CANTUS_ERR_IO,
                        "%s %s: the folder %s does not exist (create it first: mkdir -p %s)",
                        what,
                        path,
                        dir,
                        dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    return cantus_error(err, CANTUS_ERR_IO, "%s %s: %s is not a folder", what, path, dir);
  }
  if (access(dir, W_OK | X_OK) != 0) {
    return cantus_error(
      err, CANTUS_ERR_IO, "%s %s: cannot write in %s (%s)", what, path, dir, strerror(errno));
  }
  return CANTUS_OK;
}

static CantusStatus check_outputs(const CantusTrainConfig *cfg, CantusError *err)
{
  const char *o = cfg->out_path;
  const size_t l = strlen(o);
  const char *dot = strrchr(o, '.');
  if (dot && strchr(dot, '/') == NULL &&
      (!strcasecmp(dot, ".mid") || !strcasecmp(dot, ".midi") || !strcasecmp(dot, ".smf"))) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "-o %s: the output is a model, not MIDI; name it e.g. %.*s.cantus (play "
                        "it to a MIDI file with cantus-gen --model MODEL -o FILE.mid)",
                        o,
                        (int)(dot - o),
                        o);
  }
  CantusStatus s = check_path(o, "-o", err);
  if (!s && cfg->log_prefix) {
    s = check_path(cfg->log_prefix, "--log", err);
  }
  if (!s && cfg->log && !(l > 7 && strcmp(o + l - 7, ".cantus") == 0)) {
    fprintf(cfg->log,
            "note: %s does not end in .cantus, the name Cantus gives models (it is written all "
            "the same)\n",
            o);
  }
  return s;
}

// Planned length for the cosine schedule: epochs x chunks of epoch 1.
static void plan_steps(Trainer *tr, const CantusTrainConfig *cfg)
{
  int n0 = 0;
  Item *o0 = train_epoch_order(&tr->corpus, cfg, 0, &n0);
  Plan p0;
  if (o0 && train_plan_build(&p0, &tr->corpus, o0, n0, cfg->batch, cfg->bptt)) {
    tr->planned_steps = p0.n_chunks * cfg->epochs;
    train_plan_free(&p0);
  }
  free(o0);
}

// One optimizer step on the next chunk: forward, backward, clipping,
// AdamW.  Returns the learning rate it used.
static float train_step(Trainer *tr, Run *r, Plan *pl)
{
  const CantusTrainConfig *cfg = tr->cfg;
  train_plan_fill(pl, &tr->corpus, r->ch, r->T, 0.5f * cfg->chord_dropout);
  if (r->dump) {
    train_dump_chunk(r->dump, r->ch, (size_t)r->B * (size_t)r->T);
  }
  memset(tr->grads, 0, tr->n_params * sizeof(float));
  int scored = 0;
  double sum =
    cantus_lstm_train_forward(tr->net,
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
  CantusAdamW opt = {
    .lr = cfg->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = cfg->weight_decay
  };
  if (r->dump) {
    const double rec[2] = { scored ? sum / scored : 0.0, (double)lr };
    fwrite(rec, sizeof rec, 1, r->dump);
  }
  tr->ls.step++;
  cantus_adamw_step(
    &opt, lr, tr->ls.step, scale, tr->params, tr->grads, tr->m, tr->v, tr->spans, tr->n_spans);
  tr->ls.chunk++;
  tr->ls.ep_loss_sum += sum;
  tr->ls.ep_scored += (uint64_t)scored;
  tr->ls.tokens_total += (uint64_t)scored;
  r->pr.steps_this_run++;
  return lr;
}

// The chunks of the current epoch from the cursor on, until the epoch
// ends or the run stops (Ctrl-C, --max-steps, --max-minutes).
static void train_chunks(Trainer *tr, Run *r, Plan *pl)
{
  const CantusTrainConfig *cfg = tr->cfg;
  while (tr->ls.chunk < pl->n_chunks) {
    const float lr = train_step(tr, r, pl);
    double t = now_s();
    double elapsed = tr->ls.seconds + (t - r->pr.t_start);
    if (cfg->max_minutes > 0 && elapsed >= cfg->max_minutes * 60.0) {
      r->time_up = r->stop = true;
    }
    if (cantus_train_interrupt || (cfg->max_steps > 0 && r->pr.steps_this_run >= cfg->max_steps)) {
      r->stop = true;
    }
    train_report_progress(tr, &r->pr, pl->n_chunks, lr, t, elapsed, r->stop);
    if (r->stop) {
      break;
    }
  }
}

// Appends the epoch's line to the log and keeps the best weights.
// Returns whether the validation loss improved.
static bool log_epoch(Trainer *tr,
                      double vl,
                      const float *style_v,
                      double ep_secs,
                      uint64_t ep_tokens0,
                      double t_start)
{
  const CantusTrainConfig *cfg = tr->cfg;
  if (tr->ls.n_log < MAX_EPOCH_LOG) {
    EpochLog *l = &tr->ls.log[tr->ls.n_log++];
    l->train_loss = tr->ls.ep_scored ? tr->ls.ep_loss_sum / (double)tr->ls.ep_scored : (double)NAN;
    l->valid_loss = vl;
    l->lr = lr_at(tr);
    l->tok_s = ep_secs > 0 ? (double)(tr->ls.tokens_total - ep_tokens0) / ep_secs : 0.0;
    l->seconds = tr->ls.seconds + (now_s() - t_start);
    l->steps = tr->ls.step;
    l->tokens = tr->ls.tokens_total;
    memcpy(l->style_valid, style_v, CANTUS_MAX_STYLES * sizeof *style_v);
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
  return improved;
}

// The end of an epoch (or the time limit): validate, keep the best, log,
// write the CSV and plot, checkpoint, and stop early when patience ran out.
static CantusStatus end_epoch(Trainer *tr,
                              Run *r,
                              CantusTrainResult *res,
                              bool epoch_done,
                              double ep_secs,
                              uint64_t ep_tokens0,
                              CantusError *err)
{
  const CantusTrainConfig *cfg = tr->cfg;
  FILE *log = cfg->log;
  bool ok = true;
  float style_v[CANTUS_MAX_STYLES];
  double vl = validate(tr, r->val_split, style_v, err, &ok);
  if (!ok) {
    return CANTUS_ERR_NO_MEMORY;
  }
  if (r->pr.tty && log) {
    fprintf(log, "\n");
  }
  const bool improved = log_epoch(tr, vl, style_v, ep_secs, ep_tokens0, r->pr.t_start);
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
  train_write_csv(tr);
  train_write_svg(tr);
  if (epoch_done && tr->ls.epoch < cfg->epochs) {
    // Every finished epoch leaves a checkpoint, so a crash loses at most one.
    const double so_far = now_s() - r->pr.t_start;
    tr->ls.seconds += so_far;
    CantusStatus s = train_checkpoint_save(tr, r->ckpt, err);
    tr->ls.seconds -= so_far;
    if (s) {
      return s;
    }
  }
  if (cfg->patience > 0 && tr->ls.bad_epochs >= cfg->patience) {
    if (log) {
      fprintf(log, "early stop: no validation improvement for %d epochs\n", tr->ls.bad_epochs);
    }
    res->stopped_early = true;
    r->stop = true;
  }
  if (r->time_up && log) {
    fprintf(log, "time limit of %g minutes reached\n", cfg->max_minutes);
  }
  return CANTUS_OK;
}

// One epoch from its current chunk on.  *brk: the run stops here (an
// interruption or the step limit mid-epoch, which the final checkpoint
// records).
static CantusStatus run_epoch(Trainer *tr,
                              Run *r,
                              CantusTrainResult *res,
                              bool *brk,
                              CantusError *err)
{
  int n_order = 0;
  Item *order = train_epoch_order(&tr->corpus, tr->cfg, tr->ls.epoch, &n_order);
  Plan pl;
  if (!order || !train_plan_build(&pl, &tr->corpus, order, n_order, r->B, r->T)) {
    free(order);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  free(order);
  if (tr->ls.chunk == 0) {
    cantus_lstm_train_reset(tr->net);
    tr->ls.ep_loss_sum = 0.0;
    tr->ls.ep_scored = 0;
  }
  train_plan_seek(&pl, &tr->corpus, tr->ls.chunk, r->T);
  const double ep_start = now_s();
  const uint64_t ep_tokens0 = tr->ls.tokens_total;
  train_chunks(tr, r, &pl);
  const bool epoch_done = tr->ls.chunk >= pl.n_chunks;
  const double ep_secs = now_s() - ep_start;
  train_plan_free(&pl);
  if (!epoch_done && !r->time_up) {
    *brk = true; // interrupted or step-limited mid-epoch: checkpoint below
    return CANTUS_OK;
  }
  return end_epoch(tr, r, res, epoch_done, ep_secs, ep_tokens0, err);
}

// The end-of-training verdict in plain words: the best validation loss
// against the n-gram baseline's, and what to do when the network lost.
static void report_verdict(const Trainer *tr, const Run *r, bool stopped_early, FILE *log)
{
  if (!log) {
    return;
  }
  if (r->val_split != CANTUS_SPLIT_VALID) {
    fprintf(log,
            "verdict: none; validation was off, so nothing tells whether the model learnt the "
            "style\n  or memorised its pieces (listen: cantus-gen --model %s -o test.mid)\n",
            tr->cfg->out_path);
    return;
  }
  const double l = tr->ls.best_valid, g = tr->ngram_valid;
  if (!isfinite(l) || !isfinite(g)) {
    return;
  }
  char buf[PATH_MAX + 64];
  const char *folk = folk_model_path(buf, sizeof buf);
  if (l >= g) {
    fprintf(log,
            "verdict: WORSE than a simple note-statistics model (validation loss %.2f against "
            "the n-gram's\n"
            "  %.2f nats/token): this model has not learnt the style and will play "
            "near-random notes.\n",
            l,
            g);
    if (tr->cfg->base_path) {
      fprintf(log,
              "  The style is too far from what the base model knows: try --train-output, "
              "or train a\n  model for it from scratch on hundreds of pieces.\n");
    } else if (stopped_early) {
      fprintf(log,
              "  It had stopped improving, so training longer will not help: give it more "
              "pieces, or\n  add your pieces as a new style of a trained model:\n"
              "    cantus-train --base %s --add-style NAME FOLDER -o NEW.cantus\n",
              folk ? folk : "PATH/TO/folk.cantus");
    } else {
      fprintf(log,
              "  Train longer (cantus-train --resume %s.ckpt with a larger --max-minutes or "
              "--epochs),\n"
              "  give it more pieces, or add your pieces as a new style of a trained model:\n"
              "    cantus-train --base %s --add-style NAME FOLDER -o NEW.cantus\n",
              tr->log_prefix,
              folk ? folk : "PATH/TO/folk.cantus");
    }
    return;
  }
  const double gain = 100.0 * (g - l) / g;
  fprintf(log,
          "verdict: %s a simple note-statistics model (validation loss %.2f against the "
          "n-gram's %.2f\n  nats/token, %.0f%% lower)%s\n",
          gain < 5.0 ? "only slightly better than" : "better than",
          l,
          g,
          gain,
          gain < 5.0 ? ": expect little of the style yet; train longer or on more pieces."
                     : ". Listen to it (cantus-gen) and compare with cantus-eval.");
  // Styles the network still loses on, when there are several.
  if (tr->d.n_styles > 1 && tr->ls.best_epoch > 0) {
    const EpochLog *b = &tr->ls.log[tr->ls.best_epoch - 1];
    bool any = false;
    for (uint32_t s = 0; s < tr->d.n_styles; s++) {
      if (isfinite(b->style_valid[s]) && isfinite(tr->ngram_style[s]) &&
          (double)b->style_valid[s] >= tr->ngram_style[s]) {
        fprintf(log,
                "%s %s (%.2f against %.2f)",
                any ? "," : "  still worse than the n-gram on",
                tr->style_names[s],
                (double)b->style_valid[s],
                tr->ngram_style[s]);
        any = true;
      }
    }
    if (any) {
      fprintf(log, ": those styles need more pieces or more training.\n");
    }
  }
}

// After the loop: the final checkpoint, the weights that stand (the best
// epoch's, or the current ones when no epoch finished), the model file and
// the result.
static CantusStatus finish(Trainer *tr,
                           Run *r,
                           CantusStatus s,
                           CantusTrainResult *res,
                           CantusError *err)
{
  const CantusTrainConfig *cfg = tr->cfg;
  FILE *log = cfg->log;
  if (r->dump) {
    fclose(r->dump);
  }
  tr->ls.seconds += now_s() - r->pr.t_start;
  if (!s) {
    // The checkpoint lets a later --resume continue exactly here.
    s = train_checkpoint_save(tr, r->ckpt, err);
    if (!s && log && (cantus_train_interrupt || r->time_up)) {
      fprintf(log, "checkpoint: %s (continue with --resume %s)\n", r->ckpt, r->ckpt);
    }
  }
  res->interrupted = cantus_train_interrupt != 0;
  if (!s && tr->ls.best_epoch == 0 && !res->interrupted) {
    // No finished epoch (a step-limited run): the current weights stand.
    float style_v[CANTUS_MAX_STYLES];
    bool ok = true;
    double vl = validate(tr, r->val_split, style_v, err, &ok);
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
    s = train_write_model(tr, err);
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
    if (!s) {
      report_verdict(tr, r, res->stopped_early, log);
    }
  }
  res->ngram_valid = tr->ngram_valid;
  res->validation_off = r->val_split != CANTUS_SPLIT_VALID;
  res->epochs_done = tr->ls.n_log;
  res->steps = tr->ls.step;
  res->best_valid = tr->ls.best_valid;
  res->n_styles = (int)tr->d.n_styles;
  res->train_loss = tr->ls.n_log ? tr->ls.log[tr->ls.n_log - 1].train_loss : (double)NAN;
  res->seconds = tr->ls.seconds;
  res->tokens_per_s = tr->ls.seconds > 0 ? (double)tr->ls.tokens_total / tr->ls.seconds : 0;
  return s;
}

CantusStatus cantus_train_run(const CantusTrainConfig *cfg,
                              CantusTrainResult *res,
                              CantusError *err)
{
  memset(res, 0, sizeof *res);
  CantusStatus s = check_config(cfg, err);
  if (s) {
    return s;
  }
  set_threads(cfg);
  Trainer *tr = calloc(1, sizeof *tr);
  if (!tr) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  tr->cfg = cfg;
  set_log_prefix(tr, cfg);
  Run r;
  memset(&r, 0, sizeof r);
  snprintf(r.ckpt, sizeof r.ckpt, "%s.ckpt", tr->log_prefix);
  s = check_outputs(cfg, err);
  if (!s) {
    s = setup(tr, cfg, err);
  }
  if (!s && cfg->resume_path) {
    s = resume(tr, cfg, err);
  }
  if (!s) {
    advise_data(tr, cfg, cfg->log);
    r.val_split = validation_split(tr, cfg->log);
    ngram_baseline(tr, r.val_split, cfg->log);
    train_report_model(tr);
    r.B = cfg->batch;
    r.T = cfg->bptt;
    plan_steps(tr, cfg);
    if (cfg->dump_path) {
      s = train_dump_open(tr, &r.dump, err);
    }
  }
  if (s) {
    trainer_free(tr);
    free(tr);
    return s;
  }
  r.ch = cantus_lstm_train_chunk(tr->net);
  r.pr.tty = cfg->progress_tty;
  r.pr.t_start = now_s();
  r.pr.last_print = r.pr.t_start;
  r.pr.tokens_at_print = tr->ls.tokens_total;
  while (!r.stop && tr->ls.epoch < cfg->epochs) {
    bool brk = false;
    s = run_epoch(tr, &r, res, &brk, err);
    if (s || brk) {
      break;
    }
  }
  s = finish(tr, &r, s, res, err);
  trainer_free(tr);
  free(tr);
  return s;
}
