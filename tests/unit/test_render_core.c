/* Unit tests of the rendering engine core: quantum maps, defaults and settings JSON,
 * lookup table files, projections, rendering, scaling and the encoders. */
/* UNIT_LINK: services/blitz/render */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include <tiffio.h>
#include <turbojpeg.h>
#include "unit.h"
#include "../../services/blitz/render/rnd_encode.h"
#include "../../services/blitz/render/rnd_lut.h"
#include "../../services/blitz/render/rnd_project.h"
#include "../../services/blitz/render/rnd_quantum.h"
#include "../../services/blitz/render/rnd_render.h"
#include "../../services/blitz/render/rnd_settings.h"
#include "../../services/blitz/render/rnd_split.h"

static rnd_quantum_def_t QD = { 255, 0, 255 };

static int
quant (rnd_ptype_t t, rnd_family_t f, double k, double ws, double we, bool nr, double v)
{
    rnd_channel_binding_t cb = { .active = true, .input_start = ws, .input_end = we, .family = f, .coefficient = k,
                                 .noise_reduction = nr };
    rnd_quantum_t q;
    omr_err_t e = { 0 };
    if (rnd_quantum_init (&q, &QD, &cb, t, ws, we, &e))
        return -1;
    int r = rnd_quantum_eval (&q, v);
    rnd_quantum_free (&q);
    return r;
}

static void
test_quantum_values (void)
{
    for (int v = 0; v < 256; v++)   /* linear over the full uint8 range is the identity */
        CHECK_INT (quant (RND_UINT8, RND_FAMILY_LINEAR, 1, 0, 255, false, v), v);
    CHECK_INT (quant (RND_UINT16, RND_FAMILY_LINEAR, 1, 100, 200, false, 150), 128);
    CHECK_INT (quant (RND_UINT16, RND_FAMILY_LINEAR, 1, 100, 200, false, 99), 0);
    CHECK_INT (quant (RND_UINT16, RND_FAMILY_LINEAR, 1, 100, 200, false, 199), 252);
    CHECK_INT (quant (RND_UINT16, RND_FAMILY_LINEAR, 1, 100, 200, false, 200), 255);
    /* 32-bit and float types bin the value first (getMiddleRange): 150 in 100..200 with 256 bins
     * of 0.390625 falls in bin 128 and is mapped from 100 + 127.5 bins = 149.80 -> 127. */
    CHECK_INT (quant (RND_DOUBLE, RND_FAMILY_LINEAR, 1, 100, 200, false, 150.0), 127);
    CHECK_INT (quant (RND_FLOAT, RND_FAMILY_LINEAR, 1, -1, 1, false, 0.0), 127);
    CHECK_INT (quant (RND_FLOAT, RND_FAMILY_LINEAR, 1, -1, 1, false, 1.0), 255);
    CHECK_INT (quant (RND_FLOAT, RND_FAMILY_LINEAR, 1, -1, 1, false, 5.0), 255);
    CHECK_INT (quant (RND_FLOAT, RND_FAMILY_LINEAR, 1, -1, 1, false, -1.0), 0);
    CHECK_INT (quant (RND_INT32, RND_FAMILY_LINEAR, 1, 0, 255, false, 100), 99);
    /* Windows are clamped to the type range (setWindow): uint8 -100..355 is 0..255. */
    CHECK_INT (quant (RND_UINT8, RND_FAMILY_LINEAR, 1, -100, 355, false, 100), 100);
    /* A window wider than a 16-bit type can span is replaced by the type range. */
    CHECK_INT (quant (RND_INT16, RND_FAMILY_LINEAR, 1, -40000, 40000, false, 0), 128);
    CHECK_INT (quant (RND_INT32, RND_FAMILY_LINEAR, 1, -1000, 1000, false, -2000), 0);
    CHECK_INT (quant (RND_INT8, RND_FAMILY_LINEAR, 1, -128, 127, false, -128), 0);
    CHECK_INT (quant (RND_UINT8, RND_FAMILY_POLYNOMIAL, 2, 0, 255, false, 128), 64);
    CHECK_INT (quant (RND_UINT8, RND_FAMILY_POLYNOMIAL, 0.5, 0, 255, false, 64), 128);
    CHECK_INT (quant (RND_UINT8, RND_FAMILY_LOGARITHMIC, 1, 0, 255, false, 16), 128);
    CHECK_INT (quant (RND_UINT8, RND_FAMILY_EXPONENTIAL, 1, 0, 255, false, 250), 2);
    CHECK_INT (quant (RND_UINT8, RND_FAMILY_LINEAR, 7, 0, 255, false, 128), 128);   /* k ignored for linear */
    /* Noise reduction keeps values inside [10, 255]; out-of-window values hit 10 and 245. */
    CHECK_INT (quant (RND_UINT16, RND_FAMILY_LINEAR, 1, 100, 200, true, 50), 10);
    CHECK_INT (quant (RND_UINT16, RND_FAMILY_LINEAR, 1, 100, 200, true, 250), 245);
    /* An inverted window renders with the type's range, as OMERO's setWindow does. */
    CHECK_INT (quant (RND_UINT8, RND_FAMILY_LINEAR, 1, 5, 1, false, 100), 100);
    rnd_channel_binding_t cb = { .input_start = 0, .input_end = 1, .coefficient = 0 };
    rnd_quantum_t q;
    omr_err_t e = { 0 };
    CHECK_INT (rnd_quantum_init (&q, &QD, &cb, RND_UINT8, 0, 255, &e), -1);
}

