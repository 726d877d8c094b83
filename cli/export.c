/* export: `omero export --file X.ome.tiff Image:ID` — an OME-TIFF (one IFD per plane in XYZCT
 * order, the OME-XML 2016-06 metadata in the first IFD's ImageDescription, BigTIFF when the
 * pixels pass 2 GiB) written with libtiff from planes read through RawPixelsStore, with the
 * image's name, description, physical sizes and channels, and reduced resolution levels as
 * SubIFDs; `--type XML` writes the OME-XML only;
 * `--iterate Dataset:ID` exports every image of a dataset into the --file directory. */
#include "cli.h"
#include "login.h"
#include "sessions.h"
#include <endian.h>
#include <errno.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#define OME_NS "http://www.openmicroscopy.org/Schemas/OME/2016-06"

static void
usage (FILE *out)
{
    fputs ("usage: omero export [-h] -f FILE [--type {TIFF,XML}] [--iterate] [login arguments] object\n", out);
}

static int
help (void)
{
    usage (stdout);
    fputs ("\nExport an image as OME-TIFF (or its metadata as OME-XML).\n\n"
           "Positional Arguments:\n"
           "  object              Image:ID (Dataset:ID with --iterate)\n\n"
           "Optional Arguments:\n"
           "  -f, --file FILE     output file ('-' for standard output), a directory with --iterate\n"
           "  --type {TIFF,XML}   OME-TIFF (default) or OME-XML only\n"
           "  --iterate           export each image of Dataset:ID into the --file directory\n\n",
           stdout);
    cli_login_help (stdout);
    return 0;
}

typedef struct {
    long long image, pixels;
    int sx, sy, sz, sc, st;
    int nlevels;
    int lx[16], ly[16];         /* level sizes, full resolution first */
    char type[16];
    char *name, *description;
    json_t *psx, *psy, *psz;     /* {value, symbol} or null */
    json_t *channels;            /* [[name, red, green, blue, alpha, emission, excitation], ...] */
} meta_t;

static json_t *
projection (omero_client_t *c, const char *q, long long id, omero_err_t *err)
{
    json_t *args = json_pack ("{s:s, s:{s:I}, s:i}", "query", q, "params", "id", (json_int_t) id, "group", -1);
    json_t *r = omero_client_call (c, "IQuery", "projection", args, err);
    json_decref (args);
    return r;
}

static int
load_meta (omero_client_t *c, long long image, meta_t *m, omero_err_t *err)
{
    memset (m, 0, sizeof *m);
    m->image = image;
    json_t *args = json_pack ("{s:I}", "imageId", (json_int_t) image);
    json_t *p = omero_client_call (c, "RawPixelsStore", "getPixels", args, err);
    json_decref (args);
    if (!p)
        return -1;
    m->pixels = omero_json_int (p, "pixelsId", 0);
    m->sx = (int) omero_json_int (p, "sizeX", 0);
    m->sy = (int) omero_json_int (p, "sizeY", 0);
    m->sz = (int) omero_json_int (p, "sizeZ", 0);
    m->sc = (int) omero_json_int (p, "sizeC", 0);
    m->st = (int) omero_json_int (p, "sizeT", 0);
    snprintf (m->type, sizeof m->type, "%s", json_string_value (json_object_get (p, "pixelsType")));
    json_t *levels = json_object_get (p, "levels");
    for (size_t k = 0; k < json_array_size (levels) && k < 16; k++) {
        m->lx[k] = (int) omero_json_int (json_array_get (levels, k), "sizeX", 0);
        m->ly[k] = (int) omero_json_int (json_array_get (levels, k), "sizeY", 0);
        m->nlevels = (int) k + 1;
    }
    if (m->nlevels == 0) {
        m->nlevels = 1;
        m->lx[0] = m->sx;
        m->ly[0] = m->sy;
    }
    json_decref (p);
    json_t *r = projection (c, "select i.name, i.description, p.physicalSizeX, p.physicalSizeY, p.physicalSizeZ "
                               "from Pixels p join p.image i where i.id = :id", image, err);
    if (!r)
        return -1;
    json_t *row = json_array_get (json_object_get (r, "data"), 0);
    m->name = strdup (json_string_value (json_array_get (row, 0)) ? json_string_value (json_array_get (row, 0)) : "image");
    m->description = json_string_value (json_array_get (row, 1)) ? strdup (json_string_value (json_array_get (row, 1))) : NULL;
    m->psx = json_incref (json_array_get (row, 2));
    m->psy = json_incref (json_array_get (row, 3));
    m->psz = json_incref (json_array_get (row, 4));
    json_decref (r);
    r = projection (c, "select lc.name, c.red, c.green, c.blue, c.alpha, lc.emissionWave, lc.excitationWave "
                       "from Channel c join c.logicalChannel lc where c.pixels.image.id = :id order by c.id", image, err);
    if (!r)
        return -1;
    m->channels = json_incref (json_object_get (r, "data"));
    json_decref (r);
    return 0;
}

