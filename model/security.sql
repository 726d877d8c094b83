-- security.sql: row-level security and the caller's rights, appended to schema.sql by gen.py.
--
-- The server opens each transaction with (SET LOCAL or set_config(..., true)):
--   omero.uid         caller's experimenter id
--   omero.gids        groups the caller is a member of: '3,5,7' (or '{3,5,7}')
--   omero.owned_gids  groups the caller owns (is PI of)
--   omero.admin       'true' for members of the system group (and internal work)
--   omero.group       current group context, -1 = all the caller's groups
--   omero.privileges  for restricted administrators: the AdminPrivilege names they hold,
--                     comma-separated; unset or '' = all (full administrator)
-- Unset settings see nothing. Every setting is read through a scalar sub-select in the policies,
-- so PostgreSQL evaluates it once per query (an InitPlan), not once per row. The tables are
-- FORCE ROW LEVEL SECURITY so the policies also apply to the tables' owner (the server's role);
-- only superusers and BYPASSRLS roles are unfiltered.

CREATE FUNCTION _omero_uid() RETURNS int8 LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('omero.uid', true), '')::int8, -1)
$$;
CREATE FUNCTION _omero_idlist(setting text) RETURNS int8[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_to_array(nullif(btrim(coalesce(current_setting(setting, true), ''), '{} '), ''),
                                    ',')::int8[], '{}'::int8[])
$$;
CREATE FUNCTION _omero_gids() RETURNS int8[] LANGUAGE sql STABLE AS $$
    SELECT _omero_idlist('omero.gids')
$$;
CREATE FUNCTION _omero_owned_gids() RETURNS int8[] LANGUAGE sql STABLE AS $$
    SELECT _omero_idlist('omero.owned_gids')
$$;
CREATE FUNCTION _omero_admin() RETURNS bool LANGUAGE sql STABLE AS $$
    SELECT lower(coalesce(current_setting('omero.admin', true), '')) IN ('true', 't', 'on', '1', 'yes')
$$;
CREATE FUNCTION _omero_group() RETURNS int8 LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('omero.group', true), '')::int8, -1)
$$;
-- Groups whose every row the caller may read: groups they own, member groups that are not
-- private (group-read bit 64), and world-readable groups (bit 4) for any logged-in caller.
CREATE FUNCTION _omero_readable_gids() RETURNS int8[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(g.id), '{}'::int8[]) FROM experimentergroup g
     WHERE g.id = ANY (_omero_owned_gids())
        OR (g.id = ANY (_omero_gids()) AND (g.permissions & 64) <> 0)
        OR ((g.permissions & 4) <> 0 AND _omero_uid() >= 0)
$$;
-- True when the caller is an administrator holding the named AdminPrivilege.
CREATE FUNCTION _omero_privilege(priv text) RETURNS bool LANGUAGE sql STABLE AS $$
    SELECT _omero_admin() AND (coalesce(current_setting('omero.privileges', true), '') = ''
        OR priv = ANY (string_to_array(replace(current_setting('omero.privileges', true), ' ', ''), ',')))
$$;

-- The caller's rights on a row owned by (owner, grp), per OMERO's permission matrix:
-- 1 edit, 2 annotate, 4 delete, 8 link (mix data), 16 chgrp, 32 chown.
CREATE FUNCTION omero_rights(owner int8, grp int8) RETURNS int4 LANGUAGE plpgsql STABLE AS $$
DECLARE
    gp int8;
    own bool;
    member bool;
    leader bool;
    gread bool;
    gann bool;
    gwrite bool;
    r int4 := 0;
BEGIN
    SELECT permissions INTO gp FROM experimentergroup WHERE id = grp;
    IF gp IS NULL THEN
        RETURN 0;
    END IF;
    gread := (gp & 64) <> 0;
    gwrite := (gp & 32) <> 0;
    gann := gwrite OR (gp & 16) <> 0;
    own := owner = _omero_uid() AND grp = ANY (_omero_gids());
    member := grp = ANY (_omero_gids());
    leader := grp = ANY (_omero_owned_gids());
    IF own OR leader OR _omero_privilege('WriteOwned') OR (member AND gwrite) THEN
        r := r | 1;
    END IF;
    IF own OR (gread AND (leader OR _omero_privilege('WriteOwned') OR (member AND gann))) THEN
        r := r | 2;
    END IF;
    IF own OR leader OR _omero_privilege('DeleteOwned') OR (member AND gwrite) THEN
        r := r | 4;
    END IF;
    IF own OR (gread AND (leader OR _omero_privilege('WriteOwned') OR (member AND gwrite))) THEN
        r := r | 8;
    END IF;
    IF own OR _omero_privilege('Chgrp') THEN
        r := r | 16;
    END IF;
    IF leader OR _omero_privilege('Chown') THEN
        r := r | 32;
    END IF;
    RETURN r;
