// SPDX-License-Identifier: GPL-3.0-or-later
// `make bench`: nanoseconds per LSTM step (batch 1, vocabulary 300) for
// hidden 128/256/512 and 1-3 layers, scalar kernels and the dispatched
// family, fp32 and fp16 weights, warm and with the caches flushed between
// steps, next to a lower bound (FLOPs at FMA peak, weight bytes at the
// bandwidth of the cache level they live in).  Then every kernel family
// with fp32, fp16 and int8 weights (--families alone), and the engine's
// figures when tests/bench/bench_engine.c is linked; --peers prints the
// reference stack beside OpenBLAS for tests/bench/peers.sh.
// Informational, never pass/fail.
// Usage: cantus-bench [--quick | --engine | --families | --peers]
#include "lstm.h"
#include "model.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cantus_bench_engine(void) __attribute__((weak));
void cantus_bench_peers(void) __attribute__((weak));

// Machine figures the bounds use (REFERENCE.md): FMA peak per core, L2 and
// L3 read bandwidth per core.  DRAM bandwidth is measured below.
#define PEAK_FLOPS 165e9
#define BW_L2 110e9
#define BW_L3 23e9

enum { FLUSH_BYTES = 96 << 20 };

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static unsigned char *flush_buf;
static volatile uint64_t flush_sink;

// Reads a buffer much larger than L3 so the next step finds no weights cached.
static void flush_caches(void)
{
  uint64_t s = 0;
  for (size_t i = 0; i < FLUSH_BYTES; i += 64) {
    s += flush_buf[i];
  }
  flush_sink += s;
}

// Cache sizes from sysfs (sysconf's L3 figure is wrong in some VMs).
static size_t cache_bytes(int index, size_t fallback)
{
  char path[96];
  snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
  FILE *f = fopen(path, "r");
  unsigned long v = 0;
  char unit = 0;
  if (f) {
    if (fscanf(f, "%lu%c", &v, &unit) < 1) {
      v = 0;
    }
    fclose(f);
  }
  if (v == 0) {
    return fallback;
  }
  return unit == 'M' ? v << 20 : unit == 'K' ? v << 10 : v;
}

#if defined(__x86_64__)
#  include <immintrin.h>

// Streams n floats (a multiple of 32) with four independent 8-wide sums.
__attribute__((target("avx2"))) static float read_avx2(const float *p, size_t n)
{
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  for (size_t i = 0; i < n; i += 32) {
    a = _mm256_add_ps(a, _mm256_load_ps(p + i));
    b = _mm256_add_ps(b, _mm256_load_ps(p + i + 8));
    c = _mm256_add_ps(c, _mm256_load_ps(p + i + 16));
    d = _mm256_add_ps(d, _mm256_load_ps(p + i + 24));
  }
  float t[8];
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  return t[0] + t[7];
}

// Converts n halves (a multiple of 32) from fp16 to fp32 and sums them.
__attribute__((target("avx2,f16c"))) static float cvt_f16c(const uint16_t *p, size_t n)
{
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  for (size_t i = 0; i < n; i += 32) {
    a = _mm256_add_ps(a, _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(p + i))));
    b =
      _mm256_add_ps(b, _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(p + i + 8))));
    c = _mm256_add_ps(c,
                      _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(p + i + 16))));
    d = _mm256_add_ps(d,
                      _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(p + i + 24))));
  }
  float t[8];
  _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  return t[0] + t[7];
}
#endif

static volatile float probe_sink;

// Best read bandwidth (bytes/s) over a buffer of `bytes`, read repeatedly
// (the best run, since a bound should be optimistic); halves converted per
// second when `cvt` (0 when unavailable).
static double probe_bw(size_t bytes, bool cvt)
{
  enum { REPS = 31 };
  double t[REPS];
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || (cvt && !__builtin_cpu_supports("f16c"))) {
    return 0.0;
  }
  for (int r = 0; r < REPS; r++) {
    double t0 = now_ns();
    probe_sink += cvt ? cvt_f16c((const uint16_t *)(const void *)flush_buf, bytes / 2)
                      : read_avx2((const float *)(const void *)flush_buf, bytes / 4);
    t[r] = now_ns() - t0;
  }
  double ns = t[0];
  for (int r = 1; r < REPS; r++) {
    ns = t[r] < ns ? t[r] : ns;
  }
  return (cvt ? (double)(bytes / 2) : (double)bytes) / (ns * 1e-9);
