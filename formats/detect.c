/* detect.c: format detection by magic bytes, and by the root element for OME-XML files. */
#include "detect.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int
fmt_detect (const char *path, fmt_kind_t *kind, omr_err_t *err)
{
    struct stat st;
    if (stat (path, &st) < 0)
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "%s: cannot open: %s", path, strerror (errno));
    if (S_ISDIR (st.st_mode))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: is a directory, not an image file", path);
    if (!S_ISREG (st.st_mode))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: not a regular file (device, FIFO or socket)", path);
    FILE *f = fopen (path, "rb");
    if (!f)
        return omr_err_set (err, OMR_E_SECURITY, 403, "%s: cannot open: %s", path, strerror (errno));
    unsigned char b[4096];
    size_t n = fread (b, 1, sizeof b, f);
    int rerr = ferror (f);
    fclose (f);
    if (rerr)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: read error", path);
    if (n == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: empty file (0 bytes), not an image", path);
    if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0)
                   || (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43)))) {
        *kind = FMT_KIND_TIFF;
        return 0;
    }
    static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (n >= 8 && memcmp (b, png_sig, 8) == 0) {
        *kind = FMT_KIND_PNG;
        return 0;
    }
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
        *kind = FMT_KIND_JPEG;
        return 0;
    }
    /* XML: optional UTF-8 BOM and blanks, then '<'; an OME document has an OME root */
    size_t i = 0;
    if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
        i = 3;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i < n && b[i] == '<') {
        b[n == sizeof b ? n - 1 : n] = 0;
        if (memmem (b + i, n - i, "<OME", 4) || memmem (b + i, n - i, ":OME", 4)) {
            *kind = FMT_KIND_OMEXML;
            return 0;
        }
    }
    return omr_err_set (err, OMR_E_VALIDATION, 400,
                        "%s: unsupported format (not TIFF, OME-TIFF, OME-XML companion, PNG or JPEG)", path);
}
