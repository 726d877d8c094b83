/* condition: parser, type checker and block evaluator of getWhereList conditions.  The grammar
 * and typing mirror what numexpr (through PyTables) accepts, so that results equal PyTables'
 * Table.get_where_list on the same file. */
#include "condition.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_BOOL, T_LONG, T_DOUBLE, T_STR } vtype_t;

typedef enum {
    N_CONST, N_COL, N_NEG, N_NOT, N_CAST, N_ADD, N_SUB, N_MUL, N_DIV, N_MOD, N_POW, N_AND, N_OR,
    N_LT, N_LE, N_EQ, N_NE, N_GE, N_GT, N_FUNC1, N_FUNC2, N_WHERE, N_CONTAINS
} ntype_t;

typedef double (*fn1_t) (double);
typedef double (*fn2_t) (double, double);

typedef struct node {
    ntype_t op;
    vtype_t type;
    struct node *a, *b, *c;
    /* constants */
    int64_t ival;
    double dval;
    char *sval;
    size_t slen;
    int is_const;
    int py;                /* a raw Python value (literal or Python-level result), not yet a numexpr node */
    int pyval;             /* the constant's value is a Python object (else a numpy scalar) */
    int var;               /* a call variable: a 0-d input to numexpr, never folded */
    /* columns */
    size_t col;
    size_t width;          /* string width */
    fn1_t f1;
    fn2_t f2;
    /* values of the current block (numeric nodes) */
    void *buf;
    unsigned gen;          /* block counter when buf was last computed (shared subtrees) */
    /* strings: base/stride view (constants: stride 0) */
    const char *sbase;
    size_t sstride;
} node_t;

struct tbl_cond {
    node_t *root;
    node_t **all;          /* every node, for freeing */
    size_t nall, capall;
    size_t *cols;
    size_t ncols;
    size_t block;
    unsigned gen;
    const tbl_store_t *st;
};

/* ---------------------------------------------------------------- lexer */

typedef enum { K_END, K_NUM_INT, K_NUM_FLOAT, K_STR, K_NAME, K_OP } tok_kind_t;

typedef struct {
    tok_kind_t kind;
    char op[3];
    int64_t ival;
    double dval;
    char *text;             /* names and strings (malloc'd) */
    size_t len;
} tok_t;

typedef struct {
    const char *src, *p;
    tok_t tok;
    char msg[256];
    tbl_cond_t *cond;
    json_t *vars;
    int ncolrefs;
    int saw_str, saw_bytes;   /* 'x' and b'x' literals: numexpr cannot order them together */
} parser_t;

static int perr (parser_t *ps, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static int perr (parser_t *ps, const char *fmt, ...)
{
    if (!ps->msg[0]) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (ps->msg, sizeof ps->msg, fmt, ap);
        va_end (ap);
    }
    return -1;
}

static int lex_string (parser_t *ps, int raw, int bytes)
{
    if (bytes)
        ps->saw_bytes = 1;
    else
        ps->saw_str = 1;
    char q = *ps->p++;
    size_t cap = 16, n = 0;
    char *s = malloc (cap);
    for (;;) {
        char ch = *ps->p;
        if (!ch) {
            free (s);
            return perr (ps, "SyntaxError: unterminated string literal");
        }
        ps->p++;
        if (ch == q)
            break;
        if (ch == '\\' && !raw && *ps->p) {
            char e = *ps->p++;
            switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case '0': ch = '\0'; break;
            case '\\': ch = '\\'; break;
            case '\'': ch = '\''; break;
            case '"': ch = '"'; break;
            case 'x':
                if (isxdigit ((unsigned char) ps->p[0]) && isxdigit ((unsigned char) ps->p[1])) {
                    char hex[3] = { ps->p[0], ps->p[1], 0 };
                    ch = (char) strtol (hex, NULL, 16);
                    ps->p += 2;
                    break;
                }
                free (s);
                return perr (ps, "SyntaxError: bad \\x escape");
            default:
                if (n + 2 >= cap)
                    s = realloc (s, cap *= 2);
                s[n++] = '\\';
                ch = e;
            }
        } else if ((unsigned char) ch >= 0x80) {
            free (s);
            return perr (ps, "ValueError: non-ASCII characters are not supported in conditions");
        }
        if (n + 2 >= cap)
            s = realloc (s, cap *= 2);
        s[n++] = ch;
    }
    s[n] = 0;
    ps->tok.kind = K_STR;
    ps->tok.text = s;
    ps->tok.len = n;
    return 0;
}

static int lex (parser_t *ps)
{
    free (ps->tok.text);
    memset (&ps->tok, 0, sizeof ps->tok);
    while (isspace ((unsigned char) *ps->p))
        ps->p++;
    const char *p = ps->p;
    if (!*p) {
        ps->tok.kind = K_END;
        return 0;
    }
    /* string literal with optional b/r prefixes */
    {
        const char *q = p;
        int raw = 0, pre = 0, bytes = 0;
        while (pre < 2 && (*q == 'b' || *q == 'B' || *q == 'r' || *q == 'R')) {
            if (*q == 'r' || *q == 'R')
                raw = 1;
            else
                bytes = 1;
            q++;
            pre++;
        }
        if (*q == '\'' || *q == '"') {
            ps->p = q;
            return lex_string (ps, raw, bytes);
        }
    }
    if (isdigit ((unsigned char) *p) || (*p == '.' && isdigit ((unsigned char) p[1]))) {
        char buf[128];
        size_t n = 0;
        int isfloat = 0;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X' || p[1] == 'o' || p[1] == 'O' || p[1] == 'b' || p[1] == 'B')) {
            int base = (p[1] == 'x' || p[1] == 'X') ? 16 : (p[1] == 'o' || p[1] == 'O') ? 8 : 2;
            p += 2;
            while ((isalnum ((unsigned char) *p) || *p == '_') && n < sizeof buf - 1) {
                if (*p != '_')
                    buf[n++] = *p;
                p++;
            }
            buf[n] = 0;
            char *end;
            errno = 0;
            unsigned long long v = strtoull (buf, &end, base);
            if (!n || *end || errno)
                return perr (ps, "SyntaxError: invalid number literal");
            ps->p = p;
            ps->tok.kind = K_NUM_INT;
            ps->tok.ival = (int64_t) v;
            return 0;
        }
        while (n < sizeof buf - 1) {
            char ch = *p;
            if (isdigit ((unsigned char) ch) || ch == '_') {
                if (ch != '_')
                    buf[n++] = ch;
                p++;
            } else if (ch == '.') {
                isfloat = 1;
                buf[n++] = ch;
                p++;
            } else if ((ch == 'e' || ch == 'E') && (isdigit ((unsigned char) p[1])
                       || ((p[1] == '+' || p[1] == '-') && isdigit ((unsigned char) p[2])))) {
                isfloat = 1;
                buf[n++] = ch;
                p++;
                if (*p == '+' || *p == '-')
                    buf[n++] = *p++;
            } else
                break;
        }
        buf[n] = 0;
        if (*p == 'j' || *p == 'J')
            return perr (ps, "TypeError: complex numbers are not supported");
        if (isalpha ((unsigned char) *p) || *p == '_')
            return perr (ps, "SyntaxError: invalid number literal");
        ps->p = p;
        if (isfloat) {
            ps->tok.kind = K_NUM_FLOAT;
            ps->tok.dval = strtod (buf, NULL);
        } else {
            errno = 0;
            unsigned long long v = strtoull (buf, NULL, 10);
            if (errno || v > (unsigned long long) INT64_MAX) {
                /* numexpr turns integers beyond int64 into doubles */
                ps->tok.kind = K_NUM_FLOAT;
                ps->tok.dval = strtod (buf, NULL);
            } else {
                ps->tok.kind = K_NUM_INT;
                ps->tok.ival = (int64_t) v;
            }
        }
        return 0;
    }
    if (isalpha ((unsigned char) *p) || *p == '_') {
        const char *s = p;
        while (isalnum ((unsigned char) *p) || *p == '_')
            p++;
        ps->tok.kind = K_NAME;
        ps->tok.text = strndup (s, (size_t) (p - s));
        ps->tok.len = (size_t) (p - s);
        ps->p = p;
        return 0;
    }
    static const char *ops2[] = { "**", "<=", ">=", "==", "!=", "//", "<<", ">>", NULL };
    for (int i = 0; ops2[i]; i++)
        if (p[0] == ops2[i][0] && p[1] == ops2[i][1]) {
            memcpy (ps->tok.op, ops2[i], 3);
            ps->tok.kind = K_OP;
            ps->p = p + 2;
            return 0;
        }
    if (strchr ("()+-*/%<>&|~,^", *p)) {
        ps->tok.op[0] = *p;
        ps->tok.kind = K_OP;
        ps->p = p + 1;
        return 0;
    }
    return perr (ps, "SyntaxError: invalid character '%c'", *p);
}

