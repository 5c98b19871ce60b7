"""full-text search over articles: SQLite FTS5 / PostgreSQL tsvector, kept in sync by triggers

Revision ID: 0004_article_search
Revises: 0003_source_warning

One row per article in `article_search`, built from the article's title, company, tags,
edition and text and its deep dive's text, rebuilt by triggers whenever one of those is
inserted, changed or deleted (so every writer, bulk inserts and upserts included, keeps it
true), and filled here for the articles already stored. Stemmed English on both engines:
SQLite's porter tokenizer, PostgreSQL's `english` configuration. The "head" (title, deep
dive, company, tags) is kept apart from the body so it can be ranked on its own: on
PostgreSQL as a small `head` tsvector (stored inline, cheap to rank) beside the whole
`document`; on SQLite as FTS5 columns a query can be limited to.
"""

from alembic import op

revision = "0004_article_search"
down_revision = "0003_source_warning"
branch_labels = None
depends_on = None

# SQLite -----------------------------------------------------------------------------------
# Two FTS5 tables: `article_search`, the head (title, deep dive, company, tags) with word
# positions, for phrases and bm25; `article_body`, everything (head and text) without
# positions (detail=column: a fraction of the size, and ranking a head never reads a common
# word's long position lists through the bodies).
_TOKENS = "tokenize = 'porter unicode61 remove_diacritics 2'"
_DIVE = "COALESCE((SELECT text FROM deep_dive WHERE article_id = {id}), '')"
_ALL = "{a}.title || ' ' || {dive} || ' ' || {a}.company || ' ' || {a}.tags || ' ' || {a}.text"
_BODY_OF = (
    "UPDATE article_body SET body = (SELECT "
    + _ALL.format(a="a", dive=_DIVE.format(id="a.id"))
    + " FROM article a WHERE a.id = {id}) WHERE rowid = {id}"
)
SQLITE_UP = [
    "CREATE VIRTUAL TABLE article_search USING fts5("
    f"title, dive, company, tags, edition, {_TOKENS})",
    f"CREATE VIRTUAL TABLE article_body USING fts5(body, edition, detail = column, {_TOKENS})",
    "INSERT INTO article_search (rowid, title, dive, company, tags, edition) "
    "SELECT a.id, a.title, COALESCE(d.text, ''), a.company, a.tags, a.edition "
    "FROM article a LEFT JOIN deep_dive d ON d.article_id = a.id",
    "INSERT INTO article_body (rowid, body, edition) SELECT a.id, "
    + _ALL.format(a="a", dive="COALESCE(d.text, '')")
    + ", a.edition FROM article a LEFT JOIN deep_dive d ON d.article_id = a.id",
    "CREATE TRIGGER article_search_insert AFTER INSERT ON article BEGIN "
    "INSERT INTO article_search (rowid, title, dive, company, tags, edition) VALUES "
    f"(new.id, new.title, {_DIVE.format(id='new.id')}, new.company, new.tags, new.edition); "
    "INSERT INTO article_body (rowid, body, edition) VALUES (new.id, "
    + _ALL.format(a="new", dive=_DIVE.format(id="new.id"))
    + ", new.edition); END",
    "CREATE TRIGGER article_search_update "
    "AFTER UPDATE OF title, company, tags, edition, text ON article BEGIN "
    "UPDATE article_search SET title = new.title, company = new.company, tags = new.tags, "
    "edition = new.edition WHERE rowid = new.id; "
    "UPDATE article_body SET body = "
    + _ALL.format(a="new", dive=_DIVE.format(id="new.id"))
    + ", edition = new.edition WHERE rowid = new.id; END",
    "CREATE TRIGGER article_search_delete AFTER DELETE ON article BEGIN "
    "DELETE FROM article_search WHERE rowid = old.id; "
    "DELETE FROM article_body WHERE rowid = old.id; END",
    "CREATE TRIGGER deep_dive_search_insert AFTER INSERT ON deep_dive BEGIN "
    "UPDATE article_search SET dive = new.text WHERE rowid = new.article_id; "
    + _BODY_OF.format(id="new.article_id")
    + "; END",
    "CREATE TRIGGER deep_dive_search_update AFTER UPDATE OF text, article_id ON deep_dive BEGIN "
    "UPDATE article_search SET dive = '' WHERE rowid = old.article_id; "
    "UPDATE article_search SET dive = new.text WHERE rowid = new.article_id; "
    + _BODY_OF.format(id="old.article_id")
    + "; "
    + _BODY_OF.format(id="new.article_id")
    + "; END",
    "CREATE TRIGGER deep_dive_search_delete AFTER DELETE ON deep_dive BEGIN "
    "UPDATE article_search SET dive = '' WHERE rowid = old.article_id; "
    + _BODY_OF.format(id="old.article_id")
    + "; END",
]
SQLITE_DOWN = [
    *(
        f"DROP TRIGGER IF EXISTS {name}"
        for name in (
            "article_search_insert",
            "article_search_update",
            "article_search_delete",
            "deep_dive_search_insert",
            "deep_dive_search_update",
            "deep_dive_search_delete",
        )
    ),
    "DROP TABLE IF EXISTS article_body",
    "DROP TABLE IF EXISTS article_search",
]

