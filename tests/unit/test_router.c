/* Unit tests of the router's pure parts: replica choice, session cache, URL routing,
 * idempotency rules, cookies, certificate generation and the TLS settings. */
/* UNIT_LINK: router */
#include "unit.h"
#include "../../router/balance.h"
#include "../../router/certs.h"
#include "../../router/dispatch.h"
#include "omr_config.h"
#include "omr_log.h"
#include "omr_util.h"
#include "../../router/session_cache.h"
#include "../../router/tls.h"
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void
test_policy_parse (void)
{
    CHECK_INT (rtr_policy_parse ("round-robin"), RTR_POLICY_ROUND_ROBIN);
    CHECK_INT (rtr_policy_parse ("RoundRobin"), RTR_POLICY_ROUND_ROBIN);
    CHECK_INT (rtr_policy_parse ("Random"), RTR_POLICY_RANDOM);
    CHECK_INT (rtr_policy_parse ("ordered"), RTR_POLICY_ORDERED);
    CHECK_INT (rtr_policy_parse ("adaptive"), RTR_POLICY_ADAPTIVE);
    CHECK_INT (rtr_policy_parse (NULL), RTR_POLICY_ROUND_ROBIN);
    CHECK_INT (rtr_policy_parse ("nonsense"), RTR_POLICY_ROUND_ROBIN);
    CHECK_STR (rtr_policy_name (RTR_POLICY_ADAPTIVE), "adaptive");
}

static void
test_round_robin (void)
{
    rtr_candidate_t c[3] = {{"a", 0, 0, 0, false, false}, {"b", 0, 1, 0, false, false}, {"c", 0, 2, 0, false, false}};
    unsigned rr = 0, seed = 1;
    int seen[3] = {0};
    for (int i = 0; i < 9; i++)
        seen[rtr_balance_pick (RTR_POLICY_ROUND_ROBIN, c, 3, &rr, &seed)]++;
    CHECK_INT (seen[0], 3);
    CHECK_INT (seen[1], 3);
    CHECK_INT (seen[2], 3);
    c[1].excluded = true;
    for (int i = 0; i < 6; i++)
        CHECK (rtr_balance_pick (RTR_POLICY_ROUND_ROBIN, c, 3, &rr, &seed) != 1);
    /* A down replica is used only when nothing healthy is left. */
    c[0].down = true;
    for (int i = 0; i < 4; i++)
        CHECK_INT (rtr_balance_pick (RTR_POLICY_ROUND_ROBIN, c, 3, &rr, &seed), 2);
    c[2].excluded = true;
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ROUND_ROBIN, c, 3, &rr, &seed), 0);
    c[0].excluded = true;
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ROUND_ROBIN, c, 3, &rr, &seed), -1);
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ROUND_ROBIN, c, 0, &rr, &seed), -1);
}

static void
test_ordered_adaptive_random (void)
{
    rtr_candidate_t c[3] = {{"a", 0.9, 5, 0, false, false}, {"b", 0.1, 2, 0, false, false},
                            {"c", 0.5, 9, 0, false, false}};
    unsigned rr = 0, seed = 7;
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ORDERED, c, 3, &rr, &seed), 1);
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ORDERED, c, 3, &rr, &seed), 1);
    c[1].excluded = true;
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ORDERED, c, 3, &rr, &seed), 0);
    c[1].excluded = false;
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ADAPTIVE, c, 3, &rr, &seed), 1);
    /* Our own outstanding requests push a replica's score up. */
    c[1].inflight = 100;
    CHECK_INT (rtr_balance_pick (RTR_POLICY_ADAPTIVE, c, 3, &rr, &seed), 2);
    int seen[3] = {0};
    c[2].down = true;
    for (int i = 0; i < 200; i++)
        seen[rtr_balance_pick (RTR_POLICY_RANDOM, c, 3, &rr, &seed)]++;
    CHECK (seen[0] > 50 && seen[1] > 50);
    CHECK_INT (seen[2], 0);
}

