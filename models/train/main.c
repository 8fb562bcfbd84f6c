// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-train: the command line of the offline trainer.  Parses options
// into a CantusTrainConfig, installs the Ctrl-C handler (first press:
// checkpoint and exit; second: exit now), and runs train.c's loop.  With
// --resume CHECKPOINT alone it re-reads the original arguments from the
// checkpoint; options given after it override them.  Non-RT.
#include "args.h"
#include "genstats.h"
#include "train.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "cantus-train"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: cantus-train CORPUS_DIR... -o MODEL.cantus [options]\n"
          "       cantus-train --resume MODEL.ckpt [options to override]\n"
          "       cantus-train --base MODEL.cantus --add-style NAME DIR -o NEW.cantus [options]\n"
          "A corpus is a flat folder of .mid files (one style, named after the folder) or a\n"
          "folder with one sub-folder of .mid files per style, and an optional split.tsv\n"
          "(file, style, train/valid/test); several folders merge styles by name.  A model\n"
          "from scratch needs about a hundred tunes or more; for a few dozen, use --add-style\n"
          "on the shipped folk model (models/folk.cantus here, else the data folder's).\n"
          "corpus:\n"
          "  --styles A,B,...      use only these style folders\n"
          "  --tracks LIST         keep only these tracks (names) or channels (ch1..ch16)\n"
          "  --keep-drums          keep MIDI channel 10 (skipped by default)\n"
          "  --pitch-range LO-HI   MIDI pitches with tokens (default 21-108)\n"
          "  --tpq N               grid ticks per quarter note (default 12)\n"
          "  --shifts N            longest time-shift token in ticks (default 4*tpq)\n"
          "  --beats N             quarter-in-bar position classes (default 8)\n"
          "  --transpose LO,HI     augmentation range in semitones (default -5,6)\n"
          "  --format 1|2          model format (default 1: the NOTE_ON/NOTE_OFF model; 2: notes\n"
          "                        with part and duration, form inputs: lookback 1/2/4/8 bars,\n"
          "                        phrase bar, bars left; the shipped models are still format 1).\n"
          "                        --add-style keeps the base's format\n"
          "  --parts A,B,...       format 2: the parts, as track names (default: every track\n"
          "                        name with notes in the corpus, in order of first appearance)\n"
          "  --end-dropout F       format 2: share of pieces per epoch trained with the end\n"
          "                        unknown (0.3)\n"
          "  --chords auto|off     format 2: the chord input (auto: when the corpus has chord\n"
          "                        parts: an accompaniment track, or alto/tenor/bass tracks)\n"
          "  --chord-dropout F     format 2 with chords: share of pieces per epoch trained with\n"
          "                        no chord throughout; the others lose the chord in random\n"
          "                        spans of 64 tokens at half that rate (0.3)\n");
  fprintf(f,
          "network:\n"
          "  --layers N (2)  --hidden N (256)  --embed N (64)  --style-dim N (16)\n"
          "training:\n"
          "  --epochs N (20)  --batch N (32)  --bptt N (64)\n"
          "  --lr X (2e-3)  --lr-min F (final rate as a fraction, 0.05)  --warmup STEPS (200)\n"
          "  --schedule cosine|plateau|constant (cosine)  --patience EPOCHS (3)\n"
          "  --dropout X (0.1)  --weight-decay X (0.01)  --clip NORM (1.0)\n"
          "  --threads N (all cores)  --seed N (1)  --max-steps N\n"
          "  --max-minutes X       stop (checkpoint, best model) after X minutes of training in\n"
          "                        total, resumed runs included\n"
          "  --name NAME           model name stored in the file\n"
          "  --default-style NAME  the style players hear first (cantus-gen, cantus-jack, the\n"
          "                        LV2 style port's default when shipped); default: the first\n"
          "  --log PREFIX          write PREFIX.csv, PREFIX.svg, PREFIX.ckpt (default: from -o)\n"
          "  --resume CKPT         continue a run exactly where it stopped\n"
          "  --dump-chunks FILE    with --dropout 0: write the initial weights, every chunk and\n"
          "                        loss for tests/ref/replay_train.py (PyTorch replay)\n"
          "  --base MODEL --add-style NAME DIR [--train-output]\n"
          "                        learn only a new style vector (and the output layer)\n"
          "  -q, --quiet           no per-file corpus messages\n"
          "  -h, --help            print this help\n"
          "  --version             print the version\n"
          "sampling (the plugin's engine, step, sampler and vocabulary):\n"
          "  cantus-train --sample MODEL -o OUT.mid [--style NAME|N (N from 1; the default\n"
          "               style)] [--bars N (16, at most 1000)] [--seed N (1)]\n"
          "               [--meter N/D (the style's)] [--temperature T (1)]\n"
          "               same notes as cantus-gen with the same model, style, seed, bars and\n"
          "               meter at 120 quarter notes per minute\n"
          "benchmark: cantus-train --bench [--hidden N --layers N --batch N --bptt N --threads N]\n"
          "               [--steps N]   training tokens/s on random tokens (make bench-train)\n"
          "OpenBLAS: the core in use is printed at start; if it says Prescott on a modern CPU,\n"
          "set OPENBLAS_CORETYPE (e.g. Haswell, SkylakeX, Zen) for 2-4x the speed.\n");
  cantus_args_datadir_help(f);
}

