#!/usr/bin/env node
// `npx cradle …`: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./cradle.ts');
