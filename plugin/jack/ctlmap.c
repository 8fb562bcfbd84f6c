// SPDX-License-Identifier: GPL-3.0-or-later
// The control table and the MIDI CC map of cantus-jack (see ctlmap.h).  The
// table is the one place that knows the CantusControls fields by name; the
// CC map text format is documented in plugin/jack/ccmap, which holds the same
// text as the built-in default (a unit test keeps the two equal).
// Thread class: get/set/cc are [RT]; parsing and formatting are non-RT.
#include "ctlmap.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// One row per control; a table reads best one row per line.
// clang-format off
static const CantusCtlInfo table[CANTUS_CTLID_COUNT] = {
  //                              name              kind              lo    hi                     step  help
  [CANTUS_CTLID_STYLE]          = {"style",          CANTUS_CTL_STYLE, 0,    CANTUS_MAX_STYLES - 1, 1,    "style (name or index)"},
  [CANTUS_CTLID_STYLE_B]        = {"style_b",        CANTUS_CTL_STYLE, 0,    CANTUS_MAX_STYLES - 1, 1,    "second style of the blend"},
  [CANTUS_CTLID_BLEND]          = {"blend",          CANTUS_CTL_FLOAT, 0,    1,                     0.05, "0 = style .. 1 = style_b"},
  [CANTUS_CTLID_TEMPERATURE]    = {"temperature",    CANTUS_CTL_FLOAT, 0,    2,                     0.05, "0 = argmax .. 2 = wild (default 1)"},
  [CANTUS_CTLID_TOP_P]          = {"top_p",          CANTUS_CTL_FLOAT, 0.05, 1,                     0.05, "nucleus sampling mass (default 0.95)"},
  [CANTUS_CTLID_DENSITY]        = {"density",        CANTUS_CTL_FLOAT, -1,   1,                     0.1,  "fewer (-1) .. more (+1) notes"},
  [CANTUS_CTLID_TRANSPOSE]      = {"transpose",      CANTUS_CTL_INT,   -24,  24,                    1,    "semitones"},
  [CANTUS_CTLID_KEY_ROOT]       = {"key_root",       CANTUS_CTL_KEY,   0,    11,                    1,    "key (C, C#, Db .. B or 0..11)"},
  [CANTUS_CTLID_SCALE]          = {"scale",          CANTUS_CTL_SCALE, 0,    CANTUS_N_SCALES - 1,   1,    "allowed pitch classes"},
  [CANTUS_CTLID_NOTE_LO]        = {"note_lo",        CANTUS_CTL_INT,   0,    127,                   1,    "lowest output pitch"},
  [CANTUS_CTLID_NOTE_HI]        = {"note_hi",        CANTUS_CTL_INT,   0,    127,                   1,    "highest output pitch"},
  [CANTUS_CTLID_MAX_VOICES]     = {"max_voices",     CANTUS_CTL_INT,   1,    CANTUS_MAX_VOICES,     1,    "polyphony"},
  [CANTUS_CTLID_VELOCITY]       = {"velocity",       CANTUS_CTL_INT,   0,    127,                   1,    "fixed velocity, 0 = the model's"},
  [CANTUS_CTLID_HUMANISE]       = {"humanise",       CANTUS_CTL_FLOAT, 0,    1,                     0.05, "random velocity spread"},
  [CANTUS_CTLID_GATE]           = {"gate",           CANTUS_CTL_FLOAT, 0.1,  2,                     0.05, "note length scale"},
  [CANTUS_CTLID_SWING]          = {"swing",          CANTUS_CTL_FLOAT, 0,    0.75,                  0.05, "delay of off-beat 8ths"},
  [CANTUS_CTLID_CHANNEL]        = {"channel",        CANTUS_CTL_INT,   0,    15,                    1,    "output MIDI channel, 0..15"},
  [CANTUS_CTLID_SEED]           = {"seed",           CANTUS_CTL_INT,   0,    4294967295.0,          1,    "random seed of the timeline"},
  [CANTUS_CTLID_HOLD]           = {"hold",           CANTUS_CTL_BOOL,  0,    1,                     1,    "loop the last hold_bars bars"},
  [CANTUS_CTLID_HOLD_BARS]      = {"hold_bars",      CANTUS_CTL_INT,   1,    8,                     1,    "bars held: 1, 2, 4 or 8"},
  [CANTUS_CTLID_REGENERATE]     = {"regenerate",     CANTUS_CTL_PULSE, 0,    1,                     1,    "forget the notes ahead"},
  [CANTUS_CTLID_LISTEN]         = {"listen",         CANTUS_CTL_BOOL,  0,    1,                     1,    "feed MIDI input notes to the network"},
  [CANTUS_CTLID_CALL_RESPONSE]  = {"call_response",  CANTUS_CTL_BOOL,  0,    1,                     1,    "answer after the player"},
  [CANTUS_CTLID_RESPONSE_BARS]  = {"response_bars",  CANTUS_CTL_INT,   1,    16,                    1,    "bars answered"},
  [CANTUS_CTLID_WAIT_BEATS]     = {"wait_beats",     CANTUS_CTL_INT,   1,    16,                    1,    "beats of silence before answering"},
  [CANTUS_CTLID_BPM]            = {"bpm",            CANTUS_CTL_FLOAT, 20,   300,                   1,    "own tempo (no timebase master / --free)"},
  [CANTUS_CTLID_PANIC]          = {"panic",          CANTUS_CTL_PULSE, 0,    1,                     1,    "all notes off now"},
  [CANTUS_CTLID_MAX_NOTE_BEATS] = {"max_note_beats", CANTUS_CTL_INT,   1,    32,                    1,    "longest note in beats"},
};
// clang-format on

