/* test_model_json: model objects <-> JSON without a database: JSON keys of fields, type names,
 * timestamps, and decoding into save plans (order, references, validation errors). */
/* UNIT_LINK: services/blitz services/blitz/hql */
#include "unit.h"
#include "../../services/blitz/model_json.h"
#include <stdlib.h>

static const omr_type_t *
type (const char *name)
{
    return hql_model_type (hql_model_type_index (name));
}

static void
test_keys_and_types (void)
{
    char buf[128];
    CHECK_STR (blz_mj_key (hql_model_field (type ("Project"), "name"), buf, sizeof buf), "Name");
    CHECK_STR (blz_mj_key (hql_model_field (type ("Experimenter"), "omeName"), buf, sizeof buf), "UserName");
    CHECK_STR (blz_mj_key (hql_model_field (type ("Image"), "series"), buf, sizeof buf), "omero:series");
    CHECK_STR (blz_mj_key (hql_model_field (type ("PixelsType"), "value"), buf, sizeof buf), "value");
    CHECK_STR (blz_mj_key (hql_model_field (type ("TagAnnotation"), "textValue"), buf, sizeof buf), "Value");
    CHECK (blz_mj_field (type ("Pixels"), "PhysicalSizeX") == hql_model_field (type ("Pixels"), "physicalSizeX"));
    CHECK (blz_mj_field (type ("Pixels"), "physicalSizeX") == hql_model_field (type ("Pixels"), "physicalSizeX"));
    CHECK (blz_mj_field (type ("Pixels"), "Type") == hql_model_field (type ("Pixels"), "pixelsType"));
    CHECK (blz_mj_field (type ("Project"), "details.owner") == NULL);
    CHECK (blz_mj_field (type ("Project"), "Nope") == NULL);
    blz_mj_type_uri (type ("Project"), buf, sizeof buf);
    CHECK_STR (buf, "http://www.openmicroscopy.org/Schemas/OME/2016-06#Project");
    CHECK (blz_mj_type (buf) == type ("Project"));
    CHECK (blz_mj_type ("omero.model.ProjectI") == type ("Project"));
    CHECK (blz_mj_type ("ome.model.containers.Project") == type ("Project"));
    CHECK (blz_mj_type ("Project") == type ("Project"));
    CHECK (blz_mj_type ("Projekt") == NULL);
    blz_mj_type_uri (type ("Roi"), buf, sizeof buf);
    CHECK_STR (buf, "http://www.openmicroscopy.org/Schemas/OME/2016-06#ROI");
    CHECK (blz_mj_type (buf) == type ("Roi"));
    blz_mj_class_name (type ("Project"), buf, sizeof buf);
    CHECK_STR (buf, "ome.model.containers.Project");
    blz_mj_class_name (type ("TagAnnotation"), buf, sizeof buf);
    CHECK_STR (buf, "ome.model.annotations.TagAnnotation");
    blz_mj_class_name (type ("PixelsType"), buf, sizeof buf);
    CHECK_STR (buf, "ome.model.enums.PixelsType");
    const omr_type_t *t;
    int64_t id;
    CHECK (blz_mj_parse_ref ("Dataset:51", &t, &id) == 0 && t == type ("Dataset") && id == 51);
    CHECK (blz_mj_parse_ref ("omero.model.DatasetI:0", &t, &id) == 0 && id == 0);
    CHECK (blz_mj_parse_ref ("Dataset:", &t, &id) < 0);
    CHECK (blz_mj_parse_ref ("Dataset:x", &t, &id) < 0);
    CHECK (blz_mj_parse_ref ("Nothing:1", &t, &id) < 0);
}

static void
test_timestamps (void)
{
    CHECK_INT (blz_mj_timestamp_ms ("2009-02-27 10:25:32"), 1235730332000LL);
    CHECK_INT (blz_mj_timestamp_ms ("2009-02-27 10:25:32.5"), 1235730332500LL);
    CHECK_INT (blz_mj_timestamp_ms ("2009-02-27 11:25:32+01"), 1235730332000LL);
    CHECK_INT (blz_mj_timestamp_ms ("1970-01-01"), 0);
    CHECK_INT (blz_mj_timestamp_ms ("yesterday"), -1);
}

/* Decode JSON text; returns the root index or -1 with err. */
static int
decode (const char *text, blz_mj_plan_t *plan, omr_err_t *err)
{
    json_t *o = json_loads (text, 0, NULL);
    CHECK (o != NULL);
    int r = blz_mj_decode (o, plan, err);
    json_decref (o);
    return r;
}

