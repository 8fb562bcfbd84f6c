// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-eval MODEL CORPUS_DIR...: how good a model is on held-out music.
// Per style: the test-split loss in nats per token and the next-token
// accuracy of the model, beside an interpolated Kneser-Ney n-gram trained
// on the same corpus's training split (order chosen on the validation
// split) and scored on the same tokens; then pieces generated for each
// style with the real engine (cantus_engine_process, as the plugin runs
// it) compared with that style's real test pieces: pitch-class, interval,
// onset-position and duration histograms and their distances.  --json for
// scripts.  Non-RT.
#include "args.h"
#include "genstats.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PROG "cantus-eval"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: cantus-eval MODEL.cantus CORPUS_DIR... [options]\n"
          "  --split test|valid|train  the split to score (default test)\n"
          "  --max-order N        longest n-gram tried for the baseline (default 8)\n"
          "  --pieces N           pieces generated per style (default 8; 0 = no generation)\n"
          "  --bars N             bars per generated piece (default 32)\n"
          "  --seed N             first generation seed (default 1)\n"
          "  --temperature X      sampling temperature for generation (default 1.0)\n"
          "  --tracks LIST        track filter (default: the one recorded in the model)\n"
          "  --json               machine-readable output on stdout\n"
          "  -q                   no per-file corpus messages\n");
}

static void json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') {
      fputc('\\', f);
    }
    if ((unsigned char)*s < 0x20) {
      fprintf(f, "\\u%04x", *s);
    } else {
      fputc(*s, f);
    }
  }
  fputc('"', f);
}

static void json_num(FILE *f, double v)
{
  if (isfinite(v)) {
    fprintf(f, "%.5f", v);
  } else {
    fprintf(f, "null");
  }
}

