// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-jack's terminal view (see jack_ui.h).  Each frame is built in one
// buffer and written with one write(), cursor homed, lines cleared to their
// end, autowrap off, so there is no flicker and no curses dependency.
// Thread class: non-RT (main thread).
#include "jack_ui.h"

#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_tio;
static bool active;

bool cantus_jackui_open(void)
{
  if (!isatty(0) || !isatty(1) || tcgetattr(0, &saved_tio) != 0) {
    return false;
  }
  struct termios t = saved_tio;
  t.c_lflag &= ~(tcflag_t)(ICANON | ECHO); // ISIG stays: Ctrl-C is SIGINT
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(0, TCSANOW, &t) != 0) {
    return false;
  }
  active = true;
  // alternate screen, hide cursor, autowrap off
  const char on[] = "\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[2J";
  if (write(1, on, sizeof on - 1) < 0) {
    return true;
  }
  return true;
}

void cantus_jackui_close(void)
{
  if (!active) {
    return;
  }
  active = false;
  const char off[] = "\x1b[?7h\x1b[?25h\x1b[?1049l";
  if (write(1, off, sizeof off - 1) < 0) {
    // the terminal is gone; nothing to restore
  }
  tcsetattr(0, TCSANOW, &saved_tio);
}

static int read_byte(int timeout_ms)
{
  struct pollfd p = { 0, POLLIN, 0 };
  if (poll(&p, 1, timeout_ms) <= 0) {
    return -1;
  }
  unsigned char c;
  return read(0, &c, 1) == 1 ? c : -1;
}

int cantus_jackui_key(void)
{
  int c = read_byte(0);
  if (c == 0x1b) {
    int c2 = read_byte(5);
    if (c2 == '[' || c2 == 'O') {
      int c3 = read_byte(5);
      switch (c3) {
      case 'A':
        return CANTUS_KEY_UP;
      case 'B':
        return CANTUS_KEY_DOWN;
      case 'C':
        return CANTUS_KEY_RIGHT;
      case 'D':
        return CANTUS_KEY_LEFT;
      default:
        return -1;
      }
    }
    return CANTUS_KEY_ESC;
  }
  if (c == '\r' || c == '\n') {
    return CANTUS_KEY_ENTER;
  }
  if (c == 0x7f || c == 0x08) {
    return CANTUS_KEY_BACKSPACE;
  }
  return c;
}

// A frame never has more lines than the terminal: the last one ends
// without a newline (a newline there would scroll the header away), and
// anything after it is dropped.
typedef struct {
  char buf[65536];
  size_t n;
  int n_lines, max_lines;
} Frame;

__attribute__((format(printf, 2, 3))) static void put(Frame *f, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (f->n < sizeof f->buf && f->n_lines < f->max_lines) {
    int k = vsnprintf(f->buf + f->n, sizeof f->buf - f->n, fmt, ap);
    if (k > 0) {
      f->n += (size_t)k;
      if (f->n > sizeof f->buf) {
        f->n = sizeof f->buf;
      }
    }
  }
  va_end(ap);
}

static void endline(Frame *f)
{
  if (f->n_lines + 1 < f->max_lines) {
    put(f, "\x1b[K\r\n");
  } else {
    put(f, "\x1b[K");
  }
  f->n_lines++;
}

static const char *const pitch_names[12] = { "C",  "C#", "D",  "D#", "E",  "F",
                                             "F#", "G",  "G#", "A",  "A#", "B" };

