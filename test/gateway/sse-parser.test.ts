import assert from 'node:assert/strict';
import { SseParser, type SseEvent } from '../../gateway/revocations/sse-parser.ts';

function parse(chunks: string[]): { events: SseEvent[]; comments: string[]; retries: number[] } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const parser = new SseParser({
    onEvent: (event) => events.push(event),
    onComment: (text) => comments.push(text),
    onRetry: (ms) => retries.push(ms),
  });
  for (const chunk of chunks) parser.push(chunk);
  return { events, comments, retries };
}

describe('gateway: SSE parser', () => {
  it('parses the wire contract stream: retry, revocation with id, ready, keep-alive comment', () => {
    const stream =
      'retry: 1000\n\nid: 42\nevent: revocation\ndata: {"id":42,"kind":"session"}\n\nevent: ready\ndata: {"cursor":42}\n\n: keep-alive\n\n';
    const { events, comments, retries } = parse([stream]);
    assert.deepEqual(retries, [1000]);
    assert.deepEqual(comments, ['keep-alive']);
    assert.deepEqual(events, [
      { event: 'revocation', data: '{"id":42,"kind":"session"}', lastEventId: '42' },
      { event: 'ready', data: '{"cursor":42}', lastEventId: '42' },
    ]);
  });

  it('gives the same events whatever the chunking, including CRLF split across chunks', () => {
    const stream = 'id: 7\r\nevent: revocation\r\ndata: line one\r\ndata: line two\r\n\r\ndata: tail\r\n\r\n';
    const whole = parse([stream]).events;
    assert.equal(whole.length, 2);
    assert.equal(whole[0]?.data, 'line one\nline two');
    for (let size = 1; size <= 5; size += 1) {
      const chunks = stream.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
      assert.deepEqual(parse(chunks).events, whole, `chunk size ${size}`);
    }
    // Split exactly between CR and LF: must not produce an extra blank line (an empty dispatch).
    const split = parse(['data: a\r', '\n\r', '\ndata: b\r\n\r\n']).events;
    assert.deepEqual(
      split.map((e) => e.data),
      ['a', 'b'],
    );
  });

  it('follows the spec on edge cases: bare CR, no space after colon, field without colon, empty data, BOM, NUL in id', () => {
    const { events } = parse(['\uFEFFdata:x\r\rdata\n\nid: a\0b\ndata: y\n\nevent: e\n\n']);
    assert.deepEqual(events, [
      { event: 'message', data: 'x', lastEventId: '' },
      { event: 'message', data: '', lastEventId: '' },
      { event: 'message', data: 'y', lastEventId: '' },
    ]);
  });

  it('does not dispatch an unterminated event', () => {
    assert.deepEqual(parse(['event: revocation\ndata: {}\n']).events, []);
  });

  it('ignores a non-numeric retry', () => {
    assert.deepEqual(parse(['retry: soon\n\n']).retries, []);
  });
});
