/* rendering_settings: RenderingDef/QuantumDef/ChannelBinding rows per user per image and the
 * IRenderingSettings service (see rendering_settings.h). */
#include "rendering_settings.h"
#include "omr_log.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a RenderingDef is for: the Pixels, their image, owner, group and the caller's rights. */
typedef struct {
    int64_t id, image, owner, group;
    rnd_pixels_t px;
    int rights;                 /* omero_rights of the image: 1 edit, 2 annotate */
} pxinfo_t;

/* Ids of an image set, grown as needed. */
typedef struct {
    int64_t *v;
    int n, cap;
} idlist_t;

static void
ids_add (idlist_t *l, int64_t id)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i] == id)
            return;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        int64_t *v = realloc (l->v, (size_t) cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
}

/* ------------------------------------------------------------------ reading */

static int
px_info (blz_db_t *db, int64_t pixels_id, pxinfo_t *pi, omr_err_t *err)
{
    char ps[24];
    PGresult *r = blz_db_query (db, err,
                                "SELECT p.id, p.image, i.owner_id, p.group_id, t.value, p.sizex, p.sizey, p.sizez, "
                                "p.sizec, p.sizet, omero_rights(i.owner_id, i.group_id) FROM pixels p JOIN image i ON "
                                "i.id = p.image JOIN pixelstype t ON t.id = p.pixelstype WHERE p.id = $1::int8",
                                BLZ_P (BLZ_I64 (ps, pixels_id)));
    if (!r)
        return -1;
    if (!PQntuples (r)) {
        PQclear (r);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable Pixels:%s", ps);
    }
    memset (pi, 0, sizeof *pi);
    pi->id = atoll (PQgetvalue (r, 0, 0));
    pi->image = atoll (PQgetvalue (r, 0, 1));
    pi->owner = atoll (PQgetvalue (r, 0, 2));
    pi->group = atoll (PQgetvalue (r, 0, 3));
    int rc = rnd_ptype_parse (PQgetvalue (r, 0, 4), &pi->px.type, err);
    pi->px.size_x = atoi (PQgetvalue (r, 0, 5));
    pi->px.size_y = atoi (PQgetvalue (r, 0, 6));
    pi->px.size_z = atoi (PQgetvalue (r, 0, 7));
    pi->px.size_c = atoi (PQgetvalue (r, 0, 8));
    pi->px.size_t = atoi (PQgetvalue (r, 0, 9));
    pi->rights = atoi (PQgetvalue (r, 0, 10));
    PQclear (r);
    if (rc == 0 && (pi->px.size_c < 1 || pi->px.size_c > RND_MAX_CHANNELS))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "Pixels:%s has %d channels", ps, pi->px.size_c);
    return rc;
}

/* The Pixels of an image (the first one). */
static int64_t
pixels_of_image (blz_db_t *db, int64_t image_id, omr_err_t *err)
{
    char is[24];
    PGresult *r = blz_db_query (db, err, "SELECT id FROM pixels WHERE image = $1::int8 ORDER BY id LIMIT 1",
                                BLZ_P (BLZ_I64 (is, image_id)));
    if (!r)
        return -1;
    int64_t id = PQntuples (r) ? atoll (PQgetvalue (r, 0, 0)) : -1;
    PQclear (r);
    if (id < 0)
        omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable Image:%s with Pixels", is);
    return id;
}

/* Channel metadata (colours, wavelengths in nm, StatsInfo) and lookup tables of the channels. */
static int
channel_meta (blz_db_t *db, const pxinfo_t *pi, rnd_channel_meta_t *meta, char (*luts)[RND_LUT_NAME_MAX],
              omr_err_t *err)
{
    char ps[24];
    PGresult *r = blz_db_query (
        db, err,
        "SELECT c.pixels_index, c.red, c.green, c.blue, c.alpha, s.globalmin, s.globalmax, "
        "l.emissionwave * (CASE l.emissionwaveunit::text WHEN 'µm' THEN 1000 WHEN 'Å' THEN 0.1 WHEN 'pm' THEN 0.001 "
        "WHEN 'mm' THEN 1e6 WHEN 'm' THEN 1e9 ELSE 1 END), "
        "l.excitationwave * (CASE l.excitationwaveunit::text WHEN 'µm' THEN 1000 WHEN 'Å' THEN 0.1 WHEN 'pm' THEN 0.001 "
        "WHEN 'mm' THEN 1e6 WHEN 'm' THEN 1e9 ELSE 1 END), c.lookuptable "
        "FROM channel c LEFT JOIN statsinfo s ON s.id = c.statsinfo LEFT JOIN logicalchannel l ON l.id = c.logicalchannel "
        "WHERE c.pixels = $1::int8 ORDER BY c.pixels_index",
        BLZ_P (BLZ_I64 (ps, pi->id)));
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples (r); i++) {
        int k = atoi (PQgetvalue (r, i, 0));
        if (k < 0 || k >= pi->px.size_c)
            continue;
        rnd_channel_meta_t *m = &meta[k];
        if (!PQgetisnull (r, i, 1) && !PQgetisnull (r, i, 2) && !PQgetisnull (r, i, 3)) {
            m->has_color = true;
            m->red = (uint8_t) atoi (PQgetvalue (r, i, 1));
            m->green = (uint8_t) atoi (PQgetvalue (r, i, 2));
            m->blue = (uint8_t) atoi (PQgetvalue (r, i, 3));
            m->alpha = PQgetisnull (r, i, 4) ? 255 : (uint8_t) atoi (PQgetvalue (r, i, 4));
        }
        if (!PQgetisnull (r, i, 5) && !PQgetisnull (r, i, 6)) {
            m->has_stats = true;
            m->global_min = atof (PQgetvalue (r, i, 5));
            m->global_max = atof (PQgetvalue (r, i, 6));
        }
        m->emission_wave = PQgetisnull (r, i, 7) ? 0 : atof (PQgetvalue (r, i, 7));
        m->excitation_wave = PQgetisnull (r, i, 8) ? 0 : atof (PQgetvalue (r, i, 8));
        if (luts && !PQgetisnull (r, i, 9))
            snprintf (luts[k], RND_LUT_NAME_MAX, "%s", PQgetvalue (r, i, 9));
    }
    PQclear (r);
    return 0;
}