static void
test_defaults_and_json (void)
{
    omr_err_t e = { 0 };
    rnd_pixels_t px = { RND_UINT16, 10, 10, 7, 4, 2 };
    rnd_channel_meta_t m[4] = { { .has_stats = true, .global_min = 5, .global_max = 900, .emission_wave = 450 },
                                { .emission_wave = 530 },
                                { .has_stats = true, .global_min = 3, .global_max = 3 },
                                { .has_color = true, .red = 1, .green = 2, .blue = 3, .alpha = 4 } };
    rnd_settings_t *s = rnd_settings_default (&px, m, &e);
    CHECK (s != NULL);
    if (!s)
        return;
    CHECK_INT (s->model, RND_MODEL_RGB);
    CHECK_INT (s->default_z, 3);
    CHECK (s->channels[0].active && s->channels[2].active && !s->channels[3].active);
    CHECK (s->channels[0].blue == 255 && s->channels[0].red == 0);
    CHECK (s->channels[1].green == 255 && s->channels[1].blue == 0);
    CHECK (s->channels[2].red == 255 && s->channels[2].green == 255 && s->channels[2].blue == 255);  /* white */
    CHECK (s->channels[3].red == 1 && s->channels[3].alpha == 4);
    CHECK (s->channels[0].input_start == 5 && s->channels[0].input_end == 900);
    CHECK (s->channels[1].input_start == 0 && s->channels[1].input_end == 65535);
    CHECK (s->channels[2].input_start == 0 && s->channels[2].input_end == 65535);
    json_t *j = rnd_settings_to_json (s);
    rnd_settings_t *back = rnd_settings_from_json (j, NULL, &e);
    CHECK (back != NULL);
    if (back) {
        CHECK_INT (back->n_channels, 4);
        CHECK (back->channels[3].alpha == 4 && back->channels[0].input_end == 900 && !back->channels[3].active);
        rnd_settings_destroy (&back);
    }
    json_decref (j);
    j = json_loads ("{\"channels\":[{},{},{},{\"family\":\"cubic\"}]}", 0, NULL);
    CHECK (rnd_settings_from_json (j, s, &e) == NULL);
    CHECK (strstr (e.msg, "channels[3]") != NULL);
    json_decref (j);
    j = json_loads ("{\"quantization\":{\"bit_resolution\":15},\"model\":\"greyscale\"}", 0, NULL);
    back = rnd_settings_from_json (j, s, &e);
    CHECK (back && back->qdef.bit_resolution == 15 && back->model == RND_MODEL_GREYSCALE
           && back->channels[0].input_end == 900);
    rnd_settings_destroy (&back);
    json_decref (j);
    rnd_settings_destroy (&s);
    px.size_c = 1;
    s = rnd_settings_default (&px, NULL, &e);
    CHECK (s && s->model == RND_MODEL_GREYSCALE && s->channels[0].red == 255 && s->channels[0].green == 0);
    rnd_settings_destroy (&s);
    px.size_c = 0;
    CHECK (rnd_settings_default (&px, NULL, &e) == NULL);
}

