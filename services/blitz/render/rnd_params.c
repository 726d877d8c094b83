/* rnd_params: parsers for the webgateway's rendering query parameters. */
#include "rnd_params.h"
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest parameter value we look at; longer values are rejected, not truncated. */
#define PARAM_MAX 65536

#define BAD(...) omr_err_set (err, OMR_E_VALIDATION, 400, __VA_ARGS__)

/* Copy [b, e) without surrounding blanks into a fresh string. */
static char *
dup_trim (const char *b, const char *e)
{
    while (b < e && isspace ((unsigned char) *b)) b++;
    while (e > b && isspace ((unsigned char) e[-1])) e--;
    char *s = malloc ((size_t) (e - b) + 1);
    if (s) {
        memcpy (s, b, (size_t) (e - b));
        s[e - b] = 0;
    }
    return s;
}

/* Whole-string integer in [lo, hi]. */
static bool
parse_int (const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol (s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Whole-string finite decimal number. */
static bool
parse_num (const char *s, double *out)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)   /* no hex floats, inf or nan */
        if (!(isdigit ((unsigned char) *p) || *p == '.' || *p == '-' || *p == '+' || *p == 'e' || *p == 'E'))
            return false;
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (errno == ERANGE || *end || end == s || !isfinite (v))
        return false;
    *out = v;
    return true;
}

static int
check_len (const char *what, const char *v, omr_err_t *err)
{
    if (!v)
        return BAD ("%s: missing value", what);
    if (strlen (v) > PARAM_MAX)
        return BAD ("%s: value longer than %d characters", what, PARAM_MAX);
    return 0;
}

int
rnd_parse_color (const char *hex, uint8_t rgba[4], omr_err_t *err)
{
    size_t n = hex ? strlen (hex) : 0;
    bool ok = n == 3 || n == 4 || n == 6 || n == 8;
    for (size_t i = 0; ok && i < n; i++)
        ok = isxdigit ((unsigned char) hex[i]) != 0;
    if (!ok)
        return BAD ("invalid colour '%s' (expected 3, 4, 6 or 8 hex digits such as FF0000)", hex ? hex : "");
    unsigned v[4] = { 0, 0, 0, 255 };
    for (size_t i = 0; i < (n <= 4 ? n : n / 2); i++) {
        char d[3] = { 0 };
        if (n <= 4) { d[0] = hex[i]; d[1] = hex[i]; }
        else { d[0] = hex[2 * i]; d[1] = hex[2 * i + 1]; }
        v[i] = (unsigned) strtoul (d, NULL, 16);
    }
    for (int i = 0; i < 4; i++) rgba[i] = (uint8_t) v[i];
    return 0;
}

/* A colour or a LUT name after '$'. */
static int
parse_color_or_lut (const char *s, rnd_chan_spec_t *cs, omr_err_t *err)
{
    size_t n = strlen (s);
    if (n > 4 && strcasecmp (s + n - 4, ".lut") == 0) {
        if (n >= RND_LUT_NAME_MAX || strchr (s, '/') || strchr (s, '\\') || s[0] == '.')
            return BAD ("invalid lookup table name '%s'", s);
        snprintf (cs->lut, sizeof cs->lut, "%s", s);
        cs->has_color = false;
        return 0;
    }
    if (rnd_parse_color (s, cs->rgba, err))
        return -1;
    cs->has_color = true;
    cs->lut[0] = 0;
    return 0;
}

