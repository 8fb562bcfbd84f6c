// SPDX-License-Identifier: GPL-3.0-or-later
// The LV2 plugin, end to end through lilv: the built bundle in
// $CANTUS_BUILD/cantus.lv2 is found by URI, instantiated and driven block by
// block with time:Position sequences (roll, stop, relocate, loop wrap, tempo
// change), every control, patch:Set/Get, three worker modes and lilv state;
// the MIDI it writes is checked (tick grid of the host tempo, order,
// balanced note-offs, silence after stop, the same notes at every block
// size).  The TTL is checked against plugin/lv2/ports.h and the engine's
// defaults.  The torture case arms the allocation and lock guard around
// every run() and reports the worst run() time.
#include "alloc_guard.h"
#include "engine.h"
#include "fixtures.h"
#include "lv2_host.h"
#include "model.h"
#include "ports.h"
#include "test.h"
#include "uris.h"

#include <lilv/lilv.h>
#include <lv2/port-props/port-props.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// ---- shared helpers -------------------------------------------------------------

// The build folder, absolute.
static const char *build_dir(void)
{
  static char path[PATH_MAX];
  if (!path[0] && !realpath(cantus_test_build_dir(), path)) {
    snprintf(path, sizeof path, "%s", cantus_test_build_dir());
  }
  return path;
}

// The bundle (loaded alone: the build folder holds more than bundles).
static const char *lv2_path(void)
{
  static char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/cantus.lv2", build_dir());
  return path;
}

static const char *bundle_file(const char *name)
{
  static char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", lv2_path(), name);
  return path;
}

static Lv2Host *open_host(Lv2hWorkerMode mode, double rate)
{
  Lv2hConfig cfg = lv2h_config_default();
  cfg.worker = mode;
  cfg.rate = rate;
  cfg.quiet_log = !cantus_test_verbose;
  Lv2Host *h = lv2h_new(lv2_path(), CANTUS_URI, &cfg);
  CHECK_MSG(h != NULL, "cannot instantiate %s from %s (make plugin?)", CANTUS_URI, lv2_path());
  return h;
}

// A scratch folder under the build folder (cases run one at a time).
static const char *scratch_dir(void)
{
  static char dir[PATH_MAX + 64];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "%s/test-lv2", build_dir());
    mkdir(dir, 0755);
  }
  return dir;
}

// Writes a fixture model of the tiny size with this seed; returns its path.
static const char *write_model(const char *name, uint32_t seed)
{
  static char path[4][PATH_MAX + 128];
  static int k;
  char *p = path[k++ & 3];
  snprintf(p, sizeof path[0], "%s/%s", scratch_dir(), name);
  CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m = cantus_fixture_model(&d, seed, CANTUS_WEIGHTS_F32);
  CantusError err = { { 0 } };
  CHECK_MSG(cantus_model_save(m, p, &err) == CANTUS_OK, "%s", err.msg);
  cantus_model_free(m);
  return p;
}

static bool same_file(const char *a, const char *b)
{
  char ra[PATH_MAX], rb[PATH_MAX];
  return a && b && realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

// Block sizes: fixed (n > 0) or random in 1..max from a seed.
typedef struct {
  uint32_t fixed, max;
  uint64_t rng;
} Blocks;

static uint64_t xorshift(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

static double uniform01(uint64_t *s)
{
  return (double)(xorshift(s) >> 11) * 0x1.0p-53;
}

static uint32_t next_block(Blocks *b)
{
  return b->fixed ? b->fixed : 1 + (uint32_t)(xorshift(&b->rng) % b->max);
}

typedef enum { ACT_ROLL, ACT_STOP, ACT_LOCATE, ACT_TEMPO, ACT_METER } ActKind;
typedef struct {
  uint64_t frame;
  ActKind kind;
  double value;
} Act;

typedef enum {
  POS_NONE,      // no time:Position at all (free-run)
  POS_ON_CHANGE, // jalv: at start and at every change, at its exact frame
  POS_EVERY,     // Ardour 7: at frame 0 of every block, barBeat rounded to 1/1920
  POS_FRAME_ONLY // jalv without a timebase master: frame and speed only
} PosMode;

static void send_pos(Lv2Host *h, uint32_t at, const Lv2hClock *c, PosMode mode)
{
  Lv2hPos p = lv2h_clock_pos(c, mode == POS_EVERY);
  if (mode == POS_FRAME_ONLY) {
    p.has_bpm = p.has_bbt = false;
  }
  lv2h_position(h, at, &p);
}

static void apply_act(Lv2hClock *c, const Act *a, double rate)
{
  switch (a->kind) {
  case ACT_ROLL:
    c->rolling = true;
    break;
  case ACT_STOP:
    c->rolling = false;
    break;
  case ACT_LOCATE:
    c->beat = a->value;
    c->frame = (int64_t)llround(a->value * 60.0 * rate / c->bpm);
    break;
  case ACT_TEMPO:
    c->bpm = a->value;
    break;
  case ACT_METER:
    c->beats_per_bar = a->value;
    break;
  }
}

// Runs the host to `total` frames, with the transport actions at their
// exact frames (sorted by frame).  The first block sends a position.
static void drive(Lv2Host *h,
                  Lv2hClock *c,
                  const Act *acts,
                  size_t n_acts,
                  uint64_t total,
                  Blocks *b,
                  PosMode mode)
{
  const double rate = lv2h_rate(h);
  size_t ai = 0;
  while (ai < n_acts && acts[ai].frame < lv2h_now(h)) {
    ai++;
  }
  const uint64_t first = lv2h_now(h);
  while (lv2h_now(h) < total) {
    const uint64_t start = lv2h_now(h);
    uint32_t n = next_block(b);
    if (start + n > total) {
      n = (uint32_t)(total - start);
    }
    if (mode == POS_EVERY || (mode != POS_NONE && start == first)) {
      send_pos(h, 0, c, mode);
    }
    uint32_t off = 0;
    while (ai < n_acts && acts[ai].frame < start + n) {
      const uint32_t at = (uint32_t)(acts[ai].frame - start);
      lv2h_clock_advance(c, at - off, rate);
      off = at;
      apply_act(c, &acts[ai], rate);
      ai++;
      while (ai < n_acts && acts[ai].frame == acts[ai - 1].frame) {
        apply_act(c, &acts[ai], rate);
        ai++;
      }
      if (mode != POS_NONE) {
        send_pos(h, at, c, mode);
      }
    }
    lv2h_clock_advance(c, n - off, rate);
    lv2h_run(h, n);
  }
}

static Lv2hClock clock_at(double bpm, double beats_per_bar)
{
  return (Lv2hClock){ .rolling = true, .bpm = bpm, .beats_per_bar = beats_per_bar, .beat_unit = 4 };
}

// Frames per tick of the tiny model's grid (12 per quarter).
static double frames_per_tick(double rate, double bpm)
{
  return 60.0 * rate / (bpm * 12.0);
}

static Lv2hEvent *copy_events(const Lv2Host *h, size_t *n)
{
  const Lv2hEvent *ev = lv2h_events(h, n);
  Lv2hEvent *c = calloc(*n + 1, sizeof *c);
  if (*n > 0) {
    memcpy(c, ev, *n * sizeof *c);
  }
  return c;
}

// Equal event lists; when `report`, prints the first difference.
static bool events_equal(const Lv2hEvent *a, size_t na, const Lv2hEvent *b, size_t nb, bool report)
{
  const size_t n = na < nb ? na : nb;
  for (size_t i = 0; i < n; i++) {
    if (a[i].frame != b[i].frame || a[i].size != b[i].size ||
        memcmp(a[i].data, b[i].data, a[i].size) != 0) {
      if (report) {
        printf("  first difference at event %zu: frame %llu %02x %02x %02x vs frame %llu %02x "
               "%02x %02x\n",
               i,
               (unsigned long long)a[i].frame,
               a[i].data[0],
               a[i].data[1],
               a[i].data[2],
               (unsigned long long)b[i].frame,
               b[i].data[0],
               b[i].data[1],
               b[i].data[2]);
      }
      return false;
    }
  }
  if (na != nb && report) {
    printf("  %zu events vs %zu\n", na, nb);
  }
  return na == nb;
}

static bool same_events(const Lv2hEvent *a, size_t na, const Lv2hEvent *b, size_t nb)
{
  return events_equal(a, na, b, nb, true);
}

static bool is_on(const Lv2hEvent *e)
{
  return (e->data[0] & 0xf0) == 0x90 && e->data[2] > 0;
}
static bool is_off(const Lv2hEvent *e)
{
  return (e->data[0] & 0xf0) == 0x80 || ((e->data[0] & 0xf0) == 0x90 && e->data[2] == 0);
}

// Sounding notes right after frame `at` (events before `at` included).
static int sounding_at(const Lv2hEvent *ev, size_t n, uint64_t at)
{
  static uint8_t on[16][128];
  memset(on, 0, sizeof on);
  int k = 0;
  for (size_t i = 0; i < n && ev[i].frame < at; i++) {
    uint8_t *s = &on[ev[i].data[0] & 15][ev[i].data[1] & 127];
    if (is_on(&ev[i]) && !*s) {
      *s = 1;
      k++;
    } else if (is_off(&ev[i]) && *s) {
      *s = 0;
      k--;
    }
  }
  return k;
}

// Stops the transport at the end and runs a few blocks so every note ends.
static void stop_and_drain(Lv2Host *h, Lv2hClock *c)
{
  c->rolling = false;
  Lv2hPos p = lv2h_clock_pos(c, false);
  lv2h_position(h, 0, &p);
  lv2h_run(h, 256);
  lv2h_settle(h, 256, 8);
}

// ---- TTL -------------------------------------------------------------------------

TEST(lv2_ttl_ports_match_enum)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  CHECK_EQ(lv2h_n_ports(h), CANTUS_N_PORTS);
  LilvWorld *w = lv2h_world(h);
  const LilvPlugin *p = lv2h_plugin(h);
  LilvNode *input = lilv_new_uri(w, LV2_CORE__InputPort);
  LilvNode *control = lilv_new_uri(w, LV2_CORE__ControlPort);
  LilvNode *atom = lilv_new_uri(w, LV2_ATOM__AtomPort);
  LilvNode *midi = lilv_new_uri(w, LV2_MIDI__MidiEvent);
  LilvNode *pos = lilv_new_uri(w, LV2_TIME__Position);
  LilvNode *msg = lilv_new_uri(w, LV2_PATCH__Message);
  for (uint32_t i = 0; i < CANTUS_N_PORTS && i < lv2h_n_ports(h); i++) {
    const LilvPort *lp = lilv_plugin_get_port_by_index(p, i);
    const char *sym = lilv_node_as_string(lilv_port_get_symbol(p, lp));
    CHECK_MSG(!strcmp(sym, cantus_port_symbol((CantusPort)i)),
              "port %u is '%s' in the TTL, '%s' in ports.h",
              i,
              sym,
              cantus_port_symbol((CantusPort)i));
    const bool is_in = lilv_port_is_a(p, lp, input);
    const bool is_atom = lilv_port_is_a(p, lp, atom);
    const bool is_control = lilv_port_is_a(p, lp, control);
    switch ((CantusPort)i) {
    case CANTUS_PORT_CONTROL:
      CHECK(is_in && is_atom);
      CHECK(lilv_port_supports_event(p, lp, midi));
      CHECK(lilv_port_supports_event(p, lp, pos));
      CHECK(lilv_port_supports_event(p, lp, msg));
      break;
    case CANTUS_PORT_MIDI_OUT:
      CHECK(!is_in && is_atom && lilv_port_supports_event(p, lp, midi));
      break;
    case CANTUS_PORT_NOTIFY:
      CHECK(!is_in && is_atom && lilv_port_supports_event(p, lp, msg));
      break;
    case CANTUS_PORT_CHORDS:
      CHECK(is_in && is_atom && lilv_port_supports_event(p, lp, midi));
      break;
    case CANTUS_PORT_BAR:
    case CANTUS_PORT_SURPRISE:
      CHECK(!is_in && is_control);
      break;
    default:
      CHECK_MSG(is_in && is_control, "port %s", sym);
      break;
    }
  }
  const int regenerate = cantus_controls_info(CANTUS_CONTROL_REGENERATE)->port;
  CHECK_EQ(lv2h_port(h, "regenerate"), regenerate);
  CHECK(lv2h_port_is_trigger(h, regenerate));
  CHECK(lv2h_port_is_trigger(h, cantus_controls_info(CANTUS_CONTROL_PANIC)->port));
  LilvNode *name = lilv_plugin_get_name(p);
  CHECK(name && !strcmp(lilv_node_as_string(name), "Cantus"));
  lilv_node_free(name);
  // Scale points of the enumerations.
  const struct {
    int ctl;
    unsigned n;
  } enums[] = { { CANTUS_CONTROL_SCALE, CANTUS_N_SCALES },
                { CANTUS_CONTROL_KEY_ROOT, 12 },
                { CANTUS_CONTROL_CHANNEL, 16 },
                { CANTUS_CONTROL_HOLD_BARS, 4 } };
  for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
    const uint32_t port = (uint32_t)cantus_controls_info(enums[i].ctl)->port;
    LilvScalePoints *sp = lilv_port_get_scale_points(p, lilv_plugin_get_port_by_index(p, port));
    CHECK_EQ(lilv_scale_points_size(sp), enums[i].n);
    lilv_scale_points_free(sp);
  }
  lilv_node_free(input);
  lilv_node_free(control);
  lilv_node_free(atom);
  lilv_node_free(midi);
  lilv_node_free(pos);
  lilv_node_free(msg);
  lv2h_free(h);
}

