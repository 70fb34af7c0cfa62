// End to end, in Debian's Chromium (playwright-core drives /usr/bin/chromium): the built playground
// served by a plain file server loads with no console errors, shows a shape error on its line,
// explains the Lily fold, verifies Lily, and trains 50 steps on WebGPU (SwiftShader) and WebGL2 with
// the loss falling and the WebGPU run equal to the CPU reference. Writes a screenshot of the trained
// state to playground/e2e-artifacts/. Skipped, saying why, where Chromium is not installed.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { strFromU8, unzipSync } from 'fflate';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, createServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic } from './static-server.ts';

const CHROMIUM = process.env.LILY_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu'];
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const ARTIFACTS = here('../e2e-artifacts');
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium)(`the playground in Chromium${haveChromium ? '' : ` (skipped: no Chromium at ${CHROMIUM}; apt-get install -y chromium)`}`, () => {
  let site: string;
  let server: Awaited<ReturnType<typeof serveStatic>>;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    site = mkdtempSync(join(tmpdir(), 'lily-playground-'));
    await build({ configFile: here('../vite.config.ts'), logLevel: 'error', build: { outDir: site, emptyOutDir: true } });
    server = await serveStatic(site);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    await page.goto(server.url);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (site) rmSync(site, { recursive: true, force: true });
  });

  const tab = (name: string) => page.click(`#tabs button[data-tab=${name}]`);
  const attached = (selector: string, timeout = 60_000) => page.waitForSelector(selector, { state: 'attached', timeout });

  it('loads, checks the default program and explains it with no console errors', async () => {
    await attached('#check-status.ok');
    await attached('#explain-out[data-state=done]');
    await attached('#backend-info[data-state=probed]');
    expect(errors).toEqual([]);
  }, 120_000);

  it('explain shows the Lily expert-sum fold, its source line highlighted', async () => {
    await tab('explain');
    const fold = page.locator('#explain-out li.fold').first();
    await expect(fold.textContent()).resolves.toMatch(/folded expert sum over B\[E, r, /);
    const line = Number(await fold.getAttribute('data-line'));
    expect((await page.locator('.cm-line').nth(line - 1).textContent())?.trim()).toMatch(/^scale \* sum\[e\]\(p\[e\] \* \(h @ B\[e\]\)\)/);
    expect(await page.locator('.cm-line').nth(line - 1).getAttribute('class')).toContain('cm-lily-line');
    expect(await page.locator('#explain-out').textContent()).toMatch(/forward.*GFLOP/);
    // the inferred shape of the expression under the pointer
    const at = await page.locator('.cm-content').evaluate((root) => {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const i = n.textContent!.indexOf('(h @ R)');
        if (i < 0) continue;
        const range = document.createRange();
        range.setStart(n, i + 3);
        range.setEnd(n, i + 4);
        const r = range.getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      }
      return null;
    });
    expect(at).not.toBeNull();
    await page.mouse.move(at!.x, at!.y);
    await attached('.type-tooltip');
    expect(await page.textContent('.type-tooltip')).toBe('h @ R : [N, E]');
    await page.mouse.move(0, 0);
    await tab('params');
    expect(await page.locator('#params-out').textContent()).toMatch(/trainable/);
    await tab('merge');
    expect(await page.locator('#merge-out').textContent()).toMatch(/not mergeable/);
  }, 60_000);

  it('verify passes on Lily (in a worker, with progress)', async () => {
    await tab('verify');
    await page.fill('#verify-runs', '10');
    await page.click('#verify-run');
    await attached('#verify-out[data-state=passed], #verify-out[data-state=failed]', 120_000);
    expect(await page.locator('#verify-out').textContent()).toContain('10 random cases pass');
    // a deliberately unsound fold on the per-token router is caught, with the differing entry
    await page.selectOption('#unit', 'LilyToken');
    await page.selectOption('#verify-fault', 'unsound-expert-fold');
    await page.click('#verify-run');
    await attached('#verify-out[data-state=passed], #verify-out[data-state=failed]', 120_000);
    expect(await page.locator('#verify-out').getAttribute('data-state')).toBe('failed');
    expect(await page.textContent('#verify-out pre.counterexample')).toMatch(/^y\[\d+, \d+\]: got .*, expected /);
    await page.selectOption('#verify-fault', '');
    await page.selectOption('#unit', 'Lily');
  }, 150_000);

  it('a shape error shows its diagnostic on the right line, the message on hover', async () => {
    const program = ['adapter Bad(r: Dim = 4) on Linear[In, Out] {', '  param A: [In, r] = zeros', '  delta(x: [N, In]) -> [N, Out] =', '    A @ x', '}', ''].join('\n');
    await page.click('.cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(program);
    await attached('.cm-lintRange-error');
    const lines = page.locator('.cm-line');
    const bad = await lines.evaluateAll((els) => els.findIndex((el) => el.querySelector('.cm-lintRange-error')));
    expect(bad + 1).toBe(4);
    expect(await page.textContent('#check-status')).toBe('1 error (line 4)');
    await page.locator('.cm-lintRange-error').hover();
    await attached('.cm-tooltip-lint');
    expect(await page.textContent('.cm-tooltip-lint')).toContain("4:7: inner dimensions of '@' differ");
    // back to the stdlib program for training
    await page.selectOption('#example', 'stdlib/adapters/dora.lily');
    await page.selectOption('#example', 'stdlib/adapters/lily.lily');
    await attached('#check-status.ok');
  }, 60_000);

  /** `interrupt` runs while training (e.g. stop and resume). */
  async function train(backend: 'webgpu' | 'webgl2', interrupt?: () => Promise<void>) {
    await tab('train');
    await page.selectOption('#backend', backend);
    await page.fill('#steps', '50');
    await page.click('#train-start');
    await interrupt?.();
    await attached('#train-status[data-state=done], #train-status[data-state=error]', 240_000);
    const s = await page.locator('#train-status').evaluate((el): Record<string, string | undefined> => ({ ...(el as HTMLElement).dataset, text: el.textContent ?? '' }));
    expect(s.state, s.text ?? '').toBe('done');
    expect(s.backend).toBe(`gpujs-${backend}`);
    expect(Number(s.steps)).toBe(50);
    expect(Number(s.lastLoss)).toBeLessThan(0.5 * Number(s.firstLoss));
    return s;
  }

  async function compareWithCpu() {
    await page.click('#train-compare');
    await attached('#compare-out[data-state=equal], #compare-out[data-state=different], #compare-out[data-state=error]', 240_000);
    return page.locator('#compare-out').evaluate((el): Record<string, string | undefined> => ({ ...(el as HTMLElement).dataset, text: el.textContent ?? '' }));
  }

  it('trains 50 steps on WebGL2, stopped and resumed on the way; the loss falls', async () => {
    await train('webgl2', async () => {
      await page.waitForFunction(() => Number(document.getElementById('train-status')!.dataset.steps) >= 5, undefined, { timeout: 120_000 });
      await page.click('#train-stop');
      await attached('#train-status[data-state=stopped]', 60_000);
      const at = Number(await page.locator('#train-status').getAttribute('data-steps'));
      expect(at).toBeGreaterThanOrEqual(5);
      expect(at).toBeLessThan(50);
      await page.click('#train-resume');
    });
  }, 300_000);

  it('trains 50 steps on WebGPU; the loss falls and equals the CPU reference; screenshot', async () => {
    await train('webgpu');
    const c = await compareWithCpu();
    expect(c.state, c.text ?? '').toBe('equal');
    expect(Number(c.lossRelErr)).toBeLessThan(1e-3);
    expect(Number(c.paramRelErr)).toBeLessThan(1e-3);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'trained.png') });
    expect(existsSync(join(ARTIFACTS, 'trained.png'))).toBe(true);
    expect(errors).toEqual([]);
  }, 480_000);

  it('downloads the trained adapter as a PEFT folder (zip) and loads it back', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#peft-download')]);
    const zipPath = join(ARTIFACTS, 'lily-adapter.zip');
    await download.saveAs(zipPath);
    const files = unzipSync(new Uint8Array(readFileSync(zipPath)));
    expect(Object.keys(files).filter((k) => !k.endsWith('/')).sort()).toEqual(['lily-adapter/adapter_config.json', 'lily-adapter/adapter_model.safetensors']);
    const config = JSON.parse(strFromU8(files['lily-adapter/adapter_config.json']));
    expect(config.peft_type).toBe('LILY');
    expect(config.r).toBe(4);
    const header = JSON.parse(strFromU8(files['lily-adapter/adapter_model.safetensors'].subarray(8, 8 + Number(new DataView(files['lily-adapter/adapter_model.safetensors'].buffer).getBigUint64(0, true)))));
    expect(Object.keys(header).filter((k) => k !== '__metadata__').sort()).toEqual(['base_model.model.base.lily_A.weight', 'base_model.model.base.lily_B.weight', 'base_model.model.base.lily_router.weight']);
    // load it back: a fresh run from the loaded adapter starts where training ended, not at the frozen layer's loss
    await page.setInputFiles('#peft-load', zipPath);
    await attached('#peft-out[data-state=loaded]');
    const before = await page.locator('#train-status').getAttribute('data-first-loss');
    await page.fill('#steps', '3');
    await page.click('#train-start');
    await attached('#train-status[data-state=done][data-steps="3"], #train-status[data-state=error]', 120_000);
    const first = Number(await page.locator('#train-status').getAttribute('data-first-loss'));
    expect(first).toBeLessThan(0.5 * Number(before));
    expect(errors).toEqual([]);
  }, 180_000);

  it('trains the Fashion-MNIST model on the embedded subset (fetched and decoded in the page); test accuracy rises', async () => {
    await page.click('#peft-forget');
    await page.selectOption('#example', 'examples/fashion.lily');
    await attached('#check-status.ok');
    await page.selectOption('#unit', 'Base');
    expect(await page.inputValue('#data')).toBe('fashion-mnist');
    await page.selectOption('#backend', 'webasm');
    await page.fill('#steps', '40');
    await page.click('#train-start');
    await attached('#train-status[data-state=done], #train-status[data-state=error]', 240_000);
    const text = (await page.textContent('#train-status')) ?? '';
    expect(await page.locator('#train-status').getAttribute('data-state'), text).toBe('done');
    expect(text).toContain('test accuracy before training: 10.9%');
    expect(Number(await page.locator('#train-status').getAttribute('data-accuracy'))).toBeGreaterThan(0.5);
    expect(errors).toEqual([]);
  }, 300_000);
});

describe.skipIf(!haveChromium)(`npm run playground (the dev server) in Chromium${haveChromium ? '' : ' (skipped: no Chromium)'}`, () => {
  it('serves a page that checks, explains and probes its backends without errors', async () => {
    const server = await createServer({ configFile: here('../vite.config.ts'), logLevel: 'error', server: { host: '127.0.0.1', port: 0 } });
    await server.listen();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      await page.goto(server.resolvedUrls!.local[0]);
      await page.waitForSelector('#explain-out[data-state=done]', { state: 'attached', timeout: 120_000 });
      await page.waitForSelector('#backend-info[data-state=probed]', { state: 'attached', timeout: 60_000 });
      expect(await page.locator('#explain-out li.fold').count()).toBeGreaterThan(0);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 180_000);
});
