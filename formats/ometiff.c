/* ometiff.c: OME-TIFF filesets. The OME-XML (2016-06 and compatible) is found in the opened
 * TIFF's first ImageDescription, in the file its BinaryOnly element names, or in a companion
 * .ome file; libxml2 parses it. Every Image becomes one image; TiffData elements map planes
 * to (file, IFD) across all files of the set; SubIFDs of a plane's IFD are its resolution
 * levels. A file the XML names but that is missing fails the open with its name. */
#include "ometiff.h"
#include "fileset_priv.h"
#include "detect.h"
#include "tiff_reader.h"
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_XML_FILE ((long) 64 << 20)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init (void)
{
    xmlInitParser ();
}

static xmlDocPtr
parse_xml (const char *text, size_t len, const char *file, omr_err_t *err)
{
    pthread_once (&xml_once, xml_init);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt ();
    if (!ctxt) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "%s: out of memory", file);
        return NULL;
    }
    /* no network, no entity expansion, no messages on stderr */
    xmlDocPtr doc = xmlCtxtReadMemory (ctxt, text, (int) len, NULL, NULL,
                                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        xmlErrorPtr e = xmlCtxtGetLastError (ctxt);
        char msg[300];
        snprintf (msg, sizeof msg, "%s", e && e->message ? e->message : "not well-formed");
        size_t n = strlen (msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = 0;
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: invalid OME-XML (line %d): %s", file, e ? e->line : 0, msg);
    }
    xmlFreeParserCtxt (ctxt);
    return doc;
}

static int
is_el (xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp ((const char *) n->name, name) == 0;
}

static xmlNodePtr
child (xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (is_el (c, name))
            return c;
    return NULL;
}

static char *
attr (xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp (n, (const xmlChar *) name);
    if (!v)
        return NULL;
    char *s = strdup ((const char *) v);
    xmlFree (v);
    return s;
}

static char *
text_of (xmlNodePtr n)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlNodeGetContent (n);
    if (!v)
        return NULL;
    /* trim: OME files put UUIDs on their own indented lines */
    const char *s = (const char *) v;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    size_t len = strlen (s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    char *r = strndup (s, len);
    xmlFree (v);
    return r;
}

static int
attr_double (xmlNodePtr n, const char *name, double *out)
{
    char *s = attr (n, name), *end;
    if (!s)
        return -1;
    errno = 0;
    double v = strtod (s, &end);
    int ok = end != s && *end == 0 && errno == 0;
    free (s);
    if (!ok)
        return -1;
    *out = v;
    return 0;
}

static int
attr_long (xmlNodePtr n, const char *name, long long *out)
{
    char *s = attr (n, name), *end;
    if (!s)
        return -1;
    errno = 0;
    long long v = strtoll (s, &end, 10);
    int ok = end != s && *end == 0 && errno == 0;
    free (s);
    if (!ok)
        return -1;
    *out = v;
    return 0;
}

/* A quantity attribute with its "<name>Unit" companion and the OME default unit. */
static void
attr_quantity (xmlNodePtr n, const char *name, const char *default_unit, fmt_quantity_t *q)
{
    double v;
    if (attr_double (n, name, &v) < 0)
        return;
    char uname[64];
    snprintf (uname, sizeof uname, "%sUnit", name);
    char *u = attr (n, uname);
    fmt_quantity_set (q, v, u ? u : default_unit);
    free (u);
}

