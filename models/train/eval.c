// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-eval MODEL CORPUS_DIR...: how good a model is on held-out music.
// Per style: the test-split loss in nats per token and the next-token
// accuracy of the model, beside an interpolated Kneser-Ney n-gram trained
// on the same corpus's training split (order chosen on the validation
// split) and scored on the same tokens; then pieces generated for each
// style with the real engine (cantus_engine_process, as the plugin runs
// it) compared with that style's real test pieces: pitch-class, interval,
// onset-position and duration histograms and their distances, and the
// measures of form (form.h, models/README.md) of the generated pieces beside
// those of the real ones.  --json for scripts.  Non-RT.
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
          "  --pieces N           pieces generated per style, 0..100 (default 8; 0 = none)\n"
          "  --bars N             bars per generated piece, 1..1000 (default 32)\n"
          "  --seed N             first generation seed (default 1)\n"
          "  --temperature X      sampling temperature for generation (default 1.0)\n"
          "  --form-bars N        measure form on the first N bars only (default 0: all)\n"
          "  --tracks LIST        track filter (default: the one recorded in the model)\n"
          "  --chords on|off      a chord model scored with the corpus's own chords (on, the\n"
          "                       default) or with none (off: as it plays without chords)\n"
          "  --weights fp32|fp16|int8  score and generate with the plugin's step on weights\n"
          "                       stored so (default: the trainer's fp32 forward pass to\n"
          "                       score, int8 to generate, as the plugin)\n"
          "  --json               machine-readable output on stdout\n"
          "  -q                   no per-file corpus messages\n"
          "  -h, --help           print this help\n"
          "  --version            print the version\n");
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

typedef struct {
  const char *model_path, *dirs[64];
  int n_dirs, max_order, n_gen, bars, split, form_bars;
  uint32_t seed;
  float temperature;
  bool json, quiet;
  const char *tracks;
  bool no_chords;     // --chords off: score a chord model with no chord input
  bool weights_given; // --weights: score with the run-time step on these weights
  CantusWeightType weights;
} EvalOptions;

// Losses per model style: the model's (with its next-token hits) and the
// n-gram's, on the scored split.
typedef struct {
  int best_order;      // the n-gram's, chosen on the validation split
  bool order_unchosen; // no validation pieces: best_order is --max-order
  double ng_sum[CANTUS_MAX_STYLES];
  uint64_t ng_n[CANTUS_MAX_STYLES];
  double lstm_sum[CANTUS_MAX_STYLES];
  uint64_t lstm_n[CANTUS_MAX_STYLES], lstm_ok[CANTUS_MAX_STYLES];
} Scores;

// Generated pieces vs real ones, per model style present in the corpus.
typedef struct {
  CantusGenStats real[CANTUS_MAX_STYLES], gen[CANTUS_MAX_STYLES], ref[CANTUS_MAX_STYLES];
  double floor_d[CANTUS_MAX_STYLES]; // real training pieces vs the scored split: the noise floor
  double dist[CANTUS_MAX_STYLES][CANTUS_GEN_N_DIST];
  double cross[CANTUS_MAX_STYLES]; // distance of generated style s to the nearest other real style
  int nearest[CANTUS_MAX_STYLES];
  bool have[CANTUS_MAX_STYLES];
  int n_pieces_real[CANTUS_MAX_STYLES];
  int metre_num[CANTUS_MAX_STYLES], metre_den[CANTUS_MAX_STYLES];
  bool gen_ok;
  // Measures of form: generated pieces (voices by rank), the real pieces of
  // the scored split with voices by track (their parts) and by rank.
  CantusFormCounts form_gen[CANTUS_MAX_STYLES], form_real[CANTUS_MAX_STYLES],
    form_real_rank[CANTUS_MAX_STYLES];
  int form_unread; // real pieces cantus_midi_read refused (left out)
} GenReport;

