/** `GET /v1/models`: the models this gateway serves, in OpenAI's list shape, so chat apps can offer them. */
import { definePlugin } from '../../gateway/plugin.ts';

export default definePlugin<{ models: string[]; owned_by: string }>({
  name: 'models',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['models'],
    properties: {
      models: { type: 'array', items: { type: 'string' } },
      owned_by: { type: 'string', default: 'cradle' },
    },
  },
  create(config) {
    const body = {
      object: 'list',
      data: config.models.map((id) => ({ id, object: 'model', created: 0, owned_by: config.owned_by })),
    };
    return { onRequest: () => ({ body }) };
  },
});
