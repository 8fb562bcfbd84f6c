// SPDX-License-Identifier: GPL-3.0-or-later
// int8 run-time weights through the whole engine: a shipped model plays the
// same notes, event for event, on every kernel family this CPU has (the
// integer products make the families agree bit for bit; test_lstm checks
// the step itself), and int8 is what a model loads with by default.
#include "engine_harness.h"
#include "lstm.h"
#include "model.h"

// 16 bars of free-run play of models/folk.cantus on family isa, seed 7.
static size_t play(CantusIsa isa, HRec *out, size_t cap)
{
  cantus_lstm_force_isa(isa);
  CantusModel *m = NULL;
  CantusError err;
  if (cantus_engine_load_model("models/folk.cantus", &m, &err) != CANTUS_OK) {
    printf("load: %s\n", err.msg);
    return 0;
  }
  CHECK(m->net.wtype == CANTUS_WEIGHTS_I8);
  Harness h;
  h_init_with(&h, 1.0, 48000, m);
  CantusControls c = cantus_controls_default();
  c.seed = 7;
  h_run_free(&h, &c, 256, 48000 * 32); // 16 bars of 4/4 at 120 bpm
  CHECK_EQ(h.violations, 0);
  size_t n = h.n_rec < cap ? h.n_rec : cap;
  memcpy(out, h.rec, n * sizeof *out);
  h_free(&h);
  return n;
}

TEST(int8_engine_same_notes_on_every_family)
{
  static const CantusIsa fam[] = {
    CANTUS_ISA_AVX2, CANTUS_ISA_AVX512, CANTUS_ISA_AVX2_VNNI, CANTUS_ISA_AVX512_VNNI
  };
  enum { CAP = 4096 };
  HRec *ref = calloc(CAP, sizeof *ref), *got = calloc(CAP, sizeof *got);
  const size_t n_ref = play(CANTUS_ISA_SCALAR, ref, CAP);
  CHECK(n_ref > 100); // it really plays
  int compared = 0;
  for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
    if (cantus_lstm_force_isa(fam[k]) != fam[k]) {
      continue;
    }
    const size_t n = play(fam[k], got, CAP);
    size_t same = 0;
    while (same < n && same < n_ref && ref[same].frame == got[same].frame &&
           ref[same].status == got[same].status && ref[same].pitch == got[same].pitch &&
           ref[same].vel == got[same].vel && ref[same].ch == got[same].ch) {
      same++;
    }
    CHECK_MSG(n == n_ref && same == n,
              "%s: %zu of %zu events as on scalar (it played %zu)",
              cantus_lstm_isa_name(fam[k]),
              same,
              n_ref,
              n);
    compared++;
  }
  cantus_lstm_force_isa(cantus_lstm_isa_best());
  free(ref);
  free(got);
  if (compared == 0) {
    SKIP("no SIMD family on this CPU to compare with scalar");
  }
}

TEST(int8_is_the_default_and_selectable)
{
  CHECK_EQ(cantus_model_options_default().weights, CANTUS_WEIGHTS_I8);
  cantus_model_set_default_weights(CANTUS_WEIGHTS_F16);
  CHECK_EQ(cantus_model_options_default().weights, CANTUS_WEIGHTS_F16);
  CantusModel *m = NULL;
  CantusError err;
  CHECK(cantus_engine_load_model("models/folk.cantus", &m, &err) == CANTUS_OK);
  CHECK(m && m->net.wtype == CANTUS_WEIGHTS_F16);
  cantus_model_free(m);
  cantus_model_set_default_weights((CantusWeightType)9); // unknown: back to the default
  CHECK_EQ(cantus_model_options_default().weights, CANTUS_WEIGHTS_I8);
}
