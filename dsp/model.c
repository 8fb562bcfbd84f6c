// SPDX-License-Identifier: GPL-3.0-or-later
// The .cantus model file (models/FORMAT.md is the normative description):
// the one offset calculator, the caps, the byte-exact loader that refuses
// anything malformed with one line naming the file and the problem, the
// saver every program uses, and the one-allocation CantusModel that holds
// parameters, run-time weights, LSTM state and scratch.  Every byte of the
// file is accounted for: header fields, sections at fixed computed offsets,
// zero padding, and two CRC-32s, so a file loads only if it is exactly what
// the saver would write for those parameters.  Thread class: non-RT (it
// allocates and does file I/O).
#include "model.h"
#include "chord.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void refresh_meters(CantusModel *m);

enum {
  HEADER_SIZE = 256,                       // bytes of the version-1 header
  HEADER_SIZE_MAX = 4096,                  // larger header_size values are refused
  ALIGN = 64,                              // section and tensor alignment in the file and in memory
  DIR_ENTRY_SIZE = 64,                     // bytes per tensor directory entry
  TENSOR_NAME_LEN = 24,                    // bytes of a tensor name, NUL padded
  MAX_TENSORS = 5 + 3 * CANTUS_MAX_LAYERS, // version 2 adds lb_emb
  GATE_ORDER_IFGO = 0,
  DTYPE_F32 = 0,
  CRC_OFFSET = 24, // header_crc, zeroed while the header CRC is computed
};

// Files over this size are refused before anything is read: the largest
// model the caps allow is about 131 MB.
#define FILE_SIZE_MAX ((uint64_t)512 << 20)
// Bytes a caller may reserve in the model's extra region.
#define EXTRA_SIZE_MAX ((size_t)1 << 30)

// The header as it lies in the file (little-endian; every field at its
// natural alignment, so the struct offsets are the byte offsets).  Bytes
// 0..31 are the stable prefix: every format version keeps them.
typedef struct {
  char magic[8];        // "CANTUSMD"
  uint32_t version;     // CANTUS_FORMAT_VERSION
  uint32_t header_size; // >= 256, multiple of 64; payload starts here
  uint64_t file_size;   // exact size of the file in bytes
  uint32_t header_crc;  // CRC-32 of header_size bytes, this field zeroed
  uint32_t payload_crc; // CRC-32 of bytes header_size .. file_size
  uint32_t n_layers, n_hidden, n_embed, n_style_dim, n_styles, n_pos_tick, n_pos_beat;
  uint32_t n_vocab; // V, must equal the layout's size
  uint32_t pitch_lo, pitch_hi, n_shift, n_vel, tpq;
  uint32_t gate_order; // 0 = i,f,g,o
  uint32_t dtype;      // 0 = fp32
  uint32_t n_tensors;
  uint64_t n_params;
  uint64_t names_offset, names_size;
  uint64_t meta_offset, meta_size;
  uint64_t dir_offset, dir_size;
  uint64_t data_offset, data_size;
  char name[32]; // model name, NUL-terminated, NUL padded
  // Version 2 (zero in version 1, where bytes 200..255 are all reserved):
  uint32_t n_parts;       // parts of the vocabulary, 1..CANTUS_MAX_PARTS
  uint32_t n_dur;         // duration bins, 1..2*tpq+14
  uint32_t lookback_lags; // bit i: lookback at 2^i bars, i = 0..3
  uint32_t n_phrase;      // 0 or 16
  uint32_t n_bars_left;   // 0 or 18
  uint32_t n_chord;       // 0 or 13 (CANTUS_CHORD_INPUTS)
  uint32_t form_flags;    // 0 (reserved)
  uint8_t reserved[28];   // zero
} FileHeader;

_Static_assert(sizeof(FileHeader) == HEADER_SIZE, "the header is 256 bytes");
_Static_assert(offsetof(FileHeader, header_crc) == CRC_OFFSET, "stable prefix");
_Static_assert(offsetof(FileHeader, n_layers) == 32, "stable prefix is 32 bytes");
_Static_assert(offsetof(FileHeader, n_params) == 96, "n_params at 96");
_Static_assert(offsetof(FileHeader, name) == 168, "name at 168");
_Static_assert(offsetof(FileHeader, n_parts) == 200, "version 2 fields at 200");
_Static_assert(offsetof(FileHeader, reserved) == 228, "reserve at 228");
_Static_assert(sizeof(float) == 4, "fp32 is 4 bytes");

// One tensor of the file, in file order.
typedef struct {
  char name[TENSOR_NAME_LEN];
  uint32_t ndim;
  uint32_t shape[2];
  uint64_t count;  // elements
  uint64_t offset; // bytes from the start of the file
  float *data;     // into the model's parameters, or NULL
} TensorSpec;

// Every offset of a file, computed from the dims, header size and metadata
// length alone.
typedef struct {
  uint64_t names_offset, names_size;
  uint64_t meta_offset, meta_size;
  uint64_t dir_offset, dir_size;
  uint64_t data_offset, data_size;
  uint64_t file_size;
  uint32_t n_tensors;
  TensorSpec t[MAX_TENSORS];
} FileLayout;

// The model allocation starts with this block; the public struct comes first
// so a CantusModel pointer is the allocation.
typedef struct {
  CantusModel m;
  CantusWeightType wtype;
  void *net_mem;
  void *state_mem;
} ModelBlock;

static const uint8_t magic_bytes[8] = { 'C', 'A', 'N', 'T', 'U', 'S', 'M', 'D' };

// ---- little-endian access -------------------------------------------------