static int
defaults_of (blz_db_t *db, const pxinfo_t *pi, rnd_settings_t **out, omr_err_t *err)
{
    int n = pi->px.size_c;
    rnd_channel_meta_t *meta = calloc ((size_t) n, sizeof *meta);
    char (*luts)[RND_LUT_NAME_MAX] = calloc ((size_t) n, RND_LUT_NAME_MAX);
    int rc = -1;
    if (!meta || !luts)
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    else if (channel_meta (db, pi, meta, luts, err) == 0) {
        *out = rnd_settings_default (&pi->px, meta, err);
        if (*out) {
            for (int c = 0; c < n; c++)
                if (luts[c][0])
                    snprintf ((*out)->channels[c].lut, RND_LUT_NAME_MAX, "%s", luts[c]);
            rc = 0;
        }
    }
    free (meta);
    free (luts);
    return rc;
}

int
blz_rdef_defaults (blz_db_t *db, int64_t pixels_id, rnd_settings_t **out, omr_err_t *err)
{
    pxinfo_t pi;
    *out = NULL;
    if (px_info (db, pixels_id, &pi, err) < 0)
        return -1;
    return defaults_of (db, &pi, out, err);
}

int
blz_rdef_stats (blz_db_t *db, int64_t pixels_id, int n, double **gmin, double **gmax, omr_err_t *err)
{
    pxinfo_t pi;
    *gmin = *gmax = NULL;
    if (px_info (db, pixels_id, &pi, err) < 0)
        return -1;
    rnd_channel_meta_t *meta = calloc ((size_t) (n > 0 ? n : 1), sizeof *meta);
    double *lo = calloc ((size_t) (n > 0 ? n : 1), sizeof (double)), *hi = calloc ((size_t) (n > 0 ? n : 1), sizeof (double));
    if (!meta || !lo || !hi) {
        free (meta);
        free (lo);
        free (hi);
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    }
    if (n > pi.px.size_c)
        n = pi.px.size_c;
    pi.px.size_c = n;
    if (channel_meta (db, &pi, meta, NULL, err) < 0) {
        free (meta);
        free (lo);
        free (hi);
        return -1;
    }
    double tmin, tmax;
    rnd_ptype_range (pi.px.type, &tmin, &tmax);
    for (int c = 0; c < n; c++) {
        lo[c] = meta[c].has_stats ? meta[c].global_min : tmin;
        hi[c] = meta[c].has_stats ? meta[c].global_max : tmax;
    }
    free (meta);
    *gmin = lo;
    *gmax = hi;
    return 0;
}

/* The caller's RenderingDef (own = true) or the image owner's for these pixels. */
static int
find_rdef (blz_db_t *db, const pxinfo_t *pi, bool own_only, int64_t *id, int64_t *version, int64_t *owner,
           omr_err_t *err)
{
    char ps[24], os[24];
    PGresult *r = blz_db_query (db, err,
                                "SELECT id, coalesce(version, 0), owner_id FROM renderingdef WHERE pixels = $1::int8 "
                                "AND (owner_id = _omero_uid() OR ($3 = 'f' AND owner_id = $2::int8)) "
                                "ORDER BY (owner_id = _omero_uid()) DESC, id DESC LIMIT 1",
                                BLZ_P (BLZ_I64 (ps, pi->id), BLZ_I64 (os, pi->owner), own_only ? "t" : "f"));
    if (!r)
        return -1;
    *id = -1;
    if (version)
        *version = 0;
    if (owner)
        *owner = -1;
    if (PQntuples (r)) {
        *id = atoll (PQgetvalue (r, 0, 0));
        if (version)
            *version = atoll (PQgetvalue (r, 0, 1));
        if (owner)
            *owner = atoll (PQgetvalue (r, 0, 2));
    }
    PQclear (r);
    return 0;
}

int
blz_rdef_current (blz_db_t *db, int64_t pixels_id, int64_t *rdef_id, int64_t *version, omr_err_t *err)
{
    pxinfo_t pi;
    if (px_info (db, pixels_id, &pi, err) < 0)
        return -1;
    return find_rdef (db, &pi, false, rdef_id, version, NULL, err);
}

