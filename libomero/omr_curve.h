/* omr_curve: the grid's CURVE keys, so that only holders of the installation's keys can
 * talk to the registry (register a node or a server, stop servers …).
 * Layout of the key directory ($OMERODIR/etc/grid/keys): registry.key(+_secret) is the
 * registry's certificate; client.key(+_secret) the certificate grid members present;
 * clients/ holds the public certificates the registry accepts. */
#ifndef OMR_CURVE_H
#define OMR_CURVE_H
#include "omr_error.h"
#include <czmq.h>

/* Create the key directory and certificates if missing (idempotent). */
int omr_curve_ensure (const char *keydir, omr_err_t *err);
/* Make sock a CURVE client of the registry using the keys in keydir. */
int omr_curve_client (zsock_t *sock, const char *keydir, omr_err_t *err);
/* Make sock a CURVE server with the registry certificate; starts (into *auth) the ZAP
 * authenticator that accepts only the certificates in keydir/clients. */
int omr_curve_server (zsock_t *sock, const char *keydir, zactor_t **auth, omr_err_t *err);
#endif
