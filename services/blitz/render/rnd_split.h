/* rnd_split: the webgateway's split-channel view (render_split_channel): every channel in
 * its own panel on a white canvas with a border between panels; in colour mode each active
 * channel is drawn alone in its colour and one more panel shows all active channels merged,
 * in greyscale mode each active channel is drawn in grey. Inactive channels leave their
 * panel white. The grid follows ImageWrapper.splitChannelSizes. */
#ifndef RND_SPLIT_H
#define RND_SPLIT_H
#include <stdint.h>
#include "omr_error.h"
#include "rnd_render.h"

typedef struct {
    int gridx, gridy, width, height, border;
} rnd_split_layout_t;

/* Layout of n panels of w × h: gridy = round(sqrt(n)), gridx = gridy or gridy + 1 when
 * sqrt(n) > gridy; canvas = grid × panel + border × (grid + 1). n is size_c in greyscale
 * mode and size_c + 1 in colour mode. */
int rnd_split_layout (int w, int h, int n_panels, int border, rnd_split_layout_t *out, omr_err_t *err);
/* Render the split view of req (its region is the panel) into a malloc'ed RGB canvas. */
int rnd_render_split (const rnd_render_req_t *req, int border, uint8_t **rgb, rnd_split_layout_t *layout,
                      omr_err_t *err);
#endif