static const char *const key_names[12] = { "C",  "C#", "D",  "D#", "E",  "F",
                                           "F#", "G",  "G#", "A",  "A#", "B" };

int cantus_ctlmap_count(void)
{
  return CANTUS_CTLID_COUNT;
}

const CantusCtlInfo *cantus_ctlmap_info(int i)
{
  return i >= 0 && i < CANTUS_CTLID_COUNT ? &table[i] : NULL;
}

static bool same_name(const char *a, const char *b)
{
  for (; *a && *b; a++, b++) {
    char x = *a == '-' ? '_' : (char)tolower((unsigned char)*a);
    char y = *b == '-' ? '_' : (char)tolower((unsigned char)*b);
    if (x != y) {
      return false;
    }
  }
  return *a == *b;
}

int cantus_ctlmap_find(const char *name)
{
  for (int i = 0; i < CANTUS_CTLID_COUNT; i++) {
    if (same_name(name, table[i].name)) {
      return i;
    }
  }
  if (same_name(name, "humanize")) {
    return CANTUS_CTLID_HUMANISE;
  }
  return -1;
}

CANTUS_RT double cantus_ctlmap_get(const CantusControls *c, int i)
{
  switch (i) {
  case CANTUS_CTLID_STYLE:
    return c->style;
  case CANTUS_CTLID_STYLE_B:
    return c->style_b;
  case CANTUS_CTLID_BLEND:
    return (double)c->blend;
  case CANTUS_CTLID_TEMPERATURE:
    return (double)c->temperature;
  case CANTUS_CTLID_TOP_P:
    return (double)c->top_p;
  case CANTUS_CTLID_DENSITY:
    return (double)c->density;
  case CANTUS_CTLID_TRANSPOSE:
    return c->transpose;
  case CANTUS_CTLID_KEY_ROOT:
    return c->key_root;
  case CANTUS_CTLID_SCALE:
    return (double)c->scale;
  case CANTUS_CTLID_NOTE_LO:
    return c->note_lo;
  case CANTUS_CTLID_NOTE_HI:
    return c->note_hi;
  case CANTUS_CTLID_MAX_VOICES:
    return c->max_voices;
  case CANTUS_CTLID_VELOCITY:
    return c->velocity;
  case CANTUS_CTLID_HUMANISE:
    return (double)c->humanise;
  case CANTUS_CTLID_GATE:
    return (double)c->gate;
  case CANTUS_CTLID_SWING:
    return (double)c->swing;
  case CANTUS_CTLID_CHANNEL:
    return c->channel;
  case CANTUS_CTLID_SEED:
    return c->seed;
  case CANTUS_CTLID_HOLD:
    return c->hold;
  case CANTUS_CTLID_HOLD_BARS:
    return c->hold_bars;
  case CANTUS_CTLID_REGENERATE:
    return c->regenerate;
  case CANTUS_CTLID_LISTEN:
    return c->listen;
  case CANTUS_CTLID_CALL_RESPONSE:
    return c->call_response;
  case CANTUS_CTLID_RESPONSE_BARS:
    return c->response_bars;
  case CANTUS_CTLID_WAIT_BEATS:
    return c->wait_beats;
  case CANTUS_CTLID_BPM:
    return (double)c->bpm;
  case CANTUS_CTLID_PANIC:
    return c->panic;
  case CANTUS_CTLID_MAX_NOTE_BEATS:
    return c->max_note_beats;
  default:
    return 0;
  }
}

