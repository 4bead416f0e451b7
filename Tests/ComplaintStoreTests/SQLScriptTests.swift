import ComplaintStore
import ComplaintTesting
import Testing

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolonsAndTrims() {
        let script = """
            CREATE TABLE a (id int);
              INSERT INTO a VALUES (1) ;

            SELECT 1
            """
        #expect(SQLScript.statements(in: script) == ["CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)", "SELECT 1"])
    }

    @Test func keepsSemicolonsInsideQuotesAndComments() {
        let script = """
            -- a comment; with a semicolon
            INSERT INTO t VALUES ('a;b', 'it''s; fine', E'back\\\\slash\\'; still', "odd;name");
            /* block; /* nested; */ still comment; */ SELECT 2;
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 2)
        #expect(statements[0].hasSuffix(#"INSERT INTO t VALUES ('a;b', 'it''s; fine', E'back\\slash\'; still', "odd;name")"#))
        #expect(statements[1].hasSuffix("SELECT 2"))
    }

    @Test func keepsDollarQuotedBodiesWhole() {
        let script = """
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM 1; RETURN 2;
            END $$;
            DO $body$ BEGIN RAISE NOTICE 'x; $$ y'; END $body$;
            SELECT $1::int;
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 3)
        #expect(statements[0].contains("PERFORM 1; RETURN 2;"))
        #expect(statements[1] == "DO $body$ BEGIN RAISE NOTICE 'x; $$ y'; END $body$")
        #expect(statements[2] == "SELECT $1::int")
    }

    @Test func dropsCommentOnlyAndEmptyStatements() {
        let script = """
            -- header only
            ;;
            /* nothing */ ;
            SELECT 1; -- trailing comment
            """
        #expect(SQLScript.statements(in: script) == ["SELECT 1"])
    }

    @Test func identifiersWithDollarsAreNotQuotes() {
        #expect(SQLScript.statements(in: "SELECT a$b$c FROM t; SELECT 2") == ["SELECT a$b$c FROM t", "SELECT 2"])
    }
}
