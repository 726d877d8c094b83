/* hql_parse: lexer and recursive-descent parser of OMERO's HQL subset.
 * Anything the grammar does not know is an error with its byte position: SQL comments,
 * semicolons, quoted identifiers, positional '?' parameters, unions, right/full joins. */
#include "hql_parse.h"
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- arena */

struct hql_arena {
    struct block { struct block *next; size_t used, size; char data[]; } *head;
};

hql_arena_t *
hql_arena_new (void)
{
    return calloc (1, sizeof (hql_arena_t));
}

void *
hql_arena_alloc (hql_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t) 15;
    if (!a->head || a->head->used + n > a->head->size) {
        size_t size = n > 8192 ? n : 8192;
        struct block *b = malloc (sizeof *b + size);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->size = size;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset (p, 0, n);
    return p;
}

char *
hql_arena_strndup (hql_arena_t *a, const char *s, size_t n)
{
    char *p = hql_arena_alloc (a, n + 1);
    if (p)
        memcpy (p, s, n);
    return p;
}

void
hql_arena_destroy (hql_arena_t **self)
{
    if (!self || !*self)
        return;
    struct block *b = (*self)->head;
    while (b) {
        struct block *n = b->next;
        free (b);
        b = n;
    }
    free (*self);
    *self = NULL;
}

/* ---------------------------------------------------------------- lexer */

typedef enum { T_EOF, T_IDENT, T_NUMBER, T_STRING, T_PARAM, T_PUNCT } tok_kind_t;

typedef struct {
    tok_kind_t kind;
    int pos;
    const char *start;          /* in the source */
    int len;
    char punct[3];
} tok_t;

typedef struct {
    const char *src;
    int len;
    int pos;                    /* lexer position */
    tok_t tok;                  /* current token */
    hql_arena_t *arena;
    omr_err_t *err;
    int failed;
    int depth;                  /* nesting depth, bounded */
} parser_t;

#define MAX_DEPTH 64

static int
fail (parser_t *p, int pos, const char *fmt, const char *arg)
{
    if (p->failed)
        return -1;
    p->failed = 1;
    char msg[512];
    snprintf (msg, sizeof msg, fmt, arg ? arg : "");
    omr_err_set (p->err, OMR_E_QUERY, 400, "HQL error at position %d: %s", pos, msg);
    return -1;
}

static void
tok_text (const tok_t *t, char *buf, size_t n)
{
    if (t->kind == T_EOF) {
        snprintf (buf, n, "end of query");
        return;
    }
    int len = t->len < 40 ? t->len : 40;
    snprintf (buf, n, "'%.*s'", len, t->start);
}

