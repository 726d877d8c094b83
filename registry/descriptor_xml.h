/* descriptor_xml: reads an IceGrid XML application descriptor (OMERO's etc/grid/default.xml,
 * templates.xml, config.xml) into the intermediate form of descriptor_ir.h. */
#ifndef REG_DESCRIPTOR_XML_H
#define REG_DESCRIPTOR_XML_H
#include <stddef.h>
#include "descriptor_ir.h"

/* Read the XML text of `file` (already loaded, len bytes) into ir. OMERO's @omero.x@ placeholders
 * are replaced first from ir->props, else OMERO's defaults. Errors read "FILE:LINE: …". */
int reg_xml_read (reg_ir_t *ir, const char *file, const char *text, size_t len, omr_err_t *err);
#endif
