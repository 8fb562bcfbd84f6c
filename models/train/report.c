// SPDX-License-Identifier: GPL-3.0-or-later
// The trainer's reports and outputs: the model line and the progress line
// (a redrawn bar on a terminal, a line a minute in a log), the CSV log and
// the SVG plot of the loss curves per epoch, and the model file with its
// metadata (corpus, command, seed, losses, metres, provenance of a --base
// model).  Non-RT.
#include "train_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void fmt_time(char *b, size_t n, double s)
{
  if (!isfinite(s) || s < 0) {
    snprintf(b, n, "--:--");
  } else if (s >= 3600) {
    snprintf(b, n, "%d:%02d:%02d", (int)(s / 3600), (int)(s / 60) % 60, (int)s % 60);
  } else {
    snprintf(b, n, "%d:%02d", (int)(s / 60), (int)s % 60);
  }
}

void train_report_model(const Trainer *tr)
{
  char blas[128];
  cantus_train_blas_info(blas, sizeof blas);
  if (tr->cfg->log) {
    fprintf(tr->cfg->log,
            "model: %u layers x %u hidden, embed %u, style %u x %u, vocab %d, %zu parameters "
            "(%.1f MB)\n%s; lstm kernels: %s\n",
            tr->d.n_layers,
            tr->d.n_hidden,
            tr->d.n_embed,
            tr->d.n_styles,
            tr->d.n_style_dim,
            cantus_vocab_size(&tr->d.vocab),
            tr->n_params,
            (double)tr->n_params * 4.0 / 1e6,
            blas,
            cantus_lstm_isa_name(cantus_lstm_isa()));
  }
}

// The progress line, at most twice a second on a terminal and once a minute
// in a log, and always when the run stops: epoch, share of it done, train
// loss so far, last validation loss, rate and the time left.
void train_report_progress(const Trainer *tr,
                           TrainProgress *pr,
                           int n_chunks,
                           float lr,
                           double t,
                           double elapsed,
                           bool stop)
{
  const CantusTrainConfig *cfg = tr->cfg;
  FILE *log = cfg->log;
  const bool tty = pr->tty;
  if (!(log && (t - pr->last_print >= (tty ? 0.5 : 60.0) || stop))) {
    return;
  }
  pr->last_rate = (double)(tr->ls.tokens_total - pr->tokens_at_print) / (t - pr->last_print + 1e-9);
  pr->tokens_at_print = tr->ls.tokens_total;
  pr->last_print = t;
  double ep_frac = (double)tr->ls.chunk / n_chunks;
  double rate_steps = (double)pr->steps_this_run / (t - pr->t_start + 1e-9);
  double left = ((double)(cfg->epochs - tr->ls.epoch) - ep_frac) * n_chunks / rate_steps;
  if (cfg->max_minutes > 0 && cfg->max_minutes * 60.0 - elapsed < left) {
    left = cfg->max_minutes * 60.0 - elapsed;
  }
  char eta[32];
  fmt_time(eta, sizeof eta, left);
  char vbuf[24] = "-"; // no validation before the first epoch ends
  if (tr->ls.n_log && isfinite(tr->ls.log[tr->ls.n_log - 1].valid_loss)) {
    snprintf(vbuf, sizeof vbuf, "%.4f", tr->ls.log[tr->ls.n_log - 1].valid_loss);
  }
  double tl = tr->ls.ep_scored ? tr->ls.ep_loss_sum / (double)tr->ls.ep_scored : (double)NAN;
  if (tty) {
    char bar[21];
    int fill = (int)(ep_frac * 20);
    for (int i = 0; i < 20; i++) {
      bar[i] = i < fill ? '#' : '.';
    }
    bar[20] = 0;
    fprintf(log,
            "\repoch %d/%d [%s] %3.0f%% train %.4f valid %s  %.0f tok/s  left %s   ",
            tr->ls.epoch + 1,
            cfg->epochs,
            bar,
            100 * ep_frac,
            tl,
            vbuf,
            pr->last_rate,
            eta);
  } else {
    fprintf(log,
            "epoch %d/%d %.0f%% step %ld train %.4f valid %s lr %.2g %.0f tok/s left %s\n",
            tr->ls.epoch + 1,
            cfg->epochs,
            100 * ep_frac,
            tr->ls.step,
            tl,
            vbuf,
            (double)lr,
            pr->last_rate,
            eta);
  }
  fflush(log);
}