static void on_sigint(int sig)
{
  (void)sig;
  cantus_train_interrupt = 1;
  signal(SIGINT, SIG_DFL); // a second Ctrl-C ends the process at once
}

typedef struct {
  const char *dirs[64];
  int n_dirs;
  const char *add_dir;
  char *log_prefix;
  int format; // --format: 1 or 2; 0 = not given (1 until the shipped models are format 2)
} Args;

// Parses argv[first..argc) into cfg/a.  Returns 0, or 2 after printing
// the problem.
static int parse(int argc,
                 char **argv,
                 int first,
                 CantusTrainConfig *cfg,
                 Args *a,
                 bool *shifts_set)
{
  for (int i = first; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    long n;
    double x;
#define NEED()                                                      \
  do {                                                              \
    if (!v) {                                                       \
      return cantus_args_usage(PROG, "option %s needs a value", o); \
    }                                                               \
    i++;                                                            \
  } while (0)
#define INT(lo, hi)                                      \
  do {                                                   \
    NEED();                                              \
    if (!cantus_args_long(PROG, o, v, (lo), (hi), &n)) { \
      return 2;                                          \
    }                                                    \
  } while (0)
#define FLT(lo, hi)                                        \
  do {                                                     \
    NEED();                                                \
    if (!cantus_args_double(PROG, o, v, (lo), (hi), &x)) { \
      return 2;                                            \
    }                                                      \
  } while (0)
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(o, "--version")) {
      cantus_args_version(PROG);
      exit(0);
    } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
      NEED();
      cfg->out_path = v;
    } else if (!strcmp(o, "--styles")) {
      NEED();
      cfg->corpus.styles = v;
    } else if (!strcmp(o, "--tracks")) {
      NEED();
      cfg->corpus.tracks = v;
    } else if (!strcmp(o, "--keep-drums")) {
      cfg->corpus.keep_drums = true;
    } else if (!strcmp(o, "--pitch-range")) {
      NEED();
      int lo = -1, hi = -1;
      if (sscanf(v, "%d-%d", &lo, &hi) != 2 || lo < 0 || hi > 127 || lo > hi) {
        fprintf(stderr, "cantus-train: --pitch-range: '%s' is not LO-HI within 0-127\n", v);
        return 2;
      }
      cfg->corpus.vocab.pitch_lo = (uint8_t)lo;
      cfg->corpus.vocab.pitch_hi = (uint8_t)hi;
    } else if (!strcmp(o, "--tpq")) {
      INT(1, 96);
      cfg->corpus.vocab.tpq = (uint16_t)n;
    } else if (!strcmp(o, "--shifts")) {
      INT(1, 384);
      cfg->corpus.vocab.n_shift = (uint16_t)n;
      *shifts_set = true;
    } else if (!strcmp(o, "--format")) {
      INT(1, 2);
      a->format = (int)n;
    } else if (!strcmp(o, "--parts")) {
      NEED();
      cfg->corpus.parts = v;
    } else if (!strcmp(o, "--end-dropout")) {
      FLT(0.0, 1.0);
      cfg->end_dropout = (float)x;
    } else if (!strcmp(o, "--chords")) {
      NEED();
      if (!strcmp(v, "auto")) {
        cfg->chords = CANTUS_TRAIN_CHORDS_AUTO;
      } else if (!strcmp(v, "off")) {
        cfg->chords = CANTUS_TRAIN_CHORDS_OFF;
      } else {
        fprintf(stderr, "cantus-train: --chords: '%s' is not auto or off\n", v);
        return 2;
      }
    } else if (!strcmp(o, "--chord-dropout")) {
      FLT(0.0, 1.0);
      cfg->chord_dropout = (float)x;
    } else if (!strcmp(o, "--beats")) {
      INT(1, 64);
      cfg->corpus.n_pos_beat = (int)n;
    } else if (!strcmp(o, "--transpose")) {
      NEED();
      int lo, hi;
      if (sscanf(v, "%d,%d", &lo, &hi) != 2 || lo > hi || lo < -24 || hi > 24) {
        fprintf(stderr, "cantus-train: --transpose: '%s' is not LO,HI within -24,24\n", v);
        return 2;
      }
      cfg->transpose_lo = lo;
      cfg->transpose_hi = hi;
    } else if (!strcmp(o, "--layers")) {
      INT(1, CANTUS_MAX_LAYERS);
      cfg->dims.n_layers = (uint32_t)n;
    } else if (!strcmp(o, "--hidden")) {
      INT(16, CANTUS_MAX_HIDDEN);
      cfg->dims.n_hidden = (uint32_t)n;
    } else if (!strcmp(o, "--embed")) {
      INT(1, CANTUS_MAX_EMBED);
      cfg->dims.n_embed = (uint32_t)n;
    } else if (!strcmp(o, "--style-dim")) {
      INT(1, CANTUS_MAX_EMBED);
      cfg->dims.n_style_dim = (uint32_t)n;
    } else if (!strcmp(o, "--epochs")) {
      INT(1, 10000);
      cfg->epochs = (int)n;
    } else if (!strcmp(o, "--batch")) {
      INT(1, 4096);
      cfg->batch = (int)n;
    } else if (!strcmp(o, "--bptt")) {
      INT(2, 4096);
      cfg->bptt = (int)n;
    } else if (!strcmp(o, "--lr")) {
      FLT(1e-7, 10.0);
      cfg->lr = (float)x;
    } else if (!strcmp(o, "--lr-min")) {
      FLT(0.0, 1.0);
      cfg->lr_min_frac = (float)x;
    } else if (!strcmp(o, "--warmup")) {
      INT(0, 100000000);
      cfg->warmup_steps = (int)n;
    } else if (!strcmp(o, "--schedule")) {
      NEED();
      if (!strcmp(v, "cosine")) {
        cfg->schedule = 0;
      } else if (!strcmp(v, "plateau")) {
        cfg->schedule = 1;
      } else if (!strcmp(v, "constant")) {
        cfg->schedule = 2;
      } else {
        fprintf(stderr, "cantus-train: --schedule: '%s' is not cosine, plateau or constant\n", v);
        return 2;
      }
    } else if (!strcmp(o, "--patience")) {
      INT(0, 100000);
      cfg->patience = (int)n;
    } else if (!strcmp(o, "--dropout")) {
      FLT(0.0, 0.9);
      cfg->dropout = (float)x;
    } else if (!strcmp(o, "--weight-decay")) {
      FLT(0.0, 1.0);
      cfg->weight_decay = (float)x;
    } else if (!strcmp(o, "--clip")) {
      FLT(0.0, 1e6);
      cfg->clip = (float)x;
    } else if (!strcmp(o, "--threads")) {
      INT(0, 256);
      cfg->threads = (int)n;
    } else if (!strcmp(o, "--seed")) {
      INT(0, 2147483647L);
      cfg->seed = (uint64_t)n;
    } else if (!strcmp(o, "--max-minutes")) {
      FLT(0.0, 1e7);
      cfg->max_minutes = x;
    } else if (!strcmp(o, "--max-steps")) {
      INT(0, 2000000000L);
      cfg->max_steps = n;
    } else if (!strcmp(o, "--dump-chunks")) {
      NEED();
      cfg->dump_path = v;
    } else if (!strcmp(o, "--name")) {
      NEED();
      cfg->model_name = v;
    } else if (!strcmp(o, "--default-style")) {
      NEED();
      cfg->default_style = v;
    } else if (!strcmp(o, "--log")) {
      NEED();
      a->log_prefix = (char *)v;
    } else if (!strcmp(o, "--resume")) {
      NEED();
      cfg->resume_path = v;
    } else if (!strcmp(o, "--base")) {
      NEED();
      cfg->base_path = v;
    } else if (!strcmp(o, "--add-style")) {
      if (i + 2 >= argc) {
        fprintf(stderr, "cantus-train: --add-style needs NAME DIR\n");
        return 2;
      }
      cfg->add_style = argv[++i];
      a->add_dir = argv[++i];
    } else if (!strcmp(o, "--train-output")) {
      cfg->add_style_output = true;
    } else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
      cfg->corpus.quiet = true;
    } else if (o[0] == '-' && o[1]) {
      return cantus_args_unknown(PROG, o);
    } else {
      if (a->n_dirs >= 64) {
        fprintf(stderr, "cantus-train: too many corpus folders\n");
        return 2;
      }
      a->dirs[a->n_dirs++] = o;
    }
