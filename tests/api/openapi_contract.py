#!/usr/bin/python3
"""Checks recorded ota-server exchanges against docs/openapi.yaml.

Usage: openapi_contract.py OPENAPI.yaml EXCHANGES.jsonl

Each line of EXCHANGES is one request and its answer, as the server gave it:
{"method", "path", "status", "content_type", "body", "probe"}. The check fails
(exit 1, one line per problem) when
- the document is not self-consistent (a $ref that resolves nowhere, an
  operator operation without x-permission or without its 401/403 answers);
- an answer's path, method or status is not documented, or its body does not
  match the documented schema (JSON bodies) or content type;
- a documented operation was never answered with a 2xx in the exchanges (the
  test that records them must exercise everything the document promises);
- a request marked as a probe of an undocumented path was not a 404.
"""
import json
import sys

import yaml
from jsonschema import Draft202012Validator, RefResolver
from jsonschema.exceptions import RefResolutionError

METHODS = ("get", "post", "delete", "put", "patch", "head", "options")


def walk_refs(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                walk_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            walk_refs(value, found)


def check_document(spec, resolver):
    problems = []
    if not str(spec.get("openapi", "")).startswith("3."):
        problems.append("document: openapi must be 3.x")
    refs = []
    walk_refs(spec, refs)
    for ref in sorted(set(refs)):
        try:
            resolver.resolve(ref)
        except RefResolutionError as e:
            problems.append(f"document: $ref {ref} does not resolve: {e}")
    default_security = spec.get("security", [])
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            if not op.get("responses"):
                problems.append(f"document: {where} has no responses")
                continue
            security = op.get("security", default_security)
            operator = any("operatorToken" in s for s in security)
            if operator:
                if "x-permission" not in op:
                    problems.append(f"document: {where} needs x-permission")
                for status in ("401", "403"):
                    if status not in op["responses"]:
                        problems.append(f"document: {where} does not document {status}")
            for status, response in op["responses"].items():
                if "$ref" in response:
                    response = resolver.resolve(response["$ref"])[1]
                for ctype, media in response.get("content", {}).items():
                    if "schema" not in media:
                        problems.append(f"document: {where} {status} {ctype} has no schema")
    return problems


def match_path(templates, path):
    """The template that `path` instantiates: {x} is one segment, except a
    final {path}, which takes the rest."""
    parts = path.split("?", 1)[0].split("/")
    best = None
    for template in templates:
        tparts = template.split("/")
        if tparts[-1] == "{path}":
            head = tparts[:-1]
            ok = len(parts) > len(head) and all(
                t == p or (t.startswith("{") and p) for t, p in zip(head, parts))
        else:
            ok = len(parts) == len(tparts) and all(
                t == p or (t.startswith("{") and t.endswith("}") and p != "")
                for t, p in zip(tparts, parts))
        if ok:
            literal = sum(1 for t in tparts if not t.startswith("{"))
            if best is None or literal > best[0]:
                best = (literal, template)
    return best[1] if best else None


def check_exchange(spec, resolver, ex, covered):
    method = ex["method"].lower()
    path = ex["path"]
    status = str(ex["status"])
    where = f"{ex['method']} {path} -> {status}"
    template = match_path(spec["paths"].keys(), path)
    if ex.get("probe"):
        if template is not None:
            return [f"{where}: probe path matches documented {template}"]
        return [] if status == "404" else [f"{where}: an undocumented path must be 404"]
    if template is None:
        return [f"{where}: path not documented"]
    item = spec["paths"][template]
    op = item.get(method) or (item.get("get") if method == "head" else None)
    if op is None:
        return [f"{where}: method not documented for {template}"]
    responses = op["responses"]
    response = responses.get(status) or responses.get(status[0] + "XX") or responses.get("default")
    if response is None:
        return [f"{where}: status not documented for {method.upper()} {template}"]
    if "$ref" in response:
        response = resolver.resolve(response["$ref"])[1]
    if status.startswith("2"):
        covered.add((template, method if method != "head" else "get"))
    content = response.get("content", {})
    ctype = (ex.get("content_type") or "").split(";")[0].strip()
    if not content:
        return []
    if method == "head" or status == "304":
        return []
    if ctype not in content:
        return [f"{where}: content type {ctype!r} not documented ({', '.join(content)})"]
    schema = content[ctype].get("schema")
    if ctype != "application/json" or schema is None:
        return []
    try:
        body = json.loads(ex["body"])
    except ValueError as e:
        return [f"{where}: body is not JSON: {e}"]
    validator = Draft202012Validator(schema, resolver=resolver)
    return [f"{where}: {'/'.join(str(p) for p in err.absolute_path) or '(body)'}: {err.message}"
            for err in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))]


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    resolver = RefResolver.from_schema(spec)
    problems = check_document(spec, resolver)
    covered = set()
    count = 0
    with open(argv[2], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                count += 1
                problems += check_exchange(spec, resolver, json.loads(line), covered)
    for path, item in spec["paths"].items():
        for method in item:
            if method in METHODS and (path, method) not in covered:
                if item[method].get("deprecated"):
                    continue
                problems.append(f"not exercised with a 2xx answer: {method.upper()} {path}")
    for p in problems:
        print(p)
    print(f"{count} exchanges, {len(covered)} operations answered, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