static int
lex (parser_t *p)
{
    const char *s = p->src;
    int i = p->pos;
    while (i < p->len && isspace ((unsigned char) s[i]))
        i++;
    tok_t *t = &p->tok;
    memset (t, 0, sizeof *t);
    t->pos = i;
    t->start = s + i;
    if (i >= p->len) {
        t->kind = T_EOF;
        p->pos = i;
        return 0;
    }
    unsigned char c = (unsigned char) s[i];
    if (isalpha (c) || c == '_') {
        int j = i;
        while (j < p->len && (isalnum ((unsigned char) s[j]) || s[j] == '_'))
            j++;
        t->kind = T_IDENT;
        t->len = j - i;
        p->pos = j;
        return 0;
    }
    if (isdigit (c) || (c == '.' && i + 1 < p->len && isdigit ((unsigned char) s[i + 1]))) {
        int j = i;
        while (j < p->len && isdigit ((unsigned char) s[j]))
            j++;
        if (j < p->len && s[j] == '.' && j + 1 < p->len && isdigit ((unsigned char) s[j + 1])) {
            j++;
            while (j < p->len && isdigit ((unsigned char) s[j]))
                j++;
        }
        if (j < p->len && (s[j] == 'e' || s[j] == 'E')) {
            int k = j + 1;
            if (k < p->len && (s[k] == '+' || s[k] == '-'))
                k++;
            if (k < p->len && isdigit ((unsigned char) s[k])) {
                while (k < p->len && isdigit ((unsigned char) s[k]))
                    k++;
                j = k;
            }
        }
        /* Java-style suffixes 10L, 1.5d, 2f */
        if (j < p->len && strchr ("lLdDfF", s[j]) && !(j + 1 < p->len && (isalnum ((unsigned char) s[j + 1]) || s[j + 1] == '_')))
            j++;
        if (j < p->len && (isalpha ((unsigned char) s[j]) || s[j] == '_'))
            return fail (p, j, "malformed number", NULL);
        t->kind = T_NUMBER;
        t->len = j - i;
        p->pos = j;
        return 0;
    }
    if (c == '\'') {
        int j = i + 1;
        for (;;) {
            if (j >= p->len)
                return fail (p, i, "unterminated string literal", NULL);
            if (s[j] == '\'') {
                if (j + 1 < p->len && s[j + 1] == '\'') {
                    j += 2;
                    continue;
                }
                break;
            }
            if (s[j] == '\0')
                return fail (p, j, "NUL byte in string literal", NULL);
            j++;
        }
        t->kind = T_STRING;
        t->len = j + 1 - i;
        p->pos = j + 1;
        return 0;
    }
    if (c == ':') {
        int j = i + 1;
        if (j >= p->len || !(isalpha ((unsigned char) s[j]) || s[j] == '_'))
            return fail (p, i, "':' must start a named parameter such as :id", NULL);
        while (j < p->len && (isalnum ((unsigned char) s[j]) || s[j] == '_'))
            j++;
        t->kind = T_PARAM;
        t->start = s + i + 1;
        t->len = j - i - 1;
        p->pos = j;
        return 0;
    }
    if (c == '-' && i + 1 < p->len && s[i + 1] == '-')
        return fail (p, i, "comments ('--') are not allowed in HQL", NULL);
    if (c == '/' && i + 1 < p->len && s[i + 1] == '*')
        return fail (p, i, "comments ('/*') are not allowed in HQL", NULL);
    if (c == ';')
        return fail (p, i, "';' is not allowed: one query per call", NULL);
    if (c == '"' || c == '`')
        return fail (p, i, "quoted identifiers are not allowed", NULL);
    if (c == '?')
        return fail (p, i, "positional parameters ('?') are not supported; use named parameters (:name)", NULL);
    static const char *two[] = {"<>", "!=", "<=", ">=", "||", NULL};
    for (int k = 0; two[k]; k++)
        if (i + 1 < p->len && s[i] == two[k][0] && s[i + 1] == two[k][1]) {
            t->kind = T_PUNCT;
            memcpy (t->punct, two[k], 2);
            t->len = 2;
            p->pos = i + 2;
            return 0;
        }
    if (strchr ("(),.*=<>+-/", c)) {
        t->kind = T_PUNCT;
        t->punct[0] = (char) c;
        t->len = 1;
        p->pos = i + 1;
        return 0;
    }
    char ch[8];
    if (c >= 0x20 && c < 0x7f)
        snprintf (ch, sizeof ch, "'%c'", c);
    else
        snprintf (ch, sizeof ch, "0x%02x", c);
    return fail (p, i, "unexpected character %s", ch);
}

/* ---------------------------------------------------------------- helpers */

static int
is_kw (const tok_t *t, const char *kw)
{
    if (t->kind != T_IDENT || tolower ((unsigned char) t->start[0]) != kw[0])
        return 0;
    return (int) strlen (kw) == t->len && strncasecmp (t->start, kw, t->len) == 0;
}

static int
is_punct (const tok_t *t, const char *op)
{
    return t->kind == T_PUNCT && strcmp (t->punct, op) == 0;
}

/* Words that end a clause, so they cannot be aliases or start a path. */
static const char *reserved[] = {  /* sorted (bsearch) */
    "all", "and", "any", "as", "asc", "between", "by", "case", "cast", "cross",
    "delete", "desc", "distinct", "else", "end", "escape", "except", "exists", "false", "fetch",
    "from", "full", "group", "having", "ilike", "in", "inner", "insert", "intersect", "into",
    "is", "join", "left", "like", "limit", "natural", "not", "null", "offset", "on",
    "or", "order", "outer", "right", "select", "set", "some", "then", "true", "union",
    "update", "using", "when", "where", "with", NULL};

static int
cmp_word (const void *a, const void *b)
{
    return strcmp ((const char *) a, *(const char *const *) b);
}

static int
is_reserved (const tok_t *t)
{
    if (t->kind != T_IDENT || t->len < 2 || t->len > 9)
        return 0;
    char w[10];
    for (int i = 0; i < t->len; i++)
        w[i] = (char) tolower ((unsigned char) t->start[i]);
    w[t->len] = 0;
    return bsearch (w, reserved, sizeof reserved / sizeof reserved[0] - 1, sizeof reserved[0], cmp_word) != NULL;
}

static int
next (parser_t *p)
{
    if (p->failed)
        return -1;
    return lex (p);
}

