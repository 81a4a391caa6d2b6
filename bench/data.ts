// Deterministic test data for the benchmarks: log-like text that compresses the way real files do.

/** A small deterministic PRNG (xorshift32), so the text-like files are the same on every run. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const WORDS = (
  'volume dump restore clone backup server partition cell token quota release replica site fileserver ' +
  'volserver vlserver ptserver salvage callback vnode inode directory mount read write offline online ' +
  'busy transaction incremental full archive chain header checksum catalog job queued running done'
).split(' ');

/** `bytes` of log-like text: timestamps, hosts, pids and words; zstd -3 shrinks it several times. */
export function textLike(bytes: number, seed: number): Buffer {
  const next = prng(seed);
  const parts: string[] = [];
  let have = 0;
  let t = 1_700_000_000 + seed * 86_400;
  while (have < bytes) {
    t += next() % 7;
    let line = `${new Date(t * 1000).toISOString()} afs${next() % 16} afsd[${1000 + (next() % 9000)}]:`;
    const n = 4 + (next() % 12);
    for (let i = 0; i < n; i++) line += ` ${WORDS[next() % WORDS.length]}`;
    line += ` ${next() % 100_000}\n`;
    parts.push(line);
    have += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}
