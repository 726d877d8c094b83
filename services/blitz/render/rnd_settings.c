/* rnd_settings: rendering settings objects, validation, OMERO's import defaults and JSON. */
#include "rnd_settings.h"
#include "rnd_params.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* OMERO's Renderer.MAX_CHANNELS: images with this many channels or more default to greyscale. */
#define OMERO_MAX_RGB_CHANNELS 8
/* RenderingSettingsImpl.EPSILON: a window narrower than this falls back to the type range. */
#define OMERO_EPSILON 0.0001

rnd_settings_t *
rnd_settings_new (int n, omr_err_t *err)
{
    if (n < 1 || n > RND_MAX_CHANNELS) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "channel count %d out of range 1..%d", n, RND_MAX_CHANNELS);
        return NULL;
    }
    rnd_settings_t *s = calloc (1, sizeof *s);
    if (s)
        s->channels = calloc ((size_t) n, sizeof *s->channels);
    if (!s || !s->channels) {
        free (s);
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory allocating rendering settings");
        return NULL;
    }
    s->model = n > 1 ? RND_MODEL_RGB : RND_MODEL_GREYSCALE;
    s->qdef.bit_resolution = 255;
    s->qdef.cd_start = 0;
    s->qdef.cd_end = 255;
    s->n_channels = n;
    for (int i = 0; i < n; i++) {
        rnd_channel_binding_t *cb = &s->channels[i];
        cb->family = RND_FAMILY_LINEAR;
        cb->coefficient = 1.0;
        cb->red = cb->green = cb->blue = cb->alpha = 255;
    }
    return s;
}

rnd_settings_t *
rnd_settings_copy (const rnd_settings_t *s, omr_err_t *err)
{
    rnd_settings_t *c = rnd_settings_new (s->n_channels, err);
    if (!c)
        return NULL;
    rnd_channel_binding_t *keep = c->channels;
    *c = *s;
    c->channels = keep;
    memcpy (c->channels, s->channels, (size_t) s->n_channels * sizeof *s->channels);
    return c;
}

void
rnd_settings_destroy (rnd_settings_t **self)
{
    if (!self || !*self)
        return;
    free ((*self)->channels);
    free (*self);
    *self = NULL;
}

static int
validate (const rnd_settings_t *s, bool window_order, omr_err_t *err)
{
    int br = s->qdef.bit_resolution;
    if (br != 1 && br != 3 && br != 7 && br != 15 && br != 31 && br != 63 && br != 127 && br != 255)
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "unsupported bit resolution %d (OMERO allows 1, 3, 7, 15, 31, 63, 127 or 255)", br);
    if (s->qdef.cd_start < 0 || s->qdef.cd_end > 255 || s->qdef.cd_start > s->qdef.cd_end)
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "codomain interval [%d, %d] must satisfy 0 <= cdStart <= cdEnd <= 255",
                            s->qdef.cd_start, s->qdef.cd_end);
    if (s->model != RND_MODEL_GREYSCALE && s->model != RND_MODEL_RGB)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "unknown rendering model %d", (int) s->model);
    for (int i = 0; i < s->n_channels; i++) {
        const rnd_channel_binding_t *cb = &s->channels[i];
        if (!isfinite (cb->input_start) || !isfinite (cb->input_end))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "channel %d: window must be finite", i);
        if (window_order && cb->input_start > cb->input_end)
            return omr_err_set (err, OMR_E_VALIDATION, 400,
                                "channel %d: window start %g is greater than window end %g",
                                i, cb->input_start, cb->input_end);
        if ((unsigned) cb->family > RND_FAMILY_LOGARITHMIC)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "channel %d: unknown family", i);
        if (!(cb->coefficient > 0) || !isfinite (cb->coefficient))
            return omr_err_set (err, OMR_E_VALIDATION, 400,
                                "channel %d: coefficient %g must be a finite number > 0", i, cb->coefficient);
    }
    return 0;
}

/* ColorsFactory.determineColor: < 500 nm blue, < 560 nm green, otherwise red. */
static void
color_for_wave (double nm, rnd_channel_binding_t *cb)
{
    cb->red = cb->green = cb->blue = 0;
    cb->alpha = 255;
    if (nm < 500) cb->blue = 255;
    else if (nm < 560) cb->green = 255;
    else cb->red = 255;
}

