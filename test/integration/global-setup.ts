// Brings up the shared real peers once for all integration tests: an OpenAFS cell in its own network
// namespace (seeded with user.alice, user.bob, db.alice, mail.alice) and an IRC server with services
// under InspIRCd's default flood limits. AFSBOT_KEEP_PEERS=1 leaves them running for the next run.
import type { TestProject } from 'vitest/node';
import { type CellInfo, cellDown, cellUp, type IrcInfo, ircDown, ircUp } from '../support/peers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    cell: CellInfo;
    irc: IrcInfo;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const down = () => Promise.allSettled([cellDown('test'), ircDown('test')]);
  const [cellUpResult, ircUpResult] = await Promise.allSettled([
    cellUp('test'),
    ircUp('test', ['--class', 'default']),
  ]);
  if (cellUpResult.status === 'rejected' || ircUpResult.status === 'rejected') {
    await down(); // one peer failing must not leave the other running
    throw cellUpResult.status === 'rejected'
      ? cellUpResult.reason
      : (ircUpResult as PromiseRejectedResult).reason;
  }
  const [cell, irc] = [cellUpResult.value, ircUpResult.value];
  process.stderr.write(`[global-setup] peers up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  project.provide('cell', cell);
  project.provide('irc', irc);
  return async () => {
    if (process.env.AFSBOT_KEEP_PEERS === '1') return;
    await down();
  };
}
