"""Read Zoho's zohodesk-oas OpenAPI folder: resolve $refs across files, list operations and their facts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_PREFIX = "/api/v1"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# Ref chains in the OAS are shallow, but a runaway expansion of a huge file must not hang the tools.
MAX_INLINE_DEPTH = 60


def oas_dir_candidates(repo_root: Path) -> list[Path]:
    """Where the OAS folder may live: $ZOHO_OAS_DIR first, then CI's ../shared checkout next to the repo."""
    import os

    found: list[Path] = []
    env = os.environ.get("ZOHO_OAS_DIR")
    if env:
        found.append(Path(env))
    found.append(repo_root.parent / "shared" / "reference" / "zohodesk-oas" / "v1.0")
    return found


def find_oas_dir(repo_root: Path) -> Path | None:
    """First candidate OAS folder that exists and holds JSON files, else None."""
    for cand in oas_dir_candidates(repo_root):
        if cand.is_dir() and any(cand.glob("*.json")):
            return cand
    return None


def cli_paths(description: str | None, default_out: Path, repo_root: Path, argv: list[str] | None) -> tuple[Path, Path]:
    """The (OAS folder, output path) of a generator's command line: `[--oas DIR] [--out PATH]`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--oas", type=Path, default=None, help="zohodesk-oas v1.0 folder")
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    oas_dir = args.oas or find_oas_dir(repo_root)
    if oas_dir is None:
        parser.error("OAS folder not found; pass --oas or set ZOHO_OAS_DIR")
    return oas_dir, args.out


def _unescape_pointer_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def as_type_list(schema: dict[str, Any]) -> list[str]:
    """The schema's `type` as a list (OAS 3.1 allows a string or a list)."""
    t = schema.get("type")
    if t is None:
        return []
    if isinstance(t, str):
        return [t]
    return [x for x in t if isinstance(x, str)]


@dataclass
class QueryParam:
    """One query parameter of an operation, flattened to the facts the connector and fake server need."""

    name: str
    location: str
    required: bool
    type: str | list[str] | None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    enum: list[Any] | None = None
    items_type: str | list[str] | None = None


@dataclass
class Operation:
    """One HTTP operation of the OAS, with its refs already resolved."""

    method: str
    path: str
    file: str
    operation_id: str | None
    parameters: list[QueryParam] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    response_200: dict[str, Any] | None = None
    request_body: dict[str, Any] | None = None
    deprecated: bool = False

    @property
    def short_path(self) -> str:
        """Path without the /api/v1 prefix, as the connector's stream table writes it."""
        return self.path[len(API_PREFIX) :] if self.path.startswith(API_PREFIX) else self.path

    @property
    def key(self) -> str:
        """"GET /tickets"-style key."""
        return f"{self.method.upper()} {self.short_path}"

    @property
    def path_params(self) -> list[str]:
        """Names of path parameters, in the order they appear in the path template."""
        names: list[str] = []
        for seg in self.short_path.split("/"):
            if seg.startswith("{") and seg.endswith("}"):
                names.append(seg[1:-1])
        return names

    @property
    def query(self) -> dict[str, QueryParam]:
        """Query parameters by name."""
        return {p.name: p for p in self.parameters if p.location == "query"}


