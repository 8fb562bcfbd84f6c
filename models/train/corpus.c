// SPDX-License-Identifier: GPL-3.0-or-later
// Corpus reading for the trainer: folders of Standard MIDI Files (one
// sub-folder per style, optional split.tsv) through the shared MIDI reader
// into token streams on the model's grid, with the metric position of every
// token.  Tracks are merged (drum channel skipped, or only named tracks /
// channels kept); onsets and offsets are snapped to the grid and counted.
// The stream of a piece (START, at each tick NOTE_OFFs then NOTE_ONs in
// ascending pitch, SHIFTs to the next event tick, END) is made by
// cantus_tokens_from_notes() in dsp/tokens.c, the definition the engine's
// themes share; this file adds the track filter, the length cap, the metric
// positions and the counts.  Non-RT.
#include "form.h"
#include "lookback.h"
#include "tokens.h"
#include "train.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

CantusCorpusOptions cantus_corpus_options_default(void)
{
  return (CantusCorpusOptions){ .tracks = NULL,
                                .keep_drums = false,
                                .styles = NULL,
                                .vocab = cantus_vocab_default(),
                                .n_pos_beat = 8,
                                .max_tokens = 1000000,
                                .quiet = false };
}

void cantus_corpus_piece_free(CantusPiece *p)
{
  free(p->path);
  free(p->tok);
  free(p->pos_tick);
  free(p->pos_beat);
  free(p->form);
  memset(p, 0, sizeof *p);
}

void cantus_corpus_free(CantusCorpus *c)
{
  for (int i = 0; i < c->n_pieces; i++) {
    cantus_corpus_piece_free(&c->pieces[i]);
  }
  free(c->pieces);
  memset(c, 0, sizeof *c);
}

int cantus_corpus_find_style(const CantusCorpus *c, const char *name)
{
  for (int i = 0; i < c->n_styles; i++) {
    if (strcasecmp(c->styles[i].name, name) == 0) {
      return i;
    }
  }
  return -1;
}

// ---- the track filter -----------------------------------------------------------

// true when the comma list `list` names this track or channel (chN, 1-based).
static bool track_selected(const char *list, const char *track_name, int channel)
{
  if (!list || !*list) {
    return true;
  }
  const char *s = list;
  while (*s) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len > 2 && (s[0] == 'c' || s[0] == 'C') && (s[1] == 'h' || s[1] == 'H') &&
        isdigit((unsigned char)s[2])) {
      if (atoi(s + 2) == channel + 1) {
        return true;
      }
    } else if (len > 0 && strlen(track_name) == len && strncasecmp(s, track_name, len) == 0) {
      return true;
    }
    s += len;
    if (*s == ',') {
      s++;
    }
  }
  return false;
}

static bool list_has(const char *list, const char *name)
{
  return track_selected(list, name, -100);
}

// ---- tokenising one file ----------------------------------------------------------

typedef struct {
  const CantusMidiFile *mf;
  const char *tracks;
} TrackFilter;

// The --tracks filter as a dsp/tokens.h keep callback.
static bool keep_track(const CantusMidiNote *mn, void *user)
{
  const TrackFilter *f = user;
  const char *tname =
    (f->mf->track_names && mn->track < f->mf->n_tracks) ? f->mf->track_names[mn->track] : "";
  return track_selected(f->tracks, tname, mn->channel);
}

// The name a note's track goes by in the part list: its track name, or
// "trackN" (N = the track's index in the file) when it has none.
static void track_label(const CantusMidiFile *mf, int track, char *buf, size_t n)
{
  const char *name = (mf->track_names && track < mf->n_tracks) ? mf->track_names[track] : "";
  if (*name) {
    snprintf(buf, n, "%s", name);
  } else {
    snprintf(buf, n, "track%d", track);
  }
}

typedef struct {
  const CantusMidiFile *mf;
  const CantusCorpus *c;
} PartMap;

// Version 2 part of a note: the index of its track label in the part list.
static int part_of(const CantusMidiNote *mn, void *user)
{
  const PartMap *pm = user;
  char label[64];
  track_label(pm->mf, mn->track, label, sizeof label);
  for (int k = 0; k < pm->c->vocab.n_parts; k++) {
    if (!strcasecmp(pm->c->part_names[k], label)) {
      return k;
    }
  }
  return -1;
}

// Metre slot of a time signature: 4/4 3/4 2/4 6/8 9/8 12/8 2/2 other.
static int meter_slot(int num, int den)
{
  return (num == 4 && den == 4)    ? 0
         : (num == 3 && den == 4)  ? 1
         : (num == 2 && den == 4)  ? 2
         : (num == 6 && den == 8)  ? 3
         : (num == 9 && den == 8)  ? 4
         : (num == 12 && den == 8) ? 5
         : (num == 2 && den == 2)  ? 6
                                   : 7;
}

uint32_t cantus_corpus_tick_in_bar(const uint32_t *ts_tick,
                                   const uint32_t *ts_bar_len,
                                   int n_ts,
                                   uint32_t t)
{
  int i = 0;
  while (i + 1 < n_ts && ts_tick[i + 1] <= t) {
    i++;
  }
  return (t - ts_tick[i]) % ts_bar_len[i];
}

