// What the contraction optimiser tells a person about one sum of products: its operands, which
// indices run over tokens (rows of the input), and whether a weighted expert sum was folded into
// one weight before meeting the activations (the Lily rewrite) — or why it could not be.
import type { Graph, Id, Node } from '../ir/graph.ts';
import { parseSpec } from '../ir/prims/einsum.ts';
import type { Net, Tree } from './contract.ts';
import { operandName, showLetters, type Label } from './contract.ts';

const memo = new WeakMap<Graph, Map<Id, Set<number>>>();

/** Axes of a node that run over tokens: every axis but the last of a data input, propagated. */
export function tokenAxes(g: Graph, id: Id): Set<number> {
  let m = memo.get(g);
  if (!m) memo.set(g, (m = new Map()));
  const hit = m.get(id);
  if (hit) return hit;
  const n = g.node(id);
  let axes = new Set<number>();
  if (n.op === 'input') axes = new Set(n.shape.map((_, i) => i).slice(0, -1));
  else if (n.op === 'einsum') {
    const s = parseSpec(n.attrs.spec as string);
    const letters = new Set<string>();
    n.inputs.forEach((i, k) => tokenAxes(g, i).forEach((a) => letters.add(s.ins[k][a])));
    axes = new Set([...s.out].flatMap((c, j) => (letters.has(c) ? [j] : [])));
  } else if (n.op === 'broadcast') {
    const map = n.attrs.map as number[];
    axes = new Set([...tokenAxes(g, n.inputs[0])].map((a) => map[a]));
  } else if (['map', 'map_grad', 'add', 'softmax', 'log_softmax', 'stopgrad', 'pow'].includes(n.op)) {
    for (const i of n.inputs) for (const a of tokenAxes(g, i)) axes.add(a);
  }
  m.set(id, axes);
  return axes;
}

export function tokenLetters(g: Graph, node: Node): string {
  const s = parseSpec(node.attrs.spec as string);
  const out = new Set<string>();
  node.inputs.forEach((i, k) => tokenAxes(g, i).forEach((a) => out.add(s.ins[k][a])));
  return [...out].join('');
}

export function describeNet(g: Graph, node: Node, net: Net, label: Label): string {
  const ops = node.inputs.map((id, i) => operandName(g, id, node, i, label));
  return `Σ ${ops.join(' · ')} → ${showLetters(net.out, label)}`;
}

export interface FoldReport {
  index: string; // the expert index letter
  bank: string; // the expert bank operand (e.g. B[e,r,o])
  applied: boolean;
  reason: string;
}

/** Subtrees of a tree (post-order). */
function* subtrees(t: Tree): Generator<Tree> {
  if (t.left) yield* subtrees(t.left);
  if (t.right) yield* subtrees(t.right);
  yield t;
}

/**
 * Expert folds: a summed index shared by an expert bank (a parameter of rank ≥ 3 without token
 * axes) and a weighting operand. It is folded when the optimiser eliminates it in a pairwise
 * contraction whose result carries no token index: one combined weight for the whole batch.
 */
export function expertFolds(g: Graph, node: Node, net: Net, tree: Tree, tokens: string, label: Label): FoldReport[] {
  const reports: FoldReport[] = [];
  const summed = [...new Set(net.subs.join(''))].filter((c) => !net.out.includes(c));
  const isToken = (c: string) => tokens.includes(c);
  for (const e of summed) {
    // An expert bank: a parameter of rank ≥ 3 whose leading (expert) axis is this index.
    const bankIdx = net.subs.findIndex((s, i) => s[0] === e && s.length >= 3 && ![...s].some(isToken) && g.node(node.inputs[i]).op === 'param');
    if (bankIdx < 0) continue;
    const users = net.subs.map((s, i) => i).filter((i) => i !== bankIdx && net.subs[i].includes(e));
    if (!users.length) continue;
    const bank = operandName(g, node.inputs[bankIdx], node, bankIdx, label);
    const E = label(e);
    let where: Tree | undefined;
    for (const t of subtrees(tree)) {
      if (!t.left || !t.right) continue;
      const inL = [...subtreeLetters(t.left, net)].includes(e);
      const inR = [...subtreeLetters(t.right!, net)].includes(e);
      if (inL && inR && !t.letters.includes(e)) {
        where = t;
        break;
      }
    }
    const foldedTokenFree = where !== undefined && ![...where.letters].some(isToken);
    if (foldedTokenFree) {
      reports.push({ index: E, bank, applied: true, reason: `Σ over ${E} is taken on the weights first: one combined ${showLetters(where!.letters, label)} weight for the whole batch, then one matmul with the activations` });
      continue;
    }
    const perToken = users.filter((i) => [...net.subs[i]].some((c) => isToken(c) && net.out.includes(c)));
    const reason = perToken.length
      ? `${perToken.map((i) => operandName(g, node.inputs[i], node, i, label)).join(', ')} varies per token (axis ${[...net.subs[perToken[0]]].filter((c) => isToken(c) && net.out.includes(c)).map(label).join(', ')}): Σ over ${E} of the weights would be a different matrix for every token, so no single combined weight exists; the per-expert (batched) form is kept`
      : `summing the weights over ${E} first is not cheaper at these sizes`;
    reports.push({ index: E, bank, applied: false, reason });
  }
  return reports;
}

function subtreeLetters(t: Tree, net: Net): Set<string> {
  const s = new Set<string>();
  net.subs.forEach((sub, i) => {
    if ((t.mask >> i) & 1) for (const c of sub) s.add(c);
  });
  return s;
}