TEST(lv2_ttl_defaults_match_engine)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  const CantusControls d = cantus_controls_default();
  // The style ports default to the bundled model's default style.
  CantusModelOptions opt = cantus_model_options_default();
  CantusModel *m = NULL;
  CantusError err = { { 0 } };
  CHECK_MSG(cantus_model_load(bundle_file("models/default.cantus"), &opt, &m, &err) == CANTUS_OK,
            "%s",
            err.msg);
  const int ds = cantus_model_default_style(m);
  cantus_model_free(m);
  // Every control port: the engine's default (style: the model's default
  // style), and free_run off.
  struct {
    const char *sym;
    double want;
  } t[CANTUS_N_CONTROLS + 1];
  for (int i = 0; i < CANTUS_N_CONTROLS; i++) {
    const CantusControlInfo *c = cantus_controls_info(i);
    t[i].sym = c->symbol;
    t[i].want = c->kind == CANTUS_KIND_STYLE ? ds : cantus_controls_get(&d, i);
  }
  t[CANTUS_N_CONTROLS].sym = "free_run";
  t[CANTUS_N_CONTROLS].want = 0;

  size_t n_inputs = 0;
  for (uint32_t i = 0; i < lv2h_n_ports(h); i++) {
    n_inputs += lv2h_port_is_control_input(h, (int)i);
  }
  CHECK_EQ(n_inputs, sizeof t / sizeof t[0]);
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    const int k = lv2h_port(h, t[i].sym);
    CHECK_MSG(k >= 0, "no port %s", t[i].sym);
    if (k < 0) {
      continue;
    }
    float lo, hi, def;
    lv2h_port_range(h, k, &lo, &hi, &def);
    CHECK_MSG(fabs((double)def - t[i].want) < 1e-6,
              "%s: TTL default %g, engine default %g",
              t[i].sym,
              (double)def,
              t[i].want);
    CHECK_MSG(lo <= def && def <= hi,
              "%s: default %g outside [%g, %g]",
              t[i].sym,
              (double)def,
              (double)lo,
              (double)hi);
  }
  lv2h_free(h);
}

TEST(lv2_ttl_style_points_name_default_model)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  CantusModelOptions opt = cantus_model_options_default();
  CantusModel *m = NULL;
  CantusError err = { { 0 } };
  CHECK_MSG(cantus_model_load(bundle_file("models/default.cantus"), &opt, &m, &err) == CANTUS_OK,
            "%s",
            err.msg);
  if (m) {
    const LilvPlugin *p = lv2h_plugin(h);
    const uint32_t style_ports[] = {
      (uint32_t)cantus_controls_info(CANTUS_CONTROL_STYLE)->port,
      (uint32_t)cantus_controls_info(CANTUS_CONTROL_STYLE_B)->port,
    };
    for (int k = 0; k < 2; k++) {
      LilvScalePoints *sp =
        lilv_port_get_scale_points(p, lilv_plugin_get_port_by_index(p, style_ports[k]));
      CHECK_EQ(lilv_scale_points_size(sp), m->dims.n_styles);
      LILV_FOREACH(scale_points, it, sp)
      {
        const LilvScalePoint *pt = lilv_scale_points_get(sp, it);
        const int v = lilv_node_as_int(lilv_scale_point_get_value(pt));
        CHECK(v >= 0 && v < (int)m->dims.n_styles);
        if (v >= 0 && v < (int)m->dims.n_styles) {
          CHECK(!strcmp(lilv_node_as_string(lilv_scale_point_get_label(pt)), m->style_names[v]));
        }
      }
      lilv_scale_points_free(sp);
    }
    cantus_model_free(m);
  }
  lv2h_free(h);
}

// Every preset: listed, loads through lilv, sets every non-trigger input in
// range, names an existing model; presets differ in at least three ports.
TEST(lv2_presets_listed_distinct_and_load)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  char **presets = lv2h_presets(h);
  int n = 0;
  while (presets[n]) {
    n++;
  }
  CHECK_MSG(n >= 8, "%d presets", n);
  float values[64][CANTUS_N_PORTS];
  for (int i = 0; i < n && i < 64; i++) {
    // Mark every input, apply the preset, see that each was set.
    for (uint32_t k = 0; k < lv2h_n_ports(h); k++) {
      if (lv2h_port_is_control_input(h, (int)k)) {
        lv2h_set(h, lv2h_port_symbol(h, (int)k), -12345.0f);
      }
    }
    lv2h_clear_notified(h);
    CHECK_MSG(lv2h_apply_preset(h, presets[i]), "preset %s", presets[i]);
    for (uint32_t k = 0; k < lv2h_n_ports(h); k++) {
      if (!lv2h_port_is_control_input(h, (int)k)) {
        continue;
      }
      const char *sym = lv2h_port_symbol(h, (int)k);
      const float v = lv2h_get(h, sym);
      values[i][k] = v;
      if (lv2h_port_is_trigger(h, (int)k)) {
        lv2h_set(h, sym, 0.0f);
        values[i][k] = 0.0f;
        continue;
      }
      float lo, hi, def;
      lv2h_port_range(h, (int)k, &lo, &hi, &def);
      CHECK_MSG(v >= lo && v <= hi,
                "%s sets %s to %g, outside [%g, %g]",
                presets[i],
                sym,
                (double)v,
                (double)lo,
                (double)hi);
    }
    // The model comes back through the worker: run until it is announced.
    for (int c = 0; c < 8 && !lv2h_notified(h, CANTUS__model); c++) {
      lv2h_run(h, 256);
    }
    // Every preset names a model shipped in the bundle (most the default;
    // the chorale preset the chorale model), and it loaded.
    const char *model = lv2h_notified(h, CANTUS__model);
    const char *base = model ? strrchr(model, '/') : NULL;
    char shipped[96];
    snprintf(shipped, sizeof shipped, "models/%.80s", base ? base + 1 : "");
    CHECK_MSG(base && same_file(model, bundle_file(shipped)),
              "%s: model '%s' is not a model of the bundle",
              presets[i],
              model ? model : "(none)");
  }
  for (int i = 0; i < n && i < 64; i++) {
    for (int j = i + 1; j < n && j < 64; j++) {
      int differ = 0;
      for (uint32_t k = 0; k < CANTUS_N_PORTS; k++) {
        differ += lv2h_port_is_control_input(h, (int)k) && values[i][k] != values[j][k];
      }
      CHECK_MSG(
        differ >= 3, "presets %s and %s differ in %d ports", presets[i], presets[j], differ);
    }
  }
  lv2h_free_list(presets);
  lv2h_free(h);
}

