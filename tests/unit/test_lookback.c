// SPDX-License-Identifier: GPL-3.0-or-later
// Form inputs (dsp/lookback.c): hand-computed features of a short stream
// (replayed events, SHIFT remainders, NONE before the first bars and where
// the old bar is shorter, pickup phrase bar, bars left), constructed tunes
// whose repeats make every lookback at a multiple of the period equal to
// the next token (v1 and v2, 4/4, 3/4 and changing meters, an intro whose
// shifts split differently), the incremental tracker against the batch on
// random streams with random bar maps and on the whole corpus (v1 and v2
// tokenisations), the cap (NONE, never a wrong token), and a snapshot
// restored by memcpy replaying identical features.
#include "lookback.h"
#include "test.h"
#include "tokens.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// ---- helpers ------------------------------------------------------------------

typedef struct {
  uint32_t tick[256], bar[256];
  int n;
} Map;

static CantusBarMap as_map(const Map *m)
{
  return (CantusBarMap){ .tick = m->tick, .bar_ticks = m->bar, .n = m->n };
}

// Runs the tracker over a stream, feeding the map's changes just before
// the token that reaches them, and writes its features for every position.
static void track(const uint16_t *tok,
                  size_t n,
                  const CantusVocab *v,
                  const Map *m,
                  int64_t first_full_bar,
                  int64_t end_bar,
                  CantusLookbackFeatures *out,
                  CantusLookback *lb)
{
  cantus_lookback_init(lb, v, m->n ? m->bar[0] : 4 * v->tpq, 0);
  cantus_lookback_set_form(lb, first_full_bar, end_bar);
  int next = 1;
  for (size_t i = 0; i < n; i++) {
    int val = 0;
    const int64_t to =
      lb->tick + (cantus_vocab_decode(v, tok[i], &val) == CANTUS_EV_SHIFT ? val : 0);
    while (next < m->n && m->tick[next] <= to) {
      cantus_lookback_meter(lb, m->tick[next], m->bar[next]);
      next++;
    }
    cantus_lookback_push(lb, tok[i]);
    cantus_lookback_features(lb, &out[i]);
  }
}

// Compares the tracker with the batch; returns the number of differences
// (the first few are reported).
static size_t compare(const uint16_t *tok,
                      size_t n,
                      const CantusVocab *v,
                      const Map *m,
                      const char *what,
                      CantusLookback *lb,
                      uint32_t *max_count)
{
  CantusLookbackFeatures *a = malloc((n ? n : 1) * sizeof *a);
  CantusLookbackFeatures *b = malloc((n ? n : 1) * sizeof *b);
  const CantusBarMap map = as_map(m);
  int64_t ffb, end;
  cantus_lookback_piece_bars(tok, n, v, &map, &ffb, &end);
  CantusError err;
  CHECK_EQ(cantus_lookback_batch(tok, n, v, &map, ffb, end, a, &err), CANTUS_OK);
  cantus_lookback_init(lb, v, 48, 0);
  track(tok, n, v, m, ffb, end, b, lb);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    const bool same = memcmp(&a[i], &b[i], sizeof a[i]) == 0;
    if (!same && bad++ < 3) {
      printf("FAIL %s: position %zu: batch %d %d %d %d %d %d, tracker %d %d %d %d %d %d\n",
             what,
             i,
             a[i].look[0],
             a[i].look[1],
             a[i].look[2],
             a[i].look[3],
             a[i].phrase_bar,
             a[i].bars_left,
             b[i].look[0],
             b[i].look[1],
             b[i].look[2],
             b[i].look[3],
             b[i].phrase_bar,
             b[i].bars_left);
    }
  }
  if (max_count) {
    // the densest point: the most events the tracker held at once
    cantus_lookback_init(lb, v, m->n ? m->bar[0] : 48, 0);
    uint32_t mx = 0;
    int next = 1;
    for (size_t i = 0; i < n; i++) {
      int val = 0;
      const int64_t to =
        lb->tick + (cantus_vocab_decode(v, tok[i], &val) == CANTUS_EV_SHIFT ? val : 0);
      while (next < m->n && m->tick[next] <= to) {
        cantus_lookback_meter(lb, m->tick[next], m->bar[next]);
        next++;
      }
      cantus_lookback_push(lb, tok[i]);
      mx = lb->count > mx ? lb->count : mx;
    }
    *max_count = mx > *max_count ? mx : *max_count;
  }
  free(a);
  free(b);
  return bad;
}

