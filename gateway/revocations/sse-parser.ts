// A Server-Sent Events parser (WHATWG HTML §9.2.6 "event stream interpretation").
// Fed decoded text in arbitrary chunks; a CR at the end of one chunk and an LF at
// the start of the next are one line break.

export interface SseEvent {
  /** Event type; "message" when the stream names none. */
  event: string;
  data: string;
  /** The last event id seen so far (it persists across events, per the spec). */
  lastEventId: string;
}

export interface SseHandlers {
  onEvent(event: SseEvent): void;
  onComment?(text: string): void;
  /** A `retry:` field: the server's reconnection delay in ms. */
  onRetry?(ms: number): void;
}

export class SseParser {
  #buffer = '';
  #skipLeadingLf = false;
  #started = false;
  #eventType = '';
  #data: string[] = [];
  #hasData = false;
  #lastEventId = '';
  readonly #handlers: SseHandlers;

  constructor(handlers: SseHandlers) {
    this.#handlers = handlers;
  }

  get lastEventId(): string {
    return this.#lastEventId;
  }

  push(chunk: string): void {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.length === 0) return;
    if (this.#skipLeadingLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLeadingLf = false;
    this.#buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.#buffer.indexOf('\r', start);
      const lf = this.#buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      const line = this.#buffer.slice(start, end);
      if (this.#buffer[end] === '\r') {
        if (end + 1 === this.#buffer.length) {
          // Might be the first half of CRLF: swallow an LF that starts the next chunk.
          this.#skipLeadingLf = true;
          start = end + 1;
        } else {
          start = this.#buffer[end + 1] === '\n' ? end + 2 : end + 1;
        }
      } else {
        start = end + 1;
      }
      this.#line(line);
    }
    this.#buffer = this.#buffer.slice(start);
  }

  #line(line: string): void {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return this.#handlers.onComment?.(line.slice(1).replace(/^ /, ''));
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#eventType = value;
        break;
      case 'data':
        this.#data.push(value);
        this.#hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#handlers.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  #dispatch(): void {
    const hasData = this.#hasData;
    const event = { event: this.#eventType || 'message', data: this.#data.join('\n'), lastEventId: this.#lastEventId };
    this.#eventType = '';
    this.#data = [];
    this.#hasData = false;
    if (hasData) this.#handlers.onEvent(event);
  }
}
