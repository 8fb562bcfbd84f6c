// SPDX-License-Identifier: GPL-3.0-or-later
// The Cantus LV2 plugin: thin glue between an LV2 host and the engine.  run()
// turns the control ports, the MIDI and time:Position events of the control
// port into CantusBlockIn (split at every time:Position, so each is read at
// the exact frame where it arrives, and extrapolated between updates) and the
// engine's output into the MIDI atom sequence.  Model and theme files are
// read in the worker, installed in work_response with a plain store, and the
// retired ones freed by the worker (the eg-sampler pattern).  Thread classes:
// run, connect_port, work_response are [RT]; instantiate, activate,
// deactivate, cleanup, save, restore and work are non-RT.
#include "engine.h"
#include "ports.h"
#include "schedule.h"
#include "uris.h"

#include <lv2/core/lv2.h>
#include <lv2/core/lv2_util.h>
#include <lv2/log/logger.h>
#include <lv2/state/state.h>
#include <lv2/worker/worker.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
  PATH_CAP = 4096,                                       // bytes of a file path, NUL included
  NAMES_CAP = CANTUS_MAX_STYLES * CANTUS_STYLE_NAME_LEN, // style names, one per line
  N_PARKED = 16,                                         // retired objects awaiting the worker
  EVENT_ROOM = sizeof(LV2_Atom_Event) + 8,               // one MIDI event (<= 3 bytes, padded)
  SET_ROOM = sizeof(LV2_Atom_Event) + 64                 // a patch:Set, without its string
};

// A loaded model with what run() needs to announce it.  Owned by whoever
// holds the pointer: the worker until installed, then the instance until
// retired, then the worker again, which frees it.
typedef struct {
  CantusModel *model;
  uint32_t path_len; // bytes, NUL excluded
  uint32_t names_len;
  char path[PATH_CAP];
  char names[NAMES_CAP]; // the model's style names, one per line
} Slot;

// What a theme is built for: a model's vocabulary and part names (a copy,
// so the worker needs no access to the model the audio thread plays).
typedef struct {
  CantusVocab vocab;
  char parts[CANTUS_MAX_PARTS][CANTUS_STYLE_NAME_LEN];
} ThemeTarget;

static void target_of(ThemeTarget *t, const CantusModel *m)
{
  memset(t, 0, sizeof *t);
  t->vocab = m->dims.vocab;
  for (uint32_t k = 0; m->part_names && k < t->vocab.n_parts && k < CANTUS_MAX_PARTS; k++) {
    memcpy(t->parts[k], m->part_names[k], CANTUS_STYLE_NAME_LEN);
  }
}

// A primer theme built for one model's vocabulary; n_tokens 0 = no theme.
typedef struct {
  CantusTheme theme;
  uint32_t path_len;
  char path[PATH_CAP]; // "" = no theme
} ThemeBox;

// The fixed-size message between run() and the worker that carries
// pointers: cantus:install and cantus:loadFailed (work -> work_response),
// cantus:free (work_response / run -> work).  Copied by value.
typedef struct {
  LV2_Atom atom; // size = bytes after the header, type = the message URID
  Slot *slot;
  ThemeBox *theme;
} PtrMsg;

// The host transport as last reported, advanced frame by frame between
// time:Position updates.  Only the clock: the engine keeps the musical time.
typedef struct {
  bool valid;   // a time:Position arrived since activate
  double speed; // 0 = stopped, 1 = rolling
  double bpm;   // <= 0: the host gave none (the bpm port applies)
  int64_t bar;
  double bar_beat;
  double beats_per_bar;
  int beat_unit;
} Xport;

typedef struct {
  // Host features.
  LV2_URID_Map *map;
  LV2_Worker_Schedule *schedule;
  LV2_Log_Logger logger;
  CantusURIs uris;
  LV2_Atom_Forge forge_midi;
  LV2_Atom_Forge forge_notify;
  LV2_Atom_Forge_Frame frame_midi;
  LV2_Atom_Forge_Frame frame_notify;

  // Ports.
  const LV2_Atom_Sequence *control;
  LV2_Atom_Sequence *midi_out;
  LV2_Atom_Sequence *notify;
  const float *in[CANTUS_N_PORTS];
  float *bar_out;
  float *surprise_out;

  // Audio-thread state.
  CantusEngine *engine;
  Slot *slot;      // installed model; swapped in work_response, read by save() under lock
  ThemeBox *theme; // installed theme or NULL; same rules
  Xport xport;
  CantusControls defaults;
  double rate;
  bool activated;
  bool notify_model, notify_names, notify_theme; // patch:Set notifications due
  PtrMsg parked[N_PARKED]; // retired objects the worker queue refused; retried each run
  uint32_t n_parked;
  CantusMidiEvent midi_in[CANTUS_MAX_EVENTS];
  const LV2_Atom_Sequence *chords;             // the Chords port
  CantusMidiEvent chord_ev[CANTUS_MAX_EVENTS]; // its MIDI events this block, block frames
  uint32_t n_chord_ev;
  CantusMidiEvent chord_seg[CANTUS_MAX_EVENTS]; // those of the segment being processed
  CantusBlockIn block;
  CantusBlockOut out;
  CantusSchedGate gate;    // keeps room in the MIDI output for every owed note-off
  uint64_t out_dropped;    // MIDI events the output buffer could not take
  uint64_t in_dropped;     // MIDI input events over CANTUS_MAX_EVENTS per segment
  uint64_t notify_dropped; // notifications postponed for lack of room
  uint64_t work_refused;   // schedule_work failures
  uint64_t leaked;         // retired objects lost when the parking space was full

  // Worker side (non-RT threads only), guarded by `lock`.
  pthread_mutex_t lock;
  char theme_path[PATH_CAP]; // the theme wanted with the next model ("" = none)
  ThemeTarget target;        // vocabulary and part names of the model most recently loaded
  bool have_vocab;
  char bundle[PATH_CAP]; // bundle path, with a trailing '/'
} Cantus;