static uint32_t get32(const uint8_t *b)
{
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get64(const uint8_t *b)
{
  return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

static void put32(uint8_t *b, uint32_t v)
{
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *b, uint64_t v)
{
  put32(b, (uint32_t)v);
  put32(b + 4, (uint32_t)(v >> 32));
}

static uint32_t float_bits(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float bits_float(uint32_t u)
{
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint64_t align_up(uint64_t n)
{
  return (n + (ALIGN - 1)) & ~(uint64_t)(ALIGN - 1);
}

// "NaN", "+Inf", "-Inf", or NULL for a finite float.
static const char *nonfinite_name(uint32_t bits)
{
  if ((bits & 0x7f800000u) != 0x7f800000u) {
    return NULL;
  }
  if (bits & 0x007fffffu) {
    return "NaN";
  }
  return (bits & 0x80000000u) ? "-Inf" : "+Inf";
}

// ---- CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib) ---------

static const uint32_t crc_table[256] = {
  0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
  0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
  0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
  0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
  0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
  0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
  0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
  0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
  0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
  0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
  0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
  0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
  0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
  0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
  0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
  0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
  0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
  0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
  0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
  0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
  0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
  0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
  0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
  0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
  0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
  0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
  0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
  0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
  0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
  0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
  0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
  0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
  0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
  0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
  0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
  0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
  0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t cantus_crc32(uint32_t crc, const void *data, size_t size)
{
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < size; i++) {
    crc = crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
  }
  return ~crc;
}

// CRC-32 of a header of `size` bytes with the header_crc field taken as zero.
static uint32_t header_crc(const uint8_t *b, size_t size)
{
  static const uint8_t zero[4] = { 0, 0, 0, 0 };
  uint32_t crc = cantus_crc32(0, b, CRC_OFFSET);
  crc = cantus_crc32(crc, zero, 4);
  return cantus_crc32(crc, b + CRC_OFFSET + 4, size - CRC_OFFSET - 4);
}

// ---- UTF-8 ------------------------------------------------------------------

// Length (1..4) of the well-formed UTF-8 sequence at s (n bytes available),
// or 0: rejects overlong forms, surrogates, code points over U+10FFFF.
static size_t utf8_len(const uint8_t *s, size_t n)
{
  const uint8_t c = s[0];
  if (c < 0x80) {
    return 1;
  }
  size_t len;
  uint8_t lo = 0x80, hi = 0xbf; // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80;
    hi = c == 0xed ? 0x9f : 0xbf;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < len; i++) {
    if (s[i] < 0x80 || s[i] > 0xbf) {
      return 0;
    }
  }
  return len;
}

static bool is_control(uint8_t c)
{
  return c < 0x20 || c == 0x7f;
}

// Index of the first byte that is not valid text (UTF-8, no NUL, and no
// control characters when `name`), or n when all are.
static size_t bad_text_at(const uint8_t *s, size_t n, bool name)
{
  size_t i = 0;
  while (i < n) {
    if (s[i] == 0 || (name && is_control(s[i]))) {
      return i;
    }
    const size_t len = utf8_len(s + i, n - i);
    if (!len) {
      return i;
    }
    i += len;
  }
  return n;
}

// Copies text into dst (at most max bytes, cut at a character boundary),
// replacing each byte that is not valid text by '?'; returns the length.
// dst is NUL-terminated and needs max + 1 bytes.
static size_t copy_text(char *dst, const char *src, size_t max, bool name)
{
  const uint8_t *s = (const uint8_t *)src;
  const size_t n = strlen(src);
  size_t i = 0, o = 0;
  while (i < n) {
    size_t len = (name && is_control(s[i])) ? 0 : utf8_len(s + i, n - i);
    if (o + (len ? len : 1) > max) {
      break;
    }
    if (len) {
      memmove(dst + o, s + i, len); // src may be dst (set_meta of its own text)
      o += len;
      i += len;
    } else {
      dst[o++] = '?';
      i++;
    }
  }
  dst[o] = '\0';
  return o;
}

// A fixed-size name field: NUL-terminated valid text, zero after the NUL,
// and non-empty unless allow_empty.
static bool name_field_ok(const char *field, size_t size, bool allow_empty)
{
  const uint8_t *f = (const uint8_t *)field;
  const size_t len = strnlen(field, size);
  if (len == size || (len == 0 && !allow_empty) || bad_text_at(f, len, true) != len) {
    return false;
  }
  for (size_t i = len; i < size; i++) {
    if (f[i]) {
      return false;
    }
  }
  return true;
}

// ---- sizes and layout ---------------------------------------------------------

// The vocabulary fields as the file stores them (u32), checked before they
// are narrowed into a CantusVocab.
static CantusStatus check_vocab(uint32_t pitch_lo,
                                uint32_t pitch_hi,
                                uint32_t n_shift,
                                uint32_t n_vel,
                                uint32_t tpq,
                                uint32_t n_parts,
                                uint32_t n_dur,
                                bool v2,
                                CantusError *err)
{
  if (pitch_lo > pitch_hi || pitch_hi > 127) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "pitch range %" PRIu32 "..%" PRIu32 " invalid (need low <= high <= 127)",
                        pitch_lo,
                        pitch_hi);
  }
  if (tpq < 1 || tpq > 96) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "ticks per quarter %" PRIu32 " outside 1..96", tpq);
  }
  if (n_shift < 1 || n_shift > 4 * tpq) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "shift count %" PRIu32 " outside 1..%" PRIu32 " (one 4/4 bar)",
                        n_shift,
                        4 * tpq);
  }
  if (n_vel > 32) {
    return cantus_error(
      err, CANTUS_ERR_TOO_LARGE, "velocity bins %" PRIu32 " over the limit 32", n_vel);
  }
  if (v2) {
    if (n_parts > CANTUS_MAX_PARTS) {
      return cantus_error(err,
                          CANTUS_ERR_TOO_LARGE,
                          "part count %" PRIu32 " over the limit %d",
                          n_parts,
                          CANTUS_MAX_PARTS);
    }
    if (n_parts < 1) {
      return cantus_error(err, CANTUS_ERR_FORMAT, "part count 0 under the minimum 1");
    }
    const uint32_t rule = (uint32_t)cantus_vocab_dur_rule_len((int)tpq);
    if (n_dur < 1 || n_dur > rule) {
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "duration bins %" PRIu32 " outside 1..%" PRIu32 " (the rule at %" PRIu32
                          " ticks per quarter)",
                          n_dur,
                          rule,
                          tpq);
    }
  } else if (n_parts || n_dur) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "version 1 layout with parts or durations");
  }
  const uint32_t n_pitch = pitch_hi - pitch_lo + 1;
  const uint32_t v = 2 + (v2 ? n_parts * n_pitch + n_dur : 2 * n_pitch) + n_shift + n_vel;
  if (v > CANTUS_MAX_VOCAB) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "vocabulary size %" PRIu32 " over the limit %d",
                        v,
                        CANTUS_MAX_VOCAB);
  }
  return CANTUS_OK;
}

static CantusStatus check_range(const char *what,
                                uint32_t v,
                                uint32_t lo,
                                uint32_t hi,
                                CantusError *err)
{
  if (v > hi) {
    return cantus_error(
      err, CANTUS_ERR_TOO_LARGE, "%s %" PRIu32 " over the limit %" PRIu32, what, v, hi);
  }
  if (v < lo) {
    return cantus_error(
      err, CANTUS_ERR_FORMAT, "%s %" PRIu32 " under the minimum %" PRIu32, what, v, lo);
  }
  return CANTUS_OK;
}

// The form inputs: none in version 1; in version 2 lags 1, 2, 4, 8 bars
// (any subset), phrase 0 or 16 classes, bars left 0 or 18, chord 0 or 13.
static CantusStatus check_form(const CantusDims *d, bool v2, CantusError *err)
{
  if (!v2) {
    if (d->lookback_lags || d->n_phrase || d->n_bars_left || d->n_chord) {
      return cantus_error(err, CANTUS_ERR_FORMAT, "form inputs need a version 2 vocabulary");
    }
    return CANTUS_OK;
  }
  if (d->lookback_lags >> CANTUS_LOOKBACK_N_LAGS) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "lookback lags 0x%" PRIx32 " invalid (bits 0..3: 1, 2, 4, 8 bars)",
                        d->lookback_lags);
  }
  if (d->n_phrase != 0 && d->n_phrase != CANTUS_PHRASE_BARS) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "phrase classes %" PRIu32 " invalid (0 or %d)",
                        d->n_phrase,
                        CANTUS_PHRASE_BARS);
  }
  if (d->n_bars_left != 0 && d->n_bars_left != CANTUS_BARS_LEFT_CLASSES) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "bars-left classes %" PRIu32 " invalid (0 or %d)",
                        d->n_bars_left,
                        CANTUS_BARS_LEFT_CLASSES);
  }
  if (d->n_chord != 0 && d->n_chord != CANTUS_CHORD_INPUTS) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "chord inputs %" PRIu32 " unsupported (0 or %d)",
                        d->n_chord,
                        CANTUS_CHORD_INPUTS);
  }
  return CANTUS_OK;
}

CantusStatus cantus_model_check_dims(const CantusDims *d, CantusError *err)
{
  CantusStatus st;
  if ((st = check_range("layer count", d->n_layers, 1, CANTUS_MAX_LAYERS, err)) ||
      (st = check_range("hidden size", d->n_hidden, 16, CANTUS_MAX_HIDDEN, err))) {
    return st;
  }
  if (d->n_hidden % 16) {
    return cantus_error(
      err, CANTUS_ERR_FORMAT, "hidden size %" PRIu32 " is not a multiple of 16", d->n_hidden);
  }
  if ((st = check_range("embedding width", d->n_embed, 1, CANTUS_MAX_EMBED, err)) ||
      (st = check_range("style vector width", d->n_style_dim, 1, CANTUS_MAX_EMBED, err)) ||
      (st = check_range("style count", d->n_styles, 1, CANTUS_MAX_STYLES, err))) {
    return st;
  }
  const CantusVocab *v = &d->vocab;
  const bool v2 = v->n_dur > 0 || v->n_parts > 0;
  if ((st = check_vocab(
         v->pitch_lo, v->pitch_hi, v->n_shift, v->n_vel, v->tpq, v->n_parts, v->n_dur, v2, err))) {
    return st;
  }
  if (!cantus_vocab_valid(v)) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "vocabulary layout invalid");
  }
  if (d->n_pos_tick != v->tpq) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "tick positions %" PRIu32 " differ from the ticks per quarter %u",
                        d->n_pos_tick,
                        (unsigned)v->tpq);
  }
  if (d->n_pos_beat < 1) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "beat positions 0 (need at least 1)");
  }
  if (d->n_pos_tick + d->n_pos_beat > CANTUS_MAX_POS) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "position classes %" PRIu32 " over the limit %d",
                        d->n_pos_tick + d->n_pos_beat,
                        CANTUS_MAX_POS);
  }
  return check_form(d, v2, err);
}

