"""Runs one Python code sample of the docs (test/docs/samples.test.ts).

    python run_python_sample.py SAMPLE.py PRELUDE.py RESULTS.json LINE...

Runs PRELUDE (a setup's definitions) and then SAMPLE in one namespace, in the current directory.
Each LINE (1-based) is where an expression statement of the sample ends whose output the docs
show; its value is recorded, as JSON, into RESULTS.json for the test to compare. A LINE with no
expression statement ending on it is an error (exit 3). A sample with top-level ``await`` runs
in an event loop.
"""

import ast
import asyncio
import dataclasses
import json
import sys


def jsonable(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if hasattr(v, "to_dict"):
        return jsonable(v.to_dict())
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return jsonable(dataclasses.asdict(v))
    return repr(v)


def main() -> int:
    sample_path, prelude_path, results_path, *lines = sys.argv[1:]
    wanted = {int(x) for x in lines}
    with open(sample_path, encoding="utf-8") as f:
        source = f.read()
    with open(prelude_path, encoding="utf-8") as f:
        prelude = f.read()
    tree = ast.parse(source, sample_path)
    found = set()

    class Instrument(ast.NodeTransformer):
        def visit_Expr(self, node):
            self.generic_visit(node)
            if node.end_lineno in wanted:
                found.add(node.end_lineno)
                call = ast.Call(ast.Name("__expect", ast.Load()), [node.value, ast.Constant(node.end_lineno)], [])
                return ast.copy_location(ast.Expr(call), node)
            return node

    tree = ast.fix_missing_locations(Instrument().visit(tree))
    missing = wanted - found
    if missing:
        print(f"{sample_path}: no expression statement ends on line(s) {sorted(missing)} where an output is shown", file=sys.stderr)
        return 3

    results = []

    def expect(value, line):
        results.append({"line": line, "value": jsonable(value)})
        return value

    ns = {"__name__": "__main__", "__expect": expect}
    try:
        exec(compile(prelude, prelude_path, "exec"), ns)
        code = compile(tree, sample_path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        if code.co_flags & 0x80:  # CO_COROUTINE: the sample awaits at top level
            asyncio.run(eval(code, ns))
        else:
            exec(code, ns)
    finally:
        with open(results_path, "w", encoding="utf-8") as f:
            json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
