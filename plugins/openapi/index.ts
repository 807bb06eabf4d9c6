/** `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the routes in force, from their plugins' contracts. */
import { readFileSync } from 'node:fs';
import { openApiDocument } from '../../gateway/openapi.ts';
import { definePlugin } from '../../gateway/plugin.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export default definePlugin<{ title: string }>({
  name: 'openapi',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { title: { type: 'string', default: 'Cradle Gateway' } },
  },
  create(config, services) {
    return {
      contract: { summary: 'This document' },
      onRequest: () => ({
        body: openApiDocument(services.configStatus().routes, { title: config.title, version }),
      }),
    };
  },
});
