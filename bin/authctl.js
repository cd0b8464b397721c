#!/usr/bin/env node
// `npx authctl …`: the compiled CLI (`npm run build`, as in the container image) when
// it is present, so a production install (npm ci --omit=dev, no tsx) runs it; otherwise
// the TypeScript source through tsx, a development dependency.
/* global console, process, URL */
import fs from 'node:fs';

const compiled = new URL('../dist/services/token/cli/authctl.js', import.meta.url);
if (fs.existsSync(compiled)) {
  await import(compiled.href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    console.error('authctl: no compiled CLI (dist/) and no tsx to run the sources: run `npm run build`, or `npm install` for development');
    process.exit(2);
  }
  register();
  await import('../services/token/cli/authctl.ts');
}
