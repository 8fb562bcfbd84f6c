// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-gen: offline generation.  Drives the real-time engine through the
// same cantus_engine_process() block loop as the LV2 plugin and the JACK
// client (a simulated host with a rolling transport), then writes the notes
// as a Standard MIDI File (format 1, tempo and time signature) and
// optionally an SVG piano roll.  Uses dsp/ and libc only.  Non-RT
// command-line tool: exit 0 on success, 1 on a bad model/theme/style or a
// write error, 2 on a usage error.
#include "args.h"
#include "controls.h"
#include "engine.h"
#include "midifile.h"
#include "model.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_MODEL "models/default.cantus"
#define FILE_TPQ 480
#define PROG "cantus-gen"
// The longest piece: about half an hour at 120 bpm in 4/4 (every tool that
// generates takes at most this many bars).
#define MAX_BARS 1000
// The MIDI file holds ticks in 32 bits: MAX_BARS of the longest meter
// (32/1, 128 quarters a bar) fit.
_Static_assert((long long)MAX_BARS *FILE_TPQ * 4 * 32 < 0xFFFFFFFFLL, "MAX_BARS fits a MIDI file");

// Controls without an option here: --bpm is the song's tempo (the host
// transport's), and offline there is no player to listen to.
static bool gen_skips(int id)
{
  return id == CANTUS_CONTROL_BPM || id == CANTUS_CONTROL_LISTEN ||
         id == CANTUS_CONTROL_CALL_RESPONSE;
}

static void usage(FILE *f)
{
  fputs("usage: cantus-gen [options]\n"
        "Generates music with a Cantus model offline, through the same engine and\n"
        "block loop as the plugin, and writes a MIDI file (and an SVG piano roll).\n"
        "  --model FILE           model file (default " DEFAULT_MODEL " here, else\n"
        "                         the data folder's, named below)\n"
        "  --bars N               bars to generate, 1..1000 (default 16)\n"
        "  --bpm X                tempo in beats per minute, 10..999 (default 120)\n"
        "  --meter N/D            time signature, e.g. 6/8 (default the style's usual\n"
        "                         metre from the model's metadata, else 4/4)\n"
        "  --range LO-HI          --note-lo LO --note-hi HI in one: C3-C5, 48-72\n"
        "  --theme FILE.mid       play this theme first and continue it\n"
        "  --theme-bars N         use at most N bars of the theme, 1..1000 (default all)\n"
        "  --chords TEXT|FILE.mid chords to play over: \"D G D A\" one per bar, cycling;\n"
        "                         \"D:2 G:2\" lengths in beats; or a MIDI chord track\n"
        "                         (all its notes read as held chords)\n"
        "  --block N              frames per engine block (default 256)\n"
        "  --rate HZ              sample rate of the simulated host (default 48000)\n"
        "  -o FILE.mid            output MIDI file (default cantus.mid)\n"
        "  --svg FILE.svg         also write a piano roll\n"
        "  --weights TYPE         run-time weights: fp32, fp16 or int8 (default)\n"
        "  --quiet                print nothing on success\n"
        "  --help, --version      print this help, the version\n"
        "Engine controls (--NAME=VALUE works too; a style by name or by number from 1,\n"
        "as cantus-info lists them; a NOTE by number or name, C4 = 60, F#3, Bb2;\n"
        "--key and --voices are short for --key-root and --max-voices):\n",
        f);
  cantus_args_control_help(f, gen_skips);
  cantus_args_datadir_help(f);
}

typedef struct {
  const char *model_path, *style, *style_b, *theme_path, *out_path, *svg_path, *chords;
  CantusProgression *prog;   // --chords TEXT
  CantusMidiFile *chord_mid; // --chords FILE.mid
  double bars, bpm, rate;
  int num, den, block, theme_bars; // num 0: the style's metre (resolved with the model)
  bool quiet;
  CantusControls c;
} Args;

typedef struct {
  int64_t on, off; // absolute frames
  uint8_t pitch, vel, channel;
} Note;

// Options of cantus-gen itself that take a value.
static bool takes_value(const char *o)
{
  static const char *const names[] = {
    "--model", "--bars", "--bpm", "--meter",  "--range", "--theme",   "--theme-bars",
    "--block", "--rate", "-o",    "--output", "--svg",   "--weights", "--chords",
  };
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    if (!strcmp(o, names[k])) {
      return true;
    }
  }
  return false;
}

