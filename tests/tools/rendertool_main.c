/* omero-rendertool: drives the rendering engine library (services/blitz/render) from files,
 * for tests and the benchmark. Raw planes come as one file described by a JSON document:
 *   {"type":"uint16","size_x":W,"size_y":H,"size_z":Z,"size_c":C,"size_t":T,
 *    "byte_order":"little"|"big","data":"planes.raw",
 *    "channels":[{"min":0,"max":4095,"color":"FF0000","emission":520,"excitation":488},…]}
 * The data file holds the planes in OMERO's XYZCT order (a C-order numpy array of shape
 * (T, C, Z, Y, X)); "bit" planes are packed MSB-first per plane; "data" is relative to
 * the JSON file. Commands:
 *   render   --pixels P.json [--settings S.json] [--lut-dir DIR] [--z Z] [--t T] [--threads N]
 *            [--c …] [--m g|c] [--p …] [--maps JSON] [--q 0.9] [--format jpeg|png|tif]
 *            [--region x,y,w,h | --tile level,x,y[,w,h]] [--thumbnail SIZE | --scale WxH]
 *            [--split BORDER]     (split-channel view instead of one rendering)
 *            [--raw-out FILE] -o OUT
 *   defaults --pixels P.json            print OMERO's default settings as JSON
 *   luts     --lut-dir DIR              list the lookup tables found
 *   bench    [--size N] [--reps N] [--threads N]   render 3-channel uint16 N×N to JPEG vs libjpeg alone
 * Exit status: 0 ok, 2 bad input (HTTP 400 class, message on stderr), 1 other failures. */
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <turbojpeg.h>
#include "omr_error.h"
#include "rendertool_image.h"
#include "../../services/blitz/render/rnd_encode.h"
#include "../../services/blitz/render/rnd_lut.h"
#include "../../services/blitz/render/rnd_params.h"
#include "../../services/blitz/render/rnd_project.h"
#include "../../services/blitz/render/rnd_render.h"
#include "../../services/blitz/render/rnd_settings.h"
#include "../../services/blitz/render/rnd_split.h"

typedef struct {
    const char *pixels, *settings, *lut_dir, *out, *raw_out;
    const char *c, *m, *p, *maps, *q, *format, *region, *tile, *scale;
    int z, t, threads, thumbnail, size, reps, split;
} opts_t;

static int
fail (const omr_err_t *err)
{
    fprintf (stderr, "%s: %s\n", err->name[0] ? err->name : "Error", err->msg);
    return err->status >= 400 && err->status < 500 ? 2 : 1;
}

static int
cmd_defaults (const opts_t *o)
{
    omr_err_t err = { 0 };
    image_t im;
    if (!o->pixels) {
        fprintf (stderr, "defaults: --pixels is required\n");
        return 2;
    }
    if (rt_load_image (o->pixels, &im, &err))
        return fail (&err);
    rnd_settings_t *s = rnd_settings_default (&im.px, im.meta, &err);
    rt_free_image (&im);
    if (!s)
        return fail (&err);
    json_t *j = rnd_settings_to_json (s);
    char *txt = json_dumps (j, JSON_INDENT (1) | JSON_REAL_PRECISION (17));
    puts (txt);
    free (txt);
    json_decref (j);
    rnd_settings_destroy (&s);
    return 0;
}

static int
cmd_luts (const opts_t *o)
{
    omr_err_t err = { 0 };
    rnd_lut_provider_t *p = rnd_lut_provider_new (o->lut_dir, &err);
    if (!p)
        return fail (&err);
    for (int i = 0; i < rnd_lut_provider_count (p); i++)
        puts (rnd_lut_provider_at (p, i)->name);
    rnd_lut_provider_destroy (&p);
    return 0;
}

