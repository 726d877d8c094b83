/* test_formats.c: unit tests of the format readers (formats/) on TIFFs written here with
 * libtiff in known patterns (tiled/stripped, planar/chunky, 1-bit to double, both byte
 * orders), an OME companion set, bad input, and concurrent use of distinct handles. */
/* UNIT_LINK: formats */
#include "unit.h"
#include "../../formats/fileset.h"
#include "../../formats/detect.h"
#include <tiffio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[64];

static const char *
tmp (const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf (buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void
write_bytes (const char *path, const void *data, size_t n)
{
    FILE *f = fopen (path, "wb");
    if (n)
        fwrite (data, 1, n, f);
    fclose (f);
}

/* The value every test pattern stores at (x, y) of sample s of page p. */
static double
pattern (uint32_t x, uint32_t y, int s, int p)
{
    return (double) ((x * 7 + y * 13 + s * 101 + p * 37) % 251);
}

/* Write a TIFF of pages x (w, h) with spp samples of bps bits / format fmt, tiled or with
 * rows-per-strip rps, planar or chunky, compressed with comp. mode "w" or "wb" (big endian). */
static int
write_tiff (const char *path, const char *mode, uint32_t w, uint32_t h, int pages, int spp, int bps, int fmt,
            int tile, int rps, int planar, int comp, const char *desc)
{
    TIFF *t = TIFFOpen (path, mode);
    if (!t)
        return -1;
    int packed = bps % 8 != 0;
    int bytes = packed ? 1 : bps / 8;
    for (int p = 0; p < pages; p++) {
        TIFFSetField (t, TIFFTAG_IMAGEWIDTH, w);
        TIFFSetField (t, TIFFTAG_IMAGELENGTH, h);
        TIFFSetField (t, TIFFTAG_SAMPLESPERPIXEL, spp);
        TIFFSetField (t, TIFFTAG_BITSPERSAMPLE, bps);
        TIFFSetField (t, TIFFTAG_SAMPLEFORMAT, fmt);
        TIFFSetField (t, TIFFTAG_PHOTOMETRIC, spp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
        TIFFSetField (t, TIFFTAG_PLANARCONFIG, planar ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
        TIFFSetField (t, TIFFTAG_COMPRESSION, comp);
        if (desc && p == 0)
            TIFFSetField (t, TIFFTAG_IMAGEDESCRIPTION, desc);
        if (spp == 2) {
            uint16_t extra = EXTRASAMPLE_UNSPECIFIED;
            TIFFSetField (t, TIFFTAG_EXTRASAMPLES, 1, &extra);
        }
        if (tile) {
            TIFFSetField (t, TIFFTAG_TILEWIDTH, tile);
            TIFFSetField (t, TIFFTAG_TILELENGTH, tile);
        } else
            TIFFSetField (t, TIFFTAG_ROWSPERSTRIP, rps);
        /* build the whole page per sample plane, then cut it into chunks */
        int nplanes = planar ? spp : 1, per = planar ? 1 : spp;
        size_t row = packed ? ((size_t) w * per * bps + 7) / 8 : (size_t) w * per * bytes;
        uint8_t *img = calloc (row * h * nplanes, 1);
        for (int pl = 0; pl < nplanes; pl++)
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++)
                    for (int k = 0; k < per; k++) {
                        int s = planar ? pl : k;
                        double v = pattern (x, y, s, p);
                        uint8_t *dst = img + (size_t) pl * row * h + y * row;
                        if (packed) {
                            uint32_t val = (uint32_t) v & ((1u << bps) - 1);
                            uint64_t bit = ((uint64_t) x * per + k) * bps;
                            for (int b = bps - 1; b >= 0; b--, bit++)
                                if ((val >> b) & 1)
                                    dst[bit >> 3] |= 0x80 >> (bit & 7);
                            continue;
                        }
                        dst += ((size_t) x * per + k) * bytes;
                        if (fmt == SAMPLEFORMAT_IEEEFP && bps == 32) { float f = (float) v - 100.5f; memcpy (dst, &f, 4); }
                        else if (fmt == SAMPLEFORMAT_IEEEFP) { double d = v - 100.25; memcpy (dst, &d, 8); }
                        else if (bps == 8) { int8_t i = (int8_t) (fmt == SAMPLEFORMAT_INT ? v - 120 : v); memcpy (dst, &i, 1); }
                        else if (bps == 16) { int16_t i = (int16_t) (fmt == SAMPLEFORMAT_INT ? v - 120 : v * 200); memcpy (dst, &i, 2); }
                        else { int32_t i = (int32_t) (fmt == SAMPLEFORMAT_INT ? v * -70000 : v * 100000); memcpy (dst, &i, 4); }
                    }
        if (tile) {
            tmsize_t ts = TIFFTileSize (t);
            uint8_t *tb = malloc (ts);
            size_t trow = packed ? ((size_t) tile * per * bps + 7) / 8 : (size_t) tile * per * bytes;
            for (int pl = 0; pl < nplanes; pl++)
                for (uint32_t ty = 0; ty < h; ty += tile)
                    for (uint32_t tx = 0; tx < w; tx += tile) {
                        memset (tb, 0, ts);
                        for (int r = 0; r < tile && ty + r < h; r++) {
                            size_t n = tx + (uint32_t) tile <= w ? trow
                                       : (packed ? ((size_t) (w - tx) * per * bps + 7) / 8 : (size_t) (w - tx) * per * bytes);
                            memcpy (tb + r * trow, img + (size_t) pl * row * h + (ty + r) * row
                                    + (packed ? (size_t) tx * per * bps / 8 : (size_t) tx * per * bytes), n);
                        }
                        TIFFWriteEncodedTile (t, TIFFComputeTile (t, tx, ty, 0, pl), tb, ts);
                    }
            free (tb);
        } else
            for (int pl = 0; pl < nplanes; pl++)
                for (uint32_t y = 0; y < h; y += rps) {
                    uint32_t n = y + (uint32_t) rps <= h ? (uint32_t) rps : h - y;
                    TIFFWriteEncodedStrip (t, TIFFComputeStrip (t, y, pl), img + (size_t) pl * row * h + y * row,
                                           (tmsize_t) (n * row));
                }
        free (img);
        TIFFWriteDirectory (t);
    }
    TIFFClose (t);
    return 0;
}

static double
value_at (const uint8_t *buf, size_t i, fmt_pixtype_t pt)
{
    switch (pt) {
    case FMT_PT_INT8: return ((const int8_t *) buf)[i];
    case FMT_PT_UINT8: case FMT_PT_BIT: return buf[i];
    case FMT_PT_INT16: return ((const int16_t *) buf)[i];
    case FMT_PT_UINT16: return ((const uint16_t *) buf)[i];
    case FMT_PT_INT32: return ((const int32_t *) buf)[i];
    case FMT_PT_UINT32: return ((const uint32_t *) buf)[i];
    case FMT_PT_FLOAT: return ((const float *) buf)[i];
    case FMT_PT_DOUBLE: return ((const double *) buf)[i];
    }
    return 0;
}

static double
expected (uint32_t x, uint32_t y, int s, int p, int bps, int fmt)
{
    double v = pattern (x, y, s, p);
    if (bps % 8) return (double) ((uint32_t) v & ((1u << bps) - 1));
    if (fmt == SAMPLEFORMAT_IEEEFP) return bps == 32 ? (double) ((float) v - 100.5f) : v - 100.25;
    if (bps == 8) return fmt == SAMPLEFORMAT_INT ? (double) (int8_t) (v - 120) : v;
    if (bps == 16) return fmt == SAMPLEFORMAT_INT ? v - 120 : v * 200;
    return fmt == SAMPLEFORMAT_INT ? v * -70000 : v * 100000;
}

/* Open path and compare region (x, y, w, h) of every sample of every page with the pattern. */
static int
check_regions (const char *path, int pages, int spp, int bps, int fmt, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    omr_err_t err = { 0 };
    fmt_fileset_t *fs = fmt_fileset_open (path, &err);
    if (!fs) {
        fprintf (stderr, "  open %s: %s\n", path, err.msg);
        return -1;
    }
    const fmt_image_t *im = fmt_fileset_image (fs, 0);
    int bad = 0;
    size_t n = fmt_image_region_bytes (im, w, h);
    uint8_t *buf = malloc (n);
    for (int p = 0; p < pages && !bad; p++)
        for (int s = 0; s < spp && !bad; s++) {
            if (fmt_fileset_read_region (fs, 0, 0, p, s, 0, x, y, w, h, buf, n, &err) < 0) {
                fprintf (stderr, "  read %s: %s\n", path, err.msg);
                bad = 1;
                break;
            }
            for (uint32_t j = 0; j < h && !bad; j++)
                for (uint32_t i = 0; i < w && !bad; i++)
                    if (value_at (buf, (size_t) j * w + i, im->pixel_type) != expected (x + i, y + j, s, p, bps, fmt)) {
                        fprintf (stderr, "  %s p%d s%d (%u,%u): %g != %g\n", path, p, s, x + i, y + j,
                                 value_at (buf, (size_t) j * w + i, im->pixel_type), expected (x + i, y + j, s, p, bps, fmt));
                        bad = 1;
                    }
        }
    free (buf);
    fmt_fileset_destroy (&fs);
    CHECK (fs == NULL);
    return bad ? -1 : 0;
}

static void
test_pixtypes (void)
{
    const char *names[] = { "int8", "uint8", "int16", "uint16", "int32", "uint32", "float", "double", "bit" };
    const int bytes[] = { 1, 1, 2, 2, 4, 4, 4, 8, 1 };
    for (int i = 0; i < 9; i++) {
        fmt_pixtype_t t;
        CHECK_STR (fmt_pixtype_name ((fmt_pixtype_t) i), names[i]);
        CHECK_INT (fmt_pixtype_bytes ((fmt_pixtype_t) i), bytes[i]);
        CHECK_INT (fmt_pixtype_parse (names[i], &t), 0);
        CHECK_INT (t, i);
    }
    fmt_pixtype_t t;
    CHECK_INT (fmt_pixtype_parse ("complex", &t), -1);
}

static void
test_detect (void)
{
    fmt_kind_t k;
    omr_err_t err = { 0 };
    write_bytes (tmp ("a"), "II*\0\x08\0\0\0", 8);
    CHECK_INT (fmt_detect (tmp ("a"), &k, &err), 0);
    CHECK_INT (k, FMT_KIND_TIFF);
    write_bytes (tmp ("b"), "MM\0+\0\x08\0\0", 8);
    CHECK_INT (fmt_detect (tmp ("b"), &k, &err), 0);
    CHECK_INT (k, FMT_KIND_TIFF);
    write_bytes (tmp ("c"), "\x89PNG\r\n\x1a\n", 8);
    CHECK_INT (fmt_detect (tmp ("c"), &k, &err), 0);
    CHECK_INT (k, FMT_KIND_PNG);
    write_bytes (tmp ("d.png"), "\xff\xd8\xff\xe0", 4);     /* a JPEG whatever the name says */
    CHECK_INT (fmt_detect (tmp ("d.png"), &k, &err), 0);
    CHECK_INT (k, FMT_KIND_JPEG);
    const char *xml = "\xef\xbb\xbf  <?xml version=\"1.0\"?>\n<OME xmlns=\"x\"/>";
    write_bytes (tmp ("e"), xml, strlen (xml));
    CHECK_INT (fmt_detect (tmp ("e"), &k, &err), 0);
    CHECK_INT (k, FMT_KIND_OMEXML);
    write_bytes (tmp ("f"), "", 0);
    CHECK_INT (fmt_detect (tmp ("f"), &k, &err), -1);
    CHECK (strstr (err.msg, "empty") && strstr (err.msg, tmp ("f")));
    write_bytes (tmp ("g"), "<html/>", 7);
    CHECK_INT (fmt_detect (tmp ("g"), &k, &err), -1);
    CHECK (strstr (err.msg, "unsupported format") != NULL);
    CHECK_INT (fmt_detect (tmp ("missing"), &k, &err), -1);
    CHECK_STR (err.name, OMR_E_NOTFOUND);
    CHECK_INT (fmt_detect (dir, &k, &err), -1);
    CHECK (strstr (err.msg, "directory") != NULL);
    CHECK_INT (fmt_detect ("/dev/null", &k, &err), -1);
    CHECK (strstr (err.msg, "regular file") != NULL);
}

static void
test_layouts (void)
{
    struct { const char *name, *mode; uint32_t w, h; int pages, spp, bps, fmt, tile, rps, planar, comp; fmt_pixtype_t pt; } L[] = {
        { "u8_strips.tif", "w", 45, 31, 2, 1, 8, SAMPLEFORMAT_UINT, 0, 4, 0, COMPRESSION_NONE, FMT_PT_UINT8 },
        { "i8_lzw.tif", "w", 45, 31, 1, 1, 8, SAMPLEFORMAT_INT, 0, 5, 0, COMPRESSION_LZW, FMT_PT_INT8 },
        { "u16_tiles_planar.tif", "w", 40, 30, 3, 2, 16, SAMPLEFORMAT_UINT, 16, 0, 1, COMPRESSION_ADOBE_DEFLATE, FMT_PT_UINT16 },
        { "i16_be.tif", "wb", 33, 17, 1, 1, 16, SAMPLEFORMAT_INT, 0, 3, 0, COMPRESSION_PACKBITS, FMT_PT_INT16 },
        { "u32_chunky_rgb.tif", "w", 37, 29, 1, 3, 32, SAMPLEFORMAT_UINT, 0, 7, 0, COMPRESSION_NONE, FMT_PT_UINT32 },
        { "i32_tiles_be.tif", "wb", 50, 20, 2, 1, 32, SAMPLEFORMAT_INT, 16, 0, 0, COMPRESSION_ADOBE_DEFLATE, FMT_PT_INT32 },
        { "f32.tif", "w8", 31, 31, 1, 1, 32, SAMPLEFORMAT_IEEEFP, 0, 31, 0, COMPRESSION_NONE, FMT_PT_FLOAT },
        { "f64_be_tiles.tif", "wb8", 20, 33, 1, 2, 64, SAMPLEFORMAT_IEEEFP, 16, 0, 0, COMPRESSION_ADOBE_DEFLATE, FMT_PT_DOUBLE },
        { "bit.tif", "w", 43, 19, 2, 1, 1, SAMPLEFORMAT_UINT, 0, 6, 0, COMPRESSION_NONE, FMT_PT_BIT },
        { "bit_tiles.tif", "w", 43, 19, 1, 1, 1, SAMPLEFORMAT_UINT, 16, 0, 0, COMPRESSION_NONE, FMT_PT_BIT },
        { "bit_2samples.tif", "w", 43, 19, 1, 2, 1, SAMPLEFORMAT_UINT, 0, 5, 0, COMPRESSION_NONE, FMT_PT_BIT },
        { "u4.tif", "w", 45, 21, 2, 1, 4, SAMPLEFORMAT_UINT, 0, 4, 0, COMPRESSION_LZW, FMT_PT_UINT8 },
        { "u2_tiles_planar.tif", "w", 45, 21, 1, 2, 2, SAMPLEFORMAT_UINT, 16, 0, 1, COMPRESSION_NONE, FMT_PT_UINT8 },
        { "u12_rgb.tif", "w", 37, 23, 1, 3, 12, SAMPLEFORMAT_UINT, 0, 6, 0, COMPRESSION_ADOBE_DEFLATE, FMT_PT_UINT16 },
        { "u12_tiles_be.tif", "wb", 37, 23, 1, 1, 12, SAMPLEFORMAT_UINT, 16, 0, 0, COMPRESSION_NONE, FMT_PT_UINT16 },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        const char *path = tmp (L[i].name);
        CHECK_INT (write_tiff (path, L[i].mode, L[i].w, L[i].h, L[i].pages, L[i].spp, L[i].bps, L[i].fmt, L[i].tile,
                               L[i].rps, L[i].planar, L[i].comp, NULL), 0);
        omr_err_t err = { 0 };
        fmt_fileset_t *fs = fmt_fileset_open (path, &err);
        CHECK (fs != NULL);
        if (!fs) {
            fprintf (stderr, "  %s: %s\n", L[i].name, err.msg);
            continue;
        }
        const fmt_image_t *im = fmt_fileset_image (fs, 0);
        CHECK_INT (fmt_fileset_image_count (fs), 1);
        CHECK_INT (im->pixel_type, L[i].pt);
        CHECK_INT (im->size_x, L[i].w);
        CHECK_INT (im->size_y, L[i].h);
        CHECK_INT (im->size_z, L[i].pages);
        CHECK_INT (im->size_c, L[i].spp);
        CHECK_INT (im->rgb, L[i].spp > 1);
        CHECK_INT (im->interleaved, L[i].spp > 1 && !L[i].planar);
        CHECK_INT (im->levels[0].tile_w, L[i].tile ? (uint32_t) L[i].tile : L[i].w);
        CHECK_STR (fmt_fileset_format (fs), "TIFF");
        /* min/max of page 0, sample 0 from the pattern */
        double lo = 1e300, hi = -1e300, mn, mx;
        for (uint32_t y = 0; y < L[i].h; y++)
            for (uint32_t x = 0; x < L[i].w; x++) {
                double v = expected (x, y, 0, 0, L[i].bps, L[i].fmt);
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        CHECK_INT (fmt_fileset_plane_minmax (fs, 0, 0, 0, 0, &mn, &mx, &err), 0);
        CHECK (mn == lo && mx == hi);
        fmt_fileset_destroy (&fs);
        CHECK_INT (check_regions (path, L[i].pages, L[i].spp, L[i].bps, L[i].fmt, 0, 0, L[i].w, L[i].h), 0);
        CHECK_INT (check_regions (path, L[i].pages, L[i].spp, L[i].bps, L[i].fmt, 3, 5, L[i].w - 9, L[i].h - 8), 0);
        CHECK_INT (check_regions (path, L[i].pages, L[i].spp, L[i].bps, L[i].fmt, L[i].w - 1, L[i].h - 1, 1, 1), 0);
    }
}

/* YCbCr JPEG tiles (how slide scanners and tiffcp -c jpeg write colour): libjpeg converts to
 * RGB; the result must equal libtiff's own RGBA reader and be close to what was written. */
static void
test_ycbcr_jpeg (void)
{
    const char *path = tmp ("ycbcr.tif");
    uint32_t w = 40, h = 30;
    TIFF *t = TIFFOpen (path, "w");
    TIFFSetField (t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField (t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField (t, TIFFTAG_SAMPLESPERPIXEL, 3);
    TIFFSetField (t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField (t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField (t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
    TIFFSetField (t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
    TIFFSetField (t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    TIFFSetField (t, TIFFTAG_JPEGQUALITY, 95);
    TIFFSetField (t, TIFFTAG_TILEWIDTH, 16);
    TIFFSetField (t, TIFFTAG_TILELENGTH, 16);
    uint8_t tile[16 * 16 * 3];
    for (uint32_t ty = 0; ty < h; ty += 16)
        for (uint32_t tx = 0; tx < w; tx += 16) {
            for (uint32_t y = 0; y < 16; y++)
                for (uint32_t x = 0; x < 16; x++)
                    for (int c = 0; c < 3; c++)
                        tile[(y * 16 + x) * 3 + c] = (uint8_t) (c == 0 ? (tx + x) * 6 : c == 1 ? (ty + y) * 8 : 128);
            TIFFWriteEncodedTile (t, TIFFComputeTile (t, tx, ty, 0, 0), tile, sizeof tile);
        }
    TIFFWriteDirectory (t);
    TIFFClose (t);
    uint32_t *rgba = malloc (w * h * 4);
    t = TIFFOpen (path, "r");
    CHECK (t && TIFFReadRGBAImageOriented (t, w, h, rgba, ORIENTATION_TOPLEFT, 0));
    if (t)
        TIFFClose (t);
    omr_err_t err = { 0 };
    fmt_fileset_t *fs = fmt_fileset_open (path, &err);
    CHECK (fs != NULL);
    if (fs) {
        const fmt_image_t *im = fmt_fileset_image (fs, 0);
        CHECK_INT (im->size_c, 3);
        CHECK_INT (im->pixel_type, FMT_PT_UINT8);
        uint8_t plane[40 * 30];
        int same = 1, close = 1;
        for (int c = 0; c < 3; c++) {
            CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 0, c, 0, 0, 0, w, h, plane, sizeof plane, &err), 0);
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                    uint32_t p = rgba[y * w + x];
                    int ref = c == 0 ? (int) TIFFGetR (p) : c == 1 ? (int) TIFFGetG (p) : (int) TIFFGetB (p);
                    int orig = c == 0 ? (int) (x * 6) : c == 1 ? (int) (y * 8) : 128;
                    same &= plane[y * w + x] == ref;
                    close &= abs (plane[y * w + x] - orig) < 24;
                }
        }
        CHECK (same);
        CHECK (close);
        fmt_fileset_destroy (&fs);
    }
    free (rgba);
}

static void
test_region_errors (void)
{
    const char *path = tmp ("u8_strips.tif");
    omr_err_t err = { 0 };
    fmt_fileset_t *fs = fmt_fileset_open (path, &err);
    CHECK (fs != NULL);
    if (!fs)
        return;
    uint8_t buf[64];
    CHECK_INT (fmt_fileset_read_region (fs, 1, 0, 0, 0, 0, 0, 0, 2, 2, buf, sizeof buf, &err), -1);
    CHECK_STR (err.name, OMR_E_API);
    CHECK_INT (fmt_fileset_read_region (fs, 0, 1, 0, 0, 0, 0, 0, 2, 2, buf, sizeof buf, &err), -1);
    CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 2, 0, 0, 0, 0, 2, 2, buf, sizeof buf, &err), -1);
    CHECK (strstr (err.msg, "outside") != NULL);
    CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 0, 0, 0, 40, 0, 8, 2, buf, sizeof buf, &err), -1);
    CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 0, 0, 0, 0, 0, 8, 9, buf, sizeof buf, &err), -1);
    CHECK (strstr (err.msg, "too small") != NULL);
    CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 1, 0, 0, 0, 0, 8, 8, buf, sizeof buf, &err), 0);
    fmt_fileset_destroy (&fs);
}

