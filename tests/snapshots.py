"""Readable snapshots of renders: one text file per token, whose diff a reviewer can read.

A render becomes one line per resource (type, name, tier, protect) and one line per input
(`path = value`, keys sorted). The stack's name is written `<stack>` and the token `<token>`,
so tokens that build the same thing share their text. Long or multi-line strings become blocks, stored once under
`blocks/<sha256[:12]>.txt` and named in the line (`= <block 3f2a... 120 lines>`); structured
strings are opened first: a `#cloud-config` user data shows each file it writes, an ECS
container definition its fields, base64 file contents decoded. So a changed Caddyfile is one
changed block and one changed line in each snapshot that uses it.

`check(token, graph_json, directory)` compares with the stored file and says which lines
differ; with REACTOR_INFRA_UPDATE_SNAPSHOTS=1 it writes the files instead.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

UPDATE = os.environ.get("REACTOR_INFRA_UPDATE_SNAPSHOTS") == "1"
INLINE_MAX = 200  # longer strings (and every multi-line one) become blocks


def _file_name(token: str) -> str:
    return token.replace("@", "_at_").replace("+", "_") + ".txt"


class Snapshot:
    def __init__(self, stack: str = "", token: str = "") -> None:
        self.lines: list[str] = []
        self.blocks: dict[str, str] = {}
        self._names = (stack, token)

    def clean(self, text: str) -> str:
        """The stack's name and the token written `<stack>` and `<token>` (in decoded text too)."""
        stack, token = self._names
        return text.replace(stack, "<stack>").replace(token, "<token>") if stack else text

    def block(self, text: str) -> str:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        self.blocks[digest] = text
        return f"<block {digest} {text.count(chr(10)) + 1} lines>"

    def value(self, path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                self.value(f"{path}.{key}" if path else key, value[key])
        elif isinstance(value, list):
            if not value:
                self.lines.append(f"  {path} = []")
            for i, item in enumerate(value):
                self.value(f"{path}[{i}]", item)
        elif isinstance(value, str):
            self.string(path, value)
        else:
            self.lines.append(f"  {path} = {json.dumps(value)}")

    def string(self, path: str, text: str) -> None:
        opened = _open(text, self.clean)
        if opened is not None:
            self.value(path, opened)
        elif len(text) > INLINE_MAX or "\n" in text:
            self.lines.append(f"  {path} = {self.block(text)}")
        else:
            self.lines.append(f"  {path} = {json.dumps(text)}")


def _open(text: str, clean=lambda t: t) -> Any | None:
    """A structured string as data: cloud-config, JSON documents, base64 text files (decoded,
    then `clean`ed: base64 hides the stack's name from the replacement of the whole render)."""
    if text.startswith("#cloud-config"):
        doc = yaml.safe_load(text) or {}
        files = {f["path"]: f.get("content", "") for f in doc.pop("write_files", [])}
        return {"#cloud-config": doc, "write_files": files}
    if text[:1] in "[{" and len(text) > INLINE_MAX:
        try:
            return json.loads(text)
        except ValueError:
            return None
    if len(text) > 64 and "\n" not in text and " " not in text:
        try:
            decoded = base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return {"base64": clean(decoded)}
    return None


def render_snapshot(token: str, stack: str, graph_json: str) -> Snapshot:
    doc = json.loads(graph_json.replace(stack, "<stack>").replace(token, "<token>"))
    snap = Snapshot(stack, token)
    resources = doc["resources"]
    snap.lines.append(f"# {token}: {len(resources)} resources (offline render; the stack's name is <stack>, the token <token>)")
    for r in resources:
        flags = " protect" if r.get("protect") else ""
        snap.lines.append(f"{r['type']} {r['name']} [{r.get('component') or '-'}]{flags}")
        snap.value("", r["inputs"])
    snap.lines.append("# outputs")
    snap.value("", doc.get("outputs", {}))
    return snap


def check(token: str, stack: str, graph_json: str, directory: Path) -> None:
    snap = render_snapshot(token, stack, graph_json)
    path = directory / _file_name(token)
    text = "\n".join(snap.lines) + "\n"
    blocks = directory / "blocks"
    if UPDATE:
        blocks.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        for digest, body in snap.blocks.items():
            (blocks / f"{digest}.txt").write_text(body, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path}; run with REACTOR_INFRA_UPDATE_SNAPSHOTS=1"
    stored = path.read_text(encoding="utf-8")
    if stored != text:
        diff = "\n".join(list(difflib.unified_diff(stored.splitlines(), text.splitlines(), "stored", "render",
                                                   lineterm="", n=1))[:60])
        raise AssertionError(f"{token} differs from {path.name} (REACTOR_INFRA_UPDATE_SNAPSHOTS=1 to accept):\n{diff}")
    for digest, body in snap.blocks.items():
        stored_block = blocks / f"{digest}.txt"
        assert stored_block.exists(), f"block {digest} is missing"
        assert stored_block.read_text(encoding="utf-8") == body, f"block {digest} does not hold its content"


def referenced_blocks(directory: Path) -> set[str]:
    found: set[str] = set()
    for path in directory.glob("*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            start = line.find("<block ")
            if start >= 0:
                found.add(line[start + 7:start + 19])
    return found