// Returns -1 to go on, else the exit status.
static int parse_args(int argc, char **argv, EvalOptions *op)
{
  *op = (EvalOptions){ .max_order = 8, .n_gen = 8, .bars = 32, .split = CANTUS_SPLIT_TEST };
  op->seed = 1;
  op->temperature = 1.0f;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(o, "--version")) {
      cantus_args_version(PROG);
      return 0;
    } else if (!strcmp(o, "--json")) {
      op->json = true;
    } else if (!strcmp(o, "-q")) {
      op->quiet = true;
    } else if (v && !strcmp(o, "--split")) {
      op->split = !strcmp(v, "valid")   ? CANTUS_SPLIT_VALID
                  : !strcmp(v, "train") ? CANTUS_SPLIT_TRAIN
                                        : CANTUS_SPLIT_TEST;
      if (strcmp(v, "valid") && strcmp(v, "test") && strcmp(v, "train")) {
        fprintf(stderr, "cantus-eval: --split: '%s' is not test, valid or train\n", v);
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--max-order")) {
      if (!cantus_args_int(PROG, o, v, 1, 12, &op->max_order)) {
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--pieces")) {
      if (!cantus_args_int(PROG, o, v, 0, 100, &op->n_gen)) {
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--bars")) {
      if (!cantus_args_int(PROG, o, v, 1, 1000, &op->bars)) {
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--seed")) {
      long n = 0;
      if (!cantus_args_long(PROG, o, v, 0, 65535, &n)) {
        return 2;
      }
      op->seed = (uint32_t)n;
      i++;
    } else if (v && !strcmp(o, "--temperature")) {
      double t = 0;
      if (!cantus_args_double(PROG, o, v, 0, 2, &t)) {
        return 2;
      }
      op->temperature = (float)t;
      i++;
    } else if (v && !strcmp(o, "--form-bars")) {
      if (!cantus_args_int(PROG, o, v, 0, 100000, &op->form_bars)) {
        return 2;
      }
      i++;
    } else if (v && !strcmp(o, "--tracks")) {
      op->tracks = v;
      i++;
    } else if (v && !strcmp(o, "--chords")) {
      if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
        fprintf(stderr, "cantus-eval: --chords: '%s' is not on or off\n", v);
        return 2;
      }
      op->no_chords = !strcmp(v, "off");
      i++;
    } else if (v && !strcmp(o, "--weights")) {
      if (!cantus_lstm_weights_parse(v, &op->weights)) {
        fprintf(stderr, "%s: option --weights: '%s' is not fp32, fp16 or int8\n", PROG, v);
        return 2;
      }
      op->weights_given = true;
      i++;
    } else if (o[0] == '-') {
      static const char *const with_value[] = { "--split",  "--max-order", "--pieces",
                                                "--bars",   "--seed",      "--temperature",
                                                "--tracks", "--chords",    "--weights" };
      for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
        if (!strcmp(o, with_value[k])) {
          return cantus_args_missing(PROG, o);
        }
      }
      return cantus_args_unknown(PROG, o);
    } else if (!op->model_path) {
      op->model_path = o;
    } else if (op->n_dirs < 64) {
      op->dirs[op->n_dirs++] = o;
    }
  }
  if (!op->model_path || op->n_dirs == 0) {
    usage(stderr);
    return 2;
  }
  return -1;
}

// The corpus read as the model was trained: its vocabulary and metric
// sizes, and the track filter and drum choice recorded in its metadata
// (unless --tracks overrides).
static CantusStatus load_corpus(const EvalOptions *op,
                                const CantusModel *m,
                                CantusCorpus *c,
                                CantusError *err)
{
  const CantusDims *d = &m->dims;
  char meta_tracks[256] = "", meta_drums[32] = "";
  cantus_model_meta_get(m, "tracks", meta_tracks, sizeof meta_tracks);
  cantus_model_meta_get(m, "drums", meta_drums, sizeof meta_drums);
  CantusCorpusOptions co = cantus_corpus_options_default();
  co.vocab = d->vocab;
  co.n_pos_beat = (int)d->n_pos_beat;
  co.tracks =
    op->tracks ? op->tracks : (strcmp(meta_tracks, "all") && meta_tracks[0] ? meta_tracks : NULL);
  co.keep_drums = !strcmp(meta_drums, "kept");
  co.quiet = op->quiet;
  // Version 2: the model's parts, in its order (not the corpus's own list).
  char parts[CANTUS_MAX_PARTS * (CANTUS_STYLE_NAME_LEN + 1)] = "";
  for (int k = 0; k < d->vocab.n_parts; k++) {
    strcat(parts, k ? "," : "");
    strcat(parts, m->part_names[k]);
  }
  co.parts = parts[0] ? parts : NULL;
  return cantus_corpus_load(c, op->dirs, op->n_dirs, &co, stderr, err);
}