static char *
read_file (const char *path, long *len, omr_err_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        omr_err_set (err, OMR_E_NOTFOUND, 404, "%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    char *buf = NULL;
    if (fseek (f, 0, SEEK_END) == 0) {
        long n = ftell (f);
        if (n < 0 || n > MAX_XML_FILE)
            omr_err_set (err, OMR_E_VALIDATION, 400, "%s: metadata file of %ld bytes is too large", path, n);
        else if (fseek (f, 0, SEEK_SET) == 0 && (buf = malloc (n + 1))) {
            if ((long) fread (buf, 1, n, f) != n) {
                free (buf);
                buf = NULL;
                omr_err_set (err, OMR_E_VALIDATION, 400, "%s: read error", path);
            } else {
                buf[n] = 0;
                *len = n;
            }
        } else
            omr_err_set (err, OMR_E_INTERNAL, 500, "%s: cannot read", path);
    }
    fclose (f);
    return buf;
}

/* dirname(base) + "/" + name, or name when it is absolute. */
static char *
resolve (const char *base, const char *name)
{
    if (name[0] == '/')
        return strdup (name);
    const char *slash = strrchr (base, '/');
    size_t dl = slash ? (size_t) (slash - base) + 1 : 0;
    char *r = malloc (dl + strlen (name) + 1);
    if (!r)
        return NULL;
    memcpy (r, base, dl);
    strcpy (r + dl, name);
    return r;
}

/* The OME-XML text of a TIFF's first IFD, or NULL when it has none. */
static char *
tiff_xml (const char *path, omr_err_t *err)
{
    fmt_tiff_t *t = fmt_tiff_open (path, err);
    if (!t)
        return NULL;
    char *d = fmt_tiff_description (t);
    fmt_tiff_close (&t);
    if (d && !strstr (d, "<OME") && !strstr (d, ":OME")) {
        free (d);
        d = NULL;
    }
    return d;
}

/* Parsing state of one load. */
typedef struct {
    fmt_fileset_t *fs;
    const char *opened;         /* the path the caller gave */
    const char *xml_path;       /* the file holding the full OME-XML */
    int xml_is_tiff;
    char *xml_uuid;             /* root UUID of that document */
} load_t;

static int
parse_instruments (load_t *L, xmlNodePtr root, omr_err_t *err)
{
    fmt_fileset_t *fs = L->fs;
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (!is_el (n, "Instrument"))
            continue;
        fmt_instrument_t *ins = realloc (fs->instruments, (fs->instrument_count + 1) * sizeof *ins);
        if (!ins)
            return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        fs->instruments = ins;
        fmt_instrument_t *in = &ins[fs->instrument_count++];
        memset (in, 0, sizeof *in);
        in->id = attr (n, "ID");
        for (xmlNodePtr c = n->children; c; c = c->next) {
            if (is_el (c, "Objective")) {
                fmt_objective_t *o = realloc (in->objectives, (in->objective_count + 1) * sizeof *o);
                if (!o)
                    return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
                in->objectives = o;
                o = &o[in->objective_count++];
                memset (o, 0, sizeof *o);
                o->id = attr (c, "ID");
                o->manufacturer = attr (c, "Manufacturer");
                o->model = attr (c, "Model");
                o->immersion = attr (c, "Immersion");
                o->has_magnification = attr_double (c, "NominalMagnification", &o->nominal_magnification) == 0;
                o->has_lens_na = attr_double (c, "LensNA", &o->lens_na) == 0;
            } else if (is_el (c, "Detector")) {
                fmt_detector_t *d = realloc (in->detectors, (in->detector_count + 1) * sizeof *d);
                if (!d)
                    return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
                in->detectors = d;
                d = &d[in->detector_count++];
                memset (d, 0, sizeof *d);
                d->id = attr (c, "ID");
                d->manufacturer = attr (c, "Manufacturer");
                d->model = attr (c, "Model");
                d->type = attr (c, "Type");
            }
        }
    }
    return 0;
}

/* The file a TiffData element points at, as an index into the fileset's files. */
static int
tiffdata_file (load_t *L, xmlNodePtr td, omr_err_t *err)
{
    xmlNodePtr u = child (td, "UUID");
    char *path = NULL;
    if (u) {
        char *fname = attr (u, "FileName");
        if (fname) {
            path = resolve (L->xml_path, fname);
            free (fname);
        } else {
            char *uuid = text_of (u);
            if (uuid && L->xml_uuid && strcmp (uuid, L->xml_uuid) == 0 && L->xml_is_tiff)
                path = strdup (L->xml_path);
            else {
                omr_err_set (err, OMR_E_VALIDATION, 400, "%s: TiffData UUID %s names no file (no FileName)",
                             L->xml_path, uuid ? uuid : "");
                free (uuid);
                return -1;
            }
            free (uuid);
        }
    } else if (L->xml_is_tiff)
        path = strdup (L->xml_path);
    else
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: TiffData without UUID/FileName in a companion file",
                            L->xml_path);
    if (!path)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    struct stat st;
    if (stat (path, &st) < 0 || !S_ISREG (st.st_mode)) {
        omr_err_set (err, OMR_E_NOTFOUND, 404, "%s: OME-XML references file '%s', which is missing (%s)", L->xml_path,
                     path, errno ? strerror (errno) : "not a regular file");
        free (path);
        return -1;
    }
    int idx = fmt_fileset_add_file (L->fs, path, FMT_FILE_TIFF, err);
    free (path);
    return idx;
}

