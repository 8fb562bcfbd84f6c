// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-metre MODEL CORPUS_DIR... [-o OUT.cantus]: each style's usual metre,
// the time signature that holds the most bars of the style's training
// pieces (split.tsv: file, style, split; files read with cantus_midi_read,
// bar lines as in models/README.md "Measures of form", a piece's span ending
// at its last note-off), printed as the metadata line
// "meter: NAME=N/D,..." (dsp/model.h, cantus_model_style_meter).  With -o,
// writes MODEL to OUT with that line in its metadata (an older "meter:" line
// replaced, everything else kept), through cantus_model_save: the weights
// are the same numbers, the CRC is recomputed.  A development tool, not
// installed; needs only dsp/.  Non-RT.
#include "midifile.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_METRES = 64, MAX_CORPORA = 16 };

typedef struct {
  int num[MAX_METRES], den[MAX_METRES];
  double bars[MAX_METRES];
  int n;
} Votes;

static void vote(Votes *v, int num, int den, double bars)
{
  if (num < 1 || num > 32 || (den != 1 && den != 2 && den != 4 && den != 8 && den != 16)) {
    return; // not a metre the reader takes
  }
  for (int i = 0; i < v->n; i++) {
    if (v->num[i] == num && v->den[i] == den) {
      v->bars[i] += bars;
      return;
    }
  }
  if (v->n < MAX_METRES) {
    v->num[v->n] = num;
    v->den[v->n] = den;
    v->bars[v->n++] = bars;
  }
}

// Adds the bars of each time signature of one file.  Returns false when the
// file cannot be read.
static bool count_file(const char *path, Votes *v)
{
  CantusMidiFile *mf = NULL;
  CantusError err;
  if (cantus_midi_read(path, &mf, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-metre: %s\n", err.msg);
    return false;
  }
  uint32_t end = 0;
  for (size_t i = 0; i < mf->n_notes; i++) {
    end = mf->notes[i].off_tick > end ? mf->notes[i].off_tick : end;
  }
  // Segments of the time-signature map (4/4 before the first one); a later
  // signature at the same tick replaces an earlier one.
  size_t k = 0;
  uint32_t at = 0;
  int num = 4, den = 4;
  while (at < end) {
    while (k < mf->n_timesigs && mf->timesigs[k].tick <= at) {
      num = mf->timesigs[k].num;
      den = mf->timesigs[k].den;
      k++;
    }
    const uint32_t next =
      k < mf->n_timesigs && mf->timesigs[k].tick < end ? mf->timesigs[k].tick : end;
    const double bar_ticks = num * 4.0 * mf->tpq / (den > 0 ? den : 4);
    if (bar_ticks > 0) {
      vote(v, num, den, (double)(next - at) / bar_ticks);
    }
    at = next;
  }
  cantus_midi_free(mf);
  return true;
}

int main(int argc, char **argv)
{
  const char *model_path = NULL, *out_path = NULL, *corpora[MAX_CORPORA];
  int n_corpora = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-o") && i + 1 < argc) {
      out_path = argv[++i];
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: cantus-metre MODEL.cantus CORPUS_DIR... [-o OUT.cantus]\n");
      return 2;
    } else if (!model_path) {
      model_path = argv[i];
    } else if (n_corpora < MAX_CORPORA) {
      corpora[n_corpora++] = argv[i];
    }
  }
  if (!model_path || n_corpora == 0) {
    fprintf(stderr, "usage: cantus-metre MODEL.cantus CORPUS_DIR... [-o OUT.cantus]\n");
    return 2;
  }
  CantusError err;
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  mo.weights = CANTUS_WEIGHTS_F32;
  if (cantus_model_load(model_path, &mo, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-metre: %s\n", err.msg);
    return 1;
  }
  static Votes votes[CANTUS_MAX_STYLES];
  int bad = 0, n_pieces[CANTUS_MAX_STYLES] = { 0 };
  for (int c = 0; c < n_corpora; c++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/split.tsv", corpora[c]);
    FILE *f = fopen(path, "r");
    if (!f) {
      fprintf(stderr, "cantus-metre: cannot open %s\n", path);
      cantus_model_free(m);
      return 1;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
      char *file = strtok(line, "\t\r\n"), *style = strtok(NULL, "\t\r\n"),
           *split = strtok(NULL, "\t\r\n");
      if (!file || !style || !split || strcmp(split, "train") != 0) {
        continue;
      }
      const int s = cantus_model_find_style(m, style);
      if (s < 0) {
        continue; // a style the model was not trained on
      }
      snprintf(path, sizeof path, "%s/%s", corpora[c], file);
      if (count_file(path, &votes[s])) {
        n_pieces[s]++;
      } else {
        bad++;
      }
    }
    fclose(f);
  }
  char meter[4096] = "meter: ";
  size_t len = strlen(meter);
  bool first = true;
  for (uint32_t s = 0; s < m->dims.n_styles; s++) {
    const Votes *v = &votes[s];
    double total = 0;
    int best = -1;
    for (int i = 0; i < v->n; i++) {
      total += v->bars[i];
      best = best < 0 || v->bars[i] > v->bars[best] ? i : best;
    }
    printf("%-12s %4d training pieces, %7.1f bars:", m->style_names[s], n_pieces[s], total);
    for (int i = 0; i < v->n; i++) {
      printf(" %d/%d %.1f%%", v->num[i], v->den[i], 100.0 * v->bars[i] / total);
    }
    printf("\n");
    if (best >= 0) {
      len += (size_t)snprintf(meter + len,
                              sizeof meter - len,
                              "%s%s=%d/%d",
                              first ? "" : ",",
                              m->style_names[s],
                              v->num[best],
                              v->den[best]);
      first = false;
      len = len < sizeof meter ? len : sizeof meter - 1;
    }
  }
  printf("%s\n", meter);
  int rc = bad ? 1 : 0;
  if (out_path && !bad) {
    // The metadata without its "meter:" lines, then the new one.
    const size_t cap = strlen(m->meta) + strlen(meter) + 3;
    char *meta = malloc(cap), *o = meta;
    for (const char *q = m->meta; meta && *q;) {
      const char *e = strchr(q, '\n');
      const size_t n = e ? (size_t)(e - q) + 1 : strlen(q);
      if (strncmp(q, "meter:", 6) != 0) {
        memcpy(o, q, n);
        o += n;
        if (!e) {
          *o++ = '\n';
        }
      }
      q += n;
    }
    if (!meta) {
      fprintf(stderr, "cantus-metre: out of memory\n");
      rc = 1;
    } else {
      snprintf(o, cap - (size_t)(o - meta), "%s\n", meter);
      if (cantus_model_set_meta(m, meta, &err) != CANTUS_OK ||
          cantus_model_save(m, out_path, &err) != CANTUS_OK) {
        fprintf(stderr, "cantus-metre: %s\n", err.msg);
        rc = 1;
      }
      free(meta);
    }
  }
  cantus_model_free(m);
  return rc;
}
