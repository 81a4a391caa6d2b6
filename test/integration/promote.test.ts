// Approvals and promote on the real cell: a second admin must approve, the approval is bound to the
// facts of the plan, requests expire and survive a restart, and an approved promote loses nothing.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApprovalsTable } from '../../bot/approvals/table.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  cellVos,
  freshVolume,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  vosOk,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const VOL = 'user.p4';
let now = new Date();
let h: MemoryHarness;
const env = {
  AFSBOT_AFS_SERVER: cell.server,
  AFSBOT_ADMINS: 'root console:root console:rt2; alice console:alice; carol console:carol',
};
let dir: string;
let liveId: number; // the live volume's id: a promote keeps it

const requestId = (text: string) => Number(/Request (\d+): nothing happens until/.exec(text)![1]);

beforeAll(async () => {
  for (const v of ['user.p4.restored', 'p4.old', 'p4.again']) await removeIfThere(cell, v);
  await freshVolume(cell, VOL);
  writeVolumeFile(cell, VOL, 'notes.txt', 'good\n');
  // a replicated volume: a promote must keep its VLDB entry and read-only site (and its id)
  await vosOk(vos, ['addsite', '-server', cell.server, '-partition', cell.partition, '-id', VOL]);
  await vosOk(vos, ['release', '-id', VOL]);
  const ex = await vos.examine(VOL);
  if (!ex.ok) throw new Error(ex.message);
  liveId = Number(ex.fields.id);
  h = await startMemoryBot({ cell, clock: () => now, env });
  dir = h.dir;
  expect((await h.chat.job(`!dump ${VOL} full`)).result).toMatch(/done/);
  writeVolumeFile(cell, VOL, 'notes.txt', 'damaged\n');
  await vosOk(vos, ['release', '-id', VOL]); // the damage reached the read-only site too
  expect((await h.chat.job(`!restore ${VOL}`)).result).toMatch(/restored into user\.p4\.restored/);
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('approvals', () => {
  it('none open yet: an empty list, and an unknown id to approve or deny is an error that changes nothing', async () => {
    expect(await h.chat.type('!approvals')).toBe('no open approval requests');
    expect(await h.chat.type('!approve 999', 'alice')).toMatch(
      /^error: there is no approval request 999; !approvals lists the open ones/,
    );
    expect(await h.chat.type('!deny 999 no', 'alice')).toMatch(
      /^error: there is no approval request 999; !approvals lists the open ones/,
    );
    expect(h.bot.services.approvals.open()).toEqual([]);
    expect(h.bot.services.approvals.get(999)).toBeUndefined();
  });

  it('posts the plan with both volumes and the steps, and does nothing yet', async () => {
    const text = await h.chat.type(`!promote ${VOL}`);
    expect(text).toMatch(/^Plan: promote user\.p4\.restored \(restored by job \d+\) to user\.p4\./);
    expect(text).toMatch(/^now live user\.p4: id \d+, \d+ files, .*, last update /m);
    expect(text).toMatch(/^restored user\.p4\.restored: id \d+, /m);
    expect(text).toMatch(/^1\. dump of the restored copy$/m);
    expect(text).toMatch(/^2\. live volume off line$/m);
    expect(text).toMatch(
      /^3\. safety dump of the live volume \(a full dump of user\.p4 as it is then, into the archive before anything changes\)$/m,
    );
    expect(text).toMatch(/^4\. vos restore of the restored content over the live volume$/m);
    expect(text).toMatch(/^6\. verify$/m);
    expect(text).toMatch(
      /Request \d+: nothing happens until an admin other than root approves with !approve \d+/,
    );
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('damaged\n');
  });

  it('refuses self-approval and approval by a non-admin, and audits both', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    expect(await h.chat.type(`!approve ${id}`, 'root')).toBe(
      `refused: you (root) asked for request ${id} yourself, as console:root; an admin other than you must approve it`,
    );
    // the same person under another identity (here a second unix user; IRC and Slack alike)
    expect(await h.chat.type(`!approve ${id}`, 'rt2')).toBe(
      `refused: you (root) asked for request ${id} yourself, as console:root; an admin other than you must approve it`,
    );
    expect(await h.chat.type(`!approve ${id}`, 'mallory')).toBe(
      'refused: mallory is not an afsbot admin on console',
    );
    const audit = h.bot.services.audit.recent(3);
    expect(audit.map((a) => [a.identity, a.person, a.outcome])).toEqual([
      ['root', 'root', 'refused'],
      ['rt2', 'root', 'refused'],
      ['mallory', null, 'refused'],
    ]);
    expect(h.bot.services.approvals.get(id)!.approvers).toBe('[]');
    expect(await h.chat.type('!approvals')).toMatch(
      new RegExp(`request ${id}: promote user\\.p4 by root on console, 0 of 1 approvals`),
    );
  });

  it('refuses an expired request', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    now = new Date(now.getTime() + 31 * 60_000);
    try {
      expect(await h.chat.type(`!approve ${id}`, 'alice')).toBe(
        `refused: request ${id} is expired; ask for a new one`,
      );
    } finally {
      now = new Date();
    }
    expect(h.bot.services.audit.recent(1)[0]).toMatchObject({ identity: 'alice', outcome: 'refused' });
  });

  it('refuses a request whose volume changed after the plan', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    await nextSecond(); // a new second: AFS times are whole seconds
    writeVolumeFile(cell, VOL, 'notes.txt', 'damaged, and written to again\n');
    const answer = await h.chat.type(`!approve ${id}`, 'alice');
    expect(answer).toMatch(
      new RegExp(`^refused: what request ${id} was planned on has changed \\(live\\.updated: \\d+ -> \\d+`),
    );
    expect(answer).toMatch(/ask again with !promote user\.p4 for a new plan$/);
    expect(h.bot.services.audit.recent(1)[0]).toMatchObject({ outcome: 'refused' });
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('damaged, and written to again\n');
  });

  it('a decided request cannot be decided again; a restored copy replaced after the plan is not promoted', async () => {
    const denied = requestId(await h.chat.type(`!promote ${VOL}`));
    expect(await h.chat.type(`!deny ${denied} not this one`, 'alice')).toMatch(/denied by alice/);
    expect(await h.chat.type(`!deny ${denied} again`, 'carol')).toBe(
      `refused: request ${denied} is denied; ask for a new one`,
    );
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    const before = await vos.examine(`${VOL}.restored`);
    if (!before.ok) throw new Error(before.message);
    expect((await h.chat.job(`!discard ${VOL}.restored`)).result).toMatch(/\) done: /);
    expect((await h.chat.job(`!restore ${VOL}`)).result).toMatch(/restored into user\.p4\.restored/);
    const answer = await h.chat.type(`!approve ${id}`, 'alice');
    expect(answer).toMatch(
      new RegExp(
        `^refused: what request ${id} was planned on has changed \\(.*restored\\.id: ${before.fields.id} -> \\d+`,
      ),
    );
    expect(h.bot.services.approvals.get(id)).toMatchObject({ status: 'stale' });
    // the live one untouched: as the test before left it
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('damaged, and written to again\n');
  });

  it('keeps a request across a restart, and it can be approved afterwards', async () => {
    const id = requestId(await h.chat.type(`!promote ${VOL}`));
    await h.stop();
    h = await startMemoryBot({ cell, clock: () => now, env, dir });
    expect(await h.chat.type('!approvals', 'alice')).toMatch(
      new RegExp(`^request ${id}: promote user\\.p4 by root`, 'm'),
    );
    const answer = await h.chat.type(`!approve ${id}`, 'alice');
    expect(answer).toMatch(
      new RegExp(
        `^request ${id} approved by alice; running it\\njob \\d+ started: promotion \\d+, user\\.p4\\.restored to user\\.p4`,
      ),
    );
    const job = Number(/job (\d+) started/.exec(answer)![1]);
    const result = await h.chat.waitFor(new RegExp(`^job ${job} \\(.*\\) (done|failed)`), 120_000);
    expect(result).toMatch(
      /done: user\.p4 holds the content of user\.p4\.restored now \(same volume id, sites and mount points\)\./,
    );
    expect(result).toMatch(/^1\. dump of the restored copy: user\.p4\.restored dumped to /m);
    expect(result).toMatch(/^2\. live volume off line: user\.p4 is off line/m);
    expect(result).toMatch(
      /^3\. safety dump of the live volume: safety dump .*user\.p4\.full\.\d+\.live\.dump\.zst .*, in archive snapshot (?:[0-9a-f]{8}|afsbot-\d{8}T\S+)/m,
    );
    expect(result).toMatch(
      /^4\. vos restore of the restored content over the live volume: user\.p4 \(id \d+\) holds/m,
    );
    expect(result).toMatch(/^5\. vos release: released user\.p4$/m);
    expect(result).toMatch(new RegExp(`^6\\. verify: user\\.p4 is id ${liveId}, as before`, 'm'));
  });

  it('after the promote: the restored content is live under the same id and read-only site, the safety dump in the archive holds the old content', async () => {
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('good\n');
    const ex = await vos.examine(VOL);
    expect(ex.ok && Number(ex.fields.id)).toBe(liveId);
    const entry = await vos.listvldbEntry(VOL);
    expect(entry.ok && entry.entry?.sites.map((x) => x.type).sort()).toEqual(['RO', 'RW']);
    // the read-only clone was released with the new content (it held the damage before): the file
    // reads as the live one does; the old and new content have the same number of files, so a file
    // count alone would not tell them apart
    expect(readVolumeFile(cell, `${VOL}.readonly`, 'notes.txt').toString()).toBe('good\n');
    const ro = await vos.examine(`${VOL}.readonly`);
    if (!ro.ok || !ex.ok)
      throw new Error(`vos examine failed: ${!ro.ok ? ro.message : ''} ${!ex.ok ? ex.message : ''}`);
    expect(ro.fields.filecount).toBe(ex.fields.filecount);
    const safety = h.bot.services.catalog.forVolume(VOL).find((d) => d.kind === 'pre-promote')!;
    expect(safety.archive_snapshot).toMatch(/^([0-9a-f]{64}|afsbot-\d{8}T\d{9}Z-[0-9a-f]{6})$/); // restic id or borg archive
    // the copy is left for the admins to discard
    expect((await vos.examine('user.p4.restored')).ok).toBe(true);
    expect((await h.chat.job('!discard user.p4.restored')).result).toMatch(/user\.p4\.restored is removed/);
    // its next dump starts a new chain: the older fulls are of the old content, under the same id
    expect(await h.chat.type(`!dump ${VOL} incremental`)).toMatch(
      /there is no full dump of user\.p4 as it is now/,
    );
    const list = await h.chat.type(`!backup list ${h.bot.services.catalog.dates()[0]!.date}`);
    expect(list).toMatch(/^user\.p4 {2}full \(safety dump before a promote\)/m);
    const r = await h.chat.job(`!restore ${VOL} as p4.old`);
    expect(r.result).toMatch(/restored into p4\.old/);
    expect(readVolumeFile(cell, 'p4.old', 'notes.txt').toString()).toBe('damaged, and written to again\n');
  });
});