#else
  (void)bytes;
  (void)cvt;
  (void)t;
  return 0.0;
#endif
}

typedef struct {
  CantusDims d;
  float *flat;
  CantusParams p;
} Params;

static uint64_t rng = 88172645463325252ull;

static float frand(float scale)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return scale * ((float)(rng >> 40) * 0x1p-23f - 1.0f);
}

// Vocabulary of exactly 300 tokens: 2 + 2*109 pitches + 48 shifts + 32 velocities.
static CantusDims bench_dims(int L, int H)
{
  CantusDims d = { .n_layers = (uint32_t)L,
                   .n_hidden = (uint32_t)H,
                   .n_embed = 64,
                   .n_style_dim = 16,
                   .n_styles = 4,
                   .n_pos_tick = 12,
                   .n_pos_beat = 4 };
  d.vocab = (CantusVocab){ .pitch_lo = 10, .pitch_hi = 118, .n_shift = 48, .n_vel = 32, .tpq = 12 };
  return d;
}

static void params_init(Params *pp, const CantusDims *d)
{
  size_t n = cantus_model_param_count(d);
  pp->d = *d;
  pp->flat = malloc(n * sizeof(float));
  if (!pp->flat) {
    fprintf(stderr, "cantus-bench: out of memory\n");
    exit(1);
  }
  cantus_model_layout(d, pp->flat, &pp->p);
  float sc = 1.0f / sqrtf((float)d->n_hidden);
  for (size_t i = 0; i < n; i++) {
    pp->flat[i] = frand(sc);
  }
}

typedef struct {
  double warm_ns, cold_ns;
} Timing;

// When set, time_steps runs the version 2 step with these form inputs
// (rotating through 4 of them, so the lookups move like a real stream).
static const CantusLookbackFeatures *bench_form;

static void step(const CantusLstmNet *net, CantusLstmState *st, int tok, int i, float *logits)
{
  if (bench_form) {
    cantus_lstm_step_form(net, st, tok, i % 12, i % 4, &bench_form[i & 3], logits);
  } else {
    cantus_lstm_step(net, st, tok, i % 12, i % 4, logits);
  }
}

// Median ns per step, warm (back-to-back steps) and cold (caches flushed
// before each timed step).
static Timing time_steps(const Params *pp, CantusWeightType wt, double budget_ns, int max_cold)
{
  enum { MAX_SAMPLES = 20000 };
  static double t[MAX_SAMPLES];
  CantusLstmNet net;
  CantusLstmState st;
  void *net_mem = aligned_alloc(64, (cantus_lstm_net_size(&pp->d, wt) + 63) / 64 * 64);
  void *st_mem = aligned_alloc(64, (cantus_lstm_state_size(&pp->d) + 63) / 64 * 64);
  float *logits = malloc(CANTUS_MAX_VOCAB * sizeof(float));
  cantus_lstm_prepare(&net, net_mem, &pp->d, &pp->p, wt);
  cantus_lstm_state_init(&st, st_mem, &net);
  cantus_lstm_set_style(&net, &st, pp->p.style_emb);
  const int V = cantus_vocab_size(&pp->d.vocab);
  int tok = 0;
  Timing r;

  for (int i = 0; i < 20; i++) { // warm-up: caches, page faults, clocks
    step(&net, &st, tok, i, logits);
    tok = (tok + 37) % V;
  }
  int n = 0;
  double start = now_ns();
  while (n < MAX_SAMPLES && (n < 15 || now_ns() - start < budget_ns)) {
    double t0 = now_ns();
    step(&net, &st, tok, n, logits);
    t[n++] = now_ns() - t0;
    tok = (tok + 37) % V;
  }
  r.warm_ns = median(t, n);

  n = 0;
  start = now_ns();
  // max_cold 0: warm only.
  while (max_cold > 0 && n < max_cold && (n < 7 || now_ns() - start < budget_ns)) {
    flush_caches();
    double t0 = now_ns();
    step(&net, &st, tok, n, logits);
    t[n++] = now_ns() - t0;
    tok = (tok + 37) % V;
  }
  r.cold_ns = n ? median(t, n) : 0.0;
  free(net_mem);
  free(st_mem);
  free(logits);
  return r;
}

