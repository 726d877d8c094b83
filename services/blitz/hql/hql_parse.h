/* hql_parse: lexer and recursive-descent parser of OMERO's HQL subset into an AST.
 * The AST lives in an arena owned by the hql_ast_t; nothing in it points into SQL. Names are
 * kept as written (validated against the model later by the translator in hql.c). */
#ifndef HQL_PARSE_H
#define HQL_PARSE_H
#include <stddef.h>
#include "omr_error.h"

typedef struct hql_arena hql_arena_t;

typedef enum {
    HQL_N_PATH = 1,     /* a.b.c: segs / nsegs */
    HQL_N_PARAM,        /* :name */
    HQL_N_STRING,       /* 'text' (value unescaped) */
    HQL_N_NUMBER,       /* 12, 1.5e3 (text) */
    HQL_N_NULL,
    HQL_N_TRUE,
    HQL_N_FALSE,
    HQL_N_BINOP,        /* op: = <> < <= > >= + - * / || */
    HQL_N_AND,
    HQL_N_OR,
    HQL_N_NOT,
    HQL_N_NEG,          /* unary minus */
    HQL_N_LIKE,         /* a [not] like|ilike b; op = "LIKE"/"ILIKE", negated */
    HQL_N_IN,           /* a [not] in (list) | (subquery) */
    HQL_N_BETWEEN,      /* a [not] between b and c */
    HQL_N_ISNULL,       /* a is [not] null */
    HQL_N_EXISTS,       /* [not] exists (subquery) */
    HQL_N_FUNC,         /* name(args), count(*), count(distinct x) */
    HQL_N_CAST,         /* cast(a as type) */
    HQL_N_SUBQUERY,     /* (select ...) as a value */
    HQL_N_STAR,         /* * inside count(*) */
    HQL_N_ISEMPTY,      /* collection is [not] empty */
    HQL_N_CASE          /* case [a] when x then y ... [else c] end: list = x1, y1, x2, y2 ... */
} hql_node_kind_t;

typedef struct hql_node hql_node_t;
typedef struct hql_select hql_select_t;

struct hql_node {
    hql_node_kind_t kind;
    int pos;                    /* byte offset in the HQL text */
    const char *text;           /* PATH: whole dotted text; PARAM: name; STRING/NUMBER: value;
                                   BINOP/LIKE: operator; FUNC: lower-cased name; CAST: type */
    const char **segs;          /* PATH segments */
    int nsegs;
    hql_node_t *a, *b, *c;      /* operands */
    hql_node_t **list;          /* IN list / FUNC args */
    int nlist;
    int negated;                /* NOT LIKE, NOT IN, NOT BETWEEN, IS NOT NULL, NOT EXISTS */
    int distinct;               /* count(distinct x) */
    hql_select_t *sub;          /* IN / EXISTS / SUBQUERY */
};

typedef struct hql_sel_item hql_sel_item_t;
struct hql_sel_item {
    hql_node_t *expr;           /* NULL for "new map(...)" */
    const char *alias;          /* "as name", or NULL */
    int pos;
    int end;                    /* byte offset just after the expression */
    hql_sel_item_t *map;        /* "new map(expr as key, ...)": the entries */
    int nmap;
};

typedef struct {
    const char *entity;         /* entity name as written (Image, ome.model.core.Image) */
    const char *alias;          /* or NULL */
    int pos;
} hql_from_t;

typedef struct {
    int left;                   /* left outer join */
    int fetch;                  /* join fetch */
    hql_node_t *path;           /* PATH: alias.field[.field] */
    const char *alias;          /* or NULL */
    hql_node_t *with;           /* "with" condition, or NULL */
    int root;                   /* index of the from item this join follows */
    int pos;
} hql_join_t;

typedef struct {
    hql_node_t *expr;
    int desc;
} hql_order_t;

struct hql_select {
    int pos;
    int distinct;
    hql_sel_item_t *items;      /* NULL / 0 when the query has no select clause */
    int nitems;
    hql_from_t *from;
    int nfrom;
    hql_join_t *joins;
    int njoins;
    hql_node_t *where;
    hql_node_t **group;
    int ngroup;
    hql_node_t *having;
    hql_order_t *order;
    int norder;
};

typedef struct {
    hql_arena_t *arena;
    hql_select_t *query;
    const char *src;            /* copy of the HQL text (in the arena) */
} hql_ast_t;

/* Parse an HQL query. Returns NULL and sets err (QueryException, with the position) on error. */
hql_ast_t *hql_parse (const char *hql, omr_err_t *err);
/* Free an AST and its arena; *self becomes NULL. */
void hql_ast_destroy (hql_ast_t **self);

/* Arena allocation (zeroed memory), shared with the translator. */
hql_arena_t *hql_arena_new (void);
void *hql_arena_alloc (hql_arena_t *a, size_t n);
char *hql_arena_strndup (hql_arena_t *a, const char *s, size_t n);
void hql_arena_destroy (hql_arena_t **self);
#endif
