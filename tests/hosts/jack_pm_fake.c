// SPDX-License-Identifier: GPL-3.0-or-later
// pm_fake: an LD_PRELOAD stand-in for libportmidi (Debian 1:217), adapted
// from ../shared/hosts/pm_fake.c, so cantus-jack's hardware MIDI path is
// tested on machines without ALSA.  Three devices: 0 "Fake MIDI Out",
// 1 "Fake MIDI In" and 2 "Fake Chord In".  Every message written is logged
// as "<timestamp> <status> <d1> <d2>" (hex bytes) to $PM_FAKE_LOG (default
// stderr).  The input devices read $PM_FAKE_INPUT and $PM_FAKE_CHORD_INPUT
// like `tail -f`: lines "<timestamp> <status> <d1> <d2>" appended while the
// program runs are delivered; a timestamp of -1 means "now" on the stream's
// own clock.
// PM_FAKE_DEVICES=0 makes it a machine with no MIDI devices at all.
// Build: cc -shared -fPIC -o libpmfake.so jack_pm_fake.c
#include <portmidi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *logf_;
// An input stream: devices 1 and 2.
typedef struct {
  FILE *f;
  char pending[256];
  int have_pending;
  char part[256];
  size_t n;
  PmTimeProcPtr clock;
  void *clock_info;
} In;
static In ins[3];
static const PmDeviceInfo devs[3] = {
  { 1, "FAKE", "Fake MIDI Out", 0, 1, 0 },
  { 1, "FAKE", "Fake MIDI In", 1, 0, 0 },
  { 1, "FAKE", "Fake Chord In", 1, 0, 0 },
};
static int stream_tag[3];

PmError Pm_Initialize(void)
{
  const char *p = getenv("PM_FAKE_LOG");
  logf_ = p ? fopen(p, "w") : stderr;
  if (!logf_) {
    logf_ = stderr;
  }
  return pmNoError;
}

PmError Pm_Terminate(void)
{
  if (logf_ && logf_ != stderr) {
    fclose(logf_);
  }
  logf_ = NULL;
  return pmNoError;
}

static int n_devices(void)
{
  const char *n = getenv("PM_FAKE_DEVICES");
  return n && n[0] == '0' ? 0 : 3;
}

int Pm_CountDevices(void)
{
  return n_devices();
}
const PmDeviceInfo *Pm_GetDeviceInfo(PmDeviceID id)
{
  return (id >= 0 && id < n_devices()) ? &devs[id] : NULL;
}
PmDeviceID Pm_GetDefaultOutputDeviceID(void)
{
  return 0;
}
PmDeviceID Pm_GetDefaultInputDeviceID(void)
{
  return 1;
}
int Pm_HasHostError(PortMidiStream *s)
{
  (void)s;
  return 0;
}
void Pm_GetHostErrorText(char *msg, unsigned int len)
{
  if (len) {
    msg[0] = 0;
  }
}
const char *Pm_GetErrorText(PmError e)
{
  return e == pmNoError ? "" : e == pmInvalidDeviceId ? "Invalid device ID" : "fake error";
}

PmError Pm_OpenOutput(PortMidiStream **s,
                      PmDeviceID id,
                      void *drv,
                      int32_t bufsz,
                      PmTimeProcPtr tp,
                      void *ti,
                      int32_t lat)
{
  (void)drv;
  (void)bufsz;
  (void)tp;
  (void)ti;
  (void)lat;
  if (id != 0 || !n_devices()) {
    return pmInvalidDeviceId;
  }
  *s = &stream_tag[0];
  return pmNoError;
}

PmError Pm_OpenInput(PortMidiStream **s,
                     PmDeviceID id,
                     void *drv,
                     int32_t bufsz,
                     PmTimeProcPtr tp,
                     void *ti)
{
  (void)drv;
  (void)bufsz;
  if ((id != 1 && id != 2) || !n_devices()) {
    return pmInvalidDeviceId;
  }
  const char *p = getenv(id == 1 ? "PM_FAKE_INPUT" : "PM_FAKE_CHORD_INPUT");
  In *in = &ins[id];
  memset(in, 0, sizeof *in);
  in->f = p ? fopen(p, "r") : NULL;
  in->clock = tp;
  in->clock_info = ti;
  *s = &stream_tag[id];
  return pmNoError;
}

static In *in_of(PortMidiStream *s)
{
  return s == &stream_tag[1] ? &ins[1] : s == &stream_tag[2] ? &ins[2] : NULL;
}

PmError Pm_Close(PortMidiStream *s)
{
  In *in = in_of(s);
  if (in && in->f) {
    fclose(in->f);
    in->f = NULL;
  }
  return pmNoError;
}

PmError Pm_Abort(PortMidiStream *s)
{
  (void)s;
  return pmNoError;
}
PmError Pm_SetFilter(PortMidiStream *s, int32_t f)
{
  (void)s;
  (void)f;
  return pmNoError;
}
PmError Pm_SetChannelMask(PortMidiStream *s, int m)
{
  (void)s;
  (void)m;
  return pmNoError;
}

PmError Pm_WriteShort(PortMidiStream *s, PmTimestamp when, int32_t msg)
{
  (void)s;
  fprintf(logf_,
          "%d %02x %02x %02x\n",
          when,
          Pm_MessageStatus(msg),
          Pm_MessageData1(msg),
          Pm_MessageData2(msg));
  fflush(logf_);
  return pmNoError;
}

PmError Pm_Write(PortMidiStream *s, PmEvent *buf, int32_t n)
{
  for (int32_t i = 0; i < n; ++i) {
    Pm_WriteShort(s, buf[i].timestamp, buf[i].message);
  }
  return pmNoError;
}

PmError Pm_WriteSysEx(PortMidiStream *s, PmTimestamp when, unsigned char *msg)
{
  (void)s;
  fprintf(logf_, "%d sysex", when);
  for (int i = 0; msg[i] != 0xf7; ++i) {
    fprintf(logf_, " %02x", msg[i]);
  }
  fprintf(logf_, " f7\n");
  fflush(logf_);
  return pmNoError;
}

// A complete line appended to the input file since the last look.
static int next_line(In *in)
{
  if (!in) {
    return 0;
  }
  if (in->have_pending) {
    return 1;
  }
  if (!in->f) {
    return 0;
  }
  int c;
  while ((c = fgetc(in->f)) != EOF) {
    if (c == '\n') {
      in->part[in->n] = '\0';
      memcpy(in->pending, in->part, in->n + 1);
      in->n = 0;
      in->have_pending = 1;
      return 1;
    }
    if (in->n + 1 < sizeof in->part) {
      in->part[in->n++] = (char)c;
    }
  }
  clearerr(in->f); // like tail -f: more may be appended
  return 0;
}

PmError Pm_Poll(PortMidiStream *s)
{
  return next_line(in_of(s)) ? TRUE : FALSE;
}

int Pm_Read(PortMidiStream *s, PmEvent *buf, int32_t len)
{
  In *in = in_of(s);
  int n = 0;
  while (n < len && next_line(in)) {
    in->have_pending = 0;
    int ts;
    unsigned st, d1, d2;
    if (sscanf(in->pending, "%d %x %x %x", &ts, &st, &d1, &d2) != 4) {
      continue;
    }
    if (ts < 0 && in->clock) {
      ts = in->clock(in->clock_info);
    }
    buf[n].timestamp = ts;
    buf[n].message = Pm_Message(st, d1, d2);
    ++n;
  }
  return n;
}
