// SPDX-License-Identifier: GPL-3.0-or-later
// MIDI notes -> token stream (dsp/tokens.c), the definition shared by the
// trainer and the engine's themes: a hand-made note list against its exact
// expected stream (offs before ons, ascending pitch, shift splitting, ties
// rounding up, unison merge, re-strike cut, drums skipped, range dropped or
// folded, zero length lengthened), the counts, the end tick, the track
// filter, velocity tokens, the count-only and truncating modes, and a theme
// made of the same notes being exactly that stream.
#include "engine.h"
#include "test.h"
#include "tokens.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Grid: 12 ticks per quarter, shifts 1..12, pitches 40..80; the file has
// 480 ticks per quarter (40 file ticks per grid tick).
static CantusVocab tok_vocab(void)
{
  return (CantusVocab){ .pitch_lo = 40, .pitch_hi = 80, .n_shift = 12, .n_vel = 0, .tpq = 12 };
}

static CantusMidiNote mk(uint32_t on, uint32_t off, uint8_t pitch, uint8_t channel)
{
  return (CantusMidiNote){
    .on_tick = on, .off_tick = off, .pitch = pitch, .velocity = 90, .channel = channel, .track = 0
  };
}

enum { N_NOTES = 10 };

static void tok_notes(CantusMidiNote *n)
{
  n[0] = mk(0, 480, 60, 0);     // grid [0,12)
  n[1] = mk(0, 600, 60, 0);     // same pitch, same start: one note [0,15)
  n[2] = mk(0, 240, 64, 0);     // [0,6)
  n[3] = mk(0, 120, 38, 9);     // drum: skipped
  n[4] = mk(240, 960, 62, 0);   // [6,24), cut at 10 by the re-strike
  n[5] = mk(400, 720, 62, 0);   // re-strike [10,18)
  n[6] = mk(20, 100, 55, 0);    // 0.5 -> 1 and 2.5 -> 3: ties round up
  n[7] = mk(960, 970, 67, 0);   // [24,24.25) -> zero length -> [24,25)
  n[8] = mk(0, 480, 30, 0);     // below the range: dropped (or folded to 42)
  n[9] = mk(3840, 4320, 72, 0); // [96,108): a gap of 71 ticks before it
}

// Compares a stream with the expected one, naming the first difference.
static void check_stream(const CantusVocab *v,
                         const uint16_t *got,
                         size_t n_got,
                         const int *want,
                         size_t n_want)
{
  CHECK_EQ(n_got, n_want);
  for (size_t i = 0; i < n_got && i < n_want; i++) {
    char a[16], b[16];
    cantus_vocab_name(v, got[i], a, sizeof a);
    cantus_vocab_name(v, want[i], b, sizeof b);
    CHECK_MSG(got[i] == want[i], "token %zu: got %s, want %s", i, a, b);
  }
}

TEST(tokens_hand_made_notes_give_the_exact_stream)
{
  const CantusVocab v = tok_vocab();
  CantusMidiNote notes[N_NOTES];
  tok_notes(notes);
#define ON(p) cantus_vocab_note_on(&v, p)
#define OFF(p) cantus_vocab_note_off(&v, p)
#define SH(k) cantus_vocab_shift(&v, k)
  const int want[] = {
    CANTUS_TOK_START,
    ON(60),
    ON(64), // tick 0: ascending; the unison 60 is one note
    SH(1),
    ON(55), // tick 1 (0.5 rounded up)
    SH(2),
    OFF(55), // tick 3 (2.5 rounded up)
    SH(3),
    OFF(64),
    ON(62), // tick 6: the off first, though 62 < 64
    SH(4),
    OFF(62),
    ON(62), // tick 10: the re-strike ends the sounding 62
    SH(5),
    OFF(60), // tick 15: the longer of the unison pair
    SH(3),
    OFF(62), // tick 18
    SH(6),
    ON(67),
    SH(1),
    OFF(67), // ticks 24-25: lengthened to one tick
    SH(12),
    SH(12),
    SH(12),
    SH(12),
    SH(12),
    SH(11), // 71 ticks, longest first
    ON(72),
    SH(12),
    OFF(72), // ticks 96-108
    CANTUS_TOK_END,
  };
  const size_t n_want = sizeof want / sizeof want[0];
  CantusTokensOptions opt = cantus_tokens_options_default();
  opt.start_end = true;
  uint16_t buf[64];
  CantusTokensStats st;
  CantusError err;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 480, &v, &opt, buf, 64, &st, &err), CANTUS_OK);
  check_stream(&v, buf, st.n_written, want, n_want);
  CHECK_EQ(st.n_tokens, n_want);
  CHECK_EQ(st.n_drum, 1);
  CHECK_EQ(st.n_out_of_range, 1);
  CHECK_EQ(st.n_filtered, 0);
  CHECK_EQ(st.n_merged, 2);
  CHECK_EQ(st.n_lengthened, 1);
  CHECK_EQ(st.n_notes, 7);
  CHECK_EQ(st.pitch_min, 55);
  CHECK_EQ(st.pitch_max, 72);
  CHECK_EQ(st.last_tick, 108);
  CHECK_EQ(st.end_tick, 108);
  CHECK_EQ(st.n_onsets_moved, 1);
  CHECK_NEAR(st.onset_moved_max, 0.5, 1e-12);
  CHECK_EQ(st.n_offsets_moved, 2);
  CHECK_NEAR(st.offset_moved_sum, 0.75, 1e-12);
  CHECK(!st.truncated);

  // Folding instead of dropping: 30 -> 42, sounding from tick 0 to 12, so
  // its ON comes first at tick 0 and its OFF splits the shift 10 -> 15.
  opt.fold_pitches = true;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 480, &v, &opt, buf, 64, &st, &err), CANTUS_OK);
  CHECK_EQ(st.n_out_of_range, 1);
  CHECK_EQ(st.n_notes, 8);
  CHECK_EQ(st.n_tokens, n_want + 3); // ON42, OFF42 and a shift split at tick 12
  CHECK_EQ(buf[1], ON(42));
  CHECK_EQ(buf[2], ON(60));
  opt.fold_pitches = false;

  // A count only: TOO_LARGE with the size needed, nothing written.
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 480, &v, &opt, NULL, 0, &st, &err),
           CANTUS_ERR_TOO_LARGE);
  CHECK_EQ(st.n_tokens, n_want);
  CHECK_EQ(st.n_written, 0);