// The chord of every position (issue 11): the chord in force at the tick
// after token i (where token i+1 is emitted, as for the form inputs), from
// the file's own chord part on the file's ticks (cantus_form_file_chords:
// the accompaniment's half-bar windows, the chorales' lower voices by
// beat; a melody alone has none).  The chord part is read from the whole
// file, whatever --tracks and --parts keep, so a melody-only model still
// learns the chords its accompaniment played.
static CantusStatus piece_chords(const CantusMidiFile *mf,
                                 const CantusVocab *v,
                                 CantusLookbackFeatures *form,
                                 const uint16_t *tok,
                                 size_t n_tok,
                                 int *kind,
                                 uint32_t *n_chorded,
                                 CantusError *err)
{
  const uint32_t g = v->tpq, ftpq = mf->tpq ? mf->tpq : 480;
  const CantusFormPiece fp = { .notes = mf->notes,
                               .n_notes = mf->n_notes,
                               .tpq = ftpq,
                               .timesigs = mf->timesigs,
                               .n_timesigs = mf->n_timesigs };
  CantusFormChords fc;
  CantusStatus st = cantus_form_file_chords(&fp, mf->track_names, mf->n_tracks, &fc, err);
  *kind = fc.n ? fc.kind : -1;
  *n_chorded = 0;
  uint64_t tau = 0;
  for (size_t i = 0; i < n_tok; i++) {
    int val = 0;
    if (cantus_vocab_decode(v, tok[i], &val) == CANTUS_EV_SHIFT) {
      tau += (uint64_t)val;
    }
    const uint64_t t = tau * ftpq / g;
    form[i].chord =
      st == CANTUS_OK && t <= UINT32_MAX ? cantus_form_chords_at(&fc, (uint32_t)t) : 0;
    *n_chorded += form[i].chord != 0;
  }
  cantus_form_chords_free(&fc);
  return st;
}