// Fills t[] with every tensor in file order (names, shapes, element counts;
// data pointers from p when p is non-NULL); returns the count.  dims must
// have passed cantus_model_check_dims (layers are clamped for safety).
static uint32_t list_tensors(const CantusDims *d, const CantusParams *p, TensorSpec *t)
{
  const uint32_t V = (uint32_t)cantus_vocab_size(&d->vocab), H = d->n_hidden, G = 4 * H;
  const uint32_t L = d->n_layers < CANTUS_MAX_LAYERS ? d->n_layers : CANTUS_MAX_LAYERS;
  uint32_t n = 0;
  memset(t, 0, sizeof *t * MAX_TENSORS);
#define ADD(label, ptr, rows, cols)                        \
  do {                                                     \
    snprintf(t[n].name, TENSOR_NAME_LEN, "%s", label);     \
    t[n].ndim = (cols) ? 2 : 1;                            \
    t[n].shape[0] = (rows);                                \
    t[n].shape[1] = (cols);                                \
    t[n].count = (uint64_t)(rows) * ((cols) ? (cols) : 1); \
    t[n].data = p ? (ptr) : NULL;                          \
    n++;                                                   \
  } while (0)
  ADD("tok_emb", p->tok_emb, V, d->n_embed);                   // (V, E)
  ADD("style_emb", p->style_emb, d->n_styles, d->n_style_dim); // (NS, S)
  if (d->lookback_lags) {
    ADD("lb_emb", p->lb_emb, cantus_dims_lb_rows(d), d->n_embed); // (V+1, E)
  }
  for (uint32_t k = 0; k < L; k++) {
    char name[TENSOR_NAME_LEN];
    snprintf(name, sizeof name, "l%" PRIu32 ".w_ih", k);
    ADD(name, p->layer[k].w_ih, G, cantus_dims_input(d, k)); // (4H, Ik)
    snprintf(name, sizeof name, "l%" PRIu32 ".w_hh", k);
    ADD(name, p->layer[k].w_hh, G, H); // (4H, H)
    snprintf(name, sizeof name, "l%" PRIu32 ".b", k);
    ADD(name, p->layer[k].b, G, 0); // (4H)
  }
  ADD("out.w", p->w_out, V, H); // (V, H)
  ADD("out.b", p->b_out, V, 0); // (V)
#undef ADD
  return n;
}

size_t cantus_model_param_count(const CantusDims *d)
{
  TensorSpec t[MAX_TENSORS];
  const uint32_t n = list_tensors(d, NULL, t);
  size_t count = 0;
  for (uint32_t i = 0; i < n; i++) {
    count += (size_t)t[i].count;
  }
  return count;
}

void cantus_model_layout(const CantusDims *d, float *base, CantusParams *p)
{
  const size_t V = (size_t)cantus_vocab_size(&d->vocab), H = d->n_hidden, G = 4 * H;
  const uint32_t L = d->n_layers < CANTUS_MAX_LAYERS ? d->n_layers : CANTUS_MAX_LAYERS;
  float *q = base;
  memset(p, 0, sizeof *p);
  p->tok_emb = q; // (V, E)
  q += V * d->n_embed;
  p->style_emb = q; // (NS, S)
  q += (size_t)d->n_styles * d->n_style_dim;
  if (d->lookback_lags) {
    p->lb_emb = q; // (V+1, E)
    q += (size_t)cantus_dims_lb_rows(d) * d->n_embed;
  }
  for (uint32_t k = 0; k < L; k++) {
    p->layer[k].w_ih = q; // (4H, Ik)
    q += G * cantus_dims_input(d, k);
    p->layer[k].w_hh = q; // (4H, H)
    q += G * H;
    p->layer[k].b = q; // (4H)
    q += G;
  }
  p->w_out = q; // (V, H)
  q += V * H;
  p->b_out = q; // (V)
}

// Every offset of the file for these sizes.  Bounded: dims are checked,
// header_size <= HEADER_SIZE_MAX and meta_size <= CANTUS_META_MAX, so no
// sum here can overflow 64 bits.
static void plan_file(const CantusDims *d,
                      const CantusParams *p,
                      uint32_t header_size,
                      uint64_t meta_size,
                      FileLayout *f)
{
  memset(f, 0, sizeof *f);
  f->n_tensors = list_tensors(d, p, f->t);
  f->names_offset = align_up(header_size);
  f->names_size = ((uint64_t)d->n_styles + d->vocab.n_parts) * CANTUS_STYLE_NAME_LEN;
  f->meta_offset = align_up(f->names_offset + f->names_size);
  f->meta_size = meta_size;
  f->dir_offset = align_up(f->meta_offset + f->meta_size);
  f->dir_size = (uint64_t)f->n_tensors * DIR_ENTRY_SIZE;
  f->data_offset = align_up(f->dir_offset + f->dir_size);
  uint64_t end = f->data_offset;
  for (uint32_t i = 0; i < f->n_tensors; i++) {
    f->t[i].offset = align_up(end);
    end = f->t[i].offset + 4 * f->t[i].count;
  }
  f->data_size = end - f->data_offset;
  f->file_size = end;
}

static void encode_dir_entry(uint8_t *b, const TensorSpec *t)
{
  memset(b, 0, DIR_ENTRY_SIZE);
  memcpy(b, t->name, TENSOR_NAME_LEN);
  put32(b + 24, DTYPE_F32);
  put32(b + 28, t->ndim);
  put32(b + 32, t->shape[0]);
  put32(b + 36, t->shape[1]);
  // shape[2], shape[3] at 40, 44 stay zero
  put64(b + 48, t->offset);
  put64(b + 56, 4 * t->count);
}

// ---- the allocation -------------------------------------------------------------

CantusModelOptions cantus_model_options_default(void)
{
  return (CantusModelOptions){ .weights = CANTUS_WEIGHTS_F16, .extra_size = 0 };
}

// Allocates and lays out a zeroed model for checked dims.  `who` names the
// file (or "model") in messages.
static CantusStatus alloc_model(const CantusDims *d,
                                const CantusModelOptions *opt,
                                const char *who,
                                ModelBlock **out,
                                CantusError *err)
{
  const CantusModelOptions o = opt ? *opt : cantus_model_options_default();
  *out = NULL;
  if (o.weights != CANTUS_WEIGHTS_F32 && o.weights != CANTUS_WEIGHTS_F16) {
    return cantus_error(
      err, CANTUS_ERR_ARGUMENT, "%s: unknown run-time weight type %d", who, (int)o.weights);
  }
  if (o.extra_size > EXTRA_SIZE_MAX) {
    return cantus_error(
      err, CANTUS_ERR_ARGUMENT, "%s: extra region of %zu bytes over the limit", who, o.extra_size);
  }
  const size_t V = (size_t)cantus_vocab_size(&d->vocab);
  const size_t n_params = cantus_model_param_count(d);
  // Offsets of each part, all 64-byte aligned.
  size_t at = align_up(sizeof(ModelBlock));
  const size_t names_at = at;
  at = align_up(at + (size_t)d->n_styles * CANTUS_STYLE_NAME_LEN);
  const size_t parts_at = at;
  at = align_up(at + (size_t)CANTUS_MAX_PARTS * CANTUS_STYLE_NAME_LEN);
  const size_t meta_at = at;
  at = align_up(at + CANTUS_META_MAX + 1);
  const size_t params_at = at;
  at = align_up(at + n_params * sizeof(float));
  const size_t net_at = at;
  at = align_up(at + cantus_lstm_net_size(d, o.weights));
  const size_t state_at = at;
  at = align_up(at + cantus_lstm_state_size(d));
  const size_t logits_at = at;
  at = align_up(at + V * sizeof(float));
  const size_t extra_at = at;
  at = align_up(at + o.extra_size);

  void *mem = NULL;
  if (posix_memalign(&mem, ALIGN, at) != 0 || !mem) {
    return cantus_error(
      err, CANTUS_ERR_NO_MEMORY, "%s: out of memory (%zu bytes for the model)", who, at);
  }
  memset(mem, 0, at);
  uint8_t *base = mem;
  ModelBlock *blk = mem;
  CantusModel *m = &blk->m;
  m->dims = *d;
  m->n_params = (uint32_t)n_params;
  m->style_names = (char(*)[CANTUS_STYLE_NAME_LEN])(void *)(base + names_at);
  m->part_names = (char(*)[CANTUS_STYLE_NAME_LEN])(void *)(base + parts_at);
  m->meta = (char *)(base + meta_at);
  cantus_model_layout(d, (float *)(void *)(base + params_at), &m->p);
  m->logits = (float *)(void *)(base + logits_at);
  m->extra = o.extra_size ? base + extra_at : NULL;
  m->extra_size = o.extra_size;
  m->alloc_size = at;
  m->version = cantus_dims_is_v2(d) ? 2 : 1;
  blk->wtype = o.weights;
  blk->net_mem = base + net_at;
  blk->state_mem = base + state_at;
  *out = blk;
  return CANTUS_OK;
}