static void
test_ome_companion (void)
{
    const char *p1 = tmp ("set_1.ome.tif"), *p2 = tmp ("set_2.ome.tif");
    /* each data file: two uint16 pages; the companion maps file 1 to C=0 (Z 0..1), file 2 to C=1 */
    CHECK_INT (write_tiff (p1, "w", 24, 20, 2, 1, 16, SAMPLEFORMAT_UINT, 0, 20, 0, COMPRESSION_NONE,
                           "<?xml version=\"1.0\"?><OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\">"
                           "<BinaryOnly MetadataFile=\"set.companion.ome\" UUID=\"urn:uuid:c\"/></OME>"), 0);
    CHECK_INT (write_tiff (p2, "w", 24, 20, 2, 1, 16, SAMPLEFORMAT_UINT, 0, 20, 0, COMPRESSION_NONE, NULL), 0);
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" UUID=\"urn:uuid:c\">\n"
        " <Instrument ID=\"Instrument:0\"><Objective ID=\"Objective:0\" Manufacturer=\"Zeiss\" Model=\"Plan\""
        "  NominalMagnification=\"63.0\" LensNA=\"1.4\" Immersion=\"Oil\"/>"
        "  <Detector ID=\"Detector:0\" Type=\"CCD\" Model=\"Cam\"/></Instrument>\n"
        " <Image ID=\"Image:0\" Name=\"companion image\"><AcquisitionDate>2020-01-02T03:04:05</AcquisitionDate>"
        "  <Description>two files</Description><InstrumentRef ID=\"Instrument:0\"/>\n"
        "  <Pixels ID=\"Pixels:0\" DimensionOrder=\"XYZCT\" Type=\"uint16\" SizeX=\"24\" SizeY=\"20\" SizeZ=\"2\""
        "   SizeC=\"2\" SizeT=\"1\" PhysicalSizeX=\"0.1\" PhysicalSizeXUnit=\"nm\" PhysicalSizeY=\"0.2\""
        "   TimeIncrement=\"3\" TimeIncrementUnit=\"ms\" SignificantBits=\"12\">\n"
        "   <Channel ID=\"Channel:0\" Name=\"DAPI\" Color=\"-16776961\" EmissionWavelength=\"461\""
        "    ExcitationWavelength=\"0.358\" ExcitationWavelengthUnit=\"µm\" Fluor=\"DAPI\" SamplesPerPixel=\"1\"/>\n"
        "   <Channel ID=\"Channel:1\" Name=\"GFP\" Color=\"16711935\"/>\n"
        "   <TiffData FirstC=\"0\" IFD=\"0\" PlaneCount=\"2\"><UUID FileName=\"set_1.ome.tif\">urn:uuid:a</UUID></TiffData>\n"
        "   <TiffData FirstC=\"1\" IFD=\"0\" PlaneCount=\"2\"><UUID FileName=\"set_2.ome.tif\">urn:uuid:b</UUID></TiffData>\n"
        "   <Plane TheZ=\"1\" TheC=\"1\" TheT=\"0\" DeltaT=\"2.5\" ExposureTime=\"10\" ExposureTimeUnit=\"ms\""
        "    PositionX=\"5\" PositionXUnit=\"µm\"/>\n"
        "   <Plane TheZ=\"9\" TheC=\"0\" TheT=\"0\"/>\n"
        "  </Pixels></Image></OME>\n";
    const char *comp = tmp ("set.companion.ome");
    write_bytes (comp, xml, strlen (xml));
    const char *opens[] = { comp, p1 };
    for (int k = 0; k < 2; k++) {
        omr_err_t err = { 0 };
        fmt_fileset_t *fs = fmt_fileset_open (opens[k], &err);
        CHECK (fs != NULL);
        if (!fs) {
            fprintf (stderr, "  %s\n", err.msg);
            continue;
        }
        CHECK_STR (fmt_fileset_format (fs), "OME-TIFF");
        CHECK_INT (fmt_fileset_file_count (fs), 3);
        CHECK_STR (fmt_fileset_file (fs, 0), comp);
        const fmt_image_t *im = fmt_fileset_image (fs, 0);
        CHECK_STR (im->name, "companion image");
        CHECK_STR (im->description, "two files");
        CHECK_STR (im->acquisition_date, "2020-01-02T03:04:05");
        CHECK_INT (im->size_z, 2);
        CHECK_INT (im->size_c, 2);
        CHECK_INT (im->significant_bits, 12);
        CHECK (im->physical_size_x.set && im->physical_size_x.value == 0.1);
        CHECK_STR (im->physical_size_x.unit, "nm");
        CHECK_STR (im->physical_size_y.unit, "µm");
        CHECK (!im->physical_size_z.set);
        CHECK_STR (im->time_increment.unit, "ms");
        CHECK_STR (im->channels[0].name, "DAPI");
        CHECK_INT (im->channels[0].color, -16776961);
        CHECK_INT (im->channels[1].color, 16711935);
        CHECK (im->channels[0].emission.value == 461);
        CHECK_STR (im->channels[0].emission.unit, "nm");
        CHECK_STR (im->channels[0].excitation.unit, "µm");
        CHECK_STR (im->channels[0].fluor, "DAPI");
        CHECK_INT (im->plane_count, 1);
        CHECK (im->planes[0].z == 1 && im->planes[0].c == 1);
        CHECK_STR (im->planes[0].delta_t.unit, "s");
        CHECK_STR (im->planes[0].exposure_time.unit, "ms");
        CHECK_STR (im->planes[0].position_x.unit, "µm");
        CHECK (!im->planes[0].position_y.set);
        CHECK_INT (im->instrument, 0);
        CHECK_INT (fmt_fileset_instrument_count (fs), 1);
        const fmt_instrument_t *in = fmt_fileset_instrument (fs, 0);
        CHECK (in && in->objective_count == 1 && in->objectives[0].nominal_magnification == 63.0);
        CHECK (in && in->objectives[0].lens_na == 1.4);
        CHECK_STR (in ? in->objectives[0].immersion : NULL, "Oil");
        CHECK_STR (in ? in->detectors[0].type : NULL, "CCD");
        /* plane (z=1, c=1) is page 1 of file 2: pattern page 1 */
        uint16_t px[24 * 20];
        CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 1, 1, 0, 0, 0, 24, 20, px, sizeof px, &err), 0);
        CHECK_INT (px[3 * 24 + 5], (int) expected (5, 3, 0, 1, 16, SAMPLEFORMAT_UINT));
        CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 0, 0, 0, 0, 0, 24, 20, px, sizeof px, &err), 0);
        CHECK_INT (px[7 * 24 + 11], (int) expected (11, 7, 0, 0, 16, SAMPLEFORMAT_UINT));
        CHECK (fmt_fileset_ome_xml (fs) && strstr (fmt_fileset_ome_xml (fs), "companion image"));
        fmt_fileset_destroy (&fs);
    }
    /* the same companion naming a file that is not there */
    unlink (p2);
    omr_err_t err = { 0 };
    fmt_fileset_t *fs = fmt_fileset_open (comp, &err);
    CHECK (fs == NULL);
    CHECK (strstr (err.msg, "set_2.ome.tif") && strstr (err.msg, "missing"));
    CHECK_STR (err.name, OMR_E_NOTFOUND);
    /* and from a data file of the set */
    fs = fmt_fileset_open (p1, &err);
    CHECK (fs == NULL);
    CHECK (strstr (err.msg, "set_2.ome.tif") != NULL);
}