static int
expect_kw (parser_t *p, const char *kw)
{
    if (!is_kw (&p->tok, kw)) {
        char got[64], msg[128];
        tok_text (&p->tok, got, sizeof got);
        snprintf (msg, sizeof msg, "expected '%s' but found %s", kw, got);
        return fail (p, p->tok.pos, "%s", msg);
    }
    return next (p);
}

static int
expect_punct (parser_t *p, const char *op)
{
    if (!is_punct (&p->tok, op)) {
        char got[64], msg[128];
        tok_text (&p->tok, got, sizeof got);
        snprintf (msg, sizeof msg, "expected '%s' but found %s", op, got);
        return fail (p, p->tok.pos, "%s", msg);
    }
    return next (p);
}

static const char *
tok_dup (parser_t *p)
{
    return hql_arena_strndup (p->arena, p->tok.start, p->tok.len);
}

static hql_node_t *
node (parser_t *p, hql_node_kind_t kind, int pos)
{
    hql_node_t *n = hql_arena_alloc (p->arena, sizeof *n);
    if (!n) {
        fail (p, pos, "out of memory", NULL);
        return NULL;
    }
    n->kind = kind;
    n->pos = pos;
    return n;
}

/* Growable arrays in the arena: double the capacity when full. */
static void *
grow (parser_t *p, void *arr, int n, size_t elem)
{
    if (n == 0 || (n & (n - 1)) == 0) {
        int cap = n ? n * 2 : 4;
        if (n > 0 && n < 4)
            return arr;
        void *na = hql_arena_alloc (p->arena, (size_t) cap * elem);
        if (!na)
            return NULL;
        if (arr)
            memcpy (na, arr, (size_t) n * elem);
        return na;
    }
    return arr;
}

#define PUSH(p, arr, n, val) do { void *_na = grow ((p), (arr), (n), sizeof *(arr)); \
    if (!_na) { fail ((p), (p)->tok.pos, "out of memory", NULL); break; } \
    (arr) = _na; (arr)[(n)++] = (val); } while (0)

static hql_select_t *parse_select (parser_t *p);
static hql_node_t *parse_expr (parser_t *p);

/* ---------------------------------------------------------------- expressions */

static hql_node_t *
parse_path (parser_t *p)
{
    int pos = p->tok.pos;
    if (p->tok.kind != T_IDENT || is_reserved (&p->tok)) {
        char got[64];
        tok_text (&p->tok, got, sizeof got);
        fail (p, pos, "expected a name but found %s", got);
        return NULL;
    }
    hql_node_t *n = node (p, HQL_N_PATH, pos);
    if (!n)
        return NULL;
    const char *begin = p->tok.start;
    const char *end = p->tok.start + p->tok.len;
    PUSH (p, n->segs, n->nsegs, tok_dup (p));
    next (p);
    while (!p->failed && is_punct (&p->tok, ".")) {
        next (p);
        if (p->tok.kind != T_IDENT) {
            char got[64];
            tok_text (&p->tok, got, sizeof got);
            fail (p, p->tok.pos, "expected a field name after '.' but found %s", got);
            return NULL;
        }
        end = p->tok.start + p->tok.len;
        PUSH (p, n->segs, n->nsegs, tok_dup (p));
        next (p);
    }
    n->text = hql_arena_strndup (p->arena, begin, (size_t) (end - begin));
    return p->failed ? NULL : n;
}

static const char *functions[] = {"count", "sum", "min", "max", "avg", "lower", "upper", "length",
                                  "trim", "coalesce", "abs", "sqrt", "mod", "concat", "str", "size", NULL};

static hql_select_t *
parse_paren_subquery (parser_t *p)
{
    /* after '(' with current token select/from */
    hql_select_t *s = parse_select (p);
    if (!s)
        return NULL;
    if (expect_punct (p, ")") < 0)
        return NULL;
    return s;
}