void cantus_model_finish(CantusModel *m)
{
  ModelBlock *blk = (ModelBlock *)m;
  cantus_lstm_prepare(&m->net, blk->net_mem, &m->dims, &m->p, blk->wtype);
  cantus_lstm_state_init(&m->state, blk->state_mem, &m->net);
  memset(m->logits, 0, (size_t)cantus_vocab_size(&m->dims.vocab) * sizeof(float));
}

CantusStatus cantus_model_create(const CantusDims *dims,
                                 const CantusModelOptions *opt,
                                 CantusModel **out,
                                 CantusError *err)
{
  if (!out || !dims) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "model: NULL argument");
  }
  *out = NULL;
  CantusError e;
  CantusStatus st = cantus_model_check_dims(dims, &e);
  if (st) {
    return cantus_error(err, st, "model: %s", e.msg);
  }
  ModelBlock *blk;
  if ((st = alloc_model(dims, opt, "model", &blk, err))) {
    return st;
  }
  for (uint32_t i = 0; i < dims->n_styles; i++) {
    snprintf(blk->m.style_names[i], CANTUS_STYLE_NAME_LEN, "style%" PRIu32, i);
  }
  for (uint32_t i = 0; i < dims->vocab.n_parts; i++) {
    snprintf(blk->m.part_names[i], CANTUS_STYLE_NAME_LEN, "part%" PRIu32, i);
  }
  cantus_model_finish(&blk->m);
  *out = &blk->m;
  return CANTUS_OK;
}

void cantus_model_free(CantusModel *m)
{
  free(m);
}

void cantus_model_set_style_name(CantusModel *m, int i, const char *name)
{
  if (!m || i < 0 || (uint32_t)i >= m->dims.n_styles) {
    return;
  }
  char buf[CANTUS_STYLE_NAME_LEN] = { 0 }; // name may point into the field itself
  if (!name || !copy_text(buf, name, CANTUS_STYLE_NAME_LEN - 1, true)) {
    snprintf(buf, sizeof buf, "style%d", i);
  }
  memcpy(m->style_names[i], buf, sizeof buf);
  refresh_meters(m);
}

CantusStatus cantus_model_set_meta(CantusModel *m, const char *text, CantusError *err)
{
  if (!m) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "model: NULL argument");
  }
  const size_t len = text ? strlen(text) : 0;
  if (len > CANTUS_META_MAX) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "model: metadata of %zu bytes over the limit %d",
                        len,
                        CANTUS_META_MAX);
  }
  copy_text(m->meta, text ? text : "", CANTUS_META_MAX, false);
  refresh_meters(m);
  return CANTUS_OK;
}

void cantus_model_set_part_name(CantusModel *m, int i, const char *name)
{
  if (!m || i < 0 || i >= m->dims.vocab.n_parts) {
    return;
  }
  char buf[CANTUS_STYLE_NAME_LEN] = { 0 };
  if (!name || !copy_text(buf, name, CANTUS_STYLE_NAME_LEN - 1, true)) {
    snprintf(buf, sizeof buf, "part%d", i);
  }
  memcpy(m->part_names[i], buf, sizeof buf);
}

int cantus_model_find_part(const CantusModel *m, const char *name)
{
  if (!m || !name) {
    return -1;
  }
  for (int i = 0; i < m->dims.vocab.n_parts; i++) {
    if (!strcasecmp(m->part_names[i], name)) {
      return i;
    }
  }
  return -1;
}

int cantus_model_find_style(const CantusModel *m, const char *s)
{
  if (!m || !s || !*s) {
    return -1;
  }
  for (uint32_t i = 0; i < m->dims.n_styles; i++) {
    if (!strcasecmp(m->style_names[i], s)) {
      return (int)i;
    }
  }
  // A number counted from 1, as every tool lists the styles ("1:ashover"):
  // digits only, no sign, no spaces.
  long v = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9' || v > CANTUS_MAX_STYLES) {
      return -1;
    }
    v = v * 10 + (*c - '0');
  }
  return v >= 1 && v <= (long)m->dims.n_styles ? (int)v - 1 : -1;
}

bool cantus_model_meta_get(const CantusModel *m, const char *key, char *buf, size_t n)
{
  const size_t kl = key ? strlen(key) : 0;
  if (!m || !m->meta || !kl || !buf || !n) {
    return false;
  }
  for (const char *line = m->meta; *line;) {
    const char *end = strchr(line, '\n');
    const size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len > kl && !strncmp(line, key, kl) && line[kl] == ':') {
      const char *v = line + kl + 1, *e = line + len;
      while (v < e && (*v == ' ' || *v == '\t')) {
        v++;
      }
      while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        e--;
      }
      snprintf(buf, n, "%.*s", (int)(e - v), v);
      return true;
    }
    line = end ? end + 1 : line + len;
  }
  return false;
}

int cantus_model_default_style(const CantusModel *m)
{
  char name[64];
  if (!cantus_model_meta_get(m, "default_style", name, sizeof name)) {
    return 0;
  }
  const int s = cantus_model_find_style(m, name);
  return s >= 0 ? s : 0;
}

// ---- the styles' metres ------------------------------------------------------------

// Parses "N/D" in [p, e) (blanks around it allowed): N 1..32, D 1, 2, 4, 8
// or 16, nothing else.  Digits are counted, so no overflow on long input.
static bool parse_meter(const char *p, const char *e, int *num, int *den)
{
  int v[2] = { 0, 0 };
  for (int k = 0; k < 2; k++) {
    while (p < e && (*p == ' ' || *p == '\t')) {
      p++;
    }
    int n_digits = 0;
    while (p < e && *p >= '0' && *p <= '9' && n_digits < 3) {
      v[k] = v[k] * 10 + (*p++ - '0');
      n_digits++;
    }
    if (n_digits == 0 || (p < e && *p >= '0' && *p <= '9')) {
      return false;
    }
    while (p < e && (*p == ' ' || *p == '\t')) {
      p++;
    }
    if (k == 0) {
      if (p >= e || *p != '/') {
        return false;
      }
      p++;
    }
  }
  if (p != e || v[0] < 1 || v[0] > 32 ||
      (v[1] != 1 && v[1] != 2 && v[1] != 4 && v[1] != 8 && v[1] != 16)) {
    return false;
  }
  *num = v[0];
  *den = v[1];
  return true;
}

// The style named by [p, e) (blanks trimmed, case-insensitive), or -1.
static int style_of_name(const CantusModel *m, const char *p, const char *e)
{
  while (p < e && (*p == ' ' || *p == '\t')) {
    p++;
  }
  while (e > p && (e[-1] == ' ' || e[-1] == '\t')) {
    e--;
  }
  const size_t len = (size_t)(e - p);
  for (uint32_t i = 0; i < m->dims.n_styles && len > 0 && len < CANTUS_STYLE_NAME_LEN; i++) {
    if (strlen(m->style_names[i]) == len && !strncasecmp(m->style_names[i], p, len)) {
      return (int)i;
    }
  }
  return -1;
}