class OASFolder:
    """A folder of OAS JSON files that reference each other; missing files resolve to open objects."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"OAS folder not found: {self.root}")
        self._docs: dict[str, dict[str, Any] | None] = {}
        self.missing_refs: set[str] = set()

    def files(self) -> list[str]:
        """File names of the OAS documents present, sorted for stable output."""
        return sorted(p.name for p in self.root.glob("*.json"))

    def doc(self, name: str) -> dict[str, Any] | None:
        """The parsed document `name`, or None when it is not in the folder (upstream has more files)."""
        name = Path(name).name
        if name not in self._docs:
            path = self.root / name
            self._docs[name] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        return self._docs[name]

    def _ref_key(self, ref: str, base_file: str) -> tuple[str, str]:
        file_part, _, pointer = ref.partition("#")
        target_file = Path(file_part).name if file_part else base_file
        return target_file, pointer

    def lookup(self, ref: str, base_file: str) -> tuple[Any, str] | None:
        """Target of `ref` seen from `base_file`, and its file; None if the file or node is absent."""
        target_file, pointer = self._ref_key(ref, base_file)
        node: Any = self.doc(target_file)
        if node is None:
            self.missing_refs.add(f"{target_file}#{pointer}")
            return None
        for token in [t for t in pointer.split("/") if t]:
            token = _unescape_pointer_token(token)
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                self.missing_refs.add(f"{target_file}#{pointer}")
                return None
        return node, target_file

    def inline(
        self, node: Any, base_file: str, _stack: tuple[tuple[str, str], ...] = (), _depth: int = 0
    ) -> Any:
        """Copy of `node` with every $ref replaced by its target.

        A ref that points back into its own expansion (a cycle), a missing file or a missing node becomes
        `{}`: an open schema is the honest answer when the OAS does not tell us the shape.
        """
        if _depth > MAX_INLINE_DEPTH:
            return {}
        if isinstance(node, list):
            return [self.inline(x, base_file, _stack, _depth + 1) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            key = self._ref_key(ref, base_file)
            if key in _stack:
                return {}
            found = self.lookup(ref, base_file)
            if found is None:
                return {}
            target, target_file = found
            resolved = self.inline(target, target_file, (*_stack, key), _depth + 1)
            # 3.1 allows siblings next to $ref; they refine the target, so they win.
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if siblings and isinstance(resolved, dict):
                resolved = {**resolved, **self.inline(siblings, base_file, _stack, _depth + 1)}
            return resolved
        return {k: self.inline(v, base_file, _stack, _depth + 1) for k, v in node.items()}

    def _param(self, raw: dict[str, Any], file: str) -> QueryParam | None:
        p = self.inline(raw, file)
        if not isinstance(p, dict) or "name" not in p:
            return None
        schema = p.get("schema") or {}
        types = as_type_list(schema)
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        enum = schema.get("enum")
        if enum is None and "array" in types:
            enum = items.get("enum")
        item_types = as_type_list(items) if "array" in types else []
        return QueryParam(
            name=p["name"],
            location=p.get("in", "query"),
            required=bool(p.get("required", False)),
            type=_collapse(types),
            minimum=schema.get("minimum"),
            maximum=schema.get("maximum"),
            default=schema.get("default"),
            enum=list(enum) if enum is not None else None,
            items_type=_collapse(item_types),
        )

    def _scopes(self, op: dict[str, Any], doc: dict[str, Any]) -> list[str]:
        security = op.get("security", doc.get("security", []))
        scopes: list[str] = []
        for req in security or []:
            for names in req.values():
                for name in names:
                    if name not in scopes:
                        scopes.append(name)
        return scopes

    def _body_schema(self, holder: Any, file: str) -> dict[str, Any] | None:
        holder = self.inline(holder, file) if holder is not None else None
        if not isinstance(holder, dict):
            return None
        content = holder.get("content")
        if not isinstance(content, dict):
            return None
        media = content.get("application/json") or next(iter(content.values()), None)
        if not isinstance(media, dict) or "schema" not in media:
            return None
        schema = media["schema"]
        return schema if isinstance(schema, dict) else None

    def operations(self) -> Iterator[Operation]:
        """Every operation in every file, in file then path order."""
        for name in self.files():
            doc = self.doc(name)
            if not doc:
                continue
            for path, item in (doc.get("paths") or {}).items():
                if not isinstance(item, dict):
                    continue
                if "$ref" in item:
                    found = self.lookup(item["$ref"], name)
                    item = found[0] if found and isinstance(found[0], dict) else {}
                shared = item.get("parameters", [])
                for method in HTTP_METHODS:
                    op = item.get(method)
                    if not isinstance(op, dict):
                        continue
                    by_name: dict[tuple[str, str], QueryParam] = {}
                    # Operation-level parameters override path-level ones with the same name and location.
                    for raw in [*shared, *op.get("parameters", [])]:
                        qp = self._param(raw, name)
                        if qp is not None:
                            by_name[(qp.location, qp.name)] = qp
                    responses = op.get("responses") or {}
                    yield Operation(
                        method=method,
                        path=path,
                        file=name,
                        operation_id=op.get("operationId"),
                        parameters=list(by_name.values()),
                        scopes=self._scopes(op, doc),
                        response_200=self._body_schema(responses.get("200"), name),
                        request_body=self._body_schema(op.get("requestBody"), name),
                        deprecated=bool(op.get("deprecated", False)),
                    )


def _collapse(types: list[str]) -> str | list[str] | None:
    if not types:
        return None
    return types[0] if len(types) == 1 else list(types)


def merge_composites(schema: Any) -> Any:
    """Fold allOf (and object-only oneOf/anyOf) into one object schema, recursively.

    Zoho composes list envelopes and records from allOf fragments; a reader wants one properties map.
    oneOf/anyOf branches that are all objects are unioned, because a record may carry any branch's keys.
    """
    if isinstance(schema, list):
        return [merge_composites(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: merge_composites(v) for k, v in schema.items() if k not in ("allOf", "oneOf", "anyOf")}
    if "properties" in out and isinstance(out["properties"], dict):
        out["properties"] = {k: merge_composites(v) for k, v in schema["properties"].items()}
    parts: list[dict[str, Any]] = []
    for key in ("allOf", "oneOf", "anyOf"):
        branches = schema.get(key)
        if not isinstance(branches, list):
            continue
        merged = [merge_composites(b) for b in branches if isinstance(b, dict)]
        if key == "allOf" or all(_is_objectish(b) for b in merged):
            parts.extend(merged)
        else:
            out[key] = merged
    for part in parts:
        out = _merge_two(out, part)
    return out


def _is_objectish(schema: dict[str, Any]) -> bool:
    types = as_type_list(schema)
    return "properties" in schema or (bool(types) and set(types) <= {"object", "null"})


def _merge_two(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if key == "properties" and isinstance(value, dict):
            props = dict(out.get("properties") or {})
            for pname, pschema in value.items():
                if pname in props and isinstance(props[pname], dict) and isinstance(pschema, dict):
                    props[pname] = _merge_two(props[pname], pschema)
                else:
                    props[pname] = pschema
            out["properties"] = props
        elif key == "items" and isinstance(value, dict) and isinstance(out.get("items"), dict):
            out["items"] = _merge_two(out["items"], value)
        elif key == "required" and isinstance(value, list):
            out["required"] = sorted(set(out.get("required") or []) | set(value))
        elif key == "type":
            merged = as_type_list(out) + [t for t in as_type_list(b) if t not in as_type_list(out)]
            out["type"] = merged if len(merged) != 1 else merged[0]
        elif key == "additionalProperties":
            # One fragment closing the object must not hide the keys the other fragments add.
            prev = out.get(key, True)
            if isinstance(value, dict):
                out[key] = value
            elif prev is False and value is False:
                out[key] = False
            elif not isinstance(prev, dict):
                out.pop(key, None)
        elif key not in out:
            out[key] = value
    return out