static void
free_meta (meta_t *m)
{
    free (m->name);
    free (m->description);
    json_decref (m->psx);
    json_decref (m->psy);
    json_decref (m->psz);
    json_decref (m->channels);
}

static void
set_quantity (xmlNode *n, const char *attr, json_t *q)
{
    if (!json_is_object (q))
        return;
    json_t *v = json_object_get (q, "value");
    const char *sym = json_string_value (json_object_get (q, "symbol"));
    if (!json_is_number (v))
        return;
    char buf[64], ua[64];
    snprintf (buf, sizeof buf, "%.17g", json_number_value (v));
    xmlSetProp (n, (const xmlChar *) attr, (const xmlChar *) buf);
    if (sym) {
        snprintf (ua, sizeof ua, "%sUnit", attr);
        xmlSetProp (n, (const xmlChar *) ua, (const xmlChar *) sym);
    }
}

/* OME-XML for the image; planes are IFDs 0.. in XYZCT order of one file named `file` (or
 * no TiffData for metadata only). */
static char *
ome_xml (const meta_t *m, const char *file, bool tiff)
{
    xmlDoc *doc = xmlNewDoc ((const xmlChar *) "1.0");
    xmlNode *ome = xmlNewNode (NULL, (const xmlChar *) "OME");
    xmlNs *ns = xmlNewNs (ome, (const xmlChar *) OME_NS, NULL);
    xmlSetNs (ome, ns);
    xmlNs *xsi = xmlNewNs (ome, (const xmlChar *) "http://www.w3.org/2001/XMLSchema-instance", (const xmlChar *) "xsi");
    xmlSetNsProp (ome, xsi, (const xmlChar *) "schemaLocation", (const xmlChar *) OME_NS " " OME_NS "/ome.xsd");
    xmlSetProp (ome, (const xmlChar *) "Creator", (const xmlChar *) "OMERO.c 5.6.10");
    char uuid[64] = "urn:uuid:";
    FILE *u = fopen ("/proc/sys/kernel/random/uuid", "r");
    if (u) {
        if (fgets (uuid + 9, sizeof uuid - 9, u))
            uuid[strcspn (uuid, "\n")] = 0;
        fclose (u);
    }
    if (tiff)
        xmlSetProp (ome, (const xmlChar *) "UUID", (const xmlChar *) uuid);
    xmlDocSetRootElement (doc, ome);
    xmlNode *img = xmlNewChild (ome, ns, (const xmlChar *) "Image", NULL);
    xmlSetProp (img, (const xmlChar *) "ID", (const xmlChar *) "Image:0");
    xmlSetProp (img, (const xmlChar *) "Name", (const xmlChar *) m->name);
    if (m->description && *m->description)
        xmlNewTextChild (img, ns, (const xmlChar *) "Description", (const xmlChar *) m->description);
    xmlNode *px = xmlNewChild (img, ns, (const xmlChar *) "Pixels", NULL);
    char buf[64];
    xmlSetProp (px, (const xmlChar *) "ID", (const xmlChar *) "Pixels:0");
    xmlSetProp (px, (const xmlChar *) "DimensionOrder", (const xmlChar *) "XYZCT");
    xmlSetProp (px, (const xmlChar *) "Type", (const xmlChar *) m->type);
    static const char *const dims[] = {"SizeX", "SizeY", "SizeZ", "SizeC", "SizeT"};
    int sizes[] = {m->sx, m->sy, m->sz, m->sc, m->st};
    for (int i = 0; i < 5; i++) {
        snprintf (buf, sizeof buf, "%d", sizes[i]);
        xmlSetProp (px, (const xmlChar *) dims[i], (const xmlChar *) buf);
    }
    set_quantity (px, "PhysicalSizeX", m->psx);
    set_quantity (px, "PhysicalSizeY", m->psy);
    set_quantity (px, "PhysicalSizeZ", m->psz);
    xmlSetProp (px, (const xmlChar *) "BigEndian", (const xmlChar *) (__BYTE_ORDER == __BIG_ENDIAN ? "true" : "false"));
    xmlSetProp (px, (const xmlChar *) "Interleaved", (const xmlChar *) "false");
    for (int c = 0; c < m->sc; c++) {
        json_t *row = json_array_get (m->channels, (size_t) c);
        xmlNode *ch = xmlNewChild (px, ns, (const xmlChar *) "Channel", NULL);
        snprintf (buf, sizeof buf, "Channel:0:%d", c);
        xmlSetProp (ch, (const xmlChar *) "ID", (const xmlChar *) buf);
        const char *nm = json_string_value (json_array_get (row, 0));
        if (nm)
            xmlSetProp (ch, (const xmlChar *) "Name", (const xmlChar *) nm);
        xmlSetProp (ch, (const xmlChar *) "SamplesPerPixel", (const xmlChar *) "1");
        if (json_is_integer (json_array_get (row, 1))) {
            uint32_t rgba = (uint32_t) json_integer_value (json_array_get (row, 1)) << 24
                            | (uint32_t) json_integer_value (json_array_get (row, 2)) << 16
                            | (uint32_t) json_integer_value (json_array_get (row, 3)) << 8
                            | (uint32_t) json_integer_value (json_array_get (row, 4));
            snprintf (buf, sizeof buf, "%d", (int32_t) rgba);
            xmlSetProp (ch, (const xmlChar *) "Color", (const xmlChar *) buf);
        }
        set_quantity (ch, "EmissionWavelength", json_array_get (row, 5));
        set_quantity (ch, "ExcitationWavelength", json_array_get (row, 6));
    }
    if (tiff) {
        int ifd = 0;
        for (int t = 0; t < m->st; t++)
            for (int c = 0; c < m->sc; c++)
                for (int z = 0; z < m->sz; z++, ifd++) {
                    xmlNode *td = xmlNewChild (px, ns, (const xmlChar *) "TiffData", NULL);
                    int v[] = {ifd, z, c, t, 1};
                    static const char *const k[] = {"IFD", "FirstZ", "FirstC", "FirstT", "PlaneCount"};
                    for (int i = 0; i < 5; i++) {
                        snprintf (buf, sizeof buf, "%d", v[i]);
                        xmlSetProp (td, (const xmlChar *) k[i], (const xmlChar *) buf);
                    }
                    xmlNode *un = xmlNewTextChild (td, ns, (const xmlChar *) "UUID", (const xmlChar *) uuid);
                    xmlSetProp (un, (const xmlChar *) "FileName", (const xmlChar *) file);
                }
    } else
        xmlNewChild (px, ns, (const xmlChar *) "MetadataOnly", NULL);
    xmlChar *out = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc (doc, &out, &len, "UTF-8", 1);
    char *s = strdup ((char *) out);
    xmlFree (out);
    xmlFreeDoc (doc);
    return s;
}

