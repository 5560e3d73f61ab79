"""The database triggers that fill the sync change log (``agri.models.Change``; docs/sync.md).

One AFTER INSERT/UPDATE/DELETE trigger per synced table appends a change row in the writing transaction, naming
the record and who could see it before and after the write; cascades log the children a parent's write moves in
or out of someone's slice. The SQL is generated here for PostgreSQL (PL/pgSQL functions) and SQLite.

SQLite rebuilds a table to alter it (create, copy, drop, rename), which drops the table's triggers and fails on
triggers of other tables that name it. So every ``migrate`` drops the triggers first and installs them again after
(``agri.apps``): they always match this module, whatever migrations ran.

The same goes for the triggers that keep a visit's team expert (``Visit.team_expert``: its own expert, else its
worker's; :func:`team_sql`), which the list of an expert's visits reads through one index. Their writes set only
that column, and the visit's change-log trigger fires on an UPDATE of any other column: keeping the team logs
nothing (a worker's move to another expert is logged by the ``worker_visits`` cascade).
"""


def text(expression: str) -> str:
    return f"COALESCE(CAST({expression} AS TEXT), '')"


def worker_expert(worker_id: str) -> str:
    return text(f"(SELECT expert_id FROM agri_extensionworker WHERE id = {worker_id})")


def visit_people(r: str) -> str:
    return (
        f"'w' || {text(r + '.worker_id')} || ' e' || {text(r + '.expert_id')}"
        f" || ' e' || {worker_expert(r + '.worker_id')}"
        f" || ' c' || {text(r + '.commissioner_id')} || ' s' || {text(r + '.station_id')}"
    )


def household_people(household_id: str) -> str:
    worker = f"(SELECT worker_id FROM agri_modelhousehold WHERE id = {household_id})"
    return f"'w' || {text(worker)} || ' e' || {worker_expert(worker)}"


# kind -> (table, primary key, codes(row), people(row)): who may see a row, as docs/sync.md explains.
TABLES = {
    "visit": ("agri_visit", "id", lambda r: text(f"{r}.scope_code"), visit_people),
    "household": (
        "agri_modelhousehold",
        "id",
        lambda r: text(f"{r}.village_id"),
        lambda r: f"'w' || {text(r + '.worker_id')} || ' e' || {worker_expert(r + '.worker_id')}",
    ),
    "farmer": ("agri_farmer", "id", lambda r: text(f"{r}.village_id"), lambda r: household_people(f"{r}.household_id")),
    "photo": (
        "agri_photo",
        "id",
        lambda r: text(f"(SELECT scope_code FROM agri_visit WHERE id = {r}.visit_id)"),
        lambda r: f"COALESCE((SELECT {visit_people('v')} FROM agri_visit v WHERE v.id = {r}.visit_id), '')",
    ),
    "station": ("agri_station", "id", lambda r: text(f"{r}.village_id"), lambda r: "'*'"),
    "base": ("agri_demonstrationbase", "id", lambda r: text(f"{r}.village_id"), lambda r: "'*'"),
    "industry": ("agri_industry", "id", lambda r: "''", lambda r: "'*'"),
    "division": ("geo_admindivision", "code", lambda r: text(f"{r}.code"), lambda r: "'*'"),
}


# A write to a parent that moves its children in or out of someone's slice logs the children too: (trigger name,
# parent table, the parent's columns that decide who sees the children, child kind, the children as
# "FROM ... WHERE ..." with the child aliased c, the child's codes(child), who sees the children(parent row)).
def worker_people(r: str) -> str:
    return f"'w' || {text(r + '.id')} || ' e' || {text(r + '.expert_id')}"


def household_worker_people(r: str) -> str:
    return f"'w' || {text(r + '.worker_id')} || ' e' || {worker_expert(r + '.worker_id')}"


CASCADES = (
    (
        "household_farmers",
        "agri_modelhousehold",
        ("worker_id", "deleted_at"),
        "farmer",
        "FROM agri_farmer c WHERE c.household_id = NEW.id",
        lambda c: text(f"{c}.village_id"),
        household_worker_people,
    ),
    (
        "visit_photos",
        "agri_visit",
        ("scope_code", "worker_id", "expert_id", "commissioner_id", "station_id", "deleted_at"),
        "photo",
        "FROM agri_photo c WHERE c.visit_id = NEW.id",
        lambda c: text(f"(SELECT scope_code FROM agri_visit WHERE id = {c}.visit_id)"),
        visit_people,
    ),
    # A worker moved to another expert: the experts' slices of the worker's households, farmers and visits.
    (
        "worker_households",
        "agri_extensionworker",
        ("expert_id",),
        "household",
        "FROM agri_modelhousehold c WHERE c.worker_id = NEW.id",
        lambda c: text(f"{c}.village_id"),
        worker_people,
    ),
    (
        "worker_farmers",
        "agri_extensionworker",
        ("expert_id",),
        "farmer",
        "FROM agri_farmer c JOIN agri_modelhousehold h ON h.id = c.household_id WHERE h.worker_id = NEW.id",
        lambda c: text(f"{c}.village_id"),
        worker_people,
    ),
    (
        "worker_visits",
        "agri_extensionworker",
        ("expert_id",),
        "visit",
        "FROM agri_visit c WHERE c.worker_id = NEW.id",
        lambda c: text(f"{c}.scope_code"),
        worker_people,
    ),
)