/* One token of c=: [-]N[$COLOR][|[START:END][$COLOR]] */
static int
parse_chan_token (char *tok, int size_c, rnd_chan_spec_t *cs, omr_err_t *err)
{
    memset (cs, 0, sizeof *cs);
    char *bar = strchr (tok, '|');
    char *rest = NULL;
    if (bar) {
        *bar = 0;
        rest = bar + 1;
    }
    char *dollar = strchr (tok, '$');
    const char *pre_color = NULL;
    if (dollar) {
        *dollar = 0;
        pre_color = dollar + 1;
    }
    long idx;
    if (!parse_int (tok, -(long) INT_MAX, INT_MAX, &idx) || idx == 0)
        return BAD ("channel index '%s' is not a non-zero integer", tok);
    long a = idx < 0 ? -idx : idx;
    if (a > size_c)
        return BAD ("channel index %ld out of range: the image has %d channel%s (c= indices are 1-based)",
                    a, size_c, size_c == 1 ? "" : "s");
    cs->index = (int) a;
    cs->active = idx > 0;
    if (pre_color && parse_color_or_lut (pre_color, cs, err))
        return -1;
    if (!rest)
        return 0;
    char *d2 = strchr (rest, '$');
    if (d2) {
        if (pre_color)
            return BAD ("channel %ld: colour given twice", a);
        *d2 = 0;
        if (parse_color_or_lut (d2 + 1, cs, err))
            return -1;
    }
    if (!*rest)
        return 0;
    char *colon = strchr (rest, ':');
    if (!colon)
        return BAD ("channel %ld: window '%s' must be start:end", a, rest);
    *colon = 0;
    if (!parse_num (rest, &cs->start) || !parse_num (colon + 1, &cs->end))
        return BAD ("channel %ld: window '%s:%s' must be two finite numbers", a, rest, colon + 1);
    if (cs->start > cs->end)
        return BAD ("channel %ld: window start %g is greater than window end %g", a, cs->start, cs->end);
    cs->has_window = true;
    return 0;
}

