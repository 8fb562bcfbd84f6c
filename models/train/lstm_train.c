// SPDX-License-Identifier: GPL-3.0-or-later
// Batched forward and backward of the stacked LSTM over one truncated-BPTT
// chunk (T steps of B parallel streams), for the offline trainer only.
// The input projections of a whole chunk are one big cblas_sgemm per
// layer; each step adds its recurrent product with a (B,H)x(H,4H) sgemm and
// then calls cantus_lstm_gates() from dsp/, the same cell update the plugin
// runs, keeping the gate activations for backward.  Weight gradients are
// again one big GEMM per matrix per chunk.  Non-RT; links OpenBLAS.
#include "train.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ROW_THREADS = 16 };

struct CantusLstmTrainImpl {
  CantusDims d;
  int B, T, L, H, G, V, E, S, I0, NT, NB;
  size_t R; // rows T*B
  CantusChunk chunk;
  float *x0;                      // (R, I0) layer-0 input [emb | style | pos_tick | pos_beat]
  float *act[CANTUS_MAX_LAYERS];  // (R, 4H) i,f,g,o after their nonlinearity
  float *c[CANTUS_MAX_LAYERS];    // (R, H) cell after the step
  float *cin[CANTUS_MAX_LAYERS];  // (R, H) cell before the step (after reset)
  float *hin[CANTUS_MAX_LAYERS];  // (R, H) hidden before the step (after reset)
  float *h[CANTUS_MAX_LAYERS];    // (R, H) hidden after the step
  float *y[CANTUS_MAX_LAYERS];    // (R, H) dropout(h): input of the next layer / output
  float *mask[CANTUS_MAX_LAYERS]; // (R, H) dropout keep scale (0 or 1/(1-p))
  bool dropped;                   // masks applied in the last forward
  float *pre;                     // (R, 4H) pre-activations of the current layer
  float *logits;                  // (R, V) raw logits
  float *probs;                   // (R, V) softmax; gradients during backward
  float *state;                   // 2*L*B*H carried: per layer h (B,H), c (B,H)
  float *dy;                      // (R, max(H, I0)) gradient w.r.t. a layer's output/input
  float *dx;                      // (R, max(H, I0)) gradient w.r.t. a layer's input
  float *dh_next, *dc_next;       // (B, H)
  int n_scored;
  int threads;    // OpenBLAS threads outside the per-step loops
  double *colsum; // (max(4H, V)) bias-gradient accumulator
};

static float *falloc(size_t n, bool *ok)
{
  float *p = NULL;
  if (posix_memalign((void **)&p, 64, (n ? n : 1) * sizeof(float)) != 0) {
    *ok = false;
    return NULL;
  }
  memset(p, 0, (n ? n : 1) * sizeof(float));
  return p;
}

