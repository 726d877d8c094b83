/* Unit tests of the webgateway query parsers of the rendering engine (rnd_params),
 * good and bad input. */
/* UNIT_LINK: services/blitz/render */
#include <math.h>
#include <stdlib.h>
#include "unit.h"
#include "../../services/blitz/render/rnd_params.h"

static void
test_color (void)
{
    uint8_t c[4];
    omr_err_t e = { 0 };
    CHECK_INT (rnd_parse_color ("FF8000", c, &e), 0);
    CHECK (c[0] == 255 && c[1] == 128 && c[2] == 0 && c[3] == 255);
    CHECK_INT (rnd_parse_color ("00ff0080", c, &e), 0);
    CHECK (c[0] == 0 && c[1] == 255 && c[2] == 0 && c[3] == 128);
    CHECK_INT (rnd_parse_color ("abc", c, &e), 0);
    CHECK (c[0] == 0xAA && c[1] == 0xBB && c[2] == 0xCC && c[3] == 255);
    CHECK_INT (rnd_parse_color ("abcd", c, &e), 0);
    CHECK (c[3] == 0xDD);
    CHECK_INT (rnd_parse_color ("FF00G0", c, &e), -1);
    CHECK_STR (e.name, OMR_E_VALIDATION);
    CHECK_INT (e.status, 400);
    CHECK_INT (rnd_parse_color ("FF000", c, &e), -1);
    CHECK_INT (rnd_parse_color ("", c, &e), -1);
}

static void
test_channels_good (void)
{
    rnd_chan_specs_t s;
    omr_err_t e = { 0 };
    CHECK_INT (rnd_parse_channels ("1|100:505$0000FF,2|463:2409$00FF00,3|620:3879$FF0000,-4|447:4136$FF0000", 4, &s, &e), 0);
    CHECK_INT (s.n, 4);
    CHECK_INT (s.specs[0].index, 1);
    CHECK (s.specs[0].active && s.specs[0].has_window && s.specs[0].start == 100 && s.specs[0].end == 505);
    CHECK (s.specs[0].has_color && s.specs[0].rgba[2] == 255 && s.specs[0].rgba[0] == 0);
    CHECK (!s.specs[3].active && s.specs[3].index == 4 && s.specs[3].end == 4136);
    rnd_chan_specs_free (&s);
    CHECK_INT (rnd_parse_channels ("1,-2,3,4", 4, &s, &e), 0);
    CHECK (s.n == 4 && !s.specs[1].active && !s.specs[0].has_window && !s.specs[0].has_color);
    rnd_chan_specs_free (&s);
    CHECK_INT (rnd_parse_channels ("3", 4, &s, &e), 0);
    CHECK (s.n == 1 && s.specs[0].index == 3 && s.specs[0].active);
    rnd_chan_specs_free (&s);
    CHECK_INT (rnd_parse_channels ("1$FF0000", 2, &s, &e), 0);
    CHECK (s.specs[0].has_color && s.specs[0].rgba[0] == 255 && !s.specs[0].has_window);
    rnd_chan_specs_free (&s);
    CHECK_INT (rnd_parse_channels ("1|$00FF00, 2|-1.5:2e3$cool.lut", 2, &s, &e), 0);
    CHECK (s.specs[0].has_color && s.specs[0].rgba[1] == 255);
    CHECK_STR (s.specs[1].lut, "cool.lut");
    CHECK (!s.specs[1].has_color && s.specs[1].start == -1.5 && s.specs[1].end == 2000);
    rnd_chan_specs_free (&s);
    CHECK_INT (rnd_parse_channels ("1|5:5", 1, &s, &e), 0);   /* start == end is allowed */
    rnd_chan_specs_free (&s);
}

static void
test_channels_bad (void)
{
    const char *bad[] = { "0", "5", "-5", "1|600:100", "1|a:1", "1|1", "1|1:2:3", "1$XYZ", "1,1", "1,,2",
                          "", "x", "1$FF0000|2:3$00FF00", "1|nan:3", "1|inf:3", "1|0x10:20", "1$../x.lut",
                          "99999999999999999999", "1,2,3,4,5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rnd_chan_specs_t s = { 7, (rnd_chan_spec_t *) &s };
        omr_err_t e = { 0 };
        int rc = rnd_parse_channels (bad[i], 4, &s, &e);
        if (rc != -1 || e.status != 400 || s.n != 0 || s.specs != NULL)
            fprintf (stderr, "  accepted or bad state for c=%s\n", bad[i]);
        CHECK_INT (rc, -1);
        CHECK_INT (e.status, 400);
        CHECK (e.msg[0] != 0);
        CHECK (s.n == 0 && s.specs == NULL);
    }
    omr_err_t e = { 0 };
    rnd_chan_specs_t s;
    rnd_parse_channels ("1|600:100", 2, &s, &e);
    CHECK (strstr (e.msg, "greater than") != NULL);
    rnd_parse_channels ("3", 2, &s, &e);
    CHECK (strstr (e.msg, "1-based") != NULL);
}

