/* certs: CA and server certificate generation with OpenSSL 3 (EVP, X509, X509V3). */
#include "certs.h"
#include "omr_util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_DAYS 3650

static int
ssl_fail (omr_err_t *err, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error ();
    if (e)
        ERR_error_string_n (e, buf, sizeof buf);
    ERR_clear_error ();
    return omr_err_set (err, OMR_E_RESOURCE, 500, "%s failed%s%s", what, buf[0] ? ": " : "", buf);
}

static EVP_PKEY *
load_key (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey (f, NULL, NULL, NULL);
    fclose (f);
    ERR_clear_error ();
    return k;
}

static X509 *
load_cert (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    X509 *c = PEM_read_X509 (f, NULL, NULL, NULL);
    fclose (f);
    ERR_clear_error ();
    return c;
}

bool
rtr_certs_valid_for (const char *path, int days)
{
    X509 *c = load_cert (path);
    if (!c)
        return false;
    time_t when = time (NULL) + (time_t) days * 86400;
    bool ok = X509_cmp_time (X509_get0_notAfter (c), &when) > 0 && X509_cmp_current_time (X509_get0_notBefore (c)) < 0;
    X509_free (c);
    return ok;
}

/* Write a PEM object through a memory BIO and an atomic file write with mode. */
static int
write_pem (const char *path, int mode, X509 *cert, EVP_PKEY *key, omr_err_t *err)
{
    BIO *b = BIO_new (BIO_s_mem ());
    int ok = cert ? PEM_write_bio_X509 (b, cert) : PEM_write_bio_PrivateKey (b, key, NULL, NULL, 0, NULL, NULL);
    if (!ok) {
        BIO_free (b);
        return ssl_fail (err, "PEM encoding");
    }
    char *data;
    long len = BIO_get_mem_data (b, &data);
    int rc = omr_write_file (path, data, (size_t) len, mode, err);
    BIO_free (b);
    if (rc == 0)
        chmod (path, mode);
    return rc;
}

/* Add "/K=V/K2=V2" parts to a name. */
static int
add_owner (X509_NAME *name, const char *owner, omr_err_t *err)
{
    if (!owner || !*owner)
        return 0;
    char *copy = strdup (owner);
    int rc = 0;
    char *save = NULL;
    for (char *part = strtok_r (copy, "/", &save); part; part = strtok_r (NULL, "/", &save)) {
        char *eq = strchr (part, '=');
        if (!eq || eq == part || !eq[1]) {
            rc = omr_err_set (err, OMR_E_CONFIG, 400,
                              "omero.certificates.owner \"%s\": \"%s\" is not KEY=VALUE (expected e.g. "
                              "/L=OMERO/O=OMERO.server)", owner, part);
            break;
        }
        *eq = 0;
        if (!X509_NAME_add_entry_by_txt (name, part, MBSTRING_UTF8, (unsigned char *) eq + 1, -1, -1, 0)) {
            ERR_clear_error ();
            rc = omr_err_set (err, OMR_E_CONFIG, 400, "omero.certificates.owner \"%s\": unknown attribute %s",
                              owner, part);
            break;
        }
    }
    free (copy);
    return rc;
}

static int
add_ext (X509 *cert, X509 *issuer, int nid, const char *value, omr_err_t *err)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb (&ctx);
    X509V3_set_ctx (&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid (NULL, &ctx, nid, value);
    if (!ext)
        return ssl_fail (err, "certificate extension");
    X509_add_ext (cert, ext, -1);
    X509_EXTENSION_free (ext);
    return 0;
}

