// SPDX-License-Identifier: GPL-3.0-or-later
// Command-line number parsing, usage errors and the engine-control options
// (see args.h).  Thread class: non-RT.
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cantus_args_usage(const char *prog, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see %s --help)\n", prog);
  va_end(ap);
  return 2;
}

// The version comes from the Makefile (CANTUS_VERSION); a build without
// it (lint, an editor) says so rather than inventing a number.
#ifndef CANTUS_VERSION
#  define CANTUS_VERSION "(unknown: built without the Makefile)"
#endif

int cantus_args_unknown(const char *prog, const char *opt)
{
  return cantus_args_usage(prog, "unknown option '%s'", opt);
}

int cantus_args_missing(const char *prog, const char *opt)
{
  return cantus_args_usage(prog, "option %s needs a value", opt);
}

const char *cantus_args_version_string(void)
{
  return CANTUS_VERSION;
}

void cantus_args_version(const char *prog)
{
  printf("%s %s\n", prog, CANTUS_VERSION);
}

// The data folder compiled in (the Makefile's DATADIR); the last resort,
// when the program was moved away from its share/cantus.
#ifndef CANTUS_DATADIR
#  define CANTUS_DATADIR "/usr/local/share/cantus"
#endif

static bool is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *cantus_args_datadir(void)
{
  static char dir[PATH_MAX + 16];
  if (dir[0]) {
    return dir;
  }
  // /proc/self/exe has its links resolved: PREFIX/bin/PROG, so dropping the
  // last two parts gives PREFIX.
  char exe[PATH_MAX];
  const ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k > 0) {
    exe[k] = '\0';
    for (int up = 0; up < 2; up++) {
      char *slash = strrchr(exe, '/');
      if (slash) {
        *slash = '\0';
      }
    }
    snprintf(dir, sizeof dir, "%s/share/cantus", exe);
    if (exe[0] == '/' && is_dir(dir)) {
      return dir;
    }
  }
  snprintf(dir, sizeof dir, "%s", CANTUS_DATADIR);
  return dir;
}

void cantus_args_datadir_help(FILE *f)
{
  fprintf(f, "Data folder (the shipped models): %s\n", cantus_args_datadir());
}

const char *cantus_args_data_file(const char *rel, char *buf, size_t n)
{
  if (is_file(rel)) {
    return rel;
  }
  const int len = snprintf(buf, n, "%s/%s", cantus_args_datadir(), rel);
  return len > 0 && (size_t)len < n && is_file(buf) ? buf : NULL;
}

bool cantus_args_long(const char *prog, const char *opt, const char *s, long lo, long hi, long *out)
{
  char *end = NULL;
  errno = 0;
  const long v = strtol(s, &end, 10);
  if (errno == ERANGE && end != s && !*end) {
    cantus_args_usage(prog, "option %s: %s is outside %ld..%ld", opt, s, lo, hi);
    return false;
  }
  if (errno || end == s || *end) {
    cantus_args_usage(prog, "option %s: '%s' is not a whole number (%ld..%ld)", opt, s, lo, hi);
    return false;
  }
  if (v < lo || v > hi) {
    cantus_args_usage(prog, "option %s: %s is outside %ld..%ld", opt, s, lo, hi);
    return false;
  }
  *out = v;
  return true;
}

bool cantus_args_int(const char *prog, const char *opt, const char *s, int lo, int hi, int *out)
{
  long v = 0;
  if (!cantus_args_long(prog, opt, s, lo, hi, &v)) {
    return false;
  }
  *out = (int)v;
  return true;
}

bool cantus_args_double(const char *prog,
                        const char *opt,
                        const char *s,
                        double lo,
                        double hi,
                        double *out)
{
  char *end = NULL;
  errno = 0;
  const double v = strtod(s, &end);
  if (end == s || *end || isnan(v)) {
    cantus_args_usage(prog, "option %s: '%s' is not a number (%g..%g)", opt, s, lo, hi);
    return false;
  }
  if (!isfinite(v) || v < lo || v > hi) { // (an underflow to 0 is fine)
    cantus_args_usage(prog, "option %s: %s is outside %g..%g", opt, s, lo, hi);
    return false;
  }
  *out = v;
  return true;
}

