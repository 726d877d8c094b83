/* test_descriptor: the deployment-descriptor loader — OMERO's own XML descriptors, the native
 * YAML form, their equivalence, targets, includes, nodedescriptors, JSON round trip,
 * fingerprints and every refused input (with FILE:LINE in the message). */
/* UNIT_LINK: registry */
#include "unit.h"
#include "../../registry/descriptor.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* tests/data/descriptors, found from this file's path (tests are run from the repository root)
 * unless OMERO_SRCDIR says where the sources are. */
static char datadir[1024];

static const char *
data (const char *rel)
{
    static char buf[8][1200];
    static int slot;
    slot = (slot + 1) % 8;
    snprintf (buf[slot], sizeof buf[slot], "%s/%s", datadir, rel);
    return buf[slot];
}

/* A configuration for the tests: a few keys, everything else unset. */
typedef struct {
    const char *keys[8];
    const char *values[8];
} cfg_t;

static const char *
cfg_get (void *arg, const char *key)
{
    cfg_t *c = arg;
    for (int i = 0; c && i < 8 && c->keys[i]; i++)
        if (strcmp (c->keys[i], key) == 0)
            return c->values[i];
    return NULL;
}

static cfg_t site_cfg = { { "omero.data.dir" }, { "/OMERO" } };

/* A private directory for descriptors written by the tests. */
static char tmpdir[256];

static const char *
write_file (const char *name, const char *text)
{
    static char path[8][600];
    static int slot;
    slot = (slot + 1) % 8;
    snprintf (path[slot], sizeof path[slot], "%s/%s", tmpdir, name);
    FILE *f = fopen (path[slot], "w");
    if (!f)
        return path[slot];
    fputs (text, f);
    fclose (f);
    return path[slot];
}

static char *
read_all (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    char *buf = malloc ((size_t) n + 1);
    size_t got = fread (buf, 1, (size_t) n, f);
    buf[got] = '\0';
    fclose (f);
    return buf;
}

static int
has_warning (const reg_deployment_t *d, const char *needle)
{
    for (int i = 0; i < reg_deployment_warning_count (d); i++)
        if (strstr (reg_deployment_warning (d, i), needle))
            return 1;
    return 0;
}

/* Load a descriptor that must be refused; check the message starts with FILE:LINE: and holds
 * the expected words. */
static void
expect_error (const char *path, int line, const char *needle, const char *const *targets, int nt)
{
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (path, targets, nt, cfg_get, &site_cfg, &err);
    CHECK (d == NULL);
    reg_deployment_destroy (&d);
    char prefix[700];
    snprintf (prefix, sizeof prefix, "%s:%d: ", path, line);
    if (strncmp (err.msg, prefix, strlen (prefix)) != 0 || !strstr (err.msg, needle)) {
        fprintf (stderr, "  expected \"%s…%s\", got \"%s\"\n", prefix, needle, err.msg);
        CHECK (0);
    }
    CHECK_STR (err.name, OMR_E_VALIDATION);
}

/* ------------------------------------------------------------------ OMERO's XML */

static void
test_omero_default_xml (void)
{
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (data ("omero/default.xml"), NULL, 0, cfg_get, NULL, &err);
    CHECK (d != NULL);
    if (!d) {
        fprintf (stderr, "  %s\n", err.msg);
        return;
    }
    CHECK_STR (reg_deployment_name (d), "OMERO");
    CHECK_INT (reg_deployment_node_count (d), 1);
    CHECK_STR (reg_deployment_node_name (d, 0), "master");
    static const char *ids[] = { "OMERO.Glacier2", "Blitz-0", "Indexer-0", "DropBox", "PixelData-0",
                                 "Processor-0", "Tables-0" };
    static const char *kinds[] = { "router", "blitz", "indexer", "dropbox", "pixeldata", "processor", "tables" };
    CHECK_INT (reg_deployment_server_count (d), 7);
    for (int i = 0; i < 7 && i < reg_deployment_server_count (d); i++) {
        const reg_server_t *s = reg_deployment_server (d, i);
        CHECK_STR (s->id, ids[i]);
        CHECK_STR (s->kind, kinds[i]);
        CHECK_STR (s->node, "master");
        char exe[64];
        snprintf (exe, sizeof exe, "omero-%s", kinds[i]);
        CHECK_STR (s->exe, exe);
        CHECK_INT (s->nargv, 0);            /* Java/Python command lines are not ours */
        CHECK_INT (s->nenv, 0);
        CHECK_INT (s->activation, REG_ACTIVATION_ALWAYS);
        CHECK (strstr (s->file, "omero/default.xml") != NULL);
        CHECK (reg_server_property (s, "REPLACEMENT:blitz") == NULL);
        CHECK_STR (reg_server_property (s, "omero.example"), "my_value");
        CHECK_INT ((int) strlen (reg_server_fingerprint (s)), 64);
    }
    const reg_server_t *router = reg_deployment_find_server (d, "OMERO.Glacier2");
    const reg_server_t *blitz = reg_deployment_find_server (d, "Blitz-0");
    const reg_server_t *dropbox = reg_deployment_find_server (d, "DropBox");
    const reg_server_t *proc = reg_deployment_find_server (d, "Processor-0");
    const reg_server_t *tables = reg_deployment_find_server (d, "Tables-0");
    CHECK (router && blitz && dropbox && proc && tables);
    if (router && blitz && dropbox && proc && tables) {
        CHECK_STR (router->template_id, "Glacier2Template");
        CHECK_INT (router->line, 39);   /* where the multi-line start tag begins */
        CHECK_STR (reg_server_property (router, "Glacier2.Client.Endpoints"), "ssl -p 4064:tcp -p 4063");
        CHECK_STR (reg_server_property (router, "Glacier2.Server.Endpoints"), "tcp -h 127.0.0.1");
        CHECK_STR (reg_server_property (router, "Glacier2.InstanceName"), "OMERO.Glacier2");
        CHECK_STR (reg_server_property (router, "Glacier2.SessionTimeout"), "600");
        CHECK (reg_server_property (router, "Glacier2.Client.Trace.Request") == NULL);
        CHECK_STR (blitz->replica_group, "BlitzAdapters");
        CHECK_STR (blitz->adapter, "BlitzAdapter");
        CHECK_STR (blitz->pwd, ".");
        CHECK_STR (reg_server_property (blitz, "omero.router.insecure"),
                   "OMERO.Glacier2/router:tcp -p 4063 -h 127.0.0.1");
        CHECK_STR (reg_server_property (blitz, "Ice.MessageSizeMax"), "250000");
        CHECK_STR (reg_server_property (blitz, "Ice.ThreadPool.Server.SizeMax"), "100");
        CHECK (reg_server_property (blitz, "Ice.IPv6") == NULL);  /* target noipv6 off */
        CHECK_STR (reg_server_property (dropbox, "omero.fs.port"), "4064");
        CHECK_STR (reg_server_property (dropbox, "omero.fs.clientIdString"), "DropBox");
        CHECK_STR (reg_server_property (dropbox, "omero.fs.importUsers"), "default");
        CHECK_STR (reg_server_property (proc, "omero.repo.dir"), "");
        CHECK_STR (reg_server_property (proc, "omero.logging.level"), "20");
        CHECK_STR (reg_server_property (proc, "omero.logging.directory"), "var/log/");
        CHECK_STR (reg_server_property (tables, "omero.repo.wait"), "300");
        CHECK (blitz->replica_group && !proc->replica_group);
    }
    CHECK_INT (reg_deployment_replica_group_count (d), 1);
    const reg_replica_group_t *g = reg_deployment_find_replica_group (d, "BlitzAdapters");
    CHECK (g != NULL);
    if (g) {
        CHECK_INT (g->lb, REG_LB_ADAPTIVE);
        CHECK_INT (g->n_replicas, 2);
        CHECK_INT (g->load_sample, 5);
        CHECK_INT (g->nservers, 1);
        CHECK_STR (g->servers[0], "Blitz-0");
    }
    /* parts with no counterpart are reported, never fatal */
    CHECK (has_warning (d, "StormTemplate"));
    CHECK (has_warning (d, "MonitorServerTemplate"));
    CHECK (has_warning (d, "FileServerTemplate"));
    CHECK (has_warning (d, "TestDropBoxTemplate"));
    CHECK (has_warning (d, "service-template StormTemplate"));
    CHECK (has_warning (d, "Blitz-0: the Java/Python command line, environment and JVM settings of OMERO's "
                           "BlitzTemplate are not used; it runs omero-blitz"));
    CHECK (!has_warning (d, "REPLACEMENT"));
    CHECK (!has_warning (d, "RepositoryTemplate"));   /* only under target repo */
    reg_deployment_destroy (&d);
    CHECK (d == NULL);
}

