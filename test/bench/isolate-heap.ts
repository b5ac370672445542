// The Worker isolate's own JS heap under `wrangler dev`, read over the DevTools protocol
// (Runtime.getHeapUsage through wrangler's inspector proxy): what RSS cannot tell apart, since
// workerd keeps the pages V8 and WASM grew; after a forced GC, what requests left behind. Needs a WebSocket client: Node 20 has one behind
// --experimental-websocket (`npm run bench` sets it); without it the reader is null.

export interface HeapReader {
  /** V8's used and total heap of the Worker's isolate, MiB. */
  usage(): Promise<{ used: number; total: number }>;
  /**
   * A full GC in the isolate. workerd runs it when a request next enters the isolate, so `kick`
   * sends one (any cheap request).
   */
  collect(kick: () => Promise<unknown>): Promise<void>;
  close(): void;
}

const MiB = 2 ** 20;

/** What this file uses of the WHATWG WebSocket (the project's types are the Workers' ones). */
interface Socket {
  onopen: (() => void) | null;
  onerror: (() => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(): void;
}

export async function isolateHeap(inspectorPort: number): Promise<HeapReader | null> {
  const WS = (globalThis as unknown as { WebSocket?: new (url: string, o: object) => Socket })
    .WebSocket;
  if (!WS) return null;
  // The proxy accepts DevTools only from a local Origin.
  const ws = new WS(`ws://127.0.0.1:${inspectorPort}/ws`, {
    headers: { Origin: "http://localhost" },
  });
  await new Promise<void>((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`no inspector on port ${inspectorPort}`));
  });
  let next = 0;
  const pending = new Map<number, (result: Record<string, number>) => void>();
  ws.onmessage = (ev) => {
    const m = JSON.parse(String(ev.data)) as { id?: number; result?: Record<string, number> };
    if (m.id !== undefined) pending.get(m.id)?.(m.result ?? {});
    if (m.id !== undefined) pending.delete(m.id);
  };
  const call = (method: string) =>
    new Promise<Record<string, number>>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 10_000);
      pending.set(id, (r) => (clearTimeout(timer), resolve(r)));
      ws.send(JSON.stringify({ id, method, params: {} }));
    });
  return {
    async usage() {
      const r = await call("Runtime.getHeapUsage");
      return { used: r.usedSize / MiB, total: r.totalSize / MiB };
    },
    async collect(kick) {
      const done = call("HeapProfiler.collectGarbage");
      await kick();
      await done;
    },
    close: () => ws.close(),
  };
}
