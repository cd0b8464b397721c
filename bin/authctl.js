#!/usr/bin/env node
// `npx authctl …`: runs the TypeScript CLI through tsx (a runtime dependency).
import { register } from 'tsx/esm/api';

register();
await import('../services/token/cli/authctl.ts');
