// Starts sutazai-lsp for SutazAI workspaces: finds the server without help, says once and clearly
// when it cannot, and restarts it on demand or when its settings change. Contributes the agent
// debugger: `sutazai dap` (found beside the server) for debug type `sutazai`.
import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";
import { locate } from "./locate";

const SECTION = "sutazai";
let client: LanguageClient | undefined;
let output: vscode.OutputChannel;

function folders(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === "file").map((f) => f.uri.fsPath);
}

/** The interpreter the Python extension has selected for the first folder, if it is installed. */
async function selectedInterpreter(): Promise<string | undefined> {
  const python = vscode.extensions.getExtension("ms-python.python");
  if (!python) {
    return undefined;
  }
  try {
    const api = python.isActive ? python.exports : await python.activate();
    const folder = vscode.workspace.workspaceFolders?.[0];
    const env = await api?.environments?.getActiveEnvironmentPath?.(folder?.uri);
    return typeof env?.path === "string" ? env.path : undefined;
  } catch {
    return undefined;
  }
}

/** One message with the two ways out. Not awaited: activation (and the restart command, which
 * waits for it) must not hang on a notification nobody has clicked yet. */
function offerHelp(message: string): void {
  void vscode.window.showErrorMessage(message, "Set path", "Show log").then(async (choice) => {
    if (choice === "Set path") {
      await vscode.commands.executeCommand("workbench.action.openSettings", `${SECTION}.lsp.path`);
    } else if (choice === "Show log") {
      output.show();
    }
  });
}

async function start(): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const located = await locate(config.get<string>("lsp.path", ""), folders(), selectedInterpreter);
  if ("missing" in located) {
    output.appendLine(located.missing);
    offerHelp(`SutazAI: ${located.missing} Install it (pip install sutazai-workbench) or set its path.`);
    return;
  }
  const { command, args, source } = located.found;
  const logLevel = config.get<string>("lsp.trace", "warning");
  output.appendLine(`Starting ${command} ${args.join(" ")} (found in ${source}), log level ${logLevel}`);
  const serverArgs = [...args, "--log-level", logLevel, `--clientProcessId=${process.pid}`];
  const serverOptions: ServerOptions = {
    run: { command, args: serverArgs, transport: TransportKind.stdio },
    debug: { command, args: serverArgs, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", pattern: "**/agents/*/agent.yaml" },
      { scheme: "file", pattern: "**/agents/*/smoke*.yaml" },
      { scheme: "file", pattern: "**/sutazai.toml" },
    ],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/agents/*/{agent.yaml,tools.py,*.md}") },
    outputChannel: output,
  };
  client = new LanguageClient("sutazai", "SutazAI agents", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    offerHelp(`SutazAI: ${command} did not start (${String(error)}).`);
  }
}

/** `sutazai dap` from the same place as the server: the `sutazai` script beside `sutazai-lsp`,
 * or the same interpreter when the server runs as `python -m sutazai.lsp`. */
async function debugAdapter(): Promise<vscode.DebugAdapterExecutable | undefined> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const located = await locate(config.get<string>("lsp.path", ""), folders(), selectedInterpreter);
  if ("missing" in located) {
    offerHelp(`SutazAI: cannot debug agents: ${located.missing}`);
    return undefined;
  }
  const { command, args } = located.found;
  const cwd = folders()[0];
  if (args.length === 0) {
    const script = path.join(path.dirname(command), process.platform === "win32" ? "sutazai.exe" : "sutazai");
    return new vscode.DebugAdapterExecutable(script, ["dap"], { cwd });
  }
  const entry = "from sutazai.workbench.cli.main import run; run()";
  return new vscode.DebugAdapterExecutable(command, ["-c", entry, "dap"], { cwd });
}

/** The code lenses' "Debug agent" / "Debug smoke case": a launch without a launch.json. */
async function debugAgent(target: { agent?: string; case?: string; input?: string } = {}): Promise<void> {
  const agent = target.agent ?? (await vscode.window.showInputBox({ prompt: "Agent to debug" }));
  if (!agent) {
    return;
  }
  let input = target.input;
  if (target.case === undefined && input === undefined) {
    input = await vscode.window.showInputBox({ prompt: `Input for ${agent}`, value: "Hello" });
    if (input === undefined) {
      return;
    }
  }
  const name = target.case ? `Debug ${agent} / ${target.case}` : `Debug ${agent}`;
  const config: vscode.DebugConfiguration = { type: "sutazai", request: "launch", name, agent };
  if (target.case !== undefined) {
    config.case = target.case;
  } else {
    config.input = input;
  }
  await vscode.debug.startDebugging(vscode.workspace.workspaceFolders?.[0], config);
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running?.isRunning()) {
    await running.stop();
  }
  await running?.dispose();
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("SutazAI agents");
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("sutazai.restartServer", restart),
    vscode.commands.registerCommand("sutazai.showLog", () => output.show()),
    vscode.commands.registerCommand("sutazai.debugAgent", debugAgent),
    vscode.debug.registerDebugAdapterDescriptorFactory("sutazai", { createDebugAdapterDescriptor: debugAdapter }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SECTION}.lsp`)) {
        void restart();
      }
    }),
    { dispose: () => void stop() },
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}
