/* omr_config: configuration properties, OMERO defaults and the YAML file `omero config` writes. */
#include "omr_config.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

typedef struct {
    char *key;
    char *value;
} kv_t;

struct omr_config_t {
    kv_t *items;        /* sorted by key */
    int size, cap;
};

/* OMERO's documented defaults for the properties this grid reads. */
static const char *defaults[][2] = {
    {"omero.checksum.supported", "SHA1-160,MD5-128,Murmur3-128,Murmur3-32,CRC-32,Adler-32,File-Size-64"},
    {"omero.data.dir", "/OMERO/"},
    {"omero.db.host", ""},
    {"omero.db.name", "omero"},
    {"omero.db.pass", "omero"},
    {"omero.db.poolsize", "10"},
    {"omero.db.port", "5432"},
    {"omero.db.user", "omero"},
    {"omero.fs.repo.path", "%user%_%userId%//%year%-%month%/%day%/%time%"},
    {"omero.fs.repo.path_rules", "Windows required, UNIX required"},
    {"omero.logging.level", "INFO"},
    {"omero.logging.lognum", "9"},
    {"omero.logging.logsize", "5000000"},
    {"omero.master.host", "127.0.0.1"},
    {"omero.pixeldata.max_plane_height", "3192"},
    {"omero.pixeldata.max_plane_width", "3192"},
    {"omero.ports.prefix", ""},
    {"omero.ports.registry", "4061"},
    {"omero.ports.ssl", "4064"},
    {"omero.ports.tcp", "4063"},
    {"omero.router.insecure", "false"},
    {"omero.router.max_body", "268435456"},
    {"omero.security.login_failure_throttle_count", "1"},
    {"omero.security.login_failure_throttle_time", "3000"},
    {"omero.server.nodedescriptors", ""},
    {"omero.sessions.maximum", "0"},
    {"omero.sessions.timeout", "600000"},
    {"omero.threads.min_threads", "5"},
};

omr_config_t *
omr_config_new (void)
{
    return calloc (1, sizeof (omr_config_t));
}

void
omr_config_destroy (omr_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    omr_config_t *self = *self_p;
    for (int i = 0; i < self->size; i++) {
        free (self->items[i].key);
        free (self->items[i].value);
    }
    free (self->items);
    free (self);
    *self_p = NULL;
}

