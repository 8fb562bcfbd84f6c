// SPDX-License-Identifier: GPL-3.0-or-later
// The control table (see controls.h) and the functions every host uses to
// read, write, clamp, parse and show a control through it.  No stdio: the
// parsers write their messages into the caller's buffer.  Thread class:
// get/set/clamp/snap/info are [RT]; find/default/parse/format and the
// pitch and style text helpers are non-RT.
#include "controls.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POINTS(a) .points = (a), .n_points = (int)(sizeof(a) / sizeof((a)[0]))
#define FIELD(name, t) .offset = offsetof(CantusControls, name), .type = CANTUS_FIELD_##t

static const CantusControlPoint key_points[] = {
  { 0, "C", "C" },      { 1, "C#/Db", "C#" }, { 2, "D", "D" },       { 3, "D#/Eb", "D#" },
  { 4, "E", "E" },      { 5, "F", "F" },      { 6, "F#/Gb", "F#" },  { 7, "G", "G" },
  { 8, "G#/Ab", "G#" }, { 9, "A", "A" },      { 10, "A#/Bb", "A#" }, { 11, "B", "B" },
};

static const CantusControlPoint scale_points[] = {
  { CANTUS_SCALE_CHROMATIC, "Chromatic", "chromatic" },
  { CANTUS_SCALE_MAJOR, "Major", "major" },
  { CANTUS_SCALE_MINOR, "Natural minor", "minor" },
  { CANTUS_SCALE_HARMONIC_MINOR, "Harmonic minor", "harmonic-minor" },
  { CANTUS_SCALE_DORIAN, "Dorian", "dorian" },
  { CANTUS_SCALE_MIXOLYDIAN, "Mixolydian", "mixolydian" },
  { CANTUS_SCALE_MAJOR_PENTATONIC, "Major pentatonic", "major-pentatonic" },
  { CANTUS_SCALE_MINOR_PENTATONIC, "Minor pentatonic", "minor-pentatonic" },
  { CANTUS_SCALE_BLUES, "Blues", "blues" },
};

static const CantusControlPoint velocity_points[] = { { 0, "From model", NULL } };

static const CantusControlPoint channel_points[] = {
  { 1, "Channel 1", NULL },   { 2, "Channel 2", NULL },   { 3, "Channel 3", NULL },
  { 4, "Channel 4", NULL },   { 5, "Channel 5", NULL },   { 6, "Channel 6", NULL },
  { 7, "Channel 7", NULL },   { 8, "Channel 8", NULL },   { 9, "Channel 9", NULL },
  { 10, "Channel 10", NULL }, { 11, "Channel 11", NULL }, { 12, "Channel 12", NULL },
  { 13, "Channel 13", NULL }, { 14, "Channel 14", NULL }, { 15, "Channel 15", NULL },
  { 16, "Channel 16", NULL },
};

static const CantusControlPoint chord_source_points[] = {
  { 0, "Off", "off" },
  { 1, "Chord input", "input" },
  { 2, "MIDI input below the split", "split" },
};

static const CantusControlPoint hold_points[] = {
  { 1, "1 bar", NULL },
  { 2, "2 bars", NULL },
  { 4, "4 bars", NULL },
  { 8, "8 bars", NULL },
};

#define ROW(id, ...) [CANTUS_CONTROL_##id] = { __VA_ARGS__ },
static const CantusControlInfo table[CANTUS_N_CONTROLS] = { CANTUS_CONTROL_TABLE(ROW) };
#undef ROW

// Each row's field type has the size of its member.
#define FIELD_SIZE(t)                            \
  ((t) == CANTUS_FIELD_FLOAT  ? sizeof(float)    \
   : (t) == CANTUS_FIELD_BOOL ? sizeof(bool)     \
   : (t) == CANTUS_FIELD_U32  ? sizeof(uint32_t) \
                              : sizeof(int))
