import { startStripeEmulator } from './index.js';

/** Accepts `--name value` and `--name=value`. */
function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) out[arg.slice(2, eq)] = arg.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) out[arg.slice(2)] = argv[++i]!;
    else out[arg.slice(2)] = 'true';
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
if (args.help) {
  console.log(
    'Usage: stripe-emulator [--port 12111] [--host 127.0.0.1] [--api-key sk_test_emulator] [--webhook-url URL] [--webhook-secret whsec_emulator]',
  );
  process.exit(0);
}
const port = args.port !== undefined ? Number(args.port) : 12111;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Invalid --port: ${args.port}`);
  process.exit(2);
}

let emulator: Awaited<ReturnType<typeof startStripeEmulator>>;
try {
  emulator = await startStripeEmulator({
    port,
    host: args.host,
    apiKey: args['api-key'],
    webhookUrl: args['webhook-url'] || null,
    webhookSecret: args['webhook-secret'],
  });
} catch (error) {
  // One line an operator can act on (a port in use, an address not on this machine), not a stack.
  const code = (error as { code?: string }).code;
  const where = `${args.host ?? '127.0.0.1'}:${port}`;
  console.error(
    code === 'EADDRINUSE'
      ? `Cannot listen on ${where}: the port is already in use (choose another with --port)`
      : `Cannot start the Stripe emulator on ${where}: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
}
console.log(`Stripe emulator listening on ${emulator.url}`);
console.log(`  api key:        ${emulator.apiKey}`);
console.log(`  webhook secret: ${emulator.webhookSecret}`);
if (args['webhook-url']) console.log(`  webhooks ->     ${args['webhook-url']}`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`Received ${signal}, shutting down`);
  void emulator.close().then(() => process.exit(0));
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