static int is_op (parser_t *ps, const char *op)
{
    return ps->tok.kind == K_OP && strcmp (ps->tok.op, op) == 0;
}

/* ---------------------------------------------------------------- nodes */

static node_t *mknode (parser_t *ps, ntype_t op)
{
    tbl_cond_t *c = ps->cond;
    node_t *n = calloc (1, sizeof *n);
    if (c->nall == c->capall) {
        c->capall = c->capall ? 2 * c->capall : 16;
        c->all = realloc (c->all, c->capall * sizeof (node_t *));
    }
    c->all[c->nall++] = n;
    n->op = op;
    return n;
}

static node_t *mkconst_long (parser_t *ps, int64_t v)
{
    node_t *n = mknode (ps, N_CONST);
    n->type = T_LONG;
    n->ival = v;
    n->is_const = 1;
    n->py = 1;
    n->pyval = 1;
    return n;
}

static node_t *mkconst_double (parser_t *ps, double v)
{
    node_t *n = mknode (ps, N_CONST);
    n->type = T_DOUBLE;
    n->dval = v;
    n->is_const = 1;
    n->py = 1;
    n->pyval = 1;
    return n;
}

static node_t *mkconst_bool (parser_t *ps, int v)
{
    node_t *n = mknode (ps, N_CONST);
    n->type = T_BOOL;
    n->ival = v ? 1 : 0;
    n->is_const = 1;
    n->py = 1;
    n->pyval = 1;
    return n;
}

/* Cast a numeric node to a wider numeric type. */
static node_t *cast (parser_t *ps, node_t *a, vtype_t to)
{
    if (a->type == to)
        return a;
    if (a->op == N_CONST) {
        if (to == T_DOUBLE)
            return mkconst_double (ps, a->type == T_DOUBLE ? a->dval : (double) a->ival);
        if (to == T_LONG)
            return mkconst_long (ps, a->ival);
    }
    node_t *n = mknode (ps, N_CAST);
    n->a = a;
    n->type = to;
    return n;
}

static const char *tname (vtype_t t)
{
    return t == T_BOOL ? "bool" : t == T_LONG ? "long" : t == T_DOUBLE ? "double" : "str";
}

static vtype_t num_common (vtype_t a, vtype_t b)
{
    if (a == T_DOUBLE || b == T_DOUBLE)
        return T_DOUBLE;
    return T_LONG;
}

/* ---------------------------------------------------------------- constant folding
 * numexpr builds the expression by evaluating the condition as Python code over its nodes: an
 * operation on two Python literals is done by Python (floor modulo, exact integers, errors on
 * division by zero, comparisons giving Python bools), one on constant nodes by numpy, and
 * where() with a constant condition picks its branch while compiling. */

static int foldable (const node_t *n)
{
    return n && n->op == N_CONST && !n->var;
}

static double cval (const node_t *n)
{
    return n->type == T_DOUBLE ? n->dval : (double) n->ival;
}

static node_t *fold_result (parser_t *ps, vtype_t t, int64_t i, double d, int py, int pyval)
{
    node_t *n = t == T_DOUBLE ? mkconst_double (ps, d) : t == T_BOOL ? mkconst_bool (ps, (int) i) : mkconst_long (ps, i);
    n->py = py;
    n->pyval = pyval;
    return n;
}

static int str_op (ntype_t op, const char *a, size_t al, const char *b, size_t bl);