// Fills m->style_meter from the metadata: the "meter:" list first, then the
// "metre.NAME:" lines for the styles it leaves out.
static void refresh_meters(CantusModel *m)
{
  memset(m->style_meter, 0, sizeof m->style_meter);
  if (!m->meta) {
    return;
  }
  for (int pass = 0; pass < 2; pass++) {
    for (const char *line = m->meta; *line;) {
      const char *end = strchr(line, '\n');
      const char *e = end ? end : line + strlen(line);
      if (pass == 0 && e - line > 6 && !strncmp(line, "meter:", 6)) {
        for (const char *q = line + 6; q < e;) {
          const char *c = memchr(q, ',', (size_t)(e - q));
          const char *ie = c ? c : e;
          if (ie > q && ie[-1] == '\r') {
            ie--;
          }
          const char *eq = memchr(q, '=', (size_t)(ie - q));
          int s = eq ? style_of_name(m, q, eq) : -1, num = 0, den = 0;
          if (s >= 0 && !m->style_meter[s][0] && parse_meter(eq + 1, ie, &num, &den)) {
            m->style_meter[s][0] = (uint8_t)num;
            m->style_meter[s][1] = (uint8_t)den;
          }
          q = c ? c + 1 : e;
        }
      } else if (pass == 1 && e - line > 6 && !strncmp(line, "metre.", 6)) {
        const char *colon = memchr(line, ':', (size_t)(e - line));
        const char *ve = e > line && e[-1] == '\r' ? e - 1 : e;
        int s = colon ? style_of_name(m, line + 6, colon) : -1, num = 0, den = 0;
        if (s >= 0 && !m->style_meter[s][0] && colon < ve &&
            parse_meter(colon + 1, ve, &num, &den)) {
          m->style_meter[s][0] = (uint8_t)num;
          m->style_meter[s][1] = (uint8_t)den;
        }
      }
      line = end ? end + 1 : e;
    }
  }
}

CANTUS_RT bool cantus_model_style_meter(const CantusModel *m, int s, int *num, int *den)
{
  *num = 4;
  *den = 4;
  if (!m || s < 0 || (uint32_t)s >= m->dims.n_styles || s >= CANTUS_MAX_STYLES ||
      !m->style_meter[s][0]) {
    return false;
  }
  *num = m->style_meter[s][0];
  *den = m->style_meter[s][1];
  return true;
}

// ---- saving ---------------------------------------------------------------------

// Index of the first non-finite value in a tensor, or count if none.
static uint64_t first_nonfinite(const float *x, uint64_t count)
{
  for (uint64_t i = 0; i < count; i++) {
    if (nonfinite_name(float_bits(x[i]))) {
      return i;
    }
  }
  return count;
}

// Serialises m into a new buffer.  Refuses a model the loader would refuse,
// so every saved file loads.  `who` names the destination in messages.
static CantusStatus serialise(const CantusModel *m,
                              const char *who,
                              uint8_t **data,
                              size_t *size,
                              CantusError *err)
{
  *data = NULL;
  *size = 0;
  CantusError e;
  CantusStatus st = cantus_model_check_dims(&m->dims, &e);
  if (st) {
    return cantus_error(err, st, "%s: cannot save: %s", who, e.msg);
  }
  if (!name_field_ok(m->name, sizeof m->name, true)) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: cannot save: model name is not "
                        "NUL-terminated UTF-8 text",
                        who);
  }
  for (uint32_t i = 0; i < m->dims.n_styles; i++) {
    if (!name_field_ok(m->style_names[i], CANTUS_STYLE_NAME_LEN, false)) {
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "%s: cannot save: style %" PRIu32 " name is empty or not UTF-8 text",
                          who,
                          i);
    }
  }
  for (uint32_t i = 0; i < m->dims.vocab.n_parts; i++) {
    if (!name_field_ok(m->part_names[i], CANTUS_STYLE_NAME_LEN, false)) {
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "%s: cannot save: part %" PRIu32 " name is empty or not UTF-8 text",
                          who,
                          i);
    }
  }
  const size_t meta_len = strnlen(m->meta, CANTUS_META_MAX + 1);
  if (meta_len > CANTUS_META_MAX) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: cannot save: metadata over the limit %d",
                        who,
                        CANTUS_META_MAX);
  }
  if (bad_text_at((const uint8_t *)m->meta, meta_len, false) != meta_len) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "%s: cannot save: metadata is not UTF-8 text", who);
  }
  FileLayout f;
  plan_file(&m->dims, &m->p, HEADER_SIZE, meta_len, &f);
  for (uint32_t i = 0; i < f.n_tensors; i++) {
    const uint64_t at = first_nonfinite(f.t[i].data, f.t[i].count);
    if (at < f.t[i].count) {
      return cantus_error(err,
                          CANTUS_ERR_NOT_FINITE,
                          "%s: cannot save: tensor %s holds %s at "
                          "element %" PRIu64,
                          who,
                          f.t[i].name,
                          nonfinite_name(float_bits(f.t[i].data[at])),
                          at);
    }
  }
  uint8_t *b = calloc(1, (size_t)f.file_size);
  if (!b) {
    return cantus_error(
      err, CANTUS_ERR_NO_MEMORY, "%s: out of memory (%" PRIu64 " bytes)", who, f.file_size);
  }
  const CantusDims *d = &m->dims;
  memcpy(b, magic_bytes, 8);
  const bool v2 = cantus_dims_is_v2(d);
  put32(b + offsetof(FileHeader, version), v2 ? 2 : 1);
  put32(b + offsetof(FileHeader, header_size), HEADER_SIZE);
  put64(b + offsetof(FileHeader, file_size), f.file_size);
  put32(b + offsetof(FileHeader, n_layers), d->n_layers);
  put32(b + offsetof(FileHeader, n_hidden), d->n_hidden);
  put32(b + offsetof(FileHeader, n_embed), d->n_embed);
  put32(b + offsetof(FileHeader, n_style_dim), d->n_style_dim);
  put32(b + offsetof(FileHeader, n_styles), d->n_styles);
  put32(b + offsetof(FileHeader, n_pos_tick), d->n_pos_tick);
  put32(b + offsetof(FileHeader, n_pos_beat), d->n_pos_beat);
  put32(b + offsetof(FileHeader, n_vocab), (uint32_t)cantus_vocab_size(&d->vocab));
  put32(b + offsetof(FileHeader, pitch_lo), d->vocab.pitch_lo);
  put32(b + offsetof(FileHeader, pitch_hi), d->vocab.pitch_hi);
  put32(b + offsetof(FileHeader, n_shift), d->vocab.n_shift);
  put32(b + offsetof(FileHeader, n_vel), d->vocab.n_vel);
  put32(b + offsetof(FileHeader, tpq), d->vocab.tpq);
  put32(b + offsetof(FileHeader, gate_order), GATE_ORDER_IFGO);
  put32(b + offsetof(FileHeader, dtype), DTYPE_F32);
  put32(b + offsetof(FileHeader, n_tensors), f.n_tensors);
  put64(b + offsetof(FileHeader, n_params), cantus_model_param_count(d));
  put64(b + offsetof(FileHeader, names_offset), f.names_offset);
  put64(b + offsetof(FileHeader, names_size), f.names_size);
  put64(b + offsetof(FileHeader, meta_offset), f.meta_offset);
  put64(b + offsetof(FileHeader, meta_size), f.meta_size);
  put64(b + offsetof(FileHeader, dir_offset), f.dir_offset);
  put64(b + offsetof(FileHeader, dir_size), f.dir_size);
  put64(b + offsetof(FileHeader, data_offset), f.data_offset);
  put64(b + offsetof(FileHeader, data_size), f.data_size);
  memcpy(b + offsetof(FileHeader, name), m->name, sizeof m->name);
  if (v2) {
    put32(b + offsetof(FileHeader, n_parts), d->vocab.n_parts);
    put32(b + offsetof(FileHeader, n_dur), d->vocab.n_dur);
    put32(b + offsetof(FileHeader, lookback_lags), d->lookback_lags);
    put32(b + offsetof(FileHeader, n_phrase), d->n_phrase);
    put32(b + offsetof(FileHeader, n_bars_left), d->n_bars_left);
    put32(b + offsetof(FileHeader, n_chord), d->n_chord);
  }

  const size_t style_bytes = (size_t)d->n_styles * CANTUS_STYLE_NAME_LEN;
  memcpy(b + f.names_offset, m->style_names, style_bytes);
  memcpy(b + f.names_offset + style_bytes,
         m->part_names,
         (size_t)d->vocab.n_parts * CANTUS_STYLE_NAME_LEN);
  memcpy(b + f.meta_offset, m->meta, meta_len);
  for (uint32_t i = 0; i < f.n_tensors; i++) {
    const TensorSpec *t = &f.t[i];
    encode_dir_entry(b + f.dir_offset + (uint64_t)i * DIR_ENTRY_SIZE, t);
    uint8_t *q = b + t->offset;
    for (uint64_t j = 0; j < t->count; j++) {
      put32(q + 4 * j, float_bits(t->data[j]));
    }
  }
  put32(b + offsetof(FileHeader, payload_crc),
        cantus_crc32(0, b + HEADER_SIZE, (size_t)(f.file_size - HEADER_SIZE)));
  put32(b + CRC_OFFSET, header_crc(b, HEADER_SIZE));
  *data = b;
  *size = (size_t)f.file_size;
  return CANTUS_OK;
}