static void
test_lut_files (void)
{
    char dir[] = "/tmp/rnd_lut_XXXXXX";
    CHECK (mkdtemp (dir) != NULL);
    char path[256];
    snprintf (path, sizeof path, "%s/raw.lut", dir);
    FILE *f = fopen (path, "wb");
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) fputc (c == 0 ? i : c == 1 ? 255 - i : 7, f);
    fclose (f);
    snprintf (path, sizeof path, "%s/junk.lut", dir);
    f = fopen (path, "wb");
    fputs ("junk", f);
    fclose (f);
    snprintf (path, sizeof path, "%s/notalut.txt", dir);
    f = fopen (path, "wb");
    fputs ("x", f);
    fclose (f);
    omr_err_t e = { 0 };
    rnd_lut_t lut;
    snprintf (path, sizeof path, "%s/junk.lut", dir);
    CHECK_INT (rnd_lut_read_file (path, &lut, &e), -1);
    rnd_lut_provider_t *p = rnd_lut_provider_new (dir, &e);
    CHECK (p != NULL);
    CHECK_INT (rnd_lut_provider_count (p), 1);
    const rnd_lut_t *l = rnd_lut_provider_get (p, "RAW.lut");
    CHECK (l && l->r[10] == 10 && l->g[10] == 245 && l->b[200] == 7);
    CHECK (rnd_lut_provider_get (p, "junk.lut") == NULL);
    rnd_lut_provider_destroy (&p);
    CHECK (rnd_lut_provider_new ("/nonexistent/luts", &e) == NULL);
    const char *names[] = { "raw.lut", "junk.lut", "notalut.txt" };
    for (int i = 0; i < 3; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, names[i]);
        unlink (path);
    }
    rmdir (dir);
}

static void
test_projection (void)
{
    int16_t a[4] = { 1, -5, 30000, 7 }, b[4] = { 3, -7, 30000, 8 }, c[4] = { 2, -6, 30000, 1 };
    rnd_plane_t st[3] = { { RND_INT16, 2, 2, a }, { RND_INT16, 2, 2, b }, { RND_INT16, 2, 2, c } };
    int16_t out[4];
    omr_err_t e = { 0 };
    CHECK_INT (rnd_project (RND_PROJ_MAX, st, 3, 0, 2, 1, 0, out, &e), 0);
    CHECK (out[0] == 3 && out[1] == -5 && out[2] == 30000 && out[3] == 8);
    CHECK_INT (rnd_project (RND_PROJ_MEAN, st, 3, 0, 2, 1, 0, out, &e), 0);
    CHECK (out[0] == 2 && out[1] == -6 && out[2] == 30000 && out[3] == 5);   /* 16/3 truncates to 5 */
    CHECK_INT (rnd_project (RND_PROJ_SUM, st, 3, 0, 2, 1, 0, out, &e), 0);
    CHECK (out[0] == 6 && out[1] == -18 && out[2] == 32767 && out[3] == 16);  /* saturates */
    CHECK_INT (rnd_project (RND_PROJ_SUM, st, 3, 0, 2, 2, 0, out, &e), 0);    /* z = 0, 2 */
    CHECK (out[0] == 3 && out[3] == 8);
    CHECK_INT (rnd_project (RND_PROJ_MAX, st, 3, 2, 1, 1, 0, out, &e), -1);
    CHECK_INT (rnd_project (RND_PROJ_MAX, st, 3, 0, 3, 1, 0, out, &e), -1);
    CHECK_INT (rnd_project (RND_PROJ_MAX, st, 3, 0, 2, 0, 0, out, &e), -1);
    CHECK_INT (rnd_project (RND_PROJ_MAX, st, 3, 0, 2, 1, 16, out, &e), -1);  /* byte limit */
    CHECK (strstr (e.msg, "max_projection_bytes") != NULL);
    uint8_t b1[1] = { 0xA0 }, b2[1] = { 0x50 }, bo[1];
    rnd_plane_t bits[2] = { { RND_BIT, 2, 2, b1 }, { RND_BIT, 2, 2, b2 } };
    CHECK_INT (rnd_project (RND_PROJ_MAX, bits, 2, 0, 1, 1, 0, bo, &e), 0);
    CHECK_INT (bo[0] & 0xF0, 0xF0);
}

