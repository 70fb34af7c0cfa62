// The programs in the menu: the stdlib's adapters and the examples, bundled as text.
const stdlib = import.meta.glob('../../stdlib/**/*.lily', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;
const examples = import.meta.glob('../../examples/*.lily', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

export interface Example {
  /** e.g. 'stdlib/adapters/lily.lily' */
  path: string;
  source: string;
}

export const EXAMPLES: Example[] = [...Object.entries(stdlib), ...Object.entries(examples)]
  .map(([p, source]) => ({ path: p.replace(/^(\.\.\/)+/, ''), source }))
  .sort((a, b) => a.path.localeCompare(b.path));

export const DEFAULT_EXAMPLE = 'stdlib/adapters/lily.lily';
