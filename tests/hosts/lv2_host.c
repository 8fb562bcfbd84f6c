// SPDX-License-Identifier: GPL-3.0-or-later
// The test LV2 host (see lv2_host.h), after /work/shared/hosts/lilv_host.c
// and jalv's worker.  Non-RT test code, except the callbacks the plugin
// makes from run() (schedule_work, respond), which only copy into
// preallocated queues.
#include "lv2_host.h"

#include <lilv/lilv.h>
#include <lv2/atom/atom.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/core/lv2.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/options/options.h>
#include <lv2/parameters/parameters.h>
#include <lv2/patch/patch.h>
#include <lv2/port-props/port-props.h>
#include <lv2/presets/presets.h>
#include <lv2/state/state.h>
#include <lv2/time/time.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  MAX_URIS = 4096,
  ATOM_CAP = 1 << 17,  // bytes of each atom port buffer
  QUEUE_CAP = 1 << 18, // bytes of each worker queue
  MAX_INPUT = 4096,    // input events per block
  MAX_NOTIFIED = 16
};

typedef enum { P_OTHER, P_CONTROL_IN, P_CONTROL_OUT, P_ATOM_IN, P_ATOM_OUT } PortType;

typedef struct {
  PortType type;
  bool trigger;
  bool discrete;    // lv2:integer, lv2:toggled or lv2:enumeration
  bool midi;        // atom output carrying MIDI
  bool unconnected; // lv2h_disconnect: connected to NULL, fed nothing
  float value;
  float min, max, dflt;
  const char *symbol;
  LV2_Atom_Sequence *atom;
} Port;

// One queued input event: an atom with its frame.
typedef struct {
  uint32_t frame;
  uint32_t order;
  uint32_t port;      // the atom input port it goes to
  uint32_t size;      // total atom bytes
  uint8_t body[4200]; // the atom (header + body)
} Input;

// A byte queue of [uint32 size][uint64 due][data, padded to 8].
typedef struct {
  uint8_t *buf;
  size_t used;
} Queue;

struct Lv2Host {
  Lv2hConfig cfg;
  LilvWorld *world;
  const LilvPlugin *plugin;
  LilvInstance *instance;
  const LV2_Worker_Interface *worker;
  char *uris[MAX_URIS];
  uint32_t n_uris;
  LV2_URID_Map map;
  LV2_URID_Unmap unmap;
  LV2_Log_Log log;
  LV2_Worker_Schedule schedule_rt;  // given to instantiate: the plugin's run() context
  LV2_Worker_Schedule schedule_nrt; // given to restore: queued until the next cycle
  LV2_Options_Option options[6];
  int32_t min_block, max_block, seq_size;
  float rate_f;
  LV2_Feature f_map, f_unmap, f_log, f_sched, f_opts, f_bounded, f_safe_restore, f_sched_nrt;
  const LV2_Feature *features[9];
  const LV2_Feature *restore_features[3];
  uint32_t n_ports;
  Port *ports;
  uint32_t main_in; // the first atom input: events without a port name go there
  LV2_Atom_Forge forge;
  Input *inputs;
  uint32_t n_inputs;
  uint32_t input_order;
  Queue requests, responses;
  uint64_t cycle;
  uint64_t now;
  bool in_rt;
  int work_depth;
  bool activated;
  uint64_t nested_ns; // work() time inside the current run(), excluded from its timing
  uint64_t nested_cpu_ns;
  uint64_t worst_ns;
  uint64_t worst_cpu_ns;
  uint32_t worst_frames;
  uint64_t n_runs;
  Lv2hEvent *events;
  size_t n_events, cap_events;
  struct {
    LV2_URID key;
    char *value;
  } notified[MAX_NOTIFIED];
  int n_errors, n_warnings, n_notes, n_traces;
  char last_log[1024];
  // URIDs used by the host.
  LV2_URID atom_Float, atom_Double, atom_Int, atom_Long, atom_Path, atom_String, atom_URID,
    atom_Object, atom_Blank, atom_Sequence, midi_MidiEvent, patch_Set, patch_Get, patch_property,
    patch_value, time_Position, time_frame, time_speed, time_bpm, time_bar, time_barBeat, time_beat,
    time_bpb, time_unit, log_Error, log_Warning, log_Note, log_Trace;
};

// ---- URID map -------------------------------------------------------------------

static LV2_URID map_uri(LV2_URID_Map_Handle handle, const char *uri)
{
  Lv2Host *h = handle;
  for (uint32_t i = 0; i < h->n_uris; i++) {
    if (!strcmp(h->uris[i], uri)) {
      return i + 1;
    }
  }
  if (h->n_uris == MAX_URIS) {
    return 0;
  }
  h->uris[h->n_uris] = strdup(uri);
  return ++h->n_uris;
}

static const char *unmap_uri(LV2_URID_Unmap_Handle handle, LV2_URID urid)
{
  const Lv2Host *h = handle;
  return urid >= 1 && urid <= h->n_uris ? h->uris[urid - 1] : NULL;
}

// ---- log --------------------------------------------------------------------------

static int log_vprintf(LV2_Log_Handle handle, LV2_URID type, const char *fmt, va_list ap)
{
  Lv2Host *h = handle;
  va_list copy;
  va_copy(copy, ap);
  vsnprintf(h->last_log, sizeof h->last_log, fmt, copy);
  va_end(copy);
  h->n_errors += type == h->log_Error;
  h->n_warnings += type == h->log_Warning;
  h->n_notes += type == h->log_Note;
  h->n_traces += type == h->log_Trace;
  if (!h->cfg.quiet_log) {
    fprintf(stderr, "[plugin %s] %s", unmap_uri(h, type), h->last_log);
  }
  return (int)strlen(h->last_log);
}