describe('approval rules', () => {
  it('accepts only a volume the bot restored as the source', async () => {
    expect(await h.chat.type(`!promote ${VOL} from user.bob`)).toMatch(
      /^error: user\.bob is not a volume afsbot restored, so it cannot be promoted/,
    );
  });

  it('refuses an all-digit volume name, which vos would take for an id', async () => {
    const ex = await vos.examine(VOL);
    if (!ex.ok) throw new Error(ex.message);
    const id = ex.fields.id!;
    const open = h.bot.services.approvals.open().length;
    expect(await h.chat.type(`!promote ${id} from p4.old`)).toMatch(
      new RegExp(`^error: "${id}" is all digits, which vos reads as a volume id, not a name`),
    );
    expect(await h.chat.type(`!promote user.p4 from ${id}`)).toMatch(/is all digits/);
    expect(await h.chat.type(`!nightly maintenance test-restore ${id}`)).toMatch(/is all digits/);
    expect(await h.chat.type('!nightly maintenance test-restore ../etc')).toMatch(/is not a volume name/);
    expect(h.bot.services.approvals.open()).toHaveLength(open);
  });

  it('needs as many different admins as configured', async () => {
    h.bot.services.config.approvals.required = 2;
    try {
      const id = requestId(await h.chat.type(`!promote ${VOL} from p4.old`));
      expect(await h.chat.type(`!approve ${id}`, 'alice')).toBe(
        `approval 1 of 2 recorded for request ${id}; it needs another admin`,
      );
      expect(await h.chat.type(`!approve ${id}`, 'alice')).toBe(
        `refused: you (alice) already approved request ${id}; it needs 2 different admins`,
      );
      // the requester's second identity is not a second admin either
      expect(await h.chat.type(`!approve ${id}`, 'rt2')).toMatch(
        new RegExp(`^refused: you \\(root\\) asked for request ${id} yourself`),
      );
      expect(await h.chat.type(`!deny ${id} not today`, 'alice')).toBe(
        `request ${id} (promote user.p4 from p4.old) denied by alice: not today`,
      );
      expect(await h.chat.type(`!approve ${id}`, 'root')).toBe(
        `refused: request ${id} is denied; ask for a new one`,
      );
    } finally {
      h.bot.services.config.approvals.required = 1;
    }
  });
});

