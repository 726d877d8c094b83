-- functions.sql: helper functions of OMERO's psql-footer, appended to schema.sql by gen.py.

-- Next value of a sequence under an advisory lock, as OMERO's ome_nextval (ids taken in blocks).
CREATE FUNCTION ome_nextval(seq varchar, increment int4) RETURNS int8 AS $$
DECLARE
    lid int4;
    nv int8;
BEGIN
    SELECT id INTO lid FROM _lock_ids WHERE name = seq;
    IF lid IS NULL THEN
        INSERT INTO _lock_ids (name) VALUES (seq) RETURNING id INTO lid;
    END IF;
    PERFORM pg_advisory_lock(1, lid);
    PERFORM nextval(seq) FROM generate_series(1, increment);
    SELECT currval(seq) INTO nv;
    PERFORM pg_advisory_unlock(1, lid);
    RETURN nv;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION ome_nextval(seq varchar) RETURNS int8 AS $$
    SELECT ome_nextval($1, 1);
$$ LANGUAGE sql;

-- "rwra--" rendering of a permissions value (user, group, world; r, w or a).
CREATE FUNCTION ome_perms(p int8) RETURNS varchar AS $$
    SELECT CASE WHEN (p & 1024) = 1024 THEN 'r' ELSE '-' END
        || CASE WHEN (p & 512) = 512 THEN 'w' WHEN (p & 256) = 256 THEN 'a' ELSE '-' END
        || CASE WHEN (p & 64) = 64 THEN 'r' ELSE '-' END
        || CASE WHEN (p & 32) = 32 THEN 'w' WHEN (p & 16) = 16 THEN 'a' ELSE '-' END
        || CASE WHEN (p & 4) = 4 THEN 'r' ELSE '-' END
        || CASE WHEN (p & 2) = 2 THEN 'w' WHEN (p & 1) = 1 THEN 'a' ELSE '-' END;
$$ LANGUAGE sql IMMUTABLE;
