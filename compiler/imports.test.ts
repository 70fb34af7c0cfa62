// `import "…"`: another file's declarations join the program — stdlib paths, paths relative to the
// importing file, each file once (diamonds, cycles); errors name the import.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LilyError } from './diagnostics.ts';
import { checkSource, loadFile, sourceClosure } from './frontend.ts';
import { analyse } from './lsp/analysis.ts';

const dir = mkdtempSync(join(tmpdir(), 'lily-imports-'));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const errorOf = (f: () => unknown): LilyError | undefined => {
  try {
    f();
  } catch (e) {
    return e as LilyError;
  }
};

describe('imports', () => {
  it('a stdlib adapter and a local file, each once (a diamond), check as one program', () => {
    write('shared.lily', 'import "adapters/lora.lily"\nfn twice(x: [N]) -> [N] = 2.0 * x\n');
    write('left.lily', 'import "./shared.lily"\nfn left(x: [N]) -> [N] = twice(x)\n');
    const main = write('main.lily', 'import "./left.lily"\nimport "./shared.lily"\nmodel M(D: Dim = 4) {\n  layer q: Linear[D, D] with LoRA(r = 2)\n  forward(x: [N, D]) -> [N, D] = q(x)\n}\n');
    const checked = loadFile(main);
    expect([...checked.units.keys()].sort()).toEqual(['LoRA', 'LoRAPlus', 'M']);
    expect([...checked.fns.keys()].sort()).toEqual(['left', 'twice']);
  });

  it('a cycle reads each file once', () => {
    write('a.lily', 'import "./b.lily"\nfn fa(x: [N]) -> [N] = x\n');
    const b = write('b.lily', 'import "./a.lily"\nfn fb(x: [N]) -> [N] = fa(x)\n');
    expect([...loadFile(b).fns.keys()].sort()).toEqual(['fa', 'fb']);
  });

  it('a missing file is an E-file error at the import', () => {
    const f = write('missing.lily', 'import "./nope.lily"\nfn f(x: [N]) -> [N] = x\n');
    const e = errorOf(() => loadFile(f));
    expect(e?.diagnostics[0].code).toBe('E-file');
    expect([e?.diagnostics[0].span?.line, e?.diagnostics[0].span?.col]).toEqual([1, 8]);
  });

  it('a name declared differently in two files is an error naming both', () => {
    const f = write('clash.lily', 'import "adapters/lora.lily"\nfn LoRA(x: [N]) -> [N] = x\n');
    const e = errorOf(() => loadFile(f));
    expect(e?.diagnostics[0].code).toBe('E-name');
    expect(e?.diagnostics[0].message).toMatch(/declared differently/);
  });

  it('checkSource (one source, no files) refuses an import with its location', () => {
    const e = errorOf(() => checkSource('import "adapters/lora.lily"\n', 'x.lily'));
    expect(e?.diagnostics[0].code).toBe('E-file');
  });

  it('the language server checks a document with its imports (their declarations known, only its own diagnostics)', () => {
    const f = write('editor.lily', 'import "adapters/lily.lily"\nmodel M(D: Dim = 4) {\n  layer q: Linear[D, D] with Lily(r = 2, E = 2)\n  forward(x: [N, D]) -> [N, D] = q(x)\n}\n');
    const source = readFileSync(f, 'utf8');
    expect(analyse(source, f, sourceClosure).diagnostics).toEqual([]);
    expect(analyse(source, f).diagnostics.length).toBeGreaterThan(0); // without files, Lily is unknown
    const missing = write('editor2.lily', 'import "./nope.lily"\n');
    expect(analyse(readFileSync(missing, 'utf8'), missing, sourceClosure).diagnostics[0].code).toBe('E-file');
  });
});