describe('break-glass', () => {
  it('is refused where the config does not allow it', async () => {
    expect(await h.chat.type(`!promote ${VOL} from p4.old --break-glass "alone tonight"`)).toBe(
      'refused: break-glass is not allowed here (approvals.breakGlass is off); ask another admin to !approve a normal request',
    );
  });

  it('is refused without a reason, even where allowed', async () => {
    h.bot.services.config.approvals.breakGlass = true;
    try {
      expect(await h.chat.type(`!promote ${VOL} from p4.old --break-glass`)).toMatch(
        /^refused: break-glass needs a reason: !promote user\.p4 from p4\.old --break-glass "why/,
      );
      expect(h.bot.services.audit.recent(1)[0]).toMatchObject({ outcome: 'refused' });
    } finally {
      h.bot.services.config.approvals.breakGlass = false;
    }
  });

  it('where allowed, runs at once, is announced everywhere and marked in the audit table', async () => {
    h.bot.services.config.approvals.breakGlass = true;
    try {
      const since = h.chat.said.length;
      const answer = await h.chat.type(
        `!promote ${VOL} from p4.old --break-glass "disk died, alone tonight"`,
      );
      expect(answer).toMatch(
        /^BREAK-GLASS: root \(console:root\) runs "!promote user\.p4 from p4\.old" with no second admin \(request \d+\)\. Reason: disk died, alone tonight/,
      );
      const job = Number(/job (\d+) started/.exec(answer)![1]);
      expect(await h.chat.waitFor(new RegExp(`^job ${job} \\(.*\\) done`), 120_000, since)).toMatch(
        /user\.p4 holds the content of p4\.old now/,
      );
      expect(
        h.bot.services.audit
          .recent(5)
          .filter((a) => a.text.includes('--break-glass'))
          .at(-1),
      ).toMatchObject({
        outcome: 'ok',
        detail: expect.stringMatching(/^BREAK-GLASS \(request \d+\): disk died, alone tonight$/),
      });
      expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('damaged, and written to again\n');
    } finally {
      h.bot.services.config.approvals.breakGlass = false;
    }
  });
});