static void
test_model_quality_format (void)
{
    rnd_model_t m;
    double q;
    rnd_format_t f;
    omr_err_t e = { 0 };
    CHECK_INT (rnd_parse_model_param ("g", &m, &e), 0);
    CHECK_INT (m, RND_MODEL_GREYSCALE);
    CHECK_INT (rnd_parse_model_param ("c", &m, &e), 0);
    CHECK_INT (m, RND_MODEL_RGB);
    CHECK_INT (rnd_parse_model_param ("x", &m, &e), -1);
    CHECK_INT (rnd_parse_model_param (NULL, &m, &e), -1);
    CHECK_INT (rnd_parse_quality ("0.9", &q, &e), 0);
    CHECK (fabs (q - 0.9) < 1e-12);
    CHECK_INT (rnd_parse_quality ("0", &q, &e), 0);
    CHECK_INT (rnd_parse_quality ("1", &q, &e), 0);
    CHECK_INT (rnd_parse_quality ("1.01", &q, &e), -1);
    CHECK_INT (rnd_parse_quality ("-0.1", &q, &e), -1);
    CHECK_INT (rnd_parse_quality ("nan", &q, &e), -1);
    CHECK_INT (rnd_parse_quality ("", &q, &e), -1);
    CHECK_INT (rnd_jpeg_quality (0.9), 90);
    CHECK_INT (rnd_jpeg_quality (0.0), 1);
    CHECK_INT (rnd_jpeg_quality (1.0), 100);
    CHECK_INT (rnd_jpeg_quality (75), 75);
    CHECK_INT (rnd_jpeg_quality (250), 100);
    CHECK_INT (rnd_jpeg_quality (0.004), 1);
    CHECK_INT (rnd_parse_format ("jpeg", &f, &e), 0);
    CHECK_INT (f, RND_FMT_JPEG);
    CHECK_INT (rnd_parse_format ("png", &f, &e), 0);
    CHECK_INT (f, RND_FMT_PNG);
    CHECK_INT (rnd_parse_format ("tif", &f, &e), 0);
    CHECK_INT (f, RND_FMT_TIFF);
    CHECK_INT (rnd_parse_format ("gif", &f, &e), -1);
    CHECK_STR (e.name, OMR_E_VALIDATION);
}

static void
test_projection (void)
{
    rnd_proj_spec_t p;
    omr_err_t e = { 0 };
    CHECK_INT (rnd_parse_projection ("intmax", 31, &p, &e), 0);
    CHECK (p.type == RND_PROJ_MAX && !p.has_range && p.start == 0 && p.end == 30);
    CHECK_INT (rnd_parse_projection ("intmax|0:10", 31, &p, &e), 0);
    CHECK (p.has_range && p.start == 0 && p.end == 10);
    CHECK_INT (rnd_parse_projection ("intmean", 3, &p, &e), 0);
    CHECK_INT (p.type, RND_PROJ_MEAN);
    CHECK_INT (rnd_parse_projection ("intsum|2:2", 3, &p, &e), 0);
    CHECK (p.type == RND_PROJ_SUM && p.start == 2 && p.end == 2);
    CHECK_INT (rnd_parse_projection ("normal", 3, &p, &e), 0);
    CHECK_INT (p.type, RND_PROJ_NORMAL);
    const char *bad[] = { "intmin", "intmax|0:31", "intmax|5:1", "intmax|-1:3", "intmax|a:b", "intmax|3",
                          "intmax|", "", "INTMAX", "intmaxintmaxintmax" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT (rnd_parse_projection (bad[i], 31, &p, &e), -1);
        CHECK_INT (e.status, 400);
    }
}

