import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/stripe-emulator.mjs', import.meta.url));
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

describe('cli', () => {
  it('starts from the command line, serves the API and stops on SIGTERM', async () => {
    child = spawn(
      process.execPath,
      [bin, '--port', '0', '--api-key', 'sk_test_cli', '--webhook-secret', 'whsec_cli'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) resolve(m[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`exited early (${code}): ${out}`)));
    });
    const { hostname, port } = new URL(url);
    const stripe = new Stripe('sk_test_cli', {
      host: hostname,
      port: Number(port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    const product = await stripe.products.create({ name: 'From CLI' });
    expect((await stripe.products.retrieve(product.id)).name).toBe('From CLI');

    const counts = (await (await fetch(`${url}/_emulator/requests`)).json()) as Record<string, number>;
    expect(counts).toMatchObject({ total: 2, 'POST /v1/products': 1, 'GET /v1/products/:id': 1 });

    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('a port in use is one line on stderr and exit 1, not a stack trace', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const run = spawn(process.execPath, [bin, '--port', String(port)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      run.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((resolve) => run.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr.trim()).toBe(
        `Cannot listen on 127.0.0.1:${port}: the port is already in use (choose another with --port)`,
      );
    } finally {
      busy.close();
    }
  });
});
