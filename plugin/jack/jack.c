// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack: Cantus as a JACK client for live performance.  main() checks
// every input (options, model, styles, CC map, theme, devices) before it
// connects to JACK, then runs the main thread: it loads models on a loader
// thread and hands them to the process callback through `to_rt`, frees the
// retired ones from `from_rt` every 10 ms, turns stdin commands, keys and
// signals into control messages, records what was played and draws the
// terminal view.  Shutdown (SIGINT/SIGTERM, `quit`, q): the process callback
// flushes every sounding note, the PortMidi thread silences the hardware,
// then the client deactivates.  Thread class: non-RT (main, loader); the
// audio thread lives in jack_rt.c, the PortMidi thread in jack_pm.c.
#include "args.h"
#include "jack_app.h"
#include "jack_pm.h"
#include "jack_rec.h"
#include "jack_ui.h"
#include "loader.h"

#include <errno.h>
#include <jack/midiport.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CONNECT = 32, MAX_SETS = 128, N_MESSAGES = 4, MAX_THEME_BARS = 1000 };

// Options.sets[].ctl of --range LO-HI (note_lo and note_hi in one).
#define SET_RANGE (-2)

typedef struct {
  const char *model_path;
  bool model_given;
  const char *name, *server;
  const char *connect_out[MAX_CONNECT], *connect_in[MAX_CONNECT];
  int n_connect_out, n_connect_in;
  double beats_per_bar; // --meter (meter_given), else the style's usual metre
  int beat_unit;
  bool meter_given;
  bool free_run, master, list_devices, no_ui;
  const char *midi_out, *midi_in;
  const char *chord_in, *chord_device; // --chord-in PORT, --chord-device NAME|ID
  int midi_latency_ms;
  const char *cc_map, *theme, *record;
  int theme_bars;
  double lookahead;
  struct {
    int ctl;
    const char *text;
  } sets[MAX_SETS];
  int n_sets;
} Options;

typedef struct {
  Options opt;
  CantusJackApp *app;
  CantusJackPm pm;
  bool pm_used;
  CantusJackRec rec;
  CantusJackLoader loader;
  const CantusModel *model; // the newest model handed to the audio thread
  char model_path[4096];
  CantusControls view; // the main thread's copy of the controls
  CantusJackStatus status;
  bool have_status;
  bool ui, stdin_open;
  int selected;
  char line[4096];
  size_t line_len;
  bool prompting;
  char messages[N_MESSAGES][256];
  int n_messages;
  struct timespec started; // for the exit summary
  int exit_code;
} Main;

static volatile sig_atomic_t quit_signal, reload_signal;

// libjack's own complaints ("Cannot connect to server socket" ...) would
// bury our one-line messages: quiet (see open_jack).
static void jack_quiet(const char *msg)
{
  (void)msg;
}

static void on_quit(int sig)
{
  (void)sig;
  quit_signal = 1;
}

static void on_hup(int sig)
{
  (void)sig;
  reload_signal = 1;
}

// ---- messages ---------------------------------------------------------------

// An informational line: stdout (flushed) headless, the message area in
// the terminal view.
__attribute__((format(printf, 2, 3))) static void say(Main *g, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (!g->ui) {
    printf("%s\n", buf);
    fflush(stdout);
    return;
  }
  if (g->n_messages == N_MESSAGES) {
    memmove(g->messages[0], g->messages[1], sizeof g->messages[0] * (N_MESSAGES - 1));
    g->n_messages--;
  }
  snprintf(g->messages[g->n_messages++], sizeof g->messages[0], "%s", buf);
}

// ---- options -------------------------------------------------------------------

#define PROG "cantus-jack"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: cantus-jack [options]\n"
          "Cantus, the neural MIDI generator, as a JACK client for live performance.\n\n"
          "  -m, --model FILE         model (default models/default.cantus here, else\n"
          "                           the data folder's, named below)\n"
          "  -n, --name NAME          JACK client name (default cantus); ports NAME:midi_out,\n"
          "                           NAME:midi_in, NAME:chord_in\n"
          "  -s, --server NAME        JACK server (default $JACK_DEFAULT_SERVER or 'default')\n"
          "  -o, --connect-out PORT   connect midi_out to PORT (repeatable)\n"
          "  -i, --connect-in PORT    connect PORT to midi_in (repeatable)\n"
          "      --chord-in PORT      connect PORT to chord_in, the chords to follow (held\n"
          "                           notes make the chord); implies --chord-source input\n"
          "                           unless --chord-source is given\n"
          "      --meter N/D          own meter (default the style's usual metre from the\n"
          "                           model, which follows the style at the next bar\n"
          "                           line; else 4/4); own tempo is --bpm\n"
          "      --free               ignore the JACK transport: play at --bpm from the start\n"
          "      --timebase-master    be the JACK timebase master (publishes --bpm, --meter)\n"
          "      --list-devices       list PortMidi devices and exit\n"
          "      --midi-out NAME|ID   also play to this PortMidi output (hardware synth)\n"
          "      --midi-in NAME|ID    also listen to this PortMidi input (keyboard)\n"
          "      --chord-device NAME|ID\n"
          "                           chords from this PortMidi input (as chord_in);\n"
          "                           implies --chord-source input unless it is given\n"
          "      --midi-latency MS    PortMidi output latency (default 5); hardware notes\n"
          "                           leave one JACK period + MS after their frame\n"
          "      --cc-map FILE        MIDI CC map (default: built in, see plugin/jack/ccmap)\n"
          "      --theme FILE.mid     primer theme the network continues\n"
          "      --theme-bars N       bars of the theme, 0..1000 (default 0: all)\n"
          "      --record FILE.mid    write what was played to FILE.mid on exit\n"
          "      --lookahead BEATS    generation lookahead (default 1)\n"
          "      --weights TYPE       run-time weights: fp32, fp16 or int8 (default)\n"
          "      --no-ui              headless: no terminal view; commands on stdin\n"
          "      --range LO-HI        --note-lo LO --note-hi HI in one: C3-C5, 48-72\n"
          "  -h, --help               print this help\n"
          "      --version            print the version\n\n"
          "Engine controls (also `set NAME VALUE` on stdin, keys in the view, MIDI CC;\n"
          "--NAME=VALUE works too, toggles also bare or as --no-NAME; a style by name or\n"
          "by number from 1, as the view lists them; a NOTE by number or name, C4 = 60,\n"
          "F#3, Bb2; --key and --voices are short for --key-root and --max-voices):\n");
  cantus_args_control_help(f, NULL);
  fprintf(f, "Actions (stdin, keys and MIDI CC only):\n");
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *t = cantus_controls_info(i);
    if (t->kind == CANTUS_KIND_TRIGGER) {
      fprintf(f, "  %-22s %s\n", t->symbol, t->help);
    }
  }
  fprintf(f,
          "\nstdin commands (--no-ui): set NAME VALUE | NAME VALUE | set range LO-HI |\n"
          "  model FILE | reload | panic | regenerate | status | quit\n");
  cantus_args_datadir_help(f);
}

