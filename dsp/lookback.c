// SPDX-License-Identifier: GPL-3.0-or-later
// Form inputs (lookback.h): the batch over a whole stream (non-RT; bars in
// closed form from the bar map, the whole history kept) and the tracker
// (RT; bars rolled forward line by line, a fixed ring of recent events).
// The two are written independently so that the tests comparing them
// check the definition, not one implementation against itself.
#include "lookback.h"

#include <stdlib.h>

static bool is_event(CantusEventKind k)
{
  return k != CANTUS_EV_START && k != CANTUS_EV_SHIFT && k != CANTUS_EV_INVALID;
}

static bool is_onset(CantusEventKind k)
{
  return k == CANTUS_EV_NOTE_ON || k == CANTUS_EV_NOTE;
}

static uint8_t phrase_bar(int64_t bar, int64_t first_full_bar)
{
  const int64_t m = (bar - first_full_bar) % CANTUS_PHRASE_BARS;
  return (uint8_t)(m < 0 ? m + CANTUS_PHRASE_BARS : m);
}

static uint8_t bars_left(int64_t bar, int64_t end_bar)
{
  if (end_bar == CANTUS_LOOKBACK_END_UNKNOWN) {
    return CANTUS_BARS_LEFT_UNKNOWN;
  }
  const int64_t d = end_bar - bar;
  return (uint8_t)(d < 0 ? 0 : d > CANTUS_BARS_LEFT_MAX ? CANTUS_BARS_LEFT_MAX : d);
}

static int replay_shift(const CantusVocab *v, int64_t gap)
{
  return cantus_vocab_shift(v, gap < v->n_shift ? (int)gap : v->n_shift);
}

// ---- the batch: bars in closed form ------------------------------------------------

// Bars of segment k of the map (from tick[k] to tick[k+1], the last one
// unbounded): bars_before[k] bars precede it.
typedef struct {
  const CantusBarMap *map;
  uint32_t four_four[1], zero[1];
  CantusBarMap dflt;
  int64_t bars_before[256 + 1];
  int n_seg;
} Bars;

static bool bars_init(Bars *b, const CantusBarMap *map, const CantusVocab *v)
{
  if (map->n == 0) {
    b->four_four[0] = 4u * v->tpq;
    b->zero[0] = 0;
    b->dflt = (CantusBarMap){ .tick = b->zero, .bar_ticks = b->four_four, .n = 1 };
    map = &b->dflt;
  }
  if (map->n < 1 || map->n > 256 || map->tick[0] != 0) {
    return false;
  }
  b->map = map;
  b->n_seg = map->n;
  b->bars_before[0] = 0;
  for (int k = 0; k < map->n; k++) {
    if (map->bar_ticks[k] < 1 || (k > 0 && map->tick[k] <= map->tick[k - 1])) {
      return false;
    }
    if (k + 1 < map->n) {
      const int64_t span = (int64_t)map->tick[k + 1] - map->tick[k];
      b->bars_before[k + 1] =
        b->bars_before[k] + (span + map->bar_ticks[k] - 1) / map->bar_ticks[k];
    }
  }
  return true;
}

static int64_t bar_of(const Bars *b, int64_t t)
{
  int k = 0;
  while (k + 1 < b->n_seg && b->map->tick[k + 1] <= t) {
    k++;
  }
  return b->bars_before[k] + (t - b->map->tick[k]) / b->map->bar_ticks[k];
}

// Start and length of bar `bar` (>= 0).
static void bar_span(const Bars *b, int64_t bar, int64_t *start, int64_t *len)
{
  int k = 0;
  while (k + 1 < b->n_seg && b->bars_before[k + 1] <= bar) {
    k++;
  }
  const int64_t bt = b->map->bar_ticks[k];
  *start = b->map->tick[k] + (bar - b->bars_before[k]) * bt;
  *len = bt;
  if (k + 1 < b->n_seg && *start + bt > b->map->tick[k + 1]) {
    *len = b->map->tick[k + 1] - *start;
  }
}

