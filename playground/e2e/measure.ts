// Measure training in the page: builds the playground, serves it, drives Debian's Chromium and
// prints steps/s, the loss and (images) test accuracy per backend, as JSON lines. Optionally writes a
// screenshot of the trained state.
//   npx tsx playground/e2e/measure.ts [--data teacher|fashion-mnist] [--backends webgpu,webgl2,webasm] [--steps 100] [--screenshot FILE]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { serveStatic } from './static-server.ts';

const { values: o } = parseArgs({ options: { data: { type: 'string', default: 'teacher' }, backends: { type: 'string', default: 'webgpu,webgl2,webasm' }, steps: { type: 'string', default: '100' }, screenshot: { type: 'string' } } });
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu'];

async function main() {
  const site = mkdtempSync(join(tmpdir(), 'lily-playground-'));
  await build({ configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)), logLevel: 'error', build: { outDir: site, emptyOutDir: true } });
  const server = await serveStatic(site);
  const browser = await chromium.launch({ executablePath: process.env.LILY_CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    await page.goto(`${server.url}?tab=train`);
    await page.waitForSelector('#backend-info[data-state=probed]', { state: 'attached', timeout: 60_000 });
    if (o.data === 'fashion-mnist') {
      await page.selectOption('#example', 'examples/fashion.lily');
      await page.waitForSelector('#check-status.ok', { state: 'attached' });
      await page.selectOption('#unit', 'Base');
    }
    for (const backend of o.backends!.split(',')) {
      await page.selectOption('#backend', backend);
      await page.fill('#steps', o.steps!);
      await page.click('#train-start');
      await page.waitForSelector('#train-status[data-state=done], #train-status[data-state=error]', { state: 'attached', timeout: 3_600_000 });
      const s = await page.locator('#train-status').evaluate((el): Record<string, string | undefined> => ({ ...(el as HTMLElement).dataset }));
      console.log(JSON.stringify({ backend, data: o.data, device: await page.textContent('#backend-info'), ...s }));
    }
    if (o.screenshot) await page.screenshot({ path: o.screenshot });
  } finally {
    await browser.close();
    await server.close();
    rmSync(site, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
