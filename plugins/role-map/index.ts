/** Renames message roles before forwarding (the HF Spaces want `assistant` where clients send `model`). */
import { globsMatcher } from '../../gateway/glob.ts';
import { definePlugin } from '../../gateway/plugin.ts';

export interface RoleMapConfig {
  roles: Record<string, string>;
  /** Apply only for these models (globs). */
  models: string[];
}

export default definePlugin<RoleMapConfig>({
  name: 'role-map',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      roles: { type: 'object', additionalProperties: { type: 'string' }, default: { model: 'assistant' } },
      models: { type: 'array', items: { type: 'string' }, default: ['*'] },
    },
  },
  create(config) {
    const applies = globsMatcher(config.models);
    return {
      async onUpstream(ctx) {
        const body = await ctx.json<{ model?: unknown; messages?: { role?: string }[] }>();
        if (!applies(String(body.model ?? ''))) return;
        let changed = false;
        for (const message of Array.isArray(body.messages) ? body.messages : []) {
          const mapped = message.role !== undefined ? config.roles[message.role] : undefined;
          if (mapped !== undefined) {
            message.role = mapped;
            changed = true;
          }
        }
        if (changed) ctx.jsonChanged();
      },
    };
  },
});
