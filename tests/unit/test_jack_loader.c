// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's model loader and hand-over (plugin/jack/loader.c) driven
// without a JACK server: a real loader thread, the audio thread's side
// (cantus_jack_swap_model and the CC / program-change handling) played by
// the test between the main thread's steps, and after every step a read of
// the main thread's model the way drain_ctl_out() and the view read it.
// Under the sanitizer build (make test SAN=1) a read of a freed model fails
// the case with an AddressSanitizer report (issue 8, section 5).
#include "controls.h"
#include "ctlmap.h"
#include "jack_app.h"
#include "loader.h"
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TINY "tests/data/tiny.cantus"

typedef struct {
  CantusJackApp a;
  CantusJackLoader l;
  const CantusModel *current; // the main thread's model (Main.model in jack.c)
  CantusControls view;        // the main thread's controls (Main.view)
  int n_reported;             // controls reported through ctl_out and read back
} Rig;

static void sleep_ms(long ms)
{
  struct timespec ts = { 0, ms * 1000000L };
  nanosleep(&ts, NULL);
}

static void rig_open(Rig *r)
{
  memset(r, 0, sizeof *r);
  CantusError err = { { 0 } };
  CHECK_EQ(cantus_engine_new(1.0, &r->a.engine, &err), CANTUS_OK);
  r->a.to_rt = jack_ringbuffer_create(64);
  r->a.from_rt = jack_ringbuffer_create(64);
  r->a.ctl_out = jack_ringbuffer_create(256 * sizeof(CantusJackCtlMsg));
  cantus_ctlmap_default(&r->a.ccmap);
  r->a.controls = cantus_controls_default();
  CantusModel *m = NULL;
  CHECK_EQ(cantus_engine_load_model(TINY, &m, &err), CANTUS_OK);
  CHECK(cantus_engine_install_model(r->a.engine, m) == NULL);
  r->a.n_styles = (int)m->dims.n_styles;
  r->current = m;
  r->view = r->a.controls;
  cantus_jackloader_init(&r->l, &r->a);
}

// After deactivate in jack.c: what is left in to_rt, the retired model and
// the installed one are freed.
static void rig_close(Rig *r)
{
  cantus_jackloader_stop(&r->l);
  cantus_jackloader_free_retired(&r->l);
  CantusModel *m = NULL;
  while (jack_ringbuffer_read_space(r->a.to_rt) >= sizeof(CantusModel *)) {
    jack_ringbuffer_read(r->a.to_rt, (char *)&m, sizeof(CantusModel *));
    cantus_model_free(m);
  }
  cantus_model_free(r->a.retired);
  cantus_model_free(cantus_engine_install_model(r->a.engine, NULL));
  cantus_engine_free(r->a.engine);
  jack_ringbuffer_free(r->a.to_rt);
  jack_ringbuffer_free(r->a.from_rt);
  jack_ringbuffer_free(r->a.ctl_out);
}

static void report(CantusJackApp *a, int ctl, int source, int number, double v)
{
  CantusJackCtlMsg msg = { ctl, (int16_t)source, (int16_t)number, v };
  if (jack_ringbuffer_write_space(a->ctl_out) >= sizeof msg) {
    jack_ringbuffer_write(a->ctl_out, (const char *)&msg, sizeof msg);
  }
}

// One audio cycle: the model hand-over, then a CC 1 (temperature), a CC 14
// (style) and a program change, handled as jack_rt.c's handle_input() does.
static void rt_cycle(CantusJackApp *a, int k)
{
  cantus_jack_swap_model(a);
  const uint8_t ccs[2][2] = { { 1, (uint8_t)(k * 37 % 128) }, { 14, (uint8_t)(k * 53 % 128) } };
  for (int i = 0; i < 2; i++) {
    double v = 0;
    const int ctl =
      cantus_ctlmap_cc(&a->ccmap, &a->controls, a->n_styles, ccs[i][0], ccs[i][1], &v);
    if (ctl >= 0) {
      report(a, ctl, CANTUS_JACK_CTL_SRC_CC, ccs[i][0], v);
    }
  }
  const int program = k % 3;
  if (program < a->n_styles) {
    cantus_controls_set(&a->controls, CANTUS_CONTROL_STYLE, program, a->n_styles);
    report(a, CANTUS_CONTROL_STYLE, CANTUS_JACK_CTL_SRC_PROGRAM, program, program);
  }
}