// ---- non-RT helpers ---------------------------------------------------------

static bool file_exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// Reads and checks a model.  A missing file whose name exists in the
// bundle's models/ folder loads from there (sessions moved between machines
// with different install prefixes).  Logs and returns NULL on failure.
static Slot *load_slot(Cantus *self, const char *path)
{
  if (!path[0] || strlen(path) >= PATH_CAP) {
    lv2_log_error(&self->logger,
                  "cantus: model path is empty or too long; keeping the current model\n");
    return NULL;
  }
  char used[PATH_CAP];
  snprintf(used, sizeof used, "%s", path);
  if (!file_exists(used)) {
    const char *base = strrchr(path, '/');
    char alt[PATH_CAP];
    const int n = snprintf(alt, sizeof alt, "%smodels/%s", self->bundle, base ? base + 1 : path);
    if (n > 0 && n < PATH_CAP && strcmp(alt, path) != 0 && file_exists(alt)) {
      lv2_log_note(&self->logger, "cantus: %s not found; using the bundle's %s\n", path, alt);
      snprintf(used, sizeof used, "%s", alt);
    }
  }
  CantusModel *m = NULL;
  CantusError err = { { 0 } };
  if (cantus_engine_load_model(used, &m, &err) != CANTUS_OK) {
    lv2_log_error(&self->logger, "cantus: %s; keeping the current model\n", err.msg);
    return NULL;
  }
  Slot *s = calloc(1, sizeof *s);
  if (!s) {
    cantus_model_free(m);
    lv2_log_error(&self->logger, "cantus: %s: out of memory; keeping the current model\n", used);
    return NULL;
  }
  s->model = m;
  s->path_len = (uint32_t)strlen(used);
  memcpy(s->path, used, s->path_len + 1);
  size_t len = 0;
  for (uint32_t i = 0; i < m->dims.n_styles; i++) {
    const int n =
      snprintf(s->names + len, sizeof s->names - len, "%s%s", i ? "\n" : "", m->style_names[i]);
    if (n < 0 || (size_t)n >= sizeof s->names - len) {
      break;
    }
    len += (size_t)n;
  }
  s->names_len = (uint32_t)len;
  return s;
}

static void free_slot(Slot *s)
{
  if (s) {
    cantus_model_free(s->model);
    free(s);
  }
}

// Builds a theme box from a MIDI file for vocabulary v; "" gives an empty
// box (no theme).  Logs and returns NULL on failure.
static ThemeBox *load_theme(Cantus *self, const char *path, ThemeTarget *v)
{
  if (strlen(path) >= PATH_CAP) {
    lv2_log_error(&self->logger, "cantus: theme path too long; keeping the current theme\n");
    return NULL;
  }
  ThemeBox *box = calloc(1, sizeof *box);
  if (!box) {
    lv2_log_error(&self->logger, "cantus: %s: out of memory; keeping the current theme\n", path);
    return NULL;
  }
  box->path_len = (uint32_t)strlen(path);
  memcpy(box->path, path, box->path_len + 1);
  if (!path[0]) {
    return box;
  }
  if (!v) {
    lv2_log_error(&self->logger, "cantus: %s: no model loaded to read a theme for\n", path);
    free(box);
    return NULL;
  }
  CantusMidiFile *mf = NULL;
  CantusError err = { { 0 } };
  CantusStatus st = cantus_midi_read(path, &mf, &err);
  if (st == CANTUS_OK) {
    st = cantus_theme_for_parts(
      mf, &v->vocab, v->vocab.n_parts ? v->parts : NULL, 0, &box->theme, &err);
    cantus_midi_free(mf);
  }
  if (st != CANTUS_OK) {
    lv2_log_error(&self->logger, "cantus: %s; keeping the current theme\n", err.msg);
    free(box);
    return NULL;
  }
  return box;
}

// ---- instantiation ------------------------------------------------------------

static void cleanup(LV2_Handle instance);

static LV2_Handle instantiate(const LV2_Descriptor *descriptor,
                              double rate,
                              const char *bundle_path,
                              const LV2_Feature *const *features)
{
  (void)descriptor;
  Cantus *self = calloc(1, sizeof *self);
  if (!self) {
    return NULL;
  }
  const char *missing = lv2_features_query(features,
                                           LV2_LOG__log,
                                           &self->logger.log,
                                           false,
                                           LV2_URID__map,
                                           &self->map,
                                           true,
                                           LV2_WORKER__schedule,
                                           &self->schedule,
                                           true,
                                           NULL);
  lv2_log_logger_set_map(&self->logger, self->map);
  if (missing) {
    lv2_log_error(&self->logger, "cantus: the host lacks the required feature <%s>\n", missing);
    free(self);
    return NULL;
  }
  pthread_mutex_init(&self->lock, NULL);
  cantus_uris_map(self->map, &self->uris);
  lv2_atom_forge_init(&self->forge_midi, self->map);
  lv2_atom_forge_init(&self->forge_notify, self->map);
  self->rate = rate;
  self->defaults = cantus_controls_default();
  const size_t blen = strlen(bundle_path);
  if (blen + 64 > PATH_CAP) {
    lv2_log_error(&self->logger, "cantus: bundle path too long: %s\n", bundle_path);
    free(self);
    return NULL;
  }
  snprintf(self->bundle,
           sizeof self->bundle,
           "%s%s",
           bundle_path,
           blen && bundle_path[blen - 1] == '/' ? "" : "/");

  CantusError err = { { 0 } };
  if (cantus_engine_new(0.0, &self->engine, &err) != CANTUS_OK) {
    lv2_log_error(&self->logger, "cantus: %s\n", err.msg);
    cleanup(self);
    return NULL;
  }
  // The shipped default model; without it the plugin runs and stays silent
  // until a model is chosen (the reason is in the log).
  char path[PATH_CAP + 32];
  snprintf(path, sizeof path, "%smodels/default.cantus", self->bundle);
  self->slot = load_slot(self, path);
  if (self->slot) {
    cantus_engine_install_model(self->engine, self->slot->model);
    target_of(&self->target, self->slot->model);
    self->have_vocab = true;
  }
  return self;
}

