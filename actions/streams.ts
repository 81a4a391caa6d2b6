// Stream stages that watch bytes go by without holding them: counting (for progress), hashing, and
// peeking at the first bytes (for the dump header). Memory stays flat whatever the dump size.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class Meter extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private head: Buffer[] = [];
  private headBytes = 0;

  constructor(
    private readonly opts: {
      /** Called with the running byte count after every chunk. */
      onBytes?: (total: number) => void;
      sha256?: boolean;
      /** Keep this many leading bytes for peek(). */
      keepHead?: number;
    } = {},
  ) {
    super();
    if (opts.sha256) this.hash = createHash('sha256');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    const keep = this.opts.keepHead ?? 0;
    if (this.headBytes < keep) {
      this.head.push(chunk.subarray(0, keep - this.headBytes));
      this.headBytes += Math.min(chunk.length, keep - this.headBytes);
    }
    this.opts.onBytes?.(this.bytes);
    cb(null, chunk);
  }

  /** The first keepHead bytes seen. */
  peek(): Buffer {
    return Buffer.concat(this.head);
  }

  /** Hex sha256 of everything that passed; call once the stream has ended. */
  sha256(): string {
    if (!this.hash) throw new Error('this meter does not hash');
    return this.hash.digest('hex');
  }
}