static int
parse_image (load_t *L, xmlNodePtr im, int series, omr_err_t *err)
{
    fmt_fileset_t *fs = L->fs;
    const char *file = L->xml_path;
    xmlNodePtr px = child (im, "Pixels");
    if (!px)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d has no Pixels", file, series);
    fmt_imgsrc_t *src;
    fmt_image_t *img = fmt_fileset_add_image (fs, &src, err);
    if (!img)
        return -1;
    img->name = attr (im, "Name");
    if (!img->name) {
        char nm[600];
        snprintf (nm, sizeof nm, "%s [%d]", fmt_basename (L->opened), series);
        img->name = strdup (nm);
    }
    img->description = text_of (child (im, "Description"));
    if (img->description && !img->description[0]) {
        free (img->description);
        img->description = NULL;
    }
    img->acquisition_date = text_of (child (im, "AcquisitionDate"));
    xmlNodePtr iref = child (im, "InstrumentRef");
    if (iref) {
        char *id = attr (iref, "ID");
        for (int i = 0; id && i < fs->instrument_count; i++)
            if (fs->instruments[i].id && strcmp (fs->instruments[i].id, id) == 0)
                img->instrument = i;
        free (id);
    }
    long long sx, sy, sz, sc, st;
    if (attr_long (px, "SizeX", &sx) < 0 || attr_long (px, "SizeY", &sy) < 0 || attr_long (px, "SizeZ", &sz) < 0
        || attr_long (px, "SizeC", &sc) < 0 || attr_long (px, "SizeT", &st) < 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d: Pixels lacks a valid SizeX/Y/Z/C/T", file, series);
    if (sx <= 0 || sy <= 0 || sz <= 0 || sc <= 0 || st <= 0 || sx > UINT32_MAX || sy > UINT32_MAX || sz > UINT32_MAX
        || sc > UINT32_MAX || st > UINT32_MAX)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d: sizes %lldx%lld Z=%lld C=%lld T=%lld out of range",
                            file, series, sx, sy, sz, sc, st);
    img->size_x = (uint32_t) sx;
    img->size_y = (uint32_t) sy;
    img->size_z = (uint32_t) sz;
    img->size_c = (uint32_t) sc;
    img->size_t = (uint32_t) st;
    char *type = attr (px, "Type");
    int bad_type = fmt_pixtype_parse (type, &img->pixel_type) < 0;
    if (bad_type) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d: pixel type '%s' is not supported", file, series,
                     type ? type : "(none)");
        free (type);
        return -1;
    }
    free (type);
    char *order = attr (px, "DimensionOrder");
    if (fmt_order_valid (order) < 0) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d: bad DimensionOrder '%s'", file, series, order ? order : "");
        free (order);
        return -1;
    }
    snprintf (img->dimension_order, sizeof img->dimension_order, "%s", order);
    free (order);
    attr_quantity (px, "PhysicalSizeX", "\xc2\xb5m", &img->physical_size_x);
    attr_quantity (px, "PhysicalSizeY", "\xc2\xb5m", &img->physical_size_y);
    attr_quantity (px, "PhysicalSizeZ", "\xc2\xb5m", &img->physical_size_z);
    attr_quantity (px, "TimeIncrement", "s", &img->time_increment);
    long long sb;
    img->significant_bits = attr_long (px, "SignificantBits", &sb) == 0 ? (int) sb : fmt_pixtype_bytes (img->pixel_type) * 8;
    if (img->pixel_type == FMT_PT_BIT && img->significant_bits > 1)
        img->significant_bits = 1;

    /* channels: an RGB Channel element (SamplesPerPixel 3) stands for three OMERO channels */
    int nch = 0;
    for (xmlNodePtr c = px->children; c; c = c->next)
        nch += is_el (c, "Channel");
    long long spp = 1;
    xmlNodePtr ch0 = child (px, "Channel");
    if (ch0 && attr_long (ch0, "SamplesPerPixel", &spp) == 0 && spp > 1 && sc % spp == 0 && nch * spp <= sc)
        ;
    else if (ch0 && attr_long (ch0, "SamplesPerPixel", &spp) < 0 && nch > 0 && nch < sc && sc % nch == 0)
        spp = sc / nch;     /* fewer Channel elements than SizeC and no SamplesPerPixel: colour pages */
    else
        spp = 1;
    uint32_t ceff = img->size_c / (uint32_t) spp;
    img->rgb = spp > 1;
    char *il = attr (px, "Interleaved");
    img->interleaved = spp > 1 && il && strcmp (il, "true") == 0;
    free (il);
    if (fmt_image_alloc (img, src, file, err) < 0)
        return -1;
    int k = 0;
    for (xmlNodePtr c = px->children; c; c = c->next) {
        if (!is_el (c, "Channel"))
            continue;
        for (long long s = 0; s < spp; s++) {
            uint64_t idx = (uint64_t) k * spp + s;
            if (idx >= img->size_c)
                break;
            fmt_channel_t *ch = &img->channels[idx];
            ch->name = attr (c, "Name");
            ch->fluor = attr (c, "Fluor");
            attr_quantity (c, "EmissionWavelength", "nm", &ch->emission);
            attr_quantity (c, "ExcitationWavelength", "nm", &ch->excitation);
            long long color;
            if (attr_long (c, "Color", &color) == 0) {
                ch->has_color = 1;
                ch->color = (int32_t) (uint32_t) color;
            }
            ch->samples_per_pixel = (int) spp;
        }
        k++;
    }
    /* planes described by Plane elements, within the image's bounds */
    for (xmlNodePtr p = px->children; p; p = p->next) {
        if (!is_el (p, "Plane"))
            continue;
        long long z = 0, c = 0, t = 0;
        attr_long (p, "TheZ", &z);
        attr_long (p, "TheC", &c);
        attr_long (p, "TheT", &t);
        if (z < 0 || c < 0 || t < 0 || z >= sz || c >= sc || t >= st || (uint64_t) img->plane_count >= FMT_MAX_PLANES)
            continue;
        fmt_plane_t *pl = realloc (img->planes, (img->plane_count + 1) * sizeof *pl);
        if (!pl)
            return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        img->planes = pl;
        pl = &pl[img->plane_count++];
        memset (pl, 0, sizeof *pl);
        pl->z = (uint32_t) z;
        pl->c = (uint32_t) c;
        pl->t = (uint32_t) t;
        attr_quantity (p, "DeltaT", "s", &pl->delta_t);
        attr_quantity (p, "ExposureTime", "s", &pl->exposure_time);
        attr_quantity (p, "PositionX", "reference frame", &pl->position_x);
        attr_quantity (p, "PositionY", "reference frame", &pl->position_y);
        attr_quantity (p, "PositionZ", "reference frame", &pl->position_z);
    }
    /* TiffData: stored planes (in DimensionOrder, over effective channels) -> file and IFD */
    uint64_t nplanes = (uint64_t) img->size_z * ceff * img->size_t;
    int ntd = 0;
    for (xmlNodePtr td = px->children; td; td = td->next)
        ntd += is_el (td, "TiffData");
    for (xmlNodePtr td = px->children; td; td = td->next) {
        if (!is_el (td, "TiffData"))
            continue;
        long long ifd = 0, fz = 0, fc = 0, ft = 0, pc = -1;
        int has_ifd = attr_long (td, "IFD", &ifd) == 0;
        attr_long (td, "FirstZ", &fz);
        attr_long (td, "FirstC", &fc);
        attr_long (td, "FirstT", &ft);
        int has_count = attr_long (td, "PlaneCount", &pc) == 0;
        if (ifd < 0 || fz < 0 || fc < 0 || ft < 0 || (has_count && pc < 0) || fz >= sz || fc >= ceff || ft >= st)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d: TiffData with out-of-range IFD/First*/PlaneCount",
                                file, series);
        int f = tiffdata_file (L, td, err);
        if (f < 0)
            return -1;
        if (!has_count) {
            /* OME: PlaneCount defaults to 1 with an IFD, else to every IFD of the file */
            if (has_ifd)
                pc = 1;
            else {
                fmt_tiff_t *tf = fmt_fileset_tiff (fs, f, err);
                if (!tf)
                    return -1;
                pc = fmt_tiff_ifd_count (tf);
            }
        }
        /* index of (FirstZ, FirstC, FirstT) in the stored order */
        uint64_t start = 0, stride = 1;
        for (int i = 2; i < 5; i++) {
            char a = img->dimension_order[i];
            uint64_t v = a == 'Z' ? (uint64_t) fz : a == 'C' ? (uint64_t) fc : (uint64_t) ft;
            uint64_t n = a == 'Z' ? img->size_z : a == 'C' ? ceff : img->size_t;
            start += v * stride;
            stride *= n;
        }
        for (long long i = 0; i < pc && start + i < nplanes; i++) {
            uint32_t z, c, t;
            fmt_order_zct (img->dimension_order, img->size_z, ceff, img->size_t, start + i, &z, &c, &t);
            for (long long s = 0; s < spp; s++)
                src->refs[fmt_image_ref_index (img, z, c * spp + s, t)] = (fmt_planeref_t) { .file = f, .ifd = ifd + i, .sample = (int) s };
        }
    }
    if (ntd == 0) {
        if (!L->xml_is_tiff)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d has no TiffData", file, series);
        int f = fmt_fileset_add_file (fs, L->xml_path, FMT_FILE_TIFF, err);
        if (f < 0)
            return -1;
        for (uint64_t p = 0; p < nplanes; p++) {
            uint32_t z, c, t;
            fmt_order_zct (img->dimension_order, img->size_z, ceff, img->size_t, p, &z, &c, &t);
            for (long long s = 0; s < spp; s++)
                src->refs[fmt_image_ref_index (img, z, c * spp + s, t)] = (fmt_planeref_t) { .file = f, .ifd = (int64_t) p, .sample = (int) s };
        }
    }
    /* levels from the first stored plane's IFD and its SubIFDs */
    const fmt_planeref_t *r0 = NULL;
    for (uint64_t i = 0; i < (uint64_t) img->size_z * img->size_c * img->size_t && !r0; i++)
        if (src->refs[i].ifd >= 0)
            r0 = &src->refs[i];
    if (!r0)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "%s: Image %d: no plane is stored in any file", file, series);
    fmt_tiff_t *t = fmt_fileset_tiff (fs, r0->file, err);
    if (!t || fmt_tiff_select (t, r0->ifd, 0, err) < 0)
        return -1;
    fmt_tiffdir_t d;
    if (fmt_tiff_dir (t, &d, err) < 0)
        return -1;
    if (d.width != img->size_x || d.height != img->size_y || !d.pixtype_ok || d.pixtype != img->pixel_type
        || (spp > 1 && d.spp != spp))
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "%s: Image %d: OME-XML says %ux%u %s (%lld samples) but IFD %lld of %s is %ux%u %s (%u samples)",
                            file, series, img->size_x, img->size_y, fmt_pixtype_name (img->pixel_type), spp,
                            (long long) r0->ifd, fs->files[r0->file], d.width, d.height,
                            d.pixtype_ok ? fmt_pixtype_name (d.pixtype) : "(no OMERO type)", d.spp);
    int nlev = 1 + d.subifd_count;
    if (fmt_image_set_levels (img, nlev, err) < 0)
        return -1;
    img->levels[0] = (fmt_level_t) { d.width, d.height, d.tile_w, d.tile_h };
    fmt_tiff_add_tags (t, img, NULL, 1);
    for (int l = 1; l < nlev; l++) {
        fmt_tiffdir_t s;
        if (fmt_tiff_select (t, r0->ifd, l, err) < 0 || fmt_tiff_dir (t, &s, err) < 0)
            return -1;
        img->levels[l] = (fmt_level_t) { s.width, s.height, s.tile_w, s.tile_h };
    }
    if (nlev > 1)
        src->level_kind = FMT_LEVELS_SUBIFD;
    return 0;
}

