/* test_hql: the HQL translator — every valid query of the reference (api-model.md §7), the
 * shapes it reports, parameters, and the queries it must refuse (injection attempts, unknown
 * names, documentation typos). */
/* UNIT_LINK: services/blitz/hql */
#include "unit.h"
#include "../../services/blitz/hql/hql.h"
#include <stdlib.h>
#include <time.h>

static hql_query_t *
ok (const char *hql)
{
    omr_err_t err = {0};
    hql_query_t *q = hql_translate (hql, &err);
    if (!q)
        fprintf (stderr, "  translate failed: %s\n    %s\n", hql, err.msg);
    return q;
}

static int
contains (const char *s, const char *sub)
{
    return s && sub && strstr (s, sub) != NULL;
}

/* Every valid query of the seed (api-model.md §7, doc typos corrected where marked). */
static const char *seed_queries[] = {
    "select i from Image i where i.id = :id and name like :namedParameter",
    "select p from Project p join fetch p.datasetLinks dil join fetch dil.child where p.details.owner.omeName = :name",
    "select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child as dataset "
    "where p.id=:pid",
    "select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child as dataset",
    "from Dataset d left outer join d.imageLinks where d.name = 'test'",                     /* #5, images -> imageLinks */
    "select i from Image i join fetch i.datasetLinks as dlinks join fetch i.annotationLinks as alinks "
    "join fetch i.details.owner as owner where i.id = :id",                                  /* #6 without the last fetch */
    "select p from Project p where p.details.owner.omeName = :someUser",                     /* #7 with a parameter */
    "select d from Dataset d join fetch d.projectLinks links join fetch links.parent where d.id = :id", /* #8 */
    "select d from Dataset d join fetch d.projectLinks links where links.parent.id > 2000",
    "select a from FileAnnotation a where a.ns like 'http://name-of-application-provider.com/name-of-application/%'",
    "from PixelsType as p where p.value=:pType",                                             /* #11 PixelsType */
    "select name from OriginalFile where id=4106",
    "select id, textValue, file from Annotation a order by a.id desc",
    "select id, textValue from TagAnnotation a order by a.id desc",
    "select id, owner.id, started, userAgent from Session where closed is null",
    "SELECT ap.name FROM Experimenter user JOIN user.config AS ap WHERE user.id = 123 AND ap.name LIKE "
    "'AdminPrivilege:%' AND LOWER(ap.value) <> 'true' ORDER BY ap.name",
    "select well from Well as well left outer join fetch well.plate as pt left outer join fetch well.wellSamples as ws "
    "left outer join fetch ws.plateAcquisition as pa left outer join fetch ws.image as img left outer join fetch "
    "img.pixels as pix left outer join fetch pix.pixelsType as pt where well.plate.id = :n",
    "select planeInfo.exposureTime.value from PlaneInfo planeInfo",
    "select planeInfo.exposureTime.unit from PlaneInfo planeInfo",
    "select cast(planeInfo.exposureTime.unit as text) from PlaneInfo planeInfo",
    "select planeInfo.exposureTime from PlaneInfo planeInfo",
    "select nv.value from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'",
    "select ann from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'",
    "select ann from MapAnnotation ann where not exists(from MapAnnotation m2 join m2.mapValue as nv2 where nv2.name "
    "like 'size%')",
    "select ann from MapAnnotation ann join ann.mapValue as nv1 join ann.mapValue as nv2 where nv1.name = 'date' and "
    "nv2.name = 'owner'",
    "select i from Image i",
    "select i from Image i join i.pixels p",                                                 /* #26 defaultPixels */
    "select p from Project as p where p.id = :id",
    "select p from Project as p where p.id in (:ids)",
    "select p from Project as p where p.details.owner.id = :id",
    "select i from Image i left outer join fetch i.annotationLinksCountPerOwner",
    "select e from Experimenter e where omeName = :name",
    NULL};

static void
test_seed_queries (void)
{
    for (int i = 0; seed_queries[i]; i++) {
        hql_query_t *q = ok (seed_queries[i]);
        CHECK (q != NULL);
        if (q) {
            CHECK (q->sql && strncmp (q->sql, "SELECT ", 7) == 0);
            CHECK (q->nitems > 0);
        }
        hql_query_destroy (&q);
    }
}

