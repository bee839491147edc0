// The search for sutazai-lsp, against real folders and a real interpreter (SUTAZAI_TEST_PYTHON).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expand, fromInterpreter, inVirtualEnvs, locate } from "../src/locate";

function tree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sutazai-locate-"));
  const bin = path.join(root, "project", ".venv", "bin");
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(path.join(root, "project", "agents", "a"), { recursive: true });
  fs.writeFileSync(path.join(bin, "sutazai-lsp"), "#!/bin/sh\n", { mode: 0o755 });
  return root;
}

test("settings expand ${workspaceFolder}, ~ and relative paths", () => {
  assert.equal(expand("${workspaceFolder}/x/sutazai-lsp", "/w"), "/w/x/sutazai-lsp");
  assert.equal(expand("~/bin/sutazai-lsp", "/w"), path.join(os.homedir(), "bin", "sutazai-lsp"));
  assert.equal(expand(".venv/bin/sutazai-lsp", "/w"), "/w/.venv/bin/sutazai-lsp");
  assert.equal(expand("sutazai-lsp", "/w"), "sutazai-lsp"); // a bare name is looked up on PATH
});

test("a .venv in the folder or any parent is found", () => {
  const root = tree();
  const expected = path.join(root, "project", ".venv", "bin", "sutazai-lsp");
  assert.equal(inVirtualEnvs([path.join(root, "project")]), expected);
  assert.equal(inVirtualEnvs([path.join(root, "project", "agents", "a")]), expected);
  assert.equal(inVirtualEnvs([root]), undefined);
});

test("a set path that is not there is reported, not silently replaced", async () => {
  const root = tree();
  const result = await locate("${workspaceFolder}/nope", [path.join(root, "project")], async () => undefined);
  assert.ok("missing" in result && result.missing.includes("not an executable file"));
});

test("the selected interpreter is used when it can import the server", async () => {
  const python = process.env.SUTAZAI_TEST_PYTHON;
  assert.ok(python, "SUTAZAI_TEST_PYTHON names the workbench's interpreter");
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "sutazai-python-"));
  const lonely = path.join(copy, "python3"); // nothing beside it: must go through `-m sutazai.lsp`
  fs.writeFileSync(lonely, `#!/bin/sh\nexec "${python}" "$@"\n`, { mode: 0o755 });
  const found = await fromInterpreter(lonely);
  assert.deepEqual(found?.args, ["-m", "sutazai.lsp"]);
  assert.equal((await fromInterpreter(python))?.command, path.join(path.dirname(python), "sutazai-lsp"));
  assert.equal(await fromInterpreter("/usr/bin/false"), undefined);
});
