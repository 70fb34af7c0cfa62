// The VS Code side: start `lily lsp --stdio` (the command from the `lily.command` setting) as the
// language server for .lily files. Highlighting comes from syntaxes/lily.tmLanguage.json.
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration('lily').get('command') || 'lily';
  const server = { command, args: ['lsp', '--stdio'], options: { shell: process.platform === 'win32' } };
  client = new LanguageClient('lily', 'Lily', { run: server, debug: server }, { documentSelector: [{ language: 'lily' }] });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client?.stop();
}

module.exports = { activate, deactivate };