static void
test_bad_input (void)
{
    omr_err_t err = { 0 };
    CHECK (fmt_fileset_open (tmp ("nothing-here.tif"), &err) == NULL);
    CHECK (strstr (err.msg, "nothing-here.tif") != NULL);
    CHECK (fmt_fileset_open (NULL, &err) == NULL);
    write_bytes (tmp ("zero.tif"), "", 0);
    CHECK (fmt_fileset_open (tmp ("zero.tif"), &err) == NULL);
    CHECK (strstr (err.msg, "zero.tif") && strstr (err.msg, "empty"));
    /* a TIFF header whose first IFD points past the end */
    write_bytes (tmp ("badifd.tif"), "II*\0\xff\xff\xff\x0f\0\0\0\0", 12);
    CHECK (fmt_fileset_open (tmp ("badifd.tif"), &err) == NULL);
    CHECK (strstr (err.msg, "badifd.tif") != NULL);
    CHECK_STR (err.name, OMR_E_VALIDATION);
    /* truncated pixel data: opens (the IFD is at the front), reading fails cleanly */
    const char *full = tmp ("trunc_src.tif");
    write_tiff (full, "w", 64, 64, 1, 1, 16, SAMPLEFORMAT_UINT, 0, 8, 0, COMPRESSION_ADOBE_DEFLATE, NULL);
    FILE *f = fopen (full, "rb");
    uint8_t data[65536];
    size_t n = fread (data, 1, sizeof data, f);
    fclose (f);
    /* libtiff writes the IFD after the data: cut the data, keep a header pointing at nothing */
    write_bytes (tmp ("trunc.tif"), data, n / 2);
    fmt_fileset_t *fs = fmt_fileset_open (tmp ("trunc.tif"), &err);
    if (fs) {
        uint16_t buf[64 * 64];
        CHECK_INT (fmt_fileset_read_region (fs, 0, 0, 0, 0, 0, 0, 0, 64, 64, buf, sizeof buf, &err), -1);
        fmt_fileset_destroy (&fs);
    }
    CHECK (strstr (err.msg, "trunc.tif") != NULL);
    /* a PNG and a JPEG cut short */
    static const unsigned char png_head[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R' };
    write_bytes (tmp ("short.png"), png_head, sizeof png_head);
    CHECK (fmt_fileset_open (tmp ("short.png"), &err) == NULL);
    CHECK (strstr (err.msg, "short.png") && strstr (err.msg, "PNG"));
    write_bytes (tmp ("short.jpg"), "\xff\xd8\xff\xe0\0\x10JFIF", 10);
    CHECK (fmt_fileset_open (tmp ("short.jpg"), &err) == NULL);
    CHECK (strstr (err.msg, "short.jpg") && strstr (err.msg, "JPEG"));
}

typedef struct {
    const char *path;
    uint64_t sum;
    int failed;
} job_t;

static void *
reader (void *arg)
{
    job_t *j = arg;
    for (int rep = 0; rep < 20; rep++) {
        omr_err_t err = { 0 };
        fmt_fileset_t *fs = fmt_fileset_open (j->path, &err);
        if (!fs) {
            j->failed = 1;
            return NULL;
        }
        const fmt_image_t *im = fmt_fileset_image (fs, 0);
        size_t n = fmt_image_region_bytes (im, im->size_x, im->size_y);
        uint8_t *buf = malloc (n);
        uint64_t sum = 0;
        for (uint32_t z = 0; z < im->size_z; z++)
            for (uint32_t c = 0; c < im->size_c; c++) {
                if (fmt_fileset_read_region (fs, 0, 0, z, c, 0, 0, 0, im->size_x, im->size_y, buf, n, &err) < 0)
                    j->failed = 1;
                for (size_t i = 0; i < n; i++)
                    sum = sum * 31 + buf[i];
            }
        free (buf);
        fmt_fileset_destroy (&fs);
        if (rep == 0)
            j->sum = sum;
        else if (sum != j->sum)
            j->failed = 1;
    }
    return NULL;
}

static void
test_threads (void)
{
    /* distinct handles on distinct threads, two files, each checked against a lone run */
    const char *paths[2] = { tmp ("u16_tiles_planar.tif"), tmp ("i32_tiles_be.tif") };
    job_t solo[2] = { { paths[0], 0, 0 }, { paths[1], 0, 0 } };
    reader (&solo[0]);
    reader (&solo[1]);
    pthread_t th[6];
    job_t jobs[6];
    for (int i = 0; i < 6; i++) {
        jobs[i] = (job_t) { paths[i % 2], 0, 0 };
        pthread_create (&th[i], NULL, reader, &jobs[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join (th[i], NULL);
        CHECK_INT (jobs[i].failed, 0);
        CHECK (jobs[i].sum == solo[i % 2].sum);
    }
    CHECK_INT (solo[0].failed, 0);
    CHECK_INT (solo[1].failed, 0);
}

int
main (void)
{
    snprintf (dir, sizeof dir, "/tmp/test_formats.XXXXXX");
    if (!mkdtemp (dir))
        return 1;
    RUN (test_pixtypes);
    RUN (test_detect);
    RUN (test_layouts);
    RUN (test_ycbcr_jpeg);
    RUN (test_region_errors);
    RUN (test_ome_companion);
    RUN (test_bad_input);
    RUN (test_threads);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", dir);
    return UNIT_DONE ();
}