// ---- the guard sees the plugin -------------------------------------------------------

TEST(lv2_guard_sees_plugin_allocations)
{
  // Instantiation allocates (engine, model): proof that calls made inside
  // the dlopen'ed plugin reach the interposer, so zero counts mean zero.
  cantus_guard_arm();
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  CantusGuardCounts c = cantus_guard_disarm();
  CHECK(c.allocs > 0);
  if (!h) {
    return;
  }
  // save() takes the worker-side mutex: the guard must see that lock too.
  cantus_guard_arm();
  char *s = lv2h_save_state(h, scratch_dir());
  c = cantus_guard_disarm();
  CHECK(s != NULL);
  CHECK(c.locks >= 2);
  free(s);
  lv2h_free(h);
}

// ---- time -------------------------------------------------------------------------------

TEST(lv2_plays_on_tick_grid_of_host_tempo)
{
  const struct {
    double rate, bpm, bpb;
    PosMode mode;
    uint32_t block;
  } cases[] = {
    { 48000.0, 120.0, 4.0, POS_ON_CHANGE, 256 }, { 48000.0, 137.5, 4.0, POS_EVERY, 256 },
    { 44100.0, 90.0, 3.0, POS_ON_CHANGE, 1000 }, { 96000.0, 180.0, 4.0, POS_EVERY, 64 },
    { 22050.0, 72.0, 6.0, POS_ON_CHANGE, 4096 }, { 192000.0, 200.0, 4.0, POS_EVERY, 8192 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, cases[i].rate);
    if (!h) {
      return;
    }
    Lv2hClock c = clock_at(cases[i].bpm, cases[i].bpb);
    Blocks b = { .fixed = cases[i].block };
    const uint64_t total = (uint64_t)(8.0 * cases[i].rate);
    drive(h, &c, NULL, 0, total, &b, cases[i].mode);
    size_t n;
    const Lv2hEvent *ev = lv2h_events(h, &n);
    size_t checked = 0;
    CHECK(lv2h_check_sorted(ev, n));
    CHECK_MSG(lv2h_check_grid(
                ev, n, 0, total, 0.0, frames_per_tick(cases[i].rate, cases[i].bpm), 1.0, &checked),
              "case %zu",
              i);
    CHECK_MSG(checked >= 4, "case %zu: %zu note-ons in 8 s", i, checked);
    lv2h_free(h);
  }
}

TEST(lv2_free_run_without_transport)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "bpm", 100.0f);
  Lv2hClock c = clock_at(100.0, 4.0);
  Blocks b = { .fixed = 512 };
  drive(h, &c, NULL, 0, 48000 * 6, &b, POS_NONE);
  size_t n, checked = 0;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK(lv2h_check_grid(ev, n, 0, 48000 * 6, 0.0, frames_per_tick(48000.0, 100.0), 1.0, &checked));
  CHECK_MSG(checked >= 4, "%zu note-ons", checked);
  // Free run also overrides a stopped host transport.
  lv2h_clear_events(h);
  c.rolling = false;
  Lv2hPos p = lv2h_clock_pos(&c, false);
  lv2h_position(h, 0, &p);
  for (int i = 0; i < 100; i++) {
    lv2h_run(h, 512);
  }
  ev = lv2h_events(h, &n);
  CHECK_EQ(lv2h_count_note_ons(ev, n, 0, UINT64_MAX), 0);
  lv2h_set(h, "free_run", 1.0f);
  for (int i = 0; i < 200; i++) {
    lv2h_run(h, 512);
  }
  ev = lv2h_events(h, &n);
  CHECK(lv2h_count_note_ons(ev, n, 0, UINT64_MAX) > 0);
  lv2h_free(h);
}

// Free run plays the style's usual metre from the model's metadata (the
// bundle's default model: reel 4/4, waltz 3/4), a style change switching
// at the next bar line; with a host position the host's metre rules.  120
// bpm at 48 kHz: a beat is 24000 frames; the bar port shows the bar at the
// last block's start.
static float bar_at_beats(Lv2Host *h, double beats)
{
  while ((double)lv2h_now(h) < beats * 24000.0 - 1.0) {
    lv2h_run(h, 480);
  }
  return lv2h_get(h, "bar");
}

TEST(lv2_free_run_plays_the_styles_metre)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "bpm", 120.0f);
  lv2h_set(h, "free_run", 1.0f);
  lv2h_set(h, "style", 5.0f); // reel, 4/4
  const uint64_t t0 = lv2h_now(h);
  CHECK_EQ(t0, 0);
  // (the bar port counts from 1)
  CHECK_NEAR(bar_at_beats(h, 3.5), 1.0, 0.0);
  CHECK_NEAR(bar_at_beats(h, 6.0), 2.0, 0.0);
  lv2h_set(h, "style", 7.0f); // waltz, 3/4: from the next bar line (beat 8)
  CHECK_NEAR(bar_at_beats(h, 7.9), 2.0, 0.0);
  CHECK_NEAR(bar_at_beats(h, 8.1), 3.0, 0.0);
  CHECK_NEAR(bar_at_beats(h, 10.9), 3.0, 0.0);
  CHECK_NEAR(bar_at_beats(h, 11.1), 4.0, 0.0); // 4/4 would still be bar 3
  CHECK_NEAR(bar_at_beats(h, 13.9), 4.0, 0.0);
  CHECK_NEAR(bar_at_beats(h, 14.1), 5.0, 0.0);
  size_t n;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK(lv2h_count_note_ons(ev, n, 0, UINT64_MAX) > 0);
  CHECK(lv2h_check_sorted(ev, n));
  lv2h_free(h);

  // A host position in 4/4 rules over the waltz's 3/4.
  h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "style", 7.0f);
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 480 };
  drive(h, &c, NULL, 0, 7 * 24000, &b, POS_ON_CHANGE);
  // (this host counts bars from 1: beat 7 of 4/4 is bar 2; 3/4 would say 3)
  CHECK_NEAR(lv2h_get(h, "bar"), 2.0, 0.0);
  lv2h_free(h);
}

TEST(lv2_frame_only_positions)
{
  // jalv without a timebase master: frame and speed, no tempo; the beat is
  // the frame at the bpm port's tempo.
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "bpm", 150.0f);
  Lv2hClock c = clock_at(150.0, 4.0);
  c.beat = 2.0;
  c.frame = 2 * 19200;
  Blocks b = { .fixed = 333 };
  drive(h, &c, NULL, 0, 48000 * 6, &b, POS_FRAME_ONLY);
  size_t n, checked = 0;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  // Transport frame 38400 (beat 2) is host frame 0: the grid is unshifted.
  CHECK(lv2h_check_grid(ev, n, 0, 48000 * 6, 0.0, frames_per_tick(48000.0, 150.0), 1.0, &checked));
  CHECK(checked >= 4);
  lv2h_free(h);
}

// Absurd host values must not reach a float-to-int conversion (undefined
// behaviour; on x86 it gives INT64_MIN, a jump to bar -10^9): a NaN bpm port
// with frame-only positions plays at the engine's 120 bpm, and a tempo of
// 3e38 or a meter of 1e-30 beats per bar moves at the engine's clamped
// values (999 bpm, 1 beat per bar), the bar output staying near the start.
TEST(lv2_absurd_host_tempo_and_meter)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "bpm", NAN);
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 480 };
  drive(h, &c, NULL, 0, 48000 * 5, &b, POS_FRAME_ONLY);
  size_t n, checked = 0;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK(lv2h_check_grid(ev, n, 0, 48000 * 5, 0.0, frames_per_tick(48000.0, 120.0), 1.0, &checked));
  CHECK(checked >= 4);
  CHECK_NEAR(lv2h_get(h, "bar"), 3.0, 0.0); // 10 beats at 120 bpm: bar 3
  lv2h_free(h);

  const struct {
    float bpm, bpb;
    float bar_lo, bar_hi;
  } cases[] = {
    { 3e38f, 4.0f, 3.0f, 5.0f },   // 1 s at 999 bpm: 16.7 beats, bar 5
    { 120.0f, 1e-30f, 2.0f, 3.0f } // 1 s at 120 bpm, 1 beat per bar: bar 3
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
    if (!h) {
      return;
    }
    const Lv2hPos p = { .has_speed = true,
                        .has_bpm = true,
                        .has_bbt = true,
                        .speed = 1.0,
                        .bpm = cases[i].bpm,
                        .beats_per_bar = cases[i].bpb,
                        .beat_unit = 4 };
    lv2h_position(h, 0, &p);
    for (int k = 0; k < 100; k++) {
      lv2h_run(h, 480);
    }
    const float bar = lv2h_get(h, "bar");
    CHECK_MSG(bar >= cases[i].bar_lo && bar <= cases[i].bar_hi,
              "bpm %g, %g beats per bar: bar output %g",
              (double)cases[i].bpm,
              (double)cases[i].bpb,
              (double)bar);
    const Lv2hPos stop = { .has_speed = true, .speed = 0.0 };
    lv2h_position(h, 0, &stop);
    lv2h_run(h, 480);
    ev = lv2h_events(h, &n);
    CHECK(lv2h_check_balanced(ev, n));
    lv2h_free(h);
  }
}