// An engine-control option: the value is checked now, except a style's
// (its names come with the model).  Returns 0 or the exit code.
static int control_option(Options *o, const char *opt, int ctl, const char *val)
{
  if (o->n_sets == MAX_SETS) {
    return cantus_args_usage(PROG, "too many control options (at most %d)", MAX_SETS);
  }
  char msg[512];
  if (ctl == SET_RANGE) {
    int lo, hi;
    if (!cantus_controls_parse_note_range(val, &lo, &hi, msg, sizeof msg)) {
      return cantus_args_usage(PROG, "option %s: %s", opt, msg);
    }
  } else if (cantus_controls_info(ctl)->kind != CANTUS_KIND_STYLE) {
    double v = 0;
    if (!cantus_controls_parse(ctl, val, NULL, &v, msg, sizeof msg)) {
      return cantus_args_usage(PROG, "option %s: %s", opt, msg);
    }
  }
  o->sets[o->n_sets].ctl = ctl;
  o->sets[o->n_sets++].text = val;
  return 0;
}

// One option of the JACK client itself (not an engine control): opt with
// its value val (NULL when it takes none).  *used tells whether val was
// consumed.  Returns 0 to go on, -1 to exit 0 (help, version), -2 for an
// unknown option, else the exit code.
static int client_option(Options *o, const char *opt, const char *val, bool *used)
{
#define IS(s, l) (!strcmp(opt, s) || !strcmp(opt, l))
  *used = false;
  if (IS("-h", "--help")) {
    usage(stdout);
    return -1;
  }
  if (IS("--version", "--version")) {
    cantus_args_version(PROG);
    return -1;
  }
  if (IS("--free", "--free")) {
    o->free_run = true;
    return 0;
  }
  if (IS("--timebase-master", "--timebase-master")) {
    o->master = true;
    return 0;
  }
  if (IS("--list-devices", "--list-devices")) {
    o->list_devices = true;
    return 0;
  }
  if (IS("--no-ui", "--no-ui")) {
    o->no_ui = true;
    return 0;
  }
  static const char *const with_value[] = {
    "-m",
    "--model",
    "-n",
    "--name",
    "-s",
    "--server",
    "-o",
    "--connect-out",
    "-i",
    "--connect-in",
    "--meter",
    "--midi-out",
    "--midi-in",
    "--midi-latency",
    "--cc-map",
    "--theme",
    "--theme-bars",
    "--record",
    "--lookahead",
    "--range",
    "--weights",
    "--chord-in",
    "--chord-device",
  };
  bool known = false;
  for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
    known |= !strcmp(opt, with_value[k]);
  }
  if (!known) {
    return -2;
  }
  if (!val) {
    return cantus_args_missing(PROG, opt);
  }
  *used = true;
  if (IS("--range", "--range")) {
    return control_option(o, opt, SET_RANGE, val);
  }
  if (IS("-m", "--model")) {
    o->model_path = val;
    o->model_given = true;
  } else if (IS("-n", "--name")) {
    o->name = val;
  } else if (IS("-s", "--server")) {
    o->server = val;
  } else if (IS("-o", "--connect-out")) {
    if (o->n_connect_out == MAX_CONNECT) {
      return cantus_args_usage(PROG, "too many --connect-out (at most %d)", MAX_CONNECT);
    }
    o->connect_out[o->n_connect_out++] = val;
  } else if (IS("-i", "--connect-in")) {
    if (o->n_connect_in == MAX_CONNECT) {
      return cantus_args_usage(PROG, "too many --connect-in (at most %d)", MAX_CONNECT);
    }
    o->connect_in[o->n_connect_in++] = val;
  } else if (IS("--meter", "--meter")) {
    int num = 0, den = 0;
    char extra;
    if (sscanf(val, "%d/%d%c", &num, &den, &extra) != 2 || num < 1 || num > 32 ||
        (den != 1 && den != 2 && den != 4 && den != 8 && den != 16)) {
      return cantus_args_usage(
        PROG, "option --meter: '%s' is not N/D (N 1..32, D 1, 2, 4, 8 or 16)", val);
    }
    o->beats_per_bar = num;
    o->beat_unit = den;
    o->meter_given = true;
  } else if (IS("--midi-out", "--midi-out")) {
    o->midi_out = val;
  } else if (IS("--midi-in", "--midi-in")) {
    o->midi_in = val;
  } else if (IS("--chord-in", "--chord-in")) {
    o->chord_in = val;
  } else if (IS("--chord-device", "--chord-device")) {
    o->chord_device = val;
  } else if (IS("--midi-latency", "--midi-latency")) {
    return cantus_args_int(PROG, opt, val, 1, 1000, &o->midi_latency_ms) ? 0 : 2;
  } else if (IS("--cc-map", "--cc-map")) {
    o->cc_map = val;
  } else if (IS("--theme", "--theme")) {
    o->theme = val;
  } else if (IS("--theme-bars", "--theme-bars")) {
    return cantus_args_int(PROG, opt, val, 0, MAX_THEME_BARS, &o->theme_bars) ? 0 : 2;
  } else if (IS("--record", "--record")) {
    o->record = val;
  } else if (IS("--lookahead", "--lookahead")) {
    return cantus_args_double(PROG, opt, val, 0.25, 16, &o->lookahead) ? 0 : 2;
  } else if (IS("--weights", "--weights")) {
    CantusWeightType wt;
    if (!cantus_lstm_weights_parse(val, &wt)) {
      return cantus_args_usage(PROG, "option --weights: '%s' is not fp32, fp16 or int8", val);
    }
    cantus_model_set_default_weights(wt); // before any model is loaded
  }
  return 0;
#undef IS
}

