// Registers every primitive family (import this once before building graphs).
import './prims/leaves.ts';
import './prims/einsum.ts';
import './prims/elementwise.ts';
import './prims/layout.ts';
import './prims/softmax.ts';
export { allPrims, primitive } from './prim.ts';
import './prims/module-call.ts';