#undef FIELD
#define FIELD(name, t) sizeof(((CantusControls *)0)->name) == FIELD_SIZE(CANTUS_FIELD_##t)
#define SIZE_CHECK(id, symbol, label, port, kind, field, ...) \
  _Static_assert(field, "field type of " #id);
CANTUS_CONTROL_TABLE(SIZE_CHECK)
#undef SIZE_CHECK
#undef FIELD
_Static_assert(sizeof(CantusScale) == sizeof(int), "CantusScale is stored as an int");

CANTUS_RT const CantusControlInfo *cantus_controls_info(int id)
{
  return id >= 0 && id < CANTUS_N_CONTROLS ? &table[id] : NULL;
}

// ---- field access ------------------------------------------------------------------

// The field's value (not the user value: no base).
CANTUS_RT static double field_get(const CantusControls *c, const CantusControlInfo *t)
{
  const char *p = (const char *)c + t->offset;
  switch (t->type) {
  case CANTUS_FIELD_FLOAT: {
    float f;
    memcpy(&f, p, sizeof f);
    return (double)f;
  }
  case CANTUS_FIELD_INT: {
    int n;
    memcpy(&n, p, sizeof n);
    return n;
  }
  case CANTUS_FIELD_U32: {
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return u;
  }
  case CANTUS_FIELD_BOOL: {
    bool b;
    memcpy(&b, p, sizeof b);
    return b;
  }
  }
  return 0;
}

// Stores v (a field value, already in range and whole where it must be).
CANTUS_RT static void field_put(CantusControls *c, const CantusControlInfo *t, double v)
{
  char *p = (char *)c + t->offset;
  switch (t->type) {
  case CANTUS_FIELD_FLOAT: {
    const float f = (float)v;
    memcpy(p, &f, sizeof f);
    break;
  }
  case CANTUS_FIELD_INT: {
    const int n = (int)v;
    memcpy(p, &n, sizeof n);
    break;
  }
  case CANTUS_FIELD_U32: {
    const uint32_t u = (uint32_t)v;
    memcpy(p, &u, sizeof u);
    break;
  }
  case CANTUS_FIELD_BOOL: {
    const bool b = v != 0.0;
    memcpy(p, &b, sizeof b);
    break;
  }
  }
}

// Highest user value of a row (styles: of the model, when known).
CANTUS_RT static double max_of(const CantusControlInfo *t, int n_styles)
{
  if (t->kind == CANTUS_KIND_STYLE && n_styles > 0 && n_styles - 1 < t->max) {
    return n_styles - 1;
  }
  return t->max;
}

CantusControls cantus_controls_default(void)
{
  CantusControls c;
  memset(&c, 0, sizeof c);
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    field_put(&c, &table[i], table[i].dflt - table[i].base);
  }
  return c;
}

CANTUS_RT double cantus_controls_get(const CantusControls *c, int id)
{
  const CantusControlInfo *t = cantus_controls_info(id);
  return t ? field_get(c, t) + t->base : 0.0;
}

CANTUS_RT void cantus_controls_set(CantusControls *c, int id, double v, int n_styles)
{
  const CantusControlInfo *t = cantus_controls_info(id);
  if (!t || isnan(v)) {
    return;
  }
  const double hi = max_of(t, n_styles);
  v = v <= t->min ? t->min : v >= hi ? hi : v;
  switch (t->kind) {
  case CANTUS_KIND_FLOAT:
    break;
  case CANTUS_KIND_TOGGLE:
  case CANTUS_KIND_TRIGGER:
    v = v > 0.5 ? 1.0 : 0.0;
    break;
  case CANTUS_KIND_INT:
  case CANTUS_KIND_ENUM:
  case CANTUS_KIND_STYLE:
    v = (double)lrint(v);
    break;
  }
  field_put(c, t, v - t->base);
}