static int log_printf(LV2_Log_Handle handle, LV2_URID type, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  const int r = log_vprintf(handle, type, fmt, ap);
  va_end(ap);
  return r;
}

// ---- timing and the RT bracket ----------------------------------------------------

static uint64_t clock_ns(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
  return clock_ns(CLOCK_MONOTONIC);
}
static uint64_t cpu_ns(void)
{
  return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

// Enters or leaves the audio context; returns the previous state.
static bool rt_set(Lv2Host *h, bool on)
{
  const bool was = h->in_rt;
  if (was != on) {
    if (on && h->cfg.rt_enter) {
      h->cfg.rt_enter(h->cfg.rt_data);
    } else if (!on && h->cfg.rt_leave) {
      h->cfg.rt_leave(h->cfg.rt_data);
    }
    h->in_rt = on;
  }
  return was;
}

// ---- worker ----------------------------------------------------------------------

static size_t pad8(size_t n)
{
  return (n + 7u) & ~(size_t)7u;
}

static bool queue_push(Queue *q, uint64_t due, uint32_t size, const void *data)
{
  const size_t need = 16 + pad8(size);
  if (q->used + need > QUEUE_CAP) {
    return false;
  }
  memcpy(q->buf + q->used, &size, 4);
  memcpy(q->buf + q->used + 8, &due, 8);
  memcpy(q->buf + q->used + 16, data, size);
  q->used += need;
  return true;
}

static LV2_Worker_Status respond(LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
  Lv2Host *h = handle;
  if (h->cfg.worker == LV2H_WORKER_NESTED) {
    const bool was = rt_set(h, true);
    const LV2_Worker_Status st = h->worker->work_response(h->instance->lv2_handle, size, data);
    rt_set(h, was);
    return st;
  }
  return queue_push(&h->responses, 0, size, data) ? LV2_WORKER_SUCCESS : LV2_WORKER_ERR_NO_SPACE;
}

static void do_work(Lv2Host *h, uint32_t size, const void *data)
{
  const bool was = rt_set(h, false);
  const bool outer = was && !h->work_depth; // nested work is inside the outer one's time
  const uint64_t t0 = outer ? now_ns() : 0, c0 = outer ? cpu_ns() : 0;
  h->work_depth++;
  h->worker->work(h->instance->lv2_handle, respond, h, size, data);
  h->work_depth--;
  if (outer) {
    h->nested_ns += now_ns() - t0;
    h->nested_cpu_ns += cpu_ns() - c0;
  }
  rt_set(h, was);
}

static LV2_Worker_Status schedule_rt(LV2_Worker_Schedule_Handle handle,
                                     uint32_t size,
                                     const void *data)
{
  Lv2Host *h = handle;
  if (h->cfg.worker == LV2H_WORKER_DEFERRED) {
    return queue_push(&h->requests, h->cycle + h->cfg.worker_delay, size, data)
             ? LV2_WORKER_SUCCESS
             : LV2_WORKER_ERR_NO_SPACE;
  }
  // The synchronous modes work at once on a copy (one buffer per nesting
  // level: work_response may schedule again from inside respond()).
  enum { DEPTH = 4, COPY_CAP = 1 << 16 };
  static _Alignas(8) uint8_t copies[DEPTH][COPY_CAP];
  static int depth;
  if (size > COPY_CAP || depth == DEPTH) {
    return LV2_WORKER_ERR_NO_SPACE;
  }
  uint8_t *copy = copies[depth++];
  memcpy(copy, data, size);
  do_work(h, size, copy);
  depth--;
  return LV2_WORKER_SUCCESS;
}

// Outside run(): work is done at the end of the next cycle.
static LV2_Worker_Status schedule_nrt(LV2_Worker_Schedule_Handle handle,
                                      uint32_t size,
                                      const void *data)
{
  Lv2Host *h = handle;
  return queue_push(&h->requests, h->cycle, size, data) ? LV2_WORKER_SUCCESS
                                                        : LV2_WORKER_ERR_NO_SPACE;
}

// Delivers queued responses (in the audio context), then does the due
// requests (outside it).
static void worker_cycle(Lv2Host *h)
{
  if (!h->worker) {
    return;
  }
  // Responses: take the queue first, since work_response may schedule work
  // whose responses must wait for the next cycle.
  static _Alignas(8) uint8_t taken[QUEUE_CAP];
  size_t n = h->responses.used;
  memcpy(taken, h->responses.buf, n);
  h->responses.used = 0;
  for (size_t off = 0; off < n;) {
    uint32_t size;
    memcpy(&size, taken + off, 4);
    const bool was = rt_set(h, true);
    h->worker->work_response(h->instance->lv2_handle, size, taken + off + 16);
    rt_set(h, was);
    off += 16 + pad8(size);
  }
  // Requests due now, in order.
  static _Alignas(8) uint8_t reqs[QUEUE_CAP];
  n = h->requests.used;
  memcpy(reqs, h->requests.buf, n);
  h->requests.used = 0;
  for (size_t off = 0; off < n;) {
    uint32_t size;
    uint64_t due;
    memcpy(&size, reqs + off, 4);
    memcpy(&due, reqs + off + 8, 8);
    if (due <= h->cycle) {
      h->worker->work(h->instance->lv2_handle, respond, h, size, reqs + off + 16);
    } else {
      queue_push(&h->requests, due, size, reqs + off + 16);
    }
    off += 16 + pad8(size);
  }
}

// ---- setup -----------------------------------------------------------------------

Lv2hConfig lv2h_config_default(void)
{
  return (Lv2hConfig){
    .rate = 48000.0, .max_block = 8192, .worker = LV2H_WORKER_DEFERRED, .worker_delay = 2
  };
}

static void setup_features(Lv2Host *h)
{
  h->map = (LV2_URID_Map){ h, map_uri };
  h->unmap = (LV2_URID_Unmap){ h, unmap_uri };
  h->log = (LV2_Log_Log){ h, log_printf, log_vprintf };
  h->schedule_rt = (LV2_Worker_Schedule){ h, schedule_rt };
  h->schedule_nrt = (LV2_Worker_Schedule){ h, schedule_nrt };
  h->min_block = 1;
  h->max_block = (int32_t)h->cfg.max_block;
  h->seq_size = ATOM_CAP;
  h->rate_f = (float)h->cfg.rate;
  const LV2_URID a_int = map_uri(h, LV2_ATOM__Int), a_float = map_uri(h, LV2_ATOM__Float);
  h->options[0] =
    (LV2_Options_Option){ LV2_OPTIONS_INSTANCE, 0,     map_uri(h, LV2_BUF_SIZE__minBlockLength),
                          sizeof(int32_t),      a_int, &h->min_block };
  h->options[1] =
    (LV2_Options_Option){ LV2_OPTIONS_INSTANCE, 0,     map_uri(h, LV2_BUF_SIZE__maxBlockLength),
                          sizeof(int32_t),      a_int, &h->max_block };
  h->options[2] =
    (LV2_Options_Option){ LV2_OPTIONS_INSTANCE, 0,     map_uri(h, LV2_BUF_SIZE__sequenceSize),
                          sizeof(int32_t),      a_int, &h->seq_size };
  h->options[3] =
    (LV2_Options_Option){ LV2_OPTIONS_INSTANCE, 0,       map_uri(h, LV2_PARAMETERS__sampleRate),
                          sizeof(float),        a_float, &h->rate_f };
  h->options[4] = (LV2_Options_Option){ LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, NULL };
  h->f_map = (LV2_Feature){ LV2_URID__map, &h->map };
  h->f_unmap = (LV2_Feature){ LV2_URID__unmap, &h->unmap };
  h->f_log = (LV2_Feature){ LV2_LOG__log, &h->log };
  h->f_sched = (LV2_Feature){ LV2_WORKER__schedule, &h->schedule_rt };
  h->f_opts = (LV2_Feature){ LV2_OPTIONS__options, h->options };
  h->f_bounded = (LV2_Feature){ LV2_BUF_SIZE__boundedBlockLength, NULL };
  h->f_safe_restore = (LV2_Feature){ LV2_STATE__threadSafeRestore, NULL };
  h->f_sched_nrt = (LV2_Feature){ LV2_WORKER__schedule, &h->schedule_nrt };
  const LV2_Feature *f[] = { &h->f_map,  &h->f_unmap,   &h->f_log,          &h->f_sched,
                             &h->f_opts, &h->f_bounded, &h->f_safe_restore, NULL };
  memcpy(h->features, f, sizeof f);
  h->restore_features[0] = &h->f_sched_nrt;
  h->restore_features[1] = NULL;

  h->atom_Float = a_float;
  h->atom_Int = a_int;
  h->atom_Double = map_uri(h, LV2_ATOM__Double);
  h->atom_Long = map_uri(h, LV2_ATOM__Long);
  h->atom_Path = map_uri(h, LV2_ATOM__Path);
  h->atom_String = map_uri(h, LV2_ATOM__String);
  h->atom_URID = map_uri(h, LV2_ATOM__URID);
  h->atom_Object = map_uri(h, LV2_ATOM__Object);
  h->atom_Blank = map_uri(h, LV2_ATOM__Blank);
  h->atom_Sequence = map_uri(h, LV2_ATOM__Sequence);
  h->midi_MidiEvent = map_uri(h, LV2_MIDI__MidiEvent);
  h->patch_Set = map_uri(h, LV2_PATCH__Set);
  h->patch_Get = map_uri(h, LV2_PATCH__Get);
  h->patch_property = map_uri(h, LV2_PATCH__property);
  h->patch_value = map_uri(h, LV2_PATCH__value);
  h->time_Position = map_uri(h, LV2_TIME__Position);
  h->time_frame = map_uri(h, LV2_TIME__frame);
  h->time_speed = map_uri(h, LV2_TIME__speed);
  h->time_bpm = map_uri(h, LV2_TIME__beatsPerMinute);
  h->time_bar = map_uri(h, LV2_TIME__bar);
  h->time_barBeat = map_uri(h, LV2_TIME__barBeat);
  h->time_beat = map_uri(h, LV2_TIME__beat);
  h->time_bpb = map_uri(h, LV2_TIME__beatsPerBar);
  h->time_unit = map_uri(h, LV2_TIME__beatUnit);
  h->log_Error = map_uri(h, LV2_LOG__Error);
  h->log_Warning = map_uri(h, LV2_LOG__Warning);
  h->log_Note = map_uri(h, LV2_LOG__Note);
  h->log_Trace = map_uri(h, LV2_LOG__Trace);
}

static bool setup_ports(Lv2Host *h)
{
  LilvWorld *w = h->world;
  LilvNode *input = lilv_new_uri(w, LV2_CORE__InputPort);
  LilvNode *control = lilv_new_uri(w, LV2_CORE__ControlPort);
  LilvNode *atom_port = lilv_new_uri(w, LV2_ATOM__AtomPort);
  LilvNode *midi_event = lilv_new_uri(w, LV2_MIDI__MidiEvent);
  LilvNode *trigger = lilv_new_uri(w, LV2_PORT_PROPS__trigger);
  LilvNode *optional = lilv_new_uri(w, LV2_CORE__connectionOptional);
  LilvNode *integer = lilv_new_uri(w, LV2_CORE__integer);
  LilvNode *toggled = lilv_new_uri(w, LV2_CORE__toggled);
  LilvNode *enumeration = lilv_new_uri(w, LV2_CORE__enumeration);
  h->n_ports = lilv_plugin_get_num_ports(h->plugin);
  h->ports = calloc(h->n_ports, sizeof *h->ports);
  h->main_in = UINT32_MAX;
  float *mins = calloc(h->n_ports, sizeof(float)), *maxs = calloc(h->n_ports, sizeof(float)),
        *defs = calloc(h->n_ports, sizeof(float));
  lilv_plugin_get_port_ranges_float(h->plugin, mins, maxs, defs);
  bool ok = true;
  for (uint32_t i = 0; i < h->n_ports; i++) {
    const LilvPort *lp = lilv_plugin_get_port_by_index(h->plugin, i);
    Port *p = &h->ports[i];
    const bool in = lilv_port_is_a(h->plugin, lp, input);
    p->symbol = lilv_node_as_string(lilv_port_get_symbol(h->plugin, lp));
    p->min = mins[i];
    p->max = maxs[i];
    p->dflt = defs[i];
    if (lilv_port_is_a(h->plugin, lp, control)) {
      p->type = in ? P_CONTROL_IN : P_CONTROL_OUT;
      p->value = isnan(defs[i]) ? 0.0f : defs[i];
      p->trigger = lilv_port_has_property(h->plugin, lp, trigger);
      p->discrete = lilv_port_has_property(h->plugin, lp, integer) ||
                    lilv_port_has_property(h->plugin, lp, toggled) ||
                    lilv_port_has_property(h->plugin, lp, enumeration);
      lilv_instance_connect_port(h->instance, i, &p->value);
    } else if (lilv_port_is_a(h->plugin, lp, atom_port)) {
      p->type = in ? P_ATOM_IN : P_ATOM_OUT;
      p->atom = aligned_alloc(64, ATOM_CAP);
      memset(p->atom, 0, ATOM_CAP);
      p->midi = !in && lilv_port_supports_event(h->plugin, lp, midi_event);
      lilv_instance_connect_port(h->instance, i, p->atom);
      if (in && h->main_in == UINT32_MAX) {
        h->main_in = i;
      }
    } else if (!lilv_port_has_property(h->plugin, lp, optional)) {
      fprintf(stderr, "lv2_host: port %u (%s) of an unsupported type\n", i, p->symbol);
      ok = false;
    }
  }
  free(mins);
  free(maxs);
  free(defs);
  lilv_node_free(input);
  lilv_node_free(control);
  lilv_node_free(atom_port);
  lilv_node_free(midi_event);
  lilv_node_free(trigger);
  lilv_node_free(optional);
  lilv_node_free(integer);
  lilv_node_free(toggled);
  lilv_node_free(enumeration);
  return ok;
}

Lv2Host *lv2h_new(const char *lv2_path, const char *uri, const Lv2hConfig *cfg)
{
  Lv2Host *h = calloc(1, sizeof *h);
  h->cfg = cfg ? *cfg : lv2h_config_default();
  h->requests.buf = aligned_alloc(8, QUEUE_CAP);
  h->responses.buf = aligned_alloc(8, QUEUE_CAP);
  h->inputs = calloc(MAX_INPUT, sizeof *h->inputs);
  setup_features(h);
  lv2_atom_forge_init(&h->forge, &h->map);

  h->world = lilv_world_new();
  const size_t len = strlen(lv2_path);
  if (len > 4 && !strcmp(lv2_path + len - 4, ".lv2")) {
    // One bundle: load just it (lilv would try every folder of an LV2_PATH
    // entry as a bundle and complain about build/obj and friends).
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/", lv2_path);
    LilvNode *bundle = lilv_new_file_uri(h->world, NULL, dir);
    lilv_world_load_bundle(h->world, bundle);
    lilv_node_free(bundle);
  } else {
    LilvNode *path = lilv_new_string(h->world, lv2_path);
    lilv_world_set_option(h->world, LILV_OPTION_LV2_PATH, path);
    lilv_node_free(path);
    lilv_world_load_all(h->world);
  }
  LilvNode *uri_node = lilv_new_uri(h->world, uri);
  h->plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(h->world), uri_node);
  lilv_node_free(uri_node);
  if (!h->plugin) {
    fprintf(stderr, "lv2_host: plugin <%s> not found in %s\n", uri, lv2_path);
    lv2h_free(h);
    return NULL;
  }
  h->instance = lilv_plugin_instantiate(h->plugin, h->cfg.rate, h->features);
  if (!h->instance) {
    fprintf(stderr, "lv2_host: <%s> failed to instantiate\n", uri);
    lv2h_free(h);
    return NULL;
  }
  h->worker = lilv_instance_get_extension_data(h->instance, LV2_WORKER__interface);
  if (!setup_ports(h)) {
    lv2h_free(h);
    return NULL;
  }
  lv2h_activate(h);
  return h;
}