// Corpus styles -> model styles by name; pieces of other styles are left out.
static void map_styles(const EvalOptions *op, const CantusModel *m, const CantusCorpus *c, int *map)
{
  for (int s = 0; s < c->n_styles; s++) {
    map[s] = cantus_model_find_style(m, c->styles[s].name);
    if (map[s] < 0) {
      fprintf(stderr,
              "cantus-eval: style '%s' is not in %s; left out\n",
              c->styles[s].name,
              op->model_path);
    }
  }
}

// The n-gram baseline: trained on the training split, its order chosen on
// the validation split (all styles together), scored per style on the
// scored split.
static CantusStatus score_ngram(const EvalOptions *op,
                                const CantusDims *d,
                                const CantusCorpus *c,
                                const int *map,
                                Scores *sc,
                                CantusError *err)
{
  CantusNgram *ng = NULL;
  CantusStatus st = cantus_ngram_new(op->max_order, cantus_vocab_size(&d->vocab), &ng, err);
  if (st != CANTUS_OK) {
    return st;
  }
  for (int i = 0; i < c->n_pieces; i++) {
    if (c->pieces[i].split == CANTUS_SPLIT_TRAIN) {
      cantus_ngram_add(ng, c->pieces[i].tok, c->pieces[i].n_tok);
    }
  }
  cantus_ngram_finish(ng);
  sc->best_order = 1;
  double best_val = INFINITY;
  for (int o = 1; o <= op->max_order; o++) {
    double sum = 0.0;
    uint64_t n = 0;
    for (int i = 0; i < c->n_pieces; i++) {
      if (c->pieces[i].split == CANTUS_SPLIT_VALID && map[c->pieces[i].style] >= 0) {
        uint64_t k;
        sum += cantus_ngram_nll(ng, o, c->pieces[i].tok, c->pieces[i].n_tok, &k);
        n += k;
      }
    }
    double v = n ? sum / (double)n : (double)INFINITY;
    if (v < best_val) {
      best_val = v;
      sc->best_order = o;
    }
  }
  if (!isfinite(best_val)) {
    // No validation pieces to choose on: the longest order (Kneser-Ney
    // backs off gracefully), not a unigram that would flatter the model.
    sc->best_order = op->max_order;
    sc->order_unchosen = true;
  }
  for (int i = 0; i < c->n_pieces; i++) {
    const CantusPiece *pc = &c->pieces[i];
    int ms = map[pc->style];
    if (pc->split == op->split && ms >= 0) {
      uint64_t k;
      sc->ng_sum[ms] += cantus_ngram_nll(ng, sc->best_order, pc->tok, pc->n_tok, &k);
      sc->ng_n[ms] += k;
    }
  }
  cantus_ngram_free(ng);
  return CANTUS_OK;
}

// The model's loss with the plugin's own step (the run-time weights the
// model was loaded with: fp32, fp16 or int8), piece by piece from a reset
// state, on the same tokens and inputs as cantus_train_evaluate.
static void score_runtime(const EvalOptions *op, CantusModel *m, const CantusCorpus *c, Scores *sc)
{
  const CantusDims *d = &m->dims;
  const int V = cantus_vocab_size(&d->vocab);
  for (uint32_t s = 0; s < d->n_styles; s++) {
    sc->lstm_sum[s] = 0.0;
    sc->lstm_n[s] = 0;
    sc->lstm_ok[s] = 0;
  }
  for (int i = 0; i < c->n_pieces; i++) {
    const CantusPiece *pc = &c->pieces[i];
    if (pc->split != op->split) {
      continue;
    }
    const int s = pc->style;
    cantus_lstm_set_style(&m->net, &m->state, m->p.style_emb + (size_t)s * d->n_style_dim);
    cantus_lstm_reset(&m->net, &m->state);
    for (uint32_t t = 0; t + 1 < pc->n_tok; t++) {
      if (pc->tok[t] == CANTUS_TOK_START) {
        cantus_lstm_reset(&m->net, &m->state); // as the trainer: START restarts the state
      }
      cantus_lstm_step_form(&m->net,
                            &m->state,
                            pc->tok[t],
                            pc->pos_tick[t],
                            pc->pos_beat[t],
                            pc->form ? &pc->form[t] : NULL,
                            m->logits);
      const float *l = m->logits;
      int best = 0;
      for (int v = 1; v < V; v++) {
        best = l[v] > l[best] ? v : best;
      }
      const double mx = l[best];
      double z = 1.0; // exp(l[best] - mx)
      for (int v = 0; v < V; v++) {
        z += v != best ? exp((double)l[v] - mx) : 0.0;
      }
      const int tgt = pc->tok[t + 1];
      sc->lstm_sum[s] += mx + log(z) - (double)l[tgt];
      sc->lstm_n[s]++;
      sc->lstm_ok[s] += best == tgt;
    }
  }
  cantus_lstm_reset(&m->net, &m->state);
}

