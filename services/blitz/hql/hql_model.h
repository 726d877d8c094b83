/* hql_model: lookups in the generated model tables (omr_model_gen.h) by OMERO name:
 * type by class name (Image, ome.model.core.Image, omero.model.ImageI), field by name,
 * including fields that only a subtype declares (polymorphic queries on a shared table). */
#ifndef HQL_MODEL_H
#define HQL_MODEL_H
/* Only hql_model.c holds the generated arrays; other files get the declarations. */
#ifndef HQL_MODEL_IMPL
#define OMR_MODEL_GEN_NO_DATA
#endif
#include "omr_model_gen.h"

/* Index of the type called `name` (package prefixes and a trailing I of omero.model.XI are
 * accepted), or -1. */
int hql_model_type_index (const char *name);
/* The type at index i (0 <= i < OMR_MODEL_NTYPES). */
const omr_type_t *hql_model_type (int i);
/* Field `name` of type t (own or inherited), or NULL. */
const omr_field_t *hql_model_field (const omr_type_t *t, const char *name);
/* Field `name` of t or of one of t's subtypes (same table), or NULL. */
const omr_field_t *hql_model_field_poly (const omr_type_t *t, const char *name);
/* Index of a type pointer. */
int hql_model_type_index_of (const omr_type_t *t);
/* Field at global index i of the generated field table (see omr_type_t.first_field). */
const omr_field_t *hql_model_field_at (int i);
/* Type index of the k-th descendant of t (0 <= k < t->nsub). */
int hql_model_subtype (const omr_type_t *t, int k);
/* Units type at index i. */
const omr_units_t *hql_model_units (int i);
#endif