rnd_settings_t *
rnd_settings_default (const rnd_pixels_t *px, const rnd_channel_meta_t *meta, omr_err_t *err)
{
    if (px->size_x < 1 || px->size_y < 1 || px->size_z < 1 || px->size_t < 1)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "pixel sizes must be >= 1"), NULL;
    if ((unsigned) px->type >= RND_PTYPE_COUNT)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "unknown pixel type"), NULL;
    rnd_settings_t *s = rnd_settings_new (px->size_c, err);
    if (!s)
        return NULL;
    s->default_z = px->size_z / 2;
    s->default_t = 0;
    s->model = (px->size_c > 1 && px->size_c < OMERO_MAX_RGB_CHANNELS) ? RND_MODEL_RGB : RND_MODEL_GREYSCALE;
    double tmin, tmax;
    rnd_ptype_range (px->type, &tmin, &tmax);
    int without_color = 0, without_emission = 0;
    for (int i = 0; i < px->size_c; i++) {
        const rnd_channel_meta_t *m = meta ? &meta[i] : NULL;
        rnd_channel_binding_t *cb = &s->channels[i];
        cb->active = i < 3;
        if (m && m->has_color) {
            cb->red = m->red; cb->green = m->green; cb->blue = m->blue; cb->alpha = m->alpha;
        } else {
            without_color++;
            if (!(m && m->emission_wave > 0))
                without_emission++;
            if (m && m->emission_wave > 0)
                color_for_wave (m->emission_wave, cb);
            else if (m && m->excitation_wave > 0)
                color_for_wave (m->excitation_wave, cb);
            else {
                static const uint8_t rgb[3][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 } };
                cb->red = rgb[i % 3][0]; cb->green = rgb[i % 3][1]; cb->blue = rgb[i % 3][2];
                cb->alpha = 255;
            }
        }
        double lo = tmin, hi = tmax;
        if (m && m->has_stats) {
            lo = m->global_min;
            hi = m->global_max;
        }
        if (fabs (lo - hi) < OMERO_EPSILON || !isfinite (lo) || !isfinite (hi)) {
            lo = tmin;
            hi = tmax;
        }
        cb->input_start = lo;
        cb->input_end = hi;
    }
    /* Transmitted-light rule: when some (not all) uncoloured channels have an emission
     * wavelength, the others are shown white. */
    if (without_emission > 0 && without_emission != without_color)
        for (int i = 0; i < px->size_c; i++) {
            const rnd_channel_meta_t *m = meta ? &meta[i] : NULL;
            if (!(m && m->has_color) && !(m && m->emission_wave > 0)) {
                rnd_channel_binding_t *cb = &s->channels[i];
                cb->red = cb->green = cb->blue = cb->alpha = 255;
            }
        }
    return s;
}

int
rnd_settings_validate (const rnd_settings_t *s, omr_err_t *err)
{
    return validate (s, true, err);
}

int
rnd_settings_validate_stored (const rnd_settings_t *s, omr_err_t *err)
{
    return validate (s, false, err);
}

const char *
rnd_model_name (rnd_model_t m)
{
    return m == RND_MODEL_GREYSCALE ? "greyscale" : "rgb";
}

int
rnd_model_parse (const char *s, rnd_model_t *out, omr_err_t *err)
{
    if (s && (strcasecmp (s, "greyscale") == 0 || strcasecmp (s, "grayscale") == 0 || strcmp (s, "g") == 0))
        *out = RND_MODEL_GREYSCALE;
    else if (s && (strcasecmp (s, "rgb") == 0 || strcasecmp (s, "color") == 0 || strcmp (s, "c") == 0))
        *out = RND_MODEL_RGB;
    else
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "unknown rendering model '%s' (expected greyscale or rgb)", s ? s : "(null)");
    return 0;
}

static const char *family_names[] = { "linear", "polynomial", "exponential", "logarithmic" };

const char *
rnd_family_name (rnd_family_t f)
{
    return (unsigned) f <= RND_FAMILY_LOGARITHMIC ? family_names[f] : "unknown";
}

int
rnd_family_parse (const char *s, rnd_family_t *out, omr_err_t *err)
{
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp (s, family_names[i]) == 0) {
            *out = (rnd_family_t) i;
            return 0;
        }
    return omr_err_set (err, OMR_E_VALIDATION, 400,
                        "unknown family '%s' (expected linear, polynomial, exponential or logarithmic)",
                        s ? s : "(null)");
}

/* Read an optional integer member; -1 with an error when it has the wrong type. */
static int
get_int (const json_t *o, const char *key, int *out, omr_err_t *err)
{
    json_t *v = json_object_get (o, key);
    if (!v)
        return 0;
    if (!json_is_integer (v))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"%s\" must be an integer", key);
    json_int_t x = json_integer_value (v);
    if (x < -2147483647 || x > 2147483647)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"%s\" out of range", key);
    *out = (int) x;
    return 0;
}

static int
get_num (const json_t *o, const char *key, double *out, omr_err_t *err)
{
    json_t *v = json_object_get (o, key);
    if (!v)
        return 0;
    if (!json_is_number (v))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"%s\" must be a number", key);
    *out = json_number_value (v);
    return 0;
}

static int
get_bool (const json_t *o, const char *key, bool *out, omr_err_t *err)
{
    json_t *v = json_object_get (o, key);
    if (!v)
        return 0;
    if (!json_is_boolean (v))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"%s\" must be true or false", key);
    *out = json_is_true (v);
    return 0;
}