// Histograms of the real pieces: the scored split per style, and the
// training split as a reference (the noise floor of the distances).
static void real_stats(const EvalOptions *op,
                       const CantusModel *m,
                       const CantusCorpus *c,
                       GenReport *gr)
{
  const CantusDims *d = &m->dims;
  for (uint32_t s = 0; s < d->n_styles; s++) {
    cantus_genstats_init(&gr->real[s]);
    cantus_genstats_init(&gr->gen[s]);
    cantus_genstats_init(&gr->ref[s]);
    gr->floor_d[s] = NAN;
    gr->cross[s] = NAN;
    gr->nearest[s] = -1;
  }
  for (int i = 0; i < c->n_pieces; i++) {
    const CantusPiece *pc = &c->pieces[i];
    if (pc->split == op->split) {
      cantus_genstats_add_tokens(
        &gr->real[pc->style], &d->vocab, pc->tok, pc->pos_tick, pc->pos_beat, pc->n_tok);
      gr->have[pc->style] = true;
      gr->n_pieces_real[pc->style]++;
    } else if (pc->split == CANTUS_SPLIT_TRAIN && op->split != CANTUS_SPLIT_TRAIN) {
      cantus_genstats_add_tokens(
        &gr->ref[pc->style], &d->vocab, pc->tok, pc->pos_tick, pc->pos_beat, pc->n_tok);
    }
  }
  for (uint32_t s = 0; s < d->n_styles; s++) {
    if (gr->have[s] && gr->ref[s].pieces > 0) {
      double dd[CANTUS_GEN_N_DIST];
      cantus_genstats_distance(&gr->ref[s], &gr->real[s], dd);
      gr->floor_d[s] = dd[CANTUS_GEN_N_DIST - 1];
    }
  }
  for (uint32_t s = 0; s < d->n_styles; s++) {
    cantus_model_style_meter(m, (int)s, &gr->metre_num[s], &gr->metre_den[s]);
  }
}

// The measures of form of the real pieces of the scored split, read again
// from their files (cantus_midi_read: every track with its identity, the
// file's own ticks and time signatures), as cantus-formstat does.
static void real_form(const EvalOptions *op,
                      const CantusModel *m,
                      const CantusCorpus *c,
                      GenReport *gr)
{
  for (uint32_t s = 0; s < m->dims.n_styles; s++) {
    cantus_form_init(&gr->form_gen[s]);
    cantus_form_init(&gr->form_real[s]);
    cantus_form_init(&gr->form_real_rank[s]);
  }
  for (int i = 0; i < c->n_pieces; i++) {
    const CantusPiece *pc = &c->pieces[i];
    if (pc->split != op->split || pc->style < 0 || (uint32_t)pc->style >= m->dims.n_styles) {
      continue;
    }
    CantusMidiFile *mf = NULL;
    CantusError err;
    if (!pc->path || cantus_midi_read(pc->path, &mf, &err) != CANTUS_OK) {
      gr->form_unread++;
      continue;
    }
    CantusFormPiece p = { .notes = mf->notes,
                          .n_notes = mf->n_notes,
                          .tpq = mf->tpq,
                          .timesigs = mf->timesigs,
                          .n_timesigs = mf->n_timesigs,
                          .voices_by_track = true,
                          .max_bars = (uint32_t)op->form_bars };
    // The chord fit of a real piece: against its own chords (none for a
    // melody alone).
    CantusFormChords chords;
    CantusStatus st = cantus_form_file_chords(&p, mf->track_names, mf->n_tracks, &chords, &err);
    p.chords = &chords;
    st = st ? st : cantus_form_add_piece(&gr->form_real[pc->style], &p, &err);
    p.voices_by_track = false;
    st = st ? st : cantus_form_add_piece(&gr->form_real_rank[pc->style], &p, &err);
    if (st != CANTUS_OK) {
      fprintf(stderr, "cantus-eval: %s: %s (left out of the form measures)\n", pc->path, err.msg);
      gr->form_unread++;
    }
    cantus_form_chords_free(&chords);
    cantus_midi_free(mf);
  }
  if (gr->form_unread) {
    fprintf(stderr,
            "cantus-eval: %d real piece(s) could not be read again for the form measures\n",
            gr->form_unread);
  }
}

