// SPDX-License-Identifier: GPL-3.0-or-later
// The control table (dsp/controls.c): defaults, clamping at and beyond
// every bound, NaN, setting, parsing and formatting user values, the CC
// snapping, and the agreement of the built bundle's cantus.ttl with the
// table, port by port and field by field (through lilv).
#include "controls.h"
#include "fixtures.h"
#include "lv2_host.h"
#include "model.h"
#include "ports.h"
#include "test.h"
#include "uris.h"

#include <lilv/lilv.h>
#include <limits.h>
#include <lv2/port-props/port-props.h>
#include <lv2/units/units.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

// Field value of row t in c, as a double (the user value minus the base).
static double field(const CantusControls *c, int id)
{
  return cantus_controls_get(c, id) - cantus_controls_info(id)->base;
}

TEST(controls_defaults)
{
  const CantusControls d = cantus_controls_default();
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *t = cantus_controls_info(i);
    CHECK_MSG(cantus_controls_get(&d, i) == (double)(float)t->dflt,
              "%s: default %g, table %g",
              t->symbol,
              cantus_controls_get(&d, i),
              t->dflt);
    CHECK_MSG(t->min <= t->dflt && t->dflt <= t->max, "%s: default outside its range", t->symbol);
  }
  // The values the engine has always started from.
  CHECK_EQ(d.style, 0);
  CHECK_NEAR(d.temperature, 1.0f, 0);
  CHECK(d.top_p == 0.95f);
  CHECK_EQ(d.note_lo, 0);
  CHECK_EQ(d.note_hi, 127);
  CHECK_EQ(d.max_voices, 8);
  CHECK_EQ(d.velocity, 0);
  CHECK_EQ(d.channel, 0); // user value 1
  CHECK_EQ(d.seed, 1u);
  CHECK(!d.hold && !d.listen && !d.call_response && !d.panic && !d.regenerate);
  CHECK_EQ(d.hold_bars, 4);
  CHECK_EQ(d.response_bars, 2);
  CHECK_EQ(d.wait_beats, 2);
  CHECK(d.bpm == 120.0f);
  CHECK_EQ(d.max_note_beats, 8);
  CHECK_EQ((int)d.scale, CANTUS_SCALE_CHROMATIC);
}

TEST(controls_names_and_ports)
{
  bool port_used[CANTUS_N_PORTS] = { false };
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *t = cantus_controls_info(i);
    CHECK_EQ(cantus_controls_find(t->symbol), i);
    for (int j = 0; j < i; j++) {
      CHECK(strcmp(t->symbol, cantus_controls_info(j)->symbol) != 0);
    }
    CHECK_MSG(t->port > CANTUS_PORT_NOTIFY && t->port < CANTUS_N_PORTS &&
                t->port != CANTUS_PORT_FREE_RUN && t->port != CANTUS_PORT_BAR &&
                t->port != CANTUS_PORT_SURPRISE,
              "%s: port %d",
              t->symbol,
              t->port);
    if (t->port >= 0 && t->port < CANTUS_N_PORTS) {
      CHECK_MSG(!port_used[t->port], "port %d used twice", t->port);
      port_used[t->port] = true;
      CHECK(!strcmp(cantus_port_symbol((uint32_t)t->port), t->symbol));
    }
    CHECK(t->help && t->help[0] && t->label && t->label[0]);
    CHECK(t->min < t->max);
  }
  CHECK(cantus_controls_info(-1) == NULL);
  CHECK(cantus_controls_info(CANTUS_N_CONTROLS) == NULL);
  CHECK_EQ(cantus_controls_find("top-p"), CANTUS_CONTROL_TOP_P);
  CHECK_EQ(cantus_controls_find("Max-Voices"), CANTUS_CONTROL_MAX_VOICES);
  CHECK_EQ(cantus_controls_find("humanize"), CANTUS_CONTROL_HUMANISE);
  // The older option names, aliases in every tool.
  CHECK_EQ(cantus_controls_find("key"), CANTUS_CONTROL_KEY_ROOT);
  CHECK_EQ(cantus_controls_find("voices"), CANTUS_CONTROL_MAX_VOICES);
  CHECK_EQ(cantus_controls_find("range"), -1);
  CHECK_EQ(cantus_controls_find("tempo"), -1);
  // The enumerations' names are the engine's.
  const CantusControlInfo *key = cantus_controls_info(CANTUS_CONTROL_KEY_ROOT);
  const CantusControlInfo *scale = cantus_controls_info(CANTUS_CONTROL_SCALE);
  CHECK_EQ(key->n_points, 12);
  CHECK_EQ(scale->n_points, CANTUS_N_SCALES);
  for (int k = 0; k < key->n_points; k++) {
    CHECK(key->points[k].value == k && !strcmp(key->points[k].name, cantus_key_name(k)));
  }
  for (int k = 0; k < scale->n_points; k++) {
    CHECK(scale->points[k].value == k &&
          !strcmp(scale->points[k].name, cantus_scale_name((CantusScale)k)));
  }
}