static uint64_t rng_next(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

// ---- hand-computed ----------------------------------------------------------------

TEST(lookback_hand_computed_features)
{
  CantusVocab v = cantus_vocab_default_v2(1); // 4/4 = 48 ticks, n_shift 48
  const int V = cantus_vocab_size(&v);
#define N(p) cantus_vocab_note(&v, 0, p)
#define D(t) cantus_vocab_dur(&v, cantus_vocab_dur_bin(&v, t))
#define SH(k) cantus_vocab_shift(&v, k)
  // A pickup at 36, bar 1: notes at 48 and 72, bar 2: a note at 96, then a
  // whole bar's rest and a note at 192 (bar 4).
  const uint16_t tok[] = {
    CANTUS_TOK_START,
    (uint16_t)SH(36), // 1
    (uint16_t)N(60),  // 2 tick 36
    (uint16_t)D(12),
    (uint16_t)SH(12), // 4
    (uint16_t)N(62),  // 5 tick 48
    (uint16_t)D(24),
    (uint16_t)SH(24), // 7
    (uint16_t)N(64),  // 8 tick 72
    (uint16_t)D(24),
    (uint16_t)SH(24), // 10
    (uint16_t)N(65),  // 11 tick 96
    (uint16_t)D(48),
    (uint16_t)SH(48), // 13 -> 144
    (uint16_t)SH(48), // 14 -> 192
    (uint16_t)N(67),  // 15 tick 192
    (uint16_t)D(12),  CANTUS_TOK_END,
  };
  const size_t n = sizeof tok / sizeof tok[0];
  const CantusBarMap map = { 0 };
  int64_t ffb, end;
  cantus_lookback_piece_bars(tok, n, &v, &map, &ffb, &end);
  CHECK_EQ(ffb, 1); // the note at 36 is a pickup
  CHECK_EQ(end, 4);
  CantusLookbackFeatures f[32];
  CantusError err;
  CHECK_EQ(cantus_lookback_batch(tok, n, &v, &map, ffb, end, f, &err), CANTUS_OK);
  // START and the pickup bar: no bar before, phrase bar 15, 4 bars left.
  CHECK_EQ(f[0].look[0], V);
  CHECK_EQ(f[0].phrase_bar, 15);
  CHECK_EQ(f[0].bars_left, 4);
  CHECK_EQ(f[3].look[0], V);
  // After SH12 (tau 48, bar 1 offset 0): one bar back is tick 0, with no
  // event; the next one fed is at 36: SHIFT36.
  CHECK_EQ(f[4].look[0], SH(36));
  CHECK_EQ(f[4].look[1], V);
  CHECK_EQ(f[4].phrase_bar, 0);
  CHECK_EQ(f[4].bars_left, 3);
  // After SH24 (tau 72): tick 24 of bar 0; next event 36: SHIFT12.
  CHECK_EQ(f[7].look[0], SH(12));
  // After N65 at 96 (rho 1): tick 48 had N62 D24: the DUR follows.
  CHECK_EQ(f[11].look[0], D(24));
  CHECK_EQ(f[11].look[1], SH(36)); // tick 0: nothing; next event at 36
  CHECK_EQ(f[11].phrase_bar, 1);
  // After D48 at 96 (rho 2): tick 48 had exactly 2 events; next at 72.
  CHECK_EQ(f[12].look[0], SH(24));
  // After SH48 -> 144 (bar 3): tick 96 holds N65 first.
  CHECK_EQ(f[13].look[0], N(65));
  CHECK_EQ(f[13].look[1], N(62));
  CHECK_EQ(f[13].look[2], V);
  // After SH48 -> 192 (bar 4): tick 144 is empty and nothing was fed after
  // it before 192: SHIFT48 (the horizon is the present).  Two bars back,
  // tick 96: N65.  Four bars back, tick 0: SHIFT36.
  CHECK_EQ(f[14].look[0], SH(48));
  CHECK_EQ(f[14].look[1], N(65));
  CHECK_EQ(f[14].look[2], SH(36));
  CHECK_EQ(f[14].bars_left, 0);
  CHECK_EQ(f[14].phrase_bar, 3);
  // The end: 16 or more bars, and unknown.
  CHECK_EQ(cantus_lookback_batch(tok, n, &v, &map, ffb, 40, f, &err), CANTUS_OK);
  CHECK_EQ(f[0].bars_left, 16);
  CHECK_EQ(f[16].bars_left, 16);
  CHECK_EQ(cantus_lookback_batch(tok, n, &v, &map, ffb, CANTUS_LOOKBACK_END_UNKNOWN, f, &err),
           CANTUS_OK);
  CHECK_EQ(f[5].bars_left, CANTUS_BARS_LEFT_UNKNOWN);

  // Meter: 3/4 for two bars, then 4/4 from 72.  At 72 + 40 the bar before
  // is 36 ticks long: NONE.  At 72 + 12 it is tick 48 + 12.
  const uint32_t mt[] = { 0, 72 }, mb[] = { 36, 48 };
  const CantusBarMap m34 = { .tick = mt, .bar_ticks = mb, .n = 2 };
  const uint16_t tok2[] = {
    (uint16_t)N(60),  (uint16_t)D(12), (uint16_t)SH(48), (uint16_t)SH(24), // -> 72
    (uint16_t)SH(12),                                                      // 84
    (uint16_t)SH(28),                                                      // 112
    (uint16_t)N(62),  (uint16_t)D(6),
  };
  CHECK_EQ(cantus_lookback_batch(tok2, 8, &v, &m34, 0, 2, f, &err), CANTUS_OK);
  // Bars: 0..36, 36..72, 72..120.  At 72 (bar 2, offset 0): one bar back
  // is 36, empty, nothing fed after it: SHIFT36; two bars back is 0: N60.
  CHECK_EQ(f[3].look[0], SH(36));
  CHECK_EQ(f[3].look[1], N(60));
  // At 84: 48 and 12, nothing after either until the present (84).
  CHECK_EQ(f[4].look[0], SH(36));
  CHECK_EQ(f[4].look[1], SH(48));
  CHECK_EQ(f[5].look[0], V);
  CHECK_EQ(f[5].look[1], V);
  CHECK_EQ(f[5].phrase_bar, 2);
  // Bad maps.
  const uint32_t bt[] = { 5, 72 };
  const CantusBarMap bad = { .tick = bt, .bar_ticks = mb, .n = 2 };
  CHECK_EQ(cantus_lookback_batch(tok2, 8, &v, &bad, 0, 2, f, &err), CANTUS_ERR_ARGUMENT);
#undef N
#undef D
#undef SH
}

// ---- repeated tunes -------------------------------------------------------------

// A tune: one intro bar (a note, then a rest into bar 1, so the shifts
// entering the first period split differently from the later ones), then
// `period` distinct bars repeated to fill n_bars.  Bars of bar_len ticks.
static size_t make_tune(CantusMidiNote *nt, int period, int n_bars, int bar_len, uint64_t seed)
{
  size_t n = 0;
  nt[n++] = (CantusMidiNote){
    .on_tick = 0, .off_tick = 6, .pitch = 50, .velocity = 90, .channel = 0, .track = 1
  };
  // the pattern: per bar, a few onsets on a 3-tick grid, some chords, some
  // notes held over the bar line, one rest of up to 2/3 of a bar
  CantusMidiNote pat[64];
  int n_pat = 0;
  for (int b = 0; b < period; b++) {
    int t = b == 0 ? 9 : 0; // the first bar starts after a rest
    while (t < bar_len && n_pat < 60) {
      const int len = 3 * (1 + (int)(rng_next(&seed) % 6));
      const int pitch = 55 + (int)(rng_next(&seed) % 20);
      pat[n_pat++] = (CantusMidiNote){ .on_tick = (uint32_t)(b * bar_len + t),
                                       .off_tick = (uint32_t)(b * bar_len + t + len),
                                       .pitch = (uint8_t)pitch,
                                       .velocity = (uint8_t)(40 + rng_next(&seed) % 80),
                                       .channel = 0,
                                       .track = (uint16_t)(1 + rng_next(&seed) % 2) };
      if (rng_next(&seed) % 4 == 0 && n_pat < 60) { // a chord note in the other part
        pat[n_pat] = pat[n_pat - 1];
        pat[n_pat].pitch = (uint8_t)(pitch + 4);
        pat[n_pat].track = (uint16_t)(3 - pat[n_pat].track);
        n_pat++;
      }
      t += rng_next(&seed) % 5 == 0 ? bar_len * 2 / 3 : len;
    }
  }
  for (int r = 0; r * period < n_bars - 1; r++) {
    for (int k = 0; k < n_pat; k++) {
      CantusMidiNote x = pat[k];
      x.on_tick += (uint32_t)((1 + r * period) * bar_len);
      x.off_tick += (uint32_t)((1 + r * period) * bar_len);
      if (x.on_tick < (uint32_t)(n_bars * bar_len)) {
        nt[n++] = x;
      }
    }
  }
  return n;
}

static int part_of_track(const CantusMidiNote *n, void *user)
{
  (void)user;
  return n->track - 1;
}

TEST(lookback_repeats_give_the_next_token)
{
  const int periods[] = { 1, 2, 4, 8 };
  const int bar_lens[] = { 48, 36, 60 };
  int n_checked = 0, n_other_lag_differs = 0;
  for (int layout = 0; layout < 2; layout++) {
    CantusVocab v = layout ? cantus_vocab_default_v2(2) : cantus_vocab_default();
    v.n_vel = 4;
    const int V = cantus_vocab_size(&v);
    for (size_t bl = 0; bl < sizeof bar_lens / sizeof bar_lens[0]; bl++) {
      for (size_t pi = 0; pi < sizeof periods / sizeof periods[0]; pi++) {
        const int P = periods[pi], L = bar_lens[bl], n_bars = 33;
        CantusMidiNote nt[4096];
        const size_t n_nt = make_tune(nt, P, n_bars, L, 0x1234567u + 77u * (uint64_t)(P + L));
        CantusTokensOptions opt = cantus_tokens_options_default();
        opt.start_end = true;
        opt.velocities = true;
        opt.part = part_of_track;
        static uint16_t tok[16384];
        CantusTokensStats st;
        CantusError err;
        CHECK_EQ(
          cantus_tokens_from_notes(nt, n_nt, (uint32_t)v.tpq, &v, &opt, tok, 16384, &st, &err),
          CANTUS_OK);
        const size_t n = st.n_written;
        Map m = { .tick = { 0 }, .bar = { (uint32_t)L }, .n = 1 };
        const CantusBarMap map = as_map(&m);
        int64_t ffb, end;
        cantus_lookback_piece_bars(tok, n, &v, &map, &ffb, &end);
        CHECK_EQ(ffb, 0);
        static CantusLookbackFeatures fb[16384], ft[16384];
        CHECK_EQ(cantus_lookback_batch(tok, n, &v, &map, ffb, end, fb, &err), CANTUS_OK);
        static CantusLookback lb;
        track(tok, n, &v, &m, ffb, end, ft, &lb);
        CHECK_EQ(lb.n_dropped, 0);
        // Ticks after each token.
        int64_t tau = 0;
        for (size_t i = 0; i + 1 < n; i++) {
          int val;
          if (cantus_vocab_decode(&v, tok[i], &val) == CANTUS_EV_SHIFT) {
            tau += val;
          }
          if (tok[i + 1] == CANTUS_TOK_END || tau >= (int64_t)(n_bars - 1) * L) {
            continue; // the next event may lie past the repeats
          }
          for (int li = 0; li < CANTUS_LOOKBACK_N_LAGS; li++) {
            const int lag = cantus_lookback_lag(li);
            // the repeat starts at bar 1 + lag; one bar more, as the first
            // occurrence follows the intro: v1 NOTE_OFFs over the bar line
            // and VELOCITY tokens (written where the bin changes) differ there
            const int64_t from = (int64_t)(2 + lag) * L;
            if (tau < from) {
              continue;
            }
            if (lag % P == 0) {
              CHECK_MSG(
                fb[i].look[li] == tok[i + 1] && ft[i].look[li] == tok[i + 1],
                "v%d bar %d period %d lag %d position %zu (tick %lld): batch %d tracker %d next %d",
                layout + 1,
                L,
                P,
                lag,
                i,
                (long long)tau,
                fb[i].look[li],
                ft[i].look[li],
                tok[i + 1]);
              n_checked++;
            } else {
              n_other_lag_differs += fb[i].look[li] != tok[i + 1];
            }
            CHECK(fb[i].look[li] <= V);
          }
        }
      }
    }
  }
  CHECK(n_checked > 10000);
  CHECK(n_other_lag_differs > 1000); // lags that are not a period do not repeat
  if (cantus_test_verbose) {
    printf("  %d repeat positions checked, %d non-period lookbacks differ\n",
           n_checked,
           n_other_lag_differs);
  }
}

// ---- tracker == batch -----------------------------------------------------------

TEST(lookback_tracker_matches_batch_on_random_streams)
{
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  static uint16_t tok[6000];
  static CantusLookback lb;
  for (int trial = 0; trial < 300; trial++) {
    CantusVocab v = trial % 2 ? cantus_vocab_default_v2(3) : cantus_vocab_default();
    v.pitch_lo = 60;
    v.pitch_hi = 67;
    v.n_shift = (uint16_t)(1 + rng_next(&seed) % 48);
    v.n_vel = 2;
    const int V = cantus_vocab_size(&v);
    // a random map: up to 6 changes, bar lengths 1..70, changes between bar lines
    Map m = { .n = 1 };
    m.tick[0] = 0;
    m.bar[0] = (uint32_t)(1 + rng_next(&seed) % 70);
    const int n_ch = (int)(rng_next(&seed) % 7);
    for (int k = 0; k < n_ch; k++) {
      m.tick[m.n] = m.tick[m.n - 1] + 1 + (uint32_t)(rng_next(&seed) % 400);
      m.bar[m.n] = (uint32_t)(1 + rng_next(&seed) % 70);
      m.n++;
    }
    const size_t n = 200 + rng_next(&seed) % 5000;
    const int p_shift = 40 + (int)(rng_next(&seed) % 50); // within the tracker's cap
    for (size_t i = 0; i < n; i++) {
      const bool shift = (int)(rng_next(&seed) % 100) < p_shift;
      const int shift_base = cantus_vocab_shift_base(&v);
      tok[i] = (uint16_t)(shift ? shift_base + (int)(rng_next(&seed) % v.n_shift)
                                : (int)(rng_next(&seed) % (uint64_t)V));
    }
    char what[64];
    snprintf(what, sizeof what, "random trial %d", trial);
    CHECK_EQ(compare(tok, n, &v, &m, what, &lb, NULL), 0);
    CHECK_EQ(lb.n_dropped, 0);
    CHECK_EQ(lb.n_refused, 0);
  }
}

// The corpus, both layouts.
typedef struct {
  char **paths;
  int n, cap;
} FileList;

static void list_midi(const char *dir, FileList *fl)
{
  DIR *d = opendir(dir);
  if (!d) {
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') {
      continue;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) != 0) {
      continue;
    }
    const size_t len = strlen(e->d_name);
    if (S_ISDIR(sb.st_mode)) {
      list_midi(path, fl);
    } else if (len > 4 && strcmp(e->d_name + len - 4, ".mid") == 0) {
      if (fl->n == fl->cap) {
        fl->cap = fl->cap ? 2 * fl->cap : 256;
        fl->paths = realloc(fl->paths, (size_t)fl->cap * sizeof *fl->paths);
      }
      fl->paths[fl->n++] = strdup(path);
    }
  }
  closedir(d);
}

