// How the revocation feed reads its Server-Sent Events stream: bytes in, in
// whatever pieces TCP delivers them, events out (createEventDecoder, on
// eventsource-parser). The parser's own conformance is its project's to test;
// these are the properties the feed relies on.
import { expect } from 'chai';
import type { EventSourceMessage } from 'eventsource-parser';
import { createEventDecoder, MAX_PENDING_EVENT_CHARS } from '../../gateway/revocations/event-stream.ts';

function decode(chunks: Array<string | Buffer>): { events: Array<{ event?: string; data: string }>; retries: number[] } {
  const events: Array<{ event?: string; data: string }> = [];
  const retries: number[] = [];
  const push = createEventDecoder({
    onEvent: ({ event, data }: EventSourceMessage) => events.push(event === undefined ? { data } : { event, data }),
    onRetry: (ms) => retries.push(ms),
  });
  for (const chunk of chunks) push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return { events, retries };
}

/** The stream's bytes cut every `size` bytes (through multi-byte characters and CRLF pairs alike). */
function pieces(stream: string, size: number): Buffer[] {
  const bytes = Buffer.from(stream);
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

describe('gateway: revocation event stream decoding', () => {
  it('reads the wire contract stream: retry, revocation, ready; a keep-alive comment is no event', () => {
    const stream =
      'retry: 1000\n\nid: 42\nevent: revocation\ndata: {"id":42,"kind":"session"}\n\nevent: ready\ndata: {"cursor":42}\n\n: keep-alive\n\n';
    const { events, retries } = decode([stream]);
    expect(retries).to.deep.equal([1000]);
    expect(events).to.deep.equal([
      { event: 'revocation', data: '{"id":42,"kind":"session"}' },
      { event: 'ready', data: '{"cursor":42}' },
    ]);
  });

  it('gives the same events whatever the chunking, including CRLF and multi-byte characters split across chunks', () => {
    const stream = 'id: 7\r\nevent: revocation\r\ndata: line one\r\ndata: line two\r\n\r\ndata: tail é€😀\r\n\r\n';
    const whole = decode([stream]).events;
    expect(whole.length).to.equal(2);
    expect(whole[0]?.data).to.equal('line one\nline two');
    expect(whole[1]?.data).to.equal('tail é€😀');
    for (let size = 1; size <= 5; size += 1) {
      expect(decode(pieces(stream, size)).events, `chunk size ${size}`).to.deep.equal(whole);
    }
    // Split exactly between CR and LF: must not produce an extra blank line (an empty dispatch).
    const split = decode(['data: a\r', '\n\r', '\ndata: b\r\n\r\n']).events;
    expect(split.map((e) => e.data)).to.deep.equal(['a', 'b']);
  });

  it('follows the spec on edge cases: BOM, bare CR, no space after colon, field without colon, empty data, a NUL in an id line does not break the stream', () => {
    const { events } = decode(['\uFEFFdata:x\r\rdata\n\nid: a\0b\ndata: y\n\nevent: e\n\n']);
    expect(events).to.deep.equal([{ data: 'x' }, { data: '' }, { data: 'y' }]);
  });

  it('does not dispatch an unterminated event', () => {
    expect(decode(['event: revocation\ndata: {}\n']).events).to.deep.equal([]);
  });

  it('ignores a non-numeric retry and unknown fields', () => {
    expect(decode(['retry: soon\n\n']).retries).to.deep.equal([]);
    expect(decode(['colour: blue\ndata: kept\n\n']).events).to.deep.equal([{ data: 'kept' }]);
  });

  it('lets an exception from the event handler through, so that the stream is ended on a bad entry', () => {
    const push = createEventDecoder({
      onEvent: (event) => {
        throw new Error(`bad entry ${event.data}`);
      },
    });
    expect(() => push(Buffer.from('event: revocation\ndata: {"id":\n\n'))).to.throw(/bad entry \{"id":/);
  });

  it('bounds what it holds: a line or an event that never ends is an error once over MAX_PENDING_EVENT_CHARS', () => {
    const big = 'x'.repeat(MAX_PENDING_EVENT_CHARS - 100);
    expect(decode([`data: ${big}\n\n`]).events[0]?.data.length, 'a large event that ends is fine').to.equal(big.length);
    const endlessLine = createEventDecoder({ onEvent: () => undefined });
    endlessLine(Buffer.from(`data: ${big}`));
    expect(() => endlessLine(Buffer.from('x'.repeat(200)))).to.throw(/max buffer size/);
    const endlessEvent = createEventDecoder({ onEvent: () => undefined });
    const line = Buffer.from(`data: ${'y'.repeat(1000)}\n`);
    expect(() => {
      for (let i = 0; i <= MAX_PENDING_EVENT_CHARS / 1000; i += 1) endlessEvent(line);
    }).to.throw(/max buffer size/);
  });
});
