/* descriptor_yaml: reads our native YAML deployment descriptor (descriptors/README.md) into the
 * intermediate form of descriptor_ir.h. */
#ifndef REG_DESCRIPTOR_YAML_H
#define REG_DESCRIPTOR_YAML_H
#include <stddef.h>
#include "descriptor_ir.h"

/* Read the YAML text of `file` (already loaded, len bytes) into ir; errors read "FILE:LINE: …". */
int reg_yaml_read (reg_ir_t *ir, const char *file, const char *text, size_t len, omr_err_t *err);
#endif
