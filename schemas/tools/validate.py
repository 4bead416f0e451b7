#!/usr/bin/env python3
"""Validate Redress events against the JSON Schemas in schemas/.

    python3 schemas/tools/validate.py schemas/examples            # every *.json below
    python3 schemas/tools/validate.py my-event.json --schema complaint-submitted
    python3 schemas/tools/validate.py --json out/                  # one JSON result per line

A file is checked against events/<name>.v<N>.schema.json when its name is <name>.v<N>.json or
<name>.v<N>.<variant>.json; otherwise against the schema whose `type` constant equals the event's
`type`. Validation uses jsonschema's Draft 2020-12 validator with format checking; $refs resolve
to the local files through a `referencing` registry, never over the network. Two rules that JSON
Schema cannot express are checked too, as Redress's decoder does: the envelope `subject` must
equal the member named by the schema's `x-redress-subject` pointer, and `hotelid` the member named
by `x-redress-hotelid`.

Every run also checks that all schemas are valid Draft 2020-12 and that schemas/asyncapi.yaml
parses and each of its $refs resolves. Exit status: 0 if everything is valid, 1 if anything is
not, 2 on usage errors. Error paths read like the Swift decoder's: data.guest.roomNumber.
"""
import argparse
import json
import re
import sys
from pathlib import Path

try:
    import yaml
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError as missing:  # pragma: no cover - depends on the machine
    sys.exit(f"validate.py needs the Python packages jsonschema, referencing and PyYAML: {missing}")

SCHEMAS = Path(__file__).resolve().parent.parent
FILE_NAME = re.compile(r"^(?P<name>[a-z0-9-]+\.v[0-9]+)(\.[A-Za-z0-9_.-]+)?\.json$")