// A host MIDI buffer smaller than what the engine emits: note-ons are lost,
// never a note-off.  Dense music (16 voices, long gates, 400 bpm, 8192-frame
// blocks), a jump back every 3 s (every sounding note ends at once), and an
// output buffer of 20 events; the same run with a large buffer shows that
// the small one overflowed.
static Lv2hEvent *dense_run(uint32_t midi_out_size, size_t *n)
{
  Lv2hConfig cfg = lv2h_config_default();
  cfg.quiet_log = !cantus_test_verbose;
  cfg.midi_out_size = midi_out_size;
  Lv2Host *h = lv2h_new(lv2_path(), CANTUS_URI, &cfg);
  CHECK(h != NULL);
  if (!h) {
    *n = 0;
    return calloc(1, sizeof(Lv2hEvent));
  }
  lv2h_set(h, "max_voices", 16.0f);
  lv2h_set(h, "gate", 2.0f);
  lv2h_set(h, "density", 1.0f);
  lv2h_set(h, "temperature", 1.5f);
  lv2h_set(h, "max_note_beats", 32.0f);
  Lv2hClock c = clock_at(400.0, 4.0);
  Act acts[10];
  for (int i = 0; i < 10; i++) {
    acts[i] = (Act){ .frame = (uint64_t)(i + 1) * 144000, .kind = ACT_LOCATE, .value = 4.0 * i };
  }
  Blocks b = { .fixed = 8192 };
  drive(h, &c, acts, 10, 48000 * 33, &b, POS_ON_CHANGE);
  stop_and_drain(h, &c);
  Lv2hEvent *ev = copy_events(h, n);
  lv2h_free(h);
  return ev;
}

TEST(lv2_small_midi_buffer_loses_note_ons_not_note_offs)
{
  size_t n_big, n_small;
  Lv2hEvent *big = dense_run(0, &n_big);
  Lv2hEvent *small = dense_run(16 + 3 * 24, &n_small);
  const size_t on_big = lv2h_count_note_ons(big, n_big, 0, UINT64_MAX);
  const size_t on_small = lv2h_count_note_ons(small, n_small, 0, UINT64_MAX);
  CHECK(lv2h_check_balanced(big, n_big));
  CHECK_MSG(on_small > 0 && on_small < on_big,
            "note-ons: %zu with the small buffer, %zu with the large one",
            on_small,
            on_big);
  CHECK(lv2h_check_balanced(small, n_small));
  free(big);
  free(small);
}

TEST(lv2_stop_silences_in_that_block)
{
  const PosMode modes[] = { POS_ON_CHANGE, POS_EVERY };
  for (int m = 0; m < 2; m++) {
    Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
    if (!h) {
      return;
    }
    lv2h_set(h, "gate", 2.0f); // long notes: some sound at the stop
    lv2h_set(h, "max_voices", 4.0f);
    Lv2hClock c = clock_at(120.0, 4.0);
    Blocks b = { .fixed = 256 };
    // Find a stop frame inside a block with notes sounding.
    drive(h, &c, NULL, 0, 48000 * 4, &b, modes[m]);
    size_t n;
    const Lv2hEvent *ev = lv2h_events(h, &n);
    uint64_t stop = 0;
    for (uint64_t f = 48000 * 4 - 1000; f > 48000; f -= 97) {
      if (sounding_at(ev, n, f) > 0) {
        stop = f;
        break;
      }
    }
    CHECK_MSG(stop > 0, "no sounding note found to stop");
    lv2h_free(h);
    if (!stop) {
      return;
    }
    h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
    lv2h_set(h, "gate", 2.0f);
    lv2h_set(h, "max_voices", 4.0f);
    c = clock_at(120.0, 4.0);
    const Act acts[] = { { stop, ACT_STOP, 0 } };
    drive(h, &c, acts, 1, 48000 * 8, &b, modes[m]);
    ev = lv2h_events(h, &n);
    const uint64_t block_end = (stop / 256 + 1) * 256;
    CHECK_MSG(sounding_at(ev, n, stop) > 0, "mode %d: nothing sounding at the stop", m);
    CHECK_MSG(
      sounding_at(ev, n, block_end) == 0, "mode %d: notes sounding after the stop block", m);
    size_t after = 0;
    for (size_t i = 0; i < n; i++) {
      after += ev[i].frame >= stop && is_on(&ev[i]);
      after += ev[i].frame >= block_end;
      CHECK_MSG(!(ev[i].frame >= stop && ev[i].frame < block_end && !is_off(&ev[i])),
                "mode %d: non-off event in the stop block",
                m);
    }
    CHECK_EQ(after, 0);
    CHECK(lv2h_check_balanced(ev, n));
    lv2h_free(h);
  }
}

TEST(lv2_relocate_mid_block_and_loop_wrap)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "gate", 2.0f);
  lv2h_set(h, "density", 0.8f);
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 512 };
  // Relocate to bar 10 at a frame inside a block, then loop bars 10..11
  // three times (a wrap every 2 bars = 96000 frames at 120 BPM).
  const uint64_t r = 48000 * 3 + 123;
  const Act acts[] = { { r, ACT_LOCATE, 40.0 },
                       { r + 96000, ACT_LOCATE, 40.0 },
                       { r + 2 * 96000, ACT_LOCATE, 40.0 },
                       { r + 3 * 96000, ACT_STOP, 0 } };
  drive(h, &c, acts, 4, r + 3 * 96000 + 4800, &b, POS_ON_CHANGE);
  size_t n, checked = 0;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK(lv2h_check_sorted(ev, n));
  CHECK(lv2h_check_balanced(ev, n));
  const double fpt = frames_per_tick(48000.0, 120.0);
  CHECK(lv2h_check_grid(ev, n, 0, r, 0.0, fpt, 1.0, &checked));
  // After the relocation the grid starts at r (beat 40 is a whole tick).
  CHECK(lv2h_check_grid(ev, n, r, r + 3 * 96000, (double)r, fpt, 1.0, &checked));
  CHECK(checked >= 4);
  // Every sounding note ends in the block of each jump.
  for (int k = 0; k < 3; k++) {
    const uint64_t at = r + (uint64_t)k * 96000;
    const uint64_t block_end = (at / 512 + 1) * 512;
    int still = 0;
    // Notes started before the jump and still on after its block:
    static uint8_t on[16][128];
    memset(on, 0, sizeof on);
    for (size_t i = 0; i < n && ev[i].frame < block_end; i++) {
      uint8_t *s = &on[ev[i].data[0] & 15][ev[i].data[1] & 127];
      if (is_on(&ev[i])) {
        *s = ev[i].frame < at ? 1 : 2;
      } else if (is_off(&ev[i])) {
        *s = 0;
      }
    }
    for (int ch = 0; ch < 16; ch++) {
      for (int p = 0; p < 128; p++) {
        still += on[ch][p] == 1;
      }
    }
    CHECK_MSG(still == 0, "jump %d: %d notes from before it still sounding", k, still);
  }
  // The looped bars replay the same notes (timeline memory).
  Lv2hEvent *a = NULL, *bb = NULL;
  size_t na = 0, nb = 0;
  a = malloc(n * sizeof *a);
  bb = malloc(n * sizeof *bb);
  for (size_t i = 0; i < n; i++) {
    if (is_on(&ev[i]) && ev[i].frame >= r + 2048 && ev[i].frame < r + 96000 - 2048) {
      a[na] = ev[i];
      a[na++].frame -= r;
    }
    if (is_on(&ev[i]) && ev[i].frame >= r + 96000 + 2048 && ev[i].frame < r + 2 * 96000 - 2048) {
      bb[nb] = ev[i];
      bb[nb++].frame -= r + 96000;
    }
  }
  CHECK_MSG(na > 0 && same_events(a, na, bb, nb), "loop pass 1 and 2 differ");
  free(a);
  free(bb);
  lv2h_free(h);
}

TEST(lv2_tempo_change_follows_grid)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 300 };
  // Change to 150 BPM exactly on beat 8 (frame 192000), mid-block.
  const Act acts[] = { { 192000, ACT_TEMPO, 150.0 } };
  drive(h, &c, acts, 1, 192000 + 48000 * 5, &b, POS_ON_CHANGE);
  size_t n, k1 = 0, k2 = 0;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK(lv2h_check_grid(ev, n, 0, 192000, 0.0, frames_per_tick(48000.0, 120.0), 1.0, &k1));
  CHECK(lv2h_check_grid(
    ev, n, 192000, UINT64_MAX, 192000.0, frames_per_tick(48000.0, 150.0), 1.0, &k2));
  CHECK(k1 >= 2 && k2 >= 2);
  // And in Ardour's way (tempo in every block's position).
  lv2h_free(h);
  h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  c = clock_at(120.0, 4.0);
  b = (Blocks){ .fixed = 256 };
  const Act acts2[] = { { 192000, ACT_TEMPO, 150.0 } };
  drive(h, &c, acts2, 1, 192000 + 48000 * 5, &b, POS_EVERY);
  ev = lv2h_events(h, &n);
  CHECK(lv2h_check_grid(
    ev, n, 192000, UINT64_MAX, 192000.0, frames_per_tick(48000.0, 150.0), 1.0, &k2));
  lv2h_free(h);
}