CANTUS_RT void cantus_controls_clamp(CantusControls *c, int n_styles)
{
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *t = &table[i];
    char *p = (char *)c + t->offset;
    switch (t->type) {
    case CANTUS_FIELD_FLOAT: {
      // Compared as floats, so a value at a bound stays exactly that value.
      const float lo = (float)(t->min - t->base), hi = (float)(t->max - t->base);
      float f;
      memcpy(&f, p, sizeof f);
      f = isnan(f) ? (float)(t->dflt - t->base) : f < lo ? lo : f > hi ? hi : f;
      memcpy(p, &f, sizeof f);
      break;
    }
    case CANTUS_FIELD_INT: {
      const int lo = (int)t->min - t->base, hi = (int)max_of(t, n_styles) - t->base;
      int n;
      memcpy(&n, p, sizeof n);
      n = n < lo ? lo : n > hi ? hi : n;
      memcpy(p, &n, sizeof n);
      break;
    }
    case CANTUS_FIELD_U32: {
      const uint32_t lo = (uint32_t)t->min, hi = (uint32_t)t->max;
      uint32_t u;
      memcpy(&u, p, sizeof u);
      u = u < lo ? lo : u > hi ? hi : u;
      memcpy(p, &u, sizeof u);
      break;
    }
    case CANTUS_FIELD_BOOL:
      break;
    }
  }
}

CANTUS_RT double cantus_controls_snap(int id, double v)
{
  const CantusControlInfo *t = cantus_controls_info(id);
  if (!t || t->kind != CANTUS_KIND_ENUM || !t->n_points || isnan(v)) {
    return v;
  }
  double best = t->points[0].value;
  for (int k = 1; k < t->n_points; k++) {
    const double p = t->points[k].value;
    const double d = fabs(v - p), bd = fabs(v - best);
    if (d < bd || (d == bd && p > best)) {
      best = p;
    }
  }
  return best;
}

// ---- names and text ------------------------------------------------------------------

static int lower(int ch)
{
  return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

// Equal names: case ignored, '-' and '_' the same.
static bool same_name(const char *a, const char *b)
{
  for (; *a && *b; a++, b++) {
    const int x = *a == '-' ? '_' : lower((unsigned char)*a);
    const int y = *b == '-' ? '_' : lower((unsigned char)*b);
    if (x != y) {
      return false;
    }
  }
  return *a == *b;
}

int cantus_controls_find(const char *name)
{
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    if (same_name(name, table[i].symbol)) {
      return i;
    }
  }
  // Older spellings, accepted everywhere and shown nowhere.
  static const struct {
    const char *name;
    int id;
  } aliases[] = {
    { "humanize", CANTUS_CONTROL_HUMANISE },
    { "key", CANTUS_CONTROL_KEY_ROOT },
    { "voices", CANTUS_CONTROL_MAX_VOICES },
  };
  for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++) {
    if (same_name(name, aliases[k].name)) {
      return aliases[k].id;
    }
  }
  return -1;
}

// A bounded string builder: appends what fits, always NUL-terminated.
typedef struct {
  char *s;
  size_t size, len;
} Text;

static void put(Text *b, const char *s)
{
  for (; *s && b->len + 1 < b->size; s++) {
    b->s[b->len++] = *s;
  }
  if (b->size) {
    b->s[b->len] = '\0';
  }
}

// v with `decimals` digits after the point; decimals < 0: as few as show
// v to three decimals (0.05, 1, 2.5).
static void put_num(Text *b, double v, int decimals)
{
  if (!isfinite(v)) {
    put(b, "nan");
    return;
  }
  const int d = decimals < 0 ? 3 : decimals;
  uint64_t scale = 1;
  for (int k = 0; k < d; k++) {
    scale *= 10;
  }
  const bool neg = v < 0;
  const double a = fabs(v) * (double)scale + 0.5;
  if (a >= 1e18) {
    put(b, neg ? "-huge" : "huge");
    return;
  }
  const uint64_t n = (uint64_t)a;
  uint64_t ip = n / scale, fp = n % scale;
  char digits[48];
  int len = 0;
  do {
    digits[len++] = (char)('0' + ip % 10);
    ip /= 10;
  } while (ip);
  char out[64];
  int o = 0;
  if (neg && (n != 0)) {
    out[o++] = '-';
  }
  while (len) {
    out[o++] = digits[--len];
  }
  int fd = d;
  if (decimals < 0) {
    while (fd > 0 && fp % 10 == 0) {
      fp /= 10;
      fd--;
    }
  }
  if (fd > 0) {
    out[o++] = '.';
    for (int k = fd - 1; k >= 0; k--) {
      out[o + k] = (char)('0' + fp % 10);
      fp /= 10;
    }
    o += fd;
  }
  out[o] = '\0';
  put(b, out);
}

