// SPDX-License-Identifier: GPL-3.0-or-later
// The MIDI CC map of cantus-jack (see ctlmap.h).  The controls, their
// ranges and default CCs come from the control table (dsp/controls.h); the
// CC map text format is documented in plugin/jack/ccmap, which holds the
// same map as the built-in default (a unit test keeps the two equal).
// Thread class: cantus_ctlmap_cc is [RT]; the rest is non-RT.
#include "ctlmap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

// The CC range of control id when a map line gives none: all of it (the
// styles: all of the installed model's, lo = hi = -1).
static CantusCcSlot full_range(int id)
{
  const CantusControlInfo *t = cantus_controls_info(id);
  if (t->kind == CANTUS_KIND_STYLE) {
    return (CantusCcSlot){ (short)id, -1, -1 };
  }
  return (CantusCcSlot){ (short)id, (float)t->min, (float)t->max };
}

void cantus_ctlmap_default(CantusCcMap *map)
{
  for (int k = 0; k < 128; k++) {
    map->cc[k] = (CantusCcSlot){ -1, 0, 0 };
  }
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *t = cantus_controls_info(i);
    for (int k = 0; k < 2; k++) {
      if (t->cc[k] > 0 && t->cc[k] < 128) {
        CantusCcSlot s = full_range(i);
        if (t->cc_min != t->cc_max) {
          s.lo = t->cc_min;
          s.hi = t->cc_max;
        }
        map->cc[t->cc[k]] = s;
      }
    }
  }
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
    const int ctl = cantus_controls_find(w[1]);
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
    const CantusControlInfo *t = cantus_controls_info(ctl);
    const CantusCcSlot full = full_range(ctl);
    double lo = full.lo, hi = full.hi;
    if (nw == 4 && (t->kind == CANTUS_KIND_STYLE || cantus_controls_is_pitch(ctl))) {
      // Styles and pitches as everywhere: styles numbered from 1 ("14 style
      // 1 4": the first four), pitches by number or name ("20 note_lo C2 C5").
      char msg[256];
      double v[2];
      for (int k = 0; k < 2; k++) {
        if (!cantus_controls_parse(ctl, w[2 + k], NULL, &v[k], msg, sizeof msg)) {
          return cantus_error(
            err, CANTUS_ERR_FORMAT, "%s:%d: %s bound: %s", name, line, t->symbol, msg);
        }
      }
      lo = v[0];
      hi = v[1];
    } else if (nw == 4) {
      if (!parse_number(w[2], &lo) || !parse_number(w[3], &hi)) {
        return cantus_error(
          err, CANTUS_ERR_FORMAT, "%s:%d: bounds '%s %s' are not numbers", name, line, w[2], w[3]);
      }
      double mn = lo < hi ? lo : hi, mx = lo < hi ? hi : lo;
      if (mn < t->min || mx > t->max) {
        return cantus_error(err,
                            CANTUS_ERR_FORMAT,
                            "%s:%d: range %s..%s is outside %s's %g..%g",
                            name,
                            line,
                            w[2],
                            w[3],
                            t->symbol,
                            t->min,
                            t->max);
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
  const CantusControlInfo *t = cantus_controls_info(s->ctl);
  value = value < 0 ? 0 : value > 127 ? 127 : value;
  double x;
  switch (t->kind) {
  case CANTUS_KIND_TOGGLE:
    x = value >= 64;
    break;
  case CANTUS_KIND_TRIGGER:
    // Channel-mode messages (All Notes Off ...) carry value 0.
    if (value < 64 && cc < 120) {
      return -1;
    }
    x = 1;
    break;
  case CANTUS_KIND_STYLE:
    if (s->lo < 0 && s->hi < 0) {
      int n = n_styles > 0 ? n_styles : 1;
      x = value * n / 128; // equal zones of the knob
      break;
    }
    x = (double)s->lo + (double)(s->hi - s->lo) * value / 127.0;
    break;
  default:
    x = cantus_controls_snap(s->ctl, (double)s->lo + (double)(s->hi - s->lo) * value / 127.0);
    break;
  }
  cantus_controls_set(c, s->ctl, x, n_styles);
  *v = cantus_controls_get(c, s->ctl);
  return s->ctl;
}