// Generates n_gen pieces per style with the engine, then measures their
// distance to the style's real pieces and to the nearest other style.
static void generate_and_compare(const EvalOptions *op, CantusModel *m, GenReport *gr)
{
  const CantusDims *d = &m->dims;
  CantusError err;
  err.msg[0] = 0;
  gr->gen_ok = op->n_gen > 0;
  for (uint32_t s = 0; s < d->n_styles && gr->gen_ok; s++) {
    if (!gr->have[s]) {
      continue;
    }
    for (int k = 0; k < op->n_gen; k++) {
      CantusStatus st = cantus_genstats_generate_form(m,
                                                      (int)s,
                                                      gr->metre_num[s],
                                                      gr->metre_den[s],
                                                      op->bars,
                                                      op->seed + (uint32_t)k,
                                                      op->temperature,
                                                      &gr->gen[s],
                                                      &gr->form_gen[s],
                                                      (uint32_t)op->form_bars,
                                                      &err);
      if (st != CANTUS_OK) {
        fprintf(stderr, "cantus-eval: generation failed: %s\n", err.msg);
        gr->gen_ok = false;
        break;
      }
    }
  }
  if (!gr->gen_ok) {
    return;
  }
  for (uint32_t s = 0; s < d->n_styles; s++) {
    if (!gr->have[s]) {
      continue;
    }
    cantus_genstats_distance(&gr->gen[s], &gr->real[s], gr->dist[s]);
    for (uint32_t o = 0; o < d->n_styles; o++) {
      if (o == s || !gr->have[o]) {
        continue;
      }
      double dd[CANTUS_GEN_N_DIST];
      cantus_genstats_distance(&gr->gen[s], &gr->real[o], dd);
      if (!(dd[CANTUS_GEN_N_DIST - 1] >= gr->cross[s])) {
        gr->cross[s] = dd[CANTUS_GEN_N_DIST - 1];
        gr->nearest[s] = (int)o;
      }
    }
  }
}

// {"pieces": N, "bar-repeat": x, ...} with the measures' names as keys;
// with by_rank, also "parallels-by-rank" from it.
static void json_form(const CantusFormCounts *f, const CantusFormCounts *by_rank)
{
  printf("{\"pieces\": %d", f->pieces);
  for (int k = 0; k < CANTUS_FORM_N; k++) {
    printf(", \"%s\": ", cantus_form_name((CantusFormMeasure)k));
    json_num(stdout, cantus_form_value(f, (CantusFormMeasure)k));
  }
  if (by_rank) {
    printf(", \"parallels-by-rank\": ");
    json_num(stdout, cantus_form_value(by_rank, CANTUS_FORM_PARALLELS));
  }
  printf("}");
}

