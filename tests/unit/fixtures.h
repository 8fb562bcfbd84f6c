// SPDX-License-Identifier: GPL-3.0-or-later
// Models made by the test code: small networks with seeded random weights,
// used by tests, benchmarks and, until trained models ship, `make run`.
#ifndef CANTUS_FIXTURES_H
#define CANTUS_FIXTURES_H

#include "model.h"

#include <stdint.h>

// L=2, H=32, E=16, S=8, 3 styles ("alpha", "beta", "gamma"), the default
// vocabulary narrowed to pitches 48..84, n_pos_tick 12, n_pos_beat 8.
CantusDims cantus_fixture_dims_tiny(void);
// The tiny network with a version 2 vocabulary (2 parts "melody" and
// "bass", every duration bin) and every form input: tests/data/tiny2.cantus.
CantusDims cantus_fixture_dims_tiny2(void);
// tiny2 with the chord input (n_chord = 13, issue 11): tests/data/tinyc.cantus.
CantusDims cantus_fixture_dims_tinyc(void);

// A model of these sizes with weights drawn uniformly from
// [-scale, scale] (scale = 1/sqrt(H)) by a seeded generator, a bias
// towards SHIFT and note tokens so generation produces notes, style names
// "style0".. (or the tiny names for the tiny dims), metadata naming the
// fixture.  Aborts on allocation failure (tests only).
CantusModel *cantus_fixture_model(const CantusDims *d, uint32_t seed, CantusWeightType wt);

#endif
