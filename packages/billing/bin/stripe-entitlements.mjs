#!/usr/bin/env node
// The package's command line (compiled JavaScript, `npm run build`): serve, worker, db, sync,
// reconcile, manage, … — `stripe-entitlements --help` lists them.
const { runAsProcess } = await import('../dist/entry/cli/main.js');
await runAsProcess();