// Sets engine control id from text (not the styles: they need the model).
static bool set_control(Args *a, const char *opt, int id, const char *text)
{
  char msg[512];
  double v = 0;
  if (!cantus_controls_parse(id, text, NULL, &v, msg, sizeof msg)) {
    cantus_args_usage(PROG, "option %s: %s", opt, msg);
    return false;
  }
  cantus_controls_set(&a->c, id, v, 0);
  return true;
}

// A MIDI file (by its name, or a file that exists), else chord symbols.
static bool is_midi_name(const char *v)
{
  const size_t n = strlen(v);
  const bool ext =
    (n > 4 && !strcasecmp(v + n - 4, ".mid")) || (n > 5 && !strcasecmp(v + n - 5, ".midi"));
  return ext || access(v, F_OK) == 0;
}

// --chords: a progression is parsed here; a chord file is read here and
// turned into a chord track once the model's grid is known.
static bool parse_chords(Args *a, const char *v)
{
  free(a->prog);
  a->prog = NULL;
  cantus_midi_free(a->chord_mid);
  a->chord_mid = NULL;
  if (is_midi_name(v)) {
    CantusError err;
    if (cantus_midi_read(v, &a->chord_mid, &err) != CANTUS_OK) {
      fprintf(stderr, "%s: option --chords: %s\n", PROG, err.msg);
      return false;
    }
    return true;
  }
  char msg[256];
  a->prog = malloc(sizeof *a->prog);
  if (!a->prog) {
    fprintf(stderr, "%s: out of memory\n", PROG);
    return false;
  }
  if (cantus_progression_parse(v, a->prog, msg, sizeof msg) != 0) {
    cantus_args_usage(PROG, "option --chords: %s", msg);
    return false;
  }
  return true;
}

static int parse_args(int argc, char **argv, Args *a)
{
  *a = (Args){ .bars = 16,
               .bpm = 120,
               .rate = 48000,
               .block = 256,
               .out_path = "cantus.mid",
               .c = cantus_controls_default() };
  for (int i = 1; i < argc; i++) {
    // --name=value is --name value.
    char o[128];
    snprintf(o, sizeof o, "%s", argv[i]);
    char *eq = strchr(o, '=');
    const char *v = NULL;
    if (eq && !strncmp(o, "--", 2)) {
      *eq = '\0';
      v = argv[i] + (eq - o) + 1;
    }
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      usage(stdout);
      exit(0);
    }
    if (!strcmp(o, "--version")) {
      cantus_args_version(PROG);
      exit(0);
    }
    if (!strcmp(o, "--quiet") || !strcmp(o, "-q")) {
      a->quiet = true;
      continue;
    }
    const char *implied = NULL;
    int ctl = !strcmp(o, "--bpm") ? -1 // the song's tempo, not the free-run one
                                  : cantus_args_control(o, v != NULL, &implied);
    if (ctl >= 0 && gen_skips(ctl)) {
      ctl = -1;
    }
    if (ctl >= 0 && implied) {
      if (!set_control(a, o, ctl, implied)) {
        return 2;
      }
      continue;
    }
    if (ctl < 0 && !takes_value(o)) {
      return cantus_args_unknown(PROG, o);
    }
    if (!v && i + 1 >= argc) {
      return cantus_args_missing(PROG, o);
    }
    v = v ? v : argv[++i];
    bool ok = true;
    if (ctl == CANTUS_CONTROL_STYLE) {
      a->style = v;
    } else if (ctl == CANTUS_CONTROL_STYLE_B) {
      a->style_b = v;
    } else if (ctl >= 0) {
      ok = set_control(a, o, ctl, v);
    } else if (!strcmp(o, "--model")) {
      a->model_path = v;
    } else if (!strcmp(o, "--bars")) {
      long bars = 0;
      ok = cantus_args_long(PROG, o, v, 1, MAX_BARS, &bars);
      a->bars = (double)bars;
    } else if (!strcmp(o, "--bpm")) {
      ok = cantus_args_double(PROG, o, v, 10, 999, &a->bpm);
    } else if (!strcmp(o, "--meter")) {
      int num = 0, den = 0;
      char extra = 0;
      if (sscanf(v, "%d/%d%c", &num, &den, &extra) != 2 || num < 1 || num > 32 ||
          (den != 1 && den != 2 && den != 4 && den != 8 && den != 16)) {
        return cantus_args_usage(
          PROG, "option --meter: '%s' is not N/D (N 1..32, D 1, 2, 4, 8 or 16)", v);
      }
      a->num = num;
      a->den = den;
    } else if (!strcmp(o, "--range")) {
      int lo = 0, hi = 0;
      char msg[256];
      if (!cantus_controls_parse_note_range(v, &lo, &hi, msg, sizeof msg)) {
        return cantus_args_usage(PROG, "option --range: %s", msg);
      }
      cantus_controls_set(&a->c, CANTUS_CONTROL_NOTE_LO, lo, 0);
      cantus_controls_set(&a->c, CANTUS_CONTROL_NOTE_HI, hi, 0);
    } else if (!strcmp(o, "--theme")) {
      a->theme_path = v;
    } else if (!strcmp(o, "--theme-bars")) {
      ok = cantus_args_int(PROG, o, v, 1, MAX_BARS, &a->theme_bars);
    } else if (!strcmp(o, "--block")) {
      ok = cantus_args_int(PROG, o, v, 1, 65536, &a->block);
    } else if (!strcmp(o, "--rate")) {
      ok = cantus_args_double(PROG, o, v, 8000, 768000, &a->rate);
    } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
      a->out_path = v;
    } else if (!strcmp(o, "--svg")) {
      a->svg_path = v;
    } else if (!strcmp(o, "--weights")) {
      CantusWeightType wt;
      if (!cantus_lstm_weights_parse(v, &wt)) {
        return cantus_args_usage(PROG, "option --weights: '%s' is not fp32, fp16 or int8", v);
      }
      cantus_model_set_default_weights(wt);
    } else if (!strcmp(o, "--chords")) {
      a->chords = v;
      ok = parse_chords(a, v);
    }
    if (!ok) {
      return 2;
    }
  }
  // The simulated host's transport carries the tempo; the free-run tempo
  // control follows it (clamped to its range by the engine, never used).
  a->c.bpm = (float)a->bpm;
  return 0;
}

