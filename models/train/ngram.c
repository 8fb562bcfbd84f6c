// SPDX-License-Identifier: GPL-3.0-or-later
// The n-gram baseline of cantus-eval and the trainer's tests: interpolated
// Kneser-Ney (Chen & Goodman 1998) with absolute discounts D = n1 / (n1 + 2 n2)
// (count-of-counts pooled over orders, raw and continuation apart).  The highest order in use
// scores with raw counts, lower orders with continuation counts (the number of distinct left
// extensions).  Each sequence is padded on the left with max_order-1 PAD
// symbols (id V) before its START, so every n-gram has a left extension.
// N-grams are keyed by a 64-bit hash of (order, tokens) in one
// open-addressing table; contexts in a second.  Non-RT.
#include "sample.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NG_MAX_ORDER = 12 };

typedef struct {
  uint64_t key;  // 0 = empty slot
  uint64_t ctx;  // key of the context (order-1 prefix)
  uint32_t raw;  // occurrences
  uint32_t cont; // distinct left extensions
} Gram;

typedef struct {
  uint64_t key;
  uint32_t raw_sum, raw_types, cont_sum, cont_types;
} Ctx;

struct CantusNgramImpl {
  int max_order, V;
  Gram *g;
  size_t g_cap, g_n;
  Ctx *c;
  size_t c_cap, c_n;
  double d_raw[NG_MAX_ORDER + 1], d_cont[NG_MAX_ORDER + 1];
  bool finished, oom;
};

// Key of the n tokens ending at s[n-1]; never 0.
static uint64_t gram_key(const uint16_t *s, int n)
{
  uint64_t h = cantus_splitmix64_mix(0x1234567ull + (uint64_t)n);
  for (int i = 0; i < n; i++) {
    h = cantus_splitmix64_mix(h ^ ((uint64_t)s[i] + 0x9e3779b97f4a7c15ull));
  }
  return h ? h : 1;
}

static bool grow_grams(CantusNgram *ng)
{
  size_t cap = ng->g_cap ? 2 * ng->g_cap : (size_t)1 << 16;
  Gram *ng2 = calloc(cap, sizeof *ng2);
  if (!ng2) {
    return false;
  }
  for (size_t i = 0; i < ng->g_cap; i++) {
    if (ng->g[i].key) {
      size_t j = (size_t)ng->g[i].key & (cap - 1);
      while (ng2[j].key) {
        j = (j + 1) & (cap - 1);
      }
      ng2[j] = ng->g[i];
    }
  }
  free(ng->g);
  ng->g = ng2;
  ng->g_cap = cap;
  return true;
}

static Gram *find_gram(const CantusNgram *ng, uint64_t key)
{
  if (!ng->g_cap) {
    return NULL;
  }
  size_t j = (size_t)key & (ng->g_cap - 1);
  while (ng->g[j].key) {
    if (ng->g[j].key == key) {
      return &ng->g[j];
    }
    j = (j + 1) & (ng->g_cap - 1);
  }
  return NULL;
}

// Finds or inserts; *fresh tells which.  NULL when out of memory.
static Gram *get_gram(CantusNgram *ng, uint64_t key, uint64_t ctx, bool *fresh)
{
  if ((ng->g_n + 1) * 2 > ng->g_cap && !grow_grams(ng)) {
    return NULL;
  }
  size_t j = (size_t)key & (ng->g_cap - 1);
  while (ng->g[j].key) {
    if (ng->g[j].key == key) {
      *fresh = false;
      return &ng->g[j];
    }
    j = (j + 1) & (ng->g_cap - 1);
  }
  ng->g[j] = (Gram){ key, ctx, 0, 0 };
  ng->g_n++;
  *fresh = true;
  return &ng->g[j];
}

static Ctx *find_ctx(const CantusNgram *ng, uint64_t key)
{
  if (!ng->c_cap) {
    return NULL;
  }
  size_t j = (size_t)key & (ng->c_cap - 1);
  while (ng->c[j].key) {
    if (ng->c[j].key == key) {
      return &ng->c[j];
    }
    j = (j + 1) & (ng->c_cap - 1);
  }
  return NULL;
}

CantusStatus cantus_ngram_new(int max_order, int vocab_size, CantusNgram **out, CantusError *err)
{
  *out = NULL;
  if (max_order < 1 || max_order > NG_MAX_ORDER || vocab_size < 2 || vocab_size > 65535) {
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "n-gram: order %d or vocabulary %d out of range",
                        max_order,
                        vocab_size);
  }
  CantusNgram *ng = calloc(1, sizeof *ng);
  if (!ng || !grow_grams(ng)) {
    free(ng);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "n-gram: out of memory");
  }
  ng->max_order = max_order;
  ng->V = vocab_size;
  *out = ng;
  return CANTUS_OK;
}

void cantus_ngram_free(CantusNgram *ng)
{
  if (ng) {
    free(ng->g);
    free(ng->c);
    free(ng);
  }
}

// The padded copy of a sequence: max_order-1 PADs, then the tokens.
static uint16_t *padded(const CantusNgram *ng, const uint16_t *tok, uint32_t n)
{
  int pad = ng->max_order - 1;
  uint16_t *s = malloc(((size_t)n + (size_t)pad) * sizeof *s);
  if (!s) {
    return NULL;
  }
  for (int i = 0; i < pad; i++) {
    s[i] = (uint16_t)ng->V;
  }
  memcpy(s + pad, tok, n * sizeof *s);
  return s;
}