void train_write_csv(const Trainer *tr)
{
  char path[4200];
  snprintf(path, sizeof path, "%s.csv", tr->log_prefix);
  FILE *f = fopen(path, "w");
  if (!f) {
    if (tr->cfg->log) {
      fprintf(tr->cfg->log, "warning: cannot write %s: %s\n", path, strerror(errno));
    }
    return;
  }
  fprintf(f, "epoch,steps,tokens,seconds,lr,train_loss,valid_loss,tokens_per_s");
  for (uint32_t s = 0; s < tr->d.n_styles; s++) {
    fprintf(f, ",valid_%s", tr->style_names[s]);
  }
  fprintf(f, "\n");
  for (int e = 0; e < tr->ls.n_log; e++) {
    const EpochLog *l = &tr->ls.log[e];
    fprintf(f,
            "%d,%ld,%llu,%.1f,%.6g,%.5f,%.5f,%.0f",
            e + 1,
            l->steps,
            (unsigned long long)l->tokens,
            l->seconds,
            l->lr,
            l->train_loss,
            l->valid_loss,
            l->tok_s);
    for (uint32_t s = 0; s < tr->d.n_styles; s++) {
      fprintf(f, ",%.5f", (double)l->style_valid[s]);
    }
    fprintf(f, "\n");
  }
  fclose(f);
}

void train_write_svg(const Trainer *tr)
{
  char path[4200];
  snprintf(path, sizeof path, "%s.svg", tr->log_prefix);
  FILE *f = fopen(path, "w");
  if (!f) {
    return;
  }
  const int W = 640, Hh = 400, x0 = 60, y0 = 20, pw = 550, ph = 320;
  int n = tr->ls.n_log;
  double lo = INFINITY, hi = -INFINITY;
  for (int e = 0; e < n; e++) {
    const double vals[2] = { tr->ls.log[e].train_loss, tr->ls.log[e].valid_loss };
    for (int j = 0; j < 2; j++) {
      if (isfinite(vals[j])) {
        lo = vals[j] < lo ? vals[j] : lo;
        hi = vals[j] > hi ? vals[j] : hi;
      }
    }
  }
  if (!(hi > lo)) {
    lo = isfinite(lo) ? lo - 0.5 : 0.0;
    hi = lo + 1.0;
  }
  double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
          "<text x=\"%d\" y=\"14\">%s: loss (nats/token) per epoch</text>\n"
          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
          W,
          Hh,
          x0,
          tr->cfg->model_name,
          x0,
          y0,
          pw,
          ph);
  for (int i = 0; i <= 4; i++) {
    double v = lo + (hi - lo) * i / 4.0;
    double y = y0 + ph - (v - lo) / (hi - lo) * ph;
    fprintf(f,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n",
            x0,
            y,
            x0 + pw,
            y,
            x0 - 4,
            y + 4,
            v);
  }
  int xt = n > 1 ? n : 1;
  for (int e = 0; e < n; e += (n > 10 ? n / 10 : 1)) {
    double x = x0 + (n > 1 ? (double)e / (n - 1) * pw : pw / 2.0);
    fprintf(
      f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, y0 + ph + 16, e + 1);
  }
  (void)xt;
  fprintf(
    f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", x0 + pw / 2, y0 + ph + 34);
  static const char *colors[2] = { "#1f77b4", "#ff7f0e" };
  static const char *labels[2] = { "train", "validation" };
  for (int j = 0; j < 2; j++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[j]);
    for (int e = 0; e < n; e++) {
      double v = j == 0 ? tr->ls.log[e].train_loss : tr->ls.log[e].valid_loss;
      if (!isfinite(v)) {
        continue;
      }
      double x = x0 + (n > 1 ? (double)e / (n - 1) * pw : pw / 2.0);
      double y = y0 + ph - (v - lo) / (hi - lo) * ph;
      fprintf(f, "%.1f,%.1f ", x, y);
    }
    fprintf(f,
            "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n",
            x0 + pw - 90,
            y0 + 18 + 16 * j,
            colors[j],
            labels[j]);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
}