// Equal MIDI, except that right after a jump while rolling (frames
// [jump, jump + settle)) the engine may still be catching up within its
// step budget, so there the same events must come in the same order but a
// note may be late by a block-size-dependent amount (counted by the
// engine, see engine.h).  Everything before the jump and after the settle
// window must match to the frame.
static bool same_events_but_catch_up(const Lv2hEvent *a,
                                     size_t na,
                                     const Lv2hEvent *b,
                                     size_t nb,
                                     uint64_t jump,
                                     uint64_t settle)
{
  if (na != nb) {
    printf("  %zu vs %zu events\n", na, nb);
    return false;
  }
  for (size_t i = 0; i < na; i++) {
    const bool window = a[i].frame >= jump && a[i].frame < jump + settle;
    if (a[i].size != b[i].size || memcmp(a[i].data, b[i].data, a[i].size) != 0 ||
        (!window && a[i].frame != b[i].frame) ||
        (window && (b[i].frame < jump || b[i].frame >= jump + settle))) {
      printf("  first difference at event %zu: frame %llu %02x %02x vs frame %llu %02x %02x\n",
             i,
             (unsigned long long)a[i].frame,
             a[i].data[0],
             a[i].data[1],
             (unsigned long long)b[i].frame,
             b[i].data[0],
             b[i].data[1]);
      return false;
    }
  }
  return true;
}

// The same timeline gives the same MIDI at any block size, with positions
// on change (at their exact frames) and every block (rounded as Ardour).
TEST(lv2_block_size_invariance)
{
  const PosMode modes[] = { POS_ON_CHANGE, POS_EVERY };
  const uint32_t sizes[] = { 1, 7, 64, 256, 1000, 4096, 8192, 0 };
  for (int m = 0; m < 2; m++) {
    Lv2hEvent *ref = NULL;
    size_t n_ref = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
      if (!h) {
        return;
      }
      lv2h_set(h, "gate", 1.5f);
      Lv2hClock c = clock_at(132.0, 4.0);
      Blocks b = { .fixed = sizes[s], .max = 2000, .rng = 77 };
      const Act acts[] = { { 150001, ACT_STOP, 0 },
                           { 170003, ACT_ROLL, 0 },
                           { 250007, ACT_LOCATE, 3.0 },
                           { 300011, ACT_TEMPO, 97.0 } };
      drive(h, &c, acts, 4, 48000 * 9, &b, modes[m]);
      size_t n;
      Lv2hEvent *ev = copy_events(h, &n);
      if (!ref) {
        ref = ev;
        n_ref = n;
        CHECK(n > 20);
        CHECK(lv2h_check_sorted(ev, n));
      } else {
        // A beat at 132 bpm is 21818 frames; the catch-up ends well within it.
        CHECK_MSG(same_events_but_catch_up(ref, n_ref, ev, n, 250007, 21818),
                  "mode %d: block size %u differs from 1",
                  m,
                  sizes[s]);
        free(ev);
      }
      lv2h_free(h);
    }
    free(ref);
  }
}

// ---- controls ----------------------------------------------------------------------------

// Runs `seconds` at 120 BPM from bar 0 with the given port settings.
static Lv2hEvent *play(const char *const *syms,
                       const float *vals,
                       int n_set,
                       double seconds,
                       size_t *n)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    *n = 0;
    return calloc(1, sizeof(Lv2hEvent));
  }
  for (int i = 0; i < n_set; i++) {
    lv2h_set(h, syms[i], vals[i]);
  }
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 512 };
  drive(h, &c, NULL, 0, (uint64_t)(seconds * 48000.0), &b, POS_ON_CHANGE);
  stop_and_drain(h, &c);
  Lv2hEvent *ev = copy_events(h, n);
  lv2h_free(h);
  return ev;
}

TEST(lv2_controls_reach_the_engine)
{
  size_t n0, n;
  Lv2hEvent *base = play(NULL, NULL, 0, 8.0, &n0);
  CHECK(lv2h_count_note_ons(base, n0, 0, UINT64_MAX) >= 8);
  CHECK(lv2h_check_balanced(base, n0));

  { // channel
    const char *s[] = { "channel" };
    const float v[] = { 5 };
    Lv2hEvent *ev = play(s, v, 1, 4.0, &n);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) {
      CHECK_MSG((ev[i].data[0] & 15) == 4, "event on channel %d", (ev[i].data[0] & 15) + 1);
    }
    free(ev);
  }
  { // transpose: the same notes an octave up
    const char *s[] = { "transpose" };
    const float v[] = { 12 };
    Lv2hEvent *ev = play(s, v, 1, 8.0, &n);
    bool same = n == n0;
    for (size_t i = 0; same && i < n; i++) {
      same = ev[i].frame == base[i].frame && ev[i].data[0] == base[i].data[0] &&
             ev[i].data[1] == base[i].data[1] + 12;
    }
    CHECK_MSG(same, "transpose 12 is not the same notes an octave up (%zu vs %zu events)", n, n0);
    free(ev);
  }
  { // range and scale
    const char *s[] = { "note_lo", "note_hi", "scale", "key_root" };
    const float v[] = { 60, 72, 1, 2 };
    Lv2hEvent *ev = play(s, v, 4, 8.0, &n);
    CHECK(lv2h_count_note_ons(ev, n, 0, UINT64_MAX) > 0);
    const int dmaj = (1 << 2) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 9) | (1 << 11) | (1 << 1);
    for (size_t i = 0; i < n; i++) {
      if (is_on(&ev[i])) {
        CHECK_MSG(ev[i].data[1] >= 60 && ev[i].data[1] <= 72, "note %d", ev[i].data[1]);
        CHECK_MSG(dmaj & (1 << (ev[i].data[1] % 12)), "note %d not in D major", ev[i].data[1]);
      }
    }
    free(ev);
  }
  { // voices and velocity
    const char *s[] = { "max_voices", "velocity", "humanise" };
    const float v[] = { 1, 77, 0 };
    Lv2hEvent *ev = play(s, v, 3, 8.0, &n);
    CHECK(lv2h_count_note_ons(ev, n, 0, UINT64_MAX) > 0);
    int sounding = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
      if (is_on(&ev[i])) {
        CHECK_MSG(ev[i].data[2] == 77, "velocity %d", ev[i].data[2]);
        sounding++;
      } else if (is_off(&ev[i])) {
        sounding--;
      }
      worst = sounding > worst ? sounding : worst;
    }
    CHECK_EQ(worst, 1);
    free(ev);
  }
  { // seed and style change the music; the same seed repeats it
    const char *s[] = { "seed" };
    const float v[] = { 2 };
    Lv2hEvent *ev = play(s, v, 1, 8.0, &n);
    CHECK(!events_equal(ev, n, base, n0, false));
    free(ev);
    const float v1[] = { 1 };
    ev = play(s, v1, 1, 8.0, &n);
    CHECK(same_events(ev, n, base, n0));
    free(ev);
    const char *s2[] = { "style" };
    const float v2[] = { 1 };
    ev = play(s2, v2, 1, 8.0, &n);
    CHECK(!events_equal(ev, n, base, n0, false));
    free(ev);
  }
  { // gate: same onsets, shorter notes
    const char *s[] = { "gate" };
    const float v[] = { 0.5f };
    Lv2hEvent *ev = play(s, v, 1, 8.0, &n);
    size_t k0 = 0, k1 = 0;
    for (size_t i = 0; i < n0; i++) {
      k0 += is_on(&base[i]) && base[i].frame < 48000 * 6;
    }
    for (size_t i = 0; i < n; i++) {
      k1 += is_on(&ev[i]) && ev[i].frame < 48000 * 6;
    }
    CHECK_EQ(k1, k0);
    CHECK(lv2h_check_balanced(ev, n));
    free(ev);
  }
  { // longest note (of the generated length; Gate scales it afterwards)
    const char *s[] = { "max_note_beats", "gate" };
    const float v[] = { 1, 1 };
    Lv2hEvent *ev = play(s, v, 2, 8.0, &n);
    for (size_t i = 0; i < n; i++) {
      if (!is_on(&ev[i])) {
        continue;
      }
      for (size_t j = i + 1; j < n; j++) {
        if (is_off(&ev[j]) && ev[j].data[1] == ev[i].data[1]) {
          // The engine ends a note whose OFF token came late up to a beat
          // after the limit (engine.c, guard_notes).
          CHECK_MSG(ev[j].frame - ev[i].frame <= 48000 + 1,
                    "note of %llu frames",
                    (unsigned long long)(ev[j].frame - ev[i].frame));
          break;
        }
      }
    }
    free(ev);
  }
  free(base);
}

TEST(lv2_output_ports_bar_and_surprise)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 480 };
  // 2.5 bars at 120 BPM 4/4 = 5 s.
  drive(h, &c, NULL, 0, 240000, &b, POS_ON_CHANGE);
  CHECK_NEAR(lv2h_get(h, "bar"), 3.0, 0.0);
  const float s = lv2h_get(h, "surprise");
  CHECK(isfinite(s) && s >= 0.0f);
  CHECK(s > 0.0f);
  // n_frames == 0: outputs refreshed, no events.
  lv2h_clear_events(h);
  lv2h_run(h, 0);
  size_t n;
  lv2h_events(h, &n);
  CHECK_EQ(n, 0);
  CHECK_NEAR(lv2h_get(h, "bar"), 3.0, 0.0);
  lv2h_free(h);
}