// Sets the field of row id to v (a field value) without clamping.
static void poke(CantusControls *c, int id, double v)
{
  const CantusControlInfo *t = cantus_controls_info(id);
  char *p = (char *)c + t->offset;
  if (t->type == CANTUS_FIELD_FLOAT) {
    const float f = (float)v;
    memcpy(p, &f, sizeof f);
  } else if (t->type == CANTUS_FIELD_INT) {
    const int n = (int)v;
    memcpy(p, &n, sizeof n);
  } else if (t->type == CANTUS_FIELD_U32) {
    const uint32_t u = (uint32_t)v;
    memcpy(p, &u, sizeof u);
  }
}

TEST(controls_clamp_every_bound)
{
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *t = cantus_controls_info(i);
    if (t->type == CANTUS_FIELD_BOOL) {
      continue;
    }
    const double lo = t->min - t->base;
    const double hi = (t->kind == CANTUS_KIND_STYLE ? 2 : t->max) - t->base; // 3 styles
    const double span = t->type == CANTUS_FIELD_FLOAT ? 0.25 * (hi - lo) : 1;
    const struct {
      double in, want;
    } cases[] = { { lo, lo },        { hi, hi },       { lo - span, lo },
                  { hi + span, hi }, { lo - 1e6, lo }, { hi + 1e6, hi } };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      if (t->type == CANTUS_FIELD_U32 && cases[k].in < 0) {
        continue; // a negative never reaches a uint32_t
      }
      CantusControls c = cantus_controls_default();
      poke(&c, i, cases[k].in);
      cantus_controls_clamp(&c, 3);
      CHECK_MSG(field(&c, i) == (double)(float)cases[k].want,
                "%s: %g clamps to %g, want %g",
                t->symbol,
                cases[k].in,
                field(&c, i),
                cases[k].want);
    }
    if (t->type == CANTUS_FIELD_FLOAT) {
      CantusControls c = cantus_controls_default();
      poke(&c, i, NAN);
      cantus_controls_clamp(&c, 3);
      CHECK_MSG(field(&c, i) == (double)(float)t->dflt, "%s: NaN is not the default", t->symbol);
    }
  }
  // The largest seed a uint32_t holds, and a style count of one.
  CantusControls c = cantus_controls_default();
  c.seed = UINT32_MAX;
  c.style = 5;
  cantus_controls_clamp(&c, 1);
  CHECK_EQ(c.seed, 65535u);
  CHECK_EQ(c.style, 0);
  // Exactly the float bounds the engine always used.
  c.top_p = 0.05f;
  c.gate = 0.1f;
  c.swing = 0.75f;
  cantus_controls_clamp(&c, 1);
  CHECK(c.top_p == 0.05f && c.gate == 0.1f && c.swing == 0.75f);
  c.top_p = 0.04999f;
  cantus_controls_clamp(&c, 1);
  CHECK(c.top_p == 0.05f);
}

