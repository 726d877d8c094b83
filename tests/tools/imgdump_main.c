/* imgdump_main.c: omero-imgdump, the test tool of the format readers. Prints a fileset's
 * metadata as JSON, or raw plane bytes (host order) for byte-for-byte comparison in tests.
 *
 *   omero-imgdump FILE                       metadata as JSON
 *   omero-imgdump --planes FILE              every plane of every image and level, raw:
 *                                            for image, for level, for t, for c, for z: Y*X pixels
 *   omero-imgdump --region I L Z C T X Y W H FILE   one region, raw
 *   omero-imgdump --minmax I Z C T FILE      "min max" of one plane
 *   omero-imgdump --tiles I L Z C T LIST FILE   read the regions listed in LIST ("x y w h" per
 *                                            line) and print {"tiles", "seconds", "checksum"} */
#include "../../formats/fileset.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static json_t *
quantity (const fmt_quantity_t *q)
{
    if (!q->set)
        return json_null ();
    return json_pack ("{s:f, s:s}", "value", q->value, "unit", q->unit);
}

static json_t *
str_or_null (const char *s)
{
    return s ? json_string (s) : json_null ();
}

static json_t *
metadata (const fmt_fileset_t *fs)
{
    json_t *root = json_object ();
    json_object_set_new (root, "format", json_string (fmt_fileset_format (fs)));
    json_t *files = json_array ();
    for (int i = 0; i < fmt_fileset_file_count (fs); i++)
        json_array_append_new (files, json_string (fmt_fileset_file (fs, i)));
    json_object_set_new (root, "files", files);
    json_object_set_new (root, "ome_xml", str_or_null (fmt_fileset_ome_xml (fs)));
    json_t *insts = json_array ();
    for (int i = 0; i < fmt_fileset_instrument_count (fs); i++) {
        const fmt_instrument_t *in = fmt_fileset_instrument (fs, i);
        json_t *objs = json_array (), *dets = json_array ();
        for (int j = 0; j < in->objective_count; j++) {
            const fmt_objective_t *o = &in->objectives[j];
            json_array_append_new (objs, json_pack ("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", str_or_null (o->id),
                "manufacturer", str_or_null (o->manufacturer), "model", str_or_null (o->model),
                "immersion", str_or_null (o->immersion),
                "nominal_magnification", o->has_magnification ? json_real (o->nominal_magnification) : json_null (),
                "lens_na", o->has_lens_na ? json_real (o->lens_na) : json_null ()));
        }
        for (int j = 0; j < in->detector_count; j++) {
            const fmt_detector_t *d = &in->detectors[j];
            json_array_append_new (dets, json_pack ("{s:o, s:o, s:o, s:o}", "id", str_or_null (d->id),
                "manufacturer", str_or_null (d->manufacturer), "model", str_or_null (d->model),
                "type", str_or_null (d->type)));
        }
        json_array_append_new (insts, json_pack ("{s:o, s:o, s:o}", "id", str_or_null (in->id),
                                                 "objectives", objs, "detectors", dets));
    }
    json_object_set_new (root, "instruments", insts);
    json_t *images = json_array ();
    for (int i = 0; i < fmt_fileset_image_count (fs); i++) {
        const fmt_image_t *im = fmt_fileset_image (fs, i);
        json_t *o = json_object ();
        json_object_set_new (o, "name", json_string (im->name));
        json_object_set_new (o, "description", str_or_null (im->description));
        json_object_set_new (o, "acquisition_date", str_or_null (im->acquisition_date));
        json_object_set_new (o, "size_x", json_integer (im->size_x));
        json_object_set_new (o, "size_y", json_integer (im->size_y));
        json_object_set_new (o, "size_z", json_integer (im->size_z));
        json_object_set_new (o, "size_c", json_integer (im->size_c));
        json_object_set_new (o, "size_t", json_integer (im->size_t));
        json_object_set_new (o, "pixel_type", json_string (fmt_pixtype_name (im->pixel_type)));
        json_object_set_new (o, "bytes_per_pixel", json_integer (fmt_pixtype_bytes (im->pixel_type)));
        json_object_set_new (o, "dimension_order", json_string (im->dimension_order));
        json_object_set_new (o, "physical_size_x", quantity (&im->physical_size_x));
        json_object_set_new (o, "physical_size_y", quantity (&im->physical_size_y));
        json_object_set_new (o, "physical_size_z", quantity (&im->physical_size_z));
        json_object_set_new (o, "time_increment", quantity (&im->time_increment));
        json_object_set_new (o, "significant_bits", json_integer (im->significant_bits));
        json_object_set_new (o, "rgb", json_boolean (im->rgb));
        json_object_set_new (o, "interleaved", json_boolean (im->interleaved));
        json_object_set_new (o, "instrument", json_integer (im->instrument));
        json_t *chs = json_array ();
        for (uint32_t c = 0; c < im->size_c; c++) {
            const fmt_channel_t *ch = &im->channels[c];
            json_array_append_new (chs, json_pack ("{s:o, s:o, s:o, s:o, s:o, s:i}", "name", str_or_null (ch->name),
                "fluor", str_or_null (ch->fluor), "emission", quantity (&ch->emission),
                "excitation", quantity (&ch->excitation),
                "color", ch->has_color ? json_integer (ch->color) : json_null (),
                "samples_per_pixel", ch->samples_per_pixel));
        }
        json_object_set_new (o, "channels", chs);
        json_t *pls = json_array ();
        for (int p = 0; p < im->plane_count; p++) {
            const fmt_plane_t *pl = &im->planes[p];
            json_array_append_new (pls, json_pack ("{s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o}", "z", pl->z, "c", pl->c,
                "t", pl->t, "delta_t", quantity (&pl->delta_t), "exposure_time", quantity (&pl->exposure_time),
                "position_x", quantity (&pl->position_x), "position_y", quantity (&pl->position_y),
                "position_z", quantity (&pl->position_z)));
        }
        json_object_set_new (o, "planes", pls);
        json_t *lvs = json_array ();
        for (int l = 0; l < im->level_count; l++)
            json_array_append_new (lvs, json_pack ("{s:i, s:i, s:i, s:i}", "size_x", im->levels[l].size_x,
                "size_y", im->levels[l].size_y, "tile_w", im->levels[l].tile_w, "tile_h", im->levels[l].tile_h));
        json_object_set_new (o, "levels", lvs);
        json_t *orig = json_object ();
        for (int k = 0; k < im->original_count; k++)
            json_object_set_new (orig, im->original[k].key, json_string (im->original[k].value));
        json_object_set_new (o, "original", orig);
        json_t *uses = json_array ();
        for (int f = 0; f < fmt_fileset_file_count (fs); f++)
            if (fmt_fileset_image_uses_file (fs, i, f))
                json_array_append_new (uses, json_integer (f));
        json_object_set_new (o, "files", uses);
        json_array_append_new (images, o);
    }
    json_object_set_new (root, "images", images);
    return root;
}