CantusStatus cantus_corpus_tokenize(CantusCorpus *c,
                                    const CantusMidiFile *mf,
                                    const CantusCorpusOptions *opt,
                                    CantusPiece *pc,
                                    CantusError *err)
{
  const CantusVocab *v = &opt->vocab;
  const uint32_t g = v->tpq, ftpq = mf->tpq ? mf->tpq : 480;
  const int npb = opt->n_pos_beat;
  const uint32_t cap = opt->max_tokens ? opt->max_tokens : 1000000;
  pc->chord_kind = -1;
  pc->n_chorded = 0;

  // The stream itself is dsp/tokens.c's, the definition the engine's themes
  // share; a first buffer fits almost every piece, a longer one is retried.
  TrackFilter filter = { mf, opt->tracks };
  CantusTokensOptions to = cantus_tokens_options_default();
  to.keep_drums = opt->keep_drums;
  to.start_end = true;
  to.keep = keep_track;
  to.keep_user = &filter;
  PartMap pmap = { mf, c };
  if (cantus_vocab_is_v2(v) && c->part_names[0][0]) {
    to.part = part_of;
    to.part_user = &pmap;
  }
  size_t len = 4 * mf->n_notes + 64;
  len = len < cap ? len : cap;
  uint16_t *tok = malloc(len * sizeof *tok);
  if (!tok) {
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  CantusTokensStats ts;
  CantusStatus s =
    cantus_tokens_from_notes(mf->notes, mf->n_notes, ftpq, v, &to, tok, len, &ts, err);
  if (s != CANTUS_OK && s != CANTUS_ERR_TOO_LARGE) {
    free(tok);
    return s == CANTUS_ERR_NO_MEMORY ? cantus_error(err, s, "out of memory") : s;
  }
  if (ts.n_notes == 0) {
    free(tok);
    const char *why = mf->n_notes == 0 ? "no notes"
                      : ts.n_out_of_range && !ts.n_filtered && !ts.n_drum
                        ? "every note outside the pitch range"
                        : "no notes left on the kept tracks";
    return cantus_error(err, CANTUS_ERR_FORMAT, "%s", why);
  }
  // Upper bound of the token count: START, END, the events, and per gap
  // ceil(gap / n_shift) shifts.  A piece is skipped when the bound exceeds
  // the cap, whatever its exact count.
  const uint64_t n = ts.n_notes, last_tick = ts.last_tick;
  uint64_t est = 3 + 4 * n + last_tick / v->n_shift;
  if (est > cap) {
    free(tok);
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "too long (%llu notes over %llu ticks, cap %u tokens)",
                        (unsigned long long)n,
                        (unsigned long long)last_tick,
                        cap);
  }
  if (s == CANTUS_ERR_TOO_LARGE || ts.n_tokens != len) {
    uint16_t *t2 = realloc(tok, (ts.n_tokens ? ts.n_tokens : 1) * sizeof *tok);
    if (!t2) {
      free(tok);
      return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
    }
    tok = t2;
    if (s == CANTUS_ERR_TOO_LARGE) {
      len = ts.n_tokens;
      s = cantus_tokens_from_notes(mf->notes, mf->n_notes, ftpq, v, &to, tok, len, &ts, err);
      if (s != CANTUS_OK) {
        free(tok);
        return s == CANTUS_ERR_NO_MEMORY ? cantus_error(err, s, "out of memory") : s;
      }
    }
  }

  // Time-signature map on the grid; an implicit 4/4 before the first one.
  enum { MAX_TS = 256 };
  uint32_t ts_tick[MAX_TS], ts_bar[MAX_TS];
  uint8_t ts_slot[MAX_TS];
  int n_ts = 0;
  uint8_t first_num = 4, first_den = 4;
  for (size_t i = 0; i < mf->n_timesigs && n_ts < MAX_TS; i++) {
    const CantusMidiTimeSig *tsig = &mf->timesigs[i];
    double dummy;
    uint32_t t = (uint32_t)cantus_tokens_snap(tsig->tick, ftpq, g, &dummy);
    uint32_t den = tsig->den ? tsig->den : 4;
    uint32_t bar = (uint32_t)(((uint64_t)tsig->num * 4 * g + den / 2) / den);
    bar = bar ? bar : 1;
    if (i == 0) {
      first_num = tsig->num ? tsig->num : 4;
      first_den = (uint8_t)den;
    }
    const uint8_t slot = (uint8_t)meter_slot(tsig->num ? tsig->num : 4, (int)den);
    if (n_ts == 0 && t > 0) {
      ts_tick[n_ts] = 0;
      ts_slot[n_ts] = 0;
      ts_bar[n_ts++] = 4 * g;
    }
    if (n_ts > 0 && ts_tick[n_ts - 1] == t) {
      ts_bar[n_ts - 1] = bar; // the last of several at one tick wins
      ts_slot[n_ts - 1] = slot;
    } else if (n_ts > 0 && t < ts_tick[n_ts - 1]) {
      continue; // out of order after snapping: the earlier one stands
    } else {
      ts_tick[n_ts] = t;
      ts_slot[n_ts] = slot;
      ts_bar[n_ts++] = bar;
    }
  }
  if (n_ts == 0) {
    ts_tick[0] = 0;
    ts_bar[0] = 4 * g;
    ts_slot[0] = 0;
    n_ts = 1;
  }
  // Bars under each metre, up to the last note-off.
  memset(pc->meter_bars, 0, sizeof pc->meter_bars);
  for (int i = 0; i < n_ts; i++) {
    const uint64_t from = ts_tick[i];
    const uint64_t until = i + 1 < n_ts ? ts_tick[i + 1] : ts.last_tick;
    if (until > from) {
      pc->meter_bars[ts_slot[i]] += (float)((until - from + ts_bar[i] - 1) / ts_bar[i]);
    }
  }

  const size_t n_tok = ts.n_tokens;
  pc->tok = tok;
  pc->pos_tick = malloc(n_tok);
  pc->pos_beat = malloc(n_tok);
  if (!pc->pos_tick || !pc->pos_beat) {
    cantus_corpus_piece_free(pc);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  // Position of a token = the stream tick at which it is fed as input (for a
  // SHIFT, the tick before it is applied).
  uint32_t cur = 0;
  for (size_t k = 0; k < n_tok; k++) {
    uint32_t tib = cantus_corpus_tick_in_bar(ts_tick, ts_bar, n_ts, cur);
    uint32_t beat = tib / g;
    pc->pos_tick[k] = (uint8_t)(tib % g);
    pc->pos_beat[k] = (uint8_t)(beat < (uint32_t)npb ? beat : (uint32_t)npb - 1);
    int val = 0;
    if (cantus_vocab_decode(v, tok[k], &val) == CANTUS_EV_SHIFT) {
      cur += (uint32_t)val;
    }
  }
  if (cantus_vocab_is_v2(v)) {
    // The form inputs, with the piece's bar map and its known end.
    const CantusBarMap map = { ts_tick, ts_bar, n_ts };
    int64_t first_full = 0, last_bar = 0;
    cantus_lookback_piece_bars(tok, n_tok, v, &map, &first_full, &last_bar);
    pc->form = malloc(n_tok * sizeof *pc->form);
    if (!pc->form) {
      cantus_corpus_piece_free(pc);
      return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
    }
    CantusStatus fs =
      cantus_lookback_batch(tok, n_tok, v, &map, first_full, last_bar, pc->form, err);
    if (fs == CANTUS_OK) {
      fs = piece_chords(mf, v, pc->form, tok, n_tok, &pc->chord_kind, &pc->n_chorded, err);
    }
    if (fs != CANTUS_OK) {
      cantus_corpus_piece_free(pc);
      return fs;
    }
  }
  pc->n_tok = (uint32_t)n_tok;
  pc->pitch_min = ts.pitch_min;
  pc->pitch_max = ts.pitch_max;
  pc->n_notes = ts.n_notes;
  pc->ts_num = first_num;
  pc->ts_den = first_den;

  c->n_onsets += ts.n_notes;
  c->n_onsets_moved += ts.n_onsets_moved;
  c->n_offsets_moved += ts.n_offsets_moved;
  c->onset_moved_sum += ts.onset_moved_sum;
  c->offset_moved_sum += ts.offset_moved_sum;
  c->onset_moved_max =
    ts.onset_moved_max > c->onset_moved_max ? ts.onset_moved_max : c->onset_moved_max;
  c->offset_moved_max =
    ts.offset_moved_max > c->offset_moved_max ? ts.offset_moved_max : c->offset_moved_max;
  c->n_out_of_range += ts.n_out_of_range;
  c->n_lengthened += ts.n_lengthened;
  c->n_merged += ts.n_merged;
  c->n_drum_notes += ts.n_drum;
  c->n_track_filtered += ts.n_filtered;
  c->n_no_part += ts.n_no_part;
  return CANTUS_OK;
}

// ---- folders ------------------------------------------------------------------------

typedef struct {
  char *key; // "style/file.mid"
  int split;
} SplitEntry;

static int cmp_split(const void *a, const void *b)
{
  return strcmp(((const SplitEntry *)a)->key, ((const SplitEntry *)b)->key);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

// Sorted names in dir: sub-folders (want_dirs) or MIDI files.
static char **list_dir(const char *dir, bool want_dirs, int *count)
{
  *count = 0;
  DIR *d = opendir(dir);
  if (!d) {
    return NULL;
  }
  char **names = NULL;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') {
      continue;
    }
    size_t len = strlen(e->d_name);
    char *path = malloc(strlen(dir) + len + 2);
    if (!path) {
      break;
    }
    sprintf(path, "%s/%s", dir, e->d_name);
    struct stat st;
    bool is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    bool is_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    bool midi = len > 4 && (strcasecmp(e->d_name + len - 4, ".mid") == 0 ||
                            (len > 5 && strcasecmp(e->d_name + len - 5, ".midi") == 0) ||
                            strcasecmp(e->d_name + len - 4, ".smf") == 0);
    if (want_dirs ? !is_dir : !(is_file && midi)) {
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **nn = realloc(names, (size_t)cap * sizeof *nn);
      if (!nn) {
        break;
      }
      names = nn;
    }
    names[n] = strdup(e->d_name);
    if (names[n]) {
      n++;
    }
  }
  closedir(d);
  if (names) {
    qsort(names, (size_t)n, sizeof *names, cmp_str);
  }
  *count = n;
  return names;
}