# Columns a write of which is no change for a phone: the visit's team expert is derived from its expert and its
# worker's expert, and the database keeps it (team_sql); an UPDATE of it alone logs nothing.
UNLOGGED_COLUMNS = {"agri_visit": ("team_expert_id",)}


def team_expert(r: str) -> str:
    """The team expert of the visit row ``r``: the visit's own expert, else its worker's (NULL for neither)."""
    return f"COALESCE({r}.expert_id, (SELECT expert_id FROM agri_extensionworker WHERE id = {r}.worker_id))"


def team_sql(vendor: str) -> tuple[list[str], list[str]]:
    """The triggers that keep ``agri_visit.team_expert_id``: on a visit's insert and on an UPDATE of its expert or
    worker (PostgreSQL sets the new row; SQLite, which cannot, updates the row after), and on a worker's change of
    expert (its visits without an expert of their own follow it). (create, drop) statements."""
    if vendor == "postgresql":
        create = [
            """
CREATE OR REPLACE FUNCTION agri_visit_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.expert_id IS NOT NULL OR NEW.worker_id IS NULL THEN
        NEW.team_expert_id := NEW.expert_id;
    ELSE
        -- FOR SHARE: a move of the worker not yet committed is waited for, and its expert read once it is (the
        -- move's own UPDATE of the worker's visits cannot see this row, which is not written yet).
        SELECT expert_id INTO NEW.team_expert_id FROM agri_extensionworker WHERE id = NEW.worker_id FOR SHARE;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER agri_visit_team BEFORE INSERT OR UPDATE OF expert_id, worker_id ON agri_visit
    FOR EACH ROW EXECUTE FUNCTION agri_visit_team();
""",
            """
CREATE OR REPLACE FUNCTION agri_worker_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agri_visit SET team_expert_id = NEW.expert_id WHERE worker_id = NEW.id AND expert_id IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER agri_worker_team AFTER UPDATE OF expert_id ON agri_extensionworker
    FOR EACH ROW WHEN (OLD.expert_id IS DISTINCT FROM NEW.expert_id) EXECUTE FUNCTION agri_worker_team();
""",
        ]
        drop = [
            "DROP TRIGGER IF EXISTS agri_visit_team ON agri_visit; DROP FUNCTION IF EXISTS agri_visit_team();",
            "DROP TRIGGER IF EXISTS agri_worker_team ON agri_extensionworker; "
            "DROP FUNCTION IF EXISTS agri_worker_team();",
        ]
        return create, drop
    # SQLite: AFTER triggers that write the row once more, when its team is not already right (an insert that
    # copied every column of a stored visit, as bench/province.py does, writes nothing more). The UPDATE sets the
    # team alone, which fires neither these triggers nor the change log's.
    fill = f"UPDATE agri_visit SET team_expert_id = {team_expert('NEW')} WHERE id = NEW.id;"
    stale = f"NEW.team_expert_id IS NOT {team_expert('NEW')}"
    create = [
        f"CREATE TRIGGER agri_visit_team_insert AFTER INSERT ON agri_visit FOR EACH ROW WHEN {stale} BEGIN {fill} END;",
        f"CREATE TRIGGER agri_visit_team_update AFTER UPDATE OF expert_id, worker_id ON agri_visit FOR EACH ROW "
        f"WHEN {stale} BEGIN {fill} END;",
        "CREATE TRIGGER agri_worker_team AFTER UPDATE OF expert_id ON agri_extensionworker FOR EACH ROW "
        "WHEN OLD.expert_id IS NOT NEW.expert_id BEGIN "
        "UPDATE agri_visit SET team_expert_id = NEW.expert_id WHERE worker_id = NEW.id AND expert_id IS NULL; END;",
    ]
    drop = [f"DROP TRIGGER IF EXISTS {name};" for name in ("agri_visit_team_insert", "agri_visit_team_update")]
    return create, [*drop, "DROP TRIGGER IF EXISTS agri_worker_team;"]


def logged_update(table: str, columns: list[str] | None) -> str:
    """The UPDATE event a table's change-log trigger fires on: ``UPDATE OF`` its columns but the unlogged ones
    (``columns``, the table's as the database has them), or any UPDATE."""
    skip = UNLOGGED_COLUMNS.get(table, ())
    if not columns or not skip:
        return "UPDATE"
    return "UPDATE OF " + ", ".join(f'"{c}"' for c in columns if c not in skip)


def cascade_sql(vendor, name, parent_table, watched, child, source, codes, people) -> tuple[str, str]:
    changed = " OR ".join(
        f"OLD.{col} IS DISTINCT FROM NEW.{col}" if vendor == "postgresql" else f"OLD.{col} IS NOT NEW.{col}"
        for col in watched
    )
    txid = "CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)" if vendor == "postgresql" else "NULL"
    insert = (
        f"INSERT INTO agri_change (kind, record_id, txid, codes, people) "
        f"SELECT '{child}', CAST(c.id AS TEXT), {txid}, ' ' || {codes('c')} || ' ', "
        f"' ' || {people('OLD')} || ' ' || {people('NEW')} || ' ' {source};"
    )
    name = f"agri_change_{name}"
    if vendor == "postgresql":
        create = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {insert}
    RETURN NULL;
