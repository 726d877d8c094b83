/* omero.h: the public C client API of OMERO in C.
 *
 * A client talks to one server (the omero-router, `omero.ports.ssl`, 4064 by default) over HTTPS:
 * every service method is `POST /rpc/v1/<Service>/<method>` with JSON arguments and a JSON reply,
 * the session travels in the `X-OMERO-Session` header, bulk bytes travel as
 * application/octet-stream (arguments then in `X-OMERO-Args`, the JSON reply in `X-OMERO-Result`).
 * One client holds one libcurl handle, so consecutive calls reuse the same TLS connection.
 *
 * Typical use:
 *     omero_err_t err = {0};
 *     omero_client_t *c = omero_client_new ("localhost", 4064, &err);
 *     if (!c || omero_client_login (c, "root", "omero", NULL, &err) < 0) { ... err.name, err.msg }
 *     json_t *ec = omero_client_call (c, "IAdmin", "getEventContext", NULL, &err);
 *     ...
 *     json_decref (ec);
 *     omero_client_logout (c, &err);
 *     omero_client_destroy (&c);
 *
 * Errors: every fallible function returns -1 (or NULL) and fills an omero_err_t with OMERO's
 * exception name (SecurityViolation, ApiUsageException, ValidationException …, or for transport
 * failures ConnectionRefusedException, DNSException, SSLException, TimeoutException), the message,
 * and the HTTP status (0 when no HTTP reply was received).
 * Link with `pkg-config --cflags --libs omero`. JSON values are jansson's json_t. */
#ifndef OMERO_H
#define OMERO_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define OMERO_DEFAULT_PORT 4064

/* An error as a server or the transport reported it; same layout as libomero's omr_err_t. */
typedef struct {
    char name[64];      /* OMERO exception name, "" when no error */
    char msg[1024];     /* message */
    int status;         /* HTTP status of the failed reply, 0 if the server was not reached */
} omero_err_t;

/* One connection to an OMERO server (opaque). Not thread-safe: use one per thread. */
typedef struct omero_client_t omero_client_t;

/* Receives downloaded bytes as they arrive; return 0 to continue, -1 to abort the transfer. */
typedef int (omero_sink_fn) (const void *data, size_t len, void *arg);
/* Supplies bytes to upload: fill up to `cap` bytes of buf and return how many (0 only at the
 * end), or -1 to abort the transfer. */
typedef long (omero_source_fn) (void *buf, size_t cap, void *arg);

/* Create a client for https://host:port (port <= 0 means 4064). Nothing is sent yet.
 * Certificates are verified against $OMERO_CA, else $OMERODIR/etc/certs/ca.pem when that file
 * exists, else the system store; see omero_client_set_ca_file and omero_client_set_verify. */
omero_client_t *omero_client_new (const char *host, int port, omero_err_t *err);
/* Close the connection (the session stays open on the server; see omero_client_logout) and free. */
void omero_client_destroy (omero_client_t **self);

/* Verify the server against this PEM CA file instead of the default choice. */
int omero_client_set_ca_file (omero_client_t *self, const char *path, omero_err_t *err);
/* Turn certificate and host name verification off (true) or back on; off is for tests only. */
void omero_client_set_insecure (omero_client_t *self, bool insecure);
/* The agent name sent with logins and as User-Agent (default "OMERO.c"). */
void omero_client_set_agent (omero_client_t *self, const char *agent);
/* Per-request timeout in milliseconds (0 = none; default 0). The connect timeout is 10 s. */
void omero_client_set_timeout (omero_client_t *self, long ms);

/* Host and port this client talks to. */
const char *omero_client_host (const omero_client_t *self);
int omero_client_port (const omero_client_t *self);

/* Log in with a user name and password (group: a group name, or NULL for the user's default
 * group). On success the client holds the new session key. */
int omero_client_login (omero_client_t *self, const char *user, const char *password,
                        const char *group, omero_err_t *err);
/* Log in as `user` on behalf of administrator (or group owner) `sudoer` whose password is given. */
int omero_client_login_sudo (omero_client_t *self, const char *sudoer, const char *sudoer_password,
                             const char *user, const char *group, omero_err_t *err);