void lv2h_free(Lv2Host *h)
{
  if (!h) {
    return;
  }
  if (h->instance) {
    if (h->activated) {
      lilv_instance_deactivate(h->instance);
    }
    lilv_instance_free(h->instance);
  }
  for (uint32_t i = 0; i < h->n_ports; i++) {
    free(h->ports[i].atom);
  }
  free(h->ports);
  if (h->world) {
    lilv_world_free(h->world);
  }
  for (uint32_t i = 0; i < h->n_uris; i++) {
    free(h->uris[i]);
  }
  for (int i = 0; i < MAX_NOTIFIED; i++) {
    free(h->notified[i].value);
  }
  free(h->events);
  free(h->inputs);
  free(h->requests.buf);
  free(h->responses.buf);
  free(h);
}

void lv2h_activate(Lv2Host *h)
{
  if (!h->activated) {
    lilv_instance_activate(h->instance);
    h->activated = true;
  }
}

void lv2h_deactivate(Lv2Host *h)
{
  if (h->activated) {
    lilv_instance_deactivate(h->instance);
    h->activated = false;
  }
}

// ---- ports -----------------------------------------------------------------------

int lv2h_port(const Lv2Host *h, const char *symbol)
{
  for (uint32_t i = 0; i < h->n_ports; i++) {
    if (!strcmp(h->ports[i].symbol, symbol)) {
      return (int)i;
    }
  }
  return -1;
}