CantusStatus cantus_model_save_mem(const CantusModel *m,
                                   void **data,
                                   size_t *size,
                                   CantusError *err)
{
  if (!m || !data || !size) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "model: NULL argument");
  }
  uint8_t *b;
  CantusStatus st = serialise(m, "model", &b, size, err);
  *data = b;
  return st;
}

CantusStatus cantus_model_save(const CantusModel *m, const char *path, CantusError *err)
{
  if (!m || !path) {
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "model: NULL argument");
  }
  uint8_t *b;
  size_t size;
  CantusStatus st = serialise(m, path, &b, &size, err);
  if (st) {
    return st;
  }
  const size_t len = strlen(path);
  char *tmp = malloc(len + 5);
  if (!tmp) {
    free(b);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory", path);
  }
  memcpy(tmp, path, len);
  memcpy(tmp + len, ".tmp", 5);
  FILE *fp = fopen(tmp, "wb");
  if (!fp) {
    st = cantus_error(err, CANTUS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
  } else {
    const bool ok = fwrite(b, 1, size, fp) == size && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    const int e = errno;
    if (fclose(fp) != 0 || !ok) {
      st = cantus_error(err, CANTUS_ERR_IO, "%s: cannot write: %s", tmp, strerror(ok ? errno : e));
    } else if (rename(tmp, path) != 0) {
      st = cantus_error(
        err, CANTUS_ERR_IO, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
    }
    if (st) {
      remove(tmp);
    }
  }
  free(tmp);
  free(b);
  return st;
}

// ---- loading --------------------------------------------------------------------

// Checks that a section recorded in the header sits where the sizes put it.
static CantusStatus check_section(const char *who,
                                  const char *what,
                                  const uint8_t *b,
                                  size_t off_field,
                                  uint64_t want_off,
                                  uint64_t want_size,
                                  CantusError *err)
{
  const uint64_t off = get64(b + off_field), size = get64(b + off_field + 8);
  if (off != want_off || size != want_size) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: %s section at byte %" PRIu64 " (%" PRIu64
                        " bytes) where the sizes in the header put it at byte %" PRIu64 " (%" PRIu64
                        " bytes)",
                        who,
                        what,
                        off,
                        size,
                        want_off,
                        want_size);
  }
  return CANTUS_OK;
}

// Refuses non-zero bytes in [from, to): padding between sections and tensors.
static CantusStatus check_zero(const char *who,
                               const uint8_t *b,
                               uint64_t from,
                               uint64_t to,
                               CantusError *err)
{
  for (uint64_t i = from; i < to; i++) {
    if (b[i]) {
      return cantus_error(
        err, CANTUS_ERR_FORMAT, "%s: padding byte %" PRIu64 " is not zero", who, i);
    }
  }
  return CANTUS_OK;
}

// The loader's checks, in the order they run (the first failure is the one
// reported, so the order is part of the behaviour): the header's prefix and
// sizes, the payload checksum, the dimensions, the sections' places, the
// tensor directory and padding, the text fields, finiteness.

// Magic, header size, header CRC, version, and the file's exact size.
static CantusStatus check_header(const uint8_t *b,
                                 size_t size,
                                 const char *who,
                                 uint32_t *hsize_out,
                                 uint64_t *fsize_out,
                                 CantusError *err)
{
  if (size < 8) {
    if (memcmp(b, magic_bytes, size) == 0) {
      return cantus_error(err,
                          CANTUS_ERR_TRUNCATED,
                          "%s: truncated: %zu bytes, shorter than "
                          "the %d-byte header",
                          who,
                          size,
                          HEADER_SIZE);
    }
    return cantus_error(err, CANTUS_ERR_BAD_MAGIC, "%s: bad magic (not a .cantus model)", who);
  }
  if (memcmp(b, magic_bytes, 8) != 0) {
    return cantus_error(err, CANTUS_ERR_BAD_MAGIC, "%s: bad magic (not a .cantus model)", who);
  }
  if (size < 32) {
    return cantus_error(err,
                        CANTUS_ERR_TRUNCATED,
                        "%s: truncated: %zu bytes, shorter than the "
                        "%d-byte header",
                        who,
                        size,
                        HEADER_SIZE);
  }
  // The stable prefix: header size, file size, the two CRCs.
  const uint32_t hsize = *hsize_out = get32(b + offsetof(FileHeader, header_size));
  const uint64_t fsize = *fsize_out = get64(b + offsetof(FileHeader, file_size));
  if (hsize > HEADER_SIZE_MAX) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: header size %" PRIu32 " over the limit %d (damaged header)",
                        who,
                        hsize,
                        HEADER_SIZE_MAX);
  }
  if (hsize < HEADER_SIZE || hsize % ALIGN) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: header size %" PRIu32 " invalid (a multiple "
                        "of %d, at least %d; damaged header)",
                        who,
                        hsize,
                        ALIGN,
                        HEADER_SIZE);
  }
  if (size < hsize) {
    return cantus_error(err,
                        CANTUS_ERR_TRUNCATED,
                        "%s: truncated: %zu of %" PRIu64 " bytes",
                        who,
                        size,
                        fsize > hsize ? fsize : (uint64_t)hsize);
  }
  if (header_crc(b, hsize) != get32(b + CRC_OFFSET)) {
    return cantus_error(
      err, CANTUS_ERR_CHECKSUM, "%s: header CRC-32 mismatch (header damaged)", who);
  }
  const uint32_t version = get32(b + offsetof(FileHeader, version));
  if (version > CANTUS_FORMAT_VERSION) {
    return cantus_error(err,
                        CANTUS_ERR_VERSION,
                        "%s: format version %" PRIu32 " is newer than this build reads (%d)",
                        who,
                        version,
                        CANTUS_FORMAT_VERSION);
  }
  if (version < 1) {
    return cantus_error(err, CANTUS_ERR_FORMAT, "%s: format version 0 is invalid", who);
  }
  if (fsize > FILE_SIZE_MAX) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: declared size %" PRIu64 " bytes over the limit %" PRIu64,
                        who,
                        fsize,
                        FILE_SIZE_MAX);
  }
  if (size < fsize) {
    return cantus_error(
      err, CANTUS_ERR_TRUNCATED, "%s: truncated: %zu of %" PRIu64 " bytes", who, size, fsize);
  }
  if (size > fsize) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: %zu bytes where the header declares %" PRIu64 " (trailing bytes)",
                        who,
                        size,
                        fsize);
  }
  return CANTUS_OK;
}

static CantusStatus check_checksum(const uint8_t *b,
                                   size_t size,
                                   const char *who,
                                   uint32_t hsize,
                                   CantusError *err)
{
  if (cantus_crc32(0, b + hsize, size - hsize) != get32(b + offsetof(FileHeader, payload_crc))) {
    return cantus_error(err, CANTUS_ERR_CHECKSUM, "%s: CRC-32 mismatch (file damaged)", who);
  }

  return CANTUS_OK;
}