static int
fail (const char *what, const omr_err_t *err)
{
    fprintf (stderr, "omero-imgdump: %s: %s: %s\n", what, err->name, err->msg);
    return 1;
}

static int
dump_region (fmt_fileset_t *fs, int i, int l, uint32_t z, uint32_t c, uint32_t t, uint32_t x, uint32_t y,
             uint32_t w, uint32_t h, omr_err_t *err)
{
    const fmt_image_t *im = fmt_fileset_image (fs, i);
    if (!im)
        return omr_err_set (err, OMR_E_API, 400, "no image %d", i);
    size_t n = fmt_image_region_bytes (im, w, h);
    void *buf = malloc (n ? n : 1);
    if (!buf)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    int rc = fmt_fileset_read_region (fs, i, l, z, c, t, x, y, w, h, buf, n, err);
    if (rc == 0 && fwrite (buf, 1, n, stdout) != n)
        rc = omr_err_set (err, OMR_E_INTERNAL, 500, "write error");
    free (buf);
    return rc;
}

int
main (int argc, char **argv)
{
    omr_err_t err = { 0 };
    if (argc == 2 && argv[1][0] != '-') {
        fmt_fileset_t *fs = fmt_fileset_open (argv[1], &err);
        if (!fs)
            return fail ("open", &err);
        json_t *j = metadata (fs);
        char *s = json_dumps (j, JSON_INDENT (1) | JSON_SORT_KEYS);
        puts (s);
        free (s);
        json_decref (j);
        fmt_fileset_destroy (&fs);
        return 0;
    }
    if (argc == 3 && strcmp (argv[1], "--planes") == 0) {
        fmt_fileset_t *fs = fmt_fileset_open (argv[2], &err);
        if (!fs)
            return fail ("open", &err);
        int rc = 0;
        for (int i = 0; rc == 0 && i < fmt_fileset_image_count (fs); i++) {
            const fmt_image_t *im = fmt_fileset_image (fs, i);
            for (int l = 0; rc == 0 && l < im->level_count; l++)
                for (uint32_t t = 0; rc == 0 && t < im->size_t; t++)
                    for (uint32_t c = 0; rc == 0 && c < im->size_c; c++)
                        for (uint32_t z = 0; rc == 0 && z < im->size_z; z++)
                            rc = dump_region (fs, i, l, z, c, t, 0, 0, im->levels[l].size_x, im->levels[l].size_y, &err);
        }
        fmt_fileset_destroy (&fs);
        return rc ? fail ("read", &err) : 0;
    }
    if (argc == 12 && strcmp (argv[1], "--region") == 0) {
        long v[9];
        for (int k = 0; k < 9; k++)
            v[k] = strtol (argv[2 + k], NULL, 10);
        fmt_fileset_t *fs = fmt_fileset_open (argv[11], &err);
        if (!fs)
            return fail ("open", &err);
        int rc = dump_region (fs, (int) v[0], (int) v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], &err);
        fmt_fileset_destroy (&fs);
        return rc ? fail ("read", &err) : 0;
    }
    if (argc == 7 && strcmp (argv[1], "--minmax") == 0) {
        fmt_fileset_t *fs = fmt_fileset_open (argv[6], &err);
        if (!fs)
            return fail ("open", &err);
        double lo, hi;
        int rc = fmt_fileset_plane_minmax (fs, atoi (argv[2]), atoi (argv[3]), atoi (argv[4]), atoi (argv[5]), &lo, &hi, &err);
        if (rc == 0)
            printf ("%.17g %.17g\n", lo, hi);
        fmt_fileset_destroy (&fs);
        return rc ? fail ("minmax", &err) : 0;
    }
    if (argc == 9 && strcmp (argv[1], "--tiles") == 0) {
        FILE *lf = fopen (argv[7], "r");
        if (!lf) {
            fprintf (stderr, "omero-imgdump: cannot open %s\n", argv[7]);
            return 1;
        }
        size_t cap = 1024, n = 0;
        uint32_t (*reg)[4] = malloc (cap * sizeof *reg);
        while (reg && fscanf (lf, "%u %u %u %u", &reg[n][0], &reg[n][1], &reg[n][2], &reg[n][3]) == 4)
            if (++n == cap) {
                cap *= 2;
                uint32_t (*r2)[4] = realloc (reg, cap * sizeof *reg);
                if (!r2)
                    break;
                reg = r2;
            }
        fclose (lf);
        fmt_fileset_t *fs = fmt_fileset_open (argv[8], &err);
        if (!fs || !reg) {
            free (reg);
            return fail ("open", &err);
        }
        int im = atoi (argv[2]), lv = atoi (argv[3]);
        const fmt_image_t *img = fmt_fileset_image (fs, im);
        size_t max = 0;
        for (size_t k = 0; img && k < n; k++)
            if (fmt_image_region_bytes (img, reg[k][2], reg[k][3]) > max)
                max = fmt_image_region_bytes (img, reg[k][2], reg[k][3]);
        uint8_t *buf = malloc (max ? max : 1);
        struct timespec t0, t1;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        uint64_t sum = 0;
        int rc = img ? 0 : -1;
        for (size_t k = 0; rc == 0 && k < n; k++) {
            size_t nb = fmt_image_region_bytes (img, reg[k][2], reg[k][3]);
            rc = fmt_fileset_read_region (fs, im, lv, atoi (argv[4]), atoi (argv[5]), atoi (argv[6]),
                                          reg[k][0], reg[k][1], reg[k][2], reg[k][3], buf, nb, &err);
            for (size_t i = 0; i < nb; i += 61)
                sum += buf[i];
        }
        clock_gettime (CLOCK_MONOTONIC, &t1);
        double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (rc == 0)
            printf ("{\"tiles\": %zu, \"seconds\": %.6f, \"checksum\": %llu}\n", n, secs, (unsigned long long) sum);
        free (buf);
        free (reg);
        fmt_fileset_destroy (&fs);
        return rc ? fail ("tiles", &err) : 0;
    }
    fprintf (stderr, "usage: omero-imgdump FILE | --planes FILE | --region I L Z C T X Y W H FILE"
                     " | --minmax I Z C T FILE | --tiles I L Z C T LIST FILE\n");
    return 2;
}
