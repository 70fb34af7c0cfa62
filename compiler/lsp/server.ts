// The Lily language server (Node, stdio): the checker's diagnostics as you type, the inferred
// shape of the expression under the cursor on hover, and go-to-definition. `lily lsp --stdio`
// starts it; editors/vscode/ is a VS Code extension that does.
import { createConnection, DiagnosticSeverity, ProposedFeatures, TextDocuments, TextDocumentSyncKind } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { fileURLToPath } from 'node:url';
import type { Diagnostic as LilyDiagnostic } from '../diagnostics.ts';
import { analyse, definitionAt, hoverAt, type Analysis } from './analysis.ts';

const fileOf = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);

export function startServer(): void {
  const connection = createConnection(ProposedFeatures.all);
  const documents = new TextDocuments(TextDocument);
  const analyses = new Map<string, Analysis>();

  const analysisOf = (doc: TextDocument): Analysis => {
    let a = analyses.get(doc.uri);
    if (!a || a.source !== doc.getText()) {
      a = analyse(doc.getText(), fileOf(doc.uri));
      analyses.set(doc.uri, a);
    }
    return a;
  };

  const toLsp = (doc: TextDocument, d: LilyDiagnostic) => {
    const start = d.span ? doc.positionAt(d.span.start) : { line: 0, character: 0 };
    const end = d.span ? doc.positionAt(Math.max(d.span.end, d.span.start + 1)) : { line: 0, character: 0 };
    const extra = [d.expected !== undefined && `expected: ${d.expected}`, d.found !== undefined && `found:    ${d.found}`, ...(d.notes ?? []).map((n) => `note: ${n}`)].filter(Boolean);
    return { range: { start, end }, severity: DiagnosticSeverity.Error, code: d.code, source: 'lily', message: [d.message, ...extra].join('\n') };
  };

  connection.onInitialize(() => ({
    capabilities: { textDocumentSync: TextDocumentSyncKind.Full, hoverProvider: true, definitionProvider: true },
    serverInfo: { name: 'lily' },
  }));

  documents.onDidChangeContent(({ document }) => {
    const a = analysisOf(document);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: a.diagnostics.map((d) => toLsp(document, d)) });
  });
  documents.onDidClose(({ document }) => {
    analyses.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  connection.onHover(({ textDocument, position }) => {
    const doc = documents.get(textDocument.uri);
    if (!doc) return null;
    const h = hoverAt(analysisOf(doc), doc.offsetAt(position));
    return h ? { contents: { kind: 'markdown', value: `\`\`\`lily\n${h.text}\n\`\`\`` }, range: { start: doc.positionAt(h.span.start), end: doc.positionAt(h.span.end) } } : null;
  });

  connection.onDefinition(({ textDocument, position }) => {
    const doc = documents.get(textDocument.uri);
    if (!doc) return null;
    const d = definitionAt(analysisOf(doc), doc.offsetAt(position));
    return d ? { uri: doc.uri, range: { start: doc.positionAt(d.start), end: doc.positionAt(d.end) } } : null;
  });

  documents.listen(connection);
  connection.listen();
}