#undef NEED
#undef INT
#undef FLT
  }
  return 0;
}

// Joins args with sep; quote=true quotes arguments with spaces (display).
static char *join(int argc, char **argv, char sep, bool quote)
{
  size_t len = 1;
  for (int i = 0; i < argc; i++) {
    len += strlen(argv[i]) + 3;
  }
  char *s = malloc(len);
  if (!s) {
    return NULL;
  }
  s[0] = 0;
  for (int i = 0; i < argc; i++) {
    if (i) {
      strncat(s, (char[]){ sep, 0 }, 2);
    }
    bool q = quote && (strchr(argv[i], ' ') || !argv[i][0]);
    if (q) {
      strcat(s, "'");
    }
    strcat(s, argv[i]);
    if (q) {
      strcat(s, "'");
    }
  }
  return s;
}

static int sample_main(int argc, char **argv)
{
  const char *model = NULL, *out = NULL, *style = NULL, *meter = NULL;
  long bars = 16, seed = 1;
  double temp = 1.0;
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool ok = true;
    if (!strcmp(o, "-o") && v) {
      out = v;
    } else if (!strcmp(o, "--style") && v) {
      style = v;
    } else if (!strcmp(o, "--meter") && v) {
      meter = v;
    } else if (!strcmp(o, "--bars") && v) {
      ok = cantus_args_long(PROG, o, v, 1, 1000, &bars); // as cantus-gen
    } else if (!strcmp(o, "--seed") && v) {
      ok = cantus_args_long(PROG, o, v, 0, 65535, &seed); // the engine's range
    } else if (!strcmp(o, "--temperature") && v) {
      ok = cantus_args_double(PROG, o, v, 0.0, 2.0, &temp);
    } else if (o[0] != '-' && !model) {
      model = o;
      continue;
    } else if (!v &&
               (!strcmp(o, "-o") || !strcmp(o, "--style") || !strcmp(o, "--meter") ||
                !strcmp(o, "--bars") || !strcmp(o, "--seed") || !strcmp(o, "--temperature"))) {
      return cantus_args_missing(PROG, o);
    } else {
      return cantus_args_unknown(PROG, o);
    }
    if (!ok) {
      return 2;
    }
    i++;
  }
  if (!model || !out) {
    fprintf(stderr,
            "usage: cantus-train --sample MODEL -o OUT.mid [--style S] [--bars N] "
            "[--seed N] [--meter N/D] [--temperature T]\n");
    return 2;
  }
  CantusError err;
  err.msg[0] = 0;
  CantusModel *m = NULL;
  CantusModelOptions mo = cantus_model_options_default();
  if (cantus_model_load(model, &mo, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-train: %s\n", err.msg);
    return 1;
  }
  int s = style ? cantus_model_find_style(m, style) : cantus_model_default_style(m);
  if (s < 0) {
    char list[CANTUS_MAX_STYLES * (CANTUS_STYLE_NAME_LEN + 4)];
    cantus_controls_style_list(m, list, sizeof list);
    fprintf(stderr, "cantus-train: %s has no style '%s' (%s)\n", model, style, list);
    cantus_model_free(m);
    return 1;
  }
  int num = 4, den = 4;
  char key[64], val[32];
  snprintf(key, sizeof key, "metre.%s", m->style_names[s]);
  if (meter) {
    if (sscanf(meter, "%d/%d", &num, &den) != 2 || num < 1 || num > 32 ||
        (den != 1 && den != 2 && den != 4 && den != 8 && den != 16)) {
      fprintf(stderr, "cantus-train --sample: --meter: '%s' is not N/D\n", meter);
      cantus_model_free(m);
      return 2;
    }
  } else if (cantus_model_meta_get(m, key, val, sizeof val)) {
    sscanf(val, "%d/%d", &num, &den);
  }
  size_t n = 0;
  CantusStatus st = cantus_genstats_sample_midi(
    m, s, num, den, (int)bars, (uint32_t)seed, (float)temp, out, &n, &err);
  if (st) {
    fprintf(stderr, "cantus-train: %s\n", err.msg);
  } else {
    fprintf(stderr,
            "wrote %s: %zu notes, style %s, %ld bars of %d/%d, seed %ld\n",
            out,
            n,
            m->style_names[s],
            bars,
            num,
            den,
            seed);
  }
  cantus_model_free(m);
  return st ? 1 : 0;
}