int cantus_args_control(const char *opt, bool has_value, const char **implied)
{
  *implied = NULL;
  if (strncmp(opt, "--", 2) != 0) {
    return -1;
  }
  const char *name = opt + 2;
  int id = cantus_controls_find(name);
  bool negated = false;
  if (id < 0 && !strncmp(name, "no-", 3)) {
    id = cantus_controls_find(name + 3);
    negated = true;
  }
  const CantusControlInfo *t = cantus_controls_info(id);
  if (!t || t->kind == CANTUS_KIND_TRIGGER) {
    return -1;
  }
  if (t->kind == CANTUS_KIND_TOGGLE && !has_value) {
    *implied = negated ? "off" : "on";
  } else if (negated) {
    return -1; // --no- only for a bare toggle
  }
  return id;
}

// The option name of control t: the symbol with dashes.
static void option_name(const CantusControlInfo *t, char *buf, size_t size)
{
  snprintf(buf, size, "%s", t->symbol);
  for (char *p = buf; *p; p++) {
    *p = *p == '_' ? '-' : *p;
  }
}

void cantus_args_control_help(FILE *f, bool (*skip)(int id))
{
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *t = cantus_controls_info(i);
    if (t->kind == CANTUS_KIND_TRIGGER || (skip && skip(i))) {
      continue;
    }
    const bool named = t->kind == CANTUS_KIND_ENUM && t->points[0].name;
    char name[64], opt[96], range[160], dflt[64];
    option_name(t, name, sizeof name);
    const bool pitch = cantus_controls_is_pitch(i);
    const char *arg = t->kind == CANTUS_KIND_TOGGLE  ? "[=on|off]"
                      : t->kind == CANTUS_KIND_FLOAT ? " X"
                      : t->kind == CANTUS_KIND_STYLE ? " NAME|N"
                      : pitch                        ? " NOTE"
                      : named                        ? " NAME"
                                                     : " N";
    snprintf(opt, sizeof opt, "--%s%s", name, arg);
    cantus_controls_format(i, t->dflt, NULL, dflt, sizeof dflt);
    if (t->kind == CANTUS_KIND_STYLE) {
      snprintf(range,
               sizeof range,
               "%s",
               i == CANTUS_CONTROL_STYLE ? "N from 1; default the model's" : "default: style");
    } else if (pitch) {
      char lo[8], hi[8], d[8];
      cantus_controls_note_name((int)t->min, lo, sizeof lo);
      cantus_controls_note_name((int)t->max, hi, sizeof hi);
      cantus_controls_note_name((int)t->dflt, d, sizeof d);
      snprintf(range, sizeof range, "%s..%s or %g..%g, default %s", lo, hi, t->min, t->max, d);
    } else if (t->kind == CANTUS_KIND_TOGGLE || named) {
      snprintf(range, sizeof range, "default %s", dflt);
    } else if (t->kind == CANTUS_KIND_ENUM && t->n_points != (int)(t->max - t->min) + 1) {
      int o = 0; // the points: "1, 2, 4 or 8"
      for (int k = 0; k < t->n_points && o < (int)sizeof range; k++) {
        o += snprintf(range + o,
                      sizeof range - (size_t)o,
                      "%s%d",
                      k == 0                ? ""
                      : k + 1 < t->n_points ? ", "
                                            : " or ",
                      t->points[k].value);
      }
      if (o < (int)sizeof range) {
        snprintf(range + o, sizeof range - (size_t)o, "; default %s", dflt);
      }
    } else {
      snprintf(range, sizeof range, "%g..%g, default %g", t->min, t->max, t->dflt);
    }
    fprintf(f, "  %-22s %s (%s)\n", opt, t->help, range);
    // The names of an enumeration, wrapped.
    for (int k = 0, col = 80; named && k < t->n_points; k++) {
      const int len = (int)strlen(t->points[k].name) + 2;
      if (col + len > 78) {
        fprintf(f, "%s%25s", k ? ",\n" : "", "");
        col = 25;
      } else {
        fprintf(f, ", ");
      }
      fprintf(f, "%s", t->points[k].name);
      col += len;
    }
    if (named) {
      fprintf(f, "\n");
    }
  }
}