// Format version 2 (issue 10): the 2x256 step of the default grid and
// range, version 1 (226 tokens) against version 2 with 2 parts (264 tokens)
// and every form input (4 lookback lags, phrase, bars left), fp16, warm.
static void bench_form_inputs(CantusIsa best, double budget, bool quick)
{
  cantus_lstm_force_isa(best);
  CantusDims d1 = bench_dims(2, 256), d2;
  d1.vocab = cantus_vocab_default();
  d2 = d1;
  d2.vocab = cantus_vocab_default_v2(2);
  d2.lookback_lags = 0xf;
  d2.n_phrase = CANTUS_PHRASE_BARS;
  d2.n_bars_left = CANTUS_BARS_LEFT_CLASSES;
  const int V2 = cantus_vocab_size(&d2.vocab);
  const CantusLookbackFeatures form[4] = {
    { { (uint16_t)V2, 40, 7, 100 }, 0, 17, 0 },
    { { 3, (uint16_t)V2, 60, 9 }, 3, 16, 0 },
    { { 200, 201, 202, (uint16_t)V2 }, 7, 4, 0 },
    { { 5, 80, 150, 250 }, 15, 0, 0 },
  };
  Params p1, p2;
  params_init(&p1, &d1);
  params_init(&p2, &d2);
  const int cold = quick ? 15 : 101;
  Timing t1 = time_steps(&p1, CANTUS_WEIGHTS_F16, budget, cold);
  Timing t2 = time_steps(&p2, CANTUS_WEIGHTS_F16, budget, cold);
  bench_form = form;
  Timing t2f = time_steps(&p2, CANTUS_WEIGHTS_F16, budget, cold);
  bench_form = NULL;
  printf("\nformat v2 form inputs, 2x256 fp16 warm (cold): v1 V=%d %.1f us (%.1f), v2 V=%d without "
         "form %.1f us (%.1f), with form %.1f us (%.1f): %+.1f %% over v1, %+.1f %% over the v2 "
         "step without form\n",
         cantus_vocab_size(&d1.vocab),
         t1.warm_ns * 1e-3,
         t1.cold_ns * 1e-3,
         V2,
         t2.warm_ns * 1e-3,
         t2.cold_ns * 1e-3,
         t2f.warm_ns * 1e-3,
         t2f.cold_ns * 1e-3,
         100.0 * (t2f.warm_ns / t1.warm_ns - 1.0),
         100.0 * (t2f.warm_ns / t2.warm_ns - 1.0));
  fflush(stdout);
  free(p1.flat);
  free(p2.flat);
}

// The CPU's name from /proc/cpuinfo ("unknown" elsewhere).
static void cpu_name(char *buf, size_t n)
{
  snprintf(buf, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    const char *c = strchr(line, ':');
    if (!strncmp(line, "model name", 10) && c) {
      snprintf(buf, n, "%s", c + 2);
      buf[strcspn(buf, "\n")] = 0;
      break;
    }
  }
  if (f) {
    fclose(f);
  }
}

// The reference stack (2 x LSTM 256 + dense 256->300) and folk-rnn's size
// (3 x 512) on every kernel family this CPU has, fp32, fp16 and int8 weights,
// warm medians measured in this one run, so the ratios compare like with
// like (absolute figures move with the load on the machine).
static void bench_families(double budget)
{
  static const CantusIsa fam[] = { CANTUS_ISA_SCALAR,
                                   CANTUS_ISA_AVX2,
                                   CANTUS_ISA_AVX2_VNNI,
                                   CANTUS_ISA_AVX512,
                                   CANTUS_ISA_AVX512_VNNI };
  static const struct {
    int L, H;
  } nets[] = { { 2, 256 }, { 3, 512 } };
  char cpu[128];
  cpu_name(cpu, sizeof cpu);
  printf("\nKernel families, us per step (warm median, this run), CPU: %s\n", cpu);
  printf("%-7s %-12s %8s %8s %8s | %9s %9s\n",
         "net",
         "family",
         "fp32",
         "fp16",
         "int8",
         "fp32/int8",
         "fp16/int8");
  for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) {
    CantusDims d = bench_dims(nets[k].L, nets[k].H);
    Params pp;
    params_init(&pp, &d);
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
      if (cantus_lstm_force_isa(fam[f]) != fam[f]) {
        continue;
      }
      double us[CANTUS_WEIGHTS_N];
      for (int w = 0; w < CANTUS_WEIGHTS_N; w++) {
        us[w] = time_steps(&pp, (CantusWeightType)w, budget, 0).warm_ns * 1e-3;
      }
      printf("%dx%-5d %-12s %8.1f %8.1f %8.1f | %9.2f %9.2f\n",
             nets[k].L,
             nets[k].H,
             cantus_lstm_isa_name(fam[f]),
             us[0],
             us[1],
             us[2],
             us[0] / us[2],
             us[1] / us[2]);
      fflush(stdout);
    }
    free(pp.flat);
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
}