static void free_list(char **l, int n)
{
  for (int i = 0; i < n; i++) {
    free(l[i]);
  }
  free(l);
}

static SplitEntry *read_split(const char *dir, int *count, FILE *log)
{
  *count = 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/split.tsv", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    return NULL;
  }
  SplitEntry *e = NULL;
  int n = 0, cap = 0, bad = 0;
  char line[2048];
  while (fgets(line, sizeof line, f)) {
    char *file = strtok(line, "\t\r\n");
    char *style = file ? strtok(NULL, "\t\r\n") : NULL;
    char *split = style ? strtok(NULL, "\t\r\n") : NULL;
    if (!split || strcmp(file, "file") == 0) {
      bad += split ? 0 : 1;
      continue;
    }
    int s = strcmp(split, "train") == 0   ? CANTUS_SPLIT_TRAIN
            : strcmp(split, "valid") == 0 ? CANTUS_SPLIT_VALID
            : strcmp(split, "test") == 0  ? CANTUS_SPLIT_TEST
                                          : -1;
    if (s < 0) {
      bad++;
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      SplitEntry *ne = realloc(e, (size_t)cap * sizeof *ne);
      if (!ne) {
        break;
      }
      e = ne;
    }
    e[n].key = strdup(file);
    e[n].split = s;
    if (e[n].key) {
      n++;
    }
  }
  fclose(f);
  if (bad && log) {
    fprintf(log, "corpus: %s: %d malformed line(s) ignored\n", path, bad);
  }
  if (e) {
    qsort(e, (size_t)n, sizeof *e, cmp_split);
  }
  *count = n;
  return e;
}

static uint32_t fnv1a(const char *s)
{
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h = (h ^ (uint8_t)*s) * 16777619u;
  }
  return h;
}

static int add_style(CantusCorpus *c, const char *name)
{
  int i = cantus_corpus_find_style(c, name);
  if (i >= 0 || c->n_styles >= CANTUS_MAX_STYLES) {
    return i;
  }
  i = c->n_styles++;
  memset(&c->styles[i], 0, sizeof c->styles[i]);
  snprintf(c->styles[i].name, sizeof c->styles[i].name, "%s", name);
  return i;
}

static bool push_piece(CantusCorpus *c, const CantusPiece *p, int *cap)
{
  if (c->n_pieces == *cap) {
    int nc = *cap ? 2 * *cap : 256;
    CantusPiece *np = realloc(c->pieces, (size_t)nc * sizeof *np);
    if (!np) {
      return false;
    }
    c->pieces = np;
    *cap = nc;
  }
  c->pieces[c->n_pieces++] = *p;
  return true;
}