// hold_bars takes 1, 2, 4 or 8: round to the nearest of those.
static int pow2_bars(double v)
{
  return v < 1.5 ? 1 : v < 3 ? 2 : v < 6 ? 4 : 8;
}

CANTUS_RT void cantus_ctlmap_set(CantusControls *c, int i, double v, int n_styles)
{
  if (i < 0 || i >= CANTUS_CTLID_COUNT || v != v) {
    return;
  }
  const CantusCtlInfo *t = &table[i];
  double hi = t->kind == CANTUS_CTL_STYLE && n_styles > 0 ? n_styles - 1 : t->hi;
  v = v < t->lo ? t->lo : v > hi ? hi : v;
  const int n = (int)lround(v);
  const bool b = v >= 0.5;
  switch (i) {
  case CANTUS_CTLID_STYLE:
    c->style = n;
    break;
  case CANTUS_CTLID_STYLE_B:
    c->style_b = n;
    break;
  case CANTUS_CTLID_BLEND:
    c->blend = (float)v;
    break;
  case CANTUS_CTLID_TEMPERATURE:
    c->temperature = (float)v;
    break;
  case CANTUS_CTLID_TOP_P:
    c->top_p = (float)v;
    break;
  case CANTUS_CTLID_DENSITY:
    c->density = (float)v;
    break;
  case CANTUS_CTLID_TRANSPOSE:
    c->transpose = n;
    break;
  case CANTUS_CTLID_KEY_ROOT:
    c->key_root = n;
    break;
  case CANTUS_CTLID_SCALE:
    c->scale = (CantusScale)n;
    break;
  case CANTUS_CTLID_NOTE_LO:
    c->note_lo = n;
    break;
  case CANTUS_CTLID_NOTE_HI:
    c->note_hi = n;
    break;
  case CANTUS_CTLID_MAX_VOICES:
    c->max_voices = n;
    break;
  case CANTUS_CTLID_VELOCITY:
    c->velocity = n;
    break;
  case CANTUS_CTLID_HUMANISE:
    c->humanise = (float)v;
    break;
  case CANTUS_CTLID_GATE:
    c->gate = (float)v;
    break;
  case CANTUS_CTLID_SWING:
    c->swing = (float)v;
    break;
  case CANTUS_CTLID_CHANNEL:
    c->channel = n;
    break;
  case CANTUS_CTLID_SEED:
    c->seed = (uint32_t)llround(v);
    break;
  case CANTUS_CTLID_HOLD:
    c->hold = b;
    break;
  case CANTUS_CTLID_HOLD_BARS:
    c->hold_bars = pow2_bars(v);
    break;
  case CANTUS_CTLID_REGENERATE:
    c->regenerate = b;
    break;
  case CANTUS_CTLID_LISTEN:
    c->listen = b;
    break;
  case CANTUS_CTLID_CALL_RESPONSE:
    c->call_response = b;
    break;
  case CANTUS_CTLID_RESPONSE_BARS:
    c->response_bars = n;
    break;
  case CANTUS_CTLID_WAIT_BEATS:
    c->wait_beats = n;
    break;
  case CANTUS_CTLID_BPM:
    c->bpm = (float)v;
    break;
  case CANTUS_CTLID_PANIC:
    c->panic = b;
    break;
  case CANTUS_CTLID_MAX_NOTE_BEATS:
    c->max_note_beats = n;
    break;
  default:
    break;
  }
}

static bool parse_number(const char *s, double *v)
{
  char *end = NULL;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !isfinite(x)) {
    return false;
  }
  *v = x;
  return true;
}

