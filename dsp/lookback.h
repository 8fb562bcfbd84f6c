// SPDX-License-Identifier: GPL-3.0-or-later
// Form inputs of a token stream (issue 10): for each position, what a
// replay of the stream 1, 2, 4 and 8 bars ago would emit next, the bar
// within the 16-bar phrase and the bars left to the end.  One definition
// for the trainer (cantus_lookback_batch, a whole stream) and the engine
// (CantusLookback, token by token on the audio thread).
//
// Definitions.  Ticks are grid ticks from the start of the stream (tick 0
// is bar 0's first tick).  An event is any token but START and SHIFT (so
// NOTE_ON, NOTE_OFF, NOTE, DUR, VELOCITY and END); an event is fed at the
// tick reached by the SHIFTs before it.  The features of position i
// describe the point where token i+1 will be emitted: the tick tau after
// token i (after its shift, if it is one) and the rank rho, the number of
// events already fed at tau (START is not counted; after a SHIFT rho = 0).
// Bars come from a bar map (a bar length starts at a tick and lays bar
// lines every bar_ticks from there, as models/train/corpus.c builds it);
// tau lies in bar b at offset o.
//  - Lookback at lag L (1, 2, 4, 8 bars): the same offset in bar b-L,
//    tau' = start(b-L) + o.  NONE (= the vocabulary size V, so each input
//    has V+1 classes) when b-L is before bar 0 or o >= length(b-L).  If more
//    than rho events were fed at tau', the event of rank rho there;
//    otherwise SHIFT(min(n_shift, next - tau')), where next is the tick of
//    the first event fed after tau' -- or tau if no event after tau' has
//    been fed yet (the features are causal: the engine knows no more).
//    Thus in a repeated passage the lookback is exactly the next token,
//    SHIFT remainders and the DUR after a NOTE included, except after a
//    silence of at least L bars when a bar is shorter than n_shift.
//  - Phrase bar: (b - first_full_bar) mod 16, classes 0..15; the pickup bar
//    before the first full bar is 15.
//  - Bars left: end_bar - b, clamped to 0 (the last bar with a note, and
//    any later bar) .. 16 (sixteen or more); 17 = unknown (live streams,
//    training dropout).  18 classes.
//
// Allocation contract: cantus_lookback_batch() allocates scratch and frees
// it before returning; out belongs to the caller.  CantusLookback is a
// plain struct with fixed arrays, owned by the caller, that never
// allocates: a snapshot is a memcpy of it (sizeof (CantusLookback)).
// Thread class: cantus_lookback_batch and cantus_lookback_piece_bars are
// non-RT; every cantus_lookback_* function on a CantusLookback is [RT].
#ifndef CANTUS_LOOKBACK_H
#define CANTUS_LOOKBACK_H

#include "rt.h"
#include "status.h"
#include "vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CANTUS_LOOKBACK_N_LAGS 4      // lags 1, 2, 4, 8 bars (cantus_lookback_lag)
#define CANTUS_LOOKBACK_CAP 512       // events the tracker remembers (8 bars + the current one)
#define CANTUS_LOOKBACK_MAX_METERS 8  // pending bar-length changes of the tracker
#define CANTUS_LOOKBACK_MAX_BAR 65536 // longest bar the tracker accepts, ticks
#define CANTUS_PHRASE_BARS 16         // phrase bar classes 0..15
#define CANTUS_BARS_LEFT_MAX 16       // bars left 0..16 (16 = sixteen or more)
#define CANTUS_BARS_LEFT_UNKNOWN 17   // bars left unknown
#define CANTUS_BARS_LEFT_CLASSES 18
#define CANTUS_LOOKBACK_END_UNKNOWN INT64_MIN // end_bar of a stream without an end

// Lag of lookback input i (0..3) in bars: 1, 2, 4, 8.
static inline int cantus_lookback_lag(int i)
{
  return 1 << i;
}

// The form inputs of one position.
typedef struct {
  uint16_t look[CANTUS_LOOKBACK_N_LAGS]; // token, or NONE = vocabulary size
  uint8_t phrase_bar;                    // 0..15
  uint8_t bars_left;                     // 0..17
  // The chord in force (issue 11): a pitch-class set as CantusChord.pcs
  // (dsp/chord.h), 0 = no chord.  Not a lookback feature: the tracker and
  // cantus_lookback_batch write 0, the caller (engine, trainer) sets it; a
  // network with n_chord = CANTUS_CHORD_INPUTS reads it.
  uint16_t chord;
} CantusLookbackFeatures;

// A bar map on the grid: from tick[k] on, bar lines every bar_ticks[k]
// ticks (a change between bar lines starts a bar there).  tick[0] == 0,
// ticks strictly ascending, bar_ticks >= 1.  n == 0 means 4/4 throughout.
typedef struct {
  const uint32_t *tick;      // (n)
  const uint32_t *bar_ticks; // (n)
  int n;
} CantusBarMap;

