// Starts sutazai-lsp over stdio for agent.yaml, smoke*.yaml and sutazai.toml files.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const command = vscode.workspace.getConfiguration("sutazai").get<string>("lsp.path", "sutazai-lsp");
  const serverOptions: ServerOptions = {
    run: { command, transport: TransportKind.stdio },
    debug: { command, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", pattern: "**/agents/*/agent.yaml" },
      { scheme: "file", pattern: "**/agents/*/smoke*.yaml" },
      { scheme: "file", pattern: "**/sutazai.toml" },
    ],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/agents/*/{agent.yaml,tools.py,*.md}") },
  };
  client = new LanguageClient("sutazai", "SutazAI agents", serverOptions, clientOptions);
  await client.start();
  context.subscriptions.push({ dispose: () => void client?.stop() });
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
