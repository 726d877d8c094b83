/* detect.h: recognise a file's format from its first bytes (never from its name). */
#ifndef FMT_DETECT_H
#define FMT_DETECT_H
#include "omr_error.h"

typedef enum { FMT_KIND_TIFF, FMT_KIND_PNG, FMT_KIND_JPEG, FMT_KIND_OMEXML } fmt_kind_t;

/* Look at the start of path: TIFF/BigTIFF (either byte order), PNG, JPEG or an OME-XML
 * document (companion .ome file). 0 on success; -1 with err for unreadable, empty, directory
 * or unrecognised files (the message names the file). */
int fmt_detect (const char *path, fmt_kind_t *kind, omr_err_t *err);
#endif