// Returns 0 to go on, -1 to exit 0 (help, version), else the exit code.
// Options take their value as the next word or after '=' (--name=value).
static int parse_options(int argc, char **argv, Options *o)
{
  *o = (Options){
    .name = "cantus", .beats_per_bar = 4, .beat_unit = 4, .midi_latency_ms = 5, .lookahead = 1
  };
  for (int i = 1; i < argc; i++) {
    char opt[128];
    const char *a = argv[i], *val = NULL;
    if (a[0] != '-') {
      return cantus_args_usage(PROG, "unexpected argument '%s'", a);
    }
    snprintf(opt, sizeof opt, "%s", a);
    char *eq = strchr(opt, '=');
    if (eq && !strncmp(opt, "--", 2)) {
      *eq = '\0';
      val = a + (eq - opt) + 1;
    }
    const bool inline_val = val != NULL;
    const char *next = val ? val : i + 1 < argc ? argv[i + 1] : NULL;
    bool used = false;
    int rc = client_option(o, opt, next, &used);
    if (rc == -2) {
      // An engine control: --NAME VALUE, --NAME=VALUE, --TOGGLE, --no-TOGGLE.
      const char *implied = NULL;
      const int ctl = cantus_args_control(opt, inline_val, &implied);
      if (ctl < 0) {
        return cantus_args_unknown(PROG, a);
      }
      if (!implied && !next) {
        return cantus_args_missing(PROG, opt);
      }
      used = !implied;
      rc = control_option(o, opt, ctl, implied ? implied : next);
    }
    if (rc) {
      return rc;
    }
    if (inline_val && !used) {
      return cantus_args_usage(PROG, "option %s takes no value", opt);
    }
    i += used && !inline_val;
  }
  if (o->free_run && o->master) {
    return cantus_args_usage(
      PROG, "--free --timebase-master: --free ignores the transport; it cannot be its master");
  }
  // A chord port or device means chords from it, unless --chord-source
  // says otherwise (split, or off to start with and `set` later).
  if (o->chord_in || o->chord_device) {
    bool given = false;
    for (int i = 0; i < o->n_sets; i++) {
      given |= o->sets[i].ctl == CANTUS_CONTROL_CHORD_SOURCE;
    }
    if (!given) {
      return control_option(o, "--chord-source", CANTUS_CONTROL_CHORD_SOURCE, "input");
    }
  }
  return 0;
}

// ---- bad input: every check before JACK ---------------------------------------------

static bool check_record_path(const char *path)
{
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  const char *dir = dirname(copy);
  if (access(dir, W_OK) != 0) {
    fprintf(
      stderr, "cantus-jack: %s: cannot write the recording there: %s\n", path, strerror(errno));
    return false;
  }
  return true;
}

static bool send_ctl(Main *g, int ctl, double v);

// ---- models ------------------------------------------------------------------------------

static void request_model(Main *g, const char *path)
{
  char msg[4200];
  if (!cantus_jackloader_start(&g->loader, path, msg, sizeof msg)) {
    say(g, "%s", msg);
  }
}

// The style a newly loaded model starts with: the one of the same name as
// the style playing now (style names are the musician's handle: a reel
// stays a reel across models), else the new model's default style.
static int style_for(const CantusModel *m, const char *name)
{
  for (uint32_t i = 0; name[0] && i < m->dims.n_styles; i++) {
    if (!strcmp(m->style_names[i], name)) {
      return (int)i;
    }
  }
  return cantus_model_default_style(m);
}

// The one place g->model changes after start-up (with the push to to_rt,
// inside cantus_jackloader_poll).  The styles are chosen by name (style_for)
// and sent after the model: the audio thread installs a model before it
// applies the control messages of the same cycle.
static void poll_loader(Main *g)
{
  char msg[700], style[32] = "", style_b[32] = "";
  const CantusModel *old = g->model;
  if (g->loader.busy && old) {
    const int ns = (int)old->dims.n_styles;
    if (g->view.style >= 0 && g->view.style < ns) {
      snprintf(style, sizeof style, "%s", old->style_names[g->view.style]);
    }
    if (g->view.style_b >= 0 && g->view.style_b < ns) {
      snprintf(style_b, sizeof style_b, "%s", old->style_names[g->view.style_b]);
    }
  }
  const CantusJackLoadResult r = cantus_jackloader_poll(&g->loader, &g->model, msg, sizeof msg);
  if (r == CANTUS_JACKLOADER_HANDED) {
    snprintf(g->model_path, sizeof g->model_path, "%s", g->loader.path);
    const int s = style_for(g->model, style), sb = style_for(g->model, style_b);
    send_ctl(g, CANTUS_CONTROL_STYLE, s);
    send_ctl(g, CANTUS_CONTROL_STYLE_B, sb);
    const char *name = g->model->style_names[s];
    char line[800];
    snprintf(line,
             sizeof line,
             "%s; style %s%s",
             msg,
             name,
             strcmp(name, style) ? " (the model's default)" : " (kept)");
    say(g, "%s", line);
    return;
  }
  if (r != CANTUS_JACKLOADER_IDLE) {
    say(g, "%s", msg);
  }
}

// ---- controls ------------------------------------------------------------------------

static bool send_ctl(Main *g, int ctl, double v)
{
  CantusJackCtlMsg msg = { ctl, CANTUS_JACK_CTL_SRC_MAIN, 0, v };
  if (jack_ringbuffer_write_space(g->app->ctl_in) < sizeof msg) {
    say(g, "control queue full; %s not changed", cantus_controls_info(ctl)->symbol);
    return false;
  }
  jack_ringbuffer_write(g->app->ctl_in, (const char *)&msg, sizeof msg);
  if (cantus_controls_info(ctl)->kind != CANTUS_KIND_TRIGGER) {
    cantus_controls_set(&g->view, ctl, v, g->model ? (int)g->model->dims.n_styles : 0);
  }
  return true;
}

static void announce_ctl(Main *g, int ctl, const char *how)
{
  char val[64];
  cantus_controls_format(ctl, cantus_controls_get(&g->view, ctl), g->model, val, sizeof val);
  say(g, "%s%s = %s", how, cantus_controls_info(ctl)->symbol, val);
}