static void connect_port(LV2_Handle instance, uint32_t port, void *data)
{
  Cantus *self = instance;
  switch ((CantusPort)port) {
  case CANTUS_PORT_CONTROL:
    self->control = data;
    break;
  case CANTUS_PORT_MIDI_OUT:
    self->midi_out = data;
    break;
  case CANTUS_PORT_NOTIFY:
    self->notify = data;
    break;
  case CANTUS_PORT_BAR:
    self->bar_out = data;
    break;
  case CANTUS_PORT_SURPRISE:
    self->surprise_out = data;
    break;
  case CANTUS_PORT_CHORDS:
    self->chords = data;
    break;
  case CANTUS_N_PORTS:
    break;
  default:
    if (port < CANTUS_N_PORTS) {
      self->in[port] = data;
    }
    break;
  }
}

static void activate(LV2_Handle instance)
{
  Cantus *self = instance;
  self->xport = (Xport){ 0 };
  self->activated = true;
}

// Notes still sounding are switched off in the first run() after the next
// activate: the host may not call run() between deactivate and activate.
static void deactivate(LV2_Handle instance)
{
  Cantus *self = instance;
  cantus_engine_panic(self->engine);
  self->activated = false;
  // Problems only: a starved block (the lookahead filling up over a few
  // blocks after a start or a jump) is normal and not reported.
  CantusStats st;
  cantus_engine_get_stats(self->engine, &st);
  self->out_dropped += self->gate.held_back;
  self->gate.held_back = 0;
  if (self->out_dropped || self->in_dropped || self->work_refused || self->leaked ||
      st.events_dropped || st.late_events) {
    lv2_log_warning(&self->logger,
                    "cantus: %llu MIDI out and %llu MIDI in events dropped, %llu engine events "
                    "dropped, %llu late, %llu worker requests refused, %llu objects leaked\n",
                    (unsigned long long)self->out_dropped,
                    (unsigned long long)self->in_dropped,
                    (unsigned long long)st.events_dropped,
                    (unsigned long long)st.late_events,
                    (unsigned long long)self->work_refused,
                    (unsigned long long)self->leaked);
  }
}

static void cleanup(LV2_Handle instance)
{
  Cantus *self = instance;
  for (uint32_t i = 0; i < self->n_parked; i++) {
    free_slot(self->parked[i].slot);
    free(self->parked[i].theme);
  }
  if (self->engine) {
    cantus_engine_install_model(self->engine, NULL);
    cantus_engine_free(self->engine);
  }
  free_slot(self->slot);
  free(self->theme);
  pthread_mutex_destroy(&self->lock);
  free(self);
}

// ---- run() helpers [RT] ------------------------------------------------------

CANTUS_RT static bool port_bool(const Cantus *self, CantusPort p, bool dflt)
{
  const float *v = self->in[p];
  return v ? *v > 0.5f : dflt;
}

// Every engine control from its port (the control table names the port):
// clamped into the port's range, NaN and unconnected ports give the
// default, triggers are off unless set.
CANTUS_RT static void read_controls(const Cantus *self, CantusControls *c)
{
  *c = self->defaults;
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const float *v = self->in[cantus_controls_info(i)->port];
    if (v) {
      cantus_controls_set(c, i, (double)*v, 0);
    }
  }
}

// Any numeric atom as a double; false for other types.
CANTUS_RT static bool atom_number(const CantusURIs *u, const LV2_Atom *a, double *v)
{
  if (!a) {
    return false;
  }
  if (a->type == u->atom_Float) {
    *v = (double)((const LV2_Atom_Float *)a)->body;
  } else if (a->type == u->atom_Double) {
    *v = ((const LV2_Atom_Double *)a)->body;
  } else if (a->type == u->atom_Long) {
    *v = (double)((const LV2_Atom_Long *)a)->body;
  } else if (a->type == u->atom_Int) {
    *v = (double)((const LV2_Atom_Int *)a)->body;
  } else {
    return false;
  }
  return isfinite(*v);
}

// Splits a beat count into bar and beat-in-bar.  Absurd host values (a
// huge speed or tempo, a sample rate of 0) can make it NaN or huge: such a
// count stops at 0 or at bar 9e15 (the engine clamps further), so the
// conversion to int64 is always defined.
CANTUS_RT static void set_beats(Xport *x, double beats)
{
  beats = beats >= 0.0 ? beats : 0.0;
  double bar = floor(beats / x->beats_per_bar);
  bar = bar < 9e15 ? bar : 9e15;
  x->bar = (int64_t)bar;
  x->bar_beat = bar < 9e15 ? beats - bar * x->beats_per_bar : 0.0;
  if (x->bar_beat < 0.0) {
    x->bar_beat = 0.0;
  }
}