// Reads one style folder's files into c.
static CantusStatus load_style_dir(CantusCorpus *c,
                                   const char *root,
                                   const char *style_dir,
                                   const char *style_name,
                                   const SplitEntry *splits,
                                   int n_splits,
                                   const CantusCorpusOptions *opt,
                                   FILE *log,
                                   int *cap,
                                   CantusError *err)
{
  char dir[4096];
  if (style_dir) {
    snprintf(dir, sizeof dir, "%s/%s", root, style_dir);
  } else {
    snprintf(dir, sizeof dir, "%s", root);
  }
  int nf = 0;
  char **files = list_dir(dir, false, &nf);
  int si = add_style(c, style_name);
  if (si < 0) {
    free_list(files, nf);
    return cantus_error(
      err, CANTUS_ERR_TOO_LARGE, "%s: more than %d styles", root, CANTUS_MAX_STYLES);
  }
  CantusStyleStats *st = &c->styles[si];
  for (int i = 0; i < nf; i++) {
    char path[8192], key[4096];
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    if (style_dir) {
      snprintf(key, sizeof key, "%s/%s", style_dir, files[i]);
    } else {
      snprintf(key, sizeof key, "%s", files[i]);
    }
    c->n_files++;
    CantusMidiFile *mf = NULL;
    CantusError e2;
    e2.msg[0] = 0;
    if (cantus_midi_read(path, &mf, &e2) != CANTUS_OK) {
      c->n_unreadable++;
      st->n_unreadable++;
      if (log && !opt->quiet) {
        fprintf(log, "corpus: skipped unreadable file: %s\n", e2.msg[0] ? e2.msg : path);
      }
      continue;
    }
    CantusPiece pc;
    memset(&pc, 0, sizeof pc);
    CantusStatus s = cantus_corpus_tokenize(c, mf, opt, &pc, &e2);
    cantus_midi_free(mf);
    if (s == CANTUS_ERR_NO_MEMORY) {
      free_list(files, nf);
      return cantus_error(err, s, "%s: out of memory", path);
    }
    if (s != CANTUS_OK) {
      c->n_skipped++;
      if (s == CANTUS_ERR_TOO_LARGE) {
        st->n_too_long++;
      } else {
        st->n_empty++;
      }
      if (log && !opt->quiet) {
        fprintf(log, "corpus: skipped %s: %s\n", path, e2.msg);
      }
      continue;
    }
    pc.path = strdup(path);
    pc.style = si;
    SplitEntry probe = { key, 0 };
    const SplitEntry *hit =
      splits ? bsearch(&probe, splits, (size_t)n_splits, sizeof *splits, cmp_split) : NULL;
    pc.split_given = hit != NULL;
    if (hit) {
      pc.split = hit->split;
    } else {
      uint32_t h = fnv1a(key) % 10u;
      pc.split = h == 0 ? CANTUS_SPLIT_TEST : h == 1 ? CANTUS_SPLIT_VALID : CANTUS_SPLIT_TRAIN;
    }
    if (!pc.path || !push_piece(c, &pc, cap)) {
      cantus_corpus_piece_free(&pc);
      free_list(files, nf);
      return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    if (pc.chord_kind >= 0 && pc.chord_kind < 2) {
      c->n_chord_pieces[pc.chord_kind]++;
    }
    int num = pc.ts_num, den = pc.ts_den;
    // Votes for the style's usual metre: 4/4 3/4 2/4 6/8 9/8 12/8 2/2 other.
    int slot = meter_slot(num, den);
    st->ts_count[slot]++;
  }
  free_list(files, nf);
  return CANTUS_OK;
}

// Never validate on one piece: when the file-name split left fewer than
// CANTUS_MIN_VALID_PIECES validation pieces, moves training pieces of the
// hash split (the smallest hash of the file name first, so the choice does
// not depend on where the corpus lies) to validation, as long as
// CANTUS_MIN_TRAIN_PIECES training pieces remain and every style keeps one.
static void ensure_validation(CantusCorpus *c, FILE *log)
{
  int n_valid = 0, n_train = 0;
  int n_train_style[CANTUS_MAX_STYLES] = { 0 };
  for (int i = 0; i < c->n_pieces; i++) {
    n_valid += c->pieces[i].split == CANTUS_SPLIT_VALID;
    if (c->pieces[i].split == CANTUS_SPLIT_TRAIN) {
      n_train++;
      n_train_style[c->pieces[i].style]++;
    }
  }
  const int need = CANTUS_MIN_VALID_PIECES - n_valid;
  if (need <= 0 || n_train - need < CANTUS_MIN_TRAIN_PIECES) {
    return;
  }
  for (int k = 0; k < need; k++) {
    int best = -1;
    uint32_t best_h = 0;
    for (int i = 0; i < c->n_pieces; i++) {
      const CantusPiece *p = &c->pieces[i];
      if (p->split != CANTUS_SPLIT_TRAIN || p->split_given || n_train_style[p->style] < 2) {
        continue;
      }
      const char *base = strrchr(p->path, '/');
      const uint32_t h = fnv1a(base ? base + 1 : p->path) ^ 0x5a17u;
      if (best < 0 || h < best_h) {
        best = i;
        best_h = h;
      }
    }
    if (best < 0) {
      return;
    }
    c->pieces[best].split = CANTUS_SPLIT_VALID;
    n_train_style[c->pieces[best].style]--;
    if (log) {
      fprintf(log,
              "split: %s moved from training to validation (validation needs %d pieces; one "
              "alone is too few to judge a model)\n",
              c->pieces[best].path,
              CANTUS_MIN_VALID_PIECES);
    }
  }
}

// ---- the part list (version 2) ---------------------------------------------------

// Adds a label to the list unless present (case-insensitive); false when
// the list is full.
static bool add_part(char (*names)[CANTUS_STYLE_NAME_LEN], int *n, int cap, const char *label)
{
  for (int k = 0; k < *n && k < cap; k++) {
    if (!strcasecmp(names[k], label)) {
      return true;
    }
  }
  if (*n < cap) {
    snprintf(names[*n], CANTUS_STYLE_NAME_LEN, "%s", label);
  }
  (*n)++;
  return *n <= cap;
}

// The track labels with kept notes in one folder's files, in file order
// then track order, added to names (up to cap; *n counts every one).
static void collect_dir_parts(const char *dir,
                              const CantusCorpusOptions *opt,
                              char (*names)[CANTUS_STYLE_NAME_LEN],
                              int *n,
                              int cap)
{
  int nf = 0;
  char **files = list_dir(dir, false, &nf);
  for (int i = 0; i < nf; i++) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    CantusMidiFile *mf = NULL;
    if (cantus_midi_read(path, &mf, NULL) != CANTUS_OK) {
      continue;
    }
    bool *used = calloc(mf->n_tracks ? mf->n_tracks : 1, sizeof *used);
    if (used) {
      for (size_t j = 0; j < mf->n_notes; j++) {
        const CantusMidiNote *mn = &mf->notes[j];
        if ((mn->channel == 9 && !opt->keep_drums) || mn->track >= mf->n_tracks) {
          continue;
        }
        if (track_selected(
              opt->tracks, mf->track_names ? mf->track_names[mn->track] : "", mn->channel)) {
          used[mn->track] = true;
        }
      }
      for (int t = 0; t < mf->n_tracks; t++) {
        if (used[t]) {
          char label[64];
          track_label(mf, t, label, sizeof label);
          add_part(names, n, cap, label);
        }
      }
      free(used);
    }
    cantus_midi_free(mf);
  }
  free_list(files, nf);
}