static int
cmd_render (const opts_t *o)
{
    omr_err_t err = { 0 };
    image_t im;
    int rc = 1;
    rnd_settings_t *s = NULL;
    rnd_lut_provider_t *luts = NULL;
    rnd_query_t qry;
    bool parsed = false;
    uint8_t *proj = NULL, *rgb = NULL, *enc = NULL, *scaled = NULL;
    rnd_plane_t *planes = NULL;
    double *gmin = NULL, *gmax = NULL;
    if (!o->pixels || !o->out) {
        fprintf (stderr, "render: --pixels and -o are required\n");
        return 2;
    }
    if (rt_load_image (o->pixels, &im, &err))
        return fail (&err);
    int C = im.px.size_c;
    if (!(s = rnd_settings_default (&im.px, im.meta, &err)))
        goto out;
    if (o->settings) {
        json_error_t je;
        json_t *j = json_load_file (o->settings, 0, &je);
        if (!j) {
            omr_err_set (&err, OMR_E_VALIDATION, 400, "%s:%d: %s", o->settings, je.line, je.text);
            goto out;
        }
        rnd_settings_t *ns = rnd_settings_from_json (j, s, &err);
        json_decref (j);
        if (!ns)
            goto out;
        rnd_settings_destroy (&s);
        s = ns;
    }
    if (o->lut_dir && !(luts = rnd_lut_provider_new (o->lut_dir, &err)))
        goto out;
    /* The format comes from --format, else from the output file's extension. */
    const char *dot = strrchr (o->out, '.');
    rnd_query_in_t in = { o->c, o->m, o->p, o->q, o->maps, o->format ? o->format : dot ? dot + 1 : "jpeg",
                          o->region, o->tile };
    rnd_image_geom_t geom = { im.px.size_x, im.px.size_y, im.px.size_z, C, NULL, 1, 256, 256, 1024 };
    if (rnd_query_parse (&in, &geom, &qry, &err))
        goto out;
    parsed = true;
    if (rnd_query_apply_parsed (&s, &qry, luts, &err))
        goto out;
    rnd_format_t fmt = qry.format;
    double q = qry.quality;
    rnd_proj_spec_t ps = qry.proj;
    rnd_region_t region = qry.region;
    int z = o->z >= 0 ? o->z : s->default_z, t = o->t >= 0 ? o->t : s->default_t;
    if (z < 0 || z >= im.px.size_z || t < 0 || t >= im.px.size_t) {
        omr_err_set (&err, OMR_E_VALIDATION, 400, "plane z=%d t=%d outside the image (%d z, %d t)", z, t,
                     im.px.size_z, im.px.size_t);
        goto out;
    }
    planes = calloc ((size_t) C, sizeof *planes);
    gmin = calloc ((size_t) C, sizeof *gmin);
    gmax = calloc ((size_t) C, sizeof *gmax);
    if (ps.type != RND_PROJ_NORMAL)
        proj = malloc (im.plane_bytes * (size_t) C);
    if (!planes || !gmin || !gmax || (ps.type != RND_PROJ_NORMAL && !proj)) {
        omr_err_set (&err, OMR_E_INTERNAL, 500, "out of memory");
        goto out;
    }
    for (int c = 0; c < C; c++) {
        gmin[c] = im.meta[c].has_stats ? im.meta[c].global_min : s->channels[c].input_start;
        gmax[c] = im.meta[c].has_stats ? im.meta[c].global_max : s->channels[c].input_end;
        planes[c] = rt_plane_at (&im, z, c, t);
        if (ps.type == RND_PROJ_NORMAL || !s->channels[c].active)
            continue;
        rnd_plane_t stack[im.px.size_z];
        for (int zz = 0; zz < im.px.size_z; zz++)
            stack[zz] = rt_plane_at (&im, zz, c, t);
        uint8_t *dst = proj + (size_t) c * im.plane_bytes;
        if (rnd_project (ps.type, stack, im.px.size_z, ps.start, ps.end, 1, 0, dst, &err))
            goto out;
        planes[c].data = dst;
    }
    rgb = malloc ((size_t) region.w * region.h * 3);
    if (!rgb) {
        omr_err_set (&err, OMR_E_INTERNAL, 500, "out of memory");
        goto out;
    }
    rnd_render_req_t req = { s, planes, gmin, gmax, luts, region, o->threads };
    int ow = region.w, oh = region.h;
    if (o->split >= 0) {
        /* Split-channel view: the canvas replaces the single rendering. */
        rnd_split_layout_t L;
        free (rgb);
        rgb = NULL;
        if (rnd_render_split (&req, o->split, &rgb, &L, &err))
            goto out;
        region = (rnd_region_t) { 0, 0, L.width, L.height };
        ow = L.width;
        oh = L.height;
    } else if (rnd_render (&req, rgb, &err))
        goto out;
    uint8_t *img = rgb;
    if (o->thumbnail > 0 || o->scale) {
        if (o->thumbnail > 0) {
            if (rnd_thumbnail_size (region.w, region.h, o->thumbnail, &ow, &oh, &err))
                goto out;
        } else if (sscanf (o->scale, "%dx%d", &ow, &oh) != 2 || ow < 1 || oh < 1 || ow > 65535 || oh > 65535) {
            omr_err_set (&err, OMR_E_VALIDATION, 400, "--scale must be WxH");
            goto out;
        }
        scaled = malloc ((size_t) ow * oh * 3);
        if (!scaled || rnd_scale_rgb (rgb, region.w, region.h, scaled, ow, oh, &err)) {
            if (!scaled) omr_err_set (&err, OMR_E_INTERNAL, 500, "out of memory");
            goto out;
        }
        img = scaled;
    }
    if (o->raw_out && rt_write_file (o->raw_out, img, (size_t) ow * oh * 3, &err))
        goto out;
    size_t len;
    if (rnd_encode (fmt, img, ow, oh, q, &enc, &len, &err) || rt_write_file (o->out, enc, len, &err))
        goto out;
    rc = 0;
out:
    if (rc)
        rc = fail (&err);
    free (enc);
    free (scaled);
    free (rgb);
    free (proj);
    free (planes);
    free (gmin);
    free (gmax);
    if (parsed)
        rnd_query_free (&qry);
    rnd_lut_provider_destroy (&luts);
    rnd_settings_destroy (&s);
    rt_free_image (&im);
    return rc;
}