static int
type_layout (const char *type, int *bps, int *fmt, int *bytes)
{
    static const struct {
        const char *n;
        int bps, fmt, bytes;
    } t[] = {{"int8", 8, SAMPLEFORMAT_INT, 1},     {"uint8", 8, SAMPLEFORMAT_UINT, 1},
             {"int16", 16, SAMPLEFORMAT_INT, 2},   {"uint16", 16, SAMPLEFORMAT_UINT, 2},
             {"int32", 32, SAMPLEFORMAT_INT, 4},   {"uint32", 32, SAMPLEFORMAT_UINT, 4},
             {"float", 32, SAMPLEFORMAT_IEEEFP, 4}, {"double", 64, SAMPLEFORMAT_IEEEFP, 8},
             {"bit", 1, SAMPLEFORMAT_UINT, 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp (t[i].n, type)) {
            *bps = t[i].bps;
            *fmt = t[i].fmt;
            *bytes = t[i].bytes;
            return 0;
        }
    return -1;
}

static void
quiet (const char *module, const char *fmt, va_list ap)
{
    (void) module, (void) fmt, (void) ap;
}

/* Fetch plane (z, c, t) at a level and write it as the current IFD (the first one holds the
 * OME-XML; a full-resolution IFD announces the reduced levels as SubIFDs). */
static int
write_plane (omero_client_t *c, const meta_t *m, TIFF *tif, int level, int z, int ch, int t, const char *xml,
             const char *path)
{
    int bps = 8, fmt = SAMPLEFORMAT_UINT, bytes = 1;
    if (type_layout (m->type, &bps, &fmt, &bytes) < 0)
        return cli_fail ("Image:%lld: pixel type %s cannot be exported", m->image, m->type);
    int w = m->lx[level], h = m->ly[level];
    /* RawPixelsStore packs bit planes MSB first over the whole plane */
    size_t plane = bps == 1 ? ((size_t) w * h + 7) / 8 : (size_t) w * h * (size_t) bytes;
    size_t rowbytes = bps == 1 ? (size_t) (w + 7) / 8 : (size_t) w * bytes;
    void *data = NULL;
    size_t len = 0;
    omero_err_t err = {0};
    json_t *args = json_pack ("{s:I, s:i, s:i, s:i, s:i}", "pixelsId", (json_int_t) m->pixels, "z", z, "c", ch, "t", t,
                              "level", level);
    int r = omero_client_download_buf (c, "RawPixelsStore", "getPlane", args, &data, &len, NULL, &err);
    json_decref (args);
    if (r < 0 || len != plane) {
        free (data);
        return r < 0 ? cli_fail_omero (&err)
                     : cli_fail ("Image:%lld: plane of %zu bytes, %zu expected", m->image, len, plane);
    }
    unsigned char *d = data, *src = d, *packed = NULL;
    /* OMERO's big-endian to this machine's order, which libtiff records */
#if __BYTE_ORDER == __LITTLE_ENDIAN
    for (size_t i = 0; i + bytes <= len && bytes > 1; i += (size_t) bytes)
        for (int a = 0, b = bytes - 1; a < b; a++, b--) {
            unsigned char x = d[i + a];
            d[i + a] = d[i + b];
            d[i + b] = x;
        }
#endif
    if (bps == 1) {
        /* TIFF pads every row to a whole byte */
        packed = calloc (rowbytes * (size_t) h + 1, 1);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t k = (size_t) y * w + x;
                if (d[k / 8] & (0x80 >> (k % 8)))
                    packed[(size_t) y * rowbytes + x / 8] |= (unsigned char) (0x80 >> (x % 8));
            }
        src = packed;
    }
    TIFFSetField (tif, TIFFTAG_IMAGEWIDTH, (uint32_t) w);
    TIFFSetField (tif, TIFFTAG_IMAGELENGTH, (uint32_t) h);
    TIFFSetField (tif, TIFFTAG_BITSPERSAMPLE, (uint16_t) bps);
    TIFFSetField (tif, TIFFTAG_SAMPLEFORMAT, (uint16_t) fmt);
    TIFFSetField (tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t) 1);
    TIFFSetField (tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField (tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField (tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField (tif, TIFFTAG_SOFTWARE, "OMERO.c");
    if (level > 0)
        TIFFSetField (tif, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE);
    else if (m->nlevels > 1) {
        uint64_t offsets[16] = {0};
        TIFFSetField (tif, TIFFTAG_SUBIFD, (uint16_t) (m->nlevels - 1), offsets);
    }
    uint32_t rps = (uint32_t) ((1 << 20) / (rowbytes ? rowbytes : 1));
    if (rps < 1)
        rps = 1;
    if (rps > (uint32_t) h)
        rps = (uint32_t) h;
    TIFFSetField (tif, TIFFTAG_ROWSPERSTRIP, rps);
    if (xml)
        TIFFSetField (tif, TIFFTAG_IMAGEDESCRIPTION, xml);
    int rc = 0;
    for (uint32_t s = 0, y = 0; y < (uint32_t) h; s++, y += rps) {
        uint32_t n = y + rps > (uint32_t) h ? (uint32_t) h - y : rps;
        if (TIFFWriteEncodedStrip (tif, s, src + (size_t) y * rowbytes, (tmsize_t) (n * rowbytes)) < 0) {
            rc = cli_fail ("cannot write %s", path);
            break;
        }
    }
    free (data);
    free (packed);
    if (!rc && !TIFFWriteDirectory (tif))
        rc = cli_fail ("cannot write %s", path);
    return rc;
}

/* Write one image as OME-TIFF to path: one IFD per plane in XYZCT order, reduced resolution
 * levels as SubIFDs of each plane (as OME-TIFF 2018 pyramids). */
static int
export_tiff (omero_client_t *c, const meta_t *m, const char *path)
{
    int bps, fmt, bytes;
    if (type_layout (m->type, &bps, &fmt, &bytes) < 0)
        return cli_fail ("Image:%lld: pixel type %s cannot be exported", m->image, m->type);
    const char *base = strrchr (path, '/') ? strrchr (path, '/') + 1 : path;
    char *xml = ome_xml (m, base, true);
    double total = (double) m->sx * m->sy * bytes * m->sz * m->sc * m->st * (m->nlevels > 1 ? 1.34 : 1.0);
    char tmp[4096];
    snprintf (tmp, sizeof tmp, "%s.part", path);
    TIFFSetErrorHandler (quiet);
    TIFFSetWarningHandler (quiet);
    TIFF *tif = TIFFOpen (tmp, total > 2e9 ? "w8" : "w");
    if (!tif) {
        free (xml);
        return cli_fail ("cannot write %s: %s", path, strerror (errno));
    }
    int rc = 0;
    bool first = true;
    for (int t = 0; t < m->st && !rc; t++)
        for (int ch = 0; ch < m->sc && !rc; ch++)
            for (int z = 0; z < m->sz && !rc; z++)
                for (int l = 0; l < m->nlevels && !rc; l++) {
                    rc = write_plane (c, m, tif, l, z, ch, t, first ? xml : NULL, path);
                    first = false;
                }
    TIFFClose (tif);
    free (xml);
    if (!rc && rename (tmp, path) < 0)
        rc = cli_fail ("cannot write %s: %s", path, strerror (errno));
    if (rc)
        unlink (tmp);
    return rc;
}

static int
export_one (omero_client_t *c, long long image, const char *file, bool xml_only)
{
    meta_t m;
    omero_err_t err = {0};
    if (load_meta (c, image, &m, &err) < 0) {
        free_meta (&m);
        return cli_fail_omero (&err);
    }
    int rc = 0;
    if (xml_only) {
        char *xml = ome_xml (&m, NULL, false);
        FILE *out = !strcmp (file, "-") ? stdout : fopen (file, "w");
        if (!out)
            rc = cli_fail ("cannot write %s: %s", file, strerror (errno));
        else {
            fputs (xml, out);
            if (out != stdout)
                fclose (out);
        }
        free (xml);
    } else if (!strcmp (file, "-"))
        rc = cli_fail ("OME-TIFF needs a file name, not standard output");
    else
        rc = export_tiff (c, &m, file);
    free_meta (&m);
    if (!rc && strcmp (file, "-"))
        fprintf (stderr, "Exported Image:%lld to %s\n", image, file);
    return rc;
}

int
cli_export (cli_t *cli, int argc, char **argv)
{
    cli_login_args_t la = {0};
    int rc = 0;
    const char *file = NULL, *type = "TIFF", *obj = NULL;
    bool iterate = false;
    for (int i = 1; i < argc; i++) {
        int r = cli_login_or_help (&la, argc, argv, &i, help, &rc);
        if (r < 0)
            return rc;
        if (r > 0)
            continue;
        if ((!strcmp (argv[i], "--file") || !strcmp (argv[i], "-f")) && i + 1 < argc)
            file = argv[++i];
        else if (!strncmp (argv[i], "--file=", 7))
            file = argv[i] + 7;
        else if (!strcmp (argv[i], "--type") && i + 1 < argc)
            type = argv[++i];
        else if (!strncmp (argv[i], "--type=", 7))
            type = argv[i] + 7;
        else if (!strcmp (argv[i], "--iterate"))
            iterate = true;
        else if (argv[i][0] == '-' && argv[i][1]) {
            usage (stderr);
            fprintf (stderr, "omero export: error: unrecognized argument: %s\n", argv[i]);
            return 2;
        } else
            obj = argv[i];
    }
    if (!file || !obj) {
        usage (stderr);
        fprintf (stderr, "omero export: error: %s\n", !file ? "the following arguments are required: -f/--file"
                                                            : "the following arguments are required: object");
        return 2;
    }
    if (strcmp (type, "TIFF") && strcmp (type, "XML")) {
        usage (stderr);
        fprintf (stderr, "omero export: error: argument --type: invalid choice: '%s' (choose from 'TIFF', 'XML')\n", type);
        return 2;
    }
    const char *want = iterate ? "Dataset:" : "Image:";
    char *end;
    long long id = strncmp (obj, want, strlen (want)) ? -1 : strtoll (obj + strlen (want), &end, 10);
    if (id < 0 || *end) {
        usage (stderr);
        fprintf (stderr, "omero export: error: object must be %sID, not '%s'\n", want, obj);
        return 2;
    }
    omero_client_t *c = cli_session_client (cli, &la, &rc);
    if (!c)
        return rc;
    if (!iterate)
        rc = export_one (c, id, file, !strcmp (type, "XML"));
    else {
        omero_err_t err = {0};
        json_t *r = projection (c, "select l.child.id from DatasetImageLink l where l.parent.id = :id order by l.child.id",
                                id, &err);
        if (!r)
            rc = cli_fail_omero (&err);
        else if (mkdir (file, 0755) < 0 && errno != EEXIST)
            rc = cli_fail ("cannot create %s: %s", file, strerror (errno));
        else {
            rc = 0;
            size_t k;
            json_t *row;
            json_array_foreach (json_object_get (r, "data"), k, row)
            {
                long long im = json_integer_value (json_array_get (row, 0));
                char out[4096];
                snprintf (out, sizeof out, "%s/%lld.%s", file, im, strcmp (type, "XML") ? "ome.tiff" : "ome.xml");
                if ((rc = export_one (c, im, out, !strcmp (type, "XML"))))
                    break;
            }
        }
        json_decref (r);
    }
    omero_client_destroy (&c);
    return rc;
}