// The part list: opt->parts, or every track label with notes in the
// folders the corpus reads.  Sets c->part_names and c->vocab.n_parts.
static CantusStatus find_parts(CantusCorpus *c,
                               const char *const *dirs,
                               int n_dirs,
                               const CantusCorpusOptions *opt,
                               CantusError *err)
{
  enum { CAP = 64 };
  char names[CAP][CANTUS_STYLE_NAME_LEN];
  int n = 0;
  if (opt->parts && *opt->parts) {
    const char *q = opt->parts;
    while (*q) {
      const char *e = strchr(q, ',');
      const size_t len = e ? (size_t)(e - q) : strlen(q);
      char label[CANTUS_STYLE_NAME_LEN];
      snprintf(label, sizeof label, "%.*s", (int)(len < sizeof label ? len : sizeof label - 1), q);
      if (len > 0) {
        add_part(names, &n, CAP, label);
      }
      q += len + (e ? 1 : 0);
    }
  } else {
    for (int di = 0; di < n_dirs; di++) {
      int nd = 0;
      char **subs = list_dir(dirs[di], true, &nd);
      if (nd == 0) {
        const char *base = strrchr(dirs[di], '/');
        char name[CANTUS_STYLE_NAME_LEN];
        snprintf(name, sizeof name, "%.31s", base && base[1] ? base + 1 : dirs[di]);
        if (!opt->styles || list_has(opt->styles, name)) {
          collect_dir_parts(dirs[di], opt, names, &n, CAP);
        }
      }
      for (int i = 0; i < nd; i++) {
        if (opt->styles && !list_has(opt->styles, subs[i])) {
          continue;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", dirs[di], subs[i]);
        collect_dir_parts(dir, opt, names, &n, CAP);
      }
      free_list(subs, nd);
    }
  }
  if (n == 0) {
    snprintf(names[0], CANTUS_STYLE_NAME_LEN, "all");
    n = 1; // no notes anywhere: the load fails later with its own message
  }
  if (n > CANTUS_MAX_PARTS) {
    char list[512] = "";
    for (int k = 0; k < n && k < CAP; k++) {
      if (strlen(list) + CANTUS_STYLE_NAME_LEN + 3 < sizeof list) {
        strcat(list, k ? ", " : "");
        strcat(list, names[k]);
      }
    }
    return cantus_error(err,
                        CANTUS_ERR_ARGUMENT,
                        "corpus: %d parts (track names: %s) but a model has at most %d; choose "
                        "them with --parts",
                        n,
                        list,
                        CANTUS_MAX_PARTS);
  }
  for (int k = 0; k < n; k++) {
    memcpy(c->part_names[k], names[k], CANTUS_STYLE_NAME_LEN);
  }
  c->vocab.n_parts = (uint16_t)n;
  return CANTUS_OK;
}

CantusStatus cantus_corpus_load(CantusCorpus *c,
                                const char *const *dirs,
                                int n_dirs,
                                const CantusCorpusOptions *opt,
                                FILE *log,
                                CantusError *err)
{
  memset(c, 0, sizeof *c);
  c->vocab = opt->vocab;
  c->n_pos_beat = opt->n_pos_beat;
  if (!cantus_vocab_valid(&opt->vocab) || opt->n_pos_beat < 1 || opt->n_pos_beat > 64) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "corpus: invalid grid or pitch range");
  }
  CantusCorpusOptions o2 = *opt; // the vocabulary with the corpus's part count
  if (cantus_vocab_is_v2(&opt->vocab)) {
    CantusStatus ps = find_parts(c, dirs, n_dirs, opt, err);
    if (ps != CANTUS_OK) {
      return ps;
    }
    if (!cantus_vocab_valid(&c->vocab)) {
      return cantus_error(err,
                          CANTUS_ERR_ARGUMENT,
                          "corpus: %d parts make the vocabulary too large",
                          c->vocab.n_parts);
    }
    o2.vocab = c->vocab;
  }
  opt = &o2;
  int cap = 0;
  for (int di = 0; di < n_dirs; di++) {
    const char *root = dirs[di];
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
      cantus_corpus_free(c);
      return cantus_error(err,
                          CANTUS_ERR_IO,
                          "%s: not a readable directory (%s)",
                          root,
                          stat(root, &st) != 0 ? strerror(errno) : "not a directory");
    }
    int n_splits = 0;
    SplitEntry *splits = read_split(root, &n_splits, log);
    c->had_split_file |= splits != NULL;
    int nd = 0, n_top = 0;
    char **subs = list_dir(root, true, &nd);
    char **top = list_dir(root, false, &n_top);
    free_list(top, n_top);
    CantusStatus s = CANTUS_OK;
    if (nd == 0 || n_top > 0) {
      // MIDI files in the folder itself (a flat folder, or files beside
      // style sub-folders) are one style named after the folder.
      const char *base = strrchr(root, '/');
      char name[CANTUS_STYLE_NAME_LEN];
      snprintf(name, sizeof name, "%s", base && base[1] ? base + 1 : root);
      size_t l = strlen(name);
      while (l > 0 && name[l - 1] == '/') {
        name[--l] = 0;
      }
      if (!opt->styles || list_has(opt->styles, name)) {
        s = load_style_dir(c, root, NULL, name, splits, n_splits, opt, log, &cap, err);
      }
    }
    for (int i = 0; i < nd && s == CANTUS_OK; i++) {
      if (opt->styles && !list_has(opt->styles, subs[i])) {
        continue;
      }
      s = load_style_dir(c, root, subs[i], subs[i], splits, n_splits, opt, log, &cap, err);
    }
    free_list(subs, nd);
    for (int i = 0; i < n_splits; i++) {
      free(splits[i].key);
    }
    free(splits);
    if (s != CANTUS_OK) {
      cantus_corpus_free(c);
      return s;
    }
  }
  // Drop styles without a usable piece; renumber the rest in order.
  int remap[CANTUS_MAX_STYLES] = { 0 }, n_kept = 0;
  int count[CANTUS_MAX_STYLES] = { 0 };
  for (int i = 0; i < c->n_pieces; i++) {
    count[c->pieces[i].style]++;
  }
  for (int i = 0; i < c->n_styles; i++) {
    if (count[i] == 0) {
      remap[i] = -1;
      if (log) {
        fprintf(log,
                "corpus: style '%s' has no usable pieces (%d unreadable, %d empty); left out\n",
                c->styles[i].name,
                c->styles[i].n_unreadable,
                c->styles[i].n_empty);
      }
      continue;
    }
    remap[i] = n_kept;
    c->styles[n_kept++] = c->styles[i];
  }
  c->n_styles = n_kept;
  for (int i = 0; i < c->n_pieces; i++) {
    c->pieces[i].style = remap[c->pieces[i].style];
  }
  if (c->n_pieces == 0) {
    const int n_files = c->n_files;
    cantus_corpus_free(c);
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s%s: no usable MIDI files (%s)",
                        dirs[0],
                        n_dirs > 1 ? " ..." : "",
                        opt->styles ? "check --styles and the folder names"
                        : n_files
                          ? "every MIDI file found was unreadable or had no notes; see above"
                          : "expected .mid files in the folder itself (one style named "
                            "after the folder) or in one sub-folder per style, "
                            "FOLDER/STYLE/*.mid");
  }
  // Every style keeps at least one training piece.
  for (int s = 0; s < c->n_styles; s++) {
    int first_other = -1, n_train = 0;
    for (int i = 0; i < c->n_pieces; i++) {
      if (c->pieces[i].style == s) {
        n_train += c->pieces[i].split == CANTUS_SPLIT_TRAIN;
        if (first_other < 0 && c->pieces[i].split != CANTUS_SPLIT_TRAIN) {
          first_other = i;
        }
      }
    }
    if (n_train == 0 && first_other >= 0) {
      c->pieces[first_other].split = CANTUS_SPLIT_TRAIN;
      if (log) {
        fprintf(log,
                "corpus: style '%s' had no training piece; %s moved to the training split\n",
                c->styles[s].name,
                c->pieces[first_other].path);
      }
    }
  }
  ensure_validation(c, log);
  for (int i = 0; i < c->n_pieces; i++) {
    CantusStyleStats *st = &c->styles[c->pieces[i].style];
    st->n_pieces[c->pieces[i].split]++;
    st->n_tokens[c->pieces[i].split] += c->pieces[i].n_tok;
    if (c->pieces[i].split == CANTUS_SPLIT_TRAIN) {
      for (int j = 0; j < 8; j++) {
        st->meter_bars[j] += (double)c->pieces[i].meter_bars[j];
      }
    }
  }
  static const uint8_t ts_num[8] = { 4, 3, 2, 6, 9, 12, 2, 4 },
                       ts_den[8] = { 4, 4, 4, 8, 8, 8, 2, 4 };
  for (int s = 0; s < c->n_styles; s++) {
    int best = 0;
    for (int j = 1; j < 8; j++) {
      best = c->styles[s].ts_count[j] > c->styles[s].ts_count[best] ? j : best;
    }
    c->styles[s].ts_num = ts_num[best];
    c->styles[s].ts_den = ts_den[best];
    // The usual metre: most bars of the training pieces ("other" metres
    // count only when nothing else has bars; then the first-signature vote).
    int mb = -1;
    for (int j = 0; j < 7; j++) {
      if (c->styles[s].meter_bars[j] > 0 &&
          (mb < 0 || c->styles[s].meter_bars[j] > c->styles[s].meter_bars[mb])) {
        mb = j;
      }
    }
    c->styles[s].meter_num = mb >= 0 ? ts_num[mb] : ts_num[best];
    c->styles[s].meter_den = mb >= 0 ? ts_den[mb] : ts_den[best];
  }
  return CANTUS_OK;
}