#undef ON
#undef OFF
#undef SH
}

static bool drop_64(const CantusMidiNote *n, void *user)
{
  (void)user;
  return n->pitch != 64;
}

TEST(tokens_filter_end_tick_velocity_and_truncation)
{
  const CantusVocab v = tok_vocab();
  CantusMidiNote notes[N_NOTES];
  tok_notes(notes);
  uint16_t buf[64];
  CantusTokensStats st;
  CantusError err;
  // Track filter and end tick: notes from tick 12 on are left out, longer
  // ones end at 12.
  CantusTokensOptions opt = cantus_tokens_options_default();
  opt.keep = drop_64;
  opt.end_tick = 12;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 480, &v, &opt, buf, 64, &st, &err), CANTUS_OK);
  CHECK_EQ(st.n_filtered, 1);
  CHECK_EQ(st.n_after_end, 2);
  CHECK_EQ(st.last_tick, 12);
  const int want[] = {
    cantus_vocab_note_on(&v, 60),  cantus_vocab_shift(&v, 1),     cantus_vocab_note_on(&v, 55),
    cantus_vocab_shift(&v, 2),     cantus_vocab_note_off(&v, 55), cantus_vocab_shift(&v, 3),
    cantus_vocab_note_on(&v, 62),  cantus_vocab_shift(&v, 4),     cantus_vocab_note_off(&v, 62),
    cantus_vocab_note_on(&v, 62),  cantus_vocab_shift(&v, 2),     cantus_vocab_note_off(&v, 60),
    cantus_vocab_note_off(&v, 62),
  };
  check_stream(&v, buf, st.n_written, want, sizeof want / sizeof want[0]);

  // Velocity tokens only where the bin changes (vocabularies with n_vel).
  CantusVocab vv = v;
  vv.n_vel = 4;
  notes[2].velocity = 20;
  opt = cantus_tokens_options_default();
  opt.velocities = true;
  CHECK_EQ(cantus_tokens_from_notes(notes, 3, 480, &vv, &opt, buf, 64, &st, &err), CANTUS_OK);
  const int want_vel[] = {
    cantus_vocab_velocity(&vv, cantus_vocab_vel_to_bin(&vv, 90)),
    cantus_vocab_note_on(&vv, 60),
    cantus_vocab_velocity(&vv, cantus_vocab_vel_to_bin(&vv, 20)),
    cantus_vocab_note_on(&vv, 64),
    cantus_vocab_shift(&vv, 6),
    cantus_vocab_note_off(&vv, 64),
    cantus_vocab_shift(&vv, 9),
    cantus_vocab_note_off(&vv, 60),
  };
  check_stream(&vv, buf, st.n_written, want_vel, sizeof want_vel / sizeof want_vel[0]);
  tok_notes(notes);

  // Truncation: every prefix length gives a valid stream in which every
  // note is closed; without truncate, a short buffer is an error.
  opt = cantus_tokens_options_default();
  opt.start_end = true;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 480, &v, &opt, buf, 10, &st, &err),
           CANTUS_ERR_TOO_LARGE);
  opt.truncate = true;
  for (size_t cap = 0; cap <= 40; cap++) {
    CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 480, &v, &opt, buf, cap, &st, &err),
             CANTUS_OK);
    CHECK(st.n_written <= cap);
    CHECK_MSG(st.truncated == (st.n_tokens > cap),
              "cap %zu: truncated %d, %zu of %zu tokens",
              cap,
              st.truncated,
              st.n_written,
              st.n_tokens);
    uint8_t on[128] = { 0 };
    int balance = 0;
    for (size_t i = 0; i < st.n_written; i++) {
      int val = 0;
      const CantusEventKind k = cantus_vocab_decode(&v, buf[i], &val);
      if (k == CANTUS_EV_NOTE_ON) {
        CHECK(!on[val]);
        on[val] = 1;
        balance++;
      } else if (k == CANTUS_EV_NOTE_OFF) {
        CHECK(on[val]);
        on[val] = 0;
        balance--;
      }
    }
    CHECK_EQ(balance, 0);
    if (st.n_written > 0) {
      CHECK_EQ(buf[0], CANTUS_TOK_START);
      CHECK_EQ(buf[st.n_written - 1], CANTUS_TOK_END);
    }
  }
  // Bad arguments.
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 0, &v, &opt, buf, 64, &st, &err),
           CANTUS_ERR_ARGUMENT);
}

