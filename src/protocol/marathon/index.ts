// Marathon v2 wire layer (pure, no I/O): path ids, app/group definitions, validation with
// Marathon's 422 shape, response renderers, ids/timestamps, label selectors and events.
export * from './pathid.ts';
export * from './errors.ts';
export * from './ids.ts';
export * from './constraints.ts';
export * from './labels.ts';
export * from './app.ts';
export * from './group.ts';
export * from './render.ts';
export * from './events.ts';
export { javaDouble } from './read.ts';