static Port *port_or_die(const Lv2Host *h, const char *symbol)
{
  const int i = lv2h_port(h, symbol);
  if (i < 0) {
    fprintf(stderr, "lv2_host: no port '%s'\n", symbol);
    abort();
  }
  return &h->ports[i];
}

void lv2h_set(Lv2Host *h, const char *symbol, float value)
{
  port_or_die(h, symbol)->value = value;
}
float lv2h_get(const Lv2Host *h, const char *symbol)
{
  return port_or_die(h, symbol)->value;
}
uint32_t lv2h_n_ports(const Lv2Host *h)
{
  return h->n_ports;
}
const char *lv2h_port_symbol(const Lv2Host *h, int i)
{
  return h->ports[i].symbol;
}
bool lv2h_port_is_control_input(const Lv2Host *h, int i)
{
  return h->ports[i].type == P_CONTROL_IN;
}
bool lv2h_port_is_trigger(const Lv2Host *h, int i)
{
  return h->ports[i].trigger;
}
bool lv2h_port_is_discrete(const Lv2Host *h, int i)
{
  return h->ports[i].discrete;
}

void lv2h_port_range(const Lv2Host *h, int i, float *min, float *max, float *dflt)
{
  *min = h->ports[i].min;
  *max = h->ports[i].max;
  *dflt = h->ports[i].dflt;
}