static hql_node_t *
parse_primary (parser_t *p)
{
    tok_t t = p->tok;
    hql_node_t *n = NULL;
    if (++p->depth > MAX_DEPTH) {
        fail (p, t.pos, "query nested too deeply", NULL);
        return NULL;
    }
    switch (t.kind) {
    case T_NUMBER:
        n = node (p, HQL_N_NUMBER, t.pos);
        if (n) {
            int len = t.len;
            if (len > 1 && strchr ("lLdDfF", t.start[len - 1]))
                len--;
            n->text = hql_arena_strndup (p->arena, t.start, len);
        }
        next (p);
        break;
    case T_STRING: {
        n = node (p, HQL_N_STRING, t.pos);
        if (!n)
            break;
        char *v = hql_arena_alloc (p->arena, t.len);
        int k = 0;
        for (int i = 1; i < t.len - 1; i++) {
            v[k++] = t.start[i];
            if (t.start[i] == '\'')
                i++;
        }
        n->text = v;
        next (p);
        break;
    }
    case T_PARAM:
        n = node (p, HQL_N_PARAM, t.pos);
        if (n)
            n->text = tok_dup (p);
        next (p);
        break;
    case T_PUNCT:
        if (is_punct (&t, "(")) {
            next (p);
            if (is_kw (&p->tok, "select") || is_kw (&p->tok, "from")) {
                n = node (p, HQL_N_SUBQUERY, t.pos);
                if (n)
                    n->sub = parse_paren_subquery (p);
                if (n && !n->sub)
                    n = NULL;
                break;
            }
            n = parse_expr (p);
            if (n && expect_punct (p, ")") < 0)
                n = NULL;
            break;
        }
        if (is_punct (&t, "*")) {
            n = node (p, HQL_N_STAR, t.pos);
            next (p);
            break;
        }
        {
            char got[64];
            tok_text (&t, got, sizeof got);
            fail (p, t.pos, "unexpected %s", got);
        }
        break;
    case T_IDENT:
        if (is_kw (&t, "null")) {
            n = node (p, HQL_N_NULL, t.pos);
            next (p);
            break;
        }
        if (is_kw (&t, "true") || is_kw (&t, "false")) {
            n = node (p, is_kw (&t, "true") ? HQL_N_TRUE : HQL_N_FALSE, t.pos);
            next (p);
            break;
        }
        if (is_kw (&t, "cast")) {
            next (p);
            if (expect_punct (p, "(") < 0)
                break;
            n = node (p, HQL_N_CAST, t.pos);
            if (!n || !(n->a = parse_expr (p)) || expect_kw (p, "as") < 0) {
                n = NULL;
                break;
            }
            if (p->tok.kind != T_IDENT) {
                fail (p, p->tok.pos, "expected a type name in cast", NULL);
                n = NULL;
                break;
            }
            char *ty = (char *) tok_dup (p);
            for (char *c = ty; *c; c++)
                *c = (char) tolower ((unsigned char) *c);
            n->text = ty;
            next (p);
            if (expect_punct (p, ")") < 0)
                n = NULL;
            break;
        }
        if (is_kw (&t, "exists")) {
            fail (p, t.pos, "exists must be used as a condition", NULL);
            break;
        }
        if (is_kw (&t, "case")) {
            n = node (p, HQL_N_CASE, t.pos);
            next (p);
            if (!n)
                break;
            if (!is_kw (&p->tok, "when") && !(n->a = parse_expr (p))) {
                n = NULL;
                break;
            }
            while (n && is_kw (&p->tok, "when")) {
                next (p);
                hql_node_t *w = parse_expr (p);
                if (!w || expect_kw (p, "then") < 0) {
                    n = NULL;
                    break;
                }
                hql_node_t *v = parse_expr (p);
                if (!v) {
                    n = NULL;
                    break;
                }
                PUSH (p, n->list, n->nlist, w);
                PUSH (p, n->list, n->nlist, v);
            }
            if (!n)
                break;
            if (n->nlist == 0) {
                fail (p, p->tok.pos, "case needs at least one 'when ... then ...'", NULL);
                n = NULL;
                break;
            }
            if (is_kw (&p->tok, "else")) {
                next (p);
                if (!(n->c = parse_expr (p))) {
                    n = NULL;
                    break;
                }
            }
            if (expect_kw (p, "end") < 0)
                n = NULL;
            break;
        }
        {
            /* function call? */
            int save_pos = p->pos;
            tok_t save = p->tok;
            next (p);
            if (is_punct (&p->tok, "(")) {
                char name[32];
                int len = t.len < 31 ? t.len : 31;
                for (int i = 0; i < len; i++)
                    name[i] = (char) tolower ((unsigned char) t.start[i]);
                name[len] = 0;
                int known = 0;
                for (int i = 0; functions[i]; i++)
                    if (strcmp (functions[i], name) == 0)
                        known = 1;
                if (!known || t.len > 31) {
                    fail (p, t.pos, "unknown function '%s'", name);
                    break;
                }
                n = node (p, HQL_N_FUNC, t.pos);
                if (!n)
                    break;
                n->text = hql_arena_strndup (p->arena, name, strlen (name));
                next (p);
                if (is_punct (&p->tok, ")")) {
                    next (p);
                    break;
                }
                if (is_kw (&p->tok, "distinct")) {
                    n->distinct = 1;
                    next (p);
                }
                for (;;) {
                    hql_node_t *arg = is_punct (&p->tok, "*") ? parse_primary (p) : parse_expr (p);
                    if (!arg) {
                        n = NULL;
                        break;
                    }
                    PUSH (p, n->list, n->nlist, arg);
                    if (is_punct (&p->tok, ",")) {
                        next (p);
                        continue;
                    }
                    break;
                }
                if (n && expect_punct (p, ")") < 0)
                    n = NULL;
                break;
            }
            p->pos = save_pos;
            p->tok = save;
            n = parse_path (p);
        }
        break;
    case T_EOF:
        fail (p, t.pos, "unexpected end of query", NULL);
        break;
    }
    p->depth--;
    return p->failed ? NULL : n;
}

