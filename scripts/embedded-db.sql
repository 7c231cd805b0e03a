-- The embedded database's PostgreSQL side (scripts/embedded-db init runs this once, in the
-- database FerretDB stores its data in).
--
-- FerretDB 1.24 pushes an equality filter down as `_jsonb -> 'field' @> value`, and builds each
-- MongoDB index as a btree on `(_jsonb -> 'field')`. A btree cannot answer `@>`, so without more
-- every filtered query is a sequential scan of the collection's table. This trigger gives each
-- index FerretDB creates a GIN twin on the same expressions (jsonb_path_ops answers `@>`), so a
-- lookup by _id, a patient list page (organization_id, workflow, list_page) or a session by
-- patient reads only its own rows. A twin is dropped with its index. Nothing of Sova's code knows
-- about this: on MongoDB the same indexes are ordinary indexes.

SET client_min_messages = warning;

CREATE OR REPLACE FUNCTION sova_gin_twin() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  cmd record;
  idx record;
  cols text;
  twin text;
BEGIN
  FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' LOOP
    SELECT i.indexrelid, i.indrelid, i.indnatts, c.relname, n.nspname, am.amname
      INTO idx
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_am am ON am.oid = c.relam
     WHERE i.indexrelid = cmd.objid;
    -- only FerretDB's btrees over document fields (a twin is a GIN index: no recursion)
    CONTINUE WHEN idx.amname IS DISTINCT FROM 'btree' OR pg_get_indexdef(idx.indexrelid) NOT LIKE '%_jsonb -> %';
    SELECT string_agg(pg_get_indexdef(idx.indexrelid, k, true) || ' jsonb_path_ops', ', ' ORDER BY k)
      INTO cols
      FROM generate_series(1, idx.indnatts) AS k;
    twin := left(idx.relname, 58) || '_gin';
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin (%s)', twin, idx.nspname,
      (SELECT relname FROM pg_class WHERE oid = idx.indrelid), cols);
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION sova_gin_twin_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  obj record;
BEGIN
  FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects()
              WHERE object_type = 'index' AND object_name NOT LIKE '%\_gin' LOOP
    EXECUTE format('DROP INDEX IF EXISTS %I.%I', obj.schema_name, left(obj.object_name, 58) || '_gin');
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS sova_gin_twin;
CREATE EVENT TRIGGER sova_gin_twin ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION sova_gin_twin();
DROP EVENT TRIGGER IF EXISTS sova_gin_twin_drop;
CREATE EVENT TRIGGER sova_gin_twin_drop ON sql_drop EXECUTE FUNCTION sova_gin_twin_drop();
