"""The package's surface: documented, and described by its type stubs."""
import ast
import os

import pytest

import memsnap
import memsnap.uc

PACKAGE_DIR = os.path.dirname(memsnap.__file__)
CLASSES = [memsnap.Snapshot, memsnap.View, memsnap.uc.Runtime, memsnap.uc.Checkpoint]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_public_member_has_a_docstring(cls):
    assert cls.__doc__
    for name in dir(cls):
        if name.startswith("_"):
            continue
        assert getattr(cls, name).__doc__, f"{cls.__name__}.{name}"


def test_module_functions_have_docstrings():
    for module in (memsnap, memsnap.uc):
        assert module.__doc__
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj):
                assert obj.__doc__, f"{module.__name__}.{name}"


@pytest.mark.parametrize("stub,module", [("__init__.pyi", memsnap), ("uc.pyi", memsnap.uc)])
def test_stubs_describe_what_exists(stub, module):
    with open(os.path.join(PACKAGE_DIR, stub)) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(module, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name not in ("__buffer__",):
                    assert hasattr(cls, item.name), f"{node.name}.{item.name}"
        elif isinstance(node, ast.FunctionDef):
            assert hasattr(module, node.name), node.name
        elif isinstance(node, ast.AnnAssign):
            assert hasattr(module, node.target.id), node.target.id
    assert os.path.exists(os.path.join(PACKAGE_DIR, "py.typed"))