// The tempo check that needs the metre (known once the style is): the MIDI
// file holds the tempo in 24 bits of microseconds per quarter (and
// MAX_BARS always fit its 32-bit ticks).  Returns 0 or 2.
static int check_meter_limits(const Args *a)
{
  if (60e6 * a->den / (4.0 * a->bpm) > 0xFFFFFF) {
    fprintf(stderr,
            "cantus-gen: --bpm %g in %d/%d is slower than a MIDI file holds (at least %.2f)\n",
            a->bpm,
            a->num,
            a->den,
            ceil(60e6 * a->den / (4.0 * 0xFFFFFF) * 100.0) / 100.0);
    return 2;
  }
  return 0;
}

// The style given by --style or --style-b (opt), named or numbered from 1;
// none: the model's default style.  -1 after saying why.
static int resolve_style(const CantusModel *m, const char *opt, const char *text)
{
  if (!text) {
    return cantus_model_default_style(m);
  }
  char msg[CANTUS_MAX_STYLES * (CANTUS_STYLE_NAME_LEN + 4) + 64];
  double v = 0;
  if (!cantus_controls_parse(CANTUS_CONTROL_STYLE, text, m, &v, msg, sizeof msg)) {
    fprintf(stderr, "cantus-gen: option %s: %s\n", opt, msg);
    return -1;
  }
  return (int)v;
}

// ---- SVG piano roll --------------------------------------------------------------

