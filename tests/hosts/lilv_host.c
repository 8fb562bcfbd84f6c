// SPDX-License-Identifier: GPL-3.0-or-later
// lilv_host: a headless LV2 host on lilv for the shell suites and for
// debugging by hand (after /work/shared/hosts/lilv_host.c).  Instantiates a
// plugin by URI, runs it on a scripted transport and prints every MIDI event
// it writes as "<absolute frame> <hex bytes>"; a summary (events, worst
// run() time, notifications) goes to stderr.  Non-RT test program.
//
// Usage: lilv_host [options]
//   -p PATH        a bundle folder (*.lv2) or an LV2_PATH ($CANTUS_BUILD/cantus.lv2)
//   -u URI         plugin URI (Cantus)
//   -r RATE        sample rate (48000)
//   -b FRAMES      block size (256); with -R SEED random sizes in 1..FRAMES
//   -s SECONDS     length (8)
//   -t BPM         host tempo (120)
//   -m BEATS       beats per bar (4)
//   -e             time:Position every block, barBeat rounded to 1/1920 (Ardour 7)
//   -f             frame and speed only (jalv without a timebase master)
//   -n             no time:Position at all (free run)
//   -S SECONDS     stop the transport then
//   -L SEC:BEAT    relocate to BEAT at SEC (repeatable)
//   -T SEC:BPM     change tempo at SEC (repeatable)
//   -c SYM=VALUE   set a control port (repeatable)
//   -M SEC:PATH    patch:Set cantus:model at SEC (repeatable)
//   -w MODE        worker: sync, nested or deferred (deferred)
//   -i FILE        restore this state (lilv Turtle) before running
//   -o FILE        save the state after running
//   -W PATH:SEED   write a fixture model (tests/unit/fixtures.c) and exit
#include "fixtures.h"
#include "lv2_host.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CANTUS_PLUGIN_URI "https://github.com/cantus-midi/cantus"
#define CANTUS_MODEL_URI CANTUS_PLUGIN_URI "#model"

enum { MAX_ACTS = 64 };

typedef enum { ACT_STOP, ACT_LOCATE, ACT_TEMPO, ACT_MODEL } ActKind;
typedef struct {
  uint64_t frame;
  ActKind kind;
  double value;
  const char *path;
} Act;

static int cmp_act(const void *a, const void *b)
{
  const Act *x = a, *y = b;
  return x->frame < y->frame ? -1 : x->frame > y->frame;
}

static char *read_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  const long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) {
    s[n] = '\0';
  }
  fclose(f);
  return s;
}

