// Barrel for seeded randomness and parameter initializers.
export * from './rng.ts';
export * from './initializers.ts';