static void put_range(Text *b, double lo, double hi)
{
  put_num(b, lo, -1);
  put(b, "..");
  put_num(b, hi, -1);
}

static bool parse_number(const char *s, double *v)
{
  char *end = NULL;
  const double x = strtod(s, &end);
  if (end == s || *end != '\0' || !isfinite(x)) {
    return false;
  }
  *v = x;
  return true;
}

// Why text is not a value in lo..hi: "5 is outside 0..2" for a number
// (x, as parsed) out of range, else "'x' is not a [whole] number (0..2)".
static void put_bad_number(Text *b, const char *text, bool whole, double lo, double hi)
{
  double y = 0;
  if (parse_number(text, &y) && (!whole || y == floor(y)) && (y < lo || y > hi)) {
    put(b, text);
    put(b, " is outside ");
    put_range(b, lo, hi);
    return;
  }
  put(b, "'");
  put(b, text);
  put(b, whole ? "' is not a whole number (" : "' is not a number (");
  put_range(b, lo, hi);
  put(b, ")");
}

// The points of t are every whole number of min..max.
static bool points_dense(const CantusControlInfo *t)
{
  return t->n_points == (int)(t->max - t->min) + 1;
}

static bool parse_enum(const CantusControlInfo *t, const char *text, double *v, Text *msg)
{
  for (int k = 0; k < t->n_points; k++) {
    if (t->points[k].name && same_name(text, t->points[k].name)) {
      *v = t->points[k].value;
      return true;
    }
  }
  if (t == &table[CANTUS_CONTROL_KEY_ROOT] && cantus_key_parse(text) >= 0) {
    *v = cantus_key_parse(text);
    return true;
  }
  double x = 0;
  if (parse_number(text, &x)) {
    for (int k = 0; k < t->n_points; k++) {
      if (x == t->points[k].value) {
        *v = x;
        return true;
      }
    }
  }
  const bool named = t->points[0].name != NULL;
  if (!named && points_dense(t)) {
    put_bad_number(msg, text, true, t->min, t->max);
    return false;
  }
  put(msg, "unknown ");
  put(msg, t->symbol);
  put(msg, " '");
  put(msg, text);
  put(msg, "' (");
  for (int k = 0; k < t->n_points && (named || !points_dense(t)); k++) {
    put(msg, k ? ", " : "");
    if (named) {
      put(msg, t->points[k].name);
    } else {
      put_num(msg, t->points[k].value, 0);
    }
  }
  if (named || points_dense(t)) {
    put(msg, named ? " or " : "");
    put_range(msg, t->min, t->max);
  }
  put(msg, ")");
  return false;
}

static bool parse_style(const CantusControlInfo *t,
                        const char *text,
                        const CantusModel *m,
                        double *v,
                        Text *msg)
{
  if (m) {
    const int s = cantus_model_find_style(m, text);
    if (s >= 0) {
      *v = s;
      return true;
    }
    char list[CANTUS_MAX_STYLES * (CANTUS_STYLE_NAME_LEN + 4)];
    cantus_controls_style_list(m, list, sizeof list);
    double x = 0;
    if (parse_number(text, &x) && x == floor(x)) {
      put(msg, "style ");
      put(msg, text);
      put(msg, " is outside 1..");
      put_num(msg, m->dims.n_styles, 0);
    } else {
      put(msg, "unknown style '");
      put(msg, text);
      put(msg, "'");
    }
    put(msg, " (");
    put(msg, list);
    put(msg, ")");
    return false;
  }
  // No model: numbers only, counted from 1.
  double x = 0;
  if (parse_number(text, &x) && x == floor(x) && x >= t->min + 1 && x <= t->max + 1) {
    *v = x - 1;
    return true;
  }
  if (parse_number(text, &x) && x == floor(x)) {
    put(msg, "style ");
    put(msg, text);
    put(msg, " is outside ");
    put_range(msg, t->min + 1, t->max + 1);
    return false;
  }
  put(msg, "unknown style '");
  put(msg, text);
  put(msg, "' (a number ");
  put_range(msg, t->min + 1, t->max + 1);
  put(msg, ")");
  return false;
}