// ---- input -------------------------------------------------------------------------

static Input *new_input(Lv2Host *h, uint32_t frame)
{
  if (h->n_inputs == MAX_INPUT) {
    fprintf(stderr, "lv2_host: too many input events in one block\n");
    abort();
  }
  Input *in = &h->inputs[h->n_inputs++];
  in->frame = frame;
  in->order = h->input_order++;
  in->port = h->main_in;
  lv2_atom_forge_set_buffer(&h->forge, in->body, sizeof in->body);
  return in;
}

static void finish_input(Lv2Host *h, Input *in)
{
  in->size = lv2_atom_total_size((const LV2_Atom *)in->body);
  (void)h;
}

void lv2h_midi_in(Lv2Host *h, uint32_t frame, uint8_t status, uint8_t d1, uint8_t d2)
{
  Input *in = new_input(h, frame);
  const uint8_t msg[3] = { status, d1, d2 };
  lv2_atom_forge_atom(&h->forge, 3, h->midi_MidiEvent);
  lv2_atom_forge_write(&h->forge, msg, 3);
  finish_input(h, in);
}

void lv2h_midi_to(Lv2Host *h,
                  const char *symbol,
                  uint32_t frame,
                  uint8_t status,
                  uint8_t d1,
                  uint8_t d2)
{
  const Port *p = port_or_die(h, symbol);
  if (p->type != P_ATOM_IN) {
    fprintf(stderr, "lv2_host: port '%s' is not an atom input\n", symbol);
    abort();
  }
  lv2h_midi_in(h, frame, status, d1, d2);
  h->inputs[h->n_inputs - 1].port = (uint32_t)(p - h->ports);
}

void lv2h_disconnect(Lv2Host *h, const char *symbol)
{
  Port *p = port_or_die(h, symbol);
  p->unconnected = true;
  lilv_instance_connect_port(h->instance, (uint32_t)(p - h->ports), NULL);
}

void lv2h_position(Lv2Host *h, uint32_t frame, const Lv2hPos *p)
{
  Input *in = new_input(h, frame);
  LV2_Atom_Forge *f = &h->forge;
  LV2_Atom_Forge_Frame obj;
  lv2_atom_forge_object(f, &obj, 0, h->time_Position);
  if (p->has_frame) {
    lv2_atom_forge_key(f, h->time_frame);
    lv2_atom_forge_long(f, p->frame);
  }
  if (p->has_speed) {
    lv2_atom_forge_key(f, h->time_speed);
    lv2_atom_forge_float(f, (float)p->speed);
  }
  if (p->has_bpm) {
    lv2_atom_forge_key(f, h->time_bpm);
    lv2_atom_forge_float(f, (float)p->bpm);
  }
  if (p->has_bbt) {
    lv2_atom_forge_key(f, h->time_bar);
    lv2_atom_forge_long(f, p->bar);
    lv2_atom_forge_key(f, h->time_barBeat);
    lv2_atom_forge_float(f, (float)p->bar_beat);
    lv2_atom_forge_key(f, h->time_bpb);
    lv2_atom_forge_float(f, (float)p->beats_per_bar);
    lv2_atom_forge_key(f, h->time_unit);
    lv2_atom_forge_int(f, p->beat_unit);
  }
  if (p->has_beat) {
    lv2_atom_forge_key(f, h->time_beat);
    lv2_atom_forge_double(f, p->beat);
  }
  lv2_atom_forge_pop(f, &obj);
  finish_input(h, in);
}