static double
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Render a synthetic 3-channel uint16 plane to JPEG and compare with encoding the same
 * composited RGB buffer with libjpeg-turbo alone (the floor). Prints, asserts nothing. */
static int
cmd_bench (const opts_t *o)
{
    omr_err_t err = { 0 };
    int n = o->size > 0 ? o->size : 1024, reps = o->reps > 0 ? o->reps : 20;
    const int C = 3;
    size_t npix = (size_t) n * n;
    uint16_t *data = malloc (npix * C * sizeof *data);
    uint8_t *rgb = malloc (npix * 3);
    double *t_full = malloc ((size_t) reps * sizeof (double)), *t_floor = malloc ((size_t) reps * sizeof (double));
    double *t_render = malloc ((size_t) reps * sizeof (double));
    if (!data || !rgb || !t_full || !t_floor || !t_render) {
        fprintf (stderr, "bench: out of memory\n");
        return 1;
    }
    /* Smooth structures plus noise, like a fluorescence image: JPEG works as it would on real data. */
    uint32_t seed = 12345;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                seed = seed * 1664525u + 1013904223u;
                double v = 800 + 600 * sin ((x + 97 * c) / 37.0) * cos ((y - 53 * c) / 23.0)
                           + 400.0 * ((x * (c + 1) + y) % 256) / 256.0 + (seed >> 24);
                data[(size_t) c * npix + (size_t) y * n + x] = (uint16_t) (v < 0 ? 0 : v);
            }
    rnd_pixels_t px = { RND_UINT16, n, n, 1, C, 1 };
    rnd_channel_meta_t meta[3] = { { .has_stats = true, .global_min = 0, .global_max = 2200 },
                                   { .has_stats = true, .global_min = 0, .global_max = 2200 },
                                   { .has_stats = true, .global_min = 0, .global_max = 2200 } };
    rnd_settings_t *s = rnd_settings_default (&px, meta, &err);
    if (!s)
        return fail (&err);
    for (int c = 0; c < C; c++) {
        s->channels[c].input_start = 200 + 50 * c;
        s->channels[c].input_end = 1900 - 100 * c;
    }
    rnd_plane_t planes[3];
    for (int c = 0; c < C; c++)
        planes[c] = (rnd_plane_t) { RND_UINT16, n, n, data + (size_t) c * npix };
    rnd_render_req_t req = { s, planes, NULL, NULL, NULL, { 0, 0, n, n }, o->threads };
    int quality = rnd_jpeg_quality (RND_DEFAULT_QUALITY);
    size_t jpeg_len = 0;
    /* As a Blitz worker renders: quantum tables cached per settings, one kept JPEG encoder
     * (fast DCT); the floor is libjpeg-turbo with a kept handle and the same flags. */
    rnd_qcache_t *qc = rnd_qcache_new (8);
    rnd_jpeg_t *jenc = rnd_jpeg_new (&err);
    tjhandle tj = tjInitCompress ();
    unsigned long bufcap = tjBufSize (n, n, TJSAMP_420);
    unsigned char *buf = tjAlloc ((int) bufcap);
    if (!qc || !jenc || !tj || !buf)
        return err.msg[0] ? fail (&err) : 1;
    for (int i = -2; i < reps; i++) {      /* two warm-up rounds */
        uint8_t *enc = NULL;
        size_t len;
        double t0 = now_ms ();
        if (rnd_render_cached (&req, qc, rgb, &err))
            return fail (&err);
        double t1 = now_ms ();
        if (rnd_encode_with (jenc, RND_FMT_JPEG, rgb, n, n, RND_DEFAULT_QUALITY, &enc, &len, &err))
            return fail (&err);
        double t2 = now_ms ();
        free (enc);
        /* Floor: the same RGB buffer through libjpeg-turbo directly. */
        unsigned long blen = bufcap;
        double t3 = now_ms ();
        tjCompress2 (tj, rgb, n, 0, n, TJPF_RGB, &buf, &blen, TJSAMP_420, quality, TJFLAG_FASTDCT | TJFLAG_NOREALLOC);
        double t4 = now_ms ();
        if (i >= 0) {
            t_render[i] = t1 - t0;
            t_full[i] = t2 - t0;
            t_floor[i] = t4 - t3;
            jpeg_len = len;
        }
    }
    qsort (t_render, (size_t) reps, sizeof (double), cmp_double);
    qsort (t_full, (size_t) reps, sizeof (double), cmp_double);
    qsort (t_floor, (size_t) reps, sizeof (double), cmp_double);
    double mr = t_render[reps / 2], mf = t_full[reps / 2], mj = t_floor[reps / 2];
    printf ("render_bench: %dx%d, %d channels uint16 -> JPEG q=%d, %d reps, threads=%s%d, jpeg %zu bytes\n", n, n, C,
            quality, reps, o->threads > 0 ? "" : "auto/", o->threads, jpeg_len);
    printf ("render_bench: render only      median %8.2f ms\n", mr);
    printf ("render_bench: render + encode  median %8.2f ms  (%.1f Mpixel/s)\n", mf, npix / 1e3 / mf);
    printf ("render_bench: floor (libjpeg-turbo on the composited RGB) median %8.2f ms\n", mj);
    printf ("render_bench: ratio render+encode / floor = %.2f\n", mf / mj);
    rnd_settings_destroy (&s);
    rnd_qcache_destroy (&qc);
    rnd_jpeg_destroy (&jenc);
    tjFree (buf);
    tjDestroy (tj);
    free (data);
    free (rgb);
    free (t_full);
    free (t_floor);
    free (t_render);
    return 0;
}

