// The editor: CodeMirror 6 with Lily highlighting, the checker's diagnostics as you type
// (underlined at their span, the message on hover) and the inferred type of the expression under
// the pointer.
import { defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { linter, lintGutter, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { EditorState, StateEffect, StateField, type Range } from '@codemirror/state';
import { Decoration, type DecorationSet, EditorView, hoverTooltip } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import { analyze, typeAt, type Analysis } from './analysis.ts';
import { lilyLanguage } from './lily-language.ts';

export interface LilyEditor {
  view: EditorView;
  setSource(text: string): void;
  source(): string;
  /** The latest analysis (updated by the linter, debounced while typing). */
  latest(): Analysis;
  /** Highlight these 1-based lines (the rewrites explain found); `focus` scrolls to one and selects it. */
  highlightLines(lines: number[], focus?: number): void;
}

const setHighlights = StateEffect.define<number[]>();
const lineMark = Decoration.line({ class: 'cm-lily-line' });

/** Line highlights, cleared when the text changes (the lines may no longer be the ones meant). */
const highlights = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    for (const e of tr.effects)
      if (e.is(setHighlights)) {
        const marks: Range<Decoration>[] = [...new Set(e.value)].filter((l) => l >= 1 && l <= tr.state.doc.lines).sort((a, b) => a - b).map((l) => lineMark.range(tr.state.doc.line(l).from));
        return Decoration.set(marks);
      }
    return tr.docChanged ? Decoration.none : deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

export function createEditor(parent: HTMLElement, initial: string, onAnalysis: (a: Analysis) => void): LilyEditor {
  let latest = analyze(initial);
  const lint = linter(
    (view) => {
      latest = analyze(view.state.doc.toString());
      onAnalysis(latest);
      return latest.diagnostics.map(
        (d): CmDiagnostic => ({ from: d.from, to: d.to, severity: 'error', source: d.code, message: `${d.line}:${d.col}: ${d.message}` }),
      );
    },
    { delay: 250 },
  );
  const hover = hoverTooltip((view, pos) => {
    const program = latest.checked ?? latest.partial;
    if (!program || latest.diagnostics.length) return null; // spans are stale or partial while there are errors
    const t = typeAt(program, pos);
    if (!t) return null;
    return {
      pos: t.from,
      end: t.to,
      above: true,
      create: () => {
        const dom = document.createElement('div');
        dom.className = 'type-tooltip';
        dom.textContent = `${view.state.sliceDoc(t.from, Math.min(t.to, t.from + 40))}${t.to - t.from > 40 ? '…' : ''} : ${t.type}`;
        return { dom };
      },
    };
  });
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: initial,
      extensions: [basicSetup, highlights, lilyLanguage, syntaxHighlighting(defaultHighlightStyle), lintGutter(), lint, hover, EditorView.theme({ '&': { height: '100%' }, '.cm-scroller': { fontFamily: 'ui-monospace, monospace' } })],
    }),
  });
  // after the caller has finished setting up (it may be mid-initialisation now)
  queueMicrotask(() => onAnalysis(latest));
  return {
    view,
    setSource(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    source: () => view.state.doc.toString(),
    latest: () => latest,
    highlightLines(lines, focus) {
      const effects: StateEffect<unknown>[] = [setHighlights.of(lines)];
      if (focus !== undefined && focus >= 1 && focus <= view.state.doc.lines) {
        const line = view.state.doc.line(focus);
        effects.push(EditorView.scrollIntoView(line.from, { y: 'center' }));
        view.dispatch({ effects, selection: { anchor: line.from, head: line.to } });
        view.focus();
      } else view.dispatch({ effects });
    },
  };
}
