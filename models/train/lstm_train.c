// SPDX-License-Identifier: GPL-3.0-or-later
// Batched forward and backward of the stacked LSTM over one truncated-BPTT
// chunk (T steps of B parallel streams), for the offline trainer only.
// The input projections of a whole chunk are one big GEMM per layer; each
// step adds its recurrent product (B,H)x(H,4H) (W_hh packed once per chunk
// for panel.c's kernel, or OpenBLAS) and then calls cantus_lstm_gates()
// from dsp/, the same cell update the plugin runs, keeping the gate
// activations for backward.  Weight gradients are again one big GEMM per
// matrix per chunk.  With P threads the per-step loops split the hidden
// units into P blocks, one thread each: the gate rows are permuted so that
// a block's [i|f|g|o] rows are contiguous, each thread keeps only its share
// of W_hh hot in its own cache, and the threads meet at one spinning
// barrier per step.  The chunk-sized GEMMs and element-wise passes are
// split into the same P parts on the trainer's own pool (see Pool).
// Non-RT; links OpenBLAS.
#include "sample.h"
#include "train.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_ROW_THREADS = 16 };

// A sense-reversing barrier for the per-step loops: spins (a step is a
// few hundred microseconds of work), yielding after a while so a thread
// whose partner was descheduled does not burn the partner's core.
typedef struct {
  _Alignas(64) atomic_int count;
  _Alignas(64) atomic_int sense;
  int n;
} SpinBarrier;

static void barrier_wait(SpinBarrier *b, int *local_sense)
{
  const int s = !*local_sense;
  *local_sense = s;
  if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == b->n - 1) {
    atomic_store_explicit(&b->count, 0, memory_order_relaxed);
    atomic_store_explicit(&b->sense, s, memory_order_release);
    return;
  }
  for (int spins = 0; atomic_load_explicit(&b->sense, memory_order_acquire) != s; spins++) {
    if (spins > 4000) {
      sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
}

// The trainer's own threads.  Every GEMM of a chunk is split between them
// by hand, each part on one OpenBLAS thread, so OpenBLAS's own workers
// never run: they spin for a while after each call, and on a machine with
// as many cores as threads they would take a core from the per-step loops.
// Workers spin briefly for the next job, then sleep on a condition
// variable.
typedef void (*PoolFn)(void *arg, int w, int nw);

typedef struct Pool Pool;

typedef struct {
  Pool *pool;
  int w;
} PoolWorker;

struct Pool {
  int n;    // threads including the caller
  int want; // unit blocks it was made for (P)
  pthread_t tid[MAX_ROW_THREADS];
  PoolWorker wk[MAX_ROW_THREADS];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  _Alignas(64) atomic_uint gen; // job generation
  _Alignas(64) atomic_int done; // workers finished with this generation
  PoolFn fn;
  void *arg;
  bool quit;
};

static void *pool_main(void *arg)
{
  PoolWorker *me = arg;
  Pool *p = me->pool;
  unsigned seen = 0;
  for (;;) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && spins < 20000) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      spins++;
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->quit) {
        pthread_cond_wait(&p->cv, &p->mu);
      }
      const bool quit = p->quit;
      pthread_mutex_unlock(&p->mu);
      if (quit) {
        return NULL;
      }
    }
    seen = g;
    p->fn(p->arg, me->w, p->n);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
  }
}

// Starts up to n - 1 workers (fewer if the system has none to spare: the
// pool then has fewer threads; results depend only on its size).
static Pool solo_pool = { .n = 1 }; // when even the pool cannot be allocated

