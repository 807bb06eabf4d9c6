/**
 * Compiled route table: exact paths are one map look-up; `:param` and trailing `*` patterns are tried in
 * declared order after that. Matching is on the path first, then the method, so the gateway can tell a
 * 405 from a 404 and send CORS preflights to the route that owns the path.
 */
export interface RouteSpec<T> {
  methods: readonly string[];
  path: string;
  value: T;
}

export interface RouteMatch<T> {
  value: T;
  params: Record<string, string>;
}

export type LookupResult<T> =
  | { kind: 'found'; match: RouteMatch<T> }
  | { kind: 'method-not-allowed'; allowed: string[]; sameRoute: RouteMatch<T> }
  | { kind: 'not-found' };

interface PatternRoute<T> {
  segments: string[];
  prefix: boolean;
  byMethod: Map<string, T>;
}

const ANY = '*';

export class Router<T> {
  private readonly exact = new Map<string, Map<string, T>>();
  private readonly patterns: PatternRoute<T>[] = [];

  constructor(routes: readonly RouteSpec<T>[]) {
    for (const route of routes) this.add(route);
  }

  private add(route: RouteSpec<T>): void {
    const isPattern = route.path.includes('/:') || route.path.endsWith('*');
    let byMethod: Map<string, T>;
    if (isPattern) {
      const prefix = route.path.endsWith('*');
      const path = prefix ? route.path.slice(0, -1).replace(/\/$/, '') : route.path;
      const segments = path.split('/').slice(1);
      const existing = this.patterns.find(
        (p) => p.prefix === prefix && p.segments.join('/') === segments.join('/'),
      );
      byMethod = existing?.byMethod ?? new Map();
      if (!existing) this.patterns.push({ segments, prefix, byMethod });
    } else {
      byMethod = this.exact.get(route.path) ?? new Map();
      this.exact.set(route.path, byMethod);
    }
    for (const method of route.methods) {
      const key = method.toUpperCase();
      if (!byMethod.has(key)) byMethod.set(key, route.value);
    }
  }

  /** A path with a trailing slash finds the route written without one; HEAD finds a GET route. */
  lookup(method: string, path: string): LookupResult<T> {
    const found = this.lookupExactly(method, path);
    if (found.kind !== 'not-found' || path.length < 2 || !path.endsWith('/')) return found;
    return this.lookupExactly(method, path.slice(0, -1));
  }

  private lookupExactly(method: string, path: string): LookupResult<T> {
    const exact = this.exact.get(path);
    if (exact) return pick(exact, method, {});
    const parts = path.split('/').slice(1);
    for (const pattern of this.patterns) {
      const params = matchSegments(pattern, parts);
      if (params) return pick(pattern.byMethod, method, params);
    }
    return { kind: 'not-found' };
  }
}

function pick<T>(byMethod: Map<string, T>, method: string, params: Record<string, string>): LookupResult<T> {
  const value =
    byMethod.get(method) ?? (method === 'HEAD' ? byMethod.get('GET') : undefined) ?? byMethod.get(ANY);
  if (value !== undefined) return { kind: 'found', match: { value, params } };
  const [first] = byMethod.values();
  const allowed = [...byMethod.keys()];
  return {
    kind: 'method-not-allowed',
    allowed: allowed.includes('GET') && !allowed.includes('HEAD') ? [...allowed, 'HEAD'] : allowed,
    sameRoute: { value: first as T, params },
  };
}

function matchSegments<T>(pattern: PatternRoute<T>, parts: string[]): Record<string, string> | undefined {
  const { segments, prefix } = pattern;
  if (prefix ? parts.length < segments.length : parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const part = parts[i]!;
    if (segment.startsWith(':')) {
      if (part === '') return undefined;
      params[segment.slice(1)] = safeDecode(part);
    } else if (segment !== part) {
      return undefined;
    }
  }
  if (prefix) params['*'] = parts.slice(segments.length).map(safeDecode).join('/');
  return params;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
