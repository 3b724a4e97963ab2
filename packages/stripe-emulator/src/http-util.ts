import type { IncomingMessage, ServerResponse } from 'node:http';
import qs from 'qs';

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Stripe's bracket notation (`items[0][price]`, `expand[]`, `metadata[k]`).
 * arrayLimit is raised because qs turns indices above it into object keys.
 */
export function parseForm(input: string): Record<string, unknown> {
  return qs.parse(input, { arrayLimit: 1000, depth: 10, parameterLimit: 10_000, allowPrototypes: false });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