// Takes a time:Position as the transport state at the current frame.  Any
// field may be missing: jalv without a JACK timebase master sends only
// frame and speed (the beat is then the frame at the bpm port's tempo).
CANTUS_RT static void update_position(Cantus *self, const LV2_Atom_Object *obj, float port_bpm)
{
  const CantusURIs *u = &self->uris;
  const LV2_Atom *bar = NULL, *bar_beat = NULL, *beat = NULL, *bpb = NULL, *unit = NULL,
                 *bpm = NULL, *speed = NULL, *frame = NULL;
  lv2_atom_object_get(obj,
                      u->time_bar,
                      &bar,
                      u->time_barBeat,
                      &bar_beat,
                      u->time_beat,
                      &beat,
                      u->time_beatsPerBar,
                      &bpb,
                      u->time_beatUnit,
                      &unit,
                      u->time_beatsPerMinute,
                      &bpm,
                      u->time_speed,
                      &speed,
                      u->time_frame,
                      &frame,
                      0);
  Xport *x = &self->xport;
  if (!x->valid) {
    *x = (Xport){ .valid = true, .bpm = -1.0, .beats_per_bar = 4.0, .beat_unit = 4 };
  }
  double v;
  if (atom_number(u, bpm, &v) && v > 0.0) {
    x->bpm = v;
  }
  if (atom_number(u, bpb, &v) && v > 0.0) {
    x->beats_per_bar = v < 1.0 ? 1.0 : v > 64.0 ? 64.0 : v; // as the engine clamps it
  }
  if (atom_number(u, unit, &v) && v >= 1.0 && v <= 64.0) {
    x->beat_unit = (int)v;
  }
  if (atom_number(u, speed, &v)) {
    x->speed = v;
  }
  double b;
  if (atom_number(u, bar_beat, &v) && v >= 0.0 && v < 1e6) {
    if (atom_number(u, bar, &b) && b >= 0.0 && b < 9e15) {
      x->bar = (int64_t)b;
    }
    // A barBeat rounded up to the bar length is the next bar's downbeat.
    set_beats(x, (double)x->bar * x->beats_per_bar + v);
  } else if (atom_number(u, beat, &v) && v >= 0.0 && v < 9e15) {
    set_beats(x, v);
  } else if (atom_number(u, frame, &v) && v >= 0.0 && v < 9e15) {
    set_beats(x, v * cantus_engine_bpm(x->bpm, port_bpm) / (60.0 * self->rate));
  }
}

// Moves the transport clock n frames on.
CANTUS_RT static void advance(Xport *x, uint32_t n, double rate, float port_bpm)
{
  if (!x->valid || x->speed <= 0.0 || n == 0) {
    return;
  }
  const double bpm = cantus_engine_bpm(x->bpm, port_bpm);
  set_beats(x,
            (double)x->bar * x->beats_per_bar + x->bar_beat +
              (double)n * bpm * x->speed / (60.0 * rate));
}

CANTUS_RT static CantusTransport transport_of(const Xport *x, bool free_run)
{
  if (free_run || !x->valid) {
    return (CantusTransport){ .valid = false, .beats_per_bar = 4.0, .beat_unit = 4 };
  }
  const bool rolling = x->speed > 0.0;
  return (CantusTransport){
    .valid = true,
    .rolling = rolling,
    .bpm = x->bpm > 0.0 ? x->bpm * (rolling ? x->speed : 1.0) : -1.0,
    .bar = x->bar,
    .bar_beat = x->bar_beat,
    .beats_per_bar = x->beats_per_bar,
    .beat_unit = x->beat_unit,
  };
}

CANTUS_RT static void begin_sequence(LV2_Atom_Forge *f,
                                     LV2_Atom_Forge_Frame *frame,
                                     LV2_Atom_Sequence *seq)
{
  if (!seq) {
    f->buf = NULL;
    f->offset = f->size = 0;
    return;
  }
  const uint32_t capacity = seq->atom.size;
  lv2_atom_forge_set_buffer(f, (uint8_t *)seq, capacity);
  if (!lv2_atom_forge_sequence_head(f, frame, 0)) {
    f->buf = NULL;
    f->offset = f->size = 0;
  }
}

CANTUS_RT static void end_sequence(LV2_Atom_Forge *f, LV2_Atom_Forge_Frame *frame)
{
  if (f->buf) {
    lv2_atom_forge_pop(f, frame);
  }
}

CANTUS_RT static bool has_room(const LV2_Atom_Forge *f, uint32_t bytes)
{
  return f->buf && f->offset + bytes <= f->size;
}

// Appends the engine's events of one segment starting at `start`.  A host
// buffer too small for them all loses note-ons, never a note-off (the gate
// keeps room for the offs of the notes it let out); the room is checked so
// a full buffer never holds half an event.
CANTUS_RT static void write_midi(Cantus *self, uint32_t start)
{
  LV2_Atom_Forge *f = &self->forge_midi;
  const CantusBlockOut *out = &self->out;
  for (uint32_t i = 0; i < out->n_events; i++) {
    const CantusMidiEvent *ev = &out->events[i];
    const uint32_t room = f->buf && f->offset < f->size ? (f->size - f->offset) / EVENT_ROOM : 0;
    if (!cantus_schedule_gate_pass(&self->gate, ev->data, ev->size, room)) {
      continue; // counted by the gate
    }
    if (ev->size < 1 || ev->size > 3 || !has_room(f, EVENT_ROOM)) {
      self->out_dropped++;
      continue;
    }
    lv2_atom_forge_frame_time(f, (int64_t)start + ev->frame);
    lv2_atom_forge_atom(f, ev->size, self->uris.midi_MidiEvent);
    lv2_atom_forge_write(f, ev->data, ev->size);
  }
}