static void
test_object_query_shape (void)
{
    hql_query_t *q = ok ("select p from Project p left outer join fetch p.datasetLinks as links "
                         "left outer join fetch links.child as dataset where p.id=:pid");
    CHECK (q != NULL);
    if (!q)
        return;
    CHECK (q->object_query);
    CHECK_INT (q->nitems, 1);
    CHECK_INT (q->nobjects, 3);
    CHECK_STR (q->objects[0].type->name, "Project");
    CHECK_INT (q->objects[0].parent, -1);
    CHECK_STR (q->objects[1].type->name, "ProjectDatasetLink");
    CHECK_INT (q->objects[1].parent, 0);
    CHECK_STR (q->objects[1].via->name, "datasetLinks");
    CHECK (q->objects[1].optional);
    CHECK_STR (q->objects[2].type->name, "Dataset");
    CHECK_INT (q->objects[2].parent, 1);
    CHECK_STR (q->objects[2].via->name, "child");
    CHECK_INT (q->nparams, 1);
    CHECK_STR (q->params[0].name, "pid");
    CHECK (contains (q->sql, "FROM project t1 LEFT JOIN projectdatasetlink t2 ON t2.parent = t1.id "
                             "LEFT JOIN dataset t3 ON t3.id = t2.child WHERE (t1.id = $1)"));
    /* every object column range is contiguous and starts with the id */
    for (int i = 0; i < q->nobjects; i++) {
        CHECK_INT (q->cols[q->objects[i].first_col].role, HQL_COL_ID);
        CHECK_INT (q->cols[q->objects[i].first_col].object, i);
    }
    int total = 0;
    for (int i = 0; i < q->nobjects; i++)
        total += q->objects[i].ncols;
    CHECK_INT (total, q->ncols);
    /* details columns are described by their model fields */
    int owner = 0, perms = 0;
    for (int i = 0; i < q->objects[0].ncols; i++) {
        const hql_column_t *c = &q->cols[q->objects[0].first_col + i];
        if (c->field && strcmp (c->field->name, "details.owner") == 0)
            owner = 1;
        if (c->field && strcmp (c->field->name, "details.permissions") == 0)
            perms = 1;
    }
    CHECK (owner && perms);
    hql_query_destroy (&q);
}

static void
test_projection_and_units (void)
{
    hql_query_t *q = ok ("select id, owner.id, started, userAgent from Session where closed is null");
    CHECK (q && !q->object_query);
    if (q) {
        CHECK_INT (q->nitems, 4);
        CHECK_INT (q->ncols, 4);
        CHECK_STR (q->items[1].label, "owner.id");
        CHECK_INT (q->cols[1].scalar, OMR_SCALAR_LONG);
        CHECK (contains (q->sql, "SELECT t1.id, t1.owner, t1.started, t1.useragent FROM session t1 WHERE (t1.closed IS NULL)"));
    }
    hql_query_destroy (&q);

    q = ok ("select planeInfo.exposureTime from PlaneInfo planeInfo");
    CHECK (q != NULL);
    if (q) {
        CHECK_INT (q->items[0].kind, HQL_ITEM_QUANTITY);
        CHECK_INT (q->ncols, 2);
        CHECK_STR (hql_model_units (q->items[0].units)->name, "UnitsTime");
        CHECK_INT (q->cols[1].role, HQL_COL_UNIT);
    }
    hql_query_destroy (&q);

    q = ok ("select planeInfo.exposureTime.unit, cast(planeInfo.exposureTime.unit as text) from PlaneInfo planeInfo");
    CHECK (q && contains (q->sql, "_unit_name(t1.exposuretimeunit)"));
    CHECK (q && contains (q->sql, "CAST(t1.exposuretimeunit::text AS text)"));
    hql_query_destroy (&q);

    q = ok ("select p.physicalSizeX.value from Pixels p where p.physicalSizeX.unit = 'MICROMETER'");
    CHECK (q && contains (q->sql, "SELECT t1.physicalsizex FROM pixels t1 WHERE (_unit_name(t1.physicalsizexunit) = $1)"));
    hql_query_destroy (&q);
}

