/* rnd_split: split-channel panels of the webgateway. */
#include "rnd_split.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Canvas sides above this are refused: they could not be encoded anyway. */
#define MAX_CANVAS 65535

int
rnd_split_layout (int w, int h, int n, int border, rnd_split_layout_t *out, omr_err_t *err)
{
    if (w < 1 || h < 1 || n < 1 || border < 0 || border > 1000)
        return omr_err_set (err, OMR_E_API, 400, "split view: invalid panel %dx%d, %d panels, border %d", w, h, n,
                            border);
    double x = sqrt ((double) n);
    int y = (int) floor (x + 0.5);
    int gx = x > y ? y + 1 : y;
    long cw = (long) w * gx + (long) border * (gx + 1), ch = (long) h * y + (long) border * (y + 1);
    if (cw > MAX_CANVAS || ch > MAX_CANVAS)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "split view of %ldx%ld pixels is too large", cw, ch);
    *out = (rnd_split_layout_t) { gx, y, (int) cw, (int) ch, border };
    return 0;
}

/* Copy a w × h RGB panel to (px, py) of the canvas. */
static void
paste (uint8_t *canvas, int cw, const uint8_t *panel, int w, int h, int px, int py)
{
    for (int y = 0; y < h; y++)
        memcpy (canvas + ((size_t) (py + y) * cw + px) * 3, panel + (size_t) y * w * 3, (size_t) w * 3);
}

int
rnd_render_split (const rnd_render_req_t *req, int border, uint8_t **rgb, rnd_split_layout_t *layout,
                  omr_err_t *err)
{
    const rnd_settings_t *s = req->settings;
    if (!s || !req->planes)
        return omr_err_set (err, OMR_E_API, 400, "split view: settings and planes are required");
    int ref = 0;
    for (int c = 0; c < s->n_channels; c++)
        if (s->channels[c].active) { ref = c; break; }
    rnd_region_t r = req->region;
    if (r.w == 0 || r.h == 0)
        r = (rnd_region_t) { 0, 0, req->planes[ref].size_x, req->planes[ref].size_y };
    bool grey = s->model == RND_MODEL_GREYSCALE;
    rnd_split_layout_t L;
    if (rnd_split_layout (r.w, r.h, s->n_channels + (grey ? 0 : 1), border, &L, err))
        return -1;
    size_t panel_bytes = (size_t) r.w * r.h * 3;
    uint8_t *canvas = malloc ((size_t) L.width * L.height * 3), *panel = malloc (panel_bytes);
    omr_err_t e2;
    rnd_settings_t *one = rnd_settings_copy (s, &e2);
    if (!canvas || !panel || !one) {
        free (canvas);
        free (panel);
        rnd_settings_destroy (&one);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    }
    memset (canvas, 255, (size_t) L.width * L.height * 3);
    rnd_render_req_t sub = *req;
    sub.settings = one;
    sub.region = r;
    int px = border, py = border, pxc = 0, rc = 0;
    for (int c = 0; c < s->n_channels && rc == 0; c++) {
        if (s->channels[c].active) {
            for (int k = 0; k < one->n_channels; k++)
                one->channels[k].active = k == c;
            rc = rnd_render (&sub, panel, err);
            if (rc == 0)
                paste (canvas, L.width, panel, r.w, r.h, px, py);
        }
        if (++pxc < L.gridx)
            px += r.w + border;
        else {
            pxc = 0;
            px = border;
            py += r.h + border;
        }
    }
    if (rc == 0 && !grey) {
        sub.settings = s;   /* the merged panel: all active channels in colour */
        rc = rnd_render (&sub, panel, err);
        if (rc == 0)
            paste (canvas, L.width, panel, r.w, r.h, px, py);
    }
    free (panel);
    rnd_settings_destroy (&one);
    if (rc) {
        free (canvas);
        return -1;
    }
    *rgb = canvas;
    if (layout)
        *layout = L;
    return 0;
}
