// Compiles every module of a bundled function to bytecode for the Lambda runtime's Python, with
// Pyodide: CPython itself, built for WebAssembly, pinned in package.json. A .pyc file depends on the
// Python minor version only, not on the platform, and synth has no Python of the runtime's version
// of its own (it bundles without Docker: python_function.py). Lambda's /var/task is read-only, so
// without these files every cold start compiles every bundled module from source.
//
// Usage: node compile_bytecode.mjs, then one folder per line on standard input (Pyodide loads once,
// in about 2 s, for all of them). For each folder, one JSON line on standard output: the
// interpreter's cache tag ("cpython-314"), its bytecode magic number, and the modules it could not
// compile, which the bundler checks; or {"error": "..."}.
import { createInterface } from "node:readline";

const reason = (error) =>
  // Pyodide's file system errors carry an errno and no message (a folder that does not exist: 44).
  `${error.code ?? error.name}: ${error.message ? error.message.split("\n")[0] : `file system errno ${error.errno}`}`;

let pyodide;
try {
  const { loadPyodide } = await import("pyodide");
  pyodide = await loadPyodide();
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: reason(error) })}\n`);
  process.exit(1);
}
pyodide.runPython(`
import compileall, importlib.util, json, os, py_compile, sys

def compile_folder(root):
    failed = []
    for parent, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(parent, name)
            # Checked hash: the interpreter compares the source's hash, not its modification time
            # (whatever the deployment package's zip carries), so a .pyc is never used for a source
            # it was not made from.
            if name.endswith(".py") and not compileall.compile_file(
                path, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
            ):
                failed.append(os.path.relpath(path, root))
    return json.dumps({
        "cache_tag": sys.implementation.cache_tag,
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "failed": failed,
    })
`);
const compileFolder = pyodide.globals.get("compile_folder");

let mounts = 0;
for await (const folder of createInterface({ input: process.stdin })) {
  const mountPoint = `/bundle${mounts++}`;
  try {
    pyodide.FS.mkdirTree(mountPoint);
    pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: folder }, mountPoint);
    process.stdout.write(`${compileFolder(mountPoint)}\n`);
    pyodide.FS.unmount(mountPoint);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: `${reason(error)} on ${folder}` })}\n`);
  }
}
