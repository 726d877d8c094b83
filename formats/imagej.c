/* imagej.c: parsing of the ImageJ ImageDescription (key=value lines written by ImageJ and
 * tifffile's imagej=True) that describes hyperstack sizes and calibration. */
#include "imagej.h"
#include "fileset_priv.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
fmt_imagej_parse (const char *desc, fmt_imagej_t *ij, fmt_image_t *img)
{
    memset (ij, 0, sizeof *ij);
    if (!desc || strncmp (desc, "ImageJ=", 7) != 0)
        return -1;
    const char *p = desc;
    while (*p) {
        const char *eol = strchr (p, '\n');
        size_t len = eol ? (size_t) (eol - p) : strlen (p);
        char line[512];
        if (len >= sizeof line)
            len = sizeof line - 1;
        memcpy (line, p, len);
        line[len] = 0;
        if (len && line[len - 1] == '\r')
            line[len - 1] = 0;
        char *eq = strchr (line, '=');
        if (eq) {
            *eq = 0;
            const char *k = line, *v = eq + 1;
            if (strcmp (k, "images") == 0)
                ij->images = strtol (v, NULL, 10);
            else if (strcmp (k, "channels") == 0)
                ij->channels = strtol (v, NULL, 10);
            else if (strcmp (k, "slices") == 0)
                ij->slices = strtol (v, NULL, 10);
            else if (strcmp (k, "frames") == 0)
                ij->frames = strtol (v, NULL, 10);
            else if (strcmp (k, "hyperstack") == 0)
                ij->hyperstack = strcmp (v, "true") == 0;
            else if (strcmp (k, "unit") == 0)
                snprintf (ij->unit, sizeof ij->unit, "%s", v);
            else if (strcmp (k, "spacing") == 0) {
                ij->spacing = strtod (v, NULL);
                ij->has_spacing = 1;
            } else if (strcmp (k, "finterval") == 0) {
                ij->finterval = strtod (v, NULL);
                ij->has_finterval = 1;
            }
            if (img) {
                char key[300];
                snprintf (key, sizeof key, "ImageJ.%s", k);
                fmt_image_add_kv (img, key, v);
            }
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    /* negative or absurd counts are treated as absent (and keep C*Z*T from overflowing) */
    const long max = 1L << 20;
    if (ij->images < 0 || ij->images > max) ij->images = 0;
    if (ij->channels < 0 || ij->channels > max) ij->channels = 0;
    if (ij->slices < 0 || ij->slices > max) ij->slices = 0;
    if (ij->frames < 0 || ij->frames > max) ij->frames = 0;
    return 0;
}

const char *
fmt_imagej_unit (const char *u)
{
    if (!u || !*u)
        return NULL;
    if (strcmp (u, "micron") == 0 || strcmp (u, "um") == 0 || strcmp (u, "\xc2\xb5m") == 0
        || strcmp (u, "\\u00B5m") == 0 || strcmp (u, "microns") == 0)
        return "\xc2\xb5m";
    if (strcmp (u, "nm") == 0 || strcmp (u, "nanometer") == 0)
        return "nm";
    if (strcmp (u, "mm") == 0 || strcmp (u, "millimeter") == 0)
        return "mm";
    if (strcmp (u, "cm") == 0 || strcmp (u, "centimeter") == 0)
        return "cm";
    if (strcmp (u, "m") == 0 || strcmp (u, "meter") == 0)
        return "m";
    if (strcmp (u, "inch") == 0 || strcmp (u, "in") == 0)
        return "in";
    return NULL;
}