static void
test_render_threads_and_region (void)
{
    enum { W = 61, H = 47 };
    static uint16_t d[3][W * H];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < W * H; i++) d[c][i] = (uint16_t) ((i * (c + 3) * 37) % 4096);
    omr_err_t e = { 0 };
    rnd_settings_t *s = rnd_settings_new (3, &e);
    const uint8_t cols[3][3] = { { 255, 0, 0 }, { 255, 255, 0 }, { 0, 128, 255 } };
    for (int c = 0; c < 3; c++) {
        s->channels[c].active = true;
        s->channels[c].input_start = 100 * c;
        s->channels[c].input_end = 4000 - 100 * c;
        s->channels[c].red = cols[c][0]; s->channels[c].green = cols[c][1]; s->channels[c].blue = cols[c][2];
    }
    s->model = RND_MODEL_RGB;
    rnd_plane_t pl[3];
    for (int c = 0; c < 3; c++) pl[c] = (rnd_plane_t) { RND_UINT16, W, H, d[c] };
    static uint8_t one[W * H * 3], many[W * H * 3], reg[10 * 5 * 3];
    rnd_render_req_t req = { s, pl, NULL, NULL, NULL, { 0, 0, 0, 0 }, 1 };
    CHECK_INT (rnd_render (&req, one, &e), 0);
    req.threads = 5;
    CHECK_INT (rnd_render (&req, many, &e), 0);
    CHECK (memcmp (one, many, sizeof one) == 0);
    req.region = (rnd_region_t) { 7, 9, 10, 5 };
    CHECK_INT (rnd_render (&req, reg, &e), 0);
    bool same = true;
    for (int y = 0; y < 5; y++)
        same = same && memcmp (reg + y * 30, one + ((y + 9) * W + 7) * 3, 30) == 0;
    CHECK (same);
    req.region = (rnd_region_t) { 55, 0, 10, 5 };
    CHECK_INT (rnd_render (&req, reg, &e), -1);
    /* Stored settings with an inverted window render with the type range (OMERO), while
     * validation of new settings rejects them. */
    s->channels[1].input_start = 5000;
    CHECK_INT (rnd_settings_validate (s, &e), -1);
    req.region = (rnd_region_t) { 0, 0, 0, 0 };
    CHECK_INT (rnd_render (&req, one, &e), 0);
    s->channels[1].input_start = 0;
    s->channels[1].input_end = 65535;
    CHECK_INT (rnd_render (&req, many, &e), 0);
    CHECK (memcmp (one, many, sizeof one) == 0);
    rnd_settings_destroy (&s);
}

/* The per-worker caches: a cached map renders exactly as a fresh one, across settings changes
 * and evictions (capacity 2 with 3 channels falls back to fresh maps), and the kept JPEG
 * encoder gives a valid JPEG of the right size, again after a larger image. */