# PostgreSQL -------------------------------------------------------------------------------
# Weights: title A, deep dive B, company and tags C, body D (ts_rank: 1.0, 0.4, 0.2, 0.1).
# `head` is A-C only; `document` is head and body, for matching. The body is cut at 100,000
# characters: a tsvector holds at most 1 MB, and a post's opening carries its subject.
_HEAD = """setweight(to_tsvector('english', coalesce(a.title, '')), 'A')
            || setweight(to_tsvector('english', coalesce(d.text, '')), 'B')
            || setweight(to_tsvector('english', coalesce(a.company, '') || ' '
                                     || replace(coalesce(a.tags, ''), ',', ' ')), 'C')"""
POSTGRES_UP = [
    "CREATE TABLE article_search ("
    "article_id integer PRIMARY KEY REFERENCES article (id) ON DELETE CASCADE, "
    "edition varchar(50) NOT NULL, head tsvector NOT NULL, document tsvector NOT NULL)",
    # the head stays in the row (it is what ranking reads); the document may go to TOAST
    "ALTER TABLE article_search ALTER COLUMN head SET STORAGE MAIN",
    "CREATE INDEX ix_article_search_head ON article_search USING gin (head)",
    "CREATE INDEX ix_article_search_document ON article_search USING gin (document)",
    # one edition's newest head matches, walked backwards without reading the others'
    "CREATE INDEX ix_article_search_edition ON article_search (edition, article_id)",
    f"""CREATE FUNCTION article_search_sync(target integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO article_search (article_id, edition, head, document)
        SELECT id, edition, head,
               head || setweight(to_tsvector('english', left(body, 100000)), 'D')
        FROM (SELECT a.id, a.edition, coalesce(a.text, '') AS body, {_HEAD} AS head
              FROM article a LEFT JOIN deep_dive d ON d.article_id = a.id
              WHERE a.id = target) AS source
        ON CONFLICT (article_id) DO UPDATE SET edition = excluded.edition,
            head = excluded.head, document = excluded.document
    $$""",
    """CREATE FUNCTION article_search_on_article() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM article_search_sync(NEW.id);
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION article_search_on_deep_dive() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM article_search_sync(OLD.article_id);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM article_search_sync(NEW.article_id);
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER article_search_sync "
    "AFTER INSERT OR UPDATE OF title, company, tags, edition, text "
    "ON article FOR EACH ROW EXECUTE FUNCTION article_search_on_article()",
    "CREATE TRIGGER deep_dive_search_sync AFTER INSERT OR DELETE OR UPDATE OF text, article_id "
    "ON deep_dive FOR EACH ROW EXECUTE FUNCTION article_search_on_deep_dive()",
    "SELECT article_search_sync(id) FROM article",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS deep_dive_search_sync ON deep_dive",
    "DROP TRIGGER IF EXISTS article_search_sync ON article",
    "DROP FUNCTION IF EXISTS article_search_on_deep_dive()",
    "DROP FUNCTION IF EXISTS article_search_on_article()",
    "DROP FUNCTION IF EXISTS article_search_sync(integer)",
    "DROP TABLE IF EXISTS article_search",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_UP if postgres else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_DOWN if postgres else SQLITE_DOWN:
        op.execute(statement)
