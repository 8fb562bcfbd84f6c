// SPDX-License-Identifier: GPL-3.0-or-later
// jack_send: a JACK MIDI sender for the cantus-jack tests.  Usage:
// jack_send CLIENT.  Registers CLIENT:out, prints "jack_send: ready"
// (stderr, flushed) after jack_activate(), then reads stdin lines of hex
// bytes ("90 3c 64", "b0 01 7f", "c0 01") and sends each at the start of
// the next cycle (at most 64 per cycle, in order).  "@FRAME hex bytes"
// waits for the rolling transport to reach FRAME and sends there (exact
// frame in the cycle; later lines wait behind it).  "sleep MS" pauses the
// reader.  Exits at end of input once everything queued has been sent, or
// on SIGTERM/SIGINT; either way it closes its JACK client (a client that
// just dies makes jackd 1.9.21 die of SIGPIPE when it next notifies it).
#include <jack/jack.h>
#include <jack/midiport.h>
#include <jack/ringbuffer.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  long long at; // transport frame to send at, -1 = the next cycle
  unsigned char n;
  unsigned char b[3];
} Msg;

static jack_client_t *client;
static jack_port_t *port;
static jack_ringbuffer_t *rb;
static volatile sig_atomic_t done;

static void on_sig(int s)
{
  (void)s;
  done = 1;
}

static int process(jack_nframes_t n, void *arg)
{
  (void)arg;
  void *buf = jack_port_get_buffer(port, n);
  jack_midi_clear_buffer(buf);
  jack_position_t pos;
  const int rolling = jack_transport_query(client, &pos) == JackTransportRolling;
  jack_nframes_t last = 0;
  for (int i = 0; i < 64 && jack_ringbuffer_read_space(rb) >= sizeof(Msg); i++) {
    Msg m;
    jack_ringbuffer_peek(rb, (char *)&m, sizeof m);
    jack_nframes_t at = 0;
    if (m.at >= 0) {
      if (!rolling || m.at >= (long long)pos.frame + n) {
        break; // not yet
      }
      at = m.at > (long long)pos.frame ? (jack_nframes_t)(m.at - pos.frame) : 0;
    }
    at = at < last ? last : at;
    jack_ringbuffer_read_advance(rb, sizeof m);
    jack_midi_event_write(buf, at, m.b, m.n);
    last = at;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: jack_send CLIENT_NAME < lines of hex bytes\n");
    return 2;
  }
  client = jack_client_open(argv[1], JackNoStartServer | JackUseExactName, NULL);
  if (!client) {
    fprintf(stderr, "jack_send: cannot connect to JACK\n");
    return 1;
  }
  rb = jack_ringbuffer_create(1 << 14);
  port = jack_port_register(client, "out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
  jack_set_process_callback(client, process, NULL);
  if (jack_activate(client)) {
    fprintf(stderr, "jack_send: cannot activate\n");
    return 1;
  }
  struct sigaction sa = { 0 };
  sa.sa_handler = on_sig; // no SA_RESTART: fgets returns on a signal
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  fprintf(stderr, "jack_send: ready\n");
  fflush(stderr);
  char line[256];
  while (!done && fgets(line, sizeof line, stdin)) {
    int ms;
    if (sscanf(line, "sleep %d", &ms) == 1) {
      usleep((useconds_t)ms * 1000);
      continue;
    }
    Msg m = { -1, 0, { 0 } };
    unsigned v[3];
    const char *text = line;
    if (line[0] == '@') {
      int used = 0;
      if (sscanf(line + 1, "%lld%n", &m.at, &used) != 1) {
        continue;
      }
      text = line + 1 + used;
    }
    int k = sscanf(text, "%x %x %x", &v[0], &v[1], &v[2]);
    if (k <= 0) {
      continue;
    }
    m.n = (unsigned char)k;
    for (int i = 0; i < k; i++) {
      m.b[i] = (unsigned char)v[i];
    }
    while (!done && jack_ringbuffer_write_space(rb) < sizeof m) {
      usleep(1000);
    }
    jack_ringbuffer_write(rb, (const char *)&m, sizeof m);
  }
  while (!done && jack_ringbuffer_read_space(rb) > 0) {
    usleep(1000);
  }
  usleep(50000);
  jack_deactivate(client);
  jack_client_close(client);
  jack_ringbuffer_free(rb);
  return 0;
}
