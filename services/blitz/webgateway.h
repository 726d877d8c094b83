/* webgateway: OMERO.web's webgateway URLs served by Blitz (op Webgateway.handle, which the
 * router calls for every /webgateway/… request with {method, path, query, headers, cookies,
 * remote} and the caller's session). Paths, query syntax and answers follow OMERO.web:
 *
 *   render_image/{id}/[{z}/{t}/]              JPEG (or format=png|tif) of a plane
 *   render_image_region/{id}/{z}/{t}/?region=x,y,w,h | ?tile=level,tx,ty[,tw,th]
 *   render_split_channel/{id}/{z}/{t}/        every channel in its own panel
 *   imgData/{id}/                             the image's JSON (sizes, channels, rdefs, tiles …)
 *   histogram_json/{id}/channel/{c}/?theZ=&theT=&bins=
 *   saveImgRDef/{id}/ (POST, CSRF)            store c=, m=, p=, maps= as the caller's settings
 *   render_thumbnail/{id}/[{w}/[{h}/]]  render_thumbnail/size/{w}/{id}/
 *   render_birds_eye_view/{id}/[{size}/]      get_thumbnails/[{w}/]?id=…&id=…
 *
 * with the rendering parameters c= m= p= q= maps= format= of rnd_params.h. Replies carry an
 * ETag (caller, image, settings version, path and query) and Last-Modified; a matching
 * If-None-Match gives 304 without reading pixels. Bad parameters give 400 with a text message,
 * images the caller cannot see 404. */
#ifndef BLZ_WEBGATEWAY_H
#define BLZ_WEBGATEWAY_H
#include "blitz.h"

/* Register Webgateway.handle on the server; returns the service state (per-worker image
 * cache, quantum tables and JPEG encoders) for blz_webgateway_free, NULL when out of memory. */
void *blz_webgateway_register (blz_app_t *app);
/* Free the state after the server stopped; *state becomes NULL. */
void blz_webgateway_free (void **state);
#endif