static void
test_session_cache (void)
{
    rtr_session_cache_t *c = rtr_session_cache_new (1000, 2);
    json_t *a = json_pack ("{s:i}", "userId", 2);
    json_t *b = json_pack ("{s:i}", "userId", 3);
    json_t *d = json_pack ("{s:i}", "userId", 4);
    rtr_session_cache_put (c, "ka", a, 0);
    json_t *got = rtr_session_cache_get (c, "ka", 500);
    CHECK (got && json_equal (got, a) && got != a);
    json_decref (got);
    CHECK (rtr_session_cache_get (c, "ka", 1000) == NULL);     /* expired */
    CHECK (rtr_session_cache_get (c, "nope", 0) == NULL);
    rtr_session_cache_put (c, "ka", a, 100);
    rtr_session_cache_put (c, "kb", b, 200);
    rtr_session_cache_put (c, "kd", d, 300);                   /* full: the oldest (ka) goes */
    CHECK_INT (rtr_session_cache_size (c), 2);
    CHECK (rtr_session_cache_get (c, "ka", 300) == NULL);
    got = rtr_session_cache_get (c, "kb", 300);
    CHECK (got && json_equal (got, b));
    json_decref (got);
    rtr_session_cache_drop (c, "kb");
    CHECK (rtr_session_cache_get (c, "kb", 300) == NULL);
    CHECK_INT (rtr_session_cache_purge (c, 5000), 1);
    CHECK_INT (rtr_session_cache_size (c), 0);
    rtr_session_cache_destroy (&c);
    CHECK (c == NULL);
    json_decref (a);
    json_decref (b);
    json_decref (d);
    rtr_session_cache_t *off = rtr_session_cache_new (0, 10);
    json_t *x = json_object ();
    rtr_session_cache_put (off, "k", x, 0);
    CHECK (rtr_session_cache_get (off, "k", 0) == NULL);
    rtr_session_cache_destroy (&off);
    json_decref (x);
}

static void
test_route (void)
{
    rtr_route_t r = rtr_dispatch_route ("/rpc/v1/IConfig/getVersion");
    CHECK_INT (r.family, RTR_FAMILY_RPC);
    CHECK_STR (r.op, "IConfig.getVersion");
    CHECK_STR (r.service, "IConfig");
    CHECK (r.anonymous);
    r = rtr_dispatch_route ("/rpc/v1/IQuery/findAllByQuery/");
    CHECK_STR (r.op, "IQuery.findAllByQuery");
    CHECK (!r.anonymous);
    CHECK_INT (rtr_dispatch_route ("/rpc/v1/IQuery").family, RTR_FAMILY_NONE);
    CHECK_INT (rtr_dispatch_route ("/rpc/v1/IQuery/a/b").family, RTR_FAMILY_NONE);
    CHECK_INT (rtr_dispatch_route ("/rpc/v1/I-Query/get").family, RTR_FAMILY_NONE);
    CHECK_INT (rtr_dispatch_route ("/rpc/v1//get").family, RTR_FAMILY_NONE);
    CHECK_INT (rtr_dispatch_route ("/rpc/v2/IQuery/get").family, RTR_FAMILY_NONE);
    CHECK_INT (rtr_dispatch_route ("/").family, RTR_FAMILY_NONE);
    CHECK_INT (rtr_dispatch_route ("/apix").family, RTR_FAMILY_NONE);
    r = rtr_dispatch_route ("/api/v0/");
    CHECK_INT (r.family, RTR_FAMILY_API);
    CHECK_STR (r.op, "JsonApi.handle");
    CHECK (r.anonymous);
    CHECK (rtr_dispatch_route ("/api/").anonymous);
    CHECK (rtr_dispatch_route ("/api/v0/login/").anonymous);
    CHECK (rtr_dispatch_route ("/api/v0/token/").anonymous);
    CHECK (rtr_dispatch_route ("/api/v0/servers/").anonymous);
    CHECK (!rtr_dispatch_route ("/api/v0/m/projects/").anonymous);
    r = rtr_dispatch_route ("/webgateway/render_image/1/0/0/");
    CHECK_INT (r.family, RTR_FAMILY_WEBGATEWAY);
    CHECK_STR (r.op, "Webgateway.handle");
    CHECK (!r.anonymous);
    r = rtr_dispatch_route ("/webgateway/table/12/query/");
    CHECK_INT (r.family, RTR_FAMILY_WEBGATEWAY);
    CHECK_STR (r.service, "TablesWeb");
    CHECK_STR (r.op, "TablesWeb.handle");
    CHECK (!r.anonymous);
    CHECK_STR (rtr_dispatch_route ("/webgateway/table/Plate.wells/1/query/").op, "TablesWeb.handle");
    CHECK_STR (rtr_dispatch_route ("/webgateway/tablex/1/").op, "Webgateway.handle");
}

static void
test_idempotent (void)
{
    CHECK (rtr_dispatch_idempotent ("IConfig.getVersion", NULL));
    CHECK (rtr_dispatch_idempotent ("IQuery.findAllByQuery", NULL));
    CHECK (rtr_dispatch_idempotent ("IContainer.loadContainerHierarchy", NULL));
    CHECK (rtr_dispatch_idempotent ("Tables.readCoordinates", NULL));
    CHECK (rtr_dispatch_idempotent ("ISession.resolve", NULL));
    CHECK (rtr_dispatch_idempotent ("Misc.ping", NULL));
    CHECK (rtr_dispatch_idempotent ("IQuery.count", NULL));
    CHECK (!rtr_dispatch_idempotent ("IUpdate.saveObject", NULL));
    CHECK (!rtr_dispatch_idempotent ("Foo.gettysburg", NULL));
    CHECK (!rtr_dispatch_idempotent ("IDelete.deleteImage", NULL));
    CHECK (rtr_dispatch_idempotent ("IUpdate.saveObject", "IUpdate.saveObject"));
    CHECK (rtr_dispatch_idempotent ("Tables.addData", "IUpdate.saveObject, Tables.*"));
    CHECK (!rtr_dispatch_idempotent ("TablesX.addData", "Tables.*"));
    CHECK (!rtr_dispatch_idempotent ("IUpdate.saveObjectX", "IUpdate.saveObject"));
}

