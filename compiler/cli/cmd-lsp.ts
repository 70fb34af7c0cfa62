// lily lsp --stdio: the language server for editors (diagnostics, hover with shapes, definitions).
import type { Command } from 'commander';
import type { Action, Io, Wrapped } from './main.ts';

export function registerLsp(program: Command, _io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('lsp')
    .description('run the language server over stdio (for editors: diagnostics, shapes on hover, go-to-definition)')
    .option('--stdio', 'talk LSP over stdin/stdout (the default and only transport)')
    .action(
      wrap(async () => {
        const { startServer } = await import('../lsp/server.ts');
        startServer();
        // The server runs until the editor sends `exit` (vscode-languageserver then ends the process).
        await new Promise(() => {});
        return 0;
      }),
    );
}