void cantus_lookback_piece_bars(const uint16_t *tokens,
                                size_t n_tokens,
                                const CantusVocab *v,
                                const CantusBarMap *map,
                                int64_t *first_full_bar,
                                int64_t *last_note_bar)
{
  *first_full_bar = 0;
  *last_note_bar = CANTUS_LOOKBACK_END_UNKNOWN;
  Bars b;
  if (!bars_init(&b, map, v)) {
    return;
  }
  int64_t tick = 0, first = -1, last = -1;
  for (size_t i = 0; i < n_tokens; i++) {
    int val;
    const CantusEventKind k = cantus_vocab_decode(v, tokens[i], &val);
    if (k == CANTUS_EV_SHIFT) {
      tick += val;
    } else if (is_onset(k)) {
      first = first < 0 ? tick : first;
      last = tick;
    }
  }
  if (first < 0) {
    return;
  }
  const int64_t fb = bar_of(&b, first);
  int64_t start, len;
  bar_span(&b, fb, &start, &len);
  *first_full_bar = first == start ? fb : fb + 1;
  *last_note_bar = bar_of(&b, last);
}

// First index in [lo, hi) whose tick is >= t (ge) or > t (!ge).
static size_t search(const int64_t *ticks, size_t lo, size_t hi, int64_t t, bool ge)
{
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (ge ? ticks[mid] < t : ticks[mid] <= t) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

CantusStatus cantus_lookback_batch(const uint16_t *tokens,
                                   size_t n_tokens,
                                   const CantusVocab *v,
                                   const CantusBarMap *map,
                                   int64_t first_full_bar,
                                   int64_t end_bar,
                                   CantusLookbackFeatures *out,
                                   CantusError *err)
{
  if (!cantus_vocab_valid(v)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "lookback: invalid vocabulary");
  }
  Bars b;
  if (!bars_init(&b, map, v)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "lookback: invalid bar map");
  }
  const int V = cantus_vocab_size(v);
  int64_t *ev_tick = malloc((n_tokens ? n_tokens : 1) * sizeof *ev_tick);
  uint16_t *ev_tok = malloc((n_tokens ? n_tokens : 1) * sizeof *ev_tok);
  if (!ev_tick || !ev_tok) {
    free(ev_tick);
    free(ev_tok);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "lookback: out of memory");
  }
  size_t n_ev = 0;
  int64_t tau = 0;
  size_t rho = 0;
  for (size_t i = 0; i < n_tokens; i++) {
    int val;
    const CantusEventKind k = cantus_vocab_decode(v, tokens[i], &val);
    if (k == CANTUS_EV_SHIFT) {
      tau += val;
      rho = 0;
    } else if (is_event(k)) {
      ev_tick[n_ev] = tau;
      ev_tok[n_ev++] = tokens[i];
      rho++;
    }
    const int64_t bar = bar_of(&b, tau);
    int64_t start, len;
    bar_span(&b, bar, &start, &len);
    const int64_t o = tau - start;
    for (int l = 0; l < CANTUS_LOOKBACK_N_LAGS; l++) {
      const int64_t ob = bar - cantus_lookback_lag(l);
      int look = V;
      int64_t ostart = 0, olen = 0;
      if (ob >= 0) {
        bar_span(&b, ob, &ostart, &olen);
      }
      if (ob >= 0 && o < olen) {
        const int64_t tp = ostart + o;
        const size_t k0 = search(ev_tick, 0, n_ev, tp, true);
        const size_t k1 = search(ev_tick, k0, n_ev, tp, false);
        if (k1 - k0 > rho) {
          look = ev_tok[k0 + rho];
        } else {
          look = replay_shift(v, (k1 < n_ev ? ev_tick[k1] : tau) - tp);
        }
      }
      out[i].look[l] = (uint16_t)look;
    }
    out[i].phrase_bar = phrase_bar(bar, first_full_bar);
    out[i].bars_left = bars_left(bar, end_bar);
    out[i].chord = 0;
  }
  free(ev_tick);
  free(ev_tok);
  return CANTUS_OK;
}