// The bar map of a file on the grid, as models/train/corpus.c builds it.
static void file_map(const CantusMidiFile *mf, uint32_t g, Map *m)
{
  m->n = 0;
  for (size_t i = 0; i < mf->n_timesigs && m->n < 256; i++) {
    double d;
    const uint32_t t = (uint32_t)cantus_tokens_snap(mf->timesigs[i].tick, mf->tpq, g, &d);
    const uint32_t den = mf->timesigs[i].den ? mf->timesigs[i].den : 4;
    uint32_t bar = (uint32_t)(((uint64_t)mf->timesigs[i].num * 4 * g + den / 2) / den);
    bar = bar ? bar : 1;
    if (m->n == 0 && t > 0) {
      m->tick[m->n] = 0;
      m->bar[m->n++] = 4 * g;
    }
    if (m->n > 0 && m->tick[m->n - 1] == t) {
      m->bar[m->n - 1] = bar;
    } else {
      m->tick[m->n] = t;
      m->bar[m->n++] = bar;
    }
  }
  if (m->n == 0) {
    m->tick[0] = 0;
    m->bar[0] = 4 * g;
    m->n = 1;
  }
}

TEST(lookback_tracker_matches_batch_on_the_corpus)
{
  static const char *const sets[3][5] = {
    { "nottingham", "melody", "accompaniment", NULL, NULL },
    { "jsb_chorales", "soprano", "alto", "tenor", "bass" },
    { "cre_irish", "melody", NULL, NULL, NULL },
  };
  static CantusLookback lb;
  for (int c = 0; c < 3; c++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", cantus_test_corpus_dir(), sets[c][0]);
    FileList fl = { 0 };
    list_midi(dir, &fl);
    if (fl.n == 0) {
      SKIP("no MIDI files in %s", dir);
    }
    int n_parts = 0;
    while (n_parts < 4 && sets[c][1 + n_parts]) {
      n_parts++;
    }
    uint32_t max_count[2] = { 0, 0 };
    uint64_t n_pos[2] = { 0, 0 }, n_repeat[2][CANTUS_LOOKBACK_N_LAGS] = { { 0 } };
    size_t n_bad = 0;
    for (int f = 0; f < fl.n; f++) {
      CantusMidiFile *mf = NULL;
      CantusError err;
      if (cantus_midi_read(fl.paths[f], &mf, &err) != CANTUS_OK) {
        free(fl.paths[f]);
        continue;
      }
      for (int layout = 0; layout < 2; layout++) {
        const CantusVocab v = layout ? cantus_vocab_default_v2(n_parts) : cantus_vocab_default();
        CantusTokensPartNames pn = { .mf = mf };
        for (int k = 0; k < n_parts; k++) {
          pn.names[k] = sets[c][1 + k];
        }
        CantusTokensOptions opt = cantus_tokens_options_default();
        opt.start_end = true;
        opt.part = cantus_tokens_part_by_track_name;
        opt.part_user = &pn;
        const size_t cap = 4 * mf->n_notes + 4096;
        uint16_t *tok = malloc(cap * sizeof *tok);
        CantusTokensStats st;
        if (cantus_tokens_from_notes(
              mf->notes, mf->n_notes, mf->tpq, &v, &opt, tok, cap, &st, &err) != CANTUS_OK) {
          free(tok);
          continue;
        }
        Map m;
        file_map(mf, v.tpq, &m);
        n_bad += compare(tok, st.n_written, &v, &m, fl.paths[f], &lb, &max_count[layout]);
        CHECK_EQ(lb.n_dropped, 0);
        CHECK_EQ(lb.n_refused, 0);
        // how often the lookback is the next token
        CantusLookbackFeatures *fe = malloc((st.n_written + 1) * sizeof *fe);
        const CantusBarMap map = as_map(&m);
        int64_t ffb, end;
        cantus_lookback_piece_bars(tok, st.n_written, &v, &map, &ffb, &end);
        cantus_lookback_batch(tok, st.n_written, &v, &map, ffb, end, fe, &err);
        for (size_t i = 0; i + 1 < st.n_written; i++) {
          n_pos[layout]++;
          for (int l = 0; l < CANTUS_LOOKBACK_N_LAGS; l++) {
            n_repeat[layout][l] += fe[i].look[l] == tok[i + 1];
          }
        }
        free(fe);
        free(tok);
      }
      cantus_midi_free(mf);
      free(fl.paths[f]);
    }
    free(fl.paths);
    CHECK_EQ(n_bad, 0);
    CHECK(n_pos[0] > 0 && n_pos[1] > 0);
    for (int layout = 0; layout < 2; layout++) {
      CHECK(max_count[layout] < CANTUS_LOOKBACK_CAP);
      if (cantus_test_verbose) {
        printf("  %s v%d: %llu positions; lookback == next token at lag 1/2/4/8: "
               "%.1f %% %.1f %% %.1f %% %.1f %%; most events held: %u of %d\n",
               sets[c][0],
               layout + 1,
               (unsigned long long)n_pos[layout],
               100.0 * (double)n_repeat[layout][0] / (double)n_pos[layout],
               100.0 * (double)n_repeat[layout][1] / (double)n_pos[layout],
               100.0 * (double)n_repeat[layout][2] / (double)n_pos[layout],
               100.0 * (double)n_repeat[layout][3] / (double)n_pos[layout],
               max_count[layout],
               CANTUS_LOOKBACK_CAP);
      }
    }
  }
}

