// Compiles every module of a bundled function to bytecode for the Lambda runtime's Python, with
// Pyodide: CPython itself, built for WebAssembly, pinned in package.json. A .pyc file depends on the
// Python minor version only, not on the platform, and synth has no Python of the runtime's version
// of its own (it bundles without Docker: python_function.py). Lambda's /var/task is read-only, so
// without these files every cold start compiles every bundled module from source.
//
// Usage: node compile_bytecode.mjs <folder>. Prints one JSON line: the interpreter's cache tag
// ("cpython-314"), its bytecode magic number, and the modules it could not compile, which the
// bundler checks. Fails with one line on standard error.
const [folder] = process.argv.slice(2);
try {
  const { loadPyodide } = await import("pyodide");
  const pyodide = await loadPyodide();
  pyodide.FS.mkdirTree("/bundle");
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: folder }, "/bundle");
  const answer = pyodide.runPython(`
import compileall, importlib.util, json, os, py_compile, sys

failed = []
for parent, _, names in os.walk("/bundle"):
    for name in sorted(names):
        path = os.path.join(parent, name)
        # Checked hash: the interpreter compares the source's hash, not its modification time
        # (whatever the deployment package's zip carries), so a .pyc is never used for a source it
        # was not made from.
        if name.endswith(".py") and not compileall.compile_file(
            path, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        ):
            failed.append(os.path.relpath(path, "/bundle"))
json.dumps({
    "cache_tag": sys.implementation.cache_tag,
    "magic": importlib.util.MAGIC_NUMBER.hex(),
    "failed": failed,
})
`);
  process.stdout.write(`${answer}\n`);
} catch (error) {
  // Pyodide's file system errors carry an errno and no message (a folder that does not exist: 44).
  const reason = error.message ? error.message.split("\n")[0] : `file system errno ${error.errno} on ${folder}`;
  process.stderr.write(`${error.code ?? error.name}: ${reason}\n`);
  process.exit(1);
}