static void
test_parameters (void)
{
    hql_query_t *q = ok ("select i from Image i where i.id in (:ids) and i.name = :n and i.description = :n "
                         "and i.series = 3 and i.name like 'a''b%'");
    CHECK (q != NULL);
    if (!q)
        return;
    CHECK_INT (q->nparams, 4);
    CHECK_STR (q->params[0].name, "ids");
    CHECK (q->params[0].is_list);
    CHECK_STR (q->params[1].name, "n");
    CHECK (!q->params[1].is_list);
    CHECK (q->params[2].name == NULL);
    CHECK_STR (q->params[2].literal, "3");
    CHECK_STR (q->params[3].literal, "a'b%");
    CHECK_INT (hql_param_index (q, "n"), 1);
    CHECK_INT (hql_param_index (q, "zzz"), -1);
    CHECK (contains (q->sql, "(t1.id = ANY ($1))"));
    CHECK (contains (q->sql, "(t1.name = $2)") && contains (q->sql, "(t1.description = $2)"));
    CHECK (!contains (q->sql, "a'b") && !contains (q->sql, "'"));
    hql_query_destroy (&q);

    q = ok ("select p from Project p where p.id not in (:ids)");
    CHECK (q && contains (q->sql, "(NOT (t1.id = ANY ($1)))"));
    hql_query_destroy (&q);
}

static void
test_polymorphism_and_class (void)
{
    hql_query_t *q = ok ("select t from TextAnnotation t");
    CHECK (q && contains (q->sql, "t1.discriminator IN ('/basic/text/comment/', '/basic/text/tag/', '/basic/text/xml/')")
           );
    if (q) {
        const omr_type_t *tag = hql_type_for_discriminator (q->objects[0].type, "/basic/text/tag/");
        CHECK_STR (tag->name, "TagAnnotation");
        CHECK_STR (hql_type_for_discriminator (q->objects[0].type, NULL)->name, "TextAnnotation");
    }
    hql_query_destroy (&q);
    q = ok ("select a from Annotation a");
    CHECK (q && !contains (q->sql, "WHERE"));
    CHECK (q && contains (q->sql, "t1.textvalue") && contains (q->sql, "t1.file"));  /* subtype columns */
    hql_query_destroy (&q);
    q = ok ("select l from ImageAnnotationLink l join l.child a where a.class = TagAnnotation");
    CHECK (q && contains (q->sql, "(t2.discriminator IN ('/basic/text/tag/'))"));
    hql_query_destroy (&q);
    q = ok ("select l from ImageAnnotationLink l where l.child.class <> CommentAnnotation");
    CHECK (q && contains (q->sql, "NOT IN ('/basic/text/comment/')"));
    hql_query_destroy (&q);
    q = ok ("select i from ome.model.core.Image i");
    CHECK (q && contains (q->sql, "FROM image t1"));
    hql_query_destroy (&q);
    q = ok ("select i from omero.model.ImageI i");
    CHECK (q != NULL);
    hql_query_destroy (&q);
    q = ok ("select j from Job j join fetch j.status where j.class = UploadJob");
    CHECK (q && contains (q->sql, "JOIN jobstatus"));
    hql_query_destroy (&q);
}