END $$;
CREATE TRIGGER {name} AFTER UPDATE ON {parent_table} FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {name}();
"""
        return create, f"DROP TRIGGER IF EXISTS {name} ON {parent_table}; DROP FUNCTION IF EXISTS {name}();"
    create = f"CREATE TRIGGER {name} AFTER UPDATE ON {parent_table} FOR EACH ROW WHEN {changed} BEGIN {insert} END;"
    return create, f"DROP TRIGGER IF EXISTS {name};"


def postgresql_sql(kind, table, pk, codes, people, update="UPDATE") -> tuple[str, str]:
    create = f"""
CREATE OR REPLACE FUNCTION agri_change_{kind}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before_codes text := ''; before_people text := ''; after_codes text := ''; after_people text := ''; rid text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        before_codes := {codes("OLD")}; before_people := {people("OLD")}; rid := CAST(OLD.{pk} AS TEXT);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        after_codes := {codes("NEW")}; after_people := {people("NEW")}; rid := CAST(NEW.{pk} AS TEXT);
    END IF;
    INSERT INTO agri_change (kind, record_id, txid, codes, people)
    VALUES ('{kind}', rid, CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT),
            ' ' || before_codes || ' ' || after_codes || ' ', ' ' || before_people || ' ' || after_people || ' ');
    RETURN NULL;
END $$;
CREATE TRIGGER agri_change_{kind} AFTER INSERT OR {update} OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION agri_change_{kind}();
"""
    drop = f"DROP TRIGGER IF EXISTS agri_change_{kind} ON {table}; DROP FUNCTION IF EXISTS agri_change_{kind}();"
    return create, drop


def sqlite_sql(kind, table, pk, codes, people, update="UPDATE") -> tuple[str, str]:
    statements, drops = [], []
    for op, before, after in (("INSERT", None, "NEW"), ("UPDATE", "OLD", "NEW"), ("DELETE", "OLD", None)):
        event = update if op == "UPDATE" else op
        parts_codes = " || ' ' || ".join(codes(r) if r else "''" for r in (before, after))
        parts_people = " || ' ' || ".join(people(r) if r else "''" for r in (before, after))
        name = f"agri_change_{kind}_{op.lower()}"
        statements.append(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN "
            f"INSERT INTO agri_change (kind, record_id, txid, codes, people) VALUES ('{kind}', "
            f"CAST({after or before}.{pk} AS TEXT), NULL, "
            f"' ' || {parts_codes} || ' ', ' ' || {parts_people} || ' '); END;"
        )
        drops.append(f"DROP TRIGGER IF EXISTS {name};")
    return "\n".join(statements), "\n".join(drops)


def statements(vendor: str, create: bool, columns: dict[str, list[str]] | None = None) -> list[str]:
    """The statements that create (or drop) every trigger. ``columns``: the columns of the tables that have
    unlogged ones, as the database has them (their change-log trigger fires on an UPDATE of the others); the team
    triggers only where ``agri_visit`` has its team column (a database migrated back before it has not)."""
    columns = columns or {}
    out = [cascade_sql(vendor, *spec)[0 if create else 1] for spec in CASCADES]
    for kind, (table, pk, codes, people) in TABLES.items():
        update = logged_update(table, columns.get(table)) if create else "UPDATE"
        if vendor == "postgresql":
            sql = postgresql_sql(kind, table, pk, codes, people, update)
            out.append(sql[0] if create else sql[1])
        else:
            sql = sqlite_sql(kind, table, pk, codes, people, update)
            out += (sql[0] if create else sql[1]).split("\n")
    team_create, team_drop = team_sql(vendor)
    if not create:
        out += team_drop
    elif "team_expert_id" in columns.get("agri_visit", ()):
        out += team_create
    return out


def _tables(connection) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def triggers_drop(connection) -> None:
    """Drop every change-log trigger whose table exists (before a migration may rebuild one)."""
    tables = _tables(connection)
    if "agri_change" not in tables:
        return
    with connection.cursor() as cursor:
        for statement in statements(connection.vendor, create=False):
            cursor.execute(statement)


def _columns(connection, tables: set[str]) -> dict[str, list[str]]:
    """The columns the database has now, of the tables with unlogged columns."""
    with connection.cursor() as cursor:
        return {
            table: [c.name for c in connection.introspection.get_table_description(cursor, table)]
            for table in UNLOGGED_COLUMNS
            if table in tables
        }


def triggers_install(connection) -> None:
    """(Re)create every change-log trigger, and the team triggers, once the change log's table exists."""
    tables = _tables(connection)
    if "agri_change" not in tables:
        return
    triggers_drop(connection)
    with connection.cursor() as cursor:
        for statement in statements(connection.vendor, create=True, columns=_columns(connection, tables)):
            cursor.execute(statement)