static bool parse_pitch(const CantusControlInfo *t, const char *text, double *v, Text *msg)
{
  int n = 0;
  double x = 0;
  if (parse_number(text, &x) && x == floor(x) && fabs(x) < 1000) {
    n = (int)x; // "60.0" as before
  } else if (!cantus_controls_parse_note(text, &n)) {
    put(msg, "'");
    put(msg, text);
    put(msg, "' is not a note (a number ");
    put_range(msg, t->min, t->max);
    put(msg, " or a name like C4 = 60, F#3, Bb2)");
    return false;
  }
  if (n < t->min || n > t->max) {
    char lo[8], hi[8];
    cantus_controls_note_name((int)t->min, lo, sizeof lo);
    cantus_controls_note_name((int)t->max, hi, sizeof hi);
    put(msg, text);
    put(msg, " is outside ");
    put(msg, lo);
    put(msg, "..");
    put(msg, hi);
    put(msg, " (");
    put_range(msg, t->min, t->max);
    put(msg, ")");
    return false;
  }
  *v = n;
  return true;
}

bool cantus_controls_parse(int id,
                           const char *text,
                           const CantusModel *m,
                           double *v,
                           char *msg,
                           size_t msg_size)
{
  Text b = { msg, msg_size, 0 };
  put(&b, "");
  const CantusControlInfo *t = cantus_controls_info(id);
  if (!t) {
    put(&b, "no such control");
    return false;
  }
  double x = 0;
  switch (t->kind) {
  case CANTUS_KIND_TOGGLE:
  case CANTUS_KIND_TRIGGER: {
    static const char *const on[] = { "on", "true", "yes", "1" };
    static const char *const off[] = { "off", "false", "no", "0" };
    for (int k = 0; k < 4; k++) {
      if (same_name(text, on[k]) || same_name(text, off[k])) {
        *v = same_name(text, on[k]) ? 1 : 0;
        return true;
      }
    }
    put(&b, "'");
    put(&b, text);
    put(&b, "' is not on or off");
    return false;
  }
  case CANTUS_KIND_STYLE:
    return parse_style(t, text, m, v, &b);
  case CANTUS_KIND_ENUM:
    return parse_enum(t, text, v, &b);
  case CANTUS_KIND_INT:
  case CANTUS_KIND_FLOAT: {
    const bool whole = t->kind == CANTUS_KIND_INT;
    if (cantus_controls_is_pitch(id)) {
      return parse_pitch(t, text, v, &b);
    }
    if (!parse_number(text, &x) || x < t->min || x > t->max || (whole && x != floor(x))) {
      put_bad_number(&b, text, whole, t->min, t->max);
      return false;
    }
    *v = x;
    return true;
  }
  }
  return false;
}

void cantus_controls_format(int id, double v, const CantusModel *m, char *buf, size_t size)
{
  Text b = { buf, size, 0 };
  put(&b, "");
  const CantusControlInfo *t = cantus_controls_info(id);
  if (!t) {
    put(&b, "?");
    return;
  }
  const long n = lround(v);
  switch (t->kind) {
  case CANTUS_KIND_TOGGLE:
  case CANTUS_KIND_TRIGGER:
    put(&b, v >= 0.5 ? "on" : "off");
    return;
  case CANTUS_KIND_STYLE:
    if (m && n >= 0 && (uint32_t)n < m->dims.n_styles) {
      put(&b, m->style_names[n]);
      return;
    }
    put_num(&b, (double)n + 1, 0); // counted from 1, as the text is read
    return;
  case CANTUS_KIND_ENUM:
    for (int k = 0; k < t->n_points; k++) {
      if (t->points[k].value == n && t->points[k].name) {
        put(&b, t->points[k].name);
        return;
      }
    }
    break;
  case CANTUS_KIND_FLOAT:
    put_num(&b, v, 2);
    return;
  case CANTUS_KIND_INT:
    if (cantus_controls_is_pitch(id) && n >= 0 && n <= 127) {
      char name[8];
      cantus_controls_note_name((int)n, name, sizeof name);
      put(&b, name);
      put(&b, " (");
      put_num(&b, (double)n, 0);
      put(&b, ")");
      return;
    }
    break;
  }
  put_num(&b, (double)n, 0);
}

