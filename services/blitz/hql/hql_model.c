/* hql_model: binary-search lookups in the generated model tables. */
#define HQL_MODEL_IMPL
#include "hql_model.h"
#include <string.h>

static int
find_type (const char *name, size_t len)
{
    int lo = 0, hi = OMR_MODEL_NTYPES - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const char *n = omr_model_types[mid].name;
        int c = strncmp (n, name, len);
        if (c == 0 && n[len] != '\0')
            c = 1;
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int
hql_model_type_index (const char *name)
{
    if (!name)
        return -1;
    const char *dot = strrchr (name, '.');
    const char *base = dot ? dot + 1 : name;
    if (dot && strncmp (name, "ome.model.", 10) != 0 && strncmp (name, "omero.model.", 12) != 0)
        return -1;
    size_t len = strlen (base);
    int i = find_type (base, len);
    /* omero.model.ImageI is the Ice implementation class of Image */
    if (i < 0 && dot && len > 1 && base[len - 1] == 'I' && strncmp (name, "omero.model.", 12) == 0)
        i = find_type (base, len - 1);
    return i;
}

const omr_type_t *
hql_model_type (int i)
{
    if (i < 0 || i >= OMR_MODEL_NTYPES)
        return NULL;
    return &omr_model_types[i];
}

int
hql_model_type_index_of (const omr_type_t *t)
{
    return t ? (int) (t - omr_model_types) : -1;
}

const omr_field_t *
hql_model_field (const omr_type_t *t, const char *name)
{
    if (!t || !name)
        return NULL;
    int lo = t->first_field, hi = t->first_field + t->nfields - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp (omr_model_fields[mid].name, name);
        if (c == 0)
            return &omr_model_fields[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const omr_field_t *
hql_model_field_poly (const omr_type_t *t, const char *name)
{
    const omr_field_t *f = hql_model_field (t, name);
    if (f || !t)
        return f;
    for (int i = 0; i < t->nsub; i++) {
        f = hql_model_field (&omr_model_types[omr_model_subtypes[t->first_sub + i]], name);
        if (f)
            return f;
    }
    return NULL;
}

const omr_units_t *
hql_model_units (int i)
{
    if (i < 0 || i >= OMR_MODEL_NUNITS)
        return NULL;
    return &omr_model_units[i];
}

const omr_field_t *
hql_model_field_at (int i)
{
    if (i < 0 || i >= OMR_MODEL_NFIELDS)
        return NULL;
    return &omr_model_fields[i];
}

int
hql_model_subtype (const omr_type_t *t, int k)
{
    if (!t || k < 0 || k >= t->nsub)
        return -1;
    return omr_model_subtypes[t->first_sub + k];
}
