#!/usr/bin/env node
// Compiled JavaScript (npm run build); the same command is `stripe-entitlements migrate-metadata-to-entitlements`.
const { runAsProcess } = await import('../dist/entry/cli/migrate-metadata-to-entitlements.js');
await runAsProcess();