TEST(controls_set_user_values)
{
  CantusControls c = cantus_controls_default();
  cantus_controls_set(&c, CANTUS_CONTROL_CHANNEL, 16, 0);
  CHECK_EQ(c.channel, 15);
  CHECK_EQ(cantus_controls_get(&c, CANTUS_CONTROL_CHANNEL), 16);
  cantus_controls_set(&c, CANTUS_CONTROL_CHANNEL, 0, 0); // below 1
  CHECK_EQ(c.channel, 0);
  cantus_controls_set(&c, CANTUS_CONTROL_TEMPERATURE, NAN, 0); // ignored
  CHECK(c.temperature == 1.0f);
  cantus_controls_set(&c, CANTUS_CONTROL_TEMPERATURE, 7, 0);
  CHECK(c.temperature == 2.0f);
  cantus_controls_set(&c, CANTUS_CONTROL_TRANSPOSE, 2.5, 0); // half to even, as lrintf
  CHECK_EQ(c.transpose, 2);
  cantus_controls_set(&c, CANTUS_CONTROL_TRANSPOSE, 3.5, 0);
  CHECK_EQ(c.transpose, 4);
  cantus_controls_set(&c, CANTUS_CONTROL_HOLD, 0.5, 0); // on above 0.5
  CHECK(!c.hold);
  cantus_controls_set(&c, CANTUS_CONTROL_HOLD, 0.51, 0);
  CHECK(c.hold);
  cantus_controls_set(&c, CANTUS_CONTROL_STYLE, 9, 3);
  CHECK_EQ(c.style, 2);
  cantus_controls_set(&c, CANTUS_CONTROL_STYLE, 9, 0); // no model: the table's range
  CHECK_EQ(c.style, 9);
  cantus_controls_set(&c, CANTUS_CONTROL_SEED, 1e12, 0);
  CHECK_EQ(c.seed, 65535u);
  cantus_controls_set(&c, CANTUS_CONTROL_BPM, 999, 0);
  CHECK(c.bpm == 300.0f);
  cantus_controls_set(&c, -1, 1, 0); // no such control: nothing happens
  CHECK_EQ(cantus_controls_get(&c, 99), 0);
  // Snapping to the points: hold_bars 1, 2, 4, 8, ties up.
  CHECK_EQ(cantus_controls_snap(CANTUS_CONTROL_HOLD_BARS, 1.4), 1);
  CHECK_EQ(cantus_controls_snap(CANTUS_CONTROL_HOLD_BARS, 1.5), 2);
  CHECK_EQ(cantus_controls_snap(CANTUS_CONTROL_HOLD_BARS, 3), 4);
  CHECK_EQ(cantus_controls_snap(CANTUS_CONTROL_HOLD_BARS, 5.9), 4);
  CHECK_EQ(cantus_controls_snap(CANTUS_CONTROL_HOLD_BARS, 6), 8);
  CHECK_EQ(cantus_controls_snap(CANTUS_CONTROL_TEMPERATURE, 0.3), 0.3); // not an enumeration
}

