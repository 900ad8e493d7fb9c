# SPDX-License-Identifier: GPL-2.0
"""YAML loading that remembers line numbers, so validation errors can point at the line.

PyYAML's safe loader drops positions. Here the document is composed into nodes (which carry
marks) and converted by hand: mappings become MDict, sequences MList, both knowing the line of
each item. Duplicate keys are an error (PyYAML silently keeps the last one).
"""
import re

import yaml

from .errors import LabError


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false. Under YAML 1.1 `listen: off` would
    come back as False, and a config the lab passes through to edged would change meaning."""


Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:bool"]
                                  for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                             list("tTfF"))


class MDict(dict):
    """A mapping with the line of the mapping itself and of every key (1-based)."""

    line = None
    key_lines = None

    def line_of(self, key):
        return (self.key_lines or {}).get(key, self.line)


class MList(list):
    """A sequence with its own line and the line of each item (1-based)."""

    line = None
    item_lines = None

    def line_of(self, index):
        lines = self.item_lines or []
        return lines[index] if 0 <= index < len(lines) else self.line


def _convert(node, loader, path):
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = MDict()
        out.line, out.key_lines = line, {}
        loader.flatten_mapping(node)
        for knode, vnode in node.value:
            key = _convert(knode, loader, path)
            if isinstance(key, (MDict, MList)):
                raise LabError("a mapping key must be a plain value", path, knode.start_mark.line + 1,
                               "write the key as a word, e.g. 'name:'")
            if key in out:
                raise LabError(f"duplicate key '{key}' (first at line {out.key_lines[key]})", path,
                               knode.start_mark.line + 1, "remove one of the two")
            out.key_lines[key] = knode.start_mark.line + 1
            out[key] = _convert(vnode, loader, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        out = MList()
        out.line = line
        out.item_lines = [n.start_mark.line + 1 for n in node.value]
        out.extend(_convert(n, loader, path) for n in node.value)
        return out
    return loader.construct_object(node, deep=True)


def load_text(text, path="<string>"):
    """Parse one YAML document; returns MDict/MList/scalars, or None for an empty document."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _convert(node, loader, path)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise LabError(f"not valid YAML: {e.problem or e}", path, line,
                       "check indentation and quoting near that line") from None
    finally:
        loader.dispose()


def load_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise LabError(f"cannot read: {e.strerror}", path, None,
                       "check the path (relative paths are taken from the repository root)") from None
    return load_text(text, path)