static void print_json(const EvalOptions *op,
                       const CantusModel *m,
                       const char *split_name,
                       const Scores *sc,
                       const GenReport *gr)
{
  const CantusDims *d = &m->dims;
  printf("{\n  \"model\": ");
  json_str(stdout, op->model_path);
  printf(",\n  \"split\": \"%s\",\n  \"ngram_order\": %d,\n  \"styles\": [\n",
         split_name,
         sc->best_order);
  bool first = true;
  for (uint32_t s = 0; s < d->n_styles; s++) {
    if (!sc->lstm_n[s]) {
      continue;
    }
    printf("%s    {\"style\": ", first ? "" : ",\n");
    first = false;
    json_str(stdout, m->style_names[s]);
    printf(", \"pieces\": %d, \"tokens\": %llu, \"loss\": ",
           gr->n_pieces_real[s],
           (unsigned long long)sc->lstm_n[s]);
    json_num(stdout, sc->lstm_sum[s] / (double)sc->lstm_n[s]);
    printf(", \"accuracy\": ");
    json_num(stdout, (double)sc->lstm_ok[s] / (double)sc->lstm_n[s]);
    printf(", \"ngram_loss\": ");
    json_num(stdout, sc->ng_n[s] ? sc->ng_sum[s] / (double)sc->ng_n[s] : (double)NAN);
    printf(", \"better_than_ngram\": %s",
           sc->ng_n[s] &&
               sc->lstm_sum[s] / (double)sc->lstm_n[s] < sc->ng_sum[s] / (double)sc->ng_n[s]
             ? "true"
             : "false");
    if (gr->gen_ok) {
      printf(", \"generated\": {\"notes_per_quarter\": ");
      json_num(stdout, cantus_genstats_notes_per_quarter(&gr->gen[s]));
      printf(", \"real_notes_per_quarter\": ");
      json_num(stdout, cantus_genstats_notes_per_quarter(&gr->real[s]));
      for (int k = 0; k < CANTUS_GEN_N_DIST; k++) {
        printf(", \"%s\": ", cantus_genstats_dist_name(k));
        json_num(stdout, gr->dist[s][k]);
      }
      printf(", \"real_train_vs_split\": ");
      json_num(stdout, gr->floor_d[s]);
      printf(", \"nearest_other_style\": ");
      if (gr->nearest[s] >= 0) {
        json_str(stdout, m->style_names[gr->nearest[s]]);
      } else {
        printf("null");
      }
      printf(", \"nearest_other_distance\": ");
      json_num(stdout, gr->cross[s]);
      printf(
        "}, \"form\": {\"metre\": \"%d/%d\", \"generated\": ", gr->metre_num[s], gr->metre_den[s]);
      json_form(&gr->form_gen[s], NULL);
      printf(", \"real\": ");
      json_form(&gr->form_real[s], &gr->form_real_rank[s]);
      printf("}");
    }
    printf("}");
  }
  double ts = 0, tn = 0, ns = 0, nn = 0, ok = 0;
  for (uint32_t s = 0; s < d->n_styles; s++) {
    ts += sc->lstm_sum[s];
    tn += (double)sc->lstm_n[s];
    ok += (double)sc->lstm_ok[s];
    ns += sc->ng_sum[s];
    nn += (double)sc->ng_n[s];
  }
  printf("\n  ],\n  \"all\": {\"tokens\": %.0f, \"loss\": ", tn);
  json_num(stdout, tn > 0 ? ts / tn : (double)NAN);
  printf(", \"accuracy\": ");
  json_num(stdout, tn > 0 ? ok / tn : (double)NAN);
  printf(", \"ngram_loss\": ");
  json_num(stdout, nn > 0 ? ns / nn : (double)NAN);
  printf("}\n}\n");
}

// What the loss table means, in words: per style, whether the model beats
// the simple note-statistics model (the n-gram) and what to do when not.
static void print_verdict(const Scores *sc, const CantusModel *m)
{
  const CantusDims *d = &m->dims;
  int n_worse = 0, n_slight = 0, n = 0;
  char worse[CANTUS_MAX_STYLES * (CANTUS_STYLE_NAME_LEN + 2)] = "";
  char slight[sizeof worse] = "";
  for (uint32_t s = 0; s < d->n_styles; s++) {
    if (!sc->lstm_n[s] || !sc->ng_n[s]) {
      continue;
    }
    const double l = sc->lstm_sum[s] / (double)sc->lstm_n[s];
    const double g = sc->ng_sum[s] / (double)sc->ng_n[s];
    n++;
    if (l >= g) {
      strcat(worse, n_worse++ ? ", " : "");
      strcat(worse, m->style_names[s]);
    } else if (100.0 * (g - l) / g < 5.0) {
      strcat(slight, n_slight++ ? ", " : "");
      strcat(slight, m->style_names[s]);
    }
  }
  if (n == 0) {
    return;
  }
  printf("\ngain: how much lower the model's loss is than the n-gram's, a simple "
         "note-statistics model\n(it counts which notes follow which); lower loss means the "
         "model predicts real music better.\n");
  if (n_worse) {
    printf("verdict: WORSE than a simple note-statistics model on %s%s.\n"
           "  This model has not learnt %s and will play near-random notes. Train longer\n"
           "  (cantus-train --max-minutes, --resume), give it more pieces, or use --add-style "
           "with a\n  base model: cantus-train --base folk.cantus --add-style NAME FOLDER -o "
           "NEW.cantus\n",
           worse,
           n_worse == n && n > 1 ? " (every style scored)" : "",
           n_worse == 1 ? "the style" : "those styles");
  }
  if (n_slight) {
    printf("verdict: only slightly better than a simple note-statistics model on %s (less "
           "than 5%%).\n  Expect little of the style there; more pieces or longer training "
           "help.\n",
           slight);
  }
  if (!n_worse && !n_slight) {
    printf("verdict: better than a simple note-statistics model on every style scored: the "
           "model\n  has learnt something of each style beyond note counts.\n");
  }
}

