/* jpeg_reader.c: JPEG through libjpeg(-turbo). A JPEG is one 8-bit plane: greyscale gives one
 * channel, colour is decoded to RGB (three channels), CMYK/YCCK to four. A region read
 * decodes scanlines from the top to the region's last row, one row at a time. libjpeg's
 * fatal errors longjmp back here and become the call's error; its warnings are dropped. */
#include "jpeg_reader.h"
#include "fileset_priv.h"
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr_t;

static void
on_error_exit (j_common_ptr cinfo)
{
    jerr_t *e = (jerr_t *) cinfo->err;
    (*cinfo->err->format_message) (cinfo, e->msg);
    longjmp (e->jb, 1);
}

static void
on_output (j_common_ptr cinfo)
{
    /* warnings are not printed */
}

static void
on_emit (j_common_ptr cinfo, int level)
{
    /* a file that ends early would decode as grey padding: that is an error, not a warning */
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        on_error_exit (cinfo);
}

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jerr_t jerr;
    FILE *f;
    int created;
} jctx_t;

static int
jctx_open (jctx_t *ctx, const char *path, omr_err_t *err)
{
    memset (ctx, 0, sizeof *ctx);
    ctx->f = fopen (path, "rb");
    if (!ctx->f)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "%s: cannot open: %s", path, strerror (errno));
    ctx->cinfo.err = jpeg_std_error (&ctx->jerr.pub);
    ctx->jerr.pub.error_exit = on_error_exit;
    ctx->jerr.pub.output_message = on_output;
    ctx->jerr.pub.emit_message = on_emit;
    return 0;
}

static void
jctx_close (jctx_t *ctx)
{
    if (ctx->created)
        jpeg_destroy_decompress (&ctx->cinfo);
    ctx->created = 0;
    if (ctx->f)
        fclose (ctx->f);
    ctx->f = NULL;
}

/* Runs under the caller's setjmp: header and output colour space. */
static void
jctx_header (jctx_t *ctx)
{
    jpeg_create_decompress (&ctx->cinfo);
    ctx->created = 1;
    jpeg_stdio_src (&ctx->cinfo, ctx->f);
    jpeg_read_header (&ctx->cinfo, TRUE);
    switch (ctx->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        ctx->cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        ctx->cinfo.out_color_space = JCS_CMYK;
        break;
    default:
        ctx->cinfo.out_color_space = JCS_RGB;
    }
}

int
fmt_jpeg_load (fmt_fileset_t *fs, const char *path, omr_err_t *err)
{
    jctx_t ctx;
    if (jctx_open (&ctx, path, err) < 0)
        return -1;
    if (setjmp (ctx.jerr.jb)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: corrupt JPEG: %s", path, ctx.jerr.msg);
        jctx_close (&ctx);
        return -1;
    }
    jctx_header (&ctx);
    jpeg_calc_output_dimensions (&ctx.cinfo);
    uint32_t w = ctx.cinfo.output_width, h = ctx.cinfo.output_height;
    int nc = ctx.cinfo.output_components;
    jctx_close (&ctx);
    int file = fmt_fileset_add_file (fs, path, FMT_FILE_JPEG, err);
    fmt_imgsrc_t *src;
    fmt_image_t *img = file < 0 ? NULL : fmt_fileset_add_image (fs, &src, err);
    if (!img)
        return -1;
    fs->format = strdup ("JPEG");
    img->size_x = w;
    img->size_y = h;
    img->size_z = img->size_t = 1;
    img->size_c = nc;
    img->pixel_type = FMT_PT_UINT8;
    img->significant_bits = 8;
    img->rgb = nc > 1;
    img->interleaved = nc > 1;
    img->name = strdup (fmt_basename (path));
    if (fmt_image_alloc (img, src, path, err) < 0)
        return -1;
    for (int c = 0; c < nc; c++)
        src->refs[c] = (fmt_planeref_t) { .file = file, .ifd = 0, .sample = c };
    if (fmt_image_set_levels (img, 1, err) < 0)
        return -1;
    img->levels[0] = (fmt_level_t) { w, h, w, 1 };
    return 0;
}

int
fmt_jpeg_read_region (const char *path, const fmt_image_t *img, int channel, uint32_t x, uint32_t y,
                      uint32_t w, uint32_t h, void *buf, omr_err_t *err)
{
    jctx_t ctx;
    if (jctx_open (&ctx, path, err) < 0)
        return -1;
    JSAMPLE *volatile row = NULL;
    if (setjmp (ctx.jerr.jb)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: corrupt JPEG: %s", path, ctx.jerr.msg);
        free (row);
        jctx_close (&ctx);
        return -1;
    }
    jctx_header (&ctx);
    jpeg_start_decompress (&ctx.cinfo);
    int nc = ctx.cinfo.output_components;
    if (ctx.cinfo.output_width != img->size_x || ctx.cinfo.output_height != img->size_y || nc != (int) img->size_c) {
        jctx_close (&ctx);
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: file changed since it was opened", path);
    }
    row = malloc ((size_t) ctx.cinfo.output_width * nc);
    if (!row) {
        jctx_close (&ctx);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", path);
    }
    uint8_t *out = buf;
    while (ctx.cinfo.output_scanline < y + h) {
        uint32_t r = ctx.cinfo.output_scanline;
        JSAMPROW rp = row;
        if (jpeg_read_scanlines (&ctx.cinfo, &rp, 1) != 1)
            break;
        if (r < y)
            continue;
        for (uint32_t i = 0; i < w; i++)
            out[(size_t) (r - y) * w + i] = row[(size_t) (x + i) * nc + channel];
    }
    int short_read = ctx.cinfo.output_scanline < y + h;
    free (row);
    row = NULL;
    /* stop without reading the rest: jpeg_abort via destroy */
    jctx_close (&ctx);
    if (short_read)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: JPEG ended before row %u", path, y + h);
    return 0;
}