// The fields of version 1: reserved bytes, gate order, weight type, the
// vocabulary and the network's dimensions (into *d), vocabulary size and
// parameter count.
static CantusStatus read_dims(const uint8_t *b, const char *who, CantusDims *d, CantusError *err)
{
  // The fields of versions 1 and 2.  Bytes hsize > 256 adds are skipped.
  const bool v2 = get32(b + offsetof(FileHeader, version)) >= 2;
  const size_t reserved_from = v2 ? offsetof(FileHeader, reserved) : offsetof(FileHeader, n_parts);
  for (size_t i = reserved_from; i < HEADER_SIZE; i++) {
    if (b[i]) {
      return cantus_error(
        err, CANTUS_ERR_FORMAT, "%s: reserved header byte %zu is not zero", who, i);
    }
  }
  const uint32_t gate = get32(b + offsetof(FileHeader, gate_order));
  if (gate != GATE_ORDER_IFGO) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: gate order %" PRIu32 " unsupported (this build reads 0 = i,f,g,o)",
                        who,
                        gate);
  }
  const uint32_t dtype = get32(b + offsetof(FileHeader, dtype));
  if (dtype != DTYPE_F32) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: weight type %" PRIu32 " unsupported (this build reads 0 = fp32)",
                        who,
                        dtype);
  }
  const uint32_t flags = get32(b + offsetof(FileHeader, form_flags));
  if (flags) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: form flags 0x%" PRIx32 " unsupported (this build reads 0)",
                        who,
                        flags);
  }
  CantusError e;
  CantusStatus st = check_vocab(get32(b + offsetof(FileHeader, pitch_lo)),
                                get32(b + offsetof(FileHeader, pitch_hi)),
                                get32(b + offsetof(FileHeader, n_shift)),
                                get32(b + offsetof(FileHeader, n_vel)),
                                get32(b + offsetof(FileHeader, tpq)),
                                get32(b + offsetof(FileHeader, n_parts)),
                                get32(b + offsetof(FileHeader, n_dur)),
                                v2,
                                &e);
  if (st) {
    return cantus_error(err, st, "%s: %s", who, e.msg);
  }
  memset(d, 0, sizeof *d);
  d->n_layers = get32(b + offsetof(FileHeader, n_layers));
  d->n_hidden = get32(b + offsetof(FileHeader, n_hidden));
  d->n_embed = get32(b + offsetof(FileHeader, n_embed));
  d->n_style_dim = get32(b + offsetof(FileHeader, n_style_dim));
  d->n_styles = get32(b + offsetof(FileHeader, n_styles));
  d->n_pos_tick = get32(b + offsetof(FileHeader, n_pos_tick));
  d->n_pos_beat = get32(b + offsetof(FileHeader, n_pos_beat));
  d->vocab.pitch_lo = (uint8_t)get32(b + offsetof(FileHeader, pitch_lo));
  d->vocab.pitch_hi = (uint8_t)get32(b + offsetof(FileHeader, pitch_hi));
  d->vocab.n_shift = (uint16_t)get32(b + offsetof(FileHeader, n_shift));
  d->vocab.n_vel = (uint16_t)get32(b + offsetof(FileHeader, n_vel));
  d->vocab.tpq = (uint16_t)get32(b + offsetof(FileHeader, tpq));
  d->vocab.n_parts = (uint16_t)get32(b + offsetof(FileHeader, n_parts));
  d->vocab.n_dur = (uint16_t)get32(b + offsetof(FileHeader, n_dur));
  d->lookback_lags = get32(b + offsetof(FileHeader, lookback_lags));
  d->n_phrase = get32(b + offsetof(FileHeader, n_phrase));
  d->n_bars_left = get32(b + offsetof(FileHeader, n_bars_left));
  d->n_chord = get32(b + offsetof(FileHeader, n_chord));
  if ((st = cantus_model_check_dims(d, &e))) {
    return cantus_error(err, st, "%s: %s", who, e.msg);
  }
  const uint32_t n_vocab = get32(b + offsetof(FileHeader, n_vocab));
  if (n_vocab != (uint32_t)cantus_vocab_size(&d->vocab)) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: vocabulary size %" PRIu32 " does not match its layout (%d tokens)",
                        who,
                        n_vocab,
                        cantus_vocab_size(&d->vocab));
  }
  const uint64_t n_params = get64(b + offsetof(FileHeader, n_params));
  if (n_params != cantus_model_param_count(d)) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: parameter count %" PRIu64 " does not match the sizes (%zu)",
                        who,
                        n_params,
                        cantus_model_param_count(d));
  }
  return CANTUS_OK;
}

// Metadata size, tensor count, the sections where the sizes put them (*f),
// and the file size they add up to.
static CantusStatus check_sections(const uint8_t *b,
                                   const char *who,
                                   uint32_t hsize,
                                   uint64_t fsize,
                                   const CantusDims *d,
                                   FileLayout *f,
                                   CantusError *err)
{
  CantusStatus st;
  const uint64_t meta_size = get64(b + offsetof(FileHeader, meta_size));
  if (meta_size > CANTUS_META_MAX) {
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: metadata of %" PRIu64 " bytes over the limit %d",
                        who,
                        meta_size,
                        CANTUS_META_MAX);
  }
  plan_file(d, NULL, hsize, meta_size, f);
  const uint32_t n_tensors = get32(b + offsetof(FileHeader, n_tensors));
  if (n_tensors != f->n_tensors) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: %" PRIu32 " tensors where %" PRIu32 " layers need %" PRIu32,
                        who,
                        n_tensors,
                        d->n_layers,
                        f->n_tensors);
  }
  if ((st = check_section(who,
                          "style name",
                          b,
                          offsetof(FileHeader, names_offset),
                          f->names_offset,
                          f->names_size,
                          err)) ||
      (st = check_section(who,
                          "metadata",
                          b,
                          offsetof(FileHeader, meta_offset),
                          f->meta_offset,
                          f->meta_size,
                          err)) ||
      (st = check_section(who,
                          "tensor directory",
                          b,
                          offsetof(FileHeader, dir_offset),
                          f->dir_offset,
                          f->dir_size,
                          err)) ||
      (st = check_section(who,
                          "tensor data",
                          b,
                          offsetof(FileHeader, data_offset),
                          f->data_offset,
                          f->data_size,
                          err))) {
    return st;
  }
  if (fsize != f->file_size) {
    return cantus_error(err,
                        CANTUS_ERR_FORMAT,
                        "%s: file size %" PRIu64 " does not match the sizes in the header (%" PRIu64
                        ")",
                        who,
                        fsize,
                        f->file_size);
  }
  return CANTUS_OK;
}

static CantusStatus check_tensors(const uint8_t *b,
                                  const char *who,
                                  const FileLayout *f,
                                  CantusError *err)
{
  CantusStatus st;
  // The directory must be exactly the one the sizes imply.
  for (uint32_t i = 0; i < f->n_tensors; i++) {
    uint8_t want[DIR_ENTRY_SIZE];
    const uint8_t *got = b + f->dir_offset + (uint64_t)i * DIR_ENTRY_SIZE;
    encode_dir_entry(want, &f->t[i]);
    if (memcmp(want, got, DIR_ENTRY_SIZE) != 0) {
      char name[TENSOR_NAME_LEN + 1];
      size_t n = 0;
      for (; n < TENSOR_NAME_LEN && got[n] >= 0x20 && got[n] < 0x7f; n++) {
        name[n] = (char)got[n];
      }
      name[n] = '\0';
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "%s: tensor directory entry %" PRIu32
                          " (\"%s\") does not match the sizes in the header: expected %s "
                          "(%" PRIu32 "x%" PRIu32 ") at byte %" PRIu64,
                          who,
                          i,
                          name,
                          f->t[i].name,
                          f->t[i].shape[0],
                          f->t[i].shape[1] ? f->t[i].shape[1] : 1,
                          f->t[i].offset);
    }
  }
  // Padding between sections and between tensors is zero.
  if ((st = check_zero(who, b, f->names_offset + f->names_size, f->meta_offset, err)) ||
      (st = check_zero(who, b, f->meta_offset + f->meta_size, f->dir_offset, err)) ||
      (st = check_zero(who, b, f->dir_offset + f->dir_size, f->data_offset, err))) {
    return st;
  }
  for (uint32_t i = 1; i < f->n_tensors; i++) {
    if ((st =
           check_zero(who, b, f->t[i - 1].offset + 4 * f->t[i - 1].count, f->t[i].offset, err))) {
      return st;
    }
  }
  return CANTUS_OK;
}