static void
test_decode_graph (void)
{
    blz_mj_plan_t plan = {0};
    omr_err_t err = {0};
    int root = decode ("{\"@type\": \"Project\", \"Name\": \"p\", \"DatasetLinks\": [{\"@type\": \"ProjectDatasetLink\","
                       " \"child\": {\"@type\": \"Dataset\", \"Name\": \"d\"}}, {\"@type\": \"ProjectDatasetLink\","
                       " \"child\": \"Dataset:7\"}]}", &plan, &err);
    CHECK_INT (root, 0);
    CHECK_INT (plan.n, 4);
    /* project, then the new dataset before the link that points at it, then the second link */
    CHECK (plan.nodes[0].type == type ("Project") && plan.nodes[0].id == 0);
    CHECK (plan.nodes[1].type == type ("Dataset"));
    CHECK (plan.nodes[2].type == type ("ProjectDatasetLink") && plan.nodes[2].parent == 0);
    CHECK_INT (plan.nodes[2].sets[0].node, 1);
    CHECK (plan.nodes[3].parent == 0 && plan.nodes[3].index == 1);
    CHECK_INT (plan.nodes[3].sets[0].ref, 7);
    blz_mj_plan_free (&plan);

    root = decode ("{\"@type\": \"Objective\", \"@id\": 3, \"omero:version\": 2, \"WorkingDistance\": "
                   "{\"Value\": 0.17, \"Unit\": \"MILLIMETER\"}, \"NominalMagnification\": \"63\", "
                   "\"Correction\": {\"@id\": 0, \"@type\": \"Correction\", \"value\": \"UV\"}}", &plan, &err);
    CHECK_INT (root, 0);
    CHECK (plan.nodes[0].id == 3 && plan.nodes[0].version == 2 && plan.n == 1);
    for (int i = 0; i < plan.nodes[0].nsets; i++) {
        const blz_mj_set_t *s = &plan.nodes[0].sets[i];
        if (!strcmp (s->field->name, "workingDistance")) {
            CHECK_STR (s->value, "0.17000000000000001");
            CHECK_STR (s->unit, "mm");
        } else if (!strcmp (s->field->name, "nominalMagnification"))
            CHECK_STR (s->value, "63");
        else if (!strcmp (s->field->name, "correction"))
            CHECK (s->ref == 0 && s->node == -1);
    }
    blz_mj_plan_free (&plan);

    root = decode ("{\"@type\": \"MapAnnotation\", \"Value\": [[\"a\", \"1\"], {\"name\": \"b\", \"value\": 2}]}",
                   &plan, &err);
    CHECK_INT (root, 0);
    CHECK_INT (json_array_size (plan.nodes[0].sets[0].map), 2);
    blz_mj_plan_free (&plan);
    root = decode ("{\"@type\": \"Image\", \"Name\": \"i\", \"AcquisitionDate\": 1235730332000}", &plan, &err);
    CHECK_INT (root, 0);
    for (int i = 0; i < plan.nodes[0].nsets; i++)
        if (!strcmp (plan.nodes[0].sets[i].field->name, "acquisitionDate"))
            CHECK_STR (plan.nodes[0].sets[i].value, "2009-02-27 10:25:32.000");
    blz_mj_plan_free (&plan);
}

static void
test_decode_errors (void)
{
    static const struct {
        const char *json, *name, *words;
    } cases[] = {
        {"{\"Name\": \"no type\"}", OMR_E_VALIDATION, "@type"},
        {"{\"@type\": \"Nothing\"}", OMR_E_VALIDATION, "unknown type"},
        {"{\"@type\": \"Project\", \"Nmae\": \"x\"}", OMR_E_VALIDATION, "Nmae"},
        {"{\"@type\": \"Project\", \"Name\": null}", OMR_E_VALIDATION, "required"},
        {"{\"@type\": \"Image\", \"Name\": \"i\", \"Series\": \"three\"}", OMR_E_VALIDATION, "integer"},
        {"{\"@type\": \"Image\", \"Name\": \"i\", \"Series\": 99999999999}", OMR_E_VALIDATION, "range"},
        {"{\"@type\": \"Annotation\"}", OMR_E_VALIDATION, "abstract"},
        {"{\"@type\": \"Objective\", \"WorkingDistance\": {\"Value\": 1, \"Unit\": \"SECOND\"}}", OMR_E_VALIDATION,
         "unit"},
        {"{\"@type\": \"Objective\", \"WorkingDistance\": 5}", OMR_E_VALIDATION, "workingDistance"},
        {"{\"@type\": \"ProjectDatasetLink\", \"parent\": \"Image:1\"}", OMR_E_VALIDATION, "Project"},
        {"{\"@type\": \"ProjectDatasetLink\", \"parent\": {\"@type\": \"Dataset\"}}", OMR_E_VALIDATION, "Project"},
        {"{\"@type\": \"Project\", \"Name\": \"x\", \"version\": \"new\"}", OMR_E_VALIDATION, "version"},
        {"{\"@type\": \"Project\", \"Name\": \"x\", \"details.owner\": 1}", OMR_E_SECURITY, "details"},
        {"{\"@type\": \"Project\", \"Name\": \"x\", \"DatasetLinks\": {\"a\": 1}}", OMR_E_VALIDATION, "list"},
        {"[1, 2]", OMR_E_VALIDATION, "JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blz_mj_plan_t plan = {0};
        omr_err_t err = {0};
        int r = decode (cases[i].json, &plan, &err);
        CHECK (r < 0);
        if (r >= 0 || strcmp (err.name, cases[i].name) || !strstr (err.msg, cases[i].words))
            fprintf (stderr, "  case %zu: %s -> %s: %s\n", i, cases[i].json, err.name, err.msg);
        CHECK_STR (err.name, cases[i].name);
        CHECK (strstr (err.msg, cases[i].words) != NULL);
        blz_mj_plan_free (&plan);
    }
}

int
main (void)
{
    RUN (test_keys_and_types);
    RUN (test_timestamps);
    RUN (test_decode_graph);
    RUN (test_decode_errors);
    return UNIT_DONE ();
}
