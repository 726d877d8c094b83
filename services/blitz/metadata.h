/* metadata: IMetadata's annotation operations over /rpc/v1/IMetadata/<method>, as the caller
 * (row-level security decides what is visible). Annotations come back in the JSON API's form:
 * MapAnnotation "Value" as ordered [key, value] pairs (keys may repeat), FileAnnotation with its
 * OriginalFile under "File", tags, comments, numbers, booleans, timestamps, terms, XML, lists.
 *
 *   loadAnnotations          {"rootType": "Image", "ids": [ids], "annotationTypes": ["TagAnnotation"…]?,
 *                             "annotatorIds": [user ids]?}
 *       -> {"data": {"<id>": [annotations]}} (every id asked for has a list, maybe empty)
 *   loadSpecifiedAnnotations {"annotationType": "TagAnnotation", "include": [ns]?, "exclude": [ns]?,
 *                             "options": {"experimenter": id}?} -> {"data": [annotations]}
 *   getTaggedObjectsCount    {"ids": [tag ids]} -> {"data": {"<tag id>": objects tagged}}
 *   loadTagContent           {"ids": [tag ids]} -> {"data": {"<tag id>": [Projects, Datasets, Images,
 *                             Screens, Plates, PlateAcquisitions, Wells, Folders tagged]}}
 *   loadTagSets              {"id": tag set id?, "options": {"orphan": bool, "experimenter": id}}
 *       -> {"data": [tag sets (TagAnnotation, ns "openmicroscopy.org/omero/insight/tagset") with
 *          "AnnotationLinks": [{"Child": tag}…]; with orphan also the tags in no set]}
 * Types are annotation class names ("TagAnnotation", "omero.model.TagAnnotationI" …); an
 * abstract one ("TextAnnotation") takes its subtypes. "group" as in IQuery. */
#ifndef BLZ_METADATA_H
#define BLZ_METADATA_H
#include "blitz.h"

#define BLZ_TAGSET_NS "openmicroscopy.org/omero/insight/tagset"

/* Register the IMetadata.* operations. */
void blz_metadata_register (blz_app_t *app);
#endif
