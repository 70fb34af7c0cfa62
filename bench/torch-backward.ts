// Which backward should an exported module use: torch autograd over the compiled forward, or the
// compiler's own backward program in a torch.autograd.Function? Both exported modules (lily export
// --backward autograd|compiled) run side by side in one Python process at the paper's shape: one
// forward + backward of the adapted layer (frozen 768×768 base), medians, interleaved.
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE npx tsx bench/torch-backward.ts [--json] [--adapter Lily|LoRA|DoRA]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../compiler/ir/prims.ts';
import { exportAdapterToTorch } from '../compiler/codegen/torch-module.ts';
import { loadFile } from '../compiler/frontend.ts';
import { PYTHON } from '../runtime/torch/check.ts';
import { benchFlags } from './common.ts';

const flags = benchFlags();
const adapter = process.argv.includes('--adapter') ? process.argv[process.argv.indexOf('--adapter') + 1] : 'Lily';
const file = `stdlib/adapters/${adapter.toLowerCase()}.lily`;
const dims: Record<string, number> = { N: 1024, In: 768, Out: 768, r: 16, ...(adapter === 'Lily' ? { E: 4 } : {}) };
const dir = mkdtempSync(join(tmpdir(), 'lily-bench-'));
const modules = (['autograd', 'compiled'] as const).map((backward) => {
  const path = join(dir, `${backward}.py`);
  writeFileSync(path, exportAdapterToTorch(loadFile(file), adapter, { settings: dims, file, sha256: 'bench', backward }).code);
  return path;
});
const script = `
import importlib.util, json, statistics, sys, time, torch
torch.manual_seed(0)
torch.set_num_threads(2)
def load(p):
    s = importlib.util.spec_from_file_location(p, p); m = importlib.util.module_from_spec(s); s.loader.exec_module(m); return m
layers = []
for path in sys.argv[1:]:
    torch.manual_seed(0)
    layer = load(path).ADAPTERS[${JSON.stringify(adapter)}](torch.nn.Linear(${dims.In}, ${dims.Out}))
    with torch.no_grad():
        for p in layer.parameters():
            if p.requires_grad: p.normal_(0, 0.1)
    layers.append(layer)
x = torch.randn(${dims.N}, ${dims.In}, requires_grad=True)
dy = torch.randn(${dims.N}, ${dims.Out})
def step(layer):
    for p in [*layer.parameters(), x]: p.grad = None
    layer(x).backward(dy)
    return [p.grad for p in layer.parameters() if p.requires_grad] + [x.grad]
def median_ms(f, runs=20):
    for _ in range(3): f()
    t = []
    for _ in range(runs):
        s = time.perf_counter(); f(); t.append(1000 * (time.perf_counter() - s))
    return statistics.median(t)
ga, gc = step(layers[0]), step(layers[1])
diff = max(float((a - c).abs().max() / a.abs().max().clamp(min=1e-30)) for a, c in zip(ga, gc))
ta, tc = [], []
for _ in range(3):
    ta.append(median_ms(lambda: step(layers[0]))); tc.append(median_ms(lambda: step(layers[1])))
print(json.dumps({"autograd_ms": statistics.median(ta), "compiled_ms": statistics.median(tc), "max_rel_diff": diff, "torch": torch.__version__}))
`;
const r = spawnSync(PYTHON, ['-c', script, ...modules], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(r.stderr);
const res = JSON.parse(r.stdout);
const out = { adapter, dims, ...res, speedup: res.autograd_ms / res.compiled_ms };
if (flags.json) console.log(JSON.stringify(out));
else console.log(`${adapter} layer forward+backward, torch ${res.torch}, ${Object.entries(dims).map(([k, v]) => `${k}=${v}`).join(',')}: autograd ${res.autograd_ms.toFixed(1)} ms, compiled backward ${res.compiled_ms.toFixed(1)} ms (${out.speedup.toFixed(2)}× faster; gradients agree to ${res.max_rel_diff.toExponential(1)})`);
