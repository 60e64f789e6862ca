"""Meta-tests in the spirit of datasette's: the plugin guide documents every hook with its exact signature, every
part kind is covered by the conformance kit, and the packages in plugins/ are complete and run in CI."""

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import pytest
import tomllib

import gencoop
import gencoop.testing
from gencoop import hookimpl, hookspecs
from gencoop.interfaces import Decoder, Encoder, Energy, Flow, Prior, Sampler
from gencoop.plugins import pm
from gencoop.registry import KINDS
from gencoop.testing import CHECKS

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
INTERFACES = {"energy": Energy, "flow": Flow, "decoder": Decoder, "encoder": Encoder, "prior": Prior,
              "sampler": Sampler}
NOT_PARTS = {"model", "dataset", "recipe"}  # built from parts; their own tests cover them


def python_blocks(markdown: str) -> list[ast.Module]:
    blocks = re.findall(r"```python\n(.*?)```", markdown, flags=re.S)
    return [ast.parse(block) for block in blocks]  # a block that does not parse fails here, naming itself


def signature_of(node: ast.FunctionDef) -> str:
    """``name(args) -> returns`` as ast prints it: quoting and spacing do not matter, names and types do."""
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{node.name}({ast.unparse(node.args)}){returns}"


def functions(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]


def is_hookspec(node: ast.FunctionDef) -> bool:
    return any(ast.unparse(d).split("(")[0].endswith("hookspec") for d in node.decorator_list)


def declared_hooks() -> dict[str, str]:
    tree = ast.parse(Path(hookspecs.__file__).read_text())
    return {n.name: signature_of(n) for n in functions(tree) if is_hookspec(n)}


def documented(predicate) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tree in python_blocks(GUIDE.read_text()):
        for node in functions(tree):
            if predicate(node):
                out.setdefault(node.name, []).append(signature_of(node))
    return out


def test_the_parser_sees_every_hook_pluggy_sees():
    marker = f"{hookspecs.PROJECT}_spec"
    by_pluggy = {name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, marker)}
    assert set(declared_hooks()) == by_pluggy == {h for h in pm.hook.__dict__ if not h.startswith("_")}


def test_every_hook_is_documented_with_its_exact_signature():
    docs = documented(is_hookspec)
    guide = GUIDE.read_text()
    for name, signature in declared_hooks().items():
        assert re.search(rf"^#+ {re.escape(name)}\s*$", guide, flags=re.M), f"no heading for hook {name}"
        assert docs.get(name) == [signature], f"{name}: documented {docs.get(name)}, declared {signature}"
    missing = set(docs) - set(declared_hooks())
    assert not missing, f"documented hooks that do not exist: {missing}"


def test_the_register_callback_is_documented_with_its_exact_signature():
    """Capture the callback gencoop really passes, and compare its public parameters with the guide's."""
    seen = []

    class Spy:
        @hookimpl
        def register_components(self, register):
            seen.append(register)

    spy = Spy()
    pm.register(spy, name="meta-test-spy")
    try:
        gencoop.components()
    finally:
        pm.unregister(spy)
    sig = inspect.signature(seen[0])
    params = [p.replace(annotation=p.annotation) for p in sig.parameters.values() if not p.name.startswith("_")]
    parts, star = [], False
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = f"{p.name}: {p.annotation}"
        parts.append(text if p.default is p.empty else f"{text} = {p.default!r}")
    real = ast.parse(f"def register({', '.join(parts)}) -> {sig.return_annotation}: ...").body[0]
    assert documented(lambda n: n.name == "register").get("register") == [signature_of(real)]


def test_the_guide_covers_kinds_testing_api_entry_points_and_the_switch():
    guide = GUIDE.read_text()
    for kind in KINDS:
        assert f"`{kind}`" in guide, kind
    for name in gencoop.testing.__all__:
        assert f"{name}" in guide, f"gencoop.testing.{name} is not in the guide"
    assert f"[project.entry-points.{hookspecs.PROJECT}]" in guide
    assert "GENCOOP_LOAD_PLUGINS" in guide and "list-components" in guide


def test_every_kind_is_a_checked_part_or_a_composition():
    """A new part kind needs a conformance check (gencoop.testing.CHECKS) before it can be registered."""
    assert set(KINDS) == set(CHECKS) | NOT_PARTS and not set(CHECKS) & NOT_PARTS
    assert set(CHECKS) == set(INTERFACES)


BUILTIN_PARTS = [s for s in gencoop.components() if s.source == "gencoop" and s.kind not in NOT_PARTS]


def test_every_builtin_part_kind_has_parts():
    assert {s.kind for s in BUILTIN_PARTS} == set(CHECKS)


@pytest.mark.parametrize("spec", BUILTIN_PARTS, ids=lambda s: f"{s.kind}-{s.name}")
def test_every_builtin_part_is_covered_by_the_conformance_kit(spec):
    """Its example builds the interface its kind's check expects, and test_conformance parametrises over it."""
    assert isinstance(spec.example(), INTERFACES[spec.kind])
    assert spec in CONFORMANCE_SPECS


def _conformance_specs():
    path = ROOT / "tests" / "test_conformance.py"
    module_spec = importlib.util.spec_from_file_location("_meta_conformance", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.SPECS


CONFORMANCE_SPECS = _conformance_specs()

PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())


def test_the_plugin_packages_are_there():
    assert {p.name for p in PLUGINS} >= {"gencoop-zuko", "gencoop-hmc", "template"}


@pytest.mark.parametrize("package", PLUGINS, ids=lambda p: p.name)
def test_each_plugin_package_is_complete(package):
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    (target,) = project["entry-points"][hookspecs.PROJECT].values()
    module = package / target.replace(".", "/")
    assert (module / "__init__.py").exists() or module.with_suffix(".py").exists(), f"no module {target}"
    source = (module / "__init__.py" if module.is_dir() else module.with_suffix(".py")).read_text()
    assert f'__version__ = "{project["version"]}"' in source, "the module's __version__ is not the package's"
    assert re.search(r"@gencoop\.hookimpl\s+def register_components\(", source)
    assert (package / "README.md").exists() and list((package / "tests").glob("test_*.py"))
    assert "gencoop" in " ".join(project["dependencies"])


def test_ci_runs_the_plugins_tests():
    """pytest's testpaths include each installable plugin's tests (the template runs via test_plugin_template)."""
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    for package in PLUGINS:
        if package.name != "template":
            assert f"plugins/{package.name}/tests" in testpaths
            assert f"./plugins/{package.name}" in setup


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module → the project modules it imports, at module level or inside functions. ``from pkg import sub`` of a
    submodule counts as importing ``pkg.sub`` (a package is imported with its submodule in any case)."""
    modules = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                targets = [s for s in subs if s in modules]
                if len(targets) < len(subs):  # some names are the package's own
                    targets.append(node.module)
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    graph = import_graph(ROOT / "gencoop")
    assert "gencoop.settings" in graph["gencoop.registry"]  # the graph sees what it should
    assert cycles(graph) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # and finds a circle