static void
test_maps (void)
{
    rnd_maps_t m;
    omr_err_t e = { 0 };
    CHECK_INT (rnd_parse_maps ("[{\"reverse\":{\"enabled\":true}}, {\"reverse\":{\"enabled\":false}}]", 2, &m, &e), 0);
    CHECK (m.n == 2 && m.maps[0].has_reverse && m.maps[0].reverse && m.maps[1].has_reverse && !m.maps[1].reverse);
    rnd_maps_free (&m);
    CHECK_INT (rnd_parse_maps ("[null, {\"inverted\":{\"enabled\":true}}, {}]", 3, &m, &e), 0);
    CHECK (m.n == 3 && !m.maps[0].has_reverse && m.maps[1].reverse && !m.maps[2].has_reverse);
    rnd_maps_free (&m);
    CHECK_INT (rnd_parse_maps ("[{\"quantization\":{\"family\":\"logarithmic\",\"coefficient\":1.5}}]", 1, &m, &e), 0);
    CHECK (m.maps[0].has_quantization && m.maps[0].family == RND_FAMILY_LOGARITHMIC && m.maps[0].coefficient == 1.5);
    rnd_maps_free (&m);
    const char *bad[] = { "[", "{}", "[1]", "[{\"reverse\":true}]", "[{\"reverse\":{\"enabled\":\"yes\"}}]",
                          "[null,null,null]", "[{\"quantization\":{\"family\":\"cubic\"}}]",
                          "[{\"quantization\":{\"coefficient\":-1}}]",
                          "[{\"reverse\":{\"enabled\":true},\"inverted\":{\"enabled\":false}}]", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.n = 5;
        CHECK_INT (rnd_parse_maps (bad[i], 2, &m, &e), -1);
        CHECK_INT (e.status, 400);
        CHECK (m.n == 0 && m.maps == NULL);
    }
}

static void
test_region_tile (void)
{
    rnd_region_t r;
    omr_err_t e = { 0 };
    CHECK_INT (rnd_parse_region ("10,20,30,40", 100, 80, &r, &e), 0);
    CHECK (r.x == 10 && r.y == 20 && r.w == 30 && r.h == 40);
    CHECK_INT (rnd_parse_region ("90,70,30,40", 100, 80, &r, &e), 0);   /* clipped at the edges */
    CHECK (r.x == 90 && r.y == 70 && r.w == 10 && r.h == 10);
    const char *bad[] = { "1,2,3", "1,2,3,4,5", "a,b,c,d", "-1,0,5,5", "100,0,5,5", "0,80,5,5", "0,0,0,5",
                          "0,0,5,-5", "0,0,101,5", "0,0,5,1000000000000", "", "1, 2 ,x,4" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = (rnd_region_t) { 1, 2, 3, 4 };
        CHECK_INT (rnd_parse_region (bad[i], 100, 80, &r, &e), -1);
        CHECK_INT (e.status, 400);
        CHECK (r.x == 1 && r.y == 2 && r.w == 3 && r.h == 4);   /* unchanged on error */
    }
    rnd_level_t lv[3] = { { 1000, 700 }, { 500, 350 }, { 250, 175 } };
    int level = -1;
    CHECK_INT (rnd_parse_tile ("0,1,2", lv, 3, 256, 256, 1024, &level, &r, &e), 0);
    CHECK (level == 0 && r.x == 256 && r.y == 512 && r.w == 256 && r.h == 188);
    CHECK_INT (rnd_parse_tile ("2,0,0", lv, 3, 256, 256, 1024, &level, &r, &e), 0);
    CHECK (level == 2 && r.w == 250 && r.h == 175);
    CHECK_INT (rnd_parse_tile ("1,1,0,100,0", lv, 3, 256, 256, 1024, &level, &r, &e), 0);
    CHECK (r.x == 100 && r.w == 100 && r.h == 256);
    struct { const char *t; int n; const char *msg; } bad2[] = {
        { "-1,0,0", 3, "< 0" }, { "3,0,0", 3, "levels" }, { "1,0,0", 1, "non pyramid" }, { "0,-1,0", 3, "negative" },
        { "0,0,-2", 3, "negative" }, { "0,4,0", 3, "outside" }, { "0,0,0,2048,256", 3, "max_tile_length" },
        { "0,0", 3, "malformed" }, { "0,0,0,1", 3, "malformed" }, { "a,0,0", 3, "malformed" },
    };
    for (size_t i = 0; i < sizeof bad2 / sizeof bad2[0]; i++) {
        CHECK_INT (rnd_parse_tile (bad2[i].t, lv, bad2[i].n, 256, 256, 1024, &level, &r, &e), -1);
        CHECK (strstr (e.msg, bad2[i].msg) != NULL);
    }
}

