// Reading a labelled data set from disk (Node-only), one record per format: CSV/TSV (feature columns
// and a label column), JSON Lines ({"x": [...], "y": label}), safetensors, NumPy .npz or a folder with
// x.npy and y.npy (arrays x [n, …] and y [n] of class numbers), and IDX folders (MNIST-style:
// *-images-idx3-ubyte[.gz] + *-labels-idx1-ubyte[.gz], train and t10k/test).
// A malformed row is an error naming the file and line.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { classesOf, DataError, type Dataset } from './dataset.ts';
import { IdxError, loadIdx } from './idx.ts';
import { unzipSync } from 'fflate';
import { loadSafetensors, SafetensorsError } from '../checkpoint/safetensors.ts';
import { decodeNpy, NpyError } from '../tensor/npy.ts';
import { largest } from '../tensor/reduce.ts';

export interface ReadOptions {
  /** CSV: the label column, by header name or 0-based index (default: a column named label/y/class/target, else the last). */
  label?: string;
}

export interface DataFiles {
  train: Dataset;
  /** A test split the source provides itself (IDX folders with t10k/test files). */
  test?: Dataset;
}

interface Reader {
  name: string;
  matches(path: string, isDir: boolean): boolean;
  read(path: string, o: ReadOptions): DataFiles;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const LABEL_NAMES = ['label', 'labels', 'y', 'class', 'target'];

function readCsv(path: string, o: ReadOptions): DataFiles {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(readText(path), { info: true, skip_empty_lines: true, trim: true, delimiter: extname(path) === '.tsv' ? '\t' : ',' }) as unknown as typeof records;
  } catch (e) {
    const err = e as { message: string; lines?: number };
    throw new DataError(`${path}${err.lines ? `:${err.lines}` : ''}: ${err.message.replace(/ on line \d+$/, '')}`);
  }
  if (!records.length) throw new DataError(`${path}: no rows`);
  // A header is a first row with a field that is not a number.
  const first = records[0].record;
  const header = first.some((f) => f === '' || !Number.isFinite(Number(f))) ? first : undefined;
  const names = header ?? first.map((_, i) => String(i));
  const rows = header ? records.slice(1) : records;
  if (!rows.length) throw new DataError(`${path}: a header but no rows`);
  if (names.length < 2) throw new DataError(`${path}: needs feature columns and a label column, found ${names.length} column`);
  let labelAt = o.label === undefined ? names.findIndex((n) => LABEL_NAMES.includes(n.toLowerCase())) : names.indexOf(o.label);
  if (o.label !== undefined && labelAt < 0 && /^\d+$/.test(o.label)) labelAt = Number(o.label);
  if (o.label !== undefined && !(labelAt >= 0 && labelAt < names.length)) throw new DataError(`${path}: no column '${o.label}' (columns: ${names.join(', ')})`);
  if (labelAt < 0) labelAt = names.length - 1;
  const features = names.length - 1;
  const x = new Float32Array(rows.length * features);
  const raw: string[] = [];
  rows.forEach(({ record, info }, r) => {
    let k = 0;
    record.forEach((field, c) => {
      if (c === labelAt) return void raw.push(field);
      const v = field === '' ? NaN : Number(field);
      if (!Number.isFinite(v)) throw new DataError(`${path}:${info.lines}: column '${names[c]}' is ${JSON.stringify(field)}, not a number`);
      x[r * features + k++] = v;
    });
  });
  const { labels, classes, names: classNames } = classesOf(raw, (i) => `${path}:${rows[i].info.lines}`);
  return { train: { x, features, labels, classes, classNames, n: rows.length, source: path } };
}

function readJsonl(path: string): DataFiles {
  const xs: number[][] = [];
  const raw: string[] = [];
  const lineOf: number[] = [];
  readText(path)
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const at = `${path}:${i + 1}`;
      let row: { x?: unknown; y?: unknown; label?: unknown };
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new DataError(`${at}: not JSON (${(e as Error).message})`);
      }
      const y = row?.y ?? row?.label;
      if (!Array.isArray(row?.x) || !row.x.every((v) => typeof v === 'number' && Number.isFinite(v))) throw new DataError(`${at}: "x" must be a list of numbers`);
      if (typeof y !== 'string' && !(typeof y === 'number' && Number.isInteger(y) && y >= 0)) throw new DataError(`${at}: "y" (or "label") must be a class number ≥ 0 or a name`);
      if (xs.length && row.x.length !== xs[0].length) throw new DataError(`${at}: ${row.x.length} features, the first row has ${xs[0].length}`);
      xs.push(row.x as number[]);
      raw.push(String(y));
      lineOf.push(i + 1);
    });
  if (!xs.length) throw new DataError(`${path}: no rows`);
  const features = xs[0].length;
  const { labels, classes, names } = classesOf(raw, (i) => `${path}:${lineOf[i]}`);
  return { train: { x: Float32Array.from(xs.flat()), features, labels, classes, classNames: names, n: xs.length, source: path } };
}