static void set_from_text(Main *g, const char *name, const char *text)
{
  if (!strcmp(name, "range")) { // note_lo and note_hi in one
    int lo, hi;
    char err[256];
    if (!cantus_controls_parse_note_range(text, &lo, &hi, err, sizeof err)) {
      say(g, "range: %s", err);
    } else if (send_ctl(g, CANTUS_CONTROL_NOTE_LO, lo) && send_ctl(g, CANTUS_CONTROL_NOTE_HI, hi)) {
      announce_ctl(g, CANTUS_CONTROL_NOTE_LO, "set ");
      announce_ctl(g, CANTUS_CONTROL_NOTE_HI, "set ");
    }
    return;
  }
  const int ctl = cantus_controls_find(name);
  if (ctl < 0) {
    say(g, "unknown control '%s'", name);
    return;
  }
  char err[256];
  double v;
  if (!cantus_controls_parse(ctl, text, g->model, &v, err, sizeof err)) {
    say(g, "%s: %s", cantus_controls_info(ctl)->symbol, err);
    return;
  }
  if (send_ctl(g, ctl, v)) {
    if (cantus_controls_info(ctl)->kind == CANTUS_KIND_TRIGGER) {
      say(g, "%s", cantus_controls_info(ctl)->symbol);
    } else {
      announce_ctl(g, ctl, "set ");
    }
  }
}

static void drain_ctl_out(Main *g)
{
  CantusJackCtlMsg msg;
  while (jack_ringbuffer_read_space(g->app->ctl_out) >= sizeof msg) {
    jack_ringbuffer_read(g->app->ctl_out, (char *)&msg, sizeof msg);
    const CantusControlInfo *t = cantus_controls_info(msg.ctl);
    if (!t) {
      continue;
    }
    char how[48];
    if (msg.source == CANTUS_JACK_CTL_SRC_PROGRAM) {
      // Programs counted from 1, as synths show them (the wire carries
      // 0..127): program N is style N.
      snprintf(how, sizeof how, "midi: program %d -> ", msg.number + 1);
    } else {
      snprintf(how, sizeof how, "midi: cc %d -> ", msg.number);
    }
    if (t->kind == CANTUS_KIND_TRIGGER) {
      say(g, "%s%s", how, t->symbol);
      continue;
    }
    cantus_controls_set(&g->view, msg.ctl, msg.value, g->model ? (int)g->model->dims.n_styles : 0);
    announce_ctl(g, msg.ctl, how);
  }
}

// ---- status ------------------------------------------------------------------------

static const char *mode_text(const Main *g)
{
  if (g->opt.free_run) {
    return "free-running";
  }
  if (g->opt.master) {
    return "JACK timebase master";
  }
  if (g->have_status && g->status.source == CANTUS_CLOCK_FOLLOW) {
    return "following the JACK master";
  }
  return "own tempo, JACK transport";
}

static void print_status(Main *g)
{
  const CantusJackStatus *s = &g->status;
  char style[64], temp[32];
  cantus_controls_format(CANTUS_CONTROL_STYLE, g->view.style, g->model, style, sizeof style);
  cantus_controls_format(
    CANTUS_CONTROL_TEMPERATURE, (double)g->view.temperature, g->model, temp, sizeof temp);
  say(g,
      "status: %s bar %lld beat %.2f tempo %.2f meter %g/%d mode '%s' style %s temperature %s "
      "xruns %llu notes-on %llu notes-off %llu sounding %d model-changes %llu dropped %llu "
      "late %llu",
      s->rolling ? "rolling" : "stopped",
      (long long)s->bar + 1,
      s->bar_beat + 1,
      s->bpm,
      s->beats_per_bar,
      s->beat_unit,
      mode_text(g),
      style,
      temp,
      (unsigned long long)atomic_load(&g->app->xruns),
      (unsigned long long)g->rec.n_on,
      (unsigned long long)g->rec.n_off,
      cantus_jackrec_sounding(&g->rec),
      (unsigned long long)atomic_load(&g->app->models_swapped),
      (unsigned long long)s->stats.events_dropped,
      (unsigned long long)s->stats.late_events);
}

// ---- stdin commands and keys -----------------------------------------------------------

static void command(Main *g, char *line)
{
  char *w1 = strtok(line, " \t\r\n");
  if (!w1) {
    return;
  }
  char *w2 = strtok(NULL, " \t\r\n");
  char *w3 = strtok(NULL, "\r\n");
  if (!strcmp(w1, "quit") || !strcmp(w1, "exit")) {
    quit_signal = 1;
  } else if (!strcmp(w1, "status")) {
    print_status(g);
  } else if (!strcmp(w1, "model") && w2) {
    request_model(g, w2);
  } else if (!strcmp(w1, "reload")) {
    request_model(g, g->model_path);
  } else if (!strcmp(w1, "set") && w2 && w3) {
    while (*w3 == ' ' || *w3 == '\t') {
      w3++;
    }
    set_from_text(g, w2, w3);
  } else if (cantus_controls_find(w1) >= 0 &&
             cantus_controls_info(cantus_controls_find(w1))->kind == CANTUS_KIND_TRIGGER && !w2) {
    set_from_text(g, w1, "on");
  } else if ((cantus_controls_find(w1) >= 0 || !strcmp(w1, "range")) && w2) {
    set_from_text(g, w1, w2);
  } else {
    say(g,
        "unknown command '%s' (set NAME VALUE, model FILE, reload, panic, regenerate, "
        "status, quit)",
        w1);
  }
}

static void read_stdin(Main *g)
{
  struct pollfd p = { 0, POLLIN, 0 };
  if (!g->stdin_open || poll(&p, 1, 0) <= 0) {
    return;
  }
  char buf[1024];
  ssize_t n = read(0, buf, sizeof buf);
  if (n <= 0) {
    g->stdin_open = false; // EOF (e.g. systemd's /dev/null): keep running
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      g->line[g->line_len] = '\0';
      command(g, g->line);
      g->line_len = 0;
    } else if (g->line_len + 1 < sizeof g->line) {
      g->line[g->line_len++] = buf[i];
    }
  }
}

static void step_control(Main *g, int dir)
{
  const int ctl = g->selected;
  const CantusControlInfo *t = cantus_controls_info(ctl);
  double v = cantus_controls_get(&g->view, ctl);
  if (t->kind == CANTUS_KIND_TRIGGER) {
    send_ctl(g, ctl, 1);
    say(g, "%s", t->symbol);
    return;
  }
  if (t->kind == CANTUS_KIND_TOGGLE) {
    v = v >= 0.5 ? 0 : 1;
  } else if (t->kind == CANTUS_KIND_ENUM) {
    // The next scale point (hold_bars: 1, 2, 4, 8).
    int k = 0;
    while (k + 1 < t->n_points && t->points[k].value < v) {
      k++;
    }
    k += dir > 0 ? 1 : -1;
    v = t->points[k < 0 ? 0 : k >= t->n_points ? t->n_points - 1 : k].value;
  } else {
    v += dir * t->step;
  }
  send_ctl(g, ctl, v);
}

