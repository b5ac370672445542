// A streamed response body written straight into the runtime's byte pipe. Hono's streamSSE puts
// two JavaScript streams between a write and the connection (a TransformStream, then a
// ReadableStream whose pull reads it), so every write runs both streams' promise machinery on
// the Worker's thread. Here a write goes into workerd's IdentityTransformStream (native: its
// readable side is the connection's source, no JavaScript in between), or into one standard
// TransformStream where that class does not exist (Node).

/** The pipe classes: workerd's native one where present, the standard one otherwise. */
type Pipe = new () => {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
};

const pipeClass = (): Pipe =>
  (globalThis as { IdentityTransformStream?: Pipe }).IdentityTransformStream ??
  (TransformStream as unknown as Pipe);

export class StreamBody {
  /** The response body. */
  readonly readable: ReadableStream<Uint8Array>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly encoder = new TextEncoder();
  private readonly abortListeners: (() => void)[] = [];
  /**
   * Resolves on abort, settling a write the stream still holds: a standard TransformStream
   * keeps a write that waits for a reader even past writer.abort().
   */
  private readonly gone: Promise<void>;
  private markGone!: () => void;
  /** The client is gone (its side cancelled the body) or abort() was called. */
  aborted = false;

  constructor() {
    const Pipe = pipeClass();
    this.gone = new Promise<void>((r) => (this.markGone = r));
    const { readable, writable } = new Pipe();
    this.readable = readable;
    this.writer = writable.getWriter();
    // The reader cancelling the body (a client that hung up) errors the writable side.
    this.writer.closed.catch(() => this.abort());
  }

  /**
   * Write `text`: resolves once the runtime took the bytes (a reader that takes nothing leaves
   * it pending: backpressure), never rejects (a failed write aborts the body).
   */
  write(text: string): Promise<void> {
    if (this.aborted) return Promise.resolve();
    const write = this.writer.write(this.encoder.encode(text)).catch(() => this.abort());
    return Promise.race([write, this.gone]);
  }

  /** Call `listener` once when the body is aborted. */
  onAbort(listener: () => void): void {
    this.abortListeners.push(listener);
  }

  /** Give up on the client: error the body, settle pending writes, tell the listeners. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.markGone();
    this.writer.abort(new Error("the response body was aborted")).catch(() => {});
    for (const listener of this.abortListeners) listener();
  }

  /** End the body (after every write); nothing to do once it is aborted. */
  async close(): Promise<void> {
    if (!this.aborted) await this.writer.close().catch(() => {});
  }
}
