// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-formstat: the measures of form (form.h, models/README.md "Measures
// of form") of a set of MIDI files, or of one style and split of a corpus
// folder (its split.tsv), printed as one table row.  A development tool for
// setting generated pieces beside real ones until cantus-eval reports the
// same numbers; not installed.  Non-RT; the only main() of form.c.
#include "form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
  fprintf(f,
          "usage: cantus-formstat [options] FILE.mid...\n"
          "       cantus-formstat [options] --corpus DIR... --style NAME [--split S]\n"
          "Prints the measures of form of the pieces, pooled (models/README.md).\n"
          "  --corpus DIR    corpus folder with split.tsv (file, style, split); repeatable\n"
          "  --style NAME    that style's pieces; --split train|valid|test|all (default test)\n"
          "  --by-track      voices are MIDI tracks (default: ranks of pitch)\n"
          "  --max-bars N    only the first N bars of each piece\n"
          "  --label TEXT    first column of the row (default: the style or 'files')\n"
          "  --header        print the column names first\n"
          "  --per-piece     also print one row per file\n");
}

static int measure_file(const char *path,
                        bool by_track,
                        uint32_t max_bars,
                        bool per_piece,
                        CantusFormCounts *c)
{
  CantusMidiFile *mf = NULL;
  CantusError err;
  if (cantus_midi_read(path, &mf, &err)) {
    fprintf(stderr, "cantus-formstat: %s\n", err.msg);
    return 1;
  }
  CantusFormPiece p = { .notes = mf->notes,
                        .n_notes = mf->n_notes,
                        .tpq = mf->tpq,
                        .timesigs = mf->timesigs,
                        .n_timesigs = mf->n_timesigs,
                        .voices_by_track = by_track,
                        .max_bars = max_bars };
  CantusFormCounts one;
  cantus_form_init(&one);
  CantusStatus st = cantus_form_add_piece(&one, &p, &err);
  cantus_midi_free(mf);
  if (st) {
    fprintf(stderr, "cantus-formstat: %s: %s\n", path, err.msg);
    return 1;
  }
  if (per_piece) {
    printf("%-40s", path);
    for (int k = 0; k < CANTUS_FORM_N; k++) {
      printf(" %5.0f/%-5.0f", one.num[k], one.den[k]);
    }
    printf("\n");
  }
  cantus_form_merge(c, &one);
  return 0;
}

int main(int argc, char **argv)
{
  enum { MAX_CORPORA = 8 };
  const char *corpora[MAX_CORPORA];
  int n_corpora = 0;
  const char *style = NULL, *split = "test", *label = NULL;
  bool by_track = false, header = false, per_piece = false;
  uint32_t max_bars = 0;
  int first_file = argc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has_arg = i + 1 < argc;
    if (!strcmp(a, "--corpus") && has_arg && n_corpora < MAX_CORPORA) {
      corpora[n_corpora++] = argv[++i];
    } else if (!strcmp(a, "--style") && has_arg) {
      style = argv[++i];
    } else if (!strcmp(a, "--split") && has_arg) {
      split = argv[++i];
    } else if (!strcmp(a, "--label") && has_arg) {
      label = argv[++i];
    } else if (!strcmp(a, "--max-bars") && has_arg) {
      max_bars = (uint32_t)strtoul(argv[++i], NULL, 10);
    } else if (!strcmp(a, "--by-track")) {
      by_track = true;
    } else if (!strcmp(a, "--header")) {
      header = true;
    } else if (!strcmp(a, "--per-piece")) {
      per_piece = true;
    } else if (!strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (a[0] == '-' && a[1] == '-') {
      usage(stderr);
      return 2;
    } else {
      first_file = i;
      break;
    }
  }
  if ((n_corpora == 0) == (first_file == argc) || (n_corpora && !style)) {
    usage(stderr);
    return 2;
  }
  CantusFormCounts c;
  cantus_form_init(&c);
  int bad = 0;
  for (int ci = 0; ci < n_corpora; ci++) {
    const char *corpus = corpora[ci];
    char path[4096];
    snprintf(path, sizeof path, "%s/split.tsv", corpus);
    FILE *f = fopen(path, "r");
    if (!f) {
      fprintf(stderr, "cantus-formstat: cannot open %s\n", path);
      return 1;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
      char *file = strtok(line, "\t\r\n"), *st = strtok(NULL, "\t\r\n"),
           *sp = strtok(NULL, "\t\r\n");
      if (file && st && sp && !strcmp(st, style) && (!strcmp(sp, split) || !strcmp(split, "all"))) {
        snprintf(path, sizeof path, "%s/%s", corpus, file);
        bad += measure_file(path, by_track, max_bars, per_piece, &c);
      }
    }
    fclose(f);
  }
  if (n_corpora == 0) {
    for (int i = first_file; i < argc; i++) {
      bad += measure_file(argv[i], by_track, max_bars, per_piece, &c);
    }
  }
  if (header) {
    printf("%-12s %6s", "set", "pieces");
    for (int k = 0; k < CANTUS_FORM_N; k++) {
      printf(" %12s", cantus_form_name((CantusFormMeasure)k));
    }
    printf("\n");
  }
  printf("%-12s %6d", label ? label : (style ? style : "files"), c.pieces);
  for (int k = 0; k < CANTUS_FORM_N; k++) {
    printf(" %12.3f", cantus_form_value(&c, (CantusFormMeasure)k));
  }
  printf("\n");
  return bad ? 1 : 0;
}