static int parse_key(const char *s)
{
  static const char letters[] = "CDEFGAB";
  static const int base[] = { 0, 2, 4, 5, 7, 9, 11 };
  const char *p = strchr(letters, toupper((unsigned char)s[0]));
  if (!s[0] || !p) {
    return -1;
  }
  int k = base[p - letters];
  if (s[1] == '#' && !s[2]) {
    k++;
  } else if (s[1] == 'b' && !s[2]) {
    k--;
  } else if (s[1]) {
    return -1;
  }
  return (k + 12) % 12;
}

bool cantus_ctlmap_parse(int i,
                         const char *text,
                         const CantusModel *m,
                         double *v,
                         char *err,
                         size_t err_size)
{
  if (i < 0 || i >= CANTUS_CTLID_COUNT) {
    snprintf(err, err_size, "no such control");
    return false;
  }
  const CantusCtlInfo *t = &table[i];
  double x = 0;
  switch (t->kind) {
  case CANTUS_CTL_BOOL:
  case CANTUS_CTL_PULSE:
    if (!strcasecmp(text, "on") || !strcasecmp(text, "true") || !strcasecmp(text, "yes") ||
        !strcmp(text, "1")) {
      *v = 1;
      return true;
    }
    if (!strcasecmp(text, "off") || !strcasecmp(text, "false") || !strcasecmp(text, "no") ||
        !strcmp(text, "0")) {
      *v = 0;
      return true;
    }
    snprintf(err, err_size, "'%s' is not on or off", text);
    return false;
  case CANTUS_CTL_STYLE: {
    if (m) {
      int s = cantus_model_find_style(m, text);
      if (s < 0) {
        size_t o = (size_t)snprintf(err, err_size, "unknown style '%s' (styles:", text);
        for (uint32_t k = 0; k < m->dims.n_styles && o < err_size; k++) {
          o += (size_t)snprintf(err + o, err_size - o, "%s %s", k ? "," : "", m->style_names[k]);
        }
        if (o < err_size) {
          snprintf(err + o, err_size - o, ")");
        }
        return false;
      }
      *v = s;
      return true;
    }
    if (!parse_number(text, &x) || x < 0 || x != floor(x) || x > t->hi) {
      snprintf(err, err_size, "unknown style '%s'", text);
      return false;
    }
    *v = x;
    return true;
  }
  case CANTUS_CTL_SCALE:
    for (int s = 0; s < CANTUS_N_SCALES; s++) {
      if (same_name(text, cantus_scale_name((CantusScale)s))) {
        *v = s;
        return true;
      }
    }
    if (parse_number(text, &x) && x >= 0 && x < CANTUS_N_SCALES && x == floor(x)) {
      *v = x;
      return true;
    }
    {
      size_t o = (size_t)snprintf(err, err_size, "unknown scale '%s' (scales:", text);
      for (int s = 0; s < CANTUS_N_SCALES && o < err_size; s++) {
        o += (size_t)snprintf(err + o, err_size - o, " %s", cantus_scale_name((CantusScale)s));
      }
      if (o < err_size) {
        snprintf(err + o, err_size - o, ")");
      }
    }
    return false;
  case CANTUS_CTL_KEY: {
    int k = parse_key(text);
    if (k >= 0) {
      *v = k;
      return true;
    }
    if (parse_number(text, &x) && x >= 0 && x <= 11 && x == floor(x)) {
      *v = x;
      return true;
    }
    snprintf(err, err_size, "'%s' is not a key (C, C#, Db .. B or 0..11)", text);
    return false;
  }
  case CANTUS_CTL_INT:
  case CANTUS_CTL_FLOAT:
    if (!parse_number(text, &x)) {
      snprintf(err, err_size, "'%s' is not a number", text);
      return false;
    }
    if (x < t->lo || x > t->hi) {
      snprintf(err, err_size, "%s is outside %g..%g", text, t->lo, t->hi);
      return false;
    }
    if (t->kind == CANTUS_CTL_INT && x != floor(x)) {
      snprintf(err, err_size, "%s is not a whole number", text);
      return false;
    }
    *v = x;
    return true;
  }
  snprintf(err, err_size, "bad value '%s'", text);
  return false;
}