static void
test_cookie (void)
{
    char v[64];
    CHECK_INT (rtr_dispatch_cookie ("csrftoken=abc; sessionid=xyz", "sessionid", v, sizeof v), 0);
    CHECK_STR (v, "xyz");
    CHECK_INT (rtr_dispatch_cookie ("sessionid=\"q1\";other=2", "sessionid", v, sizeof v), 0);
    CHECK_STR (v, "q1");
    CHECK_INT (rtr_dispatch_cookie ("xsessionid=1", "sessionid", v, sizeof v), -1);
    CHECK_INT (rtr_dispatch_cookie (NULL, "sessionid", v, sizeof v), -1);
}

static char *
tempdir (void)
{
    char tmpl[] = "/tmp/test_router_XXXXXX";
    return strdup (mkdtemp (tmpl));
}

static X509 *
read_cert (const char *path)
{
    FILE *f = fopen (path, "r");
    X509 *c = f ? PEM_read_X509 (f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose (f);
    return c;
}

static int
verify (const char *ca, const char *cert, const char *host)
{
    X509 *c = read_cert (cert), *a = read_cert (ca);
    if (!c || !a)
        return -1;
    X509_STORE *store = X509_STORE_new ();
    X509_STORE_add_cert (store, a);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new ();
    X509_STORE_CTX_init (ctx, store, c, NULL);
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param (ctx);
    X509_VERIFY_PARAM_set_purpose (p, X509_PURPOSE_SSL_SERVER);
    if (host)
        X509_VERIFY_PARAM_set1_host (p, host, 0);
    int ok = X509_verify_cert (ctx);
    X509_STORE_CTX_free (ctx);
    X509_STORE_free (store);
    X509_free (c);
    X509_free (a);
    return ok == 1 ? 0 : -1;
}

static void
test_certs (void)
{
    char *dir = tempdir ();
    char sub[4200], cert[4300], key[4300], ca[4300];
    snprintf (sub, sizeof sub, "%s/certs", dir);
    rtr_certs_opts_t o = {.dir = sub, .owner = "/L=OMERO/O=OMERO.server", .days = 10};
    rtr_certs_report_t rep;
    omr_err_t err = {0};
    CHECK_INT (rtr_certs_create (&o, &rep, &err), 0);
    CHECK (!rep.key_reused && !rep.ca_reused);
    snprintf (cert, sizeof cert, "%s/server.pem", sub);
    snprintf (key, sizeof key, "%s/server.key", sub);
    snprintf (ca, sizeof ca, "%s/ca.pem", sub);
    CHECK_STR (rep.cert, cert);
    CHECK_INT (verify (ca, cert, "localhost"), 0);
    CHECK_INT (verify (ca, cert, "vm.invalid"), -1);
    CHECK_INT (verify (ca, cert, "evil.example.org"), -1);
    struct stat st;
    CHECK_INT (stat (key, &st), 0);
    CHECK_INT (st.st_mode & 0777, 0600);
    CHECK (rtr_certs_valid_for (cert, 5));
    CHECK (!rtr_certs_valid_for (cert, 30));
    X509 *first = read_cert (cert);
    X509 *first_ca = read_cert (ca);
    /* Renewal keeps the key and the CA, and issues a new certificate. */
    o.days = 400;
    CHECK_INT (rtr_certs_create (&o, &rep, &err), 0);
    CHECK (rep.key_reused && rep.ca_reused);
    X509 *second = read_cert (cert);
    X509 *second_ca = read_cert (ca);
    CHECK (first && second && ASN1_INTEGER_cmp (X509_get0_serialNumber (first), X509_get0_serialNumber (second)) != 0);
    CHECK (first_ca && second_ca && X509_cmp (first_ca, second_ca) == 0);
    CHECK (rtr_certs_valid_for (cert, 300));
    CHECK_INT (verify (ca, cert, "localhost"), 0);
    X509_free (first);
    X509_free (second);
    X509_free (first_ca);
    X509_free (second_ca);
    /* A bad owner is refused before any file changes. */
    struct stat before, after;
    stat (cert, &before);
    o.owner = "/NOEQUALS";
    CHECK_INT (rtr_certs_create (&o, &rep, &err), -1);
    CHECK (strstr (err.msg, "omero.certificates.owner") != NULL);
    stat (cert, &after);
    CHECK (before.st_mtim.tv_nsec == after.st_mtim.tv_nsec && before.st_mtim.tv_sec == after.st_mtim.tv_sec);
    char cmd[4300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT (system (cmd), 0);
    free (dir);
}

static void
test_tls_ctx (void)
{
    CHECK_INT (rtr_tls_version_parse ("tls1_2"), TLS1_2_VERSION);
    CHECK_INT (rtr_tls_version_parse ("TLS1_3"), TLS1_3_VERSION);
    CHECK_INT (rtr_tls_version_parse ("tlsv1.1"), TLS1_1_VERSION);
    CHECK_INT (rtr_tls_version_parse ("tls1"), TLS1_VERSION);
    CHECK_INT (rtr_tls_version_parse ("bogus"), 0);
    char *dir = tempdir ();
    omr_config_t *cfg = omr_config_new ();
    omr_err_t err = {0};
    /* First start: generated under etc/certs, TLS 1.2 at least. */
    SSL_CTX *ctx = rtr_tls_ctx_new (cfg, dir, &err);
    CHECK (ctx != NULL);
    if (ctx) {
        CHECK_INT (SSL_CTX_get_min_proto_version (ctx), TLS1_2_VERSION);
        SSL_CTX_free (ctx);
    }
    char path[4300];
    snprintf (path, sizeof path, "%s/etc/certs/ca.pem", dir);
    CHECK_INT (access (path, R_OK), 0);
    /* Old protocol settings are refused with a message naming the property. */
    omr_config_set (cfg, "omero.glacier2.IceSSL.Protocols", "tls1");
    CHECK (rtr_tls_ctx_new (cfg, dir, &err) == NULL);
    CHECK (strstr (err.msg, "omero.glacier2.IceSSL.Protocols") != NULL);
    omr_config_set (cfg, "omero.glacier2.IceSSL.Protocols", "tls1,tls1_1,tls1_2");
    ctx = rtr_tls_ctx_new (cfg, dir, &err);
    CHECK (ctx != NULL);
    if (ctx) {
        CHECK_INT (SSL_CTX_get_min_proto_version (ctx), TLS1_2_VERSION);
        CHECK_INT (SSL_CTX_get_max_proto_version (ctx), TLS1_2_VERSION);
        SSL_CTX_free (ctx);
    }
    omr_config_set (cfg, "omero.glacier2.IceSSL.Protocols", NULL);
    omr_config_set (cfg, "omero.glacier2.IceSSL.ProtocolVersionMax", "tls1_1");
    CHECK (rtr_tls_ctx_new (cfg, dir, &err) == NULL);
    CHECK (strstr (err.msg, "ProtocolVersionMax") != NULL);
    omr_config_set (cfg, "omero.glacier2.IceSSL.ProtocolVersionMax", NULL);
    /* A configured certificate that does not exist is an error, never silently replaced. */
    omr_config_set (cfg, "omero.glacier2.IceSSL.CertFile", "missing.pem");
    CHECK (rtr_tls_ctx_new (cfg, dir, &err) == NULL);
    CHECK (strstr (err.msg, "missing.pem") != NULL);
    /* The generated files, configured explicitly with DefaultDir, load. */
    snprintf (path, sizeof path, "%s/etc/certs", dir);
    omr_config_set (cfg, "omero.glacier2.IceSSL.DefaultDir", path);
    omr_config_set (cfg, "omero.glacier2.IceSSL.CertFile", "server.pem");
    omr_config_set (cfg, "omero.glacier2.IceSSL.KeyFile", "server.key");
    omr_config_set (cfg, "omero.glacier2.IceSSL.Ciphers", "HIGH");
    ctx = rtr_tls_ctx_new (cfg, dir, &err);
    CHECK (ctx != NULL);
    SSL_CTX_free (ctx);
    omr_config_set (cfg, "omero.glacier2.IceSSL.Ciphers", "NOSUCHCIPHER");
    CHECK (rtr_tls_ctx_new (cfg, dir, &err) == NULL);
    omr_config_destroy (&cfg);
    char cmd[4300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT (system (cmd), 0);
    free (dir);
}

int
main (void)
{
    omr_log_init ("", 0, 0, OMR_LOG_ERROR, "test_router");
    RUN (test_policy_parse);
    RUN (test_round_robin);
    RUN (test_ordered_adaptive_random);
    RUN (test_session_cache);
    RUN (test_route);
    RUN (test_idempotent);
    RUN (test_cookie);
    RUN (test_certs);
    RUN (test_tls_ctx);
    return UNIT_DONE ();
}