// A theme from a file of these notes is the same stream without START/END,
// folded into the range, padded with shifts to the bar line after it.
TEST(tokens_theme_is_the_same_stream)
{
  const CantusVocab v = tok_vocab();
  CantusMidiFile *mf = NULL;
  CantusError err;
  CHECK_EQ(cantus_midi_alloc(N_NOTES, 1, &mf, &err), CANTUS_OK);
  if (!mf) {
    return;
  }
  mf->format = 1;
  mf->n_tracks = 1;
  mf->tpq = 480;
  tok_notes(mf->notes);
  mf->n_notes = N_NOTES;
  mf->end_tick = 4320;
  CantusTheme *th = malloc(sizeof *th);
  CHECK(th != NULL);
  if (th) {
    CHECK_EQ(cantus_theme_from_midi(mf, &v, 0, th, &err), CANTUS_OK);
    uint16_t buf[64];
    CantusTokensStats st;
    CantusTokensOptions opt = cantus_tokens_options_default();
    opt.fold_pitches = true;
    CHECK_EQ(cantus_tokens_from_notes(mf->notes, N_NOTES, 480, &v, &opt, buf, 64, &st, &err),
             CANTUS_OK);
    // 108 -> the bar line at 144: three more SHIFT12s.
    CHECK_EQ(th->n_tokens, st.n_written + 3);
    for (size_t i = 0; i < st.n_written && i < th->n_tokens; i++) {
      CHECK_MSG(th->tokens[i] == buf[i], "theme token %zu differs", i);
    }
    for (size_t i = st.n_written; i < th->n_tokens; i++) {
      CHECK_EQ(th->tokens[i], cantus_vocab_shift(&v, 12));
    }
    free(th);
  }
  cantus_midi_free(mf);
}

// ---- version 2: notes with part and duration ------------------------------------

// Grid as tok_vocab, two parts, every duration bin (1..24, 36 .. 192).
static CantusVocab tok_vocab_v2(void)
{
  CantusVocab v = tok_vocab();
  v.n_parts = 2;
  v.n_dur = (uint16_t)cantus_vocab_dur_rule_len(12);
  return v;
}

// Track 1 -> part 0, track 2 -> part 1, others -> none.
static int part_of_track(const CantusMidiNote *n, void *user)
{
  (void)user;
  return n->track == 1 ? 0 : n->track == 2 ? 1 : -1;
}

static CantusMidiNote mkp(uint32_t on, uint32_t off, uint8_t pitch, uint16_t track)
{
  CantusMidiNote n = mk(on, off, pitch, 0);
  n.track = track;
  return n;
}

enum { N_NOTES_V2 = 11 };

static void tok_notes_v2(CantusMidiNote *n)
{
  n[0] = mkp(0, 480, 60, 1);      // part 0 [0,12)
  n[1] = mkp(0, 600, 60, 1);      // same part, pitch and start: one note [0,15)
  n[2] = mkp(0, 960, 60, 2);      // part 1, the same pitch: a unison, kept [0,24)
  n[3] = mkp(0, 240, 64, 2);      // part 1 [0,6)
  n[4] = mkp(240, 960, 62, 1);    // part 0 [6,24), cut at 10 by the re-strike
  n[5] = mkp(400, 720, 62, 1);    // part 0 re-strike [10,18)
  n[6] = mkp(960, 2160, 67, 1);   // part 0 [24,54): 30 ticks -> 36 (tie, the longer)
  n[7] = mkp(480, 960, 70, 3);    // no part: left out
  n[8] = mkp(3840, 12000, 72, 2); // part 1 [96,300): 204 ticks -> the last bin, 192
  n[9] = mk(0, 120, 38, 9);       // drum: skipped
  n[10] = mkp(400, 720, 62, 2);   // part 1 [10,18): same pitch as part 0's re-strike
}

