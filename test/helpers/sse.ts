// A streamed completion's body read as OpenAI's SSE: each `data: {...}` event parsed as it
// arrives (the `[DONE]` event and anything else skipped). For tests and benches that watch
// tokens arrive, not just the whole text.

export async function* sseJson(body: ReadableStream<Uint8Array>): AsyncGenerator<any> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    for (let e = buf.indexOf("\n\n"); e >= 0; e = buf.indexOf("\n\n")) {
      const event = buf.slice(0, e);
      buf = buf.slice(e + 2);
      if (event.startsWith("data: {")) yield JSON.parse(event.slice(6));
    }
  }
}