/* Settings of RenderingDef:id for pixels of n channels. */
static int
read_rdef (blz_db_t *db, int64_t id, const pxinfo_t *pi, rnd_settings_t **out, omr_err_t *err)
{
    char is[24];
    BLZ_I64 (is, id);
    PGresult *r = blz_db_query (db, err,
                                "SELECT r.defaultz, r.defaultt, m.value, q.bitresolution, q.cdstart, q.cdend FROM "
                                "renderingdef r JOIN renderingmodel m ON m.id = r.model JOIN quantumdef q ON "
                                "q.id = r.quantization WHERE r.id = $1::int8",
                                BLZ_P (is));
    if (!r)
        return -1;
    if (!PQntuples (r)) {
        PQclear (r);
        return omr_err_set (err, OMR_E_NOTFOUND, 404, "no readable RenderingDef:%s", is);
    }
    rnd_settings_t *s = rnd_settings_new (pi->px.size_c, err);
    if (!s) {
        PQclear (r);
        return -1;
    }
    s->default_z = atoi (PQgetvalue (r, 0, 0));
    s->default_t = atoi (PQgetvalue (r, 0, 1));
    s->model = strcmp (PQgetvalue (r, 0, 2), "greyscale") ? RND_MODEL_RGB : RND_MODEL_GREYSCALE;
    s->qdef.bit_resolution = atoi (PQgetvalue (r, 0, 3));
    s->qdef.cd_start = atoi (PQgetvalue (r, 0, 4));
    s->qdef.cd_end = atoi (PQgetvalue (r, 0, 5));
    PQclear (r);
    r = blz_db_query (db, err,
                      "SELECT b.renderingdef_index, b.active, b.inputstart, b.inputend, f.value, b.coefficient, "
                      "b.noisereduction, b.red, b.green, b.blue, b.alpha, b.lookuptable, EXISTS (SELECT 1 FROM "
                      "codomainmapcontext x JOIN reverseintensitycontext v ON v.codomainmapcontext_id = x.id "
                      "WHERE x.channelbinding = b.id AND v.reverse) FROM channelbinding b JOIN family f ON "
                      "f.id = b.family WHERE b.renderingdef = $1::int8 ORDER BY b.renderingdef_index, b.id",
                      BLZ_P (is));
    if (!r) {
        rnd_settings_destroy (&s);
        return -1;
    }
    for (int i = 0; i < PQntuples (r); i++) {
        int k = PQgetisnull (r, i, 0) ? i : atoi (PQgetvalue (r, i, 0));
        if (k < 0 || k >= s->n_channels)
            continue;
        rnd_channel_binding_t *b = &s->channels[k];
        b->active = *PQgetvalue (r, i, 1) == 't';
        b->input_start = atof (PQgetvalue (r, i, 2));
        b->input_end = atof (PQgetvalue (r, i, 3));
        if (rnd_family_parse (PQgetvalue (r, i, 4), &b->family, err) < 0) {
            PQclear (r);
            rnd_settings_destroy (&s);
            return -1;
        }
        b->coefficient = atof (PQgetvalue (r, i, 5));
        b->noise_reduction = *PQgetvalue (r, i, 6) == 't';
        b->red = (uint8_t) atoi (PQgetvalue (r, i, 7));
        b->green = (uint8_t) atoi (PQgetvalue (r, i, 8));
        b->blue = (uint8_t) atoi (PQgetvalue (r, i, 9));
        b->alpha = (uint8_t) atoi (PQgetvalue (r, i, 10));
        snprintf (b->lut, sizeof b->lut, "%s", PQgetisnull (r, i, 11) ? "" : PQgetvalue (r, i, 11));
        b->reverse = *PQgetvalue (r, i, 12) == 't';
    }
    PQclear (r);
    if (s->default_z >= pi->px.size_z)
        s->default_z = pi->px.size_z - 1;
    if (s->default_t >= pi->px.size_t)
        s->default_t = pi->px.size_t - 1;
    *out = s;
    return 0;
}

int
blz_rdef_load (blz_app_t *app, blz_db_t *db, int64_t pixels_id, rnd_settings_t **out, int64_t *rdef_id,
               omr_err_t *err)
{
    pxinfo_t pi;
    *out = NULL;
    *rdef_id = -1;
    if (px_info (db, pixels_id, &pi, err) < 0 || find_rdef (db, &pi, false, rdef_id, NULL, NULL, err) < 0)
        return -1;
    if (*rdef_id >= 0)
        return read_rdef (db, *rdef_id, &pi, out, err);
    return defaults_of (db, &pi, out, err);
}

/* ------------------------------------------------------------------ writing */

/* The ChannelBinding rows (and reverse-intensity contexts) of settings s under RenderingDef rd. */
static int
insert_bindings (blz_db_t *db, int64_t group, int64_t rd, const rnd_settings_t *s, omr_err_t *err)
{
    char rds[24];
    BLZ_I64 (rds, rd);
    for (int c = 0; c < s->n_channels; c++) {
        const rnd_channel_binding_t *b = &s->channels[c];
        char idx[16], ws[40], we[40], co[40], r[8], g[8], bl[8], a[8];
        snprintf (idx, sizeof idx, "%d", c);
        snprintf (ws, sizeof ws, "%.17g", b->input_start);
        snprintf (we, sizeof we, "%.17g", b->input_end);
        snprintf (co, sizeof co, "%.17g", b->coefficient);
        snprintf (r, sizeof r, "%u", b->red);
        snprintf (g, sizeof g, "%u", b->green);
        snprintf (bl, sizeof bl, "%u", b->blue);
        snprintf (a, sizeof a, "%u", b->alpha);
        int64_t cb = blz_db_insert_owned (db, err, -1, group, "channelbinding",
                              "renderingdef, renderingdef_index, active, inputstart, inputend, family, coefficient, "
                              "noisereduction, red, green, blue, alpha, lookuptable",
                              "$1::int8, $2::int4, $3::bool, $4::float8, $5::float8, (SELECT id FROM family WHERE "
                              "value = $6), $7::float8, $8::bool, $9::int4, $10::int4, $11::int4, $12::int4, $13",
                              BLZ_P (rds, idx, b->active ? "t" : "f", ws, we, rnd_family_name (b->family), co,
                                     b->noise_reduction ? "t" : "f", r, g, bl, a, b->lut[0] ? b->lut : NULL));
        if (cb < 0)
            return -1;
        if (b->reverse) {
            char cbs[24];
            int64_t x = blz_db_insert_owned (db, err, -1, group, "codomainmapcontext", "discriminator, channelbinding",
                                 "'ReverseIntensityContext', $1::int8", BLZ_P (BLZ_I64 (cbs, cb)));
            char xs[24];
            if (x < 0
                || blz_db_exec (db, err, "INSERT INTO reverseintensitycontext (codomainmapcontext_id, reverse) "
                                "VALUES ($1::int8, true)", BLZ_P (BLZ_I64 (xs, x))) < 0)
                return -1;
        }
    }
    return 0;
}