// ---- pitches and styles as text ------------------------------------------------------

bool cantus_controls_is_pitch(int id)
{
  const CantusControlInfo *t = cantus_controls_info(id);
  return t && t->unit && !strcmp(t->unit, "midiNote");
}

// A whole number of at most 4 digits with an optional '-' (an octave or a
// note number); the whole of s.
static bool parse_small_int(const char *s, int *out)
{
  const bool neg = *s == '-';
  s += neg;
  int n = 0, digits = 0;
  for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++) {
    n = n * 10 + (*s - '0');
  }
  if (!digits || *s) {
    return false;
  }
  *out = neg ? -n : n;
  return true;
}

bool cantus_controls_parse_note(const char *text, int *note)
{
  if (!text || !*text) {
    return false;
  }
  if (parse_small_int(text, note)) {
    return true;
  }
  static const int base[7] = { 9, 11, 0, 2, 4, 5, 7 }; // A..G
  const int l = lower((unsigned char)text[0]);
  if (l < 'a' || l > 'g') {
    return false;
  }
  int pc = base[l - 'a'];
  const char *p = text + 1;
  // A flat 'b' is told from an octave by what follows: "Bb4" vs "B4".
  if (*p == '#' || *p == 's') {
    pc++;
    p++;
  } else if (*p == 'b') {
    pc--;
    p++;
  }
  int octave = 0;
  if (!parse_small_int(p, &octave) || octave < -1 || octave > 9) {
    return false;
  }
  *note = (octave + 1) * 12 + pc;
  return true;
}

bool cantus_controls_parse_note_range(const char *text,
                                      int *lo,
                                      int *hi,
                                      char *msg,
                                      size_t msg_size)
{
  Text b = { msg, msg_size, 0 };
  put(&b, "");
  // Split at the first '-' that leaves two pitches ("C-1-G9" splits after
  // "C-1").
  const size_t len = strlen(text);
  char left[32];
  for (size_t k = 1; k + 1 < len && k < sizeof left; k++) {
    if (text[k] != '-') {
      continue;
    }
    memcpy(left, text, k);
    left[k] = '\0';
    int a = 0, z = 0;
    if (!cantus_controls_parse_note(left, &a) || !cantus_controls_parse_note(text + k + 1, &z)) {
      continue;
    }
    if (a < 0 || z > 127 || a > z) {
      put(&b, "'");
      put(&b, text);
      put(&b, "' is not LO-HI with 0 <= LO <= HI <= 127 (C-1..G9)");
      return false;
    }
    *lo = a;
    *hi = z;
    return true;
  }
  put(&b, "'");
  put(&b, text);
  put(&b, "' is not LO-HI: two notes, numbers 0..127 or names (C4 = 60), e.g. C3-C5 or 48-72");
  return false;
}

void cantus_controls_note_name(int note, char *buf, size_t size)
{
  Text b = { buf, size, 0 };
  put(&b, "");
  if (note < 0 || note > 127) {
    put(&b, "?");
    return;
  }
  const int octave = note / 12 - 1; // C4 = 60
  put(&b, cantus_key_name(note % 12));
  put_num(&b, (double)octave, 0);
}

void cantus_controls_style_list(const CantusModel *m, char *buf, size_t size)
{
  Text b = { buf, size, 0 };
  put(&b, "");
  for (uint32_t k = 0; m && k < m->dims.n_styles; k++) {
    put(&b, k ? " " : "");
    put_num(&b, k + 1, 0);
    put(&b, ":");
    put(&b, m->style_names[k]);
  }
}
