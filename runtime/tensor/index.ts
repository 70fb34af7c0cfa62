// Barrel for the float64 reference tensor library. (Axis selection ops live
// in indexing.ts, since this file's name is taken by the barrel.)
export * from './tensor.ts';
export * from './elementwise.ts';
export * from './unary.ts';
export * from './linalg.ts';
export * from './reduce.ts';
export * from './indexing.ts';
export * from './select.ts';
export * from './decompose.ts';
