// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's PortMidi side (see jack_pm.h): device lookup, and the thread
// that moves time-stamped events between the bridge rings and PortMidi.
// It polls every millisecond; timestamps, not the poll, set the timing of
// the hardware output.  Thread class: non-RT.
#include "jack_pm.h"

#include <fcntl.h>
#include <portmidi.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static PmTimestamp pm_clock(void *info)
{
  const CantusJackPm *pm = info;
  return (PmTimestamp)(((int64_t)jack_get_time() - pm->t0) / 1000);
}

int cantus_jackpm_init(void)
{
  // With no ALSA sequencer, alsa-lib prints "cannot open /dev/snd/seq" on
  // stderr; our own message says it better.
  fflush(stderr);
  int saved = dup(2);
  int null = open("/dev/null", O_WRONLY);
  if (saved >= 0 && null >= 0) {
    dup2(null, 2);
  }
  Pm_Initialize();
  if (saved >= 0 && null >= 0) {
    dup2(saved, 2);
  }
  if (null >= 0) {
    close(null);
  }
  if (saved >= 0) {
    close(saved);
  }
  return Pm_CountDevices();
}

void cantus_jackpm_terminate(void)
{
  Pm_Terminate();
}

static const char no_devices_text[] =
  "PortMidi sees no MIDI devices (no ALSA sequencer or nothing plugged in); "
  "cantus-jack still runs on its JACK MIDI ports";

int cantus_jackpm_list(FILE *f)
{
  const int n = Pm_CountDevices();
  if (n <= 0) {
    fprintf(f, "%s\n", no_devices_text);
    return 0;
  }
  fprintf(f,
          "PortMidi devices (use the id or part of the name with --midi-out, --midi-in,\n"
          "--chord-device):\n");
  for (int i = 0; i < n; i++) {
    const PmDeviceInfo *d = Pm_GetDeviceInfo(i);
    if (d) {
      fprintf(f,
              "  %2d  %-6s %s%s  %s\n",
              i,
              d->output ? "out" : "",
              d->input ? "in" : "",
              d->input ? "" : "  ",
              d->name ? d->name : "?");
    }
  }
  return n;
}

static bool contains_nocase(const char *hay, const char *needle)
{
  const size_t n = strlen(needle);
  for (; *hay; hay++) {
    if (!strncasecmp(hay, needle, n)) {
      return true;
    }
  }
  return n == 0;
}

int cantus_jackpm_find(const char *spec,
                       bool want_output,
                       bool *no_devices,
                       char *msg,
                       size_t msg_size)
{
  const int n = Pm_CountDevices();
  *no_devices = n <= 0;
  if (n <= 0) {
    snprintf(msg, msg_size, "%s", no_devices_text);
    return -1;
  }
  const char *kind = want_output ? "output" : "input";
  char *end = NULL;
  long id = strtol(spec, &end, 10);
  if (end != spec && *end == '\0') {
    const PmDeviceInfo *d = id >= 0 && id < n ? Pm_GetDeviceInfo((int)id) : NULL;
    if (!d || !(want_output ? d->output : d->input)) {
      snprintf(
        msg, msg_size, "PortMidi device %ld is not a MIDI %s (see --list-devices)", id, kind);
      return -1;
    }
    return (int)id;
  }
  for (int i = 0; i < n; i++) {
    const PmDeviceInfo *d = Pm_GetDeviceInfo(i);
    if (d && d->name && (want_output ? d->output : d->input) && contains_nocase(d->name, spec)) {
      return i;
    }
  }
  snprintf(msg, msg_size, "no PortMidi MIDI %s matches '%s' (see --list-devices)", kind, spec);
  return -1;
}

bool cantus_jackpm_open(CantusJackPm *pm,
                        jack_client_t *client,
                        CantusMidiBridge *bridge,
                        int out_id,
                        int in_id,
                        int latency_ms,
                        char *msg,
                        size_t msg_size)
{
  memset(pm, 0, sizeof *pm);
  pm->client = client;
  pm->bridge = bridge;
  pm->t0 = (int64_t)jack_get_time();
  pm->period_usecs =
    (int64_t)jack_get_buffer_size(client) * 1000000 / (int64_t)jack_get_sample_rate(client);
  pm->latency_ms = latency_ms < 1 ? 1 : latency_ms;
  PmError e;
  if (out_id >= 0) {
    PortMidiStream *s = NULL;
    // latency > 0: PortMidi honours the timestamps (timestamp + latency).
    e = Pm_OpenOutput(&s, out_id, NULL, 1024, pm_clock, pm, pm->latency_ms);
    if (e != pmNoError) {
      snprintf(msg, msg_size, "cannot open MIDI output %d: %s", out_id, Pm_GetErrorText(e));
      return false;
    }
    pm->out = s;
  }
  if (in_id >= 0) {
    PortMidiStream *s = NULL;
    e = Pm_OpenInput(&s, in_id, NULL, 1024, pm_clock, pm);
    if (e != pmNoError) {
      snprintf(msg, msg_size, "cannot open MIDI input %d: %s", in_id, Pm_GetErrorText(e));
      if (pm->out) {
        Pm_Close(pm->out);
        pm->out = NULL;
      }
      return false;
    }
    Pm_SetFilter(s, PM_FILT_ACTIVE | PM_FILT_SYSEX | PM_FILT_CLOCK);
    pm->in = s;
  }
  return true;
}

