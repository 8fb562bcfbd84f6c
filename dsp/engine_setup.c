// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's non-real-time half: construction, model loading with room
// for the timeline memory, MIDI themes, the scale tables and the control
// defaults.  Thread class: non-RT (allocates, reads files), except the pure
// table lookups cantus_scale_mask/_name, cantus_key_name/_parse and
// cantus_engine_snap_layout.
#include "engine_impl.h"

#include <stdlib.h>
#include <string.h>

static const struct {
  uint16_t mask;
  const char *name;
} scales[CANTUS_N_SCALES] = {
  [CANTUS_SCALE_CHROMATIC] = { 0xFFF, "chromatic" },
  // bit k = pitch class root + k
  [CANTUS_SCALE_MAJOR] = { 1 << 0 | 1 << 2 | 1 << 4 | 1 << 5 | 1 << 7 | 1 << 9 | 1 << 11, "major" },
  [CANTUS_SCALE_MINOR] = { 1 << 0 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 7 | 1 << 8 | 1 << 10, "minor" },
  [CANTUS_SCALE_HARMONIC_MINOR] = { 1 << 0 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 7 | 1 << 8 | 1 << 11,
                                    "harmonic-minor" },
  [CANTUS_SCALE_DORIAN] = { 1 << 0 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 7 | 1 << 9 | 1 << 10,
                            "dorian" },
  [CANTUS_SCALE_MIXOLYDIAN] = { 1 << 0 | 1 << 2 | 1 << 4 | 1 << 5 | 1 << 7 | 1 << 9 | 1 << 10,
                                "mixolydian" },
  [CANTUS_SCALE_MAJOR_PENTATONIC] = { 1 << 0 | 1 << 2 | 1 << 4 | 1 << 7 | 1 << 9,
                                      "major-pentatonic" },
  [CANTUS_SCALE_MINOR_PENTATONIC] = { 1 << 0 | 1 << 3 | 1 << 5 | 1 << 7 | 1 << 10,
                                      "minor-pentatonic" },
  [CANTUS_SCALE_BLUES] = { 1 << 0 | 1 << 3 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 10, "blues" },
};

uint16_t cantus_scale_mask(CantusScale scale)
{
  return (unsigned)scale < CANTUS_N_SCALES ? scales[scale].mask : 0xFFF;
}

const char *cantus_scale_name(CantusScale scale)
{
  return (unsigned)scale < CANTUS_N_SCALES ? scales[scale].name : "chromatic";
}

const char *cantus_key_name(int pitch_class)
{
  static const char *const names[12] = { "C",  "C#", "D",  "D#", "E",  "F",
                                         "F#", "G",  "G#", "A",  "A#", "B" };
  return names[(pitch_class % 12 + 12) % 12];
}

int cantus_key_parse(const char *name)
{
  static const int base[7] = { 9, 11, 0, 2, 4, 5, 7 }; // A..G
  const int l = name[0] >= 'a' ? name[0] - 'a' + 'A' : name[0];
  if (l < 'A' || l > 'G') {
    return -1;
  }
  int pc = base[l - 'A'];
  if (name[1] == '#' || name[1] == 's') {
    pc++;
  } else if (name[1] == 'b') {
    pc--;
  } else if (name[1]) {
    return -1;
  }
  if (name[1] && name[2]) {
    return -1;
  }
  return (pc + 12) % 12;
}

CantusControls cantus_controls_default(void)
{
  return (CantusControls){ .style = 0,
                           .style_b = 0,
                           .blend = 0.0f,
                           .temperature = 1.0f,
                           .top_p = 0.95f,
                           .density = 0.0f,
                           .transpose = 0,
                           .key_root = 0,
                           .scale = CANTUS_SCALE_CHROMATIC,
                           .note_lo = 0,
                           .note_hi = 127,
                           .max_voices = 8,
                           .velocity = 0,
                           .humanise = 0.0f,
                           .gate = 1.0f,
                           .swing = 0.0f,
                           .channel = 0,
                           .seed = 1,
                           .hold = false,
                           .hold_bars = 4,
                           .regenerate = false,
                           .listen = false,
                           .call_response = false,
                           .response_bars = 2,
                           .wait_beats = 2,
                           .bpm = 120.0f,
                           .panic = false,
                           .max_note_beats = 8 };
}

static size_t round64(size_t n)
{
  return (n + 63) & ~(size_t)63;
}

EngineLayout cantus_engine_snap_layout(const CantusDims *d)
{
  EngineLayout l;
  l.hdr_size = round64(sizeof(EngineSnapHdr));
  l.state_floats = 2u * d->n_layers * d->n_hidden;
  l.snap_size = l.hdr_size + round64(l.state_floats * sizeof(float));
  l.total = (size_t)(CANTUS_TIMELINE_BARS + ENGINE_RING_CAP) * l.snap_size;
  return l;
}

