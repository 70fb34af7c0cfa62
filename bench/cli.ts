// npm run bench:cli [-- --json] [-- --runs K]: start-up wall time of the `lily` command as a user
// has it — the packed package installed into an empty folder — side by side with bare Node and with
// the same command run from the TypeScript sources through tsx (what `lily` did before dist/ existed).
// Wall time from spawn to exit, median and minimum of K runs, interleaved so load drifts hit all alike.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchFlags, median } from './common.ts';

const flags = benchFlags();
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : flags.quick ? 5 : 15;
const root = new URL('../', import.meta.url).pathname;

if (!existsSync(`${root}dist/.build-stamp`)) {
  console.error('bench:cli measures the compiled package: run `npm run build` first');
  process.exit(1);
}

// Install the package as a user would (from the npm cache, else the registry).
const dir = mkdtempSync(join(tmpdir(), 'lily-bench-cli-'));
const quiet = { cwd: dir, stdio: 'ignore' as const };
const tgz = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir, root], { cwd: dir, encoding: 'utf8' }))[0].filename;
writeFileSync(join(dir, 'package.json'), '{"private": true}');
execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', join(dir, tgz)], quiet);
const installed = join(dir, 'node_modules/lily-lang/bin/lily.js');

const FILES = ['stdlib/adapters/lora.lily', 'stdlib/adapters/lily.lily'];
const cases: { name: string; args: string[]; cwd?: string; env?: Record<string, string> }[] = [
  { name: 'node -e 0 (Node start-up alone)', args: ['-e', '0'] },
  { name: 'lily --version', args: [installed, '--version'] },
  ...FILES.map((f) => ({ name: `lily check ${f}`, args: [installed, 'check', f] })),
  { name: `lily check ${FILES[1]} (sources through tsx)`, args: ['bin/lily.js', 'check', FILES[1]], env: { LILY_FROM_SOURCE: '1' } },
];

// CPU time (user + sys) too, from GNU time where it exists: unlike wall time it hardly moves when
// other processes load the machine.
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const times = cases.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
for (let i = 0; i < runs + 1; i++)
  cases.forEach((c, k) => {
    const [cmd, args] = gnuTime ? [gnuTime, ['-f', 'cpu %U %S', process.execPath, ...c.args]] : [process.execPath, c.args];
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { cwd: root, env: { ...process.env, ...c.env }, encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
    if (i === 0) return; // the first round warms the file cache
    times[k].wall.push(ms);
    const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
    if (m) times[k].cpu.push(1000 * (Number(m[1]) + Number(m[2])));
  });

const stat = (xs: number[]) => (xs.length ? { median: Math.round(median(xs)), min: Math.round(Math.min(...xs)) } : undefined);
const rows = cases.map((c, k) => ({ command: c.name, wallMs: stat(times[k].wall)!, cpuMs: stat(times[k].cpu) }));
const os = await import('node:os');
const env = { node: process.version, cpu: os.cpus()[0]?.model, cpus: os.cpus().length, loadAverage: os.loadavg()[0], runs, installedFrom: tgz };
if (flags.json) console.log(JSON.stringify({ env, rows }, null, 2));
else {
  console.log(`lily start-up over ${runs} runs (Node ${env.node}, ${env.cpus}× ${env.cpu}, load average ${env.loadAverage.toFixed(1)})`);
  console.log(`${'command'.padEnd(58)} ${'wall median'.padStart(11)} ${'min'.padStart(6)} ${'cpu median'.padStart(11)} ${'min'.padStart(6)}`);
  for (const r of rows) console.log(`${r.command.padEnd(58)} ${String(r.wallMs.median).padStart(11)} ${String(r.wallMs.min).padStart(6)} ${String(r.cpuMs?.median ?? '-').padStart(11)} ${String(r.cpuMs?.min ?? '-').padStart(6)}`);
}