void cantus_ngram_add(CantusNgram *ng, const uint16_t *tok, uint32_t n)
{
  if (ng->oom || n < 2) {
    return;
  }
  const int N = ng->max_order, pad = N - 1;
  uint16_t *s = padded(ng, tok, n);
  if (!s) {
    ng->oom = true;
    return;
  }
  for (uint32_t i = 1; i < n; i++) {
    const uint16_t *end = s + pad + i + 1; // one past the predicted token
    // Raw counts at every order; a new type at order m+1 adds one
    // continuation count to its suffix of order m.
    bool new_above = true;
    for (int m = N; m >= 1; m--) {
      uint64_t key = gram_key(end - m, m);
      uint64_t ctx = m > 1 ? gram_key(end - m, m - 1) : 0;
      bool fresh;
      Gram *g = get_gram(ng, key, ctx, &fresh);
      if (!g) {
        ng->oom = true;
        free(s);
        return;
      }
      g->raw++;
      if (m < N && new_above) {
        g->cont++;
      }
      new_above = fresh;
    }
  }
  free(s);
}

void cantus_ngram_finish(CantusNgram *ng)
{
  // Context table: sums and type counts of raw and continuation counts.
  size_t cap = 1;
  while (cap < 2 * ng->g_n + 2) {
    cap <<= 1;
  }
  free(ng->c);
  ng->c = calloc(cap, sizeof *ng->c);
  if (!ng->c) {
    ng->oom = true;
    return;
  }
  ng->c_cap = cap;
  ng->c_n = 0;
  // Discounts from count-of-counts pooled over the orders (a Gram does not
  // store its order), separately for raw and continuation counts.
  uint64_t n1r = 0, n2r = 0, n1c = 0, n2c = 0;
  for (size_t i = 0; i < ng->g_cap; i++) {
    const Gram *g = &ng->g[i];
    if (!g->key) {
      continue;
    }
    n1r += g->raw == 1;
    n2r += g->raw == 2;
    n1c += g->cont == 1;
    n2c += g->cont == 2;
    uint64_t ck = g->ctx ? g->ctx : 0x5a5a5a5aull; // unigrams share the empty context
    size_t j = (size_t)ck & (cap - 1);
    while (ng->c[j].key && ng->c[j].key != ck) {
      j = (j + 1) & (cap - 1);
    }
    if (!ng->c[j].key) {
      ng->c[j].key = ck;
      ng->c_n++;
    }
    ng->c[j].raw_sum += g->raw;
    ng->c[j].raw_types += g->raw > 0;
    ng->c[j].cont_sum += g->cont;
    ng->c[j].cont_types += g->cont > 0;
  }
  double dr = (n1r + 2 * n2r) ? (double)n1r / (double)(n1r + 2 * n2r) : 0.5;
  double dc = (n1c + 2 * n2c) ? (double)n1c / (double)(n1c + 2 * n2c) : 0.5;
  dr = dr < 0.1 ? 0.1 : (dr > 0.95 ? 0.95 : dr);
  dc = dc < 0.1 ? 0.1 : (dc > 0.95 ? 0.95 : dc);
  for (int m = 0; m <= NG_MAX_ORDER; m++) {
    ng->d_raw[m] = dr;
    ng->d_cont[m] = dc;
  }
  ng->finished = true;
}

// p(w | the order-1 tokens before end[-1]) with interpolation down to the
// uniform distribution.
static double prob(const CantusNgram *ng, const uint16_t *end, int order)
{
  double p = 1.0 / (double)ng->V;
  for (int m = 1; m <= order; m++) {
    uint64_t ck = m > 1 ? gram_key(end - m, m - 1) : 0x5a5a5a5aull;
    const Ctx *c = find_ctx(ng, ck);
    bool top = m == order;
    uint32_t sum = c ? (top ? c->raw_sum : c->cont_sum) : 0;
    if (!sum) {
      continue; // unseen context: keep the lower-order estimate
    }
    uint32_t types = top ? c->raw_types : c->cont_types;
    const Gram *g = find_gram(ng, gram_key(end - m, m));
    double cnt = g ? (double)(top ? g->raw : g->cont) : 0.0;
    double d = top ? ng->d_raw[m] : ng->d_cont[m];
    double a = cnt - d > 0 ? cnt - d : 0.0;
    p = (a + d * (double)types * p) / (double)sum;
  }
  return p;
}

double cantus_ngram_nll(const CantusNgram *ng,
                        int order,
                        const uint16_t *tok,
                        uint32_t n,
                        uint64_t *n_scored)
{
  *n_scored = 0;
  if (!ng->finished || ng->oom || n < 2) {
    return 0.0;
  }
  order = order < 1 ? 1 : (order > ng->max_order ? ng->max_order : order);
  uint16_t *s = padded(ng, tok, n);
  if (!s) {
    return 0.0;
  }
  const int pad = ng->max_order - 1;
  double sum = 0.0;
  for (uint32_t i = 1; i < n; i++) {
    double p = prob(ng, s + pad + i + 1, order);
    sum += -log(p > 1e-300 ? p : 1e-300);
    (*n_scored)++;
  }
  free(s);
  return sum;
}