static int write_fixture(const char *arg)
{
  char path[4096];
  unsigned seed = 1;
  const char *colon = strrchr(arg, ':');
  if (!colon || (size_t)(colon - arg) >= sizeof path) {
    fprintf(stderr, "lilv_host: -W PATH:SEED\n");
    return 2;
  }
  memcpy(path, arg, (size_t)(colon - arg));
  path[colon - arg] = '\0';
  seed = (unsigned)strtoul(colon + 1, NULL, 10);
  CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m = cantus_fixture_model(&d, seed, CANTUS_WEIGHTS_F32);
  CantusError err = { { 0 } };
  const CantusStatus st = cantus_model_save(m, path, &err);
  cantus_model_free(m);
  if (st != CANTUS_OK) {
    fprintf(stderr, "lilv_host: %s\n", err.msg);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  const char *build = getenv("CANTUS_BUILD");
  char default_path[4096];
  snprintf(default_path, sizeof default_path, "%s/cantus.lv2", build && *build ? build : "build");
  const char *path = default_path, *uri = CANTUS_PLUGIN_URI, *state_in = NULL, *state_out = NULL;
  double rate = 48000.0, seconds = 8.0, bpm = 120.0, bpb = 4.0;
  uint32_t block = 256;
  unsigned long long seed = 0;
  int pos_mode = 0; // 0 on change, 1 every block, 2 frame only, 3 none
  Lv2hWorkerMode worker = LV2H_WORKER_DEFERRED;
  const char *sets[64];
  int n_sets = 0;
  Act acts[MAX_ACTS];
  int n_acts = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !a[1] || a[2]) {
      fprintf(stderr, "lilv_host: bad argument '%s' (see the source for usage)\n", a);
      return 2;
    }
    if (a[1] == 'e' || a[1] == 'f' || a[1] == 'n') {
      pos_mode = a[1] == 'e' ? 1 : a[1] == 'f' ? 2 : 3;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "lilv_host: %s needs a value\n", a);
      return 2;
    }
    const char *v = argv[++i];
    double sec = 0.0, val = 0.0;
    char *end = NULL;
    switch (a[1]) {
    case 'p':
      path = v;
      break;
    case 'u':
      uri = v;
      break;
    case 'r':
      rate = atof(v);
      break;
    case 'b':
      block = (uint32_t)atoi(v);
      break;
    case 'R':
      seed = strtoull(v, NULL, 10);
      break;
    case 's':
      seconds = atof(v);
      break;
    case 't':
      bpm = atof(v);
      break;
    case 'm':
      bpb = atof(v);
      break;
    case 'c':
      if (n_sets < 64) {
        sets[n_sets++] = v;
      }
      break;
    case 'w':
      worker = !strcmp(v, "sync")     ? LV2H_WORKER_SYNC
               : !strcmp(v, "nested") ? LV2H_WORKER_NESTED
                                      : LV2H_WORKER_DEFERRED;
      break;
    case 'i':
      state_in = v;
      break;
    case 'o':
      state_out = v;
      break;
    case 'W':
      return write_fixture(v);
    case 'S':
    case 'L':
    case 'T':
    case 'M':
      if (n_acts == MAX_ACTS) {
        break;
      }
      sec = strtod(v, &end);
      Act *act = &acts[n_acts++];
      act->frame = (uint64_t)llround(sec * rate);
      act->path = NULL;
      act->value = 0.0;
      if (a[1] == 'S') {
        act->kind = ACT_STOP;
      } else if (!end || *end != ':') {
        fprintf(stderr, "lilv_host: %s wants SEC:VALUE\n", a);
        return 2;
      } else if (a[1] == 'M') {
        act->kind = ACT_MODEL;
        act->path = end + 1;
      } else {
        val = atof(end + 1);
        act->kind = a[1] == 'L' ? ACT_LOCATE : ACT_TEMPO;
        act->value = val;
      }
      break;
    default:
      fprintf(stderr, "lilv_host: unknown option %s\n", a);
      return 2;
    }
  }
  qsort(acts, (size_t)n_acts, sizeof acts[0], cmp_act);

  Lv2hConfig cfg = lv2h_config_default();
  cfg.rate = rate;
  cfg.max_block = block < 1 ? 1 : block;
  cfg.worker = worker;
  Lv2Host *h = lv2h_new(path, uri, &cfg);
  if (!h) {
    return 1;
  }
  for (int i = 0; i < n_sets; i++) {
    char sym[128];
    const char *eq = strchr(sets[i], '=');
    if (!eq || (size_t)(eq - sets[i]) >= sizeof sym) {
      fprintf(stderr, "lilv_host: -c SYMBOL=VALUE\n");
      return 2;
    }
    memcpy(sym, sets[i], (size_t)(eq - sets[i]));
    sym[eq - sets[i]] = '\0';
    if (lv2h_port(h, sym) < 0) {
      fprintf(stderr, "lilv_host: no port '%s'\n", sym);
      return 2;
    }
    lv2h_set(h, sym, (float)atof(eq + 1));
  }
  if (state_in) {
    char *ttl = read_file(state_in);
    lv2h_deactivate(h);
    const bool ok = ttl && lv2h_restore_state(h, ttl, false);
    lv2h_activate(h);
    free(ttl);
    if (!ok) {
      fprintf(stderr, "lilv_host: cannot restore %s\n", state_in);
      return 1;
    }
  }

  Lv2hClock c = { .rolling = true, .bpm = bpm, .beats_per_bar = bpb, .beat_unit = 4 };
  const uint64_t total = (uint64_t)llround(seconds * rate);
  uint64_t rng = seed ? seed : 1;
  int ai = 0;
  size_t printed = 0;
  while (lv2h_now(h) < total) {
    const uint64_t start = lv2h_now(h);
    uint32_t n = cfg.max_block;
    if (seed) {
      rng ^= rng >> 12;
      rng ^= rng << 25;
      rng ^= rng >> 27;
      n = 1 + (uint32_t)((rng * 2685821657736338717ull) % cfg.max_block);
    }
    if (start + n > total) {
      n = (uint32_t)(total - start);
    }
    Lv2hPos p;
    if (pos_mode == 1 || (pos_mode != 3 && start == 0)) {
      p = lv2h_clock_pos(&c, pos_mode == 1);
      if (pos_mode == 2) {
        p.has_bpm = p.has_bbt = false;
      }
      lv2h_position(h, 0, &p);
    }
    uint32_t off = 0;
    while (ai < n_acts && acts[ai].frame < start + n) {
      const uint32_t at = acts[ai].frame > start ? (uint32_t)(acts[ai].frame - start) : 0;
      lv2h_clock_advance(&c, at - off, rate);
      off = at;
      const Act *act = &acts[ai++];
      if (act->kind == ACT_MODEL) {
        lv2h_patch_set_path(h, at, CANTUS_MODEL_URI, act->path);
        continue;
      }
      if (act->kind == ACT_STOP) {
        c.rolling = false;
      } else if (act->kind == ACT_LOCATE) {
        c.beat = act->value;
        c.frame = (int64_t)llround(act->value * 60.0 * rate / c.bpm);
      } else {
        c.bpm = act->value;
      }
      if (pos_mode != 3) {
        p = lv2h_clock_pos(&c, pos_mode == 1);
        if (pos_mode == 2) {
          p.has_bpm = p.has_bbt = false;
        }
        lv2h_position(h, at, &p);
      }
    }
    lv2h_clock_advance(&c, n - off, rate);
    lv2h_run(h, n);
    size_t n_ev;
    const Lv2hEvent *ev = lv2h_events(h, &n_ev);
    for (; printed < n_ev; printed++) {
      printf("%llu", (unsigned long long)ev[printed].frame);
      for (int k = 0; k < ev[printed].size; k++) {
        printf(" %02x", ev[printed].data[k]);
      }
      printf("\n");
    }
  }
  lv2h_settle(h, 64, 8);
  size_t n_ev;
  const Lv2hEvent *ev = lv2h_events(h, &n_ev);
  for (; printed < n_ev; printed++) {
    printf("%llu", (unsigned long long)ev[printed].frame);
    for (int k = 0; k < ev[printed].size; k++) {
      printf(" %02x", ev[printed].data[k]);
    }
    printf("\n");
  }
  int rc = 0;
  if (state_out) {
    char *ttl = lv2h_save_state(h, ".");
    FILE *f = ttl ? fopen(state_out, "w") : NULL;
    if (!f || fputs(ttl, f) < 0) {
      fprintf(stderr, "lilv_host: cannot save the state to %s\n", state_out);
      rc = 1;
    }
    if (f) {
      fclose(f);
    }
    free(ttl);
  }
  const char *model = lv2h_notified(h, CANTUS_MODEL_URI);
  fprintf(stderr,
          "lilv_host: %llu frames in %llu blocks, %zu MIDI events, worst run() %.1f us (%.1f us "
          "CPU), model %s, %d errors logged\n",
          (unsigned long long)lv2h_now(h),
          (unsigned long long)lv2h_runs(h),
          printed,
          (double)lv2h_worst_run_ns(h) / 1000.0,
          (double)lv2h_worst_run_cpu_ns(h) / 1000.0,
          model ? model : "(not announced)",
          lv2h_log_count(h, "error"));
  lv2h_free(h);
  return rc;
}