// Keys 1-9 pick styles 1-9; [ and ] step through all of them (wrapping),
// so a model's 10th and later styles are a key away too.
static void pick_style(Main *g, int style)
{
  if (g->model && style >= 0 && (uint32_t)style < g->model->dims.n_styles) {
    send_ctl(g, CANTUS_CONTROL_STYLE, style);
    announce_ctl(g, CANTUS_CONTROL_STYLE, "");
  }
}

static void step_style(Main *g, int dir)
{
  const int n = g->model ? (int)g->model->dims.n_styles : 0;
  if (n > 0) {
    pick_style(g, ((g->view.style + dir) % n + n) % n);
  }
}

static void toggle(Main *g, int ctl)
{
  send_ctl(g, ctl, cantus_controls_get(&g->view, ctl) >= 0.5 ? 0 : 1);
  announce_ctl(g, ctl, "");
}

static void read_keys(Main *g)
{
  for (int k = cantus_jackui_key(); k >= 0; k = cantus_jackui_key()) {
    if (g->prompting) {
      if (k == CANTUS_KEY_ENTER) {
        g->prompting = false;
        g->line[g->line_len] = '\0';
        if (g->line_len) {
          request_model(g, g->line);
        }
      } else if (k == CANTUS_KEY_ESC) {
        g->prompting = false;
      } else if (k == CANTUS_KEY_BACKSPACE) {
        g->line_len -= g->line_len > 0;
      } else if (k >= 32 && k < 127 && g->line_len + 1 < sizeof g->line) {
        g->line[g->line_len++] = (char)k;
      }
      g->line[g->line_len] = '\0';
      continue;
    }
    const int n = CANTUS_N_CONTROLS;
    switch (k) {
    case CANTUS_KEY_UP:
      g->selected = (g->selected + n - 1) % n;
      break;
    case CANTUS_KEY_DOWN:
      g->selected = (g->selected + 1) % n;
      break;
    case CANTUS_KEY_LEFT:
    case '-':
      step_control(g, -1);
      break;
    case CANTUS_KEY_RIGHT:
    case '+':
    case '=':
      step_control(g, 1);
      break;
    case 'q':
      quit_signal = 1;
      break;
    case 'p':
      send_ctl(g, CANTUS_CONTROL_PANIC, 1);
      say(g, "panic");
      break;
    case 'r':
      send_ctl(g, CANTUS_CONTROL_REGENERATE, 1);
      say(g, "regenerate");
      break;
    case 'h':
      toggle(g, CANTUS_CONTROL_HOLD);
      break;
    case 'l':
      toggle(g, CANTUS_CONTROL_LISTEN);
      break;
    case 'c':
      toggle(g, CANTUS_CONTROL_CALL_RESPONSE);
      break;
    case '[':
      step_style(g, -1);
      break;
    case ']':
      step_style(g, 1);
      break;
    case 'm':
      g->prompting = true;
      g->line_len = strlen(g->model_path);
      memcpy(g->line, g->model_path, g->line_len + 1);
      break;
    default:
      if (k >= '1' && k <= '9') {
        pick_style(g, k - '1');
      }
      break;
    }
  }
}

static void draw(Main *g)
{
  const char *msgs[N_MESSAGES];
  for (int i = 0; i < g->n_messages; i++) {
    msgs[i] = g->messages[i];
  }
  const CantusJackView v = {
    .client_name = jack_get_client_name(g->app->client),
    .model_path = g->model_path,
    .model = g->model,
    .controls = &g->view,
    .selected = g->selected,
    .status = g->have_status ? &g->status : NULL,
    .xruns = atomic_load(&g->app->xruns),
    .rec = &g->rec,
    .mode = mode_text(g),
    .messages = msgs,
    .n_messages = g->n_messages,
    .prompt = g->prompting ? g->line : NULL,
  };
  cantus_jackui_draw(&v);
}

// ---- rings drained by the main thread ----------------------------------------------------

static void drain(Main *g)
{
  CantusJackApp *a = g->app;
  // Models first (loader.h): a finished load goes to the audio thread and
  // becomes g->model in one step; what the audio thread handed back is
  // never g->model, so the controls below always read a live model.
  poll_loader(g);
  cantus_jackloader_free_retired(&g->loader);
  CantusJackPlayed p;
  while (jack_ringbuffer_read_space(a->played) >= sizeof p) {
    jack_ringbuffer_read(a->played, (char *)&p, sizeof p);
    cantus_jackrec_add(&g->rec, &p);
  }
  while (jack_ringbuffer_read_space(a->status) >= sizeof g->status) {
    jack_ringbuffer_read(a->status, (char *)&g->status, sizeof g->status);
    g->have_status = true;
  }
  drain_ctl_out(g);
}

static void sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// ---- set-up and tear-down ------------------------------------------------------------------

static jack_ringbuffer_t *ring(size_t bytes)
{
  jack_ringbuffer_t *r = jack_ringbuffer_create(bytes);
  if (r) {
    (void)jack_ringbuffer_mlock(r); // best effort without privileges
  }
  return r;
}

static void free_rings(CantusJackApp *a)
{
  jack_ringbuffer_t *rs[] = { a->to_rt, a->from_rt, a->ctl_in, a->ctl_out, a->played, a->status };
  for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
    if (rs[i]) {
      jack_ringbuffer_free(rs[i]);
    }
  }
}

static void connect_ports(Main *g)
{
  CantusJackApp *a = g->app;
  const char *out = jack_port_name(a->out_port), *in = jack_port_name(a->in_port);
  if (g->opt.chord_in) {
    const char *ch = jack_port_name(a->chord_port);
    int r = jack_connect(a->client, g->opt.chord_in, ch);
    if (r && r != EEXIST) {
      fprintf(stderr,
              "cantus-jack: --chord-in: cannot connect %s to %s (no such port?)\n",
              g->opt.chord_in,
              ch);
    }
  }
  for (int i = 0; i < g->opt.n_connect_out; i++) {
    int r = jack_connect(a->client, out, g->opt.connect_out[i]);
    if (r && r != EEXIST) {
      fprintf(stderr,
              "cantus-jack: cannot connect %s to %s (no such port?)\n",
              out,
              g->opt.connect_out[i]);
    }
  }
  for (int i = 0; i < g->opt.n_connect_in; i++) {
    int r = jack_connect(a->client, g->opt.connect_in[i], in);
    if (r && r != EEXIST) {
      fprintf(
        stderr, "cantus-jack: cannot connect %s to %s (no such port?)\n", g->opt.connect_in[i], in);
    }
  }
}