static node_t *fold_bin (parser_t *ps, ntype_t op, node_t *a, node_t *b, const char *sym)
{
    int py = a->py && b->py, pv = a->pyval && b->pyval;
    if (a->type == T_STR || b->type == T_STR) {
        if (a->type != T_STR || b->type != T_STR || op < N_LT || op > N_GT) {
            perr (ps, "TypeError: unsupported operand types for '%s' on string constants", sym);
            return NULL;
        }
        return fold_result (ps, T_BOOL, str_op (op, a->sval, a->slen, b->sval, b->slen), 0, py, pv);
    }
    int ints = a->type != T_DOUBLE && b->type != T_DOUBLE;
    int64_t x = a->ival, y = b->ival, r;
    double p = cval (a), q = cval (b);
    switch (op) {
    case N_AND: case N_OR:
        if (!ints) {
            perr (ps, "TypeError: unsupported operand type(s) for %s: 'float'", sym);
            return NULL;
        }
        return fold_result (ps, a->type == T_BOOL && b->type == T_BOOL ? T_BOOL : T_LONG,
                            op == N_AND ? (x & y) : (x | y), 0, py, pv);
    case N_LT: return fold_result (ps, T_BOOL, ints ? x < y : p < q, 0, py, pv);
    case N_LE: return fold_result (ps, T_BOOL, ints ? x <= y : p <= q, 0, py, pv);
    case N_EQ: return fold_result (ps, T_BOOL, ints ? x == y : p == q, 0, py, pv);
    case N_NE: return fold_result (ps, T_BOOL, ints ? x != y : p != q, 0, py, pv);
    case N_GE: return fold_result (ps, T_BOOL, ints ? x >= y : p >= q, 0, py, pv);
    case N_GT: return fold_result (ps, T_BOOL, ints ? x > y : p > q, 0, py, pv);
    case N_ADD: case N_SUB: case N_MUL:
        if (ints) {
            int ovf = op == N_ADD ? __builtin_add_overflow (x, y, &r) : op == N_SUB ? __builtin_sub_overflow (x, y, &r)
                                                                       : __builtin_mul_overflow (x, y, &r);
            if (!ovf)
                return fold_result (ps, T_LONG, r, 0, py, pv);
        }
        return fold_result (ps, T_DOUBLE, 0, op == N_ADD ? p + q : op == N_SUB ? p - q : p * q, py, pv);
    case N_DIV:
        if (q == 0 && pv) {
            perr (ps, "ZeroDivisionError: division by zero");
            return NULL;
        }
        return fold_result (ps, T_DOUBLE, 0, p / q, py, pv);
    case N_MOD:
        if (ints) {
            if (y == 0) {
                if (pv) {
                    perr (ps, "ZeroDivisionError: integer modulo by zero");
                    return NULL;
                }
                return fold_result (ps, T_LONG, 0, 0, py, pv);
            }
            r = y == -1 ? 0 : x % y;
            if (r != 0 && ((r < 0) != (y < 0)))
                r += y;
            return fold_result (ps, T_LONG, r, 0, py, pv);
        }
        if (q == 0 && pv) {
            perr (ps, "ZeroDivisionError: float modulo");
            return NULL;
        }
        {
            double m = fmod (p, q);
            if (m != 0 && ((m < 0) != (q < 0)))
                m += q;
            return fold_result (ps, T_DOUBLE, 0, m, py, pv);
        }
    default:
        perr (ps, "TypeError: unsupported constant operation");
        return NULL;
    }
}

