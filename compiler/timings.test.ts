import { describe, expect, it } from 'vitest';
import { formatTimings, timed, Timings } from './timings.ts';

describe('Timings', () => {
  it('adds up repeated phases; parts (a/b) are shown under their phase and not counted twice in the total', () => {
    const t = new Timings();
    t.add('lower', 10);
    t.add('lower/initialise', 4);
    t.add('contract', 20);
    t.add('lower', 5);
    expect(t.ms.get('lower')).toBe(15);
    expect(t.total()).toBe(35);
    const lines = formatTimings(t).split('\n');
    expect(lines.map((l) => l.trim().split(/\s+/)[0])).toEqual(['lower', 'initialise', 'contract', 'total']);
    expect(lines[1]).toMatch(/^ {2}initialise\s+4\.0 ms\s+11%$/);
    expect(lines[3]).toMatch(/^total\s+35\.0 ms\s+100%$/);
  });

  it('times a function under a phase, also when it throws; without timings it only runs it', async () => {
    const t = new Timings();
    expect(t.time('a', () => 7)).toBe(7);
    expect(() => t.time('b', () => { throw new Error('x'); })).toThrow('x');
    expect(await t.timeAsync('c', async () => 8)).toBe(8);
    expect([...t.ms.keys()]).toEqual(['a', 'b', 'c']);
    expect(timed(undefined, 'd', () => 9)).toBe(9);
  });
});