TEST(controls_parse_values)
{
  char msg[256];
  double v = -1;
  CHECK(cantus_controls_parse(CANTUS_CONTROL_KEY_ROOT, "F#", NULL, &v, msg, sizeof msg));
  CHECK_EQ(v, 6);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_KEY_ROOT, "Db", NULL, &v, msg, sizeof msg));
  CHECK_EQ(v, 1);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_KEY_ROOT, "11", NULL, &v, msg, sizeof msg));
  CHECK_EQ(v, 11);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_KEY_ROOT, "H", NULL, &v, msg, sizeof msg));
  CHECK(strstr(msg, "unknown key_root 'H'") != NULL);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_SCALE, "Harmonic_Minor", NULL, &v, msg, sizeof msg));
  CHECK_EQ(v, CANTUS_SCALE_HARMONIC_MINOR);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_SCALE, "lydian7", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg,
                    "unknown scale 'lydian7' (chromatic, major, minor, harmonic-minor, dorian, "
                    "mixolydian, major-pentatonic, minor-pentatonic, blues or 0..8)"),
            "%s",
            msg);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_HOLD_BARS, "8", NULL, &v, msg, sizeof msg));
  CHECK_EQ(v, 8);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_HOLD_BARS, "3", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "unknown hold_bars '3' (1, 2, 4, 8)"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_CHANNEL, "0", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "0 is outside 1..16"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_CHANNEL, "x", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "'x' is not a whole number (1..16)"), "%s", msg);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_LISTEN, "on", NULL, &v, msg, sizeof msg) && v == 1);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_LISTEN, "OFF", NULL, &v, msg, sizeof msg) && v == 0);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_PANIC, "yes", NULL, &v, msg, sizeof msg) && v == 1);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_LISTEN, "maybe", NULL, &v, msg, sizeof msg));
  CHECK(!strcmp(msg, "'maybe' is not on or off"));
  CHECK(cantus_controls_parse(CANTUS_CONTROL_TEMPERATURE, "2", NULL, &v, msg, sizeof msg));
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_TEMPERATURE, "2.5", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "2.5 is outside 0..2"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_TEMPERATURE, "nan", NULL, &v, msg, sizeof msg));
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_TEMPERATURE, "1x", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "'1x' is not a number (0..2)"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_TOP_P, "0.01", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "0.01 is outside 0.05..1"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_MAX_VOICES, "2.5", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "'2.5' is not a whole number (1..16)"), "%s", msg);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_SEED, "65535", NULL, &v, msg, sizeof msg));
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_SEED, "65536", NULL, &v, msg, sizeof msg));
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_BPM, "19", NULL, &v, msg, sizeof msg));
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_DENSITY, "-1.5", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "-1.5 is outside -1..1"), "%s", msg);
  // Styles: numbered from 1 in text, the value is the 0-based index.
  CHECK(cantus_controls_parse(CANTUS_CONTROL_STYLE, "64", NULL, &v, msg, sizeof msg) && v == 63);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_STYLE, "1", NULL, &v, msg, sizeof msg) && v == 0);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_STYLE, "0", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "style 0 is outside 1..64"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_STYLE, "beta", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "unknown style 'beta' (a number 1..64)"), "%s", msg);
  {
    const CantusDims d = cantus_fixture_dims_tiny();
    CantusModel *m = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32); // alpha beta gamma
    CHECK(cantus_controls_parse(CANTUS_CONTROL_STYLE_B, "Gamma", m, &v, msg, sizeof msg) && v == 2);
    CHECK(cantus_controls_parse(CANTUS_CONTROL_STYLE, "3", m, &v, msg, sizeof msg) && v == 2);
    CHECK(cantus_controls_parse(CANTUS_CONTROL_STYLE, "1", m, &v, msg, sizeof msg) && v == 0);
    CHECK(!cantus_controls_parse(CANTUS_CONTROL_STYLE, "4", m, &v, msg, sizeof msg));
    CHECK_MSG(!strcmp(msg, "style 4 is outside 1..3 (1:alpha 2:beta 3:gamma)"), "%s", msg);
    CHECK(!cantus_controls_parse(CANTUS_CONTROL_STYLE, "0", m, &v, msg, sizeof msg));
    CHECK(!cantus_controls_parse(CANTUS_CONTROL_STYLE, "delta", m, &v, msg, sizeof msg));
    CHECK_MSG(!strcmp(msg, "unknown style 'delta' (1:alpha 2:beta 3:gamma)"), "%s", msg);
    char list[128];
    cantus_controls_style_list(m, list, sizeof list);
    CHECK_MSG(!strcmp(list, "1:alpha 2:beta 3:gamma"), "%s", list);
    cantus_controls_format(CANTUS_CONTROL_STYLE, 1, m, list, sizeof list);
    CHECK(!strcmp(list, "beta"));
    cantus_model_free(m);
  }
  // Pitches: numbers or names.
  CHECK(cantus_controls_parse(CANTUS_CONTROL_NOTE_LO, "C4", NULL, &v, msg, sizeof msg) && v == 60);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_NOTE_HI, "bb2", NULL, &v, msg, sizeof msg) && v == 46);
  CHECK(cantus_controls_parse(CANTUS_CONTROL_NOTE_HI, "72", NULL, &v, msg, sizeof msg) && v == 72);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_NOTE_LO, "G#9", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "G#9 is outside C-1..G9 (0..127)"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_NOTE_LO, "-1", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "-1 is outside C-1..G9 (0..127)"), "%s", msg);
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_NOTE_LO, "H4", NULL, &v, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "'H4' is not a note (a number 0..127 or a name like C4 = 60, F#3, Bb2)"),
            "%s",
            msg);
  CHECK(!cantus_controls_parse(-1, "1", NULL, &v, msg, sizeof msg));
  // A short buffer is cut, never overrun.
  char tiny[8];
  CHECK(!cantus_controls_parse(CANTUS_CONTROL_SCALE, "lydian7", NULL, &v, tiny, sizeof tiny));
  CHECK_EQ(strlen(tiny), 7u);
}

