/* rnd_params: the webgateway's rendering query parameters as pure parsers, each giving a
 * ValidationException/400 with a message that names the bad part:
 *   c=1|100:600$FF0000,-2|…   channels (1-based, "-" = inactive), window, colour or LUT name
 *   m=g|c                     greyscale or colour model
 *   p=intmax|intmean|intsum|normal[|start:end]   Z projection, range inclusive
 *   q=0.9                     compression quality 0..1
 *   maps=[{"reverse":{"enabled":true}},…]        codomain maps per channel ("inverted" too)
 *   format=jpeg|png|tif       output format
 *   region=x,y,w,h            region of the full-resolution plane
 *   tile=level,x,y[,w,h]      tile of a resolution level (0 = full resolution)
 * and rnd_query_apply, which applies parsed c/m/maps to a copy of the settings. */
#ifndef RND_PARAMS_H
#define RND_PARAMS_H
#include <stdbool.h>
#include <stdint.h>
#include "omr_error.h"
#include "rnd_encode.h"
#include "rnd_lut.h"
#include "rnd_project.h"
#include "rnd_render.h"
#include "rnd_settings.h"

/* One c= token. */
typedef struct {
    int index;                      /* 1-based channel index */
    bool active;
    bool has_window;
    double start, end;
    bool has_color;                 /* colour given as hex */
    uint8_t rgba[4];
    char lut[RND_LUT_NAME_MAX];     /* colour given as a lookup table name ("" otherwise) */
} rnd_chan_spec_t;

typedef struct {
    int n;
    rnd_chan_spec_t *specs;
} rnd_chan_specs_t;

/* One maps= entry. */
typedef struct {
    bool has_reverse, reverse;
    bool has_quantization;
    rnd_family_t family;
    double coefficient;
} rnd_map_spec_t;

typedef struct {
    int n;
    rnd_map_spec_t *maps;
} rnd_maps_t;

typedef struct {
    rnd_proj_t type;
    bool has_range;
    int start, end;                 /* inclusive; the whole stack when no range is given */
} rnd_proj_spec_t;

/* Size of one resolution level (level 0 = full resolution). */
typedef struct {
    int size_x, size_y;
} rnd_level_t;

/* Hex colour of 3, 4, 6 or 8 digits (RGB, RGBA, RRGGBB, RRGGBBAA); alpha defaults to 255. */
int rnd_parse_color (const char *hex, uint8_t rgba[4], omr_err_t *err);
/* c= against an image of size_c channels; out->specs is malloc'ed (free with rnd_chan_specs_free). */
int rnd_parse_channels (const char *c, int size_c, rnd_chan_specs_t *out, omr_err_t *err);
void rnd_chan_specs_free (rnd_chan_specs_t *s);
/* m=g or m=c. */
int rnd_parse_model_param (const char *m, rnd_model_t *out, omr_err_t *err);
/* p= against an image of size_z z-sections. */
int rnd_parse_projection (const char *p, int size_z, rnd_proj_spec_t *out, omr_err_t *err);
/* q= in 0..1. */
int rnd_parse_quality (const char *q, double *out, omr_err_t *err);
/* maps= JSON array with at most size_c entries (null entries allowed); free with rnd_maps_free. */
int rnd_parse_maps (const char *json, int size_c, rnd_maps_t *out, omr_err_t *err);
void rnd_maps_free (rnd_maps_t *m);
/* format=jpeg|jpg|png|tif|tiff. */
int rnd_parse_format (const char *f, rnd_format_t *out, omr_err_t *err);
/* region=x,y,w,h: x,y inside the plane, w,h >= 1 and no larger than the plane; a region
 * overhanging the right or bottom edge is clipped, as OMERO's Renderer.checkRegionDef does. */
int rnd_parse_region (const char *r, int size_x, int size_y, rnd_region_t *out, omr_err_t *err);
/* tile=level,tx,ty[,tw,th]: level 0..n_levels-1 (0 = full resolution); tw/th <= 0 or absent
 * mean the default tile size; a side above max_tile_len (omero.pixeldata.max_tile_length,
 * 1024) is an error; the tile origin tx*tw, ty*th must lie inside the level; edge tiles
 * are clipped. *level gets the level, *out the region in that level's pixels. */
int rnd_parse_tile (const char *t, const rnd_level_t *levels, int n_levels, int tile_w, int tile_h,
                    int max_tile_len, int *level, rnd_region_t *out, omr_err_t *err);
/* Apply parsed c=, maps= and m= (each may be NULL) to a copy of *s and, when everything is
 * valid, replace *s with it; on error *s is unchanged. Channels not named in c= become
 * inactive (the webgateway's setActiveChannels). With a LUT provider, unknown LUT names
 * are errors. */
int rnd_query_apply (rnd_settings_t **s, const rnd_chan_specs_t *c, const rnd_maps_t *maps,
                     const rnd_model_t *model, const rnd_lut_provider_t *luts, omr_err_t *err);

/* The raw rendering parameters of one webgateway request (NULL = absent). */
typedef struct {
    const char *c, *m, *p, *q, *maps, *format, *region, *tile;
} rnd_query_in_t;

/* What a request is checked against. levels may be NULL (one level of size_x × size_y). */
typedef struct {
    int size_x, size_y, size_z, size_c;
    const rnd_level_t *levels;
    int n_levels;
    int tile_w, tile_h;             /* default tile size (omero.pixeldata.tile_width/height, 256) */
    int max_tile_len;               /* omero.pixeldata.max_tile_length (1024) */
} rnd_image_geom_t;

/* Every parameter parsed; absent ones hold the webgateway's defaults: no channel or map
 * changes, model unchanged, projection normal over all z, quality 0.9, JPEG, the whole
 * plane of level 0. */
typedef struct {
    bool has_c, has_maps, has_model, has_region, has_tile;
    rnd_chan_specs_t c;
    rnd_maps_t maps;
    rnd_model_t model;
    rnd_proj_spec_t proj;
    double quality;
    rnd_format_t format;
    int level;
    rnd_region_t region;
} rnd_query_t;

/* Parse all parameters of a request; the first bad one gives the error (400) and *out is
 * left empty. Free with rnd_query_free. region and tile together are an error. */
int rnd_query_parse (const rnd_query_in_t *in, const rnd_image_geom_t *geom, rnd_query_t *out, omr_err_t *err);
/* Release what rnd_query_parse allocated. */
void rnd_query_free (rnd_query_t *q);
/* Apply the c=, maps= and m= parts of a parsed request to *s (see rnd_query_apply). */
int rnd_query_apply_parsed (rnd_settings_t **s, const rnd_query_t *q, const rnd_lut_provider_t *luts, omr_err_t *err);
#endif