// Runs the engine over [start, start + len) with the first n_in collected
// MIDI input events, then moves the transport clock on.
CANTUS_RT static void process_segment(Cantus *self,
                                      const CantusControls *c,
                                      bool free_run,
                                      uint32_t start,
                                      uint32_t len,
                                      uint32_t n_in)
{
  CantusBlockIn *in = &self->block;
  in->n_frames = len;
  in->sample_rate = self->rate;
  in->transport = transport_of(&self->xport, free_run);
  in->controls = *c;
  in->midi_in = self->midi_in;
  in->n_midi_in = n_in;
  // The Chords port's events of [start, start + len), rebased.
  uint32_t n_ch = 0;
  for (uint32_t i = 0; i < self->n_chord_ev; i++) {
    const CantusMidiEvent *ev = &self->chord_ev[i];
    if (ev->frame >= start && ev->frame < start + len) {
      self->chord_seg[n_ch] = *ev;
      self->chord_seg[n_ch++].frame = ev->frame - start;
    }
  }
  in->chord_in = self->chord_seg;
  in->n_chord_in = n_ch;
  cantus_engine_process(self->engine, in, &self->out);
  write_midi(self, start);
  advance(&self->xport, len, self->rate, c->bpm);
}

CANTUS_RT static void schedule_ptr(Cantus *self, const PtrMsg *msg)
{
  if (self->schedule->schedule_work(self->schedule->handle, sizeof *msg, msg) !=
      LV2_WORKER_SUCCESS) {
    self->work_refused++;
    if (self->n_parked < N_PARKED) {
      self->parked[self->n_parked++] = *msg;
    } else {
      self->leaked++;
    }
  }
}

// Hands parked retired objects to the worker again.
CANTUS_RT static void retry_parked(Cantus *self)
{
  const uint32_t n = self->n_parked;
  PtrMsg copy[N_PARKED];
  memcpy(copy, self->parked, n * sizeof *copy);
  self->n_parked = 0;
  for (uint32_t i = 0; i < n; i++) {
    schedule_ptr(self, &copy[i]);
  }
}

CANTUS_RT static bool write_set(Cantus *self,
                                LV2_URID key,
                                LV2_URID type,
                                const char *s,
                                uint32_t len)
{
  LV2_Atom_Forge *f = &self->forge_notify;
  if (!has_room(f, SET_ROOM + len + 8)) {
    self->notify_dropped++;
    return false;
  }
  lv2_atom_forge_frame_time(f, 0);
  return cantus_write_set(f, &self->uris, key, type, s, len);
}

// patch:Set notifications for what changed (and for patch:Get); a flag
// stays set when the notify buffer is full, so the next run retries.
CANTUS_RT static void write_notifications(Cantus *self)
{
  const CantusURIs *u = &self->uris;
  const Slot *s = self->slot;
  if (self->notify_model) {
    self->notify_model =
      !write_set(self, u->cantus_model, u->atom_Path, s ? s->path : "", s ? s->path_len : 0);
  }
  if (self->notify_names) {
    self->notify_names = !write_set(
      self, u->cantus_styleNames, u->atom_String, s ? s->names : "", s ? s->names_len : 0);
  }
  if (self->notify_theme) {
    const ThemeBox *t = self->theme;
    self->notify_theme =
      !write_set(self, u->cantus_theme, u->atom_Path, t ? t->path : "", t ? t->path_len : 0);
  }
}

CANTUS_RT static void handle_patch(Cantus *self, const LV2_Atom_Object *obj)
{
  const CantusURIs *u = &self->uris;
  if (obj->body.otype == u->patch_Get) {
    const LV2_Atom *property = NULL;
    lv2_atom_object_get(obj, u->patch_property, &property, 0);
    const LV2_URID k =
      property && property->type == u->atom_URID ? ((const LV2_Atom_URID *)property)->body : 0;
    self->notify_model |= !k || k == u->cantus_model;
    self->notify_names |= !k || k == u->cantus_styleNames;
    self->notify_theme |= !k || k == u->cantus_theme;
    return;
  }
  LV2_URID key;
  if (cantus_read_set_path(u, obj, &key)) {
    // The worker reads the file; the whole patch:Set is the message.
    const LV2_Atom *a = &obj->atom;
    if (self->schedule->schedule_work(self->schedule->handle, lv2_atom_total_size(a), a) !=
        LV2_WORKER_SUCCESS) {
      self->work_refused++;
    }
  }
}

// Runs the segment [seg, t) and starts the next one at t.  MIDI input
// collected at frame t (it came before the split event) moves to the next
// segment, rebased to its frame 0.
CANTUS_RT static void split_at(Cantus *self,
                               const CantusControls *c,
                               bool free_run,
                               uint32_t seg,
                               uint32_t t,
                               uint32_t *n_in)
{
  const uint32_t len = t - seg;
  uint32_t k = 0;
  while (k < *n_in && self->midi_in[k].frame < len) {
    k++;
  }
  process_segment(self, c, free_run, seg, len, k);
  const uint32_t rest = *n_in - k;
  for (uint32_t i = 0; i < rest; i++) {
    self->midi_in[i] = self->midi_in[k + i];
    self->midi_in[i].frame = 0;
  }
  *n_in = rest;
}