static void
test_qcache_and_kept_encoder (void)
{
    enum { W = 48, H = 32 };
    static uint16_t d[3][W * H];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < W * H; i++) d[c][i] = (uint16_t) ((i * (c + 5) * 131) % 65536);
    omr_err_t e = { 0 };
    rnd_settings_t *s = rnd_settings_new (3, &e);
    for (int c = 0; c < 3; c++) {
        s->channels[c].active = true;
        s->channels[c].input_start = 1000 * c;
        s->channels[c].input_end = 60000 - 3000 * c;
        s->channels[c].red = (uint8_t) (c == 0 ? 255 : 0);
        s->channels[c].green = (uint8_t) (c == 1 ? 255 : 0);
        s->channels[c].blue = (uint8_t) (c == 2 ? 255 : 0);
    }
    s->model = RND_MODEL_RGB;
    rnd_plane_t pl[3];
    for (int c = 0; c < 3; c++) pl[c] = (rnd_plane_t) { RND_UINT16, W, H, d[c] };
    static uint8_t want[W * H * 3], got[W * H * 3];
    rnd_render_req_t req = { s, pl, NULL, NULL, NULL, { 0, 0, 0, 0 }, 1 };
    rnd_qcache_t *big = rnd_qcache_new (4), *small = rnd_qcache_new (2);
    CHECK (big && small);
    for (int round = 0; round < 6; round++) {
        /* rounds 2 and 3 change the window and the family, round 4 noise reduction */
        if (round == 2) s->channels[1].input_end = 20000;
        if (round == 3) { s->channels[0].family = RND_FAMILY_LOGARITHMIC; s->channels[0].coefficient = 1; }
        if (round == 4) s->channels[2].noise_reduction = true;
        CHECK_INT (rnd_render (&req, want, &e), 0);
        memset (got, 0, sizeof got);
        CHECK_INT (rnd_render_cached (&req, big, got, &e), 0);
        CHECK (memcmp (want, got, sizeof got) == 0);
        memset (got, 0, sizeof got);
        CHECK_INT (rnd_render_cached (&req, small, got, &e), 0);
        CHECK (memcmp (want, got, sizeof got) == 0);
    }
    /* a cached map equals a fresh one value by value */
    rnd_quantum_t q;
    const rnd_quantum_t *cq = rnd_qcache_get (big, &QD, &s->channels[0], RND_UINT16, 0, 65535, &e);
    CHECK (cq != NULL);
    CHECK_INT (rnd_quantum_init (&q, &QD, &s->channels[0], RND_UINT16, 0, 65535, &e), 0);
    bool same = cq != NULL;
    for (int v = 0; v < 65536 && same; v += 7) same = rnd_quantum_eval (cq, v) == rnd_quantum_eval (&q, v);
    CHECK (same);
    rnd_quantum_free (&q);
    /* bad settings are reported and not cached */
    rnd_channel_binding_t bad = s->channels[0];
    bad.coefficient = -1;
    bad.family = RND_FAMILY_EXPONENTIAL;
    CHECK (rnd_qcache_get (big, &QD, &bad, RND_UINT16, 0, 1, &e) == NULL);
    CHECK_STR (e.name, OMR_E_VALIDATION);
    rnd_qcache_destroy (&big);
    rnd_qcache_destroy (&small);
    CHECK (big == NULL);

    rnd_jpeg_t *enc = rnd_jpeg_new (&e);
    CHECK (enc != NULL);
    static uint8_t large[200 * 150 * 3];
    for (size_t i = 0; i < sizeof large; i++) large[i] = (uint8_t) (i * 7);
    const struct { const uint8_t *rgb; int w, h; } imgs[3] = { { got, W, H }, { large, 200, 150 }, { got, W, H } };
    for (int i = 0; i < 3; i++) {
        uint8_t *out = NULL;
        size_t len = 0;
        CHECK_INT (rnd_encode_with (enc, RND_FMT_JPEG, imgs[i].rgb, imgs[i].w, imgs[i].h, 0.9, &out, &len, &e), 0);
        tjhandle tj = tjInitDecompress ();
        int w = 0, h = 0, sub = 0, cs = 0;
        CHECK_INT (tjDecompressHeader3 (tj, out, (unsigned long) len, &w, &h, &sub, &cs), 0);
        CHECK_INT (w, imgs[i].w);
        CHECK_INT (h, imgs[i].h);
        tjDestroy (tj);
        free (out);
    }
    uint8_t *out = NULL;
    size_t len = 0;
    CHECK_INT (rnd_encode_with (enc, RND_FMT_JPEG, got, 0, H, 0.9, &out, &len, &e), -1);
    CHECK_INT (rnd_encode_with (enc, RND_FMT_PNG, got, W, H, 0.9, &out, &len, &e), 0);
    CHECK (len > 8 && out[1] == 'P' && out[2] == 'N' && out[3] == 'G');
    free (out);
    /* the greyscale model rendered to one byte per pixel equals R (= G = B) of the RGB rendering,
     * and its one-component JPEG decodes to nearly the same pixels */
    enum { GW = 64, GH = 40 };
    static uint16_t gd[2][GW * GH];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < GW * GH; i++) gd[c][i] = (uint16_t) ((i % GW) * 300 + (i / GW) * 97 + c * 5000);
    rnd_settings_t *gs = rnd_settings_new (2, &e);
    gs->model = RND_MODEL_GREYSCALE;
    for (int c = 0; c < 2; c++) {
        gs->channels[c].active = true;
        gs->channels[c].input_start = 1000 + 500 * c;
        gs->channels[c].input_end = 20000;
        gs->channels[c].red = 255;
    }
    gs->channels[0].reverse = true;
    rnd_plane_t gpl[2] = { { RND_UINT16, GW, GH, gd[0] }, { RND_UINT16, GW, GH, gd[1] } };
    static uint8_t grgb[GW * GH * 3], grey[GW * GH], back[GW * GH * 3];
    rnd_render_req_t greq = { gs, gpl, NULL, NULL, NULL, { 0, 0, 0, 0 }, 2 };
    rnd_qcache_t *qc = rnd_qcache_new (2);
    CHECK_INT (rnd_render (&greq, grgb, &e), 0);
    CHECK_INT (rnd_render_grey_cached (&greq, qc, grey, &e), 0);
    bool gsame = true;
    for (int i = 0; i < GW * GH; i++)
        gsame = gsame && grey[i] == grgb[3 * i] && grgb[3 * i] == grgb[3 * i + 1] && grgb[3 * i] == grgb[3 * i + 2];
    CHECK (gsame);
    /* not reversed: the quantum table alone gives the grey */
    static uint8_t grgb2[GW * GH * 3], grey2[GW * GH];
    gs->channels[0].reverse = false;
    CHECK_INT (rnd_render (&greq, grgb2, &e), 0);
    CHECK_INT (rnd_render_grey_cached (&greq, qc, grey2, &e), 0);
    bool gsame2 = true, differs = false;
    for (int i = 0; i < GW * GH; i++) {
        gsame2 = gsame2 && grey2[i] == grgb2[3 * i];
        differs = differs || grey2[i] != grey[i];
    }
    CHECK (gsame2 && differs);
    gs->channels[0].reverse = true;
    CHECK_INT (rnd_encode_grey_jpeg (enc, grey, GW, GH, 0.95, &out, &len, &e), 0);
    tjhandle tj = tjInitDecompress ();
    int gw = 0, gh = 0, gsub = -1, gcs = -1;
    CHECK_INT (tjDecompressHeader3 (tj, out, (unsigned long) len, &gw, &gh, &gsub, &gcs), 0);
    CHECK_INT (gsub, TJSAMP_GRAY);
    CHECK_INT (tjDecompress2 (tj, out, (unsigned long) len, back, GW, 0, GH, TJPF_RGB, 0), 0);
    tjDestroy (tj);
    free (out);
    int maxdiff = 0;
    for (int i = 0; i < GW * GH * 3; i++)
        maxdiff = abs (back[i] - grgb[i]) > maxdiff ? abs (back[i] - grgb[i]) : maxdiff;
    CHECK (maxdiff <= 12);
    /* the colour model cannot be rendered to one byte */
    gs->model = RND_MODEL_RGB;
    CHECK_INT (rnd_render_grey_cached (&greq, qc, grey, &e), -1);
    rnd_qcache_destroy (&qc);
    rnd_settings_destroy (&gs);
    rnd_jpeg_destroy (&enc);
    CHECK (enc == NULL);
    rnd_settings_destroy (&s);
}

