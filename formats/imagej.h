/* imagej.h: the ImageJ ImageDescription ("ImageJ=1.x\nimages=…\nchannels=…") of ImageJ TIFFs. */
#ifndef FMT_IMAGEJ_H
#define FMT_IMAGEJ_H
#include "fileset.h"

typedef struct {
    long images, channels, slices, frames;   /* 0 when not given */
    int hyperstack;
    char unit[32];                           /* "micron", "nm" … ("" when not given) */
    int has_spacing, has_finterval;
    double spacing, finterval;
} fmt_imagej_t;

/* Parse desc; 0 when it is an ImageJ description, -1 otherwise. Every key=value line is also
 * added to img's original metadata when img is not NULL. */
int fmt_imagej_parse (const char *desc, fmt_imagej_t *ij, fmt_image_t *img);
/* OMERO unit symbol for an ImageJ length unit name ("micron" → "µm"); NULL when unknown. */
const char *fmt_imagej_unit (const char *unit);
#endif