static hql_node_t *
parse_unary (parser_t *p)
{
    if (is_punct (&p->tok, "-")) {
        int pos = p->tok.pos;
        next (p);
        hql_node_t *n = node (p, HQL_N_NEG, pos);
        if (!n || !(n->a = parse_unary (p)))
            return NULL;
        return n;
    }
    if (is_punct (&p->tok, "+")) {
        next (p);
        return parse_unary (p);
    }
    return parse_primary (p);
}

static hql_node_t *
binop (parser_t *p, const char *op, int pos, hql_node_t *a, hql_node_t *b)
{
    if (!a || !b)
        return NULL;
    hql_node_t *n = node (p, HQL_N_BINOP, pos);
    if (!n)
        return NULL;
    n->text = op;
    n->a = a;
    n->b = b;
    return n;
}

static hql_node_t *
parse_mul (parser_t *p)
{
    hql_node_t *a = parse_unary (p);
    while (a && (is_punct (&p->tok, "*") || is_punct (&p->tok, "/"))) {
        const char *op = is_punct (&p->tok, "*") ? "*" : "/";
        int pos = p->tok.pos;
        next (p);
        a = binop (p, op, pos, a, parse_unary (p));
    }
    return a;
}

static hql_node_t *
parse_add (parser_t *p)
{
    hql_node_t *a = parse_mul (p);
    while (a && (is_punct (&p->tok, "+") || is_punct (&p->tok, "-") || is_punct (&p->tok, "||"))) {
        const char *op = is_punct (&p->tok, "+") ? "+" : is_punct (&p->tok, "-") ? "-" : "||";
        int pos = p->tok.pos;
        next (p);
        a = binop (p, op, pos, a, parse_mul (p));
    }
    return a;
}

