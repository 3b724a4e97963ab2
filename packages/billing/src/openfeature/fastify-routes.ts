import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
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

  app.post(OFREP_FLAG_PATH, async (request, reply) => {
    const { key } = request.params as { key: string };
    return send(reply, await answerOfrepFlag(options, key, ofrepRequest(request)));
  });
  app.post(OFREP_BULK_PATH, async (request, reply) =>
    send(reply, await answerOfrepBulk(options, ofrepRequest(request))),
  );
};

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
  return answer.body === null ? reply.send() : reply.send(answer.body);
}
