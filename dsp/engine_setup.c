// SPDX-License-Identifier: GPL-3.0-or-later
// The engine's non-real-time half: construction, model loading with room
// for the timeline memory, MIDI themes and the scale tables (the control
// defaults are in the control table, dsp/controls.c).  Thread class: non-RT
// (allocates, reads files), except the pure table lookups
// cantus_scale_mask/_name, cantus_key_name/_parse and
// cantus_engine_snap_layout.
#include "engine_impl.h"
#include "tokens.h"

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

static size_t round64(size_t n)
{
  return (n + 63) & ~(size_t)63;
}

EngineLayout cantus_engine_snap_layout(const CantusDims *d)
{
  EngineLayout l;
  l.hdr_size = round64(sizeof(EngineSnapHdr));
  l.lb_size = cantus_vocab_is_v2(&d->vocab) ? round64(sizeof(CantusLookback)) : 0;
  l.state_off = l.hdr_size + l.lb_size;
  l.state_floats = 2u * d->n_layers * d->n_hidden;
  l.snap_size = l.state_off + round64(l.state_floats * sizeof(float));
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
  e->timeline.id = 1;
  e->transport.tpb = 12.0;
  e->transport.bar_ticks = 48;
  e->gen.end_bar = CANTUS_LOOKBACK_END_UNKNOWN;
  cantus_chord_reader_init(&e->chords.reader, e->transport.bar_ticks / 2);
  e->chords.base = cantus_chord_none();
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

static CantusStatus theme_from_midi(const CantusMidiFile *mf,
                                    const CantusVocab *v,
                                    char (*part_names)[CANTUS_STYLE_NAME_LEN],
                                    int max_bars,
                                    CantusTheme *theme,
                                    CantusError *err);

CantusStatus cantus_theme_from_midi(const CantusMidiFile *mf,
                                    const CantusVocab *v,
                                    int max_bars,
                                    CantusTheme *theme,
                                    CantusError *err)
{
  return theme_from_midi(mf, v, NULL, max_bars, theme, err);
}

CantusStatus cantus_theme_for_model(const CantusMidiFile *mf,
                                    const CantusModel *m,
                                    int max_bars,
                                    CantusTheme *theme,
                                    CantusError *err)
{
  return theme_from_midi(mf, &m->dims.vocab, m->part_names, max_bars, theme, err);
}

static CantusStatus theme_from_midi(const CantusMidiFile *mf,
                                    const CantusVocab *v,
                                    char (*part_names)[CANTUS_STYLE_NAME_LEN],
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

  // The token stream the models are trained on (dsp/tokens.h), without
  // START/END; a theme also folds out-of-range pitches by octaves (a tune
  // a little too low still plays), writes velocity tokens for models that
  // have them, stops after max_bars and, when the stream is too long,
  // stops before a note that could no longer be closed.
  CantusTokensOptions opt = cantus_tokens_options_default();
  opt.fold_pitches = true;
  opt.velocities = true;
  opt.truncate = true;
  opt.end_tick = max_bars > 0 ? (uint64_t)max_bars * (uint64_t)bar_ticks : 0;
  // Format 2: a note's part is the model part its track is named after;
  // with no track named so, every note is part 1's.
  CantusTokensPartNames names = { .mf = mf };
  bool named = false;
  for (int k = 0; cantus_vocab_is_v2(v) && part_names && k < v->n_parts; k++) {
    names.names[k] = part_names[k];
    for (size_t i = 0; i < mf->n_notes && !named; i++) {
      named = cantus_tokens_part_by_track_name(&mf->notes[i], &names) >= 0;
    }
  }
  if (named) {
    opt.part = cantus_tokens_part_by_track_name;
    opt.part_user = &names;
  }
  CantusTokensStats st;
  CantusStatus s = cantus_tokens_from_notes(
    mf->notes, mf->n_notes, mf->tpq, v, &opt, theme->tokens, CANTUS_MAX_THEME, &st, err);
  if (s != CANTUS_OK) {
    return s == CANTUS_ERR_NO_MEMORY ? cantus_error(err, s, "theme: out of memory") : s;
  }
  theme->n_tokens = (uint32_t)st.n_written;
  // The theme ends on the bar line after its last event, so the network
  // continues at the start of a bar.
  if (theme->n_tokens > 0) {
    const uint64_t bar = (uint64_t)bar_ticks;
    const uint64_t end = (st.end_tick + bar - 1) / bar * bar;
    const uint64_t gap = end - st.end_tick;
    const uint64_t n_shifts = (gap + v->n_shift - 1) / v->n_shift;
    if (n_shifts <= CANTUS_MAX_THEME - theme->n_tokens) {
      for (uint64_t t = st.end_tick; t < end;) {
        const uint64_t k = end - t > v->n_shift ? v->n_shift : end - t;
        theme->tokens[theme->n_tokens++] = (uint16_t)cantus_vocab_shift(v, (int)k);
        t += k;
      }
    }
  }
  return CANTUS_OK;
}

void cantus_engine_tap_steps(CantusEngine *e,
                             uint16_t *tok,
                             CantusLookbackFeatures *form,
                             size_t cap)
{
  e->gen.tap_tok = tok;
  e->gen.tap_form = form;
  e->gen.tap_cap = tok && form ? cap : 0;
  e->gen.tap_n = 0;
}

size_t cantus_engine_tapped(const CantusEngine *e)
{
  return e->gen.tap_n;
}

void cantus_engine_set_end(CantusEngine *e, int64_t last_bar)
{
  e->gen.end_bar = last_bar < 0 ? CANTUS_LOOKBACK_END_UNKNOWN : last_bar;
  e->timeline.id++; // the bars ahead are decided again with the end in view
  e->restart_pending = e->transport.started;
}