void cantus_corpus_print(const CantusCorpus *c, FILE *f)
{
  fprintf(f,
          "%-14s %7s %17s %24s %5s  %s\n",
          "style",
          "pieces",
          "train/valid/test",
          "tokens train/valid/test",
          "metre",
          "skipped");
  int tp[3] = { 0 }, sk = 0;
  uint64_t tt[3] = { 0 };
  for (int s = 0; s < c->n_styles; s++) {
    const CantusStyleStats *st = &c->styles[s];
    char skipped[128] = "";
    int n_sk = st->n_unreadable + st->n_empty + st->n_too_long;
    if (n_sk) {
      snprintf(skipped,
               sizeof skipped,
               "%d (%d unreadable, %d empty, %d too long)",
               n_sk,
               st->n_unreadable,
               st->n_empty,
               st->n_too_long);
    }
    char splits[64], toks[64];
    snprintf(splits, sizeof splits, "%d/%d/%d", st->n_pieces[0], st->n_pieces[1], st->n_pieces[2]);
    snprintf(toks,
             sizeof toks,
             "%llu/%llu/%llu",
             (unsigned long long)st->n_tokens[0],
             (unsigned long long)st->n_tokens[1],
             (unsigned long long)st->n_tokens[2]);
    fprintf(f,
            "%-14s %7d %17s %24s %2u/%-2u  %s\n",
            st->name,
            st->n_pieces[0] + st->n_pieces[1] + st->n_pieces[2],
            splits,
            toks,
            st->ts_num,
            st->ts_den,
            skipped);
    for (int i = 0; i < 3; i++) {
      tp[i] += st->n_pieces[i];
      tt[i] += st->n_tokens[i];
    }
    sk += n_sk;
  }
  char splits[64], toks[64];
  snprintf(splits, sizeof splits, "%d/%d/%d", tp[0], tp[1], tp[2]);
  snprintf(toks,
           sizeof toks,
           "%llu/%llu/%llu",
           (unsigned long long)tt[0],
           (unsigned long long)tt[1],
           (unsigned long long)tt[2]);
  fprintf(f,
          "%-14s %7d %17s %24s %5s  %d file(s) skipped of %d\n",
          "all",
          tp[0] + tp[1] + tp[2],
          splits,
          toks,
          "",
          c->n_unreadable + c->n_skipped,
          c->n_files);
  (void)sk;
  double on_pct = c->n_onsets ? 100.0 * (double)c->n_onsets_moved / (double)c->n_onsets : 0.0;
  fprintf(f,
          "grid %u ticks/quarter: %llu of %llu onsets moved (%.2f%%, mean %.2f, max %.2f grid "
          "ticks); %llu offsets moved (mean %.2f, max %.2f)\n",
          c->vocab.tpq,
          (unsigned long long)c->n_onsets_moved,
          (unsigned long long)c->n_onsets,
          on_pct,
          c->n_onsets_moved ? c->onset_moved_sum / (double)c->n_onsets_moved : 0.0,
          c->onset_moved_max,
          (unsigned long long)c->n_offsets_moved,
          c->n_offsets_moved ? c->offset_moved_sum / (double)c->n_offsets_moved : 0.0,
          c->offset_moved_max);
  fprintf(f,
          "notes: %llu outside pitch %u..%u dropped, %llu lengthened to one tick, %llu same-pitch "
          "overlaps merged or cut, %llu drum notes skipped, %llu skipped by the track filter\n",
          (unsigned long long)c->n_out_of_range,
          c->vocab.pitch_lo,
          c->vocab.pitch_hi,
          (unsigned long long)c->n_lengthened,
          (unsigned long long)c->n_merged,
          (unsigned long long)c->n_drum_notes,
          (unsigned long long)c->n_track_filtered);
  if (cantus_vocab_is_v2(&c->vocab)) {
    fprintf(f, "parts:");
    for (int k = 0; k < c->vocab.n_parts; k++) {
      fprintf(f, " %d=%s", k, c->part_names[k]);
    }
    fprintf(f,
            "; %llu notes of other tracks left out; duration bins %u\n",
            (unsigned long long)c->n_no_part,
            c->vocab.n_dur);
    fprintf(f,
            "chords: %d pieces from an accompaniment (half-bar windows), %d from lower voices "
            "(beats), %d without a chord part\n",
            c->n_chord_pieces[0],
            c->n_chord_pieces[1],
            c->n_pieces - c->n_chord_pieces[0] - c->n_chord_pieces[1]);
  }
  if (!c->had_split_file) {
    fprintf(f, "split: no split.tsv; hash of the file name, 80/10/10\n");
  }
}