static hql_node_t *
parse_predicate (parser_t *p)
{
    int pos = p->tok.pos;
    if (is_kw (&p->tok, "exists")) {
        next (p);
        if (expect_punct (p, "(") < 0)
            return NULL;
        if (!is_kw (&p->tok, "select") && !is_kw (&p->tok, "from")) {
            fail (p, p->tok.pos, "exists needs a subquery", NULL);
            return NULL;
        }
        hql_node_t *n = node (p, HQL_N_EXISTS, pos);
        if (!n || !(n->sub = parse_paren_subquery (p)))
            return NULL;
        return n;
    }
    hql_node_t *a = parse_add (p);
    if (!a)
        return NULL;
    const tok_t *t = &p->tok;
    pos = t->pos;
    static const char *cmp[] = {"=", "<>", "!=", "<", "<=", ">", ">=", NULL};
    for (int i = 0; cmp[i]; i++)
        if (is_punct (t, cmp[i])) {
            const char *op = strcmp (cmp[i], "!=") == 0 ? "<>" : cmp[i];
            next (p);
            if (is_kw (&p->tok, "any") || is_kw (&p->tok, "all") || is_kw (&p->tok, "some")) {
                fail (p, p->tok.pos, "quantified comparisons (any/all/some) are not supported", NULL);
                return NULL;
            }
            return binop (p, op, pos, a, parse_add (p));
        }
    int negated = 0;
    if (is_kw (t, "not")) {
        negated = 1;
        next (p);
        t = &p->tok;
        if (!is_kw (t, "like") && !is_kw (t, "ilike") && !is_kw (t, "in") && !is_kw (t, "between")) {
            fail (p, t->pos, "expected like, ilike, in or between after not", NULL);
            return NULL;
        }
    }
    if (is_kw (t, "like") || is_kw (t, "ilike")) {
        hql_node_t *n = node (p, HQL_N_LIKE, pos);
        if (!n)
            return NULL;
        n->text = is_kw (t, "like") ? "LIKE" : "ILIKE";
        n->negated = negated;
        n->a = a;
        next (p);
        if (!(n->b = parse_add (p)))
            return NULL;
        if (is_kw (&p->tok, "escape")) {
            fail (p, p->tok.pos, "escape clauses are not supported (backslash is the escape character)", NULL);
            return NULL;
        }
        return n;
    }
    if (is_kw (t, "in")) {
        hql_node_t *n = node (p, HQL_N_IN, pos);
        if (!n)
            return NULL;
        n->negated = negated;
        n->a = a;
        next (p);
        if (p->tok.kind == T_PARAM) {   /* in :ids without parentheses */
            hql_node_t *e = parse_primary (p);
            if (!e)
                return NULL;
            PUSH (p, n->list, n->nlist, e);
            return p->failed ? NULL : n;
        }
        if (expect_punct (p, "(") < 0)
            return NULL;
        if (is_kw (&p->tok, "select") || is_kw (&p->tok, "from")) {
            if (!(n->sub = parse_paren_subquery (p)))
                return NULL;
            return n;
        }
        for (;;) {
            hql_node_t *e = parse_add (p);
            if (!e)
                return NULL;
            PUSH (p, n->list, n->nlist, e);
            if (n->nlist > 10000) {
                fail (p, e->pos, "too many values in the in-list; use a list parameter", NULL);
                return NULL;
            }
            if (is_punct (&p->tok, ",")) {
                next (p);
                continue;
            }
            break;
        }
        if (expect_punct (p, ")") < 0)
            return NULL;
        return n;
    }
    if (is_kw (t, "between")) {
        hql_node_t *n = node (p, HQL_N_BETWEEN, pos);
        if (!n)
            return NULL;
        n->negated = negated;
        n->a = a;
        next (p);
        if (!(n->b = parse_add (p)) || expect_kw (p, "and") < 0 || !(n->c = parse_add (p)))
            return NULL;
        return n;
    }
    if (is_kw (t, "is")) {
        hql_node_t *n = node (p, HQL_N_ISNULL, pos);
        if (!n)
            return NULL;
        n->a = a;
        next (p);
        if (is_kw (&p->tok, "not")) {
            n->negated = 1;
            next (p);
        }
        if (is_kw (&p->tok, "empty")) {
            n->kind = HQL_N_ISEMPTY;
            next (p);
            return n;
        }
        if (expect_kw (p, "null") < 0)
            return NULL;
        return n;
    }
    return a;
}

static hql_node_t *
parse_not (parser_t *p)
{
    if (is_kw (&p->tok, "not")) {
        int pos = p->tok.pos;
        next (p);
        if (++p->depth > MAX_DEPTH) {
            fail (p, pos, "query nested too deeply", NULL);
            return NULL;
        }
        hql_node_t *n = node (p, HQL_N_NOT, pos);
        if (!n || !(n->a = parse_not (p)))
            return NULL;
        p->depth--;
        return n;
    }
    return parse_predicate (p);
}

static hql_node_t *
parse_and (parser_t *p)
{
    hql_node_t *a = parse_not (p);
    while (a && is_kw (&p->tok, "and")) {
        int pos = p->tok.pos;
        next (p);
        hql_node_t *n = node (p, HQL_N_AND, pos);
        if (!n || !(n->b = parse_not (p)))
            return NULL;
        n->a = a;
        a = n;
    }
    return a;
}

static hql_node_t *
parse_expr (parser_t *p)
{
    if (++p->depth > MAX_DEPTH) {
        fail (p, p->tok.pos, "query nested too deeply", NULL);
        return NULL;
    }
    hql_node_t *a = parse_and (p);
    while (a && is_kw (&p->tok, "or")) {
        int pos = p->tok.pos;
        next (p);
        hql_node_t *n = node (p, HQL_N_OR, pos);
        if (!n || !(n->b = parse_and (p)))
            return NULL;
        n->a = a;
        a = n;
    }
    p->depth--;
    return p->failed ? NULL : a;
}

/* ---------------------------------------------------------------- clauses */

static const char *
parse_alias (parser_t *p, int required_after_as)
{
    if (is_kw (&p->tok, "as")) {
        next (p);
        if (p->tok.kind != T_IDENT || is_reserved (&p->tok)) {
            char got[64];
            tok_text (&p->tok, got, sizeof got);
            fail (p, p->tok.pos, "expected an alias after 'as' but found %s", got);
            return NULL;
        }
    } else if (p->tok.kind != T_IDENT || is_reserved (&p->tok) || !required_after_as)
        return NULL;
    const char *a = tok_dup (p);
    next (p);
    return a;
}