/* Check settings against the pixels they are for. */
static int
check_fits (const pxinfo_t *pi, const rnd_settings_t *s, omr_err_t *err)
{
    if (rnd_settings_validate (s, err) < 0)
        return -1;
    if (s->n_channels != pi->px.size_c)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "settings have %d channels, Pixels:%lld has %d", s->n_channels,
                            (long long) pi->id, pi->px.size_c);
    if (s->default_z < 0 || s->default_z >= pi->px.size_z)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "defaultZ %d outside 0..%d", s->default_z, pi->px.size_z - 1);
    if (s->default_t < 0 || s->default_t >= pi->px.size_t)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "defaultT %d outside 0..%d", s->default_t, pi->px.size_t - 1);
    return 0;
}

/* Whether the caller may store settings on these pixels: their own image, or one they may
 * annotate (read-annotate and read-write groups, group owners, administrators). */
static int
check_may_save (const pxinfo_t *pi, omr_err_t *err)
{
    if (pi->rights & 3)
        return 0;
    return omr_err_set (err, OMR_E_SECURITY, 403, "cannot save rendering settings on Image:%lld: not permitted in its group",
                        (long long) pi->image);
}

static int
save_info (blz_db_t *db, const pxinfo_t *pi, const rnd_settings_t *s, int64_t *out_id, omr_err_t *err)
{
    if (check_fits (pi, s, err) < 0 || check_may_save (pi, err) < 0)
        return -1;
    int64_t rd = -1;
    if (find_rdef (db, pi, true, &rd, NULL, NULL, err) < 0)
        return -1;
    char dz[16], dt[16], br[16], cs[16], ce[16], ps[24], rds[24];
    snprintf (dz, sizeof dz, "%d", s->default_z);
    snprintf (dt, sizeof dt, "%d", s->default_t);
    snprintf (br, sizeof br, "%d", s->qdef.bit_resolution);
    snprintf (cs, sizeof cs, "%d", s->qdef.cd_start);
    snprintf (ce, sizeof ce, "%d", s->qdef.cd_end);
    BLZ_I64 (ps, pi->id);
    const char *model = rnd_model_name (s->model);
    if (rd >= 0) {
        int64_t ev = blz_db_event (db, err);
        char evs[24];
        BLZ_I64 (rds, rd);
        if (ev < 0
            || blz_db_exec (db, err,
                            "UPDATE quantumdef SET bitresolution = $2::int4, cdstart = $3::int4, cdend = $4::int4, "
                            "version = coalesce(version, 0) + 1, update_id = $5::int8 WHERE id = (SELECT quantization "
                            "FROM renderingdef WHERE id = $1::int8)",
                            BLZ_P (rds, br, cs, ce, BLZ_I64 (evs, ev))) < 0
            || blz_db_exec (db, err,
                            "UPDATE renderingdef SET defaultz = $2::int4, defaultt = $3::int4, model = (SELECT id FROM "
                            "renderingmodel WHERE value = $4), version = coalesce(version, 0) + 1, update_id = $5::int8 "
                            "WHERE id = $1::int8",
                            BLZ_P (rds, dz, dt, model, evs)) < 0
            || blz_db_exec (db, err,
                            "DELETE FROM reverseintensitycontext WHERE codomainmapcontext_id IN (SELECT x.id FROM "
                            "codomainmapcontext x JOIN channelbinding b ON b.id = x.channelbinding WHERE "
                            "b.renderingdef = $1::int8)", BLZ_P (rds)) < 0
            || blz_db_exec (db, err,
                            "DELETE FROM codomainmapcontext WHERE channelbinding IN (SELECT id FROM channelbinding "
                            "WHERE renderingdef = $1::int8)", BLZ_P (rds)) < 0
            || blz_db_exec (db, err, "DELETE FROM channelbinding WHERE renderingdef = $1::int8", BLZ_P (rds)) < 0
            || insert_bindings (db, pi->group, rd, s, err) < 0
            || blz_db_log (db, "UPDATE", "ome.model.display.RenderingDef", rd, err) < 0)
            return -1;
    } else {
        int64_t q = blz_db_insert_owned (db, err, -1, pi->group, "quantumdef", "bitresolution, cdstart, cdend",
                             "$1::int4, $2::int4, $3::int4", BLZ_P (br, cs, ce));
        char qs[24];
        if (q < 0)
            return -1;
        rd = blz_db_insert_owned (db, err, -1, pi->group, "renderingdef", "pixels, defaultz, defaultt, model, quantization",
                      "$1::int8, $2::int4, $3::int4, (SELECT id FROM renderingmodel WHERE value = $4), $5::int8",
                      BLZ_P (ps, dz, dt, model, BLZ_I64 (qs, q)));
        if (rd < 0 || insert_bindings (db, pi->group, rd, s, err) < 0
            || blz_db_log (db, "INSERT", "ome.model.display.RenderingDef", rd, err) < 0)
            return -1;
    }
    if (out_id)
        *out_id = rd;
    return 0;
}

