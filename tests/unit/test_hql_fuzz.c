/* test_hql_fuzz: thousands of mutated HQL queries (deleted ranges, inserted tokens, random
 * bytes) must each give either SQL or a QueryException with a position — never a crash, a leak
 * (run under make asan) or SQL carrying a piece of the HQL text. */
/* UNIT_LINK: services/blitz/hql */
#include "unit.h"
#include "../../services/blitz/hql/hql.h"
#include <stdint.h>
#include <stdlib.h>

static const char *seeds[] = {
    "select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child as "
    "dataset where p.id=:pid",
    "select d, count(l) from Dataset d left join d.imageLinks l group by d having count(l) > 1 order by count(l) desc",
    "select i from Image i where i.id in (select l.child.id from DatasetImageLink l where l.parent.id = :d) and "
    "exists (select r from Roi r where r.image = i)",
    "SELECT ap.name FROM Experimenter user JOIN user.config AS ap WHERE user.id = 123 AND ap.name LIKE "
    "'AdminPrivilege:%' AND LOWER(ap.value) <> 'true' ORDER BY ap.name",
    "select cast(planeInfo.exposureTime.unit as text), planeInfo.exposureTime from PlaneInfo planeInfo where "
    "planeInfo.exposureTime.value between 1.5 and -2e3",
    "select l from ImageAnnotationLink l join fetch l.child a where a.class = TagAnnotation and "
    "l.parent.details.owner.omeName not like 'x%'",
    "select i from Image i left outer join fetch i.annotationLinksCountPerOwner where i.name is not null",
    "select f from Folder f left join fetch f.childFolders c left join f.imageLinks il with il.child = :img",
    "select ls from LightSource ls join fetch ls.instrument where ls.class = Laser or size(ls.annotationLinks) > 2",
    "select new map(l.id as id, l.pump.model as pm, l.wavelength as w) from Laser l where l.type.value in (:t)",
};
static const char *tokens[] = {
    "select", "from", "where", "join", "fetch", "left", "outer", "(", ")", ",", ".", "'", "''", ":x", "=", "<>",
    "and", "or", "not", "in", "exists", "is", "null", "count", "(*)", "distinct", "as", "i", "p", "details",
    "owner", "id", "name", "class", "CountPerOwner", "--", "/*", ";", "\"", "?", "order by", "group by", "having",
    "Image", "Dataset", "1", "1.5e", "0x", ")))", "(((", "new map(", "size(", "empty", "union", "$1", "\\",
};

static uint32_t
rnd (uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void
test_mutations (void)
{
    uint32_t seed = 12345;
    char buf[4096];
    int translated = 0, refused = 0;
    for (int it = 0; it < 100000; it++) {
        const char *s = seeds[rnd (&seed) % (sizeof seeds / sizeof *seeds)];
        snprintf (buf, sizeof buf, "%s", s);
        int muts = 1 + (int) (rnd (&seed) % 4);
        for (int m = 0; m < muts; m++) {
            size_t len = strlen (buf);
            size_t pos = len ? rnd (&seed) % len : 0;
            switch (rnd (&seed) % 3) {
            case 0: {
                size_t dl = 1 + rnd (&seed) % 12;
                if (pos + dl > len)
                    dl = len - pos;
                memmove (buf + pos, buf + pos + dl, len - pos - dl + 1);
                break;
            }
            case 1: {
                const char *t = tokens[rnd (&seed) % (sizeof tokens / sizeof *tokens)];
                size_t tl = strlen (t);
                if (len + tl + 2 < sizeof buf) {
                    memmove (buf + pos + tl + 1, buf + pos, len - pos + 1);
                    memcpy (buf + pos, t, tl);
                    buf[pos + tl] = ' ';
                }
                break;
            }
            default:
                if (len) {
                    buf[pos] = (char) (1 + rnd (&seed) % 255);
                }
                break;
            }
        }
        omr_err_t err = {0};
        hql_query_t *q = hql_translate (buf, &err);
        if (q) {
            translated++;
            CHECK (strncmp (q->sql, "SELECT ", 7) == 0);
            CHECK (strchr (q->sql, ';') == NULL && strstr (q->sql, "--") == NULL && strstr (q->sql, "/*") == NULL);
            /* the only quotes in SQL come from the model (discriminator lists, keyword columns) */
            for (int i = 0; i < q->nparams; i++)
                CHECK (q->params[i].name || q->params[i].literal);
            hql_query_destroy (&q);
        } else {
            refused++;
            CHECK_STR (err.name, "QueryException");
            CHECK (strstr (err.msg, "HQL error") != NULL);
        }
    }
    printf ("     %d translated, %d refused\n", translated, refused);
    CHECK (translated > 300 && refused > 10000);
}

int
main (void)
{
    RUN (test_mutations);
    return UNIT_DONE ();
}