void lv2h_patch_set_path(Lv2Host *h, uint32_t frame, const char *key_uri, const char *path)
{
  Input *in = new_input(h, frame);
  LV2_Atom_Forge *f = &h->forge;
  LV2_Atom_Forge_Frame obj;
  lv2_atom_forge_object(f, &obj, 0, h->patch_Set);
  lv2_atom_forge_key(f, h->patch_property);
  lv2_atom_forge_urid(f, map_uri(h, key_uri));
  lv2_atom_forge_key(f, h->patch_value);
  lv2_atom_forge_path(f, path, (uint32_t)strlen(path));
  lv2_atom_forge_pop(f, &obj);
  finish_input(h, in);
}

void lv2h_patch_get(Lv2Host *h, uint32_t frame)
{
  Input *in = new_input(h, frame);
  LV2_Atom_Forge_Frame obj;
  lv2_atom_forge_object(&h->forge, &obj, 0, h->patch_Get);
  lv2_atom_forge_pop(&h->forge, &obj);
  finish_input(h, in);
}

static int cmp_input(const void *a, const void *b)
{
  const Input *x = a, *y = b;
  if (x->frame != y->frame) {
    return x->frame < y->frame ? -1 : 1;
  }
  return x->order < y->order ? -1 : x->order > y->order;
}

// ---- run -------------------------------------------------------------------------

static void set_notified(Lv2Host *h, LV2_URID key, const char *value, uint32_t len)
{
  int slot = -1;
  for (int i = 0; i < MAX_NOTIFIED; i++) {
    if (h->notified[i].key == key || (!h->notified[i].key && slot < 0)) {
      slot = i;
      if (h->notified[i].key == key) {
        break;
      }
    }
  }
  if (slot < 0) {
    return;
  }
  free(h->notified[slot].value);
  h->notified[slot].key = key;
  h->notified[slot].value = malloc(len + 1u);
  memcpy(h->notified[slot].value, value, len);
  h->notified[slot].value[len] = '\0';
}

static void collect_outputs(Lv2Host *h, uint32_t n)
{
  for (uint32_t i = 0; i < h->n_ports; i++) {
    Port *p = &h->ports[i];
    if (p->type != P_ATOM_OUT) {
      continue;
    }
    if (p->atom->atom.type != h->atom_Sequence && p->atom->atom.size > 8) {
      fprintf(stderr, "lv2_host: output %s is not a sequence\n", p->symbol);
      continue;
    }
    int64_t last = 0;
    LV2_ATOM_SEQUENCE_FOREACH(p->atom, ev)
    {
      if (ev->time.frames < last || ev->time.frames < 0 || (n && ev->time.frames >= n) ||
          (!n && ev->time.frames > 0)) {
        fprintf(stderr,
                "lv2_host: %s event at frame %lld (block of %u, previous %lld)\n",
                p->symbol,
                (long long)ev->time.frames,
                n,
                (long long)last);
      }
      last = ev->time.frames;
      if (ev->body.type == h->midi_MidiEvent && ev->body.size >= 1 && ev->body.size <= 3) {
        if (h->n_events == h->cap_events) {
          h->cap_events = h->cap_events ? 2 * h->cap_events : 1024;
          h->events = realloc(h->events, h->cap_events * sizeof *h->events);
        }
        Lv2hEvent *e = &h->events[h->n_events++];
        e->frame = h->now + (uint64_t)ev->time.frames;
        e->size = (uint8_t)ev->body.size;
        memset(e->data, 0, 3);
        memcpy(e->data, LV2_ATOM_BODY_CONST(&ev->body), ev->body.size);
      } else if (ev->body.type == h->atom_Object || ev->body.type == h->atom_Blank) {
        const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
        if (obj->body.otype != h->patch_Set) {
          continue;
        }
        const LV2_Atom *property = NULL, *value = NULL;
        lv2_atom_object_get(obj, h->patch_property, &property, h->patch_value, &value, 0);
        if (property && property->type == h->atom_URID && value &&
            (value->type == h->atom_Path || value->type == h->atom_String) && value->size >= 1) {
          set_notified(h,
                       ((const LV2_Atom_URID *)property)->body,
                       (const char *)LV2_ATOM_BODY_CONST(value),
                       value->size - 1);
        }
      }
    }
  }
}

