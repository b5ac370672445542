// Per-client rate limits through Cloudflare's Rate Limiting bindings: requests per period, and
// tokens per period (prompts read and max_tokens reserved), counted in units of `tokenUnit`
// tokens per limit() call. A client is its API key (by position in API_KEYS), or its IP
// (CF-Connecting-IP) when no keys are set.

import type { Context, Next } from "hono";
import type { AppEnv } from "./context.js";
import { rateLimited } from "./errors.js";

/** What a Rate Limiting binding offers: one call counts one unit against `key`. */
export interface Limiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

export interface RateLimits {
  requests?: Limiter;
  tokens?: Limiter;
  /** Tokens one call to `tokens` stands for. */
  tokenUnit: number;
  /** The bindings' period, seconds (10 or 60): when a client may try again. */
  periodSeconds: number;
}

/** Who a request counts against: `key:<index>` with API keys, else `ip:<address>`. */
export function clientId(keyIndex: number | null, ip: string | undefined): string {
  if (keyIndex !== null) return `key:${keyIndex}`;
  if (!ip) return "ip:unknown";
  // An IPv6 client usually holds a whole /64: count the prefix, not each address in it.
  return ip.includes(":") ? `ip6:${expandV6(ip).slice(0, 4).join(":")}` : `ip:${ip}`;
}

function expandV6(ip: string): string[] {
  const [head, tail] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : Array(Math.max(0, 8 - h.length - t.length)).fill("0");
  return [...h, ...zeros, ...t].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
}

/** Until the current window ends: the local simulation (and a fixed window) resets then. */
const retryAfterMs = (periodSeconds: number) =>
  periodSeconds * 1000 - (Date.now() % (periodSeconds * 1000));

/** Middleware: one unit of the request limit per /v1 request; past it, 429 `requests`. */
export async function limitRequests(c: Context<AppEnv>, next: Next): Promise<void> {
  const limits = c.get("deps").limits;
  if (limits?.requests) {
    const { success } = await limits.requests.limit({ key: c.get("client") });
    if (!success) {
      throw rateLimited(
        "requests",
        `Rate limit reached for requests: this client has sent its allowance for the ` +
          `${limits.periodSeconds} s window. Try again when Retry-After says.`,
        retryAfterMs(limits.periodSeconds),
      );
    }
  }
  await next();
}

/**
 * Charge a completion's token reservation (its prompts' tokens, which it reads, plus sequences ×
 * max_tokens, the most it can generate) before it runs: ceil(tokens / tokenUnit) calls,
 * stopping at the first refused one (then 429 `tokens`). The binding can only count up, so the
 * reservation is charged, not what is used. True when the binding was asked (awaited).
 */
export async function chargeTokens(c: Context<AppEnv>, tokens: number): Promise<boolean> {
  const limits = c.get("deps").limits;
  if (!limits?.tokens || tokens <= 0) return false;
  const key = c.get("client");
  const units = Math.ceil(tokens / limits.tokenUnit);
  for (let i = 0; i < units; i++) {
    const { success } = await limits.tokens.limit({ key });
    if (!success) {
      throw rateLimited(
        "tokens",
        `Rate limit reached for tokens: this request counts ${tokens} tokens (its prompts and ` +
          `what it may generate), more than this client has left in the ` +
          `${limits.periodSeconds} s window. Shorten the prompt, lower 'max_tokens' or 'n', or ` +
          `try again when Retry-After says.`,
        retryAfterMs(limits.periodSeconds),
      );
    }
  }
  return true;
}