int
blz_rdef_save (blz_app_t *app, blz_db_t *db, int64_t pixels_id, const rnd_settings_t *s, omr_err_t *err)
{
    pxinfo_t pi;
    if (px_info (db, pixels_id, &pi, err) < 0)
        return -1;
    return save_info (db, &pi, s, NULL, err);
}

/* ------------------------------------------------------------------ RPC */

typedef struct {
    blz_app_t *app;
    blz_db_t *db;
    blz_ctx_t ctx;
} req_t;

static int
begin (blz_app_t *app, omr_call_t *call, req_t *q, omr_err_t *err)
{
    q->app = app;
    q->db = blz_app_db (app, call);
    if (blz_call_ctx (call, &q->ctx, err) < 0)
        return -1;
    return blz_db_begin (q->db, &q->ctx, err);
}

/* Finish a request: commit when rc == 0, else roll back (nothing changed). */
static int
finish (req_t *q, int rc, omr_err_t *err)
{
    if (rc == 0 && blz_db_commit (q->db, err) == 0)
        return 0;
    blz_db_rollback (q->db);
    return -1;
}

/* Finishes a request that saved pixels pid's RenderingDef rd: replies {pixelsId, rdefId, version}. */
static int
finish_saved (omr_call_t *call, req_t *q, int rc, int64_t pid, int64_t rd, int64_t version, omr_err_t *err)
{
    if (finish (q, rc, err) < 0)
        return -1;
    call->reply = json_pack ("{s:I, s:I, s:I}", "pixelsId", (json_int_t) pid, "rdefId", (json_int_t) rd, "version",
                             (json_int_t) version);
    return 0;
}

/* A required id argument (integer or digit string). */
static int
arg_id (const json_t *body, const char *key, const char *alt, int64_t *out, omr_err_t *err)
{
    *out = blz_int (body, key, alt ? blz_int (body, alt, -1) : -1);
    if (*out < 0)
        return omr_err_set (err, OMR_E_API, 400, "%s missing or not a non-negative integer", key);
    return 0;
}

/* OMERO's RenderingDef as JSON. */
static json_t *
rdef_json (int64_t id, int64_t owner, int64_t version, int64_t pixels_id, const rnd_settings_t *s)
{
    json_t *cbs = json_array ();
    for (int c = 0; c < s->n_channels; c++) {
        const rnd_channel_binding_t *b = &s->channels[c];
        json_array_append_new (
            cbs, json_pack ("{s:s, s:b, s:f, s:f, s:s, s:f, s:b, s:i, s:i, s:i, s:i, s:o, s:b}", "@type", "ChannelBinding",
                            "active", b->active, "inputStart", b->input_start, "inputEnd", b->input_end, "family",
                            rnd_family_name (b->family), "coefficient", b->coefficient, "noiseReduction",
                            b->noise_reduction, "red", b->red, "green", b->green, "blue", b->blue, "alpha", b->alpha,
                            "lookupTable", b->lut[0] ? json_string (b->lut) : json_null (), "reverseIntensity",
                            b->reverse));
    }
    return json_pack ("{s:s, s:o, s:o, s:I, s:I, s:s, s:i, s:i, s:{s:i, s:i, s:i}, s:o}", "@type", "RenderingDef", "@id",
                      id >= 0 ? json_integer (id) : json_null (), "ownerId", owner >= 0 ? json_integer (owner) : json_null (),
                      "version", (json_int_t) version, "pixelsId", (json_int_t) pixels_id, "model",
                      rnd_model_name (s->model), "defaultZ", s->default_z, "defaultT", s->default_t, "quantization",
                      "bitResolution", s->qdef.bit_resolution, "cdStart", s->qdef.cd_start, "cdEnd", s->qdef.cd_end,
                      "channelBindings", cbs);
}

/* Reads, in a transaction of its own, the RenderingDef of the call's {pixelsId} that find_rdef picks
 * (the caller's own only when own_only): its id (-1 when none), version and owner, and its settings in
 * *s; without own_only, the pixels' default settings when there is none (with own_only *s stays NULL). */
static int
read_settings (blz_app_t *app, omr_call_t *call, bool own_only, int64_t *pid, int64_t *rd, int64_t *version,
               int64_t *owner, rnd_settings_t **s, omr_err_t *err)
{
    req_t q;
    *rd = -1, *version = 0, *owner = -1;
    if (arg_id (call->req->body, "pixelsId", "id", pid, err) < 0 || begin (app, call, &q, err) < 0)
        return -1;
    pxinfo_t pi;
    int rc = px_info (q.db, *pid, &pi, err);
    if (rc == 0)
        rc = find_rdef (q.db, &pi, own_only, rd, version, owner, err);
    if (rc == 0 && *rd >= 0)
        rc = read_rdef (q.db, *rd, &pi, s, err);
    else if (rc == 0 && !own_only)
        rc = defaults_of (q.db, &pi, s, err);
    blz_db_rollback (q.db);
    return rc;
}

