/* omr_msg: the envelope of every ZeroMQ request and reply in the grid (DESIGN.md §3).
 * Frame 0 is a small JSON header, frame 1 the JSON body, further frames raw bytes.
 * Request header: {"v":1,"id":"…","op":"Service.method","ctx":{session,user,group,…},"deadline":ms}
 * Reply header:   {"v":1,"id":"…","status":200} or with "error":{"name":"…","message":"…"}. */
#ifndef OMR_MSG_H
#define OMR_MSG_H
#include "omr_error.h"
#include <czmq.h>
#include <jansson.h>

#define OMR_PROTOCOL_VERSION 1

typedef struct {
    json_t *header;     /* owned */
    json_t *body;       /* owned, never NULL (json null when empty) */
    zframe_t **raw;     /* owned raw frames */
    size_t nraw;
} omr_msg_t;

/* A request for an operation ("IConfig.getVersion"); takes ownership of body (may be NULL). */
omr_msg_t *omr_msg_new_request (const char *op, json_t *body);
/* A successful reply to req; takes ownership of body (may be NULL). */
omr_msg_t *omr_msg_new_reply (const omr_msg_t *req, json_t *body);
/* An error reply to req carrying err's name, message and status. */
omr_msg_t *omr_msg_new_error (const omr_msg_t *req, const omr_err_t *err);
/* Free a message. */
void omr_msg_destroy (omr_msg_t **self);
/* Append a raw bytes frame (copied). */
void omr_msg_add_raw (omr_msg_t *self, const void *data, size_t len);
/* Append a raw frame, taking ownership. */
void omr_msg_add_frame (omr_msg_t *self, zframe_t *frame);
/* Set the caller context object of a request (takes ownership). */
void omr_msg_set_ctx (omr_msg_t *self, json_t *ctx);
/* Set an absolute deadline in ms since the epoch. */
void omr_msg_set_deadline (omr_msg_t *self, int64_t deadline_ms);
/* Accessors. */
const char *omr_msg_op (const omr_msg_t *self);
const char *omr_msg_id (const omr_msg_t *self);
json_t *omr_msg_ctx (const omr_msg_t *self);
int omr_msg_status (const omr_msg_t *self);
int64_t omr_msg_deadline (const omr_msg_t *self);
/* If self is an error reply, copy the error into err and return -1; else 0. */
int omr_msg_error (const omr_msg_t *self, omr_err_t *err);
/* Encode into frames appended to zmsg (created if NULL); consumes *self. */
zmsg_t *omr_msg_encode (omr_msg_t **self, zmsg_t *zmsg);
/* Decode the remaining frames of zmsg (consumed); NULL with err on malformed input. */
omr_msg_t *omr_msg_decode (zmsg_t **zmsg, omr_err_t *err);
#endif