static void
test_omero_xml_config_and_targets (void)
{
    cfg_t cfg = { { "omero.ports.prefix", "omero.master.host", "omero.tables.module" },
                  { "1", "10.0.0.5", "tablesC" } };
    const char *targets[] = { "debug", "repo", "noipv6", "trace" };
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (data ("omero/default.xml"), targets, 4, cfg_get, &cfg, &err);
    CHECK (d != NULL);
    if (!d) {
        fprintf (stderr, "  %s\n", err.msg);
        return;
    }
    CHECK_INT (reg_deployment_node_count (d), 2);
    CHECK_STR (reg_deployment_node_name (d, 1), "repo");
    CHECK (reg_deployment_find_server (d, "Repository-1") == NULL);
    CHECK (has_warning (d, "RepositoryTemplate not deployed"));
    const reg_server_t *router = reg_deployment_find_server (d, "OMERO.Glacier2");
    const reg_server_t *blitz = reg_deployment_find_server (d, "Blitz-0");
    const reg_server_t *proc = reg_deployment_find_server (d, "Processor-0");
    const reg_server_t *dropbox = reg_deployment_find_server (d, "DropBox");
    CHECK (router && blitz && proc && dropbox);
    if (router && blitz && proc && dropbox) {
        CHECK_STR (reg_server_property (router, "Glacier2.Client.Endpoints"), "ssl -p 14064:tcp -p 14063");
        CHECK_STR (reg_server_property (router, "Glacier2.Server.Endpoints"), "tcp -h 10.0.0.5");
        CHECK_STR (reg_server_property (router, "Glacier2.Client.Trace.Request"), "1");
        CHECK_STR (reg_server_property (blitz, "omero.router.insecure"),
                   "OMERO.Glacier2/router:tcp -p 14063 -h 10.0.0.5");
        CHECK_STR (reg_server_property (blitz, "Ice.IPv6"), "0");
        CHECK_STR (reg_server_property (proc, "omero.logging.level"), "10");
        CHECK_STR (reg_server_property (dropbox, "omero.fs.port"), "14064");
    }
    reg_deployment_destroy (&d);
}

/* A config.xml written by `omero config` (profiles, no templates) is read, and templates.xml
 * beside it completes it. */