/* Join an existing session by its key; fails (RemovedSessionException or SessionException)
 * when the session is closed or expired. */
int omero_client_join (omero_client_t *self, const char *key, omero_err_t *err);
/* The current session key, or NULL when not logged in. */
const char *omero_client_session (const omero_client_t *self);
/* The reply of the login or join call (session uuid, timeouts, event context as the server sent
 * them), or NULL; owned by the client. */
json_t *omero_client_login_reply (const omero_client_t *self);
/* Close the session on the server and forget it. */
int omero_client_logout (omero_client_t *self, omero_err_t *err);
/* Forget the session key without closing it (it stays usable by others). */
void omero_client_detach (omero_client_t *self);
/* Tell the server the session is still in use (resets the idle timeout). */
int omero_client_keepalive (omero_client_t *self, omero_err_t *err);
/* The caller's event context (IAdmin.getEventContext): userName, userId, groupName, groupId,
 * sessionUuid, isAdmin, memberOfGroups, leaderOfGroups …; the caller frees it. */
json_t *omero_client_event_context (omero_client_t *self, omero_err_t *err);
/* Switch the session's current group (ISession.setSecurityContext). */
int omero_client_set_group (omero_client_t *self, long long group_id, omero_err_t *err);

/* Call Service.method with JSON arguments (args may be NULL for {}; not stolen).
 * Returns the JSON reply (new reference) or NULL with err set. */
json_t *omero_client_call (omero_client_t *self, const char *service, const char *method,
                           json_t *args, omero_err_t *err);
/* The same with the arguments as JSON text ("{...}" or NULL); returns malloc'ed JSON text. */
char *omero_client_call_text (omero_client_t *self, const char *service, const char *method,
                              const char *args_json, omero_err_t *err);
/* Call a method that takes bytes: data is sent as application/octet-stream, args in
 * X-OMERO-Args. Returns the JSON reply (new reference) or NULL. */
json_t *omero_client_upload (omero_client_t *self, const char *service, const char *method,
                             json_t *args, const void *data, size_t len, omero_err_t *err);
/* The same, streaming exactly `len` bytes from a source instead of a buffer (large files are
 * never held in memory). */
json_t *omero_client_upload_stream (omero_client_t *self, const char *service, const char *method,
                                    json_t *args, omero_source_fn *source, void *source_arg, size_t len,
                                    omero_err_t *err);
/* Call a method that returns bytes; they are passed to sink as they arrive. The JSON part of the
 * reply (X-OMERO-Result, or the body when the server answered JSON) goes to *result when result
 * is not NULL (the caller frees it). */
int omero_client_download (omero_client_t *self, const char *service, const char *method,
                           json_t *args, omero_sink_fn *sink, void *sink_arg, json_t **result,
                           omero_err_t *err);
/* Same, collecting the bytes into a malloc'ed buffer (*data, *len). */
int omero_client_download_buf (omero_client_t *self, const char *service, const char *method,
                               json_t *args, void **data, size_t *len, json_t **result,
                               omero_err_t *err);

/* Value of a JSON object member under any of several names separated by '|' ("omeName|UserName"),
 * or NULL; servers encode model objects in the JSON API's form, so clients look fields up
 * tolerantly. A value wrapped as {"value": v} (an rtype) is unwrapped. */
json_t *omero_json_find (json_t *obj, const char *names);
/* A member as text (strings as they are, numbers and booleans printed into buf), or fallback. */
const char *omero_json_text (json_t *obj, const char *names, char *buf, size_t len,
                             const char *fallback);
/* A member as an integer (a number, a numeric string, or an object's "@id"/"id"), or fallback. */
long long omero_json_int (json_t *obj, const char *names, long long fallback);
/* A member as a boolean (true/false, numbers, "true"/"false"), or fallback. */
bool omero_json_bool (json_t *obj, const char *names, bool fallback);
/* Library version ("5.6.10"). */
const char *omero_version (void);
#endif
