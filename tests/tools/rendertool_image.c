/* rendertool_image: raw planes + JSON description loader for omero-rendertool. */
#include "rendertool_image.h"
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../services/blitz/render/rnd_params.h"

uint8_t *
rt_read_file (const char *path, size_t *len, omr_err_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot open %s: %s", path, strerror (errno)), NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *d = n >= 0 ? malloc ((size_t) n + 1) : NULL;
    if (!d || fread (d, 1, (size_t) n, f) != (size_t) n) {
        free (d);
        fclose (f);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot read %s", path), NULL;
    }
    fclose (f);
    *len = (size_t) n;
    return d;
}

int
rt_write_file (const char *path, const uint8_t *d, size_t n, omr_err_t *err)
{
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (d, 1, n, f) != n || fclose (f) != 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", path, strerror (errno));
    return 0;
}

static int
json_size (json_t *j, const char *key, int def, int *out, omr_err_t *err)
{
    json_t *v = json_object_get (j, key);
    if (!v) {
        if (def < 0)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "pixels: \"%s\" is required", key);
        *out = def;
        return 0;
    }
    if (!json_is_integer (v) || json_integer_value (v) < 1 || json_integer_value (v) > 1000000)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "pixels: \"%s\" must be an integer 1..1000000", key);
    *out = (int) json_integer_value (v);
    return 0;
}

static void
swap_bytes (uint8_t *d, size_t n, int width)
{
    for (size_t i = 0; i + (size_t) width <= n; i += (size_t) width)
        for (int a = 0, b = width - 1; a < b; a++, b--) {
            uint8_t t = d[i + a];
            d[i + a] = d[i + b];
            d[i + b] = t;
        }
}

int
rt_load_image (const char *path, image_t *im, omr_err_t *err)
{
    memset (im, 0, sizeof *im);
    json_error_t je;
    json_t *j = json_load_file (path, 0, &je);
    if (!j)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s:%d: %s", path, je.line, je.text);
    int rc = -1;
    json_t *ty = json_object_get (j, "type");
    if (!json_is_string (ty)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "pixels: \"type\" is required");
        goto done;
    }
    if (rnd_ptype_parse (json_string_value (ty), &im->px.type, err)
        || json_size (j, "size_x", -1, &im->px.size_x, err) || json_size (j, "size_y", -1, &im->px.size_y, err)
        || json_size (j, "size_z", 1, &im->px.size_z, err) || json_size (j, "size_c", 1, &im->px.size_c, err)
        || json_size (j, "size_t", 1, &im->px.size_t, err))
        goto done;
    im->plane_bytes = rnd_plane_bytes (im->px.type, im->px.size_x, im->px.size_y);
    size_t nplanes = (size_t) im->px.size_z * im->px.size_c * im->px.size_t;
    im->meta = calloc ((size_t) im->px.size_c, sizeof *im->meta);
    json_t *chans = json_object_get (j, "channels");
    if (chans && (!json_is_array (chans) || json_array_size (chans) != (size_t) im->px.size_c)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "pixels: \"channels\" must list %d channels", im->px.size_c);
        goto done;
    }
    for (int c = 0; chans && c < im->px.size_c; c++) {
        json_t *o = json_array_get (chans, (size_t) c), *v;
        rnd_channel_meta_t *m = &im->meta[c];
        json_t *mn = json_object_get (o, "min"), *mx = json_object_get (o, "max");
        if (json_is_number (mn) && json_is_number (mx)) {
            m->has_stats = true;
            m->global_min = json_number_value (mn);
            m->global_max = json_number_value (mx);
        }
        if ((v = json_object_get (o, "color"))) {
            uint8_t rgba[4];
            if (!json_is_string (v) || rnd_parse_color (json_string_value (v), rgba, err))
                goto done;
            m->has_color = true;
            m->red = rgba[0]; m->green = rgba[1]; m->blue = rgba[2]; m->alpha = rgba[3];
        }
        if (json_is_number ((v = json_object_get (o, "emission")))) m->emission_wave = json_number_value (v);
        if (json_is_number ((v = json_object_get (o, "excitation")))) m->excitation_wave = json_number_value (v);
    }
    json_t *df = json_object_get (j, "data");
    if (!json_is_string (df)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "pixels: \"data\" (file name) is required");
        goto done;
    }
    char dir[4096], file[4096];
    snprintf (dir, sizeof dir, "%s", path);
    const char *dn = dirname (dir);
    if (json_string_value (df)[0] == '/')
        snprintf (file, sizeof file, "%s", json_string_value (df));
    else
        snprintf (file, sizeof file, "%s/%s", dn, json_string_value (df));
    size_t len;
    im->data = rt_read_file (file, &len, err);
    if (!im->data)
        goto done;
    if (len != im->plane_bytes * nplanes) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s holds %zu bytes, expected %zu (%zu planes of %zu bytes)",
                     file, len, im->plane_bytes * nplanes, nplanes, im->plane_bytes);
        goto done;
    }
    json_t *bo = json_object_get (j, "byte_order");
    int width = rnd_ptype_bits (im->px.type) / 8;
    bool big = bo && json_is_string (bo) && strcmp (json_string_value (bo), "big") == 0;
    uint16_t probe = 1;
    bool host_little = *(uint8_t *) &probe == 1;
    if (width > 1 && big == host_little)
        swap_bytes (im->data, len, width);
    rc = 0;
done:
    json_decref (j);
    if (rc) {
        rt_free_image (im);
        im->meta = NULL;
        im->data = NULL;
    }
    return rc;
}

void
rt_free_image (image_t *im)
{
    free (im->meta);
    free (im->data);
}

rnd_plane_t
rt_plane_at (const image_t *im, int z, int c, int t)
{
    size_t idx = ((size_t) t * im->px.size_c + (size_t) c) * im->px.size_z + (size_t) z;
    return (rnd_plane_t) { im->px.type, im->px.size_x, im->px.size_y, im->data + idx * im->plane_bytes };
}