// The style named (case-insensitive) by --default-style, or -1.
int train_default_style_index(const Trainer *tr, const char *name)
{
  for (uint32_t i = 0; i < tr->d.n_styles; i++) {
    if (!strcasecmp(tr->style_names[i], name)) {
      return (int)i;
    }
  }
  return -1;
}

CantusStatus train_write_model(const Trainer *tr, CantusError *err)
{
  const CantusTrainConfig *cfg = tr->cfg;
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  CantusStatus s = cantus_model_create(&tr->d, &mo, &m, err);
  if (s) {
    return s;
  }
  memcpy(m->p.tok_emb, tr->best, tr->n_params * sizeof(float));
  snprintf(m->name, sizeof m->name, "%s", cfg->model_name);
  for (uint32_t i = 0; i < tr->d.n_styles; i++) {
    cantus_model_set_style_name(m, (int)i, tr->style_names[i]);
  }
  for (int k = 0; k < tr->d.vocab.n_parts; k++) {
    cantus_model_set_part_name(m, k, tr->corpus.part_names[k]);
  }
  size_t cap = CANTUS_META_MAX;
  char *meta = malloc(cap);
  if (!meta) {
    cantus_model_free(m);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "out of memory");
  }
  size_t at = 0;
#define META(...)                                          \
  do {                                                     \
    if (at < cap) {                                        \
      int w_ = snprintf(meta + at, cap - at, __VA_ARGS__); \
      at += w_ > 0 ? (size_t)w_ : 0;                       \
    }                                                      \
  } while (0)
  time_t now = time(NULL);
  struct tm tmv;
  gmtime_r(&now, &tmv);
  char date[64];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  META("model: %s\n", cfg->model_name);
  META("corpus:");
  for (int i = 0; i < cfg->n_corpus_dirs; i++) {
    META(" %s", cfg->corpus_dirs[i]);
  }
  META("\n");
  int np[3] = { 0 };
  for (int i = 0; i < tr->corpus.n_pieces; i++) {
    np[tr->corpus.pieces[i].split]++;
  }
  META("corpus_pieces: train %d, valid %d, test %d\n", np[0], np[1], np[2]);
  META("tracks: %s\n", cfg->corpus.tracks && *cfg->corpus.tracks ? cfg->corpus.tracks : "all");
  META("drums: %s\n", cfg->corpus.keep_drums ? "kept" : "skipped");
  META("position: input token's tick; tick-in-quarter %u classes, quarter-in-bar %u classes\n",
       tr->d.n_pos_tick,
       tr->d.n_pos_beat);
  if (cantus_dims_is_v2(&tr->d)) {
    META("format: 2 (notes with part and duration, %u duration bins)\n", tr->d.vocab.n_dur);
    META("parts:");
    for (int k = 0; k < tr->d.vocab.n_parts; k++) {
      META("%s%s", k ? ", " : " ", tr->corpus.part_names[k]);
    }
    META("\n");
    META("form: lookback lags 0x%x (1/2/4/8 bars), phrase %u classes, bars left %u classes, end "
         "dropout %.2f\n",
         tr->d.lookback_lags,
         tr->d.n_phrase,
         tr->d.n_bars_left,
         (double)cfg->end_dropout);
    if (tr->d.n_chord) {
      META("chords: %u inputs (12 pitch classes + no chord), from %d accompaniments (half-bar "
           "windows) and %d sets of lower voices (beats), chord dropout %.2f (spans %.2f)\n",
           tr->d.n_chord,
           tr->corpus.n_chord_pieces[0],
           tr->corpus.n_chord_pieces[1],
           (double)cfg->chord_dropout,
           0.5 * (double)cfg->chord_dropout);
    } else {
      META("chords: none\n");
    }
  }
  META("command: %s\n", cfg->command_line ? cfg->command_line : "(library call)");
  char blas[128];
  cantus_train_blas_info(blas, sizeof blas);
  META("trainer: cantus-train, %s\n", blas);
  META("seed: %llu\n", (unsigned long long)cfg->seed);
  META("epochs: %d (best %d)\n", tr->ls.n_log, tr->ls.best_epoch);
  META("steps: %ld\n", tr->ls.step);
  META("tokens_trained: %llu\n", (unsigned long long)tr->ls.tokens_total);
  META("train_seconds: %.0f\n", tr->ls.seconds);
  META("valid_loss: %.4f\n", tr->ls.best_valid);
  if (tr->ls.best_epoch > 0) {
    const EpochLog *l = &tr->ls.log[tr->ls.best_epoch - 1];
    for (uint32_t s2 = 0; s2 < tr->d.n_styles; s2++) {
      if (isfinite(l->style_valid[s2])) {
        META("valid_loss.%s: %.4f\n", tr->style_names[s2], (double)l->style_valid[s2]);
      }
    }
  }
  for (int s2 = 0; s2 < tr->corpus.n_styles; s2++) {
    int idx = tr->base_meta ? tr->new_style : s2;
    META("metre.%s: %u/%u\n",
         tr->style_names[idx],
         tr->corpus.styles[s2].ts_num,
         tr->corpus.styles[s2].ts_den);
  }
  // Each style's usual metre (most bars of its training pieces), one line
  // that cantus_model_meta_get(m, "meter") reads; --add-style appends the
  // new style to the base model's list.
  char base_meter[2048] = "";
  if (tr->base_meta) {
    const char *q = tr->base_meta;
    while (*q) {
      const char *e = strchr(q, '\n');
      const size_t len = e ? (size_t)(e - q) : strlen(q);
      if (len > 6 && !strncmp(q, "meter:", 6)) {
        const char *v = q + 6;
        while (*v == ' ') {
          v++;
        }
        snprintf(base_meter, sizeof base_meter, "%.*s", (int)(len - (size_t)(v - q)), v);
      }
      q += len + (e ? 1 : 0);
    }
  }
  META("meter: %s", base_meter);
  for (int s2 = 0; s2 < tr->corpus.n_styles; s2++) {
    int idx = tr->base_meta ? tr->new_style : s2;
    META("%s%s=%u/%u",
         (s2 || base_meter[0]) ? "," : "",
         tr->style_names[idx],
         tr->corpus.styles[s2].meter_num,
         tr->corpus.styles[s2].meter_den);
  }
  META("\n");
  META("date: %s\n", date);
  if (cfg->default_style) {
    // The style players hear first (cantus_model_default_style()).
    META("default_style: %s\n", tr->style_names[train_default_style_index(tr, cfg->default_style)]);
  }
  if (tr->base_meta) {
    META("base_model: %s\n", cfg->base_path);
    META("added_style: %s (%s)\n",
         tr->style_names[tr->new_style],
         cfg->add_style_output ? "style vector and output layer" : "style vector only");
    // Keep the base model's history, prefixed, but its metre lines (both
    // spellings, cantus_model_style_meter) and default style as they are.
    const char *q = tr->base_meta;
    while (*q && at + 8 < cap) {
      const char *e = strchr(q, '\n');
      size_t len = e ? (size_t)(e - q) : strlen(q);
      if (strncmp(q, "meter:", 6) == 0) {
        // merged into this model's meter line above
      } else if (strncmp(q, "metre.", 6) == 0 ||
                 (strncmp(q, "default_style:", 14) == 0 && !cfg->default_style)) {
        META("%.*s\n", (int)len, q);
      } else if (len > 0) {
        META("base.%.*s\n", (int)len, q);
      }
      q += len + (e ? 1 : 0);
    }
  }
#undef META
  meta[cap - 1] = 0;
  s = cantus_model_set_meta(m, meta, err);
  free(meta);
  if (!s) {
    cantus_model_finish(m);
    s = cantus_model_save(m, cfg->out_path, err);
  }
  cantus_model_free(m);
  return s;
}