/* IRenderingSettings.getRenderingSettings {pixelsId}: the caller's own RenderingDef or null. */
static int
op_get_rendering_settings (omr_call_t *call, omr_err_t *err, void *arg)
{
    int64_t pid, rd, version, owner;
    rnd_settings_t *s = NULL;
    if (read_settings (arg, call, true, &pid, &rd, &version, &owner, &s, err) < 0)
        return -1;
    call->reply = json_pack ("{s:o}", "value", s ? rdef_json (rd, owner, version, pid, s) : json_null ());
    rnd_settings_destroy (&s);
    return 0;
}

/* RenderingEngine.getSettings {pixelsId}: the settings the caller renders with. */
static int
op_engine_get (omr_call_t *call, omr_err_t *err, void *arg)
{
    int64_t pid, rd, version, owner;
    rnd_settings_t *s = NULL;
    if (read_settings (arg, call, false, &pid, &rd, &version, &owner, &s, err) < 0)
        return -1;
    call->reply = json_pack ("{s:I, s:o, s:o, s:I, s:o, s:o}", "pixelsId", (json_int_t) pid, "rdefId",
                             rd >= 0 ? json_integer (rd) : json_null (), "ownerId",
                             owner >= 0 ? json_integer (owner) : json_null (), "version", (json_int_t) version, "settings",
                             rnd_settings_to_json (s), "renderingDef", rdef_json (rd, owner, version, pid, s));
    rnd_settings_destroy (&s);
    return 0;
}

/* RenderingEngine.saveSettings {pixelsId, settings}: settings in the rnd JSON form; omitted keys
 * keep the values the caller currently sees. */
static int
op_engine_save (omr_call_t *call, omr_err_t *err, void *arg)
{
    req_t q;
    int64_t pid;
    json_t *js = json_object_get (call->req->body, "settings");
    if (arg_id (call->req->body, "pixelsId", "id", &pid, err) < 0)
        return -1;
    if (!json_is_object (js))
        return omr_err_set (err, OMR_E_API, 400, "settings missing or not an object");
    if (begin (arg, call, &q, err) < 0)
        return -1;
    rnd_settings_t *base = NULL, *s = NULL;
    int64_t rd = -1, version = 0;
    pxinfo_t pi;
    int rc = blz_rdef_load (q.app, q.db, pid, &base, &rd, err);
    if (rc == 0 && !(s = rnd_settings_from_json (js, base, err)))
        rc = -1;
    if (rc == 0)
        rc = px_info (q.db, pid, &pi, err);
    if (rc == 0)
        rc = save_info (q.db, &pi, s, &rd, err);
    if (rc == 0)
        rc = find_rdef (q.db, &pi, true, &rd, &version, NULL, err);
    rnd_settings_destroy (&base);
    rnd_settings_destroy (&s);
    return finish_saved (call, &q, rc, pid, rd, version, err);
}

/* Expand a set of containers to image ids visible to the caller. */
static int
images_of_set (blz_db_t *db, const char *type, const json_t *ids, idlist_t *out, omr_err_t *err)
{
    static const struct {
        const char *type, *sql;
    } kinds[] = {
        {"Image", "SELECT id FROM image WHERE id = $1::int8"},
        {"Dataset", "SELECT l.child FROM datasetimagelink l JOIN image i ON i.id = l.child WHERE l.parent = $1::int8 "
                    "ORDER BY l.child"},
        {"Project", "SELECT DISTINCT l.child FROM projectdatasetlink p JOIN datasetimagelink l ON l.parent = p.child "
                    "JOIN image i ON i.id = l.child WHERE p.parent = $1::int8 ORDER BY l.child"},
        {"Plate", "SELECT DISTINCT s.image FROM well w JOIN wellsample s ON s.well = w.id JOIN image i ON "
                  "i.id = s.image WHERE w.plate = $1::int8 ORDER BY s.image"},
    };
    if (!type)
        return omr_err_set (err, OMR_E_API, 400, "type missing (Image, Dataset, Project or Plate)");
    const char *short_type = strrchr (type, '.') ? strrchr (type, '.') + 1 : type;
    int k = -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcasecmp (kinds[i].type, short_type))
            k = (int) i;
    if (k < 0)
        return omr_err_set (err, OMR_E_API, 400, "type '%s' is not Image, Dataset, Project or Plate", type);
    if (!json_is_array (ids))
        return omr_err_set (err, OMR_E_API, 400, "ids missing or not a list");
    size_t i;
    json_t *v;
    json_array_foreach (ids, i, v) if (!json_is_integer (v) || json_integer_value (v) < 0)
        return omr_err_set (err, OMR_E_API, 400, "ids must be non-negative integers");
    json_array_foreach (ids, i, v)
    {
        char s[24];
        PGresult *r = blz_db_query (db, err, kinds[k].sql, BLZ_P (BLZ_I64 (s, json_integer_value (v))));
        if (!r)
            return -1;
        for (int j = 0; j < PQntuples (r); j++)
            ids_add (out, atoll (PQgetvalue (r, j, 0)));
        PQclear (r);
    }
    return 0;
}

/* Whether settings of `from` may be applied to `to` (IRenderingSettings.sanityCheckPixels):
 * the same number of channels and the same pixel type. */
static bool
compatible (const pxinfo_t *from, const pxinfo_t *to)
{
    return from->px.size_c == to->px.size_c && from->px.type == to->px.type;
}

/* Copy settings to other pixels: default plane clamped into the target. */
static int
apply_to (blz_db_t *db, const rnd_settings_t *src, const pxinfo_t *to, omr_err_t *err)
{
    rnd_settings_t *s = rnd_settings_copy (src, err);
    if (!s)
        return -1;
    if (s->default_z >= to->px.size_z)
        s->default_z = to->px.size_z - 1;
    if (s->default_t >= to->px.size_t)
        s->default_t = to->px.size_t - 1;
    int rc = save_info (db, to, s, NULL, err);
    rnd_settings_destroy (&s);
    return rc;
}