static void
test_query_apply (void)
{
    omr_err_t e = { 0 };
    rnd_settings_t *s = rnd_settings_new (3, &e);
    for (int i = 0; i < 3; i++) {
        s->channels[i].active = true;
        s->channels[i].input_end = 100;
    }
    rnd_settings_t *orig = s;
    rnd_chan_specs_t c;
    CHECK_INT (rnd_parse_channels ("2|10:20$00FF00,-3$cool.lut", 3, &c, &e), 0);
    rnd_model_t m = RND_MODEL_GREYSCALE;
    rnd_maps_t maps;
    CHECK_INT (rnd_parse_maps ("[null,{\"reverse\":{\"enabled\":true}}]", 3, &maps, &e), 0);
    CHECK_INT (rnd_query_apply (&s, &c, &maps, &m, NULL, &e), 0);
    CHECK (s != orig);
    CHECK (!s->channels[0].active && s->channels[1].active && !s->channels[2].active);
    CHECK (s->channels[1].input_start == 10 && s->channels[1].input_end == 20 && s->channels[1].green == 255
           && s->channels[1].red == 0 && s->channels[1].reverse);
    CHECK_STR (s->channels[2].lut, "cool.lut");
    CHECK_INT (s->model, RND_MODEL_GREYSCALE);
    rnd_chan_specs_free (&c);
    rnd_maps_free (&maps);
    /* An unknown LUT with a provider is an error and leaves the settings untouched. */
    rnd_lut_provider_t *p = rnd_lut_provider_new (NULL, &e);
    CHECK_INT (rnd_parse_channels ("1|0:5$nosuch.lut", 3, &c, &e), 0);
    rnd_settings_t *before = s;
    CHECK_INT (rnd_query_apply (&s, &c, NULL, NULL, p, &e), -1);
    CHECK (s == before && s->channels[1].active && s->channels[0].input_end == 100);
    CHECK (strstr (e.msg, "nosuch.lut") != NULL);
    rnd_chan_specs_free (&c);
    rnd_lut_provider_destroy (&p);
    rnd_settings_destroy (&s);
    CHECK (s == NULL);
}

static void
test_query_parse (void)
{
    omr_err_t e = { 0 };
    rnd_image_geom_t g = { 1000, 700, 31, 4, NULL, 1, 256, 256, 1024 };
    rnd_query_t q;
    rnd_query_in_t none = { 0 };
    CHECK_INT (rnd_query_parse (&none, &g, &q, &e), 0);
    CHECK (!q.has_c && !q.has_maps && !q.has_model && !q.has_region && !q.has_tile);
    CHECK (q.proj.type == RND_PROJ_NORMAL && q.quality == RND_DEFAULT_QUALITY && q.format == RND_FMT_JPEG);
    CHECK (q.region.x == 0 && q.region.w == 1000 && q.region.h == 700 && q.level == 0);
    rnd_query_free (&q);
    rnd_query_in_t in = { "1|100:505$0000FF,-2", "g", "intmax|0:10", "0.5", "[{\"reverse\":{\"enabled\":true}}]",
                          "png", NULL, "0,1,2" };
    CHECK_INT (rnd_query_parse (&in, &g, &q, &e), 0);
    CHECK (q.has_c && q.c.n == 2 && q.has_maps && q.maps.n == 1 && q.has_model && q.model == RND_MODEL_GREYSCALE);
    CHECK (q.proj.type == RND_PROJ_MAX && q.proj.end == 10 && q.quality == 0.5 && q.format == RND_FMT_PNG);
    CHECK (q.has_tile && q.region.x == 256 && q.region.y == 512 && q.region.h == 188);
    rnd_settings_t *s = rnd_settings_new (4, &e);
    CHECK_INT (rnd_query_apply_parsed (&s, &q, NULL, &e), 0);
    CHECK (s->channels[0].active && !s->channels[1].active && s->channels[0].reverse && s->model == RND_MODEL_GREYSCALE);
    rnd_settings_destroy (&s);
    rnd_query_free (&q);
    rnd_query_in_t both = { .region = "0,0,5,5", .tile = "0,0,0" };
    CHECK_INT (rnd_query_parse (&both, &g, &q, &e), -1);
    rnd_query_in_t bad = { .c = "1", .maps = "[1]" };
    CHECK_INT (rnd_query_parse (&bad, &g, &q, &e), -1);
    CHECK (q.c.specs == NULL && q.c.n == 0);   /* what was parsed before the error is released */
    CHECK (strstr (e.msg, "maps") != NULL);
}

int
main (void)
{
    RUN (test_color);
    RUN (test_channels_good);
    RUN (test_channels_bad);
    RUN (test_model_quality_format);
    RUN (test_projection);
    RUN (test_maps);
    RUN (test_region_tile);
    RUN (test_query_apply);
    RUN (test_query_parse);
    return UNIT_DONE ();
}
