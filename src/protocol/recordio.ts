// RecordIO framing used by Mesos streaming endpoints: "<byte length>\n<bytes>".

export function encodeRecord(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}\n`, 'ascii'), body]);
}

/** Incremental decoder: feed chunks, get whole records. Rejects malformed length prefixes. */
export class RecordIODecoder {
  private buf = Buffer.alloc(0);
  constructor(private readonly maxRecordBytes = 64 * 1024 * 1024) {}

  push(chunk: Buffer | string): unknown[] {
    this.buf = Buffer.concat([this.buf, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
    const out: unknown[] = [];
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.buf.length > 20) throw new Error('recordio: length prefix too long');
        break;
      }
      const header = this.buf.subarray(0, nl).toString('ascii');
      if (!/^\d+$/.test(header)) throw new Error(`recordio: invalid length prefix ${JSON.stringify(header)}`);
      const len = Number(header);
      if (len === 0 || len > this.maxRecordBytes) throw new Error(`recordio: invalid record length ${len}`);
      if (this.buf.length < nl + 1 + len) break;
      const body = this.buf.subarray(nl + 1, nl + 1 + len).toString('utf8');
      this.buf = this.buf.subarray(nl + 1 + len);
      out.push(JSON.parse(body));
    }
    return out;
  }
}