// Note-offs on every output, then deactivate (see the file comment).
static void shut_down(Main *g)
{
  CantusJackApp *a = g->app;
  const bool gone = atomic_load(&a->jack_gone);
  if (!gone) {
    atomic_store(&a->flush_request, 1);
    for (int t = 0; t < 200 && !atomic_load(&a->flushed) && !atomic_load(&a->jack_gone); t++) {
      sleep_ms(5);
    }
    if (!atomic_load(&a->flushed)) {
      fprintf(stderr, "cantus-jack: the audio thread did not run the final flush\n");
    }
    // The flushed buffer leaves in the next cycle: wait two.
    const long period_ms = (long)(1000.0 * jack_get_buffer_size(a->client) / a->sample_rate);
    sleep_ms(2 * period_ms + 5);
  }
  if (g->pm_used) {
    if (gone) {
      atomic_store(&g->pm.jack_gone, 1);
    }
    cantus_jackpm_stop(&g->pm);
    if (g->pm.notes_silenced) {
      fprintf(stderr,
              "cantus-jack: silenced %llu hardware notes\n",
              (unsigned long long)g->pm.notes_silenced);
    }
  }
  if (!gone) {
    jack_deactivate(a->client);
  }
  cantus_jackloader_stop(&g->loader); // nothing more for the audio thread
  drain(g);
}

static int run(Main *g)
{
  CantusJackApp *a = g->app;
  const char *mode = mode_text(g);
  say(g,
      "cantus-jack: client %s, %u Hz, %u frames per period, %s",
      jack_get_client_name(a->client),
      (unsigned)a->sample_rate,
      (unsigned)jack_get_buffer_size(a->client),
      mode);
  printf("ready\n");
  fflush(stdout);
  if (g->ui && !cantus_jackui_open()) {
    g->ui = false;
    say(g, "no terminal: running headless (--no-ui)");
  }
  long tick = 0;
  while (!quit_signal && !atomic_load(&a->jack_gone)) {
    if (reload_signal) {
      reload_signal = 0;
      request_model(g, g->model_path);
    }
    if (g->ui) {
      read_keys(g);
    } else {
      read_stdin(g);
    }
    drain(g);
    if (g->ui && tick % 5 == 0) {
      draw(g);
    }
    tick++;
    sleep_ms(10);
  }
  if (g->ui) {
    cantus_jackui_close();
    g->ui = false;
  }
  if (atomic_load(&a->jack_gone)) {
    fprintf(stderr,
            "cantus-jack: the JACK server went away (%s); stopping\n",
            a->jack_gone_reason[0] ? a->jack_gone_reason : "no reason given");
    return 1;
  }
  return 0;
}

// ---- main: check every input, start the engine, open JACK, run, finish ----------

// What main checks before it touches JACK.
typedef struct {
  CantusModel *model; // owned until the engine has it
  CantusTheme theme;
  bool have_theme;
  int out_id, in_id; // PortMidi devices, -1 for none
  int chord_id;      // --chord-device, -1 for none
} Inputs;

// The control options onto g->view (style names need the model).
static bool apply_control_options(Main *g, const CantusModel *model)
{
  const Options *o = &g->opt;
  for (int i = 0; i < o->n_sets; i++) {
    char msg[512];
    double v;
    const int ctl = o->sets[i].ctl;
    if (ctl == SET_RANGE) {
      int lo = 0, hi = 127; // checked by control_option
      cantus_controls_parse_note_range(o->sets[i].text, &lo, &hi, msg, sizeof msg);
      cantus_controls_set(&g->view, CANTUS_CONTROL_NOTE_LO, lo, 0);
      cantus_controls_set(&g->view, CANTUS_CONTROL_NOTE_HI, hi, 0);
      continue;
    }
    if (!cantus_controls_parse(ctl, o->sets[i].text, model, &v, msg, sizeof msg)) {
      char name[64];
      snprintf(name, sizeof name, "%s", cantus_controls_info(ctl)->symbol);
      for (char *c = name; *c; c++) {
        *c = *c == '_' ? '-' : *c;
      }
      fprintf(stderr, "cantus-jack: option --%s: %s\n", name, msg);
      return false;
    }
    cantus_controls_set(&g->view, ctl, v, (int)model->dims.n_styles);
  }
  return true;
}

