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

#include <stdlib.h>
#include <string.h>

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
