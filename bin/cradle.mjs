#!/usr/bin/env node
// `npx cradle …`: runs the TypeScript CLI as the gateway runs (gateway/typescript.mjs).
import '../gateway/typescript.mjs';

await import('./cradle.ts');