TEST(controls_format_values)
{
  char buf[64];
  cantus_controls_format(CANTUS_CONTROL_KEY_ROOT, 10, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "A#"));
  cantus_controls_format(CANTUS_CONTROL_SCALE, 2, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "minor"));
  cantus_controls_format(CANTUS_CONTROL_TEMPERATURE, 0.8, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "0.80"));
  cantus_controls_format(CANTUS_CONTROL_DENSITY, -0.25, NULL, buf, sizeof buf);
  CHECK_MSG(!strcmp(buf, "-0.25"), "%s", buf);
  cantus_controls_format(CANTUS_CONTROL_HOLD, 1, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "on"));
  cantus_controls_format(CANTUS_CONTROL_SEED, 65535, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "65535"));
  cantus_controls_format(CANTUS_CONTROL_CHANNEL, 16, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "16"));
  cantus_controls_format(CANTUS_CONTROL_STYLE, 2, NULL, buf, sizeof buf); // no model: from 1
  CHECK(!strcmp(buf, "3"));
  cantus_controls_format(CANTUS_CONTROL_NOTE_LO, 61, NULL, buf, sizeof buf);
  CHECK_MSG(!strcmp(buf, "C#4 (61)"), "%s", buf);
  cantus_controls_format(CANTUS_CONTROL_NOTE_HI, 0, NULL, buf, sizeof buf);
  CHECK_MSG(!strcmp(buf, "C-1 (0)"), "%s", buf);
  cantus_controls_format(CANTUS_CONTROL_TRANSPOSE, -12, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "-12"));
  cantus_controls_format(99, 1, NULL, buf, sizeof buf);
  CHECK(!strcmp(buf, "?"));
}

TEST(controls_note_names)
{
  static const struct {
    const char *text;
    int note;
  } good[] = {
    { "C4", 60 },  { "c4", 60 },   { "C#4", 61 }, { "Cs4", 61 }, { "Db4", 61 },  { "B3", 59 },
    { "Cb4", 59 }, { "B#3", 60 },  { "A4", 69 },  { "C-1", 0 },  { "B-1", 11 },  { "Bb-1", 10 },
    { "G9", 127 }, { "G#9", 128 }, { "e2", 40 },  { "F#3", 54 }, { "0", 0 },     { "127", 127 },
    { "-3", -3 },  { "0060", 60 }, { "b4", 71 },  { "bb4", 70 }, { "Cb-1", -1 },
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int n = -99;
    CHECK_MSG(cantus_controls_parse_note(good[i].text, &n) && n == good[i].note,
              "'%s' -> %d, want %d",
              good[i].text,
              n,
              good[i].note);
  }
  static const char *const bad[] = { "",    "H4",   "C",   "C10", "C-2",   "C#",  "4C",  "C 4",
                                     "C4 ", "C##4", "Cx4", "c+4", "12345", "1.5", "--1", "#4" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int n = -99;
    CHECK_MSG(!cantus_controls_parse_note(bad[i], &n), "'%s' read as %d", bad[i], n);
  }
  // Every note's name reads back as the note.
  for (int k = 0; k <= 127; k++) {
    char name[8];
    int n = -1;
    cantus_controls_note_name(k, name, sizeof name);
    CHECK_MSG(cantus_controls_parse_note(name, &n) && n == k, "%d -> '%s' -> %d", k, name, n);
  }
  char name[8];
  cantus_controls_note_name(60, name, sizeof name);
  CHECK(!strcmp(name, "C4"));
  cantus_controls_note_name(128, name, sizeof name);
  CHECK(!strcmp(name, "?"));
  // Ranges: LO-HI, split where both halves are notes.
  static const struct {
    const char *text;
    int lo, hi;
  } ranges[] = {
    { "48-72", 48, 72 },   { "C3-C5", 48, 72 }, { "C-1-G9", 0, 127 },
    { "Bb-1-C0", 10, 12 }, { "60-60", 60, 60 }, { "c#3-72", 49, 72 },
  };
  char msg[256];
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    int lo = -1, hi = -1;
    CHECK_MSG(cantus_controls_parse_note_range(ranges[i].text, &lo, &hi, msg, sizeof msg) &&
                lo == ranges[i].lo && hi == ranges[i].hi,
              "'%s' -> %d..%d (%s)",
              ranges[i].text,
              lo,
              hi,
              msg);
  }
  int lo, hi;
  CHECK(!cantus_controls_parse_note_range("C5-C3", &lo, &hi, msg, sizeof msg));
  CHECK_MSG(!strcmp(msg, "'C5-C3' is not LO-HI with 0 <= LO <= HI <= 127 (C-1..G9)"), "%s", msg);
  CHECK(!cantus_controls_parse_note_range("C3-G#9", &lo, &hi, msg, sizeof msg));
  CHECK(!cantus_controls_parse_note_range("C3", &lo, &hi, msg, sizeof msg));
  CHECK(strstr(msg, "is not LO-HI: two notes") != NULL);
  CHECK(!cantus_controls_parse_note_range("C3-", &lo, &hi, msg, sizeof msg));
  CHECK(!cantus_controls_parse_note_range("-C3", &lo, &hi, msg, sizeof msg));
  CHECK(!cantus_controls_parse_note_range("", &lo, &hi, msg, sizeof msg));
  CHECK(cantus_controls_is_pitch(CANTUS_CONTROL_NOTE_LO) &&
        cantus_controls_is_pitch(CANTUS_CONTROL_NOTE_HI));
  CHECK(!cantus_controls_is_pitch(CANTUS_CONTROL_TRANSPOSE) && !cantus_controls_is_pitch(-1));
}