/* A new certificate for key with subject name, valid days, random serial (unsigned). */
static X509 *
new_cert (EVP_PKEY *key, X509_NAME *subject, int days)
{
    X509 *c = X509_new ();
    X509_set_version (c, 2);
    unsigned char serial[16];
    RAND_bytes (serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn (serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER (bn, X509_get_serialNumber (c));
    BN_free (bn);
    X509_gmtime_adj (X509_getm_notBefore (c), -3600);
    X509_time_adj_ex (X509_getm_notAfter (c), days, 0, NULL);
    X509_set_subject_name (c, subject);
    X509_set_pubkey (c, key);
    return c;
}

static EVP_PKEY *
load_or_new_key (const char *path, int bits, bool *reused, omr_err_t *err)
{
    EVP_PKEY *k = load_key (path);
    if (k) {
        *reused = true;
        return k;
    }
    if (access (path, F_OK) == 0) {
        omr_err_set (err, OMR_E_CONFIG, 500, "%s exists but is not a readable PEM private key: remove it or fix "
                     "its permissions", path);
        return NULL;
    }
    *reused = false;
    /* ECDSA P-256 unless RSA is asked for: a handshake costs a tenth of RSA-2048's, which
     * matters when hundreds of clients connect at once. */
    k = bits > 0 ? EVP_RSA_gen ((unsigned) bits) : EVP_EC_gen ("P-256");
    if (!k) {
        ssl_fail (err, "key generation");
        return NULL;
    }
    if (write_pem (path, 0600, NULL, k, err) < 0) {
        EVP_PKEY_free (k);
        return NULL;
    }
    return k;
}

static void
join (char *out, size_t len, const char *dir, const char *name)
{
    if (name[0] == '/')
        snprintf (out, len, "%s", name);
    else
        snprintf (out, len, "%s/%s", dir, name);
}

int
rtr_certs_create (const rtr_certs_opts_t *o, rtr_certs_report_t *rep, omr_err_t *err)
{
    rtr_certs_report_t local;
    if (!rep)
        rep = &local;
    memset (rep, 0, sizeof *rep);
    if (!o || !o->dir || !*o->dir)
        return omr_err_set (err, OMR_E_API, 400, "no certificate directory given");
    const char *cn = o->commonname && *o->commonname ? o->commonname : "localhost";
    int days = o->days > 0 ? o->days : 365;
    int bits = o->bits > 0 ? (o->bits >= 2048 ? o->bits : 2048) : 0;
    if (strlen (cn) > 64)
        return omr_err_set (err, OMR_E_CONFIG, 400, "omero.certificates.commonname \"%s\" is longer than the 64 "
                            "characters a certificate allows", cn);
    if (omr_mkdirs (o->dir, 0700, err) < 0)
        return -1;
    join (rep->key, sizeof rep->key, o->dir, o->keyfile && *o->keyfile ? o->keyfile : "server.key");
    join (rep->cert, sizeof rep->cert, o->dir, o->certfile && *o->certfile ? o->certfile : "server.pem");
    join (rep->ca, sizeof rep->ca, o->dir, o->cafile && *o->cafile ? o->cafile : "ca.pem");
    char cakey[4200];
    snprintf (cakey, sizeof cakey, "%s", rep->ca);
    char *dot = strrchr (cakey, '.');
    if (dot && !strchr (dot, '/'))
        *dot = 0;
    strcat (cakey, ".key");

    /* Validate the owner string before touching any file. */
    X509_NAME *probe = X509_NAME_new ();
    int bad = add_owner (probe, o->owner, err);
    X509_NAME_free (probe);
    if (bad < 0)
        return -1;

    int rc = -1;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *cert = NULL;
    X509_NAME *name = NULL;
    char host[256] = "localhost";
    gethostname (host, sizeof host - 1);

    /* The CA: kept while it has more than the server certificate's lifetime left. */
    bool ca_key_reused = false;
    ca_key = load_or_new_key (cakey, bits, &ca_key_reused, err);
    if (!ca_key)
        goto done;
    ca = ca_key_reused && rtr_certs_valid_for (rep->ca, days + 1) ? load_cert (rep->ca) : NULL;
    if (ca && X509_check_private_key (ca, ca_key) != 1) {
        ERR_clear_error ();
        X509_free (ca);
        ca = NULL;
    }
    if (ca)
        rep->ca_reused = true;
    else {
        name = X509_NAME_new ();
        char cacn[300];
        snprintf (cacn, sizeof cacn, "OMERO CA %.50s", host);
        X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_UTF8, (unsigned char *) cacn, -1, -1, 0);
        add_owner (name, o->owner, NULL);
        ca = new_cert (ca_key, name, CA_DAYS);
        X509_set_issuer_name (ca, name);
        X509_NAME_free (name);
        name = NULL;
        if (add_ext (ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) < 0
            || add_ext (ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0
            || add_ext (ca, ca, NID_subject_key_identifier, "hash", err) < 0
            || add_ext (ca, ca, NID_authority_key_identifier, "keyid:always", err) < 0)
            goto done;
        if (!X509_sign (ca, ca_key, EVP_sha256 ())) {
            ssl_fail (err, "signing the CA certificate");
            goto done;
        }
        if (write_pem (rep->ca, 0644, ca, NULL, err) < 0)
            goto done;
    }

    /* The server certificate, signed by the CA, always renewed. */
    key = load_or_new_key (rep->key, bits, &rep->key_reused, err);
    if (!key)
        goto done;
    name = X509_NAME_new ();
    X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_UTF8, (unsigned char *) cn, -1, -1, 0);
    add_owner (name, o->owner, NULL);
    cert = new_cert (key, name, days);
    X509_set_issuer_name (cert, X509_get_subject_name (ca));
    char san[1024];
    int n = snprintf (san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1");
    if (strcmp (host, "localhost") != 0 && strlen (host) < 200)
        n += snprintf (san + n, sizeof san - n, ",DNS:%s", host);
    if (strcmp (cn, "localhost") != 0 && strcmp (cn, host) != 0 && strcmp (cn, "127.0.0.1") != 0) {
        unsigned char ip[16];
        bool is_ip = inet_pton (AF_INET, cn, ip) == 1 || inet_pton (AF_INET6, cn, ip) == 1;
        snprintf (san + n, sizeof san - n, ",%s:%s", is_ip ? "IP" : "DNS", cn);
    }
    if (add_ext (cert, ca, NID_basic_constraints, "critical,CA:FALSE", err) < 0
        || add_ext (cert, ca, NID_key_usage, EVP_PKEY_is_a (key, "RSA") ? "critical,digitalSignature,keyEncipherment"
                                                                        : "critical,digitalSignature", err) < 0
        || add_ext (cert, ca, NID_ext_key_usage, "serverAuth", err) < 0
        || add_ext (cert, ca, NID_subject_alt_name, san, err) < 0
        || add_ext (cert, ca, NID_subject_key_identifier, "hash", err) < 0
        || add_ext (cert, ca, NID_authority_key_identifier, "keyid:always", err) < 0)
        goto done;
    if (!X509_sign (cert, ca_key, EVP_sha256 ())) {
        ssl_fail (err, "signing the server certificate");
        goto done;
    }
    if (write_pem (rep->cert, 0644, cert, NULL, err) < 0)
        goto done;
    rc = 0;
done:
    X509_NAME_free (name);
    X509_free (cert);
    X509_free (ca);
    EVP_PKEY_free (key);
    EVP_PKEY_free (ca_key);
    return rc;
}