// The piano roll: the last 4 bars, one row per pitch, or per group of
// neighbouring pitches when the range played lately (every note still in
// the roll's memory, so the range stays put while the music moves) needs
// more rows than there are: a chorale's bass and soprano both stay in view.
static void draw_roll(Frame *f, const CantusJackView *v, int width, int rows)
{
  const CantusJackStatus *s = v->status;
  const double bpb = s && s->beats_per_bar > 0 ? s->beats_per_bar : 4;
  const double now = s ? s->perf_beat : 0;
  const int bars = 4;
  const double span = bars * bpb;
  // The window ends at the end of the current bar, so bar lines stay put
  // while the notes scroll in from the right.
  const double bar_start = s ? now - s->bar_beat : 0;
  const double t1 = bar_start + bpb, t0 = t1 - span;
  const int cols = width;
  const double per_col = span / cols;
  const CantusJackRec *r = v->rec;
  int lo = 128, hi = -1;
  for (int k = 0; k < r->roll_n; k++) {
    const CantusRollNote *n = &r->roll[k];
    lo = n->pitch < lo ? n->pitch : lo;
    hi = n->pitch > hi ? n->pitch : hi;
  }
  if (hi < 0) {
    lo = 60;
    hi = 71;
  }
  while (hi - lo + 1 < 12) {
    hi += hi < 127;
    if (hi - lo + 1 < 12) {
      lo -= lo > 0;
    }
  }
  rows = rows < 1 ? 1 : rows;
  const int per_row = (hi - lo + 1 + rows - 1) / rows; // semitones a row
  const int n_rows = (hi - lo + 1 + per_row - 1) / per_row;
  put(f, "\x1b[2m---- last %d bars (bar %lld)", bars, s ? (long long)s->bar + 1 : 1LL);
  if (per_row > 1) {
    put(f, ", %d semitones a row", per_row);
  }
  put(f, " ----\x1b[0m");
  endline(f);
  static char line[512];
  for (int row = n_rows - 1; row >= 0; row--) {
    const int p_lo = lo + row * per_row, p_hi = p_lo + per_row - 1;
    for (int c = 0; c < cols && c < (int)sizeof line - 1; c++) {
      const double t = t0 + c * per_col;
      const double rel = (t - t0) / bpb;
      char ch = ' ';
      if (fabs(rel - floor(rel + 0.5)) * bpb < per_col * 0.5) {
        ch = '|';
      } else if (fabs(t - floor(t + 0.5)) < per_col * 0.5) {
        ch = '.';
      }
      if (t > now) {
        ch = ch == '|' ? '|' : ' ';
      }
      line[c] = ch;
    }
    line[cols] = '\0';
    for (int k = 0; k < r->roll_n; k++) {
      const CantusRollNote *n = &r->roll[k];
      if (n->pitch < p_lo || n->pitch > p_hi) {
        continue;
      }
      const double off = n->off < 0 ? now : n->off;
      int c0 = (int)floor((n->on - t0) / per_col), c1 = (int)ceil((off - t0) / per_col);
      c0 = c0 < 0 ? 0 : c0;
      c1 = c1 > cols ? cols : c1;
      for (int c = c0; c < c1; c++) {
        line[c] = c == c0 && n->on >= t0 ? '[' : '=';
      }
    }
    put(f, "%-3s%d %s", pitch_names[p_lo % 12], p_lo / 12 - 1, line);
    endline(f);
  }
}

static void draw_controls(Frame *f, const CantusJackView *v, int rows)
{
  const int n = CANTUS_N_CONTROLS;
  int first = v->selected - rows / 2;
  first = first > n - rows ? n - rows : first;
  first = first < 0 ? 0 : first;
  for (int i = first; i < n && i < first + rows; i++) {
    const CantusControlInfo *t = cantus_controls_info(i);
    char val[64];
    cantus_controls_format(i, cantus_controls_get(v->controls, i), v->model, val, sizeof val);
    if (i == v->selected) {
      put(f, "\x1b[7m> %-15s %-10s\x1b[0m %s", t->symbol, val, t->help);
    } else {
      put(f, "  %-15s %-10s \x1b[2m%s\x1b[0m", t->symbol, val, t->help);
    }
    endline(f);
  }
}

// The model's styles as every tool numbers them ("1:ashover ... 11:slide"),
// the current one highlighted, wrapped to the width: no style is cut off.
// Returns the number of lines drawn.
static int draw_styles(Frame *f, const CantusJackView *v, int cols)
{
  const CantusModel *m = v->model;
  int n_lines = 1, col = 7;
  put(f, "styles:");
  for (uint32_t i = 0; m && i < m->dims.n_styles; i++) {
    char item[CANTUS_STYLE_NAME_LEN + 16];
    const int len = snprintf(item, sizeof item, "%u:%s", i + 1, m->style_names[i]);
    if (col + 1 + len > cols && col > 7) {
      endline(f);
      put(f, "       ");
      col = 7;
      n_lines++;
    }
    if ((int)i == v->controls->style) {
      put(f, " \x1b[7m%s\x1b[0m", item);
    } else {
      put(f, " %s", item);
    }
    col += 1 + len;
  }
  endline(f);
  return n_lines;
}