CANTUS_RT static void run(LV2_Handle instance, uint32_t n_frames)
{
  Cantus *self = instance;
  const CantusURIs *u = &self->uris;
  begin_sequence(&self->forge_midi, &self->frame_midi, self->midi_out);
  begin_sequence(&self->forge_notify, &self->frame_notify, self->notify);
  if (self->n_parked) {
    retry_parked(self);
  }
  CantusControls c;
  read_controls(self, &c);
  const bool free_run = port_bool(self, CANTUS_PORT_FREE_RUN, false);

  self->n_chord_ev = 0;
  if (self->chords) {
    LV2_ATOM_SEQUENCE_FOREACH(self->chords, ev)
    {
      const int64_t t64 = ev->time.frames;
      if (ev->body.type != u->midi_MidiEvent || t64 < 0 || t64 >= (int64_t)n_frames ||
          ev->body.size < 1 || ev->body.size > 3) {
        continue;
      }
      if (self->n_chord_ev == CANTUS_MAX_EVENTS) {
        self->in_dropped++;
        continue;
      }
      CantusMidiEvent *m = &self->chord_ev[self->n_chord_ev++];
      m->frame = (uint32_t)t64;
      m->size = (uint8_t)ev->body.size;
      memcpy(m->data, LV2_ATOM_BODY_CONST(&ev->body), ev->body.size);
    }
  }
  uint32_t seg = 0;  // start frame of the current segment
  uint32_t n_in = 0; // MIDI input events collected for it (frames relative to seg)
  if (self->control) {
    LV2_ATOM_SEQUENCE_FOREACH(self->control, ev)
    {
      int64_t t64 = ev->time.frames;
      const uint32_t t = t64 < (int64_t)seg        ? seg
                         : t64 > (int64_t)n_frames ? n_frames
                                                   : (uint32_t)t64;
      if (ev->body.type == u->midi_MidiEvent) {
        if (t >= n_frames || ev->body.size < 1 || ev->body.size > 3) {
          continue; // sysex and events outside the block are not for the engine
        }
        if (n_in == CANTUS_MAX_EVENTS) {
          self->in_dropped++;
          continue;
        }
        CantusMidiEvent *m = &self->midi_in[n_in++];
        m->frame = t - seg;
        m->size = (uint8_t)ev->body.size;
        memcpy(m->data, LV2_ATOM_BODY_CONST(&ev->body), ev->body.size);
      } else if (cantus_is_object(u, &ev->body)) {
        const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
        if (obj->body.otype == u->time_Position) {
          if (t > seg) {
            split_at(self, &c, free_run, seg, t, &n_in);
            seg = t;
          }
          update_position(self, obj, c.bpm);
        } else {
          handle_patch(self, obj);
        }
      }
    }
  }
  if (seg < n_frames || n_frames == 0) {
    process_segment(self, &c, free_run, seg, n_frames - seg, n_in);
  }
  if (self->bar_out) {
    *self->bar_out = (float)(self->out.bar + 1);
  }
  if (self->surprise_out) {
    *self->surprise_out = self->out.surprise;
  }
  write_notifications(self);
  end_sequence(&self->forge_midi, &self->frame_midi);
  end_sequence(&self->forge_notify, &self->frame_notify);
}

// ---- worker ---------------------------------------------------------------------

static LV2_Worker_Status work(LV2_Handle instance,
                              LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle handle,
                              uint32_t size,
                              const void *data)
{
  Cantus *self = instance;
  const CantusURIs *u = &self->uris;
  LV2_Atom head;
  if (size < sizeof head) {
    return LV2_WORKER_ERR_UNKNOWN;
  }
  memcpy(&head, data, sizeof head);
  if (head.type == u->cantus_free) {
    PtrMsg msg;
    if (size < sizeof msg) {
      return LV2_WORKER_ERR_UNKNOWN;
    }
    memcpy(&msg, data, sizeof msg);
    pthread_mutex_lock(&self->lock); // save() may be reading them
    free_slot(msg.slot);
    free(msg.theme);
    pthread_mutex_unlock(&self->lock);
    return LV2_WORKER_SUCCESS;
  }
  if (!cantus_is_object(u, &head) || size < lv2_atom_total_size(&head)) {
    return LV2_WORKER_ERR_UNKNOWN;
  }
  LV2_URID key;
  const LV2_Atom *value = cantus_read_set_path(u, (const LV2_Atom_Object *)data, &key);
  if (!value) {
    return LV2_WORKER_ERR_UNKNOWN;
  }
  const char *path = (const char *)LV2_ATOM_BODY_CONST(value);
  PtrMsg reply = { { sizeof reply - sizeof reply.atom, u->cantus_install }, NULL, NULL };
  char theme_path[PATH_CAP];
  pthread_mutex_lock(&self->lock);
  memcpy(theme_path, self->theme_path, sizeof theme_path);
  pthread_mutex_unlock(&self->lock);
  if (key == u->cantus_model) {
    // A model comes with its theme rebuilt for its vocabulary.
    reply.slot = load_slot(self, path);
    if (reply.slot) {
      ThemeTarget v;
      target_of(&v, reply.slot->model);
      reply.theme = load_theme(self, theme_path, &v);
      if (!reply.theme) {
        reply.theme = load_theme(self, "", &v);
      }
      pthread_mutex_lock(&self->lock);
      self->target = v;
      self->have_vocab = true;
      pthread_mutex_unlock(&self->lock);
    }
  } else {
    pthread_mutex_lock(&self->lock);
    ThemeTarget v = self->target;
    const bool have = self->have_vocab;
    pthread_mutex_unlock(&self->lock);
    reply.theme = load_theme(self, path, have ? &v : NULL);
    if (reply.theme) {
      pthread_mutex_lock(&self->lock);
      memcpy(self->theme_path, reply.theme->path, reply.theme->path_len + 1);
      pthread_mutex_unlock(&self->lock);
    }
  }
  if (!reply.slot && !reply.theme) {
    reply.atom.type = u->cantus_loadFailed; // run() re-announces what still plays
  }
  if (respond(handle, sizeof reply, &reply) != LV2_WORKER_SUCCESS) {
    free_slot(reply.slot);
    free(reply.theme);
    return LV2_WORKER_ERR_NO_SPACE;
  }
  return LV2_WORKER_SUCCESS;
}