static void xml_text(FILE *f, const char *s)
{
  for (; *s; s++) {
    switch (*s) {
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '&':
      fputs("&amp;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    default:
      fputc(*s, f);
      break;
    }
  }
}

static bool write_svg(const char *path,
                      const Note *notes,
                      size_t n,
                      const Args *a,
                      double frames_per_beat,
                      const char *title)
{
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "cantus-gen: %s: cannot write: %s\n", path, strerror(errno));
    return false;
  }
  int lo = 127, hi = 0;
  for (size_t i = 0; i < n; i++) {
    lo = notes[i].pitch < lo ? notes[i].pitch : lo;
    hi = notes[i].pitch > hi ? notes[i].pitch : hi;
  }
  if (lo > hi) {
    lo = 60;
    hi = 72;
  }
  lo = lo - 2 < 0 ? 0 : lo - 2;
  hi = hi + 2 > 127 ? 127 : hi + 2;
  const double beat_px = a->den >= 8 ? 24.0 : 40.0;
  const double left = 44, top = 36, row = 7;
  const int n_beats = (int)(a->bars * a->num);
  const double width = left + n_beats * beat_px + 10;
  const double height = top + (hi - lo + 1) * row + 10;
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n",
          width,
          height,
          width,
          height);
  fprintf(f, "<title>");
  xml_text(f, title);
  fprintf(f, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
  fprintf(f, "<text x=\"%.0f\" y=\"20\" font-size=\"13\">", left);
  xml_text(f, title);
  fprintf(f, "</text>\n");
  // pitch rows: black keys shaded, C labelled
  for (int p = hi; p >= lo; p--) {
    const double y = top + (hi - p) * row;
    const int pc = p % 12;
    if (pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10) {
      fprintf(f,
              "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f0f0f4\"/>\n",
              left,
              y,
              n_beats * beat_px,
              row);
    }
    if (pc == 0) {
      fprintf(f,
              "<text x=\"4\" y=\"%.1f\" font-size=\"9\">%s%d</text>\n",
              y + row - 1,
              cantus_key_name(pc),
              p / 12 - 1);
    }
  }
  // beat and bar lines
  for (int b = 0; b <= n_beats; b++) {
    const double x = left + b * beat_px;
    const bool bar = b % a->num == 0;
    fprintf(
      f,
      "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%s\"/>\n",
      x,
      top,
      x,
      top + (hi - lo + 1) * row,
      bar ? "#606070" : "#d0d0d8",
      bar ? "1.2" : "0.6");
    if (bar && b < n_beats) {
      fprintf(f,
              "<text x=\"%.1f\" y=\"%.0f\" font-size=\"9\" fill=\"#606070\">%d</text>\n",
              x + 2,
              top - 3,
              b / a->num + 1);
    }
  }
  // notes, shaded by velocity
  for (size_t i = 0; i < n; i++) {
    const double x = left + notes[i].on / frames_per_beat * beat_px;
    const double w = (notes[i].off - notes[i].on) / frames_per_beat * beat_px;
    const double y = top + (hi - notes[i].pitch) * row;
    const int shade = 200 - notes[i].vel;
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" rx=\"1.5\" "
            "fill=\"rgb(%d,%d,230)\" stroke=\"#203080\" stroke-width=\"0.5\"/>\n",
            x,
            y + 0.5,
            w > 1 ? w : 1,
            row - 1,
            shade < 0 ? 0 : shade,
            shade < 0 ? 0 : shade);
  }
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0) {
    fprintf(stderr, "cantus-gen: %s: write failed\n", path);
    return false;
  }
  return true;
}

// ---- main -----------------------------------------------------------------------------

typedef struct {
  Note *v;
  size_t n, cap;
  int64_t open[16][128]; // index+1 of the sounding note, 0 = none
} Notes;

static bool notes_event(Notes *ns, int64_t frame, const CantusMidiEvent *ev)
{
  const int st = ev->data[0] & 0xF0, ch = ev->data[0] & 0x0F, p = ev->data[1] & 0x7F;
  if (st == 0x90 && ev->data[2] > 0) {
    if (ns->n == ns->cap) {
      ns->cap = ns->cap ? ns->cap * 2 : 1024;
      Note *v = realloc(ns->v, ns->cap * sizeof *v);
      if (!v) {
        return false;
      }
      ns->v = v;
    }
    ns->v[ns->n] = (Note){
      .on = frame, .off = -1, .pitch = (uint8_t)p, .vel = ev->data[2], .channel = (uint8_t)ch
    };
    ns->open[ch][p] = (int64_t)++ns->n;
  } else if ((st == 0x80 || st == 0x90) && ns->open[ch][p]) {
    ns->v[ns->open[ch][p] - 1].off = frame;
    ns->open[ch][p] = 0;
  }
  return true;
}

