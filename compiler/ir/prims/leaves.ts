// Leaves and constants: inputs (data), parameters, scalar constants, constant tensors.
import * as T from '../../../runtime/tensor/index.ts';
import { definePrim } from '../prim.ts';
import { shiftedEye } from '../../interp/ops.ts';

const leafValue = (): never => {
  throw new Error('internal: a leaf is evaluated from the environment, not by its primitive');
};

definePrim({
  name: 'input',
  doc: 'a data input (x, or the cotangent dy of a backward program)',
  leaf: true,
  shape: (_s, a) => a.shape as number[],
  eval: leafValue,
  flops: () => 0,
  print: (a) => `input ${a.name} [${a.shape}]`,
});

definePrim({
  name: 'param',
  doc: 'a parameter (trainable or frozen)',
  leaf: true,
  shape: (_s, a) => a.shape as number[],
  eval: leafValue,
  flops: () => 0,
  print: (a) => `param ${a.name} [${a.shape}]${a.trainable ? '' : ' frozen'}`,
});

definePrim({
  name: 'const',
  doc: 'a scalar constant',
  shape: () => [],
  eval: (_i, a) => T.scalar(a.value as number),
  flops: () => 0,
  print: (a) => `const ${a.value}`,
});

definePrim({
  name: 'fill',
  doc: 'a tensor filled with one value',
  shape: (_s, a) => a.shape as number[],
  eval: (_i, a) => T.full(a.shape as number[], a.value as number),
  flops: () => 0,
  print: (a) => `fill ${a.value} [${a.shape}]`,
});

definePrim({
  name: 'eye',
  doc: 'the identity matrix, or [n, cols] with ones at (i, i + offset)',
  shape: (_s, a) => [a.n as number, (a.cols ?? a.n) as number],
  eval: (_i, a) => shiftedEye(a.n as number, (a.cols ?? a.n) as number, (a.offset ?? 0) as number),
  flops: () => 0,
  print: (a) => (a.cols === undefined ? `eye ${a.n}` : `eye ${a.n}×${a.cols} offset ${a.offset}`),
});
