/** Renames message roles before forwarding (the HF Spaces want `assistant` where clients send `model`). */
import { definePlugin } from '../../gateway/plugin.ts';

export interface RoleMapConfig {
  roles: Record<string, string>;
}

export default definePlugin<RoleMapConfig>({
  name: 'role-map',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      roles: { type: 'object', additionalProperties: { type: 'string' }, default: { model: 'assistant' } },
    },
  },
  create(config) {
    return {
      async onUpstream(ctx) {
        const body = await ctx.json<{ messages?: { role?: string }[] }>();
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
