// SPDX-License-Identifier: GPL-3.0-or-later
// The key of some notes: a Krumhansl-Kessler estimate (the pitch-class
// histogram correlated with the probe-tone profiles of the 24 major and
// minor keys).  The one definition for the trainer's measures
// (models/train/form.c, genstats.c) and the engine (the key of a player's
// call, issue 11).
//
// Allocation contract: none.  Thread class: [RT] (pure arithmetic, 24 x 12
// products and one sqrt per key).
#ifndef CANTUS_KEY_H
#define CANTUS_KEY_H

#include "rt.h"

#include <stdbool.h>
#include <stdint.h>

// The key whose profile correlates best (Pearson) with the histogram pc
// (pc[k] = weight of pitch class k, C = 0; durations or counts): *tonic
// 0..11 and *minor.  Ties go to the lower tonic and to major, so the answer
// is deterministic; an empty or flat histogram gives C major.  [RT]
CANTUS_RT void cantus_key_estimate(const double pc[12], int *tonic, bool *minor);

// The pitch classes (bit p = pitch class p, C = 0) of the major or the
// natural minor scale on tonic.  [RT]
CANTUS_RT uint16_t cantus_key_scale_pcs(int tonic, bool minor);

#endif