// The main thread's reads of its model: the reported controls into the view
// (drain_ctl_out), then every control formatted with the model (the view).
static void main_reads(Rig *r)
{
  CantusJackCtlMsg msg;
  char text[64];
  while (jack_ringbuffer_read_space(r->a.ctl_out) >= sizeof msg) {
    jack_ringbuffer_read(r->a.ctl_out, (char *)&msg, sizeof msg);
    cantus_controls_set(&r->view, msg.ctl, msg.value, (int)r->current->dims.n_styles);
    cantus_controls_format(
      msg.ctl, cantus_controls_get(&r->view, msg.ctl), r->current, text, sizeof text);
    r->n_reported++;
  }
  CHECK(r->current->dims.n_styles > 0);
  CHECK(r->current->name[0] != '\0');
  cantus_controls_format(CANTUS_CONTROL_STYLE, r->view.style, r->current, text, sizeof text);
  CHECK(text[0] != '\0');
}

// The main thread frees what came back through from_rt; none of it may be
// the model it still reads (caught here even without the sanitizers).
static int free_retired(Rig *r)
{
  CantusModel *m[8];
  const size_t n = jack_ringbuffer_peek(r->a.from_rt, (char *)m, sizeof m) / sizeof(CantusModel *);
  for (size_t i = 0; i < n; i++) {
    CHECK_MSG(m[i] != r->current, "the main thread's model %zu of %zu came back", i + 1, n);
  }
  return cantus_jackloader_free_retired(&r->l);
}

// Waits (bounded) until the loader thread has finished.
static bool wait_loaded(CantusJackLoader *l)
{
  for (int i = 0; i < 10000 && !atomic_load(&l->done); i++) {
    sleep_ms(1);
  }
  return atomic_load(&l->done) != 0;
}

// One main-loop pass may find a finished load, a model the audio thread
// handed back and reported controls all at once.  Whatever order the steps
// take and wherever the audio cycles fall between them, the main thread's
// model is alive whenever it reads it, each new model is installed, and
// every old one comes back and is freed.
TEST(jack_loader_swap_with_controls_in_the_same_pass)
{
  static Rig r;
  rig_open(&r);
  char msg[700];
  int n_handed = 0, n_freed = 0;
  for (int k = 0; k < 12; k++) {
    const CantusModel *before = r.current;
    CHECK(cantus_jackloader_start(&r.l, TINY, msg, sizeof msg));
    CHECK(wait_loaded(&r.l));
    // the load has finished; the pass has not collected it yet
    rt_cycle(&r.a, k);
    n_freed += free_retired(&r);
    main_reads(&r);
    rt_cycle(&r.a, k + 1);
    CantusJackLoadResult res = cantus_jackloader_poll(&r.l, &r.current, msg, sizeof msg);
    CHECK_EQ(res, CANTUS_JACKLOADER_HANDED);
    n_handed += res == CANTUS_JACKLOADER_HANDED;
    CHECK(r.current != before);
    CHECK(strstr(msg, "loaded while playing") != NULL);
    main_reads(&r);
    // the audio thread takes it and hands the old one back: freed in this
    // pass or the next, with controls reported in between either way
    rt_cycle(&r.a, k + 2);
    if (k % 2) {
      main_reads(&r);
      n_freed += free_retired(&r);
    } else {
      n_freed += free_retired(&r);
      main_reads(&r);
    }
    rt_cycle(&r.a, k + 3);
    n_freed += free_retired(&r);
    main_reads(&r);
    CHECK(cantus_engine_model(r.a.engine) == r.current);
    CHECK_EQ(cantus_jackloader_poll(&r.l, &r.current, msg, sizeof msg), CANTUS_JACKLOADER_IDLE);
  }
  CHECK_EQ(n_handed, 12);
  CHECK_EQ(n_freed, 12);
  CHECK_EQ(atomic_load(&r.a.models_swapped), 12);
  CHECK(r.n_reported > 12 * 4 * 2);
  rig_close(&r);
}

