-- bootstrap.sql: the rows OMERO's psql-footer creates, appended to schema.sql by gen.py.
-- root's password hash is left NULL here: the server sets it at first start.
INSERT INTO node (id, permissions, version, uuid, conn, up, down)
    VALUES (0, -35, 0, '000000000000000000000000000000000000', 'unknown', now(), now());
INSERT INTO experimenter (id, permissions, version, omename, firstname, lastname, ldap)
    VALUES (0, 0, 0, 'root', 'root', 'root', false);
INSERT INTO experimenter (id, permissions, version, omename, firstname, lastname, ldap)
    VALUES (1, 0, 0, 'guest', 'Guest', 'Account', false);
INSERT INTO session (id, discriminator, permissions, version, timetoidle, timetolive, started, closed,
                     defaulteventtype, uuid, owner, node)
    VALUES (0, 'Session', -35, 0, 0, 0, now(), now(), 'BOOTSTRAP', 'BOOTSTRAP', 0, 0);
INSERT INTO session (id, discriminator, permissions, version, timetoidle, timetolive, started, closed,
                     defaulteventtype, uuid, owner, node)
    VALUES (1, 'Session', -35, 0, 0, 0, now(), now(), 'PREVIOUSITEMS', 'PREVIOUSITEMS', 0, 0);
INSERT INTO experimentergroup (id, permissions, version, name, ldap) VALUES (0, -120, 0, 'system', false);
INSERT INTO experimentergroup (id, permissions, version, name, ldap) VALUES (1, -52, 0, 'user', false);
INSERT INTO experimentergroup (id, permissions, version, name, ldap) VALUES (2, -120, 0, 'guest', false);
INSERT INTO event (id, permissions, time, status, experimenter, experimentergroup, "session", type)
    VALUES (0, -35, now(), 'BOOTSTRAP', 0, 0, 0, 0);
INSERT INTO groupexperimentermap (id, permissions, version, parent, child, owner, child_index) VALUES (0, -35, 0, 0, 0, true, 0);
INSERT INTO groupexperimentermap (id, permissions, version, parent, child, owner, child_index) VALUES (1, -35, 0, 1, 0, false, 1);
INSERT INTO groupexperimentermap (id, permissions, version, parent, child, owner, child_index) VALUES (2, -35, 0, 2, 1, false, 0);
INSERT INTO password (experimenter_id, hash) VALUES (0, NULL);
INSERT INTO password (experimenter_id, hash) VALUES (1, '');
INSERT INTO _roles (root_user_id, guest_user_id, system_group_id, user_group_id, guest_group_id)
    VALUES (0, 1, 0, 1, 2);
INSERT INTO configuration (name, value) VALUES ('omero.db.uuid', gen_random_uuid()::text);
INSERT INTO dbpatch (id, permissions, currentversion, currentpatch, previousversion, previouspatch,
                     finished, message)
    VALUES (0, -52, 'OMERO5.4', 0, 'OMERO5.4', 0, now(), 'Database ready.');