CantusStatus cantus_lstm_train_new(const CantusDims *d,
                                   int batch,
                                   int bptt,
                                   CantusLstmTrain **out,
                                   CantusError *err)
{
  *out = NULL;
  if (batch < 1 || bptt < 1 || batch > 4096 || bptt > 4096 || d->n_layers < 1 ||
      d->n_layers > CANTUS_MAX_LAYERS || d->n_hidden < 1) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "trainer: bad sizes (batch %d, bptt %d, layers %u)",
                        batch,
                        bptt,
                        d->n_layers);
  }
  CantusLstmTrain *n = calloc(1, sizeof *n);
  if (!n) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "trainer: out of memory");
  }
  n->d = *d;
  n->B = batch;
  n->T = bptt;
  n->L = (int)d->n_layers;
  n->H = (int)d->n_hidden;
  n->G = 4 * n->H;
  n->V = cantus_vocab_size(&d->vocab);
  n->E = (int)d->n_embed;
  n->S = (int)d->n_style_dim;
  n->NT = (int)d->n_pos_tick;
  n->NB = (int)d->n_pos_beat;
  n->I0 = (int)cantus_dims_input(d, 0);
  n->R = (size_t)batch * (size_t)bptt;
  size_t R = n->R, H = (size_t)n->H, G = (size_t)n->G, V = (size_t)n->V;
  size_t wide = (size_t)(n->I0 > n->H ? n->I0 : n->H);
  bool ok = true;
  n->chunk.tok = calloc(R, sizeof(int32_t));
  n->chunk.tgt = calloc(R, sizeof(int32_t));
  n->chunk.style = calloc(R, sizeof(int16_t));
  n->chunk.pos_tick = calloc(R, 1);
  n->chunk.pos_beat = calloc(R, 1);
  ok = n->chunk.tok && n->chunk.tgt && n->chunk.style && n->chunk.pos_tick && n->chunk.pos_beat;
  n->x0 = falloc(R * (size_t)n->I0, &ok);
  for (int k = 0; k < n->L; k++) {
    n->act[k] = falloc(R * G, &ok);
    n->c[k] = falloc(R * H, &ok);
    n->cin[k] = falloc(R * H, &ok);
    n->hin[k] = falloc(R * H, &ok);
    n->h[k] = falloc(R * H, &ok);
    n->y[k] = falloc(R * H, &ok);
    n->mask[k] = falloc(R * H, &ok);
  }
  n->pre = falloc(R * G, &ok);
  n->logits = falloc(R * V, &ok);
  n->probs = falloc(R * V, &ok);
  n->state = falloc(2 * (size_t)n->L * (size_t)batch * H, &ok);
  n->dy = falloc(R * wide, &ok);
  n->dx = falloc(R * wide, &ok);
  n->dh_next = falloc((size_t)batch * H, &ok);
  n->dc_next = falloc((size_t)batch * H, &ok);
  n->colsum = calloc(G > V ? G : V, sizeof(double));
  ok = ok && n->colsum;
  if (!ok) {
    cantus_lstm_train_free(n);
    return cantus_error(err,
                        CANTUS_ERR_NO_MEMORY,
                        "trainer: out of memory for batch %d x bptt %d at hidden %d",
                        batch,
                        bptt,
                        n->H);
  }
  for (size_t r = 0; r < R; r++) {
    n->chunk.tgt[r] = -1;
  }
  *out = n;
  return CANTUS_OK;
}

void cantus_lstm_train_free(CantusLstmTrain *n)
{
  if (!n) {
    return;
  }
  free(n->chunk.tok);
  free(n->chunk.tgt);
  free(n->chunk.style);
  free(n->chunk.pos_tick);
  free(n->chunk.pos_beat);
  free(n->x0);
  for (int k = 0; k < CANTUS_MAX_LAYERS; k++) {
    free(n->act[k]);
    free(n->c[k]);
    free(n->cin[k]);
    free(n->hin[k]);
    free(n->h[k]);
    free(n->y[k]);
    free(n->mask[k]);
  }
  free(n->pre);
  free(n->logits);
  free(n->probs);
  free(n->state);
  free(n->dy);
  free(n->dx);
  free(n->dh_next);
  free(n->dc_next);
  free(n->colsum);
  free(n);
}

CantusChunk *cantus_lstm_train_chunk(CantusLstmTrain *n)
{
  return &n->chunk;
}

void cantus_lstm_train_reset(CantusLstmTrain *n)
{
  memset(n->state, 0, cantus_lstm_train_state_floats(n) * sizeof(float));
}

float *cantus_lstm_train_state(CantusLstmTrain *n)
{
  return n->state;
}

size_t cantus_lstm_train_state_floats(const CantusLstmTrain *n)
{
  return 2 * (size_t)n->L * (size_t)n->B * (size_t)n->H;
}

const float *cantus_lstm_train_logits(const CantusLstmTrain *n)
{
  return n->logits;
}
float *cantus_lstm_train_probs(CantusLstmTrain *n)
{
  return n->probs;
}

// The per-step recurrent products are (B,H)x(H,4H): too small to share
// between threads, and a thread that waits for a descheduled partner at every
// step costs more than it gains on a busy machine.  They run on one OpenBLAS
// thread; the chunk-sized GEMMs use all of them.
static void serial_begin(CantusLstmTrain *n)
{
  n->threads = openblas_get_num_threads();
  if (n->threads > 1) {
    openblas_set_num_threads(1);
  }
}

static void serial_end(const CantusLstmTrain *n)
{
  if (n->threads > 1) {
    openblas_set_num_threads(n->threads);
  }
}

static void run_rows(CantusLstmTrain *n, const CantusParams *p, int k, int backward);