static Pool *pool_new(int n)
{
  Pool *p = calloc(1, sizeof *p);
  if (!p) {
    return &solo_pool;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->n = 1;
  for (int w = 1; w < n && w < MAX_ROW_THREADS; w++) {
    p->wk[w] = (PoolWorker){ p, w };
    if (pthread_create(&p->tid[w], NULL, pool_main, &p->wk[w]) != 0) {
      break;
    }
    p->n++;
  }
  return p;
}

static void pool_free(Pool *p)
{
  if (!p || p == &solo_pool) {
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->quit = true;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int w = 1; w < p->n; w++) {
    pthread_join(p->tid[w], NULL);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

// Runs fn(arg, w, n) on every thread of the pool (w = 0 on the caller) and
// returns when all are done.
static void pool_run(Pool *p, PoolFn fn, void *arg)
{
  if (p->n == 1) {
    fn(arg, 0, 1);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  fn(arg, 0, p->n);
  for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1; spins++) {
    if (spins > 20000) {
      sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
}

// One cblas_sgemm (row-major) split into P parts over the pool: along M
// when M is the larger side, else along N, in whole 16s.  Each part runs on
// one OpenBLAS thread; a pool smaller than P runs several parts per thread,
// so the numbers depend on P alone.
typedef struct {
  enum CBLAS_TRANSPOSE ta, tb;
  int M, N, K;
  float alpha, beta;
  const float *A, *B;
  float *C;
  int lda, ldb, ldc;
  int parts; // P: the split depends on it alone, not on the pool's size
} Gemm;

static void gemm_one(const Gemm *g, int q);

static void split16(int len, int w, int nw, int *lo, int *hi)
{
  const int units = (len + 15) / 16;
  *lo = units * w / nw * 16;
  *hi = units * (w + 1) / nw * 16;
  *lo = *lo > len ? len : *lo;
  *hi = *hi > len ? len : *hi;
}

static void gemm_part(void *arg, int w, int nw)
{
  const Gemm *g = arg;
  for (int q = w; q < g->parts; q += nw) {
    gemm_one(g, q);
  }
}

static void gemm_one(const Gemm *g, int q)
{
  const int w = q, nw = g->parts;
  int lo, hi;
  if (g->M >= g->N) {
    split16(g->M, w, nw, &lo, &hi);
    if (hi > lo) {
      cblas_sgemm(CblasRowMajor,
                  g->ta,
                  g->tb,
                  hi - lo,
                  g->N,
                  g->K,
                  g->alpha,
                  g->ta == CblasNoTrans ? g->A + (size_t)lo * (size_t)g->lda : g->A + lo,
                  g->lda,
                  g->B,
                  g->ldb,
                  g->beta,
                  g->C + (size_t)lo * (size_t)g->ldc,
                  g->ldc);
    }
  } else {
    split16(g->N, w, nw, &lo, &hi);
    if (hi > lo) {
      cblas_sgemm(CblasRowMajor,
                  g->ta,
                  g->tb,
                  g->M,
                  hi - lo,
                  g->K,
                  g->alpha,
                  g->A,
                  g->lda,
                  g->tb == CblasNoTrans ? g->B + lo : g->B + (size_t)lo * (size_t)g->ldb,
                  g->ldb,
                  g->beta,
                  g->C + lo,
                  g->ldc);
    }
  }
}

static void par_sgemm(Pool *pool,
                      int parts,
                      enum CBLAS_TRANSPOSE ta,
                      enum CBLAS_TRANSPOSE tb,
                      int M,
                      int N,
                      int K,
                      float alpha,
                      const float *A,
                      int lda,
                      const float *B,
                      int ldb,
                      float beta,
                      float *C,
                      int ldc)
{
  Gemm g = { ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, parts };
  pool_run(pool, gemm_part, &g);
}

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
  // Unit blocks of the per-step loops (threads), fixed by the last forward.
  // With P > 1 the gate dimension of pre, act and the layer weights below
  // is permuted: block q holds rows [i|f|g|o] of units [q*H/P, (q+1)*H/P).
  int P;
  float *w_ih[CANTUS_MAX_LAYERS]; // (4H, Ik) permuted copies (P > 1)
  float *w_hh[CANTUS_MAX_LAYERS]; // (4H, H)
  float *b[CANTUS_MAX_LAYERS];    // (4H)
  float *gtmp;                    // (4H, max(I0, H)) permuted gradient scratch
  const float *wk;                // W_hh of the layer in the per-step loops (block order)
  Pool *pool;                     // P threads (fewer if the system had none to spare)
  float *panel_f;                 // P x (H, 4H/P) forward panels of W_hh (cantus_panel_pack)
  float *panel_b;                 // P x (4H, H/P) backward panels of W_hh
  int panel_p;                    // P the panels are sized for, 0 = none (OpenBLAS per step)
  double *nll;                    // (R) per-row nll of the last forward
  // Version 2 form inputs: x0 holds only the dense columns [emb | style |
  // tick | beat | phrase | bars left] (I0c of them); each lag's lb_emb
  // columns go through a table instead, as in the plugin's step:
  // lbt[i] (V+1, 4H) = lb_emb W_ih0[:, lag i]^T, pre += lbt[i][look].
  // Backward sums dpre per lookback class (lbd) and multiplies those.
  bool form;  // version 2 layout of x0
  int I0c;    // columns of an x0 row (v2: the dense ones), = I0 in v1
  int n_lags; // lookback inputs
  float *lbt; // (n_lags, V+1, 4H) tables of the last forward (gate rows in block order)
  float *lbd; // (V+1, 4H) per-class dpre sums
  SpinBarrier bar;
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
  n->chunk.look = calloc(R * CANTUS_LOOKBACK_N_LAGS, sizeof(uint16_t));
  n->chunk.phrase = calloc(R, 1);
  n->chunk.bars_left = calloc(R, 1);
  n->chunk.chord = calloc(R, sizeof(uint16_t));
  ok = n->chunk.tok && n->chunk.tgt && n->chunk.style && n->chunk.pos_tick && n->chunk.pos_beat &&
       n->chunk.look && n->chunk.phrase && n->chunk.bars_left && n->chunk.chord;
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
  for (int k = 0; k < n->L; k++) {
    n->w_ih[k] = falloc(G * (size_t)cantus_dims_input(d, (uint32_t)k), &ok);
    n->w_hh[k] = falloc(G * H, &ok);
    n->b[k] = falloc(G, &ok);
  }
  n->gtmp = falloc(G * wide, &ok);
  n->form = cantus_dims_is_v2(d);
  n->n_lags = (int)cantus_dims_n_lags(d);
  n->I0c =
    n->form
      ? (int)(cantus_dims_col_lookback(d) + (cantus_dims_input(d, 0) - cantus_dims_col_phrase(d)))
      : n->I0;
  if (n->n_lags) {
    n->lbt = falloc((size_t)n->n_lags * (V + 1) * G, &ok);
    n->lbd = falloc((V + 1) * G, &ok);
  }
  n->nll = calloc(R, sizeof(double));
  ok = ok && n->nll;
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
  free(n->chunk.look);
  free(n->chunk.phrase);
  free(n->chunk.bars_left);
  free(n->chunk.chord);
  free(n->x0);
  for (int k = 0; k < CANTUS_MAX_LAYERS; k++) {
    free(n->act[k]);
    free(n->c[k]);
    free(n->cin[k]);
    free(n->hin[k]);
    free(n->h[k]);
    free(n->y[k]);
    free(n->mask[k]);
    free(n->w_ih[k]);
    free(n->w_hh[k]);
    free(n->b[k]);
  }
  free(n->gtmp);
  free(n->lbt);
  free(n->lbd);
  free(n->nll);
  free(n->panel_f);
  free(n->panel_b);
  pool_free(n->pool);
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

// OpenBLAS runs on one thread inside forward and backward: the trainer's
// pool splits every product itself (see Pool).  The configured count is
// restored afterwards for other callers.
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

static void run_rows(CantusLstmTrain *n, int k, int backward);

// Unit blocks for the per-step loops: one per OpenBLAS thread, as long as
// every block keeps at least 8 units.  Depends only on the thread count
// and H, so results do too.
static int unit_blocks(const CantusLstmTrain *n)
{
  int P = openblas_get_num_threads();
  P = P < 1 ? 1 : P > MAX_ROW_THREADS ? MAX_ROW_THREADS : P;
  while (P > 1 && (n->H % P != 0 || n->H / P < 8)) {
    P--;
  }
  return P;
}

// Row of canonical gate row c (gate c / H, unit c % H) in the block order.
static size_t perm_row(int H, int P, int c)
{
  const int Hq = H / P, gi = c / H, u = c % H;
  return (size_t)(u / Hq) * 4u * (size_t)Hq + (size_t)gi * (size_t)Hq + (size_t)(u % Hq);
}

// The layer weights in block order (P > 1), refreshed every forward.
static void permute_params(CantusLstmTrain *n, const CantusParams *p)
{
  for (int k = 0; k < n->L; k++) {
    const size_t in_w = cantus_dims_input(&n->d, (uint32_t)k), H = (size_t)n->H;
    for (int c = 0; c < n->G; c++) {
      const size_t r = perm_row(n->H, n->P, c);
      memcpy(n->w_ih[k] + r * in_w, p->layer[k].w_ih + (size_t)c * in_w, in_w * sizeof(float));
      memcpy(n->w_hh[k] + r * H, p->layer[k].w_hh + (size_t)c * H, H * sizeof(float));
      n->b[k][r] = p->layer[k].b[c];
    }
  }
}

static const float *lw_ih(const CantusLstmTrain *n, const CantusParams *p, int k)
{
  return n->P > 1 ? n->w_ih[k] : p->layer[k].w_ih;
}
static const float *lw_hh(const CantusLstmTrain *n, const CantusParams *p, int k)
{
  return n->P > 1 ? n->w_hh[k] : p->layer[k].w_hh;
}
static const float *lb(const CantusLstmTrain *n, const CantusParams *p, int k)
{
  return n->P > 1 ? n->b[k] : p->layer[k].b;
}

// dst (canonical rows) += src (block-order rows), rows of `cols` floats.
static void unpermute_add(const CantusLstmTrain *n, float *dst, const float *src, size_t cols)
{
  for (int c = 0; c < n->G; c++) {
    const float *s = src + perm_row(n->H, n->P, c) * cols;
    float *d = dst + (size_t)c * cols;
    for (size_t j = 0; j < cols; j++) {
      d[j] += s[j];
    }
  }
}

// The dropout masks' generator is splitmix64, one independent stream per
// (seed, layer), so masks do not depend on thread count or timing.
static void make_mask(float *mask, size_t n, float p, uint64_t seed)
{
  uint64_t s = seed;
  const float keep = 1.0f / (1.0f - p);
  // 24-bit uniforms; two per 64-bit draw.
  const uint32_t thresh = (uint32_t)((double)p * 16777216.0);
  for (size_t i = 0; i < n; i += 2) {
    uint64_t z = cantus_splitmix64_next(&s);
    mask[i] = ((uint32_t)(z >> 40) < thresh) ? 0.0f : keep;
    if (i + 1 < n) {
      mask[i + 1] = ((uint32_t)((z >> 8) & 0xffffffu) < thresh) ? 0.0f : keep;
    }
  }
}

// Lookback class of row r at lag index i, clamped to 0..V (V = NONE).
static int look_class(const CantusLstmTrain *n, size_t r, int i)
{
  const int c = n->chunk.look[r * CANTUS_LOOKBACK_N_LAGS + (size_t)i];
  return c <= n->V ? c : n->V;
}

// Layer-0 input rows: [tok_emb[tok] | style_emb[style] | onehot(tick) |
// onehot(beat)], and in version 2 then [onehot(phrase) | onehot(bars
// left) | chord (cantus_chord_input)]: FORMAT.md's columns without the
// lookback ones, which add_lookback() supplies through tables.  The chord
// columns are ordinary dense inputs, so their gradient is W_ih0's.
static void build_x0(CantusLstmTrain *n, const CantusParams *p)
{
  const int E = n->E, S = n->S, I0 = n->I0c;
  const CantusDims *d = &n->d;
  const int c_lb = (int)cantus_dims_col_lookback(d);
  const int c_bl = c_lb + (int)d->n_phrase; // in x0, the phrase one-hot starts at c_lb
  for (size_t r = 0; r < n->R; r++) {
    float *x = n->x0 + r * (size_t)I0;
    memset(x, 0, (size_t)I0 * sizeof(float));
    int tok = n->chunk.tok[r];
    int st = n->chunk.style[r];
    memcpy(x, p->tok_emb + (size_t)tok * (size_t)E, (size_t)E * sizeof(float));
    memcpy(x + E, p->style_emb + (size_t)st * (size_t)S, (size_t)S * sizeof(float));
    x[E + S + n->chunk.pos_tick[r]] = 1.0f;
    x[E + S + n->NT + n->chunk.pos_beat[r]] = 1.0f;
    if (d->n_phrase) {
      const int ph = n->chunk.phrase[r];
      x[c_lb + (ph < (int)d->n_phrase ? ph : 0)] = 1.0f;
    }
    if (d->n_bars_left) {
      const int bl = n->chunk.bars_left[r];
      x[c_bl + (bl < (int)d->n_bars_left ? bl : CANTUS_BARS_LEFT_UNKNOWN)] = 1.0f;
    }
    if (d->n_chord == CANTUS_CHORD_INPUTS) {
      const CantusChord ch = { (uint16_t)(n->chunk.chord[r] & 0xfffu), -1, -1 };
      cantus_chord_input(ch, x + c_bl + d->n_bars_left);
    }
  }
}

// Layer-0 columns of lookback input j (the j-th set bit of lookback_lags).
static int lag_col(const CantusLstmTrain *n, int j)
{
  return (int)cantus_dims_col_lookback(&n->d) + j * n->E;
}

// g[j] += sum over rows of m[r][j], accumulated in double row by row (a
// fixed order, so deterministic) in n->colsum; the columns are split into
// P parts over the pool, each summed exactly as one thread would.
typedef struct {
  CantusLstmTrain *n;
  float *g;
  const float *m;
  size_t rows;
  int cols;
} ColsumJob;

static void colsum_part(void *arg, int w, int nw)
{
  const ColsumJob *j = arg;
  double *acc = j->n->colsum;
  for (int q = w; q < j->n->P; q += nw) {
    int lo, hi;
    split16(j->cols, q, j->n->P, &lo, &hi);
    for (int c = lo; c < hi; c++) {
      acc[c] = 0.0;
    }
    for (size_t r = 0; r < j->rows; r++) {
      const float *row = j->m + r * (size_t)j->cols;
      for (int c = lo; c < hi; c++) {
        acc[c] += (double)row[c];
      }
    }
    for (int c = lo; c < hi; c++) {
      j->g[c] += (float)acc[c];
    }
  }
}

static void add_colsum(CantusLstmTrain *n, float *g, const float *m, size_t rows, int cols)
{
  ColsumJob j = { n, g, m, rows, cols };
  pool_run(n->pool, colsum_part, &j);
}

// x[i] *= mask[i] over n floats, split over the pool.
typedef struct {
  float *x;
  const float *mask;
  const float *src; // x = src * mask when non-NULL
  size_t n;
} MaskJob;

static void mask_part(void *arg, int w, int nw)
{
  const MaskJob *j = arg;
  const size_t lo = j->n * (size_t)w / (size_t)nw, hi = j->n * (size_t)(w + 1) / (size_t)nw;
  const float *src = j->src ? j->src : j->x;
  for (size_t i = lo; i < hi; i++) {
    j->x[i] = src[i] * j->mask[i];
  }
}

static void apply_mask(Pool *pool, float *x, const float *src, const float *mask, size_t n)
{
  MaskJob j = { x, mask, src, n };
  pool_run(pool, mask_part, &j);
}

// dlogits = (softmax - onehot) / n_scored, in place in probs, rows split.
static void dlogits_part(void *arg, int w, int nw)
{
  CantusLstmTrain *n = arg;
  const int V = n->V;
  const float scale = n->n_scored > 0 ? 1.0f / (float)n->n_scored : 0.0f;
  const size_t lo = n->R * (size_t)w / (size_t)nw, hi = n->R * (size_t)(w + 1) / (size_t)nw;
  for (size_t r = lo; r < hi; r++) {
    float *pr = n->probs + r * (size_t)V;
    const int tg = n->chunk.tgt[r];
    if (tg < 0) {
      memset(pr, 0, (size_t)V * sizeof(float));
      continue;
    }
    pr[tg] -= 1.0f;
    for (int v = 0; v < V; v++) {
      pr[v] *= scale;
    }
  }
}

// Softmax and nll of rows [lo, hi) of the chunk (part w of nw).
static void softmax_part(void *arg, int w, int nw)
{
  CantusLstmTrain *n = arg;
  const int V = n->V;
  const size_t lo = n->R * (size_t)w / (size_t)nw, hi = n->R * (size_t)(w + 1) / (size_t)nw;
  for (size_t r = lo; r < hi; r++) {
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
    const int tg = n->chunk.tgt[r];
    n->nll[r] = tg >= 0 ? log(z) - (double)(lg[tg] - mx) : 0.0;
  }
}

// Version 2 layer-0 input projection, added into n->pre: the dense columns
// of x0 against theirs of W_ih0 (before the lookback columns, and after
// them), then per lag a table lookup.
static void forward_form_input(CantusLstmTrain *n, const CantusParams *p)
{
  const int G = n->G, I0 = n->I0, I0c = n->I0c, V1 = n->V + 1;
  const int c_lb = (int)cantus_dims_col_lookback(&n->d), c_ph = (int)cantus_dims_col_phrase(&n->d);
  const float *w = lw_ih(n, p, 0);
  const int R = (int)n->R;
  par_sgemm(
    n->pool, n->P, CblasNoTrans, CblasTrans, R, G, c_lb, 1.0f, n->x0, I0c, w, I0, 1.0f, n->pre, G);
  if (I0 > c_ph) {
    par_sgemm(n->pool,
              n->P,
              CblasNoTrans,
              CblasTrans,
              R,
              G,
              I0 - c_ph,
              1.0f,
              n->x0 + c_lb,
              I0c,
              w + c_ph,
              I0,
              1.0f,
              n->pre,
              G);
  }
  for (int j = 0, i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
    if (!((n->d.lookback_lags >> i) & 1u)) {
      continue;
    }
    float *t = n->lbt + (size_t)j * (size_t)V1 * (size_t)G;
    // t (V+1, 4H) = lb_emb (V+1, E) W_ih0[:, lag j]^T
    par_sgemm(n->pool,
              n->P,
              CblasNoTrans,
              CblasTrans,
              V1,
              G,
              n->E,
              1.0f,
              p->lb_emb,
              n->E,
              w + lag_col(n, j),
              I0,
              0.0f,
              t,
              G);
    for (size_t r = 0; r < n->R; r++) {
      const float *tr = t + (size_t)look_class(n, r, i) * (size_t)G;
      float *pr = n->pre + r * (size_t)G;
      for (int c = 0; c < G; c++) {
        pr[c] += tr[c];
      }
    }
    j++;
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
  n->P = unit_blocks(n);
  if (!n->pool || n->pool->want != n->P) {
    // No more threads than cores: spinning workers must not wait for
    // each other's turn on one core.  A worker then runs several blocks.
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pool_free(n->pool);
    n->pool = pool_new(cores >= 1 && cores < n->P ? (int)cores : n->P);
    n->pool->want = n->P;
  }
  if (n->panel_p != n->P && cantus_panel_fast()) {
    // Panels for the per-step products, sized for P blocks; without them
    // (no memory) the per-step products stay with OpenBLAS.
    const int Hq = H / n->P;
    free(n->panel_f);
    free(n->panel_b);
    bool ok = true;
    n->panel_f = falloc((size_t)n->P * cantus_panel_floats(H, 4 * Hq), &ok);
    n->panel_b = falloc((size_t)n->P * cantus_panel_floats(G, Hq), &ok);
    n->panel_p = ok ? n->P : 0;
  }
  serial_begin(n);
  if (n->P > 1) {
    permute_params(n, p);
  }
  build_x0(n, p);
  const float *x = n->x0;
  int in_w = n->I0;
  for (int k = 0; k < n->L; k++) {
    float *hs = n->state + (size_t)(2 * k) * (size_t)B * (size_t)H; // (B,H) carried h
    float *cs = hs + (size_t)B * (size_t)H;                         // (B,H) carried c
    // pre (R, 4H) = b + x W_ih^T: the hoisted input projection of the chunk.
    for (size_t r = 0; r < R; r++) {
      memcpy(n->pre + r * (size_t)G, lb(n, p, k), (size_t)G * sizeof(float));
    }
    if (k == 0 && n->form) {
      forward_form_input(n, p);
    } else {
      par_sgemm(n->pool,
                n->P,
                CblasNoTrans,
                CblasTrans,
                (int)R,
                G,
                in_w,
                1.0f,
                x,
                in_w,
                lw_ih(n, p, k),
                in_w,
                1.0f,
                n->pre,
                G);
    }
    n->wk = lw_hh(n, p, k);
    run_rows(n, k, 0);
    memcpy(hs, n->h[k] + (R - (size_t)B) * (size_t)H, (size_t)B * (size_t)H * sizeof(float));
    memcpy(cs, n->c[k] + (R - (size_t)B) * (size_t)H, (size_t)B * (size_t)H * sizeof(float));
    if (n->dropped) {
      make_mask(n->mask[k],
                R * (size_t)H,
                dropout,
                drop_seed * 0x100000001b3ull + (uint64_t)k * 0x9e3779b97f4a7c15ull + 1u);
      apply_mask(n->pool, n->y[k], n->h[k], n->mask[k], R * (size_t)H);
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
  par_sgemm(n->pool,
            n->P,
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
  pool_run(n->pool, softmax_part, n);
  serial_end(n);
  // The sum in row order, whatever the thread count.
  double sum = 0.0;
  int scored = 0;
  for (size_t r = 0; r < R; r++) {
    if (n->chunk.tgt[r] >= 0) {
      sum += n->nll[r];
      scored++;
    }
    if (nll_row) {
      nll_row[r] = n->nll[r];
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

// Forward time loop of layer k for the unit blocks q = w, w + nw, ... of P
// (worker w of nw): their share of the recurrent product and their cell
// updates, step by step.  Every step reads the whole previous h, so the
// workers meet at a barrier per step.
static void forward_blocks(CantusLstmTrain *n, int k, int w, int nw)
{
  const int B = n->B, T = n->T, H = n->H, G = n->G, P = n->P, Hq = H / P, Gq = 4 * Hq;
  const float *hs = n->state + (size_t)(2 * k) * (size_t)B * (size_t)H; // (B,H) carried h
  const float *cs = hs + (size_t)B * (size_t)H;                         // (B,H) carried c
  const bool panels = n->panel_p == P;
  const size_t pf = cantus_panel_floats(H, Gq);
  for (int q = w; q < P && panels; q += nw) {
    cantus_panel_pack(
      n->panel_f + (size_t)q * pf, n->wk + (size_t)q * (size_t)Gq * (size_t)H, H, H, Gq, true);
  }
  int sense = 0;
  for (int t = 0; t < T; t++) {
    const size_t r0 = (size_t)t * (size_t)B;
    float *hin = n->hin[k] + r0 * (size_t)H; // (B,H)
    float *cin = n->cin[k] + r0 * (size_t)H; // (B,H)
    const float *hprev = t == 0 ? hs : n->h[k] + (r0 - (size_t)B) * (size_t)H;
    const float *cprev = t == 0 ? cs : n->c[k] + (r0 - (size_t)B) * (size_t)H;
    // A row whose input is START begins a piece: its state restarts at zero,
    // as the plugin's does.  Each block copies its own units.
    for (int q = w; q < P; q += nw) {
      for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * (size_t)H + (size_t)q * (size_t)Hq;
        if (n->chunk.tok[r0 + (size_t)b] == CANTUS_TOK_START) {
          memset(hin + o, 0, (size_t)Hq * sizeof(float));
          memset(cin + o, 0, (size_t)Hq * sizeof(float));
        } else {
          memcpy(hin + o, hprev + o, (size_t)Hq * sizeof(float));
          memcpy(cin + o, cprev + o, (size_t)Hq * sizeof(float));
        }
      }
    }
    if (nw > 1) {
      barrier_wait(&n->bar, &sense); // every block's part of hin_t is in
    }
    float *pre_t = n->pre + r0 * (size_t)G; // (B, 4H)
    for (int q = w; q < P; q += nw) {
      const size_t uo = (size_t)q * (size_t)Hq, go = (size_t)q * (size_t)Gq;
      // pre_t[:, block] (B,Gq) += hin_t (B,H) W_hh[block rows]^T (H,Gq)
      if (panels) {
        cantus_panel_gemm(B, Gq, H, hin, H, n->panel_f + (size_t)q * pf, pre_t + go, G, true);
      } else {
        cblas_sgemm(CblasRowMajor,
                    CblasNoTrans,
                    CblasTrans,
                    B,
                    Gq,
                    H,
                    1.0f,
                    hin,
                    H,
                    n->wk + go * (size_t)H,
                    H,
                    1.0f,
                    pre_t + go,
                    G);
      }
      for (int b = 0; b < B; b++) {
        const size_t r = r0 + (size_t)b;
        cantus_lstm_gates(Hq,
                          pre_t + (size_t)b * (size_t)G + go,
                          cin + (size_t)b * (size_t)H + uo,
                          n->c[k] + r * (size_t)H + uo,
                          n->h[k] + r * (size_t)H + uo,
                          n->act[k] + r * (size_t)G + go);
      }
    }
  }
}

// Backward through time of layer k for the unit blocks of worker w of nw,
// given dy = dLoss/d(y_k), leaving dLoss/d(pre) in n->pre (block order).
// dh_next of a block needs every block's dpre: a barrier per step.
static void backward_blocks(CantusLstmTrain *n, int k, int w, int nw)
{
  const int B = n->B, T = n->T, H = n->H, G = n->G, P = n->P, Hq = H / P, Gq = 4 * Hq;
  float *dh_next = n->dh_next, *dc_next = n->dc_next;
  const bool panels = n->panel_p == P;
  const size_t pb = cantus_panel_floats(G, Hq);
  for (int q = w; q < P && panels; q += nw) {
    cantus_panel_pack(n->panel_b + (size_t)q * pb, n->wk + (size_t)q * (size_t)Hq, H, G, Hq, false);
  }
  int sense = 0;
  for (int q = w; q < P; q += nw) {
    for (int b = 0; b < B; b++) {
      memset(
        dh_next + (size_t)b * (size_t)H + (size_t)q * (size_t)Hq, 0, (size_t)Hq * sizeof(float));
      memset(
        dc_next + (size_t)b * (size_t)H + (size_t)q * (size_t)Hq, 0, (size_t)Hq * sizeof(float));
    }
  }
  for (int t = T - 1; t >= 0; t--) {
    const size_t r0 = (size_t)t * (size_t)B;
    for (int q = w; q < P; q += nw) {
      const size_t uo = (size_t)q * (size_t)Hq, go = (size_t)q * (size_t)Gq;
      for (int b = 0; b < B; b++) {
        const size_t r = r0 + (size_t)b;
        // The reset at a START cuts the gradient path to the previous piece.
        const float keep = n->chunk.tok[r] != CANTUS_TOK_START ? 1.0f : 0.0f;
        cell_backward(Hq,
                      n->act[k] + r * (size_t)G + go,
                      n->h[k] + r * (size_t)H + uo,
                      n->cin[k] + r * (size_t)H + uo,
                      n->dy + r * (size_t)H + uo,
                      dh_next + (size_t)b * (size_t)H + uo,
                      dc_next + (size_t)b * (size_t)H + uo,
                      n->pre + r * (size_t)G + go,
                      keep);
      }
    }
    if (t == 0) {
      break;
    }
    if (nw > 1) {
      barrier_wait(&n->bar, &sense); // every block's dpre_t is in
    }
    for (int q = w; q < P; q += nw) {
      const size_t uo = (size_t)q * (size_t)Hq;
      // dh_next[:, block] (B,Hq) = dpre_t (B,4H) W_hh[:, block] (4H,Hq),
      // then the reset mask.
      if (panels) {
        cantus_panel_gemm(B,
                          Hq,
                          G,
                          n->pre + r0 * (size_t)G,
                          G,
                          n->panel_b + (size_t)q * pb,
                          dh_next + uo,
                          H,
                          false);
      } else {
        cblas_sgemm(CblasRowMajor,
                    CblasNoTrans,
                    CblasNoTrans,
                    B,
                    Hq,
                    G,
                    1.0f,
                    n->pre + r0 * (size_t)G,
                    G,
                    n->wk + uo,
                    H,
                    0.0f,
                    dh_next + uo,
                    H);
      }
      for (int b = 0; b < B; b++) {
        if (n->chunk.tok[r0 + (size_t)b] == CANTUS_TOK_START) {
          memset(dh_next + (size_t)b * (size_t)H + uo, 0, (size_t)Hq * sizeof(float));
        }
      }
    }
  }
}

typedef struct {
  CantusLstmTrain *n;
  int k, backward;
} RowsJob;

static void rows_part(void *arg, int w, int nw)
{
  const RowsJob *j = arg;
  if (j->backward) {
    backward_blocks(j->n, j->k, w, nw);
  } else {
    forward_blocks(j->n, j->k, w, nw);
  }
}

// The time loop of layer k (forward or backward): the P unit blocks on the
// pool's threads (a thread runs several blocks if the pool is smaller).
// The results depend only on P, never on how many threads ran them.
static void run_rows(CantusLstmTrain *n, int k, int backward)
{
  RowsJob j = { n, k, backward };
  atomic_store(&n->bar.count, 0);
  atomic_store(&n->bar.sense, 0);
  n->bar.n = n->pool->n;
  pool_run(n->pool, rows_part, &j);
}

// dW (4H, cols) += dpre^T (4H,R) x (R,cols), dpre in block order, dW not.
static void add_weight_grad(CantusLstmTrain *n, float *dw, const float *x, int cols)
{
  const bool perm = n->P > 1;
  par_sgemm(n->pool,
            n->P,
            CblasTrans,
            CblasNoTrans,
            n->G,
            cols,
            (int)n->R,
            1.0f,
            n->pre,
            n->G,
            x,
            cols,
            perm ? 0.0f : 1.0f,
            perm ? n->gtmp : dw,
            cols);
  if (perm) {
    unpermute_add(n, dw, n->gtmp, (size_t)cols);
  }
}

// dW[:, col0 .. col0+cols) (rows of ld_dw floats, canonical order) +=
// dpre^T (4H,R) x (R,cols) with x's rows ldx apart; dpre in block order.
static void add_weight_grad_cols(CantusLstmTrain *n,
                                 float *dw,
                                 int ld_dw,
                                 int col0,
                                 const float *x,
                                 int ldx,
                                 int cols)
{
  par_sgemm(n->pool,
            n->P,
            CblasTrans,
            CblasNoTrans,
            n->G,
            cols,
            (int)n->R,
            1.0f,
            n->pre,
            n->G,
            x,
            ldx,
            0.0f,
            n->gtmp,
            cols);
  for (int c = 0; c < n->G; c++) {
    const float *src = n->gtmp + (n->P > 1 ? perm_row(n->H, n->P, c) : (size_t)c) * (size_t)cols;
    float *dst = dw + (size_t)c * (size_t)ld_dw + (size_t)col0;
    for (int j = 0; j < cols; j++) {
      dst[j] += src[j];
    }
  }
}

// Version 2, layer 0: the gradient of W_ih0's dense columns, and through the
// lookback tables that of the lag columns and of lb_emb.
static void backward_form_weights(CantusLstmTrain *n,
                                  const CantusParams *p,
                                  CantusParams *g,
                                  int what)
{
  const int G = n->G, I0 = n->I0, I0c = n->I0c, V1 = n->V + 1, E = n->E;
  const int c_lb = (int)cantus_dims_col_lookback(&n->d), c_ph = (int)cantus_dims_col_phrase(&n->d);
  if (!(what & CANTUS_GRAD_LSTM)) {
    return;
  }
  add_weight_grad_cols(n, g->layer[0].w_ih, I0, 0, n->x0, I0c, c_lb);
  if (I0 > c_ph) {
    add_weight_grad_cols(n, g->layer[0].w_ih, I0, c_ph, n->x0 + c_lb, I0c, I0 - c_ph);
  }
  const float *w = lw_ih(n, p, 0);
  for (int j = 0, i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
    if (!((n->d.lookback_lags >> i) & 1u)) {
      continue;
    }
    // lbd[v] = sum of dpre over the rows that looked up class v, in row order.
    memset(n->lbd, 0, (size_t)V1 * (size_t)G * sizeof(float));
    for (size_t r = 0; r < n->R; r++) {
      float *dv = n->lbd + (size_t)look_class(n, r, i) * (size_t)G;
      const float *dr = n->pre + r * (size_t)G;
      for (int c = 0; c < G; c++) {
        dv[c] += dr[c];
      }
    }
    // dW_ih0[:, lag j] (4H, E) += lbd^T (4H, V+1) lb_emb (V+1, E)
    par_sgemm(n->pool,
              n->P,
              CblasTrans,
              CblasNoTrans,
              G,
              E,
              V1,
              1.0f,
              n->lbd,
              G,
              p->lb_emb,
              E,
              0.0f,
              n->gtmp,
              E);
    for (int c = 0; c < G; c++) {
      const float *src = n->gtmp + (n->P > 1 ? perm_row(n->H, n->P, c) : (size_t)c) * (size_t)E;
      float *dst = g->layer[0].w_ih + (size_t)c * (size_t)I0 + (size_t)lag_col(n, j);
      for (int q = 0; q < E; q++) {
        dst[q] += src[q];
      }
    }
    // d lb_emb (V+1, E) += lbd (V+1, 4H) W_ih0[:, lag j] (4H, E), both in block order
    par_sgemm(n->pool,
              n->P,
              CblasNoTrans,
              CblasNoTrans,
              V1,
              E,
              G,
              1.0f,
              n->lbd,
              G,
              w + lag_col(n, j),
              I0,
              1.0f,
              g->lb_emb,
              E);
    j++;
  }
}

void cantus_lstm_train_backward(CantusLstmTrain *n,
                                const CantusParams *p,
                                CantusParams *g,
                                int what)
{
  const int H = n->H, G = n->G, V = n->V, L = n->L;
  const size_t R = n->R;
  serial_begin(n);
  pool_run(n->pool, dlogits_part, n);
  const float *yl = n->y[L - 1];
  if (what & CANTUS_GRAD_OUT) {
    // dW_out (V,H) += dlogits^T (V,R) y_L (R,H)
    par_sgemm(n->pool,
              n->P,
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
    add_colsum(n, g->b_out, n->probs, R, V);
  }
  if (!(what & (CANTUS_GRAD_LSTM | CANTUS_GRAD_STYLE))) {
    serial_end(n);
    return;
  }
  // dy (R,H) = dlogits (R,V) W_out (V,H)
  par_sgemm(n->pool,
            n->P,
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
      apply_mask(n->pool, n->dy, NULL, n->mask[k], R * (size_t)H);
    }
    n->wk = lw_hh(n, p, k);
    run_rows(n, k, 1); // dpre in n->pre
    const float *x = k == 0 ? n->x0 : n->y[k - 1];
    int in_w = k == 0 ? n->I0 : H;
    const bool form0 = k == 0 && n->form;
    if (what & CANTUS_GRAD_LSTM) {
      // dW_hh (4H,H) += dpre^T (4H,R) hin (R,H); dW_ih (4H,I) += dpre^T x (R,I)
      add_weight_grad(n, g->layer[k].w_hh, n->hin[k], H);
      if (form0) {
        backward_form_weights(n, p, g, what);
      } else {
        add_weight_grad(n, g->layer[k].w_ih, x, in_w);
      }
      if (n->P > 1) {
        memset(n->gtmp, 0, (size_t)G * sizeof(float));
        add_colsum(n, n->gtmp, n->pre, R, G);
        unpermute_add(n, g->layer[k].b, n->gtmp, 1);
      } else {
        add_colsum(n, g->layer[k].b, n->pre, R, G);
      }
    }
    // dx (R,I) = dpre (R,4H) W_ih (4H,I); both in block order.  Version 2,
    // layer 0: only the embedding and style columns, the ones with a use.
    const int dx_w = form0 ? n->E + n->S : in_w;
    par_sgemm(n->pool,
              n->P,
              CblasNoTrans,
              CblasNoTrans,
              (int)R,
              dx_w,
              G,
              1.0f,
              n->pre,
              G,
              lw_ih(n, p, k),
              in_w,
              0.0f,
              n->dx,
              dx_w);
    if (k > 0) {
      float *t = n->dy;
      n->dy = n->dx;
      n->dx = t;
    }
  }
  serial_end(n);
  // n->dx holds dLoss/dx0 (R, I0): scatter into the embeddings, rows in order.
  const int E = n->E, S = n->S, I0 = n->form ? E + S : n->I0; // dx's row width
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