// ---- the TTL against the table ----------------------------------------------------------

static bool has_property(LilvWorld *w, const LilvPlugin *p, const LilvPort *lp, const char *uri)
{
  LilvNode *n = lilv_new_uri(w, uri);
  const bool has = lilv_port_has_property(p, lp, n);
  lilv_node_free(n);
  return has;
}

// The single value of predicate uri on port lp as a string ("" if none).
static const char *port_string(LilvWorld *w,
                               const LilvPlugin *p,
                               const LilvPort *lp,
                               const char *uri,
                               char *buf,
                               size_t size)
{
  LilvNode *pred = lilv_new_uri(w, uri);
  LilvNodes *vals = lilv_port_get_value(p, lp, pred);
  buf[0] = '\0';
  if (vals && lilv_nodes_size(vals) == 1) {
    const LilvNode *v = lilv_nodes_get_first(vals);
    snprintf(buf, size, "%s", lilv_node_as_string(v));
  }
  lilv_nodes_free(vals);
  lilv_node_free(pred);
  return buf;
}

// Checks one control port of the TTL against row t, field by field.
static void check_port(LilvWorld *w,
                       const LilvPlugin *p,
                       const CantusControlInfo *t,
                       int dstyle,
                       const CantusModel *m)
{
  const LilvPort *lp = lilv_plugin_get_port_by_index(p, (uint32_t)t->port);
  CHECK_MSG(lp != NULL, "no port %d (%s)", t->port, t->symbol);
  if (!lp) {
    return;
  }
  const char *sym = lilv_node_as_string(lilv_port_get_symbol(p, lp));
  CHECK_MSG(
    !strcmp(sym, t->symbol), "port %d is %s in the TTL, %s in the table", t->port, sym, t->symbol);
  LilvNode *name = lilv_port_get_name(p, lp);
  CHECK_MSG(name && !strcmp(lilv_node_as_string(name), t->label), "%s: name", t->symbol);
  lilv_node_free(name);
  LilvNode *in = lilv_new_uri(w, LV2_CORE__InputPort);
  LilvNode *control = lilv_new_uri(w, LV2_CORE__ControlPort);
  CHECK_MSG(lilv_port_is_a(p, lp, in) && lilv_port_is_a(p, lp, control),
            "%s: not a control input",
            t->symbol);
  lilv_node_free(in);
  lilv_node_free(control);
  LilvNode *dflt = NULL, *min = NULL, *max = NULL;
  lilv_port_get_range(p, lp, &dflt, &min, &max);
  const double want_dflt = t->kind == CANTUS_KIND_STYLE ? dstyle : t->dflt;
  CHECK_MSG(dflt && lilv_node_as_float(dflt) == (float)want_dflt, "%s: default", t->symbol);
  CHECK_MSG(min && lilv_node_as_float(min) == (float)t->min, "%s: minimum", t->symbol);
  CHECK_MSG(max && lilv_node_as_float(max) == (float)t->max, "%s: maximum", t->symbol);
  lilv_node_free(dflt);
  lilv_node_free(min);
  lilv_node_free(max);
  const bool whole =
    t->kind == CANTUS_KIND_INT || t->kind == CANTUS_KIND_ENUM || t->kind == CANTUS_KIND_STYLE;
  const bool toggled = t->kind == CANTUS_KIND_TOGGLE || t->kind == CANTUS_KIND_TRIGGER;
  CHECK_MSG(has_property(w, p, lp, LV2_CORE__integer) == whole, "%s: lv2:integer", t->symbol);
  CHECK_MSG(has_property(w, p, lp, LV2_CORE__toggled) == toggled, "%s: lv2:toggled", t->symbol);
  CHECK_MSG(has_property(w, p, lp, LV2_CORE__enumeration) == (t->kind == CANTUS_KIND_ENUM),
            "%s: lv2:enumeration",
            t->symbol);
  CHECK_MSG(has_property(w, p, lp, LV2_PORT_PROPS__trigger) == (t->kind == CANTUS_KIND_TRIGGER),
            "%s: pprops:trigger",
            t->symbol);
  char buf[512], want[512];
  port_string(w, p, lp, LV2_UNITS__unit, buf, sizeof buf);
  snprintf(want, sizeof want, "%s%s", t->unit ? LV2_UNITS_PREFIX : "", t->unit ? t->unit : "");
  CHECK_MSG(!strcmp(buf, want), "%s: unit '%s', want '%s'", t->symbol, buf, want);
  port_string(w, p, lp, LILV_NS_RDFS "comment", buf, sizeof buf);
  snprintf(want,
           sizeof want,
           "%c%s.",
           t->help[0] - (t->help[0] >= 'a' && t->help[0] <= 'z' ? 32 : 0),
           t->help + 1);
  CHECK_MSG(!strcmp(buf, want), "%s: comment '%s', want '%s'", t->symbol, buf, want);
  // The scale points: the table's, or for a style the model's names.
  LilvScalePoints *sp = lilv_port_get_scale_points(p, lp);
  const unsigned n_points = t->kind == CANTUS_KIND_STYLE ? m->dims.n_styles : (unsigned)t->n_points;
  CHECK_MSG((sp ? lilv_scale_points_size(sp) : 0) == n_points, "%s: scale points", t->symbol);
  LILV_FOREACH(scale_points, it, sp)
  {
    const LilvScalePoint *pt = lilv_scale_points_get(sp, it);
    const int v = lilv_node_as_int(lilv_scale_point_get_value(pt));
    const char *label = lilv_node_as_string(lilv_scale_point_get_label(pt));
    const char *want_label = NULL;
    if (t->kind == CANTUS_KIND_STYLE) {
      want_label = v >= 0 && v < (int)m->dims.n_styles ? m->style_names[v] : NULL;
    }
    for (int k = 0; k < t->n_points; k++) {
      want_label = t->points[k].value == v ? t->points[k].label : want_label;
    }
    CHECK_MSG(
      want_label && !strcmp(label, want_label), "%s: scale point %d '%s'", t->symbol, v, label);
  }
  lilv_scale_points_free(sp);
}

