// The Train tab: backends probed and chosen, a training run with its live chart, stop/resume, the
// CPU-reference check, and the trained adapter out as a PEFT zip (and one back in).
import type { CheckedProgram } from '../../compiler/check/check.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { parseDims } from './analysis.ts';
import { autoChoice, backend, isSoftware, LABELS, PAGE_BACKENDS, probeAll, type PageBackend, type Probed } from './backends.ts';
import { createChart } from './chart.ts';
import { $, h } from './dom.ts';
import { adapterZip, loadAdapterZip } from './peft-zip.ts';
import { TOLERANCE, TrainingRun } from './session.ts';
import type { DataName } from './tasks.ts';

/** What the tab needs from the page: the checked program (if it has no errors), the chosen unit, the text. */
export interface PageState {
  checked(): CheckedProgram | undefined;
  unit(): string;
  source(): string;
}

export function setupTrainPanel(page: PageState): { setData(d: DataName): void } {
  const backendSelect = $<HTMLSelectElement>('backend');
  const backendInfo = $('backend-info');
  const status = $('train-status');
  const compareOut = $('compare-out');
  const chart = createChart($<HTMLCanvasElement>('chart'));
  const buttons = { start: $<HTMLButtonElement>('train-start'), stop: $<HTMLButtonElement>('train-stop'), resume: $<HTMLButtonElement>('train-resume'), compare: $<HTMLButtonElement>('train-compare') };
  let probed: Probed[] = [];
  let run: TrainingRun | undefined;

  function setData(d: DataName) {
    $<HTMLSelectElement>('data').value = d;
    $<HTMLInputElement>('lr').value = d === 'teacher' ? '0.01' : '0.003';
  }

  const probing = probeAll().then((p) => {
    probed = p;
    const best = autoChoice(p);
    backendSelect.replaceChildren(
      h('option', { value: 'auto' }, `auto (${best ? LABELS[best] : 'none available'})`),
      ...PAGE_BACKENDS.map((name) => {
        const info = p.find((q) => q.name === name)!;
        return h('option', { value: name, disabled: info.ok ? undefined : '', title: info.reason }, `${LABELS[name]}${info.ok ? '' : ' — unavailable'}`);
      }),
    );
    const software = p.filter((q) => q.ok && isSoftware(q)).map((q) => LABELS[q.name]);
    backendInfo.textContent =
      p.map((q) => `${LABELS[q.name]}: ${q.ok ? (q.device ? `yes (${q.device})` : 'yes') : `no (${q.reason})`}`).join(' · ') +
      (software.length ? ` — ${software.join(' and ')} here ${software.length > 1 ? 'are' : 'is'} a software rasteriser: correct, but slower than WebAssembly, so auto takes it last` : '');
    backendInfo.dataset.state = 'probed';
  });

  function chosenBackend(): PageBackend | undefined {
    const v = backendSelect.value;
    return v === 'auto' ? autoChoice(probed) : (v as PageBackend);
  }

  function setRunning(running: boolean) {
    $<HTMLButtonElement>('peft-download').disabled = running || !run || !run.steps || page.checked()?.units.get(run.config.unit)?.decl.kind !== 'adapter';
    buttons.start.disabled = running;
    buttons.stop.disabled = !running;
    buttons.resume.disabled = running || !run || run.steps >= Number($<HTMLInputElement>('steps').value);
    buttons.compare.disabled = running || !run || !run.steps;
  }

  function report(extra = '') {
    if (!run) return;
    const hs = run.history;
    const last = hs.at(-1);
    const recent = hs.slice(-20);
    const stepsPerSec = recent.length ? (1000 * recent.length) / recent.reduce((a, r) => a + r.ms, 0) : 0;
    status.replaceChildren(
      h('div', {}, h('b', {}, `${LABELS[run.backendName.replace('gpujs-', '') as PageBackend] ?? run.backendName}`), ` · ${run.trainer.plan.kernels.length} kernels/step · step ${hs.length}`),
      h('div', {}, `loss ${hs[0]?.loss.toPrecision(4) ?? '-'} → ${last?.loss.toPrecision(4) ?? '-'} · ${stepsPerSec.toFixed(1)} steps/s · ${run.task.baseline.label}: ${fmtBaseline(run)}`),
      extra ? h('div', {}, extra) : '',
    );
    Object.assign(status.dataset, { backend: run.backendName, steps: String(hs.length), firstLoss: String(hs[0]?.loss ?? ''), lastLoss: String(last?.loss ?? ''), stepsPerSec: stepsPerSec.toFixed(2) });
  }

  const fmtBaseline = (r: TrainingRun) => (r.config.data === 'fashion-mnist' ? `${(100 * r.task.baseline.value).toFixed(1)}%` : r.task.baseline.value.toPrecision(4));

  async function train(resume: boolean) {
    const total = Number($<HTMLInputElement>('steps').value);
    setRunning(true);
    compareOut.replaceChildren();
    status.dataset.state = 'running';
    try {
      if (!resume) {
        await probing;
        const name = chosenBackend();
        if (!name) throw new Error('no backend runs in this browser');
        const checked = page.checked();
        if (!checked) throw new Error('fix the errors in the program first');
        const dims = parseDims($<HTMLInputElement>('train-dims').value);
        if ('error' in dims) throw new Error(`sizes: ${dims.error}`);
        run?.dispose();
        run = undefined;
        chart.reset($<HTMLSelectElement>('data').value === 'fashion-mnist');
        status.replaceChildren(h('p', {}, `compiling ${page.unit()} for ${LABELS[name]}…`));
        const given = loaded && loaded.unit === page.unit() ? loaded.given : undefined;
        run = await TrainingRun.create(checked, { given, unit: page.unit(), data: $<HTMLSelectElement>('data').value as DataName, dims: dims.dims, batch: Number($<HTMLInputElement>('batch').value), lr: Number($<HTMLInputElement>('lr').value), seed: Number($<HTMLInputElement>('seed').value) }, backend(name));
        if (run.task.accuracy && run.config.data === 'fashion-mnist') chart.addAccuracy(0, run.task.baseline.value);
      }
      const r = run!;
      const every = Math.max(1, Math.floor(total / 8));
      const evaluate = async (step: number) => {
        if (!r.task.accuracy) return '';
        const acc = await r.task.accuracy();
        chart.addAccuracy(step, acc);
        chart.draw();
        status.dataset.accuracy = String(acc);
        return `test accuracy ${(100 * acc).toFixed(1)}%`;
      };
      let extra = '';
      await r.run(total, async (s) => {
        chart.addLoss(s.step, s.loss);
        chart.draw();
        if (s.step % every === 0 && s.step < total) extra = await evaluate(s.step);
        if (s.step === 1 || s.step % 5 === 0) report(extra);
      });
      if (r.steps >= total || r.steps % every !== 0) extra = await evaluate(r.steps);
      report(r.steps < total ? `stopped at step ${r.steps}${extra ? `; ${extra}` : ''}` : extra);
      status.dataset.state = r.steps >= total ? 'done' : 'stopped';
    } catch (e) {
      status.replaceChildren(h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
      status.dataset.state = 'error';
    } finally {
      setRunning(false);
    }
  }

  buttons.start.addEventListener('click', () => train(false));
  buttons.resume.addEventListener('click', () => train(true));
  buttons.stop.addEventListener('click', () => run?.stop());
  buttons.compare.addEventListener('click', async () => {
    if (!run) return;
    setRunning(true);
    buttons.stop.disabled = true;
    compareOut.dataset.state = 'running';
    compareOut.replaceChildren(h('p', {}, `replaying ${run.steps} steps on the CPU reference…`));
    try {
      const c = await run.compareWithCpu();
      compareOut.replaceChildren(
        h('p', { class: `verdict ${c.ok ? 'ok' : 'no'}` }, `${c.ok ? '✓ equal' : '✗ different'} to the CPU (float64 reference) within ${TOLERANCE} after ${c.steps} steps`),
        h('p', {}, `largest relative difference: loss ${c.lossRelErr.toExponential(2)}, parameters ${c.paramRelErr.toExponential(2)}`),
      );
      Object.assign(compareOut.dataset, { state: c.ok ? 'equal' : 'different', lossRelErr: String(c.lossRelErr), paramRelErr: String(c.paramRelErr) });
    } catch (e) {
      compareOut.replaceChildren(h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
      compareOut.dataset.state = 'error';
    } finally {
      setRunning(false);
    }
  });

  // ---- the trained adapter as a PEFT folder (zip), and one loaded back ----
  const peftOut = $('peft-out');
  let loaded: { unit: string; given: Map<string, Tensor>; name: string } | undefined;

  $('peft-download').addEventListener('click', async () => {
    const checked = page.checked();
    if (!run || !checked) return;
    try {
      const params = await run.trainer.namedParameters();
      const leaves = run.trainer.program.leaves;
      const { zip, folder, kind } = await adapterZip(checked, page.source(), run.config.unit, { ...run.config.dims, N: run.config.batch }, (leaf) => {
        const v = params.get(leaf) ?? leaves.get(leaf);
        if (!v) throw new Error(`internal: no value for '${leaf}'`);
        return v;
      });
      const a = h('a', { href: URL.createObjectURL(new Blob([zip as BlobPart], { type: 'application/zip' })), download: `${folder}.zip` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      peftOut.textContent = `saved ${folder}.zip (${kind}, after ${run.steps} steps): ${folder}/adapter_model.safetensors + adapter_config.json`;
      peftOut.dataset.state = 'saved';
    } catch (e) {
      peftOut.replaceChildren(h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
      peftOut.dataset.state = 'error';
    }
  });

  $<HTMLInputElement>('peft-load').addEventListener('change', async (ev) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    try {
      const checked = page.checked();
      if (!checked) throw new Error('fix the errors in the program first');
      const dims = parseDims($<HTMLInputElement>('train-dims').value);
      if ('error' in dims) throw new Error(`sizes: ${dims.error}`);
      const unit = page.unit();
      const base = (leaf: string) => (run?.config.unit === unit ? run.trainer.program.leaves.get(leaf) : undefined);
      const r = loadAdapterZip(new Uint8Array(await file.arrayBuffer()), file.name, checked, unit, { ...dims.dims, N: Number($<HTMLInputElement>('batch').value) }, base);
      loaded = { unit, given: r.given, name: file.name };
      peftOut.textContent = `loaded ${file.name} (${r.kind}: ${r.given.size} tensors) onto ${unit}; the next Train starts from it`;
      peftOut.dataset.state = 'loaded';
      $('peft-forget').hidden = false;
    } catch (e) {
      peftOut.replaceChildren(h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
      peftOut.dataset.state = 'error';
    }
  });

  $('peft-forget').addEventListener('click', () => {
    loaded = undefined;
    $('peft-forget').hidden = true;
    peftOut.textContent = 'the next Train starts from fresh values';
    peftOut.dataset.state = 'fresh';
  });

  return { setData };
}