static void
test_omero_config_xml_present (void)
{
    char *def = read_all (data ("omero/default.xml")), *tmpl = read_all (data ("omero/templates.xml"));
    CHECK (def && tmpl);
    if (!def || !tmpl) {
        free (def);
        free (tmpl);
        return;
    }
    const char *path = write_file ("default.xml", def);
    write_file ("templates.xml", tmpl);
    write_file ("config.xml",
                "<icegrid>\n"
                "  <properties id=\"__ACTIVE__\">\n"
                "    <property name=\"omero.config.profile\" value=\"default\"/>\n"
                "    <property name=\"omero.db.name\" value=\"omero_site\"/>\n"
                "  </properties>\n"
                "</icegrid>\n");
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (path, NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    if (d) {
        const reg_server_t *blitz = reg_deployment_find_server (d, "Blitz-0");
        CHECK (blitz != NULL);
        if (blitz)
            CHECK_STR (reg_server_property (blitz, "omero.db.name"), "omero_site");
        CHECK_INT (reg_deployment_server_count (d), 7);
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    reg_deployment_destroy (&d);
    /* neither config.xml nor templates.xml: refused at the include line */
    unlink (write_file ("config.xml", ""));
    unlink (write_file ("templates.xml", ""));
    expect_error (path, 33, "cannot open included file", NULL, 0);
    unlink (path);
    free (def);
    free (tmpl);
}

static void
test_nodedescriptors (void)
{
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (data ("omero/default.xml"), NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    if (!d)
        return;
    CHECK_INT (reg_deployment_apply_nodedescriptors (d, "", &err), 0);
    CHECK_INT (reg_deployment_server_count (d), 7);
    CHECK_INT (reg_deployment_apply_nodedescriptors (d, "master:Blitz-0,Tables-0 worker1:Processor-0,Processor-1",
                                                     &err), 0);
    CHECK_INT (reg_deployment_server_count (d), 5);
    CHECK_INT (reg_deployment_node_count (d), 2);
    CHECK_STR (reg_deployment_node_name (d, 1), "worker1");
    static const char *ids[] = { "OMERO.Glacier2", "Blitz-0", "Tables-0", "Processor-0", "Processor-1" };
    static const char *nodes[] = { "master", "master", "master", "worker1", "worker1" };
    for (int i = 0; i < 5 && i < reg_deployment_server_count (d); i++) {
        CHECK_STR (reg_deployment_server (d, i)->id, ids[i]);
        CHECK_STR (reg_deployment_server (d, i)->node, nodes[i]);
    }
    const reg_server_t *p1 = reg_deployment_find_server (d, "Processor-1");
    CHECK (p1 != NULL);
    if (p1) {
        CHECK_STR (p1->kind, "processor");
        CHECK_STR (p1->exe, "omero-processor");
        CHECK_STR (reg_server_property (p1, "omero.repo.dir"), "");
        CHECK_STR (p1->file, "omero.server.nodedescriptors");
    }
    int n = 0;
    const reg_server_t **w = reg_deployment_node_servers (d, "worker1", &n);
    CHECK_INT (n, 2);
    CHECK (w[2] == NULL);
    free (w);
    const reg_replica_group_t *g = reg_deployment_find_replica_group (d, "BlitzAdapters");
    CHECK (g && g->nservers == 1);

    /* refused specs change nothing */
    CHECK_INT (reg_deployment_apply_nodedescriptors (d, "master:Nope-0", &err), -1);
    CHECK (strstr (err.msg, "unknown server template \"NopeTemplate\"") != NULL);
    CHECK_INT (reg_deployment_apply_nodedescriptors (d, "master", &err), -1);
    CHECK (strstr (err.msg, "NODE:Server-N") != NULL);
    CHECK_INT (reg_deployment_apply_nodedescriptors (d, "a:Blitz-1 b:Blitz-1", &err), -1);
    CHECK (strstr (err.msg, "duplicate server id \"Blitz-1\"") != NULL);
    CHECK_INT (reg_deployment_apply_nodedescriptors (d, "master:Blitz-0 w:Processor-0", &err), -1);
    CHECK (strstr (err.msg, "duplicate server id \"Processor-0\"") != NULL);
    CHECK_INT (reg_deployment_server_count (d), 5);
    CHECK_INT (reg_deployment_node_count (d), 2);

    /* OMERO's full default list: parts without counterpart are warnings */
    CHECK_INT (reg_deployment_apply_nodedescriptors (
                   d, "master:Blitz-0,Blitz-1,Indexer-0,DropBox,MonitorServer,FileServer,Storm,PixelData-0,Tables-0,"
                      "TestDropBox slave:Processor-2", &err), 0);
    CHECK_INT (reg_deployment_server_count (d), 10);
    CHECK (has_warning (d, "omero.server.nodedescriptors: StormTemplate not deployed"));
    g = reg_deployment_find_replica_group (d, "BlitzAdapters");
    CHECK (g && g->nservers == 2);
    /* worker1 is not listed any more, so its servers stay (only master is rewritten) */
    CHECK (reg_deployment_find_server (d, "Processor-1") != NULL);
    CHECK_STR (reg_deployment_find_server (d, "Processor-0")->node, "worker1");
    CHECK_STR (reg_deployment_find_server (d, "Processor-2")->node, "slave");
    CHECK_STR (reg_deployment_server (d, 9)->id, "Processor-2");
    reg_deployment_destroy (&d);
}

/* ------------------------------------------------------------------ native YAML */

static void
test_native_yaml (void)
{
    omr_err_t err = { 0 };
    const char *path = data ("native/site.yaml");
    reg_deployment_t *d = reg_deployment_load (path, NULL, 0, cfg_get, &site_cfg, &err);
    CHECK (d != NULL);
    if (!d) {
        fprintf (stderr, "  %s\n", err.msg);
        return;
    }
    CHECK_STR (reg_deployment_name (d), "Site");
    CHECK_INT (reg_deployment_node_count (d), 2);   /* node3 only with target extra */
    CHECK_INT (reg_deployment_server_count (d), 3);
    CHECK_INT (reg_deployment_warning_count (d), 0);
    const reg_server_t *w0 = reg_deployment_find_server (d, "Worker-0");
    const reg_server_t *w1 = reg_deployment_find_server (d, "Worker-1");
    const reg_server_t *m = reg_deployment_find_server (d, "mailer");
    CHECK (w0 && w1 && m);
    if (!w0 || !w1 || !m) {
        reg_deployment_destroy (&d);
        return;
    }
    CHECK_STR (w0->kind, "exec");
    CHECK_STR (w0->exe, "python3");
    CHECK_STR (w1->exe, "/opt/python3");        /* node variable wins over the application's */
    CHECK_INT (w0->nargv, 4);
    CHECK_STR (w0->argv[0], "-m");
    CHECK_STR (w0->argv[3], "var/log/${omero.name}.log");   /* $${x} stays literal */
    CHECK (w0->argv[4] == NULL);
    CHECK_INT (w0->nenv, 1);
    CHECK_STR (w0->env[0], "WORKER_DIR=/data/a");
    CHECK_STR (w1->env[0], "WORKER_DIR=");
    CHECK_STR (w0->pwd, "/OMERO/site");         /* ${omero.data.dir} from configuration */
    CHECK_STR (w0->adapter, "WorkerAdapter");
    CHECK_STR (w0->replica_group, "Workers");
    CHECK_STR (w0->template_id, "WorkerTemplate");
    CHECK_INT (w0->line, 42);
    CHECK (strstr (w0->file, "native/site.yaml") != NULL);
    /* property order: Basics (via Worker), Worker, then the server's own */
    CHECK_INT (w0->nprops, 6);
    if (w0->nprops == 6) {
        CHECK_STR (w0->props[0].key, "Ice.MessageSizeMax");
        CHECK_STR (w0->props[1].key, "omero.logging.level");
        CHECK_STR (w0->props[1].value, "20");
        CHECK_STR (w0->props[2].key, "omero.worker");
        CHECK_STR (w0->props[3].key, "omero.repo.dir");
        CHECK_STR (w0->props[3].value, "/data/a");
        CHECK_STR (w0->props[4].value, "master");
        CHECK_STR (w0->props[5].value, "Worker-0");
    }
    CHECK_STR (reg_server_property (w1, "omero.extra"), "1");
    CHECK_STR (reg_server_property (w1, "omero.node"), "node2");
    CHECK_STR (m->kind, "exec");
    CHECK_STR (m->exe, "/usr/local/bin/mail-on-import");
    CHECK_INT (m->activation, REG_ACTIVATION_MANUAL);
    CHECK_STR (m->pwd, "/tmp");
    CHECK_STR (m->argv[1], "admin@example.org");
    CHECK_STR (m->env[0], "PATH=/usr/bin");
    CHECK (m->replica_group == NULL && m->template_id == NULL);
    CHECK_STR (reg_server_property (m, "omero.mail.host"), "localhost");
    const reg_replica_group_t *g = reg_deployment_find_replica_group (d, "Workers");
    CHECK (g != NULL);
    if (g) {
        CHECK_INT (g->lb, REG_LB_ROUND_ROBIN);
        CHECK_INT (g->n_replicas, 2);
        CHECK_INT (g->nservers, 2);
        CHECK_STR (g->servers[0], "Worker-0");
        CHECK_STR (g->servers[1], "Worker-1");
    }
    reg_deployment_destroy (&d);
}

static void
test_targets (void)
{
    const char *targets[] = { "debug", "extra" };
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (data ("native/site.yaml"), targets, 2, cfg_get, &site_cfg, &err);
    CHECK (d != NULL);
    if (!d)
        return;
    CHECK_INT (reg_deployment_node_count (d), 3);
    CHECK_STR (reg_deployment_node_name (d, 2), "node3");
    const reg_server_t *w0 = reg_deployment_find_server (d, "Worker-0");
    const reg_server_t *w2 = reg_deployment_find_server (d, "Worker-2");
    CHECK (w0 && w2);
    if (w0 && w2) {
        CHECK_INT (w0->nargv, 5);
        CHECK_STR (w0->argv[4], "--verbose");
        CHECK_STR (reg_server_property (w0, "omero.logging.level"), "10");
        CHECK_STR (w2->node, "node3");
    }
    const reg_replica_group_t *g = reg_deployment_find_replica_group (d, "Workers");
    CHECK (g && g->nservers == 3);
    reg_deployment_destroy (&d);
}

/* Targets inside node, server, server-instance and property sets, in both forms. */
static void
test_targets_everywhere (void)
{
    const char *xml =
        "<icegrid>\n"
        "<application name=\"T\">\n"
        "  <properties id=\"P\">\n"
        "    <property name=\"p\" value=\"base\"/>\n"
        "    <target name=\"t1\"><property name=\"p\" value=\"t1\"/></target>\n"
        "  </properties>\n"
        "  <server-template id=\"T\">\n"
        "    <parameter name=\"index\"/>\n"
        "    <server id=\"t-${index}\" exe=\"/bin/t\">\n"
        "      <option>-a</option>\n"
        "      <target name=\"t2\"><option>-b</option><env>B=1</env></target>\n"
        "      <properties refid=\"P\"/>\n"
        "    </server>\n"
        "  </server-template>\n"
        "  <node name=\"n\">\n"
        "    <server-instance template=\"T\" index=\"0\">\n"
        "      <target name=\"t3\"><properties><property name=\"q\" value=\"inst\"/></properties></target>\n"
        "    </server-instance>\n"
        "    <target name=\"t4\">\n"
        "      <server-instance template=\"T\" index=\"1\"/>\n"
        "      <variable name=\"V\" value=\"v\"/>\n"
        "    </target>\n"
        "  </node>\n"
        "</application>\n"
        "</icegrid>\n";
    const char *yaml =
        "application: T\n"
        "properties:\n"
        "  P:\n"
        "    p: base\n"
        "    targets: {t1: {p: t1}}\n"
        "templates:\n"
        "  T:\n"
        "    parameters: [index]\n"
        "    server:\n"
        "      id: t-${index}\n"
        "      exe: /bin/t\n"
        "      options: [-a]\n"
        "      targets: {t2: {options: [-b], env: [B=1]}}\n"
        "      properties: {refid: P}\n"
        "nodes:\n"
        "  n:\n"
        "    servers:\n"
        "      - template: T\n"
        "        index: 0\n"
        "        targets: {t3: {properties: {q: inst}}}\n"
        "    targets:\n"
        "      t4:\n"
        "        servers: [{template: T, index: 1}]\n"
        "        variables: {V: v}\n";
    const char *xp = write_file ("tt.xml", xml), *yp = write_file ("tt.yaml", yaml);
    const char *all[] = { "t1", "t2", "t3", "t4" };
    for (int k = 0; k < 2; k++) {
        const char *path = k ? yp : xp;
        omr_err_t err = { 0 };
        reg_deployment_t *off = reg_deployment_load (path, NULL, 0, NULL, NULL, &err);
        reg_deployment_t *on = reg_deployment_load (path, all, 4, NULL, NULL, &err);
        CHECK (off && on);
        if (off && on) {
            const reg_server_t *a = reg_deployment_find_server (off, "t-0");
            const reg_server_t *b = reg_deployment_find_server (on, "t-0");
            CHECK_INT (reg_deployment_server_count (off), 1);
            CHECK_INT (reg_deployment_server_count (on), 2);
            CHECK (a && a->nargv == 1 && a->nenv == 0);
            CHECK (b && b->nargv == 2 && b->nenv == 1);
            CHECK_STR (reg_server_property (a, "p"), "base");
            CHECK_STR (reg_server_property (b, "p"), "t1");
            CHECK (reg_server_property (a, "q") == NULL);
            CHECK_STR (reg_server_property (b, "q"), "inst");
            CHECK (strcmp (reg_server_fingerprint (a), reg_server_fingerprint (b)) != 0);
        }
        else
            fprintf (stderr, "  %s\n", err.msg);
        reg_deployment_destroy (&off);
        reg_deployment_destroy (&on);
    }
}

/* OMERO's transports setting and host fallbacks for the rewrite placeholders. */
static void
test_placeholders (void)
{
    cfg_t cfg = { { "omero.client.icetransports", "Ice.Default.Host", "omero.ports.wss" },
                  { "ssl,tcp,wss", "192.168.0.1", "4444" } };
    const char *p = write_file ("ph.xml",
                                "<icegrid>\n<application name=\"P\">\n<node name=\"n\">\n"
                                "<server id=\"s\" exe=\"/bin/s\">\n"
                                "<option>@omero.client.endpoints@</option>\n"
                                "<option>@omero.master.host@</option>\n"
                                "<option>@omero.host@</option>\n"
                                "<option>@unknown.key@ @ICE_LIB_VERSION@ a@b.c</option>\n"
                                "<option>@omero.ports.registry@</option>\n"
                                "</server>\n</node>\n</application>\n</icegrid>\n");
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (p, NULL, 0, cfg_get, &cfg, &err);
    CHECK (d != NULL);
    if (d) {
        const reg_server_t *s = reg_deployment_find_server (d, "s");
        CHECK_STR (s->argv[0], "ssl -p 4064:tcp -p 4063:wss -p 4444");
        CHECK_STR (s->argv[1], "192.168.0.1");
        CHECK_STR (s->argv[2], "192.168.0.1");
        CHECK_STR (s->argv[3], "@unknown.key@ @ICE_LIB_VERSION@ a@b.c");   /* unknown: left as written */
        CHECK_STR (s->argv[4], "4061");
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    reg_deployment_destroy (&d);
    /* a value with XML specials stays intact */
    cfg_t amp = { { "omero.master.host" }, { "a&b<c>\"d" } };
    d = reg_deployment_load (p, NULL, 0, cfg_get, &amp, &err);
    CHECK (d != NULL);
    if (d)
        CHECK_STR (reg_deployment_find_server (d, "s")->argv[1], "a&b<c>\"d");
    reg_deployment_destroy (&d);
}

/* IceGrid parts with no counterpart are warnings, never fatal. */
static void
test_xml_warnings (void)
{
    const char *p = write_file ("w.xml",
                                "<icegrid>\n<application name=\"W\">\n"
                                "<distrib icepatch=\"x\"/>\n"
                                "<service-template id=\"S\"/>\n"
                                "<node name=\"n\">\n"
                                "<server id=\"s\" exe=\"java\" user=\"omero\">\n"
                                "<option>MEMORY:blitz</option>\n<option>-jar</option>\n"
                                "<dbenv name=\"d\"/>\n<log path=\"x.log\"/>\n<distrib/>\n"
                                "<property name=\"REPLACEMENT:blitz\" value=\"REPLACEME\"/>\n"
                                "<property name=\"kept\" value=\"1\"/>\n"
                                "</server>\n"
                                "<icebox id=\"box\" exe=\"icebox\"/>\n"
                                "</node>\n</application>\n</icegrid>\n");
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (p, NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    if (!d) {
        fprintf (stderr, "  %s\n", err.msg);
        return;
    }
    const reg_server_t *s = reg_deployment_find_server (d, "s");
    CHECK (s && s->nargv == 1 && strcmp (s->argv[0], "-jar") == 0);
    CHECK (s && s->nprops == 1 && reg_server_property (s, "kept"));
    CHECK (reg_deployment_find_server (d, "box") == NULL);
    CHECK (has_warning (d, "w.xml:3: <distrib>"));
    CHECK (has_warning (d, "w.xml:4: service-template S ignored"));
    CHECK (has_warning (d, "w.xml:6: server attribute user=\"omero\" ignored"));
    CHECK (has_warning (d, "w.xml:9: <dbenv> is not supported"));
    CHECK (has_warning (d, "w.xml:10: <log> is not supported"));
    CHECK (has_warning (d, "w.xml:11: <distrib> is not supported"));
    CHECK (has_warning (d, "s: JVM memory option MEMORY:blitz ignored"));
    CHECK (has_warning (d, "s: JVM memory setting REPLACEMENT:blitz ignored"));
    CHECK (has_warning (d, "server box not deployed: IceBox"));
    reg_deployment_destroy (&d);
}

/* The YAML and XML forms of the same site give the same servers (same fingerprints). */
static void
test_yaml_xml_equivalent (void)
{
    const char *targets[] = { "debug", "extra" };
    for (int with = 0; with < 2; with++) {
        omr_err_t err = { 0 };
        reg_deployment_t *y = reg_deployment_load (data ("native/site.yaml"), targets, with ? 2 : 0, cfg_get,
                                                   &site_cfg, &err);
        reg_deployment_t *x = reg_deployment_load (data ("native/site.xml"), targets, with ? 2 : 0, cfg_get,
                                                   &site_cfg, &err);
        CHECK (y && x);
        if (!y || !x) {
            fprintf (stderr, "  %s\n", err.msg);
            reg_deployment_destroy (&y);
            reg_deployment_destroy (&x);
            return;
        }
        CHECK_INT (reg_deployment_server_count (x), reg_deployment_server_count (y));
        CHECK_INT (reg_deployment_node_count (x), reg_deployment_node_count (y));
        for (int i = 0; i < reg_deployment_server_count (y) && i < reg_deployment_server_count (x); i++) {
            const reg_server_t *a = reg_deployment_server (y, i), *b = reg_deployment_server (x, i);
            CHECK_STR (a->id, b->id);
            CHECK_STR (reg_server_fingerprint (a), reg_server_fingerprint (b));
            CHECK ((!a->adapter && !b->adapter) || (a->adapter && b->adapter && !strcmp (a->adapter, b->adapter)));
        }
        CHECK_INT (reg_deployment_warning_count (x), 0);
        const reg_replica_group_t *gy = reg_deployment_replica_group (y, 0), *gx = reg_deployment_replica_group (x, 0);
        CHECK (gy && gx && gy->lb == gx->lb && gy->n_replicas == gx->n_replicas && gy->nservers == gx->nservers);
        reg_deployment_destroy (&y);
        reg_deployment_destroy (&x);
    }
}

/* ------------------------------------------------------------------ JSON, fingerprints, describe */

static void
test_json_round_trip (void)
{
    const char *targets[] = { "debug" };
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (data ("omero/default.xml"), targets, 1, NULL, NULL, &err);
    reg_deployment_t *n = reg_deployment_load (data ("native/site.yaml"), NULL, 0, cfg_get, &site_cfg, &err);
    CHECK (d && n);
    for (int k = 0; k < 2; k++) {
        reg_deployment_t *src = k ? n : d;
        if (!src)
            continue;
        json_t *j = reg_deployment_to_json (src);
        char *text = json_dumps (j, JSON_COMPACT);
        json_t *back = json_loads (text, 0, NULL);
        reg_deployment_t *r = reg_deployment_from_json (back, &err);
        CHECK (r != NULL);
        if (r) {
            json_t *j2 = reg_deployment_to_json (r);
            CHECK (json_equal (j, j2));
            json_decref (j2);
            CHECK_INT (reg_deployment_server_count (r), reg_deployment_server_count (src));
            for (int i = 0; i < reg_deployment_server_count (r); i++)
                CHECK_STR (reg_server_fingerprint (reg_deployment_server (r, i)),
                           reg_server_fingerprint (reg_deployment_server (src, i)));
            CHECK_INT (reg_deployment_warning_count (r), reg_deployment_warning_count (src));
            CHECK_INT (reg_deployment_apply_nodedescriptors (r, "master:Blitz-0", &err), -1);
        }
        else
            fprintf (stderr, "  %s\n", err.msg);
        reg_deployment_destroy (&r);
        json_decref (back);
        free (text);
        json_decref (j);
    }
    if (n) {
        json_t *s = reg_server_to_json (reg_deployment_find_server (n, "mailer"));
        CHECK_STR (json_string_value (json_object_get (s, "activation")), "manual");
        CHECK_STR (json_string_value (json_object_get (json_object_get (s, "properties"), "omero.mail.host")),
                   "localhost");
        CHECK (json_is_null (json_object_get (s, "replica_group")));
        json_decref (s);
    }
    reg_deployment_destroy (&d);
    reg_deployment_destroy (&n);
}

typedef struct {
    char log[1024];
} diff_log_t;

static void
on_change (void *arg, reg_change_t change, const reg_server_t *o, const reg_server_t *n)
{
    diff_log_t *l = arg;
    size_t used = strlen (l->log);
    snprintf (l->log + used, sizeof l->log - used, "%s%s ",
              change == REG_CHANGE_ADDED ? "+" : change == REG_CHANGE_REMOVED ? "-" : "~", n ? n->id : o->id);
}

/* What `omero admin deploy` restarts: added, removed and changed servers only. */
static void
test_diff_and_node_json (void)
{
    omr_err_t err = { 0 };
    reg_deployment_t *a = reg_deployment_load (data ("native/site.yaml"), NULL, 0, cfg_get, &site_cfg, &err);
    const char *targets[] = { "extra", "debug" };
    reg_deployment_t *b = reg_deployment_load (data ("native/site.yaml"), targets, 2, cfg_get, &site_cfg, &err);
    reg_deployment_t *c = reg_deployment_load (data ("native/site.xml"), NULL, 0, cfg_get, &site_cfg, &err);
    CHECK (a && b && c);
    if (a && b && c) {
        diff_log_t l = { "" };
        CHECK_INT (reg_deployment_diff (a, b, on_change, &l), 3);
        CHECK_STR (l.log, "~Worker-0 ~Worker-1 +Worker-2 ");
        l.log[0] = '\0';
        CHECK_INT (reg_deployment_diff (b, a, on_change, &l), 3);
        CHECK_STR (l.log, "-Worker-2 ~Worker-0 ~Worker-1 ");
        CHECK_INT (reg_deployment_diff (a, c, NULL, NULL), 0);   /* same site in XML: nothing to restart */
        CHECK_INT (reg_deployment_diff (NULL, a, NULL, NULL), 3);

        json_t *j = reg_deployment_node_to_json (b, "node2");
        CHECK (j != NULL);
        reg_deployment_t *n2 = reg_deployment_from_json (j, &err);
        CHECK (n2 != NULL);
        if (n2) {
            CHECK_INT (reg_deployment_node_count (n2), 1);
            CHECK_INT (reg_deployment_server_count (n2), 1);
            CHECK_STR (reg_deployment_server (n2, 0)->id, "Worker-1");
            CHECK_STR (reg_server_fingerprint (reg_deployment_server (n2, 0)),
                       reg_server_fingerprint (reg_deployment_find_server (b, "Worker-1")));
            const reg_replica_group_t *g = reg_deployment_find_replica_group (n2, "Workers");
            CHECK (g && g->nservers == 1);
        }
        reg_deployment_destroy (&n2);
        json_decref (j);
        CHECK (reg_deployment_node_to_json (b, "nowhere") == NULL);
    }
    reg_deployment_destroy (&a);
    reg_deployment_destroy (&b);
    reg_deployment_destroy (&c);
}

static void
json_error (const char *text, const char *needle)
{
    omr_err_t err = { 0 };
    json_t *j = json_loads (text, 0, NULL);
    CHECK (j != NULL);
    reg_deployment_t *d = reg_deployment_from_json (j, &err);
    CHECK (d == NULL);
    reg_deployment_destroy (&d);
    if (!strstr (err.msg, needle)) {
        fprintf (stderr, "  expected \"%s\" in \"%s\"\n", needle, err.msg);
        CHECK (0);
    }
    json_decref (j);
}

static void
test_json_refused (void)
{
    json_error ("[]", "not an object");
    json_error ("{\"application\":\"A\",\"nodes\":[\"master\"],\"servers\":[{\"id\":\"x\",\"kind\":\"exec\","
                "\"node\":\"elsewhere\",\"exe\":\"/bin/true\"}]}", "unknown node \"elsewhere\"");
    json_error ("{\"application\":\"A\",\"nodes\":[\"master\"],\"servers\":[{\"kind\":\"exec\","
                "\"node\":\"master\",\"exe\":\"/bin/true\"}]}", "servers[0]: missing \"id\"");
    json_error ("{\"application\":\"A\",\"nodes\":[\"master\"],\"servers\":[{\"id\":\"x\",\"kind\":\"exec\","
                "\"node\":\"master\",\"exe\":\"/bin/true\",\"activation\":\"on-demand\"}]}", "bad activation");
    json_error ("{\"application\":\"A\",\"nodes\":[\"master\"],\"servers\":[{\"id\":\"x\",\"kind\":\"exec\","
                "\"node\":\"master\",\"exe\":\"/bin/true\",\"replica_group\":\"G\"}]}", "unknown replica group");
    json_error ("{\"application\":\"A\",\"nodes\":[\"master\"],\"servers\":[{\"id\":\"x\",\"kind\":\"exec\","
                "\"node\":\"master\",\"exe\":\"/bin/true\"},{\"id\":\"x\",\"kind\":\"exec\",\"node\":\"master\","
                "\"exe\":\"/bin/true\"}]}", "duplicate server id");
    json_error ("{\"application\":\"A\",\"nodes\":[],\"servers\":[],\"replica_groups\":[{\"id\":\"G\","
                "\"load_balancing\":{\"type\":\"fastest\",\"n_replicas\":1,\"load_sample\":1}}]}",
                "bad load-balancing type");
    json_error ("{\"application\":\"A\",\"nodes\":[\"master\"],\"servers\":[{\"id\":\"x\",\"kind\":\"java\","
                "\"node\":\"master\",\"exe\":\"/bin/true\"}]}", "unknown kind");
}

static const char base_yaml[] =
    "# fingerprint test\n"
    "application: FP\n"
    "nodes:\n"
    "  master:\n"
    "    - id: a\n"
    "      exe: /bin/a\n"
    "      properties: {x: \"%s\"}\n"
    "    - id: b\n"
    "      exe: /bin/b\n"
    "      options: [-v]\n";

static void
test_fingerprint (void)
{
    omr_err_t err = { 0 };
    char text[1024], moved[1100], changed[1024];
    snprintf (text, sizeof text, base_yaml, "1");
    reg_deployment_t *d1 = reg_deployment_load (write_file ("fp1.yaml", text), NULL, 0, NULL, NULL, &err);
    /* the same definitions moved down two lines and into another file: no change */
    snprintf (moved, sizeof moved, "# moved\n# down\n%s", text);
    reg_deployment_t *d2 = reg_deployment_load (write_file ("fp2.yaml", moved), NULL, 0, NULL, NULL, &err);
    /* one property of a changed: only a changes */
    snprintf (changed, sizeof changed, base_yaml, "2");
    reg_deployment_t *d3 = reg_deployment_load (write_file ("fp3.yaml", changed), NULL, 0, NULL, NULL, &err);
    CHECK (d1 && d2 && d3);
    if (d1 && d2 && d3) {
        const reg_server_t *a1 = reg_deployment_find_server (d1, "a"), *b1 = reg_deployment_find_server (d1, "b");
        const reg_server_t *a2 = reg_deployment_find_server (d2, "a"), *b2 = reg_deployment_find_server (d2, "b");
        const reg_server_t *a3 = reg_deployment_find_server (d3, "a"), *b3 = reg_deployment_find_server (d3, "b");
        CHECK_STR (reg_server_property (a3, "x"), "2");
        CHECK (a1->line != a2->line);
        CHECK_STR (reg_server_fingerprint (a1), reg_server_fingerprint (a2));
        CHECK_STR (reg_server_fingerprint (b1), reg_server_fingerprint (b2));
        CHECK (strcmp (reg_server_fingerprint (a1), reg_server_fingerprint (a3)) != 0);
        CHECK_STR (reg_server_fingerprint (b1), reg_server_fingerprint (b3));
        CHECK (strcmp (reg_server_fingerprint (a1), reg_server_fingerprint (b1)) != 0);
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    /* each part of the definition counts: option, env, pwd, activation, node */
    static const char *variants[] = {
        "application: FP\nnodes:\n  master:\n    - {id: a, exe: /bin/a, properties: {x: \"1\"}, options: [-q]}\n",
        "application: FP\nnodes:\n  master:\n    - {id: a, exe: /bin/a, properties: {x: \"1\"}, env: [A=1]}\n",
        "application: FP\nnodes:\n  master:\n    - {id: a, exe: /bin/a, properties: {x: \"1\"}, pwd: /tmp}\n",
        "application: FP\nnodes:\n  master:\n    - {id: a, exe: /bin/a, properties: {x: \"1\"}, activation: manual}\n",
        "application: FP\nnodes:\n  other:\n    - {id: a, exe: /bin/a, properties: {x: \"1\"}}\n",
        "application: FP\nnodes:\n  master:\n    - {id: a, exe: /bin/a2, properties: {x: \"1\"}}\n",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        reg_deployment_t *v = reg_deployment_load (write_file ("fpv.yaml", variants[i]), NULL, 0, NULL, NULL, &err);
        CHECK (v != NULL);
        if (v && d1)
            CHECK (strcmp (reg_server_fingerprint (reg_deployment_find_server (v, "a")),
                           reg_server_fingerprint (reg_deployment_find_server (d1, "a"))) != 0);
        reg_deployment_destroy (&v);
    }
    /* flow style, same definition as base: same fingerprint */
    reg_deployment_t *same = reg_deployment_load (
        write_file ("fps.yaml", "application: FP\nnodes:\n  master:\n    - {id: a, exe: /bin/a, properties: {x: \"1\"}}\n"),
        NULL, 0, NULL, NULL, &err);
    CHECK (same != NULL);
    if (same && d1)
        CHECK_STR (reg_server_fingerprint (reg_deployment_find_server (same, "a")),
                   reg_server_fingerprint (reg_deployment_find_server (d1, "a")));
    reg_deployment_destroy (&same);
    reg_deployment_destroy (&d1);
    reg_deployment_destroy (&d2);
    reg_deployment_destroy (&d3);
}

static void
test_describe (void)
{
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (data ("omero/default.xml"), NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    char *text = reg_deployment_describe (d);
    CHECK (text && strstr (text, "application OMERO\n"));
    CHECK (text && strstr (text, "  node master\n    server OMERO.Glacier2\n      kind = router\n"));
    CHECK (text && strstr (text, "      exe = omero-blitz\n"));
    CHECK (text && strstr (text, "  replica-group BlitzAdapters\n    load-balancing adaptive, n-replicas 2, "
                                 "load-sample 5\n    servers Blitz-0\n"));
    CHECK (text && strstr (text, "        omero.fs.port = 4064\n"));
    CHECK (text && strstr (text, "  warnings\n"));
    free (text);
    reg_deployment_destroy (&d);
}

/* ------------------------------------------------------------------ variables and includes */

static void
test_variables (void)
{
    omr_err_t err = { 0 };
    const char *path = write_file (
        "vars.yaml",
        "application: V\n"
        "variables:\n"
        "  A: a\n"
        "  B: ${A}-b\n"
        "  C: $${B} ${B} $$x $ end\n"
        "  D: ${application}/${undefined.in.descriptor}\n"
        "nodes:\n"
        "  n1:\n"
        "    variables: {A: node-a, N: \"${node}\"}\n"
        "    servers:\n"
        "      - {id: s, exe: /bin/s, options: [\"${C}\", \"${D}\", \"${N}\", \"${server}\", \"${B}\"]}\n");
    cfg_t cfg = { { "undefined.in.descriptor" }, { "from-config" } };
    reg_deployment_t *d = reg_deployment_load (path, NULL, 0, cfg_get, &cfg, &err);
    CHECK (d != NULL);
    if (d) {
        const reg_server_t *s = reg_deployment_find_server (d, "s");
        CHECK_STR (s->argv[0], "${B} a-b $$x $ end");
        CHECK_STR (s->argv[1], "V/from-config");
        CHECK_STR (s->argv[2], "n1");
        CHECK_STR (s->argv[3], "s");
        CHECK_STR (s->argv[4], "a-b");  /* application variables resolve in their own scope */
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    reg_deployment_destroy (&d);
}

/* In YAML, OMERO's template names only supply a default kind; the descriptor may say otherwise. */
static void
test_yaml_omero_template_names (void)
{
    const char *p = write_file ("names.yaml",
                                "application: N\n"
                                "templates:\n"
                                "  BlitzTemplate:\n"
                                "    parameters: [index]\n"
                                "    server: {id: \"Blitz-${index}\"}\n"
                                "  RepositoryTemplate:\n"
                                "    parameters: [index]\n"
                                "    server: {id: \"Repository-${index}\", exe: /opt/repo/bin/repo}\n"
                                "  TablesTemplate:\n"
                                "    parameters: [index]\n"
                                "    server: {id: \"Tables-${index}\", kind: exec, exe: /opt/tables}\n"
                                "nodes:\n"
                                "  master:\n"
                                "    - {template: BlitzTemplate, index: 0}\n"
                                "    - {template: RepositoryTemplate, index: 1}\n"
                                "    - {template: TablesTemplate, index: 2}\n");
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (p, NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    if (d) {
        const reg_server_t *b = reg_deployment_find_server (d, "Blitz-0");
        const reg_server_t *r = reg_deployment_find_server (d, "Repository-1");
        const reg_server_t *t = reg_deployment_find_server (d, "Tables-2");
        CHECK (b && r && t);
        if (b && r && t) {
            CHECK_STR (b->kind, "blitz");
            CHECK_STR (b->exe, "omero-blitz");
            CHECK_STR (r->kind, "exec");
            CHECK_STR (r->exe, "/opt/repo/bin/repo");
            CHECK_STR (t->kind, "exec");
            CHECK_STR (t->exe, "/opt/tables");
        }
        CHECK_INT (reg_deployment_warning_count (d), 0);
        /* nodedescriptors work on YAML templates too */
        CHECK_INT (reg_deployment_apply_nodedescriptors (d, "master:Blitz-3 w:Tables-4", &err), 0);
        CHECK (reg_deployment_find_server (d, "Blitz-3") && reg_deployment_find_server (d, "Tables-4"));
        CHECK (!reg_deployment_find_server (d, "Blitz-0"));
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    reg_deployment_destroy (&d);
}

static void
test_include (void)
{
    omr_err_t err = { 0 };
    char sub[400];
    snprintf (sub, sizeof sub, "%s/sub", tmpdir);
    mkdir (sub, 0755);
    write_file ("sub/inner.yaml", "templates:\n  T:\n    parameters: [index]\n    server: {id: \"t-${index}\", kind: tables}\n"
                                  "include: more.xml\n");
    write_file ("sub/more.xml", "<icegrid><properties id=\"P\"><property name=\"p\" value=\"1\"/></properties></icegrid>\n");
    const char *path = write_file ("inc.yaml", "application: I\ninclude: [sub/inner.yaml]\nnodes:\n  master:\n"
                                               "    - {template: T, index: 3, properties: {refid: P}}\n");
    reg_deployment_t *d = reg_deployment_load (path, NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    if (d) {
        const reg_server_t *s = reg_deployment_find_server (d, "t-3");
        CHECK (s != NULL);
        if (s) {
            CHECK_STR (s->kind, "tables");
            CHECK_STR (s->exe, "omero-tables");
            CHECK_STR (reg_server_property (s, "p"), "1");
        }
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    reg_deployment_destroy (&d);
}

/* ------------------------------------------------------------------ refused input */

static void
test_errors_yaml (void)
{
    const char *p;
    p = write_file ("e1.yaml", "application: E\nnodes:\n  master:\n    - {id: a, exe: /bin/a\n");
    expect_error (p, 5, "malformed YAML", NULL, 0);
    p = write_file ("e2.yaml", "application: E\nnodes:\n  master:\n    - template: Nope\n      index: 1\n");
    expect_error (p, 4, "unknown server template \"Nope\"", NULL, 0);
    p = write_file ("e3.yaml", "application: E\ntemplates:\n  T:\n    parameters: {index: , dir: x}\n"
                               "    server: {id: \"t-${index}\", exe: /bin/t}\nnodes:\n  master:\n    - template: T\n");
    expect_error (p, 8, "template T needs parameter \"index\"", NULL, 0);
    p = write_file ("e4.yaml", "application: E\ntemplates:\n  T:\n    parameters: [index]\n"
                               "    server: {id: \"t-${index}\", exe: /bin/t}\nnodes:\n  master:\n"
                               "    - template: T\n      index: 1\n      colour: red\n");
    expect_error (p, 10, "template T has no parameter \"colour\"", NULL, 0);
    p = write_file ("e5.yaml", "application: E\nnodes:\n  master:\n    - {id: a, exe: /bin/a}\n  other:\n"
                               "    - {id: a, exe: /bin/b}\n");
    expect_error (p, 6, "duplicate server id \"a\" (also at", NULL, 0);
    p = write_file ("e6.yaml", "application: E\nnodes:\n  master:\n    - id: a\n      exe: /bin/a\n"
                               "      properties:\n        refid: Missing\n");
    expect_error (p, 7, "unknown property set refid \"Missing\"", NULL, 0);
    p = write_file ("e7.yaml", "application: E\nproperties:\n  A: {refid: B}\n  B: {refid: A}\nnodes:\n"
                               "  master:\n    - {id: a, exe: /bin/a, properties: {refid: A}}\n");
    expect_error (p, 4, "property set \"A\" refers to itself", NULL, 0);
    p = write_file ("e8.yaml", "application: E\nnodes:\n  master:\n    - id: a\n      exe: /bin/a\n"
                               "      activation: on-demand\n");
    expect_error (p, 4, "bad activation \"on-demand\"", NULL, 0);
    p = write_file ("e9.yaml", "application: E\nreplica-groups:\n  G:\n    load-balancing: fastest\n");
    expect_error (p, 3, "bad load-balancing type \"fastest\"", NULL, 0);
    p = write_file ("e10.yaml", "application: E\nreplica-groups:\n  G:\n    load-balancing: {type: adaptive, "
                                "load-sample: 7}\n");
    expect_error (p, 3, "bad load-sample \"7\"", NULL, 0);
    for (int k = 0; k < 2; k++) {
        omr_err_t e2 = { 0 };
        reg_deployment_t *ok = reg_deployment_load (
            write_file ("lb.yaml", k ? "application: L\nreplica-groups:\n  G: {load-balancing: ordered}\n  H: {}\n"
                                     : "application: L\nreplica-groups:\n  G: {load-balancing: {type: random, n-replicas: 0}}\n"),
            NULL, 0, NULL, NULL, &e2);
        CHECK (ok != NULL);
        if (ok) {
            const reg_replica_group_t *g = reg_deployment_find_replica_group (ok, "G");
            CHECK_INT (g->lb, k ? REG_LB_ORDERED : REG_LB_RANDOM);
            CHECK_INT (g->n_replicas, k ? 1 : 0);
            if (k)
                CHECK_INT (reg_deployment_find_replica_group (ok, "H")->n_replicas, 0);
        }
        reg_deployment_destroy (&ok);
    }
    p = write_file ("e11.yaml", "application: E\nreplica-groups:\n  G: {load-balancing: {type: random, "
                                "n-replicas: many}}\n");
    expect_error (p, 3, "bad n-replicas \"many\"", NULL, 0);
    p = write_file ("e12.yaml", "application: E\nnodes:\n  master:\n    - id: a\n      exe: /bin/a\n"
                                "      replica-group: Nowhere\n");
    expect_error (p, 6, "unknown replica group \"Nowhere\"", NULL, 0);
    p = write_file ("e13.yaml", "application: E\nnodes:\n  master:\n    - id: a\n      exe: ${NOPE}/a\n");
    expect_error (p, 4, "undefined variable ${NOPE}", NULL, 0);
    p = write_file ("e14.yaml", "application: E\nvariables:\n  X: ${Y}\n  Y: ${X}\nnodes:\n  master:\n"
                                "    - {id: a, exe: \"${X}\"}\n");
    expect_error (p, 3, "variable ${X} refers to itself", NULL, 0);
    p = write_file ("e15.yaml", "application: E\nnodez:\n  master: []\n");
    expect_error (p, 2, "unknown key \"nodez\"", NULL, 0);
    p = write_file ("e16.yaml", "application: E\nnodes:\n  master:\n    - {id: a, exe: /bin/a, exe: /bin/b}\n");
    expect_error (p, 4, "duplicate key \"exe\"", NULL, 0);
    p = write_file ("e17.yaml", "application: E\nnodes:\n  master:\n    - {id: a}\n");
    expect_error (p, 4, "server a needs an exe", NULL, 0);
    p = write_file ("e18.yaml", "application: E\nnodes:\n  master:\n    - {id: a, kind: java}\n");
    expect_error (p, 4, "unknown kind \"java\"", NULL, 0);
    p = write_file ("e19.yaml", "nodes:\n  master:\n    - {id: a, exe: /bin/a}\n");
    expect_error (p, 1, "no application", NULL, 0);
    p = write_file ("e20.yaml", "application: E\nnodes:\n  master:\n    - {id: \"a b\", exe: /bin/a}\n");
    expect_error (p, 4, "server id \"a b\" may only use", NULL, 0);
    p = write_file ("e21.yaml", "application: E\nnodes:\n  master:\n    - {id: a, exe: \"${unterminated\"}\n");
    expect_error (p, 4, "unterminated ${", NULL, 0);
    p = write_file ("e22.yaml", "application: E\nnodes:\n  master:\n    - {id: a, exe: /bin/a, env: [NOEQUALS]}\n");
    expect_error (p, 4, "must read NAME=value", NULL, 0);
    p = write_file ("e23.yaml", "- just\n- a list\n");
    expect_error (p, 1, "must be a mapping", NULL, 0);
    p = write_file ("e24.yaml", "");
    expect_error (p, 1, "empty descriptor", NULL, 0);
    /* an alias that contains itself is refused, not followed forever */
    p = write_file ("e26.yaml", "application: E\nproperties:\n  P: &p {refid: X, targets: {t: *p}}\n");
    const char *t[] = { "t" };
    expect_error (p, 3, "nested too deeply", t, 1);
    /* an inactive target may hold anything that parses; an active one is checked */
    p = write_file ("e25.yaml", "application: E\ntargets:\n  bad:\n    nodes:\n      m:\n        - {template: Nope}\n");
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (p, NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL && reg_deployment_server_count (d) == 0);
    reg_deployment_destroy (&d);
    const char *bad[] = { "bad" };
    expect_error (p, 6, "unknown server template \"Nope\"", bad, 1);
}

static void
test_errors_xml (void)
{
    const char *p;
    p = write_file ("x1.xml", "<icegrid>\n  <application name=\"E\">\n    <node name=\"m\">\n  </application>\n</icegrid>\n");
    expect_error (p, 4, "malformed XML", NULL, 0);
    p = write_file ("x2.xml", "<icegrid>\n<application name=\"E\">\n<node name=\"m\">\n"
                              "<server-instance template=\"Nope\"/>\n</node>\n</application>\n</icegrid>\n");
    expect_error (p, 4, "unknown server template \"Nope\"", NULL, 0);
    p = write_file ("x3.xml", "<icegrid>\n<application name=\"E\">\n<server-template id=\"T\">\n"
                              "<parameter name=\"index\"/>\n<server id=\"t-${index}\" exe=\"/bin/t\"/>\n"
                              "</server-template>\n<node name=\"m\">\n<server-instance template=\"T\"/>\n"
                              "</node>\n</application>\n</icegrid>\n");
    expect_error (p, 8, "template T needs parameter \"index\"", NULL, 0);
    p = write_file ("x4.xml", "<icegrid>\n<application name=\"E\">\n<node name=\"m\">\n"
                              "<server id=\"a\" exe=\"/bin/a\" activation=\"session\"/>\n</node>\n</application>\n</icegrid>\n");
    expect_error (p, 4, "bad activation \"session\"", NULL, 0);
    p = write_file ("x5.xml", "<icegrid>\n<application name=\"E\">\n<replica-group id=\"G\">\n"
                              "<load-balancing type=\"weighted\"/>\n</replica-group>\n</application>\n</icegrid>\n");
    expect_error (p, 3, "bad load-balancing type \"weighted\"", NULL, 0);
    p = write_file ("x6.xml", "<icegrid>\n<application name=\"E\">\n<node name=\"m\">\n"
                              "<server id=\"a\" exe=\"/bin/a\">\n<properties>\n<properties refid=\"Q\"/>\n"
                              "</properties>\n</server>\n</node>\n</application>\n</icegrid>\n");
    expect_error (p, 6, "unknown property set refid \"Q\"", NULL, 0);
    p = write_file ("x7.xml", "<icegrid>\n<application name=\"E\">\n<node name=\"m\">\n"
                              "<server id=\"a\" exe=\"/bin/a\"><frobnicate/></server>\n</node>\n</application>\n</icegrid>\n");
    expect_error (p, 4, "unknown element <frobnicate> in <server>", NULL, 0);
    p = write_file ("x8.xml", "<application name=\"E\"/>\n");
    expect_error (p, 1, "root element", NULL, 0);
    p = write_file ("x9.xml", "<icegrid>\n<application name=\"E\">\n<node name=\"m\">\n"
                              "<server id=\"a\" exe=\"/bin/a\"/>\n<server id=\"a\" exe=\"/bin/b\"/>\n"
                              "</node>\n</application>\n</icegrid>\n");
    expect_error (p, 5, "duplicate server id \"a\"", NULL, 0);
    p = write_file ("x10.xml", "<icegrid>\n<application name=\"E\">\n<node name=\"m\">\n"
                               "<server id=\"a\" exe=\"/bin/a\">\n<adapter name=\"A\" replica-group=\"R\"/>\n"
                               "</server>\n</node>\n</application>\n</icegrid>\n");
    expect_error (p, 5, "unknown replica group \"R\"", NULL, 0);
    p = write_file ("x11.xml", "<icegrid>\n<application name=\"E\">\n<server-template id=\"T\">\n"
                               "<parameter name=\"index\"/>\n<server id=\"t-${index}\" exe=\"/bin/t\"/>\n"
                               "</server-template>\n<node name=\"m\">\n"
                               "<server-instance template=\"T\" index=\"1\" colour=\"red\"/>\n"
                               "</node>\n</application>\n</icegrid>\n");
    expect_error (p, 8, "template T has no parameter \"colour\"", NULL, 0);
    p = write_file ("x12.xml", "<icegrid>\n<application name=\"E\">\n<include file=\"absent.xml\"/>\n"
                               "</application>\n</icegrid>\n");
    expect_error (p, 3, "cannot open included file", NULL, 0);
    p = write_file ("x13.xml", "<icegrid>\n<application name=\"E\">\n<replica-group id=\"G\">\n"
                               "<load-balancing type=\"adaptive\" load-sample=\"3\"/>\n</replica-group>\n"
                               "</application>\n</icegrid>\n");
    expect_error (p, 3, "bad load-sample \"3\"", NULL, 0);
    /* an included file may not define the application */
    write_file ("x14inc.xml", "<icegrid>\n<application name=\"Other\"/>\n</icegrid>\n");
    p = write_file ("x14.xml", "<icegrid>\n<application name=\"E\">\n<include file=\"x14inc.xml\"/>\n"
                               "</application>\n</icegrid>\n");
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (p, NULL, 0, NULL, NULL, &err);
    CHECK (d == NULL && strstr (err.msg, "x14inc.xml:2: an included file may not define an <application>"));
    reg_deployment_destroy (&d);
}

static void
test_cyclic_include (void)
{
    write_file ("cyc_b.yaml", "variables: {B: b}\ninclude: cyc_c.xml\n");
    write_file ("cyc_c.xml", "<icegrid>\n  <include file=\"cyc_b.yaml\"/>\n</icegrid>\n");
    const char *p = write_file ("cyc_a.yaml", "application: C\ninclude: cyc_b.yaml\n");
    omr_err_t err = { 0 };
    reg_deployment_t *d = reg_deployment_load (p, NULL, 0, NULL, NULL, &err);
    CHECK (d == NULL);
    CHECK (strstr (err.msg, "cyc_c.xml:2: cyclic include of") != NULL);
    reg_deployment_destroy (&d);
    /* a file including itself */
    p = write_file ("self.xml", "<icegrid>\n<application name=\"S\">\n<include file=\"self.xml\"/>\n"
                                "</application>\n</icegrid>\n");
    expect_error (p, 3, "cyclic include", NULL, 0);
    /* a missing top file is a configuration error, not a crash */
    d = reg_deployment_load ("/nonexistent/descriptor.yaml", NULL, 0, NULL, NULL, &err);
    CHECK (d == NULL && strstr (err.msg, "/nonexistent/descriptor.yaml: cannot open descriptor"));
}

/* ------------------------------------------------------------------ shipped examples */

static void
test_examples (void)
{
    char dir[1200];
    snprintf (dir, sizeof dir, "%s/../../../descriptors/examples", datadir);
    char path[1400];
    omr_err_t err = { 0 };
    snprintf (path, sizeof path, "%s/single-host-nodes.yaml", dir);
    reg_deployment_t *d = reg_deployment_load (path, NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    if (d) {
        const reg_server_t *p1 = reg_deployment_find_server (d, "Processor-1");
        const reg_server_t *p2 = reg_deployment_find_server (d, "Processor-2");
        CHECK (p1 && p2);
        if (p1 && p2) {
            CHECK_STR (p1->node, "node1");
            CHECK_STR (p2->node, "node2");
            CHECK_STR (p1->kind, "processor");
        }
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    reg_deployment_destroy (&d);
    /* the shipped default descriptor, once there is one, must load and run a Blitz */
    snprintf (path, sizeof path, "%s/../default.yaml", dir);
    if (access (path, R_OK) == 0) {
        d = reg_deployment_load (path, NULL, 0, NULL, NULL, &err);
        CHECK (d != NULL);
        if (d)
            CHECK (reg_deployment_find_server (d, "Blitz-0") != NULL);
        else
            fprintf (stderr, "  %s\n", err.msg);
        reg_deployment_destroy (&d);
    }
    snprintf (path, sizeof path, "%s/blitz-replicas.yaml", dir);
    d = reg_deployment_load (path, NULL, 0, NULL, NULL, &err);
    CHECK (d != NULL);
    if (d) {
        const reg_replica_group_t *g = reg_deployment_find_replica_group (d, "BlitzAdapters");
        CHECK (g && g->nservers == 2);
        const reg_server_t *b1 = reg_deployment_find_server (d, "Blitz-1");
        CHECK (b1 && strcmp (b1->node, "backup") == 0 && strcmp (b1->exe, "omero-blitz") == 0);
    }
    else
        fprintf (stderr, "  %s\n", err.msg);
    reg_deployment_destroy (&d);
}

static void
cleanup_tmp (void)
{
    char cmd[400];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", tmpdir);
}

int
main (void)
{
    const char *src = getenv ("OMERO_SRCDIR");
    if (src)
        snprintf (datadir, sizeof datadir, "%s/tests/data/descriptors", src);
    else {
        /* __FILE__ is tests/unit/test_descriptor.c relative to the repository root */
        snprintf (datadir, sizeof datadir, "%s", __FILE__);
        char *cut = strstr (datadir, "unit/test_descriptor.c");
        if (cut)
            strcpy (cut, "data/descriptors");
    }
    snprintf (tmpdir, sizeof tmpdir, "/tmp/test_descriptor.XXXXXX");
    if (!mkdtemp (tmpdir)) {
        perror ("mkdtemp");
        return 1;
    }
    RUN (test_omero_default_xml);
    RUN (test_omero_xml_config_and_targets);
    RUN (test_omero_config_xml_present);
    RUN (test_nodedescriptors);
    RUN (test_native_yaml);
    RUN (test_targets);
    RUN (test_targets_everywhere);
    RUN (test_placeholders);
    RUN (test_xml_warnings);
    RUN (test_yaml_xml_equivalent);
    RUN (test_json_round_trip);
    RUN (test_json_refused);
    RUN (test_diff_and_node_json);
    RUN (test_fingerprint);
    RUN (test_describe);
    RUN (test_variables);
    RUN (test_include);
    RUN (test_yaml_omero_template_names);
    RUN (test_errors_yaml);
    RUN (test_errors_xml);
    RUN (test_cyclic_include);
    RUN (test_examples);
    cleanup_tmp ();
    return UNIT_DONE ();
}