TEST(tokens_v2_hand_made_notes_give_the_exact_stream)
{
  const CantusVocab v = tok_vocab_v2();
  CantusMidiNote notes[N_NOTES_V2];
  tok_notes_v2(notes);
#define NT(k, p) cantus_vocab_note(&v, k, p)
#define D(t) cantus_vocab_dur(&v, cantus_vocab_dur_bin(&v, t))
#define SH(k) cantus_vocab_shift(&v, k)
  const int want[] = {
    CANTUS_TOK_START,
    NT(0, 60),
    D(15), // tick 0: part 0 first, then part 1 in ascending pitch
    NT(1, 60),
    D(24),
    NT(1, 64),
    D(6),
    SH(6),
    NT(0, 62),
    D(4), // tick 6: cut at 10 by the re-strike
    SH(4),
    NT(0, 62),
    D(8), // tick 10
    NT(1, 62),
    D(8), // the same pitch in part 1 is its own note
    SH(12),
    SH(2),
    NT(0, 67),
    D(36), // tick 24: 30 ticks rounded up to 36
    SH(12),
    SH(12),
    SH(12),
    SH(12),
    SH(12),
    SH(12),
    NT(1, 72),
    D(192), // tick 96; no trailing shifts
    CANTUS_TOK_END,
  };
  const size_t n_want = sizeof want / sizeof want[0];
  CHECK_EQ(D(30), cantus_vocab_dur(&v, 24));
  CHECK_EQ(D(204), cantus_vocab_dur(&v, 37));
  CantusTokensOptions opt = cantus_tokens_options_default();
  opt.start_end = true;
  opt.part = part_of_track;
  uint16_t buf[64];
  CantusTokensStats st;
  CantusError err;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES_V2, 480, &v, &opt, buf, 64, &st, &err),
           CANTUS_OK);
  check_stream(&v, buf, st.n_written, want, n_want);
  CHECK_EQ(st.n_tokens, n_want);
  CHECK_EQ(st.n_drum, 1);
  CHECK_EQ(st.n_no_part, 1);
  CHECK_EQ(st.n_merged, 2);
  CHECK_EQ(st.n_notes, 8);
  CHECK_EQ(st.n_dur_rounded, 2);
  CHECK_EQ(st.n_dur_capped, 1);
  CHECK_NEAR(st.dur_rounded_sum, 18.0, 1e-12);
  CHECK_NEAR(st.dur_rounded_max, 12.0, 1e-12);
  CHECK_EQ(st.pitch_min, 60);
  CHECK_EQ(st.pitch_max, 72);
  CHECK_EQ(st.last_tick, 300);
  CHECK_EQ(st.end_tick, 96);

  // Back to notes: the grid notes with their binned lengths, by onset.
  CantusMidiNote back[16];
  size_t n_back = 0;
  CHECK_EQ(cantus_tokens_to_notes(buf, st.n_written, &v, back, 16, &n_back, &err), CANTUS_OK);
  CHECK_EQ(n_back, 8);
  const uint32_t want_notes[8][4] = {
    // on, off, pitch, part
    { 0, 15, 60, 0 },  { 0, 24, 60, 1 },  { 0, 6, 64, 1 },   { 6, 10, 62, 0 },
    { 10, 18, 62, 0 }, { 10, 18, 62, 1 }, { 24, 60, 67, 0 }, { 96, 288, 72, 1 },
  };
  for (size_t i = 0; i < n_back && i < 8; i++) {
    CHECK_EQ(back[i].on_tick, want_notes[i][0]);
    CHECK_EQ(back[i].off_tick, want_notes[i][1]);
    CHECK_EQ(back[i].pitch, want_notes[i][2]);
    CHECK_EQ(back[i].track, want_notes[i][3]);
    CHECK_EQ(back[i].channel, want_notes[i][3]);
  }
  // ... which tokenise (on the grid, part = track + 1 here) to the same stream.
  for (size_t i = 0; i < n_back; i++) {
    back[i].track = (uint16_t)(back[i].track + 1);
  }
  uint16_t buf2[64];
  CantusTokensStats st2;
  CHECK_EQ(cantus_tokens_from_notes(back, n_back, 12, &v, &opt, buf2, 64, &st2, &err), CANTUS_OK);
  check_stream(&v, buf2, st2.n_written, want, n_want);
  CHECK_EQ(st2.n_dur_rounded, 0);
  CHECK_EQ(st2.n_merged, 0);

  // Without a part callback every note is in part 0: the unisons merge.
  opt.part = NULL;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES_V2, 480, &v, &opt, buf, 64, &st, &err),
           CANTUS_OK);
  CHECK_EQ(st.n_no_part, 0);
  CHECK_EQ(st.n_notes, 7); // 70 comes in; 60 and 62 merge with their unisons
  CHECK_EQ(buf[1], NT(0, 60));
  CHECK_EQ(buf[2], D(24));
  CHECK_EQ(buf[3], NT(0, 64));
#undef NT
#undef D
#undef SH
}