// The loss table: model, accuracy, n-gram and the model's gain per style.
static void print_losses(const EvalOptions *op,
                         const CantusModel *m,
                         const char *split_name,
                         const Scores *sc,
                         const GenReport *gr)
{
  const CantusDims *d = &m->dims;
  printf("%s: %s split, nats/token; n-gram: interpolated Kneser-Ney, order %d (%s)\n",
         op->model_path,
         split_name,
         sc->best_order,
         sc->order_unchosen ? "no validation pieces to choose on: the longest" : "best on valid");
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
    if (!sc->lstm_n[s]) {
      continue;
    }
    double l = sc->lstm_sum[s] / (double)sc->lstm_n[s];
    double g = sc->ng_n[s] ? sc->ng_sum[s] / (double)sc->ng_n[s] : (double)NAN;
    printf("%-12s %6d %8llu %8.4f %7.1f%% %8.4f %+7.1f%%%s\n",
           m->style_names[s],
           gr->n_pieces_real[s],
           (unsigned long long)sc->lstm_n[s],
           l,
           100.0 * (double)sc->lstm_ok[s] / (double)sc->lstm_n[s],
           g,
           100.0 * (g - l) / g,
           l < g ? "" : "  worse");
    ts += sc->lstm_sum[s];
    tn += (double)sc->lstm_n[s];
    ok += (double)sc->lstm_ok[s];
    ns += sc->ng_sum[s];
    nn += (double)sc->ng_n[s];
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
  print_verdict(sc, m);
}

// The generation table: notes per quarter and the histogram distances.
static void print_generated(const EvalOptions *op,
                            const CantusModel *m,
                            const char *split_name,
                            const GenReport *gr)
{
  const CantusDims *d = &m->dims;
  printf("\ngenerated (%d pieces x %d bars per style, engine, temperature %.2f) vs real %s "
         "pieces:\n",
         op->n_gen,
         op->bars,
         (double)op->temperature,
         split_name);
  printf("%-12s %7s %7s", "style", "notes/q", "real");
  for (int k = 0; k < CANTUS_GEN_N_DIST; k++) {
    printf(" %9s", cantus_genstats_dist_name(k));
  }
  printf(" %9s  nearest other real style\n", "train-ref");
  for (uint32_t s = 0; s < d->n_styles; s++) {
    if (!gr->have[s]) {
      continue;
    }
    printf("%-12s %7.2f %7.2f",
           m->style_names[s],
           cantus_genstats_notes_per_quarter(&gr->gen[s]),
           cantus_genstats_notes_per_quarter(&gr->real[s]));
    for (int k = 0; k < CANTUS_GEN_N_DIST; k++) {
      printf(" %9.3f", gr->dist[s][k]);
    }
    printf(" %9.3f", gr->floor_d[s]);
    if (gr->nearest[s] >= 0) {
      printf("  %s %.3f%s",
             m->style_names[gr->nearest[s]],
             gr->cross[s],
             gr->cross[s] < gr->dist[s][CANTUS_GEN_N_DIST - 1] ? " (closer than own style)" : "");
    }
    printf("\n");
  }
  printf("distances: total variation (0 = same histogram, 1 = disjoint); 'all' is their mean\n");
}

