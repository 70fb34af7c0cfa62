// The analysis panels: explain (FLOPs before/after, each rewrite with its source line, the kernel
// plan), parameter count, merge verdict, verify (progress, and a counterexample's differing entry).
import type { VerifyResult } from '../../compiler/verify.ts';
import type { ExplainReply } from './compiler-protocol.ts';
import { gflop, h } from './dom.ts';

/** `showLine(line)` highlights a source line in the editor. */
export function renderExplain(el: HTMLElement, r: ExplainReply, source: string, showLine: (line: number) => void) {
  const e = r.explanation;
  const lines = source.split('\n');
  const flopsRow = (label: string, f: { naive: number; optimized: number }) =>
    h('tr', {}, h('th', {}, label), h('td', { class: 'num' }, gflop(f.naive)), h('td', { class: 'num' }, gflop(f.optimized)), h('td', { class: 'num' }, `${(f.naive / Math.max(1, f.optimized)).toFixed(2)}×`));
  const rewrites = e.rewrites.map((w) => {
    const line = Number(/:(\d+):\d+$/.exec(w.location ?? '')?.[1]);
    const src = Number.isFinite(line) ? lines[line - 1]?.trim() : undefined;
    const item = h(
      'li',
      { class: `rewrite${w.folds.some((f) => f.applied) ? ' fold' : ''}`, 'data-line': Number.isFinite(line) ? String(line) : undefined },
      h('div', {}, h('b', {}, w.rule), ` (${w.program})${w.applied ? '' : ' — not applied'} `, Number.isFinite(line) ? h('a', { href: '#', class: 'goto' }, `line ${line}`) : null),
      src ? h('code', { class: 'src' }, src) : null,
      h('div', { class: 'net' }, `${w.net} — order ${w.order}: ${gflop(w.flops.before)} → ${gflop(w.flops.after)}`),
      ...w.folds.map((f) => h('div', { class: f.applied ? 'folded' : 'refused' }, `${f.applied ? 'folded' : 'refused'} expert sum over ${f.bank}: ${f.reason}`)),
    );
    if (Number.isFinite(line)) item.querySelector('a')!.addEventListener('click', (ev) => (ev.preventDefault(), showLine(line)));
    return item;
  });
  const k = e.kernels;
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  el.replaceChildren(
    h('p', {}, `${e.adapter} at ${Object.entries(e.dims).map(([k, v]) => `${k}=${v}`).join(', ')}`),
    h('table', { class: 'flops' }, h('tr', {}, h('th', {}, ''), h('th', {}, 'naive'), h('th', {}, 'optimised'), h('th', {}, '')), flopsRow('forward', e.flops.forward), flopsRow('backward', e.flops.backward), e.flops.forward.rewritten.naive ? flopsRow('rewritten sums (fwd)', e.flops.forward.rewritten) : null),
    h('h3', {}, 'Rewrites'),
    rewrites.length ? h('ul', { class: 'rewrites' }, ...rewrites) : h('p', {}, 'none: the program as written is already the cheapest order'),
    h('h3', {}, `Kernel plan: ${k.count} fused kernels (naive program: ${k.naiveCount})`),
    h('p', {}, `bytes moved ${mb(k.bytesMoved)} (naive ${mb(k.naiveBytesMoved)}); temporaries ${mb(k.tempBytes)} after reuse (${mb(k.tempBytesWithoutReuse)} without)`),
    h('table', { class: 'kernels' }, h('tr', {}, h('th', {}, 'kernel'), h('th', {}, 'kind'), h('th', {}, 'output ← inputs'), h('th', {}, 'FLOPs')), ...k.list.map((x) => h('tr', {}, h('td', {}, x.name), h('td', {}, x.kind), h('td', {}, `${x.out} ← ${x.inputs.join(', ')}`), h('td', { class: 'num' }, x.flops.toLocaleString('en-US'))))),
  );
}

export function renderParams(el: HTMLElement, r: ExplainReply) {
  const p = r.params;
  el.replaceChildren(
    h('p', { class: 'big' }, `${p.trainable.toLocaleString('en-US')} trainable`, p.frozen ? `, ${p.frozen.toLocaleString('en-US')} frozen` : ''),
    h('table', {}, h('tr', {}, h('th', {}, 'parameter'), h('th', {}, 'shape'), h('th', {}, 'sharing'), h('th', {}, 'count')), ...p.params.map((q) => h('tr', { class: q.trainable ? '' : 'frozen' }, h('td', {}, q.name), h('td', {}, `[${q.shape.join(', ')}]`), h('td', {}, q.sharing), h('td', { class: 'num' }, q.total.toLocaleString('en-US'))))),
  );
}

export function renderMerge(el: HTMLElement, r: ExplainReply) {
  const e = r.explanation;
  el.replaceChildren(
    h('p', { class: `verdict ${e.mergeable ? 'ok' : 'no'}` }, e.mergeable ? 'mergeable into W0' : 'not mergeable'),
    h('p', {}, e.mergeReason),
    r.deltaW ? h('p', {}, `ΔW = f(I) − f(0) for random parameters: [${r.deltaW.shape.join(', ')}], ‖ΔW‖ = ${r.deltaW.norm.toPrecision(4)}`) : '',
  );
}

export function renderVerifyProgress(el: HTMLElement, done: number, runs: number) {
  el.replaceChildren(h('progress', { max: String(runs), value: String(done) }), h('span', {}, ` ${done}/${runs} random cases`));
}

export function renderVerify(el: HTMLElement, r: VerifyResult) {
  if (r.ok) {
    el.replaceChildren(h('p', { class: 'verdict ok' }, `✓ ${r.adapter}: ${r.runs} random cases pass`), h('p', {}, 'optimised forward = interpreter, optimised gradients = naive gradients, gradients = finite differences'));
    return;
  }
  const f = r.failure;
  el.replaceChildren(
    h('p', { class: 'verdict no' }, `✗ ${r.adapter}: the ${f?.property ?? '?'} property fails (after ${r.runs} case(s); seed ${r.seed})`),
    f ? h('p', {}, `counterexample (shrunk): ${Object.entries(f.dims).map(([k, v]) => `${k}=${v}`).join(', ')}; values seed ${f.valueSeed}`) : '',
    f ? h('pre', { class: 'counterexample' }, f.detail) : '',
  );
}