bool cantus_jackpm_open_chords(CantusJackPm *pm,
                               CantusMidiBridge *bridge,
                               int id,
                               char *msg,
                               size_t msg_size)
{
  PortMidiStream *s = NULL;
  const PmError e = Pm_OpenInput(&s, id, NULL, 1024, pm_clock, pm);
  if (e != pmNoError) {
    snprintf(msg, msg_size, "cannot open chord input %d: %s", id, Pm_GetErrorText(e));
    return false;
  }
  Pm_SetFilter(s, PM_FILT_ACTIVE | PM_FILT_SYSEX | PM_FILT_CLOCK);
  pm->chord_in = s;
  pm->chord_bridge = bridge;
  return true;
}

static int msg_size(uint8_t status)
{
  switch (status & 0xF0) {
  case 0xC0:
  case 0xD0:
    return 2;
  case 0xF0:
    return status == 0xF1 || status == 0xF3 ? 2 : status == 0xF2 ? 3 : 1;
  default:
    return 3;
  }
}

static void track(CantusJackPm *pm, const uint8_t *d, int n)
{
  if (n < 3) {
    return;
  }
  const int ch = d[0] & 0x0F, st = d[0] & 0xF0;
  if (st == 0x90 && d[2] > 0) {
    pm->sounding[ch][d[1] & 0x7F] = 1;
  } else if (st == 0x80 || st == 0x90) {
    pm->sounding[ch][d[1] & 0x7F] = 0;
  }
}

static void write_out(CantusJackPm *pm)
{
  CantusBridgeEvent ev[128];
  size_t n;
  while (pm->bridge && (n = cantus_midibridge_take(pm->bridge, ev, 128)) > 0) {
    const bool gone = atomic_load(&pm->jack_gone);
    for (size_t i = 0; i < n; i++) {
      PmTimestamp ts = 0; // 0: as soon as possible
      if (!gone) {
        const int64_t us = (int64_t)jack_frames_to_time(pm->client, (jack_nframes_t)ev[i].time);
        ts = cantus_midibridge_timestamp(us, pm->t0, pm->period_usecs);
      }
      const uint8_t *d = ev[i].data;
      if (pm->out) {
        PmError e = Pm_WriteShort(
          pm->out, ts, Pm_Message(d[0], ev[i].size > 1 ? d[1] : 0, ev[i].size > 2 ? d[2] : 0));
        if (e == pmNoError) {
          pm->written++;
          track(pm, d, ev[i].size);
        } else {
          pm->write_errors++;
        }
      }
    }
  }
}

static void read_in(CantusJackPm *pm, void *in, CantusMidiBridge *bridge)
{
  if (!in || !bridge) {
    return;
  }
  for (int rounds = 0; rounds < 16 && Pm_Poll(in) == TRUE; rounds++) {
    PmEvent buf[64];
    int n = Pm_Read(in, buf, 64);
    if (n <= 0) {
      break;
    }
    for (int i = 0; i < n; i++) {
      uint8_t d[3] = { (uint8_t)Pm_MessageStatus(buf[i].message),
                       (uint8_t)Pm_MessageData1(buf[i].message),
                       (uint8_t)Pm_MessageData2(buf[i].message) };
      cantus_midibridge_post(
        bridge, pm->t0 + (int64_t)buf[i].timestamp * 1000, d, (uint32_t)msg_size(d[0]));
    }
  }
}

static void sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

static void *thread_main(void *arg)
{
  CantusJackPm *pm = arg;
  for (;;) {
    const bool finishing = atomic_load(&pm->finish);
    write_out(pm);
    read_in(pm, pm->in, pm->bridge);
    read_in(pm, pm->chord_in, pm->chord_bridge);
    if (finishing) {
      break; // the ring was drained after the request was seen
    }
    sleep_ms(1);
  }
  // Nothing may keep sounding on the hardware: close every open note.
  if (pm->out) {
    for (int ch = 0; ch < 16; ch++) {
      for (int p = 0; p < 128; p++) {
        if (pm->sounding[ch][p]) {
          Pm_WriteShort(pm->out, 0, Pm_Message(0x80 | ch, p, 0));
          pm->sounding[ch][p] = 0;
          pm->notes_silenced++;
        }
      }
    }
  }
  return NULL;
}

bool cantus_jackpm_start(CantusJackPm *pm)
{
  pm->running = pthread_create(&pm->thread, NULL, thread_main, pm) == 0;
  return pm->running;
}

void cantus_jackpm_stop(CantusJackPm *pm)
{
  if (pm->running) {
    atomic_store(&pm->finish, 1);
    pthread_join(pm->thread, NULL);
    pm->running = false;
  }
  // Events already handed to PortMidi leave up to one period plus the
  // latency later: let them go before closing.
  if (pm->out) {
    sleep_ms((long)(pm->period_usecs / 1000) + pm->latency_ms + 20);
    Pm_Close(pm->out);
    pm->out = NULL;
  }
  if (pm->in) {
    Pm_Close(pm->in);
    pm->in = NULL;
  }
  if (pm->chord_in) {
    Pm_Close(pm->chord_in);
    pm->chord_in = NULL;
  }
}