int main(int argc, char **argv)
{
  const char *model_path = NULL, *dirs[64];
  int n_dirs = 0, max_order = 8, n_gen = 8, bars = 32, split = CANTUS_SPLIT_TEST;
  uint32_t seed = 1;
  float temperature = 1.0f;
  bool json = false, quiet = false;
  const char *tracks = NULL;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(o, "--json")) {
      json = true;
    } else if (!strcmp(o, "-q")) {
      quiet = true;
    } else if (v && !strcmp(o, "--split")) {
      split = !strcmp(v, "valid")   ? CANTUS_SPLIT_VALID
              : !strcmp(v, "train") ? CANTUS_SPLIT_TRAIN
                                    : CANTUS_SPLIT_TEST;
      if (strcmp(v, "valid") && strcmp(v, "test") && strcmp(v, "train")) {
        fprintf(stderr, "cantus-eval: --split: '%s' is not test, valid or train\n", v);
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--max-order")) {
      if (!cantus_args_int(PROG, o, v, 1, 12, &max_order)) {
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--pieces")) {
      if (!cantus_args_int(PROG, o, v, 0, 1000, &n_gen)) {
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--bars")) {
      if (!cantus_args_int(PROG, o, v, 1, 1000, &bars)) {
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--seed")) {
      long n = 0;
      if (!cantus_args_long(PROG, o, v, 0, 65535, &n)) {
        return 2;
      }
      seed = (uint32_t)n;
      i++;
    } else if (v && !strcmp(o, "--temperature")) {
      double t = 0;
      if (!cantus_args_double(PROG, o, v, 0, 2, &t)) {
        return 2;
      }
      temperature = (float)t;
      i++;
    } else if (v && !strcmp(o, "--tracks")) {
      tracks = v;
      i++;
    } else if (o[0] == '-') {
      return cantus_args_usage(PROG, "unknown option or missing value: %s", o);
    } else if (!model_path) {
      model_path = o;
    } else if (n_dirs < 64) {
      dirs[n_dirs++] = o;
    }
  }
  if (!model_path || n_dirs == 0) {
    usage(stderr);
    return 2;
  }
  CantusError err;
  err.msg[0] = 0;
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  if (cantus_model_load(model_path, &mo, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    return 1;
  }
  const CantusDims *d = &m->dims;
  char meta_tracks[256] = "", meta_drums[32] = "";
  cantus_model_meta_get(m, "tracks", meta_tracks, sizeof meta_tracks);
  cantus_model_meta_get(m, "drums", meta_drums, sizeof meta_drums);
  CantusCorpusOptions co = cantus_corpus_options_default();
  co.vocab = d->vocab;
  co.n_pos_beat = (int)d->n_pos_beat;
  co.tracks = tracks ? tracks : (strcmp(meta_tracks, "all") && meta_tracks[0] ? meta_tracks : NULL);
  co.keep_drums = !strcmp(meta_drums, "kept");
  co.quiet = quiet;
  CantusCorpus c;
  if (cantus_corpus_load(&c, dirs, n_dirs, &co, stderr, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    cantus_model_free(m);
    return 1;
  }
  // Corpus styles -> model styles by name; pieces of other styles are left out.
  int map[CANTUS_MAX_STYLES];
  for (int s = 0; s < c.n_styles; s++) {
    map[s] = cantus_model_find_style(m, c.styles[s].name);
    if (map[s] < 0) {
      fprintf(
        stderr, "cantus-eval: style '%s' is not in %s; left out\n", c.styles[s].name, model_path);
    }
  }
  CantusNgram *ng = NULL;
  if (cantus_ngram_new(max_order, cantus_vocab_size(&d->vocab), &ng, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    return 1;
  }
  for (int i = 0; i < c.n_pieces; i++) {
    if (c.pieces[i].split == CANTUS_SPLIT_TRAIN) {
      cantus_ngram_add(ng, c.pieces[i].tok, c.pieces[i].n_tok);
    }
  }
  cantus_ngram_finish(ng);
  // Order chosen on the validation split (all styles together).
  int best_order = 1;
  double best_val = INFINITY;
  for (int o = 1; o <= max_order; o++) {
    double sum = 0.0;
    uint64_t n = 0;
    for (int i = 0; i < c.n_pieces; i++) {
      if (c.pieces[i].split == CANTUS_SPLIT_VALID && map[c.pieces[i].style] >= 0) {
        uint64_t k;
        sum += cantus_ngram_nll(ng, o, c.pieces[i].tok, c.pieces[i].n_tok, &k);
        n += k;
      }
    }
    double v = n ? sum / (double)n : (double)INFINITY;
    if (v < best_val) {
      best_val = v;
      best_order = o;
    }
  }
  // Per style: n-gram on the scored split.
  double ng_sum[CANTUS_MAX_STYLES] = { 0 };
  uint64_t ng_n[CANTUS_MAX_STYLES] = { 0 };
  for (int i = 0; i < c.n_pieces; i++) {
    CantusPiece *pc = &c.pieces[i];
    int ms = map[pc->style];
    if (pc->split == split && ms >= 0) {
      uint64_t k;
      ng_sum[ms] += cantus_ngram_nll(ng, best_order, pc->tok, pc->n_tok, &k);
      ng_n[ms] += k;
    }
  }
  cantus_ngram_free(ng);
  // The model on the same tokens: pieces renumbered to model styles.
  for (int i = 0; i < c.n_pieces; i++) {
    int ms = map[c.pieces[i].style];
    if (ms < 0) {
      c.pieces[i].split = -1;
    } else {
      c.pieces[i].style = ms;
    }
  }
  double lstm_sum[CANTUS_MAX_STYLES];
  uint64_t lstm_n[CANTUS_MAX_STYLES], lstm_ok[CANTUS_MAX_STYLES];
  if (cantus_train_evaluate(d, m->p.tok_emb, &c, split, 32, 64, lstm_sum, lstm_n, lstm_ok, &err) !=
      CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    return 1;
  }
  // Generated pieces vs real ones, per model style present in the corpus.
  CantusGenStats real[CANTUS_MAX_STYLES], gen[CANTUS_MAX_STYLES], ref[CANTUS_MAX_STYLES];
  double floor_d[CANTUS_MAX_STYLES]; // real training pieces vs the scored split: the noise floor
  double dist[CANTUS_MAX_STYLES][CANTUS_GEN_N_DIST];
  double cross[CANTUS_MAX_STYLES]; // distance of generated style s to the nearest other real style
  int nearest[CANTUS_MAX_STYLES];
  bool have[CANTUS_MAX_STYLES] = { false };
  int n_pieces_real[CANTUS_MAX_STYLES] = { 0 };
  for (uint32_t s = 0; s < d->n_styles; s++) {
    cantus_genstats_init(&real[s]);
    cantus_genstats_init(&gen[s]);
    cantus_genstats_init(&ref[s]);
    floor_d[s] = NAN;
    cross[s] = NAN;
    nearest[s] = -1;
  }
  for (int i = 0; i < c.n_pieces; i++) {
    const CantusPiece *pc = &c.pieces[i];
    if (pc->split == split) {
      cantus_genstats_add_tokens(
        &real[pc->style], &d->vocab, pc->tok, pc->pos_tick, pc->pos_beat, pc->n_tok);
      have[pc->style] = true;
      n_pieces_real[pc->style]++;
    } else if (pc->split == CANTUS_SPLIT_TRAIN && split != CANTUS_SPLIT_TRAIN) {
      cantus_genstats_add_tokens(
        &ref[pc->style], &d->vocab, pc->tok, pc->pos_tick, pc->pos_beat, pc->n_tok);
    }
  }
  for (uint32_t s = 0; s < d->n_styles; s++) {
    if (have[s] && ref[s].pieces > 0) {
      double dd[CANTUS_GEN_N_DIST];
      cantus_genstats_distance(&ref[s], &real[s], dd);
      floor_d[s] = dd[CANTUS_GEN_N_DIST - 1];
    }
  }
  int metre_num[CANTUS_MAX_STYLES], metre_den[CANTUS_MAX_STYLES];
  for (uint32_t s = 0; s < d->n_styles; s++) {
    char key[64], val[32];
    snprintf(key, sizeof key, "metre.%s", m->style_names[s]);
    metre_num[s] = 4;
    metre_den[s] = 4;
    if (cantus_model_meta_get(m, key, val, sizeof val)) {
      sscanf(val, "%d/%d", &metre_num[s], &metre_den[s]);
    }
  }
  bool gen_ok = n_gen > 0;
  for (uint32_t s = 0; s < d->n_styles && gen_ok; s++) {
    if (!have[s]) {
      continue;
    }
    for (int k = 0; k < n_gen; k++) {
      CantusStatus st = cantus_genstats_generate(m,
                                                 (int)s,
                                                 metre_num[s],
                                                 metre_den[s],
                                                 bars,
                                                 seed + (uint32_t)k,
                                                 temperature,
                                                 &gen[s],
                                                 &err);
      if (st != CANTUS_OK) {
        fprintf(stderr, "cantus-eval: generation failed: %s\n", err.msg);
        gen_ok = false;
        break;
      }
    }
  }
  if (gen_ok) {
    for (uint32_t s = 0; s < d->n_styles; s++) {
      if (!have[s]) {
        continue;
      }
      cantus_genstats_distance(&gen[s], &real[s], dist[s]);
      for (uint32_t o = 0; o < d->n_styles; o++) {
        if (o == s || !have[o]) {
          continue;
        }
        double dd[CANTUS_GEN_N_DIST];
        cantus_genstats_distance(&gen[s], &real[o], dd);
        if (!(dd[CANTUS_GEN_N_DIST - 1] >= cross[s])) {
          cross[s] = dd[CANTUS_GEN_N_DIST - 1];
          nearest[s] = (int)o;
        }
      }
    }
  }

  const char *split_name = split == CANTUS_SPLIT_TEST    ? "test"
                           : split == CANTUS_SPLIT_VALID ? "valid"
                                                         : "train (in-sample for the n-gram)";
  if (json) {
    printf("{\n  \"model\": ");
    json_str(stdout, model_path);
    printf(
      ",\n  \"split\": \"%s\",\n  \"ngram_order\": %d,\n  \"styles\": [\n", split_name, best_order);
    bool first = true;
    for (uint32_t s = 0; s < d->n_styles; s++) {
      if (!lstm_n[s]) {
        continue;
      }
      printf("%s    {\"style\": ", first ? "" : ",\n");
      first = false;
      json_str(stdout, m->style_names[s]);
      printf(", \"pieces\": %d, \"tokens\": %llu, \"loss\": ",
             n_pieces_real[s],
             (unsigned long long)lstm_n[s]);
      json_num(stdout, lstm_sum[s] / (double)lstm_n[s]);
      printf(", \"accuracy\": ");
      json_num(stdout, (double)lstm_ok[s] / (double)lstm_n[s]);
      printf(", \"ngram_loss\": ");
      json_num(stdout, ng_n[s] ? ng_sum[s] / (double)ng_n[s] : (double)NAN);
      if (gen_ok) {
        printf(", \"generated\": {\"notes_per_quarter\": ");
        json_num(stdout, cantus_genstats_notes_per_quarter(&gen[s]));
        printf(", \"real_notes_per_quarter\": ");
        json_num(stdout, cantus_genstats_notes_per_quarter(&real[s]));
        for (int k = 0; k < CANTUS_GEN_N_DIST; k++) {
          printf(", \"%s\": ", cantus_genstats_dist_name(k));
          json_num(stdout, dist[s][k]);
        }
        printf(", \"real_train_vs_split\": ");
        json_num(stdout, floor_d[s]);
        printf(", \"nearest_other_style\": ");
        if (nearest[s] >= 0) {
          json_str(stdout, m->style_names[nearest[s]]);
        } else {
          printf("null");
        }
        printf(", \"nearest_other_distance\": ");
        json_num(stdout, cross[s]);
        printf("}");
      }
      printf("}");
    }
    double ts = 0, tn = 0, ns = 0, nn = 0, ok = 0;
    for (uint32_t s = 0; s < d->n_styles; s++) {
      ts += lstm_sum[s];
      tn += (double)lstm_n[s];
      ok += (double)lstm_ok[s];
      ns += ng_sum[s];
      nn += (double)ng_n[s];
    }
    printf("\n  ],\n  \"all\": {\"tokens\": %.0f, \"loss\": ", tn);
    json_num(stdout, tn > 0 ? ts / tn : (double)NAN);
    printf(", \"accuracy\": ");
    json_num(stdout, tn > 0 ? ok / tn : (double)NAN);
    printf(", \"ngram_loss\": ");
    json_num(stdout, nn > 0 ? ns / nn : (double)NAN);
    printf("}\n}\n");
  } else {
    printf("%s: %s split, nats/token; n-gram: interpolated Kneser-Ney, order %d (best on valid)\n",
           model_path,
           split_name,
           best_order);
    printf("%-12s %6s %8s %8s %8s %8s %8s\n",
           "style",
           "pieces",
           "tokens",
           "model",
           "acc",
           "n-gram",
           "gain");
    double ts = 0, tn = 0, ns = 0, nn = 0, ok = 0;
    for (uint32_t s = 0; s < d->n_styles; s++) {
      if (!lstm_n[s]) {
        continue;
      }
      double l = lstm_sum[s] / (double)lstm_n[s];
      double g = ng_n[s] ? ng_sum[s] / (double)ng_n[s] : (double)NAN;
      printf("%-12s %6d %8llu %8.4f %7.1f%% %8.4f %+7.1f%%%s\n",
             m->style_names[s],
             n_pieces_real[s],
             (unsigned long long)lstm_n[s],
             l,
             100.0 * (double)lstm_ok[s] / (double)lstm_n[s],
             g,
             100.0 * (g - l) / g,
             l < g ? "" : "  NOT BETTER");
      ts += lstm_sum[s];
      tn += (double)lstm_n[s];
      ok += (double)lstm_ok[s];
      ns += ng_sum[s];
      nn += (double)ng_n[s];
    }
    if (tn > 0) {
      printf("%-12s %6s %8.0f %8.4f %7.1f%% %8.4f %+7.1f%%\n",
             "all",
             "",
             tn,
             ts / tn,
             100.0 * ok / tn,
             ns / nn,
             100.0 * (ns / nn - ts / tn) / (ns / nn));
    }
    if (gen_ok) {
      printf("\ngenerated (%d pieces x %d bars per style, engine, temperature %.2f) vs real %s "
             "pieces:\n",
             n_gen,
             bars,
             (double)temperature,
             split_name);
      printf("%-12s %7s %7s", "style", "notes/q", "real");
      for (int k = 0; k < CANTUS_GEN_N_DIST; k++) {
        printf(" %9s", cantus_genstats_dist_name(k));
      }
      printf(" %9s  nearest other real style\n", "train-ref");
      for (uint32_t s = 0; s < d->n_styles; s++) {
        if (!have[s]) {
          continue;
        }
        printf("%-12s %7.2f %7.2f",
               m->style_names[s],
               cantus_genstats_notes_per_quarter(&gen[s]),
               cantus_genstats_notes_per_quarter(&real[s]));
        for (int k = 0; k < CANTUS_GEN_N_DIST; k++) {
          printf(" %9.3f", dist[s][k]);
        }
        printf(" %9.3f", floor_d[s]);
        if (nearest[s] >= 0) {
          printf("  %s %.3f%s",
                 m->style_names[nearest[s]],
                 cross[s],
                 cross[s] < dist[s][CANTUS_GEN_N_DIST - 1] ? " (closer than own style)" : "");
        }
        printf("\n");
      }
      printf(
        "distances: total variation (0 = same histogram, 1 = disjoint); 'all' is their mean\n");
    }
  }
  cantus_corpus_free(&c);
  cantus_model_free(m);
  return 0;
}