/* Additive blending of many channels (the renderer sums in chunks) against a direct sum:
 * contribution (int)(C/255.0 * q) per channel and component, clamped at 255. */
static void
test_many_channels_blend (void)
{
    enum { W = 23, H = 7, C = 9 };
    static uint8_t d[C][W * H];
    omr_err_t e = { 0 };
    rnd_settings_t *s = rnd_settings_new (C, &e);
    rnd_plane_t pl[C];
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < W * H; i++) d[c][i] = (uint8_t) ((i * (c + 2) * 29 + c * 11) % 256);
        rnd_channel_binding_t *cb = &s->channels[c];
        cb->active = c != 5;
        cb->input_start = 3 * c;
        cb->input_end = 250 - 2 * c;
        cb->red = (uint8_t) (40 + 23 * c);
        cb->green = (uint8_t) (255 - 17 * c);
        cb->blue = (uint8_t) (c % 2 ? 255 : 90);
        pl[c] = (rnd_plane_t) { RND_UINT8, W, H, d[c] };
    }
    s->model = RND_MODEL_RGB;
    static uint8_t got[W * H * 3];
    rnd_render_req_t req = { s, pl, NULL, NULL, NULL, { 0, 0, 0, 0 }, 2 };
    /* 2, 3 and 4 active channels take the one-pass path, 8 the chunked one */
    const int actives[] = { 2, 3, 4, 8 };
    for (int a = 0; a < 4; a++) {
        for (int c = 0; c < C; c++)
            s->channels[c].active = a == 3 ? c != 5 : c < actives[a];
        CHECK_INT (rnd_render (&req, got, &e), 0);
        bool same = true;
        for (int i = 0; i < W * H && same; i++) {
            int sum[3] = { 0, 0, 0 };
            for (int c = 0; c < C; c++) {
                rnd_channel_binding_t *cb = &s->channels[c];
                if (!cb->active)
                    continue;
                rnd_quantum_t q;
                CHECK_INT (rnd_quantum_init (&q, &s->qdef, cb, RND_UINT8, cb->input_start, cb->input_end, &e), 0);
                int v = rnd_quantum_eval (&q, d[c][i]);
                rnd_quantum_free (&q);
                sum[0] += (int) (cb->red / 255.0 * v);
                sum[1] += (int) (cb->green / 255.0 * v);
                sum[2] += (int) (cb->blue / 255.0 * v);
            }
            for (int k = 0; k < 3; k++)
                same = same && got[3 * i + k] == (sum[k] > 255 ? 255 : sum[k]);
        }
        CHECK (same);
    }
    rnd_settings_destroy (&s);
}

