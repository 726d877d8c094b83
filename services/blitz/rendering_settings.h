/* rendering_settings: OMERO's rendering settings stored per user per image (RenderingDef with
 * QuantumDef and one ChannelBinding per channel) and the IRenderingSettings service over the
 * grid: read, save, reset to import defaults or to the owner's, apply to other images and sets,
 * plus RenderingEngine.getSettings/saveSettings carrying the rnd_settings JSON form.
 *
 *   IRenderingSettings.getRenderingSettings {pixelsId} -> {value: the caller's own RenderingDef or null}
 *   IRenderingSettings.getAllRenderingDefs {pixelsId} -> {value: [every user's RenderingDef]}
 *   IRenderingSettings.resetDefaultsInImage {imageId} / resetDefaultsForPixels {pixelsId}
 *       -> {pixelsId, rdefId, version}
 *   IRenderingSettings.resetDefaultsInSet / setOriginalSettingsInSet / resetDefaultsByOwnerInSet
 *       {type: "Image"|"Dataset"|"Project"|"Plate", ids: [...]} -> {value: [image ids reset]}
 *   IRenderingSettings.applySettingsToSet {from: pixelsId, type, ids}
 *   IRenderingSettings.applySettingsToImages {from, ids} / applySettingsToImage {from, to} /
 *       applySettingsToDataset {from, datasetId} / applySettingsToProject {from, projectId}
 *       -> {True: [image ids], False: [image ids]}
 *   IRenderingSettings.sanityCheckPixels {pixelsFrom, pixelsTo} -> {value: bool}
 *   RenderingEngine.getSettings {pixelsId} -> {pixelsId, rdefId, ownerId, version, settings
 *       (rnd_settings_to_json form), renderingDef}
 *   RenderingEngine.saveSettings {pixelsId, settings} (omitted keys keep the current values)
 *       -> {pixelsId, rdefId, version}; RenderingEngine.resetDefaults {pixelsId}
 * setOriginalSettingsInSet and resetDefaultsInSet both give the import defaults (windows from
 * StatsInfo). Unknown or invisible images in a set are skipped, as OMERO skips them; images
 * the caller may not annotate are left out (reset) or listed under False (apply).
 */
#ifndef BLZ_RENDERING_SETTINGS_H
#define BLZ_RENDERING_SETTINGS_H
#include "blitz.h"
#include "services/blitz/render/rnd_settings.h"

/* Register IRenderingSettings.* and RenderingEngine.getSettings/saveSettings on the server. */
void blz_rdef_register (blz_app_t *app);

/* The settings the caller sees for Pixels:pixels_id: their own RenderingDef, else the image
 * owner's, else import defaults computed from the statistics (not saved). *rdef_id is the row
 * used or -1. db's transaction is already begun with the caller's context. */
int blz_rdef_load (blz_app_t *app, blz_db_t *db, int64_t pixels_id, rnd_settings_t **out, int64_t *rdef_id,
                   omr_err_t *err);
/* Save s as the caller's RenderingDef for pixels_id (create or update; bumps the version so
 * thumbnails regenerate). */
int blz_rdef_save (blz_app_t *app, blz_db_t *db, int64_t pixels_id, const rnd_settings_t *s, omr_err_t *err);

/* The import defaults of Pixels:pixels_id from its channels' metadata and StatsInfo (new
 * settings; free with rnd_settings_destroy). */
int blz_rdef_defaults (blz_db_t *db, int64_t pixels_id, rnd_settings_t **out, omr_err_t *err);
/* Per-channel StatsInfo global min/max of Pixels:pixels_id (malloc'ed arrays of n entries;
 * channels without statistics get the pixel type's range). */
int blz_rdef_stats (blz_db_t *db, int64_t pixels_id, int n, double **gmin, double **gmax, omr_err_t *err);
/* The caller's RenderingDef id and version for pixels_id, or the owner's when the caller
 * has none (id -1 when neither exists). */
int blz_rdef_current (blz_db_t *db, int64_t pixels_id, int64_t *rdef_id, int64_t *version, omr_err_t *err);
#endif