/** A data set from arrays x [n, …] and y [n] (class numbers), whatever file held them. */
function fromArrays(path: string, x: { shape: number[]; data: ArrayLike<number> } | undefined, y: { shape: number[]; data: ArrayLike<number> } | undefined, found: string[]): DataFiles {
  if (!x || !y) throw new DataError(`${path}: a data set needs arrays 'x' [n, …] and 'y' [n] (class numbers); found ${found.join(', ') || 'none'}`);
  const n = x.shape[0] ?? 0;
  if (y.shape.length !== 1 || y.shape[0] !== n) throw new DataError(`${path}: 'y' is [${y.shape}], expected [${n}] (one class number per row of x)`);
  const labels = Int32Array.from(y.data);
  const bad = Array.from(y.data).findIndex((v) => !Number.isInteger(v) || v < 0);
  if (bad >= 0) throw new DataError(`${path}: y[${bad}] = ${y.data[bad]} is not a class number`);
  const xs = Float32Array.from(x.data);
  const badX = xs.findIndex((v) => !Number.isFinite(v));
  if (badX >= 0) throw new DataError(`${path}: x holds ${xs[badX]} at index ${badX}`);
  return { train: { x: xs, features: xs.length / Math.max(1, n), labels, classes: largest(labels) + 1, n, source: path } };
}

function readSafetensorsData(path: string): DataFiles {
  const { tensors } = loadSafetensors(path);
  return fromArrays(path, tensors.get('x'), tensors.get('y'), [...tensors.keys()]);
}

function readNpz(path: string): DataFiles {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(readFileSync(path));
  } catch (e) {
    throw new DataError(`${path}: not a valid .npz (zip) file: ${(e as Error).message}`);
  }
  const array = (name: string) => (files[`${name}.npy`] ? decodeNpy(files[`${name}.npy`], `${path}:${name}.npy`) : undefined);
  return fromArrays(path, array('x'), array('y'), Object.keys(files));
}

function readNpyFolder(dir: string): DataFiles {
  const array = (name: string) => (existsSync(join(dir, `${name}.npy`)) ? decodeNpy(readFileSync(join(dir, `${name}.npy`)), join(dir, `${name}.npy`)) : undefined);
  return fromArrays(dir, array('x'), array('y'), readdirSync(dir));
}

function readIdxFolder(dir: string): DataFiles {
  const files = readdirSync(dir);
  const find = (split: RegExp, kind: string) => files.find((f) => split.test(f) && f.includes(kind));
  const load = (split: RegExp, name: string): Dataset | undefined => {
    const img = find(split, 'images-idx3');
    const lab = find(split, 'labels-idx1');
    if (!img || !lab) return undefined;
    const images = loadIdx(join(dir, img));
    const labels = loadIdx(join(dir, lab));
    const n = images.shape[0];
    if (labels.shape.length !== 1 || labels.shape[0] !== n) throw new DataError(`${dir}: ${n} ${name} images but labels of shape [${labels.shape}]`);
    const features = images.data.length / n;
    return { x: Float32Array.from(images.data, (p) => p / 255), features, labels: Int32Array.from(labels.data), classes: largest(labels.data) + 1, n, source: join(dir, img) };
  };
  const train = load(/^train/, 'training');
  if (!train) throw new DataError(`${dir}: no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] here`);
  const test = load(/^(t10k|test)/, 'test');
  if (test) test.classes = train.classes = Math.max(train.classes, test.classes);
  return { train, test };
}

const READERS: Reader[] = [
  { name: 'CSV', matches: (p, dir) => !dir && ['.csv', '.tsv'].includes(extname(p)), read: readCsv },
  { name: 'JSON Lines', matches: (p, dir) => !dir && ['.jsonl', '.ndjson'].includes(extname(p)), read: readJsonl },
  { name: 'safetensors', matches: (p, dir) => !dir && extname(p) === '.safetensors', read: readSafetensorsData },
  { name: 'NumPy .npz', matches: (p, dir) => !dir && extname(p) === '.npz', read: readNpz },
  { name: 'NumPy folder (x.npy, y.npy)', matches: (p, dir) => dir && existsSync(join(p, 'x.npy')), read: readNpyFolder },
  { name: 'IDX folder', matches: (p, dir) => dir && readdirSync(p).some((f) => f.includes('images-idx3')), read: readIdxFolder },
];

export const DATA_FORMATS = READERS.map((r) => r.name);

export function readDataset(path: string, o: ReadOptions = {}): DataFiles {
  if (!existsSync(path)) throw new DataError(`${path}: no such file or folder`);
  const dir = statSync(path).isDirectory();
  const reader = READERS.find((r) => r.matches(path, dir));
  if (!reader) throw new DataError(`${path}: not a data set Lily reads (${DATA_FORMATS.join(', ')}: .csv, .tsv, .jsonl, .safetensors, .npz, or a folder of x.npy + y.npy or IDX files)`);
  try {
    return reader.read(path, o);
  } catch (e) {
    if (e instanceof IdxError || e instanceof SafetensorsError || e instanceof NpyError) throw new DataError(e.message);
    throw e;
  }
}