int
fmt_ometiff_load (fmt_fileset_t *fs, const char *path, int is_xml, omr_err_t *err)
{
    char *text = NULL, *meta_path = NULL, *uuid = NULL;
    long len = 0;
    xmlDocPtr doc = NULL;
    int rc = -1;
    load_t L = { .fs = fs, .opened = path };
    if (is_xml) {
        if (!(text = read_file (path, &len, err)))
            return -1;
        if (!(doc = parse_xml (text, len, path, err)))
            goto done;
        L.xml_path = path;
    } else {
        omr_err_t e2;
        text = tiff_xml (path, &e2);
        if (!text) {
            /* no OME-XML (or an unreadable TIFF, which the plain reader reports) */
            rc = 1;
            goto done;
        }
        doc = parse_xml (text, strlen (text), path, &e2);
        xmlNodePtr root = doc ? xmlDocGetRootElement (doc) : NULL;
        if (!root || !is_el (root, "OME")) {
            rc = 1;     /* unusable OME-XML: read the pixels as a plain TIFF */
            goto done;
        }
        xmlNodePtr bo = child (root, "BinaryOnly");
        if (bo) {
            /* this file holds pixels only; the metadata is in another file of the set */
            char *mf = attr (bo, "MetadataFile");
            if (!mf) {
                rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: BinaryOnly without MetadataFile", path);
                goto done;
            }
            meta_path = resolve (path, mf);
            free (mf);
            if (!meta_path) {
                rc = omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
                goto done;
            }
            xmlFreeDoc (doc);
            doc = NULL;
            free (text);
            text = NULL;
            fmt_kind_t kind;
            if (fmt_detect (meta_path, &kind, err) < 0) {
                omr_err_prefix (err, "%s: BinaryOnly metadata file: ", path);
                goto done;
            }
            if (kind == FMT_KIND_TIFF) {
                omr_err_t e3 = { 0 };
                text = tiff_xml (meta_path, &e3);
                if (!text) {
                    omr_err_set (err, OMR_E_VALIDATION, 400, "%s: BinaryOnly metadata file %s holds no OME-XML%s%s",
                                 path, meta_path, e3.msg[0] ? ": " : "", e3.msg);
                    goto done;
                }
                L.xml_is_tiff = 1;
            } else if (kind == FMT_KIND_OMEXML) {
                if (!(text = read_file (meta_path, &len, err)))
                    goto done;
            } else {
                rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: metadata file %s is neither OME-TIFF nor OME-XML",
                                  path, meta_path);
                goto done;
            }
            if (!(doc = parse_xml (text, strlen (text), meta_path, err)))
                goto done;
            L.xml_path = meta_path;
        } else {
            L.xml_path = path;
            L.xml_is_tiff = 1;
        }
    }
    xmlNodePtr root = xmlDocGetRootElement (doc);
    if (!root || !is_el (root, "OME")) {
        rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: root element is not OME", L.xml_path);
        goto done;
    }
    uuid = attr (root, "UUID");
    L.xml_uuid = uuid;
    fs->format = strdup ("OME-TIFF");
    fs->ome_xml = strdup (text);
    if (!fs->format || !fs->ome_xml) {
        rc = omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        goto done;
    }
    if (fmt_fileset_add_file (fs, L.xml_path, L.xml_is_tiff ? FMT_FILE_TIFF : FMT_FILE_XML, err) < 0)
        goto done;
    if (parse_instruments (&L, root, err) < 0)
        goto done;
    int series = 0;
    for (xmlNodePtr im = root->children; im; im = im->next)
        if (is_el (im, "Image"))
            if (parse_image (&L, im, series++, err) < 0)
                goto done;
    if (series == 0) {
        rc = omr_err_set (err, OMR_E_VALIDATION, 400, "%s: OME-XML without any Image", L.xml_path);
        goto done;
    }
    rc = 0;
done:
    if (doc)
        xmlFreeDoc (doc);
    free (text);
    free (meta_path);
    free (uuid);
    return rc;
}
