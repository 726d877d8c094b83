/* tiff_series.h: images of a TIFF without OME-XML (plain, ImageJ, SVS, separate-IFD pyramids). */
#ifndef FMT_TIFF_SERIES_H
#define FMT_TIFF_SERIES_H
#include "fileset.h"

/* Add path and every image it holds to fs; 0 or -1 with err set. */
int fmt_tiff_series_load (fmt_fileset_t *fs, const char *path, omr_err_t *err);
#endif