TEST(tokens_v2_velocity_truncation_and_malformed_streams)
{
  CantusVocab v = tok_vocab_v2();
  v.n_vel = 4;
  CantusMidiNote notes[N_NOTES_V2];
  tok_notes_v2(notes);
  notes[3].velocity = 20;
  CantusTokensOptions opt = cantus_tokens_options_default();
  opt.part = part_of_track;
  opt.velocities = true;
  opt.start_end = true;
  uint16_t buf[64];
  CantusTokensStats st;
  CantusError err;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES_V2, 480, &v, &opt, buf, 64, &st, &err),
           CANTUS_OK);
  const int b90 = cantus_vocab_vel_to_bin(&v, 90), b20 = cantus_vocab_vel_to_bin(&v, 20);
  CHECK(b90 != b20);
  CHECK_EQ(buf[1], cantus_vocab_velocity(&v, b90));
  CHECK_EQ(buf[2], cantus_vocab_note(&v, 0, 60));
  CHECK_EQ(buf[4], cantus_vocab_note(&v, 1, 60)); // same bin: no VELOCITY
  CHECK_EQ(buf[6], cantus_vocab_velocity(&v, b20));
  CHECK_EQ(buf[7], cantus_vocab_note(&v, 1, 64));
  CHECK_EQ(buf[9], cantus_vocab_shift(&v, 6));
  CHECK_EQ(buf[10], cantus_vocab_velocity(&v, b90));
  CantusMidiNote back[16];
  size_t n_back = 0;
  CHECK_EQ(cantus_tokens_to_notes(buf, st.n_written, &v, back, 16, &n_back, &err), CANTUS_OK);
  CHECK_EQ(n_back, st.n_notes);
  CHECK_EQ(back[0].velocity, cantus_vocab_bin_to_vel(&v, b90));
  CHECK_EQ(back[2].velocity, cantus_vocab_bin_to_vel(&v, b20));

  // Truncation: every prefix is a valid stream (NOTE DUR pairs, START ...
  // END) holding the first notes.
  const size_t whole = st.n_tokens;
  opt.truncate = true;
  for (size_t cap = 0; cap <= whole + 1; cap++) {
    CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES_V2, 480, &v, &opt, buf, cap, &st, &err),
             CANTUS_OK);
    CHECK(st.n_written <= cap);
    CHECK_EQ(st.truncated, whole > cap);
    CHECK_EQ(cantus_tokens_to_notes(buf, st.n_written, &v, back, 16, &n_back, &err), CANTUS_OK);
    if (st.n_written > 0) {
      CHECK_EQ(buf[0], CANTUS_TOK_START);
      CHECK_EQ(buf[st.n_written - 1], CANTUS_TOK_END);
    }
  }
  CHECK_EQ(n_back, 8);

  // A length is rounded, but never into the next onset of its pitch in its
  // part: 30 ticks before a re-strike at 34 is 24 (36 would overlap it).
  const CantusMidiNote restrike[] = { mkp(0, 1200, 67, 1), mkp(1360, 1600, 67, 1) };
  opt = cantus_tokens_options_default();
  CHECK_EQ(cantus_tokens_from_notes(restrike, 2, 480, &v, &opt, buf, 64, &st, &err), CANTUS_OK);
  CHECK_EQ(st.n_written, 7); // N D, shifts 12 12 10, N D
  CHECK_EQ(buf[1], cantus_vocab_dur(&v, cantus_vocab_dur_bin(&v, 24)));
  CHECK_EQ(buf[6], cantus_vocab_dur(&v, cantus_vocab_dur_bin(&v, 6)));
  CHECK_EQ(st.n_dur_rounded, 1);
  CHECK_NEAR(st.dur_rounded_sum, 6.0, 1e-12);

  // Malformed streams are refused.
  const uint16_t no_dur[] = { (uint16_t)cantus_vocab_note(&v, 0, 60),
                              (uint16_t)cantus_vocab_shift(&v, 1) };
  CHECK_EQ(cantus_tokens_to_notes(no_dur, 2, &v, back, 16, &n_back, &err), CANTUS_ERR_FORMAT);
  CHECK_EQ(cantus_tokens_to_notes(no_dur, 1, &v, back, 16, &n_back, &err), CANTUS_ERR_FORMAT);
  const uint16_t lone_dur[] = { (uint16_t)cantus_vocab_dur(&v, 3) };
  CHECK_EQ(cantus_tokens_to_notes(lone_dur, 1, &v, back, 16, &n_back, &err), CANTUS_ERR_FORMAT);
  const uint16_t outside[] = { (uint16_t)cantus_vocab_size(&v) };
  CHECK_EQ(cantus_tokens_to_notes(outside, 1, &v, back, 16, &n_back, &err), CANTUS_ERR_FORMAT);
  const CantusVocab v1 = tok_vocab();
  const uint16_t off_silent[] = { (uint16_t)cantus_vocab_note_off(&v1, 60) };
  CHECK_EQ(cantus_tokens_to_notes(off_silent, 1, &v1, back, 16, &n_back, &err), CANTUS_ERR_FORMAT);
  const uint16_t unclosed[] = { (uint16_t)cantus_vocab_note_on(&v1, 60) };
  CHECK_EQ(cantus_tokens_to_notes(unclosed, 1, &v1, back, 16, &n_back, &err), CANTUS_ERR_FORMAT);
  const uint16_t twice[] = { (uint16_t)cantus_vocab_note_on(&v1, 60),
                             (uint16_t)cantus_vocab_note_on(&v1, 60) };
  CHECK_EQ(cantus_tokens_to_notes(twice, 2, &v1, back, 16, &n_back, &err), CANTUS_ERR_FORMAT);
  // A count only.
  const uint16_t two[] = { (uint16_t)cantus_vocab_note(&v, 0, 60),
                           (uint16_t)cantus_vocab_dur(&v, 0),
                           (uint16_t)cantus_vocab_note(&v, 1, 60),
                           (uint16_t)cantus_vocab_dur(&v, 0) };
  CHECK_EQ(cantus_tokens_to_notes(two, 4, &v, NULL, 0, &n_back, &err), CANTUS_ERR_TOO_LARGE);
  CHECK_EQ(n_back, 2);
}