// splitmix64: the dropout masks' generator, one independent stream per
// (seed, layer), so masks do not depend on thread count or timing.
static uint64_t splitmix(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void make_mask(float *mask, size_t n, float p, uint64_t seed)
{
  uint64_t s = seed;
  const float keep = 1.0f / (1.0f - p);
  // 24-bit uniforms; two per 64-bit draw.
  const uint32_t thresh = (uint32_t)((double)p * 16777216.0);
  for (size_t i = 0; i < n; i += 2) {
    uint64_t z = splitmix(&s);
    mask[i] = ((uint32_t)(z >> 40) < thresh) ? 0.0f : keep;
    if (i + 1 < n) {
      mask[i + 1] = ((uint32_t)((z >> 8) & 0xffffffu) < thresh) ? 0.0f : keep;
    }
  }
}

// Layer-0 input rows: [tok_emb[tok] | style_emb[style] | onehot(tick) | onehot(beat)].
static void build_x0(CantusLstmTrain *n, const CantusParams *p)
{
  const int E = n->E, S = n->S, I0 = n->I0;
  for (size_t r = 0; r < n->R; r++) {
    float *x = n->x0 + r * (size_t)I0;
    memset(x, 0, (size_t)I0 * sizeof(float));
    int tok = n->chunk.tok[r];
    int st = n->chunk.style[r];
    memcpy(x, p->tok_emb + (size_t)tok * (size_t)E, (size_t)E * sizeof(float));
    memcpy(x + E, p->style_emb + (size_t)st * (size_t)S, (size_t)S * sizeof(float));
    x[E + S + n->chunk.pos_tick[r]] = 1.0f;
    x[E + S + n->NT + n->chunk.pos_beat[r]] = 1.0f;
  }
}

double cantus_lstm_train_forward(CantusLstmTrain *n,
                                 const CantusParams *p,
                                 float dropout,
                                 uint64_t drop_seed,
                                 double *nll_row,
                                 int *n_scored)
{
  const int B = n->B, H = n->H, G = n->G, V = n->V;
  const size_t R = n->R;
  n->dropped = dropout > 0.0f;
  build_x0(n, p);
  const float *x = n->x0;
  int in_w = n->I0;
  for (int k = 0; k < n->L; k++) {
    float *hs = n->state + (size_t)(2 * k) * (size_t)B * (size_t)H; // (B,H) carried h
    float *cs = hs + (size_t)B * (size_t)H;                         // (B,H) carried c
    // pre (R, 4H) = b + x W_ih^T: the hoisted input projection of the chunk.
    for (size_t r = 0; r < R; r++) {
      memcpy(n->pre + r * (size_t)G, p->layer[k].b, (size_t)G * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor,
                CblasNoTrans,
                CblasTrans,
                (int)R,
                G,
                in_w,
                1.0f,
                x,
                in_w,
                p->layer[k].w_ih,
                in_w,
                1.0f,
                n->pre,
                G);
    run_rows(n, p, k, 0);
    memcpy(hs, n->h[k] + (R - (size_t)B) * (size_t)H, (size_t)B * (size_t)H * sizeof(float));
    memcpy(cs, n->c[k] + (R - (size_t)B) * (size_t)H, (size_t)B * (size_t)H * sizeof(float));
    if (n->dropped) {
      make_mask(n->mask[k],
                R * (size_t)H,
                dropout,
                drop_seed * 0x100000001b3ull + (uint64_t)k * 0x9e3779b97f4a7c15ull + 1u);
      for (size_t i = 0; i < R * (size_t)H; i++) {
        n->y[k][i] = n->h[k][i] * n->mask[k][i];
      }
    } else {
      memcpy(n->y[k], n->h[k], R * (size_t)H * sizeof(float));
    }
    x = n->y[k];
    in_w = H;
  }
  // logits (R, V) = b_out + y_L W_out^T
  for (size_t r = 0; r < R; r++) {
    memcpy(n->logits + r * (size_t)V, p->b_out, (size_t)V * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor,
              CblasNoTrans,
              CblasTrans,
              (int)R,
              V,
              H,
              1.0f,
              x,
              H,
              p->w_out,
              H,
              1.0f,
              n->logits,
              V);
  double sum = 0.0;
  int scored = 0;
  for (size_t r = 0; r < R; r++) {
    const float *lg = n->logits + r * (size_t)V;
    float *pr = n->probs + r * (size_t)V;
    float mx = lg[0];
    for (int v = 1; v < V; v++) {
      mx = lg[v] > mx ? lg[v] : mx;
    }
    double z = 0.0;
    for (int v = 0; v < V; v++) {
      pr[v] = expf(lg[v] - mx);
      z += (double)pr[v];
    }
    float inv = (float)(1.0 / z);
    for (int v = 0; v < V; v++) {
      pr[v] *= inv;
    }
    int tg = n->chunk.tgt[r];
    double nll = 0.0;
    if (tg >= 0) {
      nll = log(z) - (double)(lg[tg] - mx);
      sum += nll;
      scored++;
    }
    if (nll_row) {
      nll_row[r] = nll;
    }
  }
  n->n_scored = scored;
  if (n_scored) {
    *n_scored = scored;
  }
  return sum;
}

// One row of one step of the cell's backward pass.  tanh(c) is recovered
// as h / o: the forward pass computed h = o * tanh(c) with the same
// activation functions, and where o is tiny both terms that use it vanish
// anyway.  Compiled for AVX-512, AVX2 and plain x86-64, picked at run time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void
cell_backward(int H,
              const float *restrict a,
              const float *restrict h,
              const float *restrict ci,
              const float *restrict dy,
              const float *restrict dhn,
              float *restrict dcn,
              float *restrict dp,
              float keep)
{
  for (int j = 0; j < H; j++) {
    float ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j];
    float tc = h[j] / (og > 1e-30f ? og : 1e-30f);
    tc = tc > 1.0f ? 1.0f : (tc < -1.0f ? -1.0f : tc);
    float dh = dy[j] + dhn[j];
    float dc = dcn[j] + dh * og * (1.0f - tc * tc);
    dp[j] = dc * gg * ig * (1.0f - ig);
    dp[H + j] = dc * ci[j] * fg * (1.0f - fg);
    dp[2 * H + j] = dc * ig * (1.0f - gg * gg);
    dp[3 * H + j] = dh * tc * og * (1.0f - og);
    dcn[j] = keep * dc * fg;
  }
}

// Forward time loop of layer k for batch rows [b0, b1): the recurrent
// product and the cell update, step by step.  Rows are independent, so
// disjoint row ranges run on separate threads.
static void forward_rows(CantusLstmTrain *n, const CantusParams *p, int k, int b0, int b1)
{
  const int B = n->B, T = n->T, H = n->H, G = n->G, nb = b1 - b0;
  const float *hs = n->state + (size_t)(2 * k) * (size_t)B * (size_t)H; // (B,H) carried h
  const float *cs = hs + (size_t)B * (size_t)H;                         // (B,H) carried c
  for (int t = 0; t < T; t++) {
    size_t r0 = (size_t)t * (size_t)B;
    float *hin = n->hin[k] + r0 * (size_t)H; // (B,H)
    float *cin = n->cin[k] + r0 * (size_t)H; // (B,H)
    const float *hprev = t == 0 ? hs : n->h[k] + (r0 - (size_t)B) * (size_t)H;
    const float *cprev = t == 0 ? cs : n->c[k] + (r0 - (size_t)B) * (size_t)H;
    // A row whose input is START begins a piece: its state restarts at zero,
    // as the plugin's does.
    for (int b = b0; b < b1; b++) {
      size_t o = (size_t)b * (size_t)H;
      if (n->chunk.tok[r0 + (size_t)b] == CANTUS_TOK_START) {
        memset(hin + o, 0, (size_t)H * sizeof(float));
        memset(cin + o, 0, (size_t)H * sizeof(float));
      } else {
        memcpy(hin + o, hprev + o, (size_t)H * sizeof(float));
        memcpy(cin + o, cprev + o, (size_t)H * sizeof(float));
      }
    }
    float *pre_t = n->pre + r0 * (size_t)G; // (B, 4H)
    cblas_sgemm(CblasRowMajor,
                CblasNoTrans,
                CblasTrans,
                nb,
                G,
                H,
                1.0f,
                hin + (size_t)b0 * (size_t)H,
                H,
                p->layer[k].w_hh,
                H,
                1.0f,
                pre_t + (size_t)b0 * (size_t)G,
                G);
    for (int b = b0; b < b1; b++) {
      size_t r = r0 + (size_t)b;
      cantus_lstm_gates(H,
                        pre_t + (size_t)b * (size_t)G,
                        cin + (size_t)b * (size_t)H,
                        n->c[k] + r * (size_t)H,
                        n->h[k] + r * (size_t)H,
                        n->act[k] + r * (size_t)G);
    }
  }
}

// Backward through time of layer k for batch rows [b0, b1), given
// dy = dLoss/d(y_k), leaving dLoss/d(pre) in n->pre.
static void backward_rows(CantusLstmTrain *n, const CantusParams *p, int k, int b0, int b1)
{
  const int B = n->B, T = n->T, H = n->H, G = n->G, nb = b1 - b0;
  float *dh_next = n->dh_next, *dc_next = n->dc_next;
  memset(dh_next + (size_t)b0 * (size_t)H, 0, (size_t)nb * (size_t)H * sizeof(float));
  memset(dc_next + (size_t)b0 * (size_t)H, 0, (size_t)nb * (size_t)H * sizeof(float));
  for (int t = T - 1; t >= 0; t--) {
    size_t r0 = (size_t)t * (size_t)B;
    for (int b = b0; b < b1; b++) {
      size_t r = r0 + (size_t)b;
      // The reset at a START cuts the gradient path to the previous piece.
      float keep = n->chunk.tok[r] != CANTUS_TOK_START ? 1.0f : 0.0f;
      cell_backward(H,
                    n->act[k] + r * (size_t)G,
                    n->h[k] + r * (size_t)H,
                    n->cin[k] + r * (size_t)H,
                    n->dy + r * (size_t)H,
                    dh_next + (size_t)b * (size_t)H,
                    dc_next + (size_t)b * (size_t)H,
                    n->pre + r * (size_t)G,
                    keep);
    }
    if (t > 0) {
      // dh_next (nb,H) = dpre_t (nb,4H) W_hh (4H,H), then the reset mask.
      cblas_sgemm(CblasRowMajor,
                  CblasNoTrans,
                  CblasNoTrans,
                  nb,
                  H,
                  G,
                  1.0f,
                  n->pre + (r0 + (size_t)b0) * (size_t)G,
                  G,
                  p->layer[k].w_hh,
                  H,
                  0.0f,
                  dh_next + (size_t)b0 * (size_t)H,
                  H);
      for (int b = b0; b < b1; b++) {
        if (n->chunk.tok[r0 + (size_t)b] == CANTUS_TOK_START) {
          memset(dh_next + (size_t)b * (size_t)H, 0, (size_t)H * sizeof(float));
        }
      }
    }
  }
}

typedef struct {
  CantusLstmTrain *n;
  const CantusParams *p;
  int k, b0, b1, backward;
} RowJob;

static void *row_job(void *arg)
{
  RowJob *j = arg;
  if (j->backward) {
    backward_rows(j->n, j->p, j->k, j->b0, j->b1);
  } else {
    forward_rows(j->n, j->p, j->k, j->b0, j->b1);
  }
  return NULL;
}

// The time loop of layer k (forward or backward) over all rows: with
// several OpenBLAS threads configured, the batch rows are split into that
// many ranges, one thread each, every per-step product on one OpenBLAS
// thread.  No step needs the other ranges, so threads meet only at the end.
// The split depends only on the thread count, so results do too.
static void run_rows(CantusLstmTrain *n, const CantusParams *p, int k, int backward)
{
  serial_begin(n);
  int nt = n->threads < 1 ? 1 : n->threads;
  nt = nt > n->B ? n->B : nt;
  nt = nt > MAX_ROW_THREADS ? MAX_ROW_THREADS : nt;
  RowJob jobs[MAX_ROW_THREADS] = { { 0 } };
  pthread_t tid[MAX_ROW_THREADS];
  bool started[MAX_ROW_THREADS] = { false };
  for (int i = 0; i < nt; i++) {
    jobs[i] = (RowJob){ n, p, k, n->B * i / nt, n->B * (i + 1) / nt, backward };
  }
  for (int i = 1; i < nt; i++) {
    started[i] = pthread_create(&tid[i], NULL, row_job, &jobs[i]) == 0;
    if (!started[i]) {
      row_job(&jobs[i]); // no thread to spare: do it here
    }
  }
  row_job(&jobs[0]);
  for (int i = 1; i < nt; i++) {
    if (started[i]) {
      pthread_join(tid[i], NULL);
    }
  }
  serial_end(n);
}

// g[j] += sum over rows of m[r][j], accumulated in double row by row (a
// fixed order, so deterministic) in the caller's scratch acc (cols doubles).
static void add_colsum(float *g, const float *m, size_t rows, int cols, double *acc)
{
  for (int j = 0; j < cols; j++) {
    acc[j] = 0.0;
  }
  for (size_t r = 0; r < rows; r++) {
    const float *row = m + r * (size_t)cols;
    for (int j = 0; j < cols; j++) {
      acc[j] += (double)row[j];
    }
  }
  for (int j = 0; j < cols; j++) {
    g[j] += (float)acc[j];
  }
}

void cantus_lstm_train_backward(CantusLstmTrain *n,
                                const CantusParams *p,
                                CantusParams *g,
                                int what)
{
  const int H = n->H, G = n->G, V = n->V, L = n->L;
  const size_t R = n->R;
  // dlogits = (softmax - onehot) / n_scored, in place in probs.
  float scale = n->n_scored > 0 ? 1.0f / (float)n->n_scored : 0.0f;
  for (size_t r = 0; r < R; r++) {
    float *pr = n->probs + r * (size_t)V;
    int tg = n->chunk.tgt[r];
    if (tg < 0) {
      memset(pr, 0, (size_t)V * sizeof(float));
      continue;
    }
    pr[tg] -= 1.0f;
    for (int v = 0; v < V; v++) {
      pr[v] *= scale;
    }
  }
  const float *yl = n->y[L - 1];
  if (what & CANTUS_GRAD_OUT) {
    // dW_out (V,H) += dlogits^T (V,R) y_L (R,H)
    cblas_sgemm(CblasRowMajor,
                CblasTrans,
                CblasNoTrans,
                V,
                H,
                (int)R,
                1.0f,
                n->probs,
                V,
                yl,
                H,
                1.0f,
                g->w_out,
                H);
    add_colsum(g->b_out, n->probs, R, V, n->colsum);
  }
  if (!(what & (CANTUS_GRAD_LSTM | CANTUS_GRAD_STYLE))) {
    return;
  }
  // dy (R,H) = dlogits (R,V) W_out (V,H)
  cblas_sgemm(CblasRowMajor,
              CblasNoTrans,
              CblasNoTrans,
              (int)R,
              H,
              V,
              1.0f,
              n->probs,
              V,
              p->w_out,
              H,
              0.0f,
              n->dy,
              H);
  for (int k = L - 1; k >= 0; k--) {
    if (n->dropped) {
      for (size_t i = 0; i < R * (size_t)H; i++) {
        n->dy[i] *= n->mask[k][i];
      }
    }
    run_rows(n, p, k, 1); // dpre in n->pre
    const float *x = k == 0 ? n->x0 : n->y[k - 1];
    int in_w = k == 0 ? n->I0 : H;
    if (what & CANTUS_GRAD_LSTM) {
      // dW_hh (4H,H) += dpre^T (4H,R) hin (R,H); dW_ih (4H,I) += dpre^T x (R,I)
      cblas_sgemm(CblasRowMajor,
                  CblasTrans,
                  CblasNoTrans,
                  G,
                  H,
                  (int)R,
                  1.0f,
                  n->pre,
                  G,
                  n->hin[k],
                  H,
                  1.0f,
                  g->layer[k].w_hh,
                  H);
      cblas_sgemm(CblasRowMajor,
                  CblasTrans,
                  CblasNoTrans,
                  G,
                  in_w,
                  (int)R,
                  1.0f,
                  n->pre,
                  G,
                  x,
                  in_w,
                  1.0f,
                  g->layer[k].w_ih,
                  in_w);
      add_colsum(g->layer[k].b, n->pre, R, G, n->colsum);
    }
    // dx (R,I) = dpre (R,4H) W_ih (4H,I)
    cblas_sgemm(CblasRowMajor,
                CblasNoTrans,
                CblasNoTrans,
                (int)R,
                in_w,
                G,
                1.0f,
                n->pre,
                G,
                p->layer[k].w_ih,
                in_w,
                0.0f,
                n->dx,
                in_w);
    if (k > 0) {
      float *t = n->dy;
      n->dy = n->dx;
      n->dx = t;
    }
  }
  // n->dx holds dLoss/dx0 (R, I0): scatter into the embeddings, rows in order.
  const int E = n->E, S = n->S, I0 = n->I0;
  for (size_t r = 0; r < R; r++) {
    const float *dxr = n->dx + r * (size_t)I0;
    if (what & CANTUS_GRAD_LSTM) {
      float *ge = g->tok_emb + (size_t)n->chunk.tok[r] * (size_t)E;
      for (int j = 0; j < E; j++) {
        ge[j] += dxr[j];
      }
    }
    float *gs = g->style_emb + (size_t)n->chunk.style[r] * (size_t)S;
    for (int j = 0; j < S; j++) {
      gs[j] += dxr[E + j];
    }
  }
}