void cantus_jackui_draw(const CantusJackView *v)
{
  static Frame f;
  f.n = 0;
  struct winsize ws = { 0 };
  int cols = 80, lines = 24;
  if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 && ws.ws_row > 10) {
    cols = ws.ws_col;
    lines = ws.ws_row;
  }
  f.n_lines = 0;
  f.max_lines = lines;
  put(&f, "\x1b[H");
  const CantusModel *m = v->model;
  put(&f,
      "\x1b[1mCantus\x1b[0m  client %s  model %s (%s)",
      v->client_name,
      m ? m->name : "none",
      v->model_path ? v->model_path : "-");
  endline(&f);
  draw_styles(&f, v, cols); // the layout below counts the lines it took
  const CantusJackStatus *s = v->status;
  char tempo[160];
  if (s) {
    snprintf(tempo,
             sizeof tempo,
             "%s  bar %lld beat %.2f  %.1f bpm %g/%d",
             s->rolling ? "PLAY" : "stop",
             (long long)s->bar + 1,
             s->bar_beat + 1,
             s->bpm,
             s->beats_per_bar,
             s->beat_unit);
  } else {
    snprintf(tempo, sizeof tempo, "waiting for the first cycle");
  }
  put(&f, "%s  (%s)  xruns %llu", tempo, v->mode, (unsigned long long)v->xruns);
  endline(&f);
  char temp[32], style[64];
  cantus_controls_format(
    CANTUS_CONTROL_TEMPERATURE, (double)v->controls->temperature, m, temp, sizeof temp);
  cantus_controls_format(CANTUS_CONTROL_STYLE, v->controls->style, m, style, sizeof style);
  put(&f,
      "style %s  temperature %s  hold %s  listen %s  surprise %.2f",
      style,
      temp,
      v->controls->hold ? "on" : "off",
      v->controls->listen ? "on" : "off",
      s ? (double)s->surprise : 0.0);
  if (s && (s->stats.events_dropped || s->stats.late_events)) {
    put(&f,
        "  dropped %llu late %llu",
        (unsigned long long)s->stats.events_dropped,
        (unsigned long long)s->stats.late_events);
  }
  endline(&f);
  // Below the header (however many lines it took): the roll title and
  // rows, the controls title and rows, the keys, the message area (title,
  // then the typed model path and the last messages, oldest first).
  const int n_msg = lines >= 30 ? 4 : lines >= 20 ? 3 : 1;
  int free_lines = lines - f.n_lines - 4 - n_msg;
  int roll_rows = free_lines * 2 / 3;
  roll_rows = roll_rows < 3 ? 3 : roll_rows > 36 ? 36 : roll_rows;
  int ctl_rows = free_lines - roll_rows;
  ctl_rows = ctl_rows < 1 ? 1 : ctl_rows;
  int width = cols - 6;
  width = width > 256 ? 256 : width < 16 ? 16 : width;
  draw_roll(&f, v, width, roll_rows);
  put(&f, "\x1b[2m---- controls (up/down select, left/right change) ----\x1b[0m");
  endline(&f);
  draw_controls(&f, v, ctl_rows);
  put(&f,
      "\x1b[2m1-9 [ ] style  p panic  r regen  h hold  l listen  c call/resp  "
      "m model  q quit\x1b[0m");
  endline(&f);
  put(&f, "\x1b[2m---- messages ----\x1b[0m");
  endline(&f);
  int shown = 0;
  if (v->prompt) {
    put(&f, "model file: %s\x1b[7m \x1b[0m  (Enter load, Esc cancel)", v->prompt);
    endline(&f);
    shown++;
  }
  const int first = v->n_messages - (n_msg - shown) > 0 ? v->n_messages - (n_msg - shown) : 0;
  for (int i = first; i < v->n_messages; i++) {
    put(&f, "%s", v->messages[i]);
    endline(&f);
    shown++;
  }
  for (; shown < n_msg; shown++) {
    endline(&f);
  }
  static const char clear_below[] = "\x1b[J";
  if (f.n + sizeof clear_below - 1 <= sizeof f.buf) {
    memcpy(f.buf + f.n, clear_below, sizeof clear_below - 1);
    f.n += sizeof clear_below - 1;
  }
  size_t off = 0;
  while (off < f.n) {
    ssize_t w = write(1, f.buf + off, f.n - off);
    if (w <= 0) {
      break;
    }
    off += (size_t)w;
  }
}