// The phrase origin and the end of a whole stream: *first_full_bar is the
// bar of the first onset (NOTE_ON or NOTE) when it falls on the bar line,
// else the bar after (its bar is a pickup); *last_note_bar is the bar of
// the last onset.  Without onsets: 0 and CANTUS_LOOKBACK_END_UNKNOWN.
// The map must be valid (see cantus_lookback_batch).  Non-RT.
void cantus_lookback_piece_bars(const uint16_t *tokens,
                                size_t n_tokens,
                                const CantusVocab *v,
                                const CantusBarMap *map,
                                int64_t *first_full_bar,
                                int64_t *last_note_bar);

// The features of every position of a stream: out[i] for token i, with the
// phrase origin first_full_bar and the end end_bar (both bar indices; end
// CANTUS_LOOKBACK_END_UNKNOWN gives bars left 17 everywhere).  No history
// cap.  Errors: CANTUS_ERR_ARGUMENT (invalid vocabulary or bar map),
// CANTUS_ERR_NO_MEMORY.  Non-RT.
CantusStatus cantus_lookback_batch(const uint16_t *tokens,
                                   size_t n_tokens,
                                   const CantusVocab *v,
                                   const CantusBarMap *map,
                                   int64_t first_full_bar,
                                   int64_t end_bar,
                                   CantusLookbackFeatures *out,
                                   CantusError *err);

// The incremental tracker.  It keeps the events of the current bar and the
// 8 before it, up to CANTUS_LOOKBACK_CAP of them: when more come, the
// oldest are forgotten (n_dropped counts them) and a lookback that would
// need them is NONE -- never a wrong token, never an overrun.  Within the
// cap (and with bars up to CANTUS_LOOKBACK_MAX_BAR ticks) it agrees with
// cantus_lookback_batch at every position.  Size: about 3.4 KB, of which
// 6 bytes per event slot; the densest corpus stream (Nottingham melody +
// accompaniment) holds at most 390 events at once.
typedef struct {
  CantusVocab v;
  int64_t tick;          // tau: where the next token is fed
  int64_t bar;           // bar of tick
  int64_t first_bar;     // the stream's first bar (tick 0)
  int64_t bar_ticks;     // the bar length in force
  int64_t next_line;     // next bar line under it
  int64_t complete_from; // every event at or after this tick is remembered
  int64_t first_full_bar, end_bar;
  int64_t bar_start[16]; // start of bar b at [b & 15], for bars bar-8 .. bar
  int64_t meter_tick[CANTUS_LOOKBACK_MAX_METERS]; // pending changes, ascending
  int64_t meter_len[CANTUS_LOOKBACK_MAX_METERS];
  uint32_t n_meter;
  uint32_t rank;                         // rho: events fed at tick
  uint32_t head, count;                  // the event ring
  uint32_t n_dropped;                    // events forgotten for the cap (saturates)
  uint32_t n_refused;                    // meter changes refused (queue full), invalid tokens
  uint32_t ev_tick[CANTUS_LOOKBACK_CAP]; // low 32 bits of the event's tick
  uint16_t ev_tok[CANTUS_LOOKBACK_CAP];
} CantusLookback;

// Starts an empty stream at tick 0, the first tick of bar first_bar, with
// bars of bar_ticks (clamped to 1..CANTUS_LOOKBACK_MAX_BAR); phrase origin
// first_bar, end unknown.  v must be valid.  [RT]
CANTUS_RT void cantus_lookback_init(CantusLookback *lb,
                                    const CantusVocab *v,
                                    int64_t bar_ticks,
                                    int64_t first_bar);

// From tick on, bars of bar_ticks (clamped as above), as a bar map entry.
// A tick at or before the current one applies at the current tick (the
// past keeps its bars).  Up to CANTUS_LOOKBACK_MAX_METERS changes may wait;
// one more at a tick already waiting replaces it, a further one is
// refused (counted in n_refused).  [RT]
CANTUS_RT void cantus_lookback_meter(CantusLookback *lb, int64_t tick, int64_t bar_ticks);

// Sets the phrase origin and the end (CANTUS_LOOKBACK_END_UNKNOWN: none).  [RT]
CANTUS_RT void cantus_lookback_set_form(CantusLookback *lb,
                                        int64_t first_full_bar,
                                        int64_t end_bar);

// Feeds one token.  START is ignored; a token outside the vocabulary is
// ignored and counted in n_refused.  At most n_shift + MAX_METERS loop
// iterations, plus the forgetting of old events (amortised O(1)).  [RT]
CANTUS_RT void cantus_lookback_push(CantusLookback *lb, int token);

// The lookback of lag index i (0..3) at the current point; NONE = V.  Two
// binary searches over the event ring.  [RT]
CANTUS_RT int cantus_lookback_query(const CantusLookback *lb, int i);

// All features at the current point (after the last token pushed).  [RT]
CANTUS_RT void cantus_lookback_features(const CantusLookback *lb, CantusLookbackFeatures *out);

#endif