// v1 streams decode to their notes too (the hand-made stream above).
TEST(tokens_v1_stream_decodes_to_its_notes)
{
  const CantusVocab v = tok_vocab();
  CantusMidiNote notes[N_NOTES];
  tok_notes(notes);
  CantusTokensOptions opt = cantus_tokens_options_default();
  opt.start_end = true;
  uint16_t buf[64], buf2[64];
  CantusTokensStats st, st2;
  CantusError err;
  CHECK_EQ(cantus_tokens_from_notes(notes, N_NOTES, 480, &v, &opt, buf, 64, &st, &err), CANTUS_OK);
  CantusMidiNote back[16];
  size_t n_back = 0;
  CHECK_EQ(cantus_tokens_to_notes(buf, st.n_written, &v, back, 16, &n_back, &err), CANTUS_OK);
  CHECK_EQ(n_back, 7);
  CHECK_EQ(back[0].on_tick, 0);
  CHECK_EQ(back[0].off_tick, 15); // the merged unison
  CHECK_EQ(back[0].pitch, 60);
  CHECK_EQ(back[6].on_tick, 96);
  CHECK_EQ(back[6].off_tick, 108);
  CHECK_EQ(cantus_tokens_from_notes(back, n_back, 12, &v, &opt, buf2, 64, &st2, &err), CANTUS_OK);
  CHECK_EQ(st2.n_written, st.n_written);
  for (size_t i = 0; i < st.n_written && i < st2.n_written; i++) {
    CHECK_EQ(buf2[i], buf[i]);
  }
}

// ---- the corpus: notes -> v2 tokens -> notes round trip ---------------------------

typedef struct {
  char **paths;
  int n, cap;
} FileList;

static void list_midi(const char *dir, FileList *fl)
{
  DIR *d = opendir(dir);
  if (!d) {
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') {
      continue;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) != 0) {
      continue;
    }
    const size_t len = strlen(e->d_name);
    if (S_ISDIR(sb.st_mode)) {
      list_midi(path, fl);
    } else if (len > 4 && strcmp(e->d_name + len - 4, ".mid") == 0) {
      if (fl->n == fl->cap) {
        fl->cap = fl->cap ? 2 * fl->cap : 256;
        fl->paths = realloc(fl->paths, (size_t)fl->cap * sizeof *fl->paths);
      }
      fl->paths[fl->n++] = strdup(path);
    }
  }
  closedir(d);
}

static void free_list(FileList *fl)
{
  for (int i = 0; i < fl->n; i++) {
    free(fl->paths[i]);
  }
  free(fl->paths);
}

typedef struct {
  uint32_t on, off;
  uint8_t pitch, part;
  uint32_t room; // to the next onset of this part and pitch, 0 = none
} GridNote;

static int cmp_ppo(const void *a, const void *b) // part, pitch, on, longer first
{
  const GridNote *x = a, *y = b;
  if (x->part != y->part) {
    return x->part - y->part;
  }
  if (x->pitch != y->pitch) {
    return x->pitch - y->pitch;
  }
  if (x->on != y->on) {
    return x->on < y->on ? -1 : 1;
  }
  return x->off > y->off ? -1 : x->off < y->off;
}

static int cmp_opp(const void *a, const void *b) // on, part, pitch
{
  const GridNote *x = a, *y = b;
  if (x->on != y->on) {
    return x->on < y->on ? -1 : 1;
  }
  if (x->part != y->part) {
    return x->part - y->part;
  }
  return x->pitch - y->pitch;
}

// The expected grid notes of a file, written from the definition in
// tokens.h rather than from tokens.c: snap, lengthen, merge unisons and
// cut re-strikes within a part.  Returns the count.
static size_t expected_notes(const CantusMidiFile *mf,
                             const CantusVocab *v,
                             CantusTokensPartNames *pn,
                             GridNote *out)
{
  size_t n = 0;
  for (size_t i = 0; i < mf->n_notes; i++) {
    const CantusMidiNote *mn = &mf->notes[i];
    const int part = cantus_tokens_part_by_track_name(mn, pn);
    if (mn->channel == 9 || part < 0 || mn->pitch < v->pitch_lo || mn->pitch > v->pitch_hi) {
      continue;
    }
    double m;
    GridNote g = { (uint32_t)cantus_tokens_snap(mn->on_tick, mf->tpq, v->tpq, &m),
                   (uint32_t)cantus_tokens_snap(mn->off_tick, mf->tpq, v->tpq, &m),
                   mn->pitch,
                   (uint8_t)part,
                   0 };
    g.off = g.off > g.on ? g.off : g.on + 1;
    out[n++] = g;
  }
  qsort(out, n, sizeof *out, cmp_ppo);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && out[k - 1].part == out[i].part && out[k - 1].pitch == out[i].pitch) {
      if (out[k - 1].on == out[i].on) {
        continue; // sorted longer first: the kept one has the later off
      }
      if (out[k - 1].off > out[i].on) {
        out[k - 1].off = out[i].on;
      }
      out[k - 1].room = out[i].on - out[k - 1].on;
    }
    out[k++] = out[i];
  }
  qsort(out, k, sizeof *out, cmp_opp);
  return k;
}