static int
parse_from_item (parser_t *p, hql_select_t *s)
{
    hql_from_t f = {0};
    f.pos = p->tok.pos;
    if (p->tok.kind != T_IDENT || is_reserved (&p->tok)) {
        char got[64];
        tok_text (&p->tok, got, sizeof got);
        return fail (p, p->tok.pos, "expected an entity name but found %s", got);
    }
    const char *begin = p->tok.start;
    const char *end = begin + p->tok.len;
    next (p);
    while (!p->failed && is_punct (&p->tok, ".")) {
        next (p);
        if (p->tok.kind != T_IDENT)
            return fail (p, p->tok.pos, "malformed entity name", NULL);
        end = p->tok.start + p->tok.len;
        next (p);
    }
    f.entity = hql_arena_strndup (p->arena, begin, (size_t) (end - begin));
    f.alias = parse_alias (p, 1);
    if (p->failed)
        return -1;
    PUSH (p, s->from, s->nfrom, f);
    return p->failed ? -1 : 0;
}

static int
parse_join (parser_t *p, hql_select_t *s)
{
    hql_join_t j = {0};
    j.pos = p->tok.pos;
    j.root = s->nfrom - 1;
    if (is_kw (&p->tok, "left")) {
        j.left = 1;
        next (p);
        if (is_kw (&p->tok, "outer"))
            next (p);
    } else if (is_kw (&p->tok, "inner"))
        next (p);
    else if (is_kw (&p->tok, "right") || is_kw (&p->tok, "full") || is_kw (&p->tok, "cross"))
        return fail (p, p->tok.pos, "only inner and left outer joins are supported", NULL);
    if (expect_kw (p, "join") < 0)
        return -1;
    if (is_kw (&p->tok, "fetch")) {
        j.fetch = 1;
        next (p);
    }
    if (!(j.path = parse_path (p)))
        return -1;
    if (j.path->nsegs < 2)
        return fail (p, j.path->pos, "a join needs a property path such as d.imageLinks", NULL);
    j.alias = parse_alias (p, 1);
    if (p->failed)
        return -1;
    if (is_kw (&p->tok, "with") || is_kw (&p->tok, "on")) {
        next (p);
        if (!(j.with = parse_expr (p)))
            return -1;
    }
    PUSH (p, s->joins, s->njoins, j);
    return p->failed ? -1 : 0;
}

static int
starts_join (parser_t *p)
{
    return is_kw (&p->tok, "join") || is_kw (&p->tok, "left") || is_kw (&p->tok, "inner") ||
           is_kw (&p->tok, "right") || is_kw (&p->tok, "full") || is_kw (&p->tok, "cross");
}

/* new map(expr [as key], ...) */
static int
parse_new_map (parser_t *p, hql_sel_item_t *it)
{
    next (p);
    if (expect_kw (p, "map") < 0 || expect_punct (p, "(") < 0)
        return -1;
    for (;;) {
        hql_sel_item_t e = {0};
        e.pos = p->tok.pos;
        if (is_kw (&p->tok, "new"))
            return fail (p, p->tok.pos, "new map(...) cannot be nested", NULL);
        if (!(e.expr = parse_expr (p)))
            return -1;
        e.end = p->tok.pos;
        while (e.end > e.pos && isspace ((unsigned char) p->src[e.end - 1]))
            e.end--;
        if (is_kw (&p->tok, "as"))
            e.alias = parse_alias (p, 1);
        if (p->failed)
            return -1;
        PUSH (p, it->map, it->nmap, e);
        if (is_punct (&p->tok, ",")) {
            next (p);
            continue;
        }
        break;
    }
    if (expect_punct (p, ")") < 0)
        return -1;
    it->end = p->tok.pos;
    while (it->end > it->pos && isspace ((unsigned char) p->src[it->end - 1]))
        it->end--;
    if (is_kw (&p->tok, "as"))
        it->alias = parse_alias (p, 1);
    return p->failed ? -1 : 0;
}