static void
test_clauses (void)
{
    hql_query_t *q = ok ("select d, count(l) from Dataset d left join d.imageLinks l group by d "
                         "having count(l) > 1 order by count(l) desc, d.name");
    CHECK (q != NULL);
    if (q) {
        CHECK (contains (q->sql, "GROUP BY t1.id HAVING (count(t2.id) > $1::int8) ORDER BY count(t2.id) DESC, t1.name"));
        CHECK_INT (q->items[0].kind, HQL_ITEM_OBJECT);
        CHECK_INT (q->items[1].kind, HQL_ITEM_SCALAR);
        CHECK_INT (q->cols[q->items[1].first_col].scalar, OMR_SCALAR_LONG);
    }
    hql_query_destroy (&q);
    q = ok ("select distinct i.name from Image i join i.datasetLinks l join l.parent d where d.id = :did "
            "and i.name ilike :n and i.acquisitionDate between :a and :b and i.description is not null");
    CHECK (q && contains (q->sql, "SELECT DISTINCT t1.name FROM image t1 JOIN datasetimagelink t2 ON t2.child = t1.id "
                                  "JOIN dataset t3 ON t3.id = t2.parent"));
    CHECK (q && contains (q->sql, "ILIKE") && contains (q->sql, "BETWEEN $3 AND $4") && contains (q->sql, "IS NOT NULL"));
    hql_query_destroy (&q);
    q = ok ("select i from Image i where i.id in (select l.child.id from DatasetImageLink l where l.parent.id = :d) "
            "and exists (select r from Roi r where r.image = i)");
    CHECK (q && contains (q->sql, "t1.id IN (SELECT t2.child FROM datasetimagelink t2 WHERE (t2.parent = $1))"));
    CHECK (q && contains (q->sql, "(EXISTS (SELECT 1 FROM roi t3 WHERE (t3.image = t1.id)))"));
    hql_query_destroy (&q);
    q = ok ("select count(*), count(distinct i), max(p.sizeX), min(p.sizeY), avg(p.sizeZ), sum(p.sizeC), "
            "upper(i.name), lower(i.name) from Image i join i.pixels p");
    CHECK (q && contains (q->sql, "count(*), count(DISTINCT t1.id), max(t2.sizex)"));
    hql_query_destroy (&q);
    q = ok ("select i from Image i where i.details.creationEvent.time > :t and i.details.group.name = :g");
    CHECK (q && contains (q->sql, "JOIN event t2 ON t2.id = t1.creation_id")
           && contains (q->sql, "JOIN experimentergroup t3 ON t3.id = t1.group_id"));
    hql_query_destroy (&q);
    q = ok ("select i.id, i.details.permissions from Image i");
    CHECK (q && contains (q->sql, "SELECT t1.id, t1.permissions FROM image t1"));
    hql_query_destroy (&q);
    q = ok ("select i from Image i left outer join fetch i.annotationLinksCountPerOwner");
    CHECK (q != NULL);
    if (q) {
        CHECK_INT (q->cols[q->ncols - 1].role, HQL_COL_COUNTS);
        CHECK_INT (q->cols[q->ncols - 1].object, 0);
        CHECK (contains (q->sql, "FROM imageannotationlink x WHERE x.parent = t1.id GROUP BY x.owner_id"));
    }
    hql_query_destroy (&q);
    omr_err_t err;
    q = hql_translate ("select f from Folder f left join fetch f.childFolders c left join f.imageLinks il "
                       "with il.child.name = :img", &err);
    CHECK (q == NULL);   /* with conditions cannot navigate references */
    CHECK (contains (err.msg, "with condition"));
    q = ok ("select f from Folder f left join fetch f.childFolders c left join f.imageLinks il with il.child = :img");
    CHECK (q && contains (q->sql, "LEFT JOIN folderimagelink t3 ON t3.parent = t1.id AND (t3.child = $1)"));
    hql_query_destroy (&q);
}

static void
test_order_alias_and_permissions (void)
{
    hql_query_t *q = ok ("select i.name as n, count(p) as c from Image i join i.pixels p group by i.name "
                         "order by c desc, n");
    CHECK (q && contains (q->sql, "GROUP BY t1.name ORDER BY 2 DESC, 1"));
    CHECK (q && strcmp (q->items[1].label, "c") == 0);
    hql_query_destroy (&q);
    omr_err_t err;
    q = hql_translate_ex ("select d from Dataset d join fetch d.imageLinks l", HQL_WITH_PERMISSIONS, &err);
    CHECK (q != NULL);
    if (q) {
        CHECK (contains (q->sql, "omero_details_permissions(t1.owner_id, t1.group_id)"));
        CHECK (contains (q->sql, "omero_details_permissions(t2.owner_id, t2.group_id)"));
        const hql_object_t *o = &q->objects[1];
        CHECK_INT (q->cols[o->first_col + o->ncols - 1].role, HQL_COL_PERMISSIONS);
    }
    hql_query_destroy (&q);
    /* global types (Experimenter) have no owner: no permissions column */
    q = hql_translate_ex ("select e from Experimenter e", HQL_WITH_PERMISSIONS, &err);
    CHECK (q && !contains (q->sql, "omero_details_permissions"));
    hql_query_destroy (&q);
}

