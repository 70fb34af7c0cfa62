// The playground page: wires the editor, the program menu and the compiler worker's panels; the
// Train tab is train-panel.ts.
import { FAULTS } from '../../compiler/rewrite/faults.ts';
import type { Analysis } from './analysis.ts';
import { parseDims } from './analysis.ts';
import type { ExplainReply, WorkerReply, WorkerRequest } from './compiler-protocol.ts';
import { $, h } from './dom.ts';
import { createEditor } from './editor.ts';
import { DEFAULT_EXAMPLE, EXAMPLES } from './examples.ts';
import { renderExplain, renderMerge, renderParams, renderVerify, renderVerifyProgress } from './panels.ts';
import { setupTrainPanel } from './train-panel.ts';

// ---- tabs ----
const tabs = Array.from(document.querySelectorAll<HTMLButtonElement>('#tabs button'));
function showTab(name: string) {
  for (const b of tabs) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of Array.from(document.querySelectorAll<HTMLElement>('.tab'))) s.hidden = s.id !== `tab-${name}`;
}
for (const b of tabs) b.addEventListener('click', () => showTab(b.dataset.tab!));

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

// ---- compiler workers (explain and verify apart, so a long verify never delays explain) ----
function compilerWorker(onReply: (m: WorkerReply) => void) {
  const w = new Worker(new URL('./compiler-worker.ts', import.meta.url), { type: 'module' });
  w.onmessage = (e: MessageEvent<WorkerReply>) => onReply(e.data);
  let next = 0;
  return { send: (req: DistributiveOmit<WorkerRequest, 'id'>) => (w.postMessage({ ...req, id: ++next }), next) };
}

// ---- editor and program menu ----
const exampleSelect = $<HTMLSelectElement>('example');
const unitSelect = $<HTMLSelectElement>('unit');
const checkStatus = $('check-status');
for (const e of EXAMPLES) exampleSelect.append(h('option', { value: e.path }, e.path));
exampleSelect.value = DEFAULT_EXAMPLE;

let analysis: Analysis | undefined;
const editor = createEditor($('editor'), EXAMPLES.find((e) => e.path === DEFAULT_EXAMPLE)!.source, onAnalysis);

function onAnalysis(a: Analysis) {
  analysis = a;
  const n = a.diagnostics.length;
  checkStatus.textContent = n ? `${n} error${n > 1 ? 's' : ''} (line ${a.diagnostics.map((d) => d.line).join(', ')})` : '✓ checked';
  checkStatus.className = n ? 'bad' : 'ok';
  if (n) return;
  const before = unitSelect.value;
  unitSelect.replaceChildren(...a.units.map((u) => h('option', { value: u.name }, `${u.name} (${u.kind})`)));
  if (a.units.some((u) => u.name === before)) unitSelect.value = before;
  else if (a.units.length) unitChanged();
  scheduleExplain();
}

exampleSelect.addEventListener('change', () => {
  editor.setSource(EXAMPLES.find((e) => e.path === exampleSelect.value)!.source);
});
unitSelect.addEventListener('change', unitChanged);

/** Sizes for a unit: the paper's shape for an adapter (its own hyper-parameters kept), a batch for a model. */
function unitChanged() {
  const unit = analysis?.partial?.units.get(unitSelect.value);
  if (!unit) return;
  const hypers = new Set(unit.decl.hypers.map((p) => p.name));
  const paper = Object.entries({ r: 16, E: 4 }).filter(([k]) => hypers.has(k)).map(([k, v]) => `${k}=${v}`);
  const isAdapter = unit.decl.kind === 'adapter';
  $<HTMLInputElement>('dims').value = isAdapter ? ['N=1024', 'In=768', 'Out=768', ...paper].join(',') : 'N=64';
  $<HTMLInputElement>('train-dims').value = isAdapter ? 'In=64,Out=64,r=4' : '';
  trainPanel.setData(isAdapter ? 'teacher' : 'fashion-mnist');
  scheduleExplain();
}

// ---- explain, parameters, merge ----
const explainOut = $('explain-out');
let explainId = 0;
let explainTimer: ReturnType<typeof setTimeout> | undefined;
const explainer = compilerWorker((m) => {
  if (m.id !== explainId) return; // a newer request is on its way
  if (m.kind === 'error') return explainOut.replaceChildren(h('pre', { class: 'error' }, m.message));
  if (m.kind !== 'explain') return;
  showExplanation(m.result);
});

function showExplanation(r: ExplainReply) {
  const source = editor.source();
  const lines = r.explanation.rewrites.map((w) => Number(/:(\d+):\d+$/.exec(w.location ?? '')?.[1])).filter(Number.isFinite);
  renderExplain(explainOut, r, source, (line) => editor.highlightLines(lines, line));
  renderParams($('params-out'), r);
  renderMerge($('merge-out'), r);
  editor.highlightLines(lines);
  explainOut.dataset.state = 'done';
}

function scheduleExplain() {
  clearTimeout(explainTimer);
  explainTimer = setTimeout(runExplain, 300);
}

function runExplain() {
  if (!analysis?.checked || !unitSelect.value) return;
  const dims = parseDims($<HTMLInputElement>('dims').value);
  if ('error' in dims) return explainOut.replaceChildren(h('p', { class: 'error' }, `sizes: ${dims.error}`));
  explainOut.dataset.state = 'running';
  explainOut.replaceChildren(h('p', {}, 'compiling…'));
  explainId = explainer.send({ kind: 'explain', source: editor.source(), unit: unitSelect.value, dims: dims.dims });
}
$('explain-run').addEventListener('click', runExplain);
$('dims').addEventListener('change', runExplain);

// ---- verify ----
const verifyOut = $('verify-out');
const faultSelect = $<HTMLSelectElement>('verify-fault');
for (const [name, f] of Object.entries(FAULTS)) faultSelect.append(h('option', { value: name, title: f.doc }, name));
let verifyId = 0;
const verifier = compilerWorker((m) => {
  if (m.id !== verifyId) return;
  if (m.kind === 'progress') return renderVerifyProgress(verifyOut, m.done, m.runs);
  $<HTMLButtonElement>('verify-run').disabled = false;
  if (m.kind === 'error') return verifyOut.replaceChildren(h('pre', { class: 'error' }, m.message));
  if (m.kind === 'verify') {
    renderVerify(verifyOut, m.result);
    verifyOut.dataset.state = m.result.ok ? 'passed' : 'failed';
  }
});
$('verify-run').addEventListener('click', () => {
  if (!analysis?.checked) return verifyOut.replaceChildren(h('p', { class: 'error' }, 'fix the errors in the program first'));
  $<HTMLButtonElement>('verify-run').disabled = true;
  verifyOut.dataset.state = 'running';
  renderVerifyProgress(verifyOut, 0, Number($<HTMLInputElement>('verify-runs').value));
  verifyId = verifier.send({ kind: 'verify', source: editor.source(), unit: unitSelect.value, runs: Number($<HTMLInputElement>('verify-runs').value), seed: Number($<HTMLInputElement>('verify-seed').value), fault: faultSelect.value || undefined });
});

// ---- training, and the adapter as a PEFT zip ----
const trainPanel = setupTrainPanel({ checked: () => analysis?.checked, unit: () => unitSelect.value, source: () => editor.source() });

// Start on the Train tab when asked (?tab=train), e.g. for a link to a training demo.
const tab = new URLSearchParams(location.search).get('tab');
if (tab) showTab(tab);