static hql_select_t *
parse_select (parser_t *p)
{
    if (++p->depth > MAX_DEPTH) {
        fail (p, p->tok.pos, "query nested too deeply", NULL);
        return NULL;
    }
    hql_select_t *s = hql_arena_alloc (p->arena, sizeof *s);
    if (!s) {
        fail (p, p->tok.pos, "out of memory", NULL);
        return NULL;
    }
    s->pos = p->tok.pos;
    if (is_kw (&p->tok, "select")) {
        next (p);
        if (is_kw (&p->tok, "distinct")) {
            s->distinct = 1;
            next (p);
        }
        for (;;) {
            hql_sel_item_t it = {0};
            it.pos = p->tok.pos;
            if (is_kw (&p->tok, "new")) {
                if (parse_new_map (p, &it) < 0)
                    return NULL;
                PUSH (p, s->items, s->nitems, it);
                if (is_punct (&p->tok, ",")) {
                    next (p);
                    continue;
                }
                break;
            }
            if (!(it.expr = parse_expr (p)))
                return NULL;
            it.end = p->tok.pos;
            while (it.end > it.pos && isspace ((unsigned char) p->src[it.end - 1]))
                it.end--;
            if (is_kw (&p->tok, "as"))
                it.alias = parse_alias (p, 1);
            if (p->failed)
                return NULL;
            PUSH (p, s->items, s->nitems, it);
            if (is_punct (&p->tok, ",")) {
                next (p);
                continue;
            }
            break;
        }
    }
    if (expect_kw (p, "from") < 0)
        return NULL;
    if (parse_from_item (p, s) < 0)
        return NULL;
    for (;;) {
        if (p->failed)
            return NULL;
        if (is_punct (&p->tok, ",")) {
            next (p);
            if (parse_from_item (p, s) < 0)
                return NULL;
            continue;
        }
        if (starts_join (p)) {
            if (parse_join (p, s) < 0)
                return NULL;
            continue;
        }
        break;
    }
    if (is_kw (&p->tok, "where")) {
        next (p);
        if (!(s->where = parse_expr (p)))
            return NULL;
    }
    if (is_kw (&p->tok, "group")) {
        next (p);
        if (expect_kw (p, "by") < 0)
            return NULL;
        for (;;) {
            hql_node_t *e = parse_expr (p);
            if (!e)
                return NULL;
            PUSH (p, s->group, s->ngroup, e);
            if (is_punct (&p->tok, ",")) {
                next (p);
                continue;
            }
            break;
        }
    }
    if (is_kw (&p->tok, "having")) {
        next (p);
        if (!(s->having = parse_expr (p)))
            return NULL;
    }
    if (is_kw (&p->tok, "order")) {
        next (p);
        if (expect_kw (p, "by") < 0)
            return NULL;
        for (;;) {
            hql_order_t o = {0};
            if (!(o.expr = parse_expr (p)))
                return NULL;
            if (is_kw (&p->tok, "desc")) {
                o.desc = 1;
                next (p);
            } else if (is_kw (&p->tok, "asc"))
                next (p);
            PUSH (p, s->order, s->norder, o);
            if (is_punct (&p->tok, ",")) {
                next (p);
                continue;
            }
            break;
        }
    }
    p->depth--;
    return p->failed ? NULL : s;
}

hql_ast_t *
hql_parse (const char *hql, omr_err_t *err)
{
    if (!hql) {
        omr_err_set (err, OMR_E_QUERY, 400, "HQL error: empty query");
        return NULL;
    }
    size_t len = strlen (hql);
    if (len > 65536) {
        omr_err_set (err, OMR_E_QUERY, 400, "HQL error: query longer than 65536 bytes");
        return NULL;
    }
    hql_ast_t *ast = calloc (1, sizeof *ast);
    if (!ast || !(ast->arena = hql_arena_new ())) {
        free (ast);
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        return NULL;
    }
    parser_t p = {0};
    p.arena = ast->arena;
    p.err = err;
    p.src = ast->src = hql_arena_strndup (ast->arena, hql, len);
    p.len = (int) len;
    if (!p.src) {
        hql_ast_destroy (&ast);
        omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
        return NULL;
    }
    lex (&p);
    if (!p.failed && p.tok.kind == T_EOF)
        fail (&p, 0, "empty query", NULL);
    if (!p.failed)
        ast->query = parse_select (&p);
    if (!p.failed && p.tok.kind != T_EOF) {
        char got[64];
        tok_text (&p.tok, got, sizeof got);
        if (is_kw (&p.tok, "union") || is_kw (&p.tok, "intersect") || is_kw (&p.tok, "except"))
            fail (&p, p.tok.pos, "%s is not supported", got);
        else
            fail (&p, p.tok.pos, "unexpected %s after the end of the query", got);
    }
    if (p.failed || !ast->query) {
        if (!p.failed)
            omr_err_set (err, OMR_E_QUERY, 400, "HQL error: cannot parse query");
        hql_ast_destroy (&ast);
        return NULL;
    }
    return ast;
}

void
hql_ast_destroy (hql_ast_t **self)
{
    if (!self || !*self)
        return;
    hql_arena_destroy (&(*self)->arena);
    free (*self);
    *self = NULL;
}
