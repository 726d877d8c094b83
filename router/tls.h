/* tls: the router's OpenSSL server context from OMERO's omero.glacier2.IceSSL.* properties
 * (DefaultDir, CertFile, KeyFile, Password, CAs, Ciphers, Protocols, ProtocolVersionMin/Max,
 * VerifyPeer). TLS 1.2 is the floor whatever is configured. When no certificate is configured
 * and none exists yet, one is generated under $OMERODIR/etc/certs (see certs.h). */
#ifndef RTR_TLS_H
#define RTR_TLS_H
#include "omr_config.h"
#include <openssl/ssl.h>

/* Build the server context; NULL with err set when the configuration cannot be honoured. */
SSL_CTX *rtr_tls_ctx_new (omr_config_t *cfg, const char *omerodir, omr_err_t *err);
/* The certificate directory: omero.glacier2.IceSSL.DefaultDir or $OMERODIR/etc/certs (into buf). */
const char *rtr_tls_cert_dir (omr_config_t *cfg, const char *omerodir, char *buf, size_t len);
/* Parse a TLS version name ("tls1_2", "TLS1_3", "tlsv1.2" …) into an OpenSSL version
 * constant; 0 when unknown. */
int rtr_tls_version_parse (const char *name);
#endif