// --bench: training tokens per second on random tokens (make bench-train).
static int bench_main(int argc, char **argv)
{
  CantusTrainConfig cfg = cantus_train_config_default();
  cfg.corpus.vocab.pitch_lo = 0;
  cfg.corpus.vocab.pitch_hi = 124; // 300 tokens, as the reference figures
  long steps = 20;
  Args a;
  memset(&a, 0, sizeof a);
  bool shifts_set = false;
  // --steps is ours; everything else is a training option.
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int n = 0;
  for (int i = 2; rest && i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
      if (!cantus_args_long(PROG, "--steps", argv[++i], 1, 100000, &steps)) {
        free(rest);
        return 2;
      }
    } else {
      rest[n++] = argv[i];
    }
  }
  if (!rest || parse(n, rest, 0, &cfg, &a, &shifts_set)) {
    free(rest);
    return 2;
  }
  free(rest);
  if (a.format == 2) {
    cfg.corpus.vocab.n_dur = (uint16_t)cantus_vocab_dur_rule_len(cfg.corpus.vocab.tpq);
    cfg.corpus.vocab.n_parts = 2;
    cfg.dims.lookback_lags = 0xf;
    cfg.dims.n_phrase = CANTUS_PHRASE_BARS;
    cfg.dims.n_bars_left = CANTUS_BARS_LEFT_CLASSES;
  }
  cfg.dims.vocab = cfg.corpus.vocab;
  cfg.dims.n_pos_tick = cfg.corpus.vocab.tpq;
  cfg.dims.n_pos_beat = (uint32_t)cfg.corpus.n_pos_beat;
  cfg.dims.n_styles = 8;
  CantusError err;
  double tok_s = 0.0;
  if (cantus_train_bench(
        &cfg.dims, cfg.batch, cfg.bptt, cfg.dropout, (int)steps, cfg.threads, &tok_s, &err) !=
      CANTUS_OK) {
    fprintf(stderr, "cantus-train --bench: %s\n", err.msg);
    return 1;
  }
  char blas[128];
  cantus_train_blas_info(blas, sizeof blas);
  printf("cantus-train: hidden %u x %u layers, vocab %d, batch %d, bptt %d, dropout %.2f, %s: "
         "%.0f tokens/s\n",
         cfg.dims.n_hidden,
         cfg.dims.n_layers,
         cantus_vocab_size(&cfg.dims.vocab),
         cfg.batch,
         cfg.bptt,
         (double)cfg.dropout,
         blas,
         tok_s);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--version")) {
    cantus_args_version(PROG);
    return 0;
  }
  if (!strcmp(argv[1], "--sample")) {
    return sample_main(argc, argv);
  }
  if (!strcmp(argv[1], "--bench")) {
    return bench_main(argc, argv);
  }
  CantusTrainConfig cfg = cantus_train_config_default();
  Args a;
  memset(&a, 0, sizeof a);
  bool shifts_set = false;
  // --resume: the checkpoint's own arguments first, then this command line.
  const char *resume = NULL;
  for (int i = 1; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "--resume")) {
      resume = argv[i + 1];
    }
  }
  char *packed_old = NULL;
  char **old_argv = NULL;
  int old_argc = 0;
  if (resume) {
    CantusError err;
    packed_old = cantus_train_checkpoint_command(resume, &err);
    if (!packed_old) {
      fprintf(stderr, "cantus-train: %s\n", err.msg);
      return 1;
    }
    old_argv = calloc(strlen(packed_old) + 2, sizeof *old_argv);
    if (!old_argv) {
      return 1;
    }
    old_argv[old_argc++] = argv[0];
    for (char *p = packed_old; *p;) {
      old_argv[old_argc++] = p;
      char *e = strchr(p, '\x1f');
      if (!e) {
        break;
      }
      *e = 0;
      p = e + 1;
    }
    if (parse(old_argc, old_argv, 1, &cfg, &a, &shifts_set)) {
      return 2;
    }
    cfg.resume_path = resume;
  }
  int n_dirs_before = a.n_dirs;
  if (parse(argc, argv, 1, &cfg, &a, &shifts_set)) {
    return 2;
  }
  if (resume && a.n_dirs > n_dirs_before) {
    // Folders given again on the resume command line replace the stored ones.
    memmove(a.dirs, a.dirs + n_dirs_before, (size_t)(a.n_dirs - n_dirs_before) * sizeof *a.dirs);
    a.n_dirs -= n_dirs_before;
  }
  if (!shifts_set) {
    int ns = 4 * cfg.corpus.vocab.tpq;
    cfg.corpus.vocab.n_shift = (uint16_t)(ns > 48 && cfg.corpus.vocab.tpq == 12 ? 48 : ns);
  }
  if (a.format == 2) {
    // Version 2: every duration bin of the rule; the corpus sets the parts.
    cfg.corpus.vocab.n_dur = (uint16_t)cantus_vocab_dur_rule_len(cfg.corpus.vocab.tpq);
    cfg.corpus.vocab.n_parts = 1;
  }
  if (cfg.add_style) {
    if (!cfg.base_path) {
      fprintf(stderr, "cantus-train: --add-style needs --base MODEL\n");
      return 2;
    }
    a.dirs[0] = a.add_dir;
    a.n_dirs = 1;
  }
  if (a.n_dirs == 0) {
    fprintf(stderr, "cantus-train: no corpus folder given (see --help)\n");
    return 2;
  }
  if (!cfg.out_path) {
    fprintf(stderr, "cantus-train: no output file (-o MODEL.cantus)\n");
    return 2;
  }
  cfg.corpus_dirs = a.dirs;
  cfg.n_corpus_dirs = a.n_dirs;
  cfg.dims.vocab = cfg.corpus.vocab;
  cfg.dims.n_pos_tick = cfg.corpus.vocab.tpq;
  cfg.dims.n_pos_beat = (uint32_t)cfg.corpus.n_pos_beat;
  if (!cantus_vocab_valid(&cfg.corpus.vocab)) {
    fprintf(stderr,
            "cantus-train: invalid vocabulary (pitches %u-%u, %u shifts, tpq %u): shifts must be "
            "1..4*tpq and the vocabulary at most %d tokens\n",
            cfg.corpus.vocab.pitch_lo,
            cfg.corpus.vocab.pitch_hi,
            cfg.corpus.vocab.n_shift,
            cfg.corpus.vocab.tpq,
            CANTUS_MAX_VOCAB);
    return 2;
  }
  // The command line recorded in the model, and the packed form a
  // checkpoint keeps (the original run's, plus this one's overrides).
  char *args_shown = join(argc - 1, argv + 1, ' ', true);
  char *display = args_shown ? malloc(strlen(args_shown) + 16) : NULL;
  if (display) {
    sprintf(display, "cantus-train %s", args_shown);
  }
  free(args_shown);
  char *packed = NULL;
  if (resume) {
    // Keep the original arguments (without its own --resume) and append ours.
    char **all = calloc((size_t)(old_argc + argc), sizeof *all);
    int n = 0;
    for (int i = 1; all && i < old_argc; i++) {
      all[n++] = old_argv[i];
    }
    for (int i = 1; all && i < argc; i++) {
      if (!strcmp(argv[i], "--resume") && i + 1 < argc) {
        i++;
        continue;
      }
      all[n++] = argv[i];
    }
    packed = all ? join(n, all, '\x1f', false) : NULL;
    free(all);
  } else {
    packed = join(argc - 1, argv + 1, '\x1f', false);
  }
  cfg.command_line = display;
  cfg.argv_packed = packed;
  char prefix_out[4200];
  if (a.log_prefix) {
    // train.c derives the CSV/SVG/checkpoint names from the output path;
    // --log redirects them by handing it a prefix through the same field.
    snprintf(prefix_out, sizeof prefix_out, "%s", a.log_prefix);
    cfg.log_prefix = prefix_out;
  }
  cfg.log = stderr;
  cfg.progress_tty = isatty(fileno(stderr)) != 0;
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);

  CantusTrainResult res;
  CantusError err;
  err.msg[0] = 0;
  CantusStatus s = cantus_train_run(&cfg, &res, &err);
  free(display);
  free(packed);
  free(packed_old);
  free(old_argv);
  if (s != CANTUS_OK) {
    fprintf(stderr, "cantus-train: %s\n", err.msg[0] ? err.msg : cantus_strerror(s));
    return 1;
  }
  if (res.interrupted) {
    fprintf(stderr, "cantus-train: interrupted after %ld steps; checkpoint written\n", res.steps);
    return 130;
  }
  return 0;
}
