/* ometiff.h: OME-TIFF filesets described by OME-XML (in a TIFF's ImageDescription, in a
 * BinaryOnly-referenced metadata file, or in a .companion.ome file). */
#ifndef FMT_OMETIFF_H
#define FMT_OMETIFF_H
#include "fileset.h"

/* Load the fileset that path belongs to. path is a TIFF (is_xml 0) or an OME-XML file
 * (is_xml 1). Returns 0 when loaded, 1 when the TIFF holds no usable OME-XML (the caller
 * reads it as a plain TIFF), -1 with err set on failure (e.g. a referenced file is missing). */
int fmt_ometiff_load (fmt_fileset_t *fs, const char *path, int is_xml, omr_err_t *err);
#endif
