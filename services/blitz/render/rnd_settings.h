/* rnd_settings: OMERO rendering settings (RenderingDef, QuantumDef, ChannelBinding with its
 * reverse-intensity codomain map) and the defaults OMERO creates at import
 * (RenderingSettingsImpl.resetDefaults + ColorsFactory), plus a JSON form. */
#ifndef RND_SETTINGS_H
#define RND_SETTINGS_H
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "omr_error.h"
#include "rnd_pixels.h"

typedef enum { RND_MODEL_GREYSCALE, RND_MODEL_RGB } rnd_model_t;
typedef enum {
    RND_FAMILY_LINEAR, RND_FAMILY_POLYNOMIAL, RND_FAMILY_EXPONENTIAL, RND_FAMILY_LOGARITHMIC
} rnd_family_t;

#define RND_LUT_NAME_MAX 128
/* Most channels one image may have; bounds every array a client can make us allocate. */
#define RND_MAX_CHANNELS 4096

/* QuantumDef: bitResolution is 2^n-1 for n = 1..8; codomain [cdStart, cdEnd] ⊂ [0,255]. */
typedef struct {
    int bit_resolution;
    int cd_start, cd_end;
} rnd_quantum_def_t;

/* ChannelBinding (+ ReverseIntensityContext as `reverse`). Colour components 0..255. */
typedef struct {
    bool active;
    double input_start, input_end;
    rnd_family_t family;
    double coefficient;
    bool noise_reduction;
    uint8_t red, green, blue, alpha;
    char lut[RND_LUT_NAME_MAX];   /* "" = none; else a file name such as "cool.lut" */
    bool reverse;
} rnd_channel_binding_t;

/* RenderingDef. */
typedef struct {
    rnd_model_t model;
    int default_z, default_t;
    rnd_quantum_def_t qdef;
    int n_channels;
    rnd_channel_binding_t *channels;
} rnd_settings_t;

/* What the importer knows about a channel: StatsInfo and the colour clues ColorsFactory uses. */
typedef struct {
    bool has_stats;
    double global_min, global_max;
    bool has_color;                 /* Channel.red/green/blue/alpha all set */
    uint8_t red, green, blue, alpha;
    double emission_wave;           /* nm; <= 0 when unknown */
    double excitation_wave;         /* nm; <= 0 when unknown */
} rnd_channel_meta_t;

/* The pixels a RenderingDef is for. */
typedef struct {
    rnd_ptype_t type;
    int size_x, size_y, size_z, size_c, size_t;
} rnd_pixels_t;

/* New settings with n channels, each linear/1.0, inactive, white, window 0..0. NULL on error. */
rnd_settings_t *rnd_settings_new (int n_channels, omr_err_t *err);
/* Deep copy; NULL on allocation failure. */
rnd_settings_t *rnd_settings_copy (const rnd_settings_t *s, omr_err_t *err);
/* Free and set *self to NULL. */
void rnd_settings_destroy (rnd_settings_t **self);
/* Check every field against what OMERO accepts (bit resolution, codomain, coefficient > 0,
 * start <= end, finite windows). */
int rnd_settings_validate (const rnd_settings_t *s, omr_err_t *err);
/* The same without the window-order check: settings already stored may hold a window with
 * start > end, which OMERO renders with the pixel type's full range (rnd_render does too). */
int rnd_settings_validate_stored (const rnd_settings_t *s, omr_err_t *err);
/* Build OMERO's import defaults for these pixels from per-channel metadata (meta may be NULL). */
rnd_settings_t *rnd_settings_default (const rnd_pixels_t *px, const rnd_channel_meta_t *meta,
                                      omr_err_t *err);

/* Names used by OMERO's enumerations: "greyscale"/"rgb", "linear"/"polynomial"/… */
const char *rnd_model_name (rnd_model_t m);
int rnd_model_parse (const char *s, rnd_model_t *out, omr_err_t *err);
const char *rnd_family_name (rnd_family_t f);
int rnd_family_parse (const char *s, rnd_family_t *out, omr_err_t *err);

/* Settings from JSON:
 * {"model":"rgb","default_z":0,"default_t":0,
 *  "quantization":{"bit_resolution":255,"cd_start":0,"cd_end":255},
 *  "channels":[{"active":true,"start":0,"end":4095,"family":"linear","coefficient":1,
 *               "noise_reduction":false,"color":"FF0000" | "FF0000FF","lut":"cool.lut",
 *               "reverse":false}, …]}
 * Omitted keys keep the values of `base` (may be NULL: then "channels" is required). */
rnd_settings_t *rnd_settings_from_json (const json_t *j, const rnd_settings_t *base, omr_err_t *err);
/* The same JSON form (new reference). */
json_t *rnd_settings_to_json (const rnd_settings_t *s);
#endif
