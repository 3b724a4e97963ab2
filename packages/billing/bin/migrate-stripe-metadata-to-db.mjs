#!/usr/bin/env node
// Compiled JavaScript (npm run build); the same command is `stripe-entitlements migrate-stripe-metadata-to-db`.
const { runAsProcess } = await import('../dist/entry/cli/migrate-stripe-metadata-to-db.js');
await runAsProcess();
