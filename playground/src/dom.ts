// A tiny element builder: h('td', { class: 'num' }, '3.2 ms').
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | undefined> = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export const gflop = (n: number) => (n >= 1e8 ? `${(n / 1e9).toFixed(4)} GFLOP` : n >= 1e5 ? `${(n / 1e6).toFixed(3)} MFLOP` : `${n.toLocaleString('en-US')} FLOP`);