/* The bin table of 32-bit and floating types gives what getMiddleRange + the map give, value
 * by value, including the window edges, values outside it, NaN and infinities. */
static void
test_binned_table (void)
{
    const rnd_ptype_t types[] = { RND_INT32, RND_UINT32, RND_FLOAT, RND_DOUBLE };
    const rnd_family_t fams[] = { RND_FAMILY_LINEAR, RND_FAMILY_POLYNOMIAL, RND_FAMILY_EXPONENTIAL,
                                  RND_FAMILY_LOGARITHMIC };
    const double wins[][2] = { { 0, 1000 }, { -3.5, 7.25 }, { 100, 100 }, { 12345, 4000000 } };
    const rnd_quantum_def_t qds[] = { { 255, 0, 255 }, { 127, 10, 200 } };
    omr_err_t e = { 0 };
    int bad = 0, n = 0;
    for (size_t t = 0; t < 4; t++)
        for (size_t f = 0; f < 4; f++)
            for (size_t w = 0; w < 4; w++)
                for (int nr = 0; nr < 2; nr++)
                    for (size_t d = 0; d < 2; d++) {
                        rnd_channel_binding_t cb = { .active = true, .input_start = wins[w][0],
                                                     .input_end = wins[w][1], .family = fams[f],
                                                     .coefficient = f == 1 ? 0.7 : 1.3, .noise_reduction = nr };
                        rnd_quantum_t q;
                        if (rnd_quantum_init (&q, &qds[d], &cb, types[t], -10, 5000000, &e)) {
                            bad++;
                            continue;
                        }
                        double lo = wins[w][0], hi = wins[w][1], span = hi - lo;
                        for (int i = -20; i <= 1020; i++) {
                            double v = lo + span * i / 1000.0;
                            if (types[t] == RND_INT32 || types[t] == RND_UINT32) v = floor (v);
                            if (types[t] == RND_FLOAT) v = (float) v;
                            n++;
                            bad += rnd_quantum_eval_binned (&q, v) != rnd_quantum_eval (&q, v);
                        }
                        const double odd[] = { NAN, INFINITY, -INFINITY, lo, hi, nextafter (lo, hi), nextafter (hi, lo) };
                        for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
                            bad += rnd_quantum_eval_binned (&q, odd[i]) != rnd_quantum_eval (&q, odd[i]);
                        rnd_quantum_free (&q);
                    }
    CHECK_INT (bad, 0);
    CHECK (n > 100000);
}

static void
test_scale_and_thumbnail_size (void)
{
    int w, h;
    omr_err_t e = { 0 };
    CHECK_INT (rnd_thumbnail_size (200, 90, 96, &w, &h, &e), 0);
    CHECK (w == 96 && h == 43);
    CHECK_INT (rnd_thumbnail_size (90, 200, 96, &w, &h, &e), 0);
    CHECK (w == 43 && h == 96);
    CHECK_INT (rnd_thumbnail_size (1000, 1, 96, &w, &h, &e), 0);
    CHECK (w == 96 && h == 1);
    CHECK_INT (rnd_thumbnail_size (10, 10, 0, &w, &h, &e), -1);
    uint8_t src[4 * 2 * 3], dst[2 * 1 * 3];
    for (int i = 0; i < 8; i++) {
        src[i * 3] = (uint8_t) (i * 10);
        src[i * 3 + 1] = 255;
        src[i * 3 + 2] = (uint8_t) (i % 2 ? 100 : 0);
    }
    CHECK_INT (rnd_scale_rgb (src, 4, 2, dst, 2, 1, &e), 0);
    /* Left half: pixels 0,1,4,5 -> R (0+10+40+50)/4 = 25; right: (20+30+60+70)/4 = 45. */
    CHECK (dst[0] == 25 && dst[3] == 45 && dst[1] == 255 && dst[2] == 50);
    uint8_t up[3 * 3];
    uint8_t s1[3] = { 10, 20, 30 };
    CHECK_INT (rnd_scale_rgb (s1, 1, 1, up, 3, 1, &e), 0);
    CHECK (up[6] == 10 && up[7] == 20);
}