static int
find (omr_config_t *self, const char *key, int *pos)
{
    int lo = 0, hi = self->size - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp (self->items[mid].key, key);
        if (c == 0) {
            *pos = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    *pos = lo;
    return 0;
}

void
omr_config_set (omr_config_t *self, const char *key, const char *value)
{
    int pos;
    if (find (self, key, &pos)) {
        if (value) {
            free (self->items[pos].value);
            self->items[pos].value = strdup (value);
        }
        else {
            free (self->items[pos].key);
            free (self->items[pos].value);
            memmove (&self->items[pos], &self->items[pos + 1], (self->size - pos - 1) * sizeof (kv_t));
            self->size--;
        }
        return;
    }
    if (!value)
        return;
    if (self->size == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 32;
        self->items = realloc (self->items, self->cap * sizeof (kv_t));
    }
    memmove (&self->items[pos + 1], &self->items[pos], (self->size - pos) * sizeof (kv_t));
    self->items[pos].key = strdup (key);
    self->items[pos].value = strdup (value);
    self->size++;
}

const char *
omr_config_get_set (omr_config_t *self, const char *key)
{
    int pos;
    if (self && find (self, key, &pos))
        return self->items[pos].value;
    return NULL;
}

const char *
omr_config_default (const char *key)
{
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (strcmp (defaults[i][0], key) == 0)
            return defaults[i][1];
    return NULL;
}

const char *
omr_config_default_at (int i, const char **value)
{
    if (i < 0 || (size_t) i >= sizeof defaults / sizeof defaults[0])
        return NULL;
    if (value)
        *value = defaults[i][1];
    return defaults[i][0];
}

const char *
omr_config_get (omr_config_t *self, const char *key)
{
    const char *v = omr_config_get_set (self, key);
    return v ? v : omr_config_default (key);
}

long long
omr_config_get_int (omr_config_t *self, const char *key, long long fallback)
{
    const char *v = omr_config_get (self, key);
    if (!v || !*v)
        return fallback;
    char *end;
    errno = 0;
    long long n = strtoll (v, &end, 10);
    if (errno || *end)
        return fallback;
    return n;
}

bool
omr_config_get_bool (omr_config_t *self, const char *key, bool fallback)
{
    const char *v = omr_config_get (self, key);
    if (!v || !*v)
        return fallback;
    if (!strcasecmp (v, "true") || !strcmp (v, "1") || !strcasecmp (v, "yes") || !strcasecmp (v, "on"))
        return true;
    if (!strcasecmp (v, "false") || !strcmp (v, "0") || !strcasecmp (v, "no") || !strcasecmp (v, "off"))
        return false;
    return fallback;
}

int
omr_config_port (omr_config_t *self, const char *key)
{
    const char *prefix = omr_config_get (self, "omero.ports.prefix");
    const char *port = omr_config_get (self, key);
    if (!port || !*port)
        return -1;
    char buf[64];
    snprintf (buf, sizeof buf, "%s%s", prefix ? prefix : "", port);
    char *end;
    long n = strtol (buf, &end, 10);
    if (*end || n <= 0 || n > 65535)
        return -1;
    return (int) n;
}

int
omr_config_size (omr_config_t *self)
{
    return self->size;
}

const char *
omr_config_key_at (omr_config_t *self, int i)
{
    return (i >= 0 && i < self->size) ? self->items[i].key : NULL;
}

int
omr_config_load_file (omr_config_t *self, const char *path, omr_err_t *err)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return omr_err_set (err, OMR_E_CONFIG, 500, "cannot read %s: %s", path, strerror (errno));
    }
    yaml_parser_t parser;
    yaml_event_t ev;
    yaml_parser_initialize (&parser);
    yaml_parser_set_input_file (&parser, f);
    int depth = 0, rc = 0;
    char *key = NULL;
    for (;;) {
        if (!yaml_parser_parse (&parser, &ev)) {
            rc = omr_err_set (err, OMR_E_CONFIG, 500, "%s:%zu: %s", path,
                              parser.problem_mark.line + 1, parser.problem ? parser.problem : "bad YAML");
            break;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT) {
            depth++;
            if (depth > 1 || ev.type == YAML_SEQUENCE_START_EVENT) {
                rc = omr_err_set (err, OMR_E_CONFIG, 500, "%s:%zu: expected flat key: value pairs", path,
                                  ev.start_mark.line + 1);
                yaml_event_delete (&ev);
                break;
            }
        }
        else if (ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        else if (ev.type == YAML_SCALAR_EVENT) {
            if (depth != 1) {
                rc = omr_err_set (err, OMR_E_CONFIG, 500, "%s:%zu: expected a mapping", path,
                                  ev.start_mark.line + 1);
                yaml_event_delete (&ev);
                break;
            }
            if (!key)
                key = strndup ((char *) ev.data.scalar.value, ev.data.scalar.length);
            else {
                char *v = strndup ((char *) ev.data.scalar.value, ev.data.scalar.length);
                omr_config_set (self, key, v);
                free (v);
                free (key);
                key = NULL;
            }
        }
        yaml_event_delete (&ev);
        if (done)
            break;
    }
    free (key);
    yaml_parser_delete (&parser);
    fclose (f);
    return rc;
}

omr_config_t *
omr_config_load_omerodir (const char *omerodir, omr_err_t *err)
{
    omr_config_t *self = omr_config_new ();
    char path[4096];
    snprintf (path, sizeof path, "%s/etc/grid/config.yaml", omerodir);
    if (omr_config_load_file (self, path, err) < 0) {
        omr_config_destroy (&self);
        return NULL;
    }
    const char *props = getenv ("OMERO_SERVER_PROPS");
    if (props && *props && omr_config_load_file (self, props, err) < 0) {
        omr_config_destroy (&self);
        return NULL;
    }
    return self;
}

/* Quote a scalar for YAML as a double-quoted string. */
static void
write_quoted (FILE *f, const char *s)
{
    fputc ('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            fprintf (f, "\\%c", c);
        else if (c == '\n')
            fputs ("\\n", f);
        else if (c == '\t')
            fputs ("\\t", f);
        else if (c < 0x20)
            fprintf (f, "\\x%02x", c);
        else
            fputc (c, f);
    }
    fputc ('"', f);
}

int
omr_config_save_file (omr_config_t *self, const char *path, omr_err_t *err)
{
    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid ());
    FILE *f = fopen (tmp, "w");
    if (!f)
        return omr_err_set (err, OMR_E_CONFIG, 500, "cannot write %s: %s", tmp, strerror (errno));
    fputs ("# OMERO configuration, written by `omero config`.\n", f);
    for (int i = 0; i < self->size; i++) {
        write_quoted (f, self->items[i].key);
        fputs (": ", f);
        write_quoted (f, self->items[i].value);
        fputc ('\n', f);
    }
    if (fclose (f) != 0 || rename (tmp, path) != 0) {
        int e = errno;
        unlink (tmp);
        return omr_err_set (err, OMR_E_CONFIG, 500, "cannot write %s: %s", path, strerror (e));
    }
    return 0;
}