static node_t *fold_pow (parser_t *ps, node_t *a, node_t *b)
{
    int py = a->py && b->py, pv = a->pyval && b->pyval;
    if (a->type != T_DOUBLE && b->type != T_DOUBLE) {
        if (b->ival < 0) {
            if (!pv) {
                perr (ps, "ValueError: Integers to negative integer powers are not allowed.");
                return NULL;
            }
            return fold_result (ps, T_DOUBLE, 0, pow ((double) a->ival, (double) b->ival), py, pv);
        }
        int64_t r = 1, base = a->ival, e = b->ival;
        int ovf = 0;
        while (e > 0 && !ovf) {
            if (e & 1)
                ovf |= __builtin_mul_overflow (r, base, &r);
            e >>= 1;
            if (e > 0)
                ovf |= __builtin_mul_overflow (base, base, &base);
        }
        if (!ovf)
            return fold_result (ps, T_LONG, r, 0, py, pv);
        return fold_result (ps, T_DOUBLE, 0, pow ((double) a->ival, (double) b->ival), py, pv);
    }
    double x = cval (a), y = cval (b);
    if (x < 0 && y != floor (y) && pv) {
        perr (ps, "TypeError: complex numbers are not supported");
        return NULL;
    }
    if (x == 0 && y < 0 && pv) {
        perr (ps, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
        return NULL;
    }
    return fold_result (ps, T_DOUBLE, 0, pow (x, y), py, pv);
}

static node_t *binop (parser_t *ps, ntype_t op, node_t *a, node_t *b, const char *sym)
{
    if (!a || !b)
        return NULL;
    if ((op == N_AND || op == N_OR) && foldable (a) && a->py && !(foldable (b) && b->py)) {
        /* Python's bool has no reflected '&' with a numexpr node */
        perr (ps, "TypeError: unsupported operand type(s) for %s: '%s' and 'OpNode'", sym,
              a->type == T_BOOL ? "bool" : a->type == T_LONG ? "int" : "float");
        return NULL;
    }
    if (foldable (a) && foldable (b))
        return fold_bin (ps, op, a, b, sym);
    node_t *n = mknode (ps, op);
    switch (op) {
    case N_AND:
    case N_OR:
        if (a->type != T_BOOL || b->type != T_BOOL) {
            perr (ps, "TypeError: unsupported operand types for '%s': %s, %s (use & and | on comparisons)", sym, tname (a->type), tname (b->type));
            return NULL;
        }
        n->type = T_BOOL;
        break;
    case N_LT: case N_LE: case N_EQ: case N_NE: case N_GE: case N_GT:
        if ((a->type == T_STR) != (b->type == T_STR)) {
            perr (ps, "TypeError: unsupported operand types for '%s': %s, %s", sym, tname (a->type), tname (b->type));
            return NULL;
        }
        if (a->type != T_STR && !(a->type == T_BOOL && b->type == T_BOOL)) {
            vtype_t t = num_common (a->type, b->type);
            a = cast (ps, a, t);
            b = cast (ps, b, t);
        }
        n->type = T_BOOL;
        break;
    case N_ADD: case N_SUB: case N_MUL: case N_DIV: case N_MOD: {
        if (a->type == T_STR || b->type == T_STR) {
            perr (ps, "TypeError: strings can only be compared, not used with '%s'", sym);
            return NULL;
        }
        vtype_t t = op == N_DIV ? T_DOUBLE : num_common (a->type, b->type);
        a = cast (ps, a, t);
        b = cast (ps, b, t);
        n->type = t;
        break;
    }
    default:
        break;
    }
    n->a = a;
    n->b = b;
    return n;
}

/* numexpr's pow as PyTables compiles it (no optimization pass): double pow() for floats; for
 * integers the exponent must be a non-negative constant and the result is pow() in long double
 * converted back to int64 (out-of-range results give INT64_MIN, like the x86 conversion). */
static node_t *powop (parser_t *ps, node_t *a, node_t *b)
{
    if (!a || !b)
        return NULL;
    if (a->type == T_STR || b->type == T_STR) {
        perr (ps, "TypeError: strings cannot be raised to a power");
        return NULL;
    }
    if (foldable (a) && foldable (b))
        return fold_pow (ps, a, b);
    int int_kind = a->type != T_DOUBLE && b->type != T_DOUBLE;
    node_t *n = mknode (ps, N_POW);
    if (int_kind) {
        if (!foldable (b)) {
            perr (ps, "TypeError: integer powers need a constant exponent");
            return NULL;
        }
        if (b->ival < 0) {
            perr (ps, "ValueError: Integers to negative integer powers are not allowed.");
            return NULL;
        }
        n->a = cast (ps, a, T_LONG);
        n->b = cast (ps, b, T_LONG);
        n->type = T_LONG;
    } else {
        n->a = cast (ps, a, T_DOUBLE);
        n->b = cast (ps, b, T_DOUBLE);
        n->type = T_DOUBLE;
    }
    return n;
}

/* ---------------------------------------------------------------- parser */

static node_t *parse_expr (parser_t *ps);

static double d_abs (double x) { return fabs (x); }
static double d_fmod (double a, double b) { return fmod (a, b); }

static const struct { const char *name; fn1_t f; } funcs1[] = {
    { "sin", sin }, { "cos", cos }, { "tan", tan }, { "arcsin", asin }, { "arccos", acos },
    { "arctan", atan }, { "sinh", sinh }, { "cosh", cosh }, { "tanh", tanh }, { "arcsinh", asinh },
    { "arccosh", acosh }, { "arctanh", atanh }, { "log", log }, { "log10", log10 }, { "log1p", log1p },
    { "exp", exp }, { "expm1", expm1 }, { "sqrt", sqrt }, { "abs", d_abs }, { "ceil", ceil },
    { "floor", floor }, { NULL, NULL }
};

/* Python keywords numexpr refuses; sets the error and returns 1 for them. */
static int keyword_error (parser_t *ps, const char *name)
{
    static const char *kw[] = { "and", "or", "not", "if", "else", "in", "is", "lambda", NULL };
    for (int i = 0; kw[i]; i++)
        if (strcmp (name, kw[i]) == 0) {
            perr (ps, "TypeError: You can't use Python's standard boolean operators in NumExpr expressions. "
                  "You should use their bitwise counterparts instead: '&' instead of 'and', '|' instead of 'or', "
                  "and '~' instead of 'not'.");
            return 1;
        }
    return 0;
}

/* A name: a variable (constant or column alias) first, then a column. */
static node_t *resolve_name (parser_t *ps, const char *name)
{
    if (strcmp (name, "True") == 0)
        return mkconst_bool (ps, 1);
    if (strcmp (name, "False") == 0)
        return mkconst_bool (ps, 0);
    if (keyword_error (ps, name))
        return NULL;
    const char *colname = name;
    json_t *v = ps->vars ? json_object_get (ps->vars, name) : NULL;
    if (v) {
        node_t *n = NULL;
        if (json_is_boolean (v))
            n = mkconst_bool (ps, json_is_true (v));
        else if (json_is_integer (v))
            n = mkconst_long (ps, json_integer_value (v));
        else if (json_is_real (v))
            n = mkconst_double (ps, json_real_value (v));
        if (n) {
            n->py = 0;
            n->pyval = 0;
            n->var = 1;
            return n;
        }
        if (json_is_string (v))
            colname = json_string_value (v);
        else {
            perr (ps, "TypeError: variable %s has an unsupported type", name);
            return NULL;
        }
    }
    long ci = tbl_store_find_col (ps->cond->st, colname);
    if (ci < 0) {
        perr (ps, "NameError: name ``%s`` is not defined", colname);
        return NULL;
    }
    const tbl_col_t *col = tbl_store_col (ps->cond->st, (size_t) ci);
    node_t *n = mknode (ps, N_COL);
    n->col = (size_t) ci;
    switch (col->kind) {
    case TBL_BOOL: n->type = T_BOOL; break;
    case TBL_DOUBLE: n->type = T_DOUBLE; break;
    case TBL_STRING: n->type = T_STR; n->width = col->size; break;
    case TBL_FLOATARR: case TBL_DOUBLEARR: case TBL_LONGARR: case TBL_MASK:
        perr (ps, "NotImplementedError: variable ``%s`` refers to a multidimensional column, not yet supported in conditions", colname);
        return NULL;
    default: n->type = T_LONG; break;
    }
    return n;
}

static node_t *parse_call (parser_t *ps, char *fname)
{
    node_t *args[3] = { NULL, NULL, NULL };
    int nargs = 0;
    if (lex (ps) < 0)
        return NULL;
    if (!is_op (ps, ")")) {
        for (;;) {
            if (nargs == 3) {
                perr (ps, "TypeError: too many arguments to %s", fname);
                return NULL;
            }
            args[nargs] = parse_expr (ps);
            if (!args[nargs])
                return NULL;
            nargs++;
            if (is_op (ps, ",")) {
                if (lex (ps) < 0)
                    return NULL;
                continue;
            }
            break;
        }
    }
    if (!is_op (ps, ")")) {
        perr (ps, "SyntaxError: expected ')' after the arguments of %s", fname);
        return NULL;
    }
    if (lex (ps) < 0)
        return NULL;
    for (int i = 0; funcs1[i].name; i++)
        if (strcmp (fname, funcs1[i].name) == 0) {
            if (nargs != 1) {
                perr (ps, "TypeError: %s takes one argument", fname);
                return NULL;
            }
            if (args[0]->type == T_STR) {
                perr (ps, "TypeError: %s of a string", fname);
                return NULL;
            }
            if (foldable (args[0])) {      /* numpy on the constant */
                if (funcs1[i].f == d_abs && args[0]->type != T_DOUBLE)
                    return fold_result (ps, T_LONG, args[0]->ival < 0 ? (int64_t) (0 - (uint64_t) args[0]->ival) : args[0]->ival, 0, 0, 0);
                return fold_result (ps, T_DOUBLE, 0, funcs1[i].f (cval (args[0])), 0, 0);
            }
            node_t *n = mknode (ps, N_FUNC1);
            n->a = cast (ps, args[0], T_DOUBLE);
            n->type = T_DOUBLE;
            n->f1 = funcs1[i].f;
            return n;
        }
    if (strcmp (fname, "arctan2") == 0 || strcmp (fname, "fmod") == 0) {
        if (nargs != 2 || args[0]->type == T_STR || args[1]->type == T_STR) {
            perr (ps, "TypeError: %s takes two numbers", fname);
            return NULL;
        }
        fn2_t f2 = fname[0] == 'a' ? atan2 : d_fmod;
        if (foldable (args[0]) && foldable (args[1]))
            return fold_result (ps, T_DOUBLE, 0, f2 (cval (args[0]), cval (args[1])), 0, 0);
        node_t *n = mknode (ps, N_FUNC2);
        n->a = cast (ps, args[0], T_DOUBLE);
        n->b = cast (ps, args[1], T_DOUBLE);
        n->type = T_DOUBLE;
        n->f2 = f2;
        return n;
    }
    if (strcmp (fname, "where") == 0 && nargs == 3 && foldable (args[0])) {
        /* a constant condition picks its branch at compile time; Python values become constant nodes */
        node_t *pick = (args[0]->type == T_DOUBLE ? args[0]->dval != 0 : args[0]->ival != 0) ? args[1] : args[2];
        if (foldable (pick))
            pick->py = 0;
        return pick;
    }
    if (strcmp (fname, "where") == 0) {
        if (nargs != 3 || args[0]->type != T_BOOL) {
            perr (ps, "TypeError: where(bool, number1, number2)");
            return NULL;
        }
        if (args[1]->type == T_STR || args[2]->type == T_STR) {
            perr (ps, "TypeError: strings can only be operated with strings");
            return NULL;
        }
        node_t *n = mknode (ps, N_WHERE);
        vtype_t t = (args[1]->type == T_BOOL && args[2]->type == T_BOOL) ? T_BOOL : num_common (args[1]->type, args[2]->type);
        n->a = args[0];
        n->b = cast (ps, args[1], t);
        n->c = cast (ps, args[2], t);
        n->type = t;
        return n;
    }
    if (strcmp (fname, "contains") == 0) {
        if (nargs != 2 || args[0]->type != T_STR || args[1]->type != T_STR) {
            perr (ps, "TypeError: contains(string, string)");
            return NULL;
        }
        node_t *n = mknode (ps, N_CONTAINS);
        n->a = args[0];
        n->b = args[1];
        n->type = T_BOOL;
        return n;
    }
    if (strcmp (fname, "real") == 0 || strcmp (fname, "imag") == 0 || strcmp (fname, "complex") == 0
        || strcmp (fname, "conj") == 0)
        perr (ps, "TypeError: complex numbers are not supported (%s)", fname);
    else
        perr (ps, "NameError: unknown function ``%s``", fname);
    return NULL;
}

static node_t *parse_atom (parser_t *ps)
{
    tok_t *t = &ps->tok;
    if (t->kind == K_NUM_INT) {
        node_t *n = mkconst_long (ps, t->ival);
        return lex (ps) < 0 ? NULL : n;
    }
    if (t->kind == K_NUM_FLOAT) {
        node_t *n = mkconst_double (ps, t->dval);
        return lex (ps) < 0 ? NULL : n;
    }
    if (t->kind == K_STR) {
        node_t *n = mknode (ps, N_CONST);
        n->type = T_STR;
        n->is_const = 1;
        n->sval = t->text;
        n->slen = t->len;
        n->width = t->len;
        t->text = NULL;
        /* adjacent string literals concatenate as in Python */
        if (lex (ps) < 0)
            return NULL;
        while (ps->tok.kind == K_STR) {
            n->sval = realloc (n->sval, n->slen + ps->tok.len + 1);
            memcpy (n->sval + n->slen, ps->tok.text, ps->tok.len + 1);
            n->slen += ps->tok.len;
            n->width = n->slen;
            if (lex (ps) < 0)
                return NULL;
        }
        return n;
    }
    if (t->kind == K_NAME) {
        char *name = t->text;
        t->text = NULL;
        if (lex (ps) < 0) {
            free (name);
            return NULL;
        }
        node_t *n;
        if (is_op (ps, "("))
            n = parse_call (ps, name);
        else
            n = resolve_name (ps, name);
        free (name);
        if (n && ps->tok.kind == K_NAME) {
            perr (ps, "SyntaxError: invalid syntax near '%s'", ps->tok.text);
            return NULL;
        }
        return n;
    }
    if (is_op (ps, "(")) {
        if (lex (ps) < 0)
            return NULL;
        node_t *n = parse_expr (ps);
        if (!n)
            return NULL;
        if (!is_op (ps, ")")) {
            perr (ps, "SyntaxError: expected ')'");
            return NULL;
        }
        return lex (ps) < 0 ? NULL : n;
    }
    if (t->kind == K_END)
        perr (ps, "SyntaxError: unexpected end of condition");
    else
        perr (ps, "SyntaxError: invalid syntax at '%s'", t->kind == K_OP ? t->op : "?");
    return NULL;
}

static node_t *parse_unary (parser_t *ps);

static node_t *parse_power (parser_t *ps)
{
    node_t *a = parse_atom (ps);
    if (!a)
        return NULL;
    if (is_op (ps, "**")) {
        if (lex (ps) < 0)
            return NULL;
        node_t *b = parse_unary (ps);    /* right-associative, binds unary minus on the right */
        return powop (ps, a, b);
    }
    return a;
}

static node_t *parse_unary (parser_t *ps)
{
    if (is_op (ps, "-") || is_op (ps, "+") || is_op (ps, "~")) {
        char op = ps->tok.op[0];
        if (lex (ps) < 0)
            return NULL;
        node_t *a = parse_unary (ps);
        if (!a)
            return NULL;
        if (foldable (a) && a->type != T_STR) {
            /* Python semantics on Python values (bools act as ints), numpy's on constant nodes */
            if (op == '+')
                return a->type == T_BOOL && a->pyval ? fold_result (ps, T_LONG, a->ival, 0, a->py, 1) : a;
            if (op == '~') {
                if (a->type == T_DOUBLE) {
                    perr (ps, "TypeError: bad operand type for unary ~: 'float'");
                    return NULL;
                }
                if (a->type == T_BOOL && !a->pyval)
                    return fold_result (ps, T_BOOL, !a->ival, 0, a->py, 0);
                return fold_result (ps, T_LONG, ~a->ival, 0, a->py, a->pyval);   /* Python: ~True == -2 */
            }
            if (a->type == T_BOOL && !a->pyval) {
                perr (ps, "TypeError: the numpy boolean negative, the `-` operator, is not supported");
                return NULL;
            }
            if (a->type == T_DOUBLE)
                return fold_result (ps, T_DOUBLE, 0, -a->dval, a->py, a->pyval);
            return fold_result (ps, T_LONG, (int64_t) (0 - (uint64_t) a->ival), 0, a->py, a->pyval);
        }
        if (op == '+')
            return a;
        if (op == '~') {
            if (a->type != T_BOOL) {
                perr (ps, "NotImplementedError: '~' needs a boolean operand, got %s", tname (a->type));
                return NULL;
            }
            node_t *n = mknode (ps, N_NOT);
            n->a = a;
            n->type = T_BOOL;
            return n;
        }
        if (a->type == T_STR || a->type == T_BOOL) {
            perr (ps, "NotImplementedError: unary minus of a %s", tname (a->type));
            return NULL;
        }
        node_t *n = mknode (ps, N_NEG);
        n->a = a;
        n->type = a->type;
        return n;
    }
    return parse_power (ps);
}

static node_t *parse_term (parser_t *ps)
{
    node_t *a = parse_unary (ps);
    while (a && (is_op (ps, "*") || is_op (ps, "/") || is_op (ps, "%") || is_op (ps, "//"))) {
        char sym[3];
        memcpy (sym, ps->tok.op, 3);
        if (strcmp (sym, "//") == 0) {
            perr (ps, "TypeError: unsupported operand type(s) for //");
            return NULL;
        }
        if (lex (ps) < 0)
            return NULL;
        node_t *b = parse_unary (ps);
        a = binop (ps, sym[0] == '*' ? N_MUL : sym[0] == '/' ? N_DIV : N_MOD, a, b, sym);
    }
    return a;
}

static node_t *parse_arith (parser_t *ps)
{
    node_t *a = parse_term (ps);
    while (a && (is_op (ps, "+") || is_op (ps, "-"))) {
        char sym = ps->tok.op[0];
        if (lex (ps) < 0)
            return NULL;
        node_t *b = parse_term (ps);
        a = binop (ps, sym == '+' ? N_ADD : N_SUB, a, b, sym == '+' ? "+" : "-");
    }
    if (a && (is_op (ps, "<<") || is_op (ps, ">>") || is_op (ps, "^"))) {
        perr (ps, "TypeError: operator '%s' is not supported", ps->tok.op);
        return NULL;
    }
    return a;
}

static node_t *parse_and (parser_t *ps)
{
    node_t *a = parse_arith (ps);
    while (a && is_op (ps, "&")) {
        if (lex (ps) < 0)
            return NULL;
        a = binop (ps, N_AND, a, parse_arith (ps), "&");
    }
    return a;
}

static node_t *parse_or (parser_t *ps)
{
    node_t *a = parse_and (ps);
    while (a && is_op (ps, "|")) {
        if (lex (ps) < 0)
            return NULL;
        a = binop (ps, N_OR, a, parse_and (ps), "|");
    }
    return a;
}

static int cmp_op (parser_t *ps, ntype_t *op)
{
    static const struct { const char *s; ntype_t op; } t[] = {
        { "<", N_LT }, { "<=", N_LE }, { "==", N_EQ }, { "!=", N_NE }, { ">=", N_GE }, { ">", N_GT }, { NULL, 0 }
    };
    if (ps->tok.kind != K_OP)
        return 0;
    for (int i = 0; t[i].s; i++)
        if (strcmp (ps->tok.op, t[i].s) == 0) {
            *op = t[i].op;
            return 1;
        }
    return 0;
}

static node_t *parse_expr (parser_t *ps)
{
    node_t *a = parse_or (ps);
    ntype_t op;
    if (a && cmp_op (ps, &op)) {
        char sym[3];
        memcpy (sym, ps->tok.op, 3);
        if (lex (ps) < 0)
            return NULL;
        node_t *b = parse_or (ps);
        a = binop (ps, op, a, b, sym);
        if (a && cmp_op (ps, &op)) {
            perr (ps, "TypeError: chained comparisons need Python's 'and'; use (a < b) & (b < c)");
            return NULL;
        }
    }
    return a;
}

/* ---------------------------------------------------------------- compile */

/* The columns the final tree reads (branches dropped by folding do not count). */
static void collect_cols (tbl_cond_t *c, node_t *n, int *refs)
{
    if (!n)
        return;
    if (n->op == N_COL) {
        (*refs)++;
        int seen = 0;
        for (size_t i = 0; i < c->ncols; i++)
            seen |= c->cols[i] == n->col;
        if (!seen) {
            c->cols = realloc (c->cols, (c->ncols + 1) * sizeof (size_t));
            c->cols[c->ncols++] = n->col;
        }
        return;
    }
    collect_cols (c, n->a, refs);
    collect_cols (c, n->b, refs);
    collect_cols (c, n->c, refs);
}

static size_t vsize (vtype_t t)
{
    return t == T_BOOL ? 1 : 8;
}

tbl_cond_t *tbl_cond_compile (const char *expr, json_t *vars, const tbl_store_t *st, omr_err_t *err)
{
    if (tbl_store_check_init (st, err) < 0)
        return NULL;
    tbl_cond_t *c = calloc (1, sizeof *c);
    c->st = st;
    parser_t ps = { .src = expr ? expr : "", .p = expr ? expr : "", .cond = c, .vars = vars };
    node_t *root = NULL;
    if (lex (&ps) == 0) {
        root = parse_expr (&ps);
        if (root && ps.tok.kind == K_NAME) {
            if (!keyword_error (&ps, ps.tok.text))
                perr (&ps, "SyntaxError: invalid syntax near '%s'", ps.tok.text);
            root = NULL;
        }
        if (root && ps.tok.kind != K_END)
            root = (perr (&ps, "SyntaxError: invalid syntax at '%s'", ps.tok.kind == K_OP ? ps.tok.op : ps.tok.text ? ps.tok.text : "?"), NULL);
    }
    free (ps.tok.text);
    if (root && ps.saw_str && ps.saw_bytes)
        root = (perr (&ps, "TypeError: str and bytes literals cannot be mixed in one condition"), NULL);
    if (root && root->type != T_BOOL)
        root = (perr (&ps, "TypeError: condition ``%s`` does not have a boolean type", expr), NULL);
    if (root)
        collect_cols (c, root, &ps.ncolrefs);
    if (root && ps.ncolrefs == 0)
        root = (perr (&ps, "ValueError: there are no columns taking part in condition ``%s``", expr), NULL);
    if (!root) {
        char *vs = vars ? json_dumps (vars, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        omr_err_set (err, OMR_E_API, 400, "Bad condition: %s, %s: %s", expr ? expr : "", vs ? vs : "{}", ps.msg);
        free (vs);
        tbl_cond_free (c);
        return NULL;
    }
    c->root = root;
    /* evaluation block: whole HDF5 chunks, about 64k rows */
    size_t ch = tbl_store_chunk_rows (st);
    size_t k = 65536 / (ch ? ch : 1);
    c->block = (k ? k : 1) * (ch ? ch : 1);
    for (size_t i = 0; i < c->nall; i++) {
        node_t *n = c->all[i];
        if (n->type == T_STR) {
            if (n->op == N_CONST) {
                n->sbase = n->sval;
                n->sstride = 0;
            }
            continue;
        }
        n->buf = malloc (c->block * vsize (n->type));
        if (!n->buf) {
            omr_err_set (err, OMR_E_INTERNAL, 500, "Out of memory");
            tbl_cond_free (c);
            return NULL;
        }
        if (n->op == N_CONST) {
            for (size_t r = 0; r < c->block; r++) {
                if (n->type == T_BOOL)
                    ((uint8_t *) n->buf)[r] = (uint8_t) n->ival;
                else if (n->type == T_LONG)
                    ((int64_t *) n->buf)[r] = n->ival;
                else
                    ((double *) n->buf)[r] = n->dval;
            }
        }
    }
    return c;
}

const size_t *tbl_cond_cols (const tbl_cond_t *c, size_t *n)
{
    *n = c->ncols;
    return c->cols;
}

size_t tbl_cond_block_rows (const tbl_cond_t *c)
{
    return c->block;
}

void tbl_cond_free (tbl_cond_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nall; i++) {
        free (c->all[i]->buf);
        free (c->all[i]->sval);
        free (c->all[i]);
    }
    free (c->all);
    free (c->cols);
    free (c);
}

/* ---------------------------------------------------------------- evaluation */

/* numexpr's stringcmp: bytes compared as (signed) char, the shorter string padded with NULs;
 * a zero-width operand (the literal b'') only checks the other's first byte. */
static int str_cmp (const char *s1, size_t maxlen1, const char *s2, size_t maxlen2)
{
    static const char null = 0;
    if (maxlen2 == 0)
        return maxlen1 == 0 ? 0 : *s1 != null;
    if (maxlen1 == 0)
        return *s2 != null;
    size_t maxlen = maxlen1 > maxlen2 ? maxlen1 : maxlen2;
    for (size_t nextpos = 1; nextpos <= maxlen; nextpos++) {
        if ((signed char) *s1 < (signed char) *s2)
            return -1;
        if ((signed char) *s1 > (signed char) *s2)
            return +1;
        s1 = nextpos >= maxlen1 ? &null : s1 + 1;
        s2 = nextpos >= maxlen2 ? &null : s2 + 1;
    }
    return 0;
}

/* A string comparison as numexpr compiles it: a < b is gt(b, a) and a <= b is ge(b, a). */
static int str_op (ntype_t op, const char *a, size_t al, const char *b, size_t bl)
{
    switch (op) {
    case N_LT: return str_cmp (b, bl, a, al) > 0;
    case N_LE: return str_cmp (b, bl, a, al) >= 0;
    case N_EQ: return str_cmp (a, al, b, bl) == 0;
    case N_NE: return str_cmp (a, al, b, bl) != 0;
    case N_GE: return str_cmp (a, al, b, bl) >= 0;
    default: return str_cmp (a, al, b, bl) > 0;
    }
}

static int64_t lmod (int64_t a, int64_t b)
{
    if (b == 0)
        return 0;
    if (b == -1)
        return 0;
    return a % b;
}

static double dmod (double a, double b)
{
    return a - floor (a / b) * b;
}

static void eval_node (node_t *n, const unsigned char *rows, const tbl_rowfmt_t *fmt, size_t cnt, unsigned gen)
{
    if (n->op == N_CONST || n->gen == gen)
        return;
    n->gen = gen;
    if (n->a) eval_node (n->a, rows, fmt, cnt, gen);
    if (n->b) eval_node (n->b, rows, fmt, cnt, gen);
    if (n->c) eval_node (n->c, rows, fmt, cnt, gen);
    uint8_t *ob = n->buf;
    int64_t *ol = n->buf;
    double *od = n->buf;
    node_t *a = n->a, *b = n->b;
    switch (n->op) {
    case N_COL: {
        size_t off = 0;
        for (size_t i = 0; i < fmt->ncols; i++)
            if (fmt->cols[i] == n->col)
                off = fmt->offsets[i];
        const unsigned char *p = rows + off;
        size_t st = fmt->stride;
        if (n->type == T_STR) {
            n->sbase = (const char *) p;
            n->sstride = st;
        } else if (n->type == T_BOOL) {
            for (size_t i = 0; i < cnt; i++)
                ob[i] = p[i * st] ? 1 : 0;
        } else {
            for (size_t i = 0; i < cnt; i++)
                memcpy (&ol[i], p + i * st, 8);
        }
        break;
    }
    case N_CAST:
        if (n->type == T_DOUBLE && a->type == T_LONG)
            for (size_t i = 0; i < cnt; i++) od[i] = (double) ((int64_t *) a->buf)[i];
        else if (n->type == T_DOUBLE && a->type == T_BOOL)
            for (size_t i = 0; i < cnt; i++) od[i] = ((uint8_t *) a->buf)[i];
        else if (n->type == T_LONG && a->type == T_BOOL)
            for (size_t i = 0; i < cnt; i++) ol[i] = ((uint8_t *) a->buf)[i];
        break;
    case N_NEG:
        if (n->type == T_LONG)
            for (size_t i = 0; i < cnt; i++) ol[i] = (int64_t) (0 - (uint64_t) ((int64_t *) a->buf)[i]);
        else
            for (size_t i = 0; i < cnt; i++) od[i] = -((double *) a->buf)[i];
        break;
    case N_NOT:
        for (size_t i = 0; i < cnt; i++) ob[i] = !((uint8_t *) a->buf)[i];
        break;
    case N_AND:
        for (size_t i = 0; i < cnt; i++) ob[i] = ((uint8_t *) a->buf)[i] & ((uint8_t *) b->buf)[i];
        break;
    case N_OR:
        for (size_t i = 0; i < cnt; i++) ob[i] = ((uint8_t *) a->buf)[i] | ((uint8_t *) b->buf)[i];
        break;
#define ARITH(OPC, LEXPR, DEXPR) \
    case OPC: \
        if (n->type == T_LONG) { const int64_t *x = a->buf, *y = b->buf; \
            for (size_t i = 0; i < cnt; i++) ol[i] = LEXPR; } \
        else { const double *x = a->buf, *y = b->buf; \
            for (size_t i = 0; i < cnt; i++) od[i] = DEXPR; } \
        break;
    ARITH (N_ADD, (int64_t) ((uint64_t) x[i] + (uint64_t) y[i]), x[i] + y[i])
    ARITH (N_SUB, (int64_t) ((uint64_t) x[i] - (uint64_t) y[i]), x[i] - y[i])
    ARITH (N_MUL, (int64_t) ((uint64_t) x[i] * (uint64_t) y[i]), x[i] * y[i])
    ARITH (N_MOD, lmod (x[i], y[i]), dmod (x[i], y[i]))
#undef ARITH
    case N_DIV: {
        const double *x = a->buf, *y = b->buf;
        for (size_t i = 0; i < cnt; i++) od[i] = x[i] / y[i];
        break;
    }
    case N_POW:
        if (n->type == T_LONG) {
            const int64_t *x = a->buf, *y = b->buf;
            for (size_t i = 0; i < cnt; i++) {
                long double r = powl ((long double) x[i], (long double) y[i]);
                ol[i] = (r >= -9223372036854775808.0L && r < 9223372036854775808.0L) ? (int64_t) r : INT64_MIN;
            }
        } else {
            const double *x = a->buf, *y = b->buf;
            for (size_t i = 0; i < cnt; i++) od[i] = pow (x[i], y[i]);
        }
        break;
    case N_FUNC1: {
        const double *x = a->buf;
        for (size_t i = 0; i < cnt; i++) od[i] = n->f1 (x[i]);
        break;
    }
    case N_FUNC2: {
        const double *x = a->buf, *y = b->buf;
        for (size_t i = 0; i < cnt; i++) od[i] = n->f2 (x[i], y[i]);
        break;
    }
    case N_WHERE: {
        const uint8_t *cnd = a->buf;
        size_t w = vsize (n->type);
        for (size_t i = 0; i < cnt; i++)
            memcpy ((char *) n->buf + i * w, (const char *) (cnd[i] ? b->buf : n->c->buf) + i * w, w);
        break;
    }
    case N_CONTAINS:
        for (size_t i = 0; i < cnt; i++) {
            const char *s = a->sbase + i * a->sstride, *t = b->sbase + i * b->sstride;
            size_t sl = strnlen (s, a->width), tl = strnlen (t, b->width);   /* up to the first NUL, as numexpr */
            ob[i] = tl == 0 || (tl <= sl && memmem (s, sl, t, tl) != NULL);
        }
        break;
    case N_LT: case N_LE: case N_EQ: case N_NE: case N_GE: case N_GT: {
        ntype_t op = n->op;
        /* one loop per operator so that the inner loops stay branch-free */
#define CMP_LOOPS(T) do { const T *x = a->buf, *y = b->buf; \
            switch (op) { \
            case N_LT: for (size_t i = 0; i < cnt; i++) ob[i] = x[i] < y[i]; break; \
            case N_LE: for (size_t i = 0; i < cnt; i++) ob[i] = x[i] <= y[i]; break; \
            case N_EQ: for (size_t i = 0; i < cnt; i++) ob[i] = x[i] == y[i]; break; \
            case N_NE: for (size_t i = 0; i < cnt; i++) ob[i] = x[i] != y[i]; break; \
            case N_GE: for (size_t i = 0; i < cnt; i++) ob[i] = x[i] >= y[i]; break; \
            default: for (size_t i = 0; i < cnt; i++) ob[i] = x[i] > y[i]; break; } } while (0)
        if (a->type == T_STR) {
            for (size_t i = 0; i < cnt; i++)
                ob[i] = (uint8_t) str_op (op, a->sbase + i * a->sstride, a->width, b->sbase + i * b->sstride, b->width);
        } else if (a->type == T_BOOL)
            CMP_LOOPS (uint8_t);
        else if (a->type == T_LONG)
            CMP_LOOPS (int64_t);
        else
            CMP_LOOPS (double);     /* NaN compares false for everything but != */
#undef CMP_LOOPS
        break;
    }
    default:
        break;
    }
}