CantusStatus cantus_engine_new(double lookahead_beats, CantusEngine **out, CantusError *err)
{
  *out = NULL;
  CantusEngine *e = calloc(1, sizeof *e);
  if (!e) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "engine: out of memory (%zu bytes)", sizeof *e);
  }
  // NaN, <= 0: the default; more than 16 beats would outgrow the queue.
  e->lookahead_beats = lookahead_beats > 0.0 ? lookahead_beats : 1.0;
  if (e->lookahead_beats > 16.0) {
    e->lookahead_beats = 16.0;
  }
  e->ctl = cantus_controls_default();
  e->timeline_id = 1;
  e->tpb = 12.0;
  e->bar_ticks = 48;
  *out = e;
  return CANTUS_OK;
}

void cantus_engine_free(CantusEngine *e)
{
  free(e);
}

CantusStatus cantus_engine_adopt_model(const CantusModel *src, CantusModel **out, CantusError *err)
{
  *out = NULL;
  void *bytes = NULL;
  size_t size = 0;
  CantusStatus st = cantus_model_save_mem(src, &bytes, &size, err);
  if (st != CANTUS_OK) {
    return st;
  }
  CantusModelOptions opt = cantus_model_options_default();
  opt.weights = src->net.wtype;
  opt.extra_size = cantus_engine_snap_layout(&src->net.dims).total;
  st = cantus_model_load_mem(bytes, size, src->name[0] ? src->name : "model", &opt, out, err);
  free(bytes);
  return st;
}

CantusStatus cantus_engine_load_model(const char *path, CantusModel **out, CantusError *err)
{
  // The timeline's size depends on the network's sizes, known only after
  // reading the file: read it, then lay it out again with the extra region.
  *out = NULL;
  CantusModel *m = NULL;
  CantusModelOptions opt = cantus_model_options_default();
  CantusStatus st = cantus_model_load(path, &opt, &m, err);
  if (st != CANTUS_OK) {
    return st;
  }
  void *bytes = NULL;
  size_t size = 0;
  st = cantus_model_save_mem(m, &bytes, &size, err);
  if (st == CANTUS_OK) {
    opt.extra_size = cantus_engine_snap_layout(&m->net.dims).total;
    st = cantus_model_load_mem(bytes, size, path, &opt, out, err);
  }
  free(bytes);
  cantus_model_free(m);
  return st;
}

// ---- themes -------------------------------------------------------------------

typedef struct {
  int64_t tick;
  int on; // 0 = off (sorts first at equal ticks), 1 = on
  int pitch;
  int velocity;
} ThemeEv;

static int theme_ev_cmp(const void *a, const void *b)
{
  const ThemeEv *x = a, *y = b;
  if (x->tick != y->tick) {
    return x->tick < y->tick ? -1 : 1;
  }
  if (x->on != y->on) {
    return x->on - y->on;
  }
  return x->pitch - y->pitch;
}

// Folds a pitch into [lo, hi] by octaves (then clamps, for ranges under an octave).
static int fold_pitch(int p, int lo, int hi)
{
  while (p < lo && p + 12 <= 127) {
    p += 12;
  }
  while (p > hi && p - 12 >= 0) {
    p -= 12;
  }
  return p < lo ? lo : p > hi ? hi : p;
}

typedef struct {
  CantusTheme *th;
  const CantusVocab *v;
  int64_t tick; // of the tokens so far
} ThemeWriter;

static bool put(ThemeWriter *w, int token)
{
  if (token < 0 || w->th->n_tokens >= CANTUS_MAX_THEME) {
    return false;
  }
  w->th->tokens[w->th->n_tokens++] = (uint16_t)token;
  return true;
}

static int shift_count(const CantusVocab *v, int64_t gap)
{
  return gap <= 0 ? 0 : (int)((gap + v->n_shift - 1) / v->n_shift);
}

static void put_shifts(ThemeWriter *w, int64_t to)
{
  while (w->tick < to) {
    const int64_t k = to - w->tick > w->v->n_shift ? w->v->n_shift : to - w->tick;
    if (!put(w, cantus_vocab_shift(w->v, (int)k))) {
      return;
    }
    w->tick += k;
  }
}