static void
test_new_map (void)
{
    hql_query_t *q = ok ("select new map(i.id as id, i.name as name, i.details.owner.id as ownerId, "
                         "count(p) as n, i.description) from Image i left join i.pixels p group by i.id");
    CHECK (q != NULL);
    if (q) {
        CHECK_INT (q->nitems, 1);
        CHECK_INT (q->items[0].kind, HQL_ITEM_MAP);
        CHECK_INT (q->items[0].ncols, 5);
        CHECK_STR (q->items[0].keys[0], "id");
        CHECK_STR (q->items[0].keys[2], "ownerId");
        CHECK_STR (q->items[0].keys[4], "4");
        CHECK (contains (q->sql, "SELECT t1.id, t1.name, t1.owner_id, count(t2.id), t1.description FROM image t1"));
    }
    hql_query_destroy (&q);
    omr_err_t err;
    CHECK (hql_translate ("select new map(i.id as a, i.name as a) from Image i", &err) == NULL);
    CHECK (hql_translate ("select new map(new map(i.id as a) as b) from Image i", &err) == NULL);
    CHECK (hql_translate ("select new list(i.id) from Image i", &err) == NULL);
    CHECK (hql_translate ("select i from Image i where i.id in (select new map(j.id as x) from Image j)", &err) == NULL);
}

static void
test_pg_array (void)
{
    const char *v[] = {"1", "a,b", "say \"hi\"", "back\\slash", NULL, "{x}", ""};
    char *a = hql_pg_array (v, 7);
    CHECK_STR (a, "{\"1\",\"a,b\",\"say \\\"hi\\\"\",\"back\\\\slash\",NULL,\"{x}\",\"\"}");
    free (a);
    a = hql_pg_array (NULL, 0);
    CHECK_STR (a, "{}");
    free (a);
}

static void
test_case (void)
{
    hql_query_t *q = ok ("select i.id, case when i.name like 'a%' then 'A' when i.name is null then 'none' else 'other' "
                         "end from Image i order by case i.series when 0 then 0 else 1 end");
    CHECK (q && contains (q->sql, "(CASE WHEN (t1.name LIKE $1) THEN $2 WHEN (t1.name IS NULL) THEN $3 ELSE $4 END)"));
    CHECK (q && contains (q->sql, "ORDER BY (CASE t1.series WHEN $5::int8 THEN $6::int8 ELSE $7::int8 END)"));
    hql_query_destroy (&q);
    omr_err_t err;
    CHECK (hql_translate ("select case end from Image i", &err) == NULL);
    CHECK (hql_translate ("select case when i.name then 1 end from Image i", &err) == NULL);
    CHECK (hql_translate ("select case when i.id = 1 then 1 from Image i", &err) == NULL);
}

static void
test_size_and_empty (void)
{
    hql_query_t *q = ok ("select d.name, size(d.imageLinks) from Dataset d where d.projectLinks is empty "
                         "and d.annotationLinks is not empty and size(d.imageLinks) > 2");
    CHECK (q && contains (q->sql, "(SELECT count(*) FROM datasetimagelink x WHERE x.parent = t1.id)"));
    CHECK (q && contains (q->sql, "(NOT EXISTS (SELECT 1 FROM projectdatasetlink x WHERE x.child = t1.id))"));
    CHECK (q && contains (q->sql, "(EXISTS (SELECT 1 FROM datasetannotationlink x WHERE x.parent = t1.id))"));
    hql_query_destroy (&q);
    q = ok ("select a from MapAnnotation a where size(a.mapValue) = 0");
    CHECK (q && contains (q->sql, "FROM annotation_mapvalue x WHERE x.annotation_id = t1.id"));
    hql_query_destroy (&q);
    omr_err_t err;
    CHECK (hql_translate ("select d from Dataset d where d.name is empty", &err) == NULL);
    CHECK (hql_translate ("select size(d.name) from Dataset d", &err) == NULL);
    CHECK (hql_translate ("select d from Dataset d where d.imageLinks = 1", &err) == NULL);
}