// Installs what the worker loaded (plain stores: this runs in the run()
// context), then sends the retired objects back to the worker.  [RT]
CANTUS_RT static LV2_Worker_Status work_response(LV2_Handle instance,
                                                 uint32_t size,
                                                 const void *data)
{
  Cantus *self = instance;
  const CantusURIs *u = &self->uris;
  PtrMsg msg;
  if (size < sizeof msg) {
    return LV2_WORKER_ERR_UNKNOWN;
  }
  memcpy(&msg, data, sizeof msg);
  if (msg.atom.type == u->cantus_loadFailed) {
    self->notify_model = self->notify_names = self->notify_theme = true;
    return LV2_WORKER_SUCCESS;
  }
  if (msg.atom.type != u->cantus_install) {
    return LV2_WORKER_ERR_UNKNOWN;
  }
  PtrMsg retired = { { sizeof retired - sizeof retired.atom, u->cantus_free }, NULL, NULL };
  if (msg.slot) {
    retired.slot = self->slot;
    cantus_engine_install_model(self->engine, msg.slot->model);
    // Release order for save() on another thread; a plain store on x86.
    __atomic_store_n(&self->slot, msg.slot, __ATOMIC_RELEASE);
    self->notify_model = self->notify_names = true;
  }
  if (msg.theme) {
    retired.theme = self->theme;
    cantus_engine_set_theme(self->engine, msg.theme->theme.n_tokens ? &msg.theme->theme : NULL);
    __atomic_store_n(&self->theme, msg.theme, __ATOMIC_RELEASE);
    self->notify_theme = true;
  }
  if (retired.slot || retired.theme) {
    schedule_ptr(self, &retired);
  }
  return LV2_WORKER_SUCCESS;
}

// ---- state ------------------------------------------------------------------------