void cantus_ctlmap_format(int i, double v, const CantusModel *m, char *buf, size_t size)
{
  if (i < 0 || i >= CANTUS_CTLID_COUNT) {
    snprintf(buf, size, "?");
    return;
  }
  const int n = (int)lround(v);
  switch (table[i].kind) {
  case CANTUS_CTL_BOOL:
  case CANTUS_CTL_PULSE:
    snprintf(buf, size, "%s", v >= 0.5 ? "on" : "off");
    break;
  case CANTUS_CTL_STYLE:
    if (m && n >= 0 && (uint32_t)n < m->dims.n_styles) {
      snprintf(buf, size, "%s", m->style_names[n]);
    } else {
      snprintf(buf, size, "%d", n);
    }
    break;
  case CANTUS_CTL_SCALE:
    snprintf(
      buf, size, "%s", n >= 0 && n < CANTUS_N_SCALES ? cantus_scale_name((CantusScale)n) : "?");
    break;
  case CANTUS_CTL_KEY:
    snprintf(buf, size, "%s", key_names[((n % 12) + 12) % 12]);
    break;
  case CANTUS_CTL_INT:
    snprintf(buf, size, "%.0f", v);
    break;
  case CANTUS_CTL_FLOAT:
    snprintf(buf, size, "%.2f", v);
    break;
  }
}

// The text of plugin/jack/ccmap, minus nothing: test_jack_bridge checks that the
// file parses to the same map.
static const char default_map[] = "1   temperature  0 2\n"
                                  "2   density\n"
                                  "3   bpm          60 180\n"
                                  "9   style_b\n"
                                  "14  style\n"
                                  "15  blend\n"
                                  "16  top_p\n"
                                  "17  transpose    -12 12\n"
                                  "18  key_root\n"
                                  "19  scale\n"
                                  "20  note_lo\n"
                                  "21  note_hi\n"
                                  "22  max_voices\n"
                                  "23  velocity\n"
                                  "24  humanise\n"
                                  "25  gate\n"
                                  "26  swing\n"
                                  "27  channel\n"
                                  "28  hold_bars\n"
                                  "29  response_bars\n"
                                  "30  wait_beats\n"
                                  "31  max_note_beats\n"
                                  "64  hold\n"
                                  "65  listen\n"
                                  "66  call_response\n"
                                  "67  regenerate\n"
                                  "85  seed         1 128\n"
                                  "120 panic\n"
                                  "123 panic\n";

const char *cantus_ctlmap_default_text(void)
{
  return default_map;
}

void cantus_ctlmap_default(CantusCcMap *map)
{
  CantusStatus st = cantus_ctlmap_parse_map(default_map, "built-in CC map", map, NULL);
  (void)st; // the built-in text is valid (tested)
}

// Next whitespace-separated word of *p into w (at most n-1 bytes); false at
// the end of the line or at a comment.
static bool next_word(const char **p, char *w, size_t n)
{
  const char *s = *p;
  while (*s == ' ' || *s == '\t' || *s == '\r') {
    s++;
  }
  if (!*s || *s == '\n' || *s == '#') {
    *p = s;
    return false;
  }
  size_t k = 0;
  while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '#') {
    if (k + 1 < n) {
      w[k++] = *s;
    }
    s++;
  }
  w[k] = '\0';
  *p = s;
  return true;
}

