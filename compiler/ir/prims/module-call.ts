// module_call: a model's plain layer (Linear, LayerNorm) applied as one opaque call, made only when
// a model is lowered for export (compiler/codegen/torch-model.ts), so that the exported model
// calls the layer as a module that inject() can wrap. It has no float64 rule and no gradient here:
// such graphs are rendered, never evaluated or differentiated by the compiler.
import { definePrim } from '../prim.ts';

definePrim({
  name: 'module_call',
  doc: 'a model layer called as a module (exports only)',
  shape: (_s, a) => a.shape as number[],
  eval: () => {
    throw new Error('internal: module_call is for export and has no reference evaluation');
  },
  flops: () => 0,
  print: (a) => `module_call ${a.kind} ${a.path}`,
});