// Weights one step multiplies (padded rows included), and the bytes it
// reads: those weights plus the fp32 lookup rows and biases.
static double step_weights(const CantusDims *d)
{
  double H = d->n_hidden, L = d->n_layers;
  double Vp = (double)((cantus_vocab_size(&d->vocab) + 15) / 16 * 16);
  return 4 * H * H + (L - 1) * 4 * H * 2 * H + Vp * H;
}

static double step_bytes(const CantusDims *d, CantusWeightType wt)
{
  double H = d->n_hidden, L = d->n_layers, es = wt == CANTUS_WEIGHTS_F16 ? 2.0 : 4.0;
  double Vp = (double)((cantus_vocab_size(&d->vocab) + 15) / 16 * 16);
  return es * step_weights(d) + 4.0 * (4 * 4 * H + (L - 1) * 4 * H + Vp);
}

static double step_flops(const CantusDims *d)
{
  double H = d->n_hidden, L = d->n_layers, V = cantus_vocab_size(&d->vocab);
  return 2.0 * (4 * H * H + (L - 1) * 4 * H * 2 * H + V * H);
}

static double max3(double a, double b, double c)
{
  double m = a > b ? a : b;
  return m > c ? m : c;
}

int main(int argc, char **argv)
{
  const bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (argc > 1 && strcmp(argv[1], "--engine") == 0) {
    cantus_bench_engine();
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--peers") == 0) {
    if (cantus_bench_peers) {
      cantus_bench_peers();
    }
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--families") == 0) {
    bench_families(100e6);
    return 0;
  }
  const double budget = quick ? 20e6 : 150e6;
  flush_buf = aligned_alloc(64, FLUSH_BYTES);
  if (!flush_buf) {
    fprintf(stderr, "cantus-bench: out of memory\n");
    return 1;
  }
  memset(flush_buf, 1, FLUSH_BYTES);
  const CantusIsa best = cantus_lstm_force_isa(cantus_lstm_isa_best());
  const char *bname = cantus_lstm_isa_name(best);
  const size_t l2 = cache_bytes(2, (size_t)1 << 20), l3 = cache_bytes(3, (size_t)32 << 20);
  // Measured here: read bandwidth from L2 (a quarter of it), L3 (an eighth
  // of it, at least twice L2) and memory; fp16 -> fp32 conversions per second.
  const double bw_l2 = probe_bw(l2 / 4, false);
  const double bw_l3 = probe_bw(l3 / 8 > 2 * l2 ? l3 / 8 : 2 * l2, false);
  const double bw_mem = probe_bw(FLUSH_BYTES, false);
  const double cvt = probe_bw(l2 / 4, true);

  printf("LSTM step, batch 1, vocabulary 300: median ns per step\n");
  printf(
    "kernels: scalar and dispatched '%s'; L2 %zu KiB, L3 %zu MiB\n", bname, l2 >> 10, l3 >> 20);
  printf("REFERENCE.md figures: FMA peak %.0f GFLOP/s, L2 %.0f GB/s, L3 %.0f GB/s\n",
         PEAK_FLOPS * 1e-9,
         BW_L2 * 1e-9,
         BW_L3 * 1e-9);
  printf("measured here: L2 %.0f GB/s, L3 %.0f GB/s, memory %.1f GB/s, fp16->fp32 %.1f G/s\n",
         bw_l2 * 1e-9,
         bw_l3 * 1e-9,
         bw_mem * 1e-9,
         cvt * 1e-9);
  printf("warm = back-to-back steps (weights in level 'lvl'); cold = %d MiB read before each "
         "step\n",
         FLUSH_BYTES >> 20);
  printf("ref-bnd: max(FLOPs/peak, bytes/REFERENCE bandwidth); bnd: the same with measured "
         "bandwidths and, for fp16, weights/conversion rate; ratio = simd / bound\n\n");
  printf("%4s %2s %4s %6s | %9s %9s | %8s %8s | %-3s %8s %5s | %8s %5s | %8s %5s\n",
         "H",
         "L",
         "wts",
         "KiB",
         "scalar-w",
         "scalar-c",
         "simd-w",
         "simd-c",
         "lvl",
         "ref-bnd",
         "ratio",
         "bnd-w",
         "ratio",
         "bnd-c",
         "ratio");

  static const int hs[] = { 128, 256, 512 };
  double stack_ns[2] = { 0, 0 };
  for (int hi = 0; hi < 3; hi++) {
    for (int L = 1; L <= 3; L++) {
      CantusDims d = bench_dims(L, hs[hi]);
      Params pp;
      params_init(&pp, &d);
      for (int w = 0; w < 2; w++) {
        CantusWeightType wt = w ? CANTUS_WEIGHTS_F16 : CANTUS_WEIGHTS_F32;
        cantus_lstm_force_isa(CANTUS_ISA_SCALAR);
        Timing sc = time_steps(&pp, wt, budget / 4, quick ? 5 : 11);
        cantus_lstm_force_isa(best);
        Timing si = time_steps(&pp, wt, budget, quick ? 15 : 101);
        double bytes = step_bytes(&d, wt), flops = step_flops(&d);
        int lvl = bytes <= (double)l2 ? 2 : bytes <= (double)l3 ? 3 : 4;
        double ref_bw = lvl == 2 ? BW_L2 : lvl == 3 ? BW_L3 : bw_mem;
        double meas_bw = lvl == 2 ? bw_l2 : lvl == 3 ? bw_l3 : bw_mem;
        double cvt_ns = w && cvt > 0 ? step_weights(&d) / cvt * 1e9 : 0.0;
        double flop_ns = flops / PEAK_FLOPS * 1e9;
        double ref_ns = max3(flop_ns, bytes / ref_bw * 1e9, 0.0);
        double bw_ns = max3(flop_ns, meas_bw > 0 ? bytes / meas_bw * 1e9 : 0.0, cvt_ns);
        double bc_ns = max3(flop_ns, bw_mem > 0 ? bytes / bw_mem * 1e9 : 0.0, cvt_ns);
        printf("%4d %2d %4s %6.0f | %9.0f %9.0f | %8.0f %8.0f | %-3s %8.0f %5.2f | %8.0f %5.2f | "
               "%8.0f %5.2f\n",
               hs[hi],
               L,
               w ? "fp16" : "fp32",
               bytes / 1024.0,
               sc.warm_ns,
               sc.cold_ns,
               si.warm_ns,
               si.cold_ns,
               lvl == 2   ? "L2"
               : lvl == 3 ? "L3"
                          : "mem",
               ref_ns,
               si.warm_ns / ref_ns,
               bw_ns,
               si.warm_ns / bw_ns,
               bc_ns,
               si.cold_ns / bc_ns);
        fflush(stdout);
        if (hs[hi] == 256 && L == 2) {
          stack_ns[w] = si.warm_ns;
        }
      }
      free(pp.flat);
    }
  }
  // Figures of other machines are not quoted: the peers (OpenBLAS, PyTorch)
  // are timed in this run by tests/bench/peers.sh.
  printf("\nThe reference stack (2x LSTM256 + dense 256->300, warm, softmax excluded here): "
         "%s fp16 %.1f us, fp32 %.1f us; int8 and the peers below, in this run.\n",
         bname,
         stack_ns[1] * 1e-3,
         stack_ns[0] * 1e-3);
  fflush(stdout);
  bench_families(quick ? 20e6 : 100e6);
  bench_form_inputs(best, budget, quick);
  free(flush_buf);
  if (cantus_bench_engine) {
    printf("\n");
    cantus_bench_engine();
  }
  return 0;
}