enum { RESET_DEFAULTS, RESET_ORIGINAL, RESET_OWNER };

/* Reset one image's settings for the caller: import defaults, or the image owner's. */
static int
reset_one (blz_db_t *db, const pxinfo_t *pi, int how, omr_err_t *err)
{
    rnd_settings_t *s = NULL;
    int rc;
    int64_t rd = -1;
    if (how == RESET_OWNER) {
        char ps[24], os[24];
        PGresult *r = blz_db_query (db, err,
                                    "SELECT id FROM renderingdef WHERE pixels = $1::int8 AND owner_id = $2::int8 "
                                    "ORDER BY id DESC LIMIT 1",
                                    BLZ_P (BLZ_I64 (ps, pi->id), BLZ_I64 (os, pi->owner)));
        if (!r)
            return -1;
        rd = PQntuples (r) ? atoll (PQgetvalue (r, 0, 0)) : -1;
        PQclear (r);
    }
    rc = rd >= 0 ? read_rdef (db, rd, pi, &s, err) : defaults_of (db, pi, &s, err);
    if (rc == 0)
        rc = save_info (db, pi, s, NULL, err);
    rnd_settings_destroy (&s);
    return rc;
}

/* resetDefaultsInSet / setOriginalSettingsInSet / resetDefaultsByOwnerInSet {type, ids}: the
 * image ids whose settings were reset (images the caller may not change are left out). */
static int
op_reset_set (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    int how = !strcmp (m, "resetDefaultsByOwnerInSet") ? RESET_OWNER
              : !strcmp (m, "setOriginalSettingsInSet") ? RESET_ORIGINAL : RESET_DEFAULTS;
    const json_t *body = call->req->body;
    req_t q;
    if (begin (arg, call, &q, err) < 0)
        return -1;
    idlist_t imgs = {0};
    json_t *done = json_array ();
    int rc = images_of_set (q.db, blz_str (body, "type"), json_object_get (body, "ids"), &imgs, err);
    for (int i = 0; rc == 0 && i < imgs.n; i++) {
        omr_err_t e = {0};
        pxinfo_t pi;
        int64_t pid = pixels_of_image (q.db, imgs.v[i], &e);
        if (pid < 0 || px_info (q.db, pid, &pi, &e) < 0 || !(pi.rights & 3))
            continue;
        if (reset_one (q.db, &pi, how, err) < 0)
            rc = -1;
        else
            json_array_append_new (done, json_integer (imgs.v[i]));
    }
    free (imgs.v);
    if (finish (&q, rc, err) < 0) {
        json_decref (done);
        return -1;
    }
    call->reply = json_pack ("{s:o}", "value", done);
    return 0;
}

/* resetDefaultsInImage {imageId} / resetDefaultsForPixels {pixelsId} / RenderingEngine.resetDefaults. */
static int
op_reset_one (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    bool by_image = !strcmp (m, "resetDefaultsInImage");
    int64_t id;
    if (arg_id (call->req->body, by_image ? "imageId" : "pixelsId", "id", &id, err) < 0)
        return -1;
    req_t q;
    if (begin (arg, call, &q, err) < 0)
        return -1;
    pxinfo_t pi;
    int64_t pid = by_image ? pixels_of_image (q.db, id, err) : id, rd = -1, version = 0;
    int rc = pid < 0 ? -1 : px_info (q.db, pid, &pi, err);
    if (rc == 0)
        rc = reset_one (q.db, &pi, RESET_DEFAULTS, err);
    if (rc == 0)
        rc = find_rdef (q.db, &pi, true, &rd, &version, NULL, err);
    return finish_saved (call, &q, rc, pid, rd, version, err);
}

/* applySettingsToSet {from, type, ids} / applySettingsToImages {from, ids} /
 * applySettingsToDataset {from, datasetId} / applySettingsToProject {from, projectId} /
 * applySettingsToImage {from, to}: {True: [image ids], False: [image ids]}. `from` is a Pixels id. */