END;
$$;

-- The permissions object of omero:details for a row: group level plus the caller's rights.
CREATE FUNCTION omero_details_permissions(owner int8, grp int8) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'perm', ome_perms(g.permissions),
        'canEdit', (r & 1) <> 0, 'canAnnotate', (r & 2) <> 0, 'canDelete', (r & 4) <> 0,
        'canLink', (r & 8) <> 0, 'canChgrp', (r & 16) <> 0, 'canChown', (r & 32) <> 0,
        'isUserRead', (g.permissions & 1024) <> 0, 'isUserAnnotate', (g.permissions & 256) <> 0,
        'isUserWrite', (g.permissions & 512) <> 0,
        'isGroupRead', (g.permissions & 64) <> 0, 'isGroupAnnotate', (g.permissions & 16) <> 0,
        'isGroupWrite', (g.permissions & 32) <> 0,
        'isWorldRead', (g.permissions & 4) <> 0, 'isWorldAnnotate', (g.permissions & 1) <> 0,
        'isWorldWrite', (g.permissions & 2) <> 0)
      FROM experimentergroup g, omero_rights(owner, grp) AS r
     WHERE g.id = grp
$$;

-- Owned tables: members of a non-private group read all of its rows, owners (PIs) read all rows
-- of their groups, administrators read everything; everybody reads their own rows in their
-- groups; the group context restricts to one group unless it is -1. Writes are checked by the
-- service layer (and only rows the caller can read can be updated or deleted).
-- @OWNED_POLICY@
ALTER TABLE @TABLE@ ENABLE ROW LEVEL SECURITY;
ALTER TABLE @TABLE@ FORCE ROW LEVEL SECURITY;
CREATE POLICY @TABLE@_read ON @TABLE@ FOR SELECT USING (
    ((SELECT _omero_group()) = -1 OR group_id = (SELECT _omero_group()))
    AND ((SELECT _omero_admin())
         OR group_id = ANY (ARRAY(SELECT unnest(_omero_readable_gids())))
         OR (owner_id = (SELECT _omero_uid()) AND group_id = ANY (ARRAY(SELECT unnest(_omero_gids()))))));
CREATE POLICY @TABLE@_insert ON @TABLE@ FOR INSERT WITH CHECK (true);
CREATE POLICY @TABLE@_update ON @TABLE@ FOR UPDATE USING (true) WITH CHECK (true);
CREATE POLICY @TABLE@_delete ON @TABLE@ FOR DELETE USING (true);
-- @END_OWNED_POLICY@

-- Side tables of owned types (annotation_mapvalue …) and subclass tables (laser …): visible
-- with their owning row.
-- @SIDE_POLICY@
ALTER TABLE @TABLE@ ENABLE ROW LEVEL SECURITY;
ALTER TABLE @TABLE@ FORCE ROW LEVEL SECURITY;
CREATE POLICY @TABLE@_read ON @TABLE@ FOR SELECT USING (
    EXISTS (SELECT 1 FROM @PARENT@ p WHERE p.@KEY@ = @TABLE@.@PARENT@_id));
CREATE POLICY @TABLE@_insert ON @TABLE@ FOR INSERT WITH CHECK (true);
CREATE POLICY @TABLE@_update ON @TABLE@ FOR UPDATE USING (true) WITH CHECK (true);
CREATE POLICY @TABLE@_delete ON @TABLE@ FOR DELETE USING (true);
-- @END_SIDE_POLICY@

-- Sessions: the session UUID is a credential; only its owner, its sudoer and admins read it.
ALTER TABLE session ENABLE ROW LEVEL SECURITY;
ALTER TABLE session FORCE ROW LEVEL SECURITY;
CREATE POLICY session_read ON session FOR SELECT USING (
    (SELECT _omero_admin()) OR owner = (SELECT _omero_uid()) OR sudoer = (SELECT _omero_uid()));
CREATE POLICY session_insert ON session FOR INSERT WITH CHECK (true);
CREATE POLICY session_update ON session FOR UPDATE USING (true) WITH CHECK (true);
CREATE POLICY session_delete ON session FOR DELETE USING (true);

-- Password hashes: administrators (the server's login path runs as admin) and the user's own row.
ALTER TABLE password ENABLE ROW LEVEL SECURITY;
ALTER TABLE password FORCE ROW LEVEL SECURITY;
CREATE POLICY password_all ON password FOR ALL
    USING ((SELECT _omero_admin()) OR experimenter_id = (SELECT _omero_uid()))
    WITH CHECK ((SELECT _omero_admin()) OR experimenter_id = (SELECT _omero_uid()));