// The model name, the style names and the metadata are UTF-8 text.
static CantusStatus check_text(const uint8_t *b,
                               const char *who,
                               const CantusDims *d,
                               const FileLayout *f,
                               CantusError *err)
{
  if (!name_field_ok((const char *)b + offsetof(FileHeader, name), 32, true)) {
    return cantus_error(
      err, CANTUS_ERR_FORMAT, "%s: model name is not NUL-terminated UTF-8 text", who);
  }
  for (uint32_t i = 0; i < d->n_styles; i++) {
    const char *s = (const char *)b + f->names_offset + (uint64_t)i * CANTUS_STYLE_NAME_LEN;
    if (!name_field_ok(s, CANTUS_STYLE_NAME_LEN, false)) {
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "%s: style %" PRIu32 " name is empty, unterminated or not UTF-8 text",
                          who,
                          i);
    }
  }
  for (uint32_t i = 0; i < d->vocab.n_parts; i++) {
    const char *s =
      (const char *)b + f->names_offset + ((uint64_t)d->n_styles + i) * CANTUS_STYLE_NAME_LEN;
    if (!name_field_ok(s, CANTUS_STYLE_NAME_LEN, false)) {
      return cantus_error(err,
                          CANTUS_ERR_FORMAT,
                          "%s: part %" PRIu32 " name is empty, unterminated or not UTF-8 text",
                          who,
                          i);
    }
  }
  const size_t bad = bad_text_at(b + f->meta_offset, (size_t)f->meta_size, false);
  if (bad != f->meta_size) {
    return cantus_error(
      err, CANTUS_ERR_FORMAT, "%s: metadata is not UTF-8 text (byte %zu)", who, bad);
  }
  return CANTUS_OK;
}

static CantusStatus check_finite(const uint8_t *b,
                                 const char *who,
                                 const FileLayout *f,
                                 CantusError *err)
{
  // Finiteness, before anything is allocated.
  for (uint32_t i = 0; i < f->n_tensors; i++) {
    const uint8_t *q = b + f->t[i].offset;
    for (uint64_t j = 0; j < f->t[i].count; j++) {
      const char *what = nonfinite_name(get32(q + 4 * j));
      if (what) {
        return cantus_error(err,
                            CANTUS_ERR_NOT_FINITE,
                            "%s: tensor %s holds %s at element %" PRIu64,
                            who,
                            f->t[i].name,
                            what,
                            j);
      }
    }
  }
  return CANTUS_OK;
}

// Everything about the file except allocation: on success dims, layout and
// the name/section checks are done and the bytes can be copied blindly.
static CantusStatus validate(const uint8_t *b,
                             size_t size,
                             const char *who,
                             CantusDims *d,
                             FileLayout *f,
                             CantusError *err)
{
  uint32_t hsize = 0;
  uint64_t fsize = 0;
  memset(d, 0, sizeof *d); // the steps fill them in; zero keeps the analyser's paths defined
  memset(f, 0, sizeof *f);
  CantusStatus st;
  if ((st = check_header(b, size, who, &hsize, &fsize, err)) ||
      (st = check_checksum(b, size, who, hsize, err)) || (st = read_dims(b, who, d, err)) ||
      (st = check_sections(b, who, hsize, fsize, d, f, err)) ||
      (st = check_tensors(b, who, f, err)) || (st = check_text(b, who, d, f, err)) ||
      (st = check_finite(b, who, f, err))) {
    return st;
  }
  return CANTUS_OK;
}

CantusStatus cantus_model_load_mem(const void *data,
                                   size_t size,
                                   const char *path,
                                   const CantusModelOptions *opt,
                                   CantusModel **out,
                                   CantusError *err)
{
  const char *who = path ? path : "(memory)";
  if (!out || (!data && size)) {
    if (out) {
      *out = NULL;
    }
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "%s: NULL argument", who);
  }
  *out = NULL;
  static const uint8_t empty[1] = { 0 };
  const uint8_t *b = size ? data : empty;
  CantusDims d;
  FileLayout f;
  CantusStatus st = validate(b, size, who, &d, &f, err);
  if (st) {
    return st;
  }
  ModelBlock *blk;
  if ((st = alloc_model(&d, opt, who, &blk, err))) {
    return st;
  }
  CantusModel *m = &blk->m;
  memcpy(m->name, b + offsetof(FileHeader, name), sizeof m->name);
  const size_t style_bytes = (size_t)d.n_styles * CANTUS_STYLE_NAME_LEN;
  memcpy(m->style_names, b + f.names_offset, style_bytes);
  memcpy(m->part_names, b + f.names_offset + style_bytes, (size_t)f.names_size - style_bytes);
  memcpy(m->meta, b + f.meta_offset, (size_t)f.meta_size);
  m->meta[f.meta_size] = '\0';
  // Decode into the parameters: the model's layout and the file's tensor
  // order are the same list, so tensor i goes to the i-th block.
  TensorSpec t[MAX_TENSORS];
  list_tensors(&d, &m->p, t);
  for (uint32_t i = 0; i < f.n_tensors; i++) {
    const uint8_t *q = b + f.t[i].offset;
    for (uint64_t j = 0; j < t[i].count; j++) {
      t[i].data[j] = bits_float(get32(q + 4 * j));
    }
  }
  m->version = get32(b + offsetof(FileHeader, version));
  m->crc = get32(b + offsetof(FileHeader, payload_crc));
  refresh_meters(m);
  cantus_model_finish(m);
  *out = m;
  return CANTUS_OK;
}

CantusStatus cantus_model_load(const char *path,
                               const CantusModelOptions *opt,
                               CantusModel **out,
                               CantusError *err)
{
  if (!out || !path) {
    if (out) {
      *out = NULL;
    }
    return cantus_error(err, CANTUS_ERR_ARGUMENT, "model: NULL argument");
  }
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    return cantus_error(err, CANTUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  }
  struct stat sb;
  if (fstat(fileno(fp), &sb) != 0) {
    const int e = errno;
    fclose(fp);
    return cantus_error(err, CANTUS_ERR_IO, "%s: cannot read: %s", path, strerror(e));
  }
  if (S_ISDIR(sb.st_mode)) {
    fclose(fp);
    return cantus_error(err, CANTUS_ERR_IO, "%s: cannot read: %s", path, strerror(EISDIR));
  }
  if (!S_ISREG(sb.st_mode)) {
    fclose(fp);
    return cantus_error(err, CANTUS_ERR_IO, "%s: cannot read: not a regular file", path);
  }
  if (sb.st_size < 0 || (uint64_t)sb.st_size > FILE_SIZE_MAX) {
    fclose(fp);
    return cantus_error(err,
                        CANTUS_ERR_TOO_LARGE,
                        "%s: %lld bytes, over the limit %" PRIu64 " for a model file",
                        path,
                        (long long)sb.st_size,
                        FILE_SIZE_MAX);
  }
  const size_t size = (size_t)sb.st_size;
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) {
    fclose(fp);
    return cantus_error(err, CANTUS_ERR_NO_MEMORY, "%s: out of memory (%zu bytes)", path, size);
  }
  const size_t got = fread(buf, 1, size, fp);
  const bool failed = ferror(fp) != 0;
  const int e = errno;
  fclose(fp);
  CantusStatus st;
  if (failed) {
    st = cantus_error(err, CANTUS_ERR_IO, "%s: cannot read: %s", path, strerror(e));
  } else {
    st = cantus_model_load_mem(buf, got, path, opt, out, err);
  }
  free(buf);
  return st;
}
