/* certs: the router's self-signed certificates, made with OpenSSL's APIs as the
 * omero-certificates plugin makes them with the openssl tool: a small CA of the installation
 * (ca.pem, ca.key) signs the server certificate (server.pem, key server.key) whose names are
 * localhost, 127.0.0.1, ::1, the host name and the configured common name, so that clients can
 * verify the router with ca.pem. Keys that exist are reused; the server certificate is
 * renewed each time; the CA is kept (clients that trust it keep working) until it nears expiry. */
#ifndef RTR_CERTS_H
#define RTR_CERTS_H
#include "omr_error.h"
#include <stdbool.h>

typedef struct {
    const char *dir;            /* directory of the files (created 0700 if missing) */
    const char *commonname;     /* server subject CN; default "localhost" */
    const char *owner;          /* more subject parts, "/L=OMERO/O=OMERO.server" */
    const char *keyfile;        /* server key file name in dir; default "server.key" */
    const char *certfile;       /* server certificate file name; default "server.pem" */
    const char *cafile;         /* CA certificate file name; default "ca.pem" (key: <base>.key) */
    int days;                   /* server certificate validity; default 365 */
    int bits;                   /* RSA key size of new keys; 0 = ECDSA P-256 keys (default) */
} rtr_certs_opts_t;

/* What rtr_certs_create did. */
typedef struct {
    bool key_reused;            /* server key existed and was kept */
    bool ca_reused;             /* CA existed, was valid and was kept */
    char cert[4096], key[4096], ca[4096];   /* absolute paths written */
} rtr_certs_report_t;

/* Create or renew the CA and server certificate as described above. */
int rtr_certs_create (const rtr_certs_opts_t *opts, rtr_certs_report_t *report, omr_err_t *err);
/* Whether the certificate file at path exists and stays valid for at least `days` more days. */
bool rtr_certs_valid_for (const char *path, int days);
#endif