static int
op_apply (omr_call_t *call, omr_err_t *err, void *arg)
{
    const char *m = strchr (omr_msg_op (call->req), '.') + 1;
    const json_t *body = call->req->body;
    int64_t from;
    if (arg_id (body, "from", "pixelsId", &from, err) < 0)
        return -1;
    const char *type = blz_str (body, "type");
    json_t *ids = NULL;
    if (!strcmp (m, "applySettingsToSet"))
        ids = json_incref (json_object_get (body, "ids"));
    else if (!strcmp (m, "applySettingsToImages")) {
        type = "Image";
        ids = json_incref (json_object_get (body, "ids"));
    } else {
        const char *key = !strcmp (m, "applySettingsToDataset") ? "datasetId"
                          : !strcmp (m, "applySettingsToProject") ? "projectId" : "to";
        type = !strcmp (m, "applySettingsToDataset") ? "Dataset" : !strcmp (m, "applySettingsToProject") ? "Project" : "Image";
        int64_t one;
        if (arg_id (body, key, NULL, &one, err) < 0)
            return -1;
        ids = json_pack ("[I]", (json_int_t) one);
    }
    req_t q;
    if (begin (arg, call, &q, err) < 0) {
        json_decref (ids);
        return -1;
    }
    rnd_settings_t *src = NULL;
    int64_t rd;
    pxinfo_t pf;
    idlist_t imgs = {0};
    json_t *yes = json_array (), *no = json_array ();
    int rc = px_info (q.db, from, &pf, err);
    if (rc == 0)
        rc = blz_rdef_load (q.app, q.db, from, &src, &rd, err);
    if (rc == 0)
        rc = images_of_set (q.db, type, ids, &imgs, err);
    for (int i = 0; rc == 0 && i < imgs.n; i++) {
        omr_err_t e = {0};
        pxinfo_t pi;
        int64_t pid = pixels_of_image (q.db, imgs.v[i], &e);
        if (pid < 0 || px_info (q.db, pid, &pi, &e) < 0 || !(pi.rights & 3) || !compatible (&pf, &pi)) {
            json_array_append_new (no, json_integer (imgs.v[i]));
            continue;
        }
        if (apply_to (q.db, src, &pi, err) < 0)
            rc = -1;
        else
            json_array_append_new (yes, json_integer (imgs.v[i]));
    }
    free (imgs.v);
    json_decref (ids);
    rnd_settings_destroy (&src);
    if (finish (&q, rc, err) < 0) {
        json_decref (yes);
        json_decref (no);
        return -1;
    }
    call->reply = json_pack ("{s:o, s:o}", "True", yes, "False", no);
    return 0;
}

/* sanityCheckPixels {pixelsFrom, pixelsTo}. */
static int
op_sanity (omr_call_t *call, omr_err_t *err, void *arg)
{
    int64_t a, b;
    if (arg_id (call->req->body, "pixelsFrom", "from", &a, err) < 0
        || arg_id (call->req->body, "pixelsTo", "to", &b, err) < 0)
        return -1;
    req_t q;
    if (begin (arg, call, &q, err) < 0)
        return -1;
    pxinfo_t pa, pb;
    int rc = px_info (q.db, a, &pa, err) == 0 && px_info (q.db, b, &pb, err) == 0 ? 0 : -1;
    blz_db_rollback (q.db);
    if (rc < 0)
        return -1;
    call->reply = json_pack ("{s:b}", "value", compatible (&pa, &pb));
    return 0;
}

/* getAllRenderingDefs {pixelsId}: every user's settings of the pixels the caller may read
 * (getRenderingSettings gives only the caller's own; viewers list the others as "viewed by"). */
static int
op_list (omr_call_t *call, omr_err_t *err, void *arg)
{
    int64_t pid;
    if (arg_id (call->req->body, "pixelsId", "id", &pid, err) < 0)
        return -1;
    req_t q;
    if (begin (arg, call, &q, err) < 0)
        return -1;
    pxinfo_t pi;
    char ps[24];
    PGresult *r = NULL;
    int rc = px_info (q.db, pid, &pi, err);
    if (rc == 0
        && !(r = blz_db_query (q.db, err, "SELECT id, owner_id, coalesce(version, 0) FROM renderingdef WHERE "
                                          "pixels = $1::int8 ORDER BY id", BLZ_P (BLZ_I64 (ps, pid)))))
        rc = -1;
    json_t *out = json_array ();
    for (int i = 0; rc == 0 && i < PQntuples (r); i++) {
        rnd_settings_t *s = NULL;
        int64_t id = atoll (PQgetvalue (r, i, 0));
        if (read_rdef (q.db, id, &pi, &s, err) < 0) {
            rc = -1;
            break;
        }
        json_array_append_new (out, rdef_json (id, atoll (PQgetvalue (r, i, 1)), atoll (PQgetvalue (r, i, 2)), pid, s));
        rnd_settings_destroy (&s);
    }
    if (r)
        PQclear (r);
    blz_db_rollback (q.db);
    if (rc < 0) {
        json_decref (out);
        return -1;
    }
    call->reply = json_pack ("{s:o}", "value", out);
    return 0;
}

void
blz_rdef_register (blz_app_t *app)
{
    omr_server_t *s = app->server;
    omr_server_on (s, "IRenderingSettings.getRenderingSettings", op_get_rendering_settings, app);
    omr_server_on (s, "IRenderingSettings.getAllRenderingDefs", op_list, app);
    omr_server_on (s, "IRenderingSettings.resetDefaultsInImage", op_reset_one, app);
    omr_server_on (s, "IRenderingSettings.resetDefaultsForPixels", op_reset_one, app);
    omr_server_on (s, "IRenderingSettings.resetDefaultsInSet", op_reset_set, app);
    omr_server_on (s, "IRenderingSettings.setOriginalSettingsInSet", op_reset_set, app);
    omr_server_on (s, "IRenderingSettings.resetDefaultsByOwnerInSet", op_reset_set, app);
    omr_server_on (s, "IRenderingSettings.applySettingsToSet", op_apply, app);
    omr_server_on (s, "IRenderingSettings.applySettingsToImages", op_apply, app);
    omr_server_on (s, "IRenderingSettings.applySettingsToImage", op_apply, app);
    omr_server_on (s, "IRenderingSettings.applySettingsToDataset", op_apply, app);
    omr_server_on (s, "IRenderingSettings.applySettingsToProject", op_apply, app);
    omr_server_on (s, "IRenderingSettings.sanityCheckPixels", op_sanity, app);
    omr_server_on (s, "RenderingEngine.getSettings", op_engine_get, app);
    omr_server_on (s, "RenderingEngine.saveSettings", op_engine_save, app);
    omr_server_on (s, "RenderingEngine.resetDefaults", op_reset_one, app);
}