static int
usage (void)
{
    fprintf (stderr, "usage: omero-rendertool render|defaults|luts|bench [options] (see the source header)\n");
    return 2;
}

int
main (int argc, char **argv)
{
    if (argc < 2)
        return usage ();
    opts_t o = { .z = -1, .t = -1, .split = -1 };
    struct { const char *name; const char **s; int *i; } table[] = {
        { "--pixels", &o.pixels, NULL }, { "--settings", &o.settings, NULL }, { "--lut-dir", &o.lut_dir, NULL },
        { "-o", &o.out, NULL }, { "--raw-out", &o.raw_out, NULL }, { "--c", &o.c, NULL }, { "--m", &o.m, NULL },
        { "--p", &o.p, NULL }, { "--maps", &o.maps, NULL }, { "--q", &o.q, NULL }, { "--format", &o.format, NULL },
        { "--region", &o.region, NULL }, { "--tile", &o.tile, NULL }, { "--scale", &o.scale, NULL },
        { "--z", NULL, &o.z }, { "--t", NULL, &o.t }, { "--threads", NULL, &o.threads },
        { "--thumbnail", NULL, &o.thumbnail }, { "--split", NULL, &o.split }, { "--size", NULL, &o.size }, { "--reps", NULL, &o.reps },
    };
    for (int a = 2; a < argc; a++) {
        size_t k;
        for (k = 0; k < sizeof table / sizeof table[0]; k++)
            if (strcmp (argv[a], table[k].name) == 0)
                break;
        if (k == sizeof table / sizeof table[0] || a + 1 >= argc) {
            fprintf (stderr, "unknown option or missing value: %s\n", argv[a]);
            return usage ();
        }
        const char *v = argv[++a];
        if (table[k].s)
            *table[k].s = v;
        else {
            char *end;
            long x = strtol (v, &end, 10);
            if (*end || x < -1 || x > 1000000) {
                fprintf (stderr, "%s: '%s' is not an integer\n", table[k].name, v);
                return 2;
            }
            *table[k].i = (int) x;
        }
    }
    const char *cmd = argv[1];
    if (strcmp (cmd, "render") == 0) return cmd_render (&o);
    if (strcmp (cmd, "defaults") == 0) return cmd_defaults (&o);
    if (strcmp (cmd, "luts") == 0) return cmd_luts (&o);
    if (strcmp (cmd, "bench") == 0) return cmd_bench (&o);
    return usage ();
}
