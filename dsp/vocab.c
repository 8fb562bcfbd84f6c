// SPDX-License-Identifier: GPL-3.0-or-later
// Token <-> event arithmetic.  [RT] except cantus_vocab_name.
#include "vocab.h"

#include <stdio.h>

CantusVocab cantus_vocab_default(void)
{
  return (CantusVocab){ .pitch_lo = 21, .pitch_hi = 108, .n_shift = 48, .n_vel = 0, .tpq = 12 };
}

bool cantus_vocab_valid(const CantusVocab *v)
{
  return v->pitch_lo <= v->pitch_hi && v->pitch_hi <= 127 && v->tpq >= 1 && v->tpq <= 96 &&
         v->n_shift >= 1 && v->n_shift <= 4 * v->tpq && v->n_vel <= 32 &&
         cantus_vocab_size(v) <= CANTUS_MAX_VOCAB;
}

int cantus_vocab_note_on(const CantusVocab *v, int pitch)
{
  if (pitch < v->pitch_lo || pitch > v->pitch_hi) {
    return -1;
  }
  return cantus_vocab_on_base(v) + pitch - v->pitch_lo;
}

int cantus_vocab_note_off(const CantusVocab *v, int pitch)
{
  if (pitch < v->pitch_lo || pitch > v->pitch_hi) {
    return -1;
  }
  return cantus_vocab_off_base(v) + pitch - v->pitch_lo;
}

int cantus_vocab_shift(const CantusVocab *v, int ticks)
{
  if (ticks < 1 || ticks > v->n_shift) {
    return -1;
  }
  return cantus_vocab_shift_base(v) + ticks - 1;
}

int cantus_vocab_velocity(const CantusVocab *v, int bin)
{
  if (bin < 0 || bin >= v->n_vel) {
    return -1;
  }
  return cantus_vocab_vel_base(v) + bin;
}

CantusEventKind cantus_vocab_decode(const CantusVocab *v, int token, int *value)
{
  const int np = cantus_vocab_n_pitch(v);
  *value = 0;
  if (token == CANTUS_TOK_START) {
    return CANTUS_EV_START;
  }
  if (token == CANTUS_TOK_END) {
    return CANTUS_EV_END;
  }
  if (token < CANTUS_TOK_FIRST_NOTE || token >= cantus_vocab_size(v)) {
    return CANTUS_EV_INVALID;
  }
  int t = token - CANTUS_TOK_FIRST_NOTE;
  if (t < np) {
    *value = v->pitch_lo + t;
    return CANTUS_EV_NOTE_ON;
  }
  t -= np;
  if (t < np) {
    *value = v->pitch_lo + t;
    return CANTUS_EV_NOTE_OFF;
  }
  t -= np;
  if (t < v->n_shift) {
    *value = t + 1;
    return CANTUS_EV_SHIFT;
  }
  *value = t - v->n_shift;
  return CANTUS_EV_VELOCITY;
}

int cantus_vocab_vel_to_bin(const CantusVocab *v, int velocity)
{
  if (v->n_vel == 0) {
    return 0;
  }
  if (velocity < 1) {
    velocity = 1;
  }
  if (velocity > 127) {
    velocity = 127;
  }
  return (velocity - 1) * v->n_vel / 127;
}

int cantus_vocab_bin_to_vel(const CantusVocab *v, int bin)
{
  if (v->n_vel == 0) {
    return 96;
  }
  // centre of [lo, hi] where lo/hi are the first/last velocity mapping to bin
  const int lo = (bin * 127 + v->n_vel - 1) / v->n_vel + 1;
  const int hi = ((bin + 1) * 127 + v->n_vel - 1) / v->n_vel;
  return (lo + hi) / 2;
}

void cantus_vocab_name(const CantusVocab *v, int token, char *buf, int n)
{
  int value = 0;
  switch (cantus_vocab_decode(v, token, &value)) {
  case CANTUS_EV_START:
    snprintf(buf, (size_t)n, "START");
    break;
  case CANTUS_EV_END:
    snprintf(buf, (size_t)n, "END");
    break;
  case CANTUS_EV_NOTE_ON:
    snprintf(buf, (size_t)n, "ON%d", value);
    break;
  case CANTUS_EV_NOTE_OFF:
    snprintf(buf, (size_t)n, "OFF%d", value);
    break;
  case CANTUS_EV_SHIFT:
    snprintf(buf, (size_t)n, "SHIFT%d", value);
    break;
  case CANTUS_EV_VELOCITY:
    snprintf(buf, (size_t)n, "VEL%d", value);
    break;
  default:
    snprintf(buf, (size_t)n, "?%d", token);
    break;
  }
}