// Refusals leave the model as it was: a missing file, a truncated one, a
// full to_rt (the audio thread is not taking models), a second request
// while one is loading.  Nothing leaks (LeakSanitizer in the SAN build).
TEST(jack_loader_refusals_keep_the_model)
{
  static Rig r;
  rig_open(&r);
  const CantusModel *before = r.current;
  char msg[4200];
  CHECK(cantus_jackloader_start(&r.l, "tests/data/no-such-model.cantus", msg, sizeof msg));
  CHECK(!cantus_jackloader_start(&r.l, TINY, msg, sizeof msg));
  CHECK(strstr(msg, "still loading tests/data/no-such-model.cantus") != NULL);
  CHECK(wait_loaded(&r.l));
  CHECK_EQ(cantus_jackloader_poll(&r.l, &r.current, msg, sizeof msg), CANTUS_JACKLOADER_REFUSED);
  CHECK_MSG(strstr(msg, "model not changed: ") == msg, "%s", msg);
  CHECK(r.current == before);

  char path[256];
  snprintf(path, sizeof path, "/tmp/cantus-test-loader-%d.cantus", (int)getpid());
  FILE *in = fopen(TINY, "rb"), *out = fopen(path, "wb");
  CHECK(in && out);
  char buf[1000];
  if (in && out) {
    CHECK_EQ(fread(buf, 1, sizeof buf, in), sizeof buf);
    CHECK_EQ(fwrite(buf, 1, sizeof buf, out), sizeof buf);
  }
  if (in) {
    fclose(in);
  }
  if (out) {
    fclose(out);
  }
  CHECK(cantus_jackloader_start(&r.l, path, msg, sizeof msg));
  CHECK(wait_loaded(&r.l));
  CHECK_EQ(cantus_jackloader_poll(&r.l, &r.current, msg, sizeof msg), CANTUS_JACKLOADER_REFUSED);
  CHECK_MSG(strstr(msg, "truncated") != NULL, "%s", msg);
  remove(path);
  CHECK(r.current == before);

  // to_rt full: 63 usable bytes hold 7 pointers
  static int dummy[7];
  for (int i = 0; i < 7; i++) {
    const void *p = &dummy[i];
    jack_ringbuffer_write(r.a.to_rt, (const char *)&p, sizeof p);
  }
  CHECK(cantus_jackloader_start(&r.l, TINY, msg, sizeof msg));
  CHECK(wait_loaded(&r.l));
  CHECK_EQ(cantus_jackloader_poll(&r.l, &r.current, msg, sizeof msg), CANTUS_JACKLOADER_REFUSED);
  CHECK_MSG(strstr(msg, "the audio thread is busy") != NULL, "%s", msg);
  CHECK(r.current == before);
  main_reads(&r);
  jack_ringbuffer_reset(r.a.to_rt);

  // a load nobody collects is freed by stop (shutdown)
  CHECK(cantus_jackloader_start(&r.l, TINY, msg, sizeof msg));
  cantus_jackloader_stop(&r.l);
  CHECK(!r.l.busy);
  CHECK(r.current == before);
  CHECK_EQ(jack_ringbuffer_read_space(r.a.to_rt), 0);
  rig_close(&r);
}

// The same with an audio thread of its own: it runs cycles (hand-over, CC,
// program change) as fast as it can while the main thread requests models
// and runs passes, reading its model after each.
typedef struct {
  Rig *r;
  atomic_int stop;
} RtThread;

static void *rt_main(void *arg)
{
  RtThread *t = arg;
  for (int k = 0; !atomic_load(&t->stop); k++) {
    rt_cycle(&t->r->a, k);
    sched_yield();
  }
  return NULL;
}

TEST(jack_loader_swaps_while_an_audio_thread_runs)
{
  static Rig r;
  rig_open(&r);
  // the test's main thread reads ctl_out only between the rt cycles'
  // writes, as the real main thread does: one consumer, one producer
  static RtThread t;
  t.r = &r;
  atomic_store(&t.stop, 0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, rt_main, &t), 0);
  char msg[4200];
  int n_req = 0, n_handed = 0, n_freed = 0;
  for (int pass = 0; pass < 20000 && n_handed < 30; pass++) {
    if (!r.l.busy && cantus_jackloader_start(&r.l, TINY, msg, sizeof msg)) {
      n_req++;
    }
    // jack.c's drain() order, and every other pass the other way round
    // (safe too: nothing in from_rt is ever the current model)
    if (pass % 2) {
      n_freed += free_retired(&r);
      main_reads(&r);
    }
    n_handed +=
      cantus_jackloader_poll(&r.l, &r.current, msg, sizeof msg) == CANTUS_JACKLOADER_HANDED;
    n_freed += free_retired(&r);
    main_reads(&r);
    sleep_ms(1);
  }
  // let the audio thread take the last one (bounded), then stop it
  for (int i = 0; i < 10000 && atomic_load(&r.a.models_swapped) < 30; i++) {
    n_freed += free_retired(&r);
    main_reads(&r);
    sleep_ms(1);
  }
  atomic_store(&t.stop, 1);
  pthread_join(th, NULL);
  n_freed += free_retired(&r);
  main_reads(&r);
  CHECK_EQ(n_handed, 30);
  CHECK_EQ(n_req, n_handed);
  CHECK_EQ(atomic_load(&r.a.models_swapped), 30);
  CHECK(r.a.retired == NULL);
  CHECK_EQ(n_freed, 30); // the first model and 29 of the 30 new ones
  CHECK(cantus_engine_model(r.a.engine) == r.current);
  rig_close(&r);
}
