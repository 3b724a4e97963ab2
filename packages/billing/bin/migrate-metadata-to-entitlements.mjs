#!/usr/bin/env node
// The package ships TypeScript sources; tsx compiles them on the fly so the bin needs no build step.
import { register } from 'tsx/esm/api';

register();
const { runAsProcess } = await import('../src/cli/migrate-metadata-to-entitlements.ts');
await runAsProcess();