TEST(lv2_triggers_panic_and_regenerate)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "gate", 2.0f);
  lv2h_set(h, "max_voices", 6.0f);
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 256 };
  uint64_t pressed_at = 0;
  for (int tries = 0; tries < 200 && !pressed_at; tries++) {
    drive(h, &c, NULL, 0, lv2h_now(h) + 4800, &b, POS_ON_CHANGE);
    size_t n;
    const Lv2hEvent *ev = lv2h_events(h, &n);
    if (sounding_at(ev, n, lv2h_now(h)) > 0) {
      pressed_at = lv2h_now(h);
    }
  }
  CHECK(pressed_at > 0);
  lv2h_set(h, "panic", 1.0f);
  drive(h, &c, NULL, 0, pressed_at + 256, &b, POS_ON_CHANGE);
  lv2h_set(h, "panic", 0.0f); // a trigger: the host resets it
  size_t n;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK_EQ(sounding_at(ev, n, pressed_at + 256), 0);
  // Regenerate: the notes ahead change, and play on.
  drive(h, &c, NULL, 0, pressed_at + 48000 * 2, &b, POS_ON_CHANGE);
  lv2h_set(h, "regenerate", 1.0f);
  drive(h, &c, NULL, 0, pressed_at + 48000 * 2 + 256, &b, POS_ON_CHANGE);
  lv2h_set(h, "regenerate", 0.0f);
  drive(h, &c, NULL, 0, pressed_at + 48000 * 8, &b, POS_ON_CHANGE);
  ev = lv2h_events(h, &n);
  CHECK(lv2h_count_note_ons(ev, n, pressed_at + 48000 * 2 + 256, UINT64_MAX) > 0);
  stop_and_drain(h, &c);
  ev = lv2h_events(h, &n);
  CHECK(lv2h_check_balanced(ev, n));
  lv2h_free(h);
}

// ---- model choice -----------------------------------------------------------------------

TEST(lv2_patch_get_reports_model_and_styles)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_patch_get(h, 0);
  lv2h_run(h, 128);
  const char *model = lv2h_notified(h, CANTUS__model);
  CHECK(model && same_file(model, bundle_file("models/default.cantus")));
  const char *names = lv2h_notified(h, CANTUS__styleNames);
  CantusModelOptions opt = cantus_model_options_default();
  CantusModel *m = NULL;
  CantusError err;
  CHECK(cantus_model_load(bundle_file("models/default.cantus"), &opt, &m, &err) == CANTUS_OK);
  if (m && names) {
    char want[4096] = "";
    for (uint32_t i = 0; i < m->dims.n_styles; i++) {
      strcat(want, i ? "\n" : "");
      strcat(want, m->style_names[i]);
    }
    CHECK_MSG(!strcmp(names, want), "styleNames '%s', want '%s'", names, want);
  }
  CHECK(names != NULL);
  cantus_model_free(m);
  lv2h_free(h);
}

static const char *mode_name(Lv2hWorkerMode m)
{
  return m == LV2H_WORKER_SYNC ? "sync" : m == LV2H_WORKER_NESTED ? "nested" : "deferred";
}

// A model swap mid-note through patch:Set, in each worker mode: the old
// notes end, the new model is announced and plays, nothing is stuck.
TEST(lv2_model_swap_in_every_worker_mode)
{
  const char *other = write_model("other.cantus", 99);
  const Lv2hWorkerMode modes[] = { LV2H_WORKER_SYNC, LV2H_WORKER_NESTED, LV2H_WORKER_DEFERRED };
  for (int m = 0; m < 3; m++) {
    Lv2Host *h = open_host(modes[m], 48000.0);
    if (!h) {
      return;
    }
    lv2h_set(h, "gate", 2.0f);
    lv2h_set(h, "max_voices", 6.0f);
    Lv2hClock c = clock_at(120.0, 4.0);
    Blocks b = { .fixed = 256 };
    uint64_t at = 0;
    for (int tries = 0; tries < 400 && !at; tries++) {
      drive(h, &c, NULL, 0, lv2h_now(h) + 2560, &b, POS_ON_CHANGE);
      size_t n;
      const Lv2hEvent *ev = lv2h_events(h, &n);
      if (lv2h_now(h) > 48000 && sounding_at(ev, n, lv2h_now(h)) > 0) {
        at = lv2h_now(h);
      }
    }
    CHECK_MSG(at > 0, "%s: never a sounding note", mode_name(modes[m]));
    lv2h_clear_notified(h);
    lv2h_patch_set_path(h, 100, CANTUS__model, other);
    drive(h, &c, NULL, 0, at + 256 * 8, &b, POS_ON_CHANGE);
    const char *model = lv2h_notified(h, CANTUS__model);
    CHECK_MSG(model && !strcmp(model, other),
              "%s: model notified '%s'",
              mode_name(modes[m]),
              model ? model : "(none)");
    CHECK(lv2h_notified(h, CANTUS__styleNames) != NULL);
    size_t n;
    const Lv2hEvent *ev = lv2h_events(h, &n);
    // Everything sounding before the swap ended within a few blocks.
    CHECK_MSG(sounding_at(ev, n, at + 256 * 8) == 0 ||
                lv2h_count_note_ons(ev, n, at, at + 256 * 8) > 0,
              "%s: old notes still sounding",
              mode_name(modes[m]));
    drive(h, &c, NULL, 0, at + 48000 * 6, &b, POS_ON_CHANGE);
    ev = lv2h_events(h, &n);
    CHECK_MSG(lv2h_count_note_ons(ev, n, at + 256 * 8, UINT64_MAX) > 0,
              "%s: silent after swap",
              mode_name(modes[m]));
    stop_and_drain(h, &c);
    ev = lv2h_events(h, &n);
    CHECK_MSG(lv2h_check_balanced(ev, n), "%s", mode_name(modes[m]));
    CHECK(lv2h_check_sorted(ev, n));
    CHECK_EQ(lv2h_log_count(h, "error"), 0);
    lv2h_free(h);
  }
}

TEST(lv2_refused_model_keeps_current)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  char bad[PATH_MAX + 128];
  snprintf(bad, sizeof bad, "%s/broken.cantus", scratch_dir());
  FILE *f = fopen(bad, "wb");
  fputs("not a model at all", f);
  fclose(f);
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 512 };
  drive(h, &c, NULL, 0, 48000, &b, POS_ON_CHANGE);
  lv2h_clear_notified(h);
  lv2h_patch_set_path(h, 0, CANTUS__model, bad);
  lv2h_patch_set_path(h, 10, CANTUS__model, "/nonexistent/dir/missing.cantus");
  drive(h, &c, NULL, 0, 48000 * 6, &b, POS_ON_CHANGE);
  CHECK_EQ(lv2h_log_count(h, "error"), 2);
  CHECK_MSG(strstr(lv2h_last_log(h), "missing.cantus") != NULL, "log: %s", lv2h_last_log(h));
  const char *model = lv2h_notified(h, CANTUS__model);
  CHECK(model && same_file(model, bundle_file("models/default.cantus")));
  size_t n;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK(lv2h_count_note_ons(ev, n, 48000 * 2, UINT64_MAX) > 0);
  lv2h_free(h);
}

// ---- state ------------------------------------------------------------------------------

// Model path and controls survive save and restore: a fresh instance
// restored from the state (inactive: loaded at once) plays exactly what an
// instance set up by hand plays; restoring while running goes through the
// worker.
TEST(lv2_state_roundtrip)
{
  const char *other = write_model("state.cantus", 7);
  Lv2Host *a = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!a) {
    return;
  }
  // Set up by hand with the transport stopped at bar 1.
  Lv2hClock ca = clock_at(120.0, 4.0);
  ca.rolling = false;
  lv2h_set(a, "seed", 4242.0f);
  lv2h_set(a, "temperature", 1.2f);
  lv2h_set(a, "channel", 3.0f);
  lv2h_set(a, "density", 0.8f);
  lv2h_patch_set_path(a, 0, CANTUS__model, other);
  for (int i = 0; i < 8; i++) {
    const Lv2hPos p = lv2h_clock_pos(&ca, false);
    lv2h_position(a, 0, &p);
    lv2h_run(a, 64);
  }
  const char *model = lv2h_notified(a, CANTUS__model);
  CHECK_MSG(model && !strcmp(model, other), "model '%s'", model ? model : "(none)");
  char *state = lv2h_save_state(a, scratch_dir());
  CHECK(state != NULL);
  if (!state) {
    lv2h_free(a);
    return;
  }
  CHECK_MSG(strstr(state, "state.cantus") != NULL, "%s", state);
  CHECK(strstr(state, "4242") != NULL);

  Lv2Host *b = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  lv2h_deactivate(b);
  CHECK(lv2h_restore_state(b, state, false));
  lv2h_activate(b);
  CHECK_NEAR(lv2h_get(b, "seed"), 4242.0, 0.0);
  CHECK_NEAR(lv2h_get(b, "channel"), 3.0, 0.0);
  CHECK_NEAR(lv2h_get(b, "temperature"), 1.2, 1e-6);
  // Roll both from bar 1 for 8 s.
  lv2h_clear_events(a);
  Lv2hClock cb = clock_at(120.0, 4.0);
  ca.rolling = true;
  Blocks bl = { .fixed = 512 };
  const uint64_t a0 = lv2h_now(a);
  drive(a, &ca, NULL, 0, a0 + 48000 * 8, &bl, POS_EVERY);
  drive(b, &cb, NULL, 0, 48000 * 8, &bl, POS_EVERY);
  size_t na, nb;
  Lv2hEvent *ea = copy_events(a, &na);
  const Lv2hEvent *eb = lv2h_events(b, &nb);
  for (size_t i = 0; i < na; i++) {
    ea[i].frame -= a0;
  }
  CHECK(lv2h_count_note_ons(ea, na, 0, UINT64_MAX) >= 4);
  CHECK_MSG(same_events(ea, na, eb, nb), "the restored instance plays differently");
  lv2h_patch_get(b, 0);
  lv2h_run(b, 64);
  model = lv2h_notified(b, CANTUS__model);
  CHECK_MSG(model && same_file(model, other), "restored model '%s'", model ? model : "(none)");
  free(ea);

  // While running: through the worker (state:threadSafeRestore).
  Lv2Host *d = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  lv2h_run(d, 64);
  lv2h_clear_notified(d);
  CHECK(lv2h_restore_state(d, state, true));
  lv2h_run(d, 64);
  lv2h_settle(d, 64, 10);
  model = lv2h_notified(d, CANTUS__model);
  CHECK_MSG(
    model && same_file(model, other), "worker restore: model '%s'", model ? model : "(none)");
  CHECK_NEAR(lv2h_get(d, "seed"), 4242.0, 0.0);
  free(state);
  lv2h_free(a);
  lv2h_free(b);
  lv2h_free(d);
}

