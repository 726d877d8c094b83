#!/usr/bin/python3
"""gen.py: generate the PostgreSQL schema, the C type tables (HQL name map) and a JSON copy of
the OMERO model from model/omero.model.

Usage: gen.py OUTDIR   writes OUTDIR/share/schema.sql, OUTDIR/omr_model_gen.h, OUTDIR/share/model.json

Only the standard library is used (Debian's python3 may lack PyYAML). The model format is
described in model/README.md; security.sql and bootstrap.sql in this directory are appended to
the schema with @OWNED_TABLES@-style placeholders filled in here.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

SCALARS = {
    'text': ('text', 'TEXT'), 'string': ('varchar(255)', 'STRING'),
    'securestring': ('varchar(255)', 'STRING'), 'int': ('int4', 'INT'), 'long': ('int8', 'LONG'),
    'double': ('float8', 'DOUBLE'), 'bool': ('bool', 'BOOL'), 'timestamp': ('timestamp', 'TIMESTAMP'),
    'binary': ('bytea', 'BINARY'),
}

# PostgreSQL keywords that cannot be bare column names (reserved, type/function-name and
# column-name categories), plus the ones OMERO's own schema quotes.
PG_KEYWORDS = set('''
all analyse analyze and any array as asc asymmetric both case cast check collate column constraint
create current_catalog current_date current_role current_time current_timestamp current_user default
deferrable desc distinct do else end except false fetch for foreign from grant group having in
initially intersect into lateral leading limit localtime localtimestamp not null offset on only or
order placing primary references returning select session_user some symmetric table then to
trailing true union unique user using variadic when where window with authorization binary
collation concurrently cross current_schema freeze full ilike inner is isnull join left like
natural notnull outer overlaps right similar tablesample verbose between bigint bit boolean char
character coalesce dec decimal exists extract float greatest grouping inout int integer interval
least national nchar none normalize nullif numeric out overlay position precision real row setof
smallint substring time timestamp treat trim values varchar xmlattributes xmlconcat xmlelement
xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable session size index
value'''.split())


def q(ident):
    """SQL form of an identifier: quoted when it is a keyword."""
    return '"%s"' % ident if ident in PG_KEYWORDS else ident


def lit(s):
    return "'" + s.replace("'", "''") + "'"


class ModelError(Exception):
    pass


class Field:
    def __init__(self, name, spec, opts, line):
        self.name = name
        self.line = line
        self.nullable = spec.endswith('?')
        spec = spec.rstrip('?')
        self.opts = opts
        self.inverse = None
        self.target = None
        self.units = None
        self.scalar = None
        m = re.fullmatch(r'(\w+)\[(\w+)\]', spec)
        if m:
            self.kind = 'collection'
            self.target, self.inverse = m.group(1), m.group(2)
        elif spec == 'map':
            self.kind = 'map'
        elif spec in SCALARS:
            self.kind = 'scalar'
            self.scalar = spec
        elif spec.startswith('Units'):
            self.kind = 'units'
            self.units = spec
        else:
            self.kind = 'ref'
            self.target = spec
        self.column = opts.get('col') or name.lower()


class Type:
    def __init__(self, name, words, line, enum=False):
        self.name = name
        self.line = line
        self.enum = enum
        self.parent = None
        self.flags = set()
        self.disc = None
        self.table_name = None
        self.fields = []
        self.values = []
        self.extra = None
        i = 0
        while i < len(words):
            w = words[i]
            if w == ':':
                self.parent = words[i + 1]
                i += 2
                continue
            if w.startswith('disc='):
                self.disc = w[5:]
            elif w.startswith('table='):
                self.table_name = w[6:]
            elif enum:
                self.extra = w
            else:
                if w not in ('owned', 'global', 'noupdate', 'immutable', 'abstract', 'single'):
                    raise ModelError('line %d: unknown type flag %r' % (line, w))
                self.flags.add(w)
            i += 1


class Model:
    def __init__(self, path):
        self.types = {}
        self.order = []
        self.units = {}
        self.tables = {}
        self.parse(path)
        self.resolve()

    def parse(self, path):
        cur = None
        with open(path, encoding='utf-8') as f:
            for n, raw in enumerate(f, 1):
                line = raw.rstrip('\n')
                if '#' in line:
                    line = line[:line.index('#')]
                if not line.strip():
                    continue
                if not line.startswith(' '):
                    words = line.split()
                    kw, name = words[0], words[1]
                    if kw in ('type', 'enum'):
                        if name in self.types:
                            raise ModelError('line %d: %s defined twice' % (n, name))
                        cur = Type(name, words[2:], n, enum=(kw == 'enum'))
                        self.types[name] = cur
                        self.order.append(name)
                    elif kw == 'units':
                        cur = ('units', name)
                        self.units[name] = []
                    elif kw == 'table':
                        cur = ('table', name)
                        self.tables[name] = []
                    else:
                        raise ModelError('line %d: unknown block %r' % (n, kw))
                    continue
                if cur is None:
                    raise ModelError('line %d: indented line outside a block' % n)
                if isinstance(cur, tuple):
                    body = line.strip()
                    a, _, b = body.partition(' ')
                    if cur[0] == 'units':
                        self.units[cur[1]].append((a, b.strip()))
                    else:
                        self.tables[cur[1]].append((a, b.strip()))
                    continue
                words = line.split()
                if cur.enum:
                    cur.values.append((words[0], words[1] if len(words) > 1 else None))
                    continue
                opts = {}
                for w in words[2:]:
                    k, _, v = w.partition('=')
                    opts[k] = v if v else True
                cur.fields.append(Field(words[0], words[1], opts, n))

    def ancestors(self, t):
        out = []
        while t:
            out.append(t)
            t = self.types[t.parent] if t.parent else None
        return out

    def root(self, t):
        return self.ancestors(t)[-1]

    def descendants(self, t):
        out = []
        for name in self.order:
            u = self.types[name]
            if u is not t and t in self.ancestors(u):
                out.append(u)
        return out

    def resolve(self):
        for name in self.order:
            t = self.types[name]
            if t.parent and t.parent not in self.types:
                raise ModelError('line %d: unknown parent %s' % (t.line, t.parent))
        for name in self.order:
            t = self.types[name]
            r = self.root(t)
            t.root = r
            t.table = (r.table_name or r.name.lower())
            t.owned = 'owned' in r.flags
            t.has_update = t.owned and 'noupdate' not in r.flags
            t.versioned = not t.enum and 'immutable' not in r.flags
            t.abstract = 'abstract' in t.flags
        for name in self.order:
            t = self.types[name]
            t.has_disc = bool(self.descendants(t.root))
            if t.has_disc and t.disc is None:
                t.disc = t.name
        # Joined subclasses (OMERO's table per subclass, e.g. laser(lightsource_id, ...)): a subtype
        # of a hierarchy not marked `single` that declares fields has its own table keyed by
        # <root table>_id; one without fields lives in its parent's table.
        for name in self.order:
            t = self.types[name]
            t.key = None
            for a in reversed(self.ancestors(t)[:-1]):
                if 'single' in t.root.flags:
                    break
                if a.fields:
                    a_table = a.table_name or a.name.lower()
                    t.table = a_table
                    t.key = t.root.table + '_id'
        for name in self.order:
            t = self.types[name]
            t.joined = t.key is not None and t.table == (t.table_name or t.name.lower())
        for name in self.order:
            t = self.types[name]
            for f in t.fields:
                if f.kind in ('ref', 'collection') and f.target not in self.types:
                    raise ModelError('line %d: unknown type %s' % (f.line, f.target))
                if f.kind == 'units' and f.units not in self.units:
                    raise ModelError('line %d: unknown units %s' % (f.line, f.units))
                if f.kind == 'collection':
                    tt = self.types[f.target]
                    inv = self.field(tt, f.inverse)
                    if inv is None or inv.kind != 'ref':
                        raise ModelError('line %d: %s has no reference %s' % (f.line, tt.name, f.inverse))

    def order_columns(self, table):
        """Index columns of ordered collections stored in `table`: {column: collection field}."""
        out = {}
        for name in self.order:
            for f in self.types[name].fields:
                if f.kind == 'collection' and 'ordered' in f.opts:
                    tt = self.types[f.target]
                    if tt.root.table == table:
                        out[self.field(tt, f.inverse).column + '_index'] = f
        return out

    def all_fields(self, t):
        """Fields of t including inherited ones, parents first."""
        out = []
        for a in reversed(self.ancestors(t)):
            out.extend(a.fields)
        return out

    def field(self, t, name):
        for f in self.all_fields(t):
            if f.name == name:
                return f
        return None

    def roots(self):
        return [self.types[n] for n in self.order if self.types[n].parent is None]

    def table_fields(self, r):
        """All fields stored in the table of r (a root, or a joined subtype), by column: the
        fields declared by every type of the hierarchy that lives in that table."""
        cols = {}
        for t in [r] + self.descendants(r):
            if t.table != r.table:
                continue
            for f in t.fields:
                if f.kind in ('collection', 'map'):
                    continue
                prev = cols.get(f.column)
                if prev and (prev[0].kind, prev[0].scalar, prev[0].target, prev[0].units) != \
                        (f.kind, f.scalar, f.target, f.units):
                    raise ModelError('line %d: column %s.%s clashes with line %d'
                                     % (f.line, r.table, f.column, prev[0].line))
                if not prev:
                    cols[f.column] = (f, t)
        return cols


# ---------------------------------------------------------------------------------------------
# SQL

def gen_sql(m):
    out = []
    w = out.append
    w('-- schema.sql: the OMERO 5.6 database (DB version OMERO5.4 patch 0), generated by model/gen.py\n'
      '-- from model/omero.model. Load into an empty UTF8 database with psql -v ON_ERROR_STOP=1.\n'
      '-- Row-level security (see the end) filters every read by the caller settings omero.uid,\n'
      '-- omero.gids, omero.owned_gids, omero.admin and omero.group of the transaction.\n')
    w('BEGIN;\n')
    w("DO $$ BEGIN IF current_setting('server_version_num')::int < 130000 THEN "
      "RAISE EXCEPTION 'PostgreSQL 13 or later is required'; END IF; "
      "IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN "
      "RAISE EXCEPTION 'the database encoding must be UTF8'; END IF; END $$;\n")
    w('CREATE DOMAIN nonnegative_int AS int4 CHECK (VALUE >= 0);')
    w('CREATE DOMAIN nonnegative_float AS float8 CHECK (VALUE >= 0);')
    w('CREATE DOMAIN positive_int AS int4 CHECK (VALUE > 0);')
    w('CREATE DOMAIN positive_float AS float8 CHECK (VALUE > 0);')
    w('CREATE DOMAIN percent_fraction AS float8 CHECK (VALUE >= 0 AND VALUE <= 1);\n')
    for u, vals in m.units.items():
        w('CREATE TYPE %s AS ENUM (%s);' % (u.lower(), ', '.join(lit(s) for _, s in vals)))
        # The unit's code name (MICROMETER) from its symbol, as OMERO's HQL `.unit` returns.
        w('CREATE FUNCTION _unit_name(u %s) RETURNS text LANGUAGE sql IMMUTABLE AS $f$ SELECT CASE u::text %s END $f$;'
          % (u.lower(), ' '.join('WHEN %s THEN %s' % (lit(s), lit(n)) for n, s in vals)))
    w('')
    fks = []
    indexes = []
    seqs = []
    for r in m.roots():
        cols = ['    id int8 NOT NULL PRIMARY KEY']
        if r.has_disc:
            cols.append('    discriminator varchar(31) NOT NULL')
        cols.append('    permissions int8 NOT NULL DEFAULT -52' if not r.owned else
                    '    permissions int8 NOT NULL')
        if r.versioned:
            cols.append('    version int4 DEFAULT 0')
        if r.owned:
            cols += ['    creation_id int8 NOT NULL', '    owner_id int8 NOT NULL',
                     '    group_id int8 NOT NULL']
            if r.has_update:
                cols.append('    update_id int8 NOT NULL')
            for c, tgt in (('creation_id', 'event'), ('owner_id', 'experimenter'),
                           ('group_id', 'experimentergroup'), ('update_id', 'event')):
                if c == 'update_id' and not r.has_update:
                    continue
                fks.append((r.table, c, tgt))
                indexes.append((r.table, c))
        cols.append('    external_id int8 UNIQUE')
        fks.append((r.table, 'external_id', 'externalinfo'))
        if r.enum:
            cols.append('    value varchar(255) NOT NULL UNIQUE')
            if r.extra:
                cols.append('    %s int4' % r.extra.lower())
        for col, (f, t) in m.table_fields(r).items():
            notnull = (not f.nullable) and t is r
            if 'index' in f.opts:
                indexes.append((r.table, q(col)))
            if f.kind == 'scalar':
                sqlt = f.opts.get('domain') or SCALARS[f.scalar][0]
                d = ' DEFAULT %s' % f.opts['default'] if 'default' in f.opts else ''
                cols.append('    %s %s%s%s%s' % (q(col), sqlt, d, ' NOT NULL' if notnull else '',
                                                 ' UNIQUE' if 'unique' in f.opts else ''))
            elif f.kind == 'units':
                cols.append('    %s float8%s' % (q(col), ' NOT NULL' if notnull else ''))
                cols.append('    %s %s%s' % (q(col + 'unit'), f.units.lower(), ' NOT NULL' if notnull else ''))
            elif f.kind == 'ref':
                cols.append('    %s int8%s' % (q(col), ' NOT NULL' if notnull else ''))
                fks.append((r.table, col, m.types[f.target].root.table))
                indexes.append((r.table, col))
        have = set(m.table_fields(r))
        for col in sorted(m.order_columns(r.table)):
            if col not in have:
                cols.append('    %s int4' % col)
        link = m.field(r, 'parent') and m.field(r, 'child') and r.owned
        if link:
            cols.append('    UNIQUE (parent, child, owner_id)')
        if r.name == 'GroupExperimenterMap':
            cols.append('    UNIQUE (parent, child)')
        w('CREATE TABLE %s (\n%s\n);' % (r.table, ',\n'.join(cols)))
        seqs.append(r.table)
        if r.has_disc:
            indexes.append((r.table, 'discriminator'))
    w('')
    # joined subtype tables: <root table>_id primary key, then the subtype's own fields
    subtables = []
    for name in m.order:
        t = m.types[name]
        if not t.joined:
            continue
        subtables.append(t)
        cols = ['    %s int8 NOT NULL PRIMARY KEY' % t.key]
        fks.append((t.table, t.key, t.root.table + ' ON DELETE CASCADE'))
        for col, (f, ft) in m.table_fields(t).items():
            notnull = not f.nullable
            if f.kind == 'scalar':
                sqlt = f.opts.get('domain') or SCALARS[f.scalar][0]
                d = ' DEFAULT %s' % f.opts['default'] if 'default' in f.opts else ''
                cols.append('    %s %s%s%s' % (q(col), sqlt, d, ' NOT NULL' if notnull else ''))
            elif f.kind == 'units':
                cols.append('    %s float8%s' % (q(col), ' NOT NULL' if notnull else ''))
                cols.append('    %s %s%s' % (q(col + 'unit'), f.units.lower(), ' NOT NULL' if notnull else ''))
            elif f.kind == 'ref':
                cols.append('    %s int8%s' % (q(col), ' NOT NULL' if notnull else ''))
                fks.append((t.table, col, m.types[f.target].root.table))
                indexes.append((t.table, col))
        w('CREATE TABLE %s (\n%s\n);' % (t.table, ',\n'.join(cols)))
    w('')
    # side tables of map fields (ordered NamedValue lists)
    side = []
    for name in m.order:
        t = m.types[name]
        for f in t.fields:
            if f.kind == 'map':
                st = '%s_%s' % (t.table, f.column)
                if st in [s[0] for s in side]:
                    continue
                side.append((st, t))
                w('CREATE TABLE %s (\n    %s_id int8 NOT NULL REFERENCES %s(%s) ON DELETE CASCADE,\n'
                  '    name text NOT NULL,\n    value text NOT NULL,\n    index int4 NOT NULL,\n'
                  '    PRIMARY KEY (%s_id, index)\n);' % (st, t.table, t.table, t.key if t.joined else 'id', t.table))
    for tname, cols in m.tables.items():
        w('CREATE TABLE %s (\n%s\n);' % (tname, ',\n'.join('    %s %s' % (q(c), d) for c, d in cols)))
    w('')
    for s in seqs:
        w('CREATE SEQUENCE seq_%s;' % s)
        w("ALTER TABLE %s ALTER COLUMN id SET DEFAULT nextval('seq_%s');" % (s, s))
    w('')
    for t, c in indexes:
        w('CREATE INDEX %s ON %s (%s);' % (('i_%s_%s' % (t, c.replace('"', '')))[:63], t, q(c)))
    for r in m.roots():
        if r.owned and m.field(r, 'parent') and m.field(r, 'child'):
            pass  # the UNIQUE (parent, child, owner_id) index serves lookups by parent
    w('')
    w(open(os.path.join(HERE, 'functions.sql'), encoding='utf-8').read())
    w(open(os.path.join(HERE, 'bootstrap.sql'), encoding='utf-8').read())
    # enumeration rows: ids from 0 in model order
    for name in m.order:
        t = m.types[name]
        if not t.enum:
            continue
        for i, (v, extra) in enumerate(t.values):
            if t.extra:
                w('INSERT INTO %s (id, permissions, value, %s) VALUES (%d, -52, %s, %s);'
                  % (t.table, t.extra.lower(), i, lit(v), int(extra)))
            else:
                w('INSERT INTO %s (id, permissions, value) VALUES (%d, -52, %s);' % (t.table, i, lit(v)))
    w('')
    for s in seqs:
        w("SELECT setval('seq_%s', (SELECT coalesce(max(id), 0) + 1 FROM %s), false);" % (s, s))
        w("INSERT INTO _lock_ids (name) VALUES ('seq_%s');" % s)
    w('')
    for t, c, tgt in fks:
        tgt, _, extra = tgt.partition(' ')
        w('ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (id)%s;'
          % (t, ('fk%s_%s_%s' % (t, c.replace('"', ''), tgt))[:63], q(c), tgt, ' ' + extra if extra else ''))
    w('')
    owned = [r.table for r in m.roots() if r.owned]
    sec = open(os.path.join(HERE, 'security.sql'), encoding='utf-8').read()
    policy_tpl, _, rest = sec.partition('-- @END_OWNED_POLICY@')
    pre, _, policy_tpl = policy_tpl.partition('-- @OWNED_POLICY@')
    side_tpl, _, post = rest.partition('-- @END_SIDE_POLICY@')
    mid, _, side_tpl = side_tpl.partition('-- @SIDE_POLICY@')
    w(pre)
    for tname in owned:
        w(policy_tpl.replace('@TABLE@', tname))
    w(mid)
    for t in subtables:
        if t.owned or t.root.name == 'Session':
            w(side_tpl.replace('@TABLE@', t.table).replace('@PARENT@', t.root.table).replace('@KEY@', 'id'))
    for st, t in side:
        if t.owned:
            w(side_tpl.replace('@TABLE@', st).replace('@PARENT@', t.table)
              .replace('@KEY@', t.key if t.joined else 'id'))
    w(post)
    w('COMMIT;')
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------------------------
# C header

def cstr(s):
    if s is None:
        return 'NULL'
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def gen_header(m):
    names = sorted(m.order)
    idx = {n: i for i, n in enumerate(names)}
    units_names = list(m.units)
    uidx = {u: i for i, u in enumerate(units_names)}
    fields_out = []
    types_out = []
    subs_out = []
    for n in names:
        t = m.types[n]
        fl = []

        def add(name, column, kind, scalar, flags, target=-1, unit_column=None, units=-1,
                inverse=None, inverse_column=None, side=None, declared=n, table=None, order=None):
            fl.append((name, column, unit_column, side, kind, scalar, target, units, inverse,
                       inverse_column, idx[declared], flags, table or t.root.table, order))
        add('id', 'id', 'SCALAR', 'LONG', 'OMR_FF_READONLY')
        if t.versioned:
            add('version', 'version', 'SCALAR', 'INT', 'OMR_FF_READONLY | OMR_FF_NULLABLE')
        add('details.permissions', 'permissions', 'SCALAR', 'LONG',
            'OMR_FF_READONLY | OMR_FF_DETAILS | OMR_FF_PERMISSIONS')
        add('details.externalInfo', 'external_id', 'REF', 'LONG',
            'OMR_FF_READONLY | OMR_FF_DETAILS | OMR_FF_NULLABLE', target=idx['ExternalInfo'])
        if t.owned:
            add('details.owner', 'owner_id', 'REF', 'LONG', 'OMR_FF_READONLY | OMR_FF_DETAILS',
                target=idx['Experimenter'])
            add('details.group', 'group_id', 'REF', 'LONG', 'OMR_FF_READONLY | OMR_FF_DETAILS',
                target=idx['ExperimenterGroup'])
            add('details.creationEvent', 'creation_id', 'REF', 'LONG',
                'OMR_FF_READONLY | OMR_FF_DETAILS', target=idx['Event'])
            if t.has_update:
                add('details.updateEvent', 'update_id', 'REF', 'LONG',
                    'OMR_FF_READONLY | OMR_FF_DETAILS', target=idx['Event'])
        if t.enum:
            add('value', 'value', 'SCALAR', 'STRING', '0')
            if t.extra:
                add(t.extra, t.extra.lower(), 'SCALAR', 'INT', 'OMR_FF_NULLABLE')
        for a in reversed(m.ancestors(t)):
            for f in a.fields:
                flags = 'OMR_FF_NULLABLE' if (f.nullable or (a is not t.root and not a.joined)) else '0'
                if f.kind == 'scalar':
                    add(f.name, q(f.column), 'SCALAR', SCALARS[f.scalar][1], flags, declared=a.name,
                        table=a.table)
                elif f.kind == 'units':
                    add(f.name, q(f.column), 'UNITS', 'DOUBLE', flags, unit_column=q(f.column + 'unit'),
                        units=uidx[f.units], declared=a.name, table=a.table)
                elif f.kind == 'ref':
                    add(f.name, q(f.column), 'REF', 'LONG', flags, target=idx[f.target], declared=a.name,
                        table=a.table)
                elif f.kind == 'collection':
                    tt = m.types[f.target]
                    inv = m.field(tt, f.inverse)
                    inv_owner = [x for x in m.ancestors(tt) if inv in x.fields][0]
                    if inv_owner.table != tt.root.table:
                        raise ModelError('line %d: the back reference %s.%s of a collection must be in the '
                                         'root table' % (f.line, tt.name, f.inverse))
                    add(f.name, None, 'COLLECTION', 'NONE', 'OMR_FF_NULLABLE', target=idx[f.target],
                        inverse=f.inverse, inverse_column=q(inv.column), declared=a.name, table=a.table,
                        order=inv.column + '_index' if 'ordered' in f.opts else None)
                elif f.kind == 'map':
                    add(f.name, None, 'MAP', 'NONE', 'OMR_FF_NULLABLE', side='%s_%s' % (a.table, f.column),
                        inverse_column='%s_id' % a.table, declared=a.name, table=a.table)
        fl.sort(key=lambda x: x[0])
        first = len(fields_out)
        fields_out.extend(fl)
        desc = m.descendants(t)
        sfirst = len(subs_out)
        subs_out.extend(idx[d.name] for d in desc)
        discs = [x.disc for x in [t] + desc if not x.abstract] if t.has_disc else []
        disc_in = ', '.join(lit(d) for d in discs) if t.has_disc and t is not t.root else None
        flags = []
        for cond, fl_ in ((t.owned, 'OMR_TF_OWNED'), (not t.owned and not t.enum, 'OMR_TF_GLOBAL'),
                          (t.enum, 'OMR_TF_ENUM'), (t.abstract, 'OMR_TF_ABSTRACT'),
                          (bool(m.field(t, 'parent') and m.field(t, 'child')), 'OMR_TF_LINK'),
                          (bool(m.field(t, 'annotationLinks')), 'OMR_TF_ANNOTATED'),
                          (t.versioned, 'OMR_TF_VERSIONED'), (t.has_update, 'OMR_TF_UPDATE'),
                          (t.has_disc, 'OMR_TF_DISC')):
            if cond:
                flags.append(fl_)
        types_out.append((n, t.table, idx[t.parent] if t.parent else -1, idx[t.root.name],
                          t.disc if t.has_disc else None, disc_in, ' | '.join(flags) or '0',
                          first, len(fl), sfirst, len(desc), t.key))
    out = []
    w = out.append
    w('/* omr_model_gen.h: the OMERO model as C tables (types, fields, units, enumeration values),\n'
      ' * generated by model/gen.py from model/omero.model -- edit the model, not this file.\n'
      ' * Arrays are static so that any module may include this header; types and each type\'s\n'
      ' * field range are sorted by name (strcmp) for binary search. */')
    w('#ifndef OMR_MODEL_GEN_H\n#define OMR_MODEL_GEN_H\n#include <stddef.h>\n')
    w('/* Type flags. */')
    for i, f in enumerate(['OWNED', 'GLOBAL', 'ENUM', 'ABSTRACT', 'LINK', 'ANNOTATED', 'VERSIONED',
                           'UPDATE', 'DISC']):
        w('#define OMR_TF_%-10s 0x%03x' % (f, 1 << i))
    w('/* Field flags. */')
    w('#define OMR_FF_NULLABLE    0x01  /* optional (nullable) */')
    w('#define OMR_FF_READONLY    0x02  /* id, version, details: set by the server only */')
    w('#define OMR_FF_DETAILS     0x04  /* one of details.* */')
    w('#define OMR_FF_PERMISSIONS 0x08  /* details.permissions (raw bits; rights come from the group) */\n')
    w('typedef enum {\n    OMR_FIELD_SCALAR = 1,   /* value in `column` */\n'
      '    OMR_FIELD_UNITS,        /* double in `column`, unit symbol in `unit_column` */\n'
      '    OMR_FIELD_REF,          /* id of a `target` row in `column` */\n'
      '    OMR_FIELD_COLLECTION,   /* rows of `target` whose `inverse_column` = this id */\n'
      '    OMR_FIELD_MAP           /* NamedValue list: `side_table`(<table>_id, name, value, index) */\n'
      '} omr_field_kind_t;\n')
    w('typedef enum {\n    OMR_SCALAR_NONE = 0, OMR_SCALAR_TEXT, OMR_SCALAR_STRING, OMR_SCALAR_INT, OMR_SCALAR_LONG,\n'
      '    OMR_SCALAR_DOUBLE, OMR_SCALAR_BOOL, OMR_SCALAR_TIMESTAMP, OMR_SCALAR_BINARY\n} omr_scalar_t;\n')
    w('typedef struct {\n'
      '    const char *name;           /* API/HQL name: "name", "physicalSizeX", "details.owner" */\n'
      '    const char *column;         /* SQL column, quoted when a keyword; NULL for collections/maps */\n'
      '    const char *unit_column;    /* OMR_FIELD_UNITS: the unit column */\n'
      '    const char *side_table;     /* OMR_FIELD_MAP: side table */\n'
      '    omr_field_kind_t kind;\n'
      '    omr_scalar_t scalar;        /* value type (LONG for references) */\n'
      '    int target;                 /* REF/COLLECTION: index in omr_model_types, else -1 */\n'
      '    int units;                  /* UNITS: index in omr_model_units, else -1 */\n'
      '    const char *inverse;        /* COLLECTION: the target\'s field pointing back */\n'
      '    const char *inverse_column; /* COLLECTION: its column */\n'
      '    int declared_in;            /* type that declares the field */\n'
      '    unsigned flags;             /* OMR_FF_* */\n'
      '    const char *table;          /* table holding the column: the root\'s, or a subclass table\n'
      '                                   (laser ...) joined by its type\'s key_column; MAP: owner */\n'
      '    const char *order_column;   /* ordered COLLECTION: the target\'s list index column\n'
      '                                   ("pixels_index" for Pixels.channels), else NULL */\n'
      '} omr_field_t;\n')
    w('typedef struct {\n'
      '    const char *name;           /* "Image", "TagAnnotation" */\n'
      '    const char *table;          /* "image"; "annotation" for every annotation type (single\n'
      '                                   table); "laser" for Laser (its own fields; the rest in\n'
      '                                   "lightsource" under the same id) */\n'
      '    int parent;                 /* supertype index or -1 */\n'
      '    int root;                   /* root of the hierarchy (owner of the table) */\n'
      '    const char *discriminator;  /* value of the discriminator column, NULL if none */\n'
      '    const char *disc_in;        /* SQL literal list of this type\'s and its subtypes\' discriminators\n'
      '                                   (to restrict the shared table), NULL for a root */\n'
      '    unsigned flags;             /* OMR_TF_* */\n'
      '    int first_field, nfields;   /* range of omr_model_fields (all fields incl. inherited) */\n'
      '    int first_sub, nsub;        /* range of omr_model_subtypes (all descendants) */\n'
      '    const char *key_column;     /* subclass table (table per subclass, e.g. laser): the column\n'
      '                                   holding the root row\'s id ("lightsource_id"); else NULL */\n'
      '} omr_type_t;\n')
    w('typedef struct { const char *name; const char *symbol; } omr_unit_t;\n'
      'typedef struct {\n    const char *name;           /* "UnitsLength" */\n'
      '    const char *sql_type;       /* "unitslength" */\n    int first, n;               /* range of omr_model_unit_values */\n} omr_units_t;\n')
    w('typedef struct { int type; int id; const char *value; } omr_enum_value_t;\n')
    w('#define OMR_MODEL_NTYPES %d' % len(types_out))
    w('#define OMR_MODEL_NFIELDS %d' % len(fields_out))
    w('#define OMR_MODEL_NUNITS %d' % len(units_names))
    for n in names:
        w('#define OMR_TYPE_%s %d' % (n, idx[n]))
    w('')
    w('/* The tables. Define OMR_MODEL_GEN_NO_DATA before including to get only the declarations. */')
    w('#ifndef OMR_MODEL_GEN_NO_DATA')
    w('static const omr_field_t omr_model_fields[OMR_MODEL_NFIELDS] = {')
    for f in fields_out:
        w('    {%s, %s, %s, %s, OMR_FIELD_%s, OMR_SCALAR_%s, %d, %d, %s, %s, %d, %s, %s, %s},'
          % (cstr(f[0]), cstr(f[1]), cstr(f[2]), cstr(f[3]), f[4], f[5], f[6], f[7], cstr(f[8]),
             cstr(f[9]), f[10], f[11], cstr(f[12]), cstr(f[13])))
    w('};\n')
    w('static const omr_type_t omr_model_types[OMR_MODEL_NTYPES] = {')
    for t in types_out:
        w('    {%s, %s, %d, %d, %s, %s, %s, %d, %d, %d, %d, %s},'
          % (cstr(t[0]), cstr(t[1]), t[2], t[3], cstr(t[4]), cstr(t[5]), t[6], t[7], t[8], t[9], t[10],
             cstr(t[11])))
    w('};\n')
    w('static const int omr_model_subtypes[%d] = {%s};\n'
      % (max(1, len(subs_out)), ', '.join(str(s) for s in subs_out) or '0'))
    uv = []
    w('static const omr_unit_t omr_model_unit_values[] = {')
    ranges = []
    for u in units_names:
        ranges.append((len(uv), len(m.units[u])))
        for n_, s in m.units[u]:
            uv.append(1)
            w('    {%s, %s},' % (cstr(n_), cstr(s)))
    w('};\n')
    w('static const omr_units_t omr_model_units[OMR_MODEL_NUNITS] = {')
    for u, (a, b) in zip(units_names, ranges):
        w('    {%s, %s, %d, %d},' % (cstr(u), cstr(u.lower()), a, b))
    w('};\n')
    ev = []
    for n in names:
        t = m.types[n]
        if t.enum:
            for i, (v, _) in enumerate(t.values):
                ev.append('    {%d, %d, %s},' % (idx[n], i, cstr(v)))
    w('static const omr_enum_value_t omr_model_enum_values[%d] = {' % len(ev))
    w('\n'.join(ev))
    w('};')
    w('#endif /* OMR_MODEL_GEN_NO_DATA */')
    w('#define OMR_MODEL_NENUM_VALUES %d\n' % len(ev))
    w('#endif')
    return '\n'.join(out) + '\n'


def gen_json(m):
    d = {'types': {}, 'units': {u: [{'name': n, 'symbol': s} for n, s in v] for u, v in m.units.items()}}
    for n in m.order:
        t = m.types[n]
        e = {'table': t.table, 'key_column': t.key, 'parent': t.parent, 'owned': t.owned, 'enum': t.enum,
             'abstract': t.abstract, 'discriminator': t.disc if t.has_disc else None, 'fields': {}}
        if t.enum:
            e['values'] = [v for v, _ in t.values]
        for f in m.all_fields(t):
            fd = {'kind': f.kind, 'nullable': f.nullable}
            owner = [x for x in m.ancestors(t) if f in x.fields][0]
            fd['table'] = owner.table
            if f.kind == 'scalar':
                fd.update(column=f.column, type=f.scalar)
            elif f.kind == 'units':
                fd.update(column=f.column, unit_column=f.column + 'unit', units=f.units)
            elif f.kind == 'ref':
                fd.update(column=f.column, target=f.target)
            elif f.kind == 'collection':
                fd.update(target=f.target, inverse=f.inverse)
                if 'ordered' in f.opts:
                    fd['order_column'] = m.field(m.types[f.target], f.inverse).column + '_index'
            else:
                fd.update(side_table='%s_%s' % (owner.table, f.column))
            e['fields'][f.name] = fd
        d['types'][n] = e
    return json.dumps(d, indent=1, sort_keys=True, ensure_ascii=False) + '\n'


def write_if_changed(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, encoding='utf-8') as f:
            if f.read() == text:
                return
    except OSError:
        pass
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write('usage: gen.py OUTDIR\n')
        return 2
    outdir = sys.argv[1]
    try:
        m = Model(os.path.join(HERE, 'omero.model'))
        sql = gen_sql(m)
        hdr = gen_header(m)
        js = gen_json(m)
    except (ModelError, OSError) as e:
        sys.stderr.write('model/gen.py: %s\n' % e)
        return 1
    write_if_changed(os.path.join(outdir, 'share', 'schema.sql'), sql)
    write_if_changed(os.path.join(outdir, 'omr_model_gen.h'), hdr)
    write_if_changed(os.path.join(outdir, 'share', 'model.json'), js)
    return 0


if __name__ == '__main__':
    sys.exit(main())
