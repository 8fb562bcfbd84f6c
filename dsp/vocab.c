// SPDX-License-Identifier: GPL-3.0-or-later
// Token <-> event arithmetic.  [RT] except cantus_vocab_name.
#include "vocab.h"

#include <stdio.h>

CantusVocab cantus_vocab_default(void)
{
  return (CantusVocab){ .pitch_lo = 21, .pitch_hi = 108, .n_shift = 48, .n_vel = 0, .tpq = 12 };
}

CantusVocab cantus_vocab_default_v2(int n_parts)
{
  CantusVocab v = cantus_vocab_default();
  v.n_parts = (uint16_t)n_parts;
  v.n_dur = (uint16_t)cantus_vocab_dur_rule_len(v.tpq);
  return v;
}

bool cantus_vocab_valid(const CantusVocab *v)
{
  const bool layout = v->n_dur == 0 ? v->n_parts == 0
                                    : v->n_parts >= 1 && v->n_parts <= CANTUS_MAX_PARTS &&
                                        v->n_dur <= cantus_vocab_dur_rule_len(v->tpq);
  return layout && v->pitch_lo <= v->pitch_hi && v->pitch_hi <= 127 && v->tpq >= 1 &&
         v->tpq <= 96 && v->n_shift >= 1 && v->n_shift <= 4 * v->tpq && v->n_vel <= 32 &&
         cantus_vocab_size(v) <= CANTUS_MAX_VOCAB;
}

int cantus_vocab_note_on(const CantusVocab *v, int pitch)
{
  if (cantus_vocab_is_v2(v) || pitch < v->pitch_lo || pitch > v->pitch_hi) {
    return -1;
  }
  return cantus_vocab_on_base(v) + pitch - v->pitch_lo;
}

int cantus_vocab_note_off(const CantusVocab *v, int pitch)
{
  if (cantus_vocab_is_v2(v) || pitch < v->pitch_lo || pitch > v->pitch_hi) {
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

int cantus_vocab_note(const CantusVocab *v, int part, int pitch)
{
  if (!cantus_vocab_is_v2(v) || part < 0 || part >= v->n_parts || pitch < v->pitch_lo ||
      pitch > v->pitch_hi) {
    return -1;
  }
  return CANTUS_TOK_FIRST_NOTE + part * cantus_vocab_n_pitch(v) + pitch - v->pitch_lo;
}

int cantus_vocab_dur(const CantusVocab *v, int bin)
{
  if (bin < 0 || bin >= v->n_dur) {
    return -1;
  }
  return cantus_vocab_dur_base(v) + bin;
}

int cantus_vocab_dur_rule_len(int tpq)
{
  return 2 * tpq + 14;
}

int cantus_vocab_dur_ticks(const CantusVocab *v, int bin)
{
  const int t = v->tpq;
  if (bin < 0 || bin >= v->n_dur) {
    return 0;
  }
  // every tick up to two quarters, then whole quarters 3..16
  return bin < 2 * t ? bin + 1 : (bin - 2 * t + 3) * t;
}

int cantus_vocab_dur_bin(const CantusVocab *v, int64_t ticks)
{
  const int64_t t = v->tpq;
  if (v->n_dur == 0) {
    return -1;
  }
  int64_t j;
  if (ticks <= 2 * t) {
    j = ticks < 1 ? 0 : ticks - 1;
  } else {
    // nearest whole quarter, ties up (2.5 quarters -> 3); 2 quarters is bin 2t-1
    int64_t q = (2 * ticks + t) / (2 * t);
    q = q > 16 ? 16 : q;
    j = q <= 2 ? 2 * t - 1 : 2 * t + q - 3;
  }
  // the bins are sorted, so the nearest of the first n_dur is a clamp
  return j < v->n_dur ? (int)j : v->n_dur - 1;
}

CantusEventKind cantus_vocab_decode(const CantusVocab *v, int token, int *value)
{
  int part;
  return cantus_vocab_decode_part(v, token, value, &part);
}

CantusEventKind cantus_vocab_decode_part(const CantusVocab *v, int token, int *value, int *part)
{
  const int np = cantus_vocab_n_pitch(v);
  *value = 0;
  *part = -1;
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
  if (cantus_vocab_is_v2(v)) {
    if (t < v->n_parts * np) {
      *part = t / np;
      *value = v->pitch_lo + t % np;
      return CANTUS_EV_NOTE;
    }
    t -= v->n_parts * np;
    if (t < v->n_dur) {
      *value = cantus_vocab_dur_ticks(v, t);
      return CANTUS_EV_DUR;
    }
    t -= v->n_dur;
  } else {
    if (t < np) {
      *part = 0;
      *value = v->pitch_lo + t;
      return CANTUS_EV_NOTE_ON;
    }
    t -= np;
    if (t < np) {
      *part = 0;
      *value = v->pitch_lo + t;
      return CANTUS_EV_NOTE_OFF;
    }
    t -= np;
  }
  if (t < v->n_shift) {
    *value = t + 1;
    return CANTUS_EV_SHIFT;
  }
  *value = t - v->n_shift;
  return CANTUS_EV_VELOCITY;
}

int cantus_vocab_transpose(const CantusVocab *v, int token, int d)
{
  int pitch, part;
  switch (cantus_vocab_decode_part(v, token, &pitch, &part)) {
  case CANTUS_EV_NOTE_ON:
    return cantus_vocab_note_on(v, pitch + d);
  case CANTUS_EV_NOTE_OFF:
    return cantus_vocab_note_off(v, pitch + d);
  case CANTUS_EV_NOTE:
    return cantus_vocab_note(v, part, pitch + d);
  default:
    return token;
  }
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
  int value = 0, part = -1;
  switch (cantus_vocab_decode_part(v, token, &value, &part)) {
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
  case CANTUS_EV_NOTE:
    snprintf(buf, (size_t)n, "N%d:%d", part, value);
    break;
  case CANTUS_EV_DUR:
    snprintf(buf, (size_t)n, "D%d", value);
    break;
  default:
    snprintf(buf, (size_t)n, "?%d", token);
    break;
  }
}
