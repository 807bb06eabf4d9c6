// Runs the gateway's TypeScript as it ships (`node --import ./gateway/typescript.mjs bin/gateway.ts`): Node's
// module hooks hand each .ts module to esbuild, which takes the types out and leaves the JavaScript as written.
// tsx does the same but keeps every function's name by wrapping each closure it creates in a call that
// redefines the name: memory on every closure and time on every call, on a request's path too.
import { register } from 'node:module';
import process from 'node:process';

register('./typescript-hooks.mjs', import.meta.url);
// Stack traces name the TypeScript's lines: esbuild writes a source map into each module.
process.setSourceMapsEnabled(true);