static int
channel_from_json (const json_t *c, int i, rnd_channel_binding_t *cb, omr_err_t *err)
{
    if (!json_is_object (c))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings: channels[%d] must be an object", i);
    if (get_bool (c, "active", &cb->active, err) || get_num (c, "start", &cb->input_start, err)
        || get_num (c, "end", &cb->input_end, err) || get_num (c, "coefficient", &cb->coefficient, err)
        || get_bool (c, "noise_reduction", &cb->noise_reduction, err)
        || get_bool (c, "reverse", &cb->reverse, err))
        goto fail;
    json_t *v = json_object_get (c, "family");
    if (v && (!json_is_string (v) || rnd_family_parse (json_string_value (v), &cb->family, err)))
        goto fail_family;
    if ((v = json_object_get (c, "color"))) {
        uint8_t rgba[4];
        if (!json_is_string (v) || rnd_parse_color (json_string_value (v), rgba, err))
            goto fail_color;
        cb->red = rgba[0]; cb->green = rgba[1]; cb->blue = rgba[2]; cb->alpha = rgba[3];
    }
    if ((v = json_object_get (c, "lut"))) {
        if (json_is_null (v))
            cb->lut[0] = 0;
        else if (!json_is_string (v) || strlen (json_string_value (v)) >= RND_LUT_NAME_MAX)
            return omr_err_set (err, OMR_E_VALIDATION, 400,
                                "settings: channels[%d].lut must be a file name shorter than %d characters",
                                i, RND_LUT_NAME_MAX);
        else
            snprintf (cb->lut, sizeof cb->lut, "%s", json_string_value (v));
    }
    return 0;
fail_family:
    if (v && !json_is_string (v))
        omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"family\" must be a string");
    goto fail;
fail_color:
    if (!json_is_string (v))
        omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"color\" must be a hex string");
fail:
    omr_err_prefix (err, "channels[%d]: ", i);
    return -1;
}

rnd_settings_t *
rnd_settings_from_json (const json_t *j, const rnd_settings_t *base, omr_err_t *err)
{
    if (!json_is_object (j))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings must be a JSON object"), NULL;
    json_t *chans = json_object_get (j, "channels");
    if (chans && !json_is_array (chans))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"channels\" must be an array"), NULL;
    if (!base && !chans)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"channels\" is required"), NULL;
    int n = chans ? (int) json_array_size (chans) : base->n_channels;
    if (base && chans && n != base->n_channels)
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "settings: %d channels given but the image has %d", n, base->n_channels), NULL;
    rnd_settings_t *s = base ? rnd_settings_copy (base, err) : rnd_settings_new (n, err);
    if (!s)
        return NULL;
    json_t *v = json_object_get (j, "model");
    if (v && (!json_is_string (v) || rnd_model_parse (json_string_value (v), &s->model, err))) {
        if (!json_is_string (v))
            omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"model\" must be a string");
        goto fail;
    }
    if (get_int (j, "default_z", &s->default_z, err) || get_int (j, "default_t", &s->default_t, err))
        goto fail;
    json_t *q = json_object_get (j, "quantization");
    if (q) {
        if (!json_is_object (q)) {
            omr_err_set (err, OMR_E_VALIDATION, 400, "settings: \"quantization\" must be an object");
            goto fail;
        }
        if (get_int (q, "bit_resolution", &s->qdef.bit_resolution, err)
            || get_int (q, "cd_start", &s->qdef.cd_start, err) || get_int (q, "cd_end", &s->qdef.cd_end, err))
            goto fail;
    }
    for (int i = 0; chans && i < n; i++)
        if (channel_from_json (json_array_get (chans, (size_t) i), i, &s->channels[i], err))
            goto fail;
    if (rnd_settings_validate (s, err))
        goto fail;
    return s;
fail:
    rnd_settings_destroy (&s);
    return NULL;
}

json_t *
rnd_settings_to_json (const rnd_settings_t *s)
{
    json_t *chans = json_array ();
    for (int i = 0; i < s->n_channels; i++) {
        const rnd_channel_binding_t *cb = &s->channels[i];
        char col[16];
        snprintf (col, sizeof col, "%02X%02X%02X%02X", cb->red, cb->green, cb->blue, cb->alpha);
        json_t *c = json_pack ("{s:b,s:f,s:f,s:s,s:f,s:b,s:s,s:b}", "active", cb->active,
                               "start", cb->input_start, "end", cb->input_end,
                               "family", rnd_family_name (cb->family), "coefficient", cb->coefficient,
                               "noise_reduction", cb->noise_reduction, "color", col, "reverse", cb->reverse);
        json_object_set_new (c, "lut", cb->lut[0] ? json_string (cb->lut) : json_null ());
        json_array_append_new (chans, c);
    }
    return json_pack ("{s:s,s:i,s:i,s:{s:i,s:i,s:i},s:o}", "model", rnd_model_name (s->model),
                      "default_z", s->default_z, "default_t", s->default_t, "quantization",
                      "bit_resolution", s->qdef.bit_resolution, "cd_start", s->qdef.cd_start,
                      "cd_end", s->qdef.cd_end, "channels", chans);
}
