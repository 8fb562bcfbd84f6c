// SPDX-License-Identifier: GPL-3.0-or-later
// jack_capture: the JACK MIDI capture client of the host suites (cantus-jack's
// tests/hosts/t_jack_*.sh and t_run.sh, the plugin in jalv t_lv2_jalv.sh);
// adapted from ../shared/hosts/jack_capture.c and the former jmidicap.c, whose features
// it has.  Usage: jack_capture [-t] CLIENT [SECONDS]
// Registers CLIENT:in and prints one line per event on stdout:
//   <frame> <hex bytes...>
// frame = jack_last_frame_time() + offset, or with -t the JACK transport
// frame (pos.frame + offset; -1 while the transport is not rolling).
// Transport frames advance by exactly n_frames per rolling cycle, so beat
// spacing is measured with -t.  With -t, a line "# bpm B at F" marks each
// change of the timebase master's tempo (B) at transport frame F (readers skip
// lines starting with '#').  Prints "jack_capture: ready"
// (stderr, flushed) after jack_activate(); exits after SECONDS or on SIGINT/SIGTERM.  Lines leave
// the process callback through a jack_ringbuffer.
#include <jack/jack.h>
#include <jack/midiport.h>
#include <jack/ringbuffer.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  long long frame;
  double bpm; // n == 0: a tempo mark
  unsigned char n;
  unsigned char b[15];
} Ev;

static jack_port_t *port;
static jack_ringbuffer_t *rb;
static jack_client_t *client;
static volatile sig_atomic_t done;
static int use_transport;
static double last_bpm;

static int process(jack_nframes_t n, void *arg)
{
  (void)arg;
  void *buf = jack_port_get_buffer(port, n);
  const jack_nframes_t base = jack_last_frame_time(client);
  long long tbase = -1;
  if (use_transport) {
    jack_position_t pos;
    if (jack_transport_query(client, &pos) == JackTransportRolling) {
      tbase = pos.frame;
    }
    if ((pos.valid & JackPositionBBT) && pos.beats_per_minute != last_bpm) {
      last_bpm = pos.beats_per_minute;
      Ev mark = { (long long)pos.frame, last_bpm, 0, { 0 } };
      if (jack_ringbuffer_write_space(rb) >= sizeof mark) {
        jack_ringbuffer_write(rb, (const char *)&mark, sizeof mark);
      }
    }
  }
  const uint32_t c = jack_midi_get_event_count(buf);
  for (uint32_t i = 0; i < c; ++i) {
    jack_midi_event_t e;
    if (jack_midi_event_get(&e, buf, i)) {
      continue;
    }
    long long f = use_transport ? (tbase < 0 ? -1 : tbase + e.time) : (long long)(base + e.time);
    Ev ev = { f, 0, (unsigned char)(e.size > 15 ? 15 : e.size), { 0 } };
    memcpy(ev.b, e.buffer, ev.n);
    if (jack_ringbuffer_write_space(rb) >= sizeof ev) {
      jack_ringbuffer_write(rb, (const char *)&ev, sizeof ev);
    }
  }
  return 0;
}

static void on_sig(int s)
{
  (void)s;
  done = 1;
}

static void drain(void)
{
  Ev ev;
  while (jack_ringbuffer_read_space(rb) >= sizeof ev) {
    jack_ringbuffer_read(rb, (char *)&ev, sizeof ev);
    if (ev.n == 0) {
      printf("# bpm %.6f at %lld\n", ev.bpm, ev.frame);
      continue;
    }
    printf("%lld", ev.frame);
    for (int i = 0; i < ev.n; ++i) {
      printf(" %02x", ev.b[i]);
    }
    printf("\n");
  }
  fflush(stdout);
}

int main(int argc, char **argv)
{
  if (argc > 1 && !strcmp(argv[1], "-t")) {
    use_transport = 1;
    ++argv;
    --argc;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: jack_capture [-t] CLIENT_NAME [SECONDS]\n");
    return 2;
  }
  const double secs = argc > 2 ? atof(argv[2]) : -1.0;
  client = jack_client_open(argv[1], JackNoStartServer | JackUseExactName, NULL);
  if (!client) {
    fprintf(stderr, "jack_capture: cannot connect to JACK\n");
    return 1;
  }
  rb = jack_ringbuffer_create(1 << 18);
  port = jack_port_register(client, "in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
  jack_set_process_callback(client, process, NULL);
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  if (jack_activate(client)) {
    fprintf(stderr, "jack_capture: cannot activate\n");
    return 1;
  }
  fprintf(stderr,
          "jack_capture: ready, rate %u, period %u\n",
          (unsigned)jack_get_sample_rate(client),
          (unsigned)jack_get_buffer_size(client));
  fflush(stderr);
  for (double t = 0; !done && (secs < 0 || t < secs); t += 0.01) {
    usleep(10000);
    drain();
  }
  jack_deactivate(client);
  drain();
  jack_client_close(client);
  jack_ringbuffer_free(rb);
  return 0;
}
