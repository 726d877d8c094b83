/* omr_curve: generating and applying the grid's CURVE certificates with CZMQ. */
#include "omr_curve.h"
#include "omr_util.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
ensure_cert (const char *keydir, const char *name, omr_err_t *err)
{
    char path[4096], secret[4200];
    snprintf (path, sizeof path, "%s/%s.key", keydir, name);
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (access (path, R_OK) == 0 && access (secret, R_OK) == 0)
        return 0;
    zcert_t *cert = zcert_new ();
    if (!cert)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot generate CURVE keys (libzmq without CURVE?)");
    int rc = zcert_save (cert, path);
    zcert_destroy (&cert);
    if (rc < 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", path, strerror (errno));
    chmod (secret, 0600);
    return 0;
}

int
omr_curve_ensure (const char *keydir, omr_err_t *err)
{
    char clients[4096];
    snprintf (clients, sizeof clients, "%s/clients", keydir);
    if (omr_mkdirs (clients, 0700, err) < 0)
        return -1;
    if (ensure_cert (keydir, "registry", err) < 0 || ensure_cert (keydir, "client", err) < 0)
        return -1;
    /* The registry accepts the installation's client certificate (public part only). */
    char src[4096], dst[4200];
    snprintf (src, sizeof src, "%s/client.key", keydir);
    snprintf (dst, sizeof dst, "%s/client.key", clients);
    zcert_t *c = zcert_load (src);
    if (!c)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot read %s", src);
    byte zero[32] = {0};
    zcert_t *pub = zcert_new_from (zcert_public_key (c), zero);
    zcert_destroy (&c);
    zcert_t *existing = zcert_load (dst);
    int same = existing && zcert_eq (existing, pub);
    zcert_destroy (&existing);
    int rc = 0;
    if (!same && zcert_save_public (pub, dst) < 0)
        rc = omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s", dst);
    zcert_destroy (&pub);
    return rc;
}

int
omr_curve_client (zsock_t *sock, const char *keydir, omr_err_t *err)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/client.key_secret", keydir);
    zcert_t *me = zcert_load (path);
    snprintf (path, sizeof path, "%s/registry.key", keydir);
    zcert_t *server = zcert_load (path);
    if (!me || !server) {
        zcert_destroy (&me);
        zcert_destroy (&server);
        return omr_err_set (err, OMR_E_CONFIG, 500,
                            "grid keys missing in %s: copy etc/grid/keys from the master host "
                            "(or run `omero admin start` there once)", keydir);
    }
    zcert_apply (me, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    zcert_destroy (&me);
    zcert_destroy (&server);
    return 0;
}

int
omr_curve_server (zsock_t *sock, const char *keydir, zactor_t **auth, omr_err_t *err)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/registry.key_secret", keydir);
    zcert_t *me = zcert_load (path);
    if (!me)
        return omr_err_set (err, OMR_E_CONFIG, 500, "cannot read the registry key %s", path);
    *auth = zactor_new (zauth, NULL);
    snprintf (path, sizeof path, "%s/clients", keydir);
    zstr_sendx (*auth, "CURVE", path, NULL);
    zsock_wait (*auth);
    zcert_apply (me, sock);
    zsock_set_curve_server (sock, 1);
    zcert_destroy (&me);
    return 0;
}
