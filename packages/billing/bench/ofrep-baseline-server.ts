import { readFileSync } from 'node:fs';
import http from 'node:http';

/**
 * The baseline of the OFREP rows: bare node:http answering POST /ofrep/v1/evaluate/flags with the
 * same JSON and ETag our server gave for the tenant, from an in-memory Map (BASELINE_ANSWERS: a JSON
 * file of tenantId → { body, etag }). It parses the body for the targeting key, compares the bearer
 * token and honours If-None-Match; nothing else. Env: PORT, BASELINE_ANSWERS, BENCH_TOKEN.
 */
const answers = new Map(
  Object.entries(
    JSON.parse(readFileSync(process.env.BASELINE_ANSWERS!, 'utf8')) as Record<
      string,
      { body: string; etag: string }
    >,
  ),
);
const expected = `Bearer ${process.env.BENCH_TOKEN}`;
http
  .createServer((req, res) => {
    if (req.method === 'GET') return void res.writeHead(200).end('ok');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== expected) return void res.writeHead(401).end();
      const { context } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        context: { targetingKey: string };
      };
      const answer = answers.get(context.targetingKey);
      if (!answer) return void res.writeHead(404).end();
      if (req.headers['if-none-match'] === answer.etag)
        return void res.writeHead(304, { etag: answer.etag }).end();
      res
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', etag: answer.etag })
        .end(answer.body);
    });
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