// The model, the control options, the CC map, the theme, the record path
// and the PortMidi devices.  Returns 0, or the exit code after saying why
// (the model is then freed).
static int check_inputs(Main *g, Inputs *in)
{
  Options *o = &g->opt;
  CantusJackApp *a = g->app;
  static char def[4096];
  if (!o->model_given) {
    o->model_path = cantus_args_data_file("models/default.cantus", def, sizeof def);
    if (!o->model_path) {
      fprintf(stderr,
              "cantus-jack: no model: models/default.cantus not found here or in "
              "%s/models; pass --model FILE\n",
              cantus_args_datadir());
      return 1;
    }
  }
  CantusError err = { { 0 } };
  CantusModel *model = NULL;
  if (cantus_engine_load_model(o->model_path, &model, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-jack: %s\n", err.msg);
    return 1;
  }
  in->model = model;
  snprintf(g->model_path, sizeof g->model_path, "%s", o->model_path);
  g->model = model;
  g->view = cantus_controls_default();
  g->view.style = g->view.style_b = cantus_model_default_style(model);
  if (!apply_control_options(g, model)) {
    cantus_model_free(model);
    return 1;
  }
  if (o->cc_map) {
    if (cantus_ctlmap_load_map(o->cc_map, &a->ccmap, &err) != CANTUS_OK) {
      fprintf(stderr, "cantus-jack: %s\n", err.msg);
      cantus_model_free(model);
      return 1;
    }
  } else {
    cantus_ctlmap_default(&a->ccmap);
  }
  CantusTheme *theme = &in->theme;
  in->have_theme = false;
  if (o->theme) {
    CantusMidiFile *mf = NULL;
    CantusStatus st = cantus_midi_read(o->theme, &mf, &err);
    if (st == CANTUS_OK) {
      st = cantus_theme_for_model(mf, model, o->theme_bars, theme, &err);
      cantus_midi_free(mf);
    }
    if (st != CANTUS_OK) {
      fprintf(stderr, "cantus-jack: %s\n", err.msg);
      cantus_model_free(model);
      return 1;
    }
    in->have_theme = true;
  }
  if (o->record && !check_record_path(o->record)) {
    cantus_model_free(model);
    return 1;
  }
  int out_id = -1, in_id = -1, chord_id = -1;
  if (o->midi_out || o->midi_in || o->chord_device) {
    cantus_jackpm_init();
    char msg[300];
    bool none = false;
    if (o->midi_out &&
        (out_id = cantus_jackpm_find(o->midi_out, true, &none, msg, sizeof msg)) < 0) {
      fprintf(stderr, "cantus-jack: --midi-out %s: %s\n", o->midi_out, msg);
      if (!none) {
        cantus_model_free(model);
        return 1;
      }
    }
    if (o->midi_in && (in_id = cantus_jackpm_find(o->midi_in, false, &none, msg, sizeof msg)) < 0) {
      fprintf(stderr, "cantus-jack: --midi-in %s: %s\n", o->midi_in, msg);
      if (!none) {
        cantus_model_free(model);
        return 1;
      }
    }
    if (o->chord_device &&
        (chord_id = cantus_jackpm_find(o->chord_device, false, &none, msg, sizeof msg)) < 0) {
      fprintf(stderr, "cantus-jack: --chord-device %s: %s\n", o->chord_device, msg);
      if (!none) {
        cantus_model_free(model);
        return 1;
      }
    }
    if (chord_id >= 0 && chord_id == in_id) {
      fprintf(stderr,
              "cantus-jack: --chord-device %s is the --midi-in device; use --chord-source "
              "split for chords and melody on one input\n",
              o->chord_device);
      cantus_model_free(model);
      return 1;
    }
  }

  in->out_id = out_id;
  in->in_id = in_id;
  in->chord_id = chord_id;
  return 0;
}

// The engine with the model (and theme) installed, and the rings.
static int start_engine(Main *g, Inputs *in)
{
  const Options *o = &g->opt;
  CantusJackApp *a = g->app;
  CantusError err = { { 0 } };
  CantusEngine *engine = NULL;
  if (cantus_engine_new(o->lookahead, &engine, &err) != CANTUS_OK) {
    fprintf(stderr, "cantus-jack: %s\n", err.msg);
    cantus_model_free(in->model);
    return 1;
  }
  CantusModel *none_model = cantus_engine_install_model(engine, in->model);
  (void)none_model; // a new engine has no model
  if (in->have_theme) {
    cantus_engine_set_theme(engine, &in->theme);
  }
  a->engine = engine;
  a->controls = g->view;
  a->n_styles = (int)in->model->dims.n_styles;
  a->free_run = o->free_run;
  a->timebase_master = o->master;
  // Own tempo: --meter, else the start style's usual metre (4/4 when the
  // model names none), which then follows the style (jack_rt.c).
  a->meter_fixed = o->meter_given;
  int num = (int)o->beats_per_bar, den = o->beat_unit;
  if (!o->meter_given) {
    cantus_model_style_meter(in->model, g->view.style, &num, &den);
  }
  a->beats_per_bar = num;
  a->beat_unit = den;
  cantus_jackclock_reset(&a->clock);
  a->to_rt = ring(64);
  a->from_rt = ring(64);
  a->ctl_in = ring(256 * sizeof(CantusJackCtlMsg));
  a->ctl_out = ring(256 * sizeof(CantusJackCtlMsg));
  a->played = ring(8192 * sizeof(CantusJackPlayed));
  a->status = ring(16 * sizeof(CantusJackStatus));
  if (!a->to_rt || !a->from_rt || !a->ctl_in || !a->ctl_out || !a->played || !a->status) {
    fprintf(stderr, "cantus-jack: out of memory\n");
    return 1;
  }
  cantus_jackloader_init(&g->loader, a);
  cantus_jackrec_init(&g->rec, o->record != NULL, a->beats_per_bar, a->beat_unit);
  return 0;
}

// The JACK client: ports, the PortMidi bridge, callbacks, signal handlers,
// activation and connections.
static int open_jack(Main *g, const Inputs *in)
{
  const Options *o = &g->opt;
  CantusJackApp *a = g->app;
  CantusError err = { { 0 } };
  const int out_id = in->out_id, in_id = in->in_id, chord_id = in->chord_id;
  jack_set_error_function(jack_quiet);
  jack_set_info_function(jack_quiet);
  jack_status_t jst = 0;
  jack_options_t jopt = JackNoStartServer | JackUseExactName | (o->server ? JackServerName : 0);
  a->client = jack_client_open(o->name, jopt, &jst, o->server);
  if (!a->client) {
    if (jst & JackNameNotUnique) {
      fprintf(stderr,
              "cantus-jack: the JACK client name '%s' is taken; choose another with "
              "--name\n",
              o->name);
    } else {
      fprintf(stderr,
              "cantus-jack: cannot connect to the JACK server '%s' (is jackd running? "
              "start it with e.g. `jackd -d alsa` or qjackctl)\n",
              o->server                       ? o->server
              : getenv("JACK_DEFAULT_SERVER") ? getenv("JACK_DEFAULT_SERVER")
                                              : "default");
    }
    return 1;
  }
  // libjack keeps talking on its own threads, above all when the server
  // goes away ("Cannot read socket fd", "CheckRes error"): cantus-jack says
  // what matters itself (the shutdown callback's reason, failed connects),
  // so the library stays quiet for good.
  a->sample_rate = jack_get_sample_rate(a->client);
  a->out_port =
    jack_port_register(a->client, "midi_out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
  a->in_port = jack_port_register(a->client, "midi_in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
  a->chord_port =
    jack_port_register(a->client, "chord_in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
  if (!a->out_port || !a->in_port || !a->chord_port) {
    fprintf(stderr, "cantus-jack: cannot register the MIDI ports\n");
    jack_client_close(a->client);
    return 1;
  }
  if (out_id >= 0 || in_id >= 0 || chord_id >= 0) {
    if ((out_id >= 0 || in_id >= 0) && cantus_midibridge_new(4096, &a->bridge, &err) != CANTUS_OK) {
      fprintf(stderr, "cantus-jack: %s\n", err.msg);
      jack_client_close(a->client);
      return 1;
    }
    char msg[300];
    if (!cantus_jackpm_open(
          &g->pm, a->client, a->bridge, out_id, in_id, o->midi_latency_ms, msg, sizeof msg)) {
      fprintf(stderr, "cantus-jack: %s; running on the JACK ports only\n", msg);
      cantus_midibridge_free(a->bridge);
      a->bridge = NULL;
    } else {
      g->pm_used = true;
    }
    if (g->pm_used && chord_id >= 0) {
      if (cantus_midibridge_new(1024, &a->chord_bridge, &err) != CANTUS_OK) {
        fprintf(stderr, "cantus-jack: %s\n", err.msg);
      } else if (!cantus_jackpm_open_chords(&g->pm, a->chord_bridge, chord_id, msg, sizeof msg)) {
        fprintf(stderr, "cantus-jack: %s; chords from chord_in only\n", msg);
        cantus_midibridge_free(a->chord_bridge);
        a->chord_bridge = NULL;
      }
    }
  }
  jack_set_process_callback(a->client, cantus_jack_process, a);
  jack_set_xrun_callback(a->client, cantus_jack_xrun, a);
  jack_on_info_shutdown(a->client, cantus_jack_shutdown, a);

  struct sigaction sa = { 0 };
  sa.sa_handler = on_quit;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (jack_activate(a->client)) {
    fprintf(stderr, "cantus-jack: cannot activate the JACK client\n");
    jack_client_close(a->client);
    return 1;
  }
  if (o->master && jack_set_timebase_callback(a->client, 0, cantus_jack_timebase, a) != 0) {
    fprintf(stderr, "cantus-jack: cannot become the JACK timebase master\n");
  }
  connect_ports(g);
  if (g->pm_used) {
    cantus_jackpm_start(&g->pm);
    say(g,
        "cantus-jack: hardware MIDI%s%s%s%s%s%s (latency: one period + %d ms)",
        out_id >= 0 ? " out " : "",
        out_id >= 0 ? o->midi_out : "",
        in_id >= 0 ? " in " : "",
        in_id >= 0 ? o->midi_in : "",
        a->chord_bridge ? " chords " : "",
        a->chord_bridge ? o->chord_device : "",
        o->midi_latency_ms);
  }
  return 0;
}

// The exit summary, for the player: how long, how many notes, whether any
// was left sounding, model changes, and only then what went wrong (xruns
// are the audio dropouts a musician hears as clicks).  One line, so the
// tests and a log can grep it.
static void print_summary(const Main *g, const CantusStats *st)
{
  const CantusJackApp *a = g->app;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long secs = (long)(now.tv_sec - g->started.tv_sec);
  const int sounding = cantus_jackrec_sounding(&g->rec);
  const unsigned long long xruns = (unsigned long long)atomic_load(&a->xruns),
                           changes = (unsigned long long)atomic_load(&a->models_swapped),
                           lost = (unsigned long long)atomic_load(&a->port_drops);
  char extra[256] = "";
  if (st->events_dropped || st->late_events || lost) {
    snprintf(extra,
             sizeof extra,
             " Trouble: %llu notes dropped (too many at once), %llu late, %llu lost at the "
             "JACK port.",
             (unsigned long long)st->events_dropped,
             (unsigned long long)st->late_events,
             lost);
  }
  char ended[64];
  if (sounding == 0) {
    snprintf(ended, sizeof ended, "none left sounding");
  } else {
    snprintf(ended, sizeof ended, "%d left sounding (send panic)", sounding);
  }
  printf("cantus-jack: stopped after %ld:%02ld. Played %llu notes, %s. %llu model change%s. "
         "Audio dropouts (xruns): %llu.%s\n",
         secs / 60,
         secs % 60,
         (unsigned long long)g->rec.n_on,
         ended,
         changes,
         changes == 1 ? "" : "s",
         xruns,
         extra);
  fflush(stdout);
}

// After the client has deactivated (the audio thread is gone): free the
// models, write the recording, print the statistics, close everything.
static int finish(Main *g, int rc)
{
  const Options *o = &g->opt;
  CantusJackApp *a = g->app;
  CantusEngine *engine = a->engine;
  CantusError err = { { 0 } };
  CantusModel *m = NULL;
  while (jack_ringbuffer_read_space(a->to_rt) >= sizeof m) {
    jack_ringbuffer_read(a->to_rt, (char *)&m, sizeof m);
    cantus_model_free(m);
  }
  cantus_model_free(a->retired);
  a->retired = NULL;
  cantus_model_free(cantus_engine_install_model(engine, NULL));
  const double end_beat = g->have_status ? g->status.perf_beat : 0;
  if (o->record) {
    if (cantus_jackrec_write(&g->rec, o->record, end_beat, &err) != CANTUS_OK) {
      fprintf(stderr, "cantus-jack: %s\n", err.msg);
      rc = 1;
    } else {
      printf("cantus-jack: recorded %zu notes to %s\n", g->rec.n_notes, o->record);
    }
  }
  CantusStats st;
  cantus_engine_get_stats(engine, &st); // the audio thread is gone
  print_summary(g, &st);
  jack_client_close(a->client);
  if (g->pm_used || o->midi_out || o->midi_in || o->chord_device) {
    cantus_jackpm_terminate();
  }
  cantus_midibridge_free(a->bridge);
  cantus_midibridge_free(a->chord_bridge);
  cantus_engine_free(engine);
  cantus_jackrec_free(&g->rec);
  free_rings(a);
  return rc;
}

int main(int argc, char **argv)
{
  static Main main_state;
  static CantusJackApp app;
  static Inputs in;
  Main *g = &main_state;
  g->app = &app;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = parse_options(argc, argv, &g->opt);
  if (rc) {
    return rc < 0 ? 0 : rc;
  }
  const Options *o = &g->opt;
  if (o->list_devices) {
    cantus_jackpm_init();
    cantus_jackpm_list(stdout);
    cantus_jackpm_terminate();
    return 0;
  }
  if ((rc = check_inputs(g, &in)) || (rc = start_engine(g, &in)) || (rc = open_jack(g, &in))) {
    return rc;
  }
  say(g,
      "cantus-jack: model %s (%s, %u styles, %u ticks per quarter)",
      g->model_path,
      in.model->name,
      in.model->dims.n_styles,
      (unsigned)in.model->dims.vocab.tpq);
  g->ui = !o->no_ui;
  g->stdin_open = true;
  clock_gettime(CLOCK_MONOTONIC, &g->started);
  rc = run(g);
  shut_down(g);
  return finish(g, rc);
}