void lv2h_run(Lv2Host *h, uint32_t n)
{
  if (n > h->cfg.max_block) {
    fprintf(stderr, "lv2_host: block of %u frames over the maximum %u\n", n, h->cfg.max_block);
    abort();
  }
  qsort(h->inputs, h->n_inputs, sizeof *h->inputs, cmp_input);
  for (uint32_t i = 0; i < h->n_ports; i++) {
    Port *p = &h->ports[i];
    if (p->type == P_ATOM_OUT) {
      const uint32_t cap = h->cfg.midi_out_size;
      p->atom->atom.size = p->midi && cap > 0 && cap < ATOM_CAP ? cap : ATOM_CAP;
      p->atom->atom.type = 0;
    } else if (p->type == P_ATOM_IN && !p->unconnected) {
      lv2_atom_forge_set_buffer(&h->forge, (uint8_t *)p->atom, ATOM_CAP);
      LV2_Atom_Forge_Frame seq;
      lv2_atom_forge_sequence_head(&h->forge, &seq, 0);
      for (uint32_t k = 0; k < h->n_inputs; k++) {
        if (h->inputs[k].port != i) {
          continue;
        }
        lv2_atom_forge_frame_time(&h->forge, h->inputs[k].frame);
        lv2_atom_forge_write(&h->forge, h->inputs[k].body, h->inputs[k].size);
      }
      lv2_atom_forge_pop(&h->forge, &seq);
    }
  }
  h->n_inputs = 0;
  h->nested_ns = h->nested_cpu_ns = 0;
  rt_set(h, true);
  const uint64_t c0 = cpu_ns(), t0 = now_ns();
  lilv_instance_run(h->instance, n);
  const uint64_t t1 = now_ns(), c1 = cpu_ns();
  rt_set(h, false);
  const uint64_t ns = t1 - t0 - h->nested_ns;
  if (ns > h->worst_ns) {
    h->worst_ns = ns;
    h->worst_frames = n;
  }
  const uint64_t cns = c1 - c0 - h->nested_cpu_ns;
  h->worst_cpu_ns = cns > h->worst_cpu_ns ? cns : h->worst_cpu_ns;
  h->n_runs++;
  collect_outputs(h, n);
  worker_cycle(h);
  h->now += n;
  h->cycle++;
}

int lv2h_settle(Lv2Host *h, uint32_t n, int max)
{
  int i = 0;
  while (i < max && (h->requests.used || h->responses.used)) {
    lv2h_run(h, n);
    i++;
  }
  return i;
}

uint64_t lv2h_now(const Lv2Host *h)
{
  return h->now;
}
double lv2h_rate(const Lv2Host *h)
{
  return h->cfg.rate;
}
uint64_t lv2h_worst_run_ns(const Lv2Host *h)
{
  return h->worst_ns;
}
uint64_t lv2h_worst_run_cpu_ns(const Lv2Host *h)
{
  return h->worst_cpu_ns;
}
uint32_t lv2h_worst_run_frames(const Lv2Host *h)
{
  return h->worst_frames;
}
uint64_t lv2h_runs(const Lv2Host *h)
{
  return h->n_runs;
}

const Lv2hEvent *lv2h_events(const Lv2Host *h, size_t *n)
{
  *n = h->n_events;
  return h->events;
}

void lv2h_clear_events(Lv2Host *h)
{
  h->n_events = 0;
}

const char *lv2h_notified(const Lv2Host *h, const char *key_uri)
{
  for (uint32_t i = 0; i < h->n_uris; i++) {
    if (!strcmp(h->uris[i], key_uri)) {
      for (int k = 0; k < MAX_NOTIFIED; k++) {
        if (h->notified[k].key == i + 1) {
          return h->notified[k].value;
        }
      }
    }
  }
  return NULL;
}

void lv2h_clear_notified(Lv2Host *h)
{
  for (int i = 0; i < MAX_NOTIFIED; i++) {
    free(h->notified[i].value);
    h->notified[i].value = NULL;
    h->notified[i].key = 0;
  }
}

int lv2h_log_count(const Lv2Host *h, const char *level)
{
  return !strcmp(level, "error")     ? h->n_errors
         : !strcmp(level, "warning") ? h->n_warnings
         : !strcmp(level, "note")    ? h->n_notes
                                     : h->n_traces;
}

const char *lv2h_last_log(const Lv2Host *h)
{
  return h->last_log;
}

// ---- state -----------------------------------------------------------------------

static const void *get_port_value(const char *symbol, void *data, uint32_t *size, uint32_t *type)
{
  Lv2Host *h = data;
  const int i = lv2h_port(h, symbol);
  if (i < 0 || h->ports[i].type != P_CONTROL_IN) {
    *size = *type = 0;
    return NULL;
  }
  *size = sizeof(float);
  *type = h->atom_Float;
  return &h->ports[i].value;
}

static void set_port_value(const char *symbol,
                           void *data,
                           const void *value,
                           uint32_t size,
                           uint32_t type)
{
  Lv2Host *h = data;
  const int i = lv2h_port(h, symbol);
  if (i < 0 || h->ports[i].type != P_CONTROL_IN) {
    return;
  }
  float v;
  if (type == h->atom_Float && size == 4) {
    memcpy(&v, value, 4);
  } else if (type == h->atom_Double && size == 8) {
    double d;
    memcpy(&d, value, 8);
    v = (float)d;
  } else if (type == h->atom_Int && size == 4) {
    int32_t n;
    memcpy(&n, value, 4);
    v = (float)n;
  } else {
    return;
  }
  h->ports[i].value = v;
}

char *lv2h_save_state(Lv2Host *h, const char *dir)
{
  LilvState *st = lilv_state_new_from_instance(
    h->plugin, h->instance, &h->map, NULL, NULL, NULL, dir, get_port_value, h, 0, NULL);
  if (!st) {
    return NULL;
  }
  char *s = lilv_state_to_string(h->world, &h->map, &h->unmap, st, "urn:cantus:test-state", NULL);
  lilv_state_free(st);
  char *copy = s ? strdup(s) : NULL;
  lilv_free(s);
  return copy;
}

bool lv2h_restore_state(Lv2Host *h, const char *ttl, bool with_worker)
{
  LilvState *st = lilv_state_new_from_string(h->world, &h->map, ttl);
  if (!st) {
    return false;
  }
  lilv_state_restore(
    st, h->instance, set_port_value, h, 0, with_worker ? h->restore_features : NULL);
  lilv_state_free(st);
  return true;
}