TEST(lv2_state_moved_model_falls_back_to_bundle)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  const char *other = write_model("moved.cantus", 5);
  lv2h_patch_set_path(h, 0, CANTUS__model, other);
  lv2h_run(h, 64);
  lv2h_settle(h, 64, 10);
  char *state = lv2h_save_state(h, scratch_dir());
  // Point the state at a folder that does not exist on "this machine",
  // keeping the name of a model the bundle ships.
  char *p = state ? strstr(state, other) : NULL;
  CHECK(p != NULL);
  if (p) {
    char moved[16384];
    snprintf(moved,
             sizeof moved,
             "%.*s/elsewhere/lib/lv2/cantus.lv2/models/default.cantus%s",
             (int)(p - state),
             state,
             p + strlen(other));
    lv2h_deactivate(h);
    CHECK(lv2h_restore_state(h, moved, false));
    lv2h_activate(h);
    lv2h_patch_get(h, 0);
    lv2h_run(h, 64);
    const char *model = lv2h_notified(h, CANTUS__model);
    CHECK_MSG(model && same_file(model, bundle_file("models/default.cantus")),
              "model '%s'",
              model ? model : "(none)");
  }
  free(state);
  lv2h_free(h);
}

TEST(lv2_theme_set_announced_and_saved)
{
  char theme[PATH_MAX];
  CHECK(realpath("tests/data/midi/good.mid", theme) != NULL);
  Lv2Host *h = open_host(LV2H_WORKER_SYNC, 48000.0);
  if (!h) {
    return;
  }
  size_t n0;
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 512 };
  lv2h_patch_set_path(h, 0, CANTUS__theme, theme);
  lv2h_run(h, 512);
  lv2h_run(h, 512);
  const char *t = lv2h_notified(h, CANTUS__theme);
  CHECK_MSG(
    t && !strcmp(t, theme), "theme notified '%s' (log: %s)", t ? t : "(none)", lv2h_last_log(h));
  char *state = lv2h_save_state(h, scratch_dir());
  CHECK(state && strstr(state, "good.mid"));
  lv2h_clear_events(h);
  const uint64_t t0 = lv2h_now(h);
  drive(h, &c, NULL, 0, t0 + 48000 * 4, &b, POS_ON_CHANGE);
  Lv2hEvent *with = copy_events(h, &n0);
  CHECK(n0 > 0);
  // The same timeline without the theme plays something else.
  Lv2Host *plain = open_host(LV2H_WORKER_SYNC, 48000.0);
  Lv2hClock c2 = clock_at(120.0, 4.0);
  lv2h_run(plain, 512);
  lv2h_run(plain, 512);
  drive(plain, &c2, NULL, 0, t0 + 48000 * 4, &b, POS_ON_CHANGE);
  size_t n1;
  const Lv2hEvent *without = lv2h_events(plain, &n1);
  CHECK_MSG(!events_equal(with, n0, without, n1, false), "the theme changed nothing");
  free(with);
  lv2h_free(plain);
  // Clearing: an empty path.
  lv2h_patch_set_path(h, 0, CANTUS__theme, "");
  lv2h_run(h, 512);
  lv2h_run(h, 512);
  t = lv2h_notified(h, CANTUS__theme);
  CHECK(t && !t[0]);
  free(state);
  lv2h_free(h);
}

// A theme for a format 2 model puts each track's notes in the part named
// like the track: the melody on channel 1 and the bass on part 2's channel.
TEST(lv2_theme_parts_by_track_name)
{
  char model[PATH_MAX], theme[PATH_MAX];
  CHECK(realpath("tests/data/tiny2.cantus", model) != NULL);
  CHECK(realpath("tests/data/midi/parts.mid", theme) != NULL);
  Lv2Host *h = open_host(LV2H_WORKER_SYNC, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "part2_channel", 5.0f);
  lv2h_patch_set_path(h, 0, CANTUS__model, model);
  lv2h_run(h, 512);
  lv2h_patch_set_path(h, 0, CANTUS__theme, theme);
  for (int c = 0; c < 8 && !lv2h_notified(h, CANTUS__theme); c++) {
    lv2h_run(h, 512);
  }
  CHECK_MSG(lv2h_notified(h, CANTUS__theme), "theme not set (log: %s)", lv2h_last_log(h));
  lv2h_clear_events(h);
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 512 };
  drive(h, &c, NULL, 0, lv2h_now(h) + 48000, &b, POS_ON_CHANGE); // bar 0's first half
  size_t n;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  int melody = 0, bass = 0;
  for (size_t i = 0; i < n; i++) {
    if ((ev[i].data[0] & 0xF0) != 0x90 || ev[i].data[2] == 0) {
      continue;
    }
    const int ch = ev[i].data[0] & 0x0F, pitch = ev[i].data[1];
    melody += (pitch == 76 || pitch == 77) && ch == 0;
    bass += pitch == 48 && ch == 4;
    CHECK_MSG(!(pitch == 48 && ch == 0), "the bass note played as part 1");
  }
  CHECK_EQ(melody, 2);
  CHECK_EQ(bass, 1);
  lv2h_free(h);
}

TEST(lv2_deactivate_sends_offs_after_activate)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    return;
  }
  lv2h_set(h, "gate", 2.0f);
  lv2h_set(h, "max_voices", 6.0f);
  Lv2hClock c = clock_at(120.0, 4.0);
  Blocks b = { .fixed = 256 };
  int sounding = 0;
  for (int tries = 0; tries < 400 && !sounding; tries++) {
    drive(h, &c, NULL, 0, lv2h_now(h) + 2560, &b, POS_ON_CHANGE);
    size_t n;
    const Lv2hEvent *ev = lv2h_events(h, &n);
    sounding = sounding_at(ev, n, lv2h_now(h));
  }
  CHECK(sounding > 0);
  lv2h_deactivate(h);
  lv2h_activate(h);
  const uint64_t at = lv2h_now(h);
  lv2h_run(h, 256); // no position yet: the first block after activate
  size_t n;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK_EQ(sounding_at(ev, n, at + 1), 0);
  lv2h_free(h);
}

// MIDI input reaches the engine: with Listen on, a played phrase changes
// what follows; with Listen and Call and response off it changes nothing.
static Lv2hEvent *play_with_input(bool listen, bool input, size_t *n)
{
  Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
  if (!h) {
    *n = 0;
    return calloc(1, sizeof(Lv2hEvent));
  }
  lv2h_set(h, "listen", listen ? 1.0f : 0.0f);
  Lv2hClock c = clock_at(120.0, 4.0);
  const uint8_t phrase[] = { 60, 62, 64, 65, 67, 65, 64, 62 };
  for (int blk = 0; blk < 800; blk++) {
    if (blk == 0) {
      const Lv2hPos p = lv2h_clock_pos(&c, false);
      lv2h_position(h, 0, &p);
    }
    // One note every 24000 frames (a beat) for the first two bars, each
    // at frame 100 of its block: blocks of 480 frames, a beat every 50.
    if (input && blk % 50 == 0 && blk / 50 < 8) {
      lv2h_midi_in(h, 100, 0x90, phrase[blk / 50], 100);
    }
    if (input && blk % 50 == 25 && blk / 50 < 8) {
      lv2h_midi_in(h, 100, 0x80, phrase[blk / 50], 0);
    }
    lv2h_clock_advance(&c, 480, 48000.0);
    lv2h_run(h, 480);
  }
  stop_and_drain(h, &c);
  Lv2hEvent *ev = copy_events(h, n);
  lv2h_free(h);
  return ev;
}

TEST(lv2_midi_input_reaches_the_engine)
{
  size_t n0, n1, n2, n3;
  Lv2hEvent *quiet = play_with_input(true, false, &n0);
  Lv2hEvent *heard = play_with_input(true, true, &n1);
  CHECK_MSG(!events_equal(quiet, n0, heard, n1, false), "listening to a phrase changed nothing");
  CHECK(lv2h_check_balanced(heard, n1));
  // The phrase's last note-off is at frame 180100; two beats of silence
  // later (wait_beats) the model resumes on the next beat, frame 240000,
  // and continues the phrase: notes there, not the notes it played alone.
  const size_t resumed = lv2h_count_note_ons(heard, n1, 240000, UINT64_MAX);
  CHECK_MSG(resumed > 0, "the model did not resume after the player stopped");
  size_t q = 0, k = 0;
  while (q < n0 && quiet[q].frame < 240000) {
    q++;
  }
  while (k < n1 && heard[k].frame < 240000) {
    k++;
  }
  CHECK_MSG(!events_equal(quiet + q, n0 - q, heard + k, n1 - k, false),
            "the music after the phrase is the music without it");
  Lv2hEvent *deaf0 = play_with_input(false, false, &n2);
  Lv2hEvent *deaf1 = play_with_input(false, true, &n3);
  CHECK_MSG(same_events(deaf0, n2, deaf1, n3), "input changed the music with Listen off");
  free(quiet);
  free(heard);
  free(deaf0);
  free(deaf1);
}

// ---- torture -----------------------------------------------------------------------------

typedef struct {
  CantusGuardCounts total;
} GuardAcc;

static void guard_enter(void *data)
{
  (void)data;
  cantus_guard_arm();
}

static void guard_leave(void *data)
{
  GuardAcc *acc = data;
  const CantusGuardCounts c = cantus_guard_disarm();
  acc->total.allocs += c.allocs;
  acc->total.frees += c.frees;
  acc->total.locks += c.locks;
}