int main(int argc, char **argv)
{
  Args a;
  const int rc = parse_args(argc, argv, &a);
  if (rc) {
    free(a.prog); // a usage error after (or in) --chords
    cantus_midi_free(a.chord_mid);
    return rc;
  }
  char buf[PATH_MAX + 64];
  if (!a.model_path) {
    a.model_path = cantus_args_data_file(DEFAULT_MODEL, buf, sizeof buf);
    if (!a.model_path) {
      fprintf(stderr,
              "cantus-gen: no model: %s not found here or in %s (run `make models`, or pass "
              "--model FILE)\n",
              DEFAULT_MODEL,
              cantus_args_datadir());
      return 1;
    }
  }
  CantusError err;
  CantusModel *m = NULL;
  if (cantus_engine_load_model(a.model_path, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-gen: %s\n", err.msg);
    return 1;
  }
  a.c.style = resolve_style(m, "--style", a.style);
  a.c.style_b = a.style_b ? resolve_style(m, "--style-b", a.style_b) : a.c.style;
  if (a.c.style < 0 || a.c.style_b < 0) {
    cantus_model_free(m);
    return 1;
  }
  if (a.num == 0) {
    // No --meter: the (first) style's usual metre, 4/4 when the model has none.
    cantus_model_style_meter(m, a.c.style, &a.num, &a.den);
  }
  if (check_meter_limits(&a) != 0) {
    cantus_model_free(m);
    return 2;
  }
  CantusTheme *theme = NULL;
  if (a.theme_path) {
    CantusMidiFile *mf = NULL;
    theme = malloc(sizeof *theme);
    if (!theme || cantus_midi_read(a.theme_path, &mf, &err) != CANTUS_OK ||
        cantus_theme_for_model(mf, m, a.theme_bars, theme, &err) != CANTUS_OK) {
      fprintf(stderr, "cantus-gen: %s\n", theme ? err.msg : "out of memory");
      cantus_midi_free(mf);
      free(theme);
      cantus_model_free(m);
      return 1;
    }
    cantus_midi_free(mf);
    if (theme->n_tokens == 0) {
      fprintf(stderr, "cantus-gen: %s: no notes to use as a theme\n", a.theme_path);
      free(theme);
      cantus_model_free(m);
      return 1;
    }
  }

  CantusChordTrack *track = NULL;
  if (a.chord_mid) {
    char msg[256];
    track = malloc(sizeof *track);
    if (!track ||
        cantus_chord_track_from_midi(a.chord_mid, m->dims.vocab.tpq, track, msg, sizeof msg) != 0) {
      fprintf(
        stderr, "%s: option --chords: %s: %s\n", PROG, a.chords, track ? msg : "out of memory");
      free(track);
      free(theme);
      cantus_midi_free(a.chord_mid);
      cantus_model_free(m);
      return 2;
    }
    cantus_midi_free(a.chord_mid);
    a.chord_mid = NULL;
  }

  CantusEngine *e = NULL;
  if (cantus_engine_new(1.0, &e, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-gen: %s\n", err.msg);
    cantus_model_free(m);
    free(theme);
    return 1;
  }
  cantus_engine_install_model(e, m);
  if (theme) {
    cantus_engine_set_theme(e, theme);
  }
  if (a.prog) {
    cantus_engine_set_progression(e, a.prog); // chords in the output's pitches
  } else if (track) {
    cantus_engine_set_chord_track(e, track);
  }
  cantus_engine_set_end(e, a.bars - 1); // a format 2 model knows the bars left

  // The simulated host: a rolling transport that sends its exact position
  // every block, as a DAW does.
  const double frames_per_beat = a.rate * 60.0 / a.bpm;
  const int64_t total = (int64_t)llround(a.bars * a.num * frames_per_beat);
  Notes ns = { 0 };
  bool ok = true;
  CantusBlockOut *out = malloc(sizeof *out);
  CantusBlockIn in = { .sample_rate = a.rate, .controls = a.c };
  in.transport = (CantusTransport){
    .valid = true, .rolling = true, .bpm = a.bpm, .beats_per_bar = a.num, .beat_unit = a.den
  };
  for (int64_t frame = 0; ok && out && frame < total; frame += a.block) {
    const int64_t n = total - frame < a.block ? total - frame : a.block;
    const double beats = (double)frame / frames_per_beat;
    in.transport.bar = (int64_t)floor(beats / a.num);
    in.transport.bar_beat = beats - (double)in.transport.bar * a.num;
    in.n_frames = (uint32_t)n;
    cantus_engine_process(e, &in, out);
    for (uint32_t i = 0; ok && i < out->n_events; i++) {
      ok = notes_event(&ns, frame + out->events[i].frame, &out->events[i]);
    }
  }
  if (out) {
    cantus_engine_flush(e, out);
    for (uint32_t i = 0; ok && i < out->n_events; i++) {
      ok = notes_event(&ns, total, &out->events[i]);
    }
  }
  CantusStats st;
  cantus_engine_get_stats(e, &st);
  if (!ok || !out) {
    fprintf(stderr, "cantus-gen: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < ns.n; i++) {
    if (ns.v[i].off < 0) {
      ns.v[i].off = total; // cannot happen after flush; stay safe
    }
  }

  // MIDI file: 480 per quarter; a beat is 4/den quarters.
  CantusMidiFile *mf = NULL;
  int status = 0;
  if (cantus_midi_alloc(ns.n, 1, &mf, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-gen: %s\n", err.msg);
    status = 1;
  } else {
    const double ticks_per_frame = FILE_TPQ * 4.0 / a.den / frames_per_beat;
    for (size_t i = 0; i < ns.n; i++) {
      uint32_t on = (uint32_t)llround(ns.v[i].on * ticks_per_frame);
      uint32_t off = (uint32_t)llround(ns.v[i].off * ticks_per_frame);
      off = off <= on ? on + 1 : off;
      mf->notes[mf->n_notes++] = (CantusMidiNote){ .on_tick = on,
                                                   .off_tick = off,
                                                   .pitch = ns.v[i].pitch,
                                                   .velocity = ns.v[i].vel,
                                                   .channel = ns.v[i].channel,
                                                   .track = 0 };
      mf->end_tick = off > mf->end_tick ? off : mf->end_tick;
    }
    const uint32_t end = (uint32_t)llround(total * ticks_per_frame);
    mf->end_tick = end > mf->end_tick ? end : mf->end_tick;
    mf->tpq = FILE_TPQ;
    mf->tempos[0] = (CantusMidiTempo){ 0, (uint32_t)llround(60e6 / (a.bpm * 4.0 / a.den)) };
    mf->n_tempos = 1;
    mf->timesigs[0] = (CantusMidiTimeSig){ 0, (uint8_t)a.num, (uint8_t)a.den };
    mf->n_timesigs = 1;
    snprintf(mf->track_names[0], sizeof mf->track_names[0], "cantus %s", m->style_names[a.c.style]);
    if (cantus_midi_write(a.out_path, mf, &err) != CANTUS_OK) {
      fprintf(stderr, "cantus-gen: %s\n", err.msg);
      status = 1;
    }
    cantus_midi_free(mf);
  }
  char title[512];
  char style[96];
  if (a.c.blend > 0 && a.c.style_b != a.c.style) {
    snprintf(style,
             sizeof style,
             "%s/%s %.2f",
             m->style_names[a.c.style],
             m->style_names[a.c.style_b],
             (double)a.c.blend);
  } else {
    snprintf(style, sizeof style, "%s", m->style_names[a.c.style]);
  }
  snprintf(title,
           sizeof title,
           "cantus: %s, %g bars of %d/%d at %g bpm, seed %u, temperature %.2f, top-p %.2f, "
           "density %.2f, %s %s%s%s (%s)",
           style,
           a.bars,
           a.num,
           a.den,
           a.bpm,
           (unsigned)a.c.seed,
           (double)a.c.temperature,
           (double)a.c.top_p,
           (double)a.c.density,
           cantus_key_name(a.c.key_root),
           cantus_scale_name(a.c.scale),
           a.theme_path ? ", theme " : "",
           a.theme_path ? a.theme_path : "",
           a.model_path);
  if (status == 0 && a.svg_path && !write_svg(a.svg_path, ns.v, ns.n, &a, frames_per_beat, title)) {
    status = 1;
  }
  if (status == 0 && !a.quiet) {
    printf("cantus-gen: %zu notes in %g bars (style %s, seed %u) -> %s%s%s\n",
           ns.n,
           a.bars,
           style,
           (unsigned)a.c.seed,
           a.out_path,
           a.svg_path ? ", " : "",
           a.svg_path ? a.svg_path : "");
    if (st.late_events || st.events_dropped) {
      printf("cantus-gen: note: %llu late events, %llu dropped\n",
             (unsigned long long)st.late_events,
             (unsigned long long)st.events_dropped);
    }
  }
  free(out);
  free(ns.v);
  free(theme);
  free(track);
  free(a.prog);
  cantus_engine_free(e);
  cantus_model_free(m);
  return status;
}
