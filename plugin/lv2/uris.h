// SPDX-License-Identifier: GPL-3.0-or-later
// The plugin's URIs, their URIDs, and the patch:Set writers and readers, in
// the shape of eg-sampler's uris.h.  Mapping (cantus_uris_map) is non-RT and
// runs once at instantiate; the forge writers and the readers are [RT].
#ifndef CANTUS_URIS_H
#define CANTUS_URIS_H

#include <lv2/atom/atom.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <lv2/time/time.h>
#include <lv2/urid/urid.h>

#include <stdbool.h>
#include <stdint.h>

// The plugin URI, and the prefix of its own properties and messages.
#define CANTUS_URI "https://github.com/cantus-midi/cantus"
#define CANTUS_PREFIX CANTUS_URI "#"

// Properties (patch:writable / patch:readable, saved in state):
#define CANTUS__model CANTUS_PREFIX "model" // atom:Path, the .cantus file playing
#define CANTUS__theme CANTUS_PREFIX "theme" // atom:Path, a primer theme (.mid); "" = none
#define CANTUS__styleNames \
  CANTUS_PREFIX "styleNames" // atom:String, the model's styles, one per line
// Messages between run() and the worker (never leave the instance):
#define CANTUS__install CANTUS_PREFIX "install"       // work -> work_response: a loaded model/theme
#define CANTUS__loadFailed CANTUS_PREFIX "loadFailed" // work -> work_response: refused file
#define CANTUS__free CANTUS_PREFIX "free"             // run -> work: free a retired model/theme

typedef struct {
  LV2_URID atom_Blank;
  LV2_URID atom_Bool;
  LV2_URID atom_Double;
  LV2_URID atom_Float;
  LV2_URID atom_Int;
  LV2_URID atom_Long;
  LV2_URID atom_Object;
  LV2_URID atom_Path;
  LV2_URID atom_Sequence;
  LV2_URID atom_String;
  LV2_URID atom_URID;
  LV2_URID atom_eventTransfer;
  LV2_URID midi_MidiEvent;
  LV2_URID patch_Get;
  LV2_URID patch_Set;
  LV2_URID patch_property;
  LV2_URID patch_value;
  LV2_URID time_Position;
  LV2_URID time_bar;
  LV2_URID time_barBeat;
  LV2_URID time_beat;
  LV2_URID time_beatUnit;
  LV2_URID time_beatsPerBar;
  LV2_URID time_beatsPerMinute;
  LV2_URID time_frame;
  LV2_URID time_speed;
  LV2_URID cantus_model;
  LV2_URID cantus_theme;
  LV2_URID cantus_styleNames;
  LV2_URID cantus_install;
  LV2_URID cantus_loadFailed;
  LV2_URID cantus_free;
} CantusURIs;

static inline void cantus_uris_map(LV2_URID_Map *map, CantusURIs *u)
{
  LV2_URID (*m)(LV2_URID_Map_Handle, const char *) = map->map;
  LV2_URID_Map_Handle h = map->handle;
  u->atom_Blank = m(h, LV2_ATOM__Blank);
  u->atom_Bool = m(h, LV2_ATOM__Bool);
  u->atom_Double = m(h, LV2_ATOM__Double);
  u->atom_Float = m(h, LV2_ATOM__Float);
  u->atom_Int = m(h, LV2_ATOM__Int);
  u->atom_Long = m(h, LV2_ATOM__Long);
  u->atom_Object = m(h, LV2_ATOM__Object);
  u->atom_Path = m(h, LV2_ATOM__Path);
  u->atom_Sequence = m(h, LV2_ATOM__Sequence);
  u->atom_String = m(h, LV2_ATOM__String);
  u->atom_URID = m(h, LV2_ATOM__URID);
  u->atom_eventTransfer = m(h, LV2_ATOM__eventTransfer);
  u->midi_MidiEvent = m(h, LV2_MIDI__MidiEvent);
  u->patch_Get = m(h, LV2_PATCH__Get);
  u->patch_Set = m(h, LV2_PATCH__Set);
  u->patch_property = m(h, LV2_PATCH__property);
  u->patch_value = m(h, LV2_PATCH__value);
  u->time_Position = m(h, LV2_TIME__Position);
  u->time_bar = m(h, LV2_TIME__bar);
  u->time_barBeat = m(h, LV2_TIME__barBeat);
  u->time_beat = m(h, LV2_TIME__beat);
  u->time_beatUnit = m(h, LV2_TIME__beatUnit);
  u->time_beatsPerBar = m(h, LV2_TIME__beatsPerBar);
  u->time_beatsPerMinute = m(h, LV2_TIME__beatsPerMinute);
  u->time_frame = m(h, LV2_TIME__frame);
  u->time_speed = m(h, LV2_TIME__speed);
  u->cantus_model = m(h, CANTUS__model);
  u->cantus_theme = m(h, CANTUS__theme);
  u->cantus_styleNames = m(h, CANTUS__styleNames);
  u->cantus_install = m(h, CANTUS__install);
  u->cantus_loadFailed = m(h, CANTUS__loadFailed);
  u->cantus_free = m(h, CANTUS__free);
}

// True for an object atom (atom:Object, or the deprecated atom:Blank).
static inline bool cantus_is_object(const CantusURIs *u, const LV2_Atom *a)
{
  return a->type == u->atom_Object || a->type == u->atom_Blank;
}

// Writes `patch:Set [ patch:property key ; patch:value "str"^^type ]` into
// the forge (after the caller's frame_time).  `len` excludes the NUL.
// Returns false when the buffer is full (the caller counts the drop).  [RT]
static inline bool cantus_write_set(LV2_Atom_Forge *forge,
                                    const CantusURIs *u,
                                    LV2_URID key,
                                    LV2_URID type,
                                    const char *str,
                                    uint32_t len)
{
  LV2_Atom_Forge_Frame frame;
  if (!lv2_atom_forge_object(forge, &frame, 0, u->patch_Set)) {
    return false;
  }
  lv2_atom_forge_key(forge, u->patch_property);
  lv2_atom_forge_urid(forge, key);
  lv2_atom_forge_key(forge, u->patch_value);
  const bool ok = lv2_atom_forge_typed_string(forge, type, str, len) != 0;
  lv2_atom_forge_pop(forge, &frame);
  return ok;
}

// Reads a patch:Set of a path property (cantus:model or cantus:theme):
// returns the value atom (atom:Path or atom:String, NUL-terminated body)
// and stores the property in *key, or NULL if obj is anything else.  [RT]
static inline const LV2_Atom *cantus_read_set_path(const CantusURIs *u,
                                                   const LV2_Atom_Object *obj,
                                                   LV2_URID *key)
{
  if (obj->body.otype != u->patch_Set) {
    return NULL;
  }
  const LV2_Atom *property = NULL, *value = NULL;
  lv2_atom_object_get(obj, u->patch_property, &property, u->patch_value, &value, 0);
  if (!property || property->type != u->atom_URID || !value) {
    return NULL;
  }
  const LV2_URID k = ((const LV2_Atom_URID *)property)->body;
  if (k != u->cantus_model && k != u->cantus_theme) {
    return NULL;
  }
  if (value->type != u->atom_Path && value->type != u->atom_String) {
    return NULL;
  }
  const char *s = (const char *)LV2_ATOM_BODY_CONST(value);
  if (value->size == 0 || s[value->size - 1] != '\0') {
    return NULL; // not NUL-terminated: refuse rather than read past it
  }
  *key = k;
  return value;
}

#endif
