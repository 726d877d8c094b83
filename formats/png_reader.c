/* png_reader.c: PNG through libpng. A PNG is one plane; channels are its colour components
 * (palette expanded to RGB, low bit depths expanded to 8 bits, 16-bit samples in host order).
 * PNG has no random access, so a region read decodes rows from the top down to the region's
 * last row, one row at a time (interlaced files need the whole image and are size-capped). */
#include "png_reader.h"
#include "fileset_priv.h"
#include <png.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *f;
    png_structp png;
    png_infop info;
    char msg[256];
    const char *path;
    uint32_t width, height;
    int channels, depth, interlaced;
    size_t rowbytes;
} png_ctx_t;

static void
on_error (png_structp png, png_const_charp msg)
{
    png_ctx_t *ctx = png_get_error_ptr (png);
    snprintf (ctx->msg, sizeof ctx->msg, "%s", msg);
    png_longjmp (png, 1);
}

static void
on_warning (png_structp png, png_const_charp msg)
{
    /* warnings (bad CRC in an ancillary chunk …) are not worth failing for or printing */
}

static void
ctx_close (png_ctx_t *ctx)
{
    if (ctx->png)
        png_destroy_read_struct (&ctx->png, ctx->info ? &ctx->info : NULL, NULL);
    if (ctx->f)
        fclose (ctx->f);
    ctx->png = NULL;
    ctx->info = NULL;
    ctx->f = NULL;
}

/* Open, read the header and set the transforms; the caller must setjmp before calling
 * anything else on ctx->png. Returns 0 or -1. */
static int
ctx_open (png_ctx_t *ctx, const char *path, omr_err_t *err)
{
    memset (ctx, 0, sizeof *ctx);
    ctx->path = path;
    ctx->f = fopen (path, "rb");
    if (!ctx->f)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "%s: cannot open: %s", path, strerror (errno));
    ctx->png = png_create_read_struct (PNG_LIBPNG_VER_STRING, ctx, on_error, on_warning);
    if (ctx->png)
        ctx->info = png_create_info_struct (ctx->png);
    if (!ctx->png || !ctx->info) {
        ctx_close (ctx);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
    }
    return 0;
}

/* Runs under the caller's setjmp. */
static void
ctx_header (png_ctx_t *ctx)
{
    png_init_io (ctx->png, ctx->f);
    /* libpng's default limits (1,000,000 x 1,000,000) bound the one row we allocate */
    png_read_info (ctx->png, ctx->info);
    int ct = png_get_color_type (ctx->png, ctx->info);
    int depth = png_get_bit_depth (ctx->png, ctx->info);
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb (ctx->png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8 (ctx->png);
    if (depth == 16) {
        uint16_t one = 1;
        if (*(uint8_t *) &one == 1)
            png_set_swap (ctx->png);
    }
    ctx->interlaced = png_get_interlace_type (ctx->png, ctx->info) != PNG_INTERLACE_NONE;
    if (ctx->interlaced)
        png_set_interlace_handling (ctx->png);
    png_read_update_info (ctx->png, ctx->info);
    ctx->width = png_get_image_width (ctx->png, ctx->info);
    ctx->height = png_get_image_height (ctx->png, ctx->info);
    ctx->channels = png_get_channels (ctx->png, ctx->info);
    ctx->depth = png_get_bit_depth (ctx->png, ctx->info);
    ctx->rowbytes = png_get_rowbytes (ctx->png, ctx->info);
}

int
fmt_png_load (fmt_fileset_t *fs, const char *path, omr_err_t *err)
{
    png_ctx_t ctx;
    if (ctx_open (&ctx, path, err) < 0)
        return -1;
    if (setjmp (png_jmpbuf (ctx.png))) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: corrupt PNG: %s", path, ctx.msg);
        ctx_close (&ctx);
        return -1;
    }
    ctx_header (&ctx);
    png_textp texts = NULL;
    int ntext = 0;
    png_get_text (ctx.png, ctx.info, &texts, &ntext);
    int file = fmt_fileset_add_file (fs, path, FMT_FILE_PNG, err);
    fmt_imgsrc_t *src;
    fmt_image_t *img = file < 0 ? NULL : fmt_fileset_add_image (fs, &src, err);
    if (!img) {
        ctx_close (&ctx);
        return -1;
    }
    fs->format = strdup ("PNG");
    img->size_x = ctx.width;
    img->size_y = ctx.height;
    img->size_z = img->size_t = 1;
    img->size_c = ctx.channels;
    img->pixel_type = ctx.depth == 16 ? FMT_PT_UINT16 : FMT_PT_UINT8;
    img->significant_bits = ctx.depth == 16 ? 16 : 8;
    img->rgb = ctx.channels > 1;
    img->interleaved = ctx.channels > 1;
    img->name = strdup (fmt_basename (path));
    for (int i = 0; i < ntext; i++)
        fmt_image_add_kv (img, texts[i].key, texts[i].text);
    png_uint_32 resx, resy;
    int unit;
    if (png_get_pHYs (ctx.png, ctx.info, &resx, &resy, &unit) && unit == PNG_RESOLUTION_METER && resx && resy) {
        fmt_quantity_set (&img->physical_size_x, 1e6 / resx, "\xc2\xb5m");
        fmt_quantity_set (&img->physical_size_y, 1e6 / resy, "\xc2\xb5m");
    }
    ctx_close (&ctx);
    if (fmt_image_alloc (img, src, path, err) < 0)
        return -1;
    for (uint32_t c = 0; c < img->size_c; c++)
        src->refs[c] = (fmt_planeref_t) { .file = file, .ifd = 0, .sample = (int) c };
    if (fmt_image_set_levels (img, 1, err) < 0)
        return -1;
    img->levels[0] = (fmt_level_t) { img->size_x, img->size_y, img->size_x, 1 };
    return 0;
}

