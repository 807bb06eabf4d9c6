/** The route table's own rules, beyond its schema: methods HTTP knows, and no route written twice. */
import { ConfigError, type LoadedConfig } from './load.ts';
import type { RouteConfig } from './schema.ts';

/** `*` stands for every method a route does not name otherwise. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', '*'] as const;

export function methodsOf(route: RouteConfig): string[] {
  const written = Array.isArray(route.method) ? route.method : [route.method];
  return written.map((method) => method.toUpperCase());
}

/**
 * Refuses a method HTTP does not have (`PUSH`), and a method and path that an earlier route already
 * serves: the second route would never be reached, so it is a mistake, not a choice.
 */
export function checkRoutes(routes: readonly RouteConfig[], loaded: LoadedConfig): void {
  const firstRoute = new Map<string, number>();
  for (const [index, route] of routes.entries()) {
    for (const method of methodsOf(route)) {
      if (!(METHODS as readonly string[]).includes(method)) {
        const where = loaded.locate(['routes', index, 'method']);
        const known = METHODS.join(', ');
        throw new ConfigError(`${where}: unknown method "${method}" (known: ${known})`, loaded.file);
      }
      const key = `${method} ${route.path}`;
      const earlier = firstRoute.get(key);
      if (earlier !== undefined) {
        const where = loaded.locate(['routes', index, 'path']);
        const first = loaded.locate(['routes', earlier, 'path']);
        throw new ConfigError(
          `${where}: ${key} is already routed by routes[${earlier}] (${first}); a route is written once`,
          loaded.file,
        );
      }
      firstRoute.set(key, index);
    }
  }
}