bool lv2h_apply_preset(Lv2Host *h, const char *preset_uri)
{
  LilvNode *preset = lilv_new_uri(h->world, preset_uri);
  lilv_world_load_resource(h->world, preset);
  LilvState *st = lilv_state_new_from_world(h->world, &h->map, preset);
  lilv_node_free(preset);
  if (!st) {
    return false;
  }
  lilv_state_restore(
    st, h->instance, set_port_value, h, 0, h->activated ? h->restore_features : NULL);
  lilv_state_free(st);
  return true;
}

char **lv2h_presets(Lv2Host *h)
{
  LilvNode *pset = lilv_new_uri(h->world, LV2_PRESETS__Preset);
  LilvNodes *related = lilv_plugin_get_related(h->plugin, pset);
  const unsigned n = lilv_nodes_size(related);
  char **list = calloc(n + 1u, sizeof *list);
  unsigned k = 0;
  LILV_FOREACH(nodes, it, related)
  {
    list[k++] = strdup(lilv_node_as_uri(lilv_nodes_get(related, it)));
  }
  lilv_nodes_free(related);
  lilv_node_free(pset);
  return list;
}

void lv2h_free_list(char **list)
{
  for (char **p = list; p && *p; p++) {
    free(*p);
  }
  free(list);
}

void *lv2h_world(Lv2Host *h)
{
  return h->world;
}
const void *lv2h_plugin(Lv2Host *h)
{
  return h->plugin;
}

// ---- transport ----------------------------------------------------------------------

Lv2hPos lv2h_clock_pos(const Lv2hClock *c, bool round1920)
{
  double beat = c->beat;
  if (round1920) {
    beat = round(beat * 1920.0) / 1920.0;
  }
  const double bar = floor(beat / c->beats_per_bar + 1e-12);
  double bar_beat = beat - bar * c->beats_per_bar;
  if (bar_beat < 0.0) {
    bar_beat = 0.0;
  }
  return (Lv2hPos){ .has_frame = true,
                    .has_speed = true,
                    .has_bpm = true,
                    .has_bbt = true,
                    .frame = c->frame,
                    .speed = c->rolling ? 1.0 : 0.0,
                    .bpm = c->bpm,
                    .bar = (int64_t)bar,
                    .bar_beat = bar_beat,
                    .beats_per_bar = c->beats_per_bar,
                    .beat_unit = c->beat_unit };
}

void lv2h_clock_advance(Lv2hClock *c, uint32_t n, double rate)
{
  if (c->rolling) {
    c->beat += (double)n * c->bpm / (60.0 * rate);
    c->frame += n;
  }
}

// ---- checks --------------------------------------------------------------------------

static bool is_on(const Lv2hEvent *e)
{
  return (e->data[0] & 0xf0) == 0x90 && e->data[2] > 0;
}
static bool is_off(const Lv2hEvent *e)
{
  return (e->data[0] & 0xf0) == 0x80 || ((e->data[0] & 0xf0) == 0x90 && e->data[2] == 0);
}

bool lv2h_check_sorted(const Lv2hEvent *ev, size_t n)
{
  for (size_t i = 1; i < n; i++) {
    if (ev[i].frame < ev[i - 1].frame) {
      printf("  events out of order at %zu: frame %llu after %llu\n",
             i,
             (unsigned long long)ev[i].frame,
             (unsigned long long)ev[i - 1].frame);
      return false;
    }
  }
  return true;
}

bool lv2h_check_balanced(const Lv2hEvent *ev, size_t n)
{
  static uint8_t on[16][128];
  memset(on, 0, sizeof on);
  for (size_t i = 0; i < n; i++) {
    const int ch = ev[i].data[0] & 15, p = ev[i].data[1] & 127;
    if (is_on(&ev[i])) {
      if (on[ch][p]) {
        printf("  note %d ch %d struck again at frame %llu while sounding\n",
               p,
               ch + 1,
               (unsigned long long)ev[i].frame);
        return false;
      }
      on[ch][p] = 1;
    } else if (is_off(&ev[i])) {
      if (!on[ch][p]) {
        printf("  note-off %d ch %d at frame %llu without a note-on\n",
               p,
               ch + 1,
               (unsigned long long)ev[i].frame);
        return false;
      }
      on[ch][p] = 0;
    }
  }
  for (int ch = 0; ch < 16; ch++) {
    for (int p = 0; p < 128; p++) {
      if (on[ch][p]) {
        printf("  note %d ch %d still sounding at the end\n", p, ch + 1);
        return false;
      }
    }
  }
  return true;
}

bool lv2h_check_grid(const Lv2hEvent *ev,
                     size_t n,
                     uint64_t from,
                     uint64_t to,
                     double origin,
                     double fpt,
                     double tol,
                     size_t *n_checked)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_on(&ev[i]) || ev[i].frame < from || ev[i].frame >= to) {
      continue;
    }
    k++;
    const double ticks = ((double)ev[i].frame - origin) / fpt;
    const double off = (ticks - round(ticks)) * fpt;
    if (fabs(off) > tol) {
      printf("  note-on at frame %llu is %.2f frames off the grid (tick %.3f)\n",
             (unsigned long long)ev[i].frame,
             off,
             ticks);
      if (n_checked) {
        *n_checked = k;
      }
      return false;
    }
  }
  if (n_checked) {
    *n_checked = k;
  }
  return true;
}

size_t lv2h_count_note_ons(const Lv2hEvent *ev, size_t n, uint64_t from, uint64_t to)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    k += is_on(&ev[i]) && ev[i].frame >= from && ev[i].frame < to;
  }
  return k;
}