static void
test_joined_subclasses (void)
{
    const omr_type_t *laser = hql_model_type (hql_model_type_index ("Laser"));
    CHECK_STR (laser->table, "laser");
    CHECK_STR (laser->key_column, "lightsource_id");
    CHECK_STR (hql_model_field (laser, "type")->table, "laser");
    CHECK_STR (hql_model_field (laser, "manufacturer")->table, "lightsource");
    const omr_type_t *led = hql_model_type (hql_model_type_index ("LightEmittingDiode"));
    CHECK_STR (led->table, "lightsource");   /* no own fields: no table of its own */
    CHECK (hql_model_type (hql_model_type_index ("Annotation"))->key_column == NULL);
    hql_query_t *q = ok ("select l from Laser l where l.wavelength.value > 500 and l.type.value = 'Gas'");
    CHECK (q && contains (q->sql, "FROM lightsource t1 JOIN laser t2 ON t2.lightsource_id = t1.id "
                                  "JOIN lasertype t3 ON t3.id = t2.type WHERE t1.discriminator IN ('Laser')"));
    hql_query_destroy (&q);
    q = ok ("select ls from LightSource ls");
    CHECK (q && contains (q->sql, "LEFT JOIN arc t2 ON t2.lightsource_id = t1.id LEFT JOIN filament t3")
           && contains (q->sql, "t2.type, t3.type") && contains (q->sql, "t4.wavelengthunit"));
    hql_query_destroy (&q);
    q = ok ("select j from UploadJob j join j.versionInfo v where v.name = 'x'");
    CHECK (q && contains (q->sql, "JOIN uploadjob t2 ON t2.job_id = t1.id JOIN uploadjob_versioninfo t3 "
                                  "ON t3.uploadjob_id = t2.job_id"));
    hql_query_destroy (&q);
    q = ok ("select s.itemCount from Share s");
    CHECK (q && contains (q->sql, "SELECT t2.itemcount FROM session t1 JOIN share t2 ON t2.session_id = t1.id"));
    hql_query_destroy (&q);
}

static void
test_ordered_collections (void)
{
    const omr_type_t *px = hql_model_type (hql_model_type_index ("Pixels"));
    CHECK_STR (hql_model_field (px, "channels")->order_column, "pixels_index");
    CHECK (hql_model_field (px, "planeInfo")->order_column == NULL);
    hql_query_t *q = ok ("select p from Pixels p join fetch p.channels c join fetch c.logicalChannel where p.id = :id");
    CHECK (q != NULL);
    if (q) {
        const hql_object_t *o = &q->objects[1];
        CHECK_STR (o->type->name, "Channel");
        int found = 0;
        for (int i = 0; i < o->ncols; i++)
            if (q->cols[o->first_col + i].role == HQL_COL_INDEX)
                found = 1;
        CHECK (found);
        CHECK (contains (q->sql, "t2.pixels_index"));
    }
    hql_query_destroy (&q);
}

static void
test_user_alias_is_not_sql (void)
{
    /* aliases and literals of the HQL never reach the SQL text */
    hql_query_t *q = ok ("select select_from_drop from Image as select_from_drop "
                         "where select_from_drop.name = 'DROP TABLE image'");
    CHECK (q && !contains (q->sql, "select_from_drop") && !contains (q->sql, "DROP"));
    hql_query_destroy (&q);
    q = ok ("select table from Image table where table.name = :n");   /* SQL keyword as HQL alias */
    CHECK (q && !contains (q->sql, "table") && contains (q->sql, "FROM image t1 WHERE (t1.name = $1)"));
    hql_query_destroy (&q);
    q = ok ("select evil from Image evil where evil.name = 'x''; DROP TABLE image; --'");
    CHECK (q != NULL);
    if (q) {
        CHECK (!contains (q->sql, "evil"));
        CHECK (!contains (q->sql, "DROP"));
        CHECK_STR (q->params[0].literal, "x'; DROP TABLE image; --");
    }
    hql_query_destroy (&q);
}

