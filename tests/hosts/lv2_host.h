// SPDX-License-Identifier: GPL-3.0-or-later
// A small LV2 host for tests, on lilv: instantiates a plugin by URI from a
// given LV2 path, forges its input sequence (MIDI, time:Position, patch:Set
// and patch:Get), runs blocks, collects the MIDI output with absolute frames
// and the patch:Set notifications, runs the worker in one of three modes,
// and saves and restores state through lilv.  Used by tests/unit/test_lv2.c (the
// C runner) and tests/hosts/lilv_host.c (the command-line host of the shell
// suites).  Thread class: everything runs on the caller's thread; the calls
// the plugin makes into the host from run() (schedule_work, respond) use
// preallocated queues only.
#ifndef CANTUS_LV2_HOST_H
#define CANTUS_LV2_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  LV2H_WORKER_SYNC,     // work() at once, work_response() after run() (jalv's -x/freewheel way)
  LV2H_WORKER_NESTED,   // work() at once, work_response() inside respond() (Ardour's sync worker)
  LV2H_WORKER_DEFERRED, // work() `worker_delay` cycles later, work_response() after the next run()
} Lv2hWorkerMode;

typedef struct {
  double rate;        // sample rate, Hz
  uint32_t max_block; // frames; input/output buffers are sized for it
  Lv2hWorkerMode worker;
  uint32_t worker_delay;  // cycles, DEFERRED only
  bool quiet_log;         // drop the plugin's log lines instead of printing them
  uint32_t midi_out_size; // bytes the MIDI output buffer offers each run (0 = 128 KiB)
  // Called when the host enters / leaves code the plugin runs in the audio
  // context (run, work_response), e.g. to arm an allocation guard; the
  // worker's work() is always outside.
  void (*rt_enter)(void *data);
  void (*rt_leave)(void *data);
  void *rt_data;
} Lv2hConfig;

typedef struct {
  uint64_t frame; // absolute: frames run before this block + offset in block
  uint8_t size;
  uint8_t data[3];
} Lv2hEvent;

// time:Position fields; `has_*` false leaves the field out of the object.
typedef struct {
  bool has_frame, has_speed, has_bpm, has_bbt, has_beat;
  int64_t frame;
  double speed;
  double bpm;
  int64_t bar;
  double bar_beat;
  double beat;          // time:beat (absolute beats), with has_beat
  double beats_per_bar; // sent with has_bbt
  int beat_unit;        // sent with has_bbt
} Lv2hPos;

// A host transport: absolute beat position advancing with the frames.
typedef struct {
  bool rolling;
  double bpm;
  double beats_per_bar;
  int beat_unit;
  double beat;   // absolute beats at the current frame
  int64_t frame; // transport frame
} Lv2hClock;

typedef struct Lv2Host Lv2Host;

Lv2hConfig lv2h_config_default(void); // 48 kHz, 8192-frame blocks, deferred worker (delay 2)

// Loads the world from lv2_path (one bundle folder ending in ".lv2", or an
// LV2_PATH: folders of bundles, ':'-separated) and instantiates uri,
// activated.  NULL with a message on stderr on failure.
Lv2Host *lv2h_new(const char *lv2_path, const char *uri, const Lv2hConfig *cfg);
void lv2h_free(Lv2Host *h);

// Control ports by symbol (abort on an unknown symbol: a test bug).
int lv2h_port(const Lv2Host *h, const char *symbol); // index or -1
void lv2h_set(Lv2Host *h, const char *symbol, float value);
float lv2h_get(const Lv2Host *h, const char *symbol);
void lv2h_port_range(const Lv2Host *h, int index, float *min, float *max, float *dflt);
uint32_t lv2h_n_ports(const Lv2Host *h);
bool lv2h_port_is_control_input(const Lv2Host *h, int index);
bool lv2h_port_is_trigger(const Lv2Host *h, int index);
bool lv2h_port_is_discrete(const Lv2Host *h, int index); // integer, toggled or enumeration
const char *lv2h_port_symbol(const Lv2Host *h, int index);

void lv2h_activate(Lv2Host *h);
void lv2h_deactivate(Lv2Host *h);