// ---- the tracker: bars rolled forward ------------------------------------------------

static int64_t clamp_bar(int64_t t)
{
  return t < 1 ? 1 : t > CANTUS_LOOKBACK_MAX_BAR ? CANTUS_LOOKBACK_MAX_BAR : t;
}

static int64_t ev_abs(const CantusLookback *lb, uint32_t k)
{
  const uint32_t t32 = lb->ev_tick[(lb->head + k) % CANTUS_LOOKBACK_CAP];
  return lb->tick - (int64_t)(uint32_t)((uint32_t)lb->tick - t32);
}

static void forget_oldest(CantusLookback *lb)
{
  lb->head = (lb->head + 1) % CANTUS_LOOKBACK_CAP;
  lb->count--;
}

// A bar line at t: the next bar starts; events before bar-8 are of no use.
CANTUS_RT static void new_bar(CantusLookback *lb, int64_t t)
{
  lb->bar++;
  lb->bar_start[lb->bar & 15] = t;
  const int64_t oldest = lb->bar - (1 << (CANTUS_LOOKBACK_N_LAGS - 1));
  if (oldest >= lb->first_bar) {
    const int64_t keep_from = lb->bar_start[oldest & 15];
    while (lb->count > 0 && ev_abs(lb, 0) < keep_from) {
      forget_oldest(lb);
    }
  }
}

// Moves the stream to tick `to` (> tick), laying bar lines and applying
// the meter changes on the way.
// Each pass consumes a pending meter change or crosses a bar line of at
// least one tick; it is called with one SHIFT (at most n_shift <= 4 * 96
// ticks, cantus_vocab_valid), so ADVANCE_MAX passes always suffice.
enum { ADVANCE_MAX = 4 * 96 + CANTUS_LOOKBACK_MAX_METERS + 1 };

CANTUS_RT static void advance(CantusLookback *lb, int64_t to)
{
  for (int pass = 0; pass < ADVANCE_MAX; pass++) {
    const int64_t change = lb->n_meter ? lb->meter_tick[0] : INT64_MAX;
    const int64_t line = lb->next_line;
    if ((change < line ? change : line) > to) {
      break;
    }
    if (change <= line) {
      const int64_t len = lb->meter_len[0];
      for (uint32_t k = 1; k < lb->n_meter; k++) {
        lb->meter_tick[k - 1] = lb->meter_tick[k];
        lb->meter_len[k - 1] = lb->meter_len[k];
      }
      lb->n_meter--;
      if (change > lb->bar_start[lb->bar & 15]) {
        new_bar(lb, change);
      }
      lb->bar_ticks = len;
      lb->next_line = change + len;
    } else {
      new_bar(lb, line);
      lb->next_line = line + lb->bar_ticks;
    }
  }
  lb->tick = to;
}

void cantus_lookback_init(CantusLookback *lb,
                          const CantusVocab *v,
                          int64_t bar_ticks,
                          int64_t first_bar)
{
  lb->v = *v;
  lb->tick = 0;
  lb->bar = first_bar;
  lb->first_bar = first_bar;
  lb->bar_ticks = clamp_bar(bar_ticks);
  lb->next_line = lb->bar_ticks;
  lb->complete_from = 0;
  lb->first_full_bar = first_bar;
  lb->end_bar = CANTUS_LOOKBACK_END_UNKNOWN;
  for (int k = 0; k < 16; k++) {
    lb->bar_start[k] = 0;
  }
  lb->n_meter = 0;
  lb->rank = 0;
  lb->head = 0;
  lb->count = 0;
  lb->n_dropped = 0;
  lb->n_refused = 0;
}