describe('resume', () => {
  it('a promotion approved longer ago than an approval lasts needs a new approval to resume', async () => {
    expect((await h.chat.job(`!restore ${VOL} as p4.again`)).result).toMatch(/restored into p4\.again/);
    const again = await vos.examine('p4.again');
    if (!again.ok) throw new Error(again.message);
    // a promotion approved 40 minutes ago that stopped before its first step (as after a crash)
    const approvals = h.bot.services.approvals;
    const old = new ApprovalsTable(h.bot.database.db, () => new Date(now.getTime() - 40 * 60_000)).create({
      command: 'promote',
      args: [VOL, 'from', 'p4.again'],
      backend: 'console',
      requester: 'root',
      requesterPerson: 'root',
      conversation: { id: 'console', kind: 'direct' },
      plan: 'Plan: promote p4.again to user.p4.',
      facts: {},
      required: 1,
      ttlMs: 30 * 60_000,
    });
    h.bot.database.db
      .prepare(`UPDATE approvals SET status = 'approved', decided_at = ? WHERE id = ?`)
      .run(new Date(now.getTime() - 39 * 60_000).toISOString(), old.id);
    const p = h.bot.services.promotions.create({
      approvalId: old.id,
      volume: VOL,
      source: 'p4.again',
      oldId: liveId,
      sourceId: Number(again.fields.id),
      mounted: null,
      origin: { backend: 'console', identity: 'root', conversation: { id: 'console', kind: 'direct' } },
    });
    h.bot.services.promotions.record(
      p.id,
      { step: 0, event: 'note', detail: 'test' },
      { state: 'interrupted' },
    );

    const asked = await h.chat.type(`!promote resume ${p.id}`);
    expect(asked).toMatch(
      new RegExp(
        `^Plan: resume promotion ${p.id} \\(p4\\.again to user\\.p4\\), approved at .* UTC: longer ago than an approval lasts \\(30 min\\), so it needs a new one\\.`,
      ),
    );
    expect(h.bot.services.promotions.get(p.id)!.step).toBe(0); // nothing ran
    const id = requestId(asked);
    expect(await h.chat.type(`!approve ${id}`, 'root')).toMatch(/^refused: you \(root\) asked for request/);
    const answer = await h.chat.type(`!approve ${id}`, 'alice');
    expect(answer).toMatch(new RegExp(`^request ${id} approved by alice; running it`));
    const job = Number(/job (\d+) started/.exec(answer)![1]);
    expect(await h.chat.waitFor(new RegExp(`^job ${job} \\(.*\\) (done|failed)`), 120_000)).toMatch(
      /done: user\.p4 holds the content of p4\.again now/,
    );
    expect(h.bot.services.promotions.get(p.id)).toMatchObject({ state: 'done', approval_id: id });
    expect(approvals.get(id)!.status).toBe('approved');
  }, 180_000);
});