static const char *bad_queries[] = {
    "",
    "   ",
    "select i from Image i; drop table image",
    "select i from Image i -- comment",
    "select i from Image i /* c */",
    "select i from Image i union select i from Image i",
    "select i from Image i where i.name = \"x\"",
    "select i from Image i where i.id = ?",
    "select i from Image i where i.permissions = :readable",
    "select i from Image i where i.details.permissions = :p",
    "select i from Image i order by i.details.permissions",
    "select i from Image i where ( current_user = :root OR i.permissions = :readable )",
    "select i from Imagex i",
    "select i.foo from Image i",
    "select i from Image i where i.name = 'x' or 1=1) --",
    "select i from Image i where i.name = 'unterminated",
    "select i.name.x from Image i",
    "select i from Image i join i.name n",
    "select from Image",
    "from Dataset d left outer join d.images where d.name = 'test'",
    "select p from Project p where p.details.owner.omeName = someUser",
    "select d from Dataset d join fetch d.projectsLinks links join fetch links.parent where d.id = :id",
    "select annotation from FileAnnotation where name like 'http://x/%'",
    "from PixelType as p where p.value=:pType",
    "select i from Image i join i.defaultPixels p",
    "select pg_sleep(10) from Image i",
    "select i from pg_catalog.pg_user i",
    "select i from Image i right join i.pixels p",
    "select i.pixels from Image i",
    "select i from Image i where i.name = :x and i.id in (:x)",
    "select i from Image i where i.id = 1;",
    "select i from Image i where i.name = $1",
    "select i from Image i where i.name = 'a' \\",
    "select i from Image i where i.id = 0x10",
    "select i from Image i where i.id = 1e",
    "select planeInfo.exposureTime from PlaneInfo planeInfo where planeInfo.exposureTime > 1",
    "select i from Image i join fetch i.pixels p join fetch p.channels c join fetch i.details.owner o "
    "join fetch o.details.creationEvent",
    "select d from Dataset d join d.imageLinks l join fetch l.child",
    "select count(distinct *) from Image",
    "select lower(i.name, i.description) from Image i",
    "select i from Image i where i.name = :",
    "insert into Image (name) values ('x')",
    "delete from Image",
    "update Image set name = 'x'",
    "select i from Image i where i.id in ()",
    "select i from Image i where i.name",
    "select i from Image i where i.id and i.name = 'x'",
    "select i from Image i where not i.id",
    "select d from Dataset d left join d.imageLinks l with l.child",
    "select d, count(l) from Dataset d left join d.imageLinks l group by d having count(l)",
    NULL};

static void
test_bad_queries (void)
{
    for (int i = 0; bad_queries[i]; i++) {
        omr_err_t err = {0};
        hql_query_t *q = hql_translate (bad_queries[i], &err);
        if (q)
            fprintf (stderr, "  accepted: %s\n    %s\n", bad_queries[i], q->sql);
        CHECK (q == NULL);
        CHECK_STR (err.name, "QueryException");
        CHECK_INT (err.status, 400);
        CHECK (contains (err.msg, "HQL error"));
        hql_query_destroy (&q);
    }
    omr_err_t err = {0};
    CHECK (hql_translate (NULL, &err) == NULL);
    CHECK_STR (err.name, "QueryException");
    /* the position points at the problem */
    hql_translate ("select i from Image i where i.nope = 1", &err);
    CHECK (contains (err.msg, "position 28") && contains (err.msg, "nope"));
    hql_translate ("select d from Dataset d join fetch d.projectsLinks l", &err);
    CHECK (contains (err.msg, "did you mean 'projectLinks'?"));
    hql_translate ("from PixelType as p where p.value=:pType", &err);
    CHECK (contains (err.msg, "did you mean 'PixelsType'?"));
    hql_translate ("from Dataset d left outer join d.images where d.name = 'test'", &err);
    CHECK (contains (err.msg, "did you mean 'imageLinks'?"));
    hql_translate ("select i from Image i join i.defaultPixels p", &err);
    CHECK (contains (err.msg, "did you mean 'pixels'?"));
    hql_translate ("select d from Dataset d where d.nmae = :n", &err);
    CHECK (contains (err.msg, "did you mean 'name'?"));
    hql_translate ("select i from Image i; drop table x", &err);
    CHECK (contains (err.msg, "position 21"));
    /* deep nesting is refused, not a stack overflow */
    char deep[4096];
    size_t k = 0;
    k += (size_t) snprintf (deep + k, sizeof deep - k, "select i from Image i where ");
    for (int i = 0; i < 500; i++)
        deep[k++] = '(';
    k += (size_t) snprintf (deep + k, sizeof deep - k, "i.id = 1");
    for (int i = 0; i < 500; i++)
        deep[k++] = ')';
    deep[k] = 0;
    CHECK (hql_translate (deep, &err) == NULL);
    CHECK (contains (err.msg, "nested too deeply"));
}

