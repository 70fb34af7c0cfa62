// Parsing of the CLI's small value languages: `--dims N=4,In=8,rslora=true`, `--inputs x=[[1,2]]`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { decodeSafetensors } from '../../runtime/checkpoint/safetensors-codec.ts';
import { decodeNpy } from '../../runtime/tensor/npy.ts';
import { join } from 'node:path';
import { LilyError } from '../diagnostics.ts';
import { parseBytes, setMemoryBudget } from '../budget.ts';
import { totalmem } from 'node:os';
import { fromNested, type Nested, type Tensor } from '../../runtime/tensor/index.ts';

const usage = (message: string): never => {
  throw new LilyError([{ code: 'E-usage', message }]);
};

export function parseSettings(text: string | undefined, flag = '--dims'): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  if (!text) return out;
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(part);
    if (!m) usage(`${flag}: expected NAME=VALUE, found '${part}'`);
    const [, name, raw] = m!;
    if (raw === 'true' || raw === 'false') out[name] = raw === 'true';
    else if (Number.isFinite(Number(raw))) out[name] = Number(raw);
    else usage(`${flag}: the value of ${name} must be a number or true/false, found '${raw}'`);
  }
  return out;
}

/** A tensor from a file: `.safetensors` (the tensor of that name, or the only one), `.npy`, or `.json` (nested arrays). */
export function readInputFile(name: string, file: string, flag = '--inputs'): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    return usage(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    if (file.endsWith('.npy')) return decodeNpy(bytes, file);
    if (file.endsWith('.json')) {
      const v = JSON.parse(new TextDecoder().decode(bytes));
      return fromNested(Array.isArray(v) || typeof v === 'number' ? v : v?.[name] ?? usage(`${flag}: ${file} holds no '${name}'`));
    }
    const { tensors } = decodeSafetensors(bytes, file);
    const t = tensors.get(name) ?? (tensors.size === 1 ? [...tensors.values()][0] : usage(`${flag}: ${file} holds no tensor '${name}' (it has ${[...tensors.keys()].join(', ') || 'none'})`));
    return { shape: [...t.shape], data: Float64Array.from(t.data) };
  } catch (e) {
    if (e instanceof LilyError) throw e;
    return usage(`${flag}: ${(e as Error).message}`);
  }
}

const INPUT_FILE = /\.(safetensors|npy|json)$/;

/** `x=[[1,2],[3,4]]` pairs separated by ';' (JSON values contain commas), or `x=FILE` (.safetensors, .npy, .json). */
export function parseInputs(text: string | undefined, flag = '--inputs'): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  if (!text) return out;
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 1) usage(`${flag}: expected NAME=JSON or NAME=FILE, found '${part}'`);
    const name = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    if (INPUT_FILE.test(raw) && !raw.startsWith('[')) {
      out.set(name, readInputFile(name, raw, flag));
      continue;
    }
    let value: Nested;
    try {
      value = JSON.parse(part.slice(eq + 1));
    } catch {
      return usage(`${flag}: the value of ${name} is not valid JSON (nor a .safetensors, .npy or .json file)`);
    }
    try {
      out.set(name, fromNested(value));
    } catch (e) {
      usage(`${flag}: ${name}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Expand directories and (unexpanded) glob patterns to .lily files. */
export function expandFiles(args: string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.lily')) files.push(p);
    }
  };
  for (const a of args) {
    if (existsSync(a) && statSync(a).isDirectory()) walk(a);
    else if (a.includes('*') && !existsSync(a)) {
      const root = a.slice(0, a.indexOf('*')).replace(/[^/]*$/, '') || '.';
      const re = new RegExp(`^${a.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}$`);
      const before = files.length;
      if (existsSync(root)) {
        const all: string[] = [];
        const collect = (dir: string) => {
          for (const name of readdirSync(dir).sort()) {
            const p = join(dir, name);
            if (statSync(p).isDirectory()) collect(p);
            else all.push(p);
          }
        };
        collect(root);
        files.push(...all.filter((p) => re.test(p)));
      }
      if (files.length === before) usage(`no files match ${a}`);
    } else files.push(a);
  }
  return files;
}

/**
 * A numeric flag value, checked: `--seed abc`, `--runs -1` or `--max-dim 0` are usage errors that
 * name the flag, not NaN flowing into the compiler.
 */
export function intFlag(flag: string, text: string, min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(text);
  if (!/^\s*[-+]?\d+\s*$/.test(text) || !Number.isSafeInteger(v)) return usage(`${flag} must be a whole number, found '${text}'`);
  if (v < min || v > max) return usage(`${flag} must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`}, found ${v}`);
  return v;
}

export const MAX_MEMORY_HELP = "refuse work estimated to need more memory than this (e.g. 4GB; default: LILY_MAX_MEMORY, else half of this machine's memory)";

/** Set the memory budget from `--max-memory`, else LILY_MAX_MEMORY, else half of physical memory. */
export function applyMemoryBudget(flag: string | undefined): void {
  const text = flag ?? process.env.LILY_MAX_MEMORY;
  if (text === undefined) return setMemoryBudget(totalmem() / 2);
  const bytes = parseBytes(text);
  if (bytes === undefined) usage(`${flag !== undefined ? '--max-memory' : 'LILY_MAX_MEMORY'} must be a size such as 512MB or 4GB, found '${text}'`);
  setMemoryBudget(bytes!);
}
