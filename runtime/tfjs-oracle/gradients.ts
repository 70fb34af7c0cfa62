/**
 * Gradient registrations for the kernels the Lily step uses.
 *
 * Why this file exists: `@tensorflow/tfjs-core`'s Node entry (dist/tf-core.node.js, CommonJS) does NOT
 * register any gradient — the union package `@tensorflow/tfjs` does that by importing
 * `@tensorflow/tfjs-core/dist/register_all_gradients`, which is only shipped as extension-less ESM
 * (`import … from './gradients/Abs_grad'`, directory imports): Node's ESM loader (and tsx) refuse it
 * (ERR_UNSUPPORTED_DIR_IMPORT), and loading it would create a second copy of tfjs-core anyway.
 * Without this, tf.variableGrads throws "gradient function not found for Mean".
 *
 * The gradient functions below are transcriptions of tfjs-core 4.22 `src/gradients/*_grad.ts`
 * (Apache-2.0, Copyright Google LLC), written against the public `tf` namespace. They are checked
 * against float64 central finite differences in lily-step.test.ts.
 *
 * Registration is idempotent and skips any kernel that already has a gradient (e.g. if
 * `@tensorflow/tfjs` was loaded in the same process).
 */
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';

type Tf = typeof import('@tensorflow/tfjs-core');
type Grads = { [input: string]: () => Tensor };

function configs(tf: Tf): GradConfig[] {
  const { broadcast_util: bu, util } = tf;
  const unbroadcast = (res: Tensor, shape: number[], outShape: number[]): Tensor => {
    const axes = bu.getReductionAxes(shape, outShape);
    return tf.reshape(axes.length > 0 ? tf.sum(res, axes) : res, shape);
  };
  return [
    {
      kernelName: tf.BatchMatMul,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs: NamedAttrMap): Grads => {
        const g = dy as Tensor;
        const [a, b] = saved;
        const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
        if (!transposeA && !transposeB) return { a: () => tf.matMul(g, b, false, true), b: () => tf.matMul(a, g, true, false) };
        if (!transposeA && transposeB) return { a: () => tf.matMul(g, b, false, false), b: () => tf.matMul(g, a, true, false) };
        if (transposeA && !transposeB) return { a: () => tf.matMul(b, g, false, true), b: () => tf.matMul(a, g, false, false) };
        return { a: () => tf.matMul(b, g, true, true), b: () => tf.matMul(g, a, true, true) };
      },
    },
    {
      kernelName: tf.Softmax,
      outputsToSave: [true],
      gradFunc: (dy, saved, attrs: NamedAttrMap): Grads => {
        const [y] = saved;
        const { dim } = attrs as { dim: number };
        const dyTimesY = tf.mul(dy as Tensor, y);
        return { logits: () => tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y)) };
      },
    },
    {
      kernelName: tf.Mean,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs: NamedAttrMap): Grads => {
        const [x] = saved;
        const axes = util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
        const reduceSize = util.sizeFromShape(tf.backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
        return {
          x: () => {
            const expanded = x.shape.slice();
            for (const a of axes) expanded[a] = 1;
            return tf.div(tf.mul(tf.reshape(dy as Tensor, expanded), tf.ones(x.shape, 'float32')), reduceSize);
          },
        };
      },
    },
    {
      kernelName: tf.Sum,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs: NamedAttrMap): Grads => {
        const [x] = saved;
        const axes = util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
        const expanded = x.shape.slice();
        for (const a of axes) expanded[a] = 1;
        return { x: () => tf.mul(tf.reshape(dy as Tensor, expanded), tf.ones(x.shape, 'float32')) };
      },
    },
    {
      kernelName: tf.Reshape,
      inputsToSave: ['x'],
      gradFunc: (dy, saved): Grads => ({ x: () => tf.reshape(dy as Tensor, saved[0].shape) }),
    },
    {
      kernelName: tf.Multiply,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved): Grads => {
        const [a, b] = saved;
        const out = bu.assertAndGetBroadcastShape(a.shape, b.shape);
        return {
          a: () => unbroadcast(tf.mul(dy as Tensor, tf.cast(b, 'float32')), a.shape, out),
          b: () => unbroadcast(tf.mul(dy as Tensor, tf.cast(a, 'float32')), b.shape, out),
        };
      },
    },
    {
      kernelName: tf.Add,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved): Grads => {
        const [a, b] = saved;
        const out = bu.assertAndGetBroadcastShape(a.shape, b.shape);
        return { a: () => unbroadcast(dy as Tensor, a.shape, out), b: () => unbroadcast(dy as Tensor, b.shape, out) };
      },
    },
    {
      kernelName: tf.Sub,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved): Grads => {
        const [a, b] = saved;
        const out = bu.assertAndGetBroadcastShape(a.shape, b.shape);
        return { a: () => unbroadcast(dy as Tensor, a.shape, out), b: () => tf.neg(unbroadcast(dy as Tensor, b.shape, out)) };
      },
    },
    {
      kernelName: tf.SquaredDifference,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved): Grads => {
        const [a, b] = saved;
        const two = tf.scalar(2);
        // tfjs's own config does not un-broadcast here; neither do we (our a and b have equal shapes)
        return { a: () => tf.mul(dy as Tensor, tf.mul(two, tf.sub(a, b))), b: () => tf.mul(dy as Tensor, tf.mul(two, tf.sub(b, a))) };
      },
    },
    {
      kernelName: tf.Square,
      inputsToSave: ['x'],
      gradFunc: (dy, saved): Grads => ({ x: () => tf.mul(dy as Tensor, tf.mul(tf.cast(saved[0], 'float32'), 2)) }),
    },
    {
      kernelName: tf.Identity,
      gradFunc: (dy): Grads => ({ x: () => tf.cast(dy as Tensor, 'float32') }),
    },
    {
      kernelName: tf.Slice,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs: NamedAttrMap): Grads => {
        const [x] = saved;
        const { begin, size } = attrs as { begin: number | number[]; size: number | number[] };
        const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
        const paddings: Array<[number, number]> = x.shape.map((d, i) => [b[i], d - b[i] - s[i]]);
        return { x: () => tf.pad(dy as Tensor, paddings) };
      },
    },
    {
      // tf.broadcastTo runs the Tile kernel
      kernelName: tf.Tile,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs: NamedAttrMap): Grads => {
        const [x] = saved;
        const { reps } = attrs as { reps: number[] };
        return {
          x: () => {
            // sum the dy blocks that each copy of x produced (any rank; tfjs's own stops at 4)
            let grad = tf.zerosLike(x);
            const idx = new Array<number>(reps.length).fill(0);
            for (;;) {
              grad = tf.add(grad, tf.slice(dy as Tensor, idx.map((k, d) => k * x.shape[d]), x.shape));
              let d = reps.length - 1;
              while (d >= 0 && ++idx[d] === reps[d]) idx[d--] = 0;
              if (d < 0) break;
            }
            return grad;
          },
        };
      },
    },
  ];
}

const done = new WeakSet<object>();

/** Register the gradients (once per tfjs-core instance). */
export function registerTfjsGradients(tf: Tf): void {
  if (done.has(tf)) return;
  for (const c of configs(tf)) if (tf.getGradient(c.kernelName) == null) tf.registerGradient(c);
  done.add(tf);
}