// Decoded notes carry their part as the track.
static int part_is_track(const CantusMidiNote *n, void *user)
{
  (void)user;
  return n->track;
}

typedef struct {
  const char *dir;
  const char *names[CANTUS_MAX_PARTS];
  int n_parts;
} CorpusSpec;

static const CorpusSpec corpus_specs[] = {
  { "nottingham", { "melody", "accompaniment" }, 2 },
  { "jsb_chorales", { "soprano", "alto", "tenor", "bass" }, 4 },
  { "cre_irish", { "melody" }, 1 },
};

TEST(tokens_v2_corpus_round_trip)
{
  for (size_t c = 0; c < sizeof corpus_specs / sizeof corpus_specs[0]; c++) {
    const CorpusSpec *cs = &corpus_specs[c];
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", cantus_test_corpus_dir(), cs->dir);
    FileList fl = { 0 };
    list_midi(dir, &fl);
    if (fl.n == 0) {
      SKIP("no MIDI files in %s", dir);
    }
    const CantusVocab v = cantus_vocab_default_v2(cs->n_parts);
    uint64_t n_files = 0, n_notes = 0, n_no_part = 0, n_rounded = 0, n_capped = 0, n_tok1 = 0,
             n_tok2 = 0, n_fail = 0;
    double sum = 0, max = 0;
    for (int f = 0; f < fl.n; f++) {
      CantusMidiFile *mf = NULL;
      CantusError err;
      if (cantus_midi_read(fl.paths[f], &mf, &err) != CANTUS_OK) {
        continue;
      }
      CantusTokensPartNames pn = { .mf = mf };
      for (int k = 0; k < cs->n_parts; k++) {
        pn.names[k] = cs->names[k];
      }
      CantusTokensOptions opt = cantus_tokens_options_default();
      opt.start_end = true;
      opt.part = cantus_tokens_part_by_track_name;
      opt.part_user = &pn;
      const size_t cap = 4 * mf->n_notes + 4096;
      uint16_t *tok = malloc(cap * sizeof *tok), *tok2 = malloc(cap * sizeof *tok2);
      CantusMidiNote *back = malloc((mf->n_notes + 1) * sizeof *back);
      GridNote *want = malloc((mf->n_notes + 1) * sizeof *want);
      CantusTokensStats st, st1, st2;
      size_t n_back = 0;
      bool ok =
        cantus_tokens_from_notes(mf->notes, mf->n_notes, mf->tpq, &v, &opt, tok, cap, &st, &err) ==
          CANTUS_OK &&
        cantus_tokens_to_notes(tok, st.n_written, &v, back, mf->n_notes + 1, &n_back, &err) ==
          CANTUS_OK;
      CHECK_MSG(ok, "%s: %s", fl.paths[f], err.msg);
      // the decoded notes tokenise to the same stream (part = track)
      CantusTokensOptions opt2 = opt;
      opt2.part = part_is_track;
      uint64_t diff = 0;
      if (ok) {
        ok = cantus_tokens_from_notes(back, n_back, v.tpq, &v, &opt2, tok2, cap, &st2, &err) ==
             CANTUS_OK;
        CHECK(ok);
        CHECK_MSG(st2.n_written == st.n_written && st2.n_dur_rounded == 0 && st2.n_merged == 0,
                  "again: %zu tokens (want %zu), %llu rounded, %llu merged",
                  st2.n_written,
                  st.n_written,
                  (unsigned long long)st2.n_dur_rounded,
                  (unsigned long long)st2.n_merged);
        diff += st2.n_written != st.n_written || st2.n_dur_rounded != 0 || st2.n_merged != 0;
        for (size_t i = 0; ok && i < st.n_written && i < st2.n_written; i++) {
          CHECK_MSG(tok[i] == tok2[i], "token %zu differs", i);
          diff += tok[i] != tok2[i];
        }
      }
      // and they are the expected grid notes with binned lengths
      const size_t n_want = expected_notes(mf, &v, &pn, want);
      uint64_t rounded = 0;
      if (ok) {
        CHECK_MSG(n_want == n_back, "%zu notes, want %zu", n_back, n_want);
        diff += n_want != n_back;
        for (size_t i = 0; i < n_want && i < n_back; i++) {
          const GridNote *w = &want[i];
          const int64_t len = (int64_t)w->off - w->on;
          const int64_t got = (int64_t)back[i].off_tick - back[i].on_tick;
          // the nearest bin, or the longest that does not reach the next onset
          int bin = cantus_vocab_dur_bin(&v, len);
          if (w->room && cantus_vocab_dur_ticks(&v, bin) > (int)w->room) {
            bin = 0;
            while (bin + 1 < v.n_dur && cantus_vocab_dur_ticks(&v, bin + 1) <= (int)w->room) {
              bin++;
            }
          }
          const bool bad = back[i].on_tick != w->on || back[i].pitch != w->pitch ||
                           back[i].track != w->part || got != cantus_vocab_dur_ticks(&v, bin);
          CHECK_MSG(!bad,
                    "note %zu: got %u+%lld, want %u+%d",
                    i,
                    back[i].on_tick,
                    (long long)got,
                    w->on,
                    cantus_vocab_dur_ticks(&v, bin));
          diff += bad;
          if (got != len) {
            rounded++;
            const double d = (double)(got > len ? got - len : len - got);
            sum += d;
            max = d > max ? d : max;
          }
        }
        CHECK_EQ(rounded, st.n_dur_rounded);
      }
      CHECK_MSG(diff == 0, "%s: %llu differences", fl.paths[f], (unsigned long long)diff);
      n_fail += diff != 0 || !ok;
      // the v1 stream of the same notes, for its length
      CantusTokensOptions o1 = cantus_tokens_options_default();
      o1.start_end = true;
      const CantusVocab vv1 = cantus_vocab_default();
      cantus_tokens_from_notes(mf->notes, mf->n_notes, mf->tpq, &vv1, &o1, NULL, 0, &st1, &err);
      n_files++;
      n_notes += st.n_notes;
      n_no_part += st.n_no_part;
      n_rounded += st.n_dur_rounded;
      n_capped += st.n_dur_capped;
      n_tok1 += st1.n_tokens;
      n_tok2 += st.n_tokens;
      free(tok);
      free(tok2);
      free(back);
      free(want);
      cantus_midi_free(mf);
    }
    CHECK_EQ(n_fail, 0);
    CHECK(n_notes > 0);
    if (cantus_test_verbose) {
      printf("  %s: %llu files, %llu notes, %llu without a part; %llu lengths rounded (%.3f %%), "
             "%llu over the last bin, mean %.2f max %.0f ticks; tokens v1 %llu, v2 %llu\n",
             cs->dir,
             (unsigned long long)n_files,
             (unsigned long long)n_notes,
             (unsigned long long)n_no_part,
             (unsigned long long)n_rounded,
             100.0 * (double)n_rounded / (double)(n_notes ? n_notes : 1),
             (unsigned long long)n_capped,
             n_rounded ? sum / (double)n_rounded : 0.0,
             max,
             (unsigned long long)n_tok1,
             (unsigned long long)n_tok2);
    }
    free_list(&fl);
  }
}