static void
test_encoders (void)
{
    enum { W = 64, H = 48 };
    static uint8_t rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + (y * W + x) * 3;
            p[0] = (uint8_t) (x * 4); p[1] = (uint8_t) (y * 5); p[2] = 128;
        }
    omr_err_t e = { 0 };
    uint8_t *out = NULL;
    size_t len = 0;
    CHECK_INT (rnd_encode (RND_FMT_JPEG, rgb, W, H, 0.95, &out, &len, &e), 0);
    CHECK (len > 100 && out[0] == 0xFF && out[1] == 0xD8);
    tjhandle tj = tjInitDecompress ();
    static uint8_t dec[W * H * 3];
    CHECK_INT (tjDecompress2 (tj, out, len, dec, W, 0, H, TJPF_RGB, 0), 0);
    tjDestroy (tj);
    double se = 0;
    for (int i = 0; i < W * H * 3; i++) se += (dec[i] - rgb[i]) * (double) (dec[i] - rgb[i]);
    CHECK (10 * log10 (255.0 * 255.0 / (se / (W * H * 3) + 1e-9)) > 35);
    free (out);
    CHECK_INT (rnd_encode (RND_FMT_PNG, rgb, W, H, 0.9, &out, &len, &e), 0);
    CHECK (len > 8 && memcmp (out, "\x89PNG\r\n\x1a\n", 8) == 0);
    free (out);
    CHECK_INT (rnd_encode (RND_FMT_TIFF, rgb, W, H, 0.9, &out, &len, &e), 0);
    char path[] = "/tmp/rnd_tiff_XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0 && write (fd, out, len) == (ssize_t) len);
    close (fd);
    free (out);
    TIFF *tif = TIFFOpen (path, "r");
    CHECK (tif != NULL);
    if (tif) {
        uint32_t tw = 0, th = 0;
        TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &tw);
        TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &th);
        CHECK (tw == W && th == H);
        uint8_t row[W * 3];
        CHECK_INT (TIFFReadScanline (tif, row, 7, 0), 1);
        CHECK (memcmp (row, rgb + 7 * W * 3, W * 3) == 0);
        TIFFClose (tif);
    }
    unlink (path);
    CHECK_INT (rnd_encode (RND_FMT_PNG, rgb, 0, H, 0.9, &out, &len, &e), -1);
    CHECK_INT (rnd_encode_jpeg (rgb, W, H, 0, &out, &len, &e), -1);
}

static void
test_split_layout (void)
{
    rnd_split_layout_t L;
    omr_err_t e = { 0 };
    /* The imgData example of the webgateway docs: 480 × 480, 4 channels. */
    CHECK_INT (rnd_split_layout (480, 480, 5, 2, &L, &e), 0);
    CHECK (L.gridx == 3 && L.gridy == 2 && L.width == 1448 && L.height == 966);
    CHECK_INT (rnd_split_layout (480, 480, 4, 2, &L, &e), 0);
    CHECK (L.gridx == 2 && L.gridy == 2 && L.width == 966 && L.height == 966);
    CHECK_INT (rnd_split_layout (10, 10, 1, 0, &L, &e), 0);
    CHECK (L.gridx == 1 && L.gridy == 1 && L.width == 10);
    CHECK_INT (rnd_split_layout (10, 10, 3, 2, &L, &e), 0);
    CHECK (L.gridx == 2 && L.gridy == 2);
    CHECK_INT (rnd_split_layout (40000, 10, 3, 2, &L, &e), -1);
    CHECK_INT (rnd_split_layout (10, 10, 0, 2, &L, &e), -1);
}

int
main (void)
{
    RUN (test_quantum_values);
    RUN (test_defaults_and_json);
    RUN (test_lut_files);
    RUN (test_projection);
    RUN (test_render_threads_and_region);
    RUN (test_qcache_and_kept_encoder);
    RUN (test_many_channels_blend);
    RUN (test_binned_table);
    RUN (test_scale_and_thumbnail_size);
    RUN (test_encoders);
    RUN (test_split_layout);
    return UNIT_DONE ();
}