void cantus_lookback_meter(CantusLookback *lb, int64_t tick, int64_t bar_ticks)
{
  const int64_t len = clamp_bar(bar_ticks);
  if (tick <= lb->tick) {
    // now: a new bar here unless this is the current bar's first tick
    if (lb->tick > lb->bar_start[lb->bar & 15]) {
      new_bar(lb, lb->tick);
    }
    lb->bar_ticks = len;
    lb->next_line = lb->tick + len;
    return;
  }
  uint32_t k = 0;
  while (k < lb->n_meter && lb->meter_tick[k] < tick) {
    k++;
  }
  if (k < lb->n_meter && lb->meter_tick[k] == tick) {
    lb->meter_len[k] = len;
    return;
  }
  if (lb->n_meter == CANTUS_LOOKBACK_MAX_METERS) {
    lb->n_refused++;
    return;
  }
  for (uint32_t j = lb->n_meter; j > k; j--) {
    lb->meter_tick[j] = lb->meter_tick[j - 1];
    lb->meter_len[j] = lb->meter_len[j - 1];
  }
  lb->meter_tick[k] = tick;
  lb->meter_len[k] = len;
  lb->n_meter++;
}

void cantus_lookback_set_form(CantusLookback *lb, int64_t first_full_bar, int64_t end_bar)
{
  lb->first_full_bar = first_full_bar;
  lb->end_bar = end_bar;
}

void cantus_lookback_push(CantusLookback *lb, int token)
{
  int val;
  const CantusEventKind k = cantus_vocab_decode(&lb->v, token, &val);
  if (k == CANTUS_EV_START) {
    return;
  }
  if (k == CANTUS_EV_INVALID) {
    lb->n_refused += lb->n_refused < UINT32_MAX;
    return;
  }
  if (k == CANTUS_EV_SHIFT) {
    advance(lb, lb->tick + val);
    lb->rank = 0;
    return;
  }
  if (lb->count == CANTUS_LOOKBACK_CAP) {
    // full: forget the oldest; lookbacks reaching it become NONE
    lb->complete_from = ev_abs(lb, 0) + 1;
    forget_oldest(lb);
    lb->n_dropped += lb->n_dropped < UINT32_MAX;
  }
  const uint32_t at = (lb->head + lb->count) % CANTUS_LOOKBACK_CAP;
  lb->ev_tick[at] = (uint32_t)lb->tick;
  lb->ev_tok[at] = (uint16_t)token;
  lb->count++;
  lb->rank++;
}

// First ring index whose tick is >= t (ge) or > t (!ge), in [lo, count).
static uint32_t ring_search(const CantusLookback *lb, uint32_t lo, int64_t t, bool ge)
{
  uint32_t hi = lb->count;
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    const int64_t x = ev_abs(lb, mid);
    if (ge ? x < t : x <= t) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

int cantus_lookback_query(const CantusLookback *lb, int i)
{
  const int none = cantus_vocab_size(&lb->v);
  if (i < 0 || i >= CANTUS_LOOKBACK_N_LAGS) {
    return none;
  }
  const int64_t ob = lb->bar - cantus_lookback_lag(i);
  if (ob < lb->first_bar) {
    return none;
  }
  const int64_t ostart = lb->bar_start[ob & 15];
  const int64_t olen = lb->bar_start[(ob + 1) & 15] - ostart;
  const int64_t o = lb->tick - lb->bar_start[lb->bar & 15];
  const int64_t tp = ostart + o;
  if (o >= olen || tp < lb->complete_from) {
    return none;
  }
  const uint32_t k0 = ring_search(lb, 0, tp, true);
  const uint32_t k1 = ring_search(lb, k0, tp, false);
  if (k1 - k0 > lb->rank) {
    return lb->ev_tok[(lb->head + k0 + lb->rank) % CANTUS_LOOKBACK_CAP];
  }
  return replay_shift(&lb->v, (k1 < lb->count ? ev_abs(lb, k1) : lb->tick) - tp);
}

void cantus_lookback_features(const CantusLookback *lb, CantusLookbackFeatures *out)
{
  for (int l = 0; l < CANTUS_LOOKBACK_N_LAGS; l++) {
    out->look[l] = (uint16_t)cantus_lookback_query(lb, l);
  }
  out->phrase_bar = phrase_bar(lb->bar, lb->first_full_bar);
  out->bars_left = bars_left(lb->bar, lb->end_bar);
  out->chord = 0;
}