static void
test_model_lookup (void)
{
    int i = hql_model_type_index ("Image");
    CHECK (i >= 0);
    CHECK_INT (hql_model_type_index ("ome.model.core.Image"), i);
    CHECK_INT (hql_model_type_index ("omero.model.ImageI"), i);
    CHECK_INT (hql_model_type_index ("Imag"), -1);
    CHECK_INT (hql_model_type_index ("evil.Image"), -1);
    const omr_type_t *img = hql_model_type (i);
    CHECK_STR (img->table, "image");
    CHECK (img->flags & OMR_TF_OWNED);
    CHECK (img->flags & OMR_TF_ANNOTATED);
    const omr_field_t *f = hql_model_field (img, "datasetLinks");
    CHECK (f && f->kind == OMR_FIELD_COLLECTION);
    if (f) {
        CHECK_STR (f->inverse, "child");
        CHECK_STR (hql_model_type (f->target)->table, "datasetimagelink");
    }
    const omr_type_t *ds = hql_model_type (hql_model_type_index ("Dataset"));
    f = hql_model_field (ds, "imageLinks");
    CHECK (f && f->inverse && strcmp (f->inverse, "parent") == 0);
    f = hql_model_field (img, "details.owner");
    CHECK (f && f->kind == OMR_FIELD_REF && strcmp (f->column, "owner_id") == 0);
    const omr_type_t *px = hql_model_type (hql_model_type_index ("Pixels"));
    f = hql_model_field (px, "physicalSizeX");
    CHECK (f && f->kind == OMR_FIELD_UNITS);
    if (f) {
        CHECK_STR (f->column, "physicalsizex");
        CHECK_STR (f->unit_column, "physicalsizexunit");
        CHECK_STR (hql_model_units (f->units)->sql_type, "unitslength");
    }
    const omr_type_t *tag = hql_model_type (hql_model_type_index ("TagAnnotation"));
    CHECK_STR (tag->table, "annotation");
    CHECK_STR (tag->discriminator, "/basic/text/tag/");
    CHECK (hql_model_field (tag, "textValue") != NULL);
    const omr_type_t *ann = hql_model_type (hql_model_type_index ("Annotation"));
    CHECK (hql_model_field (ann, "textValue") == NULL);
    CHECK (hql_model_field_poly (ann, "textValue") != NULL);
    const omr_type_t *ap = hql_model_type (hql_model_type_index ("AdminPrivilege"));
    CHECK (ap && (ap->flags & OMR_TF_ENUM));
    /* 28 annotation link types as in the glossary */
    int links = 0;
    for (int t = 0; t < OMR_MODEL_NTYPES; t++) {
        const char *n = hql_model_type (t)->name;
        size_t len = strlen (n);
        if (len > 14 && strcmp (n + len - 14, "AnnotationLink") == 0)
            links++;
    }
    CHECK_INT (links, 28);   /* the 28 annotation link types of the glossary */
}

static void
test_speed (void)
{
    const char *qs[] = {
        "select i from Image i where i.id = :id",
        "select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child "
        "as dataset where p.details.owner.id = :id",
        "select count(*) from Image i join i.datasetLinks l where l.parent.id in (:ids) and i.name like :n",
    };
    struct timespec a, b, ca, cb;
    clock_gettime (CLOCK_MONOTONIC, &a);
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ca);
    int n = 0;
    for (int k = 0; k < 3000; k++)
        for (int i = 0; i < 3; i++) {
            omr_err_t err;
            hql_query_t *q = hql_translate (qs[i], &err);
            CHECK (q != NULL);
            hql_query_destroy (&q);
            n++;
        }
    clock_gettime (CLOCK_MONOTONIC, &b);
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &cb);
    double s = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
    double cpu = (double) (cb.tv_sec - ca.tv_sec) + (double) (cb.tv_nsec - ca.tv_nsec) / 1e9;
    printf ("     %d translations in %.3f s: %.0f queries/s (%.0f per CPU second)\n", n, s, n / s, n / cpu);
}

int
main (void)
{
    RUN (test_seed_queries);
    RUN (test_object_query_shape);
    RUN (test_projection_and_units);
    RUN (test_parameters);
    RUN (test_polymorphism_and_class);
    RUN (test_clauses);
    RUN (test_order_alias_and_permissions);
    RUN (test_new_map);
    RUN (test_pg_array);
    RUN (test_case);
    RUN (test_size_and_empty);
    RUN (test_joined_subclasses);
    RUN (test_ordered_collections);
    RUN (test_user_alias_is_not_sql);
    RUN (test_bad_queries);
    RUN (test_model_lookup);
    RUN (test_speed);
    return UNIT_DONE ();
}
