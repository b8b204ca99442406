"""What a start learns of the app itself, where the image's defaults cannot know it: whether its
uWSGI ini loads the app on its own, and which WSGI callable its module has. Both read files
only: nothing of the app is imported or run here. Python 2.7 and 3."""
import ast
import os
import re

# uWSGI options that load an app: with one of them in the app's ini, the image's `module` would
# load its own first, and uWSGI skip the app's ("mountpoint already configured").
LOADERS = ("module", "wsgi-file", "file", "wsgi", "mount", "eval", "pymodule-alias")
# The callables a module may have, in the order they are looked for: `application`, the WSGI
# name, then `app`, Flask's and tiangolo/uwsgi-nginx-flask's.
CALLABLES = ("application", "app")
SECTION = re.compile(r"\s*\[(?P<name>[^\]]+)\]\s*\Z")
OPTION = re.compile(r"\s*(?P<name>[A-Za-z0-9_-]+)\s*=")


def ini_options(path, section="uwsgi"):
    """The option names of an ini file's section, as uWSGI reads them ("_" as "-")."""
    names, current = set(), None
    with open(path) as ini:
        for line in ini:
            if line.lstrip().startswith((";", "#")):
                continue
            header = SECTION.match(line)
            if header:
                current = header.group("name").strip()
                continue
            option = OPTION.match(line)
            if option and current == section:
                names.add(option.group("name").replace("_", "-"))
    return names


def loaders(options):
    """The app-loading options among an ini file's options, in LOADERS' order."""
    return [name for name in LOADERS if name in options]


def module_file(app_dir, module):
    """The file of a dotted module name under app_dir (a package's __init__.py), or None."""
    base = os.path.join(app_dir, *module.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def top_level_names(path):
    """The names a Python file binds at its top level (assignments, defs, classes, imports), or
    None when it does not parse (the app's Python may be newer than the one reading it)."""
    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), path)
    except (SyntaxError, ValueError):
        return None
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) or type(node).__name__ == "AsyncFunctionDef":
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(target_names(target))
        elif type(node).__name__ in ("AnnAssign", "AugAssign"):
            names.update(target_names(node.target))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def target_names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in target_names(element)]
    return []


def callable_of(app_dir, module):
    """The first of CALLABLES the module binds, or None when it binds none (or cannot be read)."""
    path = module_file(app_dir, module)
    names = top_level_names(path) if path else None
    for name in CALLABLES:
        if names and name in names:
            return name
    return None