// Version 1 streams stay byte-identical: every corpus file in three option
// sets (plain; velocities with folding; truncated at 300 tokens), hashed
// per file (FNV-1a over tokens, count and merges) and summed.  The pinned
// values were computed with the tokenizer before version 2 existed.
TEST(tokens_v1_corpus_streams_are_pinned)
{
  uint64_t sum = 0, total = 0;
  int n_files = 0;
  uint16_t *buf = malloc(2000000 * sizeof *buf);
  for (size_t c = 0; c < sizeof corpus_specs / sizeof corpus_specs[0]; c++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", cantus_test_corpus_dir(), corpus_specs[c].dir);
    FileList fl = { 0 };
    list_midi(dir, &fl);
    for (int f = 0; f < fl.n; f++) {
      CantusMidiFile *m = NULL;
      CantusError e;
      if (cantus_midi_read(fl.paths[f], &m, &e) != CANTUS_OK) {
        continue;
      }
      n_files++;
      CantusVocab v = cantus_vocab_default();
      uint64_t h = 1469598103934665603ull;
      for (int variant = 0; variant < 3; variant++) {
        CantusTokensOptions o = cantus_tokens_options_default();
        o.start_end = true;
        if (variant == 1) {
          v.n_vel = 8;
          o.velocities = true;
          o.fold_pitches = true;
        }
        if (variant == 2) {
          o.truncate = true;
        }
        CantusTokensStats st;
        cantus_tokens_from_notes(
          m->notes, m->n_notes, m->tpq, &v, &o, buf, variant == 2 ? 300 : 2000000, &st, &e);
        for (size_t i = 0; i < st.n_written; i++) {
          h ^= buf[i];
          h *= 1099511628211ull;
        }
        h ^= st.n_tokens;
        h *= 1099511628211ull;
        h ^= st.n_merged;
        h *= 1099511628211ull;
        total += st.n_written;
      }
      sum += h;
      cantus_midi_free(m);
    }
    free_list(&fl);
  }
  free(buf);
  if (n_files == 0) {
    SKIP("no corpus in %s", cantus_test_corpus_dir());
  }
  CHECK_EQ(n_files, 2639);
  CHECK_EQ(total, 5342640);
  CHECK_MSG(sum == 0xfe5005959acfafull, "hash %llx", (unsigned long long)sum);
}