int
fmt_png_read_region (const char *path, const fmt_image_t *img, int channel, uint32_t x, uint32_t y,
                     uint32_t w, uint32_t h, void *buf, omr_err_t *err)
{
    png_ctx_t ctx;
    if (ctx_open (&ctx, path, err) < 0)
        return -1;
    /* written after setjmp and used after a longjmp: must live outside the registers */
    uint8_t *volatile rows = NULL;
    uint8_t **volatile rowp = NULL;
    if (setjmp (png_jmpbuf (ctx.png))) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: corrupt PNG: %s", path, ctx.msg);
        free (rows);
        free (rowp);
        ctx_close (&ctx);
        return -1;
    }
    ctx_header (&ctx);
    if (ctx.width != img->size_x || ctx.height != img->size_y || ctx.channels != (int) img->size_c
        || (ctx.depth == 16) != (img->pixel_type == FMT_PT_UINT16)) {
        ctx_close (&ctx);
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: file changed since it was opened", path);
    }
    int bytes = ctx.depth == 16 ? 2 : 1;
    uint8_t *out = buf;
    if (ctx.interlaced) {
        uint64_t total = (uint64_t) ctx.rowbytes * ctx.height;
        if (total > FMT_MAX_CHUNK) {
            ctx_close (&ctx);
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: interlaced PNG of %llu bytes is too large to decode",
                                path, (unsigned long long) total);
        }
        rows = malloc (total);
        rowp = malloc (ctx.height * sizeof *rowp);
        if (!rows || !rowp)
            png_error (ctx.png, "out of memory");
        for (uint32_t r = 0; r < ctx.height; r++)
            rowp[r] = rows + (size_t) r * ctx.rowbytes;
        png_read_image (ctx.png, rowp);
        for (uint32_t r = y; r < y + h; r++)
            for (uint32_t i = 0; i < w; i++)
                memcpy (out + ((size_t) (r - y) * w + i) * bytes,
                        rowp[r] + ((size_t) (x + i) * ctx.channels + channel) * bytes, bytes);
    } else {
        rows = malloc (ctx.rowbytes);
        if (!rows)
            png_error (ctx.png, "out of memory");
        for (uint32_t r = 0; r < y + h; r++) {
            png_read_row (ctx.png, rows, NULL);
            if (r < y)
                continue;
            for (uint32_t i = 0; i < w; i++)
                memcpy (out + ((size_t) (r - y) * w + i) * bytes,
                        rows + ((size_t) (x + i) * ctx.channels + channel) * bytes, bytes);
        }
    }
    free (rows);
    free (rowp);
    ctx_close (&ctx);
    return 0;
}
