#!/usr/bin/env node
// Launcher for the `corral` CLI: registers tsx so Node can load the TypeScript
// sources directly, then runs src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
