// The package's main entry point is browser-safe: nothing reachable from index.ts imports a
// `node:` module (files, processes, workers). Node-only pieces are reachable from node.ts only.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from './index.ts';
import * as nodeApi from './node.ts';

/** Every module reachable from `entry` by value imports (static or dynamic; `import type` erased). */
function reachable(entry: string): { files: Set<string>; external: Map<string, string> } {
  const files = new Set<string>();
  const external = new Map<string, string>(); // specifier → first importer
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '');
    const specs = [
      ...[...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]),
      ...[...text.matchAll(/^\s*import\s+'([^']+)'/gm)].map((m) => m[1]),
      ...[...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]),
    ];
    for (const s of specs) {
      if (s.startsWith('.')) visit(resolve(dirname(file), s));
      else if (!external.has(s)) external.set(s, file);
    }
  };
  visit(resolve(entry));
  return { files, external };
}

const isNodeOnly = (s: string) => s.startsWith('node:') || ['fs', 'path', 'os', 'child_process', 'worker_threads'].includes(s);

/** The compiler core: every source file under compiler/ but the Node-only entry points (the CLI, the language server, files). */
const NODE_ENTRY_POINTS = ['compiler/cli/', 'compiler/lsp/', 'compiler/frontend.ts'];
function compilerCore(dir = 'compiler'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (NODE_ENTRY_POINTS.some((n) => p === n || `${p}/` === n)) return [];
    if (e.isDirectory()) return compilerCore(p);
    return e.name.endsWith('.ts') && !/\.test\.ts$|testkit|test-kernels/.test(e.name) ? [p] : [];
  });
}

describe('public API layers', () => {
  it('index.ts (the package main export) reaches no node: module', () => {
    const { files, external } = reachable('index.ts');
    expect(files.size).toBeGreaterThan(30); // the compiler and runtime core really were walked
    const nodeOnly = [...external].filter(([s]) => isNodeOnly(s));
    expect(nodeOnly.map(([s, from]) => `${s} (from ${from})`)).toEqual([]);
  });

  it('no module of the compiler core reaches a node: module (codegen included, not only what index.ts exports today)', () => {
    const core = compilerCore();
    expect(core).toContain('compiler/codegen/cpu.ts');
    const found: string[] = [];
    for (const file of core) {
      const { external } = reachable(file);
      for (const [s, from] of external) if (isNodeOnly(s)) found.push(`${file} → ${s} (imported by ${relative('.', from)})`);
    }
    expect(found).toEqual([]);
  });

  it('node.ts adds the Node-only pieces (so the walk above would see them)', () => {
    const { external } = reachable('node.ts');
    expect([...external.keys()]).toContain('node:fs');
    expect([...external.keys()]).toContain('node:worker_threads');
  });

  it('the entry points export what docs/api.md documents', () => {
    for (const name of ['checkSource', 'checkSources', 'encodeSafetensors', 'decodeSafetensors', 'PEFT_METHODS', 'encodeAdapterFolder', 'decodeAdapterTensors', 'compile', 'explain', 'verifyAdapter', 'mergeVerdict', 'countParams', 'runEntry', 'compileTraining', 'referenceBackend', 'LilyError', 'encodePeft', 'decodePeft', 'trainingOptions', 'adaptModel'])
      expect(typeof (api as Record<string, unknown>)[name], name).not.toBe('undefined');
    for (const name of ['loadFile', 'cpuBackend', 'resolveBackend', 'saveSafetensors', 'loadSafetensors', 'readAdapterFolder', 'writeAdapterFolder', 'runCli', 'loadModel', 'loadPeft', 'savePeft'])
      expect(typeof (nodeApi as Record<string, unknown>)[name], name).toBe('function');
  });
});
