// SPDX-License-Identifier: GPL-3.0-or-later
// Krumhansl-Kessler key estimation (dsp/key.h).  [RT]: no allocation, the
// only library call is sqrt.
#include "key.h"

#include <math.h>

// Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
static const double major_profile[12] = { 6.35, 2.23, 3.48, 2.33, 4.38, 4.09,
                                          2.52, 5.19, 2.39, 3.66, 2.29, 2.88 };
static const double minor_profile[12] = { 6.33, 2.68, 3.52, 5.38, 2.60, 3.53,
                                          2.54, 4.75, 3.98, 2.69, 3.34, 3.17 };

// Pearson correlation of the histogram rotated to `root` with a profile.
static double correlate(const double *x, const double *prof, int root)
{
  double mx = 0, my = 0;
  for (int i = 0; i < 12; i++) {
    mx += x[i];
    my += prof[i];
  }
  mx /= 12;
  my /= 12;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < 12; i++) {
    double a = x[(i + root) % 12] - mx, b = prof[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0;
}

void cantus_key_estimate(const double pc[12], int *tonic, bool *minor)
{
  double best = -2.0;
  *tonic = 0;
  *minor = false;
  for (int r = 0; r < 12; r++) {
    double a = correlate(pc, major_profile, r), b = correlate(pc, minor_profile, r);
    if (a > best) {
      best = a;
      *tonic = r;
      *minor = false;
    }
    if (b > best) {
      best = b;
      *tonic = r;
      *minor = true;
    }
  }
}

uint16_t cantus_key_scale_pcs(int tonic, bool minor)
{
  // bit k = k semitones above the tonic
  const uint16_t set = minor
                         ? (1u << 0 | 1u << 2 | 1u << 3 | 1u << 5 | 1u << 7 | 1u << 8 | 1u << 10)
                         : (1u << 0 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 7 | 1u << 9 | 1u << 11);
  const int r = (tonic % 12 + 12) % 12;
  return (uint16_t)(((set << r) | (set >> (12 - r))) & 0xfffu);
}
