import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { documented } from '../../io/http/openapi.js';
import {
  answerOfrepBulk,
  answerOfrepFlag,
  OFREP_BULK_PATH,
  OFREP_FLAG_PATH,
  type OfrepAnswer,
  type OfrepOptions,
  type OfrepRequest,
} from './ofrep.js';

/**
 * The OFREP routes as a Fastify plugin: our server registers it, and so can a host's Fastify app
 * (`billingPlugin`'s `ofrep` option). Encapsulated: the body parser it adds, which keeps the raw
 * text so malformed JSON is answered as OFREP's PARSE_ERROR, stays inside.
 */
export const ofrepRoutes: FastifyPluginAsync<OfrepOptions> = async (app, options) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.post(OFREP_FLAG_PATH, flagDoc, async (request, reply) => {
    const { key } = request.params as { key: string };
    return send(reply, await answerOfrepFlag(options, key, ofrepRequest(request)));
  });
  app.post(OFREP_BULK_PATH, bulkDoc, async (request, reply) =>
    send(reply, await answerOfrepBulk(options, ofrepRequest(request))),
  );
};

/** OFREP's evaluation request (open-feature/protocol): the context, whose targetingKey is the tenant id. */
const evaluationRequest = z.object({
  context: z.looseObject({ targetingKey: z.string().optional() }).optional(),
});
const flagDoc = documented({
  summary: 'OFREP: evaluate one flag for context.targetingKey (the tenant)',
  tag: 'ofrep',
  auth: 'ofrep',
  params: z.object({ key: z.string() }),
  body: evaluationRequest,
  ok: { description: 'The value, reason, variant and metadata' },
  errors: [404],
  errorBody: 'ofrep',
});
const bulkDoc = documented({
  summary: 'OFREP: evaluate every flag of the tenant (ETag; If-None-Match answers 304)',
  tag: 'ofrep',
  auth: 'ofrep',
  body: evaluationRequest,
  ok: { description: 'Every flag, and the tenant version' },
  errors: [304],
  errorBody: 'ofrep',
});

function ofrepRequest(request: FastifyRequest): OfrepRequest {
  return {
    header: (name) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    body: request.body,
    raw: request,
    logError: (error) => request.log.error({ err: error }, 'OFREP evaluation failed'),
  };
}

function send(reply: FastifyReply, answer: OfrepAnswer): FastifyReply {
  reply.code(answer.status).headers(answer.headers);
  if (answer.json !== undefined) return reply.type('application/json; charset=utf-8').send(answer.json);
  return answer.body === null ? reply.send() : reply.send(answer.body);
}