// Input events for the next lv2h_run(), at a frame offset inside it; kept
// in frame order (events at one frame stay in the order given).  They go
// to the plugin's first atom input port, lv2h_midi_to's to the named one.
void lv2h_midi_in(Lv2Host *h, uint32_t frame, uint8_t status, uint8_t d1, uint8_t d2);
void lv2h_midi_to(Lv2Host *h,
                  const char *symbol,
                  uint32_t frame,
                  uint8_t status,
                  uint8_t d1,
                  uint8_t d2);
// Connects an atom input port to NULL from now on (lv2:connectionOptional;
// the plugin must cope): it is fed nothing.
void lv2h_disconnect(Lv2Host *h, const char *symbol);
void lv2h_position(Lv2Host *h, uint32_t frame, const Lv2hPos *pos);
void lv2h_patch_set_path(Lv2Host *h, uint32_t frame, const char *key_uri, const char *path);
void lv2h_patch_get(Lv2Host *h, uint32_t frame);

// Runs one block of n frames (<= max_block), then the worker per its mode.
void lv2h_run(Lv2Host *h, uint32_t n);
// Runs empty blocks until the worker queues are empty (at most `max` blocks
// of `n` frames, transport unchanged); returns the blocks run.
int lv2h_settle(Lv2Host *h, uint32_t n, int max);

uint64_t lv2h_now(const Lv2Host *h); // frames run so far
double lv2h_rate(const Lv2Host *h);  // the sample rate it was made with
const Lv2hEvent *lv2h_events(const Lv2Host *h, size_t *n);
void lv2h_clear_events(Lv2Host *h);
// The value of the last patch:Set notification of key_uri, or NULL.
const char *lv2h_notified(const Lv2Host *h, const char *key_uri);
void lv2h_clear_notified(Lv2Host *h);
// Log lines of the given level ("error", "warning", "note", "trace") so far.
int lv2h_log_count(const Lv2Host *h, const char *level);
const char *lv2h_last_log(const Lv2Host *h);

// Timing of run() alone (the worker's work() excluded), nanoseconds: wall
// clock, and the thread's CPU time (which leaves out preemption by other
// processes on a shared machine).
uint64_t lv2h_worst_run_ns(const Lv2Host *h);
uint64_t lv2h_worst_run_cpu_ns(const Lv2Host *h);
uint32_t lv2h_worst_run_frames(const Lv2Host *h); // block size of the worst run
uint64_t lv2h_runs(const Lv2Host *h);

// State through lilv: a Turtle string (free()), model paths kept absolute.
char *lv2h_save_state(Lv2Host *h, const char *dir);
// Restores a state string.  with_worker passes the worker schedule feature
// (state:threadSafeRestore: the plugin loads files in the worker).
bool lv2h_restore_state(Lv2Host *h, const char *ttl, bool with_worker);
// Applies a preset by URI (port values and state) as a host does.
bool lv2h_apply_preset(Lv2Host *h, const char *preset_uri);
// Preset URIs of the plugin (NULL-terminated, free with lv2h_free_list).
char **lv2h_presets(Lv2Host *h);
void lv2h_free_list(char **list);

// The host's LilvWorld / plugin, for checks on the TTL (opaque pointers).
void *lv2h_world(Lv2Host *h);
const void *lv2h_plugin(Lv2Host *h);

// Transport helpers.  lv2h_clock_pos gives every field; round1920 quantises
// barBeat to 1/1920 beat as Ardour 7 does.
Lv2hPos lv2h_clock_pos(const Lv2hClock *c, bool round1920);
void lv2h_clock_advance(Lv2hClock *c, uint32_t n_frames, double rate);

// Output checks.  Each returns true when the property holds and otherwise
// prints one line saying where it fails.
bool lv2h_check_sorted(const Lv2hEvent *ev, size_t n);
// Every note-on is followed by its note-off (per channel and pitch), no
// re-strike of a sounding note, nothing sounding at the end.
bool lv2h_check_balanced(const Lv2hEvent *ev, size_t n);
// Note-ons at frames [from, to) lie on the tick grid: frame = origin + k *
// frames_per_tick (within tol frames).  Returns the number of note-ons
// checked in *n_checked.
bool lv2h_check_grid(const Lv2hEvent *ev,
                     size_t n,
                     uint64_t from,
                     uint64_t to,
                     double origin,
                     double frames_per_tick,
                     double tol,
                     size_t *n_checked);
size_t lv2h_count_note_ons(const Lv2hEvent *ev, size_t n, uint64_t from, uint64_t to);

#endif