static LV2_State_Status store_path(Cantus *self,
                                   LV2_State_Store_Function store,
                                   LV2_State_Handle handle,
                                   LV2_URID key,
                                   const char *path,
                                   LV2_State_Map_Path *map_path,
                                   LV2_State_Free_Path *free_path)
{
  char *abstract = map_path ? map_path->abstract_path(map_path->handle, path) : NULL;
  const char *v = abstract ? abstract : path;
  const LV2_State_Status st = store(
    handle, key, v, strlen(v) + 1, self->uris.atom_Path, LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
  if (abstract) {
    if (free_path) {
      free_path->free_path(free_path->handle, abstract);
    } else {
      free(abstract);
    }
  }
  return st;
}

// Saves the model path and the theme path (through state:mapPath, so a
// session moves between machines); everything else is in control ports.
static LV2_State_Status save(LV2_Handle instance,
                             LV2_State_Store_Function store,
                             LV2_State_Handle handle,
                             uint32_t flags,
                             const LV2_Feature *const *features)
{
  (void)flags;
  Cantus *self = instance;
  LV2_State_Map_Path *map_path = NULL;
  LV2_State_Free_Path *free_path = NULL;
  lv2_features_query(
    features, LV2_STATE__mapPath, &map_path, false, LV2_STATE__freePath, &free_path, false, NULL);
  char model[PATH_CAP] = "", theme[PATH_CAP] = "";
  pthread_mutex_lock(&self->lock); // keeps the worker from freeing them meanwhile
  const Slot *s = __atomic_load_n(&self->slot, __ATOMIC_ACQUIRE);
  const ThemeBox *t = __atomic_load_n(&self->theme, __ATOMIC_ACQUIRE);
  if (s) {
    memcpy(model, s->path, s->path_len + 1);
  }
  if (t) {
    memcpy(theme, t->path, t->path_len + 1);
  }
  pthread_mutex_unlock(&self->lock);
  LV2_State_Status st = LV2_STATE_SUCCESS;
  if (model[0]) {
    st = store_path(self, store, handle, self->uris.cantus_model, model, map_path, free_path);
  }
  if (st == LV2_STATE_SUCCESS && theme[0]) {
    st = store_path(self, store, handle, self->uris.cantus_theme, theme, map_path, free_path);
  }
  return st;
}

// Retrieves a path property as an absolute path into out ("" if absent).
static bool retrieve_path(Cantus *self,
                          LV2_State_Retrieve_Function retrieve,
                          LV2_State_Handle handle,
                          LV2_URID key,
                          LV2_State_Map_Path *map_path,
                          LV2_State_Free_Path *free_path,
                          char *out)
{
  size_t size = 0;
  uint32_t type = 0, vflags = 0;
  const char *v = retrieve(handle, key, &size, &type, &vflags);
  out[0] = '\0';
  if (!v || size == 0 || (type != self->uris.atom_Path && type != self->uris.atom_String) ||
      memchr(v, '\0', size) == NULL) {
    return false;
  }
  char *absolute = map_path && v[0] ? map_path->absolute_path(map_path->handle, v) : NULL;
  const char *p = absolute ? absolute : v;
  const bool ok = strlen(p) < PATH_CAP;
  if (ok) {
    strcpy(out, p);
  } else {
    lv2_log_error(&self->logger, "cantus: state path too long; ignored\n");
  }
  if (absolute) {
    if (free_path) {
      free_path->free_path(free_path->handle, absolute);
    } else {
      free(absolute);
    }
  }
  return ok;
}

// Forges a patch:Set of a path property into buf (a worker message).
static uint32_t forge_set(Cantus *self, LV2_URID key, const char *path, uint8_t *buf, uint32_t cap)
{
  LV2_Atom_Forge forge;
  lv2_atom_forge_init(&forge, self->map);
  lv2_atom_forge_set_buffer(&forge, buf, cap);
  if (!cantus_write_set(
        &forge, &self->uris, key, self->uris.atom_Path, path, (uint32_t)strlen(path))) {
    return 0;
  }
  return lv2_atom_total_size((const LV2_Atom *)buf);
}

// Restores the model and theme.  While the plugin runs (state:threadSafeRestore)
// the files are loaded by the worker; otherwise here and now.  A state
// without a model keeps the current one; a state without a theme clears it.
static LV2_State_Status restore(LV2_Handle instance,
                                LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle handle,
                                uint32_t flags,
                                const LV2_Feature *const *features)
{
  (void)flags;
  Cantus *self = instance;
  const CantusURIs *u = &self->uris;
  LV2_State_Map_Path *map_path = NULL;
  LV2_State_Free_Path *free_path = NULL;
  LV2_Worker_Schedule *schedule = NULL;
  lv2_features_query(features,
                     LV2_STATE__mapPath,
                     &map_path,
                     false,
                     LV2_STATE__freePath,
                     &free_path,
                     false,
                     LV2_WORKER__schedule,
                     &schedule,
                     false,
                     NULL);
  char *model = malloc(PATH_CAP), *theme = malloc(PATH_CAP);
  if (!model || !theme) {
    free(model);
    free(theme);
    return LV2_STATE_ERR_UNKNOWN;
  }
  const bool have_model =
    retrieve_path(self, retrieve, handle, u->cantus_model, map_path, free_path, model) && model[0];
  retrieve_path(self, retrieve, handle, u->cantus_theme, map_path, free_path, theme);
  pthread_mutex_lock(&self->lock);
  snprintf(self->theme_path, sizeof self->theme_path, "%s", theme);
  pthread_mutex_unlock(&self->lock);

  LV2_State_Status st = LV2_STATE_SUCCESS;
  if (self->activated && schedule) {
    // One message: a model load rebuilds the theme from theme_path.
    enum { CAP = PATH_CAP + 256 };
    uint8_t *buf = calloc(1, CAP);
    const uint32_t n = buf ? forge_set(self,
                                       have_model ? u->cantus_model : u->cantus_theme,
                                       have_model ? model : theme,
                                       buf,
                                       CAP)
                           : 0;
    if (!n || schedule->schedule_work(schedule->handle, n, buf) != LV2_WORKER_SUCCESS) {
      lv2_log_error(&self->logger, "cantus: cannot schedule the state restore\n");
      st = LV2_STATE_ERR_UNKNOWN;
    }
    free(buf);
  } else {
    Slot *s = have_model ? load_slot(self, model) : NULL;
    pthread_mutex_lock(&self->lock);
    Slot *old_slot = NULL;
    if (s) {
      old_slot = self->slot;
      cantus_engine_install_model(self->engine, s->model);
      self->slot = s;
      target_of(&self->target, s->model);
      self->have_vocab = true;
    }
    const bool have_vocab = self->have_vocab;
    ThemeTarget vocab = self->target;
    pthread_mutex_unlock(&self->lock);
    ThemeBox *t = load_theme(self, theme, have_vocab ? &vocab : NULL);
    pthread_mutex_lock(&self->lock);
    ThemeBox *old_theme = NULL;
    if (t) {
      old_theme = self->theme;
      cantus_engine_set_theme(self->engine, t->theme.n_tokens ? &t->theme : NULL);
      self->theme = t;
    }
    free_slot(old_slot);
    free(old_theme);
    pthread_mutex_unlock(&self->lock);
    self->notify_model = self->notify_names = self->notify_theme = true;
    if (have_model && !s) {
      st = LV2_STATE_ERR_UNKNOWN;
    }
  }
  free(model);
  free(theme);
  return st;
}

// ---- descriptor -------------------------------------------------------------------

static const void *extension_data(const char *uri)
{
  static const LV2_State_Interface state = { save, restore };
  static const LV2_Worker_Interface worker = { work, work_response, NULL };
  if (!strcmp(uri, LV2_STATE__interface)) {
    return &state;
  }
  if (!strcmp(uri, LV2_WORKER__interface)) {
    return &worker;
  }
  return NULL;
}

static const LV2_Descriptor descriptor = { CANTUS_URI, instantiate, connect_port, activate,
                                           run,        deactivate,  cleanup,      extension_data };

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
  return index == 0 ? &descriptor : NULL;
}
