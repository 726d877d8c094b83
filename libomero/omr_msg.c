/* omr_msg: building, encoding and decoding grid envelopes. */
#include "omr_msg.h"
#include "omr_util.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_ullong next_id;

static omr_msg_t *
msg_new (json_t *header, json_t *body)
{
    omr_msg_t *self = calloc (1, sizeof *self);
    self->header = header;
    self->body = body ? body : json_null ();
    return self;
}

omr_msg_t *
omr_msg_new_request (const char *op, json_t *body)
{
    char id[48];
    snprintf (id, sizeof id, "%d-%llu", (int) getpid (), (unsigned long long) atomic_fetch_add (&next_id, 1));
    json_t *h = json_pack ("{s:i,s:s,s:s}", "v", OMR_PROTOCOL_VERSION, "id", id, "op", op);
    return msg_new (h, body);
}

omr_msg_t *
omr_msg_new_reply (const omr_msg_t *req, json_t *body)
{
    json_t *h = json_pack ("{s:i,s:s,s:i}", "v", OMR_PROTOCOL_VERSION, "id", req ? omr_msg_id (req) : "",
                           "status", 200);
    return msg_new (h, body);
}

omr_msg_t *
omr_msg_new_error (const omr_msg_t *req, const omr_err_t *err)
{
    int status = err && err->status ? err->status : 500;
    json_t *h = json_pack ("{s:i,s:s,s:i,s:{s:s,s:s}}", "v", OMR_PROTOCOL_VERSION, "id",
                           req ? omr_msg_id (req) : "", "status", status, "error", "name",
                           err && err->name[0] ? err->name : OMR_E_INTERNAL, "message", err ? err->msg : "");
    return msg_new (h, NULL);
}

void
omr_msg_destroy (omr_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    omr_msg_t *self = *self_p;
    json_decref (self->header);
    json_decref (self->body);
    for (size_t i = 0; i < self->nraw; i++)
        zframe_destroy (&self->raw[i]);
    free (self->raw);
    free (self);
    *self_p = NULL;
}

void
omr_msg_add_frame (omr_msg_t *self, zframe_t *frame)
{
    self->raw = realloc (self->raw, (self->nraw + 1) * sizeof (zframe_t *));
    self->raw[self->nraw++] = frame;
}

void
omr_msg_add_raw (omr_msg_t *self, const void *data, size_t len)
{
    omr_msg_add_frame (self, zframe_new (data, len));
}

void
omr_msg_set_ctx (omr_msg_t *self, json_t *ctx)
{
    json_object_set_new (self->header, "ctx", ctx ? ctx : json_object ());
}

void
omr_msg_set_deadline (omr_msg_t *self, int64_t deadline_ms)
{
    json_object_set_new (self->header, "deadline", json_integer (deadline_ms));
}

const char *
omr_msg_op (const omr_msg_t *self)
{
    const char *s = json_string_value (json_object_get (self->header, "op"));
    return s ? s : "";
}

const char *
omr_msg_id (const omr_msg_t *self)
{
    const char *s = json_string_value (json_object_get (self->header, "id"));
    return s ? s : "";
}

json_t *
omr_msg_ctx (const omr_msg_t *self)
{
    return json_object_get (self->header, "ctx");
}

int
omr_msg_status (const omr_msg_t *self)
{
    json_t *s = json_object_get (self->header, "status");
    return s ? (int) json_integer_value (s) : 0;
}

int64_t
omr_msg_deadline (const omr_msg_t *self)
{
    return json_integer_value (json_object_get (self->header, "deadline"));
}

int
omr_msg_error (const omr_msg_t *self, omr_err_t *err)
{
    json_t *e = json_object_get (self->header, "error");
    if (!e)
        return 0;
    const char *name = json_string_value (json_object_get (e, "name"));
    const char *msg = json_string_value (json_object_get (e, "message"));
    return omr_err_set (err, name ? name : OMR_E_INTERNAL, omr_msg_status (self) ? omr_msg_status (self) : 500,
                        "%s", msg ? msg : "");
}

zmsg_t *
omr_msg_encode (omr_msg_t **self_p, zmsg_t *zmsg)
{
    omr_msg_t *self = *self_p;
    if (!zmsg)
        zmsg = zmsg_new ();
    char *h = json_dumps (self->header, JSON_COMPACT);
    char *b = json_dumps (self->body, JSON_COMPACT | JSON_ENCODE_ANY);
    zmsg_addmem (zmsg, h, strlen (h));
    zmsg_addmem (zmsg, b, strlen (b));
    free (h);
    free (b);
    for (size_t i = 0; i < self->nraw; i++) {
        zmsg_append (zmsg, &self->raw[i]);
    }
    self->nraw = 0;
    omr_msg_destroy (self_p);
    return zmsg;
}

omr_msg_t *
omr_msg_decode (zmsg_t **zmsg_p, omr_err_t *err)
{
    zmsg_t *zmsg = *zmsg_p;
    omr_msg_t *self = NULL;
    if (!zmsg || zmsg_size (zmsg) < 2) {
        omr_err_set (err, OMR_E_API, 400, "malformed message: expected header and body frames");
        goto done;
    }
    zframe_t *hf = zmsg_pop (zmsg);
    zframe_t *bf = zmsg_pop (zmsg);
    json_error_t jerr;
    json_t *h = json_loadb ((const char *) zframe_data (hf), zframe_size (hf), 0, &jerr);
    json_t *b = zframe_size (bf) ? json_loadb ((const char *) zframe_data (bf), zframe_size (bf),
                                               JSON_DECODE_ANY, &jerr)
                                 : json_null ();
    zframe_destroy (&hf);
    zframe_destroy (&bf);
    if (!h || !json_is_object (h) || !b) {
        json_decref (h);
        json_decref (b);
        omr_err_set (err, OMR_E_API, 400, "malformed message: %s", jerr.text);
        goto done;
    }
    json_t *v = json_object_get (h, "v");
    if (v && json_integer_value (v) != OMR_PROTOCOL_VERSION) {
        json_decref (h);
        json_decref (b);
        omr_err_set (err, OMR_E_API, 400, "protocol version %lld not supported (this is %d)",
                     (long long) json_integer_value (v), OMR_PROTOCOL_VERSION);
        goto done;
    }
    self = msg_new (h, b);
    zframe_t *f;
    while ((f = zmsg_pop (zmsg)))
        omr_msg_add_frame (self, f);
done:
    zmsg_destroy (zmsg_p);
    return self;
}
