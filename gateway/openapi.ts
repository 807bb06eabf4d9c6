/**
 * The OpenAPI 3.1 document of the routes in force, written from the contracts their plugins declare (the same
 * JSON Schemas that check the requests): a path's `:param` is a path parameter, a contract's `query`
 * properties are query parameters, its `body` the JSON request body; `admin` asks for the admin token.
 */
import type { JsonSchema, RouteContract } from './input.ts';

export interface DocumentedRoute {
  methods: string[];
  path: string;
  contracts: RouteContract[];
}

const ERROR: JsonSchema = {
  type: 'object',
  required: ['success', 'error', 'code'],
  properties: {
    success: { const: false },
    error: { type: 'string', description: 'what is wrong, naming the field' },
    code: { type: 'string', description: 'a stable code, e.g. INVALID_FIELD' },
  },
};
const errorAnswer = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

function operation(route: DocumentedRoute, contract: RouteContract, admin: RouteContract['admin']) {
  const pathNames = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const query = contract.query?.properties as Record<string, JsonSchema> | undefined;
  const required = new Set((contract.query?.required as string[] | undefined) ?? []);
  const parameters = [
    ...pathNames.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    ...Object.entries(query ?? {}).map(([name, schema]) => ({
      name,
      in: 'query',
      required: required.has(name),
      schema,
      ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
    })),
  ];
  const answers = Object.fromEntries(
    ['application/json', ...(contract.alsoAnswers ?? [])].map((type) => [type, {}]),
  );
  return {
    summary: contract.summary,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(contract.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: contract.body } } } }
      : {}),
    ...(admin ? { security: admin === 'optional' ? [{ adminToken: [] }, {}] : [{ adminToken: [] }] } : {}),
    responses: {
      '200': { description: 'done', content: answers },
      '400': errorAnswer('the request does not fit: the error names the field'),
      ...(admin
        ? {
            '401': errorAnswer(admin === true ? 'no valid admin token' : 'a wrong admin token'),
            '429': errorAnswer('too many wrong admin tokens from this address: Retry-After says when'),
          }
        : {}),
    },
  };
}

export function openApiDocument(
  routes: readonly DocumentedRoute[],
  info: { title: string; version: string },
) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const contract = [...route.contracts].reverse().find((c) => c.summary !== undefined);
    if (!contract) continue;
    const admin = route.contracts.find((c) => c.admin)?.admin;
    const path = route.path.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{path}');
    for (const method of route.methods) {
      if (method === '*') continue;
      (paths[path] ??= {})[method.toLowerCase()] = operation(route, contract, admin);
    }
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      schemas: { Error: ERROR },
      securitySchemes: { adminToken: { type: 'apiKey', in: 'header', name: 'X-Admin-Token' } },
    },
  };
}