TEST(controls_ttl_matches_table)
{
  char bundle[PATH_MAX + 32], model_path[PATH_MAX + 64];
  snprintf(bundle, sizeof bundle, "%s/cantus.lv2", cantus_test_build_dir());
  snprintf(model_path, sizeof model_path, "%s/models/default.cantus", bundle);
  Lv2hConfig cfg = lv2h_config_default();
  cfg.quiet_log = !cantus_test_verbose;
  Lv2Host *h = lv2h_new(bundle, CANTUS_URI, &cfg);
  CHECK_MSG(h != NULL, "cannot instantiate %s from %s (make plugin?)", CANTUS_URI, bundle);
  if (!h) {
    return;
  }
  CantusModelOptions opt = cantus_model_options_default();
  CantusModel *m = NULL;
  CantusError err = { { 0 } };
  CHECK_MSG(cantus_model_load(model_path, &opt, &m, &err) == CANTUS_OK, "%s", err.msg);
  if (m) {
    LilvWorld *w = lv2h_world(h);
    const LilvPlugin *p = lv2h_plugin(h);
    CHECK_EQ(lilv_plugin_get_num_ports(p), (uint32_t)CANTUS_N_PORTS);
    // Every control input port is a row of the table (or free_run).
    int n_rows = 1;
    check_port(w, p, &cantus_port_free_run, 0, m);
    for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
      check_port(w, p, cantus_controls_info(i), cantus_model_default_style(m), m);
      n_rows++;
    }
    int n_inputs = 0;
    for (uint32_t i = 0; i < CANTUS_N_PORTS; i++) {
      n_inputs += lv2h_port_is_control_input(h, (int)i);
    }
    CHECK_EQ(n_inputs, n_rows);
    cantus_model_free(m);
  }
  lv2h_free(h);
}