// ---- the cap and snapshots ----------------------------------------------------------

TEST(lookback_cap_gives_none_never_a_wrong_token)
{
  CantusVocab v = cantus_vocab_default_v2(4);
  const int V = cantus_vocab_size(&v);
  // 8 events and a shift every 3 ticks: 16 x 9 = 144 events a bar, 1296
  // in nine bars, over the cap (512): lags 1 and 2 fit, 4 and 8 do not.
  static uint16_t tok[40000];
  size_t n = 0;
  uint64_t seed = 42;
  for (int t = 0; t < 16 * 20 && n + 64 < 40000; t++) {
    for (int k = 0; k < 4; k++) {
      tok[n++] = (uint16_t)cantus_vocab_note(&v, (int)(rng_next(&seed) % 4), 60 + k);
      tok[n++] = (uint16_t)cantus_vocab_dur(&v, (int)(rng_next(&seed) % 3));
    }
    tok[n++] = (uint16_t)cantus_vocab_shift(&v, 3);
  }
  Map m = { .tick = { 0 }, .bar = { 48 }, .n = 1 };
  const CantusBarMap map = as_map(&m);
  static CantusLookbackFeatures fb[40000], ft[40000];
  CantusError err;
  CHECK_EQ(cantus_lookback_batch(tok, n, &v, &map, 0, CANTUS_LOOKBACK_END_UNKNOWN, fb, &err),
           CANTUS_OK);
  static CantusLookback lb;
  track(tok, n, &v, &m, 0, CANTUS_LOOKBACK_END_UNKNOWN, ft, &lb);
  CHECK(lb.n_dropped > 0);
  CHECK(lb.count <= CANTUS_LOOKBACK_CAP);
  size_t n_none = 0, n_same = 0, n_wrong = 0;
  for (size_t i = 0; i < n; i++) {
    for (int l = 0; l < CANTUS_LOOKBACK_N_LAGS; l++) {
      if (ft[i].look[l] == fb[i].look[l]) {
        n_same++;
      } else if (ft[i].look[l] == V) {
        n_none++;
      } else {
        n_wrong++;
      }
    }
  }
  CHECK_EQ(n_wrong, 0);
  CHECK(n_none > 0);
  CHECK(n_same > n_none); // lags 1 and 2 still fit
}

