/* tls: SSL_CTX setup; certificate files resolved as IceSSL resolves them (relative to DefaultDir). */
#include "tls.h"
#include "certs.h"
#include "omr_log.h"
#include <ctype.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int
ssl_fail (omr_err_t *err, const char *fmt, const char *arg)
{
    char buf[256] = "", what[1024];
    unsigned long e = ERR_get_error ();
    if (e)
        ERR_error_string_n (e, buf, sizeof buf);
    ERR_clear_error ();
    snprintf (what, sizeof what, fmt, arg);
    return omr_err_set (err, OMR_E_CONFIG, 500, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

const char *
rtr_tls_cert_dir (omr_config_t *cfg, const char *omerodir, char *buf, size_t len)
{
    const char *d = omr_config_get_set (cfg, "omero.glacier2.IceSSL.DefaultDir");
    if (d && *d)
        snprintf (buf, len, "%s", d);
    else
        snprintf (buf, len, "%s/etc/certs", omerodir);
    return buf;
}

int
rtr_tls_version_parse (const char *name)
{
    if (!name)
        return 0;
    char n[16];
    size_t j = 0;
    for (const char *p = name; *p && j < sizeof n - 1; p++)
        if (isalnum ((unsigned char) *p))
            n[j++] = (char) tolower ((unsigned char) *p);
    n[j] = 0;
    if (!strcmp (n, "tls1") || !strcmp (n, "tls10") || !strcmp (n, "tlsv1") || !strcmp (n, "tlsv10"))
        return TLS1_VERSION;
    if (!strcmp (n, "tls11") || !strcmp (n, "tlsv11"))
        return TLS1_1_VERSION;
    if (!strcmp (n, "tls12") || !strcmp (n, "tlsv12"))
        return TLS1_2_VERSION;
    if (!strcmp (n, "tls13") || !strcmp (n, "tlsv13"))
        return TLS1_3_VERSION;
    if (!strcmp (n, "ssl3") || !strcmp (n, "sslv3"))
        return SSL3_VERSION;
    return 0;
}

static void
resolve (char *out, size_t len, const char *dir, const char *name)
{
    if (name[0] == '/')
        snprintf (out, len, "%s", name);
    else
        snprintf (out, len, "%s/%s", dir, name);
}

static bool
is_p12 (const char *path)
{
    const char *dot = strrchr (path, '.');
    return dot && (!strcasecmp (dot, ".p12") || !strcasecmp (dot, ".pfx"));
}

static int
load_p12 (SSL_CTX *ctx, const char *path, const char *password, omr_err_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return omr_err_set (err, OMR_E_CONFIG, 500, "omero.glacier2.IceSSL.CertFile %s cannot be read", path);
    PKCS12 *p12 = d2i_PKCS12_fp (f, NULL);
    fclose (f);
    if (!p12)
        return ssl_fail (err, "%s is not a PKCS12 file", path);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF (X509) *chain = NULL;
    int ok = PKCS12_parse (p12, password ? password : "", &key, &cert, &chain);
    PKCS12_free (p12);
    if (!ok)
        return ssl_fail (err, "cannot open %s (check omero.glacier2.IceSSL.Password)", path);
    ok = SSL_CTX_use_certificate (ctx, cert) == 1 && SSL_CTX_use_PrivateKey (ctx, key) == 1;
    for (int i = 0; ok && chain && i < sk_X509_num (chain); i++)
        ok = SSL_CTX_add1_chain_cert (ctx, sk_X509_value (chain, i)) == 1;
    EVP_PKEY_free (key);
    X509_free (cert);
    sk_X509_pop_free (chain, X509_free);
    return ok ? 0 : ssl_fail (err, "cannot use the certificate in %s", path);
}

/* Min and max versions from ProtocolVersionMin/Max and Protocols, floor TLS 1.2. */
static int
versions (SSL_CTX *ctx, omr_config_t *cfg, omr_err_t *err)
{
    int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
    const char *protocols = omr_config_get_set (cfg, "omero.glacier2.IceSSL.Protocols");
    if (protocols && *protocols) {
        int plo = 0, phi = 0;
        char *copy = strdup (protocols), *save = NULL;
        for (char *t = strtok_r (copy, ", ", &save); t; t = strtok_r (NULL, ", ", &save)) {
            int v = rtr_tls_version_parse (t);
            if (!v) {
                free (copy);
                return omr_err_set (err, OMR_E_CONFIG, 500, "omero.glacier2.IceSSL.Protocols=%s: unknown protocol "
                                    "\"%s\" (use tls1_2, tls1_3)", protocols, t);
            }
            if (v >= TLS1_2_VERSION) {
                plo = plo ? (v < plo ? v : plo) : v;
                phi = v > phi ? v : phi;
            }
        }
        free (copy);
        if (!plo)
            return omr_err_set (err, OMR_E_CONFIG, 500, "omero.glacier2.IceSSL.Protocols=%s allows nothing from TLS "
                                "1.2 up, and older protocols are refused: set it to tls1_2,tls1_3 or unset it "
                                "(omero certificates sets it)", protocols);
        lo = plo;
        hi = phi;
    }
    const char *vmin = omr_config_get_set (cfg, "omero.glacier2.IceSSL.ProtocolVersionMin");
    const char *vmax = omr_config_get_set (cfg, "omero.glacier2.IceSSL.ProtocolVersionMax");
    if (vmin && *vmin) {
        int v = rtr_tls_version_parse (vmin);
        if (!v)
            return omr_err_set (err, OMR_E_CONFIG, 500, "omero.glacier2.IceSSL.ProtocolVersionMin=%s is not a TLS "
                                "version (use tls1_2 or tls1_3)", vmin);
        if (v > lo)
            lo = v;
    }
    if (vmax && *vmax) {
        int v = rtr_tls_version_parse (vmax);
        if (!v)
            return omr_err_set (err, OMR_E_CONFIG, 500, "omero.glacier2.IceSSL.ProtocolVersionMax=%s is not a TLS "
                                "version (use tls1_2 or tls1_3)", vmax);
        if (v < TLS1_2_VERSION)
            return omr_err_set (err, OMR_E_CONFIG, 500, "omero.glacier2.IceSSL.ProtocolVersionMax=%s is below TLS "
                                "1.2, which this router requires: unset it or set tls1_3", vmax);
        if (v < hi)
            hi = v;
    }
    if (lo > hi)
        return omr_err_set (err, OMR_E_CONFIG, 500, "the configured TLS protocol range is empty "
                            "(omero.glacier2.IceSSL.Protocols / ProtocolVersionMin / ProtocolVersionMax)");
    SSL_CTX_set_min_proto_version (ctx, lo);
    SSL_CTX_set_max_proto_version (ctx, hi);
    return 0;
}

SSL_CTX *
rtr_tls_ctx_new (omr_config_t *cfg, const char *omerodir, omr_err_t *err)
{
    char dir[4096], cert[4200], key[4200], cas[4200];
    rtr_tls_cert_dir (cfg, omerodir, dir, sizeof dir);
    const char *certfile = omr_config_get_set (cfg, "omero.glacier2.IceSSL.CertFile");
    const char *keyfile = omr_config_get_set (cfg, "omero.glacier2.IceSSL.KeyFile");
    const char *cafile = omr_config_get_set (cfg, "omero.glacier2.IceSSL.CAs");
    const char *certkey = omr_config_get_set (cfg, "omero.certificates.key");
    bool configured = certfile && *certfile;
    resolve (cert, sizeof cert, dir, configured ? certfile : "server.pem");
    resolve (key, sizeof key, dir, keyfile && *keyfile ? keyfile : certkey && *certkey ? certkey : "server.key");
    resolve (cas, sizeof cas, dir, cafile && *cafile ? cafile : "ca.pem");

    if (!configured && access (cert, R_OK) != 0) {
        /* First start without certificates: make the installation's own, as `omero certificates` would. */
        rtr_certs_opts_t o = {
            .dir = dir,
            .commonname = omr_config_get (cfg, "omero.certificates.commonname"),
            .owner = omr_config_get_set (cfg, "omero.certificates.owner") ? omr_config_get_set (cfg, "omero.certificates.owner")
                                                                          : "/L=OMERO/O=OMERO.server",
            .keyfile = key,
            .certfile = cert,
            .cafile = cas,
        };
        rtr_certs_report_t rep;
        if (rtr_certs_create (&o, &rep, err) < 0) {
            omr_err_prefix (err, "generating a self-signed certificate in %s: ", dir);
            return NULL;
        }
        omr_info ("no certificate configured: generated %s (CA %s) for localhost", rep.cert, rep.ca);
    }
    else if (access (cert, R_OK) != 0) {
        omr_err_set (err, OMR_E_CONFIG, 500, "omero.glacier2.IceSSL.CertFile=%s: %s cannot be read (run `omero "
                     "certificates` or fix the path)", certfile, cert);
        return NULL;
    }

    SSL_CTX *ctx = SSL_CTX_new (TLS_server_method ());
    if (!ctx) {
        ssl_fail (err, "%s", "creating the TLS context");
        return NULL;
    }
    SSL_CTX_set_options (ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode (ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context (ctx, (const unsigned char *) "omero-router", 12);
    if (versions (ctx, cfg, err) < 0)
        goto fail;
    const char *ciphers = omr_config_get_set (cfg, "omero.glacier2.IceSSL.Ciphers");
    /* OMERO's old default names anonymous (ADH) suites only, which verified clients cannot use. */
    if (ciphers && *ciphers && !strstr (ciphers, "ADH")) {
        char full[1024];
        snprintf (full, sizeof full, "%s:!aNULL", ciphers);
        if (SSL_CTX_set_cipher_list (ctx, full) != 1) {
            ssl_fail (err, "omero.glacier2.IceSSL.Ciphers=%s selects no usable cipher", ciphers);
            goto fail;
        }
    }
    else
        SSL_CTX_set_cipher_list (ctx, "HIGH:!aNULL:!MD5:!RC4:!3DES");
    if (is_p12 (cert)) {
        if (load_p12 (ctx, cert, omr_config_get_set (cfg, "omero.glacier2.IceSSL.Password"), err) < 0)
            goto fail;
    }
    else {
        if (SSL_CTX_use_certificate_chain_file (ctx, cert) != 1) {
            ssl_fail (err, "cannot load the certificate %s", cert);
            goto fail;
        }
        /* A PEM holding both certificate and key needs no separate key file. */
        const char *kp = access (key, R_OK) == 0 ? key : cert;
        if (SSL_CTX_use_PrivateKey_file (ctx, kp, SSL_FILETYPE_PEM) != 1) {
            ssl_fail (err, "cannot load the private key %s (omero.glacier2.IceSSL.KeyFile)", kp);
            goto fail;
        }
    }
    if (SSL_CTX_check_private_key (ctx) != 1) {
        ssl_fail (err, "the private key does not match the certificate %s", cert);
        goto fail;
    }
    int verify = (int) omr_config_get_int (cfg, "omero.glacier2.IceSSL.VerifyPeer", 0);
    if (verify > 0) {
        if (SSL_CTX_load_verify_locations (ctx, cas, NULL) != 1) {
            ssl_fail (err, "omero.glacier2.IceSSL.VerifyPeer is set but the CAs file %s cannot be loaded", cas);
            goto fail;
        }
        SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER | (verify >= 2 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    }
    return ctx;
fail:
    SSL_CTX_free (ctx);
    return NULL;
}
