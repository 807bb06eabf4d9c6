/** Refuses (400) a model outside the list (one of the fallback list `models` too), naming the list. */
import { badRequest } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { modelOutside } from '../named-models.ts';

export interface ModelAllowlistConfig {
  models: string[];
}

export default definePlugin<ModelAllowlistConfig>({
  name: 'model-allowlist',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['models'],
    properties: { models: { type: 'array', items: { type: 'string' }, minItems: 1 } },
  },
  create(config) {
    const allowed = new Set(config.models);
    const list = config.models.join(', ');
    return {
      async onRequest(ctx) {
        const outside = modelOutside(await ctx.json(), (model) => allowed.has(model));
        if (outside) {
          throw badRequest(
            `model ${JSON.stringify(outside.model ?? null)} is not supported here; supported models: ${list}`,
            'UNSUPPORTED_MODEL',
          );
        }
      },
    };
  },
});