TEST(lookback_snapshot_replays_identical_features)
{
  CantusVocab v = cantus_vocab_default();
  uint64_t seed = 7;
  static uint16_t tok[3000], alt[3000];
  for (int i = 0; i < 3000; i++) {
    const bool shift = rng_next(&seed) % 3 == 0;
    tok[i] = (uint16_t)(shift ? cantus_vocab_shift(&v, 1 + (int)(rng_next(&seed) % 24))
                              : cantus_vocab_note_on(&v, 50 + (int)(rng_next(&seed) % 20)));
    alt[i] = (uint16_t)(shift ? cantus_vocab_shift(&v, 1 + (int)(rng_next(&seed) % 30))
                              : cantus_vocab_note_off(&v, 50 + (int)(rng_next(&seed) % 20)));
  }
  static CantusLookback lb, snap;
  cantus_lookback_init(&lb, &v, 36, 0);
  cantus_lookback_set_form(&lb, 1, 100);
  for (int i = 0; i < 1500; i++) {
    cantus_lookback_push(&lb, tok[i]);
  }
  cantus_lookback_meter(&lb, lb.tick + 100, 48); // a change still waiting
  memcpy(&snap, &lb, sizeof lb);
  static CantusLookbackFeatures a[1500], b[1500];
  for (int i = 1500; i < 3000; i++) {
    cantus_lookback_push(&lb, tok[i]);
    cantus_lookback_features(&lb, &a[i - 1500]);
  }
  // something else happens, then the timeline returns to the snapshot
  for (int i = 0; i < 3000; i++) {
    cantus_lookback_push(&lb, alt[i]);
  }
  memcpy(&lb, &snap, sizeof lb);
  for (int i = 1500; i < 3000; i++) {
    cantus_lookback_push(&lb, tok[i]);
    cantus_lookback_features(&lb, &b[i - 1500]);
  }
  CHECK(memcmp(a, b, sizeof a) == 0);
  CHECK_EQ(cantus_lookback_query(&lb, -1), cantus_vocab_size(&v));
  CHECK_EQ(cantus_lookback_query(&lb, CANTUS_LOOKBACK_N_LAGS), cantus_vocab_size(&v));
  size_t n_look = 0;
  for (int i = 0; i < 1500; i++) {
    n_look += a[i].look[0] != cantus_vocab_size(&v);
  }
  CHECK(n_look > 1000);
  if (cantus_test_verbose) {
    printf("  sizeof (CantusLookback) = %zu bytes\n", sizeof(CantusLookback));
  }
}