int
rnd_parse_channels (const char *c, int size_c, rnd_chan_specs_t *out, omr_err_t *err)
{
    out->n = 0;
    out->specs = NULL;
    if (check_len ("c", c, err))
        return -1;
    if (size_c < 1)
        return BAD ("c: the image has no channels");
    int cap = 1;
    for (const char *p = c; *p; p++) cap += *p == ',';
    if (cap > size_c)
        return BAD ("c: %d channels given but the image has %d", cap, size_c);
    rnd_chan_spec_t *specs = calloc ((size_t) cap, sizeof *specs);
    if (!specs)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    int n = 0;
    const char *b = c;
    for (;;) {
        const char *e = strchr (b, ',');
        if (!e) e = b + strlen (b);
        char *tok = dup_trim (b, e);
        if (!tok) {
            free (specs);
            return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        }
        int rc = *tok ? parse_chan_token (tok, size_c, &specs[n], err) : BAD ("empty channel entry");
        free (tok);
        if (rc) {
            omr_err_prefix (err, "c: ");
            free (specs);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (specs[i].index == specs[n].index) {
                int dup = specs[n].index;
                free (specs);
                return BAD ("c: channel %d given twice", dup);
            }
        n++;
        if (!*e)
            break;
        b = e + 1;
    }
    out->n = n;
    out->specs = specs;
    return 0;
}

void
rnd_chan_specs_free (rnd_chan_specs_t *s)
{
    if (!s)
        return;
    free (s->specs);
    s->specs = NULL;
    s->n = 0;
}

int
rnd_parse_model_param (const char *m, rnd_model_t *out, omr_err_t *err)
{
    if (m && strcmp (m, "g") == 0)
        *out = RND_MODEL_GREYSCALE;
    else if (m && strcmp (m, "c") == 0)
        *out = RND_MODEL_RGB;
    else
        return BAD ("m: '%s' is not a rendering model (expected g for greyscale or c for colour)", m ? m : "");
    return 0;
}

int
rnd_parse_projection (const char *p, int size_z, rnd_proj_spec_t *out, omr_err_t *err)
{
    if (check_len ("p", p, err))
        return -1;
    if (size_z < 1)
        return BAD ("p: the image has no z-sections");
    char name[16];
    const char *bar = strchr (p, '|');
    size_t nl = bar ? (size_t) (bar - p) : strlen (p);
    if (nl >= sizeof name)
        return BAD ("p: unknown projection '%.*s' (expected normal, intmax, intmean or intsum)", (int) (nl > 40 ? 40 : nl), p);
    memcpy (name, p, nl);
    name[nl] = 0;
    if (strcmp (name, "normal") == 0) out->type = RND_PROJ_NORMAL;
    else if (strcmp (name, "intmax") == 0) out->type = RND_PROJ_MAX;
    else if (strcmp (name, "intmean") == 0) out->type = RND_PROJ_MEAN;
    else if (strcmp (name, "intsum") == 0) out->type = RND_PROJ_SUM;
    else
        return BAD ("p: unknown projection '%s' (expected normal, intmax, intmean or intsum)", name);
    out->has_range = false;
    out->start = 0;
    out->end = size_z - 1;
    if (!bar)
        return 0;
    char *range = dup_trim (bar + 1, bar + 1 + strlen (bar + 1));
    if (!range)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    char *colon = strchr (range, ':');
    long s, e;
    int rc = 0;
    if (!colon)
        rc = BAD ("p: range '%s' must be start:end", range);
    else {
        *colon = 0;
        if (!parse_int (range, 0, INT_MAX, &s) || !parse_int (colon + 1, 0, INT_MAX, &e))
            rc = BAD ("p: range '%s:%s' must be two non-negative integers", range, colon + 1);
        else if (s > e)
            rc = BAD ("p: range start %ld is greater than end %ld", s, e);
        else if (e >= size_z)
            rc = BAD ("p: range %ld:%ld out of bounds: the image has %d z-sections (0..%d)", s, e, size_z, size_z - 1);
        else {
            out->has_range = true;
            out->start = (int) s;
            out->end = (int) e;
        }
    }
    free (range);
    return rc;
}

int
rnd_parse_quality (const char *q, double *out, omr_err_t *err)
{
    double v;
    if (!q || !parse_num (q, &v) || v < 0 || v > 1)
        return BAD ("q: '%s' is not a compression quality between 0 and 1", q ? q : "");
    *out = v;
    return 0;
}

/* {"enabled": bool} of a codomain map. */
static int
map_enabled (json_t *o, const char *name, int i, bool *out, omr_err_t *err)
{
    json_t *en = json_is_object (o) ? json_object_get (o, "enabled") : NULL;
    if (!json_is_boolean (en))
        return BAD ("maps[%d].%s must be {\"enabled\": true|false}", i, name);
    *out = json_is_true (en);
    return 0;
}

int
rnd_parse_maps (const char *js, int size_c, rnd_maps_t *out, omr_err_t *err)
{
    out->n = 0;
    out->maps = NULL;
    if (check_len ("maps", js, err))
        return -1;
    json_error_t je;
    json_t *a = json_loads (js, JSON_REJECT_DUPLICATES, &je);
    if (!a)
        return BAD ("maps: invalid JSON at character %d: %s", je.position, je.text);
    int rc = 0;
    if (!json_is_array (a)) {
        rc = BAD ("maps: expected a JSON array with one entry per channel");
        goto done;
    }
    int n = (int) json_array_size (a);
    if (n > size_c) {
        rc = BAD ("maps: %d entries but the image has %d channels", n, size_c);
        goto done;
    }
    out->maps = calloc ((size_t) (n ? n : 1), sizeof *out->maps);
    if (!out->maps) {
        rc = omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        goto done;
    }
    out->n = n;
    for (int i = 0; i < n && rc == 0; i++) {
        json_t *m = json_array_get (a, (size_t) i);
        rnd_map_spec_t *ms = &out->maps[i];
        if (json_is_null (m))
            continue;
        if (!json_is_object (m)) {
            rc = BAD ("maps[%d] must be an object or null", i);
            break;
        }
        json_t *r = json_object_get (m, "reverse");
        json_t *inv = json_object_get (m, "inverted");
        if (r && !json_is_null (r)) {
            rc = map_enabled (r, "reverse", i, &ms->reverse, err);
            ms->has_reverse = true;
        }
        if (rc == 0 && inv && !json_is_null (inv)) {
            bool v;
            rc = map_enabled (inv, "inverted", i, &v, err);
            if (rc == 0 && ms->has_reverse && v != ms->reverse)
                rc = BAD ("maps[%d]: \"reverse\" and \"inverted\" disagree", i);
            ms->reverse = v;
            ms->has_reverse = true;
        }
        json_t *qz = json_object_get (m, "quantization");
        if (rc == 0 && qz && !json_is_null (qz)) {
            json_t *fam = json_is_object (qz) ? json_object_get (qz, "family") : NULL;
            json_t *co = json_is_object (qz) ? json_object_get (qz, "coefficient") : NULL;
            ms->family = RND_FAMILY_LINEAR;
            ms->coefficient = 1.0;
            if (!json_is_object (qz))
                rc = BAD ("maps[%d].quantization must be an object", i);
            else if (fam && (!json_is_string (fam) || rnd_family_parse (json_string_value (fam), &ms->family, err)))
                rc = json_is_string (fam) ? (omr_err_prefix (err, "maps[%d].quantization: ", i), -1)
                                          : BAD ("maps[%d].quantization.family must be a string", i);
            else if (co && (!json_is_number (co) || !(json_number_value (co) > 0) || !isfinite (json_number_value (co))))
                rc = BAD ("maps[%d].quantization.coefficient must be a number > 0", i);
            else {
                if (co) ms->coefficient = json_number_value (co);
                ms->has_quantization = true;
            }
        }
    }
done:
    json_decref (a);
    if (rc)
        rnd_maps_free (out);
    return rc;
}

void
rnd_maps_free (rnd_maps_t *m)
{
    if (!m)
        return;
    free (m->maps);
    m->maps = NULL;
    m->n = 0;
}

int
rnd_parse_format (const char *f, rnd_format_t *out, omr_err_t *err)
{
    if (f && (strcasecmp (f, "jpeg") == 0 || strcasecmp (f, "jpg") == 0)) *out = RND_FMT_JPEG;
    else if (f && strcasecmp (f, "png") == 0) *out = RND_FMT_PNG;
    else if (f && (strcasecmp (f, "tif") == 0 || strcasecmp (f, "tiff") == 0)) *out = RND_FMT_TIFF;
    else
        return BAD ("format: '%s' is not supported (expected jpeg, png or tif)", f ? f : "");
    return 0;
}

/* Split "a,b,c…" into up to max integers; returns the count or -1. */
static int
split_ints (const char *s, long *v, int max)
{
    if (!s || strlen (s) > 256)
        return -1;
    int n = 0;
    const char *b = s;
    for (;;) {
        const char *e = strchr (b, ',');
        if (!e) e = b + strlen (b);
        if (n == max)
            return -1;
        char *t = dup_trim (b, e);
        bool ok = t && parse_int (t, LONG_MIN, LONG_MAX, &v[n]);
        free (t);
        if (!ok)
            return -1;
        n++;
        if (!*e)
            return n;
        b = e + 1;
    }
}

int
rnd_parse_region (const char *r, int size_x, int size_y, rnd_region_t *out, omr_err_t *err)
{
    long v[4];
    if (split_ints (r, v, 4) != 4)
        return BAD ("malformed region argument, region=%.100s (expected x,y,w,h)", r ? r : "");
    if (v[0] < 0 || v[1] < 0 || v[0] >= size_x || v[1] >= size_y)
        return BAD ("region origin %ld,%ld lies outside the %dx%d image", v[0], v[1], size_x, size_y);
    if (v[2] < 1 || v[3] < 1)
        return BAD ("region size %ldx%ld must be at least 1x1", v[2], v[3]);
    if (v[2] > size_x || v[3] > size_y)
        return BAD ("region size %ldx%ld is larger than the %dx%d image", v[2], v[3], size_x, size_y);
    out->x = (int) v[0];
    out->y = (int) v[1];
    out->w = (int) (v[0] + v[2] > size_x ? size_x - v[0] : v[2]);
    out->h = (int) (v[1] + v[3] > size_y ? size_y - v[1] : v[3]);
    return 0;
}

int
rnd_parse_tile (const char *t, const rnd_level_t *levels, int n_levels, int tile_w, int tile_h, int max_tile_len,
                int *level, rnd_region_t *out, omr_err_t *err)
{
    long v[5];
    int n = split_ints (t, v, 5);
    if (n != 3 && n != 5)
        return BAD ("malformed tile argument, tile=%.100s (expected level,x,y or level,x,y,w,h)", t ? t : "");
    if (v[0] < 0)
        return BAD ("Invalid resolution level %ld < 0", v[0]);
    if (n_levels <= 1 && v[0] > 0)
        return BAD ("Invalid resolution level %ld, non pyramid file", v[0]);
    if (v[0] >= n_levels)
        return BAD ("Invalid resolution level %ld, the image has %d levels (0..%d)", v[0], n_levels, n_levels - 1);
    long tw = n == 5 && v[3] > 0 ? v[3] : tile_w, th = n == 5 && v[4] > 0 ? v[4] : tile_h;
    if (tw < 1 || th < 1)
        return BAD ("tile size %ldx%ld is invalid", tw, th);
    if (max_tile_len > 0 && (tw > max_tile_len || th > max_tile_len))
        return BAD ("tile size %ldx%ld exceeds omero.pixeldata.max_tile_length %d", tw, th, max_tile_len);
    if (v[1] < 0 || v[2] < 0)
        return BAD ("tile position %ld,%ld must not be negative", v[1], v[2]);
    const rnd_level_t *lv = &levels[v[0]];
    if (v[1] > lv->size_x / tw || v[2] > lv->size_y / th || v[1] * tw >= lv->size_x || v[2] * th >= lv->size_y)
        return BAD ("tile %ld,%ld of %ldx%ld lies outside level %ld (%dx%d)", v[1], v[2], tw, th, v[0],
                    lv->size_x, lv->size_y);
    long x = v[1] * tw, y = v[2] * th;
    *level = (int) v[0];
    out->x = (int) x;
    out->y = (int) y;
    out->w = (int) (x + tw > lv->size_x ? lv->size_x - x : tw);
    out->h = (int) (y + th > lv->size_y ? lv->size_y - y : th);
    return 0;
}

int
rnd_query_apply (rnd_settings_t **sp, const rnd_chan_specs_t *c, const rnd_maps_t *maps, const rnd_model_t *model,
                 const rnd_lut_provider_t *luts, omr_err_t *err)
{
    rnd_settings_t *s = rnd_settings_copy (*sp, err);
    if (!s)
        return -1;
    if (c) {
        for (int i = 0; i < c->n; i++)
            if (c->specs[i].index < 1 || c->specs[i].index > s->n_channels) {
                BAD ("c: channel index %d out of range 1..%d", c->specs[i].index, s->n_channels);
                goto fail;
            }
        for (int ch = 0; ch < s->n_channels; ch++) {
            rnd_channel_binding_t *cb = &s->channels[ch];
            const rnd_chan_spec_t *cs = NULL;
            for (int i = 0; i < c->n; i++)
                if (c->specs[i].index == ch + 1) cs = &c->specs[i];
            cb->active = cs && cs->active;
            if (!cs)
                continue;
            if (cs->has_window) {
                cb->input_start = cs->start;
                cb->input_end = cs->end;
            }
            if (cs->lut[0]) {
                if (luts && !rnd_lut_provider_get (luts, cs->lut)) {
                    BAD ("c: lookup table '%s' not found (channel %d)", cs->lut, ch + 1);
                    goto fail;
                }
                snprintf (cb->lut, sizeof cb->lut, "%s", cs->lut);
            } else if (cs->has_color) {
                cb->red = cs->rgba[0]; cb->green = cs->rgba[1]; cb->blue = cs->rgba[2]; cb->alpha = cs->rgba[3];
                cb->lut[0] = 0;
            }
        }
    }
    if (maps) {
        if (maps->n > s->n_channels) {
            BAD ("maps: %d entries but the image has %d channels", maps->n, s->n_channels);
            goto fail;
        }
        for (int i = 0; i < maps->n; i++) {
            const rnd_map_spec_t *m = &maps->maps[i];
            if (m->has_reverse)
                s->channels[i].reverse = m->reverse;
            if (m->has_quantization) {
                s->channels[i].family = m->family;
                s->channels[i].coefficient = m->coefficient;
            }
        }
    }
    if (model)
        s->model = *model;
    if (rnd_settings_validate (s, err))
        goto fail;
    rnd_settings_destroy (sp);
    *sp = s;
    return 0;
fail:
    rnd_settings_destroy (&s);
    return -1;
}

int
rnd_query_parse (const rnd_query_in_t *in, const rnd_image_geom_t *g, rnd_query_t *out, omr_err_t *err)
{
    memset (out, 0, sizeof *out);
    out->proj = (rnd_proj_spec_t) { RND_PROJ_NORMAL, false, 0, g->size_z - 1 };
    out->quality = RND_DEFAULT_QUALITY;
    out->format = RND_FMT_JPEG;
    out->region = (rnd_region_t) { 0, 0, g->size_x, g->size_y };
    if (g->size_x < 1 || g->size_y < 1 || g->size_z < 1 || g->size_c < 1)
        return omr_err_set (err, OMR_E_API, 400, "image geometry %dx%d, %d z, %d c is invalid", g->size_x, g->size_y,
                            g->size_z, g->size_c);
    if (in->region && in->tile)
        return BAD ("give either region or tile, not both");
    if ((in->c && rnd_parse_channels (in->c, g->size_c, &out->c, err))
        || (in->maps && rnd_parse_maps (in->maps, g->size_c, &out->maps, err))
        || (in->m && rnd_parse_model_param (in->m, &out->model, err))
        || (in->p && rnd_parse_projection (in->p, g->size_z, &out->proj, err))
        || (in->q && rnd_parse_quality (in->q, &out->quality, err))
        || (in->format && rnd_parse_format (in->format, &out->format, err))
        || (in->region && rnd_parse_region (in->region, g->size_x, g->size_y, &out->region, err)))
        goto fail;
    if (in->tile) {
        rnd_level_t one = { g->size_x, g->size_y };
        const rnd_level_t *lv = g->levels ? g->levels : &one;
        int n = g->levels ? g->n_levels : 1;
        if (rnd_parse_tile (in->tile, lv, n, g->tile_w > 0 ? g->tile_w : 256, g->tile_h > 0 ? g->tile_h : 256,
                            g->max_tile_len, &out->level, &out->region, err))
            goto fail;
    }
    out->has_c = in->c != NULL;
    out->has_maps = in->maps != NULL;
    out->has_model = in->m != NULL;
    out->has_region = in->region != NULL;
    out->has_tile = in->tile != NULL;
    return 0;
fail:
    rnd_query_free (out);
    return -1;
}

void
rnd_query_free (rnd_query_t *q)
{
    if (!q)
        return;
    rnd_chan_specs_free (&q->c);
    rnd_maps_free (&q->maps);
}

int
rnd_query_apply_parsed (rnd_settings_t **s, const rnd_query_t *q, const rnd_lut_provider_t *luts, omr_err_t *err)
{
    return rnd_query_apply (s, q->has_c ? &q->c : NULL, q->has_maps ? &q->maps : NULL,
                            q->has_model ? &q->model : NULL, luts, err);
}