CantusStatus cantus_theme_from_midi(const CantusMidiFile *mf,
                                    const CantusVocab *v,
                                    int max_bars,
                                    CantusTheme *theme,
                                    CantusError *err)
{
  memset(theme, 0, sizeof *theme);
  if (!cantus_vocab_valid(v)) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "theme: invalid vocabulary");
  }
  theme->vocab = *v;
  if (mf->tpq == 0) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "theme: MIDI file has no ticks per quarter");
  }
  // Bar length from the first time signature (4/4 without one).
  int num = 4, den = 4;
  if (mf->n_timesigs > 0 && mf->timesigs[0].num > 0 && mf->timesigs[0].den > 0) {
    num = mf->timesigs[0].num;
    den = mf->timesigs[0].den;
  }
  int64_t bar_ticks = (int64_t)num * v->tpq * 4 / den;
  bar_ticks = bar_ticks < 1 ? 1 : bar_ticks;
  const int64_t limit = max_bars > 0 ? (int64_t)max_bars * bar_ticks : INT64_MAX;

  ThemeEv *ev = malloc((mf->n_notes * 2 + 1) * sizeof *ev);
  if (!ev) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "theme: out of memory");
  }
  size_t n = 0;
  for (size_t i = 0; i < mf->n_notes; i++) {
    const CantusMidiNote *note = &mf->notes[i];
    if (note->channel == 9) {
      continue; // drums
    }
    // Snap to the grid (round to nearest); a note keeps at least one tick.
    const int64_t on = ((int64_t)note->on_tick * v->tpq * 2 + mf->tpq) / (2 * mf->tpq);
    int64_t off = ((int64_t)note->off_tick * v->tpq * 2 + mf->tpq) / (2 * mf->tpq);
    if (on >= limit) {
      continue;
    }
    off = off <= on ? on + 1 : off;
    off = off > limit ? limit : off;
    const int p = fold_pitch(note->pitch, v->pitch_lo, v->pitch_hi);
    ev[n++] = (ThemeEv){ on, 1, p, note->velocity };
    ev[n++] = (ThemeEv){ off, 0, p, 0 };
  }
  qsort(ev, n, sizeof *ev, theme_ev_cmp);

  // Replay the events as a token stream, keeping it valid: a re-struck pitch
  // ends first, an off of a silent pitch is dropped (its note was re-struck),
  // and a note-on is only written when its off (and the shifts to it) still
  // fit, so every note in the theme is closed.
  ThemeWriter w = { .th = theme, .v = v, .tick = 0 };
  uint8_t on[128] = { 0 };
  int64_t open_until = 0; // latest off tick of a sounding note
  int n_on = 0, vel_bin = -1;
  int64_t last = 0;
  for (size_t i = 0; i < n; i++) {
    const ThemeEv *x = &ev[i];
    if (!x->on) {
      if (!on[x->pitch]) {
        continue;
      }
      put_shifts(&w, x->tick);
      if (!put(&w, cantus_vocab_note_off(v, x->pitch))) {
        break;
      }
      on[x->pitch] = 0;
      n_on--;
      last = x->tick;
      continue;
    }
    // the matching off: the next off of this pitch after this event
    int64_t off = x->tick + 1;
    for (size_t j = i + 1; j < n; j++) {
      if (!ev[j].on && ev[j].pitch == x->pitch) {
        off = ev[j].tick;
        break;
      }
    }
    const int bin = v->n_vel ? cantus_vocab_vel_to_bin(v, x->velocity) : -1;
    const int64_t until = off > open_until ? off : open_until;
    // tokens: shifts here, maybe OFF (re-strike), maybe VEL, ON, then at
    // worst one OFF per sounding note plus shifts to the latest off
    const int64_t need = shift_count(v, x->tick - w.tick) + 1 + (on[x->pitch] ? 1 : 0) +
                         (bin >= 0 && bin != vel_bin) + 1 + n_on + 1 +
                         shift_count(v, until - x->tick) + 1;
    if ((int64_t)theme->n_tokens + need > CANTUS_MAX_THEME) {
      break;
    }
    put_shifts(&w, x->tick);
    if (on[x->pitch]) {
      put(&w, cantus_vocab_note_off(v, x->pitch));
      n_on--;
    }
    if (bin >= 0 && bin != vel_bin) {
      put(&w, cantus_vocab_velocity(v, bin));
      vel_bin = bin;
    }
    put(&w, cantus_vocab_note_on(v, x->pitch));
    on[x->pitch] = 1;
    n_on++;
    open_until = until;
    last = x->tick;
  }
  // Close what is still sounding (the loop stopped early), in tick order.
  for (size_t i = 0; i < n && n_on > 0; i++) {
    const ThemeEv *x = &ev[i];
    if (!x->on && on[x->pitch] && x->tick >= w.tick) {
      put_shifts(&w, x->tick);
      put(&w, cantus_vocab_note_off(v, x->pitch));
      on[x->pitch] = 0;
      n_on--;
      last = x->tick;
    }
  }
  for (int p = 0; p < 128 && n_on > 0; p++) {
    if (on[p]) {
      put(&w, cantus_vocab_note_off(v, p));
      on[p] = 0;
      n_on--;
    }
  }
  free(ev);
  // The theme ends on the bar line after its last event, so the network
  // continues at the start of a bar.
  if (theme->n_tokens > 0) {
    const int64_t end = (last + bar_ticks - 1) / bar_ticks * bar_ticks;
    const int64_t room = CANTUS_MAX_THEME - (int64_t)theme->n_tokens;
    if (shift_count(v, end - w.tick) <= room) {
      put_shifts(&w, end);
    }
  }
  return CANTUS_OK;
}