CantusStatus cantus_ctlmap_parse_map(const char *text,
                                     const char *name,
                                     CantusCcMap *map,
                                     CantusError *err)
{
  CantusCcMap tmp;
  for (int k = 0; k < 128; k++) {
    tmp.cc[k] = (CantusCcSlot){ -1, 0, 0 };
  }
  int line = 0;
  for (const char *p = text; *p;) {
    line++;
    const char *eol = strchr(p, '\n');
    char w[5][64];
    int nw = 0;
    const char *q = p;
    while (nw < 5 && next_word(&q, w[nw], sizeof w[nw])) {
      nw++;
    }
    p = eol ? eol + 1 : p + strlen(p);
    if (nw == 0) {
      continue;
    }
    double cc = 0;
    if (!parse_number(w[0], &cc) || cc != floor(cc) || cc < 0 || cc > 127) {
      return cantus_error(
        err, CANTUS_ERR_FORMAT, "%s:%d: '%s' is not a CC number (0..127)", name, line, w[0]);
    }
    if (nw < 2) {
      return cantus_error(
        err, CANTUS_ERR_FORMAT, "%s:%d: CC %d names no control", name, line, (int)cc);
    }
    int ctl = cantus_ctlmap_find(w[1]);
    if (ctl < 0) {
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "%s:%d: unknown control '%s' (see cantus-jack --help)",
                          name,
                          line,
                          w[1]);
    }
    if (nw == 3 || nw > 4) {
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "%s:%d: expected 'CC CONTROL [LO HI]', got %d words",
                          name,
                          line,
                          nw);
    }
    if (tmp.cc[(int)cc].ctl >= 0) {
      return cantus_error(
        err, CANTUS_ERR_FORMAT, "%s:%d: CC %d is mapped twice", name, line, (int)cc);
    }
    const CantusCtlInfo *t = &table[ctl];
    double lo = t->lo, hi = t->hi;
    if (t->kind == CANTUS_CTL_STYLE) {
      lo = hi = -1; // all styles of the installed model
    }
    if (nw == 4) {
      if (!parse_number(w[2], &lo) || !parse_number(w[3], &hi)) {
        return cantus_error(
          err, CANTUS_ERR_FORMAT, "%s:%d: bounds '%s %s' are not numbers", name, line, w[2], w[3]);
      }
      double mn = lo < hi ? lo : hi, mx = lo < hi ? hi : lo;
      if (mn < t->lo || mx > t->hi) {
        return cantus_error(err,
                            CANTUS_ERR_FORMAT,
                            "%s:%d: range %s..%s is outside %s's %g..%g",
                            name,
                            line,
                            w[2],
                            w[3],
                            t->name,
                            t->lo,
                            t->hi);
      }
    }
    tmp.cc[(int)cc] = (CantusCcSlot){ (short)ctl, (float)lo, (float)hi };
  }
  *map = tmp;
  return CANTUS_OK;
}

CantusStatus cantus_ctlmap_load_map(const char *path, CantusCcMap *map, CantusError *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    return cantus_error(err, CANTUS_ERR_IO, "%s: cannot open CC map: %s", path, strerror(errno));
  }
  enum { MAX_MAP = 64 * 1024 };
  char *buf = malloc(MAX_MAP + 1);
  if (!buf) {
    fclose(f);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory", path);
  }
  size_t n = fread(buf, 1, MAX_MAP + 1, f);
  int bad = ferror(f);
  fclose(f);
  CantusStatus st;
  if (bad) {
    st = cantus_error(err, CANTUS_ERR_IO, "%s: read error", path);
  } else if (n > MAX_MAP) {
    st = cantus_error(err, CANTUS_ERR_TOO_LARGE, "%s: CC map larger than 64 KiB", path);
  } else if (memchr(buf, '\0', n)) {
    st = cantus_error(err, CANTUS_ERR_FORMAT, "%s: not a text file", path);
  } else {
    buf[n] = '\0';
    st = cantus_ctlmap_parse_map(buf, path, map, err);
  }
  free(buf);
  return st;
}

CANTUS_RT int cantus_ctlmap_cc(const CantusCcMap *map,
                               CantusControls *c,
                               int n_styles,
                               int cc,
                               int value,
                               double *v)
{
  if (cc < 0 || cc > 127 || map->cc[cc].ctl < 0) {
    return -1;
  }
  const CantusCcSlot *s = &map->cc[cc];
  const CantusCtlInfo *t = &table[s->ctl];
  value = value < 0 ? 0 : value > 127 ? 127 : value;
  double x;
  switch (t->kind) {
  case CANTUS_CTL_BOOL:
    x = value >= 64;
    break;
  case CANTUS_CTL_PULSE:
    // Channel-mode messages (All Notes Off ...) carry value 0.
    if (value < 64 && cc < 120) {
      return -1;
    }
    x = 1;
    break;
  case CANTUS_CTL_STYLE:
    if (s->lo < 0 && s->hi < 0) {
      int n = n_styles > 0 ? n_styles : 1;
      x = value * n / 128; // equal zones of the knob
      break;
    }
    x = (double)s->lo + (double)(s->hi - s->lo) * value / 127.0;
    break;
  default:
    x = (double)s->lo + (double)(s->hi - s->lo) * value / 127.0;
    break;
  }
  cantus_ctlmap_set(c, s->ctl, x, n_styles);
  *v = cantus_ctlmap_get(c, s->ctl);
  return s->ctl;
}