// Automates every control each block (mostly a random walk, sometimes a
// jump, now and then garbage), throws the transport about, feeds MIDI in and
// swaps models mid-note, with the guard armed whenever the plugin runs in
// the audio context.  Returns the worst run() wall and CPU time, in us.
static void torture(Lv2hWorkerMode mode,
                    uint64_t seed,
                    int cycles,
                    double *worst_us,
                    double *worst_cpu_us)
{
  static const double rates[] = { 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000 };
  uint64_t rng = seed;
  const double rate = rates[xorshift(&rng) % 8];
  GuardAcc acc = { { 0, 0, 0 } };
  Lv2hConfig cfg = lv2h_config_default();
  cfg.rate = rate;
  cfg.worker = mode;
  cfg.worker_delay = 1 + (uint32_t)(xorshift(&rng) % 4);
  cfg.quiet_log = true;
  cfg.rt_enter = guard_enter;
  cfg.rt_leave = guard_leave;
  cfg.rt_data = &acc;
  Lv2Host *h = lv2h_new(lv2_path(), CANTUS_URI, &cfg);
  CHECK(h != NULL);
  if (!h) {
    return;
  }
  const char *models[] = { write_model("t1.cantus", 31),
                           write_model("t2.cantus", 32),
                           bundle_file("models/default.cantus"),
                           "/nonexistent/none.cantus" };
  Lv2hClock c = clock_at(120.0, 4.0);
  const bool ardour = xorshift(&rng) & 1;
  int swaps = 0;
  for (int cycle = 0; cycle < cycles; cycle++) {
    const uint32_t n = 1 + (uint32_t)(xorshift(&rng) % 8192);
    for (uint32_t k = 0; k < lv2h_n_ports(h); k++) {
      if (!lv2h_port_is_control_input(h, (int)k)) {
        continue;
      }
      const char *sym = lv2h_port_symbol(h, (int)k);
      float lo, hi, def;
      lv2h_port_range(h, (int)k, &lo, &hi, &def);
      const double u = uniform01(&rng);
      float v = lv2h_get(h, sym);
      // Continuous ports walk every block; discrete ones (style, seed,
      // scale...) restart the music when they change, so they move less.
      if (lv2h_port_is_trigger(h, (int)k)) {
        v = u < 0.005 ? 1.0f : 0.0f;
      } else if (u < 0.002) {
        v = u < 0.0007 ? NAN : u < 0.0014 ? 1e9f : -1e9f; // hosts send garbage too
      } else if (!isfinite(v) || v < lo || v > hi) {
        v = def;
      } else if (lv2h_port_is_discrete(h, (int)k)) {
        if (u < 0.004) {
          v = roundf(lo + (hi - lo) * (float)uniform01(&rng));
        }
      } else if (u < 0.03) {
        v = lo + (hi - lo) * (float)uniform01(&rng);
      } else {
        v += (hi - lo) * 0.04f * ((float)uniform01(&rng) - 0.5f);
        v = v < lo ? lo : v > hi ? hi : v;
      }
      lv2h_set(h, sym, v);
    }
    // Keep music flowing most of the time, so note bookkeeping is busy:
    // a usable pitch range, answer mode and free run only now and then.
    if (lv2h_get(h, "note_lo") > 60.0f) {
      lv2h_set(h, "note_lo", 127.0f - lv2h_get(h, "note_lo"));
    }
    if (lv2h_get(h, "note_hi") < 67.0f) {
      lv2h_set(h, "note_hi", 127.0f - lv2h_get(h, "note_hi"));
    }
    if (uniform01(&rng) < 0.05) {
      lv2h_set(h, "call_response", 0.0f);
    }
    if (uniform01(&rng) < 0.01) {
      lv2h_set(h, "free_run", lv2h_get(h, "free_run") > 0.5f ? 0.0f : 1.0f);
    }
    // Transport chaos at a random frame of the block.
    const double r = uniform01(&rng);
    const uint32_t at = (uint32_t)(xorshift(&rng) % n);
    if (ardour) {
      Lv2hPos p = lv2h_clock_pos(&c, true);
      lv2h_position(h, 0, &p);
    }
    if (r < 0.2) {
      lv2h_clock_advance(&c, at, rate);
      if (r < 0.05) {
        c.rolling = !c.rolling || r < 0.01;
      } else if (r < 0.09) {
        c.beat = floor(uniform01(&rng) * 200.0 * 12.0) / 12.0; // relocate
      } else if (r < 0.13) {
        c.beat = c.beat > 8.0 ? c.beat - 8.0 : 0.0; // loop wrap
      } else if (r < 0.17) {
        c.bpm = 30.0 + uniform01(&rng) * 270.0;
      } else {
        c.beats_per_bar = (double)(2 + xorshift(&rng) % 6);
      }
      Lv2hPos p = lv2h_clock_pos(&c, ardour);
      lv2h_position(h, at, &p);
      lv2h_clock_advance(&c, n - at, rate);
    } else {
      lv2h_clock_advance(&c, n, rate);
    }
    for (int k = 0; k < 3; k++) {
      if (uniform01(&rng) < 0.3) {
        const uint8_t p = (uint8_t)(40 + xorshift(&rng) % 50);
        lv2h_midi_in(
          h, (uint32_t)(xorshift(&rng) % n), uniform01(&rng) < 0.5 ? 0x90 : 0x80, p, 100);
      }
    }
    if (uniform01(&rng) < 0.03) {
      lv2h_patch_set_path(
        h, (uint32_t)(xorshift(&rng) % n), CANTUS__model, models[xorshift(&rng) % 4]);
      swaps++;
    }
    if (uniform01(&rng) < 0.01) {
      lv2h_patch_get(h, 0);
    }
    lv2h_run(h, n);
  }
  // End: stop, drain the worker; every note has ended.
  c.rolling = false;
  lv2h_set(h, "free_run", 0.0f);
  Lv2hPos p = lv2h_clock_pos(&c, false);
  lv2h_position(h, 0, &p);
  lv2h_run(h, 64);
  lv2h_settle(h, 64, 20);
  size_t n;
  const Lv2hEvent *ev = lv2h_events(h, &n);
  CHECK_MSG(lv2h_check_sorted(ev, n), "%s", mode_name(mode));
  CHECK_MSG(lv2h_check_balanced(ev, n), "%s", mode_name(mode));
  // Notes flowed (the music is sparse under such automation: one event
  // per two seconds is plenty to exercise the note bookkeeping).
  const double seconds = (double)lv2h_now(h) / rate;
  CHECK_MSG(
    (double)n > seconds / 2.0, "%s: only %zu events in %.0f s", mode_name(mode), n, seconds);
  CHECK_MSG(acc.total.allocs == 0 && acc.total.frees == 0 && acc.total.locks == 0,
            "%s: %ld allocations, %ld frees, %ld locks in the audio context",
            mode_name(mode),
            acc.total.allocs,
            acc.total.frees,
            acc.total.locks);
  *worst_us = (double)lv2h_worst_run_ns(h) / 1000.0;
  *worst_cpu_us = (double)lv2h_worst_run_cpu_ns(h) / 1000.0;
  printf("lv2 torture (%s worker, %.0f Hz, %s positions, %d blocks of 1..8192 frames, %d model "
         "swaps): %zu events, guard: %ld allocs %ld locks; worst run() %.1f us wall, %.1f us "
         "CPU\n",
         mode_name(mode),
         rate,
         ardour ? "every-block" : "on-change",
         cycles,
         swaps,
         n,
         acc.total.allocs,
         acc.total.locks,
         *worst_us,
         *worst_cpu_us);
  lv2h_free(h);
}

TEST(lv2_torture)
{
  const Lv2hWorkerMode modes[] = {
    LV2H_WORKER_SYNC, LV2H_WORKER_NESTED, LV2H_WORKER_DEFERRED, LV2H_WORKER_DEFERRED
  };
  for (int m = 0; m < 4; m++) {
    double us, cpu;
    torture(modes[m], 0x9e3779b97f4a7c15ull * (uint64_t)(m + 1), 2000, &us, &cpu);
  }
}

// Worst run() at the sizes a live host uses: 48 kHz, 64 and 256 frames,
// Ardour-style positions, the default model, 300 BPM (the most steps per
// second).  Informational: printed, bounded only loosely (a shared machine
// preempts); the CPU time leaves preemption out.
TEST(lv2_worst_run_time_live)
{
  const uint32_t sizes[] = { 64, 256 };
  for (int s = 0; s < 2; s++) {
    Lv2Host *h = open_host(LV2H_WORKER_DEFERRED, 48000.0);
    if (!h) {
      return;
    }
    lv2h_set(h, "density", 1.0f);
    Lv2hClock c = clock_at(300.0, 4.0);
    Blocks b = { .fixed = sizes[s] };
    drive(h, &c, NULL, 0, 48000 * 10, &b, POS_EVERY);
    const double period_us = (double)sizes[s] / 48000.0 * 1e6;
    const double us = (double)lv2h_worst_run_ns(h) / 1000.0;
    const double cpu = (double)lv2h_worst_run_cpu_ns(h) / 1000.0;
    printf("lv2 live: %u-frame blocks at 48 kHz, 300 BPM, %llu runs: worst run() %.1f us wall "
           "(%.1f%% of the %.0f us period), %.1f us CPU (%.1f%%)\n",
           sizes[s],
           (unsigned long long)lv2h_runs(h),
           us,
           100.0 * us / period_us,
           period_us,
           cpu,
           100.0 * cpu / period_us);
    CHECK_MSG(
      cpu < period_us, "run() CPU time %.1f us over the %.0f us block period", cpu, period_us);
    size_t n;
    const Lv2hEvent *ev = lv2h_events(h, &n);
    CHECK(lv2h_count_note_ons(ev, n, 0, UINT64_MAX) > 0);
    lv2h_free(h);
  }
}