// The measures of form, generated beside real, per style.
static void print_form(const EvalOptions *op,
                       const CantusModel *m,
                       const char *split_name,
                       const GenReport *gr)
{
  char bars[48] = "";
  if (op->form_bars > 0) {
    snprintf(bars, sizeof bars, ", first %d bars", op->form_bars);
  }
  printf("\nform (models/README.md \"Measures of form\"%s): generated (voices by rank) vs real %s "
         "pieces (voices by track; par-rank: by rank):\n",
         bars,
         split_name);
  printf("%-12s %-5s %-4s %6s", "style", "metre", "set", "pieces");
  for (int k = 0; k < CANTUS_FORM_N; k++) {
    printf(" %12s", cantus_form_name((CantusFormMeasure)k));
  }
  printf(" %12s\n", "par-rank");
  for (uint32_t s = 0; s < m->dims.n_styles; s++) {
    if (!gr->have[s]) {
      continue;
    }
    char metre[16];
    snprintf(metre, sizeof metre, "%d/%d", gr->metre_num[s], gr->metre_den[s]);
    for (int set = 0; set < 2; set++) {
      const CantusFormCounts *f = set ? &gr->form_real[s] : &gr->form_gen[s];
      const CantusFormCounts *r = set ? &gr->form_real_rank[s] : &gr->form_gen[s];
      printf("%-12s %-5s %-4s %6d", m->style_names[s], metre, set ? "real" : "gen", f->pieces);
      for (int k = 0; k < CANTUS_FORM_N; k++) {
        printf(" %12.3f", cantus_form_value(f, (CantusFormMeasure)k));
      }
      printf(" %12.3f\n", cantus_form_value(r, CANTUS_FORM_PARALLELS));
    }
  }
  printf("ratios 0..1 but long/32 (notes of 8 beats or more per 32 bars) and par/100 (parallel "
         "fifths or octaves per 100 onsets); nan: nothing to count\n");
}

int main(int argc, char **argv)
{
  EvalOptions op;
  const int rc = parse_args(argc, argv, &op);
  if (rc >= 0) {
    return rc;
  }
  CantusError err;
  err.msg[0] = 0;
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  if (op.weights_given) {
    mo.weights = op.weights;
  }
  if (cantus_model_load(op.model_path, &mo, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    return 1;
  }
  const CantusDims *d = &m->dims;
  CantusCorpus c;
  if (load_corpus(&op, m, &c, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    cantus_model_free(m);
    return 1;
  }
  int map[CANTUS_MAX_STYLES];
  map_styles(&op, m, &c, map);
  static Scores sc; // zeroed
  if (score_ngram(&op, d, &c, map, &sc, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    return 1;
  }
  // The model on the same tokens: pieces renumbered to model styles (and,
  // with --chords off, every chord input "no chord").
  for (int i = 0; i < c.n_pieces; i++) {
    for (uint32_t k = 0; op.no_chords && c.pieces[i].form && k < c.pieces[i].n_tok; k++) {
      c.pieces[i].form[k].chord = 0;
    }
    int ms = map[c.pieces[i].style];
    if (ms < 0) {
      c.pieces[i].split = -1;
    } else {
      c.pieces[i].style = ms;
    }
  }
  if (op.weights_given) {
    score_runtime(&op, m, &c, &sc);
  } else if (cantus_train_evaluate(
               d, m->p.tok_emb, &c, op.split, 32, 64, sc.lstm_sum, sc.lstm_n, sc.lstm_ok, &err) !=
             CANTUS_OK) {
    fprintf(stderr, "cantus-eval: %s\n", err.msg);
    return 1;
  }
  static GenReport gr; // zeroed; large
  real_stats(&op, m, &c, &gr);
  if (op.n_gen > 0) {
    real_form(&op, m, &c, &gr);
  }
  generate_and_compare(&op, m, &gr);

  const char *split_name = op.split == CANTUS_SPLIT_TEST    ? "test"
                           : op.split == CANTUS_SPLIT_VALID ? "valid"
                                                            : "train (in-sample for the n-gram)";
  if (op.json) {
    print_json(&op, m, split_name, &sc, &gr);
  } else {
    print_losses(&op, m, split_name, &sc, &gr);
    if (gr.gen_ok) {
      print_generated(&op, m, split_name, &gr);
      print_form(&op, m, split_name, &gr);
    }
  }
  cantus_corpus_free(&c);
  cantus_model_free(m);
  return 0;
}
