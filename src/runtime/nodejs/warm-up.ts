/**
 * An empty module that a stem cell loads, through require() and
 * through import(), before it asks for its function (see index.ts,
 * warmModuleLoaders): node runs its module loaders' code for the first time
 * then, not while a cold start waits for the function's handler to load.
 */
export const warm = true;