def load_schemas():
    """All schema documents under schemas/, as a registry and a map of event schemas."""
    registry = Registry()
    events = {}
    problems = []
    for path in sorted(SCHEMAS.rglob("*.schema.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        try:
            Draft202012Validator.check_schema(document)
        except Exception as error:  # noqa: BLE001 - report any schema fault
            problems.append((path, [("", f"not a valid Draft 2020-12 schema: {error}")]))
        registry = registry.with_resource(document["$id"], Resource(contents=document, specification=DRAFT202012))
        if path.parent.name == "events":
            events[path.name[: -len(".schema.json")]] = (path, document)
    return registry, events, problems


def dotted(path):
    """A jsonschema path as the Swift decoder writes it: a.b[2].c"""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += part if not text else "." + part
    return text


def join(path, name):
    return name if not path else f"{path}.{name}"


def strict_json(text):
    """Parse like the Swift decoder: no duplicate members, no NaN or Infinity."""
    def pairs(members):
        seen = {}
        for key, value in members:
            if key in seen:
                raise ValueError(f"duplicate property {key!r}")
            seen[key] = value
        return seen

    def constant(name):
        raise ValueError(f"invalid literal {name}")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def pointer(document, path):
    """Resolve a JSON pointer such as /data/complaintId, or None."""
    node = document
    for token in path.strip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return None
        node = node[token]
    return node


def schema_errors(validator, document):
    """(path, message) for every schema violation, with the offending member in the path."""
    found = []
    for error in validator.iter_errors(document):
        path = dotted(error.absolute_path)
        schema_path = list(error.absolute_schema_path)
        if error.validator is None and schema_path and schema_path[-1] == "properties":
            # A member forbidden by a `false` subschema: jsonschema reports the parent object's
            # path, so find the member by identity.
            parent = document
            for part in error.absolute_path:
                parent = parent[part]
            name = next((key for key, value in parent.items() if value is error.instance), None)
            found.append((join(path, name) if name else path, "not allowed here"))
        elif "propertyNames" in schema_path:
            found.append((join(path, str(error.instance)), error.message))
        elif error.validator == "required":
            match = re.match(r"^'(.*)' is a required property$", error.message)
            found.append((join(path, match.group(1)) if match else path, "required property is missing"))
        elif error.validator == "additionalProperties" and error.validator_value is False:
            known = error.schema.get("properties", {})
            for name in error.instance:
                if name not in known:
                    found.append((join(path, name), "unknown property"))
        else:
            found.append((path, error.message))
    return found


def consistency_errors(schema, document):
    """The envelope rules JSON Schema cannot express."""
    found = []
    if not isinstance(document, dict):
        return found
    rules = (("subject", schema.get("x-redress-subject"), "does not match data (expected {!r})"),
             ("hotelid", schema.get("x-redress-hotelid"), "does not match data.hotelId (expected {!r})"))
    for attribute, location, message in rules:
        if location is None:
            continue
        expected = pointer(document, location)
        actual = document.get(attribute)
        if expected is not None and actual is not None and expected != actual:
            found.append((attribute, message.format(expected)))
    return found


def choose_schema(path, document, events, forced):
    if forced:
        return events.get(forced.removesuffix(".schema.json"))
    match = FILE_NAME.match(path.name)
    if match and match.group("name") in events:
        return events[match.group("name")]
    if isinstance(document, dict):
        for candidate in events.values():
            if candidate[1].get("properties", {}).get("type", {}).get("const") == document.get("type"):
                return candidate
    return None


def validate_file(path, registry, events, forced):
    try:
        document = strict_json(path.read_text(encoding="utf-8"))
    except RecursionError:
        return None, [("", "malformed JSON: nested too deeply")]
    except (ValueError, UnicodeDecodeError) as error:
        return None, [("", f"malformed JSON: {error}")]
    chosen = choose_schema(path, document, events, forced)
    if chosen is None:
        return None, [("", "no schema: name the file <event>.v<N>[.<variant>].json or give it a known type")]
    schema_path, schema = chosen
    validator = Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
    try:
        errors = schema_errors(validator, document)
    except RecursionError:
        errors = [("", "nested too deeply to validate")]
    return schema_path, errors + consistency_errors(schema, document)


def asyncapi_errors():
    """schemas/asyncapi.yaml must parse and every $ref in it must resolve."""
    path = SCHEMAS / "asyncapi.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        return [("", f"cannot read: {error}")]
    if not isinstance(document, dict) or not str(document.get("asyncapi", "")).startswith("3."):
        return [("asyncapi", "expected an AsyncAPI 3 document")]
    errors = []

    def walk(node, trail):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    problem = check_ref(document, path, value)
                    if problem:
                        errors.append((dotted(trail + [key]), problem))
                else:
                    walk(value, trail + [str(key)])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, trail + [index])

    walk(document, [])
    return errors


def check_ref(document, path, ref):
    target, _, fragment = ref.partition("#")
    if target:
        file = (path.parent / target).resolve()
        if not file.is_file():
            return f"$ref {ref!r}: no file {file}"
        if not fragment:
            return None
        try:
            document = json.loads(file.read_text(encoding="utf-8")) if file.suffix == ".json" else yaml.safe_load(file.read_text(encoding="utf-8"))
        except (ValueError, yaml.YAMLError) as error:
            return f"$ref {ref!r}: cannot parse {file.name}: {error}"
    if fragment and pointer(document, fragment) is None:
        return f"$ref {ref!r}: nothing at #{fragment}"
    return None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="event files, or directories to search for *.json")
    parser.add_argument("--schema", help="validate every file against this event schema, e.g. complaint-submitted.v1")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file instead of text")
    options = parser.parse_args(argv)

    registry, events, results = load_schemas()
    results = [(path, None, problems) for path, problems in results]
    if options.schema and options.schema.removesuffix(".schema.json") not in events:
        parser.error(f"unknown schema {options.schema}; known: {', '.join(sorted(events))}")
    files = []
    for given in options.paths:
        if given.is_dir():
            files.extend(sorted(p for p in given.rglob("*.json") if not p.name.endswith(".schema.json")))
        elif given.is_file():
            files.append(given)
        else:
            parser.error(f"no such file or directory: {given}")
    for file in files:
        schema_path, errors = validate_file(file, registry, events, options.schema)
        results.append((file, schema_path, errors))
    results.append((SCHEMAS / "asyncapi.yaml", None, asyncapi_errors()))

    failed = 0
    for file, schema_path, errors in results:
        failed += bool(errors)
        if options.json:
            print(json.dumps({"file": str(file), "schema": schema_path.name if schema_path else None,
                              "valid": not errors, "errors": [{"path": p, "message": m} for p, m in errors]},
                             ensure_ascii=False))
        elif errors:
            print(f"FAIL {file}" + (f" ({schema_path.name})" if schema_path else ""))
            for error_path, message in errors:
                print(f"  {error_path}: {message}" if error_path else f"  {message}")
        else:
            print(f"ok   {file}" + (f" ({schema_path.name})" if schema_path else ""))
    if not options.json:
        print(f"{len(results) - failed} valid, {failed} invalid", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
