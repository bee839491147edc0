// Finds the command that starts sutazai-lsp, the way a user would look for it: the path they set,
// then the workspace's .venv (or a parent's), then the Python extension's interpreter, then PATH.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFile } from "child_process";

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where it was found, said in the output channel so a user knows which server runs. */
  source: string;
}

export type Located = { found: ServerCommand } | { missing: string };

const WINDOWS = process.platform === "win32";
const SCRIPT = WINDOWS ? "sutazai-lsp.exe" : "sutazai-lsp";
const BIN = WINDOWS ? "Scripts" : "bin";
const VENVS = [".venv", "venv", "env"];

/** `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`, then relative to the folder. */
export function expand(setting: string, folder: string | undefined): string {
  let value = setting.trim()
    .replace(/\$\{workspaceFolder\}/g, folder ?? "")
    .replace(/\$\{userHome\}/g, os.homedir())
    .replace(/\$\{env:([^}]+)\}/g, (_, name: string) => process.env[name] ?? "");
  if (value === "~" || value.startsWith("~/")) {
    value = path.join(os.homedir(), value.slice(1));
  }
  return folder && !path.isAbsolute(value) && value.includes(path.sep) ? path.resolve(folder, value) : value;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `.venv/bin/sutazai-lsp` in each folder and every parent up to the file system's root. */
export function inVirtualEnvs(folders: string[]): string | undefined {
  for (const start of folders) {
    for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
      for (const venv of VENVS) {
        const candidate = path.join(dir, venv, BIN, SCRIPT);
        if (isExecutable(candidate)) {
          return candidate;
        }
      }
      if (path.dirname(dir) === dir) {
        break;
      }
    }
  }
  return undefined;
}

/** The first executable `name` on PATH (the extension host's, which is the login shell's). */
export function onPath(name: string = SCRIPT): string | undefined {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  dirs.push(path.join(os.homedir(), ".local", "bin")); // pipx and `pip install --user`
  return dirs.map((dir) => path.join(dir, name)).find(isExecutable);
}

/** A Python interpreter that can import the server, as `python -m sutazai.lsp`. */
export function fromInterpreter(python: string): Promise<ServerCommand | undefined> {
  const beside = path.join(path.dirname(python), SCRIPT);
  if (isExecutable(beside)) {
    return Promise.resolve({ command: beside, args: [], source: `beside the selected interpreter ${python}` });
  }
  return new Promise((resolve) => {
    execFile(python, ["-c", "import sutazai.lsp.server"], { timeout: 15000 }, (error) =>
      resolve(
        error ? undefined : { command: python, args: ["-m", "sutazai.lsp"], source: `the selected interpreter ${python}` },
      ),
    );
  });
}

export async function locate(
  setting: string,
  folders: string[],
  interpreter: () => Promise<string | undefined>,
): Promise<Located> {
  if (setting.trim()) {
    const command = expand(setting, folders[0]);
    const resolved = path.isAbsolute(command) ? command : onPath(command);
    if (resolved && isExecutable(resolved)) {
      return { found: { command: resolved, args: [], source: "the sutazai.lsp.path setting" } };
    }
    return { missing: `The sutazai.lsp.path setting names "${setting}" (${command}), which is not an executable file.` };
  }
  const venv = inVirtualEnvs(folders);
  if (venv) {
    return { found: { command: venv, args: [], source: "the workspace's virtual environment" } };
  }
  const python = await interpreter();
  const viaPython = python ? await fromInterpreter(python) : undefined;
  if (viaPython) {
    return { found: viaPython };
  }
  const global = onPath();
  if (global) {
    return { found: { command: global, args: [], source: "PATH" } };
  }
  return {
    missing:
      "sutazai-lsp was not found: no .venv in this folder or its parents has it, the selected Python " +
      "interpreter cannot import it, and it is not on PATH.",
  };
}
