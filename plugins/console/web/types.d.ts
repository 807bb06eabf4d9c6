/** The admin API's answers as the console reads them (see the SPEC and /api/v1/openapi.json). */
export interface License {
  license_key: string;
  email: string;
  credits: number;
  held: number;
  status: 'active' | 'revoked';
  issued_at: string;
  last_updated_at: string;
  devices: string[];
  max_devices: number;
  unlimited: boolean;
  limits?: { models?: string[]; rate_limit_per_minute?: number };
}

export interface LedgerEntry {
  id: number;
  time: string;
  kind: string;
  amount: number;
  balance_after: number;
  reference?: string;
  request_id?: string;
  model?: string;
  prompt_tokens?: number;
  completion_tokens?: number;
  trade_no?: string;
}

export interface RequestRow {
  id: number;
  time: string;
  request_id: string;
  license?: string;
  device?: string;
  route: string;
  model?: string;
  upstream?: string;
  status: number;
  latency_ms: number;
  ttft_ms?: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  credits: number;
  estimated?: boolean;
  error_code?: string;
}

export interface StatRow {
  bucket: string;
  key: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  credits: number;
  latency_ms_avg: number;
}

export interface Stats {
  period: 'hour' | 'day';
  from: string;
  to: string;
  stats: StatRow[];
}

export interface Payment {
  trade_no: string;
  license_key: string;
  email: string;
  credits: number;
  time: string;
}

export interface Mail {
  id: string;
  state: 'pending' | 'sent' | 'dead';
  kind: string;
  to: string;
  subject: string;
  queued_at: string;
  attempts: number;
  last_error?: string;
}

export interface SpaceUsage {
  name: string;
  url: string;
  requests: number;
  failures: number;
  in_flight: number;
  latency_ms: number;
  healthy: boolean;
  cooling_down_s: number;
}

export interface ConfigStatus {
  file: string;
  loaded_at: string;
  yaml: string;
  last_reload: { at: string; ok: boolean; error?: string; restart_needed?: string[] } | null;
}
