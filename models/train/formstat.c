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
          "  --per-piece     also print one row per file\n"
          "  --chords own    measure the chord fit (chord-beat1, chord-bar) against each\n"
          "                  file's own chords: its accompaniment track, else its alto,\n"
          "                  tenor and bass tracks (models/README.md); files without\n"
          "                  them count nothing there\n"
          "  --chord-shift B move those chords B bars later (negative: earlier; 1.5, -1.5:\n"
          "                  the chance level of the fit)\n");
}

typedef struct {
  bool own;     // --chords own
  double shift; // --chord-shift, bars
} ChordOpt;

// Moves a chord timeline by `by` ticks; chords moved before tick 0 are cut there.
static void shift_chords(CantusFormChords *ct, int64_t by)
{
  size_t k = 0;
  for (size_t i = 0; i < ct->n; i++) {
    const int64_t t0 = (int64_t)ct->tick[i] + by, t1 = (int64_t)ct->tick[i + 1] + by;
    if (t1 <= 0) {
      continue;
    }
    ct->tick[k] = (uint32_t)(t0 > 0 ? t0 : 0);
    ct->pcs[k++] = ct->pcs[i];
  }
  if (k) {
    ct->tick[k] = (uint32_t)((int64_t)ct->tick[ct->n] + by);
  }
  ct->n = k;
}

static int measure_file(const char *path,
                        bool by_track,
                        uint32_t max_bars,
                        bool per_piece,
                        const ChordOpt *co,
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
  CantusFormChords chords = { 0 };
  CantusStatus st = CANTUS_OK;
  if (co->own) {
    st = cantus_form_file_chords(&p, mf->track_names, mf->n_tracks, &chords, &err);
    if (co->shift != 0.0) {
      const CantusMidiTimeSig *ts = mf->n_timesigs ? &mf->timesigs[0] : NULL;
      const double bar = ts && ts->den ? (double)ts->num * 4.0 * mf->tpq / ts->den : 4.0 * mf->tpq;
      shift_chords(&chords, (int64_t)(co->shift * bar + (co->shift < 0 ? -0.5 : 0.5)));
    }
    p.chords = &chords;
  }
  CantusFormCounts one;
  cantus_form_init(&one);
  st = st ? st : cantus_form_add_piece(&one, &p, &err);
  cantus_form_chords_free(&chords);
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
  ChordOpt co = { false, 0.0 };
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
    } else if (!strcmp(a, "--chords") && has_arg) {
      if (strcmp(argv[++i], "own") != 0) {
        fprintf(stderr, "cantus-formstat: --chords: only 'own' is known here\n");
        return 2;
      }
      co.own = true;
    } else if (!strcmp(a, "--chord-shift") && has_arg) {
      co.shift = strtod(argv[++i], NULL);
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
        bad += measure_file(path, by_track, max_bars, per_piece, &co, &c);
      }
    }
    fclose(f);
  }
  if (n_corpora == 0) {
    for (int i = first_file; i < argc; i++) {
      bad += measure_file(argv[i], by_track, max_bars, per_piece, &co, &c);
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