int tbl_cond_eval (tbl_cond_t *c, const void *rows, const tbl_rowfmt_t *fmt, size_t n, uint8_t *out, omr_err_t *err)
{
    if (n > c->block)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "Condition block too large: %zu > %zu", n, c->block);
    if (++c->gen == 0)
        c->gen = 1;
    eval_node (c->root, rows, fmt, n, c->gen);
    memcpy (out, c->root->buf, n);
    return 0;
}

/* ---------------------------------------------------------------- getWhereList */

int tbl_where_list (tbl_store_t *st, const char *expr, json_t *vars, int64_t start, int64_t stop, int64_t step,
                    int64_t **rows, size_t *n, omr_err_t *err)
{
    *rows = NULL;
    *n = 0;
    tbl_cond_t *c = tbl_cond_compile (expr, vars, st, err);
    if (!c)
        return -1;
    /* OMERO maps stop 0 and step 0 to None, then PyTables' Leaf._process_range_read applies:
     * with both None only the row at `start` is examined (start -1: the last row). */
    int64_t nrows = tbl_store_nrows (st);
    if (stop == 0 && step == 0) {
        if (nrows > 0 && start >= nrows) {
            tbl_cond_free (c);
            return omr_err_set (err, OMR_E_API, 400, "start of range (%lld) is greater than number of rows (%lld)",
                                (long long) start, (long long) nrows);
        }
        stop = start == -1 ? nrows : start + 1;
        step = 1;
        if (stop == 0)
            stop = nrows + 1;     /* start -1 on an empty table; clipped below */
    } else if (stop == 0)
        stop = INT64_MAX;
    if (step == 0)
        step = 1;
    if (step < 0) {
        tbl_cond_free (c);
        return omr_err_set (err, OMR_E_API, 400, "Bad condition: slice step cannot be negative (%lld)", (long long) step);
    }
    /* Python slice(start, stop, step).indices(nrows) */
    if (start < 0 && (start += nrows) < 0)
        start = 0;
    if (start > nrows)
        start = nrows;
    if (stop < 0 && (stop += nrows) < 0)
        stop = 0;
    if (stop > nrows)
        stop = nrows;
    size_t ncols;
    const size_t *cols = tbl_cond_cols (c, &ncols);
    tbl_rowfmt_t fmt;
    if (tbl_rowfmt_init_file (&fmt, st, cols, ncols, err) < 0) {
        tbl_cond_free (c);
        return -1;
    }
    size_t block = tbl_cond_block_rows (c);
    unsigned char *buf = malloc (block * (fmt.stride ? fmt.stride : 1));
    uint8_t *hit = malloc (block);
    size_t cap = 1024, cnt = 0;
    int64_t *out = malloc (cap * sizeof (int64_t));
    int rc = 0;
    /* blocks are aligned on chunk boundaries so that each HDF5 chunk is read once */
    size_t chunk = tbl_store_chunk_rows (st);
    for (int64_t pos = start; pos < stop && rc == 0;) {
        int64_t aligned_end = ((pos / (int64_t) chunk) * (int64_t) chunk) + (int64_t) block;
        int64_t end = aligned_end < stop ? aligned_end : stop;
        if (end <= pos)
            end = pos + 1;
        size_t m = (size_t) (end - pos);
        if (m > block)
            m = block, end = pos + (int64_t) block;
        if ((rc = tbl_store_read_range (st, &fmt, pos, m, buf, err)) < 0)
            break;
        if ((rc = tbl_cond_eval (c, buf, &fmt, m, hit, err)) < 0)
            break;
        int64_t first = pos;
        if ((first - start) % step)
            first += step - (first - start) % step;
        for (int64_t r = first; r < end; r += step)
            if (hit[r - pos]) {
                if (cnt == cap)
                    out = realloc (out, (cap *= 2) * sizeof (int64_t));
                out[cnt++] = r;
            }
        pos = end;
    }
    free (buf);
    free (hit);
    tbl_rowfmt_free (&fmt);
    tbl_cond_free (c);
    if (rc < 0) {
        free (out);
        return -1;
    }
    *rows = out;
    *n = cnt;
    return 0;
}
